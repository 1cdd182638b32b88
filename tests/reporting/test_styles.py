"""Tests for pepr.reporting.styles: a flag's answer and a setting look the same in every figure,
whichever other categories a figure shows, and count axes tick only at whole numbers."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from pathlib import Path  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.container import ErrorbarContainer  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from pepr.data import release  # noqa: E402
from pepr.reporting import plots, runplots, styles  # noqa: E402
from pepr.store import studies  # noqa: E402

STUDIES_DIR = Path(__file__).resolve().parents[2] / "data" / "studies"


@pytest.fixture(autouse=True)
def _close_figures():
    plots.set_style()
    yield
    plt.close("all")


def legend_styles(handles, labels) -> dict[str, tuple[tuple[float, float, float], str]]:
    """The colour and marker each legend entry shows (markers only: rings and lines left out)."""
    shown = {}
    for handle, label in zip(handles, labels):
        line = handle[0] if isinstance(handle, ErrorbarContainer) else handle
        if isinstance(line, Line2D) and line.get_marker() not in (None, "None", ""):
            shown[label] = (tuple(round(c, 4) for c in to_rgb(line.get_markerfacecolor())), line.get_marker())
    return shown


def figure_legend(fig) -> dict[str, tuple[tuple[float, float, float], str]]:
    legend = fig.legends[0]
    return legend_styles(legend.legend_handles, [text.get_text() for text in legend.get_texts()])


def axes_legend(ax) -> dict[str, tuple[tuple[float, float, float], str]]:
    legend = ax.get_legend()
    return legend_styles(legend.legend_handles, [text.get_text() for text in legend.get_texts()])


def expected(style: tuple[tuple[float, float, float], str]) -> tuple[tuple[float, float, float], str]:
    colour, marker = style
    return tuple(round(c, 4) for c in colour), marker


def runs_of(settings: list[str], per_setting: int = 4) -> pd.DataFrame:
    """A study's scored runs: ``per_setting`` models in each of ``settings``, in that order."""
    rng = np.random.default_rng(3)
    n = len(settings) * per_setting
    return pd.DataFrame({
        "setting": np.repeat(settings, per_setting), "model": [f"m{i % per_setting}" for i in range(n)],
        "num_params": np.tile(np.geomspace(1e6, 1e8, per_setting), len(settings)),
        "test_acc": rng.uniform(0.5, 0.9, n), "pepr_e": rng.uniform(0.3, 0.8, n),
        "train_time_s": rng.uniform(10, 1000, n), "flops_per_image": rng.uniform(1e6, 1e9, n),
        "run_mem_gb": rng.uniform(0.1, 3, n), "num_params_trained": rng.uniform(1e6, 1e8, n),
        "predicted_time_s": rng.uniform(10, 1000, n), "expected_acc": 0.75,
        "expected_acc_low": 0.7, "expected_acc_high": 0.8,
    })


def test_a_setting_has_one_colour_and_marker_in_figures_of_different_settings():
    first = runs_of(["retinamnist_f0.1", "breastmnist", "my_own_f0.5"])
    second = runs_of(["pneumoniamnist", "derma_pt", "my_own_f0.5", "retinamnist_f0.1"])
    third = runs_of(["my_own_f0.5", "retinamnist_f0.1"])
    figures = {
        "against_size": figure_legend(plots.against_size(first, "num_params", ["test_acc", "pepr_e"],
                                                         first["test_acc"] > 0.8, "parameters")),
        "costs_against_work": figure_legend(plots.costs_against_work(second)),
        "advice_backtest": legend_styles(*plots.advice_backtest(third).axes[1].get_legend_handles_labels()),
    }
    for name, shown in figures.items():
        for setting, style in shown.items():
            assert style == expected(styles.setting_style(setting)), (name, setting)
    assert figures["against_size"]["retinamnist_f0.1"] == figures["costs_against_work"]["retinamnist_f0.1"] \
        == figures["advice_backtest"]["retinamnist_f0.1"]
    assert figures["against_size"]["my_own_f0.5"] == figures["advice_backtest"]["my_own_f0.5"]


def test_a_setting_has_its_colour_and_dashes_in_learning_curves():
    rows = pd.DataFrame([{"model": "m", "epoch": e, "split": "val", "metric": "acc", "value": 0.5 + e / 10,
                          "setting": setting} for setting in ("retinamnist", "breastmnist_f0.1") for e in range(3)])
    fig = plots.curves_by_model(rows)
    legend = fig.legends[0]
    for handle, text in zip(legend.legend_handles, legend.get_texts()):
        colour, _ = styles.setting_style(text.get_text())
        assert to_rgb(handle.get_color()) == pytest.approx(colour)
    assert [text.get_text() for text in legend.get_texts()] == ["breastmnist_f0.1", "retinamnist"]


