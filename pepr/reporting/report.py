"""What a study's report says, computed from its rows and its study file.

``notebooks/report.ipynb`` (``pepr report STUDY``, and one chapter per study in the book) calls
these functions and shows what they return; nothing here belongs to one study. Each function
takes the study's tables and returns a table, a number or a sentence. Where a statistic needs
more runs than a study holds, the sentence says so instead of showing ``nan``.

Book side only: pandas, NumPy and SciPy, never torch (labels are read with
:func:`pepr.datasets.split_labels`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pepr.core import paths
from pepr.core.errors import PeprError
from pepr.core.text import listing, plural  # noqa: F401 (report.plural, report.listing: callers)
from pepr.scoring import analysis, robustness, score, verdicts
from pepr.store import results

#: Scores a report may rank by, and how the report names each.
RANK_SCORES: dict[str, str] = {
    "pepr_e": "PePR-E (energy)", "pepr_c": "PePR-C (CO2)", "pepr_t": "PePR-T (training time)",
    "pepr_m": "PePR-M (memory)", "test_acc": "test accuracy",
}
#: What each energy method means for the reader of a PePR-E.
ENERGY_METHODS: dict[str, str] = {
    "green-algorithms-estimate": (
        "an estimate, not a measurement: the run's own CPU time at the processor's power per "
        "core plus its memory at 0.3725 W/GB, times a data-centre PUE (the Green Algorithms "
        "method); with one busy core per run it is nearly proportional to wall time, so energy "
        "(and CO2) rank the runs almost as training time does"),
    "rapl": ("measured by the CPU's RAPL counters (package and DRAM), times the run's share of "
             "the machine's busy CPU time and a data-centre PUE"),
    "nvml": "measured by the GPU's NVML energy counter, times a data-centre PUE",
    "carbontracker": "measured by carbontracker from the hardware's counters (its PUE included)",
    "imported": "as the official release recorded it (carbontracker on a GPU)",
}
#: The smallest number of paired models for a correlation or a paired test to be reported.
MIN_PAIRS = 4


# ---------------------------------------------------------------------------------------------
# The study and its grid
# ---------------------------------------------------------------------------------------------

def study_file(study: str, studies_dir: Path | str | None = None) -> dict[str, object] | None:
    """The study's file ``<studies_dir>/<study>.yml`` read and validated, or None if there is
    none (a study made with ``pepr run`` has rows but no file)."""
    from pepr.store import studies

    folder = Path(studies_dir) if studies_dir is not None else paths.STUDIES_DIR
    for path in sorted(folder.glob("*.yml")):
        try:
            spec = studies.load_spec(path)
        except PeprError:
            continue
        if spec["study"] == study:
            return spec
    return None


def value_range(values: Sequence[float], spec: str = ".2f") -> str:
    """``from 0.92 to 0.94``, or ``0.94 in every setting`` when the two read the same;
    ``not yet computed`` without a value."""
    finite = [float(v) for v in values if v == v]
    if not finite:
        return "not yet computed"
    low, high = format(min(finite), spec), format(max(finite), spec)
    return f"{low} in every setting" if low == high else f"from {low} to {high}"


def grid_summary(all_runs: pd.DataFrame, planned: int | None = None) -> dict[str, object]:
    """What the study holds: counts of runs by status (the last row of each run), the values
    of each grid axis over the finished runs, and ``planned``, the study file's grid size."""
    latest = all_runs.drop_duplicates("run_id", keep="last")
    ok = all_runs[all_runs["status"] == "ok"].drop_duplicates("run_id", keep="last")
    return {
        "planned": planned,
        "runs": int(latest["run_id"].nunique()),
        "ok": int(len(ok)),
        "failed": int((latest["status"] == "failed").sum()),
        "skipped": int((latest["status"] == "skipped").sum()),
        "skipped_models": sorted(latest.loc[latest["status"] == "skipped", "model"].unique()),
        "models": sorted(ok["model"].unique()),
        "datasets": sorted(ok["dataset"].unique()),
        "settings": sorted(ok["setting"].unique()),
        "fractions": sorted(ok["data_fraction"].dropna().unique()),
        "seeds": sorted(int(s) for s in ok["seed"].dropna().unique()),
        "pretrained": sorted({str(p) for p in ok["pretrained"].dropna()}),
        "img_sizes": sorted(int(s) for s in ok["img_size"].dropna().unique()),
        "epochs": sorted(int(s) for s in ok["epochs"].dropna().unique()),
        "hardware": sorted(ok["hardware"].dropna().unique()),
        "energy_methods": sorted(ok["energy_method"].dropna().unique()),
        "threads": sorted(int(t) for t in ok["threads"].dropna().unique()),
    }


