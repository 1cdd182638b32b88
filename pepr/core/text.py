"""Words for numbers, written once: counts with their noun in agreement, lists read aloud.

Every sentence that pepr generates (reports, notes, the book's glued prose) says "1 model" and
"3 models" through :func:`plural`, never "model(s)"; :func:`listing` joins names as a reader
says them. Nothing here imports more than the standard library.
"""

from __future__ import annotations

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
