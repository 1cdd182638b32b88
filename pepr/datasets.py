"""The datasets registry: every table and image set the compendium reads, described once.

The official PePR release's tables are :data:`PAPER_FILES` (name, pinned URL, SHA-256, what each
holds), taken from the release's one description, :mod:`pepr.release`; the same description
drives resolution, checksum checks, ``pepr data`` and the book's data table.

Image datasets (MedMNIST flags, a user's ``.npz`` or image folder, synthetic smoke-test sets)
are described by :class:`ImageDatasetInfo` entries (:func:`image_registry`) and loaded into
memory as :class:`ImageSplits` by :func:`load_dataset`. A user's own datasets are registered by
name in the registry file ``data/datasets.yml`` (:func:`pepr.paths.datasets_file`), which every
command reads; :func:`canonical_dataset` gives every dataset one identity however it is named.

Decisions taken about a user's data that change what is read (a file converted to another
colour mode, an image resized or stretched) are announced as a :class:`DataWarning`, one line
each; data that cannot be read without guessing (a class only in ``val/``, transparent or 16-bit
images) raises :class:`pepr.errors.CorruptDataError`.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import json
import os
import sys
import warnings
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import yaml

from pepr import paths, release
from pepr.errors import (
    TRAIN_INSTALL,
    BadParameterError,
    CorruptDataError,
    DataWarning,
    MissingDataError,
    PeprError,
    UnknownDatasetError,
)
from pepr.sources import RemoteFile, cache_dir, locate, resolve

if TYPE_CHECKING:  # torch and PIL are imported where images are loaded: reading tables stays light
    import PIL.Image
    import torch

# The release's files, commit and licence are described once, in :mod:`pepr.release`; the
# commit is named here too for the registry's callers.
PAPER_COMMIT = release.COMMIT

#: What an inventory's ``location`` says for a registered file that is not on disk yet.
NOT_ON_DISK = "(not on disk; downloaded on first use)"

#: The release's files by name (:data:`pepr.release.FILES`).
PAPER_FILES: dict[str, RemoteFile] = release.FILES


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
RESIZE_CHUNK = 512  # images resized at a time: bounds the float32 buffer (~300 MB at 224 px)
#: MedMNIST's task string for multi-label data (ChestMNIST): one 0/1 indicator per label.
MULTI_LABEL = "multi-label, binary-class"
#: :meth:`ImageSplits.summary` names the classes when there are this few, in this many characters,
#: and keeps this many characters of a dataset's name (a long path keeps its end).
SUMMARY_MAX_CLASS_NAMES = 6
SUMMARY_MAX_NAMES_CHARS = 60
SUMMARY_MAX_NAME_CHARS = 80


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

    def summary(self) -> str:
        """One line (no newline, under 300 characters) saying what a run saw: the dataset, its
        task and classes, images per split, channels, source and training sizes, the fraction.

        The training code prints it and stores it in the results column ``data_summary``.
        """
        kind = "labels" if self.multi_label else "classes"
        classes = f"{self.num_classes} {kind}"
        names = " / ".join(" ".join(str(name).split()) for name in self.class_names)
        if names and len(self.class_names) <= SUMMARY_MAX_CLASS_NAMES and \
                len(names) <= SUMMARY_MAX_NAMES_CHARS:
            classes += f" ({names})"
        counts = ", ".join(f"{split} {count}" for split, count in self.sizes().items())
        channels = f"{self.in_chans} channel{'' if self.in_chans == 1 else 's'}"
        fraction = f"fraction {self.data_fraction:g}"
        if self.data_fraction < 1.0:
            fraction += f" (seed {self.seed})"
        label = _shorten(" ".join(self.name.split()), SUMMARY_MAX_NAME_CHARS)
        if self.synthetic:
            label += " (SYNTHETIC)"
        return (f"{label}: {self.task}, {classes}; {counts}; {channels}; "
                f"source {self.source_img_size} px, training {self.img_size} px; {fraction}")

    def __repr__(self) -> str:
        resized = "" if self.img_size == self.source_img_size else f" from {self.source_img_size}px"
        kind = " synthetic" if self.synthetic else ""
        return (
            f"ImageSplits({self.name!r}{kind}, {self.task}, {self.num_classes} classes, "
            f"{self.in_chans}x{self.img_size}x{self.img_size}{resized}, sizes={self.sizes()}, "
            f"data_fraction={self.data_fraction}, seed={self.seed})"
        )


def _shorten(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters: a kind prefix (``folder:``), ``...``, the end."""
    if len(text) <= limit:
        return text
    prefix = text[:text.index(":") + 1] if ":" in text[:8] else ""
    return prefix + "..." + text[len(text) - (limit - len(prefix) - 3):]


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
    (``benchmarks/fixed_cost.py``). Falls back to the package import when the file cannot be
    located (another layout of the package). Without the package (the book-only install), the
    snapshot ``data/medmnist_info.json`` (:func:`read_medmnist_snapshot`).
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
    if info_file is None:
        from medmnist.info import INFO

        return INFO
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


