"""Backtest of ``pepr advise``: hold out each dataset of the CPU study in turn, advise for its
settings from the rest, and compare with what its held-out runs measured.

    python benchmarks/advise_backtest.py [--study cpu-rerun] [--min-runs 20] [--probe-grid]

The computation is :func:`pepr.backtest.backtest` (the book's chapter "Which model should I
train?" shows the same figures): for each setting of the study in which at least ``--min-runs``
models finished, speeds from the other datasets' settings only, the reference machine as "this
machine" (no calibration, nothing timed), expected accuracy from every measured setting of
another dataset, anchored to the held-out dataset's majority-class rate. Prints per setting and
method (:data:`pepr.backtest.METHODS`: ``advise`` trains the advice's first; ``validate`` trains
down the advice's list until a run's validation accuracy beats the majority class; ``probe``
probes the first few and re-ranks as ``pepr advise --probe`` does; ``smallest`` and
``smallest-validate`` go by parameters, fewest first) the Spearman rho of predicted against
measured run time and accuracy and of the order against the measured PePR-E, whether the first 5
hold the measured PePR-E best among the runs that beat their majority-class baseline, the run
kept and how many were trained to find it, its regret in PePR-E with everything trained or
probed on the way charged (a kept run that does not beat its baseline is a failure: its regret
is the whole best PePR-E) and a 95 % interval from a bootstrap of the test split, the coverage
of the 80 % accuracy interval and the accuracy's bias; then the same per method over the
settings. ``--probe-grid`` adds the simulated probe for each number of models and epochs
(:func:`pepr.backtest.probe_grid`), best first.
"""

from __future__ import annotations

import argparse

import pandas as pd

from pepr.advice import backtest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default=backtest.REFERENCE_STUDY, help="the reference study")
    parser.add_argument("--min-runs", type=int, default=backtest.BACKTEST_MIN_RUNS,
                        help="hold out a setting once this many models finished in it")
    parser.add_argument("--probe-grid", action="store_true",
                        help="also simulate probes of every size and length in the grid")
    args = parser.parse_args()
    result = backtest.backtest(args.study, min_runs=args.min_runs)
    finished = ", ".join(f"{setting} {count}" for setting, count in result.finished.items())
    print(f"{args.study}: models finished per setting: {finished or 'none'}")
    if not result.held_out:
        print(backtest.backtest_summary(result)["status"])
        return
    float_format = {"float_format": lambda v: f"{v:.3f}"}
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(result.scores.to_string(index=False, **float_format))
        print(f"\nover {len(result.held_out)} held-out settings (rho: median; best_in_top: "
              f"settings with the best in the first {backtest.BACKTEST_TOP}; tries: mean):")
        print(backtest.backtest_overall(result.scores, result.predictions)
              .to_string(index=False, **float_format))
        if args.probe_grid:
            print(f"\nsimulated probes (k models x epochs; pepr advise --probe uses "
                  f"k={backtest.BACKTEST_PROBE['k']}, epochs={backtest.BACKTEST_PROBE['epochs']}):")
            print(backtest.probe_grid(result).to_string(index=False, **float_format))


if __name__ == "__main__":
    main()
