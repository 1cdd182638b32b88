"""Plotting helpers for the book: tidy frames in, a matplotlib (or plotly) Figure out.

Every helper draws with seaborn's colour-blind-safe palette (:data:`PALETTE`) and marks
categories by colour *and* marker, so no figure relies on colour alone; a category looks the same
in every figure (:mod:`pepr.reporting.styles`: a yes/no flag, a setting), and an axis of counts
has whole-number ticks. Helpers never read files
and never attach attributes by position: the frames they receive already carry every column
(joined by model name upstream, see :func:`pepr.scoring.joins.attach_by_name`).

Every panel says what it shows (a y-axis label or a title: :func:`unlabelled_panels` finds
those that do not), and every text stays legible where the book shows the figure: a figure
wider than the page's text column is scaled down to it, so its fonts are sized to be at least
:data:`MIN_FONT_PT` at :data:`PAGE_WIDTH_IN` (:func:`smallest_font_at_page_width`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from pepr.advice.defaults import ACCURACY_INTERVAL, percentile_name
from pepr.core.errors import BadParameterError
from pepr.reporting import styles
from pepr.reporting.labels import (AGREEMENT_LABELS, CROWDED_LABELS,  # noqa: F401 (re-exported)
                                   arrange_labels, farthest_from_diagonal, label_sides)

PALETTE = styles.PALETTE
PARAMS_LABEL = "Parameters, ImageNet configuration (log scale)"

#: Width of the book's text column (about 690 CSS pixels at a 1280-pixel window, 96 per inch):
#: a figure drawn wider is shown scaled down to it.
PAGE_WIDTH_IN = 7.2
#: The smallest font, in points as the reader sees it at :data:`PAGE_WIDTH_IN`.
MIN_FONT_PT = 8.0


def shown_width_in(fig: plt.Figure) -> float:
    """The width of the saved figure (``bbox_inches="tight"``, as :func:`pepr.reporting.book.show` saves it)."""
    return float(fig.get_tightbbox(fig.canvas.get_renderer()).width)


def smallest_font_at_page_width(fig: plt.Figure) -> float:
    """The smallest visible text of ``fig`` in points as shown in the book (scaled to the page)."""
    from matplotlib.text import Text

    scale = min(1.0, PAGE_WIDTH_IN / shown_width_in(fig))
    sizes = [text.get_fontsize() for text in fig.findobj(Text)
             if text.get_visible() and text.get_text().strip()
             and (text.axes is None or text.axes.get_visible())]
    return min(sizes) * scale if sizes else float("inf")


def unlabelled_panels(fig: plt.Figure) -> list[plt.Axes]:
    """The visible panels of ``fig`` that have neither a visible y-axis label nor a title
    (colour bars excepted)."""
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]
    return [ax for ax in panels
            if not (ax.get_ylabel().strip() and ax.yaxis.label.get_visible())
            and not any(t.get_text().strip() for t in (ax.title, ax._left_title, ax._right_title))]


def _log_axis(ax: plt.Axes, axis: str = "x") -> None:
    """A log axis labelled in engineering notation (1 M, 10 M), with at least three labelled
    ticks that do not crowd: decades, plus 3 x 10^k when only two decades fall inside the axis,
    or 2 and 5 x 10^k when fewer (a range of about two decades would otherwise show only two
    ticks)."""
    from matplotlib.ticker import EngFormatter, LogLocator, NullFormatter

    getattr(ax, f"set_{axis}scale")("log")
    target = getattr(ax, f"{axis}axis")
    low, high = sorted(getattr(ax, f"get_{axis}lim")())
    decades_inside = np.floor(np.log10(high)) - np.ceil(np.log10(low)) + 1 if low > 0 else np.inf
    if decades_inside < 3:  # 1, 2, 5 x 10^k on a short axis; 1 and 3 x 10^k on about two decades
        subs = (1.0, 2.0, 5.0) if decades_inside < 2 else (1.0, 3.0)
        target.set_major_locator(LogLocator(base=10, subs=subs))
    target.set_major_formatter(EngFormatter(sep="\u2009"))
    target.set_minor_formatter(NullFormatter())


def set_style() -> None:
    """The book's look: seaborn's whitegrid theme with the colour-blind palette."""
    sns.set_theme(style="whitegrid", palette=PALETTE, context="notebook")


def _require(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise BadParameterError(f"the frame lacks column(s) {missing} needed by this figure")


def publications_bars(per_capita: pd.DataFrame, log: bool = True) -> plt.Figure:
    """Publications per million inhabitants by region, one bar per year label (Chapter 1).

    ``log`` draws the rates on a log axis, so regions two orders of magnitude apart stay legible.
    """
    _require(per_capita, ["region", "year", "papers_per_million"])
    order = (per_capita.groupby("region")["papers_per_million"].max().sort_values(ascending=False).index)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    sns.barplot(per_capita, x="region", y="papers_per_million", hue="year", order=order,
                palette=PALETTE, ax=ax)
    for container, hatch in zip(ax.containers, ["", "//"]):
        for bar in container:
            bar.set_hatch(hatch)
    ax.set_xlabel("")
    ax.set_ylabel("Publications per million inhabitants" + (" (log scale)" if log else ""))
    if log:
        ax.set_yscale("log")
    ax.tick_params(axis="x", labelrotation=35)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    ax.legend(title="year (as labelled)")
    fig.tight_layout()
    return fig


def iso_pepr_contour(levels: int = 11, points: pd.DataFrame | None = None) -> plt.Figure:
    """PePR = P / (1 + R) over the unit square (R, P), with iso-PePR lines; optional run points."""
    r, p = np.meshgrid(np.linspace(0, 1, 201), np.linspace(0, 1, 201))
    score = p / (1 + r)
    fig, ax = plt.subplots(figsize=(6, 4.8))
    filled = ax.contourf(r, p, score, levels=levels, cmap="cividis")
    lines = ax.contour(r, p, score, levels=filled.levels, colors="white", linewidths=0.7)
    inner = [level for level in lines.levels if 0 < level < 1]
    ax.clabel(lines, levels=inner, fmt="%.2f", fontsize=8, manual=iso_label_points(inner))
    fig.colorbar(filled, ax=ax, label="PePR")
    if points is not None:
        _require(points, ["R", "P"])
        ax.scatter(points["R"], points["P"], s=10, color="black", alpha=0.5, label="runs")
        ax.legend(loc="lower right")
    ax.set_xlabel("Normalised resource cost R")
    ax.set_ylabel("Performance P")
    ax.grid(False)
    fig.tight_layout()
    return fig


def iso_label_points(levels: Sequence[float], across: float = 0.55, top: float = 0.95) -> list[tuple[float, float]]:
    """Where to write each iso-PePR line's value inside the unit square: on the line
    P = s (1 + R) at R = ``across``, or where it reaches P = ``top`` if that comes first, so no
    label is cut at the square's edge and labels of neighbouring lines do not collide."""
    points = []
    for level in levels:
        r = min(across, iso_line_end(level, top))
        points.append((r, level * (1 + r)))
    return points


