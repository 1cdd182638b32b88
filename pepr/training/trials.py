"""Short trainings on this machine for ``pepr advise``: the calibration's timed steps of a few reference models, and the probe of the first candidates on the user's data."""

from __future__ import annotations

import contextlib
import io
import math
import time
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from pepr.advice.advise import (
    Advice,
    Calibration,
    ProbeCost,
    majority_val_accuracy,
    relative_spread,
    rerank_with_probe,
)
from pepr.advice.defaults import (
    BATCH_SIZE,
    CALIBRATION_BATCHES,
    CALIBRATION_MAX_BATCHES,
    CALIBRATION_MODELS,
    CALIBRATION_STABLE_SPREAD,
    PROBE_EPOCHS,
    PROBE_FRACTION,
    PROBE_WEIGHT,
)
from pepr.core.errors import BadParameterError
from pepr.core.text import plural
from pepr.scoring import verdicts
from pepr.training import energy_meters, meters

# ---------------------------------------------------------------------------------------------
# 2. This machine
# ---------------------------------------------------------------------------------------------

def calibration_models(reference: pd.DataFrame, count: int = CALIBRATION_MODELS) -> list[str]:
    """Measured models at evenly spaced quantiles of the reference's speed, from the fastest
    to the median (so the calibration stays short), one per quantile."""
    measured = reference[reference["source"] == "measured"].sort_values("reference_s_per_image")
    if len(measured) < count:
        raise BadParameterError(f"the reference study has {len(measured)} measured models; "
                                f"the calibration needs {count}")
    positions = np.linspace(0, (len(measured) - 1) / 2, count).round().astype(int)
    return measured["model"].iloc[positions].tolist()


