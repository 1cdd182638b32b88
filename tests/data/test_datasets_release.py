"""The official release's tables resolve from PEPR_DATA_DIR and match their registered hashes."""

from __future__ import annotations

from pathlib import Path

import pytest

from pepr.core import sources
from pepr.data import paper


@pytest.mark.parametrize("name", sorted(paper.PAPER_FILES))
def test_release_file_resolves_and_verifies(name: str, data_dir: Path) -> None:
    path = paper.paper_path(name, allow_download=False)
    assert path == data_dir / "paper" / name
    remote = paper.PAPER_FILES[name]
    assert path.stat().st_size == remote.size_bytes
    assert sources.file_hash(path) == remote.sha256


def test_release_tables_read() -> None:
    models = paper.read_paper_table("model_names.csv")
    assert {"model", "num_param", "type", "efficient"} <= set(models.columns)
    runs = paper.read_paper_table("all_results.csv")
    assert runs.groupby("dataset")["model"].nunique().eq(models["model"].nunique()).all()


def test_inventory_lists_every_file_with_location(data_dir: Path) -> None:
    table = paper.data_inventory()
    assert set(table["name"]) == set(paper.PAPER_FILES)
    assert all(str(data_dir) in location for location in table["location"])


def test_unknown_release_file() -> None:
    from pepr.core.errors import UnknownDatasetError

    with pytest.raises(UnknownDatasetError, match="known"):
        paper.paper_file("no_such.csv")
