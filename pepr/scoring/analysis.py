"""Analysis and statistics for the book: pure functions from tidy frames to tidy frames or dicts.

Everything the book's notebooks compute beyond scoring lives here, so each piece has a test:
publications per capita by region, joins of model attributes and ImageNet results *by name*,
a reproduction of the release's positional attachment of model attributes, paired tests with
effect sizes and bootstrap confidence intervals, Spearman correlations with intervals, the
paper's top-5 tables (settings in the release's order, ties at the top named), the release's
repeated energy values and the rankings without them, and the robustness of top-k rankings to the
normalisation pool, the resource, the carbon-intensity assumption and the small-vs-large threshold.

Scoring itself is :mod:`pepr.score` (``add_pepr``, ``top_k``, ``pareto_front``); nothing here
reimplements it. Model names resolve through the model zoo only (:mod:`pepr.zoo`, its table
``data/zoo.csv``, which also holds each model's pretrained tag), so nothing here needs timm;
only a name outside the zoo asks the installed timm (imported lazily). Nothing here reads other
files; :func:`paper_comparisons_cached` alone keeps its result on disk (``outputs/cache``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from pepr.core.errors import BadParameterError, UnknownModelError
from pepr.data import release
from pepr.scoring.energy import JOULES_PER_KWH
from pepr.scoring.score import RESOURCES, add_pepr, top_k
from pepr.store.results import repeated_resource_groups

# ---------------------------------------------------------------------------------------------
# Chapter 1: publications per capita
# ---------------------------------------------------------------------------------------------

def publications_per_capita(tables: Mapping[str, pd.DataFrame], region: str = "Region_updated") -> pd.DataFrame:
    """Publications per million inhabitants per world region, one row per (region, year label).

    ``tables`` maps a year label to a per-country table with ``num_papers`` and ``pop``; sums are
    taken over the countries of a region first (a population-weighted rate, as in the release).
    """
    frames = []
    for label, table in tables.items():
        missing = {region, "num_papers", "pop"} - set(table.columns)
        if missing:
            raise BadParameterError(f"table {label!r} lacks column(s) {sorted(missing)}")
        summed = table.groupby(region, as_index=False)[["num_papers", "pop"]].sum()
        summed = summed.rename(columns={region: "region"})
        summed["year"] = str(label)
        summed["papers_per_million"] = summed["num_papers"] / summed["pop"] * 1e6
        frames.append(summed)
    return pd.concat(frames, ignore_index=True)


def region_label_disagreements(table: pd.DataFrame) -> int:
    """Countries whose ``Region`` differs from ``Region_updated`` (the release plots the latter)."""
    return int((table["Region"] != table["Region_updated"]).sum())


# ---------------------------------------------------------------------------------------------
# Joins by name, and the release's positional attachment
# ---------------------------------------------------------------------------------------------

def attach_by_name(runs: pd.DataFrame, models: pd.DataFrame, columns: Sequence[str] = ("type", "efficient")) -> pd.DataFrame:
    """``runs`` with model attributes joined on the model name (never by row position).

    Attribute columns already in ``runs`` are replaced. Every run must find its model.
    """
    attributes = models.drop_duplicates("model").set_index("model")[list(columns)]
    out = runs.drop(columns=[c for c in columns if c in runs.columns]).join(attributes, on="model")
    unmatched = out.loc[out[list(columns)].isna().all(axis=1), "model"].unique()
    if len(unmatched):
        raise BadParameterError(f"models without attributes: {', '.join(map(str, unmatched[:5]))}")
    return out


def model_means(runs: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Mean of ``columns`` per model over all settings (the release's ``groupby('model').mean()``)."""
    return runs.groupby("model", as_index=False)[list(columns)].mean()