def iso_line_end(level: float, top: float = 1.0) -> float:
    """The normalised resource R at which the iso-PePR line P = ``level`` (1 + R) leaves the unit
    square: at its right edge, R = 1, or where it reaches P = ``top`` if that comes first."""
    return min(1.0, top / level - 1)


def yes_no(values: pd.Series) -> pd.Series:
    """A 0/1 or boolean flag (as the release's ``efficient``) as "no"/"yes" for a legend; any
    other column unchanged."""
    present = set(values.dropna().unique())
    if present and present <= {0, 1, True, False}:
        return values.map(lambda v: v if pd.isna(v) else ("yes" if v else "no"))
    return values


def vs_params(frame: pd.DataFrame, y: str | Sequence[str], hue: str = "efficient",
              labels: Mapping[str, str] | None = None, ncols: int | None = None,
              sharey: bool = True) -> plt.Figure:
    """One panel per ``y`` column against the parameter count (log x), coloured and marked by ``hue``
    (:func:`pepr.reporting.styles.hue_styles`: a flag's "yes" and "no" alike in every figure).

    At most two panels per row (``ncols``), so the figure keeps legible fonts at the page's width.
    Every panel keeps its own y-axis label, shared axis or not; the legend is drawn once.
    """
    ys = [y] if isinstance(y, str) else list(y)
    _require(frame, ["num_params", hue, *ys])
    frame = frame.assign(**{hue: yes_no(frame[hue])})
    labels = dict(labels or {})
    ncols = ncols or min(len(ys), 2)
    nrows = int(np.ceil(len(ys) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.8 * nrows), sharey=sharey, squeeze=False)
    for index, (ax, column) in enumerate(zip(axes.flat, ys)):
        sns.scatterplot(frame, x="num_params", y=column, **styles.scatter_styles(hue, frame[hue]), s=40, ax=ax,
                        legend=index == 0)
        _log_axis(ax)
        ax.set_xlabel(PARAMS_LABEL)
        ax.set_ylabel(labels.get(column, column))
        ax.yaxis.label.set_visible(True)  # a shared axis hides the inner panels' labels
        if sharey:
            ax.tick_params(axis="y", labelleft=True)
    for ax in list(axes.flat)[len(ys):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def paired_arms(frame: pd.DataFrame, arm: str, value: str, pair: str = "model",
                order: Sequence[str] | None = None, ylabel: str | None = None) -> plt.Figure:
    """Two arms measured on the same units: a violin per arm with a grey line joining each pair,
    and beside it the distribution of the paired differences (second arm minus first)."""
    _require(frame, [arm, value, pair])
    order = list(order or frame[arm].drop_duplicates())
    if len(order) != 2:
        raise BadParameterError("paired_arms needs exactly two arms")
    wide = frame.pivot_table(index=pair, columns=arm, values=value).dropna()[order]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4), gridspec_kw={"width_ratios": [3, 2]})
    sns.violinplot(frame, x=arm, y=value, order=order, hue=arm, hue_order=order, palette=PALETTE, inner=None,
                   cut=0, ax=left, legend=False)
    for _, row in wide.iterrows():
        left.plot([0, 1], row.to_numpy(), color="0.5", alpha=0.25, linewidth=0.7)
    left.set_xlabel("")
    left.set_ylabel(ylabel or value)
    diff = wide[order[1]] - wide[order[0]]
    sns.histplot(diff, ax=right, color=sns.color_palette(PALETTE)[2], bins=25)
    right.axvline(0, color="black", linewidth=1)
    right.set_xlabel(f"{order[1]} minus {order[0]}")
    right.set_ylabel("models")
    styles.whole_number_ticks(right.yaxis)
    fig.tight_layout()
    return fig


