"""Which model to train on my data, on my machine, within my budget: ``pepr advise``.

Five steps, each a function (the fifth optional):

1. :func:`reference_speeds` - the reference machine's measured training time per image of each
   model (the CPU study's ``epochs.csv``: the training split's epoch time over its images), and
   for models it has not run yet a log-log fit of that time on the zoo's FLOPs and parameters.
2. :func:`pepr.training.trials.calibrate` - a few training steps of a handful of reference models on this machine, on
   the user's data shape, and a fit of this machine's time per image against the reference's
   (``log t_here = a + b log t_ref``: a slope, not a constant factor, since a machine with more
   cores speeds up large models more than small ones). The energy meter runs over the same
   steps, so energy per second is this machine's (an estimate from the CPU time and memory used
   where nothing is measurable, :mod:`pepr.energy`).
3. :func:`predict_costs` - each zoo model's full run (epochs x the training split, plus
   evaluation passes) in time, energy and memory on this machine.
4. :func:`expected_accuracy` - each model's accuracy relative to the other models in the
   settings measured so far (the release's and the CPU study's, the user's own dataset left
   out), as an offset from the setting's median with an interval; and :func:`advise` ranks the
   models that fit the budget by expected PePR.
5. :func:`pepr.training.trials.probe` (optional) - a short training of the first few candidates on the user's data
   (a fraction of it, one or two epochs) and a re-ranking that gives their validation accuracy
   half the say (:func:`rerank_with_probe`), with what the probe cost.

:mod:`pepr.advice.backtest` judges the advice against the reference study itself: each of its
datasets is held out in turn and advised for from the others, on the reference machine's own
speeds (no calibration, no timing). Steps 2 and 5 train, so they live on the training side
(:mod:`pepr.training.trials`); this module reads tables only.

What is predicted and what was measured is kept apart: every predicted column is named
``predicted_*``, ``expected_*`` or ``probe*``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pepr.advice.defaults import (
    ACCURACY_INTERVAL,
    ACCURACY_INTERVAL_NAME,
    CALIBRATION_MAX_BATCHES,
    CALIBRATION_STABLE_SPREAD,
    PROBE_WEIGHT,
)
from pepr.core import paths
from pepr.core.errors import BadParameterError, PeprError
from pepr.core.text import plural
from pepr.data.images import ImageDatasetInfo
from pepr.scoring import score, verdicts
from pepr.scoring.energy import JOULES_PER_KWH
from pepr.store import results

#: The study whose rows are the reference machine's measurements.
REFERENCE_STUDY = "cpu-rerun"


#: A forward pass costs about a third of a training step (forward and backward) per image:
#: the weight of the evaluation passes (validation each epoch, test once) in a run's time.
EVAL_COST_OF_TRAINING = 1 / 3


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

    @property
    def spread(self) -> float:
        """The widest spread of one model's timed steps (half their interquartile range over
        their median, :func:`relative_spread`); NaN where no step was timed here."""
        if "here_spread" not in self.points or self.points.empty:
            return math.nan
        return float(self.points["here_spread"].max())


def relative_spread(samples: Sequence[float]) -> float:
    """Half the interquartile range over the median: ``0.05`` reads "± 5 %"."""
    low, middle, high = np.percentile(np.asarray(samples, dtype=float), [25, 50, 75])
    return float((high - low) / (2 * middle))


def calibration_note(calibration: Calibration) -> str | None:
    """What the calibration's timings are worth: each model's steps were timed until their spread
    settled (or the most steps were taken), and the widest spread left; None for a calibration
    that timed nothing on this machine (the reference machine's own)."""
    if not math.isfinite(calibration.spread):
        return None
    steps = calibration.points["steps"]
    counts = f"{steps.min()}" if steps.min() == steps.max() else f"{steps.min()}–{steps.max()}"
    return (f"calibration: {len(calibration.points)} models timed over {counts} training steps each, "
            f"until half the steps' interquartile range was within {CALIBRATION_STABLE_SPREAD:.0%} of "
            f"their median or {CALIBRATION_MAX_BATCHES} steps were taken; the widest left is "
            f"± {calibration.spread:.0%}, a floor on the predicted times' uncertainty (a machine "
            f"busier or quieter than during the calibration changes them more)")


@dataclass
class ProbeCost:
    """What a probe cost: models trained, wall seconds (data loading and model building
    included), and the energy the meter measured over their training and evaluation."""

    models: int
    seconds: float
    energy_kwh: float
    energy_method: str
    data_fraction: float
    epochs: int


@dataclass
class Advice:
    """The ranked candidates, and everything a reader needs to judge them; ``probe`` is set
    once :func:`probe` has re-ranked them."""

    table: pd.DataFrame
    calibration: Calibration
    excluded: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    probe: ProbeCost | None = None


# ---------------------------------------------------------------------------------------------
# 1. The reference machine
# ---------------------------------------------------------------------------------------------

def train_images(dataset: str, data_fraction: float = 1.0) -> dict[str, int]:
    """Images per split as a run sees them (the stratified training subset's size,
    :func:`pepr.data.images.stratified_indices`)."""
    from pepr.data import images, registry

    labels = registry.split_labels(dataset)
    n_train = len(images.stratified_indices(labels["train"], data_fraction, seed=0))
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
    from pepr.data import zoo

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
                                     / JOULES_PER_KWH)
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
                      low: float = ACCURACY_INTERVAL[0],
                      high: float = ACCURACY_INTERVAL[1]) -> pd.DataFrame:
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