def planned_runs(spec: Mapping[str, object] | None) -> int | None:
    """How many runs the study file's grid holds (None without a study file)."""
    if spec is None:
        return None
    from pepr.store import studies

    try:
        return len(studies.expand(spec))
    except PeprError:  # a model or dataset of the grid that this machine cannot resolve
        return None


def grid_sentence(summary: Mapping[str, object]) -> str:
    """One paragraph saying what was run, every figure from :func:`grid_summary`."""
    s = summary
    planned = (f" of the {s['planned']:,} that its study file plans" if s["planned"] else "")
    parts = [
        f"The study holds {plural(s['runs'], 'run')}{planned}: {s['ok']:,} finished `ok`"
        + (f", {s['failed']:,} failed" if s["failed"] else "")
        + (f", {s['skipped']:,} not run (skipped: {plural(len(s['skipped_models']), 'model')}, "
           f"with the reason in their rows)" if s["skipped"] else "") + "."]
    if s["ok"]:
        arms = {"False": "from scratch", "True": "from ImageNet weights"}
        pretrained = listing([arms.get(p, f"from the checkpoint {p}") for p in s["pretrained"]])
        parts.append(
            f"The finished runs trained {plural(len(s['models']), 'model')} on "
            f"{listing(s['datasets'])} ({plural(len(s['settings']), 'setting')}), {pretrained}, "
            f"with {listing([f'{f:.0%}' for f in s['fractions']])} of the training split, "
            f"{plural(len(s['seeds']), 'seed')} ({listing(s['seeds'])}), "
            f"{listing(s['epochs'])} epochs, at {listing(s['img_sizes'])} px.")
    if s["hardware"]:
        threads = f" with {listing(s['threads'])} thread(s) per run" if s["threads"] else ""
        parts.append(f"Hardware as each row recorded it: {listing(s['hardware'])}{threads}.")
    return " ".join(parts)


def energy_sentence(methods: Sequence[str]) -> str:
    """What the study's energy figures are, method by method."""
    if not methods:
        return "No finished run recorded an energy figure."
    said = [f"`{m}`: {ENERGY_METHODS.get(m, 'a method this report does not describe')}"
            for m in methods]
    return "Energy was obtained as " + "; ".join(said) + "."


def totals(runs: pd.DataFrame) -> dict[str, float]:
    """The study's compute: hours of training, kWh and kg of CO2 (finished runs)."""
    return {"hours": float(runs["train_time_s"].sum() / 3600),
            "kwh": float(runs["energy_kwh"].sum()),
            "co2_kg": float(runs["co2_g"].sum() / 1000)}


def paper_totals() -> dict[str, float] | None:
    """The release's kWh and kg of CO2 over its 1,048 runs (None where its table is absent)."""
    try:
        paper = results.import_paper()
    except PeprError:
        return None
    return {"kwh": float(paper["energy_kwh"].sum()), "co2_kg": float(paper["co2_g"].sum() / 1000),
            "runs": len(paper)}


# ---------------------------------------------------------------------------------------------
# Baselines and rankings
# ---------------------------------------------------------------------------------------------

def ranked(scored: pd.DataFrame, rank_by: str, pool: Sequence[str],
           baselines: pd.DataFrame | None = None) -> pd.DataFrame:
    """Runs ranked within each pool by ``rank_by`` (1 = best), with their verdicts against the
    majority-class baseline (:mod:`pepr.verdicts`: ``baseline_acc``, ``above_baseline``, the
    accuracy's interval). ``baselines`` (one row per setting, as
    :func:`pepr.verdicts.study_baselines` gives) replaces the verdicts ``scored`` carries; without
    either, they come from the test labels."""
    if baselines is not None:
        scored = verdicts.add_verdicts(scored, baselines)
    elif "above_baseline" not in scored.columns:
        scored = verdicts.add_verdicts(scored, verdicts.study_baselines(scored))
    return score.rank_within(scored, rank_by, pool)


