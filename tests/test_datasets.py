"""Image datasets: MedMNIST from verified local files, user .npz/folders, synthetic sets,
stratified training fractions and resizing."""

from __future__ import annotations

import hashlib
import shutil
import urllib.error
from pathlib import Path

import medmnist
import numpy as np
import pytest
import torch

from pepr import datasets
from pepr.errors import (
    BadParameterError,
    ChecksumError,
    CorruptDataError,
    MissingDataError,
    UnknownDatasetError,
)

LOCAL_FLAGS = ["breastmnist", "pneumoniamnist", "retinamnist"]


@pytest.fixture()
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every download attempt fails as it does on a machine without internet."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("network unreachable (test)")

    monkeypatch.setattr("urllib.request.urlopen", refuse)


@pytest.fixture()
def empty_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_cache: Path) -> Path:
    root = tmp_path / "data"
    (root / "medmnist").mkdir(parents=True)
    monkeypatch.setenv("PEPR_DATA_DIR", str(root))
    return root


@pytest.mark.parametrize("flag", LOCAL_FLAGS)
def test_local_medmnist_has_the_official_split_sizes(flag: str, data_dir: Path) -> None:
    info = medmnist.INFO[flag]
    splits = datasets.load_dataset(flag, allow_download=False)
    assert splits.sizes() == info["n_samples"]
    assert splits.task == info["task"]
    assert splits.in_chans == info["n_channels"]
    assert splits.num_classes == len(info["label"])
    assert splits.class_names == [info["label"][str(k)] for k in range(len(info["label"]))]
    assert (splits.img_size, splits.source_img_size, splits.synthetic) == (28, 28, False)
    for split in datasets.SPLITS:
        x, y = splits.split(split)
        assert x.dtype == torch.uint8 and x.shape[1:] == (info["n_channels"], 28, 28)
        assert y.dtype == torch.int64 and y.shape == (len(x),)
        assert 0 <= int(y.min()) and int(y.max()) < splits.num_classes


def test_medmnist_pixels_are_the_files_pixels(data_dir: Path) -> None:
    raw = np.load(data_dir / "medmnist" / "retinamnist.npz")
    splits = datasets.load_dataset("retinamnist", allow_download=False)
    assert torch.equal(splits.test_x.permute(0, 2, 3, 1), torch.from_numpy(raw["test_images"]))
    assert torch.equal(splits.test_y, torch.from_numpy(raw["test_labels"][:, 0].astype(np.int64)))


def test_registry_lists_every_2d_flag_and_the_synthetic_sets() -> None:
    table = datasets.list_datasets()
    flags_2d = {flag for flag in medmnist.INFO if not flag.endswith("3d")}
    assert flags_2d <= set(table["name"])
    assert not any(name.endswith("3d") for name in table["name"])
    assert set(table.loc[table["synthetic"], "name"]) == set(datasets.SYNTHETIC_SPECS)
    chest = datasets.get_dataset_info("chestmnist")
    assert chest.task == datasets.MULTI_LABEL
    assert chest.num_classes == len(medmnist.INFO["chestmnist"]["label"])
    assert chest.files[224].md5 == medmnist.INFO["chestmnist"]["MD5_224"]
    assert chest.files[64].name == "chestmnist_64.npz" and chest.files[28].name == "chestmnist.npz"


def test_short_names_resolve_and_unknown_names_suggest_close_matches() -> None:
    assert datasets.get_dataset_info("breast").name == "breastmnist"
    with pytest.raises(UnknownDatasetError, match="breastmnist"):
        datasets.get_dataset_info("breastmnsit")