def positional_attachment(raw_results: pd.DataFrame, model_names: pd.DataFrame, attribute: str = "efficient") -> pd.DataFrame:
    """Reproduce how the release's ``paper_plots.py`` attached ``attribute`` to its points.

    The release averages ``all_results`` per model with ``groupby('model')`` (rows then sorted by
    name) and colours each point with ``hue=models.efficient`` taken from ``model_names.csv``, which
    is sorted by parameter count: row *i*'s colour belongs to whichever model is *i*-th in the other
    file. Returns one row per plotted point: the model, the model whose attribute it received, the
    attribute it was drawn with, the true one (joined by name) and ``wrong``.
    """
    plotted = raw_results.groupby("model", as_index=False)["num_param"].mean()
    names = model_names.drop_duplicates("model").reset_index(drop=True)
    if len(names) != len(plotted):
        raise BadParameterError("the two tables list different numbers of models")
    truth = names.set_index("model")[attribute]
    out = pd.DataFrame({
        "model": plotted["model"],
        "attached_from": names["model"],
        f"{attribute}_drawn": names[attribute].to_numpy(),
        f"{attribute}_true": plotted["model"].map(truth).to_numpy(),
    })
    out["wrong"] = out[f"{attribute}_drawn"] != out[f"{attribute}_true"]
    return out


def positional_pairing(raw_results: pd.DataFrame, first: str, second: str) -> pd.DataFrame:
    """How the release paired two settings by row position: the models side by side per row."""
    a = raw_results.loc[raw_results["dataset"] == first, "model"].reset_index(drop=True)
    b = raw_results.loc[raw_results["dataset"] == second, "model"].reset_index(drop=True)
    return pd.DataFrame({first: a, second: b, "same_model": a == b})


# ---------------------------------------------------------------------------------------------
# ImageNet results: exact join vs the release's substring join
# ---------------------------------------------------------------------------------------------

def imagenet_names(models: Iterable[str], default_tag: Callable[[str], str | None] | None = None,
                   resolve: Callable[[str], str] | None = None) -> pd.DataFrame:
    """The ``arch.tag`` name under which timm publishes each model's ImageNet result.

    The model zoo is the only name resolver: a paper name becomes its zoo ``timm_name``
    (:func:`pepr.zoo.zoo_row`: timm's deprecation aliases and the zoo's own renames,
    :data:`pepr.zoo.EXTRA_RENAMES`) and takes the zoo's ``pretrained_tag`` (the name's own tag,
    else timm's default for the architecture, recorded when the zoo was measured), with no timm.
    Any other name needs timm: with ``resolve`` (the training side's
    :func:`pepr.training.nets.resolve_model_name`) it is resolved and, without a tag of its own,
    takes the tag ``default_tag`` gives (:func:`pepr.training.nets.pretrained_tag`); without,
    it is "not in the zoo". Columns: ``model``,
    ``timm_name``, ``imagenet_name`` (``None`` when unknown) and ``how`` the name was found.
    """
    from pepr.data import zoo

    rows = []
    for model in models:
        row = zoo.zoo_row(model)
        if row is not None:
            renamed_by = row["renamed_by"]
            timm_name = str(row["timm_name"])
            how = f"zoo, renamed ({renamed_by})" if isinstance(renamed_by, str) and renamed_by else "zoo, same name"
            stored = row.get("pretrained_tag")
            tag = str(stored) if isinstance(stored, str) and stored else None
        elif resolve is None:
            rows.append({"model": model, "timm_name": None, "imagenet_name": None,
                         "how": "not in the zoo (resolving it needs timm)"})
            continue
        else:
            try:
                timm_name, how = resolve(model), "timm name outside the zoo"
            except UnknownModelError:
                rows.append({"model": model, "timm_name": None, "imagenet_name": None, "how": "unknown model"})
                continue
            tag = None if "." in timm_name or default_tag is None else default_tag(timm_name)
        imagenet_name: str | None = timm_name
        if "." not in timm_name:
            imagenet_name = f"{timm_name}.{tag}" if tag else None
            how += "; default pretrained tag" if tag else "; no pretrained tag in timm"
        rows.append({"model": model, "timm_name": timm_name, "imagenet_name": imagenet_name, "how": how})
    return pd.DataFrame(rows, columns=["model", "timm_name", "imagenet_name", "how"])


