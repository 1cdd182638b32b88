"""What a study's report says, computed from its rows and its study file.

``notebooks/report.ipynb`` (``pepr report STUDY``, and one chapter per study in the book) calls
these functions and shows what they return; nothing here belongs to one study. Each function
takes the study's tables and returns a table, a number or a sentence. Where a statistic needs
more runs than a study holds, the sentence says so instead of showing ``nan``.

Book side only: pandas, NumPy and SciPy, never torch (labels are read with
:func:`pepr.data.registry.split_labels`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pepr.core import paths
from pepr.core.errors import PeprError
from pepr.core.settings import RANK_SCORE_NAMES
from pepr.core.text import hardware_text, listing, plural  # noqa: F401 (report.plural, report.listing: callers)
from pepr.scoring import score, verdicts
from pepr.store import results

#: Scores a report may rank by, and how the report names each (written once, in settings).
RANK_SCORES: dict[str, str] = RANK_SCORE_NAMES


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
        "hardware": sorted({hardware_text(h) for h in ok["hardware"].dropna()}),
        "energy_methods": sorted(ok["energy_method"].dropna().unique()),
        "threads": sorted(int(t) for t in ok["threads"].dropna().unique()),
    }


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
        noun = "thread" if s["threads"] == [1] else "threads"
        threads = f" with {listing(s['threads'])} {noun} per run" if s["threads"] else ""
        parts.append(f"Hardware as each row recorded it: {listing(s['hardware'])}{threads}.")
    return " ".join(parts)


def study_complete(summary: Mapping[str, object]) -> bool:
    """True when every run the study file plans has a row (finished, failed or skipped)."""
    return bool(summary["planned"]) and summary["runs"] >= summary["planned"]


def progress_sentence(summary: Mapping[str, object]) -> str:
    """How far the grid got, in the tense that fits (:func:`grid_summary`): a complete study is
    said to be complete; one that is not says its rows were counted when the page was built."""
    s = summary
    rest = listing([*([f"{s['skipped']:,} not run (skipped, the reason in each row)"] if s["skipped"] else []),
                    *([f"{s['failed']:,} failed"] if s["failed"] else [])])
    if study_complete(s):
        return (f"the study is complete: each of its {plural(s['planned'], 'planned run')} has a row, "
                f"{s['ok']:,} finished" + (f", {rest}" if rest else ""))
    if not s["planned"]:  # no study file: no grid to be part of
        return f"{plural(s['ok'], 'run')} finished" + (f", {rest}" if rest else "")
    return (f"{s['ok']:,} of the {s['planned']:,} planned runs had finished when this page was "
            f"built ({s['ok'] / s['planned']:.0%})" + (f", {rest}" if rest else "")
            + "; the study had not yet run its whole grid")


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
    :func:`pepr.scoring.verdicts.study_baselines` gives) replaces the verdicts ``scored`` carries; without
    either, they come from the test labels."""
    if baselines is not None:
        scored = verdicts.add_verdicts(scored, baselines)
    elif "above_baseline" not in scored.columns:
        scored = verdicts.add_verdicts(scored, verdicts.study_baselines(scored))
    return score.rank_within(scored, rank_by, pool)


def best_above_baseline(table: pd.DataFrame, rank_by: str, pool: Sequence[str]) -> tuple[pd.DataFrame, dict[str, int]]:
    """The best run of each pool by ``rank_by`` among the runs that beat their baseline (one
    per pool), and how many runs were set aside (:func:`pepr.scoring.verdicts.keep_above_baseline`)."""
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
    bootstrap of the test split (:func:`pepr.scoring.verdicts.top_k_small_share`), the share of small
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
        f"`{row.setting}`: {str(row.data_summary).removeprefix(f'{row.dataset}: ')}"
        for row in summaries.itertuples()) + "."  # the setting already names the dataset
