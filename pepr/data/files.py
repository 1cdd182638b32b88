"""MedMNIST files on disk: found or downloaded, checksum-verified once (a stamp remembers it), and read as arrays."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from pepr.core.errors import (
    CorruptDataError,
    MissingDataError,
)
from pepr.core.sources import RemoteFile, cache_dir, locate, resolve
from pepr.data.images import MEDMNIST_GROUP, SPLITS, ImageDatasetInfo


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
    """:func:`pepr.core.sources.resolve` with a verification stamp for large files.

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
