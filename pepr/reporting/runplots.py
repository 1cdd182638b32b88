"""Figures of one run for ``notebooks/train.ipynb``: learning curves, confusion matrix, resources.

Each function takes tidy data (the run's epoch rows, its confusion counts, its meter report) and
returns a matplotlib Figure; the notebook only composes them. Figures are made without pyplot
(``matplotlib.figure.Figure``, imported when a figure is drawn, rendered by
:func:`pepr.reporting.book.show`), so a run's kernel pays for matplotlib only when it draws.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pepr.reporting.styles import whole_number_ticks

if TYPE_CHECKING:
    from matplotlib.figure import Figure


#: One colour per split in every panel.
SPLIT_COLOURS = {"train": "C0", "val": "C1", "test": "C2"}


def learning_curves(epochs: pd.DataFrame | Sequence[Mapping[str, object]],
                    metrics: Sequence[str] = ("loss", "acc")) -> Figure:
    """Loss and accuracy per epoch, one line per split (train, val, test)."""
    from matplotlib.figure import Figure

    frame = pd.DataFrame(epochs)
    fig = Figure(figsize=(4.5 * len(metrics), 3.2))
    axes = fig.subplots(1, len(metrics), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        rows = frame[frame["metric"] == metric]
        for split, group in rows.groupby("split", sort=False):
            group = group.sort_values("epoch")
            style = "o" if len(group) == 1 else "-o"
            ax.plot(group["epoch"], group["value"], style, label=split, markersize=3,
                    color=SPLIT_COLOURS.get(str(split)))
        ax.set_xlabel("epoch (0-based)")
        whole_number_ticks(ax.xaxis)  # no epoch 2.5
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def confusion(counts: np.ndarray, class_names: Sequence[str] = ()) -> Figure:
    """The test split's confusion matrix (rows: true class, columns: predicted)."""
    from matplotlib.figure import Figure

    counts = np.asarray(counts)
    names = list(class_names) or [str(i) for i in range(len(counts))]
    fig = Figure(figsize=(1.0 + 0.6 * len(names), 0.8 + 0.6 * len(names)))
    ax = fig.subplots()
    ax.imshow(counts, cmap="Blues")
    for (i, j), value in np.ndenumerate(counts):
        ax.text(j, i, str(value), ha="center", va="center",
                color="white" if value > counts.max() / 2 else "black")
    short = [name[:14] for name in names]
    ax.set_xticks(range(len(names)), short, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), short)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.tight_layout()
    return fig


def resources(report: Mapping[str, object]) -> pd.DataFrame:
    """The meter's figures as a two-column table (value, how it was obtained)."""
    provenance = {
        "energy_kwh": report.get("energy_method"),
        "co2_g": report.get("intensity_source"),
        "peak_mem_gb": report.get("mem_kind"),
        "train_time_s": report.get("train_time_scope"),
        "infer_time_s": "forward pass over the test split",
        "pue": "applied to energy_kwh",
        "meter_overhead_pct": "meter's own time / run wall time",
    }
    rows = [{"quantity": key, "value": report.get(key), "provenance": note}
            for key, note in provenance.items()]
    rows.append({"quantity": "energy_detail", "value": "", "provenance": report.get("energy_detail")})
    return pd.DataFrame(rows)


def epoch_times(report: Mapping[str, object]) -> Figure:
    """Wall time of each training epoch."""
    from matplotlib.figure import Figure

    times = list(report.get("epoch_times_s", []))
    fig = Figure(figsize=(4.5, 2.8))
    ax = fig.subplots()
    ax.bar(range(len(times)), times)
    ax.set_xlabel("epoch (0-based)")
    whole_number_ticks(ax.xaxis)  # one bar per epoch: no epoch 2.5
    ax.set_ylabel("train time (s)")
    fig.tight_layout()
    return fig