def attachment_comparison(points: pd.DataFrame, drawn: str, true: str, y: str = "energy_kwh",
                          ylabel: str = "Energy (kWh, mean over settings)") -> plt.Figure:
    """The same points twice: coloured as the release drew them, and by the attribute joined by name.

    Points whose two colours differ are ringed in both panels.
    """
    _require(points, ["num_params", y, drawn, true])
    wrong = points[drawn] != points[true]
    points = points.assign(**{drawn: yes_no(points[drawn]), true: yes_no(points[true])})
    levels = pd.concat([points[drawn], points[true]])  # both panels style every level alike
    fig, axes = plt.subplots(1, 2, figsize=(9.2, 4), sharey=True)
    for ax, column, title in zip(axes, [drawn, true], ["as the release attached it (by position)", "joined by model name"]):
        sns.scatterplot(points, x="num_params", y=y, **styles.scatter_styles(column, levels), s=40, ax=ax)
        ax.scatter(points.loc[wrong, "num_params"], points.loc[wrong, y], s=140, facecolors="none",
                   edgecolors="black", linewidths=0.8, label="flag differs")
        _log_axis(ax)
        ax.set_xlabel(PARAMS_LABEL)
        ax.set_ylabel(ylabel)
        ax.yaxis.label.set_visible(True)
        ax.tick_params(axis="y", labelleft=True)
        ax.set_title(title, fontsize=11)
        ax.legend(title="efficient", fontsize=10, title_fontsize=10)
    fig.tight_layout()
    return fig


def overlap_heatmap(overlap: pd.DataFrame, value: str = "kept", title: str | None = None,
                    settings: Sequence[str] | None = None) -> plt.Figure:
    """Variants (rows) x settings (columns): how many of the baseline's top-k survive.

    Rows keep ``overlap``'s order; columns follow ``settings`` (default: first appearance)."""
    _require(overlap, ["variant", "setting", value])
    table = overlap.pivot(index="variant", columns="setting", values=value)
    table = table.loc[overlap["variant"].drop_duplicates(), list(settings or overlap["setting"].drop_duplicates())]
    fig, ax = plt.subplots(figsize=(0.8 * table.shape[1] + 2.6, 0.45 * table.shape[0] + 1.6))
    sns.heatmap(table, annot=True, fmt=".2g", cmap="cividis", cbar=False, ax=ax, linewidths=0.5,
                annot_kws={"fontsize": 10})
    ax.set_xlabel("")
    ax.set_ylabel("scoring variant")
    ax.tick_params(labelsize=10)
    ax.set_title(title or value, fontsize=11)
    fig.tight_layout()
    return fig


