"""All the seqs of an indexed filter, read on a second connection in a background thread, in parts, for the event
list (`store.event_index`).

Why a thread: a filter SQLite answers from an index (`trigger == x`, `status == failed`) gets its seqs as JSON arrays
(`json_group_array`), not as a Python row per seq. Walking 250,000 index entries and building those arrays takes
SQLite about 20 ms, all in `sqlite3_step`, which Python's `sqlite3` runs with the GIL released. Started on its own
connection as soon as the list knows the filter, that statement runs on the machine's other core while the window's
thread shows the first screenful.

Why parts: parsing 250,000 seqs out of JSON takes the window's thread about 15 ms. When SQLite walks the filter's
index in the order of a column it can range over cheaply (the seq itself after `status = ?`, the creation time after
`trigger_name = ?`), the statement is a compound of one-row parts, each the seqs of one range of that column (and one
part for NULLs): SQLite hands over a part as soon as it is done, so the window's thread parses the first parts while
SQLite walks the next ones. Other plans (several indexes, the full-text index) run as one part.

Nothing here runs Python per row (no progress handler: it would take the GIL from the window's thread every
millisecond). The statement is bounded from outside instead: its owner `cancel`s it (SQLite's `interrupt`) once its
budget is spent, or when the filter changes.
"""

from __future__ import annotations

import math
import re
import sqlite3
import threading
import time
from collections.abc import Sequence
from typing import Any

PARTS = 16
"""Ranges of the order column a statement is cut into (plus one for NULLs)."""

_SEARCH = re.compile(r"SEARCH e USING (?:COVERING )?INDEX (\S+) \((.*)\)")
"""An `EXPLAIN QUERY PLAN` line of a filter read from one index: its name and the constraints on its columns."""
_EQUALS = re.compile(r"\w+=\?")


def statement(
    conn: sqlite3.Connection, where: str, params: Sequence[Any], seqs: tuple[int, int]
) -> tuple[str, list[Any], int]:
    """The statement giving every seq that `where` matches, each row one JSON array, its parameters, and how many
    rows it gives: in parts over ranges of the index's order column when SQLite reads the filter from one index, else
    one row. `seqs` is the capture's first and last seq, the range of the parts when the order column is the seq."""
    whole = f"SELECT json_group_array(e.seq) FROM events e WHERE ({where})"
    plan = [str(row[3]) for row in conn.execute(f"EXPLAIN QUERY PLAN {whole}", list(params))]
    column = _order_column(conn, plan)
    if column is None:
        return whole, list(params), 1
    if column == "rowid":
        term, nulls = "e.seq", False
        low, high = seqs
    else:
        term, nulls = f'e."{column}"', True
        low, high = _extent(conn, column)
    pieces: list[str] = []
    args: list[Any] = []
    if nulls:
        pieces.append(f"SELECT ({whole} AND {term} IS NULL)")
        args.extend(params)
    for start, end in _ranges(low, high, PARTS):
        pieces.append(f"SELECT ({whole} AND {term} >= ? AND {term} < ?)")
        args.extend([*params, start, end])
    if not pieces or (nulls and len(pieces) == 1):
        return whole, list(params), 1  # nothing to range over (no values, or values that are not numbers)
    return " UNION ALL ".join(pieces), args, len(pieces)


def _order_column(conn: sqlite3.Connection, plan: Sequence[str]) -> str | None:
    """The column after the index's constrained-equal ones ("rowid" for the seq), which orders the rows a one-index
    plan reads; None for any other plan, or an expression."""
    found = _SEARCH.fullmatch(plan[0]) if len(plan) == 1 else None
    if found is None:
        return None
    name, constraints = found.groups()
    equal = 0
    for constraint in constraints.split(" AND "):
        if not _EQUALS.fullmatch(constraint):
            break
        equal += 1
    columns = conn.execute(f'PRAGMA index_xinfo("{name.replace(chr(34), chr(34) * 2)}")').fetchall()
    if equal >= len(columns):
        return None
    cid, column = columns[equal][1], columns[equal][2]
    return "rowid" if cid == -1 else column if cid >= 0 else None


