"""Training throughput: pepr's loop against the official release's loop pattern, side by side.

Same process, same data (PneumoniaMNIST, 28 px), same thread count, same protocol (Adam,
lr 5e-4, batch 32), the same initial weights, one epoch on a subset of the training split:

- ``official``: the release's pattern (its ``train_medmnist.py`` and ``datasets.py``): a
  Dataset over pre-converted tensors that returns one ``(image, label)`` at a time (no
  transform), a ``DataLoader`` (batch 32, no workers), ``loss.item()`` and an accuracy
  ``.item()`` every step with a progress print every 10 steps, the test split evaluated every
  epoch, the default (for-each) Adam, NCHW tensors;
- ``pepr``: :func:`pepr.train.train_epoch` on tensors held on the device, then the validation
  split evaluated, as :func:`pepr.train.run` does each epoch (it evaluates the test split once,
  after the last epoch, which a steady-state epoch does not include); fused Adam;
  channels_last for models with grouped/depthwise convolutions; kernels cropped to their live
  taps and convolutions on 1x1 maps computed as matrix products (:mod:`pepr.crop`; the crop's
  own time is added to the epoch, ``--no-crop`` leaves it out). ``dead_macs`` is the share of the model's convolution multiply-adds the crop removed.

The validation and test subsets have the same size, so both sides evaluate as many images.

The meters' overhead is the time :class:`pepr.meters.RunMeter` spends in its own code (strategy
selection, counter reads, memory baseline) over the wall time of the metered loops, in percent,
as ``meter_overhead_pct`` in :meth:`pepr.meters.RunMeter.report` (summed over every metered
epoch). It is printed, not asserted: a timing threshold fails on a busy machine. The last line
is ``median_speedup=R overhead_pct=O``; for the overhead alone, on one small model::

    OMP_NUM_THREADS=1 python benchmarks/throughput.py --models mobilenetv2_050 --train-images 256 --repeats 1

Profile findings (torch.profiler, one thread, batch 32; ``--profile`` prints the official
loop's table). Both loops are compute-bound: for mobilenetv2_050, convolution backward took
47-48 % of CPU time, convolution forward 13-14 %, batch norm forward and backward 12-17 %; the
official loop's DataLoader iteration took about 3 % and its for-each Adam 5-12 % (158 parameter
tensors, ~10 small operations each). The fused Adam saved ~9 %; the memory layout mattered
most: channels_last ran grouped/depthwise models 1.4-1.9x faster but resnet18d 0.7x, hence the
rule by convolution type; flushing denormals changed nothing (resnet26d, cspresnet50). Inside
the convolutions, ``benchmarks/convolution_profile.py`` prints oneDNN's own timings: for
resnet18d the last stage's 512x512x3x3 kernels on 1x1 maps, where eight of nine taps only meet
padding, and the reordering of those kernels on every call took about 40 % of oneDNN's time;
cropping the kernels (:mod:`pepr.crop`) removes that work. Convolutions on 1x1 maps (the last
stages at 28 px, and every squeeze-and-excitation block) ran several times slower in oneDNN than
the same matrix product in ``F.linear``; :mod:`pepr.crop` computes them as products. The same script times the
alternatives considered: ``torch.compile`` (with a cold compile of about half a minute per
model), oneDNN's bf16/tf32 arithmetic for float32 convolutions (which would change the
arithmetic of the study) and PyTorch's own (non-oneDNN) convolutions; none was clearly faster
than the loop with cropped kernels. On a CPU
shared with other busy processes two OpenMP threads spun at barriers (resnet18: 13-43 img/s
against about 160 img/s with one thread), so runs here use one thread.

Usage: ``python benchmarks/throughput.py [--models ...] [--train-images N] [--threads T]``
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import math
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from pepr.training import nets
from pepr.training import tensors

#: Zoo models that accept 28 px, spread over 2 M to 22 M parameters and over families.
from pepr.training import meters, train
DEFAULT_PANEL = ["mobilenetv2_050", "mnasnet_100", "fbnetv3_b", "resnet18d", "dpn68",
                 "resnet26d", "cspresnet50"]


class PerSampleDataset(torch.utils.data.Dataset):
    """One ``(image, label)`` at a time from pre-converted tensors (the release's Dataset)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.data = train.to_float(images)  # the release stored ready tensors in .pt files
        self.targets = labels[:, None]  # (N, 1), as MedMNIST's labels

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int):
        return self.data[index], self.targets[index]