def threshold_sweep(sweep: pd.DataFrame, panels: Mapping[str, Mapping[str, str]],
                    xlabel: str = "Threshold (parameters, log scale)", mark: float | None = None,
                    mark_label: str = "median model") -> plt.Figure:
    """Sweep columns against the threshold (log x), one panel per entry of ``panels``: its y-axis
    label -> ``{column: line label}``. Every line has its own colour and marker across the
    panels; ``mark`` draws a dotted vertical line (labelled ``mark_label``) at one threshold."""
    columns = [column for lines in panels.values() for column in lines]
    _require(sweep, ["threshold", *columns])
    colours = sns.color_palette(PALETTE, len(columns))
    markers = ["o", "X", "s", "P", "D", "^", "v"]
    fig, axes = plt.subplots(1, len(panels), figsize=(PAGE_WIDTH_IN, 3.6), squeeze=False)
    index = 0
    for ax, (ylabel, lines) in zip(axes.flat, panels.items()):
        for column, label in lines.items():
            ax.plot(sweep["threshold"], sweep[column], color=colours[index], marker=markers[index % len(markers)],
                    markersize=4, linewidth=1.2, label=label)
            index += 1
        if mark is not None:
            ax.axvline(mark, color="0.35", linestyle=":", linewidth=1, label=mark_label)
        _log_axis(ax)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8.5, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)  # below: no line hidden
    fig.tight_layout()
    return fig


#: Units of the resource columns, by how their names end (``energy_kwh``: kWh).
UNITS: dict[str, str] = {"_kwh": "kWh", "_g": "g", "_s": "s", "_gb": "GB"}


def resource_unit(column: str) -> str:
    """The unit a resource column's name ends in (``train_time_s``: ``s``); "" where none."""
    return next((unit for ending, unit in UNITS.items() if column.endswith(ending)), "")


def quantity_text(value: float, unit: str = "") -> str:
    """A raw resource value as a reader wants it on hover: three significant figures, whole
    numbers with thousands separators from 1,000 on, then the unit (``0.0123 kWh``)."""
    if value is None or not np.isfinite(value):
        return "–"
    text = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    return f"{text} {unit}".strip()


def hover_text(value: object) -> str:
    """One extra hover value of the explorer: a number as :func:`quantity_text` writes it (an
    unknown one, such as a model's missing parameter count, as "–"), anything else as text."""
    if value is None or (pd.api.types.is_scalar(value) and not isinstance(value, str) and pd.isna(value)):
        return "–"
    if isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_)):
        return quantity_text(float(value))
    return str(value)


def iso_pepr_label_positions(levels: Sequence[float]) -> list[dict[str, object]]:
    """Where the explorer writes each iso-PePR line's value: just above the line's right end
    where it reaches R = 1 (PePR <= 0.5), else just right of where it leaves the top, P = 1."""
    positions = []
    for level in levels:
        end = iso_line_end(level)
        if end >= 1:
            positions.append({"x": 0.985, "y": level * 1.985, "xanchor": "right", "yanchor": "bottom"})
        else:
            positions.append({"x": end + 0.01, "y": 1.0, "xanchor": "left", "yanchor": "top"})
    return positions


