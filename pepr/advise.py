"""Which model to train on my data, on my machine, within my budget: ``pepr advise``.

Four steps, each a function:

1. :func:`reference_speeds` - the reference machine's measured training time per image of each
   model (the CPU study's ``epochs.csv``: the training split's epoch time over its images), and
   for models it has not run yet a log-log fit of that time on the zoo's FLOPs and parameters.
2. :func:`calibrate` - a few training steps of a handful of reference models on this machine, on
   the user's data shape, and a fit of this machine's time per image against the reference's
   (``log t_here = a + b log t_ref``: a slope, not a constant factor, since a machine with more
   cores speeds up large models more than small ones). The energy meter runs over the same
   steps, so energy per second is this machine's (a TDP estimate where nothing is measurable).
3. :func:`predict_costs` - each zoo model's full run (epochs x the training split, plus
   evaluation passes) in time, energy and memory on this machine.
4. :func:`expected_accuracy` - each model's accuracy relative to the other models in the
   settings measured so far (the release's and the CPU study's, the user's own dataset left
   out), as an offset from the setting's median with an interval; and :func:`advise` ranks the
   models that fit the budget by expected PePR.

What is predicted and what was measured is kept apart: every predicted column is named
``predicted_*`` or ``expected_*``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pepr import paths, results, score
from pepr.errors import BadParameterError, PeprError

#: The study whose rows are the reference machine's measurements.
REFERENCE_STUDY = "cpu-rerun"
#: A forward pass costs about a third of a training step (forward and backward) per image:
#: the weight of the evaluation passes (validation each epoch, test once) in a run's time.
EVAL_COST_OF_TRAINING = 1 / 3
#: Models timed by the calibration: spread over the reference's range of speeds, cheap first.
CALIBRATION_MODELS = 4
CALIBRATION_BATCHES = 5
BATCH_SIZE = 32


@dataclass
class Calibration:
    """This machine against the reference: the fit, the points it was made from, and the
    energy per second the meter saw over the calibration."""

    intercept: float
    slope: float
    points: pd.DataFrame
    watts: float
    energy_method: str
    seconds: float
    baseline_mem_gb: float

    def time_per_image(self, reference_s: np.ndarray | pd.Series) -> np.ndarray:
        """This machine's predicted seconds per training image from the reference's."""
        return np.exp(self.intercept + self.slope * np.log(np.asarray(reference_s, dtype=float)))


@dataclass
class Advice:
    """The ranked candidates, and everything a reader needs to judge them."""

    table: pd.DataFrame
    calibration: Calibration
    excluded: pd.DataFrame
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# 1. The reference machine
# ---------------------------------------------------------------------------------------------

def train_images(dataset: str, data_fraction: float = 1.0) -> dict[str, int]:
    """Images per split as a run sees them (the stratified training subset's size)."""
    from pepr import datasets

    labels = datasets.split_labels(dataset)
    train = labels["train"]
    if train.ndim == 2:
        n_train = max(1, int(round(data_fraction * len(train))))
    else:
        counts = np.bincount(train)
        n_train = int(sum(max(1, int(round(data_fraction * c))) for c in counts if c))
    return {"train": n_train, "val": len(labels["val"]), "test": len(labels["test"])}


def measured_speeds(study: str = REFERENCE_STUDY,
                    results_dir: Path | str | None = None,
                    exclude_settings: Sequence[str] = ()) -> pd.DataFrame:
    """Per model and input size: the reference's median training seconds per image (the
    training split's epoch time over its images), its median ``run_mem_gb``, its runs;
    the runs of ``exclude_settings`` left out (a backtest's held-out setting)."""
    results_dir = results_dir if results_dir is not None else paths.RESULTS_DIR
    runs = results.load(study, results_dir)
    runs = runs[~runs["setting"].isin(list(exclude_settings))]
    if runs.empty:
        return pd.DataFrame(columns=["model", "img_size", "reference_s_per_image",
                                     "reference_mem_gb", "runs"])
    epochs = results.load_epochs(study, results_dir)
    times = epochs[(epochs["split"] == "train") & (epochs["metric"] == "time_s")]
    per_run = times.groupby("run_id")["value"].median().rename("epoch_s")
    runs = runs.join(per_run, on="run_id")
    sizes = {(d, f): train_images(d, f)["train"]
             for d, f in runs[["dataset", "data_fraction"]].drop_duplicates().itertuples(index=False)}
    runs["n_train"] = [sizes[(d, f)] for d, f in zip(runs["dataset"], runs["data_fraction"])]
    runs["s_per_image"] = runs["epoch_s"] / runs["n_train"]
    return (runs.groupby(["model", "img_size"])
            .agg(reference_s_per_image=("s_per_image", "median"),
                 reference_mem_gb=("run_mem_gb", "median"), runs=("run_id", "count"))
            .reset_index())


def _loglog_fit(frame: pd.DataFrame, target: str, features: Sequence[str]) -> np.ndarray:
    """Least-squares coefficients of log(target) on an intercept and log(features)."""
    usable = frame.dropna(subset=[target, *features])
    usable = usable[(usable[target] > 0) & (usable[list(features)] > 0).all(axis=1)]
    if len(usable) < len(features) + 2:
        raise BadParameterError(f"too few reference runs ({len(usable)}) to fit {target}")
    design = np.column_stack([np.ones(len(usable)), *[np.log(usable[f]) for f in features]])
    coefficients, *_ = np.linalg.lstsq(design, np.log(usable[target]), rcond=None)
    return coefficients


def reference_speeds(study: str = REFERENCE_STUDY,
                     results_dir: Path | str | None = None,
                     exclude_settings: Sequence[str] = ()) -> pd.DataFrame:
    """Every zoo model at its smallest input: the reference's seconds per training image and
    run memory, measured where the reference ran it (``source = measured``), else from a
    log-log fit on FLOPs and parameters over the measured models (``source = fitted``)."""
    from pepr import zoo

    table = zoo.load_zoo()[["model", "num_params", "min_img_size", "flops_per_image_at_min"]]
    table = table.rename(columns={"min_img_size": "img_size"})
    measured = measured_speeds(study, results_dir, exclude_settings)
    table = table.merge(measured, on=["model", "img_size"], how="left")
    features = ["flops_per_image_at_min", "num_params"]
    design = np.column_stack([np.ones(len(table)), *[np.log(table[f]) for f in features]])
    time_fit = _loglog_fit(table, "reference_s_per_image", features)
    fitted = table["reference_s_per_image"].isna()
    table["source"] = np.where(fitted, "fitted", "measured")
    table.loc[fitted, "reference_s_per_image"] = np.exp(design @ time_fit)[fitted.to_numpy()]
    try:
        memory_fit = _loglog_fit(table[~fitted], "reference_mem_gb", features)
        missing = table["reference_mem_gb"].isna()
        table.loc[missing, "reference_mem_gb"] = np.exp(design @ memory_fit)[missing.to_numpy()]
    except BadParameterError:  # rows from before run_mem_gb: no memory to predict from
        pass
    return table


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
                        batches: int = CALIBRATION_BATCHES, threads: int = 1) -> float:
    """Seconds per image of an Adam step at the paper's batch size on random data of the run's
    shape, as :func:`pepr.train.run` trains: the median of ``batches`` timed steps after two
    untimed ones (the median, so that a step slowed by another process does not count)."""
    import torch

    from pepr import train, zoo

    torch.set_num_threads(threads)
    net = zoo.create_model(model, num_classes=num_classes, in_chans=in_chans, img_size=img_size)
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
    seconds = []
    for _ in range(batches):
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
    return float(np.median(seconds)) / BATCH_SIZE


