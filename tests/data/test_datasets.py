"""Image datasets: MedMNIST from verified local files, user .npz/folders, synthetic sets,
stratified training fractions and resizing."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import socket
import warnings
from pathlib import Path

import medmnist
import numpy as np
import pytest
import torch

from pepr.core.errors import (
    BadParameterError,
    ChecksumError,
    CorruptDataError,
    DataWarning,
    MissingDataError,
    UnknownDatasetError,
)
from pepr.data import files, images, paper, registry
from pepr.training import tensors

LOCAL_FLAGS = ["breastmnist", "pneumoniamnist", "retinamnist"]
find_spec = images.importlib.util.find_spec  # the real one, for the test that hides medmnist


@pytest.fixture(autouse=True)
def registry_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Registrations go to a file of this test, never to the repository's data/datasets.yml."""
    path = tmp_path / "registry" / "datasets.yml"
    monkeypatch.setenv("PEPR_DATASETS_FILE", str(path))
    return path


@pytest.fixture()
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every download attempt fails as it does on a machine without internet."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network unreachable (test)")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture()
def empty_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_cache: Path) -> Path:
    root = tmp_path / "data"
    (root / "medmnist").mkdir(parents=True)
    monkeypatch.setenv("PEPR_DATA_DIR", str(root))
    return root


@pytest.mark.parametrize("flag", LOCAL_FLAGS)
def test_local_medmnist_has_the_official_split_sizes(flag: str, data_dir: Path) -> None:
    info = medmnist.INFO[flag]
    splits = tensors.load_dataset(flag, allow_download=False)
    assert splits.sizes() == info["n_samples"]
    assert splits.task == info["task"]
    assert splits.in_chans == info["n_channels"]
    assert splits.num_classes == len(info["label"])
    assert splits.class_names == [info["label"][str(k)] for k in range(len(info["label"]))]
    assert (splits.img_size, splits.source_img_size, splits.synthetic) == (28, 28, False)
    for split in images.SPLITS:
        x, y = splits.split(split)
        assert x.dtype == torch.uint8 and x.shape[1:] == (info["n_channels"], 28, 28)
        assert y.dtype == torch.int64 and y.shape == (len(x),)
        assert 0 <= int(y.min()) and int(y.max()) < splits.num_classes


def test_medmnist_pixels_are_the_files_pixels(data_dir: Path) -> None:
    raw = np.load(data_dir / "medmnist" / "retinamnist.npz")
    splits = tensors.load_dataset("retinamnist", allow_download=False)
    assert torch.equal(splits.test_x.permute(0, 2, 3, 1), torch.from_numpy(raw["test_images"]))
    assert torch.equal(splits.test_y, torch.from_numpy(raw["test_labels"][:, 0].astype(np.int64)))


def test_registry_lists_every_2d_flag_and_the_synthetic_sets() -> None:
    table = registry.list_datasets()
    flags_2d = {flag for flag in medmnist.INFO if not flag.endswith("3d")}
    assert flags_2d <= set(table["name"])
    assert not any(name.endswith("3d") for name in table["name"])
    assert set(table.loc[table["synthetic"], "name"]) == set(images.SYNTHETIC_SPECS)
    chest = registry.get_dataset_info("chestmnist")
    assert chest.task == images.MULTI_LABEL
    assert chest.num_classes == len(medmnist.INFO["chestmnist"]["label"])
    assert chest.files[224].md5 == medmnist.INFO["chestmnist"]["MD5_224"]
    assert chest.files[64].name == "chestmnist_64.npz" and chest.files[28].name == "chestmnist.npz"


def test_the_medmnist_snapshot_is_the_installed_packages_table() -> None:
    """data/medmnist_info.json (read where medmnist is not installed) agrees with medmnist.INFO;
    regenerate it with tensors.write_medmnist_snapshot() when medmnist changes."""
    snapshot = images.read_medmnist_snapshot()
    assert snapshot == images.medmnist_info_snapshot(medmnist.INFO)
    assert set(snapshot) == {flag for flag in medmnist.INFO if not flag.endswith("3d")}
    assert snapshot["breastmnist"]["MD5"] == medmnist.INFO["breastmnist"]["MD5"]


