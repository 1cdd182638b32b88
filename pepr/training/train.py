"""The training loop: one run of one model on one dataset, measured, returned as a results row.

Data is held as tensors on the device (no per-sample Dataset/DataLoader path); the default
protocol is the paper's (:data:`PAPER_DEFAULTS`, from :data:`pepr.store.results.PAPER_PROTOCOL`; the
test accuracy after the last epoch is ``test_acc``). Validation-based selection is recorded
beside it: the epoch with the best validation metric (``selected_epoch``, 0-based) and the test
accuracy of that epoch's weights (``test_acc_selected``). A non-finite loss, or a model that
cannot take the input, ends the run as ``failed`` with the reason in ``error``.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import os
import random
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import pepr
from pepr.core.errors import BadParameterError, IncompatibleInputError, PeprError
from pepr.data.images import is_multi_label
from pepr.store import results, runspec
from pepr.training import crop, meters

#: The paper's protocol (the release's training script) without its seed: a run's defaults.
PAPER_DEFAULTS = {key: value for key, value in results.PAPER_PROTOCOL.items() if key != "seed"}
OPTIMIZERS = {  # one entry per name of pepr.store.runspec.OPTIMIZER_NAMES
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9),
}
#: Optimizers with a fused implementation (one kernel for all parameters instead of ~10 small
#: operations per parameter tensor; ``benchmarks/throughput.py --profile`` shows the share of the
#: for-each optimizer's operations in a training epoch).
FUSED_OPTIMIZERS = ("adam", "adamw")
MEMORY_FORMATS = ("auto", "channels_last", "contiguous")


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite."""


@dataclass
class RunResult:
    """What :func:`run` returns: the run row, the per-epoch rows, and what the plots need."""

    row: dict[str, object]
    epochs: list[dict[str, object]]
    confusion: np.ndarray | None = None
    class_names: list[str] = field(default_factory=list)
    meter_report: dict[str, object] = field(default_factory=dict)
    crop_report: crop.CropReport | None = None


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------

