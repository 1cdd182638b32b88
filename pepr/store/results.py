"""The results store: the run schema, atomic appends, loading, and the official release as a study.

A study's results live in ``<results_dir>/<study>/runs.csv`` (one row per run, columns
:data:`RUN_COLUMNS`) and ``epochs.csv`` (one row per run x epoch x split x metric, columns
:data:`EPOCH_COLUMNS`). Rows are appended under an exclusive file lock with one ``write`` call
each, so concurrent workers never interleave and a killed writer leaves at most one unterminated
last line, which :func:`read_table` drops. The official PePR release is the study ``paper``,
mapped into the same schema by :func:`import_paper`.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import io
import json
import os
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from pepr.core import paths
from pepr.core.errors import (
    CorruptDataError,
    DataLossWarning,
    ResultsNotWritableError,
    UnknownStudyError,
)
from pepr.core.text import plural
from pepr.data import release
from pepr.data.paper import read_paper_table

PAPER_STUDY = "paper"
DEFAULT_RESULTS_DIR = paths.RESULTS_DIR

#: The grid cell that identifies a run; ``run_id`` is a hash of these values.
IDENTITY_COLUMNS = [
    "study", "model", "dataset", "pretrained", "data_fraction", "seed",
    "img_size", "epochs", "batch_size", "optimizer", "lr",
]

#: One row per run. Units are in the names; ``*_method``/``*_source``/``*_kind`` say how a value
#: was obtained, so an estimate is never mistaken for a measurement.
RUN_COLUMNS = [
    "run_id", *IDENTITY_COLUMNS, "setting", "threads",
    "num_params", "num_params_trained", "flops_per_image",
    "test_acc", "test_auc", "test_balanced_acc", "val_metric", "val_best", "selected_epoch",
    "test_acc_selected", "train_acc",
    "energy_kwh", "energy_method", "energy_scope", "co2_g", "carbon_intensity_g_per_kwh",
    "intensity_source", "pue", "train_time_s", "train_time_scope", "cpu_time_s", "infer_time_s",
    "peak_mem_gb", "run_mem_gb", "mem_kind",
    "data_summary", "device", "hardware", "torch_version", "timm_version", "pepr_version",
    "git_sha", "started_at", "status", "error",
]

#: What each column of :data:`RUN_COLUMNS` holds, beyond its name. ``num_params`` is the
#: ImageNet configuration's parameter count (1000 classes, 3 channels: the zoo's and the
#: release's figure, comparable across datasets); ``num_params_trained`` is the model this run
#: trained (its head and first convolution fitted to the dataset). ``peak_mem_gb`` is the
#: process's peak (CPU: peak RSS, interpreter and imports included; GPU: memory reserved);
#: ``run_mem_gb`` is the run's own share (CPU: peak RSS minus the RSS before the model and data
#: were built; GPU: the allocator's peak), the one PePR-M scores on CPU rows.
COLUMN_NOTES: dict[str, str] = {
    "num_params": "parameters of the ImageNet configuration (1000 classes, 3 channels)",
    "num_params_trained": "parameters of the model as trained (the dataset's classes and channels)",
    "threads": "CPU threads the run computed with (torch.get_num_threads())",
    "peak_mem_gb": "peak memory of the process (cpu-rss: includes the interpreter's baseline)",
    "run_mem_gb": "peak memory of the run itself (cpu-rss: peak minus the pre-run baseline)",
    "data_summary": "the data the run trained on: classes, counts per split, channels, sizes",
    "energy_scope": "whose energy energy_kwh is (pepr.scoring.energy.ENERGY_SCOPES): the run's own, "
                    "its share of a device-wide counter, or the whole device",
    "cpu_time_s": "user + system CPU time of the run's process and its children over the run",
}

#: Column types of the results tables. Ids, names, labels and paths are text whatever they
#: look like (a run id of 12 digits stays a string); integers are int64 when no value is
#: missing and float64 otherwise; ``pretrained`` is False, True or a checkpoint path.
INTEGER_COLUMNS = frozenset({
    "seed", "img_size", "epochs", "batch_size", "threads", "num_params", "num_params_trained",
    "flops_per_image", "selected_epoch", "epoch",
})
FLOAT_COLUMNS = frozenset({
    "data_fraction", "lr", "test_acc", "test_auc", "test_balanced_acc", "val_best",
    "test_acc_selected", "train_acc", "energy_kwh", "co2_g", "carbon_intensity_g_per_kwh", "pue",
    "train_time_s", "cpu_time_s", "infer_time_s", "peak_mem_gb", "run_mem_gb", "value",
})

EPOCH_COLUMNS = ["run_id", "study", "model", "setting", "epoch", "split", "metric", "value"]


def run_id(cell: Mapping[str, object]) -> str:
    """Stable 12-hex-digit id of a grid cell (the :data:`IDENTITY_COLUMNS` of ``cell``)."""
    identity = {key: _canonical(cell.get(key)) for key in IDENTITY_COLUMNS}
    payload = json.dumps(identity, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def _canonical(value: object) -> object:
    """A JSON-stable form of a cell value (numpy scalars, floats like 1 vs 1.0, NaN)."""
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float):
        if np.isnan(value):
            return None
        return int(value) if value.is_integer() else round(value, 12)
    return value


def setting_label(dataset: str, pretrained: object, data_fraction: float) -> str:
    """A readable name of an experimental setting: ``pneumoniamnist_pt_f0.1`` and the like."""
    label = str(dataset)
    if pretrained not in (False, None, "False", "false", 0) and not _is_nan(pretrained):
        label += "_pt"
    if data_fraction is not None and not _is_nan(data_fraction) and float(data_fraction) < 1:
        label += f"_f{float(data_fraction):g}"
    return label


def _is_nan(value: object) -> bool:
    return isinstance(value, float) and np.isnan(value)


# ---------------------------------------------------------------------------------------------
# Writing and reading tables
# ---------------------------------------------------------------------------------------------

def study_dir(study: str, results_dir: Path | str = DEFAULT_RESULTS_DIR) -> Path:
    return Path(results_dir) / study


def _format_row(row: Mapping[str, object], columns: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([_cell_text(column, row.get(column)) for column in columns])
    return buffer.getvalue()


def _cell_text(column: str, value: object) -> object:
    """A value as the CSV holds it: empty when missing, integers without a decimal point."""
    if _missing(value):
        return ""
    if isinstance(value, str) and ("\n" in value or "\r" in value):
        return " ".join(value.split())  # one line per record: what lets a reader skip a tear
    if column in INTEGER_COLUMNS and isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    return value


def _missing(value: object) -> bool:
    return value is None or _is_nan(value) or value is pd.NA


def append_rows(path: Path | str, rows: Iterable[Mapping[str, object]], columns: list[str]) -> int:
    """Append ``rows`` to the CSV at ``path`` under an exclusive lock, in one ``write`` call.

    Writes the header when the file is new. Unknown keys are an error (a schema drift would
    otherwise be silent); missing keys are written empty. Returns the number of rows written.
    """
    rows = list(rows)
    for row in rows:
        unknown = set(row) - set(columns)
        if unknown:
            raise ValueError(f"columns not in the schema: {sorted(unknown)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        text = "".join(_format_row(row, columns) for row in rows)
        new_file = not path.exists() or path.stat().st_size == 0
        if new_file:
            text = _format_row(dict(zip(columns, columns)), columns) + text
        else:
            _upgrade_unlocked(path, columns)
            if not _ends_with_newline(path):
                text = "\n" + text  # a writer killed mid-line: end its line, drop it on read
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, text.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
    return len(rows)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``<path>.lock`` for the duration of the block."""
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def check_writable(results_dir: Path | str, study: str | None = None) -> Path:
    """Raise :class:`ResultsNotWritableError` unless a study's rows can be written under
    ``results_dir`` (checked by creating and removing a file, before anything trains). Folders
    the check had to create are removed again, so a run refused later leaves nothing behind;
    the writers create them when there is something to write."""
    folder = study_dir(study, results_dir) if study else Path(results_dir)
    created = [parent for parent in [folder, *folder.parents] if not parent.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".pepr-write-check-"):
            pass
    except OSError as error:
        raise ResultsNotWritableError(
            f"cannot write results to {folder}: {error.strerror or error} "
            f"(choose another --results-dir)"
        ) from None
    finally:
        for made in created:  # deepest first
            try:
                made.rmdir()
            except OSError:
                break
    return folder


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def read_table(path: Path | str, columns: list[str]) -> pd.DataFrame:
    """Read a results CSV with the schema's types (:func:`typed`).

    Torn lines (a writer killed mid-row, also inside a quoted field) are dropped with a warning
    that names their line and run, and every complete row after them is kept
    (:func:`split_records`). A table written under an older schema (:func:`upgrade_frame`) is
    read into the current one.
    """
    path = Path(path)
    header, body, torn = _read_records(path)
    if header is None:
        return typed(pd.DataFrame(columns=columns))
    if torn:
        warnings.warn(f"{path}: dropped {plural(len(torn), 'incomplete line')}: "
                      f"{'; '.join(describe_torn_line(n, text) for n, text in torn)}",
                      DataLossWarning, stacklevel=2)
    frame = pd.DataFrame(body, columns=header, dtype=object).replace("", np.nan)
    if header != columns:
        frame = upgrade_frame(frame, columns, source=str(path))
    return typed(frame, source=str(path))


