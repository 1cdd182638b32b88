"""The backtest of ``pepr advise``: each dataset of the reference study held out in turn, advised
for from the rest, and the advice's choice judged against what the held-out runs measured.

A *method* is an order of the candidates and a rule for the run that is kept
(:data:`METHODS`):

- ``advise``: the advice's order (expected PePR), its first trained;
- ``validate``: the advice's order, each trained in turn until one's validation accuracy beats
  the validation split's majority class (:func:`pepr.scoring.verdicts.beats_baseline`); every run
  trained on the way is charged to the one kept;
- ``probe``: the advice's first ``k`` probed for a few epochs (simulated from the recorded
  validation curves) and re-ranked as ``pepr advise --probe`` does
  (:func:`pepr.advice.advise.rerank_with_probe`), the probes charged;
- ``smallest`` and ``smallest-validate``: the same two rules down the list by parameters,
  fewest first.

A kept run that does not beat its test split's majority class is a failure: its regret is the
whole best PePR-E. Nothing is timed: the reference machine predicts itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pepr.advice.advise import (
    REFERENCE_STUDY,
    Calibration,
    accuracy_sources,
    dataset_baseline,
    expected_accuracy_from_baseline,
    expected_pepr,
    predict_costs,
    reference_speeds,
    rerank_with_probe,
    train_images,
)
from pepr.advice.defaults import PROBE_EPOCHS, PROBE_K
from pepr.core import paths
from pepr.core.errors import BadParameterError
from pepr.core.text import estimate_text
from pepr.scoring import score, verdicts
from pepr.store import results

#: A setting takes part in the backtest once this many models finished in it.
BACKTEST_MIN_RUNS = 20
#: The advised short list whose hit rate the backtest counts.
BACKTEST_TOP = 5
#: Each method's order of the candidates and its rule for the run kept (module docstring).
METHODS: dict[str, tuple[str, str]] = {
    "advise": ("advise", "first"),
    "validate": ("advise", "validate"),
    "probe": ("advise", "probe"),
    "smallest": ("smallest", "first"),
    "smallest-validate": ("smallest", "validate"),
}
BACKTEST_METHODS = tuple(METHODS)
#: The probe the backtest simulates by default: ``pepr advise --probe``'s defaults.
BACKTEST_PROBE = {"k": PROBE_K, "epochs": PROBE_EPOCHS}
#: The probes :func:`probe_grid` compares.
PROBE_GRID_K = (3, 5, 10, 20)
PROBE_GRID_EPOCHS = (1, 2, 3, 5)
#: One row per held-out setting and model: the predictions beside the measurements.
BACKTEST_PREDICTION_COLUMNS = [
    "setting", "model", "num_params", "source", "predicted_time_s", "predicted_energy_kwh",
    "train_time_s", "expected_acc", "expected_acc_low", "expected_acc_high", "test_acc",
    "resource_n", "expected_pepr", "pepr_e", "above_baseline", "test_n", "E_n", "ran", "covered",
    "run_id", "energy_kwh", "val_acc", "val_n", "val_baseline", "probe_val_acc", "probe_time_s"]
SCORE_COLUMNS = ["setting", "method", "models", "ran", "above_baseline", "rho_time", "rho_acc",
                 "rho_pepr", "best_in_top", "chosen", "tries", "regret", "regret_low",
                 "regret_high", "coverage", "bias"]


@dataclass
class Backtest:
    """A leave-one-dataset-out backtest: per held-out setting and model the predictions beside
    the measurements (``predictions``), per setting and method the figures (``scores``), the
    models finished per setting of the study (``finished``) and every held-out run's validation
    curve (``curves``: :func:`validation_curves`), from which other probes can be simulated."""

    study: str
    min_runs: int
    finished: pd.Series
    predictions: pd.DataFrame
    scores: pd.DataFrame
    curves: pd.DataFrame

    @property
    def held_out(self) -> list[str]:
        """The settings that were held out (those with at least ``min_runs`` models)."""
        return sorted(self.predictions["setting"].unique()) if len(self.predictions) else []


# ---------------------------------------------------------------------------------------------
# The predictions for one held-out setting
# ---------------------------------------------------------------------------------------------

def reference_calibration(watts: float) -> Calibration:
    """The reference machine predicting itself: its time per image unchanged, ``watts`` its
    energy per second."""
    return Calibration(intercept=0.0, slope=1.0, points=pd.DataFrame(), watts=float(watts),
                       energy_method="reference", seconds=0.0, baseline_mem_gb=0.0)


def reference_watts(runs: pd.DataFrame) -> float:
    """The reference machine's energy per second over its runs (the median run's watts)."""
    from pepr.scoring import robustness

    return float(robustness.implied_power_w(runs).median())


def first_seed(runs: pd.DataFrame) -> pd.DataFrame:
    """One run per model and setting, the lowest seed's (as the paper trained each once)."""
    return (runs.sort_values(["setting", "model", "seed"])
            .drop_duplicates(["setting", "model"]).reset_index(drop=True))


