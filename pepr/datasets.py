"""The datasets registry: every table and image set the compendium reads, described once.

The official PePR release's tables are declared in :data:`PAPER_FILES` (name, pinned URL,
SHA-256, what each holds); the same description drives resolution, checksum checks, ``pepr data``
and the book's data table.

Image datasets (MedMNIST flags, a user's ``.npz`` or image folder, synthetic smoke-test sets)
are described by :class:`ImageDatasetInfo` entries (:func:`image_registry`) and loaded into
memory as :class:`ImageSplits` by :func:`load_dataset`.
"""

from __future__ import annotations

import difflib
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pepr.errors import (
    BadParameterError,
    CorruptDataError,
    MissingDataError,
    UnknownDatasetError,
)
from pepr.sources import RemoteFile, cache_dir, locate, resolve

if TYPE_CHECKING:  # torch is imported where images are loaded, so reading tables stays light
    import torch

PAPER_REPOSITORY = "saintslab/PePR"
PAPER_COMMIT = "ce087aafcdce4a5b636152d170475a6df5f4c3d7"
PAPER_URL = f"https://raw.githubusercontent.com/{PAPER_REPOSITORY}/{PAPER_COMMIT}/data/{{name}}"
PAPER_LICENSE = "MIT, (c) 2024 Selvan"

#: What an inventory's ``location`` says for a registered file that is not on disk yet.
NOT_ON_DISK = "(not on disk; downloaded on first use)"


def _paper_file(name: str, sha256: str, size_bytes: int, description: str) -> RemoteFile:
    return RemoteFile(
        group="paper",
        name=name,
        url=PAPER_URL.format(name=name),
        sha256=sha256,
        size_bytes=size_bytes,
        description=description,
    )


PAPER_FILES: dict[str, RemoteFile] = {
    remote.name: remote
    for remote in [
        _paper_file(
            "all_results.csv",
            "1f624ef1a68433aa2c56b83831bb30a1e06c285b56531fde8056f06a42394e98",
            368_654,
            "1,048 runs: 131 timm models x 8 settings, with carbontracker energy/CO2, GPU memory, "
            "times and the test accuracy after each of 10 epochs",
        ),
        _paper_file(
            "model_names.csv",
            "e26300f35a182a893c90d581684c0d61ed016f6e4f8bfcca370b817ea2bf9e7f",
            8_305,
            "the 131 models: parameter count, type (CNN/Other), efficient flag, source paper",
        ),
        _paper_file(
            "regions_papers_data_2013.csv",
            "1a83c1bb95f472947e1737d6542fec5d399ebb67a064f6de2d1017e1176facb8",
            11_884,
            "publications and population per country and world region, 2013",
        ),
        _paper_file(
            "regions_papers_data_2023.csv",
            "3d4695803dbcf93fd11bc53488706ffc863e232ee282f054673a680ac6281b88",
            13_587,
            "publications and population per country and world region, later year "
            "(the release's figure labels it 2022)",
        ),
        _paper_file(
            "results-imagenet.csv",
            "94f9925f015e349b2a17a30f80861d43fb0b93879288dba7efae67c2cec54f58",
            113_785,
            "timm's published ImageNet validation results as the release used them",
        ),
    ]
}


def paper_file(name: str) -> RemoteFile:
    """The registered description of one release file; :class:`UnknownDatasetError` otherwise."""
    try:
        return PAPER_FILES[name]
    except KeyError:
        known = ", ".join(sorted(PAPER_FILES))
        raise UnknownDatasetError(f"unknown release file {name!r}; known: {known}") from None


def paper_path(name: str, allow_download: bool = True) -> Path:
    """Verified local path of a release file (data dir, cache or download)."""
    return resolve(paper_file(name), allow_download=allow_download)


def read_paper_table(name: str, allow_download: bool = True) -> pd.DataFrame:
    """One release table as a DataFrame, read from a checksum-verified copy."""
    path = paper_path(name, allow_download=allow_download)
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise CorruptDataError(f"{path}: cannot be read as CSV ({error})") from error