def test_without_medmnist_the_registry_comes_from_the_snapshot(monkeypatch: pytest.MonkeyPatch) -> None:
    with_package = registry.image_registry()
    images._medmnist_info.cache_clear()
    monkeypatch.delitem(images.sys.modules, "medmnist.info", raising=False)
    monkeypatch.setattr(images.importlib.util, "find_spec",
                        lambda name, *a: None if name == "medmnist" else find_spec(name, *a))
    try:
        without = registry.image_registry()
    finally:
        images._medmnist_info.cache_clear()
    assert set(without) == set(with_package)
    for name, info in with_package.items():
        assert without[name] == dataclasses.replace(info, description=without[name].description)
    assert without["breastmnist"].files[28].md5 == medmnist.INFO["breastmnist"]["MD5"]


def test_short_names_resolve_and_unknown_names_suggest_close_matches() -> None:
    assert registry.get_dataset_info("breast").name == "breastmnist"
    with pytest.raises(UnknownDatasetError, match="breastmnist"):
        registry.get_dataset_info("breastmnsit")


def test_truncated_file_fails_its_md5_check(data_dir: Path, empty_data_dir: Path,
                                            offline: None) -> None:
    original = (data_dir / "medmnist" / "breastmnist.npz").read_bytes()
    truncated = empty_data_dir / "medmnist" / "breastmnist.npz"
    truncated.write_bytes(original[: len(original) // 2])
    with pytest.raises(ChecksumError, match="breastmnist.npz") as caught:
        tensors.load_dataset("breastmnist")
    assert medmnist.INFO["breastmnist"]["MD5"] in str(caught.value)


def test_missing_file_offline_says_where_to_put_it(empty_data_dir: Path, offline: None) -> None:
    with pytest.raises(MissingDataError) as caught:
        tensors.load_dataset("breastmnist")
    message = str(caught.value)
    assert str(empty_data_dir / "medmnist" / "breastmnist.npz") in message
    assert "zenodo" in message


def test_corrupt_user_npz_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"PK\x03\x04 this is not a zip archive")
    with pytest.raises(CorruptDataError, match="broken.npz"):
        tensors.load_dataset(str(bad))


def test_resize_uses_the_largest_file_on_disk_when_offline(data_dir: Path, offline: None) -> None:
    small = tensors.load_dataset("breastmnist", img_size=28)
    big = tensors.load_dataset("breastmnist", img_size=64)
    assert (big.img_size, big.source_img_size) == (64, 28)
    assert big.source.endswith("breastmnist.npz")
    assert big.train_x.shape == (len(small.train_x), 1, 64, 64) and big.train_x.dtype == torch.uint8
    expected = torch.nn.functional.interpolate(small.train_x[:4].float(), size=(64, 64),
                                               mode="bilinear", align_corners=False)
    assert torch.equal(big.train_x[:4], expected.round().clamp(0, 255).to(torch.uint8))
    assert torch.equal(big.train_y, small.train_y)
    shrunk = tensors.load_dataset("breastmnist", img_size=14)
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
    monkeypatch.setattr(images, "_medmnist_info", lambda: patched)
    splits = tensors.load_dataset("breastmnist", img_size=64, allow_download=False)
    assert (splits.img_size, splits.source_img_size) == (64, 64)
    assert splits.source == str(path)
    assert torch.equal(splits.val_x[:, 0], torch.from_numpy(arrays["val_images"]))


def test_fraction_is_stratified_seeded_and_only_touches_train(data_dir: Path) -> None:
    full = tensors.load_dataset("retinamnist", allow_download=False)
    part = tensors.load_dataset("retinamnist", data_fraction=0.1, seed=3, allow_download=False)
    again = tensors.load_dataset("retinamnist", data_fraction=0.1, seed=3, allow_download=False)
    other = tensors.load_dataset("retinamnist", data_fraction=0.1, seed=4, allow_download=False)
    full_counts = torch.bincount(full.train_y, minlength=full.num_classes)
    part_counts = torch.bincount(part.train_y, minlength=full.num_classes)
    expected = torch.clamp(torch.round(full_counts.double() * 0.1), min=1).long()
    assert torch.equal(part_counts, expected)
    assert torch.equal(part.train_x, again.train_x) and torch.equal(part.train_y, again.train_y)
    assert not torch.equal(part.train_x, other.train_x)
    assert torch.equal(part.val_x, full.val_x) and torch.equal(part.test_y, full.test_y)
    assert part.data_fraction == 0.1 and part.seed == 3


def test_tiny_fraction_keeps_every_class(data_dir: Path) -> None:
    tiny = tensors.load_dataset("breastmnist", data_fraction=0.001, allow_download=False)
    assert sorted(tiny.train_y.tolist()) == [0, 1]


@pytest.mark.parametrize("fraction", [0, -0.1, 1.5, float("nan")])
def test_fraction_outside_unit_interval_is_refused(fraction: float) -> None:
    with pytest.raises(BadParameterError, match="data_fraction"):
        tensors.load_dataset("synthetic", data_fraction=fraction)


def write_npz(path: Path, multi_label: bool = False, channels: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    arrays = {}
    for split, count in zip(images.SPLITS, (12, 4, 6)):
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
    by_path = tensors.load_dataset(str(path), img_size=16)
    assert (by_path.task, by_path.num_classes, by_path.in_chans) == ("multi-class", 3, 3)
    assert by_path.sizes() == {"train": 12, "val": 4, "test": 6}
    assert torch.equal(by_path.train_x.permute(0, 2, 3, 1), torch.from_numpy(arrays["train_images"]))
    assert torch.equal(by_path.train_y, torch.arange(12) % 3)
    assert torch.equal(tensors.load_dataset(f"npz:{path}", img_size=16).test_x, by_path.test_x)
    try:
        registry.register_dataset("my-npz", path, class_names=["a", "b", "c"])
        named = tensors.load_dataset("my-npz", img_size=32)
        assert named.class_names == ["a", "b", "c"] and named.train_x.shape[-1] == 32
        assert named.source_img_size == 16
        assert "my-npz" in set(registry.list_datasets()["name"])
    finally:
        registry.unregister_dataset("my-npz")


def test_user_npz_multi_label(tmp_path: Path) -> None:
    path = tmp_path / "multi.npz"
    arrays = write_npz(path, multi_label=True)
    splits = tensors.load_dataset(str(path), img_size=16)
    assert images.is_multi_label(splits.task) and splits.num_classes == 4
    assert splits.train_y.shape == (12, 4)
    assert torch.equal(splits.train_y, torch.from_numpy(arrays["train_labels"].astype(np.int64)))


def test_user_npz_with_a_missing_key_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "partial.npz"
    np.savez(path, train_images=np.zeros((2, 8, 8), np.uint8), train_labels=np.zeros((2, 1)))
    with pytest.raises(CorruptDataError, match="val_images"):
        tensors.load_dataset(str(path))


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
    splits = tensors.load_dataset(f"folder:{root}", img_size=20)
    assert splits.class_names == ["cat", "dog"] and splits.task == "binary-class"
    assert splits.in_chans == channels and splits.train_x.shape == (6, channels, 20, 20)
    assert splits.sizes() == {"train": 6, "val": 2, "test": 4}
    assert splits.train_y.tolist() == [0, 0, 0, 1, 1, 1]
    assert int(splits.train_x[0].max()) == 40 and int(splits.train_x[-1].min()) == 200
    try:
        registry.register_dataset("pets", root)
        assert tensors.load_dataset("pets", img_size=28).train_x.shape[-1] == 28
    finally:
        registry.unregister_dataset("pets")


def test_image_folder_without_a_split_says_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "images" / "train" / "a").mkdir(parents=True)
    with pytest.raises(MissingDataError, match="val, test"):
        tensors.load_dataset(f"folder:{tmp_path / 'images'}")


@pytest.mark.parametrize("name", sorted(images.SYNTHETIC_SPECS))
def test_synthetic_sets_are_labelled_synthetic_and_learnable(name: str) -> None:
    info = registry.get_dataset_info(name)
    assert info.synthetic and "SYNTHETIC" in info.description
    splits = tensors.load_dataset(name, img_size=32)
    assert splits.synthetic and "synthetic" in repr(splits)
    assert splits.train_x.shape[1:] == (info.in_chans, 32, 32)
    assert tuple(splits.sizes().values()) == images.SYNTHETIC_SPECS[name].n_samples
    if splits.multi_label:
        assert splits.train_y.shape == (len(splits.train_x), info.num_classes)
        return
    # nearest class mean on raw pixels must beat chance by far: the classes carry signal
    x_train = splits.train_x.flatten(1).float()
    means = torch.stack([x_train[splits.train_y == k].mean(0) for k in range(info.num_classes)])
    predicted = torch.cdist(splits.test_x.flatten(1).float(), means).argmin(1)
    assert (predicted == splits.test_y).float().mean() > 0.9


def test_synthetic_images_do_not_depend_on_the_seed() -> None:
    first = tensors.load_dataset("synthetic", seed=0)
    second = tensors.load_dataset("synthetic", seed=1)
    assert torch.equal(first.test_x, second.test_x)


def test_multilabel_fraction_keeps_its_size_and_every_label() -> None:
    labels = torch.zeros(1000, 3, dtype=torch.int64)
    labels[:, 0] = 1
    labels[:500, 1] = 1
    labels[7, 2] = 1  # one rare label
    keep = tensors.stratified_subset(labels, 0.01, seed=0)
    assert 10 <= len(keep) <= 11
    assert labels[keep].sum(0).gt(0).all()
    assert torch.equal(keep, tensors.stratified_subset(labels, 0.01, seed=0))


def test_large_files_are_hashed_once_then_recognised_by_stamp(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_data_dir: Path,
        data_dir: Path) -> None:
    monkeypatch.setattr(files, "VERIFY_STAMP_MIN_BYTES", 1)
    target = empty_data_dir / "medmnist" / "breastmnist.npz"
    shutil.copy(data_dir / "medmnist" / "breastmnist.npz", target)
    remote = images.medmnist_file("breastmnist", 28)
    hashed = []
    original_resolve = files.resolve
    monkeypatch.setattr(files, "resolve",
                        lambda *a, **k: hashed.append(1) or original_resolve(*a, **k))
    assert files.resolve_image_file(remote, False) == target
    assert files.resolve_image_file(remote, False) == target
    assert len(hashed) == 1
    content = target.read_bytes()
    target.write_bytes(content[:-10])  # truncated: size changes, the stamp no longer applies
    with pytest.raises(ChecksumError):
        files.resolve_image_file(remote, False)


def test_image_inventory_and_cli_show_where_medmnist_files_are(data_dir: Path, capsys) -> None:
    from pepr.cli import main

    inventory = registry.image_inventory().set_index("name")
    assert inventory.loc["breastmnist.npz", "location"] == str(
        data_dir / "medmnist" / "breastmnist.npz")
    assert inventory.loc["breastmnist_224.npz", "location"] == paper.NOT_ON_DISK
    assert inventory.loc["breastmnist_224.npz", "md5"] == medmnist.INFO["breastmnist"]["MD5_224"]
    assert main(["data", "--images"]) == 0
    out = capsys.readouterr().out
    assert "breastmnist.npz" in out and "synthetic" in out and "breastmnist_224" not in out


# -- image folders: every decision is taken from all files, and announced -----------------------


def save_png(path: Path, mode: str = "L", size: tuple[int, int] = (20, 20), value: int = 100,
             alpha: int = 255) -> None:
    """One flat image of ``mode`` (``L``, ``RGB``, ``RGBA``, ``LA``, ``1``, ``I;16``) at (w, h)."""
    from PIL import Image

    width, height = size
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "I;16":
        Image.fromarray(np.full((height, width), value * 256, np.uint16)).save(path)
        return
    bands = {"L": [value], "1": [255 if value else 0], "RGB": [value, value // 2, 255 - value],
             "RGBA": [value, value // 2, 255 - value, alpha], "LA": [value, alpha]}[mode]
    Image.new(mode, size, tuple(bands) if len(bands) > 1 else bands[0]).save(path)


def make_folder(root: Path, classes: dict[str, dict[str, int]] | None = None, **image) -> Path:
    """``root/<split>/<class>/<i>.png`` with ``classes[split][class]`` flat images each."""
    classes = classes or {"train": {"cat": 3, "dog": 3}, "val": {"cat": 1, "dog": 1},
                          "test": {"cat": 2, "dog": 2}}
    for split, counts in classes.items():
        (root / split).mkdir(parents=True, exist_ok=True)
        for class_index, (class_name, count) in enumerate(counts.items()):
            (root / split / class_name).mkdir(parents=True, exist_ok=True)
            for i in range(count):
                save_png(root / split / class_name / f"{i}.png",
                         **{"value": 40 + 160 * class_index, **image})
    return root


def data_warnings(record: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, DataWarning)]


def load_quietly(name: str, **kwargs) -> tensors.ImageSplits:
    """Load and assert that nothing was announced."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        return tensors.load_dataset(name, **kwargs)


@pytest.mark.parametrize("colour_file", ["0.png", "2.png"])
def test_one_colour_file_makes_the_folder_rgb_whatever_the_file_order(
        tmp_path: Path, colour_file: str) -> None:
    root = make_folder(tmp_path / "images")
    save_png(root / "train" / "cat" / colour_file, "RGB", value=40)
    with pytest.warns(DataWarning) as record:
        splits = tensors.load_dataset(f"folder:{root}", img_size=20)
    assert registry.get_dataset_info(f"folder:{root}").in_chans == 3
    assert splits.in_chans == 3 and splits.train_x.shape == (6, 3, 20, 20)
    messages = data_warnings(record)
    assert len(messages) == 1 and "\n" not in messages[0]
    assert "11 of 12" in messages[0] and "RGB" in messages[0] and str(root) in messages[0]
    gray_dog = splits.train_x[-1]  # a grayscale file, converted: its value in every channel
    assert gray_dog.unique().tolist() == [200]


def test_grayscale_folder_stays_one_channel_and_says_nothing(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "images")
    splits = load_quietly(f"folder:{root}", img_size=20)
    assert splits.in_chans == 1 and splits.train_x.shape == (6, 1, 20, 20)


def test_bilevel_files_in_a_grayscale_folder_are_converted_and_announced(
        tmp_path: Path) -> None:
    root = make_folder(tmp_path / "images")
    save_png(root / "test" / "dog" / "0.png", "1", value=255)
    with pytest.warns(DataWarning, match=r"1 of 12 .*\bL\b") as record:
        splits = tensors.load_dataset(f"folder:{root}", img_size=20)
    assert len(data_warnings(record)) == 1
    assert splits.in_chans == 1 and int(splits.test_x[2].min()) == 255


def test_sixteen_bit_images_are_refused_with_examples(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "images")
    save_png(root / "train" / "dog" / "1.png", "I;16")
    save_png(root / "val" / "dog" / "0.png", "I;16")
    with pytest.raises(CorruptDataError, match="16-bit|bit depth") as caught:
        tensors.load_dataset(f"folder:{root}")
    message = str(caught.value)
    assert "2 " in message and "1.png" in message and "I;16" in message


def test_opaque_alpha_is_dropped_with_an_announcement(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "images", mode="RGB")
    save_png(root / "train" / "cat" / "0.png", "RGBA", value=40, alpha=255)
    with pytest.warns(DataWarning, match="1 of 12.*RGBA") as record:
        splits = tensors.load_dataset(f"folder:{root}", img_size=20)
    assert len(data_warnings(record)) == 1
    assert splits.in_chans == 3 and torch.equal(splits.train_x[0], splits.train_x[1])


def test_real_transparency_is_refused_naming_the_files(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "images", mode="RGB")
    save_png(root / "train" / "cat" / "0.png", "RGBA", alpha=0)
    save_png(root / "test" / "dog" / "1.png", "LA", alpha=128)
    with pytest.raises(CorruptDataError, match="transparen") as caught:
        tensors.load_dataset(f"folder:{root}")
    message = str(caught.value)
    assert "2 " in message and str(root / "train" / "cat" / "0.png") in message


@pytest.mark.parametrize("split", ["val", "test"])
def test_a_class_missing_from_train_is_corrupt_and_counted(tmp_path: Path, split: str) -> None:
    root = make_folder(tmp_path / "images")
    for i in range(4):
        save_png(root / split / "bird" / f"{i}.png")
    with pytest.raises(CorruptDataError) as caught:
        tensors.load_dataset(f"folder:{root}")
    message = str(caught.value)
    assert "bird" in message and split in message and "4 image" in message and "train" in message


def test_an_empty_extra_folder_in_val_is_no_class(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "images")
    (root / "val" / "bird").mkdir()
    (root / "train" / ".ipynb_checkpoints").mkdir()
    assert load_quietly(f"folder:{root}").class_names == ["cat", "dog"]


@pytest.mark.parametrize("split", ["val", "test"])
@pytest.mark.parametrize("how", ["missing", "empty"])
def test_a_train_class_absent_from_a_split_is_an_error(tmp_path: Path, split: str,
                                                        how: str) -> None:
    root = make_folder(tmp_path / "images")
    shutil.rmtree(root / split / "dog")
    if how == "empty":
        (root / split / "dog").mkdir()
    with pytest.raises(CorruptDataError, match=rf"{split}\b.*dog|dog.*\b{split}\b"):
        tensors.load_dataset(f"folder:{root}")


def test_an_empty_train_class_is_an_error(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "images")
    (root / "train" / "bird").mkdir()
    with pytest.raises(CorruptDataError, match="bird"):
        tensors.load_dataset(f"folder:{root}")


def test_images_outside_any_class_folder_are_refused(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "images")
    save_png(root / "train" / "stray.png")
    with pytest.raises(CorruptDataError, match="stray.png"):
        tensors.load_dataset(f"folder:{root}")


def test_the_most_common_size_is_the_source_size_and_resizes_are_announced(
        tmp_path: Path) -> None:
    root = make_folder(tmp_path / "images", size=(20, 20))
    save_png(root / "train" / "cat" / "0.png", size=(24, 24), value=40)  # sorted first
    save_png(root / "test" / "dog" / "1.png", size=(16, 16), value=200)
    with pytest.warns(DataWarning) as record:
        splits = tensors.load_dataset(f"folder:{root}", img_size=32)
    assert (splits.source_img_size, splits.img_size) == (20, 32)
    assert registry.get_dataset_info(f"folder:{root}").sizes == (20,)
    messages = data_warnings(record)
    assert len(messages) == 1 and "\n" not in messages[0]
    assert "2 of 12" in messages[0] and "20x20" in messages[0]
    assert int(splits.train_x[0].min()) == 40 and int(splits.train_x[0].max()) == 40


def test_same_size_folder_read_at_another_size_says_nothing(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "images", size=(20, 20))
    splits = load_quietly(f"folder:{root}", img_size=28)
    assert (splits.source_img_size, splits.img_size) == (20, 28)


def test_non_square_images_are_announced(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "images", size=(30, 20))
    with pytest.warns(DataWarning, match="square") as record:
        splits = tensors.load_dataset(f"folder:{root}", img_size=16)
    messages = data_warnings(record)
    assert len(messages) == 1 and "12 of 12" in messages[0] and "30x20" in messages[0]
    assert splits.source_img_size == 30 and splits.train_x.shape[-2:] == (16, 16)


# -- the one-line data summary ------------------------------------------------------------------


def test_summary_is_one_short_line_with_what_a_run_saw(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "images", size=(20, 20))
    splits = load_quietly(f"folder:{root}", img_size=32, data_fraction=0.5, seed=7)
    summary = splits.summary()
    assert "\n" not in summary and len(summary) < 300
    assert splits.name in summary or str(root.name) in summary
    for part in ["2 classes", "cat", "dog", "train 4", "val 2", "test 4", "1 channel",
                 "20 px", "32 px", "0.5", "seed 7"]:
        assert part in summary, (part, summary)


def test_summary_of_many_classes_and_long_paths_stays_short(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["a-rather-long-folder-name"] * 12) / "images"
    names = [f"class-with-a-long-name-{k}" for k in range(12)]
    make_folder(deep, {split: {name: 1 for name in names} for split in images.SPLITS},
                size=(8, 8))
    splits = load_quietly(str(deep), img_size=8)
    summary = splits.summary()
    assert "\n" not in summary and len(summary) < 300
    assert "12 classes" in summary and "train 12" in summary


def test_summary_of_medmnist_and_synthetic(data_dir: Path) -> None:
    breast = tensors.load_dataset("breastmnist", allow_download=False).summary()
    assert breast.startswith("breastmnist") and "train 546" in breast and "28 px" in breast
    assert "\n" not in breast and len(breast) < 300
    assert "synthetic" in tensors.load_dataset("synthetic").summary().lower()
