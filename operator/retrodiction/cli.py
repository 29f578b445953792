"""`retrodiction` command line: run a RetrodictionTraining manifest on a local or existing Dask cluster."""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import signal
import sys
from collections.abc import Sequence

from retrodiction import __version__
from retrodiction.data.errors import DataError
from retrodiction.identity import run_reference_name
from retrodiction.local_training import EXIT_OK, EXIT_RUN_FAILED, BadInputError, train_locally
from retrodiction.manifest import ManifestError
from retrodiction.terminal import console

EXIT_BAD_INPUT, EXIT_INTERRUPTED = 2, 130
__all__ = ["EXIT_BAD_INPUT", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_RUN_FAILED", "configure_operator_logging", "main"]
PACKAGE = "retrodiction-operator"


def _error(message: str) -> None:
    print(message, file=sys.stderr)


def _parser(prog: str = "retrodiction") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="run a RetrodictionTraining manifest locally, or drive a run in the cluster")
    train.add_argument(
        "manifest",
        help="YAML file holding a RetrodictionTraining, or rt/NAME: a run in the cluster (what its driver Job does)",
    )
    train.add_argument("--namespace", "-n", help="the namespace of rt/NAME (default: the current context's)")
    where = train.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="local Dask workers (default: spec.dask.workers)")
    where.add_argument("--scheduler", metavar="ADDRESS", help="use an existing Dask scheduler, e.g. tcp://h:8786")
    train.add_argument("--output", "-o", help="summary JSON path or fsspec URI (default: NAME-summary.json)")
    train.add_argument("--report", help="also write an HTML report with plots to this path")
    train.add_argument("--checkpoint", metavar="URI", help="keep finished batches here and resume from them")
    _add_table_options(train)
    train.add_argument(
        "--processes",
        action="store_true",
        help="local worker processes even for a small run (which otherwise runs on threads of this process)",
    )
    train.add_argument("--quiet", "-q", action="store_true", help="no notes, progress bar or table (JSON stays)")
    train.add_argument("--verbose", "-v", action="store_true", help="also the INFO logs of Dask and of the run")

    report = sub.add_parser(
        "report",
        help="the trust table and HTML report of a summary (a file, a URI, or a run in the cluster); of several, "
        "each model's trust over them",
    )
    report.add_argument(
        "sources",
        nargs="+",
        metavar="SOURCE",
        help="a summary file or fsspec URI (plain or gzip JSON), or a finished run: rt/NAME or NAMESPACE/NAME; "
        "several: trust over time, one run each, in the order of their windows' ends",
    )
    report.add_argument("--namespace", "-n", help="the namespace of rt/NAME (default: the current context's)")
    report.add_argument("--html", metavar="PATH", help="also write the HTML report with plots to this path")
    _add_table_options(report)
    report.add_argument(
        "--max-bytes",
        type=_positive_int,
        help="refuse a summary larger than this once decompressed (default 512 MiB)",
    )
    report.add_argument("--quiet", "-q", action="store_true", help="no notes or table (JSON stays)")

    diff = sub.add_parser(
        "diff",
        help="compare two summaries' trust and MAE; exit 1 when a check fails (for CI and alerting)",
        description="Exit codes: 0 every check holds, 1 a check failed, 2 a summary could not be read.",
    )
    diff.add_argument("a", help="the earlier summary (a file, a URI, rt/NAME or NAMESPACE/NAME)")
    diff.add_argument("b", help="the later summary, checked against A")
    diff.add_argument("--namespace", "-n", help="the namespace of rt/NAME (default: the current context's)")
    diff.add_argument("--model", action="append", help="check only this model (repeatable; default: every model)")
    diff.add_argument("--horizon", type=int, help="compare this horizon only")
    diff.add_argument("--min-trust", type=float, metavar="P", help="fail when B's trust is below P (0..1)")
    diff.add_argument("--max-drop", type=float, metavar="D", help="fail when B's trust is below A's by more than D")
    diff.add_argument(
        "--on",
        choices=("mean", "lower"),
        default="mean",
        help="the trust figure checked: the mean, or the lower end of the 95%% interval (default: mean)",
    )
    diff.add_argument(
        "--per-variable",
        action="store_true",
        help="compare and check each variable (default: each model and horizon, averaged over variables)",
    )
    diff.add_argument("--top", type=int, help="rows in the per-variable table, largest drops first (default 25)")
    diff.add_argument("--format", choices=("table", "json"), default="table", help="stdout: the table, or JSON")
    diff.add_argument("--max-bytes", type=_positive_int, help="refuse a summary larger than this (default 512 MiB)")
    diff.add_argument("--quiet", "-q", action="store_true", help="no notes or table (failed checks and JSON stay)")

    sub.add_parser("datasets", help="list the bundled datasets (builtin://NAME)")

    tls = sub.add_parser("tls", help="make the TLS Secret of a run in the cluster (its driver's init container)")
    tls.add_argument("run", help="rt/NAME")
    tls.add_argument("--namespace", "-n", required=True)

    op = sub.add_parser("operator", help="run the Kubernetes operator (settings from RETRODICTION_* variables)")
    scope = op.add_mutually_exclusive_group()
    scope.add_argument("--namespace", "-n", action="append", default=[], help="watch this namespace (repeatable)")
    scope.add_argument("--all-namespaces", "-A", action="store_true", help="watch the whole cluster (default)")
    return parser


