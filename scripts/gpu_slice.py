"""Run part of a study on a borrowed GPU machine, in one process, until a deadline.

A GPU machine is lent for minutes and lacks the notebook stack, so this script does not go
through papermill: it derives a study of its own from a study file (by default the CPU rerun,
limited to BreastMNIST: ``pepr.sweep.derive_spec``), writes that study file, and trains its
cells one at a time in this process (``pepr.sweep.train_in_process``), smallest model first, on
CUDA when there is one. One run at a time lets the GPU's NVML energy counter time each run
(``energy_method`` nvml). Rows are appended as each run ends, and a second call skips what is
``ok``, so a lease that ends early loses at most the run in progress.

On the GPU machine (MedMNIST files carried in a folder that ``PEPR_DATA_DIR`` names):

    PEPR_DATA_DIR=.gpu/data python scripts/gpu_slice.py --results-dir $OUT/results \\
        --studies-dir $OUT/studies --deadline-s 500

Then copy ``studies/<study>.yml`` into ``data/studies/`` and ``results/<study>/`` into
``data/results/``. Here, without a GPU, ``--device cpu --models 2 --epochs 1`` checks the route.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout's pepr, also where it is not installed

from pepr.core import paths  # noqa: E402
from pepr.execution import sweep
from pepr.store import studies


def hardware_line(device: str | None) -> str:
    """What ran the slice, in words: the GPU's name and memory, else the CPU."""
    import torch

    from pepr.training import energy_meters

    if (device or "cuda").startswith("cuda") and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return (f"{props.name} ({props.total_memory / 2**30:.0f} GiB), torch {torch.__version__}; "
                f"energy from the GPU's NVML counter where readable (energy_method says)")
    return f"{energy_meters.cpu_model_name()}, no GPU; torch {torch.__version__}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", default=str(paths.STUDIES_DIR / "cpu-rerun.yml"),
                        help="the study file to take the runs from")
    parser.add_argument("--study", default="gpu-breast", help="the derived study's name")
    parser.add_argument("--datasets", nargs="+", default=["breastmnist"])
    parser.add_argument("--results-dir", type=Path, required=True)
    parser.add_argument("--studies-dir", type=Path, required=True,
                        help="where the derived study file is written")
    parser.add_argument("--device", default=None, help="cuda (default when there is one) or cpu")
    parser.add_argument("--deadline-s", type=float, default=None,
                        help="start no run that might end later than this many seconds from now")
    parser.add_argument("--models", type=int, default=None,
                        help="only the first N models of each setting (a check of the route)")
    parser.add_argument("--epochs", type=int, default=None, help="override the protocol's epochs")
    args = parser.parse_args(argv)

    spec = studies.derive_spec(studies.load_spec(args.source), args.study, args.datasets,
                             hardware=hardware_line(args.device),
                             description=f"The {', '.join(args.datasets)} runs of study "
                                         f"{Path(args.source).stem}, in one process on a GPU.",
                             notes="Energy: each row's energy_method says how it was obtained "
                                   "(nvml: the GPU's own counter, the GPU only). Memory for "
                                   "PePR-M is run_mem_gb (on the GPU: the allocator's peak).")
    if args.epochs is not None:
        spec["epochs"] = args.epochs
    if args.models is not None:
        spec["grids"] = [{**grid, "models": grid.get("models", spec["models"])[:args.models]}
                         for grid in spec["grids"]]
    spec = studies.validate_spec(spec, source=args.study)  # the overrides obey the study's rules
    written = studies.write_spec(spec, args.studies_dir / f"{args.study}.yml")
    cells = studies.expand(spec)
    capped = [cell for cell in cells if studies.over_size(cell, spec["max_img_size"])]
    sweep.record_over_size(capped, int(spec["max_img_size"] or 0), args.results_dir)
    cells = [cell for cell in cells if cell not in capped]
    print(f"{written}: {len(cells)} runs; device {args.device or 'auto'}", flush=True)
    outcome = sweep.train_in_process(cells, args.results_dir, device=args.device,
                                     deadline_s=args.deadline_s, progress=sys.stderr.isatty())
    print({status: len(ids) for status, ids in outcome.items()}, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
