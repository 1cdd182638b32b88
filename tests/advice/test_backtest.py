"""The backtest of ``pepr advise``: each dataset held out, the rules that choose a run, what
they are charged, and the figures over the settings."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pandas as pd
import pytest
from test_advise import ZOO_MODELS, reference_study

from pepr.advice import backtest
from pepr.scoring import verdicts


def predictions(**columns: object) -> pd.DataFrame:
    """One held-out setting's predictions with every column the rules read (four models, the
    advice's order tiny, small, mid, big unless ``expected_pepr`` says otherwise)."""
    frame = pd.DataFrame({
        "setting": "s", "model": ["tiny", "small", "mid", "big"], "num_params": [1, 2, 3, 4],
        "predicted_time_s": [1.0, 2.0, 3.0, 4.0], "predicted_energy_kwh": [1.0, 2.0, 3.0, 4.0],
        "train_time_s": [1.0, 2.0, 3.0, 4.0], "energy_kwh": [1.0, 2.0, 3.0, 4.0],
        "expected_acc": [0.8, 0.8, 0.8, 0.8], "expected_pepr": [0.4, 0.3, 0.2, 0.1],
        "resource_n": [0.0, 1 / 3, 2 / 3, 1.0], "test_acc": [0.8, 0.8, 0.8, 0.8],
        "ran": True, "covered": True, "val_n": 100, "val_baseline": 0.5,
        "val_acc": [0.9, 0.9, 0.9, 0.9], "probe_val_acc": [0.9, 0.9, 0.9, 0.9],
        "probe_time_s": [0.1, 0.1, 0.1, 0.1], "expected_acc_low": 0.7, "expected_acc_high": 0.9})
    for name, values in columns.items():
        frame[name] = values
    if "pepr_e" not in columns:
        frame["pepr_e"] = frame["test_acc"] / (1 + (frame["energy_kwh"] - 1) / 3)
    return frame


def test_backtest_holds_out_each_dataset(tmp_path: Path, data_dir: Path):
    reference_study(tmp_path, "breastmnist")
    one = backtest.backtest(results_dir=tmp_path, min_runs=3)
    assert one.held_out == [] and one.scores.empty and one.finished.to_dict() == {"breastmnist": 6}
    reference_study(tmp_path, "retinamnist")
    result = backtest.backtest(results_dir=tmp_path, min_runs=3)
    assert result.held_out == ["breastmnist", "retinamnist"]
    assert set(result.predictions["model"]) == set(ZOO_MODELS)
    scores = result.scores.set_index(["setting", "method"])
    assert len(scores) == 2 * len(backtest.BACKTEST_METHODS) and scores["models"].eq(len(ZOO_MODELS)).all()
    # speeds learnt from the other dataset alone rank the held-out times as measured
    assert scores.loc[("breastmnist", "advise"), "rho_time"] == pytest.approx(1.0)
    assert math.isnan(scores.loc[("breastmnist", "smallest"), "rho_acc"])
    judged = scores["above_baseline"] > 0  # a setting where no run beats its baseline has no best
    assert (scores.loc[judged, "regret"] >= 0).all() and scores.loc[~judged, "regret"].isna().all()
    assert (scores.loc[judged, "regret_low"] <= scores.loc[judged, "regret_high"]).all()
    overall = backtest.backtest_overall(result.scores).set_index("method")
    assert overall.loc["advise", "settings"] == 2 and overall.loc["smallest", "models"] == 12
    assert backtest.backtest(results_dir=tmp_path, min_runs=7).held_out == []


def test_backtest_scores_count_hits_and_regret():
    frame = predictions(model=["tiny", "small", "mid", "big"], expected_pepr=[0.1, 0.2, 0.4, 0.3],
                        predicted_time_s=[1.0, 2.0, 4.0, 3.0], expected_acc=[0.5, 0.6, 0.7, 0.8],
                        test_acc=[0.8, 0.7, 0.6, 0.5], pepr_e=[0.5, 0.9, 0.6, 0.2])
    scores = backtest.backtest_scores(frame, top=2).set_index("method")
    assert scores.loc["advise", "rho_time"] == pytest.approx(0.8)
    assert scores.loc["advise", "rho_acc"] == pytest.approx(-1.0)
    assert scores.loc["smallest", "rho_time"] == pytest.approx(1.0)
    # advise keeps "mid" (0.6), the smallest rule "tiny" (0.5); the best is "small" (0.9)
    assert scores.loc["advise", "regret"] == pytest.approx(0.3)
    assert scores.loc["smallest", "regret"] == pytest.approx(0.4)
    assert not scores.loc["advise", "best_in_top"] and scores.loc["smallest", "best_in_top"]
    assert scores.loc["advise", "bias"] == pytest.approx(0.0)  # expected 0.65, measured 0.65 on average