def multi_class_accuracy(labels: torch.Tensor, preds: torch.Tensor) -> torch.Tensor:
    return (preds.argmax(dim=1) == labels.squeeze(1)).float().mean()


def official_epoch(model, optimizer, train_loader, test_loader, log: io.StringIO) -> None:
    """One epoch in the release's pattern (per-step host syncs, test set every epoch)."""
    model.train()
    running_loss, running_acc = 0.0, 0.0
    for step, (inputs, labels) in enumerate(train_loader):
        for parameter in model.parameters():
            parameter.grad = None
        scores = model(inputs)
        loss = F.cross_entropy(scores, labels.squeeze(1).long())
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            preds = torch.sigmoid(scores.clone())
            running_acc += multi_class_accuracy(labels, preds).item()
            running_loss += loss.item()
        if (step + 1) % 10 == 1:
            print(f"Step [{step + 1}/{len(train_loader)}], Loss: {loss.item():.4f}", file=log)
    model.eval()
    with torch.no_grad():
        test_loss, test_acc = 0.0, torch.zeros(1)
        for inputs, labels in test_loader:
            scores = model(inputs)
            test_loss += F.cross_entropy(scores, labels.squeeze(1).long())
            test_acc += multi_class_accuracy(labels, torch.sigmoid(scores.clone()))
        print(f"Test loss {float(test_loss) / len(test_loader):.4f} "
              f"acc {test_acc.item() / len(test_loader):.4f}", file=log)


def pepr_epoch(model, optimizer, tensors, batch_size, generator, task) -> None:
    """One epoch as :func:`pepr.train.run` does it: train, then evaluate the validation split."""
    train.train_epoch(model, optimizer, tensors["train_x"], tensors["train_y"], batch_size,
                      generator, task)
    train.evaluate(model, tensors["val_x"], tensors["val_y"], batch_size, task)


def subset(data, n_train: int, n_eval: int):
    """A copy with the first ``n_train`` training and ``n_eval`` validation/test images."""
    return dataclasses.replace(
        data, train_x=data.train_x[:n_train], train_y=data.train_y[:n_train],
        val_x=data.val_x[:n_eval], val_y=data.val_y[:n_eval],
        test_x=data.test_x[:n_eval], test_y=data.test_y[:n_eval])


