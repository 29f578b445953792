"""`retrodiction` command line: run a RetrodictionTraining manifest on a local or existing Dask cluster."""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import re
import signal
import sys
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from retrodiction import __version__
from retrodiction.api.training import RetrodictionTraining
from retrodiction.data.errors import DataError
from retrodiction.manifest import ManifestError, load_training

if TYPE_CHECKING:  # the run's libraries load only when a run starts, so `retrodiction operator` stays light
    from rich.console import Console

    from retrodiction.api.summary import RetrodictionSummary
    from retrodiction.coordinator import ParallelTrainingCoordinator
    from retrodiction.execution.progress import Progress as RunProgress

EXIT_OK, EXIT_RUN_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
PACKAGE = "retrodiction-operator"


@cache
def _console(*, stderr: bool = False) -> Console:
    """rich's console, imported on first use: only the laptop's commands (the `cli` extra) print with it; the
    operator and a run's driver print plain lines and run in images without rich."""
    from rich.console import Console

    return Console(stderr=stderr)


def _error(message: str) -> None:
    print(message, file=sys.stderr)


class BadInputError(Exception):
    """Raised for input errors caught before or during planning; printed as one line, exit code 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="retrodiction", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="run a RetrodictionTraining manifest locally, or drive a run in the cluster")
    train.add_argument(
        "manifest",
        help="YAML file holding a RetrodictionTraining, or rt/NAME: a run in the cluster (what its driver Job does)",
    )
    train.add_argument("--namespace", "-n", help="the namespace of rt/NAME (default: the current context's)")
    where = train.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="local Dask worker processes (default: spec.dask.workers)")
    where.add_argument("--scheduler", metavar="ADDRESS", help="use an existing Dask scheduler, e.g. tcp://h:8786")
    train.add_argument("--output", "-o", help="summary JSON path or fsspec URI (default: NAME-summary.json)")
    train.add_argument("--report", help="also write an HTML report with plots to this path")
    train.add_argument("--checkpoint", metavar="URI", help="keep finished batches here and resume from them")
    train.add_argument("--top", type=int, default=25, help="variables shown in the trust table (default 25)")
    train.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no table")

    sub.add_parser("datasets", help="list the bundled datasets (builtin://NAME)")

    tls = sub.add_parser("tls", help="make the TLS Secret of a run in the cluster (its driver's init container)")
    tls.add_argument("run", help="rt/NAME")
    tls.add_argument("--namespace", "-n", required=True)

    op = sub.add_parser("operator", help="run the Kubernetes operator (settings from RETRODICTION_* variables)")
    scope = op.add_mutually_exclusive_group()
    scope.add_argument("--namespace", "-n", action="append", default=[], help="watch this namespace (repeatable)")
    scope.add_argument("--all-namespaces", "-A", action="store_true", help="watch the whole cluster (default)")
    return parser


def _workers(args: argparse.Namespace, training: RetrodictionTraining) -> int:
    workers = args.workers if args.workers is not None else training.spec.dask.workers
    if workers < 1:
        raise BadInputError("--workers: must be at least 1")
    return int(workers)


# rt/NAME, retrodictiontraining/NAME, retrodictiontrainings.training.retrodiction.dev/NAME: a run in the cluster.
_RUN_REFERENCE = re.compile(
    r"^(rt|retrodictiontrainings?(\.training\.retrodiction\.dev)?)/(?P<name>[a-z0-9][-a-z0-9.]*)$"
)


def _run_name(reference: str) -> str | None:
    match = _RUN_REFERENCE.match(reference)
    return match.group("name") if match else None


def _namespace(args: argparse.Namespace) -> str:
    if args.namespace:
        return str(args.namespace)
    from kubernetes import config

    try:
        _, context = config.list_kube_config_contexts()
        return str(context.get("context", {}).get("namespace") or "default")
    except (config.ConfigException, OSError):
        return "default"


def _drive(args: argparse.Namespace, name: str) -> int:
    from retrodiction.driver.run import drive

    logging.getLogger().setLevel(os.environ.get("RETRODICTION_LOG_LEVEL", "INFO"))
    return drive(_namespace(args), name, scheduler=args.scheduler)


def _tls(args: argparse.Namespace) -> int:
    from retrodiction.driver.run import make_tls_secret

    name = _run_name(args.run)
    if name is None:
        raise BadInputError(f"run: expected rt/NAME, got {args.run!r}")
    logging.getLogger().setLevel(os.environ.get("RETRODICTION_LOG_LEVEL", "INFO"))
    return make_tls_secret(args.namespace, name)


def _train(args: argparse.Namespace) -> int:
    if (run := _run_name(args.manifest)) is not None:
        return _drive(args, run)
    from retrodiction.config import TrainingConfig
    from retrodiction.coordinator import CoordinatorState, ParallelTrainingCoordinator
    from retrodiction.execution.checkpoint import FsspecCheckpoint
    from retrodiction.report import trust_table, write_html_report

    training = load_training(Path(args.manifest))
    spec = training.spec
    if spec.data.credentials_secret_ref is not None:
        _console(stderr=True).print(
            "[yellow]note:[/] spec.data.credentialsSecretRef is read by the operator only; the CLI takes "
            "credentials from the environment (e.g. AWS_ACCESS_KEY_ID) or spec.data.storageOptions"
        )
    scheduler = args.scheduler or (spec.dask.address if spec.dask.mode == "address" else None)
    coordinator = ParallelTrainingCoordinator(
        config=TrainingConfig.from_spec(spec),
        max_workers=_workers(args, training) if scheduler is None else 1,
        scheduler_address=scheduler,
        run_name=training.metadata.name,
        namespace=training.metadata.namespace,
    )
    batches = coordinator.prepare_spec_batches(spec)
    output = args.output or f"{training.metadata.name}-summary.json"
    _check_writable(output, "--output")
    if args.report:
        _check_writable(args.report, "--report")
    if args.checkpoint:
        # Keyed by the plan's fingerprint: a changed spec never resumes from another spec's batches.
        coordinator.checkpoint = FsspecCheckpoint(f"{args.checkpoint.rstrip('/')}/{coordinator.fingerprint()}")
    where = scheduler or f"a local Dask cluster of {coordinator.max_workers} worker process(es)"
    if not args.quiet:
        _console(stderr=True).print(f"{training.metadata.name}: {len(batches)} batches on {where}")

    summary = _run_with_progress(coordinator, quiet=args.quiet)
    save_error = _save_summary(coordinator, output, training.metadata.name)
    if args.report:
        write_html_report(summary, args.report)
    if not args.quiet:
        _console().print(trust_table(summary, limit=args.top))
        _console(stderr=True).print(f"summary: {output}" + (f"  report: {args.report}" if args.report else ""))
    if save_error:
        _console(stderr=True).print(f"error: --output: {save_error}", markup=False)
        return EXIT_RUN_FAILED
    if coordinator.state is not CoordinatorState.COMPLETED:
        _console(stderr=True).print(
            f"[red]error:[/] run {coordinator.state}: {coordinator.failure_reason or ''}".rstrip(": ")
        )
        return EXIT_RUN_FAILED
    return EXIT_OK


def _check_writable(target: str, option: str) -> None:
    """Refuse an output location that cannot be written before the run, not after it."""
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(target)
        if "file" in fs.protocol:
            parent = Path(path).parent
            parent.mkdir(parents=True, exist_ok=True)
            if not os.access(parent, os.W_OK):
                raise BadInputError(f"{option}: folder {str(parent)!r} is not writable")
            return
        # Object stores have no folders: the bucket (or container) is what must exist.
        root = path.strip("/").split("/", 1)[0]
        if not fs.exists(root):
            raise BadInputError(f"{option}: {root!r} does not exist or is not accessible at {target}")
    except (ValueError, ImportError, OSError) as err:
        raise BadInputError(f"{option}: cannot write to {target!r} ({type(err).__name__}: {err})") from None


def _save_summary(coordinator: ParallelTrainingCoordinator, output: str, name: str) -> str | None:
    """Write the summary; if the output fails now (it was checked before the run), keep it in a local file."""
    try:
        coordinator.save_results_to_file(output)
        return None
    except Exception as err:
        fallback = str(Path.cwd() / f"{name}-summary.json")
        coordinator.save_results_to_file(fallback)
        return f"could not write {output} ({type(err).__name__}: {err}); the summary was saved to {fallback}"


def _run_with_progress(coordinator: ParallelTrainingCoordinator, *, quiet: bool) -> RetrodictionSummary:
    if quiet:
        return coordinator.run_training()
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[bold]batches"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=_console(stderr=True), transient=False) as bar:
        task = bar.add_task("batches", total=len(coordinator.batches), failed=0)

        def update(progress: RunProgress) -> None:
            if coordinator.dashboard_link and not bar.tasks[0].fields.get("announced"):
                bar.console.print(f"Dask dashboard: {coordinator.dashboard_link}")
                bar.update(task, announced=True)
            bar.update(task, completed=progress.completed, failed=progress.failed)

        return coordinator.run_training(update)


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
        _console().print(f"builtin://{name}\t{description}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
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
    return _train(args)


def _extra(args: argparse.Namespace) -> str:
    """The extra of pyproject.toml that holds what a command imports: each image installs one (worker_image/
    Dockerfile), and the base install holds only the manifest's models."""
    if args.command == "operator":
        return "operator"
    if args.command == "tls" or (args.command == "train" and _run_name(args.manifest) is not None):
        return "worker"  # a run's driver and its init container, in the worker image
    return "cli"


if __name__ == "__main__":
    sys.exit(main())
