"""Studies: expand a YAML grid into runs, skip those already ``ok``, execute the rest.

Each run is ``notebooks/train.ipynb`` executed by papermill (an executed copy goes to
``outputs/<study>/``); the notebook appends the run's epochs and row. A run whose notebook fails
before writing its row gets a ``failed`` row from here, and the sweep goes on. Executors:
``inline`` (one after another in this process), ``processes`` (a local process pool) and
``dask`` (a ``dask.distributed`` cluster: a :class:`~distributed.LocalCluster` of ``workers``
processes, or an existing one at ``scheduler``). Rows are appended with
:func:`pepr.results.append_rows` (locked, one write per row), so concurrent workers and killed
runs leave no torn or duplicated ``ok`` rows.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import yaml

from pepr import results
from pepr.errors import (BadParameterError, IncompatibleInputError, MissingDataError,
                         StudySpecError)
from pepr.zoo import REPO_ROOT

NOTEBOOK = REPO_ROOT / "notebooks" / "train.ipynb"
DEFAULT_OUTPUTS_DIR = Path("outputs")
EXECUTORS = ("inline", "processes", "dask")

#: Keys a study file may hold, with their defaults (None: required). Grid keys take a list or a
#: single value; ``img_size`` takes an int, ``auto`` or a mapping model -> int|auto (``default``).
#: The protocol's defaults are the paper's (:data:`pepr.results.PAPER_PROTOCOL`).
SPEC_DEFAULTS: dict[str, object] = {
    "study": None,
    "models": None,
    "datasets": None,
    "pretrained": [False],
    "data_fractions": [1.0],
    "seeds": [0],
    "epochs": results.PAPER_PROTOCOL["epochs"],
    "img_size": 28,
    "batch_size": results.PAPER_PROTOCOL["batch_size"],
    "lr": results.PAPER_PROTOCOL["lr"],
    "optimizer": results.PAPER_PROTOCOL["optimizer"],
    "select_metric": "acc",
    "threads": None,
    "description": "",
    "notes": "",
    "hardware": "",
}
GRID_KEYS = ("models", "datasets", "pretrained", "data_fractions", "seeds")
DOC_KEYS = ("description", "notes", "hardware")


@dataclass
class SweepSummary:
    """What a sweep did: how many cells, skipped as done, run ok, failed."""

    total: int
    skipped: int
    ok: int
    failed: int

    def __str__(self) -> str:
        return (f"{self.total} runs: {self.skipped} already done, {self.ok} ok, "
                f"{self.failed} failed")


# ---------------------------------------------------------------------------------------------
# Specification and grid
# ---------------------------------------------------------------------------------------------

def load_spec(path: Path | str) -> dict[str, object]:
    """Read and validate a study file; unknown keys and missing required keys are errors."""
    path = Path(path)
    if not path.exists():
        raise StudySpecError(f"{path}: no such study file")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise StudySpecError(f"{path}: not valid YAML ({error})") from error
    if not isinstance(raw, dict):
        raise StudySpecError(f"{path}: expected a mapping of keys, got {type(raw).__name__}")
    return validate_spec(raw, source=str(path))


def validate_spec(raw: Mapping[str, object], source: str = "study") -> dict[str, object]:
    """The spec with defaults filled in; :class:`StudySpecError` names a bad key or value."""
    unknown = sorted(set(raw) - set(SPEC_DEFAULTS))
    if unknown:
        raise StudySpecError(
            f"{source}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: "
            f"{', '.join(SPEC_DEFAULTS)}"
        )
    spec = {key: raw.get(key, default) for key, default in SPEC_DEFAULTS.items()}
    missing = [key for key, value in spec.items() if value is None]
    if missing:
        raise StudySpecError(f"{source}: missing required key(s) {', '.join(missing)}")
    for key in GRID_KEYS:
        spec[key] = _as_list(spec[key])
        if not spec[key]:
            raise StudySpecError(f"{source}: {key!r} is empty")
    for key in ("epochs", "batch_size"):
        if not isinstance(spec[key], int) or spec[key] < 1:
            raise StudySpecError(f"{source}: {key!r} must be a positive integer, not {spec[key]!r}")
    if spec["threads"] is not None and (not isinstance(spec["threads"], int) or spec["threads"] < 1):
        raise StudySpecError(f"{source}: 'threads' must be a positive integer, not {spec['threads']!r}")
    if not isinstance(spec["lr"], (int, float)) or spec["lr"] <= 0:
        raise StudySpecError(f"{source}: 'lr' must be a positive number, not {spec['lr']!r}")
    for fraction in spec["data_fractions"]:
        if not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
            raise StudySpecError(f"{source}: data fraction {fraction!r} not in (0, 1]")
    size = spec["img_size"]
    sizes = size.values() if isinstance(size, dict) else [size]
    for value in sizes:
        if not (value == "auto" or (isinstance(value, int) and value > 0)):
            raise StudySpecError(f"{source}: img_size {value!r} must be a positive int or 'auto'")
    return spec


def _as_list(value: object) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def img_size_for(model: str, img_size: object) -> int:
    """Resolve a spec's ``img_size`` (int, ``auto``, or mapping with optional ``default``)."""
    from pepr.train import resolve_img_size

    if isinstance(img_size, dict):
        img_size = img_size.get(model, img_size.get("default", "auto"))
    return resolve_img_size(model, img_size)


