"""Results computed once per build for the data they depend on: the repository root, a hash of
the inputs, and a DataFrame kept under ``outputs/cache`` (two chapters that need the same
bootstrap compute it once)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pepr.core.errors import MissingDataError

if TYPE_CHECKING:
    import pandas as pd


def repo_root(start: Path | str | None = None) -> Path:
    """The nearest directory at or above ``start`` (default: cwd) holding ``_config.yml``."""
    here = Path(start or Path.cwd()).resolve()
    for candidate in [here, *here.parents]:
        if (candidate / "_config.yml").exists() and (candidate / "_toc.yml").exists():
            return candidate
    raise MissingDataError(f"no _config.yml/_toc.yml at or above {here}")


#: Where :func:`cached_frame` keeps results that several chapters share (git-ignored).
CACHE_DIR = "outputs/cache"


def data_hash(*inputs: object) -> str:
    """SHA-256 of ``inputs``: a DataFrame or Series by its values, index and column names (not its
    memory layout), anything else by its ``repr``. Equal data give equal hashes across runs."""
    import hashlib

    import pandas as pd

    digest = hashlib.sha256()
    for value in inputs:
        if isinstance(value, (pd.DataFrame, pd.Series)):
            names = list(value.columns) if isinstance(value, pd.DataFrame) else [value.name]
            digest.update(repr((type(value).__name__, names, list(value.index.names))).encode())
            digest.update(pd.util.hash_pandas_object(value, index=True).to_numpy().tobytes())
        else:
            digest.update(repr(value).encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def cached_frame(name: str, compute: Callable[[], pd.DataFrame], inputs: tuple,
                 root: Path | str | None = None) -> pd.DataFrame:
    """``compute()``'s DataFrame, computed once for the data it depends on and read back after.

    The result is kept as ``<book root>/outputs/cache/<name>-<hash>.csv``, the hash being
    :func:`data_hash` of ``inputs`` (the data and parameters that determine the result), so two
    chapters that need the same result (the paper's bootstrap comparisons) compute it once per
    build, and changed data or parameters compute it afresh. Written atomically.
    """
    import os
    import tempfile

    import pandas as pd

    folder = repo_root(root) / CACHE_DIR
    path = folder / f"{name}-{data_hash(*inputs)[:16]}.csv"
    if path.is_file():
        return pd.read_csv(path)
    frame = compute()
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".part", delete=False) as handle:
        frame.to_csv(handle, index=False)
    os.replace(handle.name, path)
    return frame