def validation_curves(epochs: pd.DataFrame, run_ids: Sequence[str] | pd.Series) -> pd.DataFrame:
    """Per run and epoch (0-based): its validation accuracy after that epoch and the training
    time of the epochs up to it (``val_acc``, ``time_s``), from the recorded history: what a
    probe of that length, or the run itself, would have shown."""
    mine = epochs[epochs["run_id"].isin(set(run_ids))]
    val = (mine[(mine["split"] == "val") & (mine["metric"] == "acc")]
           .set_index(["run_id", "epoch"])["value"].rename("val_acc"))
    time = (mine[(mine["split"] == "train") & (mine["metric"] == "time_s")]
            .sort_values("epoch").set_index(["run_id", "epoch"])["value"]
            .groupby(level="run_id").cumsum().rename("time_s"))
    return pd.concat([val, time], axis=1).reset_index()


def with_probe_curves(predictions: pd.DataFrame, curves: pd.DataFrame,
                      probe_epochs: int) -> pd.DataFrame:
    """``predictions`` with ``probe_val_acc`` and ``probe_time_s`` those of a probe of
    ``probe_epochs`` epochs (the recorded run's first epochs, :func:`validation_curves`)."""
    if probe_epochs < 1:
        raise BadParameterError(f"a probe needs epochs >= 1 (got {probe_epochs})")
    at = curves[curves["epoch"] == probe_epochs - 1].set_index("run_id")
    return predictions.assign(probe_val_acc=predictions["run_id"].map(at["val_acc"]),
                              probe_time_s=predictions["run_id"].map(at["time_s"]))


