"""Words for numbers, written once: counts with their noun in agreement, lists read aloud.

Every sentence that pepr generates (reports, notes, the book's glued prose) says "1 model" and
"3 models" through :func:`plural`, never "model(s)"; :func:`listing` joins names as a reader
says them. Nothing here imports more than the standard library.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    """``1 model``, ``3 models`` (``plural_noun`` where adding an s is wrong)."""
    return f"{count:,} {noun if count == 1 else (plural_noun or noun + 's')}"


def listing(values: Sequence[object], limit: int = 8) -> str:
    """``a, b and c``; long lists end with ``and N more``; nothing is the empty string."""
    items = [str(v) for v in values]
    if not items:
        return ""
    if len(items) > limit:
        items = items[:limit - 1] + [f"{len(values) - limit + 1} more"]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _missing(value: object) -> bool:
    """True for None, NaN and pandas' NA (anything that is not a finite number)."""
    try:
        return not math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return True


def significant(value: float, digits: int = 3) -> str:
    """A total rounded once, to ``digits`` significant figures, so that it reads the same on
    every page: ``1.999`` → ``2.00``, ``47.63`` → ``47.6``, ``1048.2`` → ``1,048``; ``–`` for no
    number."""
    if _missing(value):
        return "–"
    if abs(value) >= 10 ** (digits - 1):
        return f"{value:,.0f}"
    return f"{value:#.{digits}g}".rstrip(".")


def interval_text(low: float, high: float, spec: str = ".2f") -> str:
    """``0.79–0.90``: an interval as a table cell shows it (``–`` where there is none)."""
    return "–" if _missing(low) or _missing(high) else f"{format(low, spec)}–{format(high, spec)}"


def estimate_text(value: float, low: float, high: float, spec: str = ".3f",
                  label: str = "95 % interval") -> str:
    """An estimate with its interval: ``0.97 (95 % interval 0.95–0.98)`` in prose, ``0.088
    (0.051–0.125)`` in a table cell (``label=""``); the estimate alone where there is no
    interval, ``–`` where there is no estimate."""
    if _missing(value):
        return "–"
    if _missing(low) or _missing(high):
        return format(value, spec)
    return f"{format(value, spec)} ({(label + ' ') if label else ''}{interval_text(low, high, spec)})"


def hardware_text(recorded: str) -> str:
    """A row's ``hardware`` as a sentence shows it, its counts in agreement with their nouns:
    rows written before the meter said "1 torch thread" read "1 torch threads"."""
    return re.sub(r"\b(\d+) (logical CPU|torch thread)s?\b",
                  lambda match: plural(int(match.group(1)), match.group(2)), recorded)
