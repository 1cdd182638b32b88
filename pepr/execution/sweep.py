"""Studies: expand a YAML grid into runs, skip those already ``ok``, execute the rest.

Each run is ``notebooks/train.ipynb`` executed by papermill (an executed copy goes to
``outputs/<study>/``); the notebook appends the run's epochs and row. A run whose notebook fails
before writing its row gets a ``failed`` row from here, and the sweep goes on. Executors:
``inline`` (one after another in this process), ``processes`` (a local worker process per run) and
``dask`` (a ``dask.distributed`` cluster: a :class:`~distributed.LocalCluster` of ``workers``
processes, or an existing one at ``scheduler``). Rows are appended with
:func:`pepr.store.results.append_rows` (locked, one write per row), so concurrent workers and killed
runs leave no torn or duplicated ``ok`` rows.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import signal
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pepr.core import locks, paths
from pepr.core.errors import BadParameterError, IncompatibleInputError
from pepr.core.settings import KERNEL_ARGUMENTS
from pepr.store import results, runspec
from pepr.store.studies import expand, load_spec, over_size, spec_of

NOTEBOOK = paths.TRAIN_NOTEBOOK


DEFAULT_OUTPUTS_DIR = paths.OUTPUTS_DIR


EXECUTORS = ("inline", "processes", "dask")


@dataclass
class SweepSummary:
    """What a sweep did: how many cells, skipped as done, run ok, failed, and not run because
    their input size exceeds the study's ``max_img_size`` (recorded as ``skipped``)."""

    total: int
    skipped: int
    ok: int
    failed: int
    over_size: int = 0

    def __str__(self) -> str:
        over = f", {self.over_size} not run (input above max_img_size)" if self.over_size else ""
        return (f"{self.total} runs: {self.skipped} already done, {self.ok} ok, "
                f"{self.failed} failed{over}")


# ---------------------------------------------------------------------------------------------
# Validation before anything starts
# ---------------------------------------------------------------------------------------------

def validate_cell(cell: Mapping[str, object], build_model: bool = True,
                  _loaded: set | None = None) -> None:
    """Raise a :class:`PeprError` for a run that cannot start: data missing or corrupt, or a
    model that cannot take the input size (the zoo's minimum; with ``build_model`` one forward
    pass). The parameters themselves were checked when the cell's spec was made. Used by
    ``pepr run`` and ``pepr sweep`` before papermill starts."""
    from pepr.data import registry, zoo
    from pepr.training import nets, tensors

    run = spec_of(cell)
    data_info = registry.get_dataset_info(run.dataset)
    key = (data_info.name, run.img_size)
    if _loaded is None or key not in _loaded:
        tensors.load_dataset(run.dataset, img_size=run.img_size)
        if _loaded is not None:
            _loaded.add(key)
    row = zoo.zoo_row(run.model)  # None outside the zoo: no size check before the run
    min_size = int(row["min_img_size"]) if row is not None else None
    if min_size is not None and run.img_size < min_size:
        raise IncompatibleInputError(
            f"model {run.model!r} needs inputs of at least {min_size} px, got "
            f"{run.img_size} (use img_size auto or >= {min_size})"
        )
    if build_model:
        # one forward pass at this size: IncompatibleInputError (naming the model) if it fails
        nets.create_model(run.model, num_classes=data_info.num_classes,
                         in_chans=data_info.in_chans, img_size=run.img_size, pretrained=False)


# ---------------------------------------------------------------------------------------------
# Executing one run
# ---------------------------------------------------------------------------------------------

def notebook_parameters(cell: Mapping[str, object], results_dir: Path | str,
                        figures: bool = True) -> dict[str, object]:
    """The papermill parameters of a cell: every :class:`~pepr.store.runspec.RunSpec` field
    (``pretrained`` keeps False/True/path), the results folder and whether the notebook draws
    its figures (not part of the run's identity: the rows are the same either way)."""
    params = spec_of(cell).parameters()
    params["results_dir"] = str(Path(results_dir).resolve())
    params["figures"] = bool(figures)
    return params


def output_notebook(cell: Mapping[str, object], outputs_dir: Path | str) -> Path:
    safe_model = str(cell["model"]).replace("/", "_")
    return Path(outputs_dir) / str(cell["study"]) / f"{cell['run_id']}_{safe_model}.ipynb"


