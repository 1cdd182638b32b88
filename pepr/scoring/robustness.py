"""How robust the rankings are: the release's repeated energy values and the rankings without them, variants of the resource and the pool, CO2 intensities, size thresholds, and our reruns against the release."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from pepr.core.errors import BadParameterError
from pepr.scoring.analysis import setting_order
from pepr.scoring.energy import JOULES_PER_KWH
from pepr.scoring.score import RESOURCES, add_pepr, top_k
from pepr.store.results import repeated_resource_groups

# ---------------------------------------------------------------------------------------------
# The release's repeated energy values, and rescoring without them
# ---------------------------------------------------------------------------------------------

#: How :func:`without_repeated_values` treats each group of repeated values: drop every row of
#: it, or keep the one row that trained on the largest share of its data (ties: the first
#: setting in the release's order).
REPEATED_VALUE_RULES: tuple[str, ...] = ("drop all", "keep one")


def repeated_value_groups(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per group of runs that share their (model, energy, CO2) across settings.

    Groups are :func:`pepr.store.results.repeated_resource_groups`. Columns: ``group``, ``model``,
    ``energy_kwh``, ``co2_g``, ``rows``, ``settings`` (in ``runs``' order), ``kept_setting`` (the
    row that :func:`without_repeated_values` keeps under ``"keep one"``), ``tied_settings`` (the
    settings that trained on the group's largest share of their data, in ``runs``' order: when
    there are several, the first is kept) and ``same_data_tie`` (two of those trained on the same
    dataset, so on the very same data: the choice between them is arbitrary).
    """
    groups = repeated_resource_groups(runs)
    repeated = runs.loc[groups.notna()].assign(group=groups.dropna().astype(int))
    kept = repeated.loc[_kept_rows(runs).reindex(repeated.index, fill_value=False)]
    table = repeated.groupby("group", sort=True).agg(
        model=("model", "first"), energy_kwh=("energy_kwh", "first"), co2_g=("co2_g", "first"),
        rows=("setting", "size"), settings=("setting", list))
    table["kept_setting"] = kept.set_index("group")["setting"]
    largest = repeated.groupby("group")["data_fraction"].transform("max")
    tied = repeated[repeated["data_fraction"] == largest].groupby("group")
    table["tied_settings"] = tied["setting"].agg(list)
    table["same_data_tie"] = tied["dataset"].agg(lambda datasets: datasets.duplicated().any())
    return table.reset_index()


def repeated_value_counts(runs: pd.DataFrame) -> dict[str, int]:
    """How many rows rest on a repeated (model, energy, CO2) and how many of them are copies.

    ``rows``: rows whose values another setting repeats; ``groups``: distinct repeated values. In
    a group at most one row can be the original measurement, so ``min_copies = rows - groups``
    rows are copies whichever is the original; ``max_copies = rows`` when no group holds its
    original (its values came from a run outside it). ``largest_group``/``smallest_group``: rows
    in the biggest and smallest group.
    """
    groups = repeated_resource_groups(runs).dropna()
    sizes = groups.value_counts()
    rows, count = int(len(groups)), int(len(sizes))
    return {"rows": rows, "groups": count, "min_copies": rows - count, "max_copies": rows,
            "largest_group": int(sizes.max()) if count else 0, "smallest_group": int(sizes.min()) if count else 0}


def _kept_rows(runs: pd.DataFrame) -> pd.Series:
    """Per row, whether it stays under ``"keep one"``: unrepeated rows, and in each group of
    repeated values the row with the largest ``data_fraction`` (ties: first setting in ``runs``)."""
    groups = repeated_resource_groups(runs)
    position = runs["setting"].map({s: i for i, s in enumerate(setting_order(runs))})
    candidates = pd.DataFrame({"group": groups, "fraction": runs["data_fraction"], "position": position})
    candidates = candidates[groups.notna()].sort_values(["group", "fraction", "position"],
                                                        ascending=[True, False, True], kind="stable")
    chosen = candidates.groupby("group").head(1).index
    return groups.isna() | runs.index.isin(chosen)


