"""``pepr advise``: reference speeds, this machine's calibration, predicted costs, expected
accuracy, and the ranking within a budget."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pepr import cli
from pepr.advice import advise, defaults
from pepr.core.errors import BadParameterError, DataWarning
from pepr.data import registry, zoo
from pepr.scoring import verdicts
from pepr.store import results
from pepr.training import trials

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
    labels = registry.split_labels("breastmnist")
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
    calibration = trials.calibrate(reference, in_chans=1, num_classes=2,
                                   models=reference["model"], progress=False)
    assert len(calibration.points) == 3 and (calibration.points["here_s_per_image"] > 0).all()
    assert math.isfinite(calibration.slope) and math.isfinite(calibration.intercept)
    assert calibration.watts > 0 and calibration.energy_method
    here = calibration.time_per_image(calibration.points["reference_s_per_image"])
    assert here.shape == (3,) and (here > 0).all()
    steps = calibration.points["steps"]
    assert steps.between(defaults.CALIBRATION_BATCHES, defaults.CALIBRATION_MAX_BATCHES).all()
    # a model stops early only once its spread has settled
    assert (calibration.points.loc[steps < defaults.CALIBRATION_MAX_BATCHES, "here_spread"]
            <= defaults.CALIBRATION_STABLE_SPREAD).all()
    assert calibration.spread == calibration.points["here_spread"].max()
    note = advise.calibration_note(calibration)
    assert note.startswith("calibration: 3 models timed over") and f"± {calibration.spread:.0%}" in note


def test_the_spread_of_timed_steps_is_half_their_interquartile_range_over_the_median():
    assert advise.relative_spread([1.0, 1.0, 1.0, 1.0]) == 0.0
    assert advise.relative_spread([0.9, 1.0, 1.0, 1.1, 3.0]) == pytest.approx((1.1 - 1.0) / 2)
    assert advise.calibration_note(fixed_calibration()) is None  # nothing was timed here
    assert math.isnan(fixed_calibration().spread)


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
                             top=200)
    times = generous.table["predicted_time_s"].sort_values()
    budget_s = float(times.iloc[len(times) // 2])
    advice = advise.advise("breastmnist", budget_hours=budget_s / 3600, results_dir=tmp_path,
                           calibration=fixed_calibration(), top=5)
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


# ---------------------------------------------------------------------------------------------
# The probe
# ---------------------------------------------------------------------------------------------

def candidates(models: list[str], expected_acc: list[float], resource_n: list[float],
               img_size: int = 28) -> pd.DataFrame:
    """An advice table as :func:`pepr.advise.advise` leaves it, for the probe's functions."""
    table = pd.DataFrame({"model": models, "img_size": img_size, "run_img_size": img_size,
                          "expected_acc": expected_acc, "resource_n": resource_n,
                          "predicted_time_s": 1.0, "predicted_energy_kwh": 1e-6,
                          "predicted_mem_gb": 1.0, "settings": 3, "source": "measured",
                          "why": "cheaper than most"})
    table["expected_acc_low"] = table["expected_acc"] - 0.1
    table["expected_acc_high"] = table["expected_acc"] + 0.1
    table["expected_pepr"] = table["expected_acc"] / (1 + table["resource_n"])
    table = table.sort_values("expected_pepr", ascending=False).reset_index(drop=True)
    table.insert(0, "rank", range(1, len(table) + 1))
    return table


def test_probe_moves_accuracy_by_half_its_difference_from_the_probed_mean():
    table = candidates(["a", "b", "c", "d"], [0.8, 0.75, 0.7, 0.6], [0.0, 0.0, 0.0, 0.0])
    probes = pd.DataFrame({"model": ["a", "b", "c"], "probe_val_acc": [0.6, 0.9, math.nan],
                           "probe_val_n": 100, "probe_status": ["ok", "ok", "failed"],
                           "probe_error": ["", "", "NonFiniteLossError: training loss is nan"],
                           "probe_time_s": 1.0, "probe_energy_kwh": 1e-6,
                           "probe_energy_method": "tdp-estimate"})
    out = advise.rerank_with_probe(table, probes).set_index("model")
    assert out.loc["a", "probed_acc"] == pytest.approx(0.8 - 0.5 * 0.15)
    assert out.loc["b", "probed_acc"] == pytest.approx(0.75 + 0.5 * 0.15)
    # with no majority rate every ok probe counts: the probed go first (b overtakes a), the
    # unprobed d keeps its place, the failed c goes last
    assert out.sort_values("rank").index.tolist() == ["b", "a", "d", "c"]
    assert math.isnan(out.loc["d", "probed_pepr"]) and out.loc["d", "why"] == "cheaper than most"
    assert out.loc["b", "why"].startswith("probe val acc 0.900 +/- 0.030 (n=100) beats the majority "
                                          "class, moved acc. +0.075")
    assert out.loc["c", "why"].startswith("probe failed, ranked last (NonFiniteLossError")
    alone = advise.rerank_with_probe(table, probes.head(1)).set_index("model")
    assert alone.loc["a", "probed_acc"] == pytest.approx(0.8) and alone.loc["a", "rank"] == 1


