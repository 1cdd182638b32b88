"""The fixed cost of one run: wall time of the papermill route minus the run's own training.

A run through ``pepr sweep`` executes ``notebooks/train.ipynb`` in a fresh kernel; everything
outside the measured ``train_time_s`` (the kernel's start, imports, loading the data, building
the model, plots, writing the executed notebook) is paid once per run, whatever the model. This
benchmark runs short runs through :func:`pepr.sweep.execute_cell`, exactly as a sweep does, and
prints per run the wall time, ``train_time_s`` and their difference, and where the difference
went: papermill's duration of each notebook cell, and the kernel's start and the notebook's
writing as the rest. Each run is timed with the notebook's figures and without them
(``pepr sweep --no-figures``), alternately, so the two routes are compared side by side; the
CPU seconds of papermill and of the kernel are printed too, since they move less than wall time
on a busy machine.

    OMP_NUM_THREADS=1 python benchmarks/fixed_cost.py --models resnet18d mobilenetv2_050 --repeats 2

Run it with the other core idle for a clean figure; the ratio of fixed cost to training is what
matters for short runs (10 % settings), where the fixed cost is most of the time.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import nbformat

from pepr.execution import sweep
from pepr.store import results, runspec


def cell_durations(notebook: Path) -> list[tuple[str, float]]:
    """(first line of source, seconds) of each executed code cell, from papermill's metadata."""
    executed = nbformat.read(notebook, as_version=4)
    out = []
    for cell in executed.cells:
        duration = cell.get("metadata", {}).get("papermill", {}).get("duration")
        if cell.cell_type == "code" and duration is not None:
            first = next((line for line in cell.source.splitlines() if line.strip()
                          and not line.startswith(("%", "#"))), "")
            out.append((first[:60], float(duration)))
    return out


def cpu_seconds() -> float:
    """CPU seconds of this process (papermill) and of its finished children (the kernels)."""
    return sum(usage.ru_utime + usage.ru_stime for usage in
               (resource.getrusage(resource.RUSAGE_SELF),
                resource.getrusage(resource.RUSAGE_CHILDREN)))


def measure(model: str, dataset: str, epochs: int, data_fraction: float, workdir: Path,
            figures: bool) -> dict[str, object]:
    """One run through the sweep's route; its wall and CPU time, training time and cells."""
    spec = runspec.make_run_spec(model, dataset, study="fixedcost", epochs=epochs,
                                 data_fraction=data_fraction, seed=int(time.time()) % 100000)
    cell = spec.cell()
    start, cpu_start = time.perf_counter(), cpu_seconds()
    status = sweep.execute_cell(cell, workdir / "results", workdir / "outputs", figures=figures)
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
    runs = results.read_table(workdir / "results" / "fixedcost" / "runs.csv", results.RUN_COLUMNS)
    row = runs[runs["run_id"] == spec.run_id].iloc[-1]
    cells = cell_durations(sweep.output_notebook(cell, workdir / "outputs"))
    return {"model": model, "status": status, "wall_s": wall, "cpu_s": cpu,
            "train_time_s": float(row["train_time_s"]), "cells": cells}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mobilenetv2_050", "resnet18d"])
    parser.add_argument("--dataset", default="breastmnist")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--data-fraction", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    fixed: dict[bool, list[float]] = {True: [], False: []}
    with tempfile.TemporaryDirectory(prefix="pepr-fixed-cost-") as tmp:
        for _ in range(args.repeats):
            for model in args.models:
                for figures in (True, False):
                    run = measure(model, args.dataset, args.epochs, args.data_fraction,
                                  Path(tmp), figures)
                    cost = run["wall_s"] - run["train_time_s"]
                    fixed[figures].append(cost)
                    in_cells = sum(seconds for _, seconds in run["cells"])
                    print(f"{model} ({route(figures)}): {run['status']}, wall "
                          f"{run['wall_s']:.1f} s, CPU {run['cpu_s']:.1f} s, train_time_s "
                          f"{run['train_time_s']:.1f} s, fixed cost {cost:.1f} s "
                          f"(kernel start and notebook I/O {run['wall_s'] - in_cells:.1f} s)")
                    for source, seconds in run["cells"]:
                        print(f"    {seconds:6.2f} s  {source}")
    medians = {figures: statistics.median(costs) for figures, costs in fixed.items()}
    for figures, median in medians.items():
        print(f"fixed cost per run, {route(figures)}: median {median:.1f} s over "
              f"{len(fixed[figures])} runs")
    print(f"without figures / with figures: {medians[False] / medians[True]:.2f}")


def route(figures: bool) -> str:
    """How a printed line names the two routes."""
    return "with figures" if figures else "--no-figures"


if __name__ == "__main__":
    main()