def best_above_baseline(table: pd.DataFrame, rank_by: str, pool: Sequence[str]) -> tuple[pd.DataFrame, dict[str, int]]:
    """The best run of each pool by ``rank_by`` among the runs that beat their baseline (one
    per pool), and how many runs were set aside (:func:`pepr.verdicts.keep_above_baseline`)."""
    kept, aside = verdicts.keep_above_baseline(table)
    if kept.empty:
        return kept, aside
    best = score.rank_within(kept, rank_by, pool, top=1)
    return best.drop_duplicates(list(pool) or ["rank"]), aside


def baseline_sentence(table: pd.DataFrame) -> str:
    """How many runs of each setting beat the majority-class baseline (the exact test)."""
    parts = []
    for setting, group in table.groupby("setting"):
        baseline = group["baseline_acc"].iloc[0]
        if pd.isna(baseline):
            parts.append(f"in `{setting}` no baseline ({group['baseline_source'].iloc[0]})")
            continue
        above = int(group["above_baseline"].fillna(False).sum())
        parts.append(f"in `{setting}` {above} of {plural(len(group), 'run')} beat "
                     f"{baseline:.3f} ({int(group['test_n'].iloc[0])} test images)")
    if not parts:
        return ""
    return (f"Against always predicting the test split's majority class, by a one-sided exact "
            f"binomial test (α = {verdicts.ALPHA:g}): " + "; ".join(parts) + ".")


# ---------------------------------------------------------------------------------------------
# Size, seeds, arms and the release
# ---------------------------------------------------------------------------------------------

def size_column(runs: pd.DataFrame) -> tuple[str, str]:
    """The parameter column to plot and its label: the ImageNet configuration's count where
    every run has it (comparable across datasets), else the trained model's."""
    if runs["num_params"].notna().all():
        return "num_params", "parameters, ImageNet configuration"
    return "num_params_trained", "parameters, as trained"


def small_large_split(scored: pd.DataFrame, rank_by: str, size: str, k: int = 5) -> pd.Series | None:
    """The paper's claim on this study, among the runs that beat their baseline: models split
    at their setting's median size; the share of the settings' top-``k`` places (by
    ``rank_by``; a model's seeds averaged) that small models hold, with a 95 % interval from a
    bootstrap of the test split (:func:`pepr.verdicts.top_k_small_share`), the share of small
    models among all, and each half's median accuracy. None with fewer than ``2 * MIN_PAIRS``
    such models in every setting."""
    if "above_baseline" not in scored.columns:
        scored = verdicts.add_verdicts(scored, verdicts.study_baselines(scored))
    kept, aside = verdicts.keep_above_baseline(scored)
    kept = kept.reset_index(drop=True)
    observed = verdicts.top_k_small_share(kept, kept[rank_by].to_numpy(dtype=float)[None, :],
                                          size, k, 2 * MIN_PAIRS)[0] if len(kept) else math.nan
    if not np.isfinite(observed):
        return None
    draws = verdicts.top_k_small_share(kept, verdicts.resampled_scores(kept, rank_by), size, k,
                                       2 * MIN_PAIRS)
    low, high = verdicts.percentile_interval(draws)
    means = seed_means(kept)
    medians = means.groupby("setting")[size].transform("median")
    small = means[size] <= medians
    counted = means.groupby("setting")["model"].transform("nunique") >= 2 * MIN_PAIRS
    return pd.Series({"share of top-k small": observed, "share low": low, "share high": high,
                      "share of all runs small": float(small[counted].mean()),
                      "median P small": float(means.loc[small & counted, "test_acc"].median()),
                      "median P large": float(means.loc[~small & counted, "test_acc"].median()),
                      "settings": int(means.loc[counted, "setting"].nunique()),
                      "set aside": int(sum(aside.values())), "runs kept": len(kept)})


