"""`python -m ferryman.devcluster up|down|env|status|info|runner`."""

from __future__ import annotations

import argparse
import sys

from pydantic import ValidationError

from ferryman.config import explain_settings_error
from ferryman.devcluster import cluster
from ferryman.devcluster.kwok import ControlPlaneError
from ferryman.devcluster.network import NetworkError
from ferryman.devcluster.settings import DevClusterSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ferryman.devcluster", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "env", "status", "info", "runner"])
    parser.add_argument("--name", help="cluster name (env FERRYMAN_DEVCLUSTER_NAME, default ferryman)")
    parser.add_argument("--nodes", type=int, help="node count (env FERRYMAN_DEVCLUSTER_NODES, default 2)")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in {"name": args.name, "nodes": args.nodes}.items() if v is not None}
    try:
        settings = DevClusterSettings(**overrides)
    except ValidationError as error:
        explained = explain_settings_error(error, DevClusterSettings, {"name": "--name", "nodes": "--nodes"})
        print(f"dev-cluster {args.command}:\n{explained}", file=sys.stderr)
        return 2
    try:
        run(args.command, settings)
    except (
        cluster.ClusterConflictError,
        cluster.BuildError,
        ControlPlaneError,
        NetworkError,
        TimeoutError,
    ) as exc:
        print(f"dev-cluster {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


def run(command: str, settings: DevClusterSettings) -> None:
    if command == "up":
        print(cluster.up(settings).kubeconfig)
    elif command == "down":
        cluster.down(settings)
    elif command == "env":
        print(f"export KUBECONFIG={settings.kubeconfig}")
    elif command == "status":
        print(cluster.status(settings))
    elif command == "info":
        print(cluster.info(settings).as_json())
    else:
        from ferryman.devcluster.runner.main import run_forever

        run_forever(settings)


if __name__ == "__main__":
    sys.exit(main())
