"""The dataset registry file (data/datasets.yml) and canonical dataset identities."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from pepr.core import paths
from pepr.core.errors import (
    BadParameterError,
    CorruptDataError,
    MissingDataError,
    UnknownDatasetError,
)
from pepr.data import images, registry
from pepr.training import tensors


@pytest.fixture(autouse=True)
def registry_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test writes its own registry, never the repository's data/datasets.yml."""
    path = tmp_path / "registry" / "datasets.yml"
    monkeypatch.setenv("PEPR_DATASETS_FILE", str(path))
    return path


def write_npz(path: Path) -> Path:
    rng = np.random.default_rng(0)
    arrays = {}
    for split, count in zip(images.SPLITS, (6, 3, 3)):
        arrays[f"{split}_images"] = rng.integers(0, 256, (count, 8, 8), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(count) % 2).reshape(-1, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def write_folder(root: Path) -> Path:
    from PIL import Image

    for split in images.SPLITS:
        for value, class_name in ((30, "a"), (220, "b")):
            (root / split / class_name).mkdir(parents=True)
            Image.new("L", (8, 8), value).save(root / split / class_name / "0.png")
    return root


def test_the_committed_registry_is_empty_and_explains_its_format() -> None:
    committed = paths.DATA_DIR / "datasets.yml"
    text = committed.read_text()
    assert text.startswith("#")
    for word in ("path", "kind", "npz", "folder", "licence", "notes", "relative", "~"):
        assert word in text
    assert yaml.safe_load(text) in (None, {})
    assert registry.read_registry(committed) == {}


def test_the_registry_file_comes_from_pepr_paths(registry_file: Path) -> None:
    assert paths.datasets_file() == registry_file
    assert registry.read_registry() == {}  # no file yet: an empty registry


def test_register_creates_the_file_and_keeps_other_entries(tmp_path: Path,
                                                           registry_file: Path) -> None:
    first = write_npz(tmp_path / "one.npz")
    second = write_folder(tmp_path / "two")
    info = registry.register_dataset("one", first, class_names=["no", "yes"],
                                     licence="CC BY 4.0", notes="made up")
    assert info.name == "one" and info.license == "CC BY 4.0"
    registry.register_dataset("two", second)
    entries = yaml.safe_load(registry_file.read_text())
    assert entries["one"] == {"path": str(first.resolve()), "kind": "npz", "licence": "CC BY 4.0",
                              "notes": "made up", "class_names": ["no", "yes"]}
    assert entries["two"]["kind"] == "folder" and entries["two"]["path"] == str(second.resolve())
    assert registry_file.read_text().startswith("#")  # the header survives a rewrite
    assert sorted(p.name for p in registry_file.parent.iterdir()) == ["datasets.yml"]
    registry.unregister_dataset("one")
    assert set(yaml.safe_load(registry_file.read_text())) == {"two"}
    registry.unregister_dataset("one")  # unknown: nothing to do, no error
    assert registry.get_dataset_info("two").class_names == ("a", "b")


def test_registered_datasets_are_known_in_a_new_process(tmp_path: Path,
                                                        registry_file: Path) -> None:
    registry.register_dataset("mine", write_folder(tmp_path / "mine"), licence="own")
    code = ("from pepr.data import registry; info = registry.get_dataset_info('mine'); "
            "print(info.name, info.kind, info.num_classes, info.license)")
    env = {**os.environ, "PEPR_DATASETS_FILE": str(registry_file)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, cwd=tmp_path).stdout
    assert out.split() == ["mine", "folder", "2", "own"]


def test_relative_paths_are_relative_to_the_registry_folder(tmp_path: Path,
                                                            registry_file: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    write_npz(registry_file.parent / "own" / "near.npz")
    home = tmp_path / "home"
    write_npz(home / "far.npz")
    monkeypatch.setenv("HOME", str(home))
    registry_file.write_text(yaml.safe_dump({
        "near": {"path": "own/near.npz", "kind": "npz"},
        "far": {"path": "~/far.npz"},  # kind left out: guessed from the path
    }))
    monkeypatch.chdir(tmp_path)  # not the registry's folder
    near = registry_file.parent / "own" / "near.npz"
    assert registry.get_dataset_info("near").source == str(near.resolve())
    far = registry.get_dataset_info("far")
    assert (far.kind, far.source) == ("npz", str((home / "far.npz").resolve()))


def test_register_inside_the_registry_folder_writes_a_relative_path(registry_file: Path) -> None:
    path = write_npz(registry_file.parent / "own" / "x.npz")
    registry.register_dataset("x", path)
    assert yaml.safe_load(registry_file.read_text())["x"]["path"] == "own/x.npz"


def test_a_missing_path_fails_when_used_not_when_listing_others(tmp_path: Path,
                                                                registry_file: Path) -> None:
    registry.register_dataset("fine", write_npz(tmp_path / "fine.npz"))
    gone = write_npz(tmp_path / "gone.npz")
    registry.register_dataset("gone", gone)
    gone.unlink()
    table = registry.list_datasets().set_index("name")
    assert table.loc["fine", "num_classes"] == 2 and table.loc["gone", "task"] == "UNUSABLE"
    assert "no such file" in registry.image_registry()["gone"].description
    assert tensors.load_dataset("fine", img_size=8).sizes()["train"] == 6
    assert tensors.load_dataset("breastmnist", allow_download=False).num_classes == 2
    for use in (registry.get_dataset_info, tensors.load_dataset):
        with pytest.raises(MissingDataError) as caught:
            use("gone")
        assert str(registry_file) in str(caught.value) and str(gone) in str(caught.value)


def test_register_refuses_built_in_names_aliases_and_a_second_name_for_a_path(
        tmp_path: Path) -> None:
    path = write_npz(tmp_path / "x.npz")
    for name in ("breastmnist", "BreastMNIST", "breast", "synthetic", "a/b", "npz:x", "x.npz",
                 ""):
        with pytest.raises(BadParameterError):
            registry.register_dataset(name, path)
    registry.register_dataset("x", path)
    with pytest.raises(BadParameterError, match="'x'"):
        registry.register_dataset("y", path)
    with pytest.raises(BadParameterError, match="kind"):
        registry.register_dataset("z", path, kind="csv")
    with pytest.raises(MissingDataError):
        registry.register_dataset("z", tmp_path / "nowhere.npz")
    assert set(registry.read_registry()) == {"x"}


def test_a_malformed_registry_is_corrupt_and_named(registry_file: Path) -> None:
    registry_file.parent.mkdir(parents=True)
    for text, expected in [("- a list\n", "mapping"),
                           ("mine: {path: x.npz, license: MIT}\n", "licence"),
                           ("mine: {kind: npz}\n", "path"),
                           ("mine: {path: x.npz, kind: csv}\n", "kind"),
                           ("breastmnist: {path: x.npz}\n", "built-in"),
                           ("mine: {path: [unclosed\n", "YAML")]:
        registry_file.write_text(text)
        with pytest.raises(CorruptDataError, match=expected) as caught:
            registry.read_registry()
        assert str(registry_file) in str(caught.value)


def test_one_folder_has_one_identity_however_it_is_named(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_folder(tmp_path / "pets")
    monkeypatch.chdir(tmp_path)
    spellings = ["folder:pets", "pets/", "./pets/", str(root), f"folder:{root}/",
                 f"{tmp_path}/pets/../pets"]
    expected = f"folder:{root.resolve()}"
    assert {registry.canonical_dataset(name) for name in spellings} == {expected}
    assert registry.canonical_dataset("pets") == expected  # an existing folder, bare
    assert {registry.get_dataset_info(name).name for name in spellings} == {expected}
    assert tensors.load_dataset("./pets/", img_size=8).name == expected
    registry.register_dataset("Pets-Own", "pets")
    for name in [*spellings, "pets-own", "PETS-OWN"]:
        assert registry.canonical_dataset(name) == "Pets-Own"
        assert registry.get_dataset_info(name).name == "Pets-Own"


def test_npz_identity_and_built_in_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_npz(tmp_path / "d.npz")
    monkeypatch.chdir(tmp_path)
    assert registry.canonical_dataset("d.npz") == f"npz:{path.resolve()}"
    assert registry.canonical_dataset(f"npz:{path}") == f"npz:{path.resolve()}"
    assert registry.canonical_dataset("npz:./d.npz") == f"npz:{path.resolve()}"
    for name, canonical in [("breast", "breastmnist"), ("BREASTMNIST", "breastmnist"),
                            ("Pneumonia", "pneumoniamnist"), ("synthetic-RGB", "synthetic-rgb")]:
        assert registry.canonical_dataset(name) == canonical
        assert registry.get_dataset_info(name).name == canonical


def test_unknown_names_suggest_built_in_and_registered_names(tmp_path: Path) -> None:
    registry.register_dataset("dermoscopy-own", write_npz(tmp_path / "d.npz"))
    with pytest.raises(UnknownDatasetError, match="breastmnist"):
        registry.canonical_dataset("breastmnsit")
    with pytest.raises(UnknownDatasetError, match="dermoscopy-own"):
        registry.get_dataset_info("dermoscopy-onw")


def test_a_path_that_does_not_exist_is_named_as_such(tmp_path: Path):
    from pepr.core.errors import MissingDataError, UnknownDatasetError

    missing = tmp_path / "nope"
    with pytest.raises(MissingDataError, match=f"{missing}: no such file or folder"):
        registry.canonical_dataset(str(missing))
    with pytest.raises(UnknownDatasetError, match=r"^unknown dataset 'breastmnits'\. Did you mean breastmnist"):
        registry.canonical_dataset("breastmnits")
