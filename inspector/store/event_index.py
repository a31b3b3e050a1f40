"""The event list's data, without Qt: which events of a capture a display filter matches, in capture order (or
sorted), their display columns read a page at a time, the live tail, and marks.

Owns its own connection to the capture, the list of rows the current filter matches (only their `seq` numbers, 8 bytes
a row, in an `array('q')`), a bounded LRU cache of pages of rows (read with one query per page that also works out
each row's colouring rule and mark), the incremental loader of the matching seqs, the detection of what other
connections committed (new events, events that came to match), and writing marks. Used by
`qt/event_list/event_table_model.EventTableModel`, a thin Qt adapter that turns what this returns into model signals.

Why pages by `seq` and not `LIMIT/OFFSET`: a page at offset 150,000 costs ~26 ms in SQLite, a page by key ~0.1 ms, and
a million rows must scroll smoothly. Why the matching `seq`s are loaded in slices of the rowid range (each its own
statement, each a few ms, run by the caller between paints): the first screenful shows after the first slice, the
window stays responsive while a slow JSON filter scans a million payloads, and no read transaction stays open between
slices (a long one would stop the capture's WAL from being checkpointed). `NOT INDEXED` keeps SQLite on the rowid
range: with an index on the filtered column it would walk the whole index once per slice.

A filter SQLite answers from an index (`trigger == x`, `status == failed`) is read differently once it matches more
than a screenful: all its seqs in one statement, started by `start` on a second connection of its own
(`store.seq_collector`, a background thread), so SQLite walks the index on another core while this connection shows
the first screenful; a later step parses its answer. On a big capture that statement is cut in parts, taken in turn by
two connections, when SQLite reads each part as a range of the index (`_split`): both cores walk the index at once,
and the first parts are parsed while the last ones still run.
"""

from __future__ import annotations

import bisect
import itertools
import os
import re
import sqlite3
import time
from array import array
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from inspector.core.colouring import ColourRule
from inspector.store.filter_sql import CompiledFilter, CompiledRules, compile_filter, compile_rules, register_functions
from inspector.store.schema import CaptureFormatError, table_columns
from inspector.store.seq_collector import SeqJob

PAGE_SIZE = 256
"""Rows read (and cached) together."""
MAX_PAGES = 64
"""Pages kept in the cache: at most 16,384 rows of display columns, whatever the size of the capture."""

SLICE_TARGET = 0.008
"""Seconds one slice query of the loader should take; its span of seqs adapts to stay near it."""
STEP_BUDGET = 0.025
"""Seconds of loading per step between paints, so the window keeps painting and answering input while a filter
loads."""
FIRST_STEP_BUDGET = 0.040
"""The first step (when a filter is set) stops early, after a screenful of rows, to show something fast."""
_MIN_SPAN, _FIRST_SPAN, _MAX_SPAN = 256, 4096, 1 << 20
_FETCH = 4096
"""Seqs fetched at a time from a sorted or indexed query."""
_PROBE_BUDGET = 0.010
"""Seconds the first step gives a filter SQLite answers from an index (all its seqs in one statement) before showing a
first screenful by slices instead."""
_PROBE_ROWS = 16 * PAGE_SIZE
"""A filter that matches this many events or more is not answered in the first step (it gets a screenful by slices
first), so the probe of a big one stops at once."""
_COLLECT_BUDGET = 0.250
"""Seconds the statement for all of such a filter's seqs may run (on the second connection, from `start`; see
`store.seq_collector`) before the index is read row by row in steps instead. It does not hold up the window: steps
wait for it at most their own budget each. 250,000 seqs take about 20 ms on a quiet machine."""
_COLLECT_ROWS = 1 << 20
"""What that statement found is not used when it is this many seqs or more (parsing them would be a pause of over
60 ms): the index is read row by row in steps instead. A filter that matches nearly all of a million events (a
status most events have) is still taken at once: reading its index row by row takes half a second of steps."""
_SPLIT_MIN_EVENTS = 100_000
"""Captures of this many events or more (by seq range) have an indexed filter's statement cut in `_SPLIT_PARTS` parts
run on two connections at once (`_split`), on a machine with two cores or more: one trigger's 250,000 seqs of a
million events in ~13 ms of walking the index instead of ~23. Smaller ones are answered by one statement in a few
ms."""
_SPLIT_PARTS = 6
"""Parts of a cut statement, taken in turn by the two connections: the window's thread parses the first parts' seqs
while the connections still walk the index for the last ones (parsing is a third of the time), instead of parsing
everything once the walk is over."""
_SPLIT_PLAN = re.compile(r"SEARCH e USING (?:COVERING )?INDEX \S+ \(.*\b(rowid|created_ts)>\? AND \1<\?\)$")
"""The plan of a filter's statement with `AND e.seq >= ? AND e.seq < ?` (or `e.created_ts`) added that reads a range
of one index: the index ends in that column (`events_trigger` is by trigger and creation time; single-column indexes
end in the rowid), so each part costs its share of the walk, not a comparison per entry of the whole."""
FIRST_CREATED_SQL = "SELECT min(created_ts) FROM events"
LAST_CREATED_SQL = "SELECT max(created_ts) FROM events"
UNCREATED_SQL = "SELECT 1 FROM events WHERE created_ts IS NULL LIMIT 1"
"""What `_split` asks before cutting by creation time, each answered from the creation time's index (one min() or max()
a statement: SQLite answers `min(x), max(x)` together by scanning the table, 90 ms on a million events)."""
_PROGRESS_OPS = 20_000
"""SQLite virtual-machine instructions between two looks at the probe's deadline (about a millisecond)."""
_INDEXED_PLAN = re.compile(
    r"SEARCH e USING (?:COVERING )?INDEX|SEARCH e USING INTEGER PRIMARY KEY \(rowid=\?\)|MULTI-INDEX OR"
)
"""`EXPLAIN QUERY PLAN` lines of a filter read from an index rather than by scanning the table."""
ADMIT_LIMIT = 2000
"""Rows that came to match the filter (a status changed) inserted one by one; more than that reload the list."""