def expand(spec: Mapping[str, object]) -> list[dict[str, object]]:
    """One cell (identity columns plus ``run_id``) per point of the grid, in grid order."""
    from pepr.train import identity, normalise_pretrained

    cells = []
    for model, dataset, pretrained, fraction, seed in itertools.product(
            *(spec[key] for key in GRID_KEYS)):
        cell = identity(
            str(model), str(dataset), study=str(spec["study"]),
            pretrained=normalise_pretrained(pretrained), data_fraction=float(fraction),
            seed=int(seed), img_size=img_size_for(str(model), spec["img_size"]),
            epochs=int(spec["epochs"]), batch_size=int(spec["batch_size"]),
            optimizer=str(spec["optimizer"]), lr=float(spec["lr"]),
        )
        cell["select_metric"] = spec["select_metric"]
        cells.append(cell)
    return cells


# ---------------------------------------------------------------------------------------------
# Validation before anything starts
# ---------------------------------------------------------------------------------------------

def validate_cell(cell: Mapping[str, object], build_model: bool = True,
                  _loaded: set | None = None) -> None:
    """Raise a :class:`PeprError` for a run that cannot start: unknown model or dataset, data
    missing or corrupt, bad protocol values, or (``build_model``) a model that cannot take the
    input size. Used by ``pepr run`` and ``pepr sweep`` before papermill starts."""
    from pepr import datasets, train, zoo

    train.validate_protocol(cell["epochs"], cell["batch_size"], cell["lr"], cell["optimizer"],
                            cell["data_fraction"], cell.get("select_metric", "acc"))
    zoo.resolve_model_name(str(cell["model"]))  # UnknownModelError, cheaply
    checkpoint = cell.get("pretrained")
    if isinstance(checkpoint, (str, Path)) and not Path(checkpoint).is_file():
        raise MissingDataError(f"pretrained checkpoint {checkpoint} is not a file")
    data_info = datasets.get_dataset_info(str(cell["dataset"]))
    key = (data_info.name, int(cell["img_size"]))
    if _loaded is None or key not in _loaded:
        datasets.load_dataset(str(cell["dataset"]), img_size=int(cell["img_size"]))
        if _loaded is not None:
            _loaded.add(key)
    row = zoo.zoo_row(str(cell["model"]))  # None outside the zoo: no size check before the run
    min_size = int(row["min_img_size"]) if row is not None else None
    if min_size is not None and int(cell["img_size"]) < min_size:
        raise IncompatibleInputError(
            f"model {cell['model']!r} needs inputs of at least {min_size} px, got "
            f"{cell['img_size']} (use img_size auto or >= {min_size})"
        )
    if build_model:
        # one forward pass at this size: IncompatibleInputError (naming the model) if it fails
        zoo.create_model(str(cell["model"]), num_classes=data_info.num_classes,
                         in_chans=data_info.in_chans, img_size=int(cell["img_size"]),
                         pretrained=False)


# ---------------------------------------------------------------------------------------------
# Executing one run
# ---------------------------------------------------------------------------------------------

def notebook_parameters(cell: Mapping[str, object], results_dir: Path | str) -> dict[str, object]:
    """The papermill parameters of a cell (``pretrained`` keeps False/True/path)."""
    params = {key: cell[key] for key in results.IDENTITY_COLUMNS}
    params["select_metric"] = cell.get("select_metric", "acc")
    params["results_dir"] = str(Path(results_dir).resolve())
    return params


def output_notebook(cell: Mapping[str, object], outputs_dir: Path | str) -> Path:
    safe_model = str(cell["model"]).replace("/", "_")
    return Path(outputs_dir) / str(cell["study"]) / f"{cell['run_id']}_{safe_model}.ipynb"