def test_truncated_file_fails_its_md5_check(data_dir: Path, empty_data_dir: Path,
                                            offline: None) -> None:
    original = (data_dir / "medmnist" / "breastmnist.npz").read_bytes()
    truncated = empty_data_dir / "medmnist" / "breastmnist.npz"
    truncated.write_bytes(original[: len(original) // 2])
    with pytest.raises(ChecksumError, match="breastmnist.npz") as caught:
        datasets.load_dataset("breastmnist")
    assert medmnist.INFO["breastmnist"]["MD5"] in str(caught.value)


def test_missing_file_offline_says_where_to_put_it(empty_data_dir: Path, offline: None) -> None:
    with pytest.raises(MissingDataError) as caught:
        datasets.load_dataset("breastmnist")
    message = str(caught.value)
    assert str(empty_data_dir / "medmnist" / "breastmnist.npz") in message
    assert "zenodo" in message


def test_corrupt_user_npz_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"PK\x03\x04 this is not a zip archive")
    with pytest.raises(CorruptDataError, match="broken.npz"):
        datasets.load_dataset(str(bad))


def test_resize_uses_the_largest_file_on_disk_when_offline(data_dir: Path, offline: None) -> None:
    small = datasets.load_dataset("breastmnist", img_size=28)
    big = datasets.load_dataset("breastmnist", img_size=64)
    assert (big.img_size, big.source_img_size) == (64, 28)
    assert big.source.endswith("breastmnist.npz")
    assert big.train_x.shape == (len(small.train_x), 1, 64, 64) and big.train_x.dtype == torch.uint8
    expected = torch.nn.functional.interpolate(small.train_x[:4].float(), size=(64, 64),
                                               mode="bilinear", align_corners=False)
    assert torch.equal(big.train_x[:4], expected.round().clamp(0, 255).to(torch.uint8))
    assert torch.equal(big.train_y, small.train_y)
    shrunk = datasets.load_dataset("breastmnist", img_size=14)
    assert shrunk.test_x.shape[-2:] == (14, 14)


def test_official_file_of_the_requested_size_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  empty_data_dir: Path, data_dir: Path) -> None:
    info = medmnist.INFO["breastmnist"]
    rng = np.random.default_rng(0)
    arrays = {}
    for split, count in info["n_samples"].items():
        arrays[f"{split}_images"] = rng.integers(0, 256, (count, 64, 64), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 2, (count, 1), dtype=np.uint8)
    path = empty_data_dir / "medmnist" / "breastmnist_64.npz"
    np.savez_compressed(path, **arrays)
    shutil.copy(data_dir / "medmnist" / "breastmnist.npz", empty_data_dir / "medmnist")
    patched = {**medmnist.INFO, "breastmnist": {
        **info, "MD5_64": hashlib.md5(path.read_bytes()).hexdigest()}}
    monkeypatch.setattr(datasets, "_medmnist_info", lambda: patched)
    splits = datasets.load_dataset("breastmnist", img_size=64, allow_download=False)
    assert (splits.img_size, splits.source_img_size) == (64, 64)
    assert splits.source == str(path)
    assert torch.equal(splits.val_x[:, 0], torch.from_numpy(arrays["val_images"]))


def test_fraction_is_stratified_seeded_and_only_touches_train(data_dir: Path) -> None:
    full = datasets.load_dataset("retinamnist", allow_download=False)
    part = datasets.load_dataset("retinamnist", data_fraction=0.1, seed=3, allow_download=False)
    again = datasets.load_dataset("retinamnist", data_fraction=0.1, seed=3, allow_download=False)
    other = datasets.load_dataset("retinamnist", data_fraction=0.1, seed=4, allow_download=False)
    full_counts = torch.bincount(full.train_y, minlength=full.num_classes)
    part_counts = torch.bincount(part.train_y, minlength=full.num_classes)
    expected = torch.clamp(torch.round(full_counts.double() * 0.1), min=1).long()
    assert torch.equal(part_counts, expected)
    assert torch.equal(part.train_x, again.train_x) and torch.equal(part.train_y, again.train_y)
    assert not torch.equal(part.train_x, other.train_x)
    assert torch.equal(part.val_x, full.val_x) and torch.equal(part.test_y, full.test_y)
    assert part.data_fraction == 0.1 and part.seed == 3


def test_tiny_fraction_keeps_every_class(data_dir: Path) -> None:
    tiny = datasets.load_dataset("breastmnist", data_fraction=0.001, allow_download=False)
    assert sorted(tiny.train_y.tolist()) == [0, 1]


