"""Verdicts that survive chance: each run against what a constant classifier scores, with an
interval on its accuracy.

PePR = P / (1 + R) rewards a model that learned nothing if it is cheap: on a small, unbalanced
test split a model that always predicts the majority class scores the majority rate, and a
cheap one then tops a ranking by PePR. So every run gets, beside its test accuracy:

- ``baseline_acc``: its setting's majority-class rate on the test split it was scored on (the
  best any constant classifier can do there), with ``baseline_source`` saying how it is known;
- ``test_n``: how many test images the accuracy was measured on;
- ``above_baseline``: whether the accuracy beats the baseline by a one-sided exact binomial test
  at :data:`ALPHA` (``scipy.stats.binomtest``, ``alternative="greater"``), NA where the baseline
  is unknown;
- ``test_acc_low``, ``test_acc_high``: the :data:`CONFIDENCE` Wilson score interval of the test
  accuracy (:data:`INTERVAL_METHOD`);
- ``skill``: the chance-corrected accuracy (acc - baseline) / (1 - baseline), clipped at 0 (a
  constant classifier scores 0, a perfect one 1), a performance PePR can score instead of raw
  accuracy (``pepr score --performance skill``).

Baselines come from the test labels (:func:`study_baselines`, :func:`release_baselines`). The
release evaluated full batches of 32 only, so its test split is the first
:func:`inferred_test_size` images of the MedMNIST test file; where that file is not on disk, the
accuracy that at least :data:`TIED_MIN_RUNS` runs of the dataset share exactly stands in for it
(models that learned nothing score exactly the constant classifier's accuracy, whatever their
architecture), and the source says so.

The arithmetic (:func:`add_verdicts` and the interval and test functions) is pure; only the
baseline functions read label files.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from pepr.core.settings import ALPHA, CONFIDENCE  # noqa: F401 (verdicts.ALPHA, verdicts.CONFIDENCE: callers)

#: The accuracy interval's method (``scipy``'s ``proportion_ci``), at :data:`CONFIDENCE`.
INTERVAL_METHOD = "wilson"
#: The fewest runs of one dataset that must share an accuracy exactly for it to be taken as the
#: constant classifier's, where the test labels are not on disk.
TIED_MIN_RUNS = 10
#: The columns :func:`add_verdicts` adds, in order.
VERDICT_COLUMNS = ["baseline_acc", "baseline_source", "test_n", "above_baseline",
                   "above_baseline_p", "test_acc_low", "test_acc_high", "skill"]
#: The release's test loader's batch size; it dropped the last, partial batch.
RELEASE_TEST_BATCH = 32


def correct_count(accuracy: float, n: int) -> int:
    """How many of ``n`` test images an accuracy stands for (the nearest whole number)."""
    return int(round(float(accuracy) * int(n)))


def wilson_interval(accuracy: float, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of an accuracy measured on ``n`` images (NaN, NaN without one)."""
    from scipy.stats import binomtest

    if not (n and n > 0) or not math.isfinite(accuracy):
        return math.nan, math.nan
    interval = binomtest(correct_count(accuracy, n), int(n)).proportion_ci(
        confidence_level=confidence, method=INTERVAL_METHOD)
    return float(interval.low), float(interval.high)


def above_baseline_p(accuracy: float, n: int, baseline: float) -> float:
    """p-value of the one-sided exact binomial test that the accuracy beats ``baseline``."""
    from scipy.stats import binomtest

    if not (n and n > 0) or not (math.isfinite(accuracy) and math.isfinite(baseline)):
        return math.nan
    if baseline >= 1:
        return 1.0
    return float(binomtest(correct_count(accuracy, n), int(n), float(baseline),
                           alternative="greater").pvalue)


def beats_baseline(accuracy: float, n: int, baseline: float, alpha: float = ALPHA) -> bool:
    """Whether an accuracy on ``n`` images beats ``baseline`` by the one-sided exact binomial
    test at ``alpha`` (False where either is unknown)."""
    p_value = above_baseline_p(accuracy, n, baseline)
    return bool(math.isfinite(p_value) and p_value < alpha)