def test_backtest_judges_against_the_best_run_above_its_baseline():
    frame = predictions(expected_pepr=[0.1, 0.3, 0.2, 0.0], test_acc=[0.73, 0.9, 0.8, 0.5],
                        pepr_e=[0.73, 0.6, 0.5, 0.3], test_n=156, E_n=[0.0, 0.5, 0.6, 1.0],
                        above_baseline=pd.array([False, True, True, False], dtype="boolean"))
    scores = backtest.backtest_scores(frame, top=1).set_index("method")
    # the guesser has the highest PePR-E but is not the best: "small" is, which advise kept
    assert scores.loc["advise", "regret"] == 0 and scores.loc["advise", "best_in_top"]
    assert scores.loc["smallest", "regret"] == pytest.approx(0.6)  # kept the guesser: a failure
    assert scores.loc["advise", "above_baseline"] == 2
    assert scores.loc["advise", "regret_low"] <= 0 <= scores.loc["advise", "regret_high"]


def test_validation_trains_down_the_list_and_charges_the_runs_before():
    # tiny and small stay at the majority rate on validation, mid clears it, big never ran
    frame = predictions(val_acc=[0.5, 0.52, 0.9, math.nan], ran=[True, True, True, False])
    order = backtest.ordered(frame, "advise")
    kept, spent, tries = backtest.validated_choice(order)
    assert (frame.loc[kept, "model"], spent, tries) == ("mid", 1.0 + 2.0, 3)
    # nothing clears the bar: the best on validation is kept, every other run charged, and a
    # candidate without a run is charged its predicted energy
    none = predictions(val_acc=[0.5, 0.55, 0.52, math.nan], ran=[True, True, True, False])
    kept, spent, tries = backtest.validated_choice(backtest.ordered(none, "advise"))
    assert (none.loc[kept, "model"], spent, tries) == ("small", 1.0 + 3.0 + 4.0, 4)
    assert backtest.charged_pepr(frame, 2, 3.0) == pytest.approx(0.8 / (1 + (6.0 - 1.0) / (6.0 - 1.0)))


def test_a_simulated_probe_reranks_as_pepr_advise_does():
    # the advice's first two sit at the validation majority after the probe; mid beats it
    frame = predictions(probe_val_acc=[0.5, 0.5, 0.9, 0.95])
    order = backtest.ordered(frame, "advise")
    kept, charge, tries = backtest.probed_choice(order, k=3)
    assert frame.loc[kept, "model"] == "mid" and tries == 3  # big (0.95) was not probed
    watts = backtest.run_watts(frame)
    assert charge == pytest.approx(0.3 * watts)
    kept, _, _ = backtest.probed_choice(backtest.ordered(frame.assign(probe_val_acc=0.5), "advise"), k=3)
    assert frame.loc[kept, "model"] == "tiny"  # no probe beats the majority: the advice's order
    failed = frame.assign(ran=[False, True, True, True])
    kept, _, _ = backtest.probed_choice(backtest.ordered(failed, "advise"), k=1)
    assert failed.loc[kept, "model"] == "small"  # a failed probe goes last