def write_medmnist_snapshot(path: str | Path | None = None) -> Path:
    """Write :func:`medmnist_info_snapshot` of the installed ``medmnist.INFO`` to ``path``."""
    from medmnist.info import INFO, __version__

    path = Path(path) if path is not None else paths.MEDMNIST_INFO_JSON
    document = {"source": f"medmnist {__version__}, medmnist/info.py INFO: the 2D flags, the "
                          f"fields pepr reads (pepr.datasets.write_medmnist_snapshot)",
                "INFO": medmnist_info_snapshot(INFO)}
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    return path


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


def _builtin_registry() -> dict[str, ImageDatasetInfo]:
    """The datasets that ship with pepr: MedMNIST 2D flags and the synthetic sets."""
    entries = {
        flag: _medmnist_entry(flag, info)
        for flag, info in _medmnist_info().items()
        if not flag.endswith("3d")
    }
    entries.update({name: _synthetic_entry(name, spec) for name, spec in SYNTHETIC_SPECS.items()})
    return entries


def image_registry() -> dict[str, ImageDatasetInfo]:
    """Every registered image dataset by name: MedMNIST 2D flags, synthetic sets, and the
    user's datasets from the registry file (:func:`read_registry`).

    A user's entry that cannot be used now (its path is missing, its data unreadable) is listed
    with the task :data:`UNUSABLE` and the reason in ``description``; using it raises that error.
    """
    entries = _builtin_registry()
    for name, entry in read_registry().items():
        try:
            entries[name] = _describe_entry(entry)
        except PeprError as error:
            entries[name] = ImageDatasetInfo(
                name=name, kind=entry.kind, task=UNUSABLE, num_classes=0, in_chans=0,
                class_names=(), source=str(entry.path), license=entry.licence,
                description=f"UNUSABLE: {' '.join(str(error).split())}",
            )
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


# -- the user's registry file ------------------------------------------------------------------
#
# ``data/datasets.yml`` (or ``$PEPR_DATASETS_FILE``) maps a name to a user's .npz or image folder.
# It is read afresh by every lookup, so a dataset registered in one process is known in the next.

USER_KINDS: tuple[str, ...] = ("npz", "folder")
#: The task :func:`image_registry` lists for a registered dataset that cannot be used now.
UNUSABLE = "UNUSABLE"
#: The keys of one registry entry; ``path`` is required, the others optional.
REGISTRY_KEYS: tuple[str, ...] = ("path", "kind", "licence", "notes", "class_names")
REGISTRY_HEADER = """\
# pepr's dataset registry: your own image datasets by name, read by every pepr command.
#
# One entry per dataset, a name mapped to where the data is and what it is:
#
#   skin-own:                       # the name to use: pepr run --dataset skin-own, studies, ...
#     path: own/skin                # a .npz archive or an image folder <path>/<split>/<class>/*.png
#                                   # (splits train, val, test); a relative path is relative to
#                                   # the folder of this file; ~ is expanded
#     kind: folder                  # npz | folder (guessed from the path when left out)
#     licence: CC BY 4.0            # the terms under which the data may be used
#     notes: dermoscopy, 2 sites    # what a reader of the results should know about the data
#     class_names: [benign, malignant]  # optional: names of the label indices (npz)
#
# A name may not be a built-in dataset (a MedMNIST flag, a synthetic set), contain ':', '/' or
# '\\', or end in .npz. pepr.datasets.register_dataset(name, path, kind, class_names, licence,
# notes) and unregister_dataset(name) edit this file; they rewrite it, keeping only this header
# as comments, so put remarks in `notes`. The data itself is never committed.
"""