def execute_cell(cell: Mapping[str, object], results_dir: Path | str = results.DEFAULT_RESULTS_DIR,
                 outputs_dir: Path | str = DEFAULT_OUTPUTS_DIR, threads: int | None = None,
                 notebook: Path | str = NOTEBOOK) -> str:
    """Execute the training notebook for one cell; returns the run's status (``ok``/``failed``).

    ``threads`` sets ``OMP_NUM_THREADS`` for the notebook's kernel: on a shared CPU, OpenMP
    threads that outnumber free cores spin at barriers and run slower than one thread
    (``benchmarks/throughput.py --threads T``, run beside busy processes, times it).

    If the notebook fails before it wrote a row, a ``failed`` row with the error is written here.
    """
    import papermill

    if threads:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(threads)
    target = output_notebook(cell, outputs_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    try:
        papermill.execute_notebook(
            str(notebook), str(target), parameters=notebook_parameters(cell, results_dir),
            progress_bar=False, kernel_name="python3", cwd=str(Path(notebook).resolve().parent.parent),
        )
    except Exception as error:  # the notebook raised, or the kernel died
        status = last_status(cell, results_dir, since=started)
        if status is not None:
            return status
        write_failed_row(cell, f"{type(error).__name__}: {_first_line(error)}", results_dir,
                         started)
        return "failed"
    return last_status(cell, results_dir, since=started) or "failed"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    # papermill's message ends with the exception line; keep the most telling one
    return (lines[-1] if lines else type(error).__name__)[:500]


def last_status(cell: Mapping[str, object], results_dir: Path | str, since: str) -> str | None:
    """Status of the newest row of this run written at or after ``since`` (None: no row)."""
    runs = results.read_table(results.study_dir(str(cell["study"]), results_dir) / "runs.csv",
                              results.RUN_COLUMNS)
    started = runs["started_at"]
    mine = runs[(runs["run_id"] == cell["run_id"]) & started.notna()
                & (started.astype(str) >= since)]
    return None if mine.empty else str(mine["status"].iloc[-1])


def write_failed_row(cell: Mapping[str, object], error: str, results_dir: Path | str,
                     started_at: str) -> None:
    """A ``failed`` row for a run that could not record itself."""
    row = {key: cell.get(key) for key in results.RUN_COLUMNS if key in cell}
    row.update(status="failed", error=error, started_at=started_at)
    results.append_run(row, results_dir)


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
              progress: bool = True) -> SweepSummary:
    """Run every cell of a study that has no ``ok`` row yet; returns what happened."""
    if scheduler:
        executor = "dask"
    if executor not in EXECUTORS:
        raise BadParameterError(f"executor {executor!r} not in {EXECUTORS}")
    if workers < 1:
        raise BadParameterError(f"workers must be >= 1 (got {workers})")
    spec = load_spec(spec_path)
    cells = expand(spec)
    loaded: set = set()
    for cell in cells:
        validate_cell(cell, build_model=False, _loaded=loaded)
    todo, skipped = pending_cells(cells, str(spec["study"]), results_dir)
    threads = spec["threads"] or (max(1, (os.cpu_count() or 1) // workers)
                                  if executor != "inline" else None)
    job = dict(results_dir=str(Path(results_dir).resolve()),
               outputs_dir=str(Path(outputs_dir).resolve()), threads=threads)
    runner = {"inline": _run_inline, "processes": _run_processes, "dask": _run_dask}[executor]
    statuses = runner(todo, job, workers, scheduler, progress)
    ok = sum(status == "ok" for status in statuses)
    return SweepSummary(total=len(cells), skipped=skipped, ok=ok, failed=len(statuses) - ok)


def _bar(total: int, progress: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not progress, unit="run", desc="sweep", dynamic_ncols=True)


def _log(bar, cell: Mapping[str, object], status: str) -> None:
    """One line per finished run above the bar (the log of a long sweep)."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%H:%M:%S")
    bar.write(f"{stamp} {cell['run_id']} {cell['model']} img_size={cell['img_size']} "
              f"seed={cell['seed']}: {status}")


def _run_inline(todo, job, workers, scheduler, progress) -> list[str]:
    statuses = []
    with _bar(len(todo), progress) as bar:
        for cell in todo:
            bar.set_postfix_str(str(cell["model"]))
            statuses.append(execute_cell(cell, **job))
            _log(bar, cell, statuses[-1])
            bar.update()
    return statuses


def _run_processes(todo, job, workers, scheduler, progress) -> list[str]:
    import multiprocessing

    statuses = []
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool, \
            _bar(len(todo), progress) as bar:
        futures = {pool.submit(execute_cell, cell, **job): cell for cell in todo}
        for future in as_completed(futures):
            statuses.append(future.result())
            _log(bar, futures[future], statuses[-1])
            bar.update()
    return statuses


def _run_dask(todo, job, workers, scheduler, progress) -> list[str]:
    from distributed import Client, LocalCluster, as_completed as dask_completed

    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    statuses = []
    try:
        futures = client.map(execute_cell, todo, pure=False, **job)
        cells = {future.key: cell for future, cell in zip(futures, todo)}
        with _bar(len(todo), progress) as bar:
            for future in dask_completed(futures):
                statuses.append(future.result())
                _log(bar, cells[future.key], statuses[-1])
                bar.update()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return statuses
