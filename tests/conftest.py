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



def tiny_run(study: str, index: int, setting: str = "a", **values: object) -> dict:
    """One plausible ``ok`` run row of a made-up study (a few fields, the rest left empty)."""
    return {
        "run_id": f"{study[:4]}{index:08d}", "study": study, "model": f"model_{index}",
        "dataset": "pneumoniamnist", "setting": setting, "status": "ok",
        "test_acc": 0.70 + index / 100, "test_auc": 0.80, "test_balanced_acc": 0.65,
        "energy_kwh": 0.001 * (index + 1), "co2_g": 0.445 * (index + 1),
        "train_time_s": 10.0 * (index + 1), "peak_mem_gb": 1.2 + index / 10,
        "num_params": 1_000_000 * (index + 1), "mem_kind": "cpu-rss",
        "energy_method": "tdp-estimate", "data_fraction": 1.0, "seed": 0, "pretrained": False,
        "img_size": 28, "epochs": 1, **values,
    }


def write_study(results_dir: Path, study: str, settings: tuple[str, ...] = ("a", "a", "b")) -> Path:
    """A made-up study under ``results_dir``: one run per entry of ``settings`` (in that
    setting), appended with :func:`pepr.results.append_run`; no settings: a ``runs.csv`` with
    only its header. Returns the study's ``runs.csv``."""
    from pepr.store import results

    path = results.study_dir(study, results_dir) / "runs.csv"
    if not settings:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(",".join(results.RUN_COLUMNS) + "\n")
    for index, setting in enumerate(settings):
        results.append_run(tiny_run(study, index, setting=setting), results_dir)
    return path


@pytest.fixture()
def make_study():
    """:func:`write_study`, for tests that lay out their own results folders."""
    return write_study


@pytest.fixture()
def tiny_study(tmp_path: Path) -> tuple[str, Path]:
    """A study ``tiny`` of three runs (two in setting ``a``, one in ``b``) under
    ``tmp_path/results``: returns (study, results_dir)."""
    write_study(tmp_path / "results", "tiny")
    return "tiny", tmp_path / "results"
