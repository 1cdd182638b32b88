"""``pepr advise``: reference speeds, this machine's calibration, predicted costs, expected
accuracy, and the ranking within a budget."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pepr import advise, cli, datasets, results, zoo
from pepr.errors import BadParameterError

ZOO_MODELS = ["mobilenetv2_050", "semnasnet_075", "dla46x_c", "resnet18d", "dla34", "resnet26d"]


def reference_study(results_dir: Path, dataset: str = "breastmnist") -> pd.DataFrame:
    """A fake reference study: six zoo models on ``dataset`` whose epoch time grows with FLOPs."""
    table = zoo.load_zoo().set_index("model")
    n_train = advise.train_images(dataset)["train"]
    for index, model in enumerate(ZOO_MODELS):
        row = table.loc[model]
        cell = {"study": advise.REFERENCE_STUDY, "model": model, "dataset": dataset,
                "pretrained": False, "data_fraction": 1.0, "seed": 0,
                "img_size": int(row["min_img_size"]), "epochs": 2, "batch_size": 32,
                "optimizer": "adam", "lr": 5e-4}
        run_id = results.run_id(cell)
        seconds_per_image = 2e-11 * float(row["flops_per_image_at_min"]) + 1e-4
        results.append_run({**cell, "run_id": run_id, "setting": dataset, "status": "ok",
                            "test_acc": 0.6 + index / 50, "run_mem_gb": 0.1 + index / 20,
                            "train_time_s": 2 * seconds_per_image * n_train,
                            "energy_kwh": 2 * seconds_per_image * n_train * 2.6e-5,
                            "co2_g": seconds_per_image * n_train, "peak_mem_gb": 1.2,
                            "mem_kind": "cpu-rss"}, results_dir)
        results.append_epochs([{"run_id": run_id, "study": advise.REFERENCE_STUDY, "model": model,
                                "setting": dataset, "epoch": epoch, "split": "train",
                                "metric": "time_s", "value": seconds_per_image * n_train}
                               for epoch in range(2)], advise.REFERENCE_STUDY, results_dir)
    return table


def test_training_images_follow_the_stratified_subset():
    labels = datasets.split_labels("breastmnist")
    counts = np.bincount(labels["train"])
    assert advise.train_images("breastmnist", 0.1)["train"] == sum(max(1, round(0.1 * c)) for c in counts)
    assert advise.train_images("breastmnist")["test"] == len(labels["test"])


def test_reference_speeds_are_measured_where_run_and_fitted_elsewhere(tmp_path: Path):
    table = reference_study(tmp_path)
    speeds = advise.reference_speeds(results_dir=tmp_path).set_index("model")
    measured = speeds[speeds["source"] == "measured"]
    assert sorted(measured.index) == sorted(ZOO_MODELS)
    expected = 2e-11 * table.loc["resnet18d", "flops_per_image_at_min"] + 1e-4
    assert measured.loc["resnet18d", "reference_s_per_image"] == pytest.approx(expected)
    fitted = speeds[speeds["source"] == "fitted"]
    assert len(fitted) == len(speeds) - len(ZOO_MODELS)
    assert (fitted["reference_s_per_image"] > 0).all() and fitted["reference_mem_gb"].notna().all()


def test_calibration_fits_a_line_in_log_log_and_measures_power():
    reference = pd.DataFrame({"model": ["test_resnet", "test_efficientnet", "test_convnext"],
                              "img_size": [28, 28, 32], "reference_s_per_image": [1e-4, 2e-4, 4e-4],
                              "source": "measured"})
    calibration = advise.calibrate(reference, in_chans=1, num_classes=2,
                                   models=reference["model"], progress=False)
    assert len(calibration.points) == 3 and (calibration.points["here_s_per_image"] > 0).all()
    assert math.isfinite(calibration.slope) and math.isfinite(calibration.intercept)
    assert calibration.watts > 0 and calibration.energy_method
    here = calibration.time_per_image(calibration.points["reference_s_per_image"])
    assert here.shape == (3,) and (here > 0).all()


def fixed_calibration(ratio: float = 2.0) -> advise.Calibration:
    return advise.Calibration(intercept=math.log(ratio), slope=1.0, points=pd.DataFrame(),
                              watts=50.0, energy_method="tdp-estimate", seconds=1.0,
                              baseline_mem_gb=1.0)


def test_predicted_costs_count_training_and_evaluation_passes():
    reference = pd.DataFrame({"model": ["m"], "img_size": [28], "reference_s_per_image": [1e-3],
                              "reference_mem_gb": [0.2]})
    images = {"train": 100, "val": 30, "test": 60}
    costs = advise.predict_costs(reference, fixed_calibration(2.0), images, epochs=10).iloc[0]
    passes = 10 * 100 + (10 * 30 + 60) / 3
    assert costs["predicted_time_s"] == pytest.approx(2e-3 * passes)
    assert costs["predicted_energy_kwh"] == pytest.approx(50 * 2e-3 * passes / 3.6e6)
    assert costs["predicted_mem_gb"] == pytest.approx(1.2)
    larger = advise.predict_costs(reference, fixed_calibration(2.0), images, img_size=56).iloc[0]
    assert larger["predicted_time_s"] == pytest.approx(4 * costs["predicted_time_s"])


def test_expected_accuracy_is_relative_to_each_setting_and_leaves_the_dataset_out():
    sources = pd.DataFrame({
        "study": "s", "setting": ["a"] * 3 + ["b"] * 3 + ["c"] * 3,
        "dataset": ["d1"] * 3 + ["d2"] * 3 + ["own"] * 3,
        "model": ["x", "y", "z"] * 3,
        "test_acc": [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.1, 0.9, 0.5],
    })
    table = advise.expected_accuracy(sources, leave_out_dataset="own").set_index("model")
    anchor = np.median([0.8, 0.5])
    assert table.loc["x", "expected_acc"] == pytest.approx(anchor + 0.1)
    assert table.loc["z", "expected_acc"] == pytest.approx(anchor - 0.1)
    assert table["settings"].tolist() == [2, 2, 2]
    with pytest.raises(BadParameterError):
        advise.expected_accuracy(sources[sources["dataset"] == "own"], leave_out_dataset="own")


def test_advice_ranks_within_the_budget(tmp_path: Path, data_dir: Path):
    reference_study(tmp_path)
    generous = advise.advise("breastmnist", results_dir=tmp_path, calibration=fixed_calibration(),
                             top=200, progress=False)
    times = generous.table["predicted_time_s"].sort_values()
    budget_s = float(times.iloc[len(times) // 2])
    advice = advise.advise("breastmnist", budget_hours=budget_s / 3600, results_dir=tmp_path,
                           calibration=fixed_calibration(), top=5, progress=False)
    table = advise.advice_frame(advice)
    assert list(table.columns) == advise.ADVICE_COLUMNS
    assert len(table) == 5 and table["rank"].tolist() == [1, 2, 3, 4, 5]
    assert (table["predicted_time_s"] <= budget_s).all()
    assert table["expected_pepr"].is_monotonic_decreasing
    assert ((table["expected_acc_low"] <= table["expected_acc"])
            & (table["expected_acc"] <= table["expected_acc_high"])).all()
    assert len(advice.excluded) > 0


def test_bad_advice_requests_are_one_line(capsys):
    assert cli.main(["advise", "--dataset", "breastmnist", "--rank-by", "colour"]) == 2
    assert cli.main(["advise", "--dataset", "breastmnist", "--budget-hours", "-1"]) == 2
    assert cli.main(["advise", "--dataset", "no_such_data"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("pepr advise: error:") for line in err)


def test_backtest_holds_out_each_setting(tmp_path: Path, monkeypatch, capsys):
    import importlib.util

    reference_study(tmp_path, "breastmnist")
    reference_study(tmp_path, "retinamnist")
    monkeypatch.setattr("pepr.paths.RESULTS_DIR", tmp_path)
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "advise_backtest.py"
    spec = importlib.util.spec_from_file_location("advise_backtest", path)
    backtest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(backtest)
    runs = results.load(advise.REFERENCE_STUDY, tmp_path)
    row = backtest.backtest_setting(runs, "breastmnist", advise.REFERENCE_STUDY)
    assert row["models"] == len(ZOO_MODELS)
    # speeds learnt from retinamnist alone rank breastmnist's times as measured
    assert row["rho_time"] == pytest.approx(1.0)
    assert row["regret_advised"] >= 0 and row["regret_smallest"] >= 0
