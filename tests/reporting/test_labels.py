"""Tests for pepr.reporting.labels: the names of an agreement panel never hide one another."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from itertools import combinations  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from pepr.reporting import labels, plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    plots.set_style()
    yield
    plt.close("all")


def cluster(n: int = 18) -> pd.DataFrame:
    """``n`` models with long names measured nearly alike: a block of names when drawn naively."""
    rng = np.random.default_rng(5)
    release = 0.9 + rng.uniform(-0.02, 0.02, n)
    return pd.DataFrame({"model": [f"efficientnet_b{i}_long_name" for i in range(n)], "release": release,
                         "ours": release - 0.1 + rng.uniform(-0.02, 0.02, n)})


def names_and_boxes(ax):
    renderer = ax.figure.canvas.get_renderer()
    names = [text for text in ax.texts if text.get_text()]
    return names, [labels.text_box(name, renderer) for name in names]


def test_names_of_a_cluster_do_not_overlap_once_arranged():
    frame = cluster()
    for fig in (plots.labelled_agreement(frame, "release", "ours"),
                plots.agreement_panels({"one": frame, "two": frame.head(9)}, "release", "ours")):
        for ax in fig.axes:
            names, boxes = names_and_boxes(ax)
            assert names and all(not labels.overlap(a, b, pad_px=0) for a, b in combinations(boxes, 2))


def test_a_cluster_drawn_without_arranging_does_overlap():
    """The test above is not trivially true: the same names at their first places collide."""
    frame = cluster()
    fig, ax = plt.subplots(figsize=(6.4, 5.4))
    ax.scatter(frame["release"], frame["ours"], s=25)
    for _, row in frame.iterrows():
        ax.annotate(row["model"], (row["release"], row["ours"]), xytext=(3, 0), textcoords="offset points",
                    fontsize=8, va="center")
    _, boxes = names_and_boxes(ax)
    assert any(labels.overlap(a, b, pad_px=0) for a, b in combinations(boxes, 2))


def test_a_lone_name_stays_beside_its_point_without_a_leader():
    frame = pd.DataFrame({"model": ["only"], "release": [0.8], "ours": [0.7]})
    ax = plots.labelled_agreement(frame, "release", "ours").axes[0]
    name, = ax.texts
    assert name.xyann == (3, 0) and name.get_horizontalalignment() == "left"


def test_a_name_moved_away_from_its_point_gets_a_leader():
    frame = cluster()
    ax = plots.labelled_agreement(frame, "release", "ours").axes[0]
    names, boxes = names_and_boxes(ax)
    leaders = [text for text in ax.texts if not text.get_text()]
    far = []
    for name, box in zip(names, boxes):
        point = ax.transData.transform(name.xy)
        edge = np.clip(point, [box.x0, box.y0], [box.x1, box.y1])
        if np.hypot(*(edge - point)) * 72 / ax.figure.dpi > labels.LEADER_FROM_PT:
            far.append(name.xy)
    assert far and sorted(far) == sorted(leader.xy for leader in leaders)


def test_places_try_the_preferred_side_first_then_the_other():
    right, left = labels.places(False), labels.places(True)
    assert right[0][2] == "left" and right[1][2] == "right"
    assert left[0][2] == "right" and left[1][2] == "left"
    assert len(set(right)) == len(right) == len(left)
