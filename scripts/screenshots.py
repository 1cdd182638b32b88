"""Screenshot built book pages in headless Chromium, for a visual check of the rendered HTML.

Usage (after ``make book``)::

    python scripts/screenshots.py                       # intro, PePR chapter, results chapter
    python scripts/screenshots.py --pages book/about.html --height 3000

Writes ``_build/screenshots/<page>.png`` and prints each file with its size. Chromium runs with a
fresh profile and with its start-up network traffic switched off, so it works offline; the pages
must therefore carry everything they need (the explorer's plotly.js and MathJax are bundled).
On Debian: ``apt-get install -y chromium``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_PAGES = [
    "book/intro.html",
    "notebooks/analysis/02_pepr_score.html",
    "notebooks/analysis/04_paper_results.html",
]
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--virtual-time-budget=15000",
]


def find_chromium() -> str:
    """The first Chromium-like browser on PATH."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise SystemExit("no chromium on PATH (Debian: apt-get install -y chromium)")


def screenshot(browser: str, page: Path, target: Path, width: int, height: int, timeout: float) -> float:
    """Render ``page`` into ``target`` (PNG) with a fresh profile; returns the seconds it took."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pepr-chromium-") as profile:
        command = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                   f"--screenshot={target}", f"--window-size={width},{height}", page.resolve().as_uri()]
        subprocess.run(command, check=True, timeout=timeout, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not target.exists():
        raise SystemExit(f"chromium wrote no screenshot for {page}")
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", default="_build/html", help="the built book's HTML folder")
    parser.add_argument("--out", default="_build/screenshots", help="where the PNGs go")
    parser.add_argument("--pages", nargs="*", default=DEFAULT_PAGES, help="pages relative to --html")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=2000)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per page")
    args = parser.parse_args(argv)

    html, out = Path(args.html), Path(args.out)
    missing = [p for p in args.pages if not (html / p).exists()]
    if missing:
        print(f"not built: {', '.join(missing)} (run `make book` first)", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    browser = find_chromium()
    for page in args.pages:
        target = out / (page.replace("/", "__").removesuffix(".html") + ".png")
        seconds = screenshot(browser, html / page, target, args.width, args.height, args.timeout)
        print(f"{target}  {target.stat().st_size:,} bytes  {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