def with_last_validation(predictions: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """``predictions`` with ``val_acc``: each run's validation accuracy after its last epoch
    (what a user sees before the test split)."""
    last = curves.dropna(subset=["val_acc"]).sort_values("epoch").groupby("run_id")["val_acc"].last()
    return predictions.assign(val_acc=predictions["run_id"].map(last))


def val_majority_rate(dataset: str) -> tuple[float, int]:
    """What a validation accuracy must beat, as ``pepr advise`` states it
    (:func:`pepr.advice.advise.majority_val_accuracy`: the training split's majority class on
    the validation split), and the validation split's size (NaN, 0 where the labels cannot be
    read)."""
    val = verdicts.split_labels_on_disk(dataset, "val")
    train = verdicts.split_labels_on_disk(dataset, "train")
    if val is None or train is None:
        return math.nan, 0
    return verdicts.majority_rate(val, reference=train), len(val)


def backtest_setting(runs: pd.DataFrame, setting: str, study: str = REFERENCE_STUDY,
                     results_dir: Path | str | None = None,
                     sources: pd.DataFrame | None = None,
                     grid: Sequence[str] | None = None,
                     curves: pd.DataFrame | None = None) -> pd.DataFrame:
    """Advice for ``setting`` of ``runs`` learnt without its dataset, beside what it measured.

    The whole dataset is held out: speeds come from the study's settings of *other* datasets
    (:func:`pepr.advice.advise.reference_speeds`), the machine is the reference itself
    (:func:`reference_calibration`, at the median watts of those runs), accuracy from every
    measured setting of another dataset, anchored to the held-out dataset's majority-class rate
    (:func:`pepr.advice.advise.expected_accuracy_from_baseline`). The candidates are every model of
    the zoo, as ``pepr advise`` ranks them (within ``grid``, the models the study tried there);
    one that has no ``ok`` run in the setting (failed, skipped) has ``ran`` False and
    ``above_baseline`` False: keeping it is a failure. Columns:
    :data:`BACKTEST_PREDICTION_COLUMNS` (``covered``: the measured accuracy lies in the expected
    interval; the probe columns are :data:`BACKTEST_PROBE`'s).
    """
    held = first_seed(runs[runs["setting"] == setting])
    if held.empty:
        raise BadParameterError(f"backtest of {setting!r} needs its runs")
    dataset, fraction = held["dataset"].iloc[0], float(held["data_fraction"].iloc[0])
    held_out = sorted(runs.loc[runs["dataset"] == dataset, "setting"].unique())
    others = runs[runs["dataset"] != dataset]
    if others.empty:
        raise BadParameterError(f"backtest of {setting!r} needs runs on another dataset")
    reference = reference_speeds(study, results_dir, exclude_settings=held_out)
    costs = predict_costs(reference, reference_calibration(reference_watts(others)),
                          train_images(dataset, fraction), int(held["epochs"].iloc[0]))
    if sources is None:
        sources = accuracy_sources(results_dir, require_release=True)
    accuracy = expected_accuracy_from_baseline(sources, dataset_baseline(dataset),
                                               leave_out_dataset=dataset)
    measured = score.add_pepr(verdicts.with_verdicts(held, study))[
        ["model", "run_id", "train_time_s", "energy_kwh", "test_acc", "pepr_e", "above_baseline",
         "test_n", "E_n"]]
    table = costs.merge(accuracy, on="model", how="left").merge(measured, on="model", how="left")
    table = table[table["expected_acc"].notna()].copy()
    if grid is not None:  # a model the study never tried here says nothing of the advice
        table = table[table["model"].isin(set(grid))].copy()
    if curves is None:
        curves = validation_curves(results.load_epochs(study, results_dir), table["run_id"].dropna())
    table = with_probe_curves(with_last_validation(table, curves), curves, BACKTEST_PROBE["epochs"])
    table["val_baseline"], table["val_n"] = val_majority_rate(dataset)
    table["ran"] = table["test_acc"].notna()
    table["above_baseline"] = table["above_baseline"].astype("boolean").fillna(False)
    table["covered"] = ((table["test_acc"] >= table["expected_acc_low"])
                        & (table["test_acc"] <= table["expected_acc_high"])).where(table["ran"])
    table["resource_n"], table["expected_pepr"] = expected_pepr(table, "predicted_energy_kwh")
    table.insert(0, "setting", setting)
    return table[BACKTEST_PREDICTION_COLUMNS].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# The run each method keeps, and what it is charged
# ---------------------------------------------------------------------------------------------

def ordered(group: pd.DataFrame, order: str) -> pd.DataFrame:
    """The candidates of one held-out setting in ``order``: ``advise`` by expected PePR,
    ``smallest`` by parameters, fewest first (stable: ties keep the advice's order)."""
    keys = {"advise": group["expected_pepr"], "smallest": -group["num_params"]}
    return group.assign(_key=keys[order]).sort_values("_key", ascending=False, kind="stable").drop(columns="_key")


def run_watts(group: pd.DataFrame) -> float:
    """The held-out runs' energy per second (the median run's), to charge recorded seconds."""
    return float((group["energy_kwh"] / group["train_time_s"]).median())


def validated_choice(order: pd.DataFrame) -> tuple[object, float, int]:
    """Down ``order``, train each until one's validation accuracy beats the validation majority
    rate (:func:`pepr.scoring.verdicts.beats_baseline`): the run kept, the energy of the runs trained
    before it (a candidate without an ``ok`` run is charged its predicted energy: it ran until
    it failed, for as long as nobody knows), and how many were trained. When none passes, the
    one with the best validation accuracy is kept and all the others are charged."""
    spent = 0.0
    for tries, (index, row) in enumerate(order.iterrows(), start=1):
        if row["ran"] and verdicts.beats_baseline(row["val_acc"], row["val_n"], row["val_baseline"]):
            return index, spent, tries
        spent += float(row["energy_kwh"] if row["ran"] else row["predicted_energy_kwh"])
    trained = order[order["ran"].astype(bool) & order["val_acc"].notna()]
    if trained.empty:
        return order.index[0], spent, len(order)
    kept = trained["val_acc"].idxmax()
    return kept, spent - float(order.loc[kept, "energy_kwh"]), len(order)


def probe_frame(probed: pd.DataFrame) -> pd.DataFrame:
    """The probes of ``probed`` as :func:`pepr.training.trials.probe_runs` reports them, from the recorded
    curves: a candidate without an ``ok`` run (or a curve that short) is a failed probe."""
    ok = probed["ran"].astype(bool) & probed["probe_val_acc"].notna()
    return pd.DataFrame({"model": probed["model"], "probe_val_acc": probed["probe_val_acc"],
                         "probe_val_n": probed["val_n"],
                         "probe_status": np.where(ok, "ok", "failed"), "probe_error": ""})


def probed_choice(order: pd.DataFrame, k: int) -> tuple[object, float, int]:
    """Probe the first ``k`` of ``order`` and keep the first of the re-ranked list
    (:func:`pepr.advice.advise.rerank_with_probe` with the validation majority rate): the run kept,
    the probes' energy (their recorded seconds at the runs' watts; a failed probe is charged
    nothing) and ``k`` (the runs trained, probes counted)."""
    probed = order.head(k)
    table = order.assign(why="").reset_index().rename(columns={"index": "_row"})
    reranked = rerank_with_probe(table, probe_frame(probed),
                                 majority=float(order["val_baseline"].iloc[0]))
    charge = float(probed["probe_time_s"].fillna(0).sum()) * run_watts(order)
    return reranked["_row"].iloc[0], charge, len(probed)


def method_choice(group: pd.DataFrame, method: str,
                  probe_k: int = BACKTEST_PROBE["k"]) -> tuple[pd.DataFrame, object, float, int]:
    """``method``'s order of one held-out setting, the run it keeps, the energy charged to that
    run besides its own (runs before it, probes) and how many runs it trained."""
    order_name, rule = METHODS[method]
    order = ordered(group, order_name)
    if rule == "validate":
        return (order, *validated_choice(order))
    if rule == "probe":
        return (order, *probed_choice(order, probe_k))
    return order, order.index[0], 0.0, 1


def charged_pepr(group: pd.DataFrame, index: object, extra_kwh: float) -> float:
    """The kept run's PePR-E with ``extra_kwh`` added to its own energy, normalised within the
    setting with that cost included (the most expensive run's energy, or this one's if
    higher)."""
    cost = float(group.loc[index, "energy_kwh"]) + extra_kwh
    energies = group["energy_kwh"].dropna()
    low, high = float(energies.min()), max(float(energies.max()), cost)
    resource = 0.0 if high == low else (cost - low) / (high - low)
    return float(group.loc[index, "test_acc"]) / (1 + resource)


def pepr_charge(group: pd.DataFrame, index: object, extra_kwh: float) -> float:
    """The PePR-E the kept run loses when ``extra_kwh`` is charged to it (:func:`charged_pepr`
    without and with it), subtracted from its measured PePR-E."""
    if not extra_kwh:
        return 0.0
    return charged_pepr(group, index, 0.0) - charged_pepr(group, index, extra_kwh)


def eligible(group: pd.DataFrame) -> pd.DataFrame:
    """The runs a choice is judged against: those that beat their majority-class baseline (a
    cheap constant classifier is never "the best"); all of them where no verdict is known."""
    if "above_baseline" not in group.columns or group["above_baseline"].isna().all():
        return group
    return group[group["above_baseline"].fillna(False).astype(bool)]


def counts(group: pd.DataFrame, index: object) -> bool:
    """Whether a kept run counts: it ran and beat its baseline (or no verdict is known). One
    that did not is a failure, worth nothing: its regret is the whole best PePR-E."""
    if "ran" in group.columns and not bool(group.loc[index, "ran"]):
        return False
    if "above_baseline" not in group.columns or pd.isna(group.loc[index, "above_baseline"]):
        return True
    return bool(group.loc[index, "above_baseline"])


def regret_draws(group: pd.DataFrame, kept: object, extra_kwh: float = 0.0) -> np.ndarray:
    """The regret of keeping the run at index ``kept`` on resampled test splits
    (:func:`pepr.scoring.verdicts.resampled_scores` of PePR-E): the measured best eligible run's
    resampled PePR-E minus the kept one's, less what was charged to it (the best is the one
    measured, so the draws centre on the measured regret rather than on the inflated maximum of
    noisy values). Empty without the test sizes or an eligible run."""
    if (eligible(group).empty or not {"test_n", "E_n"} <= set(group.columns)
            or group["test_n"].isna().all()):
        return np.array([])
    values = verdicts.resampled_scores(group, "pepr_e")
    positions = {index: i for i, index in enumerate(group.index)}
    best = values[:, positions[eligible(group)["pepr_e"].idxmax()]]
    if not counts(group, kept):
        return best
    return best - values[:, positions[kept]] + pepr_charge(group, kept, extra_kwh)


def _spearman(a: pd.Series, b: pd.Series) -> float:
    """Spearman's rho of two columns (NaN with fewer than three pairs or no spread)."""
    from scipy.stats import spearmanr

    both = pd.concat([a, b], axis=1).dropna()
    a, b = both.iloc[:, 0], both.iloc[:, 1]
    if len(a) < 3 or a.nunique() < 2 or b.nunique() < 2:
        return math.nan
    return float(spearmanr(a, b).statistic)


def median_rho_interval(predictions: pd.DataFrame, predicted: str, measured: str,
                        draws: int = verdicts.DRAWS,
                        seed: int = verdicts.BOOTSTRAP_SEED) -> tuple[float, float]:
    """A 95 % interval of the median over the held-out settings of Spearman's rho of
    ``predicted`` against ``measured``: each draw resamples every setting's runs with
    replacement (the models are the sample) and takes the median of the settings' rhos."""
    rng = np.random.default_rng(seed)
    groups = [group[[predicted, measured]].dropna().to_numpy(dtype=float)
              for _, group in predictions.groupby("setting", sort=True)]
    groups = [g for g in groups if len(g) >= 3]
    if not groups:
        return math.nan, math.nan
    medians = []
    for _ in range(draws):
        rhos = [_spearman(pd.Series(g[picks, 0]), pd.Series(g[picks, 1]))
                for g in groups for picks in [rng.integers(0, len(g), len(g))]]
        medians.append(np.nanmedian(rhos) if np.isfinite(rhos).any() else math.nan)
    return verdicts.percentile_interval(np.array(medians))


# ---------------------------------------------------------------------------------------------
# The figures
# ---------------------------------------------------------------------------------------------

def setting_scores(group: pd.DataFrame, method: str, top: int = BACKTEST_TOP,
                   probe_k: int = BACKTEST_PROBE["k"]) -> dict[str, object]:
    """One held-out setting's figures for ``method`` (:func:`backtest_scores`)."""
    judged = eligible(group)
    best = float(judged["pepr_e"].max()) if len(judged) else math.nan
    best_model = judged.loc[judged["pepr_e"].idxmax(), "model"] if len(judged) else None
    order, kept, extra, tries = method_choice(group, method, probe_k)
    credited = (float(group.loc[kept, "pepr_e"]) - pepr_charge(group, kept, extra)
                if counts(group, kept) else 0.0)
    regret = best - credited if len(judged) else math.nan
    low, high = verdicts.percentile_interval(regret_draws(group, kept, extra))
    predicts_accuracy = METHODS[method][0] == "advise"
    ran = group[group["ran"].astype(bool)]
    return {
        "setting": group["setting"].iloc[0], "method": method, "models": len(group),
        "ran": len(ran), "above_baseline": len(judged),
        "rho_time": _spearman(group["predicted_time_s"] if predicts_accuracy else group["num_params"],
                              group["train_time_s"]),
        "rho_acc": _spearman(group["expected_acc"], group["test_acc"]) if predicts_accuracy else math.nan,
        "rho_pepr": _spearman(group["expected_pepr"] if predicts_accuracy else -group["num_params"],
                              group["pepr_e"]),
        "best_in_top": bool(best_model in set(order["model"].head(top))) if len(judged) else pd.NA,
        "chosen": group.loc[kept, "model"], "tries": tries,
        "regret": regret, "regret_low": low, "regret_high": high,
        "coverage": ran["covered"].astype(float).mean() if predicts_accuracy else math.nan,
        "bias": (ran["expected_acc"] - ran["test_acc"]).mean() if predicts_accuracy else math.nan,
    }


def backtest_scores(predictions: pd.DataFrame, top: int = BACKTEST_TOP,
                    probe_k: int = BACKTEST_PROBE["k"],
                    methods: Sequence[str] = BACKTEST_METHODS) -> pd.DataFrame:
    """Per held-out setting and method (:data:`METHODS`), how it did.

    Columns: ``models``; ``ran`` (with an ``ok`` run); ``above_baseline`` - how many beat their
    majority-class baseline (the runs the choice is judged against: the best is never a constant
    classifier); ``rho_time`` - Spearman's rho of the predicted run time (for the ``smallest``
    orders: the parameters) against the measured one; ``rho_acc`` - of the expected accuracy
    against the measured one (NaN for ``smallest``, which predicts no accuracy); ``rho_pepr`` -
    of the order against the measured PePR-E; ``best_in_top`` - whether the first ``top`` hold
    the best measured PePR-E among those above baseline (NA where none is); ``chosen`` and
    ``tries`` - the run kept and how many were trained to find it (probes counted);
    ``regret`` - that best PePR-E minus the kept run's, with what was trained before it or
    probed charged to its energy (a kept run that does not beat its baseline is a failure: its
    regret is the whole best PePR-E), with a 95 % interval from a bootstrap of the test split;
    ``coverage`` - the share of runs whose measured accuracy lies in the expected interval, and
    ``bias`` - expected minus measured accuracy, on average.
    """
    if predictions.empty:
        return pd.DataFrame(columns=SCORE_COLUMNS)
    rows = [setting_scores(group, method, top, probe_k)
            for _, group in predictions.groupby("setting", sort=True) for method in methods]
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


def backtest_overall(scores: pd.DataFrame, predictions: pd.DataFrame | None = None,
                     probe_k: int = BACKTEST_PROBE["k"]) -> pd.DataFrame:
    """Per method over the held-out settings: how many (and how many judged: with a run above
    its baseline), the median of each rho, how many settings had the best in the short list,
    the mean runs trained, the mean and largest regret, coverage and bias; with
    ``predictions``, a 95 % interval of the mean regret from a bootstrap of the test splits
    (``regret_mean_low``, ``regret_mean_high``)."""
    judged = scores.assign(judged=scores["regret"].notna(),
                           best_in_top=scores["best_in_top"].astype("boolean"))
    methods = [m for m in BACKTEST_METHODS if m in set(scores["method"])]
    overall = (judged.groupby("method", sort=False)
               .agg(settings=("setting", "nunique"), judged=("judged", "sum"),
                    models=("models", "sum"), rho_time=("rho_time", "median"),
                    rho_acc=("rho_acc", "median"), rho_pepr=("rho_pepr", "median"),
                    best_in_top=("best_in_top", "sum"), tries=("tries", "mean"),
                    regret_mean=("regret", "mean"), regret_max=("regret", "max"),
                    coverage=("coverage", "mean"), bias=("bias", "mean"))
               .reindex(methods))
    overall["regret_mean_low"] = overall["regret_mean_high"] = math.nan
    if predictions is not None and not predictions.empty:
        for method in methods:
            stacked = [regret_draws(group, *method_choice(group, method, probe_k)[1:3])
                       for _, group in predictions.groupby("setting", sort=True)
                       if not eligible(group).empty]
            if stacked and all(len(d) for d in stacked):
                low, high = verdicts.percentile_interval(np.mean(stacked, axis=0))
                overall.loc[method, ["regret_mean_low", "regret_mean_high"]] = [low, high]
    return overall.reset_index()


def probe_grid(result: Backtest, ks: Sequence[int] = PROBE_GRID_K,
               epochs: Sequence[int] = PROBE_GRID_EPOCHS) -> pd.DataFrame:
    """The simulated probe (method ``probe``) for each ``k`` and probe length over the held-out
    settings: the mean and largest regret, the settings whose best was kept in the short list
    and the runs trained, one row per (``k``, ``epochs``), best mean regret first. The defaults
    of ``pepr advise --probe`` are this table's first row (on the same settings it judges:
    the figure is in-sample)."""
    rows = []
    for length in epochs:
        predictions = with_probe_curves(result.predictions, result.curves, length)
        for k in ks:
            scores = backtest_scores(predictions, probe_k=k, methods=["probe"])
            rows.append({"k": k, "epochs": length, "judged": int(scores["regret"].notna().sum()),
                         "regret_mean": scores["regret"].mean(), "regret_max": scores["regret"].max(),
                         "failures": int((scores["regret"].notna()
                                          & ~kept_counts(predictions, scores)).sum()),
                         "tries": scores["tries"].mean()})
    return (pd.DataFrame(rows).sort_values(["regret_mean", "k", "epochs"], kind="stable")
            .reset_index(drop=True))


def kept_counts(predictions: pd.DataFrame, scores: pd.DataFrame) -> pd.Series:
    """Per row of ``scores``: whether the run it kept beats its baseline."""
    verdict = predictions.set_index(["setting", "model"])["above_baseline"]
    keys = list(zip(scores["setting"], scores["chosen"]))
    return pd.Series([bool(verdict.get(key, False)) for key in keys], index=scores.index)


def backtest(study: str = REFERENCE_STUDY, results_dir: Path | str | None = None,
             min_runs: int = BACKTEST_MIN_RUNS) -> Backtest:
    """Hold out in turn each setting of ``study`` in which at least ``min_runs`` models
    finished, advise for it from the study's other datasets and the other datasets' accuracies
    (:func:`backtest_setting`: the whole dataset is held out) and score the advice
    (:func:`backtest_scores`). With fewer than two datasets with such settings nothing is held
    out and ``predictions`` and ``scores`` are empty. The release's table is required (its
    absence is an error, not a smaller backtest)."""
    results_dir = results_dir if results_dir is not None else paths.RESULTS_DIR
    runs = results.load(study, results_dir)
    finished = runs.groupby("setting")["model"].nunique().sort_index()
    held = finished[finished >= min_runs].index.tolist()
    datasets = runs.loc[runs["setting"].isin(held), "dataset"].nunique()
    frames, curves = [], pd.DataFrame(columns=["run_id", "epoch", "val_acc", "time_s"])
    if datasets >= 2:
        sources = accuracy_sources(results_dir, require_release=True)
        tried = results.load(study, results_dir, include_failed=True)
        curves = validation_curves(results.load_epochs(study, results_dir), runs["run_id"])
        frames = [backtest_setting(runs, setting, study, results_dir, sources,
                                   grid=tried.loc[tried["setting"] == setting, "model"].unique(),
                                   curves=curves)
                  for setting in held]
    predictions = (pd.concat(frames, ignore_index=True) if frames
                   else pd.DataFrame(columns=BACKTEST_PREDICTION_COLUMNS))
    return Backtest(study, min_runs, finished, predictions, backtest_scores(predictions), curves)


def backtest_summary(result: Backtest) -> dict[str, str]:
    """The figures a reader of the backtest is told first, formatted, each computed here from
    ``result``; a dash stands for a figure that cannot be computed yet.

    ``held_out``, ``runs`` and ``models`` say what the backtest rests on, ``rho_time``,
    ``rho_acc`` and ``rho_time_smallest`` are medians over the held-out settings (the last
    ranks by parameters), each with a 95 % interval from resampling the runs
    (:func:`median_rho_interval`), ``coverage`` the share of held-out runs inside their stated
    interval with its Wilson interval, ``hits`` and ``hits_smallest`` count the settings whose measured
    PePR-E best was among the first :data:`BACKTEST_TOP`, ``regret_<method>`` are mean regrets
    with their intervals, ``tries_validate`` the runs the validated advice trained on average,
    and ``status`` says which settings have finished runs and, before two can be held out, what
    is missing.
    """
    finished = ", ".join(f"{setting} ({count} models)" for setting, count in result.finished.items())
    dash = "\u2013"
    keys = ["rho_time", "rho_time_smallest", "rho_acc", "hits", "hits_smallest", "judged",
            "coverage", "tries_validate", *(f"regret_{m}" for m in BACKTEST_METHODS)]
    out = dict.fromkeys(keys, dash)
    out.update(held_out=str(len(result.held_out)), runs=str(len(result.predictions)),
               models=str(result.predictions["model"].nunique()))
    if not result.held_out:
        eligible_settings = int((result.finished >= result.min_runs).sum())
        out["status"] = (f"Not enough yet: a leave-one-dataset-out backtest needs settings of two "
                         f"datasets with at least {result.min_runs} finished models each, and the "
                         f"study {result.study} has {eligible_settings} such settings: "
                         f"{finished or 'no finished run'}.")
        return out
    overall = backtest_overall(result.scores, result.predictions).set_index("method")
    advised, smallest = overall.loc["advise"], overall.loc["smallest"]
    ran = result.predictions[result.predictions["ran"].astype(bool)]
    rho = {"rho_time": (advised["rho_time"], "predicted_time_s", "train_time_s"),
           "rho_time_smallest": (smallest["rho_time"], "num_params", "train_time_s"),
           "rho_acc": (advised["rho_acc"], "expected_acc", "test_acc")}
    out.update({key: estimate_text(value, *median_rho_interval(ran, x, y), spec=".2f")
                for key, (value, x, y) in rho.items()})
    covered = ran["covered"].astype(float)
    low, high = verdicts.wilson_interval(float(covered.mean()), len(covered)) if len(covered) else (math.nan,) * 2
    out.update(hits=str(int(advised["best_in_top"])), hits_smallest=str(int(smallest["best_in_top"])),
               judged=str(int(advised["judged"])),
               coverage=(f"{covered.mean():.0%} (95 % Wilson interval {low:.0%}–{high:.0%})"
                         if len(covered) else dash),
               tries_validate=f"{overall.loc['validate', 'tries']:.1f}",
               status=f"Settings of the study {result.study} with finished runs: {finished}.")
    out.update({f"regret_{m}": regret_text(overall.loc[m]) for m in overall.index})
    return out


def regret_text(row: pd.Series) -> str:
    """``0.084 (95 % interval 0.061–0.102)``: a mean regret and its bootstrap interval."""
    return estimate_text(row["regret_mean"], row.get("regret_mean_low", math.nan),
                         row.get("regret_mean_high", math.nan))