def describe_torn_line(number: int, text: str) -> str:
    """``line 45 (run fd6f4fbc75ef)``: where a dropped line was, and whose row it began."""
    first = text.split(",", 1)[0].strip()
    return f"line {number}" + (f" (run {first})" if first else "")


def _read_records(path: Path) -> tuple[list[str] | None, list[list[str]], list[tuple[int, str]]]:
    if not path.exists():
        return None, [], []
    with open(path, newline="") as handle:
        return split_records(handle.read())


def split_records(text: str) -> tuple[list[str] | None, list[list[str]], list[tuple[int, str]]]:
    """The header, the complete records and the torn lines (line number, text) of a CSV text.

    Every record is one line (:func:`append_rows` writes no line break inside a field and
    starts each append on a fresh line), so a line that is not a complete record on its own
    (cut short, or opening a quoted field that never closes) is torn: it is dropped alone, and
    a tear swallows none of the rows after it. Blank lines are skipped.
    """
    header: list[str] | None = None
    records: list[list[str]] = []
    torn: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parsed = [] if line.count('"') % 2 else list(csv.reader([line]))
        if header is None and len(parsed) == 1:
            header = parsed[0]
        elif header is not None and len(parsed) == 1 and len(parsed[0]) == len(header):
            records.append(parsed[0])
        else:
            torn.append((number, line))
    return header, records, torn