def join_imagenet_exact(names: pd.DataFrame, imagenet: pd.DataFrame) -> pd.DataFrame:
    """ImageNet ``top1``/``top5`` per model, joined on the exact ``arch.tag`` name (NaN if absent).

    ``names`` comes from :func:`imagenet_names`. timm's table lists some names once per test
    resolution, best first; the first (best) row of a name is the one joined, as in the release.
    """
    table = imagenet.drop_duplicates("model").set_index("model")[["top1", "top5"]]
    out = names.join(table, on="imagenet_name")
    return out


def join_imagenet_substring(models: Iterable[str], imagenet: pd.DataFrame) -> pd.DataFrame:
    """The release's join: the first ImageNet row whose name *contains* the model name.

    ``results-imagenet.csv`` is sorted by top-1, so a short name (``resnet18``) picks up the best
    model that contains it (``seresnet18``, ``resnet18d.ra4...``) rather than itself.
    """
    rows = []
    for model in models:
        hits = imagenet.index[imagenet["model"].str.contains(model, regex=False)]
        if len(hits):
            hit = imagenet.loc[hits[0]]
            rows.append({"model": model, "matched": hit["model"], "top1": hit["top1"], "top5": hit["top5"]})
        else:
            rows.append({"model": model, "matched": None, "top1": np.nan, "top5": np.nan})
    return pd.DataFrame(rows)


def compare_imagenet_joins(exact: pd.DataFrame, substring: pd.DataFrame) -> pd.DataFrame:
    """Side by side: the exact and the substring match per model, and whether they differ."""
    out = exact[["model", "imagenet_name", "top1"]].merge(
        substring[["model", "matched", "top1"]].rename(columns={"top1": "top1_substring", "matched": "substring_match"}),
        on="model",
    )
    both_missing = out["imagenet_name"].isna() & out["substring_match"].isna()
    out["differs"] = (out["imagenet_name"] != out["substring_match"]) & ~both_missing
    return out


@dataclass(frozen=True)
class ImagenetJoins:
    """The release's models joined to timm's ImageNet results both ways (:func:`imagenet_joins`).

    ``names``: :func:`imagenet_names` (the zoo's names and tags); ``exact``:
    :func:`join_imagenet_exact`; ``substring``: the release's :func:`join_imagenet_substring`;
    ``compared``: :func:`compare_imagenet_joins`, one row per model.
    """

    names: pd.DataFrame
    exact: pd.DataFrame
    substring: pd.DataFrame
    compared: pd.DataFrame

    def summary(self) -> dict[str, object]:
        """The counts the book cites about the two joins.

        ``models``; ``renamed`` (the zoo's timm name differs from the paper's) and ``zoo_renames``
        (paper name -> timm name, the renames the zoo adds to timm's own aliases,
        :data:`pepr.zoo.EXTRA_RENAMES`); ``matched_exact`` and ``unmatched_exact`` (names without a
        result); ``differs`` (the two joins pick different rows), ``top1_changed`` and ``max_gap``
        (largest top-1 difference, points); ``unmatched_substring``; and ``example_model`` /
        ``example_match``: the first model whose substring match is another architecture.
        """
        from pepr.data import zoo

        compared, names = self.compared, self.names
        matched = compared["top1"].notna()
        architecture = compared["imagenet_name"].str.split(".").str[0]
        other = compared[compared["substring_match"].notna() & matched
                         & (compared["substring_match"].str.split(".").str[0] != architecture)]
        models = set(names["model"])
        return {
            "models": len(compared),
            "renamed": int((names["timm_name"] != names["model"]).sum()),
            "zoo_renames": {model: name for model, name in zoo.EXTRA_RENAMES.items() if model in models},
            "matched_exact": int(matched.sum()),
            "unmatched_exact": list(compared.loc[~matched, "model"]),
            "differs": int(compared["differs"].sum()),
            "top1_changed": int(((compared["top1"] - compared["top1_substring"]).abs() > 0).sum()),
            "max_gap": float((compared["top1_substring"] - compared["top1"]).abs().max()),
            "unmatched_substring": int(compared["top1_substring"].isna().sum()),
            "example_model": other["model"].iloc[0] if len(other) else None,
            "example_match": other["substring_match"].iloc[0] if len(other) else None,
        }


