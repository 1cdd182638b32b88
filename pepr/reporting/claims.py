"""The paper's claims, judged on a study's rows: what holds, what does not, what cannot be told.

Each verdict is one sentence built from numbers computed elsewhere (:mod:`pepr.report`,
:mod:`pepr.verdicts`) and says its evidence with its interval, so a chapter concludes from the
data and never from typed numbers. A claim "holds" only where its interval excludes the
alternative; where the interval straddles it, the sentence says it cannot be told.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from pepr.core.text import hardware_text
from pepr.reporting.comparisons import rho_text
from pepr.reporting.report import RANK_SCORES, listing, plural, share_text


def small_models_claim(split: pd.Series | None, rank_by: str) -> str:
    """The paper's headline: small models give the most performance per resource. Holds when
    the small half's share of the top-5 places beats its share of the models with the whole
    bootstrap interval; does not hold when the interval lies at or below it."""
    score = RANK_SCORES[rank_by]
    if split is None:
        return (f"**Small models rank first by {score}: cannot be told**: too few models beat "
                f"their baseline in any setting.")
    share_all = float(split["share of all runs small"])
    aside = int(split["set aside"])
    evidence = (f"small models hold {share_text(split)} of the top-5 places among the runs that "
                f"beat their baseline, against {share_all:.0%} of the models "
                f"({plural(aside, 'run') + ' set aside' if aside else 'none set aside'})")
    if split["share low"] > share_all:
        verdict = "holds"
    elif split["share high"] <= share_all:
        verdict = "does not hold"
    else:
        verdict = "cannot be told"
    return f"**Small models rank first by {score}: {verdict}**: {evidence}."


def larger_more_accurate_claim(small_large: pd.DataFrame) -> str:
    """The paper's other side: larger models are (slightly) more accurate. Counted per setting,
    among the runs that beat their baseline."""
    if small_large.empty:
        return "**Larger models are more accurate: cannot be told**: no setting has enough models."
    gaps = small_large["median acc. large"] - small_large["median acc. small"]
    larger = int((gaps > 0).sum())
    settings = len(small_large)
    verdict = ("holds" if larger == settings else "does not hold" if larger == 0
               else f"holds in {larger} of {settings} settings")
    return (f"**Larger models are more accurate: {verdict}**: the larger half's median test "
            f"accuracy is the higher in {larger} of {plural(settings, 'setting')}, by "
            + (f"{gaps.min():+.3f}" if gaps.min() == gaps.max() else
               f"{gaps.min():+.3f} to {gaps.max():+.3f}")
            + " (differences of medians, no interval: "
            f"{', '.join(f'{n} models' for n in small_large['models'])}).")


def more_data_claim(arms: pd.DataFrame) -> str:
    """More training data gives more accurate models (the release's 100 % against 10 %): per
    paired comparison of fractions, whether the mean difference's interval lies above zero."""
    fractions = arms[arms["axis"] == "training fraction"] if not arms.empty else arms
    if fractions.empty:
        return "**More training data helps: cannot be told**: no model trained on two fractions."
    above = fractions["mean_diff_ci_low"] > 0
    parts = [f"{row['held fixed'].split(',')[0].removeprefix('dataset=')} "
             f"{row['mean_diff']:+.3f} (95 % interval {row['mean_diff_ci_low']:+.3f} to "
             f"{row['mean_diff_ci_high']:+.3f}, {row['models']} models)"
             for _, row in fractions.iterrows()]
    verdict = ("holds" if above.all() else "does not hold" if not above.any()
               else f"holds for {int(above.sum())} of {len(fractions)} datasets")
    return (f"**More training data helps: {verdict}**: mean gain in test accuracy from the "
            f"whole training split over a tenth: " + "; ".join(parts) + ".")


def release_agreement_claim(agreement: pd.DataFrame) -> str:
    """Whether the release's ranking of architectures carries over to this study: Spearman's
    rho of test accuracy per shared setting, and whether its interval excludes zero."""
    rows = [row for _, row in agreement.iterrows()] if not agreement.empty else []
    rows = [row for row in rows if pd.notna(row.get("rho"))]
    if not rows:
        return "**The release's ranking carries over: cannot be told**: no shared setting to compare."
    above = [pd.notna(row["ci_low"]) and row["ci_low"] > 0 for row in rows]
    verdict = ("holds" if all(above) else "not shown (no interval lies above zero)"
               if not any(above) else f"holds in {sum(above)} of {len(rows)} settings")
    parts = [f"`{row['our setting']}` beside `{row['release setting']}`: {rho_text(row)}"
             for row in rows]
    return (f"**The release's ranking of architectures carries over: {verdict}**: "
            + "; ".join(parts) + ".")


def verdicts_box(items: list[str], protocol: str) -> str:
    """The verdicts as a MyST admonition, the protocol's differences first."""
    lines = [":::{admonition} What holds on this hardware", ":class: important", "",
             protocol, ""]
    lines += [f"- {item}" for item in items]
    return "\n".join([*lines, ":::"])


def start_words(pretrained: pd.Series) -> str:
    """How a study's runs start: ``from scratch``, ``from pretrained weights`` or both."""
    starts = {value is not False and value not in ("False", "false") for value in pretrained}
    if starts == {False}:
        return "from scratch"
    return "from pretrained weights" if starts == {True} else "both from scratch and from pretrained weights"


def protocol_facts(runs: pd.DataFrame, summary: Mapping[str, object],
                   device: str | None = None) -> dict[str, str]:
    """What :func:`protocol_sentence` says of a study, from its finished ``runs`` and its
    :func:`pepr.reporting.report.grid_summary`: how runs start, input sizes, the device (``device``, or
    the rows' ``hardware``), the datasets and how energy was obtained."""
    methods = list(summary["energy_methods"])
    estimated = bool(methods) and all(m.endswith("estimate") for m in methods)
    return {"start": start_words(runs["pretrained"]),
            "sizes": listing(summary["img_sizes"]) or "unrecorded",
            "device": device or listing(sorted({hardware_text(h) for h in runs["hardware"].dropna()}))
                      or "unrecorded hardware",
            "datasets": listing(sorted(runs["dataset"].unique())),
            "energy": ("energy estimated, not measured" if estimated else "energy measured")
                      + f" ({listing(methods)})"}


def release_start_words() -> str:
    """How the release's settings started, counted from :data:`pepr.data.release.SETTINGS`."""
    from pepr.data import release

    scratch = sum(not setting["pretrained"] for setting in release.SETTINGS.values())
    total = len(release.SETTINGS)
    return ("fine-tuned ImageNet weights" + (f" in all but {scratch} of its {total} settings"
                                             if scratch else ""))


def protocol_sentence(facts: Mapping[str, str]) -> str:
    """The study's protocol beside the release's (:func:`release_start_words`, on a GPU,
    carbontracker's energy), from :func:`protocol_facts`."""
    return (f"The protocol differs from the release's (which {release_start_words()}, on a GPU, "
            f"with carbontracker's energy): this study trains {facts['start']}, at "
            f"{facts['sizes']} px, on {facts['device']}, on {facts['datasets']}, with "
            f"{facts['energy']}.")