def calibrate(reference: pd.DataFrame, in_chans: int, num_classes: int,
              models: Sequence[str] | None = None, threads: int = 1,
              progress: bool = True) -> Calibration:
    """Time :func:`time_training_steps` for a few reference models at their reference size and
    fit this machine's time per image against the reference's, under the energy meter."""
    from tqdm.auto import tqdm

    from pepr import meters

    models = list(models) if models is not None else calibration_models(reference)
    meter = meters.RunMeter()
    baseline = meters.current_rss_gb()
    rows = []
    with meter.session():
        for model in tqdm(models, desc="calibrating", unit="model", disable=not progress):
            row = reference.set_index("model").loc[model]
            here = time_training_steps(model, in_chans, num_classes, int(row["img_size"]),
                                       threads=threads)
            rows.append({"model": model, "img_size": int(row["img_size"]),
                         "reference_s_per_image": float(row["reference_s_per_image"]),
                         "here_s_per_image": here})
    points = pd.DataFrame(rows)
    if len(points) >= 3:
        slope, intercept = np.polyfit(np.log(points["reference_s_per_image"]),
                                      np.log(points["here_s_per_image"]), 1)
    else:  # two points or one: the ratio alone
        slope, intercept = 1.0, float(np.mean(np.log(points["here_s_per_image"]
                                                     / points["reference_s_per_image"])))
    energy = meter.energy
    watts = energy.energy_kwh * meters.JOULES_PER_KWH / meter.wall_time_s
    return Calibration(float(intercept), float(slope), points, float(watts), energy.method,
                       float(meter.wall_time_s), float(baseline))


