"""Backtest of ``pepr advise``: leave one setting of the CPU study out, advise for it from the
rest, and compare with what its held-out runs measured.

    python benchmarks/advise_backtest.py [--study cpu-rerun] [--min-runs 20]

For each setting of the study with at least ``--min-runs`` finished runs, and at least one other
setting to learn speeds from: reference speeds from the other settings only, the reference
machine as "this machine" (the held-out runs were measured on it: no calibration needed),
expected accuracy from every measured setting of another dataset. Prints per setting the
Spearman rho of predicted against measured run time (target >= 0.9) and accuracy, whether the
advised top 5 holds the measured PePR-E best, and the regret in PePR-E of the advised first
choice against the best, beside the regret of simply picking the smallest model.
"""

from __future__ import annotations

import argparse

import pandas as pd
from scipy.stats import spearmanr

from pepr import advise, paths, results, score


def identity_calibration(watts: float) -> advise.Calibration:
    """The reference machine predicting itself: time per image unchanged."""
    return advise.Calibration(intercept=0.0, slope=1.0, points=pd.DataFrame(), watts=watts,
                              energy_method="reference", seconds=0.0, baseline_mem_gb=0.0)


def backtest_setting(runs: pd.DataFrame, setting: str, study: str) -> dict[str, object]:
    held = runs[runs["setting"] == setting]
    dataset, fraction = held["dataset"].iloc[0], float(held["data_fraction"].iloc[0])
    epochs = int(held["epochs"].iloc[0])
    reference = advise.reference_speeds(study, exclude_settings=[setting])
    watts = float((held["energy_kwh"] * 3.6e6 / held["train_time_s"]).median())
    costs = advise.predict_costs(reference, identity_calibration(watts),
                                 advise.train_images(dataset, fraction), epochs)
    accuracy = advise.expected_accuracy(advise.accuracy_sources(), leave_out_dataset=dataset)
    predicted = costs.merge(accuracy, on="model").merge(
        held[["model", "train_time_s", "test_acc"]], on="model")
    measured = score.add_pepr(held.assign(setting=setting))[["model", "pepr_e"]]
    predicted = predicted.merge(measured, on="model")
    predicted["expected_pepr"] = advise.expected_pepr(predicted, "predicted_energy_kwh")
    advised = predicted.sort_values("expected_pepr", ascending=False)
    best = predicted["pepr_e"].max()
    smallest = predicted.loc[predicted["num_params"].idxmin()]
    return {
        "setting": setting, "models": len(predicted),
        "rho_time": spearmanr(predicted["predicted_time_s"], predicted["train_time_s"]).statistic,
        "median_time_ratio": float((predicted["predicted_time_s"] / predicted["train_time_s"]).median()),
        "rho_acc": spearmanr(predicted["expected_acc"], predicted["test_acc"]).statistic,
        "best_in_top5": bool(predicted.loc[predicted["pepr_e"].idxmax(), "model"]
                             in set(advised["model"].head(5))),
        "regret_advised": float(best - advised["pepr_e"].iloc[0]),
        "regret_smallest": float(best - smallest["pepr_e"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default=advise.REFERENCE_STUDY)
    parser.add_argument("--min-runs", type=int, default=20)
    args = parser.parse_args()
    runs = results.load(args.study, paths.RESULTS_DIR)
    counts = runs.groupby("setting").size()
    settings = sorted(counts[counts >= args.min_runs].index)
    if len(counts) < 2:
        print(f"{args.study} has finished runs in {len(counts)} setting(s); a leave-one-setting-out "
              f"backtest needs at least 2 (one to hold out, one to learn speeds from)")
        return
    table = pd.DataFrame([backtest_setting(runs, s, args.study) for s in settings])
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
