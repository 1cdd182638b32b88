"""Package hygiene: importing makes no network call; pyproject and environment.yml agree; the
book side works without the training side (torch, timm, medmnist, carbontracker)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import yaml

REPO = Path(__file__).resolve().parents[1]

#: What the `train` extra adds and the book side must never import.
TRAINING_PACKAGES = ("torch", "torchvision", "timm", "medmnist", "carbontracker")
#: The subpackages of each side (the contracts in pyproject.toml say the same to lint-imports);
#: pepr's top-level modules besides cli and __main__ are the old names, kept for one release.
BOOK_PACKAGES = ("core", "data", "store", "scoring", "reporting", "advice")
TRAINING_PACKAGES_OF_PEPR = ("training", "execution")
#: The most lines a module of pepr may have.
MAX_MODULE_LINES = 700

#: Prepended to a subprocess: importing any of TRAINING_PACKAGES raises ImportError, as in an
#: install without the `train` extra (even where they are installed).
BLOCK_TRAINING = f"""
import importlib.abc, sys
BLOCKED = {TRAINING_PACKAGES!r}
class BlockTraining(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"No module named {{name!r}} (blocked: the book-only install)")
        return None
sys.meta_path.insert(0, BlockTraining())
try:
    import torch
except ImportError:
    pass
else:
    raise SystemExit("the blocker let torch through")
"""

NO_NETWORK = """
import socket, sys
def refuse(*a, **k):
    raise SystemExit("network call at import: " + repr(a[:1]))
socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
import importlib, pkgutil, pepr
for module in pkgutil.iter_modules(pepr.__path__):
    if module.name != "__main__":  # running it is the command line, not an import
        importlib.import_module(f"pepr.{module.name}")
print("ok")
"""


def test_import_makes_no_network_call() -> None:
    proc = subprocess.run([sys.executable, "-c", NO_NETWORK], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert proc.stdout.strip().endswith("ok")


def normalise(requirement: str) -> str:
    return requirement.replace(" ", "").lower()


def test_environment_yml_agrees_with_pyproject() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = {normalise(r) for r in project["dependencies"] + extras["train"] + extras["test"]}
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {normalise(r) for r in pip_section if not r.startswith("-e")}
    assert listed == wanted
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert python.split("=")[1].startswith("3.")


def requirement_name(requirement: str) -> str:
    """``dask[distributed]>=2024.1`` -> ``dask``."""
    for stop in "[<>=!~; ":
        requirement = requirement.split(stop, 1)[0]
    return requirement.lower()


def test_torch_pins_are_the_tested_pair() -> None:
    train = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["train"]
    assert "torch==2.14.1" in train and "torchvision==0.29.1" in train


def test_the_base_install_leaves_out_the_training_side() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    base = {requirement_name(r) for r in project["dependencies"]}
    train = {requirement_name(r) for r in project["optional-dependencies"]["train"]}
    assert set(TRAINING_PACKAGES) <= train
    assert not base & (train | {"scikit-learn"})
    assert {"jupyter-book", "myst-nb", "tabulate", "pandas", "matplotlib"} <= base


def notebook_imports(notebook: Path) -> list[str]:
    """The import statements of a notebook's code cells (one line each, as written)."""
    cells = json.loads(notebook.read_text())["cells"]
    lines = [line for cell in cells if cell["cell_type"] == "code"
             for line in "".join(cell["source"]).splitlines()]
    return [line.strip() for line in lines if line.startswith(("import ", "from "))]