# ---------------------------------------------------------------------------------------------
# 3. Costs of each candidate here
# ---------------------------------------------------------------------------------------------

def predict_costs(reference: pd.DataFrame, calibration: Calibration, images: dict[str, int],
                  epochs: int = 10, img_size: int | None = None) -> pd.DataFrame:
    """Each model's predicted run on this machine: time (s), energy (kWh), peak memory (GB).

    Time per image scales with the pixels when ``img_size`` differs from the reference's size
    (a model's FLOPs grow with the image's area); a run is ``epochs`` passes over the training
    images and over the validation images, and one over the test images, an evaluation image
    costing :data:`EVAL_COST_OF_TRAINING` of a training one.
    """
    table = reference.copy()
    size = table["img_size"] if img_size is None else np.maximum(table["img_size"], img_size)
    scale = (size / table["img_size"]) ** 2
    per_image = calibration.time_per_image(table["reference_s_per_image"]) * scale
    passes = epochs * images["train"] + EVAL_COST_OF_TRAINING * (epochs * images["val"]
                                                                  + images["test"])
    table["run_img_size"] = size.astype(int)
    table["predicted_time_s"] = per_image * passes
    table["predicted_energy_kwh"] = (calibration.watts * table["predicted_time_s"]
                                     / 3.6e6)
    table["predicted_mem_gb"] = calibration.baseline_mem_gb + table["reference_mem_gb"] * scale
    return table


# ---------------------------------------------------------------------------------------------
# 4. Expected accuracy and the ranking
# ---------------------------------------------------------------------------------------------

def relative_accuracy(runs: pd.DataFrame) -> pd.DataFrame:
    """Each run's test accuracy minus its setting's median: how a model does against the other
    models trained the same way on the same data (``study`` and ``setting`` kept)."""
    keys = ["study", "setting"]
    centre = runs.groupby(keys)["test_acc"].transform("median")
    return runs.assign(relative_acc=runs["test_acc"] - centre)


def expected_accuracy(sources: pd.DataFrame, leave_out_dataset: str | None = None,
                      low: float = 0.1, high: float = 0.9) -> pd.DataFrame:
    """Per model: the median accuracy of a setting (over the sources' settings) plus the
    model's median relative accuracy, with the ``low``-``high`` quantiles of its relative
    accuracy as the interval; ``settings`` counts what it rests on. Rows of
    ``leave_out_dataset`` are not used (advice for a dataset never learns from it)."""
    if leave_out_dataset is not None:
        sources = sources[sources["dataset"] != leave_out_dataset]
    if sources.empty:
        raise BadParameterError("no measured runs on other datasets to predict accuracy from")
    relative = relative_accuracy(sources)
    anchor = float(relative.groupby(["study", "setting"])["test_acc"].median().median())
    grouped = relative.groupby("model")["relative_acc"]
    table = pd.DataFrame({
        "expected_acc": anchor + grouped.median(),
        "expected_acc_low": anchor + grouped.quantile(low),
        "expected_acc_high": anchor + grouped.quantile(high),
    })
    accuracy = ["expected_acc", "expected_acc_low", "expected_acc_high"]
    table[accuracy] = table[accuracy].clip(upper=1.0)
    table["settings"] = grouped.count()
    return table.reset_index()


