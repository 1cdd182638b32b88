"""Verdicts: baselines from the labels, the exact test against them, intervals, skill, and the
ranking that cannot crown a constant classifier."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pepr.data import registry
from pepr.scoring import score, verdicts
from pepr.store import results


def test_wilson_interval_matches_its_formula():
    low, high = verdicts.wilson_interval(0.75, 100)
    z, p, n = 1.959963984540054, 0.75, 100
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert (low, high) == pytest.approx((centre - half, centre + half))


def test_the_exact_test_needs_a_margin_that_shrinks_with_the_test_split():
    # 0.731 on 156 images is a constant classifier; 0.80 beats it; on 10 images it would not
    assert verdicts.above_baseline_p(114 / 156, 156, 114 / 156) > 0.5
    assert verdicts.above_baseline_p(0.80, 156, 114 / 156) < 0.05
    assert verdicts.above_baseline_p(0.80, 10, 114 / 156) > 0.05


def _runs() -> pd.DataFrame:
    return pd.DataFrame({"setting": ["a", "a", "a", "b"], "model": ["guess", "good", "tiny", "x"],
                         "test_acc": [0.7, 0.9, 0.72, 0.5], "energy_kwh": [1.0, 3.0, 0.5, 1.0],
                         "co2_g": 1.0, "train_time_s": 1.0, "peak_mem_gb": 1.0})


def _baselines() -> pd.DataFrame:
    return pd.DataFrame({"setting": ["a"], "baseline_acc": [0.7], "test_n": [200],
                         "baseline_source": ["made up"]})


def test_verdicts_mark_guessers_and_unknown_baselines():
    judged = verdicts.add_verdicts(_runs(), _baselines()).set_index("model")
    assert judged.loc["guess", "above_baseline"] == False  # noqa: E712
    assert judged.loc["good", "above_baseline"] == True  # noqa: E712
    assert pd.isna(judged.loc["x", "above_baseline"]) and math.isnan(judged.loc["x", "skill"])
    assert judged.loc["guess", "skill"] == 0 and judged.loc["good", "skill"] == pytest.approx(2 / 3)
    assert judged.loc["good", "test_acc_low"] < 0.9 < judged.loc["good", "test_acc_high"]


def test_ranking_above_the_baseline_keeps_pepr_and_says_what_it_set_aside():
    scored = score.add_pepr(verdicts.add_verdicts(_runs(), _baselines()))
    kept, aside = verdicts.keep_above_baseline(scored)
    assert kept["model"].tolist() == ["good"]
    assert aside == {"at_baseline": 2, "unknown": 1}
    assert kept["pepr_e"].iloc[0] == scored.set_index("model").loc["good", "pepr_e"]
    assert verdicts.set_aside_text(aside) == ("3 runs set aside: 2 no better than the majority "
                                             "class, 1 without a known baseline")
    assert verdicts.set_aside_text({"at_baseline": 1, "unknown": 0}) == (
        "1 run set aside, no better than the majority class")
    assert verdicts.set_aside_text({"at_baseline": 0, "unknown": 0}) == ""


def test_skill_as_performance_scores_a_guesser_zero():
    judged = verdicts.add_verdicts(_runs(), _baselines())
    scored = score.add_pepr(judged[judged["setting"] == "a"], performance="skill")
    best = score.rank_within(scored, "pepr_e").iloc[0]
    assert best["model"] == "good"  # by raw accuracy the cheap guesser is close behind


def test_the_test_size_is_read_off_the_accuracies():
    assert verdicts.inferred_test_size([k / 608 for k in (563, 380, 601, 17)]) == 608
    assert verdicts.inferred_test_size([0.5]) == 2
    assert verdicts.inferred_test_size([]) is None


def test_majority_rate_and_study_baselines_come_from_the_test_labels():
    assert verdicts.majority_rate(np.array([0, 1, 1, 1])) == 0.75
    assert math.isnan(verdicts.majority_rate(np.ones((4, 3))))
    runs = pd.DataFrame({"setting": ["breastmnist"], "dataset": ["breastmnist"]})
    found = verdicts.study_baselines(runs).iloc[0]
    labels = registry.split_labels("breastmnist")["test"]
    assert found["test_n"] == len(labels) == 156
    assert found["baseline_acc"] == np.bincount(labels).max() / 156


def test_the_release_baselines_catch_derma_smallests_constant_guessers():
    paper = results.load("paper")
    baselines = verdicts.release_baselines(paper).set_index("setting")
    assert baselines.loc["pneumonia", "test_n"] == 608 and baselines.loc["derma", "test_n"] == 1984
    judged = verdicts.with_verdicts(paper, "paper")
    smallest = judged[judged["setting"] == "derma_smallest"]
    at_rate = smallest[np.isclose(smallest["test_acc"], baselines.loc["derma_smallest", "baseline_acc"])]
    assert len(at_rate) >= 3 and not at_rate["above_baseline"].any()
    # the release's PePR is untouched by the verdicts
    scored = score.add_pepr(judged)
    assert np.allclose(scored["pepr_e"], score.add_pepr(paper)["pepr_e"], atol=1e-12, rtol=0)