def accuracy_to_beat(n: int, baseline: float, alpha: float = ALPHA) -> tuple[int, float]:
    """The fewest correct of ``n`` images that beat ``baseline`` by the one-sided exact binomial
    test at ``alpha``, and that count as an accuracy: the bar a validation run must clear
    (``n + 1`` and NaN where no count does)."""
    from scipy.stats import binom

    if not (n and n > 0) or not math.isfinite(baseline):
        return int(n or 0) + 1, math.nan
    counts = np.arange(int(n) + 1)
    passing = counts[binom.sf(counts - 1, int(n), float(baseline)) < alpha]  # P(X >= k) < alpha
    if not len(passing):
        return int(n) + 1, math.nan
    return int(passing[0]), float(passing[0] / n)


def skill_gain(accuracy, baseline):
    """(accuracy - baseline) / (1 - baseline): the share of what was left to gain above a
    constant classifier that a run gained (negative below chance)."""
    return (accuracy - baseline) / (1 - baseline)


def skill(accuracy: pd.Series, baseline: pd.Series) -> pd.Series:
    """:func:`skill_gain` clipped to [0, 1]: 0 for a constant classifier (or worse)."""
    return skill_gain(accuracy, baseline).clip(lower=0.0, upper=1.0).where(baseline < 1)


