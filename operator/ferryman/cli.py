"""The `ferryman` command: run the operator, drive rollouts by hand, run the local dev cluster."""

from __future__ import annotations

import argparse
import runpy
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["dev"]:
        # The local cluster is a developer tool with its own argument parser.
        sys.argv = ["ferryman dev", *args[1:]]
        runpy.run_module("ferryman.devcluster", run_name="__main__")
        return 0
    parser = _parser()
    options = parser.parse_args(args)
    result: int = options.run(options)
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ferryman", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    run = commands.add_parser("operator", help="run the Kopf operator (settings from FERRYMAN_* env)")
    run.set_defaults(run=_run_operator)
    commands.add_parser("dev", help="local cluster without Docker: dev up|down|env|status")
    return parser


def _run_operator(_: argparse.Namespace) -> int:
    import kopf

    import ferryman.handlers  # noqa: F401  (registers the handlers)
    from ferryman.config import Settings

    config = Settings()
    kopf.run(
        standalone=config.standalone,
        clusterwide=not config.namespaces,
        namespaces=config.namespaces,
        liveness_endpoint=config.liveness_endpoint or None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
