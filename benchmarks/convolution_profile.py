"""Where a training step's convolution time goes, and what the alternatives to pepr's loop do.

For each model (28 px, one input channel, two classes, batch 32, one thread):

1. oneDNN's own timing of every primitive over two training steps (``ONEDNN_VERBOSE=1`` in a
   child process), full convolutions against those of :mod:`pepr.crop` (whose matrix products
   run outside oneDNN, so the wall times of item 2 are the comparison): the total, and the
   primitives (kind and shape) that took most of it;
2. one training epoch of random images under each variant, against pepr's loop as
   :func:`pepr.train.run` trains (fused Adam, the memory-format rule, cropped kernels):
   ``no-crop``; ``channels-last`` and ``contiguous`` for every model; ``compile``
   (``torch.compile`` with an empty cache, its compilation time printed apart); ``bf16-math`` and ``tf32-math``
   (oneDNN's reduced-precision arithmetic for float32 convolutions); ``no-onednn`` (PyTorch's
   own convolutions).

With ``--zoo`` it crops every model of the zoo at its smallest input size instead, takes one
training step of the cropped model, and prints how many models had dead taps, what share of
their convolution multiply-adds the crop removed, and how many had convolutions on 1x1 maps.

Usage: ``python benchmarks/convolution_profile.py [--models M ...] [--images N] [--variants ...]``
or ``python benchmarks/convolution_profile.py --zoo``
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F

from pepr.data import zoo
from pepr.training import nets
from pepr.training import crop, train

VARIANTS = ("no-crop", "channels-last", "contiguous", "compile", "bf16-math", "tf32-math",
            "no-onednn")
STEPS_MARKER = "-- measured steps --"
BATCH = train.PAPER_DEFAULTS["batch_size"]


def new_model(name: str, memory_format: str = "auto", crop_kernels: bool = True) -> torch.nn.Module:
    """The zoo model at 28 px as :func:`pepr.train.run` prepares it (seeded, same weights)."""
    torch.manual_seed(0)
    model = nets.create_model(name, num_classes=2, in_chans=1, img_size=28)
    model, _, _ = train.prepare_model(model, 1, 28, memory_format=memory_format,
                                      crop_kernels=crop_kernels)
    return model


def images_for(model: torch.nn.Module, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded random images in the model's memory format, and random binary labels."""
    generator = torch.Generator().manual_seed(1)
    images = torch.randn(count, 1, 28, 28, generator=generator)
    weight = next(p for p in model.parameters() if p.dim() == 4)
    layout = crop.weight_memory_format(weight)
    return images.contiguous(memory_format=layout), torch.randint(0, 2, (count,), generator=generator)


