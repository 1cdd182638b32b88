"""Install torch's CPU build before the training extras, where a machine has no NVIDIA GPU.

PyPI's torch for Linux x86_64 is a CUDA build that brings about 3 GB of NVIDIA libraries, which a
laptop without an NVIDIA GPU never uses. PyTorch publishes CPU builds of the same release on its
own index; installed first, the pin in pyproject.toml (``torch==2.14.1``) accepts them
(``2.14.1+cpu`` is that release), so the extras install nothing more. ``make test`` runs this::

    python scripts/install_torch.py --mode auto   # CPU build when no NVIDIA driver is found (default)
    python scripts/install_torch.py --mode cpu    # CPU build, or fail when its index cannot be reached
    python scripts/install_torch.py --mode default  # leave it to pip (PyPI's build)

With ``auto``, an index that cannot be reached (a machine without internet, or with only a PyPI
mirror) falls back to the default build, and the script says so in one line. The pins are read
from pyproject.toml's ``train`` extra, the one place they are written.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
MODES = ("auto", "cpu", "default")
TORCH_PACKAGES = ("torch", "torchvision")


@dataclass(frozen=True)
class Plan:
    """What to do: ``install`` the CPU build from ``index`` or not, and why (one line)."""

    install: bool
    reason: str


def torch_pins(pyproject: Path = REPO / "pyproject.toml") -> list[str]:
    """The torch and torchvision requirements of the ``train`` extra (``torch==2.14.1``, ...)."""
    extras = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]["train"]
    pins = [spec for spec in extras if re.match(r"[A-Za-z0-9_.-]+", spec).group() in TORCH_PACKAGES]
    if len(pins) != len(TORCH_PACKAGES):
        raise SystemExit(f"install_torch: pyproject.toml's train extra pins {pins}, not both of {TORCH_PACKAGES}")
    return pins


def installed_torch() -> str | None:
    """The installed torch's version (``2.14.1+cpu``), or None."""
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None


def has_nvidia_driver() -> bool:
    """True where an NVIDIA driver is installed (its ``nvidia-smi`` is on the path)."""
    return shutil.which("nvidia-smi") is not None


def index_reachable(index: str, timeout_s: float = 5.0) -> tuple[bool, str]:
    """Whether ``index`` answers within ``timeout_s``, and the error where it does not."""
    try:
        with urllib.request.urlopen(f"{index.rstrip('/')}/torch/", timeout=timeout_s):
            return True, ""
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        return False, str(getattr(error, "reason", error))


def plan(mode: str, installed: str | None, nvidia: bool, reachable: Callable[[], tuple[bool, str]],
         index: str) -> Plan:
    """Decide whether to install the CPU build first, from what was found; ``reachable`` (whether
    the index answers, and the error where not) is asked only where the answer matters."""
    if mode not in MODES:
        raise SystemExit(f"install_torch: --mode must be one of {', '.join(MODES)}, not {mode!r}")
    if installed is not None:
        return Plan(False, f"torch {installed} is already installed; kept")
    if mode == "default":
        return Plan(False, "torch: the default build from the package index (CPU=0)")
    if mode == "auto" and nvidia:
        return Plan(False, "torch: an NVIDIA driver is present, so the default (CUDA) build")
    ok, error = reachable()
    if ok:
        why = "asked for (CPU=1)" if mode == "cpu" else "no NVIDIA driver found"
        return Plan(True, f"torch: the CPU build from {index} ({why})")
    if mode == "cpu":
        raise SystemExit(f"install_torch: CPU=1, but {index} cannot be reached ({error}); "
                         "install torch's CPU build by hand, or run without CPU=1")
    return Plan(False, f"torch: {index} cannot be reached ({error}), so the default build from the "
                       "package index (on Linux x86_64 a CUDA build, with several GB of NVIDIA libraries)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", default="auto", help=f"one of {', '.join(MODES)} (default auto)")
    parser.add_argument("--index", default=CPU_INDEX, help=f"PyTorch's CPU index (default {CPU_INDEX})")
    parser.add_argument("--dry-run", action="store_true", help="say what would be done, install nothing")
    args = parser.parse_args(argv)
    decision = plan(args.mode, installed_torch(), has_nvidia_driver(), lambda: index_reachable(args.index),
                    args.index)
    print(decision.reason)
    if decision.install and not args.dry_run:
        subprocess.run([sys.executable, "-m", "pip", "install", "--no-cache-dir", "--quiet",
                        *torch_pins(), "--index-url", args.index], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
