"""The paper's claims judged from numbers: a verdict follows its interval."""

from __future__ import annotations

import pandas as pd

from pepr.reporting import claims


def _split(low: float, high: float, share: float = 0.8) -> pd.Series:
    return pd.Series({"share of top-k small": share, "share low": low, "share high": high,
                      "share of all runs small": 0.5, "set aside": 3, "settings": 2,
                      "runs kept": 40})


def test_the_small_models_claim_follows_its_interval():
    assert ": holds**" in claims.small_models_claim(_split(0.6, 0.9), "pepr_e")
    assert "cannot be told" in claims.small_models_claim(_split(0.4, 0.9, 0.6), "pepr_e")
    assert "does not hold" in claims.small_models_claim(_split(0.2, 0.5, 0.3), "pepr_e")
    assert "cannot be told" in claims.small_models_claim(None, "pepr_e")
    assert "3 runs set aside" in claims.small_models_claim(_split(0.6, 0.9), "pepr_e")


def test_agreement_with_the_release_holds_only_above_zero():
    row = {"our setting": "a", "release setting": "b", "models": 30}
    high = pd.DataFrame([{**row, "rho": 0.6, "ci_low": 0.3, "ci_high": 0.8}])
    straddles = pd.DataFrame([{**row, "rho": 0.1, "ci_low": -0.2, "ci_high": 0.4}])
    assert ": holds**" in claims.release_agreement_claim(high)
    assert "not shown" in claims.release_agreement_claim(straddles)
    assert "-0.20 to 0.40" in claims.release_agreement_claim(straddles)


def test_more_data_claim_counts_intervals_above_zero():
    arms = pd.DataFrame([{"axis": "training fraction", "held fixed": "dataset=x, seed=0",
                          "models": 9, "mean_diff": d, "mean_diff_ci_low": lo,
                          "mean_diff_ci_high": hi} for d, lo, hi in ((0.1, 0.05, 0.2), (0.0, -0.1, 0.1))])
    text = claims.more_data_claim(arms)
    assert "holds for 1 of 2 datasets" in text and "x +0.100" in text


def test_the_protocol_says_how_the_runs_started():
    assert claims.start_words(pd.Series([False, False])) == "from scratch"
    assert claims.start_words(pd.Series([True, "/ckpt.pt"])) == "from pretrained weights"
    facts = {"start": "from scratch", "sizes": "28", "device": "a CPU", "datasets": "x",
             "energy": "energy estimated"}
    assert "trains from scratch, at 28 px, on a CPU" in claims.protocol_sentence(facts)


def test_larger_more_accurate_is_counted_per_setting_with_the_gaps():
    table = pd.DataFrame({"median acc. large": [0.6, 0.5], "median acc. small": [0.5, 0.55],
                          "models": [10, 12]})
    text = claims.larger_more_accurate_claim(table)
    assert "holds in 1 of 2 settings" in text and "-0.050 to +0.100" in text
    assert "cannot be told" in claims.larger_more_accurate_claim(pd.DataFrame())


def test_the_release_side_of_the_protocol_is_counted_from_its_settings():
    from pepr.data import release

    scratch = sum(not s["pretrained"] for s in release.SETTINGS.values())
    assert f"all but {scratch} of its {len(release.SETTINGS)} settings" in claims.release_start_words()
    runs = pd.DataFrame({"pretrained": [False], "hardware": ["a CPU"], "dataset": ["x"]})
    facts = claims.protocol_facts(runs, {"energy_methods": ["green-algorithms-estimate"],
                                         "img_sizes": [28]})
    assert facts["device"] == "a CPU" and facts["energy"].startswith("energy estimated")
