"""Backtest of ``pepr advise``: leave one setting of the CPU study out, advise for it from the
rest, and compare with what its held-out runs measured.

    python benchmarks/advise_backtest.py [--study cpu-rerun] [--min-runs 20]

The computation is :func:`pepr.advise.backtest` (the book's chapter "Which model should I
train?" shows the same figures): for each setting of the study in which at least ``--min-runs``
models finished, speeds from the other settings only, the reference machine as "this machine"
(no calibration, nothing timed), expected accuracy from every measured setting of another
dataset. Prints per setting and rule (``advise``; ``smallest``: train the model with the fewest
parameters) the Spearman rho of predicted against measured run time and accuracy and of the
ranking against the measured PePR-E, whether the first 5 hold the measured PePR-E best among the
runs that beat their majority-class baseline, and the regret in PePR-E of the first choice (a
choice that does not beat its baseline is a failure: its regret is the whole best PePR-E), with
a 95 % interval from a bootstrap of the test split; then the same per rule over the settings
(``judged``: the settings with a run above its baseline).
"""

from __future__ import annotations

import argparse

import pandas as pd

from pepr import advise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default=advise.REFERENCE_STUDY)
    parser.add_argument("--min-runs", type=int, default=advise.BACKTEST_MIN_RUNS)
    args = parser.parse_args()
    result = advise.backtest(args.study, min_runs=args.min_runs)
    finished = ", ".join(f"{setting} {count}" for setting, count in result.finished.items())
    print(f"{args.study}: models finished per setting: {finished or 'none'}")
    if not result.held_out:
        print(advise.backtest_summary(result)["status"])
        return
    float_format = {"float_format": lambda v: f"{v:.3f}"}
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(result.scores.to_string(index=False, **float_format))
        print(f"\nover {len(result.held_out)} held-out settings (rho: median; best_in_top: "
              f"settings with the best in the first {advise.BACKTEST_TOP}):")
        print(advise.backtest_overall(result.scores, result.predictions)
              .to_string(index=False, **float_format))


if __name__ == "__main__":
    main()
