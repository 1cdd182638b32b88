"""How a study's report shows what :mod:`pepr.reporting.report` and :mod:`pepr.reporting.comparisons` compute: names and labels, ranking tables, intervals in words, and the key findings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from pepr.core.text import interval_text, listing, plural, significant
from pepr.reporting.comparisons import rho_text
from pepr.reporting.report import RANK_SCORES, best_above_baseline, duration_text, share_text
from pepr.scoring import verdicts

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
    "pepr_m": "PePR-M", "params_m": "params (M)", "seconds": "train (s)",
}


#: A report's ranking table shows this many of its best runs on the page; the rest are in its CSV.
RANKING_TOP_ROWS = 15


#: How each of the ranking's shown columns is written.
RANKING_FORMATS: dict[str, str] = {
    "rank": "{:.0f}", "acc.": "{:.3f}", "bal. acc.": "{:.3f}", "AUC": "{:.3f}", "PePR-E": "{:.3f}",
    "PePR-C": "{:.3f}", "PePR-T": "{:.3f}", "PePR-M": "{:.3f}", "params (M)": "{:.2f}",
    "train (s)": "{:.1f}",
}


def ranking_tables(table: pd.DataFrame, rank_by: str, pool: Sequence[str],
                   size: str) -> list[tuple[str, pd.DataFrame]]:
    """The ranked runs (:func:`ranked`) as the report shows them: one table per pool (the runs
    ranked together), titled by the pool's values (``all runs`` when one pool holds them all),
    with the columns of :data:`RANKING_COLUMNS` (PePR-C only where it ranks) and ``setting``
    only where a pool holds several settings."""
    from pepr.reporting.plots import yes_no  # matplotlib: only once a report draws

    scores = ["pepr_e", "pepr_t", "pepr_m"] + (["pepr_c"] if rank_by == "pepr_c" else [])
    shown = table.assign(params_m=table[size] / 1e6, seconds=table["train_time_s"],
                         beats=yes_no(table["above_baseline"].fillna(False).astype(bool)),
                         acc_interval=[interval_text(low, high) for low, high in
                                       zip(table["test_acc_low"], table["test_acc_high"])])
    seeds = ["seed"] if table["seed"].nunique() > 1 else []
    columns = [c for c in RANKING_COLUMNS if c in ("rank", "model", *seeds, "test_acc",
                                                     "acc_interval", "test_balanced_acc",
                                                     "beats", "params_m", "seconds")
               or c in scores]
    groups = list(shown.groupby(list(pool), sort=True)) if pool else [(("all runs",), shown)]
    tables = []
    for keys, group in groups:
        keys = keys if isinstance(keys, tuple) else (keys,)
        keep = (["setting"] if group["setting"].nunique() > 1 else []) + columns
        frame = group.sort_values(["rank", "model"])[keep].rename(columns=RANKING_COLUMNS)
        tables.append((", ".join(str(k) for k in keys), frame.reset_index(drop=True)))
    return tables


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
                     f"{significant(compute['kwh'])} kWh ({listing(summary['energy_methods'])}).")
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
        "first better": arms["share_a_better"], "p (Wilcoxon)": [p_text(p) for p in arms["p_wilcoxon"]],
    })


def p_text(p: float) -> str:
    """A p-value as a reader is told it: ``0.042``, ``< 0.001`` (never ``0.000``), ``–`` if none."""
    if pd.isna(p):
        return "\u2013"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


#: How :func:`arms_table`'s numbers are written (its p-values are text: :func:`p_text`).
ARMS_FORMATS: dict[str, str] = {"first better": "{:.0%}"}


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
    one-page HTML report shows it as a blockquote (:func:`pepr.reporting.render.plain_markdown`)."""
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
