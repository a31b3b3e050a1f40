"""A time limit on running a display filter over a capture, for the command line (`--filter-timeout`).

Owns `time_limit` (a context manager that aborts what a connection runs once the limit has passed) and
`count_matching` (the filter run once over every event under the limit). Used by `inspector export`, `stats` and
`replay`: each runs its `--filter` through `count_matching` first, so a filter that cannot finish (a regex with nested
repeats such as `^([0-9a-f-]+)*!$` backtracks for hours on one 36-character id) fails in bounded time with
`FilterTimeout` instead of hanging; a filter that passes has shown what one full run costs.

Two mechanisms, because SQLite alone cannot stop a slow `regexp` call: a progress handler on the connection (every
few thousand SQLite instructions: slow JSON or full-text filters, on every platform), and, on the main thread where
the OS has `SIGALRM` (not Windows), an alarm whose Python handler raises inside the regex engine (CPython's `re`
checks for signals while it backtracks), which aborts the `regexp` call and with it the query. The window does not
need this: it loads a filter's matches in short slices between paints (`store.event_index`).
"""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from types import FrameType
from typing import Any

DEFAULT_FILTER_TIMEOUT = 30.0
"""Seconds a command-line filter may run over a capture before the command gives up (`--filter-timeout`, 0: none).
A JSON filter over a million payloads takes a few seconds; a runaway regex never ends."""

_PROGRESS_STEPS = 10_000
"""SQLite virtual-machine instructions between two looks at the clock (about a millisecond of work)."""


class FilterTimeout(Exception):
    """A filter ran longer than its limit; the query was aborted."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the filter ran longer than {seconds:g} s")
        self.seconds = seconds


class _Expired(Exception):
    """Raised by the alarm inside whatever Python code runs (the `regexp` function) when the limit passes."""


@contextlib.contextmanager
def time_limit(conn: sqlite3.Connection, seconds: float | None) -> Iterator[None]:
    """Abort what `conn` runs in the block after `seconds` (None or 0: no limit), raising `FilterTimeout`."""
    if not seconds:
        yield
        return
    deadline = time.monotonic() + seconds
    expired = False

    def progress() -> int:
        nonlocal expired
        expired = expired or time.monotonic() >= deadline
        return int(expired)

    def alarm(_signum: int, _frame: FrameType | None) -> Any:
        nonlocal expired
        expired = True
        raise _Expired

    use_alarm = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    previous: Any = None
    conn.set_progress_handler(progress, _PROGRESS_STEPS)
    if use_alarm:
        previous = signal.signal(signal.SIGALRM, alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except (sqlite3.OperationalError, _Expired) as exc:
        # An abort shows as "interrupted" (progress handler) or "user-defined function raised exception" (the alarm
        # inside `regexp`); either way the limit is the reason when it has passed.
        if expired or isinstance(exc, _Expired):
            raise FilterTimeout(seconds) from None
        raise
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        conn.set_progress_handler(None, 0)


def count_matching(conn: sqlite3.Connection, where: str, params: Iterable[Any], seconds: float | None) -> int:
    """How many events match `where` (a compiled filter's SQL over `events e`), run once over the whole capture
    under `time_limit`; `FilterTimeout` when it cannot finish in time. The connection needs `register_functions`
    when the filter uses `matches`."""
    with time_limit(conn, seconds):
        row = conn.execute(f"SELECT count(*) FROM events e WHERE ({where})", tuple(params)).fetchone()
    return int(row[0])