@pytest.mark.parametrize("fraction", [0, -0.1, 1.5, float("nan")])
def test_fraction_outside_unit_interval_is_refused(fraction: float) -> None:
    with pytest.raises(BadParameterError, match="data_fraction"):
        datasets.load_dataset("synthetic", data_fraction=fraction)


def write_npz(path: Path, multi_label: bool = False, channels: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    arrays = {}
    for split, count in zip(datasets.SPLITS, (12, 4, 6)):
        shape = (count, 16, 16) if channels == 1 else (count, 16, 16, channels)
        arrays[f"{split}_images"] = rng.integers(0, 256, shape, dtype=np.uint8)
        labels = (rng.integers(0, 2, (count, 4)) if multi_label
                  else (np.arange(count) % 3).reshape(-1, 1))
        arrays[f"{split}_labels"] = labels.astype(np.uint8)
    np.savez(path, **arrays)
    return arrays


def test_user_npz_by_path_prefix_and_registered_name(tmp_path: Path) -> None:
    path = tmp_path / "mine.npz"
    arrays = write_npz(path, channels=3)
    by_path = datasets.load_dataset(str(path), img_size=16)
    assert (by_path.task, by_path.num_classes, by_path.in_chans) == ("multi-class", 3, 3)
    assert by_path.sizes() == {"train": 12, "val": 4, "test": 6}
    assert torch.equal(by_path.train_x.permute(0, 2, 3, 1), torch.from_numpy(arrays["train_images"]))
    assert torch.equal(by_path.train_y, torch.arange(12) % 3)
    assert torch.equal(datasets.load_dataset(f"npz:{path}", img_size=16).test_x, by_path.test_x)
    try:
        datasets.register_dataset("my-npz", path, class_names=["a", "b", "c"])
        named = datasets.load_dataset("my-npz", img_size=32)
        assert named.class_names == ["a", "b", "c"] and named.train_x.shape[-1] == 32
        assert named.source_img_size == 16
        assert "my-npz" in set(datasets.list_datasets()["name"])
    finally:
        datasets.unregister_dataset("my-npz")


def test_user_npz_multi_label(tmp_path: Path) -> None:
    path = tmp_path / "multi.npz"
    arrays = write_npz(path, multi_label=True)
    splits = datasets.load_dataset(str(path), img_size=16)
    assert datasets.is_multi_label(splits.task) and splits.num_classes == 4
    assert splits.train_y.shape == (12, 4)
    assert torch.equal(splits.train_y, torch.from_numpy(arrays["train_labels"].astype(np.int64)))


def test_user_npz_with_a_missing_key_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "partial.npz"
    np.savez(path, train_images=np.zeros((2, 8, 8), np.uint8), train_labels=np.zeros((2, 1)))
    with pytest.raises(CorruptDataError, match="val_images"):
        datasets.load_dataset(str(path))


def write_folder(root: Path, mode: str = "L") -> None:
    from PIL import Image

    counts = {"train": 3, "val": 1, "test": 2}
    for split, count in counts.items():
        for class_index, class_name in enumerate(["cat", "dog"]):
            folder = root / split / class_name
            folder.mkdir(parents=True)
            for i in range(count):
                value = 40 + 160 * class_index
                pixels = np.full((20, 20) if mode == "L" else (20, 20, 3), value, np.uint8)
                Image.fromarray(pixels, mode=mode).save(folder / f"{i}.png")


@pytest.mark.parametrize("mode,channels", [("L", 1), ("RGB", 3)])
def test_image_folder_by_prefix_and_registered_name(tmp_path: Path, mode: str,
                                                    channels: int) -> None:
    root = tmp_path / "images"
    write_folder(root, mode)
    splits = datasets.load_dataset(f"folder:{root}", img_size=20)
    assert splits.class_names == ["cat", "dog"] and splits.task == "binary-class"
    assert splits.in_chans == channels and splits.train_x.shape == (6, channels, 20, 20)
    assert splits.sizes() == {"train": 6, "val": 2, "test": 4}
    assert splits.train_y.tolist() == [0, 0, 0, 1, 1, 1]
    assert int(splits.train_x[0].max()) == 40 and int(splits.train_x[-1].min()) == 200
    try:
        datasets.register_dataset("pets", root)
        assert datasets.load_dataset("pets", img_size=28).train_x.shape[-1] == 28
    finally:
        datasets.unregister_dataset("pets")


def test_image_folder_without_a_split_says_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "images" / "train" / "a").mkdir(parents=True)
    with pytest.raises(MissingDataError, match="val, test"):
        datasets.load_dataset(f"folder:{tmp_path / 'images'}")


