"""A study against the release and against itself: paired arms (pretrained, data size), agreement of rankings with the release's, runs repeated across studies, and checks of the measured costs."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from pepr.core.text import hardware_text, listing, plural
from pepr.reporting.report import MIN_PAIRS
from pepr.scoring import analysis, robustness, score
from pepr.store import results

#: The grid axes whose arms the report compares in pairs (the same model in both arms).
ARMS: dict[str, str] = {"data_fraction": "training fraction", "pretrained": "initialisation"}


def arm_comparisons(scored: pd.DataFrame, performance: str = "test_acc") -> pd.DataFrame:
    """Paired comparisons of the arms of each axis in :data:`ARMS` (the other axes held fixed),
    over the models run in both arms, with :func:`pepr.scoring.analysis.paired_comparison`."""
    rows = []
    for axis, name in ARMS.items():
        values = sorted(scored[axis].dropna().astype(str).unique())
        if len(values) < 2:
            continue
        fixed = [c for c in ("dataset", "data_fraction", "pretrained", "seed") if c != axis]
        for keys, group in scored.assign(arm=scored[axis].astype(str)).groupby(fixed, dropna=False):
            wide = group.pivot_table(index="model", columns="arm", values=performance)
            for i, first in enumerate(values):
                for second in values[i + 1:]:
                    if first not in wide or second not in wide:
                        continue
                    both = wide[[first, second]].dropna()
                    if len(both) < MIN_PAIRS:
                        continue
                    test = analysis.paired_comparison(both[second], both[first], n_resamples=1999)
                    context = ", ".join(f"{k}={v}" for k, v in zip(fixed, keys))
                    rows.append({"axis": name, "arms": f"{second} vs {first}",
                                 "held fixed": context, "models": len(both), **test})
    return pd.DataFrame(rows)


def paper_pairs(runs: pd.DataFrame) -> list[tuple[str, str]]:
    """(our setting, the release's setting) pairs that share a dataset and the fraction."""
    pairs = []
    for setting, group in runs.groupby("setting"):
        dataset, fraction = group["dataset"].iloc[0], float(group["data_fraction"].iloc[0])
        for name, spec in results.PAPER_SETTINGS.items():
            if spec["dataset"] == dataset and math.isclose(spec["data_fraction"], fraction):
                pairs.append((setting, name))
    return pairs


def agreement_pairs(runs: pd.DataFrame, paper: pd.DataFrame | None) -> dict[tuple[str, str], pd.DataFrame]:
    """Per (our setting, the release's setting) of :func:`paper_pairs`, the models both ran:
    our test accuracy (mean over seeds) beside the release's (:func:`pepr.scoring.robustness.pair_with_paper`).
    Empty without the release's table."""
    if paper is None:
        return {}
    pairs = {}
    for ours, theirs in paper_pairs(runs):
        mine = runs[runs["setting"] == ours].groupby("model", as_index=False)["test_acc"].mean()
        pairs[(ours, theirs)] = robustness.pair_with_paper(mine, paper, theirs)
    return pairs


def agreement_panels(pairs: Mapping[tuple[str, str], pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The pairs of :func:`agreement_pairs` with at least :data:`MIN_PAIRS` models, titled for a
    panel of :func:`pepr.reporting.plots.agreement_panels` ("ours beside the release's theirs")."""
    return {f"{ours} beside the release's {theirs}": pair
            for (ours, theirs), pair in pairs.items() if len(pair) >= MIN_PAIRS}


def paper_agreement(runs: pd.DataFrame, paper: pd.DataFrame | None,
                    pairs: Mapping[tuple[str, str], pd.DataFrame] | None = None) -> pd.DataFrame:
    """Spearman's rho (with a bootstrap 95 % interval) between our test accuracy and the
    release's, per shared setting, over the models both ran (``pairs``, default
    :func:`agreement_pairs`)."""
    rows = []
    pairs = agreement_pairs(runs, paper) if pairs is None else pairs
    for (ours, theirs), pair in pairs.items():
        row = {"our setting": ours, "release setting": theirs, "models": len(pair)}
        if len(pair) >= MIN_PAIRS:
            row.update(analysis.spearman_ci(pair["test_acc"], pair["test_acc_paper"]))
        rows.append(row)
    return pd.DataFrame(rows)


#: What makes a run of one study the same experiment as a run of another: its grid cell
#: without the study.
PROTOCOL_COLUMNS: list[str] = [c for c in results.IDENTITY_COLUMNS if c != "study"]


def repeated_runs(runs: pd.DataFrame, earlier: pd.DataFrame) -> pd.DataFrame:
    """The ``ok`` runs of ``runs`` that repeat an ``ok`` run of ``earlier`` (another study) with
    the same protocol and seed (:data:`PROTOCOL_COLUMNS`), one row per pair: each run's test
    accuracy and the difference, each run's training time and their ratio (now over earlier),
    and each run's hardware. Ordered by the earlier training time."""
    columns = ["test_acc", "train_time_s", "hardware"]
    pick = [*PROTOCOL_COLUMNS, "setting", *columns]
    ok = [frame[frame["status"] == "ok"].drop_duplicates("run_id", keep="last")[pick]
          for frame in (earlier, runs)]
    pairs = ok[0].merge(ok[1].drop(columns="setting"), on=PROTOCOL_COLUMNS, suffixes=("_earlier", "_now"))
    pairs["acc_change"] = pairs["test_acc_now"] - pairs["test_acc_earlier"]
    pairs["time_ratio"] = pairs["train_time_s_now"] / pairs["train_time_s_earlier"]
    keep = ["model", "setting", "img_size", "test_acc_earlier", "test_acc_now", "acc_change",
            "train_time_s_earlier", "train_time_s_now", "time_ratio", "hardware_earlier", "hardware_now"]
    return pairs.sort_values("train_time_s_earlier")[keep].reset_index(drop=True)


def repeated_sentence(pairs: pd.DataFrame, earlier: str) -> str:
    """:func:`repeated_runs` in words: how far accuracy moved, how the training time changed,
    and whether the hardware changed too (then the time ratio is not the code's alone)."""
    if pairs.empty:
        return f"None of {earlier}'s runs has been trained again yet."
    change = pairs["acc_change"].abs()
    worst = pairs.loc[change.idxmax()]
    ratio = pairs["time_ratio"]
    text = (f"{plural(len(pairs), 'run')} of {earlier} were trained again with the same protocol and "
            f"seed. Test accuracy moved by a median of {change.median():.3f} (at most "
            f"{change.max():.3f}, {worst['model']}: {worst['test_acc_earlier']:.3f} then, "
            f"{worst['test_acc_now']:.3f} now); the training time now is a median "
            f"{ratio.median():.2f} times {earlier}'s (from {ratio.min():.2f} to {ratio.max():.2f}).")
    machines = {side: sorted({hardware_text(h) for h in pairs[f"hardware_{side}"].dropna()})
                for side in ("earlier", "now")}
    if machines["earlier"] != machines["now"]:
        text += (f" The machine changed too ({listing(machines['earlier'])} then, "
                 f"{listing(machines['now'])} now), so the time ratio is not the code's alone.")
    return text


def repeated_finding(pairs: pd.DataFrame, earlier_runs: int) -> str:
    """:func:`repeated_runs` as a short key finding: how many of ``earlier_runs`` were repeated,
    the median change of test accuracy and the median time ratio; ``not yet`` without pairs."""
    if pairs.empty:
        return "not yet"
    return (f"{len(pairs)} of {earlier_runs}; test accuracy moved by a median of "
            f"{pairs['acc_change'].abs().median():.3f}, and training took a median "
            f"{pairs['time_ratio'].median():.2f} times the earlier time")


#: The headers of :func:`repeated_table`.
REPEATED_HEADERS: dict[str, str] = {
    "img_size": "px", "test_acc_earlier": "acc. then", "test_acc_now": "acc. now",
    "acc_change": "change", "train_time_s_earlier": "time then (s)",
    "train_time_s_now": "time now (s)", "time_ratio": "now / then"}


#: How :func:`repeated_table`'s numbers are written.
REPEATED_FORMATS: dict[str, str] = {
    "acc. then": "{:.3f}", "acc. now": "{:.3f}", "change": "{:+.3f}", "time then (s)": "{:.0f}",
    "time now (s)": "{:.0f}", "now / then": "{:.2f}"}


def repeated_table(pairs: pd.DataFrame) -> pd.DataFrame:
    """:func:`repeated_runs` for the page: without the hardware (the sentence names it), with
    headers a reader can follow."""
    return pairs.drop(columns=["hardware_earlier", "hardware_now"]).rename(columns=REPEATED_HEADERS)


def protocol_differences(runs: pd.DataFrame, release_setting: str) -> str:
    """How our runs of a setting differ from the release's protocol in it."""
    spec = results.PAPER_SETTINGS[release_setting]
    ours_pretrained = set(runs["pretrained"].astype(str))
    differences = []
    if ours_pretrained != {str(spec["pretrained"])}:
        differences.append(f"the release trained {'from ImageNet weights' if spec['pretrained'] else 'from scratch'}, "
                           f"this study {'from scratch' if ours_pretrained == {'False'} else 'otherwise'}")
    if set(runs["device"].dropna()) != {"cuda"}:
        differences.append("the release trained on a GPU, this study on " + listing(sorted(set(runs["device"].dropna()))))
    differences.append("the release did not record its input size; this study's is "
                       + listing(sorted(int(s) for s in runs["img_size"].dropna().unique())) + " px")
    if set(runs["seed"]) != {results.PAPER_PROTOCOL["seed"]}:
        differences.append(f"seeds differ (the release used {results.PAPER_PROTOCOL['seed']})")
    return "; ".join(differences)


def rho_text(row: Mapping[str, object]) -> str:
    """A row of :func:`paper_agreement` in words: rho, its interval, and over how many models;
    or why there is no rho, or no interval (:func:`pepr.scoring.analysis.spearman_ci`)."""
    models = plural(int(row["models"]), "model")
    if pd.isna(row["rho"]):
        return f"no Spearman's rho over {models}: one side's test accuracies are all equal"
    if pd.isna(row["ci_low"]):
        return (f"Spearman's rho {row['rho']:.2f} over {models} (no bootstrap interval: with so "
                f"many tied accuracies, some resamples have one side constant)")
    return (f"Spearman's rho {row['rho']:.2f} (95 % interval {row['ci_low']:.2f} to "
            f"{row['ci_high']:.2f}) over {models}")


def agreement_finding(agreement: pd.DataFrame) -> str:
    """:func:`paper_agreement` as a short key finding: :func:`rho_text` for each shared setting
    with at least :data:`MIN_PAIRS` models, naming the two settings."""
    rhos = [f"{rho_text(row)} ({row['our setting']} against {row['release setting']})"
            for _, row in agreement.iterrows() if row["models"] >= MIN_PAIRS]
    return "; ".join(rhos) or "not yet enough shared models for a correlation"


def agreement_sentence(agreement: pd.DataFrame, runs: pd.DataFrame) -> str:
    if agreement.empty:
        return ("No setting of this study shares a dataset and a training fraction with one of "
                "the release's, so there is nothing to compare with the paper.")
    parts = []
    for _, row in agreement.iterrows():
        where = f"`{row['our setting']}` against the release's `{row['release setting']}`"
        if row["models"] < MIN_PAIRS or "rho" not in row:
            parts.append(f"{where}: {plural(int(row['models']), 'shared model')}, too few for a "
                         f"correlation")
        else:
            parts.append(f"{where}: {rho_text(row)}; protocols differ: "
                         + protocol_differences(runs[runs["setting"] == row["our setting"]],
                                                row["release setting"]))
    return "Test accuracy beside the release: " + ". ".join(parts) + "."


def pareto_members(scored: pd.DataFrame, size: str) -> pd.DataFrame:
    """Per setting, the runs on the front of accuracy against size (no run is both smaller
    and more accurate)."""
    fronts = [group[score.pareto_front(group, "test_acc", size)]
              for _, group in scored.groupby("setting")]
    return pd.concat(fronts) if fronts else scored.iloc[0:0]


#: A run's cost is "above what its size says" when it is at least this many times what its
#: setting's least-squares line of log cost on log size predicts.
OUTLIER_FACTOR = 2.0


#: The plausibility checks of :func:`measurement_checks`: (name, cost column, size column).
COST_CHECKS: tuple[tuple[str, str, str], ...] = (
    ("time_flops", "train_time_s", "flops_per_image"),
    ("memory_params", "run_mem_gb", "num_params_trained"),
)


def _positive(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """The rows where every one of ``columns`` is a positive number (a log can be taken)."""
    return frame[(frame[list(columns)] > 0).all(axis=1)]


def above_fit(frame: pd.DataFrame, cost: str, size: str,
              factor: float = OUTLIER_FACTOR) -> pd.Series:
    """Runs whose ``cost`` is ``factor`` or more times what a least-squares line of log cost on
    log size predicts: the ratio, by model, largest first (empty under :data:`MIN_PAIRS` runs)."""
    usable = _positive(frame, cost, size)
    if len(usable) < MIN_PAIRS:
        return pd.Series(dtype=float)
    log_size, log_cost = np.log(usable[size]), np.log(usable[cost])
    slope, intercept = np.polyfit(log_size, log_cost, 1)
    ratio = pd.Series(np.exp(log_cost - (intercept + slope * log_size)).to_numpy(),
                      index=usable["model"].to_numpy())
    return ratio[ratio >= factor].sort_values(ascending=False)


def measurement_checks(runs: pd.DataFrame, factor: float = OUTLIER_FACTOR) -> pd.DataFrame:
    """Are a study's measurements plausible? Per setting and check of :data:`COST_CHECKS`:
    Spearman's rho of the cost with the size (a cost that grows monotonically with the work
    gives a rho near 1) and the models whose cost is ``factor`` or more times what their size
    predicts (:func:`above_fit`), named with the ratio, largest first."""
    from scipy.stats import spearmanr

    rows = []
    for setting, group in runs.groupby("setting", sort=False):
        row: dict[str, object] = {"setting": setting, "runs": len(group)}
        for name, cost, size in COST_CHECKS:
            usable = _positive(group, cost, size)
            row[f"rho_{name}"] = (float(spearmanr(usable[cost], usable[size]).statistic)
                                  if len(usable) >= MIN_PAIRS else math.nan)
            row[f"above_{name}"] = ", ".join(
                f"{model} ({ratio:.1f}x)" for model, ratio in above_fit(group, cost, size, factor).items())
        rows.append(row)
    return pd.DataFrame(rows)


def outlier_settings(runs: pd.DataFrame, factor: float = OUTLIER_FACTOR) -> pd.Series:
    """For each model that :func:`above_fit` names in some setting (for any check of
    :data:`COST_CHECKS`), the number of settings that name it; most first."""
    named = [(model, setting)
             for setting, group in runs.groupby("setting", sort=False)
             for _, cost, size in COST_CHECKS
             for model in above_fit(group, cost, size, factor).index]
    frame = pd.DataFrame(named, columns=["model", "setting"]).drop_duplicates()
    counts = frame.groupby("model")["setting"].nunique()
    return counts.sort_values(ascending=False, kind="stable")


def repeat_outliers_sentence(counts: pd.Series) -> str:
    """The models of :func:`outlier_settings` named in more than one setting, in words."""
    repeated = counts[counts > 1]
    if repeated.empty:
        return (f"no model stands out in more than one setting yet "
                f"({plural(len(counts), 'model')} in one)")
    return "; ".join(f"{model} in {count} settings" for model, count in repeated.items())


def measurement_table(checks: pd.DataFrame) -> pd.DataFrame:
    """:func:`measurement_checks` with the book's column names."""
    above = f"≥ {OUTLIER_FACTOR:g}x what its size predicts"
    return checks.rename(columns={
        "rho_time_flops": "ρ time, FLOPs", "above_time_flops": f"time {above}",
        "rho_memory_params": "ρ memory, parameters", "above_memory_params": f"memory {above}"})