def ranking_explorer(scored: pd.DataFrame, resources: Mapping[str, str], performance: str = "test_acc",
                     hover: Sequence[str] = ("num_params",), raw: Mapping[str, str] | None = None):
    """An interactive plotly figure of every run: P against normalised resource R, one setting
    shown at a time (upper menu), one resource at a time (lower menu); hovering over a run shows
    its model, its raw resource (kWh, g, s, GB), R, P and PePR.

    ``resources`` maps a label (``"energy (PePR-E)"``) to the variant suffix scored by
    :func:`pepr.scoring.score.add_pepr` (``"e"``: columns ``E_n`` and ``pepr_e``); ``raw`` maps a suffix
    to its raw column (default :data:`pepr.scoring.score.RESOURCES`). Iso-PePR lines are drawn underneath,
    each labelled with its value. The two menus sit one above the other, so they never overlap,
    however narrow the page. Embed it with its JavaScript for offline pages (:func:`embed_plotly`).
    """
    import plotly.graph_objects as go

    from pepr.scoring.score import RESOURCES

    raw = dict(RESOURCES if raw is None else raw)
    suffixes = list(resources.values())
    _require(scored, ["setting", "model", performance, *[f"{s.upper()}_n" for s in suffixes],
                      *[f"pepr_{s}" for s in suffixes], *[raw[s] for s in suffixes], *hover])
    settings = sorted(scored["setting"].unique())
    groups = [scored[scored["setting"] == setting] for setting in settings]

    def hover_rows(group: pd.DataFrame, suffix: str) -> list[list[str]]:
        unit = resource_unit(raw[suffix])
        return [[f"{row[f'pepr_{suffix}']:.3f}", quantity_text(float(row[raw[suffix]]), unit),
                 *[hover_text(row[h]) for h in hover]]
                for _, row in group.iterrows()]

    def template(label: str) -> str:
        name = label.split(" (")[0]
        return ("<b>%{text}</b><br>" + name + ": %{customdata[1]}<br>R = %{x:.3f} (normalised)"
                "<br>P = %{y:.3f}<br>PePR = %{customdata[0]}"
                + "".join(f"<br>{h} = %{{customdata[{i + 2}]}}" for i, h in enumerate(hover))
                + "<extra></extra>")

    # per resource, one list per setting: the x values, the marker colours and the hover texts
    arrays = {suffix: ([g[f"{suffix.upper()}_n"].tolist() for g in groups],
                       [g[f"pepr_{suffix}"].tolist() for g in groups],
                       [hover_rows(g, suffix) for g in groups])
              for suffix in suffixes}
    fig = go.Figure()
    levels = [round(level, 1) for level in np.arange(0.1, 1.0, 0.1)]
    for level in levels:
        end = iso_line_end(level)
        fig.add_trace(go.Scatter(x=[0.0, end], y=[level, level * (1 + end)], mode="lines", hoverinfo="skip",
                                 line={"color": "lightgrey", "width": 1}, showlegend=False,
                                 name=f"PePR = {level:.1f}"))
    n_lines = len(fig.data)
    first_label, first = next(iter(resources.items()))
    xs, colours, custom = arrays[first]
    for index, (setting, group) in enumerate(zip(settings, groups)):
        fig.add_trace(go.Scatter(
            x=xs[index], y=group[performance], mode="markers", name=setting,
            visible=index == 0, text=group["model"], showlegend=False, customdata=custom[index],
            marker={"color": colours[index], "colorscale": "Cividis", "cmin": 0, "cmax": 1,
                    "size": 8, "colorbar": {"title": {"text": "PePR"}, "thickness": 12},
                    "line": {"width": 0.5, "color": "black"}},
            hovertemplate=template(first_label),
        ))
    setting_buttons = []
    for index, setting in enumerate(settings):
        visible = [True] * n_lines + [i == index for i in range(len(settings))]
        setting_buttons.append({"label": setting, "method": "restyle", "args": [{"visible": visible}]})
    resource_buttons = []
    trace_ids = list(range(n_lines, n_lines + len(settings)))
    for label, suffix in resources.items():
        xs, colours, custom = arrays[suffix]
        resource_buttons.append({"label": label, "method": "restyle",
                                 "args": [{"x": xs, "marker.color": colours, "customdata": custom,
                                           "hovertemplate": [template(label)] * len(settings)}, trace_ids]})
    height, top, bottom = 600, 120, 60
    plot_height = height - top - bottom
    menu_y = [1 + 86 / plot_height, 1 + 48 / plot_height]  # in the top margin, one above the other
    menu = {"x": 0.0, "xanchor": "left", "yanchor": "top", "showactive": True, "pad": {"l": 0, "t": 0}}
    labels = [{"text": text, "x": 0.0, "xanchor": "right", "xshift": -6, "y": y, "yanchor": "top", "yshift": -5,
               "xref": "paper", "yref": "paper", "showarrow": False}
              for text, y in zip(["setting", "resource"], menu_y)]
    line_labels = [{"text": f"{level:.1f}", **position, "xref": "x", "yref": "y", "showarrow": False,
                    "font": {"size": 10, "color": "#666666"}}
                   for level, position in zip(levels, iso_pepr_label_positions(levels))]
    fig.update_layout(
        updatemenus=[{"buttons": setting_buttons, "y": menu_y[0], **menu},
                     {"buttons": resource_buttons, "y": menu_y[1], **menu}],
        xaxis={"title": {"text": "normalised resource R (within the setting)"}, "range": [-0.03, 1.03]},
        yaxis={"title": {"text": "performance P (test accuracy)"}, "range": [0, 1.04]},
        height=height, margin={"t": top, "b": bottom, "l": 72, "r": 10}, template="plotly_white",
        annotations=labels + line_labels,
    )
    return fig