@pytest.mark.parametrize("name", sorted(datasets.SYNTHETIC_SPECS))
def test_synthetic_sets_are_labelled_synthetic_and_learnable(name: str) -> None:
    info = datasets.get_dataset_info(name)
    assert info.synthetic and "SYNTHETIC" in info.description
    splits = datasets.load_dataset(name, img_size=32)
    assert splits.synthetic and "synthetic" in repr(splits)
    assert splits.train_x.shape[1:] == (info.in_chans, 32, 32)
    assert tuple(splits.sizes().values()) == datasets.SYNTHETIC_SPECS[name].n_samples
    if splits.multi_label:
        assert splits.train_y.shape == (len(splits.train_x), info.num_classes)
        return
    # nearest class mean on raw pixels must beat chance by far: the classes carry signal
    x_train = splits.train_x.flatten(1).float()
    means = torch.stack([x_train[splits.train_y == k].mean(0) for k in range(info.num_classes)])
    predicted = torch.cdist(splits.test_x.flatten(1).float(), means).argmin(1)
    assert (predicted == splits.test_y).float().mean() > 0.9


def test_synthetic_images_do_not_depend_on_the_seed() -> None:
    first = datasets.load_dataset("synthetic", seed=0)
    second = datasets.load_dataset("synthetic", seed=1)
    assert torch.equal(first.test_x, second.test_x)


def test_multilabel_fraction_keeps_its_size_and_every_label() -> None:
    labels = torch.zeros(1000, 3, dtype=torch.int64)
    labels[:, 0] = 1
    labels[:500, 1] = 1
    labels[7, 2] = 1  # one rare label
    keep = datasets.stratified_subset(labels, 0.01, seed=0)
    assert 10 <= len(keep) <= 11
    assert labels[keep].sum(0).gt(0).all()
    assert torch.equal(keep, datasets.stratified_subset(labels, 0.01, seed=0))


def test_large_files_are_hashed_once_then_recognised_by_stamp(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_data_dir: Path,
        data_dir: Path) -> None:
    monkeypatch.setattr(datasets, "VERIFY_STAMP_MIN_BYTES", 1)
    target = empty_data_dir / "medmnist" / "breastmnist.npz"
    shutil.copy(data_dir / "medmnist" / "breastmnist.npz", target)
    remote = datasets.medmnist_file("breastmnist", 28)
    hashed = []
    original_resolve = datasets.resolve
    monkeypatch.setattr(datasets, "resolve",
                        lambda *a, **k: hashed.append(1) or original_resolve(*a, **k))
    assert datasets.resolve_image_file(remote, False) == target
    assert datasets.resolve_image_file(remote, False) == target
    assert len(hashed) == 1
    content = target.read_bytes()
    target.write_bytes(content[:-10])  # truncated: size changes, the stamp no longer applies
    with pytest.raises(ChecksumError):
        datasets.resolve_image_file(remote, False)


def test_image_inventory_and_cli_show_where_medmnist_files_are(data_dir: Path, capsys) -> None:
    from pepr.cli import main

    inventory = datasets.image_inventory().set_index("name")
    assert inventory.loc["breastmnist.npz", "location"] == str(
        data_dir / "medmnist" / "breastmnist.npz")
    assert inventory.loc["breastmnist_224.npz", "location"] == datasets.NOT_ON_DISK
    assert inventory.loc["breastmnist_224.npz", "md5"] == medmnist.INFO["breastmnist"]["MD5_224"]
    assert main(["data", "--images"]) == 0
    out = capsys.readouterr().out
    assert "breastmnist.npz" in out and "synthetic" in out and "breastmnist_224" not in out