BOOK_SIDE = """
import importlib, pkgutil, sys, tempfile
from pathlib import Path
import pandas as pd
import pepr

for package in BOOK_PACKAGES:
    root = importlib.import_module(f"pepr.{package}")
    for module in pkgutil.walk_packages(root.__path__, prefix=f"pepr.{package}."):
        importlib.import_module(module.name)
for statement in NOTEBOOK_IMPORTS:
    exec(statement)

from pepr import cli
from pepr.data import paper, registry, zoo
from pepr.store import studies

from pepr.scoring import joins, verdicts
out = Path(tempfile.mkdtemp()) / "scores.csv"
assert cli.main(["score", "paper", "-o", str(out)]) == 0
assert len(pd.read_csv(out)) == len(paper.read_paper_table("all_results.csv"))
assert cli.main(["zoo", "--models", "gluon_xception65"]) == 0
assert cli.main(["data", "--images"]) == 0
models = paper.read_paper_table("model_names.csv").drop_duplicates("model")["model"]
names = joins.imagenet_names(models)
assert names["imagenet_name"].notna().all() and len(names) == models.nunique()
assert names.set_index("model").loc["gluon_xception65", "imagenet_name"] == "xception65.tf_in1k"
assert registry.canonical_dataset("breast") == "breastmnist"
assert registry.get_dataset_info("breastmnist").files[28].md5  # checksums without medmnist
labels = registry.split_labels("breastmnist")
assert {k: len(v) for k, v in labels.items()} == registry.get_dataset_info("breastmnist").n_samples
assert verdicts.study_baselines(pd.DataFrame({"setting": ["b"], "dataset": ["breastmnist"]}))["test_n"].tolist() == [156]
cells = studies.expand(studies.load_spec(Path(pepr.__file__).parents[1] / "data/studies/cpu-rerun.yml"))
assert cells and all(cell["img_size"] for cell in cells)
loaded = sorted(name for name in sys.modules if name.split(".")[0] in BLOCKED)
assert not loaded, loaded
print("book side ok")
"""


def test_the_book_side_works_without_the_training_side(data_dir: Path) -> None:
    """Every module of the book side's subpackages, and every import of the book's notebooks, with
    torch, torchvision, timm, medmnist and carbontracker unimportable; then the commands and
    functions that once needed them: scores, the zoo, ImageNet names, dataset labels, a grid."""
    notebooks = sorted((REPO / "notebooks" / "analysis").glob("*.ipynb")) + [REPO / "notebooks" / "report.ipynb"]
    imports = [line for notebook in notebooks for line in notebook_imports(notebook)]
    assert any("pepr" in line for line in imports)
    script = (BLOCK_TRAINING + f"BOOK_PACKAGES = {BOOK_PACKAGES!r}\n"
              f"NOTEBOOK_IMPORTS = {imports!r}\n" + BOOK_SIDE)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "MPLBACKEND": "Agg"})
    assert proc.returncode == 0, proc.stderr[-4000:] + proc.stdout[-2000:]
    assert proc.stdout.strip().endswith("book side ok")


@pytest.mark.parametrize("argv", [
    ["run", "--model", "dla46x_c", "--dataset", "synthetic", "--epochs", "1"],
    ["sweep", "data/studies/pilot.yml"],
    ["advise", "--dataset", "breastmnist"],
    ["zoo", "--rebuild", "--models", "dla46x_c"],
])
def test_training_commands_without_torch_say_so_in_one_line(argv: list[str]) -> None:
    script = BLOCK_TRAINING + f"from pepr.cli import main\nsys.exit(main({argv!r}))\n"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, cwd=REPO)
    assert proc.returncode == 2, proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"pepr {argv[0]}: error:")
    assert "torch" in lines[0] and "pip install -e '.[train]'" in lines[0]


def test_cli_entry_points() -> None:
    proc = subprocess.run([sys.executable, "-m", "pepr", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "score" in proc.stdout
    assert (Path(sys.executable).parent / "pepr").exists()


def pepr_modules() -> list[Path]:
    """Every module of the package (the old top-level names included)."""
    return sorted((REPO / "pepr").rglob("*.py"))


def test_no_module_is_over_the_line_limit() -> None:
    long = {str(p.relative_to(REPO)): n for p in pepr_modules()
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, long


def test_the_import_contracts_hold() -> None:
    """lint-imports with the contracts of pyproject.toml: the book side never imports the
    training side (imports inside functions counted), and each layer only those below it."""
    lint = Path(sys.executable).parent / "lint-imports"
    proc = subprocess.run([str(lint), "--config", str(REPO / "pyproject.toml")], capture_output=True,
                          text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_no_import_cycle_among_the_modules() -> None:
    """The strongly connected components of pepr's import graph (grimp, as lint-imports builds
    it: imports inside functions counted; networkx finds the components) are single modules."""
    import grimp
    import networkx as nx

    graph = grimp.build_graph("pepr")
    edges = nx.DiGraph((m, other) for m in graph.modules
                       for other in graph.find_modules_directly_imported_by(m))
    cycles = [sorted(c) for c in nx.strongly_connected_components(edges) if len(c) > 1]
    assert not cycles, cycles


def test_both_sides_are_subpackages() -> None:
    for package in (*BOOK_PACKAGES, *TRAINING_PACKAGES_OF_PEPR):
        assert (REPO / "pepr" / package / "__init__.py").is_file(), package
