"""Rewrite every study's ``runs.csv`` under ``data/results`` in the current run schema.

``python scripts/upgrade_results.py [RESULTS_DIR]``. A table of an older schema is read through
:func:`pepr.results.upgrade_frame` (an old ``num_params`` counted the trained model and becomes
``num_params_trained``); then, where a row lacks them, ``num_params`` (the ImageNet
configuration) is taken from the model zoo and ``threads`` from the ``hardware`` column, which
has named torch's thread count since the first run (``... , 1 torch threads)``). Prints what it
filled; rerunning it changes nothing.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd

from pepr import paths, results, train

THREADS_IN_HARDWARE = re.compile(r"(\d+) torch threads")


def threads_from_hardware(hardware: object) -> float:
    """The torch thread count that a ``hardware`` label names (NaN when it names none)."""
    match = THREADS_IN_HARDWARE.search(str(hardware))
    return float(match.group(1)) if match else float("nan")


def upgrade(path: Path) -> str:
    """Upgrade one ``runs.csv`` in place; returns a line saying what changed."""
    runs = results.read_table(path, results.RUN_COLUMNS)
    no_params, no_threads = runs["num_params"].isna(), runs["threads"].isna()
    runs["num_params"] = runs["num_params"].where(
        ~no_params, runs["model"].map(lambda m: train.imagenet_num_params(m) if m else None))
    runs["threads"] = runs["threads"].where(
        ~no_threads, runs["hardware"].map(threads_from_hardware))
    rows = runs.astype(object).where(runs.notna(), None).to_dict("records")
    upgraded = path.with_name(path.name + ".new")
    upgraded.unlink(missing_ok=True)
    results.append_rows(upgraded, rows, results.RUN_COLUMNS)
    upgraded.replace(path)
    upgraded.with_name(upgraded.name + ".lock").unlink(missing_ok=True)
    return (f"{path}: {len(runs)} rows; num_params filled in {int(no_params.sum())}, "
            f"threads in {int(no_threads.sum())}")


def main(results_dir: Path) -> None:
    for path in sorted(results_dir.glob("*/runs.csv")):
        print(upgrade(path))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else paths.RESULTS_DIR)