def small_vs_large(scored: pd.DataFrame, rank_by: str, size: str) -> str:
    """:func:`small_large_split` in one sentence."""
    row = small_large_split(scored, rank_by, size)
    if row is None:
        return (f"The small-against-large comparison needs at least {2 * MIN_PAIRS} models that "
                f"beat their baseline in a setting; this study has none such.")
    return (f"Among the {plural(int(row['runs kept']), 'run')} that beat their baseline "
            f"({int(row['set aside'])} set aside), split at each setting's median size, small "
            f"models hold {share_text(row)} of the top-5 places by {RANK_SCORES[rank_by]} in "
            f"{plural(int(row['settings']), 'setting')}, against "
            f"{row['share of all runs small']:.0%} of the models; their median accuracy is "
            f"{row['median P small']:.3f}, the large models' {row['median P large']:.3f}.")


def share_text(row: Mapping[str, float]) -> str:
    """``88 % (95 % interval 80-92 %)``: a share and its bootstrap interval."""
    return (f"{row['share of top-k small']:.0%} (95 % interval {row['share low']:.0%}–"
            f"{row['share high']:.0%})")


def seed_means(scored: pd.DataFrame) -> pd.DataFrame:
    """One row per setting and model: each numeric column's mean over the model's seeds (the
    other columns from its first row), so that a model trained with three seeds counts once
    where models are compared (top-k places, medians over models)."""
    keys = ["setting", "model"]
    numeric = [c for c in scored.select_dtypes("number").columns if c != "seed"]
    means = scored.groupby(keys, sort=False)[numeric].mean()
    first = scored.drop_duplicates(keys).set_index(keys).drop(columns=numeric)
    return first.join(means).reset_index()


def seed_agreement(scored: pd.DataFrame, rank_by: str) -> pd.DataFrame:
    """Kendall's tau between the rankings of every two seeds, per setting, over the models run
    with both; with the spread (standard deviation) of test accuracy across seeds."""
    from scipy.stats import kendalltau

    rows = []
    for setting, group in scored.groupby("setting"):
        wide = group.pivot_table(index="model", columns="seed", values=rank_by)
        spread = group.groupby("model")["test_acc"].std().dropna()
        seeds = list(wide.columns)
        for i, first in enumerate(seeds):
            for second in seeds[i + 1:]:
                both = wide[[first, second]].dropna()
                tau = (kendalltau(both[first], both[second]).statistic
                       if len(both) >= MIN_PAIRS else math.nan)
                rows.append({"setting": setting, "seeds": f"{first} vs {second}",
                             "models": len(both), "kendall_tau": tau,
                             "median_acc_sd": float(spread.median()) if len(spread) else math.nan})
    return pd.DataFrame(rows)


def seed_agreements(scored: pd.DataFrame, scores: Sequence[str]) -> pd.DataFrame:
    """:func:`seed_agreement` for each of ``scores`` (keys of :data:`RANK_SCORES`), one block of
    rows after another, with a ``ranked by`` column naming the score: whether the rankings by
    accuracy and by a PePR score are equally stable."""
    blocks = [seed_agreement(scored, rank_by).assign(**{"ranked by": RANK_SCORES[rank_by]})
              for rank_by in scores]
    table = pd.concat(blocks, ignore_index=True) if blocks else pd.DataFrame()
    if table.empty:
        return table
    first = ["setting", "ranked by"]
    return table[first + [c for c in table.columns if c not in first]]


def seed_sentence(agreement: pd.DataFrame) -> str:
    """The rank agreement between seeds in one sentence: the range of Kendall's tau (per
    ranking where ``agreement`` has a ``ranked by`` column) and the median spread of accuracy."""
    if agreement.empty or "kendall_tau" not in agreement:
        return "Each model was trained with one seed, so the report cannot say how stable the ranking is."
    usable = agreement.dropna(subset=["kendall_tau"])
    if usable.empty:
        return (f"Seeds were repeated for fewer than {MIN_PAIRS} models per setting: too few "
                f"for a rank correlation.")
    if "ranked by" in usable:
        ranges = ", ".join(f"by {name} {value_range(group['kendall_tau'])}"
                           for name, group in usable.groupby("ranked by", sort=False))
    else:
        ranges = value_range(usable["kendall_tau"])
    pairs = len(usable.drop_duplicates(["setting", "seeds"]))
    return (f"Between seeds, Kendall's tau between two seeds' rankings: {ranges} "
            f"({plural(pairs, 'pair')} of seeds); the median standard deviation of a model's "
            f"test accuracy across seeds is {usable['median_acc_sd'].median():.3f}.")