def without_repeated_values(runs: pd.DataFrame, rule: str = "drop all") -> pd.DataFrame:
    """``runs`` less the rows that rest on a value repeated from another setting.

    ``"drop all"`` removes every row of every group (treats them all as possible copies);
    ``"keep one"`` keeps one row per group: the setting that trained on the largest share of its
    data (energy grows with the data trained on, so a value shared with a setting of less data is
    the one that cannot be its own), ties broken by the first setting in ``runs``' order (the
    release's). The truth lies between the two: at least one row per group is a copy either way.
    """
    if rule not in REPEATED_VALUE_RULES:
        raise BadParameterError(f"rule must be one of {REPEATED_VALUE_RULES}, not {rule!r}")
    keep = repeated_resource_groups(runs).isna() if rule == "drop all" else _kept_rows(runs)
    return runs.loc[keep.to_numpy()]


def top_k_changes(scored: Mapping[str, pd.DataFrame], baseline: str, score: str = "pepr_e", k: int = 5,
                  by: str = "setting") -> pd.DataFrame:
    """How the top ``k`` by ``score`` per ``by`` changes from the ``baseline`` scoring to each other one.

    ``scored`` maps a label to a scored table (e.g. the release, and the release rescored
    without its repeated values). One row per non-baseline label and group, groups in the
    baseline's order: its winner, whether that is the baseline's, how many of the baseline's top
    ``k`` stay, and the models that enter and leave (in rank order).
    """
    if baseline not in scored:
        raise BadParameterError(f"no scoring labelled {baseline!r}")
    tops = {label: top_k(table, score, k=k, by=[by]) for label, table in scored.items()}
    base = {key: list(group["model"]) for key, group in tops[baseline].groupby(by, sort=False)}
    order = setting_order(scored[baseline], by)
    rows = []
    for label, top in tops.items():
        if label == baseline:
            continue
        now = {key: list(group["model"]) for key, group in top.groupby(by, sort=False)}
        for key in order:
            before, after = base.get(key, []), now.get(key, [])
            rows.append({"scoring": label, by: key, "winner": after[0] if after else None,
                         "same_winner": bool(after and before and after[0] == before[0]),
                         "kept": len(set(before) & set(after)), "k": len(before),
                         "entered": [m for m in after if m not in before],
                         "left": [m for m in before if m not in after]})
    return pd.DataFrame(rows)


def top_k_side_by_side(scored: Mapping[str, pd.DataFrame], baseline: str, score: str = "pepr_e", k: int = 5,
                       by: str = "setting", new_mark: str = " (new)") -> pd.DataFrame:
    """The top ``k`` by ``score`` under each scoring side by side: one row per group and rank, one
    column of model names per label of ``scored``, groups in the baseline's order. A model that is
    not in the baseline's top ``k`` of its group carries ``new_mark``."""
    if baseline not in scored:
        raise BadParameterError(f"no scoring labelled {baseline!r}")
    order = setting_order(scored[baseline], by)
    tops = {label: top_k(table, score, k=k, by=[by]).set_index([by, "rank"])["model"] for label, table in scored.items()}
    base = tops[baseline].groupby(level=by).agg(set)
    index = pd.MultiIndex.from_product([order, range(1, k + 1)], names=[by, "rank"])
    out = pd.DataFrame(index=index)
    for label, models in tops.items():
        column = models.reindex(index)
        if label != baseline:
            is_new = [isinstance(m, str) and m not in base.get(key, set()) for (key, _), m in column.items()]
            column = column.where(~np.array(is_new), column + new_mark)
        out[label] = column
    return out.reset_index()


@dataclass(frozen=True)
class RepeatedValueRescoring:
    """The release's rankings rescored without its repeated energy values
    (:func:`rescore_without_repeated_values`).

    ``counts``: :func:`repeated_value_counts`; ``groups``: :func:`repeated_value_groups`;
    ``scored``: the baseline and each rule of :data:`REPEATED_VALUE_RULES` scored by
    :func:`pepr.scoring.score.add_pepr`; ``changes``: :func:`top_k_changes`; ``side_by_side``:
    :func:`top_k_side_by_side`; ``per_setting``: per setting (in the runs' order) the rows that
    rest on a repeated value, how many of them are in the baseline's top ``k``, how many
    ``"keep one"`` keeps, and how many top-``k`` places each rule keeps; ``by_rule``: per rule the
    settings whose winner changed (``changed``), the top-``k`` places kept (``kept``) and all
    places (``places``).
    """

    counts: dict[str, int]
    groups: pd.DataFrame
    scored: dict[str, pd.DataFrame]
    changes: pd.DataFrame
    side_by_side: pd.DataFrame
    per_setting: pd.DataFrame
    by_rule: pd.DataFrame