def labelled_agreement(frame: pd.DataFrame, x: str, y: str, label: str = "model",
                       xlabel: str | None = None, ylabel: str | None = None) -> plt.Figure:
    """One point per row, ``y`` against ``x``, named by ``label`` (only the
    :data:`CROWDED_LABELS` farthest from the line where there are more than
    :data:`AGREEMENT_LABELS`), over the line ``y = x``.

    For two measurements of the same models (our rerun against the release): points on the
    dotted line agree, and their order along each axis shows whether the rankings do.
    """
    _require(frame, [x, y, label])
    fig, ax = plt.subplots(figsize=(6.4, 5.4))
    arrange_labels(*_agreement_panel(ax, frame, x, y, label, xlabel, ylabel), frame[[x, y]].to_numpy())
    return fig


def agreement_panels(frames: Mapping[str, pd.DataFrame], x: str, y: str, label: str = "model",
                     xlabels: Mapping[str, str] | None = None,
                     ylabels: Mapping[str, str] | None = None) -> plt.Figure:
    """:func:`labelled_agreement` for several pairs of measurements in one figure: one panel per
    entry of ``frames`` (titled by its key), stacked, so that one numbered figure holds however
    many pairs a study has and every model's name stays legible at the page's width."""
    if not frames:
        raise BadParameterError("agreement_panels needs at least one frame")
    for frame in frames.values():
        _require(frame, [x, y, label])
    fig, axes = plt.subplots(len(frames), 1, figsize=(6.4, 5.4 * len(frames)), squeeze=False)
    names = [_agreement_panel(ax, frame, x, y, label, (xlabels or {}).get(title), (ylabels or {}).get(title))
             for ax, (title, frame) in zip(axes[:, 0], frames.items())]
    for ax, title in zip(axes[:, 0], frames):
        ax.set_title(title, fontsize=11)
    fig.tight_layout()
    for panel_names, frame in zip(names, frames.values()):  # once the layout is final
        arrange_labels(*panel_names, frame[[x, y]].to_numpy())
    return fig


def _agreement_panel(ax: plt.Axes, frame: pd.DataFrame, x: str, y: str, label: str,
                     xlabel: str | None, ylabel: str | None) -> tuple[list, list[bool]]:
    """Draw one agreement panel (points over the dotted ``y = x``, named by ``label`` as
    :func:`farthest_from_diagonal` picks them, on the side :func:`label_sides` frees) on ``ax``;
    returns the names and the sides they go to first, for :func:`arrange_labels` to place once
    the layout is final."""
    ax.scatter(frame[x], frame[y], s=25)
    named = farthest_from_diagonal(frame, x, y)
    sides = label_sides(named[x], named[y])
    names = [ax.annotate(row[label], (row[x], row[y]), fontsize=8, xytext=(-3 if left else 3, 0),
                         textcoords="offset points", ha="right" if left else "left", va="center")
             for (_, row), left in zip(named.iterrows(), sides)]
    low = min(frame[x].min(), frame[y].min()) - 0.02
    ax.plot([low, 1], [low, 1], color="0.5", linewidth=0.8, linestyle=":")
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    return names, sides


