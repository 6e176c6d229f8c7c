"""What the images promise beyond the protocol: non-root, read-only root, no shell, the operator's
command, a size budget and a fast start. Figures are printed (pytest -s) for the record."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest

from ferryman.config import Settings
from ferryman.devcluster import podman
from ferryman_testing.containers import SERVING_IMAGE, ServingContainer
from ferryman_testing.models import GradientBoostingFiles

pytestmark = pytest.mark.image

OPERATOR_IMAGE = "localhost/ferryman-operator:dev"
BATCH_IMAGE = "localhost/ferryman-batch:dev"
SERVING_BUDGET_BYTES = 250 * 1000**2  # as `podman images` counts MB
START_BUDGET_SECONDS = 3.0


def podman_out(*args: str) -> str:
    result = subprocess.run(
        podman.command(*args), env=podman.env(), capture_output=True, text=True, timeout=120, check=False
    )
    return result.stdout + result.stderr


def run_python(image: str, code: str) -> str:
    """Python inside the image, as its own user, read-only root, no capabilities (as the operator runs it)."""
    return podman_out(
        "run", "--rm", "--read-only", "--read-only-tmpfs=false", "--cap-drop", "ALL",
        "--entrypoint", "python3", image, "-c", code,
    )  # fmt: skip


def inspect(image: str) -> dict[str, object]:
    config: dict[str, object] = json.loads(podman_out("image", "inspect", image))[0]["Config"]
    return config


@pytest.mark.parametrize("image", [SERVING_IMAGE, OPERATOR_IMAGE])
def test_runs_as_numeric_non_root_user_with_a_read_only_root_and_no_shell(image: str) -> None:
    assert inspect(image)["User"] == "65532:65532"
    code = (
        "import os\n"
        "print('uid', os.getuid(), os.getgid())\n"
        "print('shell', os.path.exists('/bin/sh') or os.path.exists('/usr/bin/sh'))\n"
        "try:\n    open('/opt/ferryman/written', 'w')\nexcept OSError as e:\n    print('write', e.errno)\n"
    )
    assert run_python(image, code).split("\n")[:3] == ["uid 65532 65532", "shell False", "write 30"]  # EROFS


def test_serving_entrypoint_is_the_command_the_operator_puts_in_pods() -> None:
    assert inspect(SERVING_IMAGE)["Entrypoint"] == Settings().serving_command


def test_operator_image_runs_the_operator_command() -> None:
    """The entrypoint is `python3 -m ferryman` with `operator` as its default argument, and imports."""
    config = inspect(OPERATOR_IMAGE)
    assert (config["Entrypoint"], config["Cmd"]) == (["python3", "-m", "ferryman"], ["operator"])
    assert "usage: ferryman" in podman_out("run", "--rm", "--read-only", OPERATOR_IMAGE, "--help")
    assert run_python(OPERATOR_IMAGE, "import ferryman.handlers; print('ok')").strip().endswith("ok")


def test_operator_image_does_not_contain_the_kubernetes_client_library() -> None:
    """docs/operator.md promises it: the operator talks to the API server without it (ferryman.k8s.client)."""
    found = run_python(OPERATOR_IMAGE, "import importlib.util; print(importlib.util.find_spec('kubernetes'))")
    assert found.strip().endswith("None"), found


def test_serving_image_size_is_within_budget() -> None:
    size = int(podman_out("image", "inspect", "--format", "{{.Size}}", SERVING_IMAGE).strip())
    print(f"\nserving image: {size / 1000**2:.0f} MB (budget {SERVING_BUDGET_BYTES / 1000**2:.0f} MB)")
    assert size <= SERVING_BUDGET_BYTES


def test_serves_within_three_seconds_of_the_container_start(
    gradient_boosting: GradientBoostingFiles, logs_dir: Path
) -> None:
    """From the container's start (podman's StartedAt) to the first 200 of /v2/health/ready, model on disk."""
    launched = time.time()
    server = ServingContainer(
        logs_dir, model_uri=f"file://{gradient_boosting.model_path}", model_name="fraud", drain_seconds="0"
    )
    try:
        server.wait_ready(timeout=60)
        ready = time.time()
        started_at = podman_out("inspect", "--format", "{{.State.StartedAt}}", server.name).strip()
    finally:
        assert server.stop() == 0
    started = _podman_time(started_at)
    print(
        f"\nserving image: ready {ready - started:.2f} s after the container started "
        f"({ready - launched:.2f} s after `podman run`)"
    )
    assert ready - started <= START_BUDGET_SECONDS


def _podman_time(text: str) -> float:
    """podman's '2026-11-26 16:38:38.353795599 +0000 UTC' (nanoseconds: too many for fromisoformat)."""
    stamp, zone = text.split(" +")[0], text.split(" ")[2]
    whole, _, fraction = stamp.partition(".")
    parsed = datetime.strptime(f"{whole} {zone}", "%Y-%m-%d %H:%M:%S %z")
    return parsed.timestamp() + float(f"0.{fraction or 0}")


def test_batch_image_holds_the_batch_scorer_with_pyarrow() -> None:
    """The batch pods' image: the serving code plus pyarrow, as its own user on a read-only root."""
    code = "import pyarrow, ferryman_serving.batch.dataset; print('batch', pyarrow.__version__)"
    assert run_python(BATCH_IMAGE, code).strip().startswith("batch ")
    assert inspect(BATCH_IMAGE)["User"] == "65532:65532"


def test_serving_image_is_built_without_the_batch_dependencies() -> None:
    """pyarrow (about 160 MB) stays out of the serving image."""
    code = "import importlib.util; print('pyarrow', importlib.util.find_spec('pyarrow') is not None)"
    assert run_python(SERVING_IMAGE, code).strip() == "pyarrow False"
