"""One statement's matching seqs read on a second connection in a background thread, for the event list's indexed
filters (`store.event_index`).

Why a thread: a filter SQLite answers from an index (`trigger == x`, `status == failed`) gets every seq in one
statement that returns them as one JSON array. Walking 250,000 index entries and building that array takes SQLite
about 20 ms, all in `sqlite3_step`, which Python's `sqlite3` runs with the GIL released. Started on its own connection
as soon as the list knows the filter is read from an index (`EventIndex.start`), that statement runs on the machine's
other core while the window's thread probes for a selective filter's few seqs (then the statement is stopped) or reads
and paints the first screenful; the window's thread only parses the array when it is there.

Nothing here runs Python per row (no progress handler: it would take the GIL from the window's thread every
millisecond). The statement is bounded from outside instead: its owner `cancel`s it (SQLite's interrupt) once its
budget is spent, or when the filter changes.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any


class SeqJob:
    """`SELECT json_group_array(e.seq) FROM events e WHERE (where)` running on `conn` in a daemon thread.

    `conn` must allow use from another thread (`check_same_thread=False`) and run one job at a time: the owner
    `cancel`s (or waits for) a job before starting the next on the same connection. Parts of one statement that share
    a connection share its thread too (`after`): each runs when the one before it ends (one thread a connection, not
    one a part: a thread's start can wait for the GIL up to the switch interval, and the window's thread waits with
    it)."""

    def __init__(
        self, conn: sqlite3.Connection, where: str, params: list[Any], budget: float, after: SeqJob | None = None
    ) -> None:
        self._conn = conn
        self._sql = f"SELECT json_group_array(e.seq) FROM events e WHERE ({where})"
        self._params = params
        self._stopped = False
        self._next: SeqJob | None = None
        """The job that runs after this one in the same thread."""
        self.started = time.perf_counter()
        self.deadline = self.started + budget
        """When the statement's budget is spent (`time.perf_counter()` seconds)."""
        self.text: str | None = None
        """The seqs as a JSON array (in the index's order), once done without an error."""
        self.error: BaseException | None = None
        """Why the statement failed (`sqlite3.OperationalError` "interrupted" after `cancel`)."""
        self.seconds = 0.0
        """How long the statement took, once done."""
        self._done = threading.Event()
        self._ended = False
        self._chain: threading.Lock
        """Held while a thread ends a job and takes the next one, or while a job is added after another."""
        self._thread: threading.Thread
        if after is not None:
            if after._conn is not conn:
                raise ValueError("a job runs after another on the same connection only")
            with after._chain:
                if not after._ended:  # its thread runs this job when `after` ends
                    self._chain, self._thread, after._next = after._chain, after._thread, self
                    return
        self._chain = threading.Lock()
        self._thread = threading.Thread(target=self._run_chain, name="inspector-seq-job", daemon=True)
        self._thread.start()

    def _run_chain(self) -> None:
        job: SeqJob | None = self
        while job is not None:
            job._run()
            with job._chain:
                job._ended = True
                job = job._next

    def _run(self) -> None:
        try:
            if self._stopped:
                raise sqlite3.OperationalError("interrupted before it started")
            (self.text,) = self._conn.execute(self._sql, self._params).fetchone()
        except BaseException as exc:  # handed to the owner's thread, which raises it or falls back
            self.error = exc
        finally:
            self.seconds = time.perf_counter() - self.started
            self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, until: float) -> bool:
        """Wait for the statement until `until` (`time.perf_counter()` seconds) at the latest; whether it is done."""
        return self._done.wait(max(0.0, until - time.perf_counter()))

    def stop(self) -> None:
        """Never start the statement, nor those after it, if they have not started yet."""
        job: SeqJob | None = self
        while job is not None:
            job._stopped = True
            job = job._next

    def cancel(self) -> None:
        """Stop the statement (if it still runs) and those after it, and wait for the thread to end: the connection
        is free again."""
        self.stop()
        # Again until it ends: SQLite forgets an interruption that comes before the statement's first step.
        while not self._done.wait(0.001):
            self._conn.interrupt()
        self._thread.join()
