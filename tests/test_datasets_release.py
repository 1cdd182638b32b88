"""The official release's tables resolve from PEPR_DATA_DIR and match their registered hashes."""

from __future__ import annotations

from pathlib import Path

import pytest

from pepr import datasets, sources


@pytest.mark.parametrize("name", sorted(datasets.PAPER_FILES))
def test_release_file_resolves_and_verifies(name: str, data_dir: Path) -> None:
    path = datasets.paper_path(name, allow_download=False)
    assert path == data_dir / "paper" / name
    remote = datasets.PAPER_FILES[name]
    assert path.stat().st_size == remote.size_bytes
    assert sources.file_hash(path) == remote.sha256


def test_release_tables_read() -> None:
    models = datasets.read_paper_table("model_names.csv")
    assert {"model", "num_param", "type", "efficient"} <= set(models.columns)
    runs = datasets.read_paper_table("all_results.csv")
    assert runs.groupby("dataset")["model"].nunique().eq(models["model"].nunique()).all()


def test_inventory_lists_every_file_with_location(data_dir: Path) -> None:
    table = datasets.data_inventory()
    assert set(table["name"]) == set(datasets.PAPER_FILES)
    assert all(str(data_dir) in location for location in table["location"])


def test_unknown_release_file() -> None:
    from pepr.errors import UnknownDatasetError

    with pytest.raises(UnknownDatasetError, match="known"):
        datasets.paper_file("no_such.csv")