def rescore_without_repeated_values(runs: pd.DataFrame, score: str = "pepr_e", k: int = 5,
                                    baseline: str = "release") -> RepeatedValueRescoring:
    """Score ``runs`` as they are (``baseline``) and under each rule of
    :func:`without_repeated_values`, and compare the top ``k`` by ``score`` per setting."""
    scored = {baseline: add_pepr(runs),
              **{rule: add_pepr(without_repeated_values(runs, rule)) for rule in REPEATED_VALUE_RULES}}
    changes = top_k_changes(scored, baseline, score, k=k)
    groups = repeated_value_groups(runs)
    repeated = repeated_resource_groups(runs).notna()
    top = top_k(scored[baseline], score, k=k)
    per_setting = pd.DataFrame({
        "repeated rows": repeated.groupby(runs["setting"]).sum(),
        f"of them in the top {k}": repeated.loc[top.index].groupby(top["setting"]).sum(),
        "kept by keep one": groups["kept_setting"].value_counts(),
        **{f"top {k} kept, {rule}": changes[changes["scoring"] == rule].set_index("setting")["kept"]
           for rule in REPEATED_VALUE_RULES},
    }).reindex(setting_order(runs)).fillna(0).astype(int).rename_axis("setting").reset_index()
    by_rule = changes.groupby("scoring", sort=False).agg(
        changed=("same_winner", lambda same: int((~same.astype(bool)).sum())),
        kept=("kept", "sum"), places=("k", "sum"))
    return RepeatedValueRescoring(
        counts=repeated_value_counts(runs), groups=groups, scored=scored, changes=changes,
        side_by_side=top_k_side_by_side(scored, baseline, score, k=k), per_setting=per_setting, by_rule=by_rule)


# ---------------------------------------------------------------------------------------------
# Robustness of the rankings
# ---------------------------------------------------------------------------------------------

def _variant_scores(runs: pd.DataFrame, variants: Mapping[str, Mapping[str, object]],
                    performance: str) -> Iterable[tuple[str, pd.DataFrame]]:
    """Each variant's label and ``runs`` scored by it (:func:`pepr.scoring.score.add_pepr`, as ``pepr_x``).

    ``variants`` maps a label to ``{"resource": column, "pool": [columns]}``; the pool defaults to
    the paper's (the setting).
    """
    for label, spec in variants.items():
        yield label, add_pepr(runs, resources={"x": str(spec["resource"])}, performance=performance,
                              pool=list(spec.get("pool", ["setting"])))


def ranking_variants(runs: pd.DataFrame, variants: Mapping[str, Mapping[str, object]], k: int = 5,
                     performance: str = "test_acc") -> pd.DataFrame:
    """Top-``k`` models per setting under each scoring variant, long format.

    ``variants`` maps a label to ``{"resource": column, "pool": [columns]}``; each variant scores
    ``runs`` with :func:`pepr.scoring.score.add_pepr` normalising over its pool and ranks within a setting.
    """
    frames = []
    for label, scored in _variant_scores(runs, variants, performance):
        top = top_k(scored, "pepr_x", k=k, by=["setting"])
        frames.append(top[["setting", "rank", "model", "pepr_x"]].assign(variant=label))
    return pd.concat(frames, ignore_index=True)