_LATENCY_SQL = "((coalesce(e.delivered_ts, e.first_attempt_ts) - e.created_ts) * 1000.0)"

SORT_SQL: dict[str, tuple[str, ...]] = {
    "no": ("e.seq",),
    "time": ("e.created_ts",),
    "relative": ("e.created_ts",),
    "trigger": ("e.trigger_name",),
    "table": ("e.schema_name", "e.table_name"),
    "op": ("e.op",),
    "row_key": ("e.row_key",),
    "status": ("e.status",),
    "tries": ("e.tries",),
    "attempts": ("e.attempts",),
    "latency": (_LATENCY_SQL,),
    "http_status": ("e.last_http_status",),
    "trace_id": ("e.trace_id",),
    "id": ("e.id",),
}
"""How each sortable column of the event list sorts (by the column's key): its `ORDER BY` terms over `events e`
(a tuple, not a comma-separated string: the latency's term has commas of its own)."""

MARKED_EVENTS_SQL = "e.id IN (SELECT target FROM marks WHERE kind = 'event')"
"""A predicate over `events e` for the marked events (exporting them)."""


@dataclass(slots=True)
class EventRow:
    """What the list caches of one event: every column of `events` but the payload (read on demand), the index of
    the first colouring rule it matches, and whether it is marked."""

    seq: int
    id: str
    trigger_name: str | None
    schema_name: str | None
    table_name: str | None
    op: str | None
    created_at: str | None
    created_ts: float | None
    status: str | None
    error: int | None
    tries: int | None
    next_retry_at: str | None
    attempts: int | None
    successes: int | None
    first_attempt_ts: float | None
    delivered_ts: float | None
    last_http_status: int | None
    row_key: str | None
    trace_id: str | None
    flags: str | None
    rule: int | None
    """Index of the first colouring rule that matches, or None."""
    marked: int
    """1 when the event is marked (as SQLite gives it), else 0."""


_PAGE_FIELDS = tuple(name for name in EventRow.__dataclass_fields__ if name not in ("rule", "marked"))


class FilterRefused(Exception):
    """A filter (or colouring rule) that compiled but that SQLite refuses on this capture (a column the file lacks)."""


class MarkFailed(Exception):
    """A mark could not be written (read-only file, locked for too long)."""


@dataclass
class Step:
    """What one loading step found: seqs to add at the end of the list, and whether loading is over."""

    found: list[int] = field(default_factory=list)
    done: bool = False
    error: str | None = None
    """The filter failed as it ran (what matched so far is kept)."""


@dataclass
class TailChange:
    """What other connections committed since the last look, as it concerns the list."""

    came_to_match: list[int]
    """Seqs already considered that now match the filter and are not listed (to insert in place)."""
    new: list[int]
    """Seqs of new events that match (to append)."""
    reload: bool
    """Too many came to match: load the list again instead."""