def add_verdicts(runs: pd.DataFrame, baselines: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """``runs`` with :data:`VERDICT_COLUMNS`, from ``baselines`` (one row per ``setting``:
    ``baseline_acc``, ``test_n``, ``baseline_source``). A setting without a row, or with an
    unknown baseline, gets NaN baselines and NA verdicts; intervals need only ``test_n``."""
    out = runs.drop(columns=[c for c in VERDICT_COLUMNS if c in runs.columns])
    known = baselines.set_index("setting")[["baseline_acc", "baseline_source", "test_n"]]
    out = out.join(known, on="setting")
    out["baseline_source"] = out["baseline_source"].fillna("no baseline for this setting")
    accuracy = pd.to_numeric(out["test_acc"], errors="coerce")
    n = pd.to_numeric(out["test_n"], errors="coerce")
    baseline = pd.to_numeric(out["baseline_acc"], errors="coerce")
    p_values = [above_baseline_p(a, m, b) if math.isfinite(m) else math.nan
                for a, m, b in zip(accuracy, n.fillna(0), baseline)]
    out["above_baseline_p"] = p_values
    above = pd.Series(pd.array([None if math.isnan(p) else p < alpha for p in p_values],
                               dtype="boolean"), index=out.index)
    out["above_baseline"] = above
    bounds = [wilson_interval(a, int(m)) if m > 0 else (math.nan, math.nan)
              for a, m in zip(accuracy, n.fillna(0))]
    out["test_acc_low"] = [low for low, _ in bounds]
    out["test_acc_high"] = [high for _, high in bounds]
    out["skill"] = skill(accuracy, baseline)
    out["test_n"] = n.astype("Int64")
    return out


def keep_above_baseline(runs: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """The runs that beat their baseline, and how many were set aside: ``at_baseline`` (did not
    beat it) and ``unknown`` (no baseline to beat)."""
    above = runs["above_baseline"]
    aside = {"at_baseline": int((above == False).sum()),  # noqa: E712 (nullable boolean)
             "unknown": int(above.isna().sum())}
    return runs[above.fillna(False).astype(bool)].copy(), aside


def drop_guessers(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` without those known not to beat their baseline (a run whose baseline is unknown
    stays): the release's rows as its errata score them."""
    return runs[runs["above_baseline"].fillna(True).astype(bool)].copy()


def set_aside_text(aside: dict[str, int]) -> str:
    """``12 runs set aside: 11 no better than the majority class, 1 without a known baseline``
    (empty: none set aside)."""
    reasons = {"at_baseline": "no better than the majority class",
               "unknown": "without a known baseline"}
    counts = {key: aside.get(key, 0) for key in reasons if aside.get(key)}
    total = sum(counts.values())
    runs = f"{total} run{'s' if total != 1 else ''} set aside"
    if len(counts) == 1:
        return f"{runs}, {reasons[next(iter(counts))]}"
    return (f"{runs}: " + ", ".join(f"{n} {reasons[key]}" for key, n in counts.items())
            if total else "")


# ---------------------------------------------------------------------------------------------
# Baselines from the labels
# ---------------------------------------------------------------------------------------------

def majority_rate(labels: np.ndarray, reference: np.ndarray | None = None) -> float:
    """The accuracy of always predicting the most common class of ``reference`` (default:
    ``labels`` themselves, so the share of their own most common class) on ``labels``: the
    majority-class baseline, written once for the runs' rows, the verdicts and the advice (NaN
    for multi-label indicators or no labels)."""
    labels = np.asarray(labels)
    reference = labels if reference is None else np.asarray(reference)
    if labels.ndim != 1 or reference.ndim != 1 or not len(labels) or not len(reference):
        return math.nan
    majority = np.bincount(reference.astype(np.int64)).argmax()
    return float(np.mean(labels.astype(np.int64) == majority))


def split_labels_on_disk(dataset: str, split: str = "test") -> np.ndarray | None:
    """One split's labels of a dataset on disk (nothing is downloaded), or None."""
    from pepr.core.errors import PeprError
    from pepr.data import registry

    try:
        return registry.split_labels(dataset, allow_download=False)[split]
    except (PeprError, OSError, KeyError, ValueError, RuntimeError):
        return None


def study_baselines(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per setting of one of our studies: the majority rate of its dataset's test split
    (every run is scored on the whole test split), its size and where it came from."""
    rows = []
    for setting, dataset in runs.drop_duplicates("setting")[["setting", "dataset"]].itertuples(index=False):
        labels = split_labels_on_disk(str(dataset))
        if labels is None:
            rows.append({"setting": setting, "baseline_acc": math.nan, "test_n": math.nan,
                         "baseline_source": f"the test labels of {dataset} are not on disk"})
            continue
        rate = majority_rate(labels)
        source = (f"majority class of the {len(labels)} test labels" if math.isfinite(rate)
                  else "multi-label: no single majority class")
        rows.append({"setting": setting, "baseline_acc": rate, "test_n": len(labels),
                     "baseline_source": source})
    return pd.DataFrame(rows, columns=["setting", "baseline_acc", "test_n", "baseline_source"])


def inferred_test_size(accuracies: Sequence[float], max_n: int = 10_000, share: float = 0.95) -> int | None:
    """The smallest number of test images of which (at least ``share`` of) the accuracies are
    whole multiples: how many images a table that records only accuracies was scored on."""
    values = np.asarray([a for a in accuracies if math.isfinite(a)], dtype=float)
    if not len(values):
        return None
    for n in range(2, max_n + 1):
        scaled = values * n
        if np.mean(np.abs(scaled - np.round(scaled)) < 1e-6 * n + 1e-9) >= share:
            return n
    return None


def tied_accuracy(accuracies: pd.Series, n: int, min_runs: int = TIED_MIN_RUNS) -> tuple[float, int]:
    """The accuracy that the most of ``accuracies`` share exactly (as a count of ``n``), and how
    many share it; NaN when fewer than ``min_runs`` do."""
    counts = accuracies.dropna().map(lambda a: correct_count(a, n)).value_counts()
    if counts.empty or counts.iloc[0] < min_runs:
        return math.nan, int(counts.iloc[0]) if len(counts) else 0
    return counts.index[0] / n, int(counts.iloc[0])


def release_baselines(paper: pd.DataFrame) -> pd.DataFrame:
    """One row per release setting: its test size (:func:`inferred_test_size` over every epoch's
    accuracy of the dataset's settings) and the majority rate of the first ``test_n`` test
    labels (the release dropped the last, partial batch of :data:`RELEASE_TEST_BATCH`); without
    the label file, the dataset's tied accuracy (:func:`tied_accuracy`); else unknown."""
    from pepr.data import release

    epoch_columns = [c for c in paper.columns if c.startswith("paper_test_")] or ["test_acc"]
    rows = []
    for dataset, group in paper.groupby("dataset", sort=False):
        n = inferred_test_size(group[epoch_columns].to_numpy().ravel())
        labels = split_labels_on_disk(str(dataset))
        if n is not None and labels is not None and n <= len(labels):
            rate = majority_rate(labels[:n])
            source = (f"majority class of the first {n} of the {len(labels)} test labels (the "
                      f"release scored full batches of {RELEASE_TEST_BATCH} only)")
        elif n is not None:
            rate, shared = tied_accuracy(group["test_acc"], n)
            source = (f"{shared} runs of {dataset} score exactly {correct_count(rate, n)}/{n}, "
                      f"a constant classifier's accuracy ({dataset}'s test labels are not on disk)"
                      if math.isfinite(rate) else
                      f"unknown: {dataset}'s test labels are not on disk and no accuracy is "
                      f"shared by {TIED_MIN_RUNS} or more of its runs")
        else:
            rate, source = math.nan, "unknown: the test split's size cannot be inferred"
        for setting in group["setting"].unique():
            rows.append({"setting": setting, "baseline_acc": rate,
                         "test_n": math.nan if n is None else n, "baseline_source": source})
    order = {setting: i for i, setting in enumerate(release.SETTINGS)}
    frame = pd.DataFrame(rows, columns=["setting", "baseline_acc", "test_n", "baseline_source"])
    return frame.sort_values("setting", key=lambda s: s.map(order)).reset_index(drop=True)


def baselines_for(runs: pd.DataFrame, study: str) -> pd.DataFrame:
    """The baselines of a study's settings: the release's (``paper``) or one of ours."""
    from pepr.store.results import PAPER_STUDY

    return release_baselines(runs) if study == PAPER_STUDY else study_baselines(runs)


def with_verdicts(runs: pd.DataFrame, study: str) -> pd.DataFrame:
    """``runs`` of ``study`` with :data:`VERDICT_COLUMNS` (:func:`add_verdicts`)."""
    return add_verdicts(runs, baselines_for(runs, study))


# ---------------------------------------------------------------------------------------------
# Uncertainty of rankings: a bootstrap of the test split
# ---------------------------------------------------------------------------------------------

#: Bootstrap draws for rankings' intervals, and their seed (the book's figures stay the same
#: from build to build).
DRAWS = 400
BOOTSTRAP_SEED = 0


def resampled_scores(runs: pd.DataFrame, score: str, draws: int = DRAWS,
                     seed: int = BOOTSTRAP_SEED) -> np.ndarray:
    """``draws`` x runs matrix of ``score`` recomputed on resampled test splits.

    Each run's test split is drawn again with replacement (its correct count is binomial with
    its ``test_n`` and accuracy; the runs' draws are independent, as the table keeps no
    per-image predictions); accuracy follows, and a PePR score is the resampled accuracy over
    ``1 + R`` with the run's resource term ``R`` unchanged (``pepr_e`` uses ``E_n``).
    """
    rng = np.random.default_rng(seed)
    n = pd.to_numeric(runs["test_n"], errors="coerce").to_numpy(dtype=float)
    accuracy = pd.to_numeric(runs["test_acc"], errors="coerce").to_numpy(dtype=float)
    valid = np.isfinite(n) & (n > 0) & np.isfinite(accuracy)
    counts = np.where(valid, n, 1).astype(np.int64)
    drawn = rng.binomial(counts, np.clip(np.where(valid, accuracy, 0), 0, 1), size=(draws, len(runs)))
    resampled = np.where(valid, drawn / counts, accuracy)
    if score == "test_acc":
        return resampled
    if score == "skill":
        baseline = pd.to_numeric(runs["baseline_acc"], errors="coerce").to_numpy(dtype=float)
        return np.clip(skill_gain(resampled, baseline), 0, 1)
    resource = pd.to_numeric(runs[f"{score.removeprefix('pepr_').upper()}_n"],
                             errors="coerce").to_numpy(dtype=float)
    return resampled / (1 + resource)


def percentile_interval(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The central ``confidence`` interval of bootstrap ``values`` (NaN where none is finite)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return math.nan, math.nan
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def _model_means(frame: pd.DataFrame, values: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per (setting, model) and the mean of ``values``' columns over its seeds."""
    keys = frame.groupby(["setting", "model"], sort=False).ngroup().to_numpy()
    groups = frame.assign(_key=keys).drop_duplicates("_key").sort_values("_key")
    sums = np.zeros((values.shape[0], keys.max() + 1))
    np.add.at(sums.T, keys, values.T)
    return groups.reset_index(drop=True), sums / np.bincount(keys)


def top_k_small_share(frame: pd.DataFrame, score_values: np.ndarray, size: str, k: int = 5,
                      min_models: int = 8) -> np.ndarray:
    """Per row of ``score_values`` (draws x runs of ``frame``), the share of the top ``k``
    places of the settings (a model's seeds averaged) held by models at or below their
    setting's median ``size``; settings with fewer than ``min_models`` models left out."""
    models, means = _model_means(frame, score_values)
    placed = np.zeros(len(means))
    small_placed = np.zeros(len(means))
    for _, group in models.groupby("setting", sort=False):
        if len(group) < min_models:
            continue
        columns = group.index.to_numpy()
        small = (group[size] <= group[size].median()).to_numpy()
        order = np.argsort(-means[:, columns], axis=1, kind="stable")[:, :k]
        small_placed += small[order].sum(axis=1)
        placed += order.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return small_placed / placed


def top_k_stability(frame: pd.DataFrame, score: str, k: int = 5, draws: int = DRAWS,
                    seed: int = BOOTSTRAP_SEED) -> pd.DataFrame:
    """Per setting: how many of its top ``k`` by ``score`` stay in the top ``k`` when the test
    split is drawn again (:func:`resampled_scores`; a model's seeds averaged), on average and
    the least, and the model of the top ``k`` that stays least often, with its share."""
    values = resampled_scores(frame, score, draws, seed)
    models, means = _model_means(frame, values)
    observed_scores = pd.to_numeric(frame[score], errors="coerce").to_numpy(dtype=float)
    _, observed = _model_means(frame, observed_scores[None, :])
    rows = []
    for setting, group in models.groupby("setting", sort=False):
        columns = group.index.to_numpy()
        if len(columns) <= k:
            continue
        top = columns[np.argsort(-observed[0, columns], kind="stable")[:k]]
        drawn_top = np.argsort(-means[:, columns], axis=1, kind="stable")[:, :k]
        kept = np.isin(columns[drawn_top], top).sum(axis=1)
        stays = {c: float(np.mean((columns[drawn_top] == c).any(axis=1))) for c in top}
        weakest = min(stays, key=stays.get)
        rows.append({"setting": setting, "models": len(columns),
                     f"top-{k} kept (mean)": float(kept.mean()), f"top-{k} kept (least)": int(kept.min()),
                     "least stable of the top": str(models.loc[weakest, "model"]),
                     "its share in the top": stays[weakest]})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# What setting the guessers aside, or correcting for chance, changes in a ranking
# ---------------------------------------------------------------------------------------------

def top_k_without_guessers(scored: pd.DataFrame, score: str = "pepr_e", k: int = 5) -> pd.DataFrame:
    """Per setting: how many of the top ``k`` by ``score`` do not beat their baseline, and the
    top ``k`` of the runs that do (PePR values unchanged), with the models that enter it."""
    from pepr.scoring.score import rank_within

    rows = []
    for setting, group in scored.groupby("setting", sort=False):
        top = rank_within(group, score, top=k).head(k)
        kept, _ = keep_above_baseline(group)
        new_top = rank_within(kept, score, top=k).head(k) if len(kept) else kept
        unknown = top["above_baseline"].isna().all()
        rows.append({
            "setting": setting,
            f"top {k} not above baseline": "no baseline" if unknown
            else int((top["above_baseline"] == False).sum()),  # noqa: E712
            f"top {k} above baseline": ("–" if unknown else ", ".join(new_top["model"])
                                        or "none: no run beats it"),
            "entered": (", ".join(m for m in new_top["model"] if m not in set(top["model"]))
                        or "none") if not unknown else "–",
            "runs above baseline": "–" if unknown else f"{len(kept)} of {len(group)}",
        })
    return pd.DataFrame(rows)


def skill_agreement(scored: pd.DataFrame, score: str = "pepr_e", k: int = 5) -> pd.DataFrame:
    """Per setting: how the ranking by ``score`` (PePR on test accuracy) moves when PePR scores
    the chance-corrected ``skill`` instead: Kendall's tau between the two rankings, the overlap
    of their top ``k``, and how many of the accuracy top ``k`` do not beat their baseline."""
    from scipy.stats import kendalltau

    from pepr.scoring.score import RESOURCES, add_pepr

    suffix = score.removeprefix("pepr_")
    by_skill = add_pepr(scored.drop(columns=[c for c in scored.columns if c.startswith("pepr_")
                                             or c.endswith("_n") and c[:-2].lower() in RESOURCES]),
                        resources={suffix: RESOURCES[suffix]}, performance="skill")
    rows = []
    for setting, group in scored.groupby("setting", sort=False):
        skilled = by_skill.loc[group.index, score]
        if skilled.isna().all():
            rows.append({"setting": setting, "kendall_tau": math.nan, f"top-{k} overlap": math.nan,
                         f"top-{k} not above baseline": math.nan})
            continue
        top_acc = set(group.nlargest(k, score).index)
        top_skill = set(skilled.nlargest(k).index)
        rows.append({"setting": setting,
                     "kendall_tau": float(kendalltau(group[score], skilled).statistic),
                     f"top-{k} overlap": len(top_acc & top_skill),
                     f"top-{k} not above baseline": int((group.loc[list(top_acc), "above_baseline"] == False).sum())})  # noqa: E712
    return pd.DataFrame(rows)
