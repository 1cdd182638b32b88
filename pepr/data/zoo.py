"""The model zoo's table (``data/zoo.csv``): the paper's model names, their timm names and what was measured of each, read without timm."""

from __future__ import annotations

import fnmatch
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from pepr.core import paths
from pepr.core.errors import (
    MissingDataError,
)

if TYPE_CHECKING:
    pass

ZOO_CSV = paths.ZOO_CSV


#: Paper names that timm 1.0 no longer knows and that are not in its deprecation table. Each maps
#: to the same architecture (the release's parameter count equals the one measured here).
EXTRA_RENAMES: dict[str, str] = {
    # timm <= 0.8 had gluon_xception.py; its weights moved to xception_aligned's tf_in1k tag
    "gluon_xception65": "xception65.tf_in1k",
}


ZOO_COLUMNS: tuple[str, ...] = (
    "model", "timm_name", "renamed_by", "family", "type", "efficient", "paper_num_params",
    "num_params", "min_img_size", "accepted_img_sizes", "needs_img_size_arg",
    "flops_per_image_at_min", "link", "pretrained_tag",
)


def architecture(timm_name: str) -> str:
    """The architecture part of a timm name (``resnet34.gluon_in1k`` -> ``resnet34``)."""
    return timm_name.split(".", 1)[0]


@functools.lru_cache(maxsize=1)
def _zoo_table(path: str) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def load_zoo(path: str | Path | None = None) -> pd.DataFrame:
    """The zoo table (``data/zoo.csv``), one row per paper model."""
    path = Path(path) if path is not None else ZOO_CSV
    if not path.is_file():
        raise MissingDataError(f"{path}: no zoo table; generate it with `pepr zoo --rebuild`")
    return _zoo_table(str(path)).copy()


def list_models(pattern: str | None = None) -> list[str]:
    """The zoo's model names (the paper's), optionally filtered by a shell-style pattern."""
    names = load_zoo()["model"].tolist()
    return [n for n in names if pattern is None or fnmatch.fnmatch(n, pattern)]


def _zoo_rows() -> dict[str, dict[str, Any]]:
    """Zoo rows by paper name (empty when the table is absent)."""
    try:
        table = load_zoo()
    except MissingDataError:
        return {}
    return {row["model"]: row for row in table.to_dict("records")}


def zoo_row(name: str) -> dict[str, Any] | None:
    """The zoo row of a model: by paper name, by its timm name, or by the zoo's own rename
    (:data:`EXTRA_RENAMES`). ``None`` for any other name (timm's deprecation aliases are the
    training side's: :func:`pepr.training.nets.zoo_row_for`) and when the table is absent."""
    rows = _zoo_rows()
    if name in rows:
        return dict(rows[name])
    timm_name = EXTRA_RENAMES.get(name, name)
    return next((dict(row) for row in rows.values() if row["timm_name"] == timm_name), None)


def paper_models() -> pd.DataFrame:
    """The release's model list without duplicate rows (one row per paper name)."""
    from pepr.data.paper import read_paper_table

    table = read_paper_table("model_names.csv")
    return table.drop_duplicates(subset="model", keep="first").reset_index(drop=True)


def write_zoo_table(table: pd.DataFrame, path: str | Path = ZOO_CSV) -> Path:
    """Write the zoo table (sorted by measured parameter count, as the paper orders models)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.sort_values(["num_params", "model"]).to_csv(path, index=False)
    _zoo_table.cache_clear()
    return path
