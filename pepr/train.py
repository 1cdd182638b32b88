"""The training loop: one run of one model on one dataset, measured, returned as a results row.

Data is held as tensors on the device (no per-sample Dataset/DataLoader path); the default
protocol is the paper's (:data:`PAPER_DEFAULTS`, from :data:`pepr.results.PAPER_PROTOCOL`; the
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
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import pepr
from pepr import crop, meters, results
from pepr.datasets import is_multi_label
from pepr.errors import BadParameterError, IncompatibleInputError, PeprError

#: The paper's protocol (the release's training script) without its seed: a run's defaults.
PAPER_DEFAULTS = {key: value for key, value in results.PAPER_PROTOCOL.items() if key != "seed"}
OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9),
}
#: Optimizers with a fused implementation (one kernel for all parameters instead of ~10 small
#: operations per parameter tensor; ``benchmarks/throughput.py --profile`` shows the share of the
#: for-each optimizer's operations in a training epoch).
FUSED_OPTIMIZERS = ("adam", "adamw")
MEMORY_FORMATS = ("auto", "channels_last", "contiguous")
#: Validation metrics a run may select on (higher is better for all).
SELECT_METRICS = ("acc", "auc", "balanced_acc")


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
    """Accuracy, balanced accuracy and AUC for a MedMNIST task.

    ``scores`` are probabilities (softmax; sigmoid for multi-label). Binary AUC uses the positive
    class; multi-class AUC is the macro one-vs-rest mean; multi-label follows MedMNIST (accuracy
    and AUC averaged over labels, threshold 0.5). A metric that is undefined on this sample (one
    class only) is NaN.
    """
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, roc_auc_score

    if is_multi_label(task):
        predicted = scores > 0.5
        labels = range(y_true.shape[1])
        acc = float(np.mean([accuracy_score(y_true[:, i], predicted[:, i]) for i in labels]))
        bal = float(np.mean([balanced_accuracy_score(y_true[:, i], predicted[:, i]) for i in labels]))
        aucs = [_safe_auc(roc_auc_score, y_true[:, i], scores[:, i]) for i in labels]
        return {"acc": acc, "balanced_acc": bal, "auc": float(np.nanmean(aucs)) if aucs else math.nan}
    predicted = scores.argmax(axis=1)
    with warnings.catch_warnings():  # one class only in a tiny split: still well defined
        warnings.simplefilter("ignore")
        metrics = {"acc": float(accuracy_score(y_true, predicted)),
                   "balanced_acc": float(balanced_accuracy_score(y_true, predicted))}
    if scores.shape[1] == 2:
        metrics["auc"] = _safe_auc(roc_auc_score, y_true, scores[:, 1])
    else:
        metrics["auc"] = _safe_auc(roc_auc_score, y_true, scores, multi_class="ovr",
                                   average="macro", labels=list(range(scores.shape[1])))
    return metrics


def _safe_auc(function, *args, **kwargs) -> float:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(function(*args, **kwargs))
    except ValueError:  # one class only in y_true
        return math.nan


def confusion_matrix(y_true: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts[true, predicted] for single-label tasks."""
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (y_true.astype(int), predicted.astype(int)), 1)
    return counts


def majority_class_accuracy(y_train: np.ndarray, y_test: np.ndarray) -> float:
    """Test accuracy of always predicting the training split's most frequent class."""
    majority = np.bincount(y_train.astype(int)).argmax()
    return float(np.mean(y_test == majority))


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
    that reach an ``img_size`` input (:func:`pepr.crop.crop_dead_taps`).

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


def normalise_pretrained(value: object) -> object:
    """``pretrained`` as False, True or a checkpoint path (strings from the CLI/papermill)."""
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("false", "no", "0", "none", ""):
            return False
        if lowered in ("true", "yes", "1"):
            return True
        return value
    return bool(value)