def task_metrics(task: str, y_true: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Accuracy, balanced accuracy and AUC for a MedMNIST task, as scikit-learn computes them.

    ``scores`` are probabilities (softmax; sigmoid for multi-label). Binary AUC uses the positive
    class; multi-class AUC is the macro one-vs-rest mean (undefined when a class is absent from
    ``y_true``); multi-label follows MedMNIST (accuracy and AUC averaged over labels, threshold
    0.5). A metric that is undefined on this sample (one class only) is NaN.

    The three are computed here with NumPy rather than ``sklearn.metrics``: importing
    scikit-learn costs 1.4 s, paid by every run's fresh notebook kernel
    (``benchmarks/fixed_cost.py``); the tests check the results against scikit-learn's.
    """
    if is_multi_label(task):
        predicted = (scores > 0.5).astype(int)
        labels = range(y_true.shape[1])
        acc = float(np.mean([np.mean(y_true[:, i] == predicted[:, i]) for i in labels]))
        bal = float(np.mean([balanced_accuracy(y_true[:, i], predicted[:, i]) for i in labels]))
        aucs = [binary_auc(y_true[:, i], scores[:, i]) for i in labels]
        finite = [auc for auc in aucs if not math.isnan(auc)]
        return {"acc": acc, "balanced_acc": bal,
                "auc": float(np.mean(finite)) if finite else math.nan}
    y_true = np.asarray(y_true).astype(int).reshape(-1)
    predicted = scores.argmax(axis=1)
    metrics = {"acc": float(np.mean(y_true == predicted)) if len(y_true) else math.nan,
               "balanced_acc": balanced_accuracy(y_true, predicted)}
    if scores.shape[1] == 2:
        metrics["auc"] = binary_auc(y_true == 1, scores[:, 1])
    else:
        per_class = [binary_auc(y_true == k, scores[:, k]) for k in range(scores.shape[1])]
        metrics["auc"] = float(np.mean(per_class))  # NaN when any class is absent
    return metrics


def balanced_accuracy(y_true: np.ndarray, predicted: np.ndarray) -> float:
    """The mean recall over the classes present in ``y_true`` (scikit-learn's definition)."""
    y_true, predicted = np.asarray(y_true).reshape(-1), np.asarray(predicted).reshape(-1)
    classes = np.unique(y_true)
    if not len(classes):
        return math.nan
    return float(np.mean([np.mean(predicted[y_true == k] == k) for k in classes]))


def binary_auc(positive: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve: the Mann-Whitney U of the positives' scores over the
    negatives', ties counted half (average ranks); NaN unless both classes are present."""
    positive = np.asarray(positive).astype(bool).reshape(-1)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = average_ranks(np.asarray(scores, dtype=float).reshape(-1))
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of ``values``, tied values sharing their mean rank."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts_group = np.r_[True, ordered[1:] != ordered[:-1]]
    group = np.cumsum(starts_group) - 1
    starts = np.flatnonzero(starts_group)
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values))
    ranks[order] = ((starts + 1 + ends) / 2)[group]
    return ranks


def confusion_matrix(y_true: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts[true, predicted] for single-label tasks."""
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (y_true.astype(int), predicted.astype(int)), 1)
    return counts


# ---------------------------------------------------------------------------------------------
# Reproducibility and provenance
# ---------------------------------------------------------------------------------------------

def seed_everything(seed: int, deterministic: bool = True) -> torch.Generator:
    """Seed Python, NumPy and torch; ask torch for deterministic kernels. Returns a generator."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def git_sha(path: Path | None = None) -> str:
    """The commit of the repository holding the package (``+dirty`` with local changes)."""
    where = str(path or Path(pepr.__file__).resolve().parent)
    try:
        sha = subprocess.run(["git", "-C", where, "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", where, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return ""


def provenance(device: str) -> dict[str, object]:
    """Where and with what a run ran."""
    import timm

    return {
        "device": device,
        "hardware": meters.hardware_name(device),
        "torch_version": torch.__version__,
        "timm_version": timm.__version__,
        "pepr_version": pepr.__version__,
        "git_sha": git_sha(),
        "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def import_run_libraries() -> None:
    """Import what a run imports lazily (timm, the FLOP counter), so that
    their memory is part of the baseline, not of the run's own share (``run_mem_gb``)."""
    import timm  # noqa: F401
    import torch.utils.flop_counter  # noqa: F401


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


# ---------------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------------

def make_optimizer(name: str, parameters, lr: float) -> torch.optim.Optimizer:
    """The named optimizer, fused where torch offers it (same update rule, fewer kernels)."""
    parameters = list(parameters)
    if name in FUSED_OPTIMIZERS:
        try:
            return OPTIMIZERS[name](parameters, lr=lr, fused=True)
        except (RuntimeError, TypeError, ValueError):  # a device or dtype without a fused kernel
            pass
    return OPTIMIZERS[name](parameters, lr=lr)


def uses_grouped_convolutions(model: torch.nn.Module) -> bool:
    """Whether any 2-D convolution is grouped or depthwise (``groups > 1``)."""
    return any(isinstance(m, torch.nn.Conv2d) and m.groups > 1 for m in model.modules())


def choose_memory_format(model: torch.nn.Module, memory_format: str = "auto") -> torch.memory_format:
    """``channels_last`` for models with grouped/depthwise convolutions under ``auto``.

    A fixed rule, not a timing probe, so that a run's numerics do not depend on machine load.
    oneDNN's grouped and depthwise convolutions run faster on channels_last tensors, while dense
    ones can run slower; ``benchmarks/convolution_profile.py --variants channels-last
    contiguous`` times both layouts against this rule for the models it is given.
    """
    if memory_format not in MEMORY_FORMATS:
        raise BadParameterError(f"memory_format {memory_format!r} not in {MEMORY_FORMATS}")
    if memory_format == "channels_last" or (memory_format == "auto"
                                            and uses_grouped_convolutions(model)):
        return torch.channels_last
    return torch.contiguous_format


def prepare_model(net: torch.nn.Module, in_chans: int, img_size: int, device: str = "cpu",
                  memory_format: str = "auto", crop_kernels: bool = True,
                  ) -> tuple[torch.nn.Module, torch.memory_format, crop.CropReport | None]:
    """The model as :func:`run` trains it: on ``device`` in the layout of
    :func:`choose_memory_format`, and (``crop_kernels``) its convolutions cropped to the taps
    that reach an ``img_size`` input (:func:`pepr.training.crop.crop_dead_taps`).

    Returns the model, its memory format and the crop's report (None without the crop).
    """
    layout = choose_memory_format(net, memory_format)
    net = net.to(device=device, memory_format=layout)
    report = (crop.crop_dead_taps(net, example_input(in_chans, img_size, device, layout))
              if crop_kernels else None)
    return net, layout, report


def example_input(in_chans: int, img_size: int, device: str = "cpu",
                  memory_format: torch.memory_format = torch.contiguous_format) -> torch.Tensor:
    """Two images of noise at the run's size, drawn without touching the global random state."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(2, in_chans, img_size, img_size, generator=generator)
    return images.to(device).contiguous(memory_format=memory_format)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images to floats in [-1, 1] (MedMNIST's Normalize(mean=.5, std=.5))."""
    return images.float().div_(127.5).sub_(1.0)


def batches(n: int, batch_size: int, generator: torch.Generator | None) -> Iterator[torch.Tensor]:
    """Index batches over ``n`` samples, shuffled when a generator is given."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def loss_function(task: str):
    if is_multi_label(task):
        return lambda logits, y: F.binary_cross_entropy_with_logits(logits, y.float())
    return F.cross_entropy


def probabilities(task: str, logits: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(logits) if is_multi_label(task) else torch.softmax(logits, dim=1)


def train_epoch(model, optimizer, x, y, batch_size, generator, task) -> dict[str, float]:
    """One pass over the training tensors; loss and accuracy summed on the device (no per-step
    host sync). Raises :class:`NonFiniteLossError` when the epoch's loss is not finite."""
    model.train()
    criterion = loss_function(task)
    loss_sum = torch.zeros((), device=x.device)
    correct = torch.zeros((), device=x.device)
    for index in batches(len(x), batch_size, generator):
        if len(index) < 2 and len(x) > 1:  # BatchNorm cannot train on a batch of one
            continue
        inputs, targets = x[index], y[index]
        logits = model(inputs)
        loss = criterion(logits, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            loss_sum += loss.detach() * len(index)
            if not is_multi_label(task):
                correct += (logits.argmax(1) == targets).sum()
    mean_loss = float(loss_sum) / len(x)
    if not math.isfinite(mean_loss):
        raise NonFiniteLossError(f"training loss is {mean_loss}")
    return {"loss": mean_loss, "acc": float(correct) / len(x) if not is_multi_label(task) else math.nan}


@torch.inference_mode()
def predict(model, x, batch_size: int) -> torch.Tensor:
    """Logits for all of ``x`` in eval mode, batch by batch."""
    model.eval()
    return torch.cat([model(x[index]) for index in batches(len(x), batch_size, None)])


def _metrics_from_logits(logits: torch.Tensor, y: torch.Tensor,
                         task: str) -> tuple[dict[str, float], np.ndarray]:
    """Loss and task metrics of a split's logits; also returns the class scores."""
    loss = float(loss_function(task)(logits, y))
    scores = probabilities(task, logits).cpu().numpy()
    return {"loss": loss, **task_metrics(task, y.cpu().numpy(), scores)}, scores


def evaluate(model, x, y, batch_size: int, task: str) -> tuple[dict[str, float], np.ndarray]:
    """Loss and task metrics on a split; also returns the class scores."""
    return _metrics_from_logits(predict(model, x, batch_size), y, task)


def _prepare(data, device: str,
             memory_format: torch.memory_format = torch.contiguous_format) -> dict[str, torch.Tensor]:
    """The splits as float tensors on the device (converted once, not per batch)."""
    tensors = {}
    for split in ("train", "val", "test"):
        images = to_float(getattr(data, f"{split}_x")).to(device)
        tensors[f"{split}_x"] = images.contiguous(memory_format=memory_format)
        tensors[f"{split}_y"] = getattr(data, f"{split}_y").to(device)
    return tensors


def imagenet_num_params(model: str) -> int | float:
    """Parameters of ``model``'s ImageNet configuration (the zoo's figure; NaN if unknown)."""
    from pepr.training import nets

    try:
        return int(nets.get_model_info(model)["num_params"])
    except (KeyError, TypeError, ValueError):
        return math.nan


def run(model: str, dataset: str, *, device: str | None = None, deterministic: bool = True,
        memory_format: str = "auto", crop_kernels: bool = True,
        meter: meters.RunMeter | None = None, **params: object) -> RunResult:
    """Train ``model`` on ``dataset`` under ``meter`` and return the run row and its history.

    ``params`` are the run's parameters (:data:`pepr.store.runspec.PARAMETER_CONSTRAINTS`: ``study``,
    ``img_size``, ``pretrained``, ``data_fraction``, ``seed``, ``epochs``, ``batch_size``,
    ``lr``, ``optimizer``, ``select_metric``, ``threads``), defaults
    :data:`pepr.store.runspec.RUN_DEFAULTS` (the paper's protocol, one thread). User mistakes (unknown
    model or dataset, missing data, bad parameters) raise a :class:`pepr.core.errors.PeprError`
    before anything starts; see :func:`run_spec` for what happens after.
    """
    from pepr.training import nets

    spec = runspec.make_run_spec(model, dataset, min_img_size=nets.min_img_size, **params)
    return run_spec(spec, device=device, deterministic=deterministic,
                    memory_format=memory_format, crop_kernels=crop_kernels, meter=meter)


def run_spec(spec: runspec.RunSpec, *, device: str | None = None, deterministic: bool = True,
             memory_format: str = "auto", crop_kernels: bool = True,
             meter: meters.RunMeter | None = None) -> RunResult:
    """Train the run that ``spec`` describes; returns its row and history.

    Once the run started, a model that cannot take the input, a non-finite loss or a runtime
    error gives a ``failed`` row. ``memory_format`` (``auto``: see
    :func:`choose_memory_format`) and ``crop_kernels`` (drop the convolution taps that only ever
    meet padding at this input size and run convolutions on 1x1 maps as matrix products, see
    :mod:`pepr.crop`) change speed, not the function trained; the optimizer is fused where
    torch has a fused kernel. The run computes with ``spec.threads`` torch threads.
    """
    from pepr.training import nets, tensors

    torch.set_num_threads(spec.threads)
    device = device or default_device()
    meter = meter or meters.RunMeter(device=device)
    meter.device = device
    about = provenance(device)
    import_run_libraries()
    meter.mark_memory_baseline()  # after the imports, before the data and the model exist
    nets.resolve_model_name(spec.model)  # UnknownModelError before any work (cheap: no probing)
    data = tensors.load_dataset(spec.dataset, img_size=spec.img_size,
                                 data_fraction=spec.data_fraction, seed=spec.seed)
    print(data.summary())
    row: dict[str, object] = {
        **spec.cell(), **about, "threads": torch.get_num_threads(),
        "num_params": imagenet_num_params(spec.model), "data_summary": data.summary(),
        "status": "failed", "error": "",
    }
    row.pop("select_metric")
    result = RunResult(row=row, epochs=[], class_names=list(data.class_names))
    try:
        with meter.session():
            generator = seed_everything(spec.seed, deterministic)
            net, layout = _build(spec, data, device, memory_format, crop_kernels, row, result)
            tensors = _prepare(data, device, layout)
            fit = _fit(spec, net, tensors, generator, data.task, meter, result)
            with meter.inference():
                logits = predict(net, tensors["test_x"], spec.batch_size)
            test_values, scores = _metrics_from_logits(logits, tensors["test_y"], data.task)
            _record(result, spec, spec.epochs - 1, "test", test_values)
            selected = test_values
            if fit.best_state is not None:
                net.load_state_dict(fit.best_state)
                selected, _ = evaluate(net, tensors["test_x"], tensors["test_y"],
                                       spec.batch_size, data.task)
        if not is_multi_label(data.task):
            y_test = tensors["test_y"].cpu().numpy()
            result.confusion = confusion_matrix(y_test, scores.argmax(1), data.num_classes)
        row.update({
            "test_acc": test_values["acc"], "test_auc": test_values["auc"],
            "test_balanced_acc": test_values["balanced_acc"],
            "val_metric": spec.select_metric,
            "val_best": fit.best_value if fit.best_epoch >= 0 else math.nan,
            "selected_epoch": fit.best_epoch if fit.best_epoch >= 0 else math.nan,
            "test_acc_selected": selected["acc"], "train_acc": fit.train_acc,
            "status": "ok",
        })
    except (RuntimeError, ValueError) as error:
        # NonFiniteLossError is a RuntimeError and IncompatibleInputError a ValueError; the
        # user's other mistakes (PeprError) are raised, everything else ends the run as failed
        if isinstance(error, PeprError) and not isinstance(error, IncompatibleInputError):
            raise
        row["error"] = f"{type(error).__name__}: {error}".splitlines()[0][:500]
    if meter.energy is not None:
        result.meter_report = meter.report()  # the summary's run columns and the details
        row.update(result.meter_report)
    result.row = {column: row.get(column) for column in results.RUN_COLUMNS}
    return result


def _build(spec: runspec.RunSpec, data, device: str, memory_format: str, crop_kernels: bool,
           row: dict[str, object], result: RunResult) -> tuple[torch.nn.Module, torch.memory_format]:
    """The model as trained, its parameter count and FLOPs recorded in ``row``."""
    from pepr.training import nets

    net = nets.create_model(spec.model, num_classes=data.num_classes, in_chans=data.in_chans,
                           img_size=spec.img_size,
                           pretrained=spec.checkpoint or spec.pretrained, check=False)
    row["num_params_trained"] = nets.count_params(net)
    # one forward pass at this size checks the input (IncompatibleInputError naming the model)
    # and counts the FLOPs, which are informative only: a failing counter leaves them NaN
    flops = nets.check_input(net, data.in_chans, spec.img_size, name=spec.model, count_flops=True)
    row["flops_per_image"] = math.nan if flops is None else flops
    net, layout, result.crop_report = prepare_model(
        net, data.in_chans, spec.img_size, device, memory_format, crop_kernels)
    return net, layout


@dataclass
class FitOutcome:
    """What the epochs left: the best validation value, its epoch and weights (None when the
    best epoch is the last, whose weights are the model's), the last training accuracy."""

    best_value: float = -math.inf
    best_epoch: int = -1
    best_state: dict | None = None
    train_acc: float = math.nan


def _fit(spec: runspec.RunSpec, net, tensors, generator, task: str, meter: meters.RunMeter,
         result: RunResult) -> FitOutcome:
    """Train for ``spec.epochs`` epochs, recording each epoch's train and val metrics."""
    opt = make_optimizer(spec.optimizer, net.parameters(), spec.lr)
    fit = FitOutcome()
    for epoch in range(spec.epochs):
        meter.epoch_started()
        train_values = train_epoch(net, opt, tensors["train_x"], tensors["train_y"],
                                   spec.batch_size, generator, task)
        epoch_time = meter.epoch_ended()
        val_values, _ = evaluate(net, tensors["val_x"], tensors["val_y"], spec.batch_size, task)
        _record(result, spec, epoch, "train", {**train_values, "time_s": epoch_time})
        _record(result, spec, epoch, "val", val_values)
        fit.train_acc = train_values["acc"]
        value = val_values[spec.select_metric]
        if math.isfinite(value) and value > fit.best_value:
            fit.best_value, fit.best_epoch = value, epoch
            fit.best_state = (copy.deepcopy(net.state_dict()) if epoch < spec.epochs - 1
                              else None)
    return fit


def _record(result: RunResult, spec: runspec.RunSpec, epoch: int, split: str,
            values: Mapping[str, float]) -> None:
    """Append one epochs-table row per metric of ``values``."""
    for metric, value in values.items():
        result.epochs.append({"run_id": spec.run_id, "study": spec.study, "model": spec.model,
                              "setting": spec.setting, "epoch": epoch, "split": split,
                              "metric": metric, "value": value})


def append_result(outcome: RunResult, results_dir: Path | str = results.DEFAULT_RESULTS_DIR) -> None:
    """Write a run's history, then its row: a run without an ``ok`` row is rerun by a sweep."""
    study = str(outcome.row["study"])
    if outcome.epochs:
        results.append_epochs(outcome.epochs, study, results_dir)
    results.append_run(outcome.row, results_dir)