def new_model(name: str, data, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return nets.create_model(name, num_classes=data.num_classes, in_chans=data.in_chans,
                            img_size=data.img_size)


def time_official(name: str, data, batch_size: int) -> tuple[float, float]:
    model = new_model(name, data)
    # the paper's optimizer in torch's default (for-each) implementation, as the release ran it
    optimizer = train.OPTIMIZERS[train.PAPER_DEFAULTS["optimizer"]](
        model.parameters(), lr=train.PAPER_DEFAULTS["lr"])
    loaders = {
        split: torch.utils.data.DataLoader(
            PerSampleDataset(*data.split(split)), batch_size=batch_size, num_workers=0,
            drop_last=split != "train", pin_memory=torch.cuda.is_available())
        for split in ("train", "test")
    }
    warm = torch.utils.data.DataLoader(PerSampleDataset(data.train_x[:2 * batch_size],
                                                        data.train_y[:2 * batch_size]),
                                       batch_size=batch_size)
    official_epoch(model, optimizer, warm, warm, io.StringIO())
    start, cpu_start = time.perf_counter(), time.process_time()
    official_epoch(model, optimizer, loaders["train"], loaders["test"], io.StringIO())
    return time.perf_counter() - start, time.process_time() - cpu_start


def time_pepr(name: str, data, batch_size: int, meter: meters.RunMeter | None = None,
              crop_kernels: bool = True) -> tuple[float, float, float]:
    """Wall and CPU seconds of one epoch (the model's preparation by
    :func:`pepr.train.prepare_model`, the kernel crop included, added), and the share of
    convolution multiply-adds the crop removed (NaN without the crop)."""
    model = new_model(name, data)
    crop_start, crop_cpu_start = time.perf_counter(), time.process_time()
    model, layout, report = train.prepare_model(model, data.in_chans, data.img_size,
                                                crop_kernels=crop_kernels)
    crop_s, crop_cpu = time.perf_counter() - crop_start, time.process_time() - crop_cpu_start
    tensors = train._prepare(data, "cpu", layout)
    optimizer = train.make_optimizer(train.PAPER_DEFAULTS["optimizer"], model.parameters(),
                                     train.PAPER_DEFAULTS["lr"])
    generator = train.seed_everything(0, deterministic=False)
    warm = {key: value[:2 * batch_size] for key, value in tensors.items()}
    pepr_epoch(model, optimizer, warm, batch_size, generator, data.task)
    session = meter.session() if meter is not None else contextlib.nullcontext()
    start, cpu_start = time.perf_counter(), time.process_time()
    with session:
        if meter is not None:
            meter.epoch_started()
        pepr_epoch(model, optimizer, tensors, batch_size, generator, data.task)
        if meter is not None:
            meter.epoch_ended()
    return (time.perf_counter() - start + crop_s, time.process_time() - cpu_start + crop_cpu,
            report.saved_fraction if report is not None else math.nan)


def profile_official(name: str, data, batch_size: int) -> None:
    """Where the official pattern's time goes (top operators by self CPU time)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        time_official(name, subset(data, 8 * batch_size, 2 * batch_size), batch_size)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=DEFAULT_PANEL)
    # 1024 / 128: about the real ratio of evaluated to trained images per epoch (524 or 624
    # against 4708), so evaluation weighs as much as in a full run
    parser.add_argument("--train-images", type=int, default=1024)
    parser.add_argument("--eval-images", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=train.PAPER_DEFAULTS["batch_size"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2, help="timings per side; the minimum counts")
    parser.add_argument("--profile", action="store_true", help="profile the official loop first")
    parser.add_argument("--no-crop", dest="crop_kernels", action="store_false",
                        help="time pepr's loop without cropping dead convolution taps")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    data = subset(tensors.load_dataset("pneumoniamnist", img_size=28), args.train_images,
                  args.eval_images)
    print(f"pneumoniamnist 28 px: {len(data.train_x)} train / {len(data.val_x)} val / "
          f"{len(data.test_x)} test images, batch {args.batch_size}, {torch.get_num_threads()} "
          f"thread(s), {meters.hardware_name('cpu')}")
    if args.profile:
        profile_official(args.models[0], data, args.batch_size)
    speedups, cpu_speedups, overhead_s, metered_s = [], [], 0.0, 0.0
    print(f"one epoch each, the faster of {args.repeats} repeat(s) per side; wall seconds "
          f"(CPU seconds of this process in brackets)")
    print(f"{'model':<18}{'params':>12}{'dead_macs':>10}{'official_s':>16}{'pepr_s':>16}"
          f"{'speedup':>9}{'cpu':>7}")
    for index, name in enumerate(args.models):
        official_times, pepr_times = [], []
        for repeat in range(args.repeats):
            meter = meters.RunMeter()
            # alternate the order so that drifting load on a shared machine biases neither side
            if (index + repeat) % 2 == 0:
                official_times.append(time_official(name, data, args.batch_size))
                pepr_times.append(time_pepr(name, data, args.batch_size, meter, args.crop_kernels))
            else:
                pepr_times.append(time_pepr(name, data, args.batch_size, meter, args.crop_kernels))
                official_times.append(time_official(name, data, args.batch_size))
            overhead_s += meter.overhead_s
            metered_s += meter.wall_time_s  # RunMeter.report's meter_overhead_pct divides by it
        (official_s, official_cpu), (pepr_s, pepr_cpu, dead) = min(official_times), min(pepr_times)
        speedups.append(official_s / pepr_s)
        cpu_speedups.append(official_cpu / pepr_cpu)
        params = nets.get_model_info(name).get("num_params", float("nan"))
        dead_text = "-" if math.isnan(dead) else f"{dead:.1%}"
        print(f"{name:<18}{params:>12,.0f}{dead_text:>10}{official_s:>8.2f} ({official_cpu:>5.2f})"
              f"{pepr_s:>8.2f} ({pepr_cpu:>5.2f}){speedups[-1]:>9.2f}{cpu_speedups[-1]:>7.2f}",
              flush=True)
    overhead_pct = 100 * overhead_s / metered_s
    print(f"meter overhead: {overhead_s:.3f} s of {metered_s:.1f} s metered wall time "
          f"({overhead_pct:.2f} %)")
    print(f"wall-time speedups: min {min(speedups):.2f} max {max(speedups):.2f} geometric mean "
          f"{float(np.exp(np.mean(np.log(speedups)))):.2f}; median CPU-time speedup "
          f"{statistics.median(cpu_speedups):.2f}")
    print(f"median_speedup={statistics.median(speedups):.2f} overhead_pct={overhead_pct:.2f}")

if __name__ == "__main__":
    main()