def registered_files() -> list[RemoteFile]:
    """Every file the registry knows, for listing and checking."""
    return list(PAPER_FILES.values())


def data_inventory() -> pd.DataFrame:
    """One row per registered file: where it resolves now (without downloading) and its hash."""
    rows = []
    for remote in registered_files():
        found = locate(remote)
        rows.append(
            {
                "group": remote.group,
                "name": remote.name,
                "location": str(found) if found else NOT_ON_DISK,
                remote.algorithm: remote.expected_hash,
                "description": remote.description,
            }
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Image datasets: MedMNIST flags, a user's own .npz or image folder, and synthetic smoke-test sets
# ---------------------------------------------------------------------------------------------
#
# Every image dataset is one :class:`ImageDatasetInfo` entry in a registry keyed by name. The
# entries for MedMNIST are generated from ``medmnist.INFO`` (task, labels, channels, split sizes,
# URL and MD5 per size), so the package's own description drives loading, checksum checks,
# ``list_datasets()`` and the book's dataset table. A name can also be a path:
#
# * ``"path/to/file.npz"`` or ``"npz:path/to/file"``: a MedMNIST-style archive with the keys
#   ``{train,val,test}_{images,labels}``;
# * ``"folder:path/to/root"`` or an existing directory: ``<root>/<split>/<class>/<image>`` with
#   the splits ``train``, ``val`` and ``test``;
# * ``register_dataset(name, path)`` gives either a name of its own.

SPLITS: tuple[str, ...] = ("train", "val", "test")
MEDMNIST_SIZES: tuple[int, ...] = (28, 64, 128, 224)
MEDMNIST_GROUP = "medmnist"
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif"})
RESIZE_CHUNK = 512  # images resized at a time: bounds the float32 buffer (~300 MB at 224 px)
#: MedMNIST's task string for multi-label data (ChestMNIST): one 0/1 indicator per label.
MULTI_LABEL = "multi-label, binary-class"


def is_multi_label(task: str) -> bool:
    """MedMNIST's multi-label task strings start with ``multi-label``."""
    return str(task).startswith("multi-label")


@dataclass(frozen=True)
class ImageDatasetInfo:
    """The declarative description of one image dataset.

    ``kind`` says how it is loaded (``medmnist``, ``npz``, ``folder``, ``synthetic``);
    ``source`` is the MedMNIST flag, the user's path, or the synthetic generator's name;
    ``files`` maps each available input size to the file that holds it (MedMNIST only);
    ``n_samples`` holds the official split sizes where they are known in advance.
    """

    name: str
    kind: str
    task: str
    num_classes: int
    in_chans: int
    class_names: tuple[str, ...]
    source: str
    sizes: tuple[int, ...] = ()
    n_samples: dict[str, int] = field(default_factory=dict)
    files: dict[int, RemoteFile] = field(default_factory=dict)
    license: str = ""
    description: str = ""
    synthetic: bool = False

    def as_row(self) -> dict[str, object]:
        """A flat row for listings and the book's dataset table."""
        return {
            "name": self.name,
            "kind": self.kind,
            "task": self.task,
            "num_classes": self.num_classes,
            "in_chans": self.in_chans,
            "sizes": "any (generated)" if self.synthetic else ",".join(map(str, self.sizes)),
            **{f"n_{split}": self.n_samples.get(split) for split in SPLITS},
            "synthetic": self.synthetic,
            "license": self.license,
            "source": self.source,
        }


@dataclass
class ImageSplits:
    """An image dataset in memory: uint8 images (N, C, H, W) and int64 labels per split.

    Labels are (N,) class indices, or (N, K) 0/1 indicators for a multi-label task.
    ``source_img_size`` is the size of the file the images came from; it differs from
    ``img_size`` when the images were resized (e.g. offline, where only 28 px files exist).
    ``data_fraction`` and ``seed`` record how the training split was subsampled; ``source`` is
    the file read (MedMNIST), the user's path, or the synthetic generator's name.
    """

    name: str
    task: str
    num_classes: int
    in_chans: int
    img_size: int
    source_img_size: int
    synthetic: bool
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    class_names: list[str]
    data_fraction: float = 1.0
    seed: int = 0
    source: str = ""

    @property
    def multi_label(self) -> bool:
        return is_multi_label(self.task)

    def split(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(images, labels)`` of ``train``, ``val`` or ``test``."""
        if split not in SPLITS:
            raise BadParameterError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
        return getattr(self, f"{split}_x"), getattr(self, f"{split}_y")

    def sizes(self) -> dict[str, int]:
        """Number of images per split."""
        return {split: len(self.split(split)[0]) for split in SPLITS}

    def __repr__(self) -> str:
        resized = "" if self.img_size == self.source_img_size else f" from {self.source_img_size}px"
        kind = " synthetic" if self.synthetic else ""
        return (
            f"ImageSplits({self.name!r}{kind}, {self.task}, {self.num_classes} classes, "
            f"{self.in_chans}x{self.img_size}x{self.img_size}{resized}, sizes={self.sizes()}, "
            f"data_fraction={self.data_fraction}, seed={self.seed})"
        )


# -- the registry -------------------------------------------------------------------------------

_USER_DATASETS: dict[str, ImageDatasetInfo] = {}


def medmnist_file(flag: str, size: int) -> RemoteFile:
    """The official file of a MedMNIST flag at one size, with its URL and MD5 from medmnist.INFO."""
    info = _medmnist_info()[flag]
    suffix = _suffix(size)
    return RemoteFile(
        group=MEDMNIST_GROUP,
        name=f"{flag}{suffix}.npz",
        url=info[f"url{suffix}"],
        md5=info[f"MD5{suffix}"],
        description=f"MedMNIST {flag} at {size}x{size} px",
    )


def _suffix(size: int) -> str:
    """MedMNIST's file and key suffix for a size: none at 28 px, ``_64`` and so on above."""
    return "" if size == MEDMNIST_SIZES[0] else f"_{size}"


def _medmnist_info() -> dict[str, dict]:
    from medmnist.info import INFO  # imports torch; only loaded when an image set is needed

    return INFO


def _medmnist_entry(flag: str, info: dict) -> ImageDatasetInfo:
    sizes = tuple(s for s in MEDMNIST_SIZES if f"MD5{_suffix(s)}" in info)
    labels = info["label"]
    return ImageDatasetInfo(
        name=flag,
        kind="medmnist",
        task=info["task"],
        num_classes=len(labels),
        in_chans=int(info["n_channels"]),
        class_names=tuple(labels[key] for key in sorted(labels, key=int)),
        source=flag,
        sizes=sizes,
        n_samples=dict(info["n_samples"]),
        files={size: medmnist_file(flag, size) for size in sizes},
        license=info.get("license", ""),
        description=info.get("description", ""),
    )


@dataclass(frozen=True)
class SyntheticSpec:
    """A generated dataset: class-dependent stripe patterns plus noise, learnable in a few steps."""

    task: str
    num_classes: int
    in_chans: int
    n_samples: tuple[int, int, int] = (48, 24, 48)


SYNTHETIC_SPECS: dict[str, SyntheticSpec] = {
    "synthetic": SyntheticSpec(task="binary-class", num_classes=2, in_chans=1),
    "synthetic-rgb": SyntheticSpec(task="multi-class", num_classes=4, in_chans=3),
    "synthetic-multilabel": SyntheticSpec(task=MULTI_LABEL, num_classes=3, in_chans=1),
}


def _synthetic_entry(name: str, spec: SyntheticSpec) -> ImageDatasetInfo:
    return ImageDatasetInfo(
        name=name,
        kind="synthetic",
        task=spec.task,
        num_classes=spec.num_classes,
        in_chans=spec.in_chans,
        class_names=tuple(f"synthetic pattern {k}" for k in range(spec.num_classes)),
        source=name,
        n_samples=dict(zip(SPLITS, spec.n_samples)),
        license="generated by pepr (no real data)",
        description=(
            f"SYNTHETIC smoke-test set: {spec.num_classes} stripe patterns with noise, "
            f"{spec.in_chans} channel(s); generated at any size, seeded; not medical data"
        ),
        synthetic=True,
    )


def image_registry() -> dict[str, ImageDatasetInfo]:
    """Every registered image dataset by name: MedMNIST 2D flags, synthetic sets, user sets."""
    entries = {
        flag: _medmnist_entry(flag, info)
        for flag, info in _medmnist_info().items()
        if not flag.endswith("3d")
    }
    entries.update({name: _synthetic_entry(name, spec) for name, spec in SYNTHETIC_SPECS.items()})
    entries.update(_USER_DATASETS)
    return entries


def list_datasets() -> pd.DataFrame:
    """One row per registered image dataset (name, kind, task, classes, channels, sizes, ...)."""
    return pd.DataFrame([info.as_row() for info in image_registry().values()])


def image_inventory() -> pd.DataFrame:
    """One row per official MedMNIST file (2D flags x sizes): where it resolves now, its MD5.

    Nothing is downloaded or hashed; ``location`` says where a copy is, or where to put one.
    """
    rows = []
    for info in image_registry().values():
        for size, remote in info.files.items():
            found = locate(remote)
            rows.append({
                "dataset": info.name,
                "img_size": size,
                "name": remote.name,
                "location": str(found) if found else NOT_ON_DISK,
                "md5": remote.md5,
                "url": remote.url,
            })
    return pd.DataFrame(rows)


def _path_spec(name: str) -> tuple[str, Path] | None:
    """``(kind, path)`` when ``name`` addresses a user's file or folder, else ``None``."""
    for prefix in ("npz:", "folder:"):
        if name.startswith(prefix):
            return prefix[:-1], Path(name[len(prefix):]).expanduser()
    path = Path(name).expanduser()
    if name.endswith(".npz"):
        return "npz", path
    if ("/" in name or "\\" in name or path.exists()) and path.is_dir():
        return "folder", path
    return None


def get_dataset_info(name: str) -> ImageDatasetInfo:
    """The description of a registered dataset, or of a user's ``.npz``/folder given by path."""
    registry = image_registry()
    if name in registry:
        return registry[name]
    if name.lower() in registry:
        return registry[name.lower()]
    if f"{name.lower()}mnist" in registry:  # "breast" -> "breastmnist"
        return registry[f"{name.lower()}mnist"]
    spec = _path_spec(name)
    if spec is not None:
        return _describe_user_data(name, *spec)
    close = difflib.get_close_matches(name.lower(), list(registry), n=5, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UnknownDatasetError(
        f"unknown dataset {name!r}{hint} Known: {', '.join(sorted(registry))}; or give a path "
        f"('file.npz', 'npz:PATH', 'folder:DIR')"
    )


def register_dataset(name: str, path: str | Path, kind: str | None = None,
                     class_names: Sequence[str] | None = None) -> ImageDatasetInfo:
    """Register a user's ``.npz`` or image folder under ``name`` (kind guessed from the path)."""
    path = Path(path).expanduser()
    if kind is None:
        kind = "folder" if path.is_dir() else "npz"
    if kind not in ("npz", "folder"):
        raise BadParameterError(f"kind must be 'npz' or 'folder', not {kind!r}")
    if name in image_registry() and name not in _USER_DATASETS:
        raise BadParameterError(f"{name!r} is a built-in dataset; choose another name")
    info = _describe_user_data(name, kind, path, class_names)
    _USER_DATASETS[name] = info
    return info


def unregister_dataset(name: str) -> None:
    """Forget a dataset registered with :func:`register_dataset` (no error if unknown)."""
    _USER_DATASETS.pop(name, None)


def _describe_user_data(name: str, kind: str, path: Path,
                        class_names: Sequence[str] | None = None) -> ImageDatasetInfo:
    if not path.exists():
        raise MissingDataError(f"{path}: no such {'file' if kind == 'npz' else 'directory'} "
                               f"for dataset {name!r}")
    if kind == "npz":
        arrays = _read_npz(path)
        images = arrays["train_images"]
        task, num_classes = _infer_task(np.concatenate([arrays[f"{s}_labels"].reshape(
            len(arrays[f"{s}_labels"]), -1) for s in SPLITS]))
        in_chans = 1 if images.ndim == 3 else int(images.shape[-1])
        size = int(images.shape[1])
        n_samples = {s: len(arrays[f"{s}_images"]) for s in SPLITS}
    else:
        classes = _folder_classes(path)
        task = "binary-class" if len(classes) == 2 else "multi-class"
        num_classes = len(classes)
        first = next(iter(_folder_files(path, "train", classes[0])), None)
        in_chans, size = _peek_image(first) if first else (3, 0)
        n_samples = {s: sum(len(_folder_files(path, s, c)) for c in classes) for s in SPLITS}
        class_names = class_names or classes
    names = tuple(class_names) if class_names else tuple(str(k) for k in range(num_classes))
    if len(names) != num_classes:
        raise BadParameterError(f"{len(names)} class names for {num_classes} classes in {path}")
    return ImageDatasetInfo(
        name=name, kind=kind, task=task, num_classes=num_classes, in_chans=in_chans,
        class_names=names, source=str(path), sizes=(size,) if size else (), n_samples=n_samples,
        description=f"user data from {path}",
    )


def _infer_task(labels: np.ndarray) -> tuple[str, int]:
    """Task and class count from labels: (N, 1) class indices, or (N, K>1) 0/1 indicators."""
    if labels.ndim == 2 and labels.shape[1] > 1:
        return MULTI_LABEL, int(labels.shape[1])
    num_classes = int(labels.max()) + 1 if labels.size else 0
    return ("binary-class" if num_classes <= 2 else "multi-class"), max(num_classes, 2)


# -- loading ------------------------------------------------------------------------------------


def load_dataset(
    name: str,
    img_size: int = 28,
    data_fraction: float = 1.0,
    seed: int = 0,
    allow_download: bool = True,
) -> ImageSplits:
    """Load an image dataset into memory at ``img_size``, with a subsample of its training split.

    ``name`` is a registered name (``list_datasets()``), or a path (see the module notes).
    MedMNIST uses the official file of ``img_size`` when it is on disk or downloadable (MD5
    verified); otherwise the largest file on disk is resized (bilinear, antialiased when
    downsampling) and ``source_img_size`` says from what. ``data_fraction`` in (0, 1] keeps a
    seeded, stratified subset of the training split (at least one image per class); validation and
    test splits are never subsampled.
    """
    _check_fraction(data_fraction)
    if img_size < 1:
        raise BadParameterError(f"img_size must be positive, not {img_size}")
    info = get_dataset_info(name)
    source = info.source
    if info.kind == "synthetic":
        arrays, source_size = _synthetic_arrays(SYNTHETIC_SPECS[info.source], img_size), img_size
    elif info.kind == "medmnist":
        path, source_size = _medmnist_path(info, img_size, allow_download)
        arrays = _read_npz(path, expected=info.n_samples)
        source = str(path)
    elif info.kind == "npz":
        arrays = _read_npz(Path(info.source))
        source_size = int(arrays["train_images"].shape[1])
    else:
        arrays, source_size = _read_folder(Path(info.source), info)
    splits = {split: _to_tensors(arrays, split, info) for split in SPLITS}
    if data_fraction < 1.0:
        keep = stratified_subset(splits["train"][1], data_fraction, seed)
        splits["train"] = (splits["train"][0][keep], splits["train"][1][keep])
    splits = {split: (resize_images(x, img_size), y) for split, (x, y) in splits.items()}
    return ImageSplits(
        name=info.name, task=info.task, num_classes=info.num_classes, in_chans=info.in_chans,
        img_size=img_size, source_img_size=source_size, synthetic=info.synthetic,
        train_x=splits["train"][0], train_y=splits["train"][1],
        val_x=splits["val"][0], val_y=splits["val"][1],
        test_x=splits["test"][0], test_y=splits["test"][1],
        class_names=list(info.class_names), data_fraction=data_fraction, seed=seed,
        source=source,
    )


def _check_fraction(data_fraction: float) -> None:
    if not (isinstance(data_fraction, (int, float)) and 0.0 < data_fraction <= 1.0):
        raise BadParameterError(f"data_fraction must be in (0, 1], not {data_fraction!r}")


def _medmnist_path(info: ImageDatasetInfo, img_size: int, allow_download: bool) -> tuple[Path, int]:
    """The verified file to read for ``img_size``, and its size.

    Order: the official file of exactly that size (on disk, else downloaded); else the largest
    official size already on disk (to be resized); else a download of the smallest official size
    that is at least ``img_size``. Offline with nothing on disk, the error says where to put it.
    """
    exact = info.files.get(img_size)
    reasons = []
    if exact is not None:
        try:
            return resolve_image_file(exact, allow_download), img_size
        except MissingDataError as error:
            reasons.append(str(error))
    on_disk = [size for size in sorted(info.files, reverse=True) if locate(info.files[size])]
    if on_disk:
        return resolve_image_file(info.files[on_disk[0]], False), on_disk[0]
    larger = [size for size in sorted(info.files) if size > img_size]
    fallback = larger[0] if larger else max(info.files)
    try:
        return resolve_image_file(info.files[fallback], allow_download), fallback
    except MissingDataError as error:
        reasons.append(str(error))
    raise MissingDataError(
        f"no file of MedMNIST {info.name!r} on disk or downloadable; " + "; ".join(reasons)
    )


#: Files at least this large are hashed once and then recognised by size and modification time
#: (a stamp in the user cache), so a 224 px archive of several GB is not re-hashed every run.
VERIFY_STAMP_MIN_BYTES = 64 * 2**20
VERIFIED_STAMPS = "verified.json"


def resolve_image_file(remote: RemoteFile, allow_download: bool = True) -> Path:
    """:func:`pepr.sources.resolve` with a verification stamp for large files.

    A small file is hashed on every load. A large one is hashed the first time; its size and
    modification time are then recorded in ``<cache>/medmnist/verified.json``, and a later load
    of the same unchanged file skips the hash (a truncated or replaced file changes both).
    """
    found = locate(remote)
    if found is None or found.stat().st_size < VERIFY_STAMP_MIN_BYTES:
        return resolve(remote, allow_download=allow_download)
    stamps = _read_stamps()
    key, signature = str(found.resolve()), _signature(found, remote)
    if stamps.get(key) == signature:
        return found
    path = resolve(remote, allow_download=allow_download)
    stamps[key] = signature
    _write_stamps(stamps)
    return path


def _signature(path: Path, remote: RemoteFile) -> list[object]:
    status = path.stat()
    return [status.st_size, status.st_mtime_ns, remote.algorithm, remote.expected_hash]


def _stamps_path() -> Path:
    return cache_dir() / MEDMNIST_GROUP / VERIFIED_STAMPS


def _read_stamps() -> dict[str, list[object]]:
    try:
        return json.loads(_stamps_path().read_text())
    except (OSError, ValueError):
        return {}


def _write_stamps(stamps: dict[str, list[object]]) -> None:
    """Best effort: a read-only cache only means the next load hashes the file again."""
    path = _stamps_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(stamps, indent=1))
        tmp.replace(path)
    except OSError:
        pass


def _read_npz(path: Path, expected: dict[str, int] | None = None) -> dict[str, np.ndarray]:
    """The six arrays of a MedMNIST-style archive, checked for keys and matching lengths."""
    keys = [f"{split}_{part}" for split in SPLITS for part in ("images", "labels")]
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in keys if key not in archive.files]
            if missing:
                raise CorruptDataError(
                    f"{path}: not a MedMNIST-style archive, missing {', '.join(missing)} "
                    f"(has {', '.join(archive.files)})"
                )
            arrays = {key: archive[key] for key in keys}
    except CorruptDataError:
        raise
    except FileNotFoundError as error:
        raise MissingDataError(f"{path}: no such file") from error
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as error:
        raise CorruptDataError(f"{path}: cannot be read as an .npz archive ({error})") from error
    for split in SPLITS:
        n_images, n_labels = len(arrays[f"{split}_images"]), len(arrays[f"{split}_labels"])
        if n_images != n_labels:
            raise CorruptDataError(f"{path}: {split} has {n_images} images but {n_labels} labels")
        if expected and split in expected and n_images != expected[split]:
            raise CorruptDataError(
                f"{path}: {split} has {n_images} images, the official description says "
                f"{expected[split]}"
            )
    return arrays


def _to_tensors(arrays: dict[str, np.ndarray], split: str,
                info: ImageDatasetInfo) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (N, C, H, W) images and int64 labels ((N,) or (N, K) for multi-label)."""
    import torch

    images = np.asarray(arrays[f"{split}_images"])
    if images.dtype != np.uint8:
        if images.dtype.kind == "f" and images.size and images.max() <= 1.0:
            images = images * 255.0
        images = np.clip(np.rint(images), 0, 255).astype(np.uint8)
    x = torch.from_numpy(np.ascontiguousarray(images))
    if x.ndim == 3:
        x = x.unsqueeze(1)
    elif x.ndim == 4:
        x = x.permute(0, 3, 1, 2).contiguous()
    else:
        raise CorruptDataError(f"{info.source}: {split}_images has shape {tuple(images.shape)}; "
                               f"expected (N, H, W) or (N, H, W, C)")
    labels = np.asarray(arrays[f"{split}_labels"]).astype(np.int64)
    y = torch.from_numpy(labels.reshape(len(labels), -1))
    if not is_multi_label(info.task):
        y = y[:, 0].contiguous()
    return x, y


def resize_images(images: torch.Tensor, img_size: int) -> torch.Tensor:
    """uint8 (N, C, H, W) images resized to ``img_size`` (bilinear; antialiased when shrinking)."""
    import torch

    if images.shape[-1] == img_size and images.shape[-2] == img_size:
        return images
    shrinking = img_size < max(images.shape[-2:])
    chunks = []
    for start in range(0, len(images), RESIZE_CHUNK):
        chunk = images[start:start + RESIZE_CHUNK].float()
        out = torch.nn.functional.interpolate(
            chunk, size=(img_size, img_size), mode="bilinear", align_corners=False,
            antialias=shrinking,
        )
        chunks.append(out.round_().clamp_(0, 255).to(torch.uint8))
    if not chunks:
        return images.new_zeros((0, images.shape[1], img_size, img_size))
    return torch.cat(chunks)


def stratified_subset(labels: "torch.Tensor", fraction: float, seed: int) -> "torch.Tensor":
    """Sorted indices of a seeded, stratified ``fraction`` of ``labels``; every class kept.

    Class-index labels (N,): each class keeps ``max(1, round(fraction * count))`` of its members,
    drawn without replacement. Multi-label (N, K) indicators: ``max(1, round(fraction * N))``
    rows drawn at random, plus one random positive row for any label the draw missed (strata
    by label combination would keep far more than ``fraction`` when combinations are many).
    """
    import torch

    _check_fraction(fraction)
    rng = np.random.default_rng(seed)
    values = labels.numpy()
    if values.ndim == 2 and values.shape[1] > 1:
        count = max(1, int(round(fraction * len(values))))
        keep = set(rng.choice(len(values), size=min(count, len(values)), replace=False).tolist())
        for k in range(values.shape[1]):
            positives = np.flatnonzero(values[:, k] > 0)
            if len(positives) and not keep.intersection(positives.tolist()):
                keep.add(int(rng.choice(positives)))
        return torch.tensor(sorted(keep), dtype=torch.int64)
    stratum = values.reshape(len(values), -1)[:, 0]
    kept = []
    for value in np.unique(stratum):
        members = np.flatnonzero(stratum == value)
        count = max(1, int(round(fraction * len(members))))
        kept.append(rng.choice(members, size=count, replace=False))
    return torch.from_numpy(np.sort(np.concatenate(kept)) if kept else np.zeros(0, np.int64))


# -- image folders ------------------------------------------------------------------------------


def _folder_classes(root: Path) -> list[str]:
    """Class names: the sorted sub-folders of ``root/train``; each split must exist."""
    missing = [split for split in SPLITS if not (root / split).is_dir()]
    if missing:
        raise MissingDataError(
            f"{root}: an image folder needs the sub-folders {', '.join(SPLITS)} "
            f"(<root>/<split>/<class>/*.png); missing {', '.join(missing)}"
        )
    classes = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
    if not classes:
        raise CorruptDataError(f"{root / 'train'}: no class sub-folders")
    return classes


def _folder_files(root: Path, split: str, class_name: str) -> list[Path]:
    folder = root / split / class_name
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _peek_image(path: Path) -> tuple[int, int]:
    """(channels, size) of one image: grayscale -> 1 channel, anything else -> 3."""
    from PIL import Image

    with Image.open(path) as image:
        return (1 if image.mode in ("L", "I", "I;16", "1") else 3), max(image.size)


def _read_folder(root: Path, info: ImageDatasetInfo) -> tuple[dict[str, np.ndarray], int]:
    """Arrays in the .npz layout from ``<root>/<split>/<class>/*``.

    Every image is converted to the mode of the first one (grayscale or RGB) and resized,
    bilinearly, to the first image's larger side (a non-square image is stretched).
    """
    from PIL import Image

    classes = _folder_classes(root)
    size = info.sizes[0] if info.sizes else 28
    mode = "L" if info.in_chans == 1 else "RGB"
    arrays: dict[str, np.ndarray] = {}
    for split in SPLITS:
        images, labels = [], []
        for index, class_name in enumerate(classes):
            for path in _folder_files(root, split, class_name):
                try:
                    with Image.open(path) as image:
                        image = image.convert(mode)
                        if image.size != (size, size):
                            image = image.resize((size, size), Image.Resampling.BILINEAR)
                        images.append(np.asarray(image, dtype=np.uint8))
                except OSError as error:
                    raise CorruptDataError(f"{path}: cannot be read as an image ({error})") from error
                labels.append(index)
        shape = (0, size, size) if mode == "L" else (0, size, size, 3)
        arrays[f"{split}_images"] = np.stack(images) if images else np.zeros(shape, np.uint8)
        arrays[f"{split}_labels"] = np.asarray(labels, dtype=np.int64).reshape(-1, 1)
    return arrays, size


# -- synthetic ----------------------------------------------------------------------------------


def _synthetic_arrays(spec: SyntheticSpec, img_size: int) -> dict[str, np.ndarray]:
    """Stripes whose orientation and frequency encode the class, plus noise; generated at size.

    The images do not depend on the run's seed (only the fraction subsample does), so runs with
    other seeds see the same data, as they would with a real dataset.
    """
    rng = np.random.default_rng(12345)
    coords = np.arange(img_size, dtype=np.float32) / max(img_size, 1)
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    patterns = []
    for k in range(spec.num_classes):
        angle = np.pi * k / spec.num_classes
        frequency = 3.0 + 2.0 * k
        wave = np.sin(2 * np.pi * frequency * (np.cos(angle) * xx + np.sin(angle) * yy))
        patterns.append(wave)
    arrays: dict[str, np.ndarray] = {}
    multi_label = is_multi_label(spec.task)
    for split, count in zip(SPLITS, spec.n_samples):
        if multi_label:
            labels = rng.integers(0, 2, size=(count, spec.num_classes))
            signal = np.einsum("nk,khw->nhw", labels, np.stack(patterns)) / spec.num_classes
        else:
            labels = np.arange(count) % spec.num_classes
            rng.shuffle(labels)
            signal = np.stack([patterns[k] for k in labels])
        noise = rng.normal(0.0, 0.35, size=(count, spec.in_chans, img_size, img_size))
        images = 0.5 + 0.35 * signal[:, None] + noise * 0.35
        images = np.clip(images * 255.0, 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
        arrays[f"{split}_images"] = images[..., 0] if spec.in_chans == 1 else images
        arrays[f"{split}_labels"] = labels.reshape(count, -1).astype(np.int64)
    return arrays
