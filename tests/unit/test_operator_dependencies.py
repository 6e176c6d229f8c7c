"""The operator process runs without the `kubernetes` client library (its image does not install it)."""

from __future__ import annotations

import subprocess
import sys


def test_the_operator_and_its_command_line_import_without_the_kubernetes_client_library() -> None:
    """With `kubernetes` unimportable, as in the operator image, every handler, the API layer and the
    `ferryman` commands that talk to the cluster still import (and Kopf with them)."""
    script = (
        "import sys; sys.modules['kubernetes'] = None\n"
        "import kopf, ferryman.handlers, ferryman.k8s, ferryman.cli\n"
        "assert sys.modules['kubernetes'] is None\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