def imagenet_joins(models: Iterable[str], imagenet: pd.DataFrame,
                   default_tag: Callable[[str], str | None] | None = None,
                   resolve: Callable[[str], str] | None = None) -> ImagenetJoins:
    """Join ``models`` to timm's ImageNet table by exact name through the zoo, and as the release
    did, by substring; the one entry point the chapters use (the zoo is the only name resolver)."""
    models = list(models)
    names = imagenet_names(models, default_tag=default_tag, resolve=resolve)
    exact = join_imagenet_exact(names, imagenet)
    substring = join_imagenet_substring(models, imagenet)
    return ImagenetJoins(names, exact, substring, compare_imagenet_joins(exact, substring))


def imagenet_pepr_m(runs: pd.DataFrame, joined: pd.DataFrame, setting: str = "derma_pt",
                    missing_top1: float | None = None) -> pd.DataFrame:
    """The paper's ImageNet score: PePR-M with timm's top-1 as P and the memory of ``setting`` as R.

    ``joined`` holds ``model`` and ``top1`` (in percent), from :func:`join_imagenet_exact` or
    :func:`join_imagenet_substring`; the runs of ``setting`` gain ``imagenet_top1`` (a fraction)
    and are scored within the setting. A model without a top-1 keeps P = NaN and so no score,
    unless ``missing_top1`` fills it in (the release scored such models with 0).
    """
    frame = runs[runs["setting"] == setting].merge(joined[["model", "top1"]], on="model")
    top1 = frame["top1"] if missing_top1 is None else frame["top1"].fillna(missing_top1)
    frame["imagenet_top1"] = top1 / 100
    return add_pepr(frame, resources={"m": "peak_mem_gb"}, performance="imagenet_top1")


# ---------------------------------------------------------------------------------------------
# Statistics: paired tests, effect sizes, bootstrap intervals, rank correlation
# ---------------------------------------------------------------------------------------------

#: The paper's two paired comparisons (:data:`pepr.release.COMPARISONS`): a label -> the settings
#: of arm ``a`` and of arm ``b``; an arm of several settings is each model's mean over them.
PAPER_COMPARISONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = release.COMPARISONS


def paired_comparison(a: pd.Series, b: pd.Series, n_resamples: int = 9999, seed: int = 0) -> dict[str, float]:
    """Compare two arms measured on the same models (Series indexed by model name).

    Pairs are formed by name. Returns the release's unpaired t-test (``ttest_ind``) beside the
    paired t-test, the Wilcoxon signed-rank test, the mean paired difference ``a - b`` with a
    BCa bootstrap 95 % CI, and Cohen's d_z (mean difference / SD of differences).
    """
    paired = pd.concat({"a": a, "b": b}, axis=1, join="inner").dropna()
    if len(paired) < 3:
        raise BadParameterError("need at least three models measured in both arms")
    diff = (paired["a"] - paired["b"]).to_numpy()
    interval = stats.bootstrap((diff,), np.mean, n_resamples=n_resamples, confidence_level=0.95,
                               method="BCa", random_state=np.random.default_rng(seed)).confidence_interval
    return {
        "n_pairs": int(len(paired)),
        "mean_a": float(paired["a"].mean()),
        "mean_b": float(paired["b"].mean()),
        "mean_diff": float(diff.mean()),
        "mean_diff_ci_low": float(interval.low),
        "mean_diff_ci_high": float(interval.high),
        "cohen_dz": float(diff.mean() / diff.std(ddof=1)),
        "share_a_better": float((diff > 0).mean()),
        "p_ttest_ind": float(stats.ttest_ind(paired["a"], paired["b"]).pvalue),
        "p_ttest_rel": float(stats.ttest_rel(paired["a"], paired["b"]).pvalue),
        "p_wilcoxon": float(stats.wilcoxon(paired["a"], paired["b"]).pvalue),
    }