def overlap_with_baseline(tops: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Per setting and variant: how many of the baseline's top-k models stay in the top-k."""
    base = tops[tops["variant"] == baseline].groupby("setting")["model"].apply(set)
    winners = tops.sort_values("rank", kind="stable").groupby(["variant", "setting"], sort=False)["model"].first()
    rows = []
    for (variant, setting), group in tops.groupby(["variant", "setting"], sort=False):
        rows.append({"variant": variant, "setting": setting, "kept": len(set(group["model"]) & base[setting]),
                     "k": len(group), "same_winner": winners[(variant, setting)] == winners[(baseline, setting)]})
    return pd.DataFrame(rows)


def rank_agreement(runs: pd.DataFrame, variants: Mapping[str, Mapping[str, object]], baseline: str,
                   performance: str = "test_acc") -> pd.DataFrame:
    """Kendall's tau between each variant's full ranking and the baseline's, per setting."""
    scores = {label: scored.set_index(["setting", "model"])["pepr_x"]
              for label, scored in _variant_scores(runs, variants, performance)}
    rows = []
    for label, series in scores.items():
        for setting, values in series.groupby(level="setting"):
            reference = scores[baseline].loc[values.index]
            rows.append({"variant": label, "setting": setting,
                         "kendall_tau": float(stats.kendalltau(values, reference).statistic)})
    return pd.DataFrame(rows)


def rescale_co2(runs: pd.DataFrame, intensity_by_setting: Mapping[str, float], pue: float = 1.0) -> pd.DataFrame:
    """``runs`` with ``co2_g`` recomputed as energy x PUE x an intensity fixed per setting (g/kWh).

    Within one setting this multiplies every run's energy by one constant, which min-max
    normalisation cancels; pooled across settings with different intensities it does not.
    """
    unknown = set(runs["setting"]) - set(intensity_by_setting)
    if unknown:
        raise BadParameterError(f"no intensity for setting(s) {sorted(unknown)}")
    if pue <= 0:
        raise BadParameterError("PUE must be positive")
    out = runs.copy()
    intensity = out["setting"].map(intensity_by_setting).astype(float)
    out["co2_g"] = out["energy_kwh"] * pue * intensity
    out["carbon_intensity_g_per_kwh"] = intensity
    out["pue"] = pue
    return out


def small_large_sweep(scored: pd.DataFrame, thresholds: Iterable[float], score: str = "pepr_e",
                      performance: str = "test_acc", k: int = 5) -> pd.DataFrame:
    """How the small-vs-large comparison depends on its parameter-count threshold.

    For each threshold (models with ``num_params <= threshold`` are *small*): the number of small
    models, the median performance and score of each group (over all runs), and the share of the
    per-setting top-``k`` by ``score`` that is small.
    """
    tops = top_k(scored, score, k=k, by=["setting"])
    rows = []
    for threshold in thresholds:
        small = scored["num_params"] <= threshold
        rows.append({
            "threshold": float(threshold),
            "small_models": int(scored.loc[small, "model"].nunique()),
            "median P small": scored.loc[small, performance].median(),
            "median P large": scored.loc[~small, performance].median(),
            f"median {score} small": scored.loc[small, score].median(),
            f"median {score} large": scored.loc[~small, score].median(),
            "share of top-k small": float((tops["num_params"] <= threshold).mean()),
            "share of all runs small": float(small.mean()),
        })
    return pd.DataFrame(rows)


def intensity_experiment(runs: pd.DataFrame, pue: float = 1.5, k: int = 5) -> dict[str, object]:
    """What the carbon-intensity and PUE assumptions do to PePR-C, on the release's runs.

    The release's implied intensity (``co2_g / energy_kwh``) varies from run to run. CO2 is
    recomputed (:func:`rescale_co2`) with one intensity for all settings (the runs' median) and
    with each setting's own median. Returns the implied intensity's range per run
    (``run_intensity_min``/``_max``), its ``intensity_median``, the lowest and highest setting
    median (``intensity_low``/``_high`` and their ``_setting``); ``gap_within``: the largest
    difference between normalised CO2 and normalised energy within a setting (zero up to
    rounding: a constant per setting cancels); ``gap_pue``: the largest change of PePR-C when a
    PUE of ``pue`` multiplies every run (also cancels); and, with all settings pooled for the
    normalisation, how many of the per-setting top-``k`` places by PePR-C the two intensity
    assumptions share (``kept_intensity`` of ``kept_intensity_total``).
    """
    implied = runs["co2_g"] / runs["energy_kwh"]
    settings = setting_order(runs)
    own = implied.groupby(runs["setting"]).median().reindex(settings)
    one = {setting: float(implied.median()) for setting in settings}
    uniform = rescale_co2(runs, one)
    varied = add_pepr(rescale_co2(runs, own.to_dict()))
    with_pue = add_pepr(rescale_co2(runs, own.to_dict(), pue=pue))
    pooled = pd.concat([top_k(add_pepr(frame, pool=[]), "pepr_c", k=k).assign(variant=label)
                        for label, frame in {"one intensity": uniform, "own intensity": varied}.items()])
    overlap = overlap_with_baseline(pooled, "one intensity")
    return {
        "run_intensity_min": float(implied.min()), "run_intensity_max": float(implied.max()),
        "intensity_median": float(implied.median()),
        "intensity_low": float(own.min()), "intensity_low_setting": str(own.idxmin()),
        "intensity_high": float(own.max()), "intensity_high_setting": str(own.idxmax()),
        "gap_within": float((varied["C_n"] - varied["E_n"]).abs().max()),
        "gap_pue": float((with_pue["pepr_c"] - varied["pepr_c"]).abs().max()),
        "kept_intensity": int(overlap.loc[overlap["variant"] == "own intensity", "kept"].sum()),
        "kept_intensity_total": int((pooled["variant"] == "one intensity").sum()),
    }


def size_thresholds(num_params: pd.Series, count: int = 23) -> np.ndarray:
    """``count`` parameter-count thresholds, evenly spaced on a log scale strictly between the
    smallest and the largest model (at either end one side of the split would be empty)."""
    if count < 1:
        raise BadParameterError("count must be a positive integer")
    sizes = num_params.dropna()
    if sizes.empty or (sizes <= 0).any():
        raise BadParameterError("size thresholds need at least one model, every one with a positive parameter count")
    low, high = np.log10(sizes.min()), np.log10(sizes.max())
    return np.logspace(low, high, count + 2)[1:-1]


@dataclass(frozen=True)
class ThresholdExperiment:
    """The small-vs-large comparison over a grid of thresholds (:func:`threshold_experiment`).

    ``sweep``: :func:`small_large_sweep` at each threshold of :func:`size_thresholds`;
    ``median_params``: the median model's parameter count; ``at_median``: the sweep's row at that
    threshold; ``ahead``: thresholds at which small models hold a larger share of the top-``k``
    places than of all runs.
    """

    sweep: pd.DataFrame
    median_params: float
    at_median: dict[str, float]
    ahead: int


def threshold_experiment(scored: pd.DataFrame, count: int = 23, score: str = "pepr_e", k: int = 5,
                         performance: str = "test_acc") -> ThresholdExperiment:
    """Sweep the small-vs-large threshold over :func:`size_thresholds` (top ``k`` by ``score``
    per setting), and split once at the median model size."""
    sweep = small_large_sweep(scored, size_thresholds(scored["num_params"], count), score, performance, k)
    median_params = float(scored.drop_duplicates("model")["num_params"].median())
    at_median = small_large_sweep(scored, [median_params], score, performance, k).iloc[0].to_dict()
    ahead = int((sweep["share of top-k small"] > sweep["share of all runs small"]).sum())
    return ThresholdExperiment(sweep, median_params, at_median, ahead)


def resource_variants(pools: Mapping[str, Sequence[str]] | None = None) -> dict[str, dict[str, object]]:
    """The book's scoring variants: each resource with the paper's pool, and energy with other pools."""
    variants: dict[str, dict[str, object]] = {
        f"PePR-{suffix.upper()} (per setting)": {"resource": column, "pool": ["setting"]}
        for suffix, column in RESOURCES.items()
    }
    pools = pools or {"all settings": [], "per dataset": ["dataset"]}
    for name, pool in pools.items():
        variants[f"PePR-E ({name})"] = {"resource": RESOURCES["e"], "pool": list(pool)}
    return variants


# ---------------------------------------------------------------------------------------------
# Our own reruns against baselines and against the release
# ---------------------------------------------------------------------------------------------

def implied_power_w(runs: pd.DataFrame) -> pd.Series:
    """Average power that a run's energy implies over its training time (W).

    A constant value across runs means the energy is a time-proportional estimate, not a
    measurement; for the release, whose ``train_time`` is one epoch, it comes out ~10x too high.
    """
    return runs["energy_kwh"] * JOULES_PER_KWH / runs["train_time_s"]


def concurrent_runs(runs: pd.DataFrame) -> pd.Series:
    """Per run, how many runs (itself included) were training at once at the busiest moment of it.

    A run spans ``started_at`` to ``started_at + train_time_s``; the count is taken at each start
    that falls inside the span, so 1 means the run trained alone, 2 that another one overlapped it.
    """
    start = pd.to_datetime(runs["started_at"], utc=True)
    end = start + pd.to_timedelta(runs["train_time_s"], unit="s")
    counts = []
    for begin, finish in zip(start, end):
        inside = start[(start >= begin) & (start < finish)].tolist() + [begin]
        counts.append(max(int(((start <= t) & (end > t)).sum()) for t in inside))
    return pd.Series(counts, index=runs.index, name="concurrent_runs")


def pair_with_paper(ours: pd.DataFrame, paper: pd.DataFrame, setting: str,
                    columns: Sequence[str] = ("test_acc",)) -> pd.DataFrame:
    """Our runs beside the release's runs of the same models in one of its settings, by name."""
    theirs = paper.loc[paper["setting"] == setting, ["model", *columns]]
    if theirs.empty:
        raise BadParameterError(f"the release has no setting {setting!r}")
    return ours[["model", *columns]].merge(theirs, on="model", suffixes=("", "_paper"), validate="one_to_one")
