"""The training loop: task-aware metrics, the run row's schema, selection, failures, seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pepr.core.errors import BadParameterError, UnknownModelError
from pepr.data import registry
from pepr.scoring import verdicts
from pepr.store import results
from pepr.training import nets, train


def test_binary_metrics_match_hand_computed_values():
    y = np.array([0, 0, 1, 1])
    scores = np.array([[0.9, 0.1], [0.4, 0.6], [0.35, 0.65], [0.2, 0.8]])
    metrics = train.task_metrics("binary-class", y, scores)
    assert metrics["acc"] == pytest.approx(0.75)
    assert metrics["balanced_acc"] == pytest.approx(0.75)
    assert metrics["auc"] == pytest.approx(1.0)  # positives score 0.65, 0.8 > negatives 0.1, 0.6


def test_multiclass_auc_is_one_vs_rest_and_nan_when_undefined():
    y = np.array([0, 1, 2, 2])
    scores = np.eye(3)[[0, 1, 2, 1]] * 0.8 + 0.2 / 3
    metrics = train.task_metrics("multi-class", y, scores)
    assert metrics["acc"] == pytest.approx(0.75)
    assert metrics["balanced_acc"] == pytest.approx((1 + 1 + 0.5) / 3)
    assert 0.5 < metrics["auc"] < 1.0
    one_class = train.task_metrics("binary-class", np.array([1, 1]), np.array([[0.2, 0.8]] * 2))
    assert math.isnan(one_class["auc"])


def test_multilabel_metrics_average_over_labels_like_medmnist():
    y = np.array([[1, 0], [0, 1], [1, 1]])
    scores = np.array([[0.9, 0.2], [0.6, 0.7], [0.8, 0.4]])
    metrics = train.task_metrics("multi-label, binary-class", y, scores)
    assert metrics["acc"] == pytest.approx((2 / 3 + 2 / 3) / 2)


def test_majority_class_and_confusion():
    assert verdicts.majority_rate(np.array([1, 0, 1, 1]), reference=np.array([1, 1, 0])) == 0.75
    assert verdicts.majority_rate(np.array([0, 0, 1, 1]), reference=np.array([1, 1, 0])) == 0.5
    counts = train.confusion_matrix(np.array([0, 1, 1]), np.array([0, 0, 1]), 2)
    assert counts.tolist() == [[1, 0], [1, 1]]


@pytest.fixture(scope="module")
def synthetic_run():
    return train.run("test_resnet", "synthetic", epochs=3, seed=3, study="unit")


def test_run_row_follows_the_schema_and_protocol(synthetic_run):
    row = synthetic_run.row
    assert list(row) == results.RUN_COLUMNS
    assert row["status"] == "ok", row["error"]
    assert row["run_id"] == results.run_id(row)
    assert row["setting"] == results.setting_label("synthetic", False, 1.0)
    assert (row["batch_size"], row["optimizer"], row["lr"]) == (32, "adam", 5e-4)
    assert 0 <= row["test_acc"] <= 1 and 0 <= row["test_acc_selected"] <= 1
    assert row["val_metric"] == "acc" and row["selected_epoch"] in (0, 1, 2)
    assert row["num_params"] > 0 and row["flops_per_image"] > 0
    assert row["train_time_s"] > 0 and row["train_time_scope"] == "run"
    assert row["energy_method"] and row["energy_kwh"] > 0 and row["infer_time_s"] > 0
    assert row["hardware"] and row["torch_version"] == torch.__version__ and row["started_at"]


def test_history_rows_cover_every_epoch_and_split(synthetic_run):
    history = synthetic_run.epochs
    assert all(set(h) == set(results.EPOCH_COLUMNS) for h in history)
    train_losses = [h for h in history if h["split"] == "train" and h["metric"] == "loss"]
    assert [h["epoch"] for h in train_losses] == [0, 1, 2]
    assert {h["metric"] for h in history if h["split"] == "val"} >= {"loss", "acc", "auc"}
    test_acc = [h["value"] for h in history if h["split"] == "test" and h["metric"] == "acc"]
    assert test_acc == [synthetic_run.row["test_acc"]]
    test_split = registry.get_dataset_info("synthetic").n_samples["test"]
    assert synthetic_run.confusion.sum() == test_split


def test_same_seed_same_run(synthetic_run):
    again = train.run("test_resnet", "synthetic", epochs=3, seed=3, study="unit")
    loss = lambda r: [h["value"] for h in r.epochs if h["split"] == "train" and h["metric"] == "loss"]
    assert loss(again) == pytest.approx(loss(synthetic_run), rel=1e-5)
    assert again.row["test_acc"] == synthetic_run.row["test_acc"]


def test_nan_loss_ends_the_run_as_failed(monkeypatch):
    monkeypatch.setattr(train, "loss_function",
                        lambda task: lambda logits, y: logits.sum() * float("nan"))
    outcome = train.run("test_resnet", "synthetic", epochs=2)
    assert outcome.row["status"] == "failed"
    assert "NonFiniteLossError" in outcome.row["error"]
    assert outcome.row["energy_kwh"] > 0  # the meter still reports what the failed run used


def test_model_that_cannot_take_the_input_fails_the_run():
    outcome = train.run("convnext_atto", "synthetic", epochs=1, img_size=28)
    assert outcome.row["status"] == "failed"
    assert "IncompatibleInputError" in outcome.row["error"]


def test_user_mistakes_raise_before_anything_runs():
    with pytest.raises(UnknownModelError):
        train.run("no_such_model_xyz", "synthetic", epochs=1)
    with pytest.raises(BadParameterError):
        train.run("test_resnet", "synthetic", epochs=0)


def test_a_checkpoint_given_as_a_path_is_loaded_not_fetched(tmp_path, monkeypatch):

    net = nets.create_model("test_resnet", num_classes=2, in_chans=1, img_size=28)
    checkpoint = tmp_path / "start.pt"
    torch.save(net.state_dict(), checkpoint)
    monkeypatch.setattr(nets, "_hub_overlay", lambda *a: pytest.fail("asked the hub"))
    outcome = train.run("test_resnet", "synthetic", epochs=1, img_size=28, pretrained=checkpoint)
    assert outcome.row["status"] == "ok", outcome.row["error"]
    assert outcome.row["pretrained"] == str(checkpoint.resolve())


def test_the_row_says_which_parameters_threads_and_data(synthetic_run):

    row = synthetic_run.row
    assert row["threads"] == torch.get_num_threads() == 1
    assert row["num_params_trained"] > 0
    assert row["num_params"] == nets.get_model_info("test_resnet")["num_params"]
    assert row["num_params"] != row["num_params_trained"]  # 1000 ImageNet classes vs 2
    assert "synthetic" in row["data_summary"] and "\n" not in row["data_summary"]
    assert 0 <= row["run_mem_gb"] <= row["peak_mem_gb"]



def test_memory_format_rule_and_fused_optimizer():
    import timm

    grouped = timm.create_model("test_efficientnet", num_classes=2)
    plain = timm.create_model("test_resnet", num_classes=2)
    assert train.choose_memory_format(grouped) == torch.channels_last
    assert train.choose_memory_format(plain) == torch.contiguous_format
    assert train.choose_memory_format(plain, "channels_last") == torch.channels_last
    with pytest.raises(BadParameterError):
        train.choose_memory_format(plain, "sideways")
    optimizer = train.make_optimizer("adam", plain.parameters(), 5e-4)
    assert optimizer.defaults["fused"] is True and optimizer.defaults["lr"] == 5e-4


def test_run_crops_dead_taps_without_changing_the_training():
    cropped = train.run("test_resnet", "synthetic", epochs=1, seed=1, study="unit")
    whole = train.run("test_resnet", "synthetic", epochs=1, seed=1, study="unit",
                      crop_kernels=False)
    assert cropped.crop_report.convs > 0 and whole.crop_report is None
    val_loss = [[row["value"] for row in outcome.epochs
                 if (row["split"], row["metric"]) == ("val", "loss")]
                for outcome in (cropped, whole)]
    assert val_loss[0] == pytest.approx(val_loss[1], rel=1e-3)


@pytest.mark.parametrize("task, classes", [("binary-class", 2), ("multi-class", 4),
                                            ("multi-label, binary-class", 3)])
def test_metrics_agree_with_scikit_learn(task, classes):
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    rng = np.random.default_rng(7)
    n = 200
    # each score row twice: ties, which the AUC must count half
    scores = np.tile(rng.dirichlet(np.ones(classes), size=n // 2), (2, 1))
    if train.is_multi_label(task):
        y = rng.integers(0, 2, size=(n, classes))
        scores = np.round(rng.random((n, classes)), 1)
        expected_auc = np.mean([roc_auc_score(y[:, i], scores[:, i]) for i in range(classes)])
        expected_bal = np.mean([balanced_accuracy_score(y[:, i], scores[:, i] > 0.5)
                                for i in range(classes)])
    else:
        y = rng.integers(0, classes, size=n)
        expected_bal = balanced_accuracy_score(y, scores.argmax(1))
        expected_auc = (roc_auc_score(y, scores[:, 1]) if classes == 2 else
                        roc_auc_score(y, scores, multi_class="ovr", average="macro"))
    metrics = train.task_metrics(task, y, scores)
    assert metrics["auc"] == pytest.approx(expected_auc, abs=1e-12)
    assert metrics["balanced_acc"] == pytest.approx(expected_bal, abs=1e-12)


def test_multiclass_auc_is_undefined_when_a_class_is_absent():
    scores = np.full((4, 3), 1 / 3)
    assert math.isnan(train.task_metrics("multi-class", np.array([0, 1, 0, 1]), scores)["auc"])
