"""The book's statistics of the paper's results: paired tests, effect sizes, bootstrap intervals and rank correlations, and the paper's tables (top five, ties, settings, the summary per setting)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from pepr.core.errors import BadParameterError
from pepr.data import release
from pepr.scoring.score import top_k

# ---------------------------------------------------------------------------------------------
# Statistics: paired tests, effect sizes, bootstrap intervals, rank correlation
# ---------------------------------------------------------------------------------------------

#: The paper's two paired comparisons (:data:`pepr.data.release.COMPARISONS`): a label -> the settings
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

    Two chapters cite these bootstrap results; joblib's :class:`~joblib.Memory`
    (:func:`pepr.core.cache.memory`) keeps them under ``outputs/cache/``, keyed by the arms'
    values (model, setting, ``performance``), the comparisons, ``n_resamples`` and ``seed``, so a
    build computes them once and new data or parameters compute them again; the source of the
    functions that compute them is part of the key too, so a change to the statistics is never
    served from an old file. The one function here that touches a file.
    """
    import inspect

    from pepr.core.cache import memory

    code = [inspect.getsource(function) for function in (paper_comparisons, comparison_arms, paired_comparison)]
    keyed = memory(root).cache(_paper_comparisons_of)
    return keyed(scored[["model", "setting", performance]], dict(PAPER_COMPARISONS), performance, n_resamples, seed, code)


def _paper_comparisons_of(arms: pd.DataFrame, comparisons: Mapping[str, tuple[Sequence[str], Sequence[str]]],
                          performance: str, n_resamples: int, seed: int, code: Sequence[str]) -> pd.DataFrame:
    """:func:`paper_comparisons` of exactly the columns it reads; ``code`` (the statistics'
    source) is only part of the cache key."""
    return paper_comparisons(arms, performance, comparisons, n_resamples, seed)


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
    then NaN, quietly: a caller says "no interval" (:func:`pepr.reporting.comparisons.rho_text`) rather than
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
    (the first of them, which a stable sort such as :func:`pepr.scoring.score.top_k` lists). Values tie
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
    the run (its energy repeats another setting's, see :func:`pepr.store.results.stale_resource_mask`;
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