def _add_table_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--top", type=int, help="variables in the trust table (default 25; --format json: all unless given)"
    )
    command.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="what goes to stdout: the trust table, or its rows as one JSON document for scripts",
    )


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _namespace(args: argparse.Namespace) -> str:
    if args.namespace:
        return str(args.namespace)
    from retrodiction.kube_client import context_namespace

    return context_namespace()


def _drive(args: argparse.Namespace, name: str) -> int:
    from retrodiction.driver.run import drive

    logging.getLogger().setLevel(os.environ.get("RETRODICTION_LOG_LEVEL", "INFO"))
    return drive(_namespace(args), name, scheduler=args.scheduler)


def _tls(args: argparse.Namespace) -> int:
    from retrodiction.driver.run import make_tls_secret

    name = run_reference_name(args.run)
    if name is None:
        raise BadInputError(f"run: expected rt/NAME, got {args.run!r}")
    logging.getLogger().setLevel(os.environ.get("RETRODICTION_LOG_LEVEL", "INFO"))
    return make_tls_secret(args.namespace, name)


def _train(args: argparse.Namespace) -> int:
    if (run := run_reference_name(args.manifest)) is not None:
        return _drive(args, run)
    if args.verbose:
        logging.getLogger().setLevel(logging.INFO)
    return train_locally(args)


def configure_operator_logging(level: str) -> None:
    """Kopf's own format, with each message about a run prefixed by [namespace/name]: with many runs in flight,
    `kubectl logs` of the operator must say which run a line is about."""
    import kopf

    root = logging.getLogger()
    root.handlers.clear()  # basicConfig's, which would print every line a second time without the run's name
    kopf.configure(log_prefix=True)
    root.setLevel(level)


def _operator(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from retrodiction.controller.app import run
    from retrodiction.controller.settings import OperatorSettings

    try:
        settings = OperatorSettings(**({"namespaces": args.namespace} if args.namespace else {}))
    except ValidationError as err:
        from retrodiction.api.errors import format_validation_error

        raise BadInputError(format_validation_error(err, "RETRODICTION")) from None
    configure_operator_logging(os.environ.get("RETRODICTION_LOG_LEVEL", "INFO"))
    # `kill -USR1 <pid>` prints every thread's stack: how to see where a stuck run is without a debugger.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    run(settings)
    return EXIT_OK


def _datasets() -> int:
    from retrodiction.data import builtin_datasets

    for name, description in sorted(builtin_datasets().items()):
        console().print(f"builtin://{name}\t{description}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None, *, prog: str = "retrodiction") -> int:
    args = _parser(prog).parse_args(argv)
    logging.basicConfig(level=os.environ.get("RETRODICTION_LOG_LEVEL", "WARNING"))
    try:
        return _run_command(args)
    except (ManifestError, DataError, BadInputError) as err:
        _error(f"error: {err}")
        return EXIT_BAD_INPUT
    except ModuleNotFoundError as err:
        if err.name is None or err.name.partition(".")[0] == "retrodiction":
            raise
        extra = _extra(args)
        _error(
            f"error: `retrodiction {args.command}` needs {err.name}, which is not installed here: it comes with "
            f"the {extra!r} extra (pip install '{PACKAGE}[{extra}]')"
        )
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED


def _run_command(args: argparse.Namespace) -> int:
    if args.command == "datasets":
        return _datasets()
    if args.command == "operator":
        return _operator(args)
    if args.command == "tls":
        return _tls(args)
    if args.command == "report":
        from retrodiction.report_command import report

        return report(args)
    if args.command == "diff":
        from retrodiction.diff_command import diff

        return diff(args)
    return _train(args)


def _extra(args: argparse.Namespace) -> str:
    """The extra of pyproject.toml that holds what a command imports: each image installs one (worker_image/
    Dockerfile), and the base install holds only the manifest's models."""
    if args.command == "operator":
        return "operator"
    if args.command == "tls" or (args.command == "train" and run_reference_name(args.manifest) is not None):
        return "worker"  # a run's driver and its init container, in the worker image
    return "cli"


if __name__ == "__main__":
    sys.exit(main())