def _extent(conn: sqlite3.Connection, column: str) -> tuple[Any, Any]:
    """The least and greatest value of a column over the capture, when an index answers them with one seek each
    (else `(None, None)`: a scan of the table would cost more than the parts save)."""
    quoted = f'"{column}"'
    plan = conn.execute(f"EXPLAIN QUERY PLAN SELECT min({quoted}) FROM events").fetchall()
    if not any("USING" in str(row[3]) and "INDEX" in str(row[3]) for row in plan):
        return None, None
    low = conn.execute(f"SELECT min({quoted}) FROM events").fetchone()[0]
    high = conn.execute(f"SELECT max({quoted}) FROM events").fetchone()[0]
    return low, high


def _ranges(low: Any, high: Any, parts: int) -> list[tuple[int | float, int | float]]:
    """`parts` half-open ranges `[start, end)` covering `low..high` (both included), in order; none when they are
    not numbers."""
    numbers = (int, float)
    if type(low) not in numbers or type(high) not in numbers or high < low:
        return []
    if type(low) is int and type(high) is int:
        step = -(-(high - low + 1) // parts)
        return [(start, min(start + step, high + 1)) for start in range(low, high + 1, step)]
    low, high = float(low), float(high)
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    cuts = sorted({low + (high - low) * i / parts for i in range(parts)})
    ends = [*cuts[1:], math.nextafter(high, math.inf)]
    return list(zip(cuts, ends, strict=True))


class SeqJob:
    """`statement(conn, where, params, seqs)` made and run on `conn` in a daemon thread; its rows (JSON arrays of
    seqs) arrive in `take` as SQLite hands them over.

    `conn` must allow use from another thread (`check_same_thread=False`) and run one job at a time: the owner
    `cancel`s (or waits for) a job before starting the next on the same connection."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        where: str,
        params: Sequence[Any],
        budget: float,
        seqs: tuple[int, int] = (0, 0),
    ) -> None:
        self._conn = conn
        self.started = time.perf_counter()
        self.deadline = self.started + budget
        """When the statement's budget is spent (`time.perf_counter()` seconds)."""
        self.texts: list[str] = []
        """Its rows so far, each the seqs of one part as a JSON array (in the index's order)."""
        self.parts = 0
        """How many rows the statement gives (known once it started)."""
        self.error: BaseException | None = None
        """Why the statement failed (`sqlite3.OperationalError` "interrupted" after `cancel`)."""
        self.seconds = 0.0
        """How long the statement took, once done."""
        self._taken = 0
        self._arrived = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(where, params, seqs), name="inspector-seq-job", daemon=True
        )
        self._thread.start()

    def _run(self, where: str, params: Sequence[Any], seqs: tuple[int, int]) -> None:
        try:
            sql, args, self.parts = statement(self._conn, where, params, seqs)
            for (text,) in self._conn.execute(sql, args):
                self.texts.append(text)
                self._arrived.set()
        except BaseException as exc:  # handed to the owner's thread, which raises it or falls back
            self.error = exc
        finally:
            self.seconds = time.perf_counter() - self.started
            self._done.set()
            self._arrived.set()

    @property
    def done(self) -> bool:
        """The statement ended (every row arrived, or it failed)."""
        return self._done.is_set()

    def take(self) -> list[str]:
        """The rows that arrived since the last call."""
        arrived = self.texts[self._taken : len(self.texts)]
        self._taken += len(arrived)
        return arrived

    def wait(self, until: float) -> bool:
        """Wait until a row arrives that `take` has not given (or the statement ends), at the latest until `until`
        (`time.perf_counter()` seconds); whether one did."""
        if self._taken < len(self.texts) or self.done:
            return True
        self._arrived.clear()
        if self._taken < len(self.texts) or self.done:  # arrived just before the clear
            return True
        return self._arrived.wait(max(0.0, until - time.perf_counter()))

    def cancel(self) -> None:
        """Stop the statement (if it still runs) and wait for the thread to end: the connection is free again."""
        # Again until it ends: SQLite forgets an interruption that comes before the statement's first step.
        while not self._done.wait(0.001):
            self._conn.interrupt()
        self._thread.join()
