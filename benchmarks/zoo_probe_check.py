"""Check data/zoo.csv's input sizes, probed on the meta device, against real forward passes.

For every zoo model (or those named on the command line): build it on the CPU at its recorded
``min_img_size`` with :func:`pepr.zoo.create_model` (which runs one real forward pass) and
expect success; at the next smaller probed size expect :class:`IncompatibleInputError`. Prints
how many agree and the time taken. Run with ``nice``: it builds every model once or twice.

    nice -n 10 .venv/bin/python benchmarks/zoo_probe_check.py [MODEL ...]
"""

from __future__ import annotations

import sys
import time

from tqdm import tqdm

from pepr.data import zoo
from pepr.training import nets
from pepr.core.errors import IncompatibleInputError


def check_model(row: dict) -> list[str]:
    """Disagreements between the table and real forward passes for one model (empty: none)."""
    problems = []
    name, min_size = row["model"], row["min_img_size"]
    try:
        nets.create_model(name, num_classes=2, in_chans=1, img_size=int(min_size))
    except IncompatibleInputError as error:
        problems.append(f"{name}: refused its min_img_size {min_size}: {error}")
    smaller = [s for s in nets.PROBE_SIZES if s < min_size]
    if smaller:
        try:
            nets.create_model(name, num_classes=2, in_chans=1, img_size=smaller[-1])
            problems.append(f"{name}: accepted {smaller[-1]} px, below its min_img_size {min_size}")
        except IncompatibleInputError:
            pass
    return problems


def main(names: list[str]) -> int:
    table = zoo.load_zoo()
    if names:
        table = table[table["model"].isin(names)]
    start = time.perf_counter()
    problems = []
    for row in tqdm(table.to_dict("records"), desc="real forward passes", unit="model"):
        problems.extend(check_model(row))
    elapsed = time.perf_counter() - start
    for problem in problems:
        print(problem)
    print(f"{len(table)} models checked in {elapsed:.0f} s: {len(problems)} disagreement(s) "
          f"between the meta-device probe and real forward passes")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