def accuracy_sources(results_dir: Path | str | None = None) -> pd.DataFrame:
    """The measured runs accuracy is predicted from: the release's and every study of ours."""
    results_dir = Path(results_dir) if results_dir is not None else paths.RESULTS_DIR
    frames = []
    try:
        frames.append(results.import_paper())
    except PeprError:
        pass
    for table in sorted(results_dir.glob("*/runs.csv")):
        frames.append(results.load(table.parent.name, results_dir))
    columns = ["study", "setting", "dataset", "model", "test_acc"]
    frames = [f[columns] for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def advise(dataset: str, budget_hours: float | None = None, budget_kwh: float | None = None,
           img_size: int | None = None, data_fraction: float = 1.0, epochs: int = 10,
           top: int = 10, rank_by: str = "energy", results_dir: Path | str | None = None,
           calibration: Calibration | None = None, progress: bool = True) -> Advice:
    """Rank the zoo's models for ``dataset`` on this machine within the budget by expected PePR
    (``rank_by``: the resource normalised among the candidates: ``energy``, ``time``,
    ``memory``)."""
    from pepr import datasets

    resources = {"energy": "predicted_energy_kwh", "time": "predicted_time_s",
                 "memory": "predicted_mem_gb"}
    if rank_by not in resources:
        raise BadParameterError(f"rank_by must be one of {', '.join(resources)}, not {rank_by!r}")
    for name, value in (("budget_hours", budget_hours), ("budget_kwh", budget_kwh)):
        if value is not None and not value > 0:
            raise BadParameterError(f"{name} must be positive (got {value})")
    info = datasets.get_dataset_info(dataset)
    images = train_images(info.name, data_fraction)
    reference = reference_speeds(results_dir=results_dir)
    calibration = calibration or calibrate(reference, info.in_chans, info.num_classes,
                                           progress=progress)
    costs = predict_costs(reference, calibration, images, epochs, img_size)
    accuracy = expected_accuracy(accuracy_sources(results_dir), leave_out_dataset=info.name)
    table = costs.merge(accuracy, on="model", how="left")
    within = pd.Series(True, index=table.index)
    if budget_hours is not None:
        within &= table["predicted_time_s"] <= budget_hours * 3600
    if budget_kwh is not None:
        within &= table["predicted_energy_kwh"] <= budget_kwh
    excluded = table[~within | table["expected_acc"].isna()]
    table = table[within & table["expected_acc"].notna()].copy()
    table["expected_pepr"] = expected_pepr(table, resources[rank_by])
    table = table.sort_values("expected_pepr", ascending=False).head(top)
    table.insert(0, "rank", range(1, len(table) + 1))
    table["why"] = [_why(row, table) for _, row in table.iterrows()]
    notes = [
        f"times from {int((reference['source'] == 'measured').sum())} models measured by the "
        f"reference study and {int((reference['source'] == 'fitted').sum())} fitted on FLOPs "
        f"and parameters",
        f"energy: {calibration.watts:.1f} W over the calibration by the meter "
        f"'{calibration.energy_method}'",
        "expected accuracy: the model's median accuracy relative to the other models in the "
        "measured settings (the user's dataset left out), added to the median setting's "
        "median; an interval from its 10th to 90th percentile",
    ]
    return Advice(table.reset_index(drop=True), calibration, excluded, notes)


def expected_pepr(table: pd.DataFrame, resource: str) -> pd.Series:
    """PePR of the expected accuracy with ``resource`` min-max normalised over the candidates
    (:func:`pepr.score.minmax_normalise`, :func:`pepr.score.pepr`)."""
    return score.pepr(table["expected_acc"], score.minmax_normalise(table[resource]))


def _why(row: pd.Series, table: pd.DataFrame) -> str:
    """A few words on why a model ranks where it does."""
    parts = []
    if row["predicted_time_s"] <= table["predicted_time_s"].median():
        parts.append("cheaper than most")
    else:
        parts.append("costlier than most")
    if row["expected_acc"] >= table["expected_acc"].median():
        parts.append("more accurate than most elsewhere")
    if int(row["settings"]) < 3:
        parts.append(f"accuracy from {int(row['settings'])} setting(s) only")
    if row["source"] == "fitted":
        parts.append("time fitted, not measured")
    return "; ".join(parts)


#: The columns of the advice's CSV, in order.
ADVICE_COLUMNS = ["rank", "model", "img_size", "predicted_time_s", "predicted_energy_kwh",
                  "predicted_mem_gb", "expected_acc", "expected_acc_low", "expected_acc_high",
                  "expected_pepr", "settings", "source", "why"]


def advice_frame(advice: Advice) -> pd.DataFrame:
    """The ranked table with :data:`ADVICE_COLUMNS` (``img_size`` the size the run would use)."""
    table = advice.table.drop(columns=["img_size"]).rename(columns={"run_img_size": "img_size"})
    return table[ADVICE_COLUMNS]

