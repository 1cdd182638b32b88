"""Results computed once per build for the data they depend on: the repository root and a
joblib :class:`~joblib.Memory` under ``outputs/cache`` (two chapters that need the same bootstrap
compute it once)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pepr.core.errors import MissingDataError

if TYPE_CHECKING:
    import joblib


def repo_root(start: Path | str | None = None) -> Path:
    """The nearest directory at or above ``start`` (default: cwd) holding ``_config.yml``."""
    here = Path(start or Path.cwd()).resolve()
    for candidate in [here, *here.parents]:
        if (candidate / "_config.yml").exists() and (candidate / "_toc.yml").exists():
            return candidate
    raise MissingDataError(f"no _config.yml/_toc.yml at or above {here}")


#: Where :func:`memory` keeps results that several chapters share (git-ignored).
CACHE_DIR = "outputs/cache"


def memory(root: Path | str | None = None) -> joblib.Memory:
    """The book's result cache, ``<book root>/outputs/cache``: a function wrapped by its
    ``cache`` is computed once for each set of arguments (hashed by value, DataFrames included)
    and its own source, and read back after; changed data or parameters compute it afresh."""
    import joblib

    return joblib.Memory(repo_root(root) / CACHE_DIR, verbose=0)