#: The grid axes whose arms the report compares in pairs (the same model in both arms).
ARMS: dict[str, str] = {"data_fraction": "training fraction", "pretrained": "initialisation"}


def arm_comparisons(scored: pd.DataFrame, performance: str = "test_acc") -> pd.DataFrame:
    """Paired comparisons of the arms of each axis in :data:`ARMS` (the other axes held fixed),
    over the models run in both arms, with :func:`pepr.analysis.paired_comparison`."""
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
    our test accuracy (mean over seeds) beside the release's (:func:`pepr.analysis.pair_with_paper`).
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
    panel of :func:`pepr.plots.agreement_panels` ("ours beside the release's theirs")."""
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
    machines = {side: sorted(set(pairs[f"hardware_{side}"].dropna())) for side in ("earlier", "now")}
    if machines["earlier"] != machines["now"]:
        text += (f" The machine changed too ({listing(machines['earlier'])} then, "
                 f"{listing(machines['now'])} now), so the time ratio is not the code's alone.")
    return text


def repeated_finding(pairs: pd.DataFrame, earlier_runs: int) -> str:
    """:func:`repeated_runs` as a short key finding: how many of ``earlier_runs`` were repeated,
    the median change of test accuracy and the median time ratio; ``not yet`` without pairs."""
    if pairs.empty:
        return "not yet"
    so_far = " so far" if len(pairs) < earlier_runs else ""
    return (f"{len(pairs)} of {earlier_runs}{so_far}; test accuracy moved by a median of "
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
    or why there is no rho, or no interval (:func:`pepr.analysis.spearman_ci`)."""
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


def models_in_every_setting(runs: pd.DataFrame, settings: Sequence[str]) -> list[str]:
    """The models with a row in each of ``settings`` (of whatever status ``runs`` holds), sorted:
    how much of a study's grid is complete across its settings, not only within each."""
    shown = runs[runs["setting"].isin(settings)]
    per_model = shown.groupby("model")["setting"].nunique()
    return sorted(per_model.index[per_model == len(set(settings))])


def progress_by_setting(all_runs: pd.DataFrame, planned: Sequence[Mapping[str, object]] = ()
                        ) -> pd.DataFrame:
    """Per setting and seed: runs planned (the study file's grid cells), finished ``ok``,
    ``failed`` and ``skipped`` (the last row of each run)."""
    latest = all_runs.drop_duplicates("run_id", keep="last")
    counts = (latest.assign(n=1).pivot_table(index=["setting", "seed"], columns="status",
                                             values="n", aggfunc="sum", fill_value=0))
    for status in ("ok", "failed", "skipped"):
        if status not in counts:
            counts[status] = 0
    table = counts[["ok", "failed", "skipped"]]
    if planned:
        grid = pd.DataFrame(list(planned)).groupby(["setting", "seed"]).size().rename("planned")
        table = grid.to_frame().join(table, how="left").fillna(0)
    return table.astype(int).reset_index()


def small_large_by_setting(scored: pd.DataFrame, rank_by: str, size: str,
                           k: int = 5) -> pd.DataFrame:
    """The paper's claim in each setting: models split at the setting's median size; the share
    of the top ``k`` by ``rank_by`` that is small, and each half's median accuracy. A model
    with several seeds counts once, with its means (:func:`seed_means`). Settings with fewer
    than ``2 * MIN_PAIRS`` models are left out."""
    rows = []
    for setting, group in seed_means(scored).groupby("setting"):
        if group["model"].nunique() < 2 * MIN_PAIRS:
            continue
        threshold = float(group[size].median())
        small = group[size] <= threshold
        top = group.nlargest(k, rank_by)
        rows.append({"setting": setting, "models": int(group["model"].nunique()),
                     "median size (M)": threshold / 1e6,
                     f"top-{k} small": int((top[size] <= threshold).sum()),
                     "median acc. small": float(group.loc[small, "test_acc"].median()),
                     "median acc. large": float(group.loc[~small, "test_acc"].median())})
    return pd.DataFrame(rows)


