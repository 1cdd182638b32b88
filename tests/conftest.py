"""Shared fixtures: the local data directory (``PEPR_DATA_DIR``, ../shared/data in CI)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# One OpenMP thread unless the caller chose: on a small CPU shared with other jobs, torch's
# threads spin at barriers (the training tests ran 10x slower with two threads beside a busy
# process). Set before torch is imported; notebook kernels started by tests inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _data_dir_env() -> None:
    """Point PEPR_DATA_DIR at ../shared/data unless the caller set it; keep the user cache out."""
    os.environ.setdefault("PEPR_DATA_DIR", str(DEFAULT_DATA_DIR))
    os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(os.environ.get("PEPR_DATA_DIR", DEFAULT_DATA_DIR))
    if not (path / "paper" / "all_results.csv").exists():
        pytest.fail(f"PEPR_DATA_DIR={path} has no paper/all_results.csv; point it at ../shared/data")
    return path


@pytest.fixture()
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty user cache for tests that must not see (or fill) ~/.cache/pepr."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("PEPR_CACHE_DIR", str(cache))
    return cache
