"""Figures of one run: each helper returns a Figure (or a table) built from tidy data."""

from __future__ import annotations

import numpy as np

from pepr.reporting import runplots


def _history():
    rows = []
    for epoch in range(3):
        for split in ("train", "val"):
            rows.append({"epoch": epoch, "split": split, "metric": "loss", "value": 1 / (epoch + 1)})
            rows.append({"epoch": epoch, "split": split, "metric": "acc", "value": 0.5 + epoch / 10})
    rows.append({"epoch": 2, "split": "test", "metric": "acc", "value": 0.7})
    return rows


def test_learning_curves_draw_one_line_per_split_and_metric():
    figure = runplots.learning_curves(_history(), metrics=("loss", "acc"))
    loss_axis, acc_axis = figure.axes
    assert [line.get_label() for line in loss_axis.lines] == ["train", "val"]
    assert [line.get_label() for line in acc_axis.lines] == ["train", "val", "test"]
    assert list(acc_axis.lines[0].get_ydata()) == [0.5, 0.6, 0.7]


def test_confusion_annotates_every_cell():
    figure = runplots.confusion(np.array([[3, 1], [0, 4]]), ["normal", "pneumonia"])
    texts = sorted(text.get_text() for text in figure.axes[0].texts)
    assert texts == ["0", "1", "3", "4"]


def test_resources_table_keeps_provenance():
    report = {"energy_kwh": 0.01, "energy_method": "tdp-estimate", "mem_kind": "cpu-rss",
              "intensity_source": "x", "train_time_scope": "run", "energy_detail": "estimate",
              "epoch_times_s": [1.0, 2.0]}
    table = runplots.resources(report)
    assert table.set_index("quantity").loc["energy_kwh", "provenance"] == "tdp-estimate"
    assert len(runplots.epoch_times(report).axes[0].patches) == 2


def test_a_runs_figures_are_drawn_without_importing_pyplot():
    import subprocess
    import sys

    code = ("import sys; from pepr import runplots; from pepr.reporting.book import show; "
            "show(runplots.confusion([[3, 1], [0, 4]])); "
            "print('matplotlib.pyplot' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "False"
