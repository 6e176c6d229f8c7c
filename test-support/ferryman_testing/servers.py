"""Real server processes for tests: the serving image (`python -m ferryman_serving`) on a free port,
and the small helpers every locally started server shares (a free port, a clean stop)."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

import httpx

from ferryman_testing import REPO_ROOT
from ferryman_testing.polling import NotYet, wait_for


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stop_process(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM, wait, then SIGKILL if it will not go; a process already gone is fine."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def wait_until_answers(
    url: str, status: int = 200, timeout: float = 60.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll url until it answers `status`; fail at once if the process serving it has exited."""

    def answers() -> bool:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} while waiting for {url}")
        answer = httpx.get(url, timeout=2.0)
        if answer.status_code != status:
            raise NotYet(f"HTTP {answer.status_code}")
        return True

    wait_for(f"{url} to answer {status}", answers, timeout, every=0.05, tolerate=(httpx.HTTPError,))


class ServingProcess:
    """`python -m ferryman_serving` with FERRYMAN_* settings, its JSON log captured to a file."""

    def __init__(self, log_dir: Path, port: int | None = None, **settings: str) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"serving-{self.port}-{time.monotonic_ns()}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("FERRYMAN_")}
        env.update({"FERRYMAN_HOST": "127.0.0.1", "FERRYMAN_PORT": str(self.port)})
        env.update({f"FERRYMAN_{key.upper()}": value for key, value in settings.items()})
        self._log = self.log_path.open("wb")
        self.process = self._launch(env)

    def _launch(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        """The repository's serving code under this Python (ferryman_testing.containers runs the image)."""
        pythonpath = [str(REPO_ROOT / "serving-image"), env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(p for p in pythonpath if p)
        return subprocess.Popen(
            [sys.executable, "-m", "ferryman_serving"],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 60.0) -> ServingProcess:
        wait_until_answers(f"{self.url}/v2/health/ready", 200, timeout, self.process)
        return self

    def wait_live(self, timeout: float = 60.0) -> ServingProcess:
        wait_until_answers(f"{self.url}/v2/health/live", 200, timeout, self.process)
        return self

    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def terminate(self) -> None:
        """SIGTERM (the graceful path Kubernetes uses)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, wait, and SIGKILL the process group if it will not go."""
        self.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._kill()
            self.process.wait()
        self._log.close()
        return self.process.returncode

    def _kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)

    def __enter__(self) -> ServingProcess:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


@contextmanager
def open_files_soft_limit(limit: int) -> Iterator[None]:
    """Processes started meanwhile inherit this soft limit of open files (the hard limit is kept)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