def duration_text(seconds: float) -> str:
    """A duration in the unit that reads best: seconds, minutes or hours."""
    if seconds < 120:
        return f"{seconds:.0f} seconds"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} minutes"
    return f"{seconds / 3600:.1f} hours"


def data_sentence(runs: pd.DataFrame) -> str:
    """The data each setting trained on, as its runs recorded it (``data_summary``)."""
    if "data_summary" not in runs or runs["data_summary"].isna().all():
        return "The runs predate the data summary column, so the data is named only by its setting."
    summaries = (runs.dropna(subset=["data_summary"]).drop_duplicates("setting")
                 .sort_values("setting"))
    return "The data, as the runs recorded it: " + "; ".join(
        f"`{row.setting}`: {row.data_summary}" for row in summaries.itertuples()) + "."


# ---------------------------------------------------------------------------------------------
# How the report shows it: names, tables, the key findings
# ---------------------------------------------------------------------------------------------

def slug(text: object) -> str:
    """``text`` as part of a cross-reference name: lower case, other characters as hyphens."""
    import re

    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")


def label(kind: str, study: str, what: str) -> str:
    """The name of a figure (``kind`` ``fig``) or table (``tbl``) of a study's report, unique
    among the book's study chapters, which are built side by side: ``tbl-rerun-pilot-ranking``."""
    return f"{kind}-rerun-{slug(study)}-{slug(what)}"


#: The ranking's columns as the report shows them, with short headers so that the table fits
#: the page's text column (the caption spells them out).
RANKING_COLUMNS: dict[str, str] = {
    "rank": "rank", "model": "model", "seed": "seed", "test_acc": "acc.",
    "acc_interval": "acc. 95 %", "test_balanced_acc": "bal. acc.",
    "test_auc": "AUC", "beats": "> maj.", "pepr_e": "PePR-E", "pepr_c": "PePR-C", "pepr_t": "PePR-T",
    "pepr_m": "PePR-M", "params_m": "params (M)", "minutes": "train (min)",
}
#: How each of the ranking's shown columns is written.
RANKING_FORMATS: dict[str, str] = {
    "rank": "{:.0f}", "acc.": "{:.3f}", "bal. acc.": "{:.3f}", "AUC": "{:.3f}", "PePR-E": "{:.3f}",
    "PePR-C": "{:.3f}", "PePR-T": "{:.3f}", "PePR-M": "{:.3f}", "params (M)": "{:.2f}",
    "train (min)": "{:.1f}",
}


def ranking_tables(table: pd.DataFrame, rank_by: str, pool: Sequence[str],
                   size: str) -> list[tuple[str, pd.DataFrame]]:
    """The ranked runs (:func:`ranked`) as the report shows them: one table per pool (the runs
    ranked together), titled by the pool's values (``all runs`` when one pool holds them all),
    with the columns of :data:`RANKING_COLUMNS` (PePR-C only where it ranks) and ``setting``
    only where a pool holds several settings."""
    from pepr.reporting.plots import yes_no  # matplotlib: only once a report draws

    scores = ["pepr_e", "pepr_t", "pepr_m"] + (["pepr_c"] if rank_by == "pepr_c" else [])
    shown = table.assign(params_m=table[size] / 1e6, minutes=table["train_time_s"] / 60,
                         beats=yes_no(table["above_baseline"].fillna(False).astype(bool)),
                         acc_interval=[interval_text(low, high) for low, high in
                                       zip(table["test_acc_low"], table["test_acc_high"])])
    seeds = ["seed"] if table["seed"].nunique() > 1 else []
    columns = [c for c in RANKING_COLUMNS if c in ("rank", "model", *seeds, "test_acc",
                                                     "acc_interval", "test_balanced_acc",
                                                     "beats", "params_m", "minutes")
               or c in scores]
    groups = list(shown.groupby(list(pool), sort=True)) if pool else [(("all runs",), shown)]
    tables = []
    for keys, group in groups:
        keys = keys if isinstance(keys, tuple) else (keys,)
        keep = (["setting"] if group["setting"].nunique() > 1 else []) + columns
        frame = group.sort_values(["rank", "model"])[keep].rename(columns=RANKING_COLUMNS)
        tables.append((", ".join(str(k) for k in keys), frame.reset_index(drop=True)))
    return tables


