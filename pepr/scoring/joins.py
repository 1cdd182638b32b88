"""Joining what the release keeps apart, by name: chapter 1's publications per capita, the models' attributes, and timm's ImageNet results (the exact join through the zoo beside the release's substring join)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pepr.core.errors import BadParameterError, UnknownModelError
from pepr.scoring.score import add_pepr

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
    (:func:`pepr.data.zoo.zoo_row`: timm's deprecation aliases and the zoo's own renames,
    :data:`pepr.data.zoo.EXTRA_RENAMES`) and takes the zoo's ``pretrained_tag`` (the name's own tag,
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
        :data:`pepr.data.zoo.EXTRA_RENAMES`); ``matched_exact`` and ``unmatched_exact`` (names without a
        result); ``differs`` (the two joins pick different rows), ``other_row`` (of those, the
        substring join found a row, another one), ``top1_changed`` and ``max_gap``
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
            "other_row": int((compared["differs"] & compared["substring_match"].notna()).sum()),
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
