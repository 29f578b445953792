"""`retrodiction train FILE`: a manifest run on a local Dask cluster or an existing scheduler, followed in the
terminal: notes and the progress bar on stderr, then the trust table (or its rows as JSON) on stdout."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from retrodiction.collector import command_phases
from retrodiction.manifest import load_training
from retrodiction.terminal import console

if TYPE_CHECKING:  # the run's libraries load only when a run starts, so `retrodiction operator` stays light
    from retrodiction.api.summary import RetrodictionSummary
    from retrodiction.api.training import RetrodictionTraining
    from retrodiction.coordinator import ParallelTrainingCoordinator
    from retrodiction.execution.progress import Progress as RunProgress

EXIT_OK, EXIT_RUN_FAILED = 0, 1
# Variables in the terminal's table unless --top says otherwise; --format json has them all.
DEFAULT_TOP = 25


class BadInputError(Exception):
    """Raised for input errors caught before or during planning; printed as one line, exit code 2."""


def train_locally(args: argparse.Namespace) -> int:
    """Plan the manifest's run, run it, write the summary (and report), and show the table or its JSON."""
    with command_phases() as phases:
        if not args.scheduler:
            from retrodiction.worker_server import start_worker_server

            # First thing (the console script started it even earlier when the command line said so: entry.py):
            # the worker processes' forkserver imports their libraries on another core while this process imports
            # its own. A run small enough for threads (execution/sizing.py), or a manifest naming a scheduler,
            # leaves it idle.
            start_worker_server()
        from retrodiction.execution.logs import library_logs

        training = load_training(Path(args.manifest))
        if training.spec.data.credentials_secret_ref is not None and not args.quiet:
            console(stderr=True).print(
                "[yellow]note:[/] spec.data.credentialsSecretRef is read by the operator only; the CLI takes "
                "credentials from the environment (e.g. AWS_ACCESS_KEY_ID) or spec.data.storageOptions"
            )
        coordinator = _planned(args, training)
        output = args.output or f"{training.metadata.name}-summary.json"
        _check_writable(output, "--output")
        if args.report:
            _check_writable(args.report, "--report")
        if args.checkpoint:
            from retrodiction.execution.checkpoint import FsspecCheckpoint

            # Keyed by the plan's fingerprint: a changed spec never resumes from another spec's batches.
            coordinator.checkpoint = FsspecCheckpoint(f"{args.checkpoint.rstrip('/')}/{coordinator.fingerprint()}")
        phases.running()
        with library_logs(verbose=args.verbose), _cluster(args, coordinator) as where:
            if not args.quiet:
                console(stderr=True).print(f"{training.metadata.name}: {len(coordinator.batches)} batches on {where}")
            summary = _run_with_progress(coordinator, quiet=args.quiet)
        phases.writing()
        save_error = _save_summary(coordinator, summary, output)
        if args.report:
            from retrodiction.report.html_report import write_html_report

            write_html_report(summary, args.report)
        show_results(summary, output_format=args.format, top=args.top, quiet=args.quiet)
    if not args.quiet:
        console(stderr=True).print(f"summary: {output}" + (f"  report: {args.report}" if args.report else ""))
    return _verdict(coordinator, save_error)


def _planned(args: argparse.Namespace, training: RetrodictionTraining) -> ParallelTrainingCoordinator:
    from retrodiction.config import TrainingConfig
    from retrodiction.coordinator import ParallelTrainingCoordinator

    spec = training.spec
    coordinator = ParallelTrainingCoordinator(
        config=TrainingConfig.from_spec(spec),
        max_workers=_workers(args, training),
        scheduler_address=args.scheduler or (spec.dask.address if spec.dask.mode == "address" else None),
        run_name=training.metadata.name,
        namespace=training.metadata.namespace,
    )
    coordinator.prepare_spec_batches(spec)
    return coordinator


def _workers(args: argparse.Namespace, training: RetrodictionTraining) -> int:
    workers = args.workers if args.workers is not None else training.spec.dask.workers
    if workers < 1:
        raise BadInputError("--workers: must be at least 1")
    return int(workers)