def interval_estimate_text(value: float, low: float, high: float, spec: str = ".3f") -> str:
    """``0.088 (0.051 to 0.125)``: an estimate with its interval (``–`` where there is none)."""
    if pd.isna(value):
        return "–"
    if pd.isna(low) or pd.isna(high):
        return format(value, spec)
    return f"{format(value, spec)} ({format(low, spec)} to {format(high, spec)})"


def interval_text(low: float, high: float) -> str:
    """``0.79–0.90``: an interval as a ranking table shows it (a dash where there is none)."""
    return "–" if pd.isna(low) or pd.isna(high) else f"{low:.2f}–{high:.2f}"


def not_ok_table(all_runs: pd.DataFrame) -> pd.DataFrame:
    """The runs without an ``ok`` row (their last row), one line per status and reason: how many
    runs, in how many settings, and which models (every one named)."""
    latest = all_runs.drop_duplicates("run_id", keep="last")
    latest = latest[latest["status"] != "ok"]
    reasons = latest["error"] if "error" in latest else pd.Series(None, index=latest.index, dtype=object)
    latest = latest.assign(error=reasons.fillna("(no reason given)"))
    rows = [{"status": status, "reason": error, "runs": len(group), "settings": group["setting"].nunique(),
             "models": ", ".join(sorted(group["model"].unique()))}
            for (status, error), group in latest.groupby(["status", "error"], sort=True)]
    return pd.DataFrame(rows, columns=["status", "reason", "runs", "settings", "models"])


def key_findings(summary: Mapping[str, object], table: pd.DataFrame, rank_by: str,
                 pool: Sequence[str], split: pd.Series | None, compute: Mapping[str, float],
                 agreement: pd.DataFrame) -> list[str]:
    """The report's few headline sentences, every number computed: how much of the grid ran,
    the best run of each pool by ``rank_by``, how many runs beat the majority class, the
    small-against-large split (:func:`small_large_split`), the compute (:func:`totals`) and the
    agreement with the release (:func:`paper_agreement`)."""
    planned = f" of the {summary['planned']:,} planned" if summary.get("planned") else ""
    items = [f"{summary['ok']:,}{planned} runs finished"
             + (f", {summary['failed']:,} failed" if summary["failed"] else "")
             + (f", {summary['skipped']:,} skipped" if summary["skipped"] else "") + "."]
    if not table.empty:
        best, aside = best_above_baseline(table, rank_by, pool)
        named = [f"`{row.model}`" + (f" in `{row.setting}`" if pool else "") + f" ({getattr(row, rank_by):.3f})"
                 for row in best.itertuples()]
        aside_text = verdicts.set_aside_text(aside)
        items.append(f"Best by {RANK_SCORES[rank_by]} among the runs that beat their majority-class "
                     f"baseline: {listing(named, limit=6) if named else 'none'}"
                     + (f" ({aside_text})" if aside_text else "") + ".")
        known = table.dropna(subset=["baseline_acc"])
        if len(known):
            items.append(f"{int(known['above_baseline'].fillna(False).sum())} of "
                         f"{plural(len(known), 'run')} beat always predicting the test split's "
                         f"majority class (one-sided exact binomial test, α = {verdicts.ALPHA:g}).")
    if split is not None:
        items.append(f"Among the runs that beat their baseline, models at or below their setting's "
                     f"median size hold {share_text(split)} of the top-5 places by "
                     f"{RANK_SCORES[rank_by]}, against {split['share of all runs small']:.0%} of "
                     f"the models.")
    if summary["ok"]:
        items.append(f"Compute: {duration_text(compute['hours'] * 3600)} of training, "
                     f"{compute['kwh']:.3g} kWh ({listing(summary['energy_methods'])}).")
    for _, row in agreement.iterrows():
        if pd.notna(row.get("rho")):
            items.append(f"Test accuracy of `{row['our setting']}` beside the release's "
                         f"`{row['release setting']}`: {rho_text(row)}.")
    return items