def expected_accuracy_from_baseline(sources: pd.DataFrame, baseline: float,
                                    leave_out_dataset: str | None = None,
                                    low: float = ACCURACY_INTERVAL[0],
                                    high: float = ACCURACY_INTERVAL[1]) -> pd.DataFrame:
    """Per model: the accuracy expected on a dataset whose majority-class rate is ``baseline``
    (known from its labels before anything trains), from the skill the model showed elsewhere.

    Each source run's skill is its accuracy above its own setting's baseline, as a share of
    what was left to gain, (acc - b) / (1 - b) (:func:`pepr.scoring.verdicts.skill`, not clipped, so a
    model below chance counts as such). A model's expected skill is the median of its skills
    over the source settings, its interval their ``low``-``high`` quantiles (so the interval
    carries how much a setting's level moves as well as where the model stands in it); the
    expected accuracy is ``baseline + (1 - baseline) x skill``, clipped to [0, 1]. Sources
    without a baseline (``baseline_acc`` NaN) and those of ``leave_out_dataset`` are not
    used."""
    if leave_out_dataset is not None:
        sources = sources[sources["dataset"] != leave_out_dataset]
    sources = sources.dropna(subset=["baseline_acc"])
    sources = sources[sources["baseline_acc"] < 1]
    if sources.empty:
        raise BadParameterError("no measured runs with a baseline on other datasets to predict "
                                "accuracy from")
    frame = sources.assign(skill=verdicts.skill_gain(sources["test_acc"], sources["baseline_acc"]))
    grouped = frame.groupby("model")["skill"]
    as_accuracy = lambda s: (baseline + (1 - baseline) * s).clip(0.0, 1.0)  # noqa: E731
    table = pd.DataFrame({"expected_acc": as_accuracy(grouped.median()),
                          "expected_acc_low": as_accuracy(grouped.quantile(low)),
                          "expected_acc_high": as_accuracy(grouped.quantile(high))})
    table["settings"] = frame.groupby("model")["setting"].nunique()
    return table.reset_index()


