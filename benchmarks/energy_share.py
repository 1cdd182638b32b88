"""What a run is charged per second: two single-thread runs side by side against one
two-thread run alone, on this machine's energy meter.

The machine's power is shared by what runs on it; a meter that charges every run the whole
machine (the earlier ``tdp-estimate`` rule) gives all three runs the same watts. The Green
Algorithms estimate (:mod:`pepr.energy`) charges each run the cores it kept busy, so each of
two single-thread runs side by side should be charged about half of what a run that keeps both
cores busy is charged. This benchmark trains the same run three times with
:func:`pepr.train.run` (in-process, no notebook): twice at once in two processes with one
thread each, then once alone with two threads, and prints for each its wall time, CPU time,
cores used (CPU time / wall time), energy and charged watts (energy / wall time, PUE
included), then the ratio of a side-by-side run's watts to the lone run's.

    python benchmarks/energy_share.py --model resnet18 --dataset breastmnist --epochs 2

Run it with the machine otherwise idle: a busy machine slows the runs, but the ratio compares
what each was charged per second for what it used.
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile

from pepr.scoring.energy import JOULES_PER_KWH


def one_run(model: str, dataset: str, epochs: int, threads: int, results_dir: str,
            seed: int) -> dict[str, object]:
    """Train one run in this process and return what its meter charged."""
    from pepr.training import meters, train

    meter = meters.RunMeter()
    outcome = train.run(model, dataset, study="energyshare", epochs=epochs, threads=threads,
                        seed=seed, meter=meter)
    row = outcome.row
    if row["status"] != "ok":
        raise RuntimeError(f"run failed: {row['error']}")
    return {key: row[key] for key in ("threads", "train_time_s", "cpu_time_s", "energy_kwh",
                                      "energy_method", "energy_scope")}


def _worker(args: tuple) -> dict[str, object]:
    return one_run(*args)


def charged_watts(row: dict[str, object]) -> float:
    """Energy over wall time, in W (the data-centre PUE included)."""
    return float(row["energy_kwh"]) * JOULES_PER_KWH / float(row["train_time_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--dataset", default="breastmnist")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        jobs = [(args.model, args.dataset, args.epochs, 1, scratch, seed) for seed in (0, 1)]
        with multiprocessing.get_context("spawn").Pool(2) as pool:
            side_by_side = pool.map(_worker, jobs)
        alone = one_run(args.model, args.dataset, args.epochs, 2, scratch, 2)
    print(f"{args.model} on {args.dataset}, {args.epochs} epoch(s); meter "
          f"{alone['energy_method']} ({alone['energy_scope']})")
    print(f"{'run':<22}{'wall s':>8}{'CPU s':>8}{'cores':>7}{'Wh':>9}{'W charged':>11}")
    labelled = [("side by side, 1 thread", row) for row in side_by_side]
    for label, row in [*labelled, ("alone, 2 threads", alone)]:
        wall, cpu = float(row["train_time_s"]), float(row["cpu_time_s"])
        print(f"{label:<22}{wall:>8.1f}{cpu:>8.1f}{cpu / wall:>7.2f}"
              f"{float(row['energy_kwh']) * 1000:>9.4f}{charged_watts(row):>11.2f}")
    ratios = [charged_watts(row) / charged_watts(alone) for row in side_by_side]
    print("charged per second, a side-by-side run / the lone two-thread run: "
          + ", ".join(f"{ratio:.2f}" for ratio in ratios))


if __name__ == "__main__":
    main()