def test_a_probe_at_the_majority_class_moves_nothing():
    table = candidates(["a", "b", "c", "d"], [0.8, 0.75, 0.7, 0.6], [0.0, 0.0, 0.0, 0.0])
    probes = pd.DataFrame({"model": ["a", "b", "c"], "probe_val_acc": [0.70, 0.72, 0.95],
                           "probe_val_n": 100, "probe_status": "ok", "probe_error": ""})
    out = advise.rerank_with_probe(table, probes, majority=0.70)
    # only c beats 0.70 on 100 images: it goes first; a and b (at or near it) keep their order
    assert out["model"].tolist() == ["c", "a", "b", "d"]
    assert out["probed_acc"].notna().tolist() == [True, False, False, False]
    assert "does not beat the majority class (0.700): kept in place" in out.loc[1, "why"]
    nothing = advise.rerank_with_probe(table, probes.assign(probe_val_acc=0.70), majority=0.70)
    assert nothing["model"].tolist() == table["model"].tolist()  # at the majority: no re-ranking


def test_advice_prints_the_validation_bar(data_dir: Path):
    note = advise.validation_bar_note("breastmnist")
    count, accuracy = verdicts.accuracy_to_beat(78, advise.majority_val_accuracy("breastmnist"))
    assert f"{accuracy:.3f} or more ({count} of 78 validation images" in note
    assert note.startswith("train down the list and keep the first run whose validation accuracy")


def test_probe_lets_data_warnings_through_and_silences_library_noise(monkeypatch):
    import warnings
    from types import SimpleNamespace

    def noisy_run(model, dataset, **kwargs):
        warnings.warn_explicit("no deterministic implementation", UserWarning, "graph.py", 1,
                               module="torch.autograd.graph")
        warnings.warn_explicit("deprecated", FutureWarning, "helpers.py", 1, module="timm.layers")
        warnings.warn("3 of 12 images were converted to RGB", DataWarning)
        return SimpleNamespace(row={"status": "ok", "val_best": 0.5, "error": None,
                                    "energy_kwh": 1e-6, "energy_method": "tdp-estimate"})

    monkeypatch.setattr("pepr.train.run", noisy_run)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        probes = trials.probe_runs(["test_resnet"], [32], "synthetic", progress=False)
    assert probes["probe_val_acc"].tolist() == [0.5]
    assert [(w.category, str(w.message)) for w in caught] == [
        (DataWarning, "3 of 12 images were converted to RGB")]


def test_probe_trains_the_first_candidates_on_the_data():
    models = ["test_resnet", "test_efficientnet", "test_convnext"]
    table = candidates(models, [0.8, 0.7, 0.6], [0.0, 0.0, 0.0], img_size=32)
    advice = advise.Advice(table, fixed_calibration(), table.iloc[:0], ["a note"])
    probed = trials.probe(advice, "synthetic", k=2, data_fraction=0.5, epochs=1, progress=False)
    cost = probed.probe
    assert cost.models == 2 and cost.seconds > 0 and cost.energy_kwh > 0 and cost.energy_method
    assert probed.notes[0] == "a note" and probed.notes[-1].startswith("probe: the first 2")
    labels = registry.split_labels("synthetic")
    majority = np.mean(labels["val"] == np.bincount(labels["train"]).argmax())
    assert advise.majority_val_accuracy("synthetic") == pytest.approx(majority)
    assert f"majority class alone scores {majority:.3f}" in probed.notes[-1]
    assert math.isnan(advise.majority_val_accuracy("synthetic-multilabel"))
    frame = advise.advice_frame(probed)
    assert list(frame.columns) == [*advise.ADVICE_COLUMNS[:-1], *advise.PROBE_COLUMNS, "why"]
    tried = frame[frame["model"].isin(models[:2])]
    assert tried["probe_val_acc"].between(0, 1).all() and (tried["probe_val_n"] == 24).all()
    assert frame.loc[frame["model"] == models[2], "probe_val_acc"].isna().all()
    assert frame["rank"].tolist() == [1, 2, 3]
    with pytest.raises(BadParameterError):
        trials.probe(advice, "synthetic", k=0)


