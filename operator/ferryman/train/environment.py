"""Where and with what a run trained: git commit, Python, platform, installed packages, random seeds."""

from __future__ import annotations

import importlib.metadata
import platform
import random
import secrets
import subprocess
import sys

import numpy as np


def git_commit() -> str | None:
    """HEAD of the repository the process runs in, or None outside one (or without git)."""
    try:
        found = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return found.stdout.strip() if found.returncode == 0 and found.stdout.strip() else None


def installed_packages() -> str:
    """`pip freeze`-style NAME==VERSION lines of every installed distribution, sorted. Read through
    importlib.metadata: it needs no pip in the image and costs milliseconds instead of a subprocess."""
    lines = {
        f"{dist.metadata['Name']}=={dist.version}"
        for dist in importlib.metadata.distributions()
        if dist.metadata["Name"]
    }
    return "\n".join(sorted(lines, key=str.lower)) + "\n"


def python_and_platform() -> dict[str, str]:
    return {"python": sys.version.split()[0], "platform": platform.platform()}


def choose_seed(given: str | None) -> int:
    """The seed from the params when given, else a fresh one (logged, so the run can be repeated)."""
    if given is None:
        return secrets.randbelow(2**31)
    try:
        seed = int(given)
    except ValueError:
        raise ValueError(f"param seed must be an integer, got {given!r}") from None
    if not 0 <= seed < 2**32:  # what numpy's global generator takes
        raise ValueError(f"param seed must be from 0 to 2**32 - 1, got {seed}")
    return seed


def fix_seed(seed: int) -> None:
    """Seed Python's and numpy's global generators (scikit-learn draws from numpy's when random_state is
    None); pass the seed as random_state where an estimator takes one."""
    random.seed(seed)
    np.random.seed(seed)  # the legacy global generator: what libraries fall back to