def arms_table(arms: pd.DataFrame) -> pd.DataFrame:
    """The paired comparisons (:func:`arm_comparisons`) as a page shows them: which arms (first
    minus second), what was held fixed, over how many models, the mean difference with its
    bootstrap 95 % interval in one column, the share of models better in the first arm and the
    Wilcoxon signed-rank test's p."""
    return pd.DataFrame({
        "arms": [f"{axis}: {pair}" for axis, pair in zip(arms["axis"], arms["arms"])],
        "held fixed": arms["held fixed"], "models": arms["models"],
        "mean diff. (95 % CI)": [f"{d:+.3f} ({low:+.3f} to {high:+.3f})" for d, low, high in
                                 zip(arms["mean_diff"], arms["mean_diff_ci_low"], arms["mean_diff_ci_high"])],
        "first better": arms["share_a_better"], "p (Wilcoxon)": arms["p_wilcoxon"],
    })


#: How :func:`arms_table`'s numbers are written.
ARMS_FORMATS: dict[str, str] = {"first better": "{:.0%}", "p (Wilcoxon)": "{:.3f}"}


def arms_caption(paired_over: str = "the models trained in both arms") -> str:
    """The caption of :func:`arms_table`: what it pairs over (``paired_over``) and what each column is."""
    return (f"Paired over {paired_over}: the mean difference in test accuracy (first arm minus second) "
            "with its bootstrap 95 % interval, the share of models more accurate in the first arm, and "
            "the Wilcoxon signed-rank test.")


def seeds_table(agreement: pd.DataFrame) -> pd.DataFrame:
    """The seed agreement (:func:`seed_agreement`) with headers a reader can follow."""
    return agreement.rename(columns={"kendall_tau": "Kendall's tau", "median_acc_sd": "median SD of acc."})


#: How :func:`seeds_table`'s numbers are written.
SEEDS_FORMATS: dict[str, str] = {"Kendall's tau": "{:.2f}", "median SD of acc.": "{:.3f}"}


def seeds_caption(rank_by: str | Sequence[str]) -> str:
    """The caption of :func:`seeds_table` for rankings by ``rank_by`` (a key of :data:`RANK_SCORES`,
    or several, as :func:`seed_agreements` takes them)."""
    names = [RANK_SCORES[rank_by]] if isinstance(rank_by, str) else [RANK_SCORES[s] for s in rank_by]
    return (f"Kendall's tau between the rankings by {listing(names)} of two seeds, per setting, "
            "over the models run with both; and the median standard deviation of a model's test "
            "accuracy across seeds.")


def findings_box(items: Sequence[str], title: str = "Key findings") -> str:
    """``items`` as a bulleted MyST admonition (class ``note``) for the top of a page; the
    one-page HTML report shows it as a blockquote (:func:`pepr.render.plain_markdown`)."""
    body = "\n".join(f"- {item}" for item in items)
    return f":::{{admonition}} {title}\n:class: note\n\n{body}\n:::\n"


#: Above this many models the learning curves show a sample of them (a page of 4-wide panels
#: stays readable; 120 panels would be a 30-row figure).
CURVE_MODELS = 24


def curve_models(runs: pd.DataFrame, size: str, limit: int = CURVE_MODELS) -> list[str]:
    """The models whose learning curves are drawn: all of them up to ``limit``, else ``limit``
    models spread evenly over log(``size``) from the smallest to the largest, so the sample
    covers the range of sizes rather than its crowded middle. Models without a positive size
    cannot be placed and are left out (:func:`curves_sentence` counts only the placeable)."""
    sizes = runs.groupby("model")[size].first()
    sizes = sizes[sizes > 0].sort_values(kind="stable")  # a size is needed to place a model; NaN and 0 have none
    if len(sizes) <= limit:
        return list(sizes.index)
    targets = np.linspace(np.log(sizes.iloc[0]), np.log(sizes.iloc[-1]), limit)
    chosen: list[str] = []
    for target in targets:
        distance = (np.log(sizes) - target).abs().drop(chosen, errors="ignore")
        chosen.append(distance.idxmin())
    return list(sizes.index[sizes.index.isin(chosen)])


def curves_sentence(shown: Sequence[str], total: int) -> str:
    """Which models the learning curves show (all, or a sample spread over size)."""
    if len(shown) >= total:
        return f"One panel per model ({plural(total, 'model')}), smallest first."
    return (f"{len(shown)} of the {total} models, spread evenly over the logarithm of their size from "
            f"the smallest to the largest, one panel each, smallest first; every model's history "
            f"is in the study's `epochs.csv`.")
