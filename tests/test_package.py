"""Package hygiene: importing makes no network call; pyproject and environment.yml agree."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]

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
    wanted = {normalise(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]}
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {normalise(r) for r in pip_section if not r.startswith("-e")}
    assert listed == wanted
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert python.split("=")[1].startswith("3.")


def test_torch_pins_are_the_tested_pair() -> None:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "torch==2.14.1" in deps and "torchvision==0.29.1" in deps


def test_cli_entry_points() -> None:
    proc = subprocess.run([sys.executable, "-m", "pepr", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "score" in proc.stdout
    assert (Path(sys.executable).parent / "pepr").exists()
