"""Where things live: the repository root and the folders that the CLI, the notebooks and the
chapters share, written once.

Every default here is an absolute path under the repository that holds the package, so a
command gives the same answer from any working directory. ``PEPR_DATASETS_FILE`` points the
dataset registry elsewhere (tests use it to keep their registrations out of the repository).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT / "data"
ZOO_CSV = DATA_DIR / "zoo.csv"
MEDMNIST_INFO_JSON = DATA_DIR / "medmnist_info.json"
STUDIES_DIR = DATA_DIR / "studies"
RESULTS_DIR = DATA_DIR / "results"
OUTPUTS_DIR = REPO_ROOT / "outputs"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
TRAIN_NOTEBOOK = NOTEBOOKS_DIR / "train.ipynb"
REPORT_NOTEBOOK = NOTEBOOKS_DIR / "report.ipynb"
REPORTS_DIR = OUTPUTS_DIR / "reports"
DATASETS_FILE_ENV = "PEPR_DATASETS_FILE"


def datasets_file() -> Path:
    """The dataset registry (``data/datasets.yml``, or ``$PEPR_DATASETS_FILE``)."""
    override = os.environ.get(DATASETS_FILE_ENV)
    return Path(override).expanduser() if override else DATA_DIR / "datasets.yml"
