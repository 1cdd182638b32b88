"""The datasets registry: every table and image set the compendium reads, described once.

The official PePR release's tables are declared in :data:`PAPER_FILES` (name, pinned URL,
SHA-256, what each holds); the same description drives resolution, checksum checks, ``pepr data``
and the book's data table.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pepr.errors import CorruptDataError, UnknownDatasetError
from pepr.sources import RemoteFile, locate, resolve

PAPER_REPOSITORY = "saintslab/PePR"
PAPER_COMMIT = "ce087aafcdce4a5b636152d170475a6df5f4c3d7"
PAPER_URL = f"https://raw.githubusercontent.com/{PAPER_REPOSITORY}/{PAPER_COMMIT}/data/{{name}}"
PAPER_LICENSE = "MIT, (c) 2024 Selvan"


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
                "location": str(found) if found else "(not on disk; downloaded on first use)",
                remote.algorithm: remote.expected_hash,
                "description": remote.description,
            }
        )
    return pd.DataFrame(rows)
