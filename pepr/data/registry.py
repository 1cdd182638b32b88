"""Every dataset by name: the built-in ones, the user's registry file (``pepr data --register``), a path given directly; their descriptions and their labels."""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from pepr.core import paths
from pepr.core.errors import (
    BadParameterError,
    CorruptDataError,
    MissingDataError,
    PeprError,
    UnknownDatasetError,
)
from pepr.core.sources import locate
from pepr.data.files import _medmnist_path, _read_npz
from pepr.data.folders import _folder_channels_and_size, folder_layout
from pepr.data.images import (
    MULTI_LABEL,
    SPLITS,
    SYNTHETIC_SPECS,
    ImageDatasetInfo,
    _builtin_registry,
    _synthetic_arrays,
    is_multi_label,
)
from pepr.data.paper import NOT_ON_DISK


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
# '\\', or end in .npz. pepr.data.registry.register_dataset(name, path, kind, class_names, licence,
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
    """The user's datasets from the registry file (default :func:`pepr.core.paths.datasets_file`).

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
    if "/" in text or "\\" in text:  # meant as a path, but nothing is there
        raise MissingDataError(f"{text}: no such file or folder (a dataset path must be an .npz "
                               f"file or a folder with train/, val/ and test/)")
    close = difflib.get_close_matches(key, list(names), n=5, cutoff=0.5)
    hint = f" Did you mean {', '.join(names[c] for c in close)}?" if close else ""
    raise UnknownDatasetError(
        f"unknown dataset {text!r}.{hint} Known: {', '.join(sorted(names.values()))}; or give a "
        f"path ('file.npz', 'npz:PATH', 'folder:DIR'), or register_dataset(name, path)."
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
