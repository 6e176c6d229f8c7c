"""The `ferryman` command: run the operator, drive rollouts, score a dataset, run the local dev cluster."""

from __future__ import annotations

import argparse
import re
import runpy
import signal
import sys
from collections.abc import Callable, Sequence

# EX_CONFIG (sysexits.h): a setting the program cannot use; restarting with the same settings cannot help.
EXIT_BAD_SETTINGS = 78


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["dev"]:
        # The local cluster is a developer tool with its own argument parser.
        sys.argv = ["ferryman dev", *args[1:]]
        runpy.run_module("ferryman.devcluster", run_name="__main__")
        return 0
    if args[:1] == ["batch"]:
        # Batch scoring is the serving image's code (the same function its Indexed Job pods run).
        from ferryman_serving.batch.__main__ import main as batch_main

        return batch_main(args[1:])
    parser = _parser()
    options = parser.parse_args(args)
    result: int = options.run(options)
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ferryman", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("operator", help="run the Kopf operator (settings from FERRYMAN_* env)")
    run.set_defaults(run=_run_operator)
    commands.add_parser("dev", help="local cluster without Docker: dev up|down|env|status")
    commands.add_parser("batch", help="score a dataset: batch score --model M --input I --output O")
    for action, text in (
        ("promote", "promote the rollout now (skip remaining steps)"),
        ("abort", "abort the rollout: all traffic back to stable at once"),
        ("resume", "resume a paused rollout"),
    ):
        command = commands.add_parser(action, help=text)
        _add_target(command)
        command.set_defaults(run=_on_cluster(_request_action), action=action)
    for action, text in (
        ("approve", "approve a TrainingJob waiting in AwaitingApproval: its alias moves"),
        ("reject", "reject a TrainingJob waiting in AwaitingApproval: its version is tagged rejected"),
    ):
        command = commands.add_parser(action, help=text)
        command.add_argument("kind", choices=["tj", "trainingjob"], help="what to act on (a TrainingJob)")
        _add_target(command, "TrainingJob name")
        command.set_defaults(run=_on_cluster(_request_training_action), action=action)
    status = commands.add_parser("status", help="show a ModelDeployment's rollout")
    _add_target(status)
    status.set_defaults(run=_on_cluster(_show_status))
    return parser


