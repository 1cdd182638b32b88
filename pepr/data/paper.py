"""The official release's files (tables, figures' data), resolved and checksum-verified at run time, and the inventory of every registered data file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pepr.core.errors import (
    CorruptDataError,
    UnknownDatasetError,
)
from pepr.core.sources import RemoteFile, locate, resolve
from pepr.data import release

# The release's files, commit and licence are described once, in :mod:`pepr.release`; the
# commit is named here too for the registry's callers.
PAPER_COMMIT = release.COMMIT


#: What an inventory's ``location`` says for a registered file that is not on disk yet.
NOT_ON_DISK = "(not on disk; downloaded on first use)"


#: The release's files by name (:data:`pepr.data.release.FILES`).
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
