"""Tests for pepr.plots: each helper returns a Figure drawn from the frame it is given."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from pepr import plots, score  # noqa: E402
from pepr.errors import BadParameterError  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    plots.set_style()  # the book's fonts, as its chapters draw them
    yield
    plt.close("all")


def runs() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 12
    return pd.DataFrame({
        "model": [f"m{i % 6}" for i in range(n)],
        "setting": ["s1"] * 6 + ["s2"] * 6,
        "num_params": np.tile([1e6, 2e6, 5e6, 1e7, 3e7, 1e8], 2),
        "efficient": np.tile([1, 1, 0, 0, 1, 0], 2),
        "test_acc": rng.uniform(0.5, 0.9, n),
        "energy_kwh": rng.uniform(0.1, 1.0, n),
        "co2_g": rng.uniform(1, 10, n),
        "train_time_s": rng.uniform(1, 100, n),
        "peak_mem_gb": rng.uniform(1, 8, n),
    })


def test_publications_bars_one_bar_per_region_and_year():
    frame = pd.DataFrame({"region": ["A", "B", "A", "B"], "year": ["2013", "2013", "2022", "2022"],
                          "papers_per_million": [1.0, 10.0, 2.0, 20.0]})
    fig = plots.publications_bars(frame)
    ax = fig.axes[0]
    assert len(ax.patches) >= 4
    assert ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["B", "A"]  # ordered by rate


def test_iso_pepr_contour_draws_points_when_given():
    fig = plots.iso_pepr_contour(points=pd.DataFrame({"R": [0.1, 0.5], "P": [0.8, 0.6]}))
    assert fig.axes[0].get_xlabel().startswith("Normalised resource")
    offsets = [c.get_offsets() for c in fig.axes[0].collections if hasattr(c, "get_offsets")]
    assert any(len(o) == 2 for o in offsets)


def test_vs_params_one_panel_per_column_on_log_axis():
    fig = plots.vs_params(score.add_pepr(runs()), ["test_acc", "pepr_e", "pepr_m"], ncols=2)
    visible = [ax for ax in fig.axes if ax.get_visible() and ax.get_xlabel()]
    assert len(visible) == 3
    assert all(ax.get_xscale() == "log" for ax in visible)
    with pytest.raises(BadParameterError):
        plots.vs_params(runs(), "no_such_column")


def test_paired_arms_needs_two_arms_and_draws_one_line_per_pair():
    frame = runs().assign(arm=lambda d: d["setting"])
    fig = plots.paired_arms(frame, arm="arm", value="test_acc")
    assert len(fig.axes[0].lines) == 6  # six models in both arms
    with pytest.raises(BadParameterError):
        plots.paired_arms(frame.assign(arm=["a", "b", "c"] * 4), arm="arm", value="test_acc")


def test_attachment_comparison_two_panels():
    frame = runs().iloc[:6].assign(drawn=[1, 0, 0, 0, 1, 1], true=[1, 1, 0, 0, 1, 0])
    fig = plots.attachment_comparison(frame, drawn="drawn", true="true")
    assert len(fig.axes) == 2
    assert "position" in fig.axes[0].get_title()


def test_overlap_heatmap_and_threshold_sweep():
    overlap = pd.DataFrame({"variant": ["a", "a", "b", "b"], "setting": ["s1", "s2", "s1", "s2"], "kept": [5, 4, 3, 2]})
    fig = plots.overlap_heatmap(overlap)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert sorted(texts) == ["2", "3", "4", "5"]
    sweep = pd.DataFrame({"threshold": [1e6, 1e7], "x": [0.1, 0.5], "y": [0.2, 0.3]})
    fig = plots.threshold_sweep(sweep, {"x": "share x", "y": "share y"})
    assert fig.axes[0].get_xscale() == "log"


def test_ranking_explorer_has_menus_and_embeds_plotly_offline():
    scored = score.add_pepr(runs())
    fig = plots.ranking_explorer(scored, {"energy": "e", "memory": "m"})
    menus = fig.layout.updatemenus
    assert [len(m.buttons) for m in menus] == [2, 2]  # two settings, two resources
    markers = [t for t in fig.data if t.mode == "markers"]
    assert [t.name for t in markers] == ["s1", "s2"]
    assert list(markers[0].text) == list(scored[scored.setting == "s1"]["model"])  # hover names
    energy = menus[1].buttons[0].args[0]
    assert [list(t.x) for t in markers] == energy["x"]  # the first resource is the one drawn at first
    html = plots.embed_plotly(fig)
    assert 'src="https://cdn.plot.ly' not in html
    assert len(html) > 1_000_000  # plotly.js itself is inlined


def test_epoch_curves_one_line_per_model():
    epochs = pd.DataFrame({
        "model": ["a"] * 3 + ["b"] * 3 + ["a"], "epoch": [0, 1, 2, 0, 1, 2, 2],
        "split": ["val"] * 6 + ["test"], "metric": ["acc"] * 7, "value": [0.5, 0.6, 0.7, 0.4, 0.5, 0.9, 0.1],
    })
    fig = plots.epoch_curves(epochs)
    lines = [line for line in fig.axes[0].get_lines() if len(line.get_xdata()) == 3]
    assert len(lines) == 2
    assert max(max(line.get_ydata()) for line in lines) == 0.9  # the test row is not drawn
    with pytest.raises(BadParameterError):
        plots.epoch_curves(epochs, metric="auc")


def test_labelled_agreement_names_every_point_over_the_diagonal():
    frame = runs().iloc[:6].assign(other=lambda d: d["test_acc"] - 0.05)
    fig = plots.labelled_agreement(frame, "test_acc", "other")
    ax = fig.axes[0]
    assert len(ax.texts) == 6 and len(ax.lines) == 1
    assert ax.get_xlabel() == "test_acc"
    with pytest.raises(BadParameterError):
        plots.labelled_agreement(frame, "test_acc", "no_such_column")


def epochs_of(models: int, settings: tuple[str, ...] = ("a", "b")) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    return pd.DataFrame([{"model": f"model_{m:02d}", "epoch": e, "split": "val", "metric": "acc",
                          "value": rng.uniform(0.5, 0.9), "setting": s}
                         for m in range(models) for e in range(10) for s in settings])


def every_figure() -> dict[str, plt.Figure]:
    """One figure from each matplotlib helper, drawn as the chapters draw them."""
    scored = score.add_pepr(runs())
    settings = ["derma", "derma_pt", "derma_small", "derma_smallest", "lidc", "lidc_small", "pneumonia", "pneumonia_small"]
    overlap = pd.DataFrame([{"variant": f"PePR-{v} (per setting)", "setting": s, "kept": 3}
                            for v in "ECTM" for s in settings])
    narrow = scored[scored["num_params"] < 2e7]
    return {
        "publications_bars": plots.publications_bars(pd.DataFrame({
            "region": ["Sub-Saharan Africa", "North America"] * 2, "year": ["2013", "2013", "2023", "2023"],
            "papers_per_million": [1.0, 10.0, 2.0, 20.0]})),
        "iso_pepr_contour": plots.iso_pepr_contour(points=pd.DataFrame({"R": [0.1], "P": [0.8]})),
        "vs_params one": plots.vs_params(scored, "energy_kwh"),
        "vs_params two": plots.vs_params(scored, ["test_acc", "pepr_e"]),
        "vs_params three": plots.vs_params(scored, ["pepr_c", "pepr_m", "pepr_t"]),
        "vs_params eight": plots.vs_params(scored, ["test_acc", "pepr_e", "pepr_c", "pepr_m", "pepr_t", "E_n", "C_n", "T_n"],
                                           ncols=2, sharey=False),
        "paired_arms": plots.paired_arms(scored.assign(arm=scored["setting"]), "arm", "test_acc"),
        "attachment_comparison": plots.attachment_comparison(
            scored.assign(drawn=scored["efficient"], true=1 - scored["efficient"]), "drawn", "true"),
        "overlap_heatmap": plots.overlap_heatmap(overlap),
        "threshold_sweep": plots.threshold_sweep(pd.DataFrame({"threshold": [1e6, 1e7, 1e8], "x": [0.1, 0.2, 0.3]}),
                                                 {"x": "share of top-5 places held by small models"}),
        "labelled_agreement": plots.labelled_agreement(scored.assign(other=scored["test_acc"] - 0.05), "test_acc", "other"),
        "epoch_curves": plots.epoch_curves(epochs_of(12, ("a",))),
        "against_size": plots.against_size(narrow, "num_params", ["test_acc", "pepr_e"], narrow["test_acc"] > 0.6,
                                           "parameters"),
        "curves_by_model": plots.curves_by_model(epochs_of(20)),
    }


def test_every_panel_has_a_y_label_or_a_title():
    for name, fig in every_figure().items():
        assert plots.unlabelled_panels(fig) == [], name


def test_unlabelled_panels_sees_a_label_that_a_shared_axis_hid():
    fig, axes = plt.subplots(1, 2, sharey=True)
    for ax, label in zip(axes, ["left", "right"]):
        ax.plot([0, 1], [0, 1])
        ax.set_ylabel(label)
    assert plots.unlabelled_panels(fig) == []
    axes[1].yaxis.label.set_visible(False)  # what seaborn does where a shared axis hides the tick labels
    assert plots.unlabelled_panels(fig) == [axes[1]]
    axes[1].set_title("right")
    assert plots.unlabelled_panels(fig) == []


def test_fonts_stay_legible_at_the_page_width():
    for name, fig in every_figure().items():
        assert plots.smallest_font_at_page_width(fig) >= plots.MIN_FONT_PT, name


def test_smallest_font_scales_a_wide_figure_down_to_the_page():
    wide, ax = plt.subplots(figsize=(2 * plots.PAGE_WIDTH_IN, 3))
    ax.set_ylabel("y", fontsize=12)
    ax.tick_params(labelsize=12)
    shown = plots.shown_width_in(wide)
    assert shown > plots.PAGE_WIDTH_IN
    assert plots.smallest_font_at_page_width(wide) == pytest.approx(12 * plots.PAGE_WIDTH_IN / shown)
    narrow, ax = plt.subplots(figsize=(plots.PAGE_WIDTH_IN / 2, 3))
    ax.tick_params(labelsize=7)
    assert plots.smallest_font_at_page_width(narrow) == pytest.approx(7)  # never scaled up


def test_a_short_log_axis_gets_at_least_three_labelled_ticks():
    frame = runs()
    narrow = frame[frame["num_params"] <= 1e7]  # one decade: 1 M and 10 M alone would be two ticks
    fig = plots.vs_params(narrow, "test_acc")
    ax = fig.axes[0]
    fig.canvas.draw()
    low, high = ax.get_xlim()
    labels = [t.get_text() for t, x in zip(ax.get_xticklabels(), ax.get_xticks()) if low <= x <= high and t.get_text()]
    assert len(labels) >= 3, labels