def comparison_arms(scored: pd.DataFrame, performance: str = "test_acc",
                    comparisons: Mapping[str, tuple[Sequence[str], Sequence[str]]] = PAPER_COMPARISONS,
                    ) -> dict[str, tuple[pd.Series, pd.Series]]:
    """Per comparison, the two arms as Series of ``performance`` indexed by model name."""
    wide = scored.pivot(index="model", columns="setting", values=performance)
    return {label: (wide[list(a)].mean(axis=1), wide[list(b)].mean(axis=1)) for label, (a, b) in comparisons.items()}


def paper_comparisons(scored: pd.DataFrame, performance: str = "test_acc",
                      comparisons: Mapping[str, tuple[Sequence[str], Sequence[str]]] = PAPER_COMPARISONS,
                      n_resamples: int = 9999, seed: int = 0) -> pd.DataFrame:
    """One row per comparison (in the order given): its label and :func:`paired_comparison`."""
    arms = comparison_arms(scored, performance, comparisons)
    return pd.DataFrame([{"comparison": label, **paired_comparison(a, b, n_resamples, seed)}
                         for label, (a, b) in arms.items()])


def paper_comparisons_cached(scored: pd.DataFrame, performance: str = "test_acc", n_resamples: int = 9999,
                             seed: int = 0, root: Path | str | None = None) -> pd.DataFrame:
    """:func:`paper_comparisons` of the paper's comparisons, computed once for the data they read.

    Two chapters cite these bootstrap results; :func:`pepr.core.cache.cached_frame` keeps them under
    ``outputs/cache/``, keyed by a hash of the arms' values (model, setting, ``performance``), the
    comparisons, ``n_resamples`` and ``seed``, so a build computes them once and new data or
    parameters compute them again; the source of the functions that compute them is part of the
    key too, so a change to the statistics is never served from an old file. The one function here
    that touches a file.
    """
    import inspect

    from pepr.core.cache import cached_frame

    code = [inspect.getsource(function) for function in (paper_comparisons, comparison_arms, paired_comparison)]
    inputs = (scored[["model", "setting", performance]], PAPER_COMPARISONS, performance, n_resamples, seed, code)
    return cached_frame("paper-comparisons",
                        lambda: paper_comparisons(scored, performance, PAPER_COMPARISONS, n_resamples, seed),
                        inputs, root=root)