#: Columns renamed between schema versions: old name -> new name, applied when a table lacks
#: the new name. Before ``num_params_trained`` existed, our rows' ``num_params`` counted the
#: trained model's parameters.
RENAMED_COLUMNS = {"num_params": "num_params_trained"}


def upgrade_frame(frame: pd.DataFrame, columns: list[str], source: str = "table") -> pd.DataFrame:
    """A table of an older schema in ``columns``: renamed columns moved, new ones empty.

    A column that the schema does not know is an error (a table of another kind, or a newer
    schema than this code).
    """
    frame = frame.copy()
    for old, new in RENAMED_COLUMNS.items():
        if new in columns and new not in frame.columns and old in frame.columns:
            frame = frame.rename(columns={old: new})
            frame[old] = np.nan
    unknown = [column for column in frame.columns if column not in columns]
    if unknown:
        raise CorruptDataError(f"{source}: column(s) {unknown} are not in the schema "
                               f"(expected {columns})")
    return frame.reindex(columns=columns)


def typed(frame: pd.DataFrame, source: str = "table") -> pd.DataFrame:
    """``frame`` with the schema's column types (see :data:`INTEGER_COLUMNS`); never guessed
    from content, so an id of digits stays text. A number column holding text is an error."""
    frame = frame.copy()
    for column in frame.columns:
        if column in INTEGER_COLUMNS or column in FLOAT_COLUMNS:
            frame[column] = _numbers(frame[column], column, source)
        elif column == "pretrained":
            frame[column] = frame[column].map(_parse_pretrained).astype(object)
        else:
            frame[column] = frame[column].astype(object).where(frame[column].notna(), np.nan)
    return frame


def _numbers(values: pd.Series, column: str, source: str) -> pd.Series:
    converted = pd.to_numeric(values, errors="coerce").astype(float)
    bad = converted.isna() & values.notna()
    if bad.any():
        raise CorruptDataError(f"{source}: column {column!r} holds non-numbers, e.g. "
                               f"{values[bad].iloc[0]!r}")
    if column in INTEGER_COLUMNS and converted.notna().all() and (converted % 1 == 0).all():
        return converted.astype("int64")
    return converted