def test_probe_options_in_the_help_match_the_defaults(capsys):
    with pytest.raises(SystemExit):
        cli.main(["advise", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--probe [K]" in text and f"expected accuracy + {defaults.PROBE_WEIGHT:g} x" in text
    assert f"the first K (default {defaults.PROBE_K})" in text
    assert f"with a {defaults.ACCURACY_INTERVAL_NAME} interval" in text
    assert f"trains on (default {defaults.PROBE_FRACTION})" in text
    assert f"epochs of a probe (default {defaults.PROBE_EPOCHS})" in text
    parser = cli.build_parser()
    assert parser.parse_args(["advise", "--dataset", "x", "--probe"]).probe == defaults.PROBE_K
    assert parser.parse_args(["advise", "--dataset", "x", "--probe", "3"]).probe == 3
    assert parser.parse_args(["advise", "--dataset", "x"]).probe == 0
    assert defaults.PROBE_WEIGHT == 0.5
    assert cli.main(["advise", "--dataset", "breastmnist", "--probe", "-1"]) == 2
    assert capsys.readouterr().err.startswith("pepr advise: error: --probe must be 0 or more")


@pytest.mark.slow  # trains two zoo models (about 25 s on a shared 2-core machine)
def test_advise_command_probes_and_reports_the_cost(monkeypatch, capsys, data_dir: Path):
    monkeypatch.setattr(trials, "calibrate", lambda *args, **kwargs: fixed_calibration())
    assert cli.main(["advise", "--dataset", "synthetic", "--top", "3", "--probe", "2",
                     "--probe-fraction", "0.5", "--probe-epochs", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "probe acc." in out and "probed PePR" in out and out.count("probe val acc") == 2
    assert "- probe: the first 2 models trained for 1 epoch on 50% of the training split in" in out


def test_expected_accuracy_is_anchored_to_the_datasets_own_baseline():
    sources = pd.DataFrame({
        "study": "s", "setting": ["a", "a", "b", "b"], "dataset": ["x", "x", "y", "y"],
        "model": ["m1", "m2", "m1", "m2"], "test_acc": [0.8, 0.6, 0.9, 0.5],
        "baseline_acc": [0.6, 0.6, 0.5, 0.5]})
    # m1's skills: 0.5 on a, 0.8 on b; m2: 0 and 0. On a dataset whose majority rate is 0.4:
    table = advise.expected_accuracy_from_baseline(sources, 0.4, low=0.0, high=1.0).set_index("model")
    assert table.loc["m1", "expected_acc"] == pytest.approx(0.4 + 0.6 * 0.65)
    assert table.loc["m2", "expected_acc"] == pytest.approx(0.4)  # a guesser elsewhere
    assert (table.loc["m1", "expected_acc_low"], table.loc["m1", "expected_acc_high"]) == pytest.approx(
        (0.4 + 0.6 * 0.5, 0.4 + 0.6 * 0.8))
    left = advise.expected_accuracy_from_baseline(sources, 0.4, leave_out_dataset="y")
    assert set(left["settings"]) == {1}


def test_a_users_own_data_keeps_its_image_size(tmp_path: Path):
    from pepr.data import images

    own = images.ImageDatasetInfo(name="npz:/x.npz", kind="npz", task="multi-class", num_classes=3,
                                  in_chans=1, class_names=("a", "b", "c"), source="/x.npz", sizes=(32,))
    assert advise.native_size(own) == 32
    medmnist = registry.get_dataset_info("breastmnist")
    assert advise.native_size(medmnist) is None  # MedMNIST runs take each model's smallest input
    reference = pd.DataFrame({"model": ["small", "large"], "img_size": [28, 64],
                              "reference_s_per_image": [1e-3, 1e-2], "reference_mem_gb": [0.1, 0.2]})
    costs = advise.predict_costs(reference, fixed_calibration(), {"train": 10, "val": 2, "test": 2},
                                 epochs=1, img_size=advise.native_size(own))
    assert costs["run_img_size"].tolist() == [32, 64]  # the data's own size, or the model's smallest
