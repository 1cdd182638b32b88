"""How the book marks a category: the same colour and marker in every figure that shows it.

A reader who has learnt in one chapter that orange crosses are the efficient models, or that
blue circles are BreastMNIST at 100 %, must not have to learn it again in the next. So the style
of a category never depends on which other categories a figure happens to show:

* a yes/no flag (the release's ``efficient``, as :func:`pepr.reporting.plots.yes_no` writes it):
  orange crosses for "yes", blue circles for "no" (their places, :data:`FLAG_PLACES`), "yes" first in the
  legend (:data:`FLAG_ORDER`);
* a setting: its place in :data:`KNOWN_SETTINGS` (the studies' settings, then the release's),
  or, for a setting not listed, a place drawn from its name (:func:`setting_slot`);
* anything else (seeds, model types): the levels sorted (numbers by value), coloured in turn.

A line (a learning curve) takes its dash pattern from the same place (:data:`DASHES`).

Colours come from seaborn's colour-blind palette; seaborn is imported only when a colour is
asked for, so :mod:`pepr.reporting.runplots` can use :func:`whole_number_ticks` without pyplot.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from functools import lru_cache
from typing import NamedTuple

from pepr.data import release

PALETTE = "colorblind"
#: Filled markers only (seaborn cannot mix filled and line markers in one plot); seven, so that
#: with the palette's ten colours the first 70 places each get their own pair.
MARKERS: tuple[str, ...] = ("o", "X", "s", "P", "D", "^", "v")
#: Dash patterns for lines, chosen by the same place as the marker.
DASHES: tuple[tuple[float, ...], ...] = ((), (4, 1.5), (3, 1.25, 1.5, 1.25), (5, 1, 1, 1),
                                         (2, 2), (6, 2, 2, 2), (1, 1))

#: A flag's legend order: the answer the figure is about first.
FLAG_ORDER: tuple[str, ...] = ("yes", "no")
#: A flag's places, whose style (:func:`place_style`) is orange crosses for "yes" and blue
#: circles for "no".
FLAG_PLACES: dict[str, int] = {"yes": 1, "no": 0}

#: The studies' settings (``data/studies``, as :func:`pepr.store.results.setting_label` names
#: them), grouped by dataset, the full training split first. A study added later needs no code:
#: its settings take stable places from their names (:func:`setting_slot`); listed here, they
#: get places of their own (a test checks the book's own studies are).
STUDY_SETTINGS: tuple[str, ...] = ("breastmnist", "breastmnist_f0.1", "pneumoniamnist",
                                   "pneumoniamnist_f0.1", "retinamnist", "retinamnist_f0.1")
#: Every setting the book knows, in the order that fixes its style: the studies', then the
#: release's (:data:`pepr.data.release.SETTINGS`, in its order).
KNOWN_SETTINGS: tuple[str, ...] = (*STUDY_SETTINGS, *release.SETTINGS)


class HueStyles(NamedTuple):
    """The levels of one ``hue`` column as a figure draws them: legend order, colour, marker,
    and the dash pattern of a line."""

    order: list[str]
    palette: dict[str, tuple[float, float, float]]
    markers: dict[str, str]
    dashes: dict[str, tuple[float, ...]]


@lru_cache(maxsize=1)
def colours() -> tuple[tuple[float, float, float], ...]:
    """The palette's colours, in its order."""
    import seaborn as sns

    return tuple(sns.color_palette(PALETTE))


def place_count() -> int:
    """How many places have a (colour, marker) pair of their own."""
    return len(colours()) * len(MARKERS)


def setting_slot(name: str) -> int:
    """The place that fixes a setting's style: its index in :data:`KNOWN_SETTINGS`, or, for any
    other name, one of the places after them picked by a checksum of the name, so an unknown
    setting too looks the same in every figure, whichever settings it is drawn beside."""
    if name in KNOWN_SETTINGS:
        return KNOWN_SETTINGS.index(name)
    spare = place_count() - len(KNOWN_SETTINGS)
    return len(KNOWN_SETTINGS) + zlib.crc32(name.encode("utf-8")) % spare


def place_style(place: int) -> tuple[tuple[float, float, float], str]:
    """The (colour, marker) of a place; distinct for the first :func:`place_count` places."""
    return colours()[place % len(colours())], MARKERS[place % len(MARKERS)]


def setting_style(name: str) -> tuple[tuple[float, float, float], str]:
    """The colour and marker of the setting ``name`` in every figure of the book."""
    return place_style(setting_slot(name))


def setting_dashes(name: str) -> tuple[float, ...]:
    """The dash pattern of the setting ``name``'s lines (a learning curve), by the same place."""
    return DASHES[setting_slot(name) % len(DASHES)]


def setting_order(names: Iterable[str]) -> list[str]:
    """``names`` in the book's order of settings: known ones as listed, then others by name."""
    known = {name: index for index, name in enumerate(KNOWN_SETTINGS)}
    return sorted(set(names), key=lambda name: (name not in known, known.get(name, 0), name))


def flag_style(value: str) -> tuple[tuple[float, float, float], str]:
    """The colour and marker of a flag's "yes" or "no"."""
    return place_style(FLAG_PLACES[value])


def is_flag(levels: Iterable[object]) -> bool:
    """Whether ``levels`` are the answers of a yes/no flag (and nothing else)."""
    present = set(levels)
    return bool(present) and present <= set(FLAG_ORDER)


def _natural_key(level: object) -> tuple[bool, float, str]:
    """Numbers (or their text, as seeds are drawn) by value, then the rest by text."""
    try:
        return False, float(str(level)), ""
    except ValueError:
        return True, 0.0, str(level)


def hue_styles(hue: str, levels: Iterable[object]) -> HueStyles:
    """The styles of the ``levels`` a figure shows of its ``hue`` column: a flag's and a
    setting's fixed ones (see the module's description); any other column's levels sorted,
    coloured and marked in that order."""
    present = [level for level in dict.fromkeys(levels) if level == level]  # NaN is not a level
    if is_flag(present):
        order = [value for value in FLAG_ORDER if value in present]
        places = {value: FLAG_PLACES[value] for value in order}
    elif hue == "setting":
        order = setting_order(str(level) for level in present)
        places = {name: setting_slot(name) for name in order}
    else:
        order = sorted(present, key=_natural_key)
        places = {level: index for index, level in enumerate(order)}
    looks = {level: place_style(place) for level, place in places.items()}
    return HueStyles(order, {level: colour for level, (colour, _) in looks.items()},
                     {level: marker for level, (_, marker) in looks.items()},
                     {level: DASHES[place % len(DASHES)] for level, place in places.items()})


def scatter_styles(hue: str, levels: Iterable[object]) -> dict[str, object]:
    """Keyword arguments for :func:`seaborn.scatterplot` that colour and mark ``hue`` by
    :func:`hue_styles` (``levels``: the values the figure draws, e.g. the column)."""
    styles = hue_styles(hue, levels)
    return {"hue": hue, "style": hue, "hue_order": styles.order, "style_order": styles.order,
            "palette": styles.palette, "markers": styles.markers}


def whole_number_ticks(axis) -> None:
    """Ticks only at whole numbers on ``axis`` (a count of models, an epoch): never 2.5 models."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))