@dataclass(frozen=True)
class RegistryEntry:
    """One entry of the registry file, its path made absolute (relative to the file's folder)."""

    name: str
    path: Path
    kind: str
    licence: str = ""
    notes: str = ""
    class_names: tuple[str, ...] | None = None
    registry: Path = Path()


def read_registry(path: str | Path | None = None) -> dict[str, RegistryEntry]:
    """The user's datasets from the registry file (default :func:`pepr.paths.datasets_file`).

    A missing file is an empty registry; a malformed one (not YAML, not a mapping, an unknown
    key, a name that is a built-in dataset) raises :class:`CorruptDataError` naming the file.
    Paths are not checked here: an entry whose data is missing fails when it is used.
    """
    file = Path(path).expanduser() if path is not None else paths.datasets_file()
    base = file.absolute().parent
    entries = {}
    for name, fields in _read_registry_raw(file).items():
        location = Path(fields["path"]).expanduser()
        location = (location if location.is_absolute() else base / location).resolve()
        names = fields.get("class_names")
        entries[name] = RegistryEntry(
            name=name, path=location, kind=fields.get("kind") or _guess_kind(location),
            licence=str(fields.get("licence") or ""), notes=str(fields.get("notes") or ""),
            class_names=tuple(str(n) for n in names) if names else None, registry=file,
        )
    return entries


def _read_registry_raw(file: Path) -> dict[str, dict[str, object]]:
    """The registry file's mapping as written (paths untouched), checked key by key."""
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise CorruptDataError(f"{file}: the dataset registry cannot be read ({error})") from error
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise CorruptDataError(f"{file}: the dataset registry is not valid YAML "
                               f"({' '.join(str(error).split())})") from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CorruptDataError(f"{file}: the dataset registry must be a mapping name -> "
                               f"{{{', '.join(REGISTRY_KEYS)}}}, not a {type(data).__name__}")
    builtins = set(_builtin_registry())
    seen: dict[str, str] = {}
    for name, fields in data.items():
        problem = _name_problem(name, builtins)
        if problem is None and str(name).lower() in seen:
            problem = f"differs from the entry {seen[str(name).lower()]!r} only in case"
        if problem is None:
            problem = _fields_problem(fields)
        if problem is not None:
            raise CorruptDataError(f"{file}: dataset {name!r}: {problem}")
        seen[name.lower()] = name
    return data


def _name_problem(name: object, builtins: set[str]) -> str | None:
    """Why ``name`` cannot name a user's dataset, or ``None``."""
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        return "a dataset name must be a non-empty string without surrounding spaces"
    if any(char in name for char in ":/\\") or name.lower().endswith(".npz"):
        return ("a dataset name may not contain ':', '/' or '\\' or end in .npz "
                "(it would read as a path)")
    key = name.lower()
    if key in builtins or f"{key}mnist" in builtins:
        return "is a built-in dataset (or a short name of one); choose another name"
    return None


