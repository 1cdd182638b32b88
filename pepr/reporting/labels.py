"""Names beside points: which points to name, and where their names go so that none hides another.

The agreement panels (our rerun against the release, one point per model) name their points.
A hundred names overlap into an unreadable block, so only the largest disagreements are named
(:func:`farthest_from_diagonal`); a name goes to the free side of its point
(:func:`label_sides`), or to the first place around it where it covers no other name, no point
and nothing outside the panel (:func:`place_labels`); names that still overlap are moved apart
vertically (:func:`spread_labels`), and a name that ends up away from its point gets a thin line
to it (:func:`draw_leaders`). :func:`arrange_labels` does all three. No point moves, and no
package beyond matplotlib is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd
from matplotlib.transforms import Bbox

#: An agreement panel names every point up to this many; a more crowded one names only the
#: :data:`CROWDED_LABELS` farthest from ``y = x``.
AGREEMENT_LABELS = 20
CROWDED_LABELS = 12
#: The thin line from a name moved away from its point back to it (:func:`draw_leaders`); it stops
#: short of the point's marker.
LEADER = {"arrowstyle": "-", "color": "0.4", "linewidth": 0.6, "shrinkA": 0, "shrinkB": 3.0}
#: A name farther than this from its point (in points, text edge to point) gets a leader.
LEADER_FROM_PT = 4.5


def farthest_from_diagonal(frame: pd.DataFrame, x: str, y: str, limit: int = AGREEMENT_LABELS,
                           crowded: int = CROWDED_LABELS) -> pd.DataFrame:
    """The rows to name in an agreement panel: all of them up to ``limit``, else the ``crowded``
    where ``y`` and ``x`` differ most (the disagreements a reader looks for); names of a hundred
    points overlap into an unreadable block at the page's width."""
    if len(frame) <= limit:
        return frame
    return frame.loc[(frame[y] - frame[x]).abs().nlargest(crowded).index]


def label_sides(xs: pd.Series, ys: pd.Series, near: float = 0.04) -> list[bool]:
    """For labels at points (``xs``, ``ys``), in order: whether each goes to the left of its
    point. A label goes left when a label already placed to the right sits within ``near`` (a
    share of each axis's range) of its point, and that side is free; it halves the overlaps
    of names in a cluster without moving any point."""
    span_x = float(xs.max() - xs.min()) or 1.0
    span_y = float(ys.max() - ys.min()) or 1.0
    placed: list[tuple[float, float, bool]] = []  # x, y, left of each label so far
    for px, py in zip(xs, ys):
        taken = {left for qx, qy, left in placed
                 if abs(px - qx) / span_x < 3 * near and abs(py - qy) / span_y < near}
        placed.append((px, py, False in taken and True not in taken))
    return [left for _, _, left in placed]


#: Where a name may go around its point, in order of preference: the offset in points and the
#: alignment (horizontal, vertical) of the text. Beside the point first, then diagonally above
#: and below it, then straight above and below; :func:`places` adds the mirror images.
PLACES: tuple[tuple[float, float, str, str], ...] = (
    (3, 0, "left", "center"), (2, 2, "left", "bottom"), (2, -2, "left", "top"),
    (0, 4, "center", "bottom"), (0, -4, "center", "top"))
#: Two boxes closer than this many pixels overlap.
PAD_PX = 1.0


def places(left: bool) -> list[tuple[float, float, str, str]]:
    """:data:`PLACES` and their mirror images, beside the point on the side ``left`` says first,
    then beside it on the other side, then the diagonals, then above and below."""
    mirror = {"left": "right", "right": "left", "center": "center"}
    mirrored = [(-dx, dy, mirror[ha], va) for dx, dy, ha, va in PLACES]
    first, second = (mirrored, PLACES) if left else (PLACES, mirrored)
    diagonals = [place for pair in zip(first[1:3], second[1:3]) for place in pair]
    return [first[0], second[0], *diagonals, *PLACES[3:]]


def put(label, place: tuple[float, float, str, str]) -> None:
    """Move an annotation to ``place``: its offset in points and its text's alignment."""
    dx, dy, ha, va = place
    label.xyann = (dx, dy)
    label.set_horizontalalignment(ha)
    label.set_verticalalignment(va)


def text_box(label, renderer) -> Bbox:
    """The box of a label's text alone (an annotation's extent would include its leader line),
    in display pixels."""
    from matplotlib.text import Text

    label.update_positions(renderer)
    return Text.get_window_extent(label, renderer)


def overlap(a: Bbox, b: Bbox, pad_px: float = PAD_PX) -> bool:
    """Whether boxes ``a`` and ``b`` come closer than ``pad_px``."""
    return not (a.x1 + pad_px <= b.x0 or b.x1 + pad_px <= a.x0
                or a.y1 + pad_px <= b.y0 or b.y1 + pad_px <= a.y0)


def marker_boxes(ax, points: np.ndarray | None, marker_size_pt: float) -> list[Bbox]:
    """The boxes, in display pixels, of markers ``marker_size_pt`` wide at ``points`` (data
    coordinates) on ``ax``."""
    if points is None or not len(points):
        return []
    radius = marker_size_pt / 2 * ax.figure.dpi / 72.0
    return [Bbox.from_extents(x - radius, y - radius, x + radius, y + radius)
            for x, y in ax.transData.transform(np.asarray(points, dtype=float))]