def _parse_pretrained(value: object) -> object:
    """``pretrained`` is False, True or a checkpoint path; CSV gives strings back."""
    if isinstance(value, str) and value in ("True", "False"):
        return value == "True"
    return value


def upgrade_file(path: Path | str, columns: list[str]) -> bool:
    """Rewrite a table written under an older schema in ``columns`` (atomically, under its
    lock); returns whether it changed. :func:`append_rows` calls it before appending."""
    path = Path(path)
    with _locked(path):
        return _upgrade_unlocked(path, columns)


def _upgrade_unlocked(path: Path, columns: list[str]) -> bool:
    header, _, _ = _read_records(path)
    if header is None or header == columns:
        return False
    frame = read_table(path, columns)
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    text = _format_row(dict(zip(columns, columns)), columns)
    text += "".join(_format_row(row, columns) for row in rows)
    tmp = path.with_name(path.name + ".upgrade")
    tmp.write_text(text)
    os.replace(tmp, path)
    return True


def append_run(row: Mapping[str, object], results_dir: Path | str = DEFAULT_RESULTS_DIR) -> Path:
    """Append one run row to its study's ``runs.csv``; returns the file."""
    path = study_dir(str(row["study"]), results_dir) / "runs.csv"
    append_rows(path, [row], RUN_COLUMNS)
    return path


def append_epochs(rows: list[Mapping[str, object]], study: str,
                  results_dir: Path | str = DEFAULT_RESULTS_DIR) -> Path:
    """Append per-epoch history rows to a study's ``epochs.csv``; returns the file."""
    path = study_dir(study, results_dir) / "epochs.csv"
    append_rows(path, rows, EPOCH_COLUMNS)
    return path


def completed_run_ids(study: str, results_dir: Path | str = DEFAULT_RESULTS_DIR) -> set[str]:
    """The run ids of a study that already have an ``ok`` row (a sweep skips these)."""
    runs = read_table(study_dir(study, results_dir) / "runs.csv", RUN_COLUMNS)
    return set(runs.loc[runs["status"] == "ok", "run_id"])


def load(study: str, results_dir: Path | str = DEFAULT_RESULTS_DIR, include_failed: bool = False) -> pd.DataFrame:
    """The runs of a study in the run schema; ``paper`` is the official release.

    For our own studies the last ``ok`` row of each run id wins (a rerun replaces an earlier one).
    With ``include_failed`` a run without any ``ok`` row is there too, as its last row (failed
    or skipped); a run that has an ``ok`` row is always that row, whatever came after it.
    """
    if study == PAPER_STUDY:
        return import_paper()
    path = study_dir(study, results_dir) / "runs.csv"
    if not path.exists():
        available = sorted(p.parent.name for p in Path(results_dir).glob("*/runs.csv"))
        raise UnknownStudyError(
            f"no results for study {study!r} under {results_dir} (have: {', '.join([PAPER_STUDY, *available])})"
        )
    runs = read_table(path, RUN_COLUMNS)
    ok = runs["status"] == "ok"
    if not include_failed:
        runs = runs[ok]
    else:  # each run's ok rows after its other rows, so keep="last" prefers an ok row
        runs = runs.assign(_ok=ok).sort_values("_ok", kind="stable").drop(columns="_ok")
    runs = runs.drop_duplicates("run_id", keep="last")
    return runs.sort_index().reset_index(drop=True)


def load_epochs(study: str, results_dir: Path | str = DEFAULT_RESULTS_DIR) -> pd.DataFrame:
    """The per-epoch history of a study (``paper``: the release's test accuracy per epoch).

    A run killed after writing its history but before its row is run again by a sweep and
    writes its history again; the last write of each (run, epoch, split, metric) wins.
    """
    if study == PAPER_STUDY:
        return paper_epochs()
    epochs = read_table(study_dir(study, results_dir) / "epochs.csv", EPOCH_COLUMNS)
    keys = ["run_id", "epoch", "split", "metric"]
    return epochs.drop_duplicates(keys, keep="last").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# The official release as the study "paper"
# ---------------------------------------------------------------------------------------------