def advice_backtest(predictions: pd.DataFrame, hue: str = "setting") -> plt.Figure:
    """Two panels for a backtest of ``pepr advise`` (:func:`pepr.advice.backtest.backtest`), one point per
    held-out model, coloured and marked by ``hue``: the predicted run time against the measured
    one (log-log), and the expected accuracy (a bar: its interval) against the measured one,
    each over the line ``y = x`` where a perfect prediction would lie."""
    _require(predictions, [hue, "predicted_time_s", "train_time_s", "expected_acc",
                           "expected_acc_low", "expected_acc_high", "test_acc"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(PAGE_WIDTH_IN, 3.5))
    look = styles.hue_styles(hue, predictions[hue])
    for name in look.order:
        group = predictions[predictions[hue] == name]
        style = {"color": look.palette[name], "marker": look.markers[name], "label": name}
        left.scatter(group["train_time_s"], group["predicted_time_s"], s=16, alpha=0.8, **style)
        right.errorbar(group["test_acc"], group["expected_acc"],
                       yerr=[group["expected_acc"] - group["expected_acc_low"],
                             group["expected_acc_high"] - group["expected_acc"]],
                       linestyle="none", markersize=4, elinewidth=0.6, alpha=0.8, **style)
    times = pd.concat([predictions["train_time_s"], predictions["predicted_time_s"]])
    span = [times.min() / 1.3, times.max() * 1.3]
    left.plot(span, span, color="0.4", linewidth=0.8, linestyle=":")
    left.set(xlim=span, ylim=span)
    _log_axis(left, "x")
    _log_axis(left, "y")
    left.set_xlabel("measured run time (s, log scale)")
    left.set_ylabel("predicted run time (s, log scale)")
    accuracy = pd.concat([predictions["test_acc"], predictions["expected_acc_low"],
                          predictions["expected_acc_high"]])
    bounds = [accuracy.min() - 0.02, min(1.0, accuracy.max() + 0.02)]
    right.plot(bounds, bounds, color="0.4", linewidth=0.8, linestyle=":")
    right.set_xlabel("measured test accuracy")
    low, high = (percentile_name(q) for q in ACCURACY_INTERVAL)
    right.set_ylabel(f"expected accuracy ({low}-{high} pct.)")
    fig.tight_layout()
    handles, names = left.get_legend_handles_labels()
    fig.legend(handles, names, title=hue, loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncols=min(len(names), 4), frameon=False, fontsize=9, title_fontsize=9)
    return fig


def embed_plotly(fig) -> str:
    """HTML for a plotly figure with plotly.js inlined (no CDN), for pages that must work offline."""
    return fig.to_html(include_plotlyjs=True, full_html=False, config={"displaylogo": False})


def epoch_curves(epochs: pd.DataFrame, metric: str = "acc", split: str = "val",
                 label: str | None = None) -> plt.Figure:
    """One line per model: ``metric`` on ``split`` after each epoch (a study's learning curves)."""
    _require(epochs, ["model", "epoch", "split", "metric", "value"])
    rows = epochs[(epochs["split"] == split) & (epochs["metric"] == metric)]
    if rows.empty:
        raise BadParameterError(f"no {split} {metric} rows to draw")
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    sns.lineplot(rows, x="epoch", y="value", hue="model", palette=sns.color_palette(PALETTE, rows["model"].nunique()),
                 ax=ax, legend="brief", linewidth=1.2)
    ax.set_xlabel("epoch (0-based)")
    styles.whole_number_ticks(ax.xaxis)
    ax.set_ylabel(label or f"{split} {metric}")
    ax.legend(fontsize=9, ncols=2, bbox_to_anchor=(1.01, 1), loc="upper left", frameon=False)
    fig.tight_layout()
    return fig


def against_size(frame: pd.DataFrame, size: str, ys: Sequence[str], front: pd.Series,
                 size_label: str, labels: Mapping[str, str] | None = None,
                 hue: str = "setting") -> plt.Figure:
    """One panel per ``ys`` column against ``size`` (log x), coloured and marked by ``hue``;
    the runs where ``front`` is True (the accuracy-size Pareto front) ringed in black."""
    _require(frame, [size, hue, *ys])
    labels = dict(labels or {})
    ncols = min(len(ys), 2)
    nrows = int(np.ceil(len(ys) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.4 * ncols, 3.9 * nrows), squeeze=False)
    for index, (ax, column) in enumerate(zip(axes.flat, ys)):
        sns.scatterplot(frame, x=size, y=column, **styles.scatter_styles(hue, frame[hue]), s=34, ax=ax)
        ringed = frame[front.reindex(frame.index, fill_value=False)]
        ax.scatter(ringed[size], ringed[column], s=110, facecolors="none", edgecolors="black",
                   linewidths=0.9, label="Pareto front (accuracy, size)")
        _log_axis(ax)
        ax.set_xlabel(f"{size_label} (log scale)")
        ax.set_ylabel(labels.get(column, column))
        if index == 0:
            handles, names = ax.get_legend_handles_labels()
        ax.get_legend().remove()
    for ax in list(axes.flat)[len(ys):]:
        ax.set_visible(False)
    fig.tight_layout()
    # one legend for all panels, under them, where it hides no point
    fig.legend(handles, names, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncols=min(len(names), 4),
               frameon=False, fontsize=10)
    return fig


def costs_against_work(frame: pd.DataFrame, hue: str = "setting") -> plt.Figure:
    """Two log-log panels that show whether a study's costs are plausible: training time against
    FLOPs per image, and the run's own memory against its parameters as trained; one colour and
    marker per ``hue`` value (settings differ in their number of training images, so each forms
    its own band)."""
    from matplotlib.ticker import FuncFormatter

    _require(frame, ["train_time_s", "flops_per_image", "run_mem_gb", "num_params_trained", hue])
    panels = [("flops_per_image", "train_time_s", "FLOPs per image (log scale)",
               "training time, s (log scale)"),
              ("num_params_trained", "run_mem_gb", "parameters as trained (log scale)",
               "run memory, GB (log scale)")]
    fig, axes = plt.subplots(1, 2, figsize=(8.8, 3.9))
    for ax, (x, y, xlabel, ylabel) in zip(axes, panels):
        shown = frame[(frame[x] > 0) & (frame[y] > 0)]
        sns.scatterplot(shown, x=x, y=y, **styles.scatter_styles(hue, frame[hue]), s=30, ax=ax)
        _log_axis(ax)
        _log_axis(ax, "y")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))  # GB, not "m"
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        handles, names = ax.get_legend_handles_labels()
        ax.get_legend().remove()
    fig.tight_layout()
    fig.legend(handles, names, loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncols=min(len(names), 3), frameon=False, fontsize=10)
    return fig