def _fields_problem(fields: object) -> str | None:
    """Why one entry's fields are not a valid registry entry, or ``None``."""
    if not isinstance(fields, dict):
        return f"an entry must be a mapping with the keys {', '.join(REGISTRY_KEYS)}"
    for key in fields:
        if key not in REGISTRY_KEYS:
            close = difflib.get_close_matches(str(key), REGISTRY_KEYS, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return f"unknown key {key!r}{hint}; the keys are {', '.join(REGISTRY_KEYS)}"
    if not isinstance(fields.get("path"), str) or not fields["path"].strip():
        return "has no 'path' (the .npz archive or image folder)"
    if fields.get("kind") is not None and fields["kind"] not in USER_KINDS:
        return f"kind must be {' or '.join(USER_KINDS)}, not {fields['kind']!r}"
    for key in ("licence", "notes"):
        if fields.get(key) is not None and not isinstance(fields[key], (str, int, float)):
            return f"{key} must be text, not {type(fields[key]).__name__}"
    names = fields.get("class_names")
    if names is not None and not (isinstance(names, list) and
                                  all(isinstance(n, (str, int)) for n in names)):
        return "class_names must be a list of names"
    return None


def _guess_kind(path: Path) -> str:
    return "folder" if path.is_dir() or (not path.exists() and path.suffix != ".npz") else "npz"


def _write_registry(file: Path, raw: dict[str, dict[str, object]]) -> None:
    """Write the registry atomically (a temporary file beside it, then a rename)."""
    body = yaml.safe_dump(raw, sort_keys=False, allow_unicode=True) if raw else ""
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(REGISTRY_HEADER + ("\n" + body if body else ""), encoding="utf-8")
        os.replace(tmp, file)
    finally:
        tmp.unlink(missing_ok=True)


def _describe_entry(entry: RegistryEntry) -> ImageDatasetInfo:
    """The description of a registry entry; an error names the registry file."""
    try:
        return _describe_user_data(entry.name, entry.kind, entry.path, entry.class_names,
                                   licence=entry.licence, notes=entry.notes)
    except (MissingDataError, CorruptDataError, BadParameterError) as error:
        raise type(error)(f"{error} (dataset {entry.name!r} is registered in {entry.registry}; "
                          f"fix its entry or unregister_dataset({entry.name!r}))") from error


# -- names and identities ------------------------------------------------------------------------


def canonical_dataset(name: str | os.PathLike[str]) -> str:
    """The one identity of a dataset, however it is named.

    A built-in or registered name (case-insensitive; ``breast`` for ``breastmnist``) gives its
    registry name. A path (``DIR``, ``./DIR/``, ``folder:DIR``, ``file.npz``, ``npz:FILE``) gives
    the registered name whose path is the same file or folder, else ``"<kind>:<absolute resolved
    path>"``. Anything else raises :class:`UnknownDatasetError` with close matches.
    """
    text = os.fspath(name) if isinstance(name, os.PathLike) else str(name)
    builtins = _builtin_registry()
    entries = read_registry()
    names = {key.lower(): key for key in [*builtins, *entries]}
    key = text.strip().lower()
    if key in names:
        return names[key]
    if f"{key}mnist" in builtins:  # "breast" -> "breastmnist"
        return f"{key}mnist"
    spec = _path_spec(text)
    if spec is not None:
        kind, path = spec
        resolved = path.resolve()
        for entry in entries.values():
            if entry.path == resolved:
                return entry.name
        return f"{kind}:{resolved}"
    close = difflib.get_close_matches(key, list(names), n=5, cutoff=0.5)
    hint = f"; did you mean {', '.join(names[c] for c in close)}?" if close else ""
    raise UnknownDatasetError(
        f"unknown dataset {text!r}{hint} Known: {', '.join(sorted(names.values()))}; or give a "
        f"path ('file.npz', 'npz:PATH', 'folder:DIR'), or register_dataset(name, path)"
    )


def get_dataset_info(name: str | os.PathLike[str]) -> ImageDatasetInfo:
    """The description of a dataset: built-in, registered, or a user's ``.npz``/folder by path.

    Its ``name`` is :func:`canonical_dataset` of ``name``, so every spelling of one dataset gives
    the same settings and normalisation pools.
    """
    canonical = canonical_dataset(name)
    builtins = _builtin_registry()
    if canonical in builtins:
        return builtins[canonical]
    entries = read_registry()
    if canonical in entries:
        return _describe_entry(entries[canonical])
    kind, path = canonical.split(":", 1)
    return _describe_user_data(canonical, kind, Path(path))


def register_dataset(name: str, path: str | Path, kind: str | None = None,
                     class_names: Sequence[str] | None = None, licence: str = "",
                     notes: str = "") -> ImageDatasetInfo:
    """Register a user's ``.npz`` or image folder under ``name`` in the registry file.

    ``kind`` (``npz`` or ``folder``) is guessed from the path when ``None``. The data is read
    and checked first, so nothing is written for data that cannot be used. The entry's path is
    written relative to the registry's folder when the data lies inside it, else absolute.
    Registering a name again replaces its entry; other entries are kept. A name may not be a
    built-in dataset, and one file or folder has one name (:func:`canonical_dataset`).
    """
    file = paths.datasets_file()
    raw = _read_registry_raw(file)
    problem = _name_problem(name, set(_builtin_registry()))
    if problem is not None:
        raise BadParameterError(f"cannot register {name!r}: {problem}")
    location = Path(path).expanduser().resolve()
    kind = kind if kind is not None else _guess_kind(location)
    if kind not in USER_KINDS:
        raise BadParameterError(f"kind must be {' or '.join(USER_KINDS)}, not {kind!r}")
    for other in read_registry(file).values():
        if other.path == location and other.name.lower() != name.lower():
            raise BadParameterError(
                f"{location} is already registered as {other.name!r} in {file}; one dataset has "
                f"one name: use {other.name!r}, or unregister_dataset({other.name!r}) first"
            )
    info = _describe_user_data(name, kind, location, class_names, licence=licence, notes=notes)
    try:
        stored = location.relative_to(file.absolute().parent.resolve()).as_posix()
    except ValueError:
        stored = str(location)
    fields: dict[str, object] = {"path": stored, "kind": kind, "licence": licence, "notes": notes}
    if class_names:
        fields["class_names"] = [str(n) for n in class_names]
    raw = {key: value for key, value in raw.items() if key.lower() != name.lower()}
    raw[name] = fields
    _write_registry(file, raw)
    return info


def unregister_dataset(name: str) -> None:
    """Remove ``name`` (case-insensitive) from the registry file; nothing to do if unknown."""
    file = paths.datasets_file()
    raw = _read_registry_raw(file)
    kept = {key: value for key, value in raw.items() if key.lower() != str(name).lower()}
    if len(kept) != len(raw):
        _write_registry(file, kept)


def _describe_user_data(name: str, kind: str, path: Path,
                        class_names: Sequence[str] | None = None, licence: str = "",
                        notes: str = "") -> ImageDatasetInfo:
    """Describe a user's data from the data itself: an .npz's arrays, or a folder's files
    (every file's header decides channels and size, :func:`_folder_channels_and_size`)."""
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
        layout = folder_layout(path)
        classes = list(layout.classes)
        task = "binary-class" if len(classes) == 2 else "multi-class"
        num_classes = len(classes)
        in_chans, size = _folder_channels_and_size(layout)
        n_samples = {split: layout.count(split) for split in SPLITS}
        class_names = class_names or classes
    names = tuple(class_names) if class_names else tuple(str(k) for k in range(num_classes))
    if len(names) != num_classes:
        raise BadParameterError(f"{len(names)} class names for {num_classes} classes in {path}")
    return ImageDatasetInfo(
        name=name, kind=kind, task=task, num_classes=num_classes, in_chans=in_chans,
        class_names=names, source=str(path), sizes=(size,) if size else (), n_samples=n_samples,
        license=licence, description=notes or f"user data from {path}",
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


#: PIL modes by what they hold: gray (one meaningful channel), colour (three), and those read
#: only after a check of their alpha channel when loading (pixels with real transparency refuse).
GRAY_MODES = frozenset({"1", "L", "LA", "La"})
COLOUR_MODES = frozenset({"RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"})
PALETTE_MODES = frozenset({"P", "PA"})
#: A folder's announcements and errors name this many example files.
EXAMPLE_FILES = 3


@dataclass(frozen=True)
class FolderLayout:
    """The files of an image folder ``<root>/<split>/<class>/*``, checked for consistency.

    ``files[split][class]`` lists the images of a class in a split (sorted); ``ignored`` holds
    the files of class folders that are not images (hidden files and folders are skipped).
    """

    root: Path
    classes: tuple[str, ...]
    files: dict[str, dict[str, list[Path]]]
    ignored: tuple[Path, ...] = ()

    def count(self, split: str) -> int:
        return sum(len(files) for files in self.files[split].values())

    def all_files(self) -> list[Path]:
        return [path for split in SPLITS for c in self.classes for path in self.files[split][c]]


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def _examples(items: Sequence[object]) -> str:
    shown = ", ".join(str(item) for item in items[:EXAMPLE_FILES])
    return shown + (", ..." if len(items) > EXAMPLE_FILES else "")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def folder_layout(root: Path) -> FolderLayout:
    """The classes and files of an image folder, or an error that says what is inconsistent.

    Classes are the sub-folders of ``train/`` that hold images. Refused: a split folder missing
    (:class:`MissingDataError`); a class folder of ``train/`` without images; a class with images
    in ``val/`` or ``test/`` but not in ``train/`` (its images would be dropped); a class of
    ``train/`` with no images in ``val/`` or ``test/``; images directly in a split folder.
    """
    missing = [split for split in SPLITS if not (root / split).is_dir()]
    if missing:
        raise MissingDataError(
            f"{root}: an image folder needs the sub-folders {', '.join(SPLITS)} "
            f"(<root>/<split>/<class>/*.png); missing {', '.join(missing)}"
        )
    files: dict[str, dict[str, list[Path]]] = {}
    ignored: list[Path] = []
    strays: list[Path] = []
    for split in SPLITS:
        files[split] = {}
        for entry in _visible(root / split):
            if entry.is_dir():
                content = _visible(entry)
                files[split][entry.name] = [p for p in content if _is_image(p)]
                ignored += [p for p in content if p.is_file() and not _is_image(p)]
            elif _is_image(entry):
                strays.append(entry)
    train = files["train"]
    if not train:
        raise CorruptDataError(f"{root / 'train'}: no class sub-folders "
                               f"(<root>/<split>/<class>/*.png)")
    empty = [name for name, images in train.items() if not images]
    if empty:
        raise CorruptDataError(f"{root / 'train'}: class folder(s) without images: "
                               f"{', '.join(empty)}; add images or remove the folder(s)")
    classes = tuple(sorted(train))
    extra = [f"{split}/{name} ({_plural(len(images), 'image')})"
             for split in SPLITS[1:] for name, images in files[split].items()
             if name not in train and images]
    if extra:
        raise CorruptDataError(
            f"{root}: class(es) not in train/: {'; '.join(extra)}; their images would be dropped. "
            f"The classes are the folders of train/ ({', '.join(classes)}): add the class to "
            f"train/ or move its images out"
        )
    absent = [f"{split}/: {', '.join(c for c in classes if not files[split].get(c))}"
              for split in SPLITS[1:] if any(not files[split].get(c) for c in classes)]
    if absent:
        raise CorruptDataError(
            f"{root}: class(es) of train/ with no images in {'; in '.join(absent)}; every class "
            f"needs images in train, val and test"
        )
    if strays:
        raise CorruptDataError(
            f"{root}: {_plural(len(strays), 'image')} directly in a split folder, outside any "
            f"class folder (e.g. {_examples(strays)}); move them into <split>/<class>/"
        )
    for split in SPLITS[1:]:
        files[split] = {name: files[split][name] for name in classes}
    files["train"] = {name: train[name] for name in classes}
    return FolderLayout(root=root, classes=classes, files=files, ignored=tuple(ignored))


def _mode_kind(image: "PIL.Image.Image") -> str:
    """``gray``, ``colour``, ``deep`` (more than 8 bits a channel) or ``unknown``, from the header.

    A palette image is gray when every palette entry is; the pixels are not decoded.
    """
    mode = image.mode
    if mode in GRAY_MODES:
        return "gray"
    if mode in COLOUR_MODES:
        return "colour"
    if mode in PALETTE_MODES:
        try:
            entries = np.frombuffer(bytes(image.palette.palette), np.uint8)
            gray = image.palette.mode == "RGB" and len(entries) % 3 == 0 and bool(
                (entries.reshape(-1, 3) == entries.reshape(-1, 3)[:, :1]).all())
        except (AttributeError, ValueError, TypeError):
            gray = False
        return "gray" if gray else "colour"
    if mode.startswith(("I", "F")):
        return "deep"
    return "unknown"


def _open_image(path: Path) -> "PIL.Image.Image":
    from PIL import Image

    try:
        return Image.open(path)
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise CorruptDataError(f"{path}: cannot be read as an image ({error})") from error


def _refuse_modes(root: Path, refused: dict[str, list[tuple[Path, str]]]) -> None:
    """:class:`CorruptDataError` for images whose conversion to 8 bits would be a guess."""
    reasons = {
        "deep": "more than 8 bits per channel (16-bit or float): reading them as 8-bit needs a "
                "choice pepr does not guess (an intensity window)",
        "unknown": "a mode pepr cannot convert to this folder's mode without a loss",
    }
    for kind, reason in reasons.items():
        found = refused.get(kind, [])
        if found:
            modes = Counter(mode for _, mode in found)
            listed = ", ".join(f"{mode} x{count}" for mode, count in sorted(modes.items()))
            raise CorruptDataError(
                f"{root}: {_plural(len(found), 'image')} in modes {listed} (e.g. "
                f"{_examples([path for path, _ in found])}) with {reason}; convert them to "
                f"8-bit grayscale or RGB files first"
            )


def _folder_channels_and_size(layout: FolderLayout) -> tuple[int, int]:
    """Channels and source size of a folder, from every file's header (no pixels decoded).

    Channels: 1 when every image is grayscale, 3 when any is colour (grayscale files are then
    read as RGB, a lossless conversion). Images of more than 8 bits per channel, or in modes
    without a safe conversion, are refused. Size: the larger side of the most common size.
    """
    refused: dict[str, list[tuple[Path, str]]] = {}
    colour = False
    sizes: Counter[tuple[int, int]] = Counter()
    for path in layout.all_files():
        with _open_image(path) as image:
            kind = _mode_kind(image)
            sizes[image.size] += 1
            if kind in ("deep", "unknown"):
                refused.setdefault(kind, []).append((path, image.mode))
            colour = colour or kind == "colour"
    _refuse_modes(layout.root, refused)
    return (3 if colour else 1), max(_most_common_size(sizes))


def _most_common_size(sizes: Counter[tuple[int, int]]) -> tuple[int, int]:
    """The (width, height) most files have; a tie goes to the larger area, then the wider."""
    return max(sizes, key=lambda size: (sizes[size], size[0] * size[1], size))


def _has_alpha(image: "PIL.Image.Image") -> bool:
    return bool({"A", "a"} & set(image.getbands())) or "transparency" in image.info


def _is_opaque(image: "PIL.Image.Image") -> bool:
    bands = image.getbands()
    if "A" in bands or "a" in bands:
        alpha = image.getchannel("A" if "A" in bands else "a")
    else:
        alpha = image.convert("RGBA").getchannel("A")
    return alpha.getextrema()[0] == 255


def _read_folder(root: Path, info: ImageDatasetInfo) -> tuple[dict[str, np.ndarray], int]:
    """Arrays in the .npz layout from ``<root>/<split>/<class>/*``, every decision announced.

    Each image is converted to the folder's mode (``L``, or ``RGB`` when any file is colour;
    an alpha channel is dropped only when fully opaque, real transparency is refused) and
    resized bilinearly to the source size, ``info.sizes[0]`` square (the larger side of the most
    common size; a non-square image is stretched). Conversions, resizes and stretches are
    announced (:class:`DataWarning`), one line each.
    """
    from PIL import Image

    layout = folder_layout(root)
    size = info.sizes[0]
    mode = "L" if info.in_chans == 1 else "RGB"
    converted: Counter[str] = Counter()
    sizes: Counter[tuple[int, int]] = Counter()
    refused: dict[str, list[tuple[Path, str]]] = {}
    transparent: list[Path] = []
    opaque_alpha = 0
    arrays: dict[str, np.ndarray] = {}
    for split in SPLITS:
        images, labels = [], []
        for index, class_name in enumerate(layout.classes):
            for path in layout.files[split][class_name]:
                with _open_image(path) as image:
                    kind = _mode_kind(image)
                    if kind in ("deep", "unknown") or (kind == "colour" and mode == "L"):
                        # changed since the folder was described: never convert with a loss
                        refused.setdefault("unknown" if kind == "colour" else kind, []).append(
                            (path, image.mode))
                        continue
                    try:
                        image.load()
                        sizes[image.size] += 1
                        if _has_alpha(image):
                            if not _is_opaque(image):
                                transparent.append(path)
                                continue
                            opaque_alpha += 1
                        if image.mode != mode:
                            converted[image.mode] += 1
                            image = image.convert(mode)
                        if image.size != (size, size):
                            image = image.resize((size, size), Image.Resampling.BILINEAR)
                        images.append(np.asarray(image, dtype=np.uint8))
                    except OSError as error:
                        raise CorruptDataError(
                            f"{path}: cannot be read as an image ({error})") from error
                labels.append(index)
        shape = (0, size, size) if mode == "L" else (0, size, size, 3)
        arrays[f"{split}_images"] = np.stack(images) if images else np.zeros(shape, np.uint8)
        arrays[f"{split}_labels"] = np.asarray(labels, dtype=np.int64).reshape(-1, 1)
    _refuse_modes(root, refused)
    if transparent:
        raise CorruptDataError(
            f"{root}: {_plural(len(transparent), 'image')} with transparent pixels (e.g. "
            f"{_examples(transparent)}); pepr does not guess the background to composite them "
            f"onto: flatten them onto the background you mean, or drop their alpha channel"
        )
    _announce_folder(layout, mode, size, converted, opaque_alpha, sizes)
    return arrays, size


def _announce_folder(layout: FolderLayout, mode: str, size: int, converted: Counter[str],
                     opaque_alpha: int, sizes: Counter[tuple[int, int]]) -> None:
    """One :class:`DataWarning` line per kind of decision taken while reading a folder."""
    root, total = layout.root, sum(sizes.values())
    if converted:
        origins = ", ".join(f"{source} x{count}" for source, count in converted.most_common())
        dropped = (f"; {_plural(opaque_alpha, 'fully opaque alpha channel')} dropped"
                   if opaque_alpha else "")
        target = "RGB" if mode == "RGB" else "L (grayscale)"
        announce(f"{root}: converted {converted.total()} of {total} images to {target} "
                 f"(from modes {origins}){dropped}")
    common = _most_common_size(sizes) if sizes else (size, size)
    others = Counter({shape: n for shape, n in sizes.items() if shape != common})
    if others:
        listed = ", ".join(f"{w}x{h} x{n}" for (w, h), n in others.most_common(EXAMPLE_FILES))
        more = ", ..." if len(others) > EXAMPLE_FILES else ""
        announce(f"{root}: {others.total()} of {total} images differ from the most common size "
                 f"{common[0]}x{common[1]} ({listed}{more}) and were resized to {size}x{size}")
    stretched = Counter({shape: n for shape, n in sizes.items() if shape[0] != shape[1]})
    if stretched:
        (w, h), _ = stretched.most_common(1)[0]
        announce(f"{root}: {stretched.total()} of {total} images are not square (e.g. {w}x{h}) "
                 f"and were stretched to {size}x{size} (aspect ratio not kept)")
    if layout.ignored:
        announce(f"{root}: ignored {_plural(len(layout.ignored), 'non-image file')} "
                 f"(e.g. {_examples(layout.ignored)}); images end in "
                 f"{', '.join(sorted(IMAGE_SUFFIXES))}")


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


# -- labels only --------------------------------------------------------------------------------


def split_labels(name: str, allow_download: bool = True) -> dict[str, np.ndarray]:
    """The labels of each split (``train``, ``val``, ``test``) of a dataset, without its images.

    NumPy only (no torch), for the book side: baselines such as the majority class need the
    label counts, not the pixels. Class indices are (N,); multi-label indicators (N, K).
    """
    info = get_dataset_info(name)
    if info.kind == "synthetic":
        arrays = _synthetic_arrays(SYNTHETIC_SPECS[info.source], 2)
    elif info.kind == "folder":
        layout = folder_layout(Path(info.source))
        return {split: np.concatenate([np.full(len(layout.files[split][c]), k, dtype=np.int64)
                                       for k, c in enumerate(layout.classes)])
                for split in SPLITS}
    else:
        path = (_medmnist_path(info, min(info.files), allow_download)[0]
                if info.kind == "medmnist" else Path(info.source))
        with np.load(path, allow_pickle=False) as archive:
            arrays = {f"{split}_labels": archive[f"{split}_labels"] for split in SPLITS}
    out = {}
    for split in SPLITS:
        labels = np.asarray(arrays[f"{split}_labels"]).astype(np.int64)
        labels = labels.reshape(len(labels), -1)
        out[split] = labels if is_multi_label(info.task) else labels[:, 0]
    return out
