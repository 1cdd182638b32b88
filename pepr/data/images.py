"""The image datasets pepr knows: each one's description (:class:`ImageDatasetInfo`), the MedMNIST flags (from pepr's snapshot of ``medmnist.INFO``) and the synthetic smoke-test sets, with their arrays."""

from __future__ import annotations

import functools
import importlib.util
import json
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pepr.core import paths
from pepr.core.errors import (
    TRAIN_INSTALL,
    BadParameterError,
    CorruptDataError,
    DataWarning,
    MissingDataError,
)
from pepr.core.sources import RemoteFile
from pepr.core.text import plural

# ---------------------------------------------------------------------------------------------
# Image datasets: MedMNIST flags, a user's own .npz or image folder, and synthetic smoke-test sets
# ---------------------------------------------------------------------------------------------
#
# Every image dataset is one :class:`ImageDatasetInfo` entry in a registry keyed by name. The
# entries for MedMNIST are generated from ``medmnist.INFO`` (task, labels, channels, split sizes,
# URL and MD5 per size), so the package's own description drives loading, checksum checks,
# ``list_datasets()`` and the book's dataset table. The book-only install has no ``medmnist``
# package; it reads the same fields from ``data/medmnist_info.json``, a snapshot of that table
# (:func:`medmnist_info_snapshot`, checked against the package by the tests). A name can also be
# a path:
#
# * ``"path/to/file.npz"`` or ``"npz:path/to/file"``: a MedMNIST-style archive with the keys
#   ``{train,val,test}_{images,labels}``;
# * ``"folder:path/to/root"`` or an existing directory: ``<root>/<split>/<class>/<image>`` with
#   the splits ``train``, ``val`` and ``test``;
# * ``register_dataset(name, path)`` gives either a name of its own, kept in the registry file
#   ``data/datasets.yml`` (see :data:`REGISTRY_HEADER`), so later processes know it too.
#
# Every spelling of a dataset has one identity, :func:`canonical_dataset`: the registry name, or
# ``"<kind>:<absolute resolved path>"``; ``ImageDatasetInfo.name`` is that identity.

SPLITS: tuple[str, ...] = ("train", "val", "test")


MEDMNIST_SIZES: tuple[int, ...] = (28, 64, 128, 224)


MEDMNIST_GROUP = "medmnist"


IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif"})


#: MedMNIST's task string for multi-label data (ChestMNIST): one 0/1 indicator per label.
MULTI_LABEL = "multi-label, binary-class"