class _Loader:
    """The state of one load of the matching seqs.

    Modes: `slices` reads capture order in slices of the rowid range (any filter; the first screenful comes from the
    first slices); `collect` runs one query that SQLite answers from an index (`trigger == x`, `status == failed`,
    `trace_id == x`, free text), gathering its seqs over several steps and inserting them sorted at the end; `stream`
    reads a sorted query's rows in order."""

    def __init__(self, hi: int, mode: str = "slices", cursor: sqlite3.Cursor | None = None) -> None:
        self.mode = mode
        self.lo = 0
        """Seqs up to `lo` have been scanned (slices)."""
        self.hi = hi
        """The last seq of the capture when loading started; later ones are the live tail's."""
        self.span = _FIRST_SPAN
        self.cursor = cursor
        self.pending: list[int] = []
        """Seqs gathered by `collect`, in index order."""
        self.indexed = False
        """SQLite would answer the filter from an index: after the first screenful, switch to `collect`."""
        self.jobs: list[SeqJob] = []
        """The statement for all of an indexed filter's seqs (or its halves, in capture order), each running on a
        connection of its own (`collect`); a job leaves the list when its answer is parsed into `parsed`."""
        self.parsed: list[int] = []
        """The seqs of the jobs answered so far (in the index's order)."""
        self.done = False

    def close(self) -> None:
        if self.cursor is not None:
            self.cursor.close()
            self.cursor = None
        for job in self.jobs:
            job.cancel()  # (a part not started yet never starts)
        self.jobs = []
        self.parsed = []


def connect(path: Path, *, any_thread: bool = False) -> sqlite3.Connection:
    """The list's own connection: autocommit (no read transaction left open between queries), and never creating a
    file that is not there. Read-write so marks can be written; read-only when the file cannot be written.
    `any_thread`: usable from a thread other than the one that opened it (the seq collector's)."""
    uri = path.resolve().as_uri()
    try:
        conn = sqlite3.connect(
            f"{uri}?mode=rw", uri=True, isolation_level=None, timeout=5.0, check_same_thread=not any_thread
        )
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        conn = sqlite3.connect(
            f"{uri}?mode=ro", uri=True, isolation_level=None, timeout=5.0, check_same_thread=not any_thread
        )
    return conn


def export_selection(filter_text: str, marked: bool) -> tuple[str, list[Any]]:
    """The predicate over `events e` (and its parameters) choosing the marked events, or those `filter_text` shows,
    for `capture_file.copy_events`. Raises `FilterError` for a filter that does not compile."""
    if marked:
        return MARKED_EVENTS_SQL, []
    compiled = compile_filter(filter_text)
    return compiled.where, list(compiled.params)


