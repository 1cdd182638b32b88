"""The PePR score, its variants and the Pareto front: pure DataFrame-in/DataFrame-out functions.

PePR(R, P) = P / (1 + R), where P is a performance in [0, 1] (higher is better) and R a resource
cost min-max normalised to [0, 1] over a *pool* of runs (by default one experimental setting,
as in the paper). Properties, each covered by a test:

* PePR lies in [P/2, P]: the cheapest run of a pool keeps its full performance (R = 0) and the
  most expensive is halved (R = 1).
* It is unit-free: R is a ratio of differences, so kWh or Wh, seconds or hours, give one score.
* It depends on the pool: adding a more expensive model to the pool lowers every other R and so
  raises the others' scores. Compare scores only within one pool.
* Degenerate pools: a pool of one run, or one whose resource values are all equal, has no spread
  to normalise by; every run in it gets R = 0 (no run is costlier than another) and PePR = P.
  A missing resource (NaN) gives R = NaN and PePR = NaN; NaNs do not enter the pool's min/max.

Nothing here reads files, plots or keeps state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from pepr.core.errors import BadParameterError
from pepr.core.settings import RANK_SCORE_NAMES

#: Resource variants of the run schema: suffix -> column. ``pepr_e`` scores energy, and so on.
RESOURCES: dict[str, str] = {
    "e": "energy_kwh",
    "c": "co2_g",
    "t": "train_time_s",
    "m": "mem_gb",
}

#: The memory figure PePR-M scores (see :func:`scored_memory`).
SCORED_MEMORY = "mem_gb"

#: Further resource columns that the same score serves (model size and speed).
EXTRA_RESOURCES: dict[str, str] = {
    "p": "num_params",
    "f": "flops_per_image",
    "i": "infer_time_s",
}

DEFAULT_PERFORMANCE = "test_acc"
DEFAULT_POOL: tuple[str, ...] = ("setting",)


def minmax_normalise(values: pd.Series) -> pd.Series:
    """Min-max normalise ``values`` to [0, 1]; a pool without spread maps to 0 (see module doc)."""
    values = pd.to_numeric(values, errors="coerce").astype(float)
    low, high = values.min(), values.max()
    if not np.isfinite(high - low) or high == low:
        return values.where(values.isna(), 0.0)
    return (values - low) / (high - low)


def pepr(performance: pd.Series | np.ndarray | float, resource_normalised: pd.Series | np.ndarray | float):
    """PePR = P / (1 + R) for performance P in [0, 1] and normalised resource R in [0, 1]."""
    p = np.asarray(performance, dtype=float)
    r = np.asarray(resource_normalised, dtype=float)
    if np.any((p < 0) | (p > 1)):
        raise BadParameterError("performance must lie in [0, 1] (a rate such as accuracy or AUC)")
    if np.any((r < 0) | (r > 1)):
        raise BadParameterError("the resource must be min-max normalised to [0, 1] first")
    return performance / (1 + resource_normalised)


def normalise_within(df: pd.DataFrame, column: str, pool: Sequence[str] = DEFAULT_POOL) -> pd.Series:
    """``column`` min-max normalised within each group of ``pool`` columns (empty: whole frame)."""
    if column not in df.columns:
        raise BadParameterError(f"no column {column!r} to normalise; columns: {', '.join(df.columns)}")
    missing = [name for name in pool if name not in df.columns]
    if missing:
        raise BadParameterError(f"pool column(s) {missing} not in the table")
    if not pool:
        return minmax_normalise(df[column])
    return df.groupby(list(pool), group_keys=False, dropna=False)[column].transform(minmax_normalise)


def scored_memory(df: pd.DataFrame) -> pd.Series:
    """The memory PePR-M scores: the run's own share (``run_mem_gb``) on CPU rows that have it,
    else the process's peak (``peak_mem_gb``; GPU memory reserved in the release).

    A CPU process's peak RSS includes the interpreter and its imports (about 1.2 GB here),
    which min-max normalisation would otherwise stretch to [0, 1] when the models' own shares
    are small.
    """
    peak = pd.to_numeric(df["peak_mem_gb"], errors="coerce") if "peak_mem_gb" in df else None
    if "run_mem_gb" not in df.columns or "mem_kind" not in df.columns:
        if peak is None:
            raise BadParameterError("no memory column (peak_mem_gb or run_mem_gb) to score")
        return peak.rename(SCORED_MEMORY)
    own = pd.to_numeric(df["run_mem_gb"], errors="coerce")
    use_own = (df["mem_kind"] == "cpu-rss") & own.notna()
    base = peak if peak is not None else pd.Series(np.nan, index=df.index)
    return own.where(use_own, base).rename(SCORED_MEMORY)


def add_pepr(
    df: pd.DataFrame,
    resources: Mapping[str, str] | None = None,
    performance: str = DEFAULT_PERFORMANCE,
    pool: Sequence[str] = DEFAULT_POOL,
) -> pd.DataFrame:
    """Return a copy of ``df`` with ``<K>_n`` (normalised resource) and ``pepr_<k>`` per variant.

    ``resources`` maps a variant suffix to a resource column (default :data:`RESOURCES`, which
    gives PePR-E, -C, -T and -M); ``pool`` names the columns whose groups are normalised apart.
    """
    resources = dict(RESOURCES if resources is None else resources)
    if performance not in df.columns:
        raise BadParameterError(f"no performance column {performance!r} in the table")
    out = df.copy()
    if SCORED_MEMORY in resources.values() and SCORED_MEMORY not in out.columns:
        out[SCORED_MEMORY] = scored_memory(out)
    for suffix, column in resources.items():
        normalised = normalise_within(out, column, pool)
        out[f"{suffix.upper()}_n"] = normalised
        out[f"pepr_{suffix}"] = pepr(out[performance], normalised)
    return out


def pareto_front(df: pd.DataFrame, performance: str, resource: str) -> pd.Series:
    """Boolean mask of the runs that no other run beats on both axes.

    A run is dominated when another has performance >= and resource <= with one of them strict.
    Rows with a NaN in either column are never on the front.
    """
    p = pd.to_numeric(df[performance], errors="coerce").to_numpy(dtype=float)
    r = pd.to_numeric(df[resource], errors="coerce").to_numpy(dtype=float)
    valid = ~(np.isnan(p) | np.isnan(r))
    order = np.lexsort((-p, r))  # by resource ascending, then performance descending
    on_front = np.zeros(len(df), dtype=bool)
    best_p, best_r = -np.inf, np.nan
    for index in order:
        if not valid[index]:
            continue
        if p[index] > best_p:
            on_front[index] = True
            best_p, best_r = p[index], r[index]
        elif p[index] == best_p and r[index] == best_r:
            on_front[index] = True  # an exact tie with a front point: neither dominates
    return pd.Series(on_front, index=df.index, name=f"pareto_{resource}")


def top_k(df: pd.DataFrame, score: str, k: int = 5, by: Sequence[str] = DEFAULT_POOL) -> pd.DataFrame:
    """The ``k`` best rows by ``score`` within each group of ``by``, best first, with a rank."""
    if k < 1:
        raise BadParameterError("k must be a positive integer")
    ranked = df.sort_values(list(by) + [score], ascending=[True] * len(by) + [False], kind="stable")
    ranked = ranked.groupby(list(by), sort=False).head(k) if by else ranked.head(k)
    ranked = ranked.copy()
    ranked["rank"] = ranked.groupby(list(by)).cumcount() + 1 if by else np.arange(1, len(ranked) + 1)
    return ranked


#: The columns a study's runs can be ranked by: the four PePR variants and plain accuracy.
RANK_SCORES: tuple[str, ...] = tuple(RANK_SCORE_NAMES)


def rank_within(df: pd.DataFrame, score: str, pool: Sequence[str] = DEFAULT_POOL,
                top: int | None = None) -> pd.DataFrame:
    """Return a copy of ``df`` with ``rank`` (1 = highest ``score`` within its group of ``pool``
    columns; empty pool: the whole frame), sorted by pool then rank.

    Ties share the better rank (``method="min"``: 1, 1, 3). A run without a score (NaN) has no
    rank and comes last in its pool. ``top`` keeps the runs ranked ``top`` or better in each
    pool, so a tie at the cut keeps every tied run. Groups and ties keep the input's order.
    """
    pool = list(pool)
    if score not in df.columns:
        raise BadParameterError(f"no column {score!r} to rank by; columns: {', '.join(map(str, df.columns))}")
    missing = [name for name in pool if name not in df.columns]
    if missing:
        raise BadParameterError(f"pool column(s) {missing} not in the table")
    if top is not None and top < 1:
        raise BadParameterError("top must be a positive integer")
    df = df.reset_index(drop=True)
    values = pd.to_numeric(df[score], errors="coerce")
    ranks = (values.groupby([df[name] for name in pool], dropna=False).rank(method="min", ascending=False)
             if pool else values.rank(method="min", ascending=False))
    out = df.assign(rank=ranks.astype("Int64"))
    order = out.assign(_score=values).sort_values(
        [*pool, "_score"], ascending=[True] * len(pool) + [False], na_position="last", kind="stable")
    out = out.loc[order.index]
    if top is not None:
        out = out[out["rank"].notna() & (out["rank"] <= top)]
    return out.reset_index(drop=True)