def seed_spread(frame: pd.DataFrame, size: str, size_label: str, y: str = "test_acc",
                y_label: str = "test accuracy", hue: str = "seed") -> plt.Figure:
    """One panel per setting: the models trained with more than one seed, ``y`` of each seed
    (colour and marker per ``hue``) against ``size`` (log x), joined by a line from the lowest to
    the highest seed, so the spread a seed causes reads against the differences between models."""
    _require(frame, ["setting", "model", size, y, hue])
    seeds_per_model = frame.groupby(["setting", "model"])[hue].transform("nunique")
    shown = frame[seeds_per_model > 1]
    if shown.empty:
        raise BadParameterError("no model has more than one seed to draw")
    settings = list(dict.fromkeys(shown["setting"]))
    levels = [str(value) for value in sorted(shown[hue].unique())]  # the same colours in every panel
    fig, axes = plt.subplots(1, len(settings), figsize=(4.4 * len(settings), 3.9), sharey=True, squeeze=False)
    for ax, setting in zip(axes.flat, settings):
        rows = shown[shown["setting"] == setting]
        spans = rows.groupby("model").agg(x=(size, "first"), low=(y, "min"), high=(y, "max"))
        ax.vlines(spans["x"], spans["low"], spans["high"], color="0.6", linewidth=1.2, zorder=1)
        sns.scatterplot(rows.assign(**{hue: rows[hue].astype(str)}), x=size, y=y,
                        **styles.scatter_styles(hue, levels), s=34, ax=ax, zorder=2)
        _log_axis(ax)
        ax.set_title(setting, fontsize=11)
        ax.set_xlabel(f"{size_label} (log scale)")
        ax.set_ylabel(y_label)
        handles, names = ax.get_legend_handles_labels()
        ax.get_legend().remove()
    fig.tight_layout()
    fig.legend(handles, names, title=hue, loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncols=len(names), frameon=False, fontsize=10)
    return fig


def curves_by_model(epochs: pd.DataFrame, metric: str = "acc", split: str = "val",
                    hue: str = "setting", col_wrap: int = 4, label: str | None = None,
                    order: Sequence[str] | None = None) -> plt.Figure:
    """Small multiples: one panel per model, ``metric`` on ``split`` per epoch, one line per
    ``hue`` value (colour and dash). Readable with any number of models, unlike one panel
    where two of twenty colours must look alike; each panel is titled with its model.
    ``order`` lists the models to draw, in panel order (default: all, as they appear)."""
    _require(epochs, ["model", "epoch", "split", "metric", "value", hue])
    rows = epochs[(epochs["split"] == split) & (epochs["metric"] == metric)]
    if order is not None:
        rows = rows[rows["model"].isin(order)]
    if rows.empty:
        raise BadParameterError(f"no {split} {metric} rows to draw")
    order = [m for m in order if m in set(rows["model"])] if order is not None else None
    look = styles.hue_styles(hue, rows[hue])  # a setting's colour and dashes as in every figure

    grid = sns.relplot(rows, x="epoch", y="value", col="model", col_order=order, hue=hue, style=hue, kind="line",
                       col_wrap=min(col_wrap, rows["model"].nunique()), height=1.7, aspect=1.0,
                       hue_order=look.order, style_order=look.order, palette=look.palette,
                       dashes=look.dashes, linewidth=1.1, errorbar=None,
                       facet_kws={"sharey": True, "sharex": True})
    grid.set_titles("{col_name}", size=10)
    grid.set_axis_labels("epoch (0-based)", label or f"{split} {metric}", fontsize=10)
    for ax in grid.axes.flat:
        ax.tick_params(labelsize=10)
        styles.whole_number_ticks(ax.xaxis)  # epochs are whole numbers
    if grid.legend is not None:
        sns.move_legend(grid, "lower center", bbox_to_anchor=(0.5, 1.0), ncol=4, frameon=False,
                        fontsize=10, title_fontsize=10)
    grid.figure.tight_layout()
    return grid.figure