def announce(message: str) -> None:
    """Say, in one line, what was done to a user's data (a :class:`DataWarning`), attributed to
    the first caller outside this module (the line that loaded the data)."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame, level = frame.f_back, level + 1
    warnings.warn(" ".join(message.split()), DataWarning, stacklevel=level)


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


# -- the registry -------------------------------------------------------------------------------

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


@functools.lru_cache(maxsize=1)
def _medmnist_info() -> dict[str, dict]:
    """``medmnist.INFO``, the package's declarative table of its datasets.

    Read from ``medmnist/info.py`` alone: ``import medmnist`` also imports its evaluator and so
    scikit-learn and SciPy (1.4 s on this machine), which every run's fresh kernel would pay
    (``benchmarks/fixed_cost.py``). Without the package (the book-only install), or where its
    ``info.py`` cannot be located (another layout of it), pepr's snapshot
    ``data/medmnist_info.json`` (:func:`read_medmnist_snapshot`); the package itself is never
    imported here.
    """

    if "medmnist.info" in sys.modules:
        return sys.modules["medmnist.info"].INFO
    try:
        found = importlib.util.find_spec("medmnist")
    except (ImportError, ValueError):  # a finder that refuses it, a half-imported module
        found = None
    if found is None:
        return read_medmnist_snapshot()
    folders = list(found.submodule_search_locations or [])
    info_file = next((Path(f) / "info.py" for f in folders if (Path(f) / "info.py").is_file()), None)
    if info_file is None:  # another layout of the package: pepr's own snapshot of it
        return read_medmnist_snapshot()
    spec = importlib.util.spec_from_file_location("pepr._medmnist_info", info_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.INFO


#: The fields of a ``medmnist.INFO`` entry that pepr reads (loading, checksums, listings), with
#: the URL and MD5 of every size; the snapshot keeps these for the 2D flags.
MEDMNIST_SNAPSHOT_FIELDS: tuple[str, ...] = (
    "task", "label", "n_channels", "n_samples", "license",
    *(f"{kind}{_suffix(size)}" for size in MEDMNIST_SIZES for kind in ("url", "MD5")),
)


def medmnist_info_snapshot(info: dict[str, dict]) -> dict[str, dict]:
    """The part of ``medmnist.INFO`` that pepr reads: 2D flags, :data:`MEDMNIST_SNAPSHOT_FIELDS`.

    Written to ``data/medmnist_info.json`` by :func:`write_medmnist_snapshot`, so the book-only
    install (no ``medmnist`` package, which needs torch) still knows the flags, their labels
    and the URL and MD5 of each file.
    """
    return {flag: {key: entry[key] for key in MEDMNIST_SNAPSHOT_FIELDS if key in entry}
            for flag, entry in info.items() if not flag.endswith("3d")}


def read_medmnist_snapshot(path: str | Path | None = None) -> dict[str, dict]:
    """The snapshot of ``medmnist.INFO`` (``data/medmnist_info.json``): flag -> fields."""
    path = Path(path) if path is not None else paths.MEDMNIST_INFO_JSON
    try:
        return json.loads(path.read_text())["INFO"]
    except FileNotFoundError as error:
        raise MissingDataError(
            f"{path}: no snapshot of medmnist.INFO, and the medmnist package is not installed "
            f"({TRAIN_INSTALL})") from error
    except (ValueError, KeyError, TypeError) as error:
        raise CorruptDataError(f"{path}: not a snapshot of medmnist.INFO ({error})") from error


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
            f"{plural(spec.in_chans, 'channel')}; generated at any size, seeded; not medical data"
        ),
        synthetic=True,
    )


def _builtin_registry() -> dict[str, ImageDatasetInfo]:
    """The datasets that ship with pepr: MedMNIST 2D flags and the synthetic sets."""
    entries = {
        flag: _medmnist_entry(flag, info)
        for flag, info in _medmnist_info().items()
        if not flag.endswith("3d")
    }
    entries.update({name: _synthetic_entry(name, spec) for name, spec in SYNTHETIC_SPECS.items()})
    return entries


def _check_fraction(data_fraction: float) -> None:
    if not (isinstance(data_fraction, (int, float)) and 0.0 < data_fraction <= 1.0):
        raise BadParameterError(f"data_fraction must be in (0, 1], not {data_fraction!r}")


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


def stratified_indices(values: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of a seeded, stratified ``fraction`` of the labels ``values``; every class
    kept (the subset-size rule of a run's ``data_fraction``, written once).

    Class-index labels (N,): each class keeps ``max(1, round(fraction * count))`` of its members,
    drawn without replacement. Multi-label (N, K) indicators: ``max(1, round(fraction * N))``
    rows drawn at random, plus one random positive row for any label the draw missed (strata
    by label combination would keep far more than ``fraction`` when combinations are many).
    """
    _check_fraction(fraction)
    rng = np.random.default_rng(seed)
    values = np.asarray(values)
    if values.ndim == 2 and values.shape[1] > 1:
        count = max(1, int(round(fraction * len(values))))
        keep = set(rng.choice(len(values), size=min(count, len(values)), replace=False).tolist())
        for k in range(values.shape[1]):
            positives = np.flatnonzero(values[:, k] > 0)
            if len(positives) and not keep.intersection(positives.tolist()):
                keep.add(int(rng.choice(positives)))
        return np.array(sorted(keep), dtype=np.int64)
    stratum = values.reshape(len(values), -1)[:, 0]
    kept = []
    for value in np.unique(stratum):
        members = np.flatnonzero(stratum == value)
        count = max(1, int(round(fraction * len(members))))
        kept.append(rng.choice(members, size=count, replace=False))
    return np.sort(np.concatenate(kept)).astype(np.int64) if kept else np.zeros(0, np.int64)