def test_validation_curves_and_probe_lengths():
    epochs = pd.DataFrame({
        "run_id": ["r"] * 6, "epoch": [0, 0, 1, 1, 2, 2],
        "split": ["train", "val"] * 3, "metric": ["time_s", "acc"] * 3,
        "value": [1.0, 0.5, 2.0, 0.6, 3.0, 0.7]})
    curves = backtest.validation_curves(epochs, ["r"]).set_index("epoch")
    assert curves["time_s"].tolist() == [1.0, 3.0, 6.0] and curves["val_acc"].tolist() == [0.5, 0.6, 0.7]
    frame = pd.DataFrame({"run_id": ["r", "missing"]})
    probed = backtest.with_probe_curves(frame, curves.reset_index(), 2)
    assert probed.loc[0, "probe_val_acc"] == 0.6 and probed.loc[0, "probe_time_s"] == 3.0
    assert math.isnan(probed.loc[1, "probe_val_acc"])
    assert backtest.with_last_validation(frame, curves.reset_index()).loc[0, "val_acc"] == 0.7
    with pytest.raises(backtest.BadParameterError):
        backtest.with_probe_curves(frame, curves.reset_index(), 0)


def test_accuracy_to_beat_is_the_binomial_tests_bar():
    count, accuracy = verdicts.accuracy_to_beat(78, 0.7308)
    assert verdicts.beats_baseline(count / 78, 78, 0.7308)
    assert not verdicts.beats_baseline((count - 1) / 78, 78, 0.7308)
    assert accuracy == pytest.approx(count / 78)
    assert math.isnan(verdicts.accuracy_to_beat(3, 0.99)[1])  # no count of 3 images can show it


def test_probe_grid_ranks_every_probe_by_mean_regret(tmp_path: Path, data_dir: Path):
    reference_study(tmp_path, "breastmnist")
    reference_study(tmp_path, "retinamnist")
    result = backtest.backtest(results_dir=tmp_path, min_runs=3)
    grid = backtest.probe_grid(result, ks=(1, 2), epochs=(1, 2))
    assert len(grid) == 4 and set(zip(grid["k"], grid["epochs"])) == {(1, 1), (1, 2), (2, 1), (2, 2)}
    assert grid["regret_mean"].is_monotonic_increasing


def test_backtest_summary_says_what_is_missing_then_what_was_found(tmp_path: Path, data_dir: Path):
    reference_study(tmp_path, "breastmnist")
    waiting = backtest.backtest_summary(backtest.backtest(results_dir=tmp_path, min_runs=3))
    assert waiting["status"].startswith("Not enough yet: a leave-one-dataset-out backtest needs")
    assert waiting["status"].endswith("the study cpu-rerun has 1 such settings: breastmnist (6 models).")
    assert waiting["held_out"] == "0" and waiting["rho_time"] == waiting["regret_advise"] == "\u2013"
    reference_study(tmp_path, "retinamnist")
    result = backtest.backtest(results_dir=tmp_path, min_runs=3)
    found = backtest.backtest_summary(result)
    assert (found["held_out"], found["runs"], found["models"]) == ("2", "12", "6")
    assert found["rho_time"].startswith("1.00 (95 % interval") and int(found["hits"]) <= 2
    assert found["coverage"].endswith("%)") and "Wilson" in found["coverage"]
    advised = result.scores[result.scores["method"] == "advise"]
    assert found["regret_advise"].startswith(f"{advised['regret'].mean():.3f}")
    assert found["status"].startswith("Settings of the study cpu-rerun with finished runs: breastmnist")


def test_backtest_benchmark_prints_the_figures(tmp_path: Path, data_dir: Path, monkeypatch, capsys):
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "advise_backtest.py"
    spec = importlib.util.spec_from_file_location("advise_backtest", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.setattr("pepr.paths.RESULTS_DIR", tmp_path)
    reference_study(tmp_path, "breastmnist")
    monkeypatch.setattr("sys.argv", ["advise_backtest.py", "--min-runs", "3"])
    script.main()
    assert "Not enough yet: a leave-one-dataset-out backtest needs" in capsys.readouterr().out
    reference_study(tmp_path, "retinamnist")
    monkeypatch.setattr("sys.argv", ["advise_backtest.py", "--min-runs", "3", "--probe-grid"])
    script.main()
    out = capsys.readouterr().out
    assert "rho_time" in out and "over 2 held-out settings" in out and "simulated probes" in out


def test_probe_defaults_are_the_grid_best_on_the_cpu_study(data_dir: Path):
    result = backtest.backtest()
    best = backtest.probe_grid(result).iloc[0]
    assert (int(best["k"]), int(best["epochs"])) == (backtest.PROBE_K, backtest.PROBE_EPOCHS)