def others(label, marks: Sequence[Bbox]) -> list[Bbox]:
    """The markers of ``marks`` other than the one ``label`` names (a name always touches that)."""
    x, y = label.axes.transData.transform(label.xy)
    return [mark for mark in marks if not mark.contains(x, y)]


def collisions(box: Bbox, obstacles: Sequence[Bbox], panel: Bbox) -> int:
    """How many of ``obstacles`` a text's ``box`` overlaps, plus ten if it leaves the ``panel``."""
    outside = box.x0 < panel.x0 or box.x1 > panel.x1 or box.y0 < panel.y0 or box.y1 > panel.y1
    return sum(overlap(box, obstacle) for obstacle in obstacles) + 10 * outside


def place_labels(labels: Sequence, sides: Sequence[bool], points: np.ndarray | None = None,
                 marker_size_pt: float = 5.0) -> None:
    """Put each annotation (``ax.annotate`` in offset points), in order, at the first of its
    :func:`places` with the fewest :func:`collisions` with the names placed before it and the
    markers at ``points`` (data coordinates, ``marker_size_pt`` wide): names stay next to their
    points where there is room."""
    if not labels:
        return
    ax = labels[0].axes
    renderer = ax.figure.canvas.get_renderer()
    marks, panel = marker_boxes(ax, points, marker_size_pt), ax.get_window_extent(renderer)
    placed: list[Bbox] = []
    for label, left in zip(labels, sides):
        obstacles = [*placed, *others(label, marks)]

        def cost(place: tuple[float, float, str, str]) -> int:
            put(label, place)
            return collisions(text_box(label, renderer), obstacles, panel)

        put(label, min(places(left), key=cost))  # min keeps the first of equal costs
        placed.append(text_box(label, renderer))


def vertical_moves(labels: Sequence, marks: Sequence[Bbox], renderer) -> list[float]:
    """For each label, the vertical move in pixels that parts it from the names and markers it
    overlaps: half the overlap with another name (the other takes the other half), all of it
    from a marker; up when its middle is above the other's, else down. All zero: nothing left."""
    boxes = [text_box(label, renderer) for label in labels]
    moves = [0.0] * len(labels)
    for i, j in combinations(range(len(boxes)), 2):
        a, b = boxes[i], boxes[j]
        if overlap(a, b):
            upper, lower = (i, j) if a.y0 + a.y1 >= b.y0 + b.y1 else (j, i)
            depth = min(a.y1, b.y1) - max(a.y0, b.y0) + PAD_PX
            moves[upper] += depth / 2
            moves[lower] -= depth / 2
    for index, (label, box) in enumerate(zip(labels, boxes)):
        for mark in others(label, marks):
            if overlap(box, mark):
                up = box.y0 + box.y1 >= mark.y0 + mark.y1
                moves[index] += (mark.y1 + PAD_PX - box.y0) if up else -(box.y1 - mark.y0 + PAD_PX)
                break
    return moves


def spread_labels(labels: Sequence, points: np.ndarray | None = None, marker_size_pt: float = 5.0,
                  steps: int = 300) -> int:
    """Move annotations (``ax.annotate`` in offset points) apart
    vertically by :func:`vertical_moves` until none overlaps another or covers a marker at
    ``points``, or ``steps`` run out; returns how many names still need a move."""
    if not labels:
        return 0
    ax = labels[0].axes
    renderer = ax.figure.canvas.get_renderer()
    marks, points_per_pixel = marker_boxes(ax, points, marker_size_pt), 72.0 / ax.figure.dpi
    for _ in range(steps):
        moves = vertical_moves(labels, marks, renderer)
        if not any(moves):
            return 0
        for label, pixels in zip(labels, moves):
            x, y = label.xyann
            label.xyann = (x, y + pixels * points_per_pixel)
    return sum(1 for move in vertical_moves(labels, marks, renderer) if move)


def draw_leaders(labels: Sequence, far_pt: float = LEADER_FROM_PT) -> list:
    """A :data:`LEADER` line from each name more than ``far_pt`` from its point, from the edge of
    its text nearest the point, so a moved name still says which point it names; returns the
    lines (annotations without text, placed in offset points, so they hold at any dpi)."""
    if not labels:
        return []
    ax = labels[0].axes
    renderer = ax.figure.canvas.get_renderer()
    points_per_pixel = 72.0 / ax.figure.dpi
    lines = []
    for label in labels:
        box = text_box(label, renderer)
        point = ax.transData.transform(label.xy)
        edge = np.clip(point, [box.x0, box.y0], [box.x1, box.y1])  # the text's nearest point
        offset = (edge - point) * points_per_pixel
        if np.hypot(*offset) > far_pt:
            lines.append(ax.annotate("", label.xy, xytext=tuple(offset), textcoords="offset points",
                                     arrowprops=LEADER))
    return lines


def arrange_labels(labels: Sequence, sides: Sequence[bool], points: np.ndarray | None = None,
                   marker_size_pt: float = 5.0) -> int:
    """Place the names (:func:`place_labels`), part those that still overlap
    (:func:`spread_labels`) and draw leaders to those moved away (:func:`draw_leaders`); returns
    how many names still need a move. Call it once the figure's layout is final (after
    ``tight_layout``): overlaps are measured where the texts are drawn."""
    place_labels(labels, sides, points, marker_size_pt)
    left = spread_labels(labels, points, marker_size_pt)
    draw_leaders(labels)
    return left