def thread_environment(threads: int) -> dict[str, str]:
    """Environment variables that hold OpenMP/MKL to ``threads`` in a notebook's kernel.

    On a shared CPU, OpenMP threads that outnumber free cores spin at barriers and run slower
    than one thread (``benchmarks/throughput.py --threads T``, run beside busy processes, times
    it). The kernel inherits these before torch is imported; the run then also calls
    ``torch.set_num_threads`` and records the count in ``threads``.
    """
    return {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}


#: The status of a run that a sweep found ``ok`` just before it would have trained it (another
#: process finished it meanwhile): counted as already done, and nothing is written.
DONE = "done"


def has_ok_row(cell: Mapping[str, object], results_dir: Path | str) -> bool:
    """Whether the cell's run has an ``ok`` row in its study's table now."""
    return cell["run_id"] in results.completed_run_ids(str(cell["study"]), results_dir)


def execute_cell(cell: Mapping[str, object], results_dir: Path | str = results.DEFAULT_RESULTS_DIR,
                 outputs_dir: Path | str = DEFAULT_OUTPUTS_DIR,
                 notebook: Path | str = NOTEBOOK, figures: bool = True,
                 skip_done: bool = False) -> str:
    """Execute the training notebook for one cell; returns the run's status (``ok``/``failed``,
    or :data:`DONE` when ``skip_done`` and the run has an ``ok`` row when it would start: a
    sweep checks again just before each run trains, so a run finished meanwhile by another
    process is not trained twice).

    ``figures=False`` leaves out the notebook's figures (learning curves, confusion matrix, epoch
    times), which cost a run the import of matplotlib and their drawing; the rows are the same,
    and the epochs table keeps the curves. The kernel computes with ``cell["threads"]`` threads
    (:func:`thread_environment`). If the notebook fails before it wrote a row, a ``failed`` row
    is written here with what the error knew (:func:`describe_error`: exception name, message
    and cell).
    """
    import papermill

    if skip_done and has_ok_row(cell, results_dir):
        return DONE
    os.environ.update(thread_environment(int(cell.get("threads") or runspec.DEFAULT_THREADS)))
    target = output_notebook(cell, outputs_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    started = _now()
    try:
        papermill.execute_notebook(
            str(notebook), str(target), parameters=notebook_parameters(cell, results_dir, figures),
            progress_bar=False, kernel_name="python3", cwd=str(Path(notebook).resolve().parent.parent),
            shutdown_kernel="immediate",  # every cell has run: a graceful stop only waits (~3 s)
            extra_arguments=list(KERNEL_ARGUMENTS),
        )
    except Exception as error:  # the notebook raised, or the kernel died
        return (last_status(cell, results_dir, since=started)
                or write_failed_row(cell, describe_error(error), results_dir, started))
    return last_status(cell, results_dir, since=started) or "failed"


def train_in_process(cells: Iterable[Mapping[str, object]], results_dir: Path | str,
                     device: str | None = None, deadline_s: float | None = None,
                     progress: bool = True) -> dict[str, list[str]]:
    """Train ``cells`` one after another in this process (no papermill, no fresh kernel) and
    append each run's rows as it ends; returns the run ids by status, ``not started`` included.

    For a borrowed machine that is lent for minutes and may lack the notebook stack (a GPU
    slice of a study): runs go one at a time, so a device-wide energy counter (NVML) times one
    run each. With ``deadline_s`` no run starts once the time left is under twice the longest
    run so far (at least 30 s), so the last one ends inside the lease. Cells with an ``ok`` row
    in ``results_dir`` are skipped, so a second call goes on where the first stopped.
    """
    import time

    from pepr.training import meters, train

    started = time.monotonic()
    cells = [dict(cell) for cell in cells]
    done = set().union(*(results.completed_run_ids(study, results_dir)
                         for study in {str(cell["study"]) for cell in cells}))
    todo = [cell for cell in cells if cell["run_id"] not in done]
    outcome: dict[str, list[str]] = {"ok": [], "failed": [], "not started": []}
    longest = 0.0
    with _bar(len(todo), progress) as bar:
        for index, cell in enumerate(todo):
            left = math.inf if deadline_s is None else deadline_s - (time.monotonic() - started)
            if left < max(2 * longest, 30.0):
                outcome["not started"] = [c["run_id"] for c in todo[index:]]
                bar.write(f"{len(todo) - index} run(s) not started: {left:.0f} s left")
                break
            bar.set_postfix_str(str(cell["model"]))
            run_start = time.monotonic()
            result = train.run_spec(spec_of(cell), device=device, meter=meters.RunMeter())
            train.append_result(result, results_dir)
            release_memory()
            longest = max(longest, time.monotonic() - run_start)
            status = str(result.row["status"])
            outcome.setdefault(status, []).append(str(cell["run_id"]))
            _log(bar, cell, status)
            bar.update()
    return outcome


def release_memory() -> None:
    """Free what a finished in-process run left: its objects, and the CUDA allocator's cached
    blocks, so the next run's ``peak_mem_gb`` (memory reserved) counts only its own."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def describe_error(error: BaseException) -> str:
    """One line for a failed run: papermill's exception name, message and cell where it has
    them (``PapermillExecutionError``), else the exception's type and last message line."""
    name, value = getattr(error, "ename", None), getattr(error, "evalue", None)
    if name is not None:
        cell = getattr(error, "cell_index", None)
        where = f" [notebook cell {cell}]" if cell is not None else ""  # of the executed copy
        text = f"{name}: {value}{where}"
    else:
        lines = [line for line in str(error).strip().splitlines() if line.strip()]
        text = f"{type(error).__name__}: {lines[-1] if lines else ''}"
    return " ".join(text.split())[:500]


def last_status(cell: Mapping[str, object], results_dir: Path | str, since: str) -> str | None:
    """Status of the newest row of this run written at or after ``since`` (None: no row)."""
    runs = results.read_table(results.study_dir(str(cell["study"]), results_dir) / "runs.csv",
                              results.RUN_COLUMNS)
    started = runs["started_at"]
    mine = runs[(runs["run_id"] == cell["run_id"]) & started.notna()
                & (started.astype(str) >= since)]
    return None if mine.empty else str(mine["status"].iloc[-1])


def write_failed_row(cell: Mapping[str, object], error: str, results_dir: Path | str,
                     started_at: str) -> str:
    """A ``failed`` row for a run that could not record itself; returns that status."""
    row = {key: cell.get(key) for key in results.RUN_COLUMNS if key in cell}
    row.update(status="failed", error=error, started_at=started_at)
    results.append_run(row, results_dir)
    return "failed"


# ---------------------------------------------------------------------------------------------
# Executors
# ---------------------------------------------------------------------------------------------

def pending_cells(cells: Iterable[Mapping[str, object]], study: str,
                  results_dir: Path | str) -> tuple[list[dict], int]:
    """The cells without an ``ok`` row, and how many were skipped."""
    done = results.completed_run_ids(study, results_dir)
    cells = list(cells)
    todo = [dict(cell) for cell in cells if cell["run_id"] not in done]
    return todo, len(cells) - len(todo)


def run_sweep(spec_path: Path | str, results_dir: Path | str = results.DEFAULT_RESULTS_DIR,
              executor: str = "inline", workers: int = 1, scheduler: str | None = None,
              outputs_dir: Path | str = DEFAULT_OUTPUTS_DIR,
              progress: bool = True, figures: bool = True) -> SweepSummary:
    """Run every cell of a study that has no ``ok`` row yet; returns what happened.
    ``figures`` is passed to each run (:func:`execute_cell`)."""
    if scheduler:
        executor = "dask"
    if executor not in EXECUTORS:
        raise BadParameterError(f"executor {executor!r} not in {EXECUTORS}")
    if workers < 1:
        raise BadParameterError(f"workers must be >= 1 (got {workers})")
    spec = load_spec(spec_path)
    study = str(spec["study"])
    results.check_writable(results_dir, study)
    results.check_writable(outputs_dir, study)
    with locks.study_lock(study, results.study_dir(study, results_dir)):
        return _sweep_locked(spec, results_dir, executor, workers, scheduler, outputs_dir,
                             progress, figures)


def _sweep_locked(spec: Mapping[str, object], results_dir: Path | str, executor: str,
                  workers: int, scheduler: str | None, outputs_dir: Path | str, progress: bool,
                  figures: bool) -> SweepSummary:
    """:func:`run_sweep` once it holds the study's lock."""
    from pepr.training import nets

    cells = expand(spec, min_img_size=nets.min_img_size)
    capped = [cell for cell in cells if over_size(cell, spec["max_img_size"])]
    runnable = [cell for cell in cells if not over_size(cell, spec["max_img_size"])]
    loaded: set = set()
    for cell in runnable:
        validate_cell(cell, build_model=False, _loaded=loaded)
    record_over_size(capped, int(spec["max_img_size"] or 0), results_dir)
    todo, skipped = pending_cells(runnable, str(spec["study"]), results_dir)
    job = dict(results_dir=str(Path(results_dir).resolve()),
               outputs_dir=str(Path(outputs_dir).resolve()), figures=bool(figures),
               skip_done=True)
    runner = {"inline": _run_inline, "processes": _run_processes, "dask": _run_dask}[executor]
    spare = child_pids()  # processes that were there before: not the sweep's to end
    with terminate_as_interrupt():
        statuses = runner(todo, job, workers, scheduler, progress, spare)
    ok = statuses.count("ok")
    return SweepSummary(total=len(cells), skipped=skipped + statuses.count(DONE), ok=ok,
                        failed=len(statuses) - ok - statuses.count(DONE),
                        over_size=len(capped))


def record_over_size(cells: list[Mapping[str, object]], max_img_size: int,
                     results_dir: Path | str) -> int:
    """A ``skipped`` row, with the reason, for each over-size cell that has none yet; returns
    how many were written. A later sweep with a higher cap runs them (their row is not ``ok``)."""
    if not cells:
        return 0
    table = results.study_dir(str(cells[0]["study"]), results_dir) / "runs.csv"
    runs = results.read_table(table, results.RUN_COLUMNS)
    recorded = set(runs.loc[runs["status"].isin(["skipped", "ok"]), "run_id"])
    started = _now()
    rows = []
    for cell in cells:
        if cell["run_id"] in recorded:
            continue
        row = {key: cell.get(key) for key in results.RUN_COLUMNS if key in cell}
        row.update(status="skipped", started_at=started,
                   error=f"needs inputs of at least {cell['img_size']} px; this study caps "
                         f"inputs at max_img_size {max_img_size} px")
        rows.append(row)
    return results.append_rows(table, rows, results.RUN_COLUMNS) if rows else 0


def _bar(total: int, progress: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not progress, unit="run", desc="sweep", dynamic_ncols=True)


def _log(bar, cell: Mapping[str, object], status: str) -> None:
    """One line per finished run above the bar (the log of a long sweep)."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%H:%M:%S")
    bar.write(f"{stamp} {cell['run_id']} {cell['model']} img_size={cell['img_size']} "
              f"seed={cell['seed']}: {status}")


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM (what ``kill`` and most schedulers send) raises
    KeyboardInterrupt, as Ctrl-C does, so that a sweep stopped either way ends its runs
    (:func:`end_runs`) instead of dying at once and leaving its workers to train on. Only the
    main thread can set a signal handler; elsewhere the block runs unchanged."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def child_pids() -> frozenset[int]:
    """The process ids of this process's children and their descendants, now."""
    import psutil

    return frozenset(child.pid for child in psutil.Process().children(recursive=True))


def end_runs(spare: frozenset[int] = frozenset(), grace_s: float = 5.0) -> int:
    """End every process this one started (sweep workers and the notebook kernels under them)
    except those in ``spare`` (:func:`child_pids` before the sweep began): SIGTERM, then SIGKILL
    for any still alive after ``grace_s``. A run that was stopped writes no row, so the next
    sweep trains it again; without this, orphaned workers would finish their runs and queued
    ones unseen, beside the next sweep (two rows for one run id, and runs that share cores time
    slower). Returns how many processes were ended."""
    import psutil

    children = [child for child in psutil.Process().children(recursive=True)
                if child.pid not in spare and not _is_tracker(child)]
    for child in children:
        try:
            child.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(children, timeout=grace_s)
    for child in alive:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    return len(children)


def _is_tracker(process) -> bool:
    """Whether ``process`` is multiprocessing's resource tracker: it runs no training and exits
    with the sweep; ending it first makes it print a traceback for every semaphore it held."""
    import psutil

    try:
        return any("multiprocessing.resource_tracker" in part for part in process.cmdline())
    except psutil.Error:
        return False


def _run_inline(todo, job, workers, scheduler, progress, spare) -> list[str]:
    statuses = []
    with _bar(len(todo), progress) as bar:
        try:
            for cell in todo:
                bar.set_postfix_str(str(cell["model"]))
                statuses.append(execute_cell(cell, **job))
                _log(bar, cell, statuses[-1])
                bar.update()
        except KeyboardInterrupt:
            end_runs(spare)  # the running notebook's kernel
            raise
    return statuses


def _run_processes(todo, job, workers, scheduler, progress, spare) -> list[str]:
    """Each run in a worker process of its own, at most ``workers`` at a time, in the order of
    ``todo``. A run's status is read from its row once its worker has ended, so a worker that
    dies without one (killed, out of memory) costs only its run: that run gets a ``failed`` row
    that names how the worker ended (:func:`worker_ended`) and the sweep goes on. No pool and no
    queue threads stand between the sweep and its workers, so a stop ends them at once
    (:func:`end_runs`) and nothing is left to join when the sweep exits."""
    from multiprocessing.connection import wait

    import papermill  # noqa: F401  imported once here: a forked worker starts with it (~0.2 s a run)

    context = worker_context()
    waiting, running = list(todo), {}
    statuses = []
    with _bar(len(todo), progress) as bar:
        try:
            while waiting or running:
                while waiting and len(running) < workers:
                    cell = waiting.pop(0)
                    started = _now()
                    worker = context.Process(target=_work, args=(cell, job), daemon=True)
                    worker.start()
                    running[worker.sentinel] = (worker, cell, started)
                for sentinel in wait(list(running)):
                    worker, cell, started = running.pop(sentinel)
                    worker.join()
                    statuses.append(worker_ended(worker.exitcode, cell, job["results_dir"], started))
                    _log(bar, cell, statuses[-1])
                    bar.update()
        except KeyboardInterrupt:
            end_runs(spare)
            raise
    return statuses


#: Signals that stop a sweep's worker on purpose (``kill``, Ctrl-C, a batch scheduler): its run
#: is stopped, not failed, and the sweep stops with it.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def worker_context():
    """Where workers come from: forked from the sweep on Linux, so a worker starts in
    milliseconds and its exit status is the sweep's to read (a signal that ended it shows as
    such); spawned elsewhere (macOS and Windows, where forking is unsafe or absent). A worker
    only drives papermill: the run itself trains in the fresh kernel papermill starts."""
    import multiprocessing
    import sys

    return multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")


def _work(cell: Mapping[str, object], job: Mapping[str, object]) -> None:
    """A worker's whole life: one run. Ctrl-C reaches the terminal's whole process group; the
    sweep alone answers it (ending this worker), so the worker ignores it. SIGTERM ends the
    worker at once and without a traceback (a forked worker would inherit the sweep's handler
    from :func:`terminate_as_interrupt`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    execute_cell(cell, **job)


def worker_ended(exitcode: int | None, cell: Mapping[str, object], results_dir: Path | str,
                 started: str) -> str:
    """The status of a run whose worker has ended: its row's, or, with no row, ``failed`` with a
    row that says how the worker ended. A worker stopped by a signal in :data:`STOP_SIGNALS`
    (``pkill`` reaching the workers before the sweep) stops the sweep instead."""
    status = last_status(cell, results_dir, since=started)
    if status is None and exitcode == 0 and has_ok_row(cell, results_dir):
        return DONE  # the worker found the run done by another process and trained nothing
    if status is None and exitcode is not None and -exitcode in STOP_SIGNALS:
        raise KeyboardInterrupt(f"a worker was stopped by {signal.Signals(-exitcode).name}")
    return status or write_failed_row(cell, describe_exit(exitcode), results_dir, started)


def describe_exit(exitcode: int | None) -> str:
    """Why a worker ended before its run wrote a row, for the ``error`` column."""
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        why = " (what the out-of-memory killer sends)" if -exitcode == signal.SIGKILL else ""
        return f"WorkerDied: the run's worker was ended by {name}{why} before the run wrote a row"
    return f"WorkerDied: the run's worker exited with code {exitcode} before the run wrote a row"


def _now() -> str:
    """The time now, as rows record ``started_at`` (UTC, to the second)."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _run_dask(todo, job, workers, scheduler, progress, spare) -> list[str]:
    from distributed import Client, LocalCluster
    from distributed import as_completed as dask_completed

    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    statuses = []
    started = _now()
    try:
        futures = client.map(execute_cell, todo, pure=False, **job)
        cells = {future.key: cell for future, cell in zip(futures, todo)}
        with _bar(len(todo), progress) as bar:
            for future in dask_completed(futures):
                cell = cells[future.key]
                try:
                    statuses.append(future.result())
                except Exception as error:  # every worker that tried the run died (KilledWorker)
                    statuses.append(last_status(cell, job["results_dir"], since=started)
                                    or write_failed_row(cell, describe_error(error),
                                                        job["results_dir"], started))
                # held, a result dies with its worker, and Dask trains the finished run again
                future.release()
                _log(bar, cell, statuses[-1])
                bar.update()
    except KeyboardInterrupt:
        if cluster is not None:  # a remote scheduler's workers are not ours to end
            end_runs(spare)
        raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return statuses
