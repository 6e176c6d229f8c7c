"""The one way the operator listens for HTTP of its own (registry webhook, /metrics): an aiohttp app on Kopf's
event loop. aiohttp holds no thread per connection and closes one that never finishes its request after
IDLE_CONNECTION_SECONDS."""

from __future__ import annotations

import logging
import resource

from aiohttp import web

# A connection idle this long, or one whose request never finished arriving, is closed (aiohttp's own
# default for a bare AppRunner is an hour; web.run_app uses 75 s). A client that comes back later
# (Prometheus at a longer scrape interval, MLflow's next delivery) simply connects again.
IDLE_CONNECTION_SECONDS = 75.0


async def listen(app: web.Application, address: str) -> web.AppRunner:
    """Serve `app` on HOST:PORT (an empty host: every interface); the caller awaits runner.cleanup()."""
    host, port = split_address(address)
    # No access log: the handlers log what is worth a line.
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=IDLE_CONNECTION_SECONDS)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


def split_address(address: str) -> tuple[str | None, int]:
    """("0.0.0.0", 8082) from "0.0.0.0:8082"; an empty host (":8082") means every interface."""
    host, _, port = address.rpartition(":")
    return host.strip("[]") or None, int(port)


def raise_open_files_limit() -> None:
    """Soft limit of open files up to the hard limit, as Go programs (and the serving image) do at start.

    The listeners need no login, and each connection holds a file descriptor until it idles out: with the
    common soft limit of 1024, a thousand silent connections left the operator unable to open its own
    (to the API server, Prometheus, MLflow) and its /metrics unanswered.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as error:  # e.g. a hard limit above the kernel's nr_open
            logging.getLogger("ferryman").warning(
                "could not raise the open-files limit (%s): %s", soft, error
            )
