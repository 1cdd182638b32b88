"""Tests for pepr.plots: each helper returns a Figure drawn from the frame it is given."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from pepr.core.errors import BadParameterError  # noqa: E402
from pepr.reporting import plots  # noqa: E402
from pepr.scoring import score


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
    reordered = plots.overlap_heatmap(overlap, settings=["s2", "s1"])
    assert [t.get_text() for t in reordered.axes[0].get_xticklabels()] == ["s2", "s1"]
    sweep = pd.DataFrame({"threshold": [1e6, 1e7], "x": [0.1, 0.5], "y": [0.2, 0.3], "z": [0.7, 0.6]})
    fig = plots.threshold_sweep(sweep, {"share": {"x": "share x", "y": "share y"}, "median": {"z": "median z"}},
                                mark=3e6)
    assert len(fig.axes) == 2 and all(ax.get_xscale() == "log" for ax in fig.axes)
    assert [ax.get_ylabel() for ax in fig.axes] == ["share", "median"]
    lines = [line for ax in fig.axes for line in ax.get_lines() if line.get_label() in {"share x", "share y", "median z"}]
    assert len({line.get_marker() for line in lines}) == 3  # no two series share a marker
    assert len({tuple(line.get_color()) for line in lines}) == 3  # nor a colour


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


def test_explorer_hover_shows_the_raw_resource_in_its_unit_and_switches_with_the_menu():
    scored = score.add_pepr(runs())
    fig = plots.ranking_explorer(scored, {"energy": "e", "training time": "t"})
    first = next(t for t in fig.data if t.mode == "markers")
    row = scored[scored.setting == "s1"].iloc[0]
    assert first.customdata[0][1] == plots.quantity_text(row["energy_kwh"], "kWh")
    assert first.customdata[0][1].endswith(" kWh") and "energy: %{customdata[1]}" in first.hovertemplate
    time_args = fig.layout.updatemenus[1].buttons[1].args[0]
    assert time_args["customdata"][0][0][1].endswith(" s")
    assert all(t.startswith("<b>%{text}</b><br>training time: ") for t in time_args["hovertemplate"])


def test_explorer_labels_every_iso_pepr_line_inside_the_square_and_stacks_its_menus():
    fig = plots.ranking_explorer(score.add_pepr(runs()), {"energy": "e"})
    lines = [t for t in fig.data if t.mode == "lines"]
    labels = [a for a in fig.layout.annotations if a.xref == "x"]
    assert sorted(a.text for a in labels) == [f"{level / 10:.1f}" for level in range(1, 10)]
    for label in labels:  # each label sits on (the end of) its own line, inside the unit square
        level = float(label.text)
        assert 0 <= label.x <= 1 and 0 <= label.y <= 1
        assert label.y == pytest.approx(level * (1 + label.x), abs=0.02)
    assert len(lines) == 9 and all(max(t.y) <= 1 + 1e-9 for t in lines)
    upper, lower = fig.layout.updatemenus
    assert upper.x == lower.x and upper.y > lower.y and upper.yanchor == lower.yanchor == "top"


def test_quantity_text_and_units():
    assert plots.resource_unit("energy_kwh") == "kWh" and plots.resource_unit("peak_mem_gb") == "GB"
    assert plots.resource_unit("train_time_s") == "s" and plots.resource_unit("num_params") == ""
    assert plots.quantity_text(0.012345, "kWh") == "0.0123 kWh"
    assert plots.quantity_text(12345.6, "s") == "12,346 s"
    assert plots.quantity_text(float("nan"), "s") == "–"


def test_iso_line_end_is_where_the_line_leaves_the_unit_square():
    assert plots.iso_line_end(0.25) == 1.0  # P = 0.25 (1 + R) reaches R = 1 at P = 0.5
    assert plots.iso_line_end(0.5) == 1.0  # the corner (1, 1)
    assert plots.iso_line_end(0.8) == pytest.approx(0.25)  # P = 1 at R = 0.25
    assert plots.iso_line_end(0.8, top=0.9) == pytest.approx(0.125)
    positions = plots.iso_pepr_label_positions([0.3, 0.8])
    assert positions[0]["x"] < 1 and positions[1]["x"] == pytest.approx(0.25 + 0.01)
    assert [x for x, _ in plots.iso_label_points([0.3, 0.8], across=0.55)] == pytest.approx([0.55, 0.95 / 0.8 - 1])


def test_explorer_hover_shows_a_dash_for_an_unknown_size():
    scored = score.add_pepr(runs())
    scored.loc[scored.index[0], "num_params"] = float("nan")
    fig = plots.ranking_explorer(scored, {"energy": "e"}, hover=("num_params",))
    first = next(t for t in fig.data if t.mode == "markers")
    assert first.customdata[0][2] == "–"
    assert plots.hover_text(26309272) == "26,309,272" and plots.hover_text("cnn") == "cnn"
    assert plots.hover_text(None) == "–"


def test_iso_contour_labels_every_inner_level_inside_the_square():
    fig = plots.iso_pepr_contour()
    ax = fig.axes[0]
    labels = {t.get_text(): t.get_position() for t in ax.texts}
    assert sorted(labels) == [f"{level / 10:.2f}" for level in range(1, 10)]
    assert all(0 < x < 1 and 0 < y < 1 for x, y in labels.values())


def test_agreement_panels_one_titled_panel_per_pair():
    frame = runs().iloc[:6].assign(other=lambda d: d["test_acc"] - 0.05)
    fig = plots.agreement_panels({"first": frame, "second": frame.iloc[:4]}, "test_acc", "other",
                                 ylabels={"first": "ours", "second": "ours"})
    assert [ax.get_title() for ax in fig.axes] == ["first", "second"]
    assert [len(ax.texts) for ax in fig.axes] == [6, 4]
    assert fig.axes[0].get_ylabel() == "ours" and fig.axes[0].get_xlabel() == "test_acc"
    with pytest.raises(BadParameterError):
        plots.agreement_panels({}, "test_acc", "other")


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


def backtest_predictions() -> pd.DataFrame:
    """Predictions beside measurements for two held-out settings, as pepr.backtest.backtest has them."""
    rng = np.random.default_rng(2)
    measured = rng.uniform(10, 1000, 20)
    accuracy = rng.uniform(0.6, 0.9, 20)
    return pd.DataFrame({"setting": ["breastmnist"] * 10 + ["pneumoniamnist_f0.1"] * 10,
                         "train_time_s": measured, "predicted_time_s": measured * rng.uniform(0.8, 1.3, 20),
                         "test_acc": accuracy, "expected_acc": 0.75, "expected_acc_low": 0.7,
                         "expected_acc_high": 0.8})


def test_advice_backtest_draws_each_model_beside_the_diagonal():
    fig = plots.advice_backtest(backtest_predictions())
    left, right = fig.axes
    assert sum(len(c.get_offsets()) for c in left.collections) == 20
    assert left.get_xscale() == "log" and left.get_yscale() == "log"
    assert len(left.lines) == 1 and len(right.lines) >= 1  # the diagonals (and the error bars' lines)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["breastmnist", "pneumoniamnist_f0.1"]
    with pytest.raises(BadParameterError):
        plots.advice_backtest(backtest_predictions().drop(columns="expected_acc_low"))


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
        "threshold_sweep": plots.threshold_sweep(
            pd.DataFrame({"threshold": [1.3e6, 1e7, 1.1e8], "x": [0.1, 0.2, 0.3], "y": [0.7, 0.7, 0.6]}),
            {"share that is small": {"x": "share of top-5 places held by small models"},
             "median test accuracy": {"y": "small models"}}, mark=2e7),
        "labelled_agreement": plots.labelled_agreement(scored.assign(other=scored["test_acc"] - 0.05), "test_acc", "other"),
        "agreement_panels": plots.agreement_panels(
            {"a": scored.assign(other=scored["test_acc"] - 0.05), "b": scored.assign(other=scored["test_acc"])},
            "test_acc", "other"),
        "epoch_curves": plots.epoch_curves(epochs_of(12, ("a",))),
        "against_size": plots.against_size(narrow, "num_params", ["test_acc", "pepr_e"], narrow["test_acc"] > 0.6,
                                           "parameters"),
        "curves_by_model": plots.curves_by_model(epochs_of(20)),
        "advice_backtest": plots.advice_backtest(backtest_predictions()),
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


def test_a_log_axis_over_about_two_decades_gets_at_least_three_labelled_ticks():
    fig, ax = plt.subplots()
    ax.plot([1.3e6, 1.1e8], [0, 1])  # 1.3 M to 110 M: only 10 M and 100 M are decades inside
    plots._log_axis(ax)
    fig.canvas.draw()
    low, high = ax.get_xlim()
    labels = [t.get_text() for t, x in zip(ax.get_xticklabels(), ax.get_xticks()) if low <= x <= high and t.get_text()]
    assert len(labels) >= 3, labels


def test_a_short_log_axis_gets_at_least_three_labelled_ticks():
    frame = runs()
    narrow = frame[frame["num_params"] <= 1e7]  # one decade: 1 M and 10 M alone would be two ticks
    fig = plots.vs_params(narrow, "test_acc")
    ax = fig.axes[0]
    fig.canvas.draw()
    low, high = ax.get_xlim()
    labels = [t.get_text() for t, x in zip(ax.get_xticklabels(), ax.get_xticks()) if low <= x <= high and t.get_text()]
    assert len(labels) >= 3, labels


def test_curves_by_model_draws_only_the_listed_models_in_order():
    import pandas as pd

    rows = [{"model": m, "epoch": e, "split": "val", "metric": "acc", "value": 0.5 + e / 10, "setting": "s"}
            for m in ("big", "small", "mid") for e in range(3)]
    fig = plots.curves_by_model(pd.DataFrame(rows), order=["small", "big"])
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["small", "big"]


def test_flags_read_no_and_yes_in_legends():
    import pandas as pd

    assert list(plots.yes_no(pd.Series([0, 1, 1]))) == ["no", "yes", "yes"]
    assert list(plots.yes_no(pd.Series([True, False]))) == ["yes", "no"]
    assert list(plots.yes_no(pd.Series(["CNN", "Other"]))) == ["CNN", "Other"]
    points = pd.DataFrame({"num_params": [1e6, 2e6, 5e7], "energy_kwh": [0.1, 0.2, 0.3],
                           "drawn": [0, 1, 1], "true": [0, 0, 1]})
    fig = plots.attachment_comparison(points, "drawn", "true")
    legend_texts = {t.get_text() for ax in fig.axes for t in ax.get_legend().get_texts()}
    assert {"no", "yes", "flag differs"} <= legend_texts and not {"0", "1"} & legend_texts


def test_costs_against_work_draws_two_log_log_panels_one_series_per_setting():
    frame = pd.DataFrame({"setting": ["a", "a", "b", "b"], "train_time_s": [1.0, 10.0, 2.0, 20.0],
                          "flops_per_image": [1e6, 1e7, 1e6, 1e7], "run_mem_gb": [0.1, 1.0, 0.1, 1.0],
                          "num_params_trained": [1e6, 1e7, 1e6, 1e7]})
    figure = plots.costs_against_work(frame)
    time_axis, memory_axis = figure.axes
    assert {time_axis.get_xscale(), time_axis.get_yscale(), memory_axis.get_yscale()} == {"log"}
    assert [text.get_text() for text in figure.legends[0].get_texts()] == ["a", "b"]
    with pytest.raises(BadParameterError, match="run_mem_gb"):
        plots.costs_against_work(frame.drop(columns="run_mem_gb"))


def test_seed_spread_draws_only_models_with_several_seeds_one_panel_per_setting():
    frame = pd.DataFrame({"setting": ["a"] * 5 + ["b"] * 2, "model": ["m", "m", "m", "n", "o", "m", "m"],
                          "seed": [0, 1, 2, 0, 0, 0, 1], "num_params": [1e6, 1e6, 1e6, 1e7, 1e8, 1e6, 1e6],
                          "test_acc": [0.6, 0.7, 0.8, 0.5, 0.9, 0.4, 0.5]})
    figure = plots.seed_spread(frame, "num_params", "parameters")
    assert [ax.get_title() for ax in figure.axes] == ["a", "b"]
    span, = figure.axes[0].collections[0].get_segments()  # one line: only m has several seeds
    assert span[:, 1].tolist() == pytest.approx([0.6, 0.8])
    assert [text.get_text() for text in figure.legends[0].get_texts()] == ["0", "1", "2"]
    with pytest.raises(BadParameterError, match="more than one seed"):
        plots.seed_spread(frame[frame["seed"] == 0], "num_params", "parameters")


def test_a_crowded_agreement_panel_names_only_the_largest_disagreements():
    x = np.linspace(0.5, 0.9, 30)
    frame = pd.DataFrame({"model": [f"m{i}" for i in range(30)], "ours": x, "theirs": x})
    frame.loc[[3, 17], "ours"] += [0.2, -0.3]  # the two that disagree
    named = plots.farthest_from_diagonal(frame, "theirs", "ours", limit=20, crowded=2)
    assert sorted(named["model"]) == ["m17", "m3"]
    assert len(plots.farthest_from_diagonal(frame.head(20), "theirs", "ours", limit=20, crowded=2)) == 20
    fig = plots.labelled_agreement(frame, "theirs", "ours")
    names = [text for text in fig.axes[0].texts if text.get_text()]  # a moved name's leader has none
    assert len(names) == plots.CROWDED_LABELS


def test_labels_of_neighbouring_points_go_to_opposite_sides():
    xs = pd.Series([0.50, 0.51, 0.90, 0.505])
    ys = pd.Series([0.70, 0.705, 0.30, 0.70])
    assert plots.label_sides(xs, ys) == [False, True, False, False]  # the third neighbour has no free side
