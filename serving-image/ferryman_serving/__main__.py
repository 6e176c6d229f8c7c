"""`python -m ferryman_serving`: serve the model named by FERRYMAN_* environment variables."""

from __future__ import annotations

import logging
import resource
import sys

import uvicorn
from pydantic import ValidationError

from ferryman_serving.app import create_app
from ferryman_serving.connections import guarded_protocol
from ferryman_serving.logs import configure_logging
from ferryman_serving.server import DrainingServer
from ferryman_serving.settings import Settings, settings_problems


def raise_open_files_limit() -> None:
    """Soft limit of open files up to the hard limit, as Go programs do at start.

    Every client connection holds a file descriptor, and a soft limit of 1024 is common (Linux's and
    systemd's default): a thousand idle connections from one client would stop the server accepting
    any other, the kubelet's probes included, and the pod would be restarted over and over.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as error:  # e.g. a hard limit above the kernel's nr_open
            log = logging.getLogger("ferryman_serving")
            log.warning("could not raise the open-files limit", extra={"soft": soft, "error": str(error)})


def main() -> int:
    try:
        settings = Settings()
    except ValidationError as error:
        configure_logging("INFO")
        logging.getLogger("ferryman_serving").error(
            "invalid FERRYMAN_* settings", extra={"errors": "; ".join(settings_problems(error))}
        )
        return 2
    configure_logging(settings.log_level)
    if not settings.model_uri.strip():
        # Documented as required: without it the server started and retried a load of nothing forever.
        logging.getLogger("ferryman_serving").error(
            "invalid FERRYMAN_* settings",
            extra={"errors": "FERRYMAN_MODEL_URI is required: the model to serve"},
        )
        return 2
    raise_open_files_limit()
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=guarded_protocol(settings.max_header_bytes),
        lifespan="on",
        access_log=False,
        log_config=None,
        # Seconds as given: int() made a keep-alive of 0.5 s a 0 (every connection closed after one
        # answer, the race with proxies docs/serving.md warns of). uvicorn's timers take floats.
        timeout_graceful_shutdown=settings.graceful_timeout_seconds,  # type: ignore[arg-type]
        timeout_keep_alive=settings.keep_alive_seconds,  # type: ignore[arg-type]
        server_header=False,
    )
    DrainingServer(config, app.begin_drain, settings.drain_seconds, settings.stalled_client_seconds).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
