"""Does the kernel crop change what a run learns? Same seed, with and without it, on real data.

Three runs of :func:`pepr.train.run` with the same seed and data: specialised convolutions
(:mod:`pepr.crop`) and full ones on one thread, and full ones on two threads. The crop computes the
same function with another summation order, and so does a second thread; float32 rounding
differences then grow over training. The two-thread run shows how far an ordinary change of
summation order moves the same run, as a yardstick for the crop's effect. Prints validation
accuracy per epoch, test accuracy and training time of each run.

Usage: ``python benchmarks/crop_agreement.py [--model resnet18d] [--dataset pneumoniamnist]
[--epochs 3]``
"""

from __future__ import annotations

import argparse

import torch

from pepr.training import train

#: (label, crop_kernels, threads)
VARIANTS = [("crop, 1 thread", True, 1), ("full, 1 thread", False, 1),
            ("full, 2 threads", False, 2)]


def one_run(model: str, dataset: str, epochs: int, crop_kernels: bool, threads: int) -> dict:
    """Validation accuracies, test accuracy and training time of one run."""
    torch.set_num_threads(threads)
    outcome = train.run(model, dataset, epochs=epochs, seed=0, study="crop-agreement",
                        crop_kernels=crop_kernels)
    if outcome.row["status"] != "ok":
        raise SystemExit(f"{model} failed: {outcome.row['error']}")
    val_acc = [row["value"] for row in outcome.epochs
               if (row["split"], row["metric"]) == ("val", "acc")]
    return {"val_acc": val_acc, "test_acc": outcome.row["test_acc"],
            "train_time_s": outcome.row["train_time_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18d")
    parser.add_argument("--dataset", default="pneumoniamnist")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    print(f"{args.model} on {args.dataset}, {args.epochs} epochs, seed 0")
    for label, crop_kernels, threads in VARIANTS:
        result = one_run(args.model, args.dataset, args.epochs, crop_kernels, threads)
        val_text = " ".join(f"{value:.4f}" for value in result["val_acc"])
        print(f"  {label:<16} val_acc {val_text}  test_acc {result['test_acc']:.4f}  "
              f"train_time_s {result['train_time_s']:.1f}", flush=True)


if __name__ == "__main__":
    main()