#: The release's eight settings, in its order, and its protocol: :data:`pepr.data.release.SETTINGS`
#: and :data:`pepr.data.release.PROTOCOL` (the release is described once, there).
PAPER_SETTINGS: dict[str, dict[str, object]] = release.SETTINGS
PAPER_PROTOCOL: dict[str, object] = release.PROTOCOL

PAPER_EPOCH_COLUMNS = [f"test_{epoch:02d}" for epoch in range(10)]


def raw_paper() -> pd.DataFrame:
    """The release's ``all_results.csv`` as published (1,048 rows), checksum-verified."""
    return read_paper_table("all_results.csv")


def import_paper(raw: pd.DataFrame | None = None) -> pd.DataFrame:
    """Map the release's raw results into the run schema, keeping its setting names.

    ``test_09`` (test accuracy after the last epoch) becomes ``test_acc``; ``energy`` (kWh) and
    ``co2`` (g) keep carbontracker's values with method ``imported``; ``train_time`` is the last
    epoch's time only (``train_time_scope = last-epoch``); ``memR`` (GPU memory reserved, GB) is
    ``peak_mem_gb`` with kind ``gpu-reserved``. The release's own columns that the schema has no
    place for are kept with a ``paper_`` prefix, and :func:`audit_paper` adds quality flags.
    """
    raw = raw_paper() if raw is None else raw
    unknown = sorted(set(raw["dataset"]) - set(PAPER_SETTINGS))
    if unknown:
        raise CorruptDataError(f"all_results.csv: unknown setting(s) {unknown}")
    settings = pd.DataFrame.from_dict(PAPER_SETTINGS, orient="index").rename_axis("setting")
    runs = pd.DataFrame({
        "study": PAPER_STUDY,
        "model": raw["model"],
        "setting": raw["dataset"],
    })
    runs = runs.join(settings, on="setting")
    for key, value in PAPER_PROTOCOL.items():
        runs[key] = value
    runs["img_size"] = np.nan  # not recorded by the release
    runs["run_id"] = [run_id(cell) for cell in runs.to_dict("records")]
    runs = runs.assign(
        threads=np.nan,
        num_params=raw["num_param"],
        num_params_trained=np.nan,
        flops_per_image=np.nan,
        test_acc=raw["test_09"],
        test_auc=np.nan,
        test_balanced_acc=np.nan,
        val_metric=np.nan,
        val_best=np.nan,
        selected_epoch=9,
        test_acc_selected=raw["test_09"],
        train_acc=raw["tr_acc"],
        energy_kwh=raw["energy"],
        energy_method="imported",
        energy_scope="imported",
        co2_g=raw["co2"],
        carbon_intensity_g_per_kwh=raw["co2"] / raw["energy"],
        intensity_source="imported (implied: co2_g / energy_kwh)",
        pue=np.nan,
        train_time_s=raw["train_time"],
        train_time_scope="last-epoch",
        cpu_time_s=np.nan,
        infer_time_s=raw["inf_time"],
        peak_mem_gb=raw["memR"],
        run_mem_gb=np.nan,
        mem_kind="gpu-reserved",
        data_summary=np.nan,
        device="cuda",
        hardware="GPU (model not recorded by the release)",
        torch_version=np.nan,
        timm_version=np.nan,
        pepr_version=np.nan,
        git_sha=release.COMMIT,
        started_at=np.nan,
        status="ok",
        error=np.nan,
    )
    runs = runs[RUN_COLUMNS].copy()
    extras = raw[["type", "efficient", "memT", "memA", "memM", "infer_time", *PAPER_EPOCH_COLUMNS]]
    runs = pd.concat([runs, extras.add_prefix("paper_").reset_index(drop=True)], axis=1)
    return add_quality_flags(runs)


def paper_epochs(raw: pd.DataFrame | None = None) -> pd.DataFrame:
    """The release's per-epoch test accuracy (``test_00``..``test_09``) as a tidy epochs table."""
    runs = import_paper(raw)
    tidy = runs.melt(
        id_vars=["run_id", "study", "model", "setting"],
        value_vars=[f"paper_{c}" for c in PAPER_EPOCH_COLUMNS],
        var_name="column", value_name="value",
    )
    tidy["epoch"] = tidy["column"].str[-2:].astype(int)
    tidy["split"] = "test"
    tidy["metric"] = "acc"
    return tidy[EPOCH_COLUMNS].sort_values(["setting", "model", "epoch"], ignore_index=True)