def make_step(model: torch.nn.Module, forward: Callable | None = None) -> Callable:
    """One training step (forward, loss, backward, the paper's optimizer fused) of ``forward``
    (default: model)."""
    optimizer = train.make_optimizer(train.PAPER_DEFAULTS["optimizer"], model.parameters(),
                                     train.PAPER_DEFAULTS["lr"])
    forward = model if forward is None else forward

    def step(images: torch.Tensor, labels: torch.Tensor) -> None:
        loss = F.cross_entropy(forward(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def epoch_seconds(step: Callable, images: torch.Tensor, labels: torch.Tensor,
                  batch_size: int = BATCH) -> float:
    """Wall seconds of one pass over ``images`` after two warm-up steps."""
    for start in (0, batch_size):
        step(images[start:start + batch_size], labels[start:start + batch_size])
    begin = time.perf_counter()
    for start in range(0, len(images), batch_size):
        step(images[start:start + batch_size], labels[start:start + batch_size])
    return time.perf_counter() - begin


@contextlib.contextmanager
def convolution_math(precision: str) -> Iterator[None]:
    """oneDNN's arithmetic for float32 convolutions (``none`` is full float32)."""
    previous = torch.backends.mkldnn.conv.fp32_precision
    torch.backends.mkldnn.conv.fp32_precision = precision
    try:
        yield
    finally:
        torch.backends.mkldnn.conv.fp32_precision = previous


def variant_seconds(name: str, variant: str, images_count: int) -> tuple[float, str]:
    """Epoch seconds of ``variant`` (``pepr`` is the loop as run() trains) and a remark."""
    settings = {"no-crop": {"crop_kernels": False},
                "channels-last": {"memory_format": "channels_last", "crop_kernels": False},
                "contiguous": {"memory_format": "contiguous", "crop_kernels": False},
                "compile": {"crop_kernels": False}}
    model = new_model(name, **settings.get(variant, {}))
    images, labels = images_for(model, images_count)
    if variant == "compile":
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp()  # a cold compile, every time
        compiled = torch.compile(model)
        begin = time.perf_counter()
        make_step(model, compiled)(images[:BATCH], labels[:BATCH])
        compile_s = time.perf_counter() - begin
        return epoch_seconds(make_step(model, compiled), images, labels), f"compiled in {compile_s:.0f} s"
    if variant in ("bf16-math", "tf32-math"):
        with convolution_math(variant.split("-")[0]):
            return epoch_seconds(make_step(model), images, labels), ""
    if variant == "no-onednn":
        with torch.backends.mkldnn.flags(enabled=False):
            return epoch_seconds(make_step(model), images, labels), ""
    return epoch_seconds(make_step(model), images, labels), ""


def onednn_lines(name: str, crop_kernels: bool) -> list[list[str]]:
    """oneDNN's ``exec`` records of two training steps, from a child process with verbose on."""
    command = [sys.executable, __file__, "--verbose-steps", name]
    if not crop_kernels:
        command.append("--no-crop")
    environment = {**os.environ, "ONEDNN_VERBOSE": "1", "OMP_NUM_THREADS": "1"}
    output = subprocess.run(command, env=environment, capture_output=True, text=True,
                            check=True).stdout
    measured = output.split(STEPS_MARKER, 1)[1]
    return [line.split(",") for line in measured.splitlines()
            if line.startswith("onednn_verbose") and ",exec," in line]


def onednn_breakdown(lines: list[list[str]]) -> tuple[float, list[tuple[str, float]]]:
    """Total milliseconds and milliseconds per (primitive, problem shape), largest first."""
    by_shape: collections.Counter[str] = collections.Counter()
    for fields in lines:
        by_shape[f"{fields[5]} {fields[-2]}"] += float(fields[-1])
    return sum(by_shape.values()), by_shape.most_common()


def verbose_steps(name: str, crop_kernels: bool) -> None:
    """Child process: warm up, print the marker, run the two steps oneDNN reports on."""
    torch.set_num_threads(1)
    model = new_model(name, crop_kernels=crop_kernels)
    images, labels = images_for(model, 2 * BATCH)
    step = make_step(model)
    step(images[:BATCH], labels[:BATCH])
    print(STEPS_MARKER, flush=True)
    step(images[:BATCH], labels[:BATCH])
    step(images[BATCH:], labels[BATCH:])
    sys.stdout.flush()


def report_onednn(name: str, top: int) -> None:
    full_ms, full_shapes = onednn_breakdown(onednn_lines(name, crop_kernels=False))
    cropped_ms, _ = onednn_breakdown(onednn_lines(name, crop_kernels=True))
    print(f"{name}: oneDNN time over two training steps: full convolutions {full_ms:.1f} ms, "
          f"with pepr.crop {cropped_ms:.1f} ms ({1 - cropped_ms / full_ms:.0%} less; the "
          f"convolutions on 1x1 maps then run outside oneDNN, as matrix products)")
    print("  largest items with full kernels (primitive, shape: ms, share):")
    for shape, milliseconds in full_shapes[:top]:
        print(f"    {shape}: {milliseconds:.1f} ms {milliseconds / full_ms:.0%}")


def report_variants(name: str, variants: list[str], images_count: int) -> None:
    baseline, _ = variant_seconds(name, "pepr", images_count)
    print(f"{name}: one epoch of {images_count} images, pepr's loop {baseline:.2f} s; "
          f"variants as time relative to it (above 1 is slower)")
    for variant in variants:
        seconds, remark = variant_seconds(name, variant, images_count)
        print(f"  {variant:<14}{seconds:>7.2f} s {seconds / baseline:>6.2f}x {remark}", flush=True)


def zoo_crop_row(name: str, img_size: int) -> dict[str, object]:
    """The crop of one zoo model at ``img_size`` and whether a training step then works."""
    torch.manual_seed(0)
    model = nets.create_model(name, num_classes=2, in_chans=1, img_size=img_size)
    model, layout, report = train.prepare_model(model, 1, img_size)
    make_step(model)(train.example_input(1, img_size, "cpu", layout), torch.tensor([0, 1]))
    return {"model": name, "img_size": img_size, "convs_cropped": report.convs,
            "matrix_products": report.matrix_products, "dead_macs": report.saved_fraction,
            "undone": report.undone}


def report_zoo() -> None:
    import pandas as pd
    from tqdm import tqdm

    table = zoo.load_zoo()
    rows = [zoo_crop_row(name, int(size))
            for name, size in tqdm(list(zip(table["model"], table["min_img_size"])),
                                   desc="zoo", unit="model")]
    frame = pd.DataFrame(rows)
    dead = frame[frame["dead_macs"] > 0]
    products = frame[frame["matrix_products"] > 0]
    print(f"{len(dead)} of {len(frame)} zoo models have dead taps at their smallest input size, "
          f"{len(products)} have convolutions on 1x1 maps (matrix products); one training step "
          f"ran for all {len(frame)} after cropping; {int(frame['undone'].sum())} crop(s) were "
          f"undone because the outputs changed")
    for size, group in frame.groupby("img_size"):
        with_dead = group[group["dead_macs"] > 0]
        print(f"  {size:>3} px: {len(with_dead)} of {len(group)} models; dead share of multiply-adds "
              f"median {with_dead['dead_macs'].median() if len(with_dead) else 0:.1%}, "
              f"max {with_dead['dead_macs'].max() if len(with_dead) else 0:.1%}")
    print(frame.sort_values("dead_macs", ascending=False).head(10).to_string(index=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet18d", "mobilenetv2_050"])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--top", type=int, default=6, help="oneDNN items listed per model")
    parser.add_argument("--zoo", action="store_true", help="crop every zoo model and summarise")
    parser.add_argument("--verbose-steps", help=argparse.SUPPRESS)
    parser.add_argument("--no-crop", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.verbose_steps:
        verbose_steps(args.verbose_steps, crop_kernels=not args.no_crop)
        return
    torch.set_num_threads(1)
    if args.zoo:
        report_zoo()
        return
    for name in args.models:
        report_onednn(name, args.top)
        report_variants(name, args.variants, args.images)


if __name__ == "__main__":
    main()
