"""Where data files come from: a local data directory, the user cache, or a pinned download.

Every file that the compendium reads but does not ship (the official PePR release, MedMNIST
archives) is described once, as a :class:`RemoteFile`, and resolved in this order:

1. ``$PEPR_DATA_DIR/<group>/<name>`` (``PEPR_DATA_DIR`` has the layout ``paper/``, ``medmnist/``);
2. the user cache, ``$PEPR_CACHE_DIR`` or ``~/.cache/pepr``, as ``<cache>/<group>/<name>``;
3. a download from the file's pinned URL into the cache.

The SHA-256 (or MD5 where only that is published) is verified on every resolution, so a tampered
or truncated copy is refused with both hashes in the message. Nothing here runs at import time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pepr.core.errors import ChecksumError, MissingDataError

DATA_DIR_ENV = "PEPR_DATA_DIR"
CACHE_DIR_ENV = "PEPR_CACHE_DIR"
DOWNLOAD_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class RemoteFile:
    """One data file that is resolved at run time, never committed.

    ``group`` is the sub-directory under the data or cache directory (``paper``, ``medmnist``);
    ``url`` is the pinned download address; exactly one of ``sha256``/``md5`` is the expected hash.
    """

    group: str
    name: str
    url: str
    sha256: str | None = None
    md5: str | None = None
    size_bytes: int | None = None
    description: str = ""

    @property
    def algorithm(self) -> str:
        return "sha256" if self.sha256 else "md5"

    @property
    def expected_hash(self) -> str:
        return self.sha256 or self.md5 or ""


def data_dir() -> Path | None:
    """The local data directory named by ``$PEPR_DATA_DIR``, or ``None`` when unset."""
    value = os.environ.get(DATA_DIR_ENV)
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """The user cache: ``$PEPR_CACHE_DIR`` or ``~/.cache/pepr`` (created on first download)."""
    value = os.environ.get(CACHE_DIR_ENV)
    return Path(value).expanduser() if value else Path.home() / ".cache" / "pepr"


def file_hash(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file (pooch's, read in blocks)."""
    import pooch

    return pooch.file_hash(str(path), alg=algorithm)


def verify(path: Path, remote: RemoteFile) -> Path:
    """Return ``path`` if its hash is the registered one; raise :class:`ChecksumError` otherwise."""
    actual = file_hash(path, remote.algorithm)
    if actual != remote.expected_hash:
        raise ChecksumError(
            f"{path}: {remote.algorithm.upper()} mismatch for {remote.name} "
            f"(expected {remote.expected_hash}, found {actual}); the copy is tampered, truncated "
            f"or of another version: delete it and provide the original"
        )
    return path


def candidate_paths(remote: RemoteFile) -> list[Path]:
    """Where a file may already be, in the order they are tried."""
    local = data_dir()
    paths = [local / remote.group / remote.name] if local else []
    return paths + [cache_dir() / remote.group / remote.name]


def locate(remote: RemoteFile) -> Path | None:
    """The first existing copy of ``remote`` on disk, without verifying it."""
    return next((path for path in candidate_paths(remote) if path.is_file()), None)


def download(remote: RemoteFile, target: Path, timeout_s: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Download ``remote`` to ``target`` with pooch: into a temporary file beside it, verified
    against the registered hash, then renamed, with a progress bar; a failed or mismatching
    download leaves nothing behind."""
    import pooch
    import requests

    target.parent.mkdir(parents=True, exist_ok=True)
    pooch.get_logger().setLevel("WARNING")  # the progress bar says it; a failure is one error line
    downloader = pooch.HTTPDownloader(progressbar=True, timeout=timeout_s)
    try:
        return Path(pooch.retrieve(remote.url, f"{remote.algorithm}:{remote.expected_hash}", fname=target.name,
                                   path=target.parent, downloader=downloader))
    except ValueError as error:  # pooch's hash mismatch (the message holds both hashes)
        raise ChecksumError(f"{remote.name} from {remote.url}: {error}; the download is not the "
                            "registered file, so it was not kept") from error
    except (requests.RequestException, OSError) as error:
        raise MissingDataError(missing_message(remote, f"download failed: {download_error_text(remote, error)}")) from error


def download_error_text(remote: RemoteFile, error: Exception) -> str:
    """Why a download failed, in a few words: the host that could not be reached, or the
    server's answer (requests' own message for a connection error runs to several lines)."""
    import urllib.parse

    import requests

    if isinstance(error, (requests.ConnectionError, requests.Timeout)):
        return f"cannot reach {urllib.parse.urlsplit(remote.url).hostname}"
    return str(error)


def missing_message(remote: RemoteFile, reason: str) -> str:
    """A message that says how to provide a file that could not be found or fetched."""
    places = " or ".join(str(path) for path in candidate_paths(remote))
    return (
        f"{remote.name} not found ({reason}); put the original file at {places} "
        f"(set {DATA_DIR_ENV} to a directory with a '{remote.group}/' folder), "
        f"or download it from {remote.url}"
    )


def resolve(remote: RemoteFile, allow_download: bool = True) -> Path:
    """Path to a verified copy of ``remote``: local data dir, cache, or a fresh download."""
    found = locate(remote)
    if found is not None:
        return verify(found, remote)
    if not allow_download:
        raise MissingDataError(missing_message(remote, "downloads disabled"))
    return download(remote, cache_dir() / remote.group / remote.name)