class EventIndex:
    """The events of one capture file that match a display filter, in capture order (or sorted), with their rows read
    a page at a time. The caller drives loading (`start`, then `step` until done) and the tail (`refresh`); every
    change to the list (`reset`, `append`, `insert`) is the caller's to make, so it can tell its views around it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no capture file at {self.path}")
        self._conn = connect(self.path)
        register_functions(self._conn)
        have = table_columns(self._conn, "events")
        if not have:
            self._conn.close()
            raise CaptureFormatError(f"{self.path} has no events table: not an Inspector capture")
        self._select = ", ".join(f"e.{name}" if name in have else f"NULL AS {name}" for name in _PAGE_FIELDS)
        self.closed = False
        self.filter: CompiledFilter | None = None
        self.sort: tuple[str, bool] | None = None
        """The column key sorted by and whether descending; None: capture order."""
        self.seqs: array[int] = array("q")
        self._pages: OrderedDict[int, list[EventRow | None]] = OrderedDict()
        self.first_ts: float | None = None
        """When the first event of the capture was created (epoch seconds)."""
        self.compiled_rules: CompiledRules = compile_rules(())
        self.rule_errors: dict[str, str] = {}
        self._loader: _Loader | None = None
        self._hi = 0
        """The last seq the list has considered (loaded or tailed); the tail appends matches after it."""
        self._data_version = -1
        self._state_seq = 0
        self._invocation_seq = 0
        self._retired: object = None
        """The previous list's cached rows while a filter loads, until `release`."""
        self._job_conns: list[sqlite3.Connection] = []
        """Connections for the statements of an indexed filter's seqs: opened with the list (a millisecond each, and
        their schema read: not at the first filter), two on a machine with a second core (a statement cut in parts
        runs on both)."""
        self._open_job_conns(2 if (os.cpu_count() or 1) >= 2 else 1)

    # --- filters, sorting, rules -------------------------------------------------------------------------------------

    def compile(self, text: str) -> CompiledFilter | None:
        """The filter `text` compiled and checked against this file (None shows every event). Raises `FilterError`
        when it does not compile, `FilterRefused` when SQLite refuses it."""
        compiled = compile_filter(text) if text else None
        if compiled is not None:
            try:
                self._conn.execute(f"SELECT 1 FROM events e WHERE ({compiled.where}) LIMIT 0", compiled.params)
            except sqlite3.Error as exc:
                raise FilterRefused(f"the capture cannot run this filter: {exc}") from exc
        return None if compiled is None or compiled.where == "1" else compiled

    def set_rules(self, rules: Sequence[ColourRule]) -> CompiledRules:
        """Colour rows with the enabled rules this file can run (first match wins); each is compiled once, here. The
        others are in `rule_errors` with the reason. Forgets the cached pages."""
        usable: list[ColourRule] = []
        errors: dict[str, str] = {}
        for rule in rules:
            if not rule.enabled:
                continue
            compiled = compile_rules([rule])
            if compiled.errors:
                errors.update(compiled.errors)
                continue
            try:  # a filter can compile and still be refused by this file (a column it lacks)
                self._conn.execute(f"SELECT {compiled.sql} FROM events e LIMIT 0", compiled.params)
            except sqlite3.Error as exc:
                errors[rule.name] = f"the capture cannot run this rule: {exc}"
                continue
            usable.append(rule)
        self.compiled_rules = compile_rules(usable)
        self.rule_errors = errors
        self._pages.clear()
        return self.compiled_rules

    # --- loading -----------------------------------------------------------------------------------------------------

    @property
    def loading(self) -> bool:
        return self._loader is not None and not self._loader.done

    def _where(self) -> tuple[str, list[Any]]:
        if self.filter is None:
            return "1", []
        return self.filter.where, list(self.filter.params)

    def start(self) -> None:
        """Forget the rows and prepare to read the matching seqs again (for the current filter and sort): the list
        is empty, or complete when every event is shown in capture order and their seqs run without gaps."""
        if self._loader is not None:
            self._loader.close()
        self.seqs = array("q")
        self._conn.execute("BEGIN")
        try:
            self._data_version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            hi, self._state_seq, self._invocation_seq = self._marks_of_change()
            self.first_ts = self._first_event_ts()
            low = int(self._conn.execute("SELECT coalesce(min(seq), 1) FROM events").fetchone()[0])
            dense = self._dense_seqs(low, hi) if self.filter is None and self.sort is None else None
        finally:
            self._conn.execute("COMMIT")
        self._hi = hi
        loader = _Loader(hi)
        loader.lo = low - 1
        if dense is not None:
            self.seqs = dense
            loader.done = True
        elif self.sort is not None:
            loader.mode, loader.cursor = "stream", self._sorted_cursor(hi)
        else:
            loader.indexed = self.filter is not None and self._answered_from_an_index()
            if loader.indexed:
                # All its seqs in one statement on the second connection, from now on: it runs while this connection
                # probes for a selective filter's few seqs (then it is stopped) or reads a first screenful.
                loader.jobs = self._start_jobs(low, hi)
        if loader.jobs:
            # The previous list's cached rows are freed later (`release`): freeing them (~5 ms for 64 pages) would
            # hold up the statement's start (its threads need the GIL to begin) or the parsing of its first parts.
            self._retired, self._pages = self._pages, OrderedDict()
        else:
            self._pages.clear()
        self._loader = loader

    def _answered_from_an_index(self) -> bool:
        """Whether SQLite's plan for the filter reads an index (or the full-text index) rather than the table."""
        where, params = self._where()
        plan = self._conn.execute(
            f"EXPLAIN QUERY PLAN SELECT e.seq FROM events e WHERE e.seq > ? AND e.seq <= ? AND ({where})",
            [0, 0, *params],
        ).fetchall()
        return any(_INDEXED_PLAN.match(str(row[3])) for row in plan)

    def _indexed_cursor(self, lo: int, hi: int) -> sqlite3.Cursor:
        where, params = self._where()
        return self._conn.execute(
            f"SELECT e.seq FROM events e WHERE e.seq > ? AND e.seq <= ? AND ({where})", [lo, hi, *params]
        )

    def _dense_seqs(self, low: int, hi: int) -> array[int] | None:
        """All seqs without reading the table, when they run without gaps (the usual capture): 1M in ~40 ms."""
        count = int(self._conn.execute("SELECT count(*) FROM events").fetchone()[0])
        if count == 0:
            return array("q")
        if hi - low + 1 != count:
            return None
        return array("q", range(low, hi + 1))

    def _first_event_ts(self) -> float | None:
        found = self._conn.execute(FIRST_CREATED_SQL).fetchone()
        return None if found is None or found[0] is None else float(found[0])

    def _sorted_cursor(self, hi: int) -> sqlite3.Cursor:
        assert self.sort is not None
        key, descending = self.sort
        direction = "DESC" if descending else "ASC"
        terms = ", ".join(f"{term} {direction}" for term in SORT_SQL.get(key, ("e.seq",)))
        where, params = self._where()
        return self._conn.execute(
            f"SELECT e.seq FROM events e WHERE e.seq <= ? AND ({where}) ORDER BY {terms}, e.seq {direction}",
            [hi, *params],
        )

    def step(self, budget: float, first: bool = False) -> Step:
        """Read matching seqs for about `budget` seconds (the first step stops after a screenful). The caller adds
        `found` with `append`."""
        loader = self._loader
        result = Step()
        if loader is None or loader.done or self.closed:
            result.done = True
            return result
        found = result.found
        started = time.perf_counter()
        try:
            if first and loader.indexed and self._probe_index(loader, found, _PROBE_BUDGET, _PROBE_ROWS):
                loader.done = True
            while not loader.done and time.perf_counter() - started < budget:
                if loader.mode == "slices":
                    self._load_slice(loader, found)
                    if first and len(found) >= PAGE_SIZE:
                        break
                    continue
                if loader.mode == "collect" and loader.cursor is None:
                    # The rest of an indexed filter in one statement if it can, else row by row in steps.
                    answered = self._collect(loader, result, started + budget)
                    if answered is None:
                        break  # still running within its budget: paint, and wait again in the next step
                    if answered:
                        loader.done = True
                        break
                    loader.cursor = self._indexed_cursor(loader.lo, loader.hi)
                assert loader.cursor is not None
                batch = loader.cursor.fetchmany(_FETCH)
                (found if loader.mode == "stream" else loader.pending).extend(r[0] for r in batch)
                if len(batch) < _FETCH:
                    loader.done = True
                    loader.close()
                    found.extend(sorted(loader.pending))
            if first and loader.indexed and not loader.done:
                loader.mode = "collect"  # from the next step, after the first screenful is painted
            if loader.done:
                loader.close()  # a statement still running (the slices got there first) is not needed
        except sqlite3.Error as exc:
            # A filter that compiled and prepared but fails as it runs: keep what matched so far, and say why.
            loader.done = True
            loader.close()
            result.error = f"the filter stopped: {exc}"
        result.done = loader.done
        return result

    def _probe_index(self, loader: _Loader, found: list[int], budget: float, limit: int = -1) -> bool:
        """Answer a filter SQLite reads from an index (its seqs after `loader.lo`) in one statement, if it can within
        `budget` seconds and (when `limit` is not -1) it matches fewer than `limit` events. Its seqs come back as one
        JSON array (`json_group_array`), not as a Python row per seq: that row is most of the cost of reading
        250,000 seqs. False when the statement ran over its budget (interrupted by SQLite's progress handler) or
        reached `limit`: nothing was found then.

        The first step tries it briefly (`_PROBE_BUDGET`, `_PROBE_ROWS`: a selective filter such as an id, a trace
        id or the failed events is answered at once); when that fails, the first screenful comes from slices, and
        the rest from the statement `start` began on the second connection (`_collect`; one trigger's events, a
        quarter of the capture, take one statement), else from the index read row by row in steps."""
        where, params = self._where()
        # The seq range (after `lo`, up to `hi`) is cut here rather than in SQL, where it costs a comparison per index
        # entry: about a third of the statement for one trigger's events.
        if limit == -1:
            sql, args = f"SELECT json_group_array(e.seq) FROM events e WHERE ({where})", params
        else:
            sql = f"SELECT json_group_array(seq) FROM (SELECT e.seq FROM events e WHERE ({where}) LIMIT ?)"
            args = [*params, limit]
        deadline = time.perf_counter() + budget
        self._conn.set_progress_handler(lambda: 1 if time.perf_counter() > deadline else 0, _PROGRESS_OPS)
        try:
            (text,) = self._conn.execute(sql, args).fetchone()
        except sqlite3.OperationalError:
            if time.perf_counter() <= deadline:
                raise  # not the handler's interruption: the filter failed
            return False
        finally:
            self._conn.set_progress_handler(None, 0)
        seqs: list[int] = orjson.loads(text)
        if limit != -1 and len(seqs) >= limit:
            return False
        found[:] = self._take(loader, found, seqs)  # (a small list here: at most `_PROBE_ROWS`)
        return True

    @staticmethod
    def _take(loader: _Loader, found: list[int], seqs: list[int]) -> list[int]:
        """Add the seqs of an indexed filter's statement (all of its matches, in the index's order) that the load
        still needs, after `loader.lo` and up to `loader.hi`, in capture order, to `found`; returns `found`, or
        `seqs` itself when `found` was empty (no copy of a quarter of a million references)."""
        seqs.sort()  # in the index's order, not capture order (often nearly sorted already: a fast sort then)
        del seqs[bisect.bisect_right(seqs, loader.hi) :]
        del seqs[: bisect.bisect_right(seqs, loader.lo)]
        if not found:
            return seqs
        found.extend(seqs)
        return found

    def _start_jobs(self, low: int, hi: int) -> list[SeqJob]:
        """Start the statement for all of an indexed filter's seqs (events `low..hi`) on a connection of its own, or
        its parts on two (none when the budget for it is 0 or a connection cannot be opened: the index is then read
        row by row)."""
        if _COLLECT_BUDGET <= 0:
            return []
        parts = self._split(low, hi)
        self._open_job_conns(min(len(parts), 2))
        if not self._job_conns:
            return []  # the index is read row by row on the list's own connection
        if len(self._job_conns) < min(len(parts), 2):
            parts = [self._where()]
        # Part i on connection i mod n, after the part before it on that connection: the jobs' order is the order
        # their answers come in.
        conns = self._job_conns[: min(len(parts), len(self._job_conns))]
        jobs: list[SeqJob] = []
        for i, (where, params) in enumerate(parts):
            after = jobs[i - len(conns)] if i >= len(conns) else None
            jobs.append(SeqJob(conns[i % len(conns)], where, params, _COLLECT_BUDGET, after=after))
        return jobs

    def _open_job_conns(self, count: int) -> None:
        """Open connections for the statements of indexed filters, up to `count` (fewer when one cannot be opened:
        the list then does with those it has)."""
        while len(self._job_conns) < count:
            try:
                conn = connect(self.path, any_thread=True)
            except sqlite3.Error:
                return
            register_functions(conn)
            # The index's pages read in place from the operating system's cache rather than copied into SQLite's
            # (2 MB by default; one trigger's part of a million events' index is ~8 MB): ~10 ms less a statement,
            # and two parts then run at full speed side by side. Only these read-only statements map the file
            # (SQLite's own limit caps the size); Inspector replaces capture files and never truncates one in place.
            conn.execute("PRAGMA mmap_size = 1099511627776")
            self._job_conns.append(conn)

    def _split(self, low: int, hi: int) -> list[tuple[str, list[Any]]]:
        """The filter as the statement's parts: `_SPLIT_PARTS` ranges of the capture (by seq, or by creation time for
        the trigger's index), in order, when the capture is big, the machine has a second core, and SQLite reads each
        part as a range of one index (`_SPLIT_PLAN`); else the whole filter."""
        where, params = self._where()
        whole = [(where, params)]
        if hi - low + 1 < _SPLIT_MIN_EVENTS or (os.cpu_count() or 1) < 2:
            return whole
        for column in ("seq", "created_ts"):
            if column == "seq":
                first: Any = low
                last: Any = hi + 1
            else:
                # The capture's time range (its ends read from the creation time's index) cut evenly: events are not
                # created in seq order when a backlog is read after newer ones.
                (first,) = self._conn.execute(FIRST_CREATED_SQL).fetchone()
                (last,) = self._conn.execute(LAST_CREATED_SQL).fetchone()
                if first is None or last is None or not last > first:
                    continue
                if self._conn.execute(UNCREATED_SQL).fetchone():
                    continue  # such events would be in no part
            cuts = [first + (last - first) * k / _SPLIT_PARTS for k in range(1, _SPLIT_PARTS)]
            if column == "seq":
                cuts = [int(cut) for cut in cuts]
            middle = f"({where}) AND e.{column} >= ? AND e.{column} < ?"
            plan = self._conn.execute(f"EXPLAIN QUERY PLAN SELECT e.seq FROM events e WHERE {middle}", [*params, 0, 1])
            steps = [str(row[3]) for row in plan.fetchall()]
            matched = _SPLIT_PLAN.match(steps[0]) if len(steps) == 1 else None
            if matched and matched.group(1) == ("rowid" if column == "seq" else column):
                parts = [(f"({where}) AND e.{column} < ?", [*params, cuts[0]])]
                parts += [(middle, [*params, a, b]) for a, b in itertools.pairwise(cuts)]
                parts.append((f"({where}) AND e.{column} >= ?", [*params, cuts[-1]]))
                return parts
        return whole

    def _collect(self, loader: _Loader, result: Step, until: float) -> bool | None:
        """The rest of an indexed filter from its statement (or parts) on the other connections, waiting for it
        until `until` at the latest. True: answered (the seqs are in `result.found`); False: the statement ran over
        its budget (it is stopped) or found too many (`_COLLECT_ROWS`), the index is to be read row by row; None: it is
        still running within its budget."""
        if not loader.jobs and not loader.parsed:  # not started (no budget for it, or no second connection)
            return False
        while loader.jobs:  # in turn: the first parts are parsed while the last ones still run
            job = loader.jobs[0]
            finished = job.wait(min(until, job.deadline))
            if not finished and time.perf_counter() < job.deadline:
                return None
            if not finished:
                loader.close()  # stops them; the connections are free for the next ones
                return False
            if job.error is not None:
                loader.close()
                raise job.error  # the filter failed as it ran
            text = job.text
            assert text is not None
            if _COLLECT_ROWS != -1 and len(loader.parsed) + text.count(",") + 1 >= _COLLECT_ROWS:
                loader.close()
                return False  # too many to parse at once
            loader.jobs.pop(0)
            if loader.parsed:
                loader.parsed.extend(orjson.loads(text))
            else:
                loader.parsed = orjson.loads(text)
        seqs, loader.parsed = loader.parsed, []
        result.found = self._take(loader, result.found, seqs)
        return True

    def _load_slice(self, loader: _Loader, found: list[int]) -> None:
        upper = min(loader.lo + loader.span, loader.hi)
        where, params = self._where()
        t0 = time.perf_counter()
        # One row per slice (its seqs as a JSON array) rather than one per matching event: a filter that matches
        # most events then costs SQLite's scan, not a Python row per match.
        (text,) = self._conn.execute(
            f"SELECT json_group_array(e.seq) FROM events e NOT INDEXED WHERE e.seq > ? AND e.seq <= ? AND ({where})",
            [loader.lo, upper, *params],
        ).fetchone()
        seqs: list[int] = orjson.loads(text)
        seqs.sort()  # the rowid scan gives them in order already; sorting sorted seqs costs next to nothing
        found.extend(seqs)
        elapsed = time.perf_counter() - t0
        loader.lo = upper
        loader.done = upper >= loader.hi
        if elapsed < SLICE_TARGET / 2:
            loader.span = min(loader.span * 2, _MAX_SPAN)
        elif elapsed > SLICE_TARGET * 2:
            loader.span = max(loader.span // 2, _MIN_SPAN)

    # --- changing the list (the caller tells its views around these) -------------------------------------------------

    def release(self) -> None:
        """Free the rows the previous list had cached, if a load kept them (call when idle: after the list is
        loaded). Also done by the next `start`, `refresh` and `clear`."""
        self._retired = None

    def append(self, seqs: Sequence[int]) -> None:
        """Add rows at the end."""
        first = len(self.seqs)
        if first % PAGE_SIZE:
            self._pages.pop(first // PAGE_SIZE, None)  # the last page was short; it grows now
        if type(seqs) is list:
            self.seqs.fromlist(seqs)  # from a list: twice as fast as `extend` (one C loop into allocated space)
        else:
            self.seqs.extend(seqs)

    def position_for(self, seq: int) -> int:
        """Where an event that came to match goes: in capture order, or at the end of a sorted list."""
        return bisect.bisect_left(self.seqs, seq) if self.sort is None else len(self.seqs)

    def insert(self, row: int, seq: int) -> None:
        """Insert a row at `row` (from `position_for`)."""
        for page in [p for p in self._pages if p >= row // PAGE_SIZE]:
            del self._pages[page]
        self.seqs.insert(row, seq)

    def clear(self) -> None:
        """No rows, no loading (closing)."""
        if self._loader is not None:
            self._loader.close()
        self._loader = None
        self.seqs = array("q")
        self._pages.clear()
        self._retired = None

    # --- pages -------------------------------------------------------------------------------------------------------

    @property
    def cached_pages(self) -> int:
        """Pages of rows held in memory (at most `MAX_PAGES`)."""
        return len(self._pages)

    def forget_pages(self) -> list[int]:
        """Forget the cached pages (their rows are read again when asked for); returns their numbers, sorted."""
        pages = sorted(self._pages)
        self._pages.clear()
        return pages

    def forget_page_of(self, row: int) -> None:
        self._pages.pop(row // PAGE_SIZE, None)

    def row(self, row: int) -> EventRow | None:
        """The cached row at `row` (its page read when missing); None out of range or when closed."""
        page_no = row // PAGE_SIZE
        page = self._pages.get(page_no)
        if page is None:
            if self.closed or not 0 <= row < len(self.seqs):
                return None
            page = self._read_page(page_no)
            self._pages[page_no] = page
            while len(self._pages) > MAX_PAGES:
                self._pages.popitem(last=False)
        else:
            self._pages.move_to_end(page_no)
        return page[row - page_no * PAGE_SIZE]

    def _read_page(self, page_no: int) -> list[EventRow | None]:
        """One query for a page: its rows, the first colouring rule each matches, and whether each is marked."""
        seqs = self.seqs[page_no * PAGE_SIZE : (page_no + 1) * PAGE_SIZE].tolist()
        rules = self.compiled_rules
        cursor = self._conn.execute(
            f"SELECT {self._select}, {rules.sql} AS _rule, "
            "EXISTS (SELECT 1 FROM marks m WHERE m.kind = 'event' AND m.target = e.id) AS _marked "
            f"FROM events e WHERE e.seq IN ({','.join('?' * len(seqs))})",
            [*rules.params, *seqs],
        )
        by_seq = {values[0]: EventRow(*values) for values in cursor}  # seq comes first
        return [by_seq.get(seq) for seq in seqs]

    # --- lookups -----------------------------------------------------------------------------------------------------

    def seq_at(self, row: int) -> int | None:
        return self.seqs[row] if 0 <= row < len(self.seqs) else None

    def row_for_seq(self, seq: int) -> int | None:
        if self.sort is None:
            i = bisect.bisect_left(self.seqs, seq)
            return i if i < len(self.seqs) and self.seqs[i] == seq else None
        try:
            return self.seqs.index(seq)
        except ValueError:
            return None

    def row_for_event_id(self, event_id: str) -> int | None:
        """The row showing an event, or None when the filter hides it (or no such event)."""
        if self.closed:
            return None
        found = self._conn.execute("SELECT seq FROM events WHERE id = ?", (event_id,)).fetchone()
        return None if found is None else self.row_for_seq(int(found[0]))

    def event(self, seq: int) -> dict[str, Any] | None:
        """The whole `events` row (payload included) of this seq, read now."""
        if self.closed:
            return None
        cursor = self._conn.execute("SELECT * FROM events WHERE seq = ?", (seq,))
        values = cursor.fetchone()
        if values is None:
            return None
        return dict(zip([d[0] for d in cursor.description], values, strict=True))

    # --- marks -------------------------------------------------------------------------------------------------------

    def set_mark(self, event_id: str, marked: bool) -> None:
        """Mark (or unmark) an event in the capture's `marks`, written at once; `MarkFailed` says why it could not
        be. The caller forgets the row's page so it shows."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                if marked:
                    self._conn.execute(
                        "INSERT OR IGNORE INTO marks (kind, target, created_at) VALUES ('event', ?, ?)",
                        (event_id, time.time()),
                    )
                else:
                    self._conn.execute("DELETE FROM marks WHERE kind = 'event' AND target = ?", (event_id,))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise MarkFailed(f"could not mark the event: {exc}") from exc

    # --- live tail ---------------------------------------------------------------------------------------------------

    def refresh(self) -> TailChange | None:
        """What other connections committed since the last look, or None when nothing was (`PRAGMA data_version`,
        cheap) or while loading (the loader stops at the seq it started from; the next refresh takes the rest). The
        caller forgets the cached pages (rows already read may have changed) and then applies the change."""
        if self.closed or self.loading:
            return None
        self._retired = None
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        if version == self._data_version:
            return None
        self._conn.execute("BEGIN")
        try:
            version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            hi, state_seq, invocation_seq = self._marks_of_change()
            new = self._matching_seqs_between(self._hi, hi)
            # Sorted lists take new events at the end and leave membership alone (no cheap lookup by seq there).
            came_to_match = self._came_to_match() if self.filter is not None and self.sort is None else []
            if self.first_ts is None:
                self.first_ts = self._first_event_ts()
        finally:
            self._conn.execute("COMMIT")
        self._data_version = version
        self._state_seq, self._invocation_seq = state_seq, invocation_seq
        self._hi = max(self._hi, hi)
        return TailChange(came_to_match, new, reload=len(came_to_match) > ADMIT_LIMIT)

    def _marks_of_change(self) -> tuple[int, int, int]:
        """The last seq of events, event_states and invocations, read together."""
        row = self._conn.execute(
            "SELECT (SELECT max(seq) FROM events), (SELECT max(seq) FROM event_states), "
            "(SELECT max(seq) FROM invocations)"
        ).fetchone()
        return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)

    def _matching_seqs_between(self, lo: int, hi: int) -> list[int]:
        if hi <= lo:
            return []
        where, params = self._where()
        return [
            r[0]
            for r in self._conn.execute(
                f"SELECT e.seq FROM events e NOT INDEXED WHERE e.seq > ? AND e.seq <= ? AND ({where}) ORDER BY e.seq",
                [lo, hi, *params],
            )
        ]

    def _came_to_match(self) -> list[int]:
        """Seqs (up to the last one considered) of events that changed since the last look, now match the filter and
        are not in the list."""
        changed = [
            r[0]
            for r in self._conn.execute(
                "SELECT event_id FROM event_states WHERE seq > ? UNION SELECT event_id FROM invocations WHERE seq > ?",
                (self._state_seq, self._invocation_seq),
            )
        ]
        where, params = self._where()
        out: list[int] = []
        for start in range(0, len(changed), 500):
            chunk = changed[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for (seq,) in self._conn.execute(
                f"SELECT e.seq FROM events e WHERE e.id IN ({marks}) AND e.seq <= ? AND ({where})",
                [*chunk, self._hi, *params],
            ):
                if self.row_for_seq(seq) is None:
                    out.append(seq)
        out.sort()
        return out

    # --- closing -----------------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop loading and close the connection; no rows afterwards."""
        if self.closed:
            return
        self.clear()
        self.closed = True
        self._conn.close()
        for conn in self._job_conns:
            conn.close()
        self._job_conns = []
