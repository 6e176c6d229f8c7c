"""`python -m ferryman.devcluster up|down|env|status|info|runner`."""

from __future__ import annotations

import argparse
import sys

from ferryman.devcluster import cluster
from ferryman.devcluster.settings import DevClusterSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ferryman.devcluster", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "env", "status", "info", "runner"])
    parser.add_argument("--name", help="cluster name (env FERRYMAN_DEVCLUSTER_NAME, default ferryman)")
    parser.add_argument("--nodes", type=int, help="node count (env FERRYMAN_DEVCLUSTER_NODES, default 2)")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in {"name": args.name, "nodes": args.nodes}.items() if v is not None}
    settings = DevClusterSettings(**overrides)

    if args.command == "up":
        print(cluster.up(settings).kubeconfig)
    elif args.command == "down":
        cluster.down(settings)
    elif args.command == "env":
        print(f"export KUBECONFIG={settings.kubeconfig}")
    elif args.command == "status":
        print(cluster.status(settings))
    elif args.command == "info":
        print(cluster.info(settings).as_json())
    else:
        from ferryman.devcluster.runner.main import run_forever

        run_forever(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
