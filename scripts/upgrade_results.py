"""Rewrite every study's ``runs.csv`` under ``data/results`` in the current run schema.

``python scripts/upgrade_results.py [RESULTS_DIR]``. A table of an older schema is read through
:func:`pepr.results.upgrade_frame` (an old ``num_params`` counted the trained model and becomes
``num_params_trained``); then, where a row lacks them, ``num_params`` (the ImageNet
configuration) is taken from the model zoo and ``threads`` from the ``hardware`` column, which
has named torch's thread count since the first run (``... , 1 torch threads)``).

Energy: rows measured before runs recorded their CPU time carry ``tdp-estimate`` energy (half
the CPU's TDP for the whole wall time, charged to every run however many ran side by side).
They are re-estimated by the Green Algorithms rule of :mod:`pepr.energy` from what each row
recorded: its wall time (``train_time_s``), its peak memory (``peak_mem_gb``) and its thread
count, assuming each thread kept one core busy (``cpu_time_s`` stays empty: it was not
measured), with the power per core of the processor its ``hardware`` names
(:func:`pepr.energy.cpu_power`, without the user's override) and the row's own PUE and carbon
intensity; ``energy_scope`` becomes ``process-assumed``. The old figures stay in the
repository's history, not in the table. Prints what it filled and the totals before and after;
rerunning it changes nothing.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd

from pepr.core import paths
from pepr.scoring import energy
from pepr.store import results
from pepr.training import train

THREADS_IN_HARDWARE = re.compile(r"(\d+) torch threads")
#: The energy method of rows written before the Green Algorithms estimate.
OLD_ESTIMATE = "tdp-estimate"


def threads_from_hardware(hardware: object) -> float:
    """The torch thread count that a ``hardware`` label names (NaN when it names none)."""
    match = THREADS_IN_HARDWARE.search(str(hardware))
    return float(match.group(1)) if match else float("nan")


def cpu_brand(hardware: object) -> str:
    """The processor's name in a ``hardware`` label: ``AMD EPYC (2 logical CPUs, ...)``."""
    return str(hardware).split(" (", 1)[0].strip()


def reestimate_energy(runs: pd.DataFrame) -> pd.Series:
    """Re-estimate the energy of the ``tdp-estimate`` rows of ``runs`` in place (see the module
    docstring); returns the mask of the rows it changed."""
    old = runs["energy_method"] == OLD_ESTIMATE
    for index in runs.index[old]:
        row = runs.loc[index]
        power = energy.cpu_power(cpu_brand(row["hardware"]), environ={})
        kwh = energy.estimate_energy_kwh(
            cpu_time_s=float(row["threads"]) * float(row["train_time_s"]),
            wall_time_s=float(row["train_time_s"]), memory_gb=float(row["peak_mem_gb"]),
            watts_per_core=power.watts_per_core, pue=float(row["pue"]))
        runs.loc[index, ["energy_kwh", "co2_g"]] = [kwh, kwh * float(row["carbon_intensity_g_per_kwh"])]
        runs.loc[index, ["energy_method", "energy_scope"]] = [energy.ESTIMATE_METHOD,
                                                               "process-assumed"]
    return old


def upgrade(path: Path) -> str:
    """Upgrade one ``runs.csv`` in place; returns a line saying what changed."""
    runs = results.read_table(path, results.RUN_COLUMNS)
    no_params, no_threads = runs["num_params"].isna(), runs["threads"].isna()
    runs["num_params"] = runs["num_params"].where(
        ~no_params, runs["model"].map(lambda m: train.imagenet_num_params(m) if m else None))
    runs["threads"] = runs["threads"].where(
        ~no_threads, runs["hardware"].map(threads_from_hardware))
    kwh_before = runs.loc[runs["status"] == "ok", "energy_kwh"].sum()
    reestimated = reestimate_energy(runs)
    kwh_after = runs.loc[runs["status"] == "ok", "energy_kwh"].sum()
    rows = runs.astype(object).where(runs.notna(), None).to_dict("records")
    upgraded = path.with_name(path.name + ".new")
    upgraded.unlink(missing_ok=True)
    results.append_rows(upgraded, rows, results.RUN_COLUMNS)
    upgraded.replace(path)
    upgraded.with_name(upgraded.name + ".lock").unlink(missing_ok=True)
    return (f"{path}: {len(runs)} rows; num_params filled in {int(no_params.sum())}, "
            f"threads in {int(no_threads.sum())}; energy re-estimated in {int(reestimated.sum())} "
            f"(ok rows' total {kwh_before:.4g} -> {kwh_after:.4g} kWh)")


def main(results_dir: Path) -> None:
    for path in sorted(results_dir.glob("*/runs.csv")):
        print(upgrade(path))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else paths.RESULTS_DIR)