def accuracy_sources(results_dir: Path | str | None = None,
                     require_release: bool = False) -> pd.DataFrame:
    """The measured runs accuracy is predicted from: the release's and every study of ours,
    each with its setting's majority-class baseline (:mod:`pepr.verdicts`). Without the
    release's table it is left out, or, with ``require_release``, that is an error."""
    results_dir = Path(results_dir) if results_dir is not None else paths.RESULTS_DIR
    frames = []
    try:
        frames.append(verdicts.with_verdicts(results.import_paper(), results.PAPER_STUDY))
    except PeprError:
        if require_release:
            raise
    for table in sorted(results_dir.glob("*/runs.csv")):
        study = table.parent.name
        runs = results.load(study, results_dir)
        frames.append(verdicts.with_verdicts(runs, study) if len(runs) else runs)
    columns = ["study", "setting", "dataset", "model", "test_acc", "baseline_acc"]
    frames = [f.reindex(columns=columns) for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def dataset_baseline(dataset: str) -> float:
    """The majority-class rate of a dataset's test split: what its expected accuracy is
    anchored to (NaN where the labels cannot be read)."""
    labels = verdicts.split_labels_on_disk(dataset, "test")
    return math.nan if labels is None else verdicts.majority_rate(labels)


#: What ``rank_by`` accepts, and the predicted column each normalises.
RANK_RESOURCES = {"energy": "predicted_energy_kwh", "time": "predicted_time_s",
                  "memory": "predicted_mem_gb"}


def native_size(info: ImageDatasetInfo) -> int | None:
    """A user's own data's image size (an ``.npz`` or a folder of one size), which a run keeps
    where the model accepts it; ``None`` for MedMNIST and synthetic sets, whose runs take each
    model's smallest input, as the reference study did."""
    if info.kind in ("npz", "folder") and len(info.sizes) == 1:
        return int(info.sizes[0])
    return None


def check_request(rank_by: str, budget_hours: float | None, budget_kwh: float | None) -> None:
    """Refuse an unknown ``rank_by`` or a budget that is not positive (before anything is timed)."""
    if rank_by not in RANK_RESOURCES:
        raise BadParameterError(f"rank_by must be one of {', '.join(RANK_RESOURCES)}, not {rank_by!r}")
    for name, value in (("budget_hours", budget_hours), ("budget_kwh", budget_kwh)):
        if value is not None and not value > 0:
            raise BadParameterError(f"{name} must be positive (got {value})")


def advise(dataset: str, *, calibration: Calibration, budget_hours: float | None = None,
           budget_kwh: float | None = None, img_size: int | None = None,
           data_fraction: float = 1.0, epochs: int = 10, top: int = 10, rank_by: str = "energy",
           results_dir: Path | str | None = None) -> Advice:
    """Rank the zoo's models for ``dataset`` on the machine ``calibration`` describes (this one:
    :func:`pepr.training.trials.calibrate`; the reference machine itself:
    :func:`pepr.advice.backtest.reference_calibration`) within the budget by expected PePR
    (``rank_by``: the resource normalised among the candidates: ``energy``, ``time``,
    ``memory``)."""
    from pepr.data import registry

    check_request(rank_by, budget_hours, budget_kwh)
    resources = RANK_RESOURCES
    info = registry.get_dataset_info(dataset)
    images = train_images(info.name, data_fraction)
    reference = reference_speeds(results_dir=results_dir)
    img_size = img_size or native_size(info)
    costs = predict_costs(reference, calibration, images, epochs, img_size)
    baseline = dataset_baseline(info.name)
    sources = accuracy_sources(results_dir)
    accuracy = (expected_accuracy_from_baseline(sources, baseline, leave_out_dataset=info.name)
                if math.isfinite(baseline)
                else expected_accuracy(sources, leave_out_dataset=info.name))
    table = costs.merge(accuracy, on="model", how="left")
    within = pd.Series(True, index=table.index)
    if budget_hours is not None:
        within &= table["predicted_time_s"] <= budget_hours * 3600
    if budget_kwh is not None:
        within &= table["predicted_energy_kwh"] <= budget_kwh
    excluded = table[~within | table["expected_acc"].isna()]
    table = table[within & table["expected_acc"].notna()].copy()
    table["resource_n"], table["expected_pepr"] = expected_pepr(table, resources[rank_by])
    table = table.sort_values("expected_pepr", ascending=False).head(top)
    table.insert(0, "rank", range(1, len(table) + 1))
    table["why"] = [_why(row, table) for _, row in table.iterrows()]
    notes = [
        f"times from {int((reference['source'] == 'measured').sum())} models measured by the "
        f"reference study and {int((reference['source'] == 'fitted').sum())} fitted on FLOPs "
        f"and parameters",
        *filter(None, [calibration_note(calibration)]),
        f"energy: {calibration.watts:.1f} W over the calibration by the meter "
        f"'{calibration.energy_method}'",
        (f"expected accuracy: anchored to {info.name}'s majority-class rate {baseline:.3f} (from "
         f"its test labels), plus the skill above chance the model showed in the measured "
         f"settings of other datasets; an interval from its {ACCURACY_INTERVAL_NAME}"
         if math.isfinite(baseline) else
         "expected accuracy: the model's median accuracy relative to the other models in the "
         "measured settings (the user's dataset left out), added to the median setting's "
         f"median (no test labels to anchor it); an interval from its {ACCURACY_INTERVAL_NAME}"),
    ]
    if img_size:
        notes.append(f"input size: {img_size} px (the data's own or the one asked for); a model "
                     f"whose smallest input is larger runs at its smallest")
    notes.append(validation_bar_note(info.name))
    return Advice(table.reset_index(drop=True), calibration, excluded, notes)


def validation_bar_note(dataset: str) -> str:
    """How to follow the list: train down it and keep the first run whose validation accuracy
    beats the majority class, with the bar on this dataset's validation split
    (:func:`pepr.scoring.verdicts.accuracy_to_beat`); the rule the backtest calls ``validate``."""
    from pepr.data import registry

    majority = majority_val_accuracy(dataset)
    n_val = len(registry.split_labels(dataset)["val"])
    count, accuracy = verdicts.accuracy_to_beat(n_val, majority)
    rule = ("train down the list and keep the first run whose validation accuracy beats the "
            "majority class")
    if not math.isfinite(majority):
        return f"{rule} (its rate is not known for {dataset}: its labels are not one class each)"
    if not math.isfinite(accuracy):
        return (f"{rule}: on {dataset} no validation accuracy can show it "
                f"({plural(n_val, 'validation image')}, majority rate {majority:.3f})")
    return (f"{rule}: on {dataset}, {accuracy:.3f} or more ({count} of "
            f"{plural(n_val, 'validation image')}; the majority class alone scores {majority:.3f}; "
            f"one-sided exact binomial test at alpha {verdicts.ALPHA:g})")


def expected_pepr(table: pd.DataFrame, resource: str) -> tuple[pd.Series, pd.Series]:
    """``resource`` min-max normalised over the candidates, and the PePR of the expected
    accuracy with it (:func:`pepr.scoring.score.minmax_normalise`, :func:`pepr.scoring.score.pepr`); the
    normalised resource is kept because a probe re-scores with the same one."""
    resource_n = score.minmax_normalise(table[resource])
    return resource_n, score.pepr(table["expected_acc"], resource_n)


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
        parts.append(f"accuracy from {plural(int(row['settings']), 'setting')} only")
    if row["source"] == "fitted":
        parts.append("time fitted, not measured")
    return "; ".join(parts)


#: The columns of the advice's CSV, in order.
ADVICE_COLUMNS = ["rank", "model", "img_size", "predicted_time_s", "predicted_energy_kwh",
                  "predicted_mem_gb", "expected_acc", "expected_acc_low", "expected_acc_high",
                  "expected_pepr", "settings", "source", "why"]


#: The columns a probe adds to the advice's CSV (before ``why``).
PROBE_COLUMNS = ["probe_val_acc", "probe_val_n", "probed_acc", "probed_pepr", "probe_time_s",
                 "probe_energy_kwh"]


def advice_frame(advice: Advice) -> pd.DataFrame:
    """The ranked table with :data:`ADVICE_COLUMNS` (``img_size`` the size the run would use),
    and :data:`PROBE_COLUMNS` before ``why`` once a probe has run."""
    table = advice.table.drop(columns=["img_size"]).rename(columns={"run_img_size": "img_size"})
    columns = ADVICE_COLUMNS
    if advice.probe is not None:
        columns = [*ADVICE_COLUMNS[:-1], *PROBE_COLUMNS, ADVICE_COLUMNS[-1]]
    return table[columns]


def rerank_with_probe(table: pd.DataFrame, probes: pd.DataFrame, weight: float = PROBE_WEIGHT,
                      majority: float = math.nan) -> pd.DataFrame:
    """Re-rank ``table`` (an advice table: ``expected_acc``, ``resource_n``, ``expected_pepr``,
    ``why``) with the probe's validation accuracy of some of its models.

    The rule. Only a probe that beats the validation split's majority-class rate ``majority``
    (one-sided exact binomial test at :data:`pepr.scoring.verdicts.ALPHA`, on ``probe_val_n`` images;
    every ``ok`` probe where ``majority`` is NaN) is evidence that the model learns on this
    data; a probe at or below it says nothing yet and moves nothing. The models whose probe
    passes go first: a probe trains briefly, so its accuracy is lower than a full run's by an
    amount nobody knows and only how the passing models differ from each other is evidence.
    Each one's accuracy is estimated twice: the expected accuracy (from other datasets), and the
    expected accuracy shifted by its probe accuracy minus the passing probes' mean (the probe's
    word); the probed accuracy is their mean, ``expected_acc + weight * (probe_val_acc - mean)``
    with ``weight`` :data:`PROBE_WEIGHT` (1/2), clipped to [0, 1], and its PePR
    (``probed_pepr``, the same normalised resource) orders them. Every other model keeps the
    advice's order after them; a model whose probe failed (non-finite loss, input it cannot
    take) goes last. The simulated probes of :mod:`pepr.backtest` are ranked by this rule.
    """
    out = table.drop(columns=[c for c in probes.columns if c != "model" and c in table.columns])
    out = out.merge(probes, on="model", how="left")
    probed = out["probe_status"].eq("ok")
    beats = probed & pd.Series([
        (not math.isfinite(majority) or verdicts.beats_baseline(acc, n, majority)) if ok else False
        for ok, acc, n in zip(probed, out["probe_val_acc"], out.get("probe_val_n", 0))],
        index=out.index)
    shift = out["probe_val_acc"] - out.loc[beats, "probe_val_acc"].mean()
    out["probed_acc"] = (out["expected_acc"] + weight * shift).clip(0.0, 1.0).where(beats)
    out["probed_pepr"] = np.nan
    out.loc[beats, "probed_pepr"] = score.pepr(out.loc[beats, "probed_acc"],
                                               out.loc[beats, "resource_n"])
    failed = out["probe_status"].notna() & ~probed
    tier = np.select([beats, failed], [0, 2], default=1)
    within = np.where(beats, -out["probed_pepr"], np.arange(len(out)))
    out = out.assign(_tier=tier, _within=within).sort_values(["_tier", "_within"], kind="stable")
    out = out.drop(columns=["_tier", "_within"]).reset_index(drop=True)
    out["rank"] = range(1, len(out) + 1)
    out["why"] = [_probe_why(row, majority) for _, row in out.iterrows()]
    return out


def _probe_why(row: pd.Series, majority: float = math.nan) -> str:
    """``why`` led by what the probe showed: the validation accuracy with its binomial standard
    error, and how far it moved the accuracy, or that it did not beat the majority class and
    moved nothing (unprobed models keep theirs)."""
    status = row.get("probe_status")
    if not isinstance(status, str):
        return row["why"]
    if status != "ok":
        return f"probe failed, ranked last ({row['probe_error'] or status}); {row['why']}"
    acc, n = float(row["probe_val_acc"]), int(row["probe_val_n"])
    error = math.sqrt(acc * (1 - acc) / n)
    if pd.isna(row["probed_acc"]):
        return (f"probe val acc {acc:.3f} +/- {error:.3f} (n={n}) does not beat the majority "
                f"class ({majority:.3f}): kept in place; {row['why']}")
    return (f"probe val acc {acc:.3f} +/- {error:.3f} (n={n}) beats the majority class, moved "
            f"acc. {row['probed_acc'] - row['expected_acc']:+.3f}; {row['why']}")


def majority_val_accuracy(dataset: str) -> float:
    """Validation accuracy of always predicting the training split's most frequent class (NaN
    for multi-label data): the level a probe that has learnt nothing yet reaches."""
    from pepr.data import registry

    labels = registry.split_labels(dataset)
    return verdicts.majority_rate(labels["val"], reference=labels["train"])
