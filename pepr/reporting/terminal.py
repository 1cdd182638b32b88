"""Tables for a terminal: text columns left-aligned and wrapped so the table fits the terminal's
width, numbers right-aligned, a missing value shown as a dash (``tabulate`` does the layout)."""

from __future__ import annotations

import shutil

import pandas as pd

#: The width assumed where the terminal's is unknown (output piped to a file keeps it).
DEFAULT_WIDTH = 100
#: A table is fitted to the terminal, but never narrower than this: below it names would break.
MIN_TABLE_WIDTH = 120
#: A wrapped text column keeps at least this many characters per line.
MIN_TEXT_WIDTH = 24
#: Between two columns.
GAP = 2


def terminal_width(default: int = DEFAULT_WIDTH) -> int:
    """The terminal's columns (``COLUMNS`` if set), else ``default``."""
    return shutil.get_terminal_size((default, 24)).columns


def text_widths(frame: pd.DataFrame, width: int) -> dict[str, int | None]:
    """The most characters each text column may take per line so that the table fits ``width``:
    numbers keep theirs, the widest text columns give way first (none below
    :data:`MIN_TEXT_WIDTH` or its header). ``None``: no limit needed."""
    natural = {c: max([len(str(c)), *(len(str(v)) for v in frame[c])]) for c in frame.columns}
    text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    limits: dict[str, int | None] = dict.fromkeys(frame.columns)
    excess = sum(natural.values()) + GAP * (len(natural) - 1) - width
    for column in sorted(text, key=lambda c: -natural[c]):
        if excess <= 0:
            break
        floor = max(MIN_TEXT_WIDTH, len(str(column)))
        cut = min(excess, natural[column] - floor)
        if cut > 0:
            limits[column] = natural[column] - cut
            excess -= cut
    return limits


def fit_table(frame: pd.DataFrame, width: int | None = None, floatfmt: str = ".3f") -> str:
    """``frame`` as a plain text table no wider than ``width`` (the terminal's, at least
    :data:`MIN_TABLE_WIDTH`) where its text columns can wrap: text left-aligned, numbers right-aligned with ``floatfmt``, missing
    values as a dash."""
    from tabulate import tabulate

    width = width or max(terminal_width(), MIN_TABLE_WIDTH)
    limits = text_widths(frame, width)
    if frame.empty:
        return "  ".join(str(c) for c in frame.columns)
    cells = frame.astype(object).where(frame.notna(), None)
    return tabulate(cells, headers="keys", showindex=False, tablefmt="simple", floatfmt=floatfmt,
                    missingval="\u2013", maxcolwidths=[limits[c] for c in frame.columns])
