"""scripts/install_torch.py: which torch build `make test` installs first, and why."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "install_torch.py"
spec = importlib.util.spec_from_file_location("install_torch", SCRIPT)
install_torch = sys.modules["install_torch"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(install_torch)
INDEX = install_torch.CPU_INDEX
UP, DOWN = (lambda: (True, "")), (lambda: (False, "Name or service not known"))


def never() -> tuple[bool, str]:
    raise AssertionError("the index was asked where its answer does not matter")


def test_a_machine_without_an_nvidia_driver_gets_the_cpu_build():
    decided = install_torch.plan("auto", None, nvidia=False, reachable=UP, index=INDEX)
    assert decided.install and "CPU build" in decided.reason and "no NVIDIA driver" in decided.reason


def test_a_machine_with_an_nvidia_driver_keeps_the_default_build():
    decided = install_torch.plan("auto", None, nvidia=True, reachable=never, index=INDEX)
    assert not decided.install and "NVIDIA driver is present" in decided.reason


def test_an_unreachable_index_falls_back_in_one_line_unless_the_cpu_build_was_asked_for():
    decided = install_torch.plan("auto", None, nvidia=False, reachable=DOWN, index=INDEX)
    assert not decided.install and "cannot be reached" in decided.reason and "\n" not in decided.reason
    with pytest.raises(SystemExit, match="CPU=1, but .* cannot be reached"):
        install_torch.plan("cpu", None, nvidia=False, reachable=DOWN, index=INDEX)


def test_an_installed_torch_is_kept_and_cpu0_leaves_torch_to_pip():
    assert not install_torch.plan("cpu", "2.14.1+cpu", nvidia=False, reachable=never, index=INDEX).install
    assert not install_torch.plan("default", None, nvidia=False, reachable=never, index=INDEX).install
    with pytest.raises(SystemExit, match="--mode must be one of"):
        install_torch.plan("gpu", None, nvidia=False, reachable=UP, index=INDEX)


def test_the_pins_are_read_from_the_train_extra():
    pins = install_torch.torch_pins()
    assert sorted(pin.split("==")[0] for pin in pins) == ["torch", "torchvision"]
    import tomllib

    extra = tomllib.loads((SCRIPT.parents[1] / "pyproject.toml").read_text())["project"]["optional-dependencies"]["train"]
    assert set(pins) <= set(extra)


def test_the_makefile_maps_cpu_to_the_scripts_modes():
    for value, mode in (("1", "cpu"), ("0", "default"), ("auto", "auto")):
        shown = subprocess.run(["make", "-n", "-B", "venv-full", f"CPU={value}"], cwd=SCRIPT.parents[1],
                               capture_output=True, text=True, check=True).stdout
        assert f"scripts/install_torch.py --mode {mode}" in shown


def test_the_script_says_what_it_would_do_without_installing():
    done = subprocess.run([sys.executable, str(SCRIPT), "--dry-run"], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("torch") and len(done.stdout.strip().splitlines()) == 1