def resolve_img_size(model: str, img_size: object) -> int:
    """``img_size`` as an int; ``"auto"`` (or None) is the zoo's smallest input for ``model``."""
    if img_size is None or (isinstance(img_size, str) and img_size.strip().lower() == "auto"):
        from pepr import zoo

        return int(zoo.get_model_info(model)["min_img_size"])
    try:
        size = int(img_size)
    except (TypeError, ValueError):
        raise BadParameterError(f"img_size must be an integer or 'auto' (got {img_size!r})") from None
    if size < 1:
        raise BadParameterError(f"img_size must be positive (got {size})")
    return size


def validate_protocol(epochs: int, batch_size: int, lr: float, optimizer: str,
                      data_fraction: float, select_metric: str) -> None:
    """Raise :class:`BadParameterError` for a value outside its domain."""
    problems = []
    if int(epochs) < 1:
        problems.append(f"epochs must be >= 1 (got {epochs})")
    if int(batch_size) < 1:
        problems.append(f"batch_size must be >= 1 (got {batch_size})")
    if not float(lr) > 0:
        problems.append(f"lr must be > 0 (got {lr})")
    if optimizer not in OPTIMIZERS:
        problems.append(f"optimizer {optimizer!r} not in {sorted(OPTIMIZERS)}")
    if not 0 < float(data_fraction) <= 1:
        problems.append(f"data_fraction must be in (0, 1] (got {data_fraction})")
    if select_metric not in SELECT_METRICS:
        problems.append(f"select_metric {select_metric!r} not in {SELECT_METRICS}")
    if problems:
        raise BadParameterError("; ".join(problems))


def identity(model: str, dataset: str, *, study: str, pretrained: object, data_fraction: float,
             seed: int, img_size: int, epochs: int, batch_size: int, optimizer: str,
             lr: float) -> dict[str, object]:
    """The identity columns of a run, with its ``run_id`` and ``setting``."""
    cell = {
        "study": study, "model": model, "dataset": dataset, "pretrained": pretrained,
        "data_fraction": float(data_fraction), "seed": int(seed), "img_size": int(img_size),
        "epochs": int(epochs), "batch_size": int(batch_size), "optimizer": optimizer,
        "lr": float(lr),
    }
    return {"run_id": results.run_id(cell), **cell,
            "setting": results.setting_label(dataset, pretrained, data_fraction)}