def test_settings_keep_the_books_order_in_legends_whatever_the_rows_order():
    fig = plots.costs_against_work(runs_of(["retinamnist", "pneumoniamnist_f0.1", "breastmnist", "zzz", "aaa"]))
    assert list(figure_legend(fig)) == ["breastmnist", "pneumoniamnist_f0.1", "retinamnist", "aaa", "zzz"]


def test_every_known_setting_has_a_pair_of_its_own_and_a_studys_settings_differ_in_colour():
    pairs = [styles.setting_style(name) for name in styles.KNOWN_SETTINGS]
    assert len(set(pairs)) == len(pairs)
    study_colours = [styles.setting_style(name)[0] for name in styles.STUDY_SETTINGS]
    assert len(set(study_colours)) == len(study_colours)
    assert set(release.SETTINGS) <= set(styles.KNOWN_SETTINGS)


def test_every_setting_of_the_books_own_studies_is_known():
    """The studies the book's chapters describe; a study a user adds needs no code: its
    settings take stable places from their names (the next test)."""
    for path in (STUDIES_DIR / "pilot.yml", STUDIES_DIR / "cpu-rerun.yml"):
        cells = studies.expand(studies.load_spec(path), min_img_size=lambda model: 28)
        unknown = {cell["setting"] for cell in cells} - set(styles.KNOWN_SETTINGS)
        assert not unknown, f"{path.name}: add {sorted(unknown)} to styles.STUDY_SETTINGS"


def test_an_unknown_setting_gets_a_stable_place_after_the_known_ones():
    place = styles.setting_slot("my_own_f0.5")
    assert place == styles.setting_slot("my_own_f0.5")
    assert len(styles.KNOWN_SETTINGS) <= place < styles.place_count()
    assert styles.setting_style("breastmnist") == styles.place_style(0)


def efficient_frame(first_efficient: int) -> pd.DataFrame:
    """Four models whose first row is (or is not) efficient: seaborn's own order would follow it."""
    flags = [first_efficient, 1 - first_efficient, first_efficient, 1 - first_efficient]
    return pd.DataFrame({"num_params": [1e6, 2e6, 5e6, 1e7], "energy_kwh": [0.1, 0.2, 0.3, 0.4],
                         "test_acc": [0.6, 0.7, 0.8, 0.9], "efficient": flags})


def test_efficient_yes_and_no_look_the_same_in_every_figure_in_a_fixed_order():
    yes, no = expected(styles.flag_style("yes")), expected(styles.flag_style("no"))
    assert yes[1] == "X" and no[1] == "o" and yes[0] != no[0]
    legends = [axes_legend(plots.vs_params(efficient_frame(first), "energy_kwh").axes[0]) for first in (0, 1)]
    points = efficient_frame(0).assign(drawn=[0, 1, 1, 0], true=[1, 0, 1, 0])
    comparison = plots.attachment_comparison(points, "drawn", "true")
    legends += [axes_legend(ax) for ax in comparison.axes]
    for shown in legends:
        assert list(shown) == ["yes", "no"]
        assert shown == {"yes": yes, "no": no}
    only_no = axes_legend(plots.vs_params(efficient_frame(0).assign(efficient=0), "energy_kwh").axes[0])
    assert only_no == {"no": no}


def integer_ticks(axis) -> bool:
    axis.axes.figure.canvas.draw()
    low, high = sorted(axis.get_view_interval())
    ticks = [t for t in axis.get_majorticklocs() if low <= t <= high]
    return len(ticks) >= 2 and all(float(t).is_integer() for t in ticks)


def test_count_and_epoch_axes_tick_only_at_whole_numbers():
    arms = pd.DataFrame({"model": ["a", "b", "c"] * 2, "arm": ["x"] * 3 + ["y"] * 3,
                         "test_acc": [0.5, 0.6, 0.7, 0.55, 0.66, 0.8]})  # a count of at most 1-2 per bin
    histogram = plots.paired_arms(arms, arm="arm", value="test_acc").axes[1]
    assert integer_ticks(histogram.yaxis)
    epochs = [{"epoch": e, "split": "val", "metric": m, "value": 0.5} for e in range(3) for m in ("loss", "acc")]
    assert all(integer_ticks(ax.xaxis) for ax in runplots.learning_curves(epochs).axes)
    assert integer_ticks(runplots.epoch_times({"epoch_times_s": [3.0, 2.5, 2.7]}).axes[0].xaxis)


def test_whole_number_ticks_drops_the_halves_a_default_axis_has():
    fig, ax = plt.subplots()
    ax.bar([0, 1, 2], [1, 2, 3])
    assert not integer_ticks(ax.yaxis)  # 0.0, 0.5, ... 3.0 by default
    styles.whole_number_ticks(ax.yaxis)
    assert integer_ticks(ax.yaxis)
