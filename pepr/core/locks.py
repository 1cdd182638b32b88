"""One sweep per study: an exclusive lock held for the sweep's whole life.

Two sweeps of one study would each read the study's done runs once and then train every
missing run twice. :func:`study_lock` takes an exclusive lock on ``<study>/sweep.lock`` (the
well-kept ``filelock`` library: an OS lock, released by the kernel when its holder dies, so a
killed sweep never leaves a stale lock) and writes who holds it beside it
(``sweep.lock.json``); a second sweep of the study refuses at once with
:class:`~pepr.core.errors.StudyBusyError`, naming the running one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pepr.core.errors import StudyBusyError

LOCK_NAME = "sweep.lock"
HOLDER_NAME = "sweep.lock.json"


def holder_record() -> dict[str, object]:
    """Who is sweeping: process id, host, start time (UTC) and command line."""
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join(sys.argv)}


def describe_holder(folder: Path) -> str:
    """The running sweep, in words, from its ``sweep.lock.json`` (or that it did not say)."""
    try:
        holder = json.loads((folder / HOLDER_NAME).read_text())
        return (f"pid {holder['pid']} on {holder['host']}, started {holder['started_at']}: "
                f"{holder['command']}")
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not yet said who it is"


@contextmanager
def study_lock(study: str, folder: Path | str) -> Iterator[Path]:
    """Hold the study's sweep lock in ``folder`` (the study's results folder) for the block.

    Raises :class:`StudyBusyError` at once when another process holds it. Yields the lock file.
    """
    from filelock import FileLock, Timeout

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(folder / LOCK_NAME, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise StudyBusyError(f"study {study!r} is already being swept ({describe_holder(folder)}); "
                             f"wait for that sweep to end, or stop it, then run this again") from None
    holder = folder / HOLDER_NAME
    try:
        holder.write_text(json.dumps(holder_record()) + "\n")
        yield folder / LOCK_NAME
    finally:
        holder.unlink(missing_ok=True)
        lock.release()