@contextmanager
def _cluster(args: argparse.Namespace, coordinator: ParallelTrainingCoordinator) -> Iterator[str]:
    """Where the batches run, as the first note says: an existing scheduler (the coordinator connects to it), or
    a local cluster sized to the plan (execution/sizing.py), started here and closed after the run."""
    if coordinator.scheduler_address:
        yield coordinator.scheduler_address
        return
    from retrodiction.execution.clusters import local_cluster_client
    from retrodiction.execution.sizing import local_pool

    config = coordinator.config
    pool = local_pool(
        coordinator.max_workers,
        coordinator.batches,
        config.engine,
        processes=args.processes,
        custom_models=bool(config.custom_models),
    )
    # The dashboard on the loopback only: ":0" would listen on every interface of a laptop.
    dashboard = "127.0.0.1:0"
    with local_cluster_client(
        pool.workers, processes=pool.processes, dashboard_address=dashboard, verbose=args.verbose, fork_server=True
    ) as client:
        coordinator.client = client
        yield pool.describe()


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


def _save_summary(coordinator: ParallelTrainingCoordinator, summary: RetrodictionSummary, output: str) -> str | None:
    """Write the summary; if the output fails now (it was checked before the run), keep it in a local file."""
    try:
        coordinator.save_results_to_file(output, summary=summary)
        return None
    except Exception as err:
        fallback = str(Path.cwd() / f"{coordinator.run_name}-summary.json")
        coordinator.save_results_to_file(fallback, summary=summary)
        return f"could not write {output} ({type(err).__name__}: {err}); the summary was saved to {fallback}"


def show_results(summary: RetrodictionSummary, *, output_format: str, top: int | None, quiet: bool) -> None:
    """The answer on stdout: the trust table for people (unless `quiet`), or its rows as JSON for scripts (always:
    a script asked for them); `top` variables, by default DEFAULT_TOP in the table and all in JSON."""
    if output_format == "json":
        from retrodiction.report.rows import table_document

        sys.stdout.write(json.dumps(table_document(summary, limit=top), indent=2) + "\n")
        sys.stdout.flush()
        return
    if quiet:
        return
    from retrodiction.report.table import trust_table

    out = console()
    out.print(trust_table(summary, limit=top or DEFAULT_TOP, width=out.width))


def _verdict(coordinator: ParallelTrainingCoordinator, save_error: str | None) -> int:
    from retrodiction.coordinator import CoordinatorState

    if save_error:
        console(stderr=True).print(f"error: --output: {save_error}", markup=False)
        return EXIT_RUN_FAILED
    if coordinator.state is not CoordinatorState.COMPLETED:
        console(stderr=True).print(
            f"[red]error:[/] run {coordinator.state}: {coordinator.failure_reason or ''}".rstrip(": ")
        )
        return EXIT_RUN_FAILED
    return EXIT_OK


def remaining_text(seconds: float | None) -> str:
    """h:mm:ss left, as rich's own remaining-time column writes it; -:--:-- until there is a rate."""
    if seconds is None:
        return "-:--:--"
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def costliest_text(progress: RunProgress) -> str:
    """`ets 94% of time` once one of several models takes most of the compute; empty otherwise."""
    costliest = progress.costliest_model()
    if costliest is None or len(progress.model_seconds) < 2:
        return ""
    model, share = costliest
    return f"{model} {share:.0%} of time"


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
    )

    # The remaining time is the coordinator's (batches weighed by their work), not rich's count of steps, and the
    # model that takes the time is named: one model can cost a thousand times another.
    columns = (
        TextColumn("[bold]batches"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[eta]}"),
        TextColumn("[dim]{task.fields[costliest]}"),
    )
    with Progress(*columns, console=console(stderr=True), transient=False) as bar:
        task = bar.add_task("batches", total=len(coordinator.batches), failed=0, eta="-:--:--", costliest="")

        def update(progress: RunProgress) -> None:
            if coordinator.dashboard_link and not bar.tasks[0].fields.get("announced"):
                bar.console.print(f"Dask dashboard: {coordinator.dashboard_link}")
                bar.update(task, announced=True)
            bar.update(
                task,
                completed=progress.completed,
                failed=progress.failed,
                eta=remaining_text(progress.estimated_remaining_seconds),
                costliest=costliest_text(progress),
            )

        return coordinator.run_training(update)