def run(
    model: str,
    dataset: str,
    *,
    study: str = "adhoc",
    img_size: int = 28,
    pretrained: object = False,
    data_fraction: float = 1.0,
    seed: int = 0,
    epochs: int = PAPER_DEFAULTS["epochs"],
    batch_size: int = PAPER_DEFAULTS["batch_size"],
    lr: float = PAPER_DEFAULTS["lr"],
    optimizer: str = PAPER_DEFAULTS["optimizer"],
    select_metric: str = "acc",
    device: str | None = None,
    deterministic: bool = True,
    memory_format: str = "auto",
    crop_kernels: bool = True,
    meter: meters.RunMeter | None = None,
) -> RunResult:
    """Train ``model`` on ``dataset`` under ``meter`` and return the run row and its history.

    User mistakes (unknown model or dataset, missing data, bad parameters) raise a
    :class:`pepr.errors.PeprError` before anything starts. Once the run started, a model that
    cannot take the input, a non-finite loss or a runtime error gives a ``failed`` row.
    ``memory_format`` (``auto``: see :func:`choose_memory_format`) and ``crop_kernels`` (drop the
    convolution taps that only ever meet padding at this input size and run convolutions on 1x1
    maps as matrix products, see :mod:`pepr.crop`) change speed, not the function trained; the
    optimizer is fused where torch has a fused kernel.
    """
    from pepr import datasets, zoo

    pretrained = normalise_pretrained(pretrained)
    validate_protocol(epochs, batch_size, lr, optimizer, data_fraction, select_metric)
    img_size, epochs, batch_size, seed = int(img_size), int(epochs), int(batch_size), int(seed)
    lr, data_fraction = float(lr), float(data_fraction)
    device = device or default_device()
    ident = identity(model, dataset, study=study, pretrained=pretrained,
                     data_fraction=data_fraction, seed=seed, img_size=img_size, epochs=epochs,
                     batch_size=batch_size, optimizer=optimizer, lr=lr)
    row: dict[str, object] = {**ident, **provenance(device), "status": "failed", "error": ""}
    history: list[dict[str, object]] = []
    zoo.resolve_model_name(model)  # UnknownModelError before any work (cheap: no probing)
    data = datasets.load_dataset(dataset, img_size=img_size, data_fraction=data_fraction,
                                 seed=seed)
    meter = meter or meters.RunMeter(device=device)
    meter.device = device
    result = RunResult(row=row, epochs=history, class_names=list(data.class_names))

    def record(epoch: int, split: str, values: Mapping[str, float]) -> None:
        for metric, value in values.items():
            history.append({"run_id": ident["run_id"], "study": study, "model": model,
                            "setting": ident["setting"], "epoch": epoch, "split": split,
                            "metric": metric, "value": value})

    try:
        with meter.session():
            generator = seed_everything(seed, deterministic)
            # create_model runs one forward pass at this size (IncompatibleInputError if not)
            net = zoo.create_model(model, num_classes=data.num_classes, in_chans=data.in_chans,
                                   img_size=img_size, pretrained=pretrained)
            row["num_params"] = zoo.count_params(net)
            try:
                row["flops_per_image"] = zoo.flops_per_image(net, data.in_chans, img_size)
            except Exception:  # FLOPs are informative only; never fail a run on them
                row["flops_per_image"] = math.nan
            net, layout, result.crop_report = prepare_model(
                net, data.in_chans, img_size, device, memory_format, crop_kernels)
            tensors = _prepare(data, device, layout)
            opt = make_optimizer(optimizer, net.parameters(), lr)
            best_value, best_epoch, best_state = -math.inf, -1, None
            for epoch in range(epochs):
                meter.epoch_started()
                train_values = train_epoch(net, opt, tensors["train_x"], tensors["train_y"],
                                           batch_size, generator, data.task)
                epoch_time = meter.epoch_ended()
                val_values, _ = evaluate(net, tensors["val_x"], tensors["val_y"], batch_size,
                                         data.task)
                record(epoch, "train", {**train_values, "time_s": epoch_time})
                record(epoch, "val", val_values)
                value = val_values[select_metric]
                if math.isfinite(value) and value > best_value:
                    best_value, best_epoch = value, epoch
                    best_state = copy.deepcopy(net.state_dict()) if epoch < epochs - 1 else None
            with meter.inference():
                logits = predict(net, tensors["test_x"], batch_size)
            test_values, scores = _metrics_from_logits(logits, tensors["test_y"], data.task)
            record(epochs - 1, "test", test_values)
            selected = test_values
            if best_state is not None:
                net.load_state_dict(best_state)
                selected, _ = evaluate(net, tensors["test_x"], tensors["test_y"], batch_size,
                                       data.task)
        y_test = tensors["test_y"].cpu().numpy()
        if not is_multi_label(data.task):
            result.confusion = confusion_matrix(y_test, scores.argmax(1), data.num_classes)
        row.update({
            "test_acc": test_values["acc"], "test_auc": test_values["auc"],
            "test_balanced_acc": test_values["balanced_acc"],
            "val_metric": select_metric, "val_best": best_value if best_epoch >= 0 else math.nan,
            "selected_epoch": best_epoch if best_epoch >= 0 else math.nan,
            "test_acc_selected": selected["acc"], "train_acc": train_values["acc"],
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


def append_result(outcome: RunResult, results_dir: Path | str = results.DEFAULT_RESULTS_DIR) -> None:
    """Write a run's history, then its row: a run without an ``ok`` row is rerun by a sweep."""
    study = str(outcome.row["study"])
    if outcome.epochs:
        results.append_epochs(outcome.epochs, study, results_dir)
    results.append_run(outcome.row, results_dir)