def _on_cluster(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A command that asks the API server: a login or a request that fails is one line and exit code 1,
    not a traceback (no kubeconfig, a server that does not answer, an object that is not there); a
    FERRYMAN_* setting it cannot use is one line per setting and exit code 78."""

    def run(options: argparse.Namespace) -> int:
        try:
            import kopf
        except ImportError:  # `ferryman` is installed with every extra; these commands need one
            print(f"ferryman {options.command}: needs the operator extra: pip install 'ferryman[operator]'",
                  file=sys.stderr)  # fmt: skip
            return 1
        import yaml
        from pydantic import ValidationError

        from ferryman.config import Settings, explain_settings_error

        try:
            return command(options)
        except ValidationError as error:  # the client's timeouts come from FERRYMAN_* settings
            print(f"ferryman: {explain_settings_error(error, Settings)}", file=sys.stderr)
            return EXIT_BAD_SETTINGS
        except (kopf.PermanentError, kopf.TemporaryError, kopf.LoginError, yaml.YAMLError, OSError) as error:
            said = " ".join(str(error).split())  # one line, also for a YAML error's excerpt
            print(f"ferryman: {said} (the cluster comes from KUBECONFIG, or a pod's service account)",
                  file=sys.stderr)  # fmt: skip
            return 1

    return run


def _add_target(command: argparse.ArgumentParser, what: str = "ModelDeployment name") -> None:
    command.add_argument("name", type=_object_name, help=what)
    command.add_argument(
        "-n", "--namespace", type=_namespace, default="default", help="namespace (default: default)"
    )


def _object_name(text: str) -> str:
    from ferryman.api.base import MAX_NAME, OBJECT_NAME_PATTERN

    # Checked here: it becomes part of the request path (`a/../../x` asked for another resource).
    if len(text) > MAX_NAME or not re.fullmatch(OBJECT_NAME_PATTERN, text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an object name (lower-case letters, digits, - and .)"
        )
    return text


def _namespace(text: str) -> str:
    from ferryman.api.base import MAX_NAMESPACE, NAMESPACE_NAME_PATTERN

    if len(text) > MAX_NAMESPACE or not re.fullmatch(NAMESPACE_NAME_PATTERN, text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a namespace name (lower-case letters, digits and -)"
        )
    return text


def _request_action(options: argparse.Namespace) -> int:
    """Set the ferryman.dev/action annotation; the operator applies it within seconds and clears it."""
    from ferryman import k8s
    from ferryman.api import ACTION_ANNOTATION

    metadata = {"annotations": {ACTION_ANNOTATION: options.action}}
    k8s.patch_metadata(k8s.MODEL_DEPLOYMENT, options.namespace, options.name, metadata)
    print(f"modeldeployment {options.namespace}/{options.name}: {options.action} requested")
    return 0


def _request_training_action(options: argparse.Namespace) -> int:
    """The same annotation on a TrainingJob; the operator acts on it only in phase AwaitingApproval."""
    from ferryman import k8s
    from ferryman.api import ACTION_ANNOTATION

    found = k8s.get(k8s.TRAINING_JOB, options.namespace, options.name)
    if found is None:
        print(f"trainingjob {options.namespace}/{options.name} not found", file=sys.stderr)
        return 1
    phase = (found.get("status") or {}).get("phase")
    if phase != "AwaitingApproval":
        print(
            f"trainingjob {options.namespace}/{options.name} is in phase {phase or 'Pending'}, not "
            "AwaitingApproval: only a run that passed its gates with promote.approval: manual waits for this",
            file=sys.stderr,
        )
        return 1
    metadata = {"annotations": {ACTION_ANNOTATION: options.action}}
    k8s.patch_metadata(k8s.TRAINING_JOB, options.namespace, options.name, metadata)
    print(f"trainingjob {options.namespace}/{options.name}: {options.action} requested")
    return 0


def _show_status(options: argparse.Namespace) -> int:
    from ferryman import k8s

    found = k8s.get(k8s.MODEL_DEPLOYMENT, options.namespace, options.name)
    if found is None:
        print(f"modeldeployment {options.namespace}/{options.name} not found", file=sys.stderr)
        return 1
    status = found.get("status") or {}
    weight = int(status.get("canaryWeight") or 0)
    print(f"phase:   {status.get('phase', '-')}")
    print(f"stable:  {status.get('stableVersion', '-')}  ({100 - weight}%)")
    print(f"canary:  {status.get('canaryVersion') or '-'}  ({weight}%)")
    print(f"message: {status.get('message', '')}")
    analysis = status.get("lastAnalysis")
    if analysis:
        print(
            f"last analysis: {analysis.get('verdict')} at {analysis.get('at')}: {analysis.get('message', '')}"
        )
    return 0


def _stop_waiting(signum: int, _frame: object) -> None:
    raise SystemExit(0)  # nothing to hand over: a replica waiting for the Lease holds nothing


def _run_operator(_: argparse.Namespace) -> int:
    if "kubernetes" not in sys.modules:
        # Kopf imports the `kubernetes` client library whenever it is installed, only to borrow its login
        # and to recognise its model classes; the operator logs in itself and passes plain dicts. The
        # operator image does not install it; where it is installed (a development venv: the local
        # cluster uses it) it is kept out of this process too, so what runs here is what runs in the
        # image, without the ~23 MB the import costs. (None in sys.modules makes `import` raise ImportError.)
        sys.modules["kubernetes"] = None  # type: ignore[assignment]
    import kopf
    from pydantic import ValidationError

    import ferryman.handlers  # noqa: F401  (registers the handlers)
    from ferryman.config import Settings, explain_settings_error
    from ferryman.handlers.leader_election import LeaseElector, exit_on_lost_lease
    from ferryman.handlers.standby_liveness import answering_liveness
    from ferryman.listening import raise_open_files_limit
    from ferryman.logs import configure_logging

    try:
        config = Settings()
    except ValidationError as error:
        print(f"ferryman operator: cannot start:\n{explain_settings_error(error, Settings)}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    configure_logging(config.log_level)
    raise_open_files_limit()
    elector, renewal = None, []
    if config.leader_election:
        # In a container the operator is PID 1, and the kernel drops SIGTERM for PID 1 unless it has a
        # handler. Kopf installs one when it runs; a standby may wait for hours before that, and without
        # this every rolling upgrade or drain would wait out its grace period and SIGKILL it.
        signal.signal(signal.SIGTERM, _stop_waiting)
        # Before Kopf starts: a standby neither handles objects nor runs the startup handlers' servers.
        elector = LeaseElector.from_settings(config)
        with answering_liveness(config.liveness_endpoint):  # Kopf answers it once it runs
            elector.wait_until_leading()
        renewal = elector.keep_leading(on_lost=exit_on_lost_lease)
    kopf.run(
        standalone=config.standalone,
        clusterwide=not config.namespaces,
        namespaces=config.namespaces,
        liveness_endpoint=config.liveness_endpoint or None,
    )
    if elector is not None:  # Kopf stopped cleanly (SIGTERM): hand over now
        elector.release(renewal)
    return 0


if __name__ == "__main__":
    sys.exit(main())