# ---------------------------------------------------------------------------------------------
# Data-quality audit of the release
# ---------------------------------------------------------------------------------------------

#: The values that, repeated exactly for one model in several settings, mark a leftover log.
REPEATED_RESOURCE_KEYS: tuple[str, ...] = ("model", "energy_kwh", "co2_g")


def repeated_resource_groups(runs: pd.DataFrame) -> pd.Series:
    """Per row, the group of rows that share its (model, energy, CO2) with another setting.

    Groups are numbered 0, 1, ... in the order of their first row; a row whose values no other
    setting repeats has no group (``<NA>``). Within a group at most one row can be the measurement
    that produced the values (each setting trained on its own data); the others are copies, and
    all of them are copies when the values came from a run outside the group.
    """
    keys = list(REPEATED_RESOURCE_KEYS)
    settings = runs.groupby(keys, dropna=False, sort=False)["setting"].transform("nunique")
    repeated = runs[settings > 1]
    ids = repeated.groupby(keys, dropna=False, sort=False).ngroup()
    return ids.reindex(runs.index).astype("Int64").rename("repeated_group")


def stale_resource_mask(runs: pd.DataFrame) -> pd.Series:
    """Rows whose (model, energy, CO2) exactly repeat those of the same model in another setting.

    Different settings train on different amounts of data, so identical energy and CO2 to the
    last digit point to a carbontracker log left over from another run. The mask marks every row
    that *rests on* such a value: in each group of :func:`repeated_resource_groups` one row may be
    the original measurement, so at least (rows - groups) of the marked rows are copies.
    """
    return repeated_resource_groups(runs).notna().rename(None)


def add_quality_flags(runs: pd.DataFrame) -> pd.DataFrame:
    """Add ``flag_stale_resources`` and ``quality_flags`` (``;``-separated reasons) to a table."""
    runs = runs.copy()
    runs["flag_stale_resources"] = stale_resource_mask(runs)
    reasons = np.where(runs["flag_stale_resources"], "energy/co2 repeat another setting's", "")
    scope = np.where(runs["train_time_scope"] == "last-epoch", "train_time is last epoch only", "")
    runs["quality_flags"] = [";".join(r for r in pair if r) for pair in zip(reasons, scope)]
    return runs


def constant_columns(raw: pd.DataFrame) -> dict[str, object]:
    """Columns of the raw release that hold one value in every row (so carry no information)."""
    return {c: raw[c].iloc[0] for c in raw.columns if raw[c].nunique(dropna=False) == 1}


#: The raw columns that the release's own scoring and figure scripts read; the others were
#: recorded but never used in the paper.
PAPER_USED_COLUMNS = frozenset(
    {"model", "num_param", "energy", "co2", "train_time", "memR", "test_09", "type", "efficient", "dataset"}
)


def unused_columns(raw: pd.DataFrame) -> list[str]:
    """Raw columns that neither the release's scoring nor its figures read."""
    return [c for c in raw.columns if c not in PAPER_USED_COLUMNS]


def audit_paper(raw: pd.DataFrame | None = None) -> dict[str, object]:
    """Findings about the release's raw table, as counts a note or the book can cite."""
    raw = raw_paper() if raw is None else raw
    runs = import_paper(raw)
    stale = runs["flag_stale_resources"]
    groups = repeated_resource_groups(runs).dropna()
    per_setting = runs.loc[stale].groupby("setting").size()
    duplicated_identity = raw.duplicated(["model", "dataset"]).sum()
    return {
        "runs": len(raw),
        "models": raw["model"].nunique(),
        "settings": raw["dataset"].nunique(),
        "stale_resource_rows": int(stale.sum()),
        "stale_resource_groups": int(groups.nunique()),
        "stale_resource_min_copies": int(stale.sum() - groups.nunique()),
        "stale_resource_rows_by_setting": {k: int(v) for k, v in per_setting.items()},
        "constant_columns": constant_columns(raw),
        "unused_columns": unused_columns(raw),
        "duplicated_model_setting_rows": int(duplicated_identity),
        "missing_values": int(raw.isna().sum().sum()),
    }
