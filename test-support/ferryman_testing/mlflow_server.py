"""A real `mlflow server` (SQLite backend, proxied artifacts), in its own process group."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from ferryman_testing.servers import free_port, wait_until_answers


class MlflowServer:
    """Started on enter, stopped (whole process group: it forks job runners) on exit.

    `host`: the address to listen on (127.0.0.1; the dev cluster's host address for pods to reach it).
    `stop()` and `start()` take it down and bring it back on the same port with the same data, as an
    outage would.
    """

    def __init__(self, workdir: Path, env: Mapping[str, str] | None = None, host: str = "127.0.0.1") -> None:
        """`env` is added to this process's environment for the server (e.g. its webhook settings)."""
        self.host = host
        self.port = free_port()
        self.url = f"http://{host}:{self.port}"
        self.workdir = workdir
        self.log_path = workdir / "mlflow-server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.env = {**os.environ, **(env or {})}

    def __enter__(self) -> MlflowServer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        mlflow = Path(sys.executable).parent / "mlflow"
        command = [
            str(mlflow),
            "server",
            "--backend-store-uri",
            f"sqlite:///{self.workdir / 'mlflow.db'}",
            "--artifacts-destination",
            str(self.workdir / "artifacts"),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--workers",
            "1",
            # MLflow answers only Host headers it knows (DNS rebinding); 198.19/16 is not a private range.
            "--allowed-hosts",
            f"{self.host},{self.host}:{self.port},localhost,localhost:{self.port},127.0.0.1:{self.port}",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.workdir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_until_answers(f"{self.url}/health", 200, timeout=120, process=self.process)
        except Exception:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