def _spearman_statistic(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Spearman's rho along ``axis`` (vectorised for the bootstrap): Pearson's r of the ranks."""
    rx = stats.rankdata(x, axis=axis)
    ry = stats.rankdata(y, axis=axis)
    rx = rx - rx.mean(axis=axis, keepdims=True)
    ry = ry - ry.mean(axis=axis, keepdims=True)
    return (rx * ry).sum(axis=axis) / np.sqrt((rx**2).sum(axis=axis) * (ry**2).sum(axis=axis))


def spearman_ci(x: pd.Series | np.ndarray, y: pd.Series | np.ndarray, n_resamples: int = 4999, seed: int = 0) -> dict[str, float]:
    """Spearman's rho with its p-value and a paired percentile-bootstrap 95 % CI.

    In a resample where one side is constant, rho is undefined; that happens when few pairs
    share many tied values (models that all predict the majority class score the same). The
    percentile of a distribution with undefined members is undefined too, so the interval is
    then NaN, quietly: a caller says "no interval" (:func:`pepr.report.rho_text`) rather than
    scipy's warnings reaching a page."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    if len(x) < 4:
        raise BadParameterError("need at least four pairs for a rank correlation with an interval")
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        warnings.simplefilter("ignore", stats.ConstantInputWarning)  # rho is NaN: one side constant
        result = stats.spearmanr(x, y)
        interval = stats.bootstrap((x, y), _spearman_statistic, paired=True, vectorized=True,
                                   n_resamples=n_resamples, method="percentile",
                                   random_state=np.random.default_rng(seed)).confidence_interval
    return {"n": int(len(x)), "rho": float(result.statistic), "p": float(result.pvalue),
            "ci_low": float(interval.low), "ci_high": float(interval.high)}


def size_correlations(per_model: pd.DataFrame, columns: Sequence[str] = ("test_acc", "pepr_e"),
                      size: str = "num_params") -> pd.DataFrame:
    """Spearman's rho with its interval between model size and each of ``columns``, one row each.

    A rank correlation is unchanged by a monotone transform, so the size is used as it is (the
    paper's figures put it on a log axis, which gives the same rho).
    """
    return pd.DataFrame([{"pair": f"parameters vs {column}", **spearman_ci(per_model[size], per_model[column])}
                         for column in columns])


# ---------------------------------------------------------------------------------------------
# Tables of the paper
# ---------------------------------------------------------------------------------------------

def setting_order(runs: pd.DataFrame, column: str = "setting") -> list[str]:
    """The settings in the order of their first row (for the release: as ``all_results.csv`` lists them)."""
    return list(dict.fromkeys(runs[column]))


def top_k_with_best(scored: pd.DataFrame, score: str = "pepr_e", k: int = 5,
                    performance: str = "test_acc", by: Sequence[str] = ("setting",)) -> pd.DataFrame:
    """The paper's table: the top ``k`` by ``score`` per group, then the most accurate model.

    The last row of each group (``row == 'most accurate'``) is the best run by ``performance``;
    it may repeat one of the top ``k``. Of runs tied on ``performance`` it is the first in
    ``scored``'s order, and ``tied_with`` names the others (empty when there is no tie). Groups
    come in the order of their first row in ``scored``, not alphabetically.
    """
    by = list(by)
    position = scored.groupby(by, sort=False).ngroup().rename("_group")
    frame = scored.join(position)
    top = top_k(frame, score, k=k, by=by)
    top["row"] = top["rank"].astype(str)
    top["tied_with"] = ""
    best = top_k(frame, performance, k=1, by=by)
    best["row"] = "most accurate"
    ties = ties_at_top(frame, performance, by=by)
    others = {tuple(row[by]): [m for m in row["models"] if m != row["listed_first"]] for _, row in ties.iterrows()}
    best["tied_with"] = [", ".join(others.get(tuple(key), [])) for key in best[by].itertuples(index=False)]
    both = pd.concat([top, best], ignore_index=True)
    both["_order"] = both["row"].eq("most accurate")
    both = both.sort_values(["_group", "_order", "rank"], kind="stable")
    return both.drop(columns=["_order", "_group"]).reset_index(drop=True)


def ties_at_top(frame: pd.DataFrame, column: str, by: Sequence[str] = ("setting",),
                label: str = "model") -> pd.DataFrame:
    """Groups whose best value of ``column`` is shared by several rows, one row per group.

    Columns: the ``by`` columns, ``value`` (the shared best), ``models`` (the tied rows' labels in
    ``frame``'s order: for the release, the order of ``all_results.csv``) and ``listed_first``
    (the first of them, which a stable sort such as :func:`pepr.score.top_k` lists). Values tie
    when they are equal, as accuracies counted over the same test set are.
    """
    by = list(by)
    best = frame.groupby(by, sort=False)[column].transform("max")
    at_top = frame[frame[column].eq(best) & frame[column].notna()]
    rows = []
    for key, group in at_top.groupby(by, sort=False):
        if len(group) > 1:
            key = key if isinstance(key, tuple) else (key,)
            rows.append({**dict(zip(by, key)), "value": group[column].iloc[0],
                         "models": list(group[label]), "listed_first": group[label].iloc[0]})
    return pd.DataFrame(rows, columns=[*by, "value", "models", "listed_first"])


def top_table_notes(top: pd.DataFrame, flag: str = "flag_stale_resources",
                    repeated_note: str = "energy repeated") -> pd.Series:
    """A note per row of :func:`top_k_with_best`'s table: ``repeated_note`` where ``flag`` marks
    the run (its energy repeats another setting's, see :func:`pepr.results.stale_resource_mask`;
    an empty ``repeated_note`` leaves those rows to another mark, :func:`mark_rows`), and
    ``tied on P with ...`` where the most accurate run shares its performance."""
    notes = []
    for repeated, tied in zip(top[flag].fillna(False).astype(bool), top["tied_with"].fillna("")):
        parts = ([repeated_note] if repeated and repeated_note else []) + ([f"tied on P with {tied}"] if tied else [])
        notes.append("; ".join(parts))
    return pd.Series(notes, index=top.index, name="note")


def mark_rows(labels: pd.Series, marked: pd.Series, mark: str = "\u2020") -> pd.Series:
    """``labels`` with `` <mark>`` appended where ``marked`` is true (a table's footnote sign,
    by default a dagger), e.g. the models of a top-5 table whose energy is repeated."""
    flags = marked.fillna(False).astype(bool)
    return labels.where(~flags, labels.astype(str) + f" {mark}")


def setting_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per setting, in the order of its first run: ``setting``, ``dataset``, ``start``
    (ImageNet weights or from scratch), ``data_fraction`` (share of the training set) and
    ``models``. Raises :class:`BadParameterError` when a setting mixes datasets, starts or data
    fractions, or trains a model more than once (the book says each model ran once per setting)."""
    table = runs.groupby(["setting", "dataset", "pretrained", "data_fraction"], as_index=False, sort=False).agg(
        models=("model", "nunique"), runs=("model", "size"))
    if not table["setting"].is_unique:
        raise BadParameterError("a setting mixes datasets, starts or data fractions")
    if not table["models"].eq(table["runs"]).all():
        raise BadParameterError("a setting trains a model more than once")
    table["start"] = np.where(table["pretrained"].astype(bool), "ImageNet weights", "from scratch")
    return table[["setting", "dataset", "start", "data_fraction", "models"]]


def setting_summary(scored: pd.DataFrame, score: str = "pepr_e", performance: str = "test_acc") -> pd.DataFrame:
    """One row per setting (in the order of their first run): size, performance range, energy, and
    the best model by P and by PePR.

    Where ``scored`` carries verdicts (``above_baseline``, :mod:`pepr.verdicts`), two more columns
    say whether the best by PePR beats its majority-class baseline (``beats baseline``: True,
    False, or NA where the baseline is unknown; ``most accurate beats baseline`` the same of the
    most accurate) and which run is best among those that do
    (``best above baseline``: None where none does), so a summary cannot crown a constant
    classifier unmarked.
    """
    rows = []
    for setting, group in scored.groupby("setting", sort=False):
        best_p = group.loc[group[performance].idxmax()]
        best_s = group.loc[group[score].idxmax()]
        verdict = {}
        if "above_baseline" in group:
            above = group[group["above_baseline"].eq(True)]
            verdict = {"beats baseline": best_s["above_baseline"],
                       "most accurate beats baseline": best_p["above_baseline"],
                       "best above baseline": above.loc[above[score].idxmax(), "model"] if len(above) else None}
        rows.append({
            "setting": setting,
            "models": len(group),
            "median P": group[performance].median(),
            "max P": group[performance].max(),
            "total energy (kWh)": group["energy_kwh"].sum(),
            "most accurate": best_p["model"],
            "its params (M)": best_p["num_params"] / 1e6,
            f"best by {score}": best_s["model"],
            "params (M)": best_s["num_params"] / 1e6,
            "P": best_s[performance],
            score: best_s[score],
            **verdict,
        })
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# The release's repeated energy values, and rescoring without them
# ---------------------------------------------------------------------------------------------

#: How :func:`without_repeated_values` treats each group of repeated values: drop every row of
#: it, or keep the one row that trained on the largest share of its data (ties: the first
#: setting in the release's order).
REPEATED_VALUE_RULES: tuple[str, ...] = ("drop all", "keep one")


def repeated_value_groups(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per group of runs that share their (model, energy, CO2) across settings.

    Groups are :func:`pepr.results.repeated_resource_groups`. Columns: ``group``, ``model``,
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
    :func:`pepr.score.add_pepr`; ``changes``: :func:`top_k_changes`; ``side_by_side``:
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
    """Each variant's label and ``runs`` scored by it (:func:`pepr.score.add_pepr`, as ``pepr_x``).

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
    ``runs`` with :func:`pepr.score.add_pepr` normalising over its pool and ranks within a setting.
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
