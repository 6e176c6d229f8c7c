"""The built serving image as a test server: same interface as ServingProcess, run by podman.

The container shares the host network (it binds 127.0.0.1:<port>, like the process it stands in for),
runs as the image's own user with a read-only root, all capabilities dropped and a tmpfs on /tmp (what the
operator's pods get from an emptyDir). Model files named by file:// settings are mounted read-only at the
same path, as the dev cluster's pod runner does.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import time

from ferryman.devcluster import podman
from ferryman.devcluster.runner.image_run import model_files
from ferryman_testing.servers import ServingProcess

SERVING_IMAGE = "localhost/ferryman-serving:dev"
_names = itertools.count()


class ServingContainer(ServingProcess):
    def _launch(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        self.name = f"fm-test-{os.getpid()}-{next(_names)}-{time.monotonic_ns() % 10**6}"
        settings = {name: value for name, value in env.items() if name.startswith("FERRYMAN_")}
        argv = ["podman", "run", "--rm", "--name", self.name, "--pull", "never", "--network", "host"]
        argv += ["--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp:rw,mode=1777,size=512m"]
        argv += ["--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
        for name in settings:
            argv += ["--env", name]  # the value comes from the podman client's environment
        for path in model_files(settings):
            argv += ["--volume", f"{path}:{path}:ro"]
        argv.append(SERVING_IMAGE)
        # podman run stays in the foreground and forwards signals (SIGTERM) to the container; its exit
        # code is the container's.
        return subprocess.Popen(
            argv,
            env={**podman.env(), **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _kill(self) -> None:
        podman.remove_container(self.name)

    def stop(self, timeout: float = 30.0) -> int:
        code = super().stop(timeout)
        podman.remove_container(self.name)  # `--rm` did it unless the client died first
        return code