def time_training_steps(model: str, in_chans: int, num_classes: int, img_size: int,
                        batches: int = CALIBRATION_BATCHES, threads: int = 1,
                        max_batches: int = CALIBRATION_MAX_BATCHES,
                        stable: float = CALIBRATION_STABLE_SPREAD) -> np.ndarray:
    """Seconds per image of each timed Adam step at the paper's batch size on random data of the
    run's shape, as :func:`pepr.training.train.run` trains, after two untimed ones: at least
    ``batches`` steps, and more, up to ``max_batches``, while their spread
    (:func:`pepr.advice.advise.relative_spread`) is above ``stable``. A step slowed by another
    process widens the spread, so a busy moment is waited out rather than averaged in; callers
    take the median."""
    import torch

    from pepr.training import nets, train

    torch.set_num_threads(threads)
    net = nets.create_model(model, num_classes=num_classes, in_chans=in_chans, img_size=img_size)
    net, layout, _ = train.prepare_model(net, in_chans, img_size)
    optimizer = train.make_optimizer("adam", net.parameters(), 5e-4)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH_SIZE, in_chans, img_size, img_size, generator=generator)
    x = x.contiguous(memory_format=layout)
    y = torch.randint(0, num_classes, (BATCH_SIZE,), generator=generator)
    net.train()

    def step() -> None:
        loss = torch.nn.functional.cross_entropy(net(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(2):  # oneDNN builds its kernels on the first steps
        step()
    seconds: list[float] = []
    while len(seconds) < batches or (len(seconds) < max_batches and relative_spread(seconds) > stable):
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
    return np.asarray(seconds) / BATCH_SIZE


def calibrate(reference: pd.DataFrame, in_chans: int, num_classes: int,
              models: Sequence[str] | None = None, threads: int = 1,
              progress: bool = True) -> Calibration:
    """Time :func:`time_training_steps` for a few reference models at their reference size and
    fit this machine's time per image against the reference's, under the energy meter."""
    from tqdm.auto import tqdm

    models = list(models) if models is not None else calibration_models(reference)
    meter = meters.RunMeter()
    baseline = meters.current_rss_gb()
    rows = []
    with meter.session():
        for model in tqdm(models, desc="calibrating", unit="model", disable=not progress):
            row = reference.set_index("model").loc[model]
            steps = time_training_steps(model, in_chans, num_classes, int(row["img_size"]),
                                        threads=threads)
            rows.append({"model": model, "img_size": int(row["img_size"]),
                         "reference_s_per_image": float(row["reference_s_per_image"]),
                         "here_s_per_image": float(np.median(steps)),
                         "here_spread": relative_spread(steps), "steps": len(steps)})
    points = pd.DataFrame(rows)
    if len(points) >= 3:
        slope, intercept = np.polyfit(np.log(points["reference_s_per_image"]),
                                      np.log(points["here_s_per_image"]), 1)
    else:  # two points or one: the ratio alone
        slope, intercept = 1.0, float(np.mean(np.log(points["here_s_per_image"]
                                                     / points["reference_s_per_image"])))
    energy = meter.energy
    watts = energy.energy_kwh * energy_meters.JOULES_PER_KWH / meter.wall_time_s
    return Calibration(float(intercept), float(slope), points, float(watts), energy.method,
                       float(meter.wall_time_s), float(baseline))


# ---------------------------------------------------------------------------------------------
# 5. The probe: a short training of the first candidates on the user's data
# ---------------------------------------------------------------------------------------------

#: Warnings that a probe's training may emit and that say nothing about the user's data (torch's
#: "no deterministic implementation", a library's deprecations), silenced during a probe by
#: category and by the module that emits them; a :class:`~pepr.core.errors.DataWarning` about the
#: data (emitted by pepr, a ``UserWarning`` too) still shows.
PROBE_SILENCED_WARNINGS = (UserWarning, FutureWarning, DeprecationWarning)


PROBE_SILENCED_MODULES = r"(torch|torchvision|timm|carbontracker)(\.|$)"


def probe_runs(models: Sequence[str], img_sizes: Sequence[int], dataset: str,
               data_fraction: float = PROBE_FRACTION, epochs: int = PROBE_EPOCHS,
               threads: int = 1, seed: int = 0, progress: bool = True) -> pd.DataFrame:
    """Train each model briefly on ``dataset`` with :func:`pepr.training.train.run` (in this process,
    nothing written to a results table): per model its best validation accuracy over the
    epochs, the validation images it rests on, the run's status and error, its wall seconds
    (loading and building included) and the energy its meter measured, with the method."""
    from tqdm.auto import tqdm

    from pepr.data import registry
    from pepr.training import train

    n_val = len(registry.split_labels(dataset)["val"])
    rows = []
    pairs = list(zip(models, img_sizes))
    for model, img_size in tqdm(pairs, desc="probing", unit="model", disable=not progress):
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            for category in PROBE_SILENCED_WARNINGS:
                warnings.filterwarnings("ignore", category=category,
                                        module=PROBE_SILENCED_MODULES)
            outcome = train.run(model, dataset, study="probe", img_size=int(img_size),
                                data_fraction=data_fraction, epochs=epochs, seed=seed,
                                threads=threads, select_metric="acc")
        row = outcome.row
        ok = row["status"] == "ok"
        rows.append({"model": model, "probe_val_acc": row["val_best"] if ok else np.nan,
                     "probe_val_n": n_val, "probe_status": row["status"],
                     "probe_error": row["error"] or "",
                     "probe_time_s": time.perf_counter() - start,
                     "probe_energy_kwh": pd.to_numeric(row.get("energy_kwh"), errors="coerce"),
                     "probe_energy_method": row.get("energy_method") or ""})
    return pd.DataFrame(rows)


def probe(advice: Advice, dataset: str, k: int, data_fraction: float = PROBE_FRACTION,
          epochs: int = PROBE_EPOCHS, threads: int = 1, seed: int = 0,
          progress: bool = True) -> Advice:
    """Train the first ``k`` candidates of ``advice`` briefly on ``dataset`` at the size each
    would run at (:func:`probe_runs`), re-rank with :func:`rerank_with_probe`, and record what
    the probe cost in :attr:`Advice.probe` and its notes."""
    if k < 1:
        raise BadParameterError(f"probe needs k >= 1 models (got {k})")
    if not 0 < data_fraction <= 1 or epochs < 1:
        raise BadParameterError(f"probe needs a data fraction in (0, 1] and epochs >= 1 "
                                f"(got {data_fraction}, {epochs})")
    first = advice.table.head(k)
    probes = probe_runs(first["model"].tolist(), first["run_img_size"].tolist(), dataset,
                        data_fraction, epochs, threads, seed, progress)
    majority = majority_val_accuracy(dataset)
    table = rerank_with_probe(advice.table, probes, majority=majority)
    methods = sorted({m for m in probes["probe_energy_method"] if m})
    cost = ProbeCost(models=len(probes), seconds=float(probes["probe_time_s"].sum()),
                     energy_kwh=float(probes["probe_energy_kwh"].sum()),
                     energy_method=", ".join(methods) or "none", data_fraction=data_fraction,
                     epochs=epochs)
    passed = int(table["probed_acc"].notna().sum())
    note = (f"probe: the first {plural(cost.models, 'model')} trained for "
            f"{plural(cost.epochs, 'epoch')} on {cost.data_fraction:.0%} of the training split in "
            f"{cost.seconds:.0f} s, {cost.energy_kwh * 1000:.3f} Wh by the meter "
            f"'{cost.energy_method}'; {passed} beat the majority class on validation and go "
            f"first, by the PePR of expected accuracy + {PROBE_WEIGHT:g} x (probe's validation "
            f"accuracy - their mean); the others keep their places")
    if math.isfinite(majority):
        note += (f" (the majority class alone scores {majority:.3f} on the validation split; "
                 f"a probe must beat it at alpha {verdicts.ALPHA:g})")
    return Advice(table, advice.calibration, advice.excluded, [*advice.notes, note], cost)
