"""Ferryman's test support: the harness the tests, `scripts/demo.py` and `bench/` share.

Real parts only: the local dev cluster, kubectl, the operator, serving processes, Prometheus, Traefik,
model makers and load. It lives outside the product (`ferryman` and `ferryman_serving` never import it,
import-linter checks that) and is installed with the project (`pip install -e .`), so scripts import it
like any package. Paths below assume a checkout of the repository.
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# The CRDs the operator needs, as generated into crds/ (install them with kube_cli.install_crds).
FERRYMAN_CRDS = tuple(sorted((REPO_ROOT / "crds").glob("*.yaml")))
MODEL_DEPLOYMENT_CRD = REPO_ROOT / "crds" / "modeldeployments.ferryman.dev.yaml"
