"""The event list's data read straight from a capture in a PostgreSQL store: the window's `EventTableModel` over a
store URL, with no local copy before the first screenful.

Owns `PostgresEventIndex`, `store.event_index.EventIndex`'s interface on the server: the matching `seq`s loaded in
steps by keyset pagination on `(capture_id, seq)` (each step a statement or a few, each cut short by a
`statement_timeout`), pages of rows read by `seq` into the same bounded cache (one statement a page, with each
row's colouring rule and mark), the live tail by polling the capture's last `seq`s, and marks. The list operations
that touch no database (appending, inserting, the page cache, lookups by row) are `EventIndex`'s own. Used by
`qt/window/store_capture.py` (through `EventTableModel(index=...)`).

How seqs load: a keyset statement (`seq > last ORDER BY seq LIMIT n`) lets PostgreSQL pick its plan: the primary key
walked in order for a common value, an index (the GIN `jsonb_path_ops` index for a payload equality, the trigger or
status indexes) for a rare one; its seqs come back as one text (`string_agg`), not a Python row each. A statement that
runs past its budget (a filter no index serves that matches almost nothing) is cancelled by the server, and the load
goes on in slices of the seq range, each bounded, as `EventIndex` does on SQLite. A sorted list reads one ordered
statement through a server-side cursor on a second connection.

Marks: a mark set here is the window's own (the store's marks are the recorder's, replaced by its mirror every
round): kept in memory over the store's and handed to `on_mark` (the window writes it into its followed copy).
"""

from __future__ import annotations

import contextlib
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg import sql as pgsql

from inspector.core.colouring import ColourRule
from inspector.store.event_index import (
    _FETCH,
    _PAGE_FIELDS,
    ADMIT_LIMIT,
    PAGE_SIZE,
    SLICE_TARGET,
    SORT_SQL,
    EventIndex,
    EventRow,
    FilterRefused,
    Step,
    TailChange,
)
from inspector.store.filter_sql import (
    POSTGRES,
    CompiledFilter,
    CompiledRules,
    compile_filter,
    compile_rules,
    to_psycopg,
)
from inspector.store.postgres.connection import StoreError, StoreUrl, connect
from inspector.store.postgres.schema import COLUMNS, check_schema
from inspector.store.postgres.store import _without_nul

__all__ = ["PostgresEventIndex"]

KEYSET_ROWS = 65_536
"""Seqs one keyset statement reads after the first screenful."""
FIRST_TIMEOUT = 0.300
"""Seconds the server may take for the first screenful by keyset before the load turns to slices."""
STEP_TIMEOUT = 0.060
"""The same for the keyset statements of later steps (a step runs between paints)."""
_MIN_SPAN, _FIRST_SPAN, _MAX_SPAN = 1024, 16_384, 1 << 20


class _Loader:
    """One load of the matching seqs: `keyset` (ordered statements after `lo`), `slices` (ranges of seqs after `lo`,
    for a filter no index serves) or `stream` (a sorted statement read through a server-side cursor)."""

    def __init__(self, lo: int, hi: int, mode: str = "keyset") -> None:
        self.mode = mode
        self.lo = lo
        """Seqs up to `lo` have been read (keyset, slices)."""
        self.hi = hi
        """The last seq of the capture when loading started; later ones are the live tail's."""
        self.span = _FIRST_SPAN
        self.done = False
        self.conn: psycopg.Connection[tuple[Any, ...]] | None = None
        self.cursor: psycopg.ServerCursor[tuple[Any, ...]] | None = None

    def close(self) -> None:
        if self.cursor is not None:
            with contextlib.suppress(psycopg.Error):
                self.cursor.close()
            self.cursor = None
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _seqs(text: str | None) -> list[int]:
    return [] if not text else [int(s) for s in text.split(",")]


class PostgresEventIndex(EventIndex):
    """The events of one store capture that match a display filter, in capture order (or sorted), read from the
    server a page at a time. The same calls as `EventIndex` (the caller drives `start`/`step` and `refresh`).
    `StoreError` (one line) when the capture cannot be read this way (the window then reads a local copy)."""

    def __init__(self, url: StoreUrl, on_mark: Callable[[str, bool], None] | None = None) -> None:
        # Not EventIndex.__init__: that opens a capture file. The state below is the same.
        if not url.capture:
            raise StoreError("the store URL names no capture: add ?capture=NAME (`inspector captures URL` lists them)")
        self.url = url
        self.on_mark = on_mark
        self._pg = connect(url, autocommit=True)
        self._pg.prepare_threshold = None  # custom plans always: a payload value's plan depends on the value
        try:
            check_schema(self._pg, url.where())
            row = self._pg.execute("SELECT id FROM captures WHERE name = %s", (url.capture,)).fetchone()
            if row is None:
                raise StoreError(f"no capture named {url.capture!r} in {url.where()}")
            self.capture_id = int(row[0])
            self._select = ", ".join(f"e.{name}" for name in _PAGE_FIELDS)
            # The capability the window needs: its page statement runs here (a role without SELECT on a table, a
            # schema missing a column, would fail it).
            self._pg.execute(self._page_sql("NULL") + " LIMIT 0", (self.capture_id, []))
        except psycopg.Error as exc:
            self._pg.close()
            raise StoreError(f"cannot read {url.where()}: {str(exc).strip()}") from None
        except StoreError:
            self._pg.close()
            raise
        self.closed = False
        self.filter: CompiledFilter | None = None
        self.sort: tuple[str, bool] | None = None
        self.seqs: array[int] = array("q")
        self._pages: OrderedDict[int, list[EventRow | None]] = OrderedDict()
        self.first_ts: float | None = None
        self.compiled_rules: CompiledRules = compile_rules((), dialect=POSTGRES)
        self.rule_errors: dict[str, str] = {}
        self._loader: _Loader | None = None  # type: ignore[assignment]
        self._hi = 0
        self._state_seq = 0
        self._invocation_seq = 0
        self.marks: dict[str, bool] = {}
        """Marks set in this window (event id → marked), over the store's."""

    # --- SQL helpers -------------------------------------------------------------------------------------------------

    def _where(self) -> tuple[str, list[Any]]:
        if self.filter is None:
            return "TRUE", []
        return to_psycopg(self.filter.where), [_without_nul(p) for p in self.filter.params]

    def _page_sql(self, rule_sql: str) -> str:
        return (
            f"SELECT {self._select}, {rule_sql} AS _rule, EXISTS (SELECT 1 FROM marks m WHERE m.capture_id = "
            "e.capture_id AND m.kind = 'event' AND m.target = e.id) AS _marked "
            "FROM events e WHERE e.capture_id = %s AND e.seq = ANY(%s)"
        )

    def _timed(self, query: str, params: Sequence[Any], timeout: float) -> tuple[Any, ...] | None:
        """One row of a statement the server cancels after `timeout` seconds; None when it was cancelled."""
        try:
            with self._pg.transaction():
                self._pg.execute(pgsql.SQL("SET LOCAL statement_timeout = {}").format(max(1, int(timeout * 1000))))
                return self._pg.execute(query, params).fetchone()
        except psycopg.errors.QueryCanceled:
            return None

    # --- filters, sorting, rules -------------------------------------------------------------------------------------

    def compile(self, text: str) -> CompiledFilter | None:
        compiled = compile_filter(text, dialect=POSTGRES) if text else None
        if compiled is not None:
            try:
                self._pg.execute(
                    f"SELECT 1 FROM events e WHERE ({to_psycopg(compiled.where)}) LIMIT 0",
                    [_without_nul(p) for p in compiled.params],
                )
            except psycopg.Error as exc:
                raise FilterRefused(f"the store cannot run this filter: {str(exc).strip()}") from exc
        return None if compiled is None or compiled.where == POSTGRES.TRUE else compiled

    def set_rules(self, rules: Sequence[ColourRule]) -> CompiledRules:
        usable: list[ColourRule] = []
        errors: dict[str, str] = {}
        for rule in rules:
            if not rule.enabled:
                continue
            compiled = compile_rules([rule], dialect=POSTGRES)
            if compiled.errors:
                errors.update(compiled.errors)
                continue
            try:
                self._pg.execute(
                    f"SELECT {to_psycopg(compiled.sql)} FROM events e LIMIT 0",
                    [_without_nul(p) for p in compiled.params],
                )
            except psycopg.Error as exc:
                errors[rule.name] = f"the store cannot run this rule: {str(exc).strip()}"
                continue
            usable.append(rule)
        self.compiled_rules = compile_rules(usable, dialect=POSTGRES)
        self.rule_errors = errors
        self._pages.clear()
        return self.compiled_rules

    # --- loading -----------------------------------------------------------------------------------------------------

    def _marks_of_change(self) -> tuple[int, int, int]:
        row = self._pg.execute(
            "SELECT (SELECT max(seq) FROM events WHERE capture_id = %s), "
            "(SELECT max(seq) FROM event_states WHERE capture_id = %s), "
            "(SELECT max(seq) FROM invocations WHERE capture_id = %s)",
            (self.capture_id,) * 3,
        ).fetchone()
        assert row is not None
        return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)

    def _first_event_ts(self) -> float | None:
        row = self._pg.execute(
            "SELECT min(created_ts) FROM events WHERE capture_id = %s", (self.capture_id,)
        ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def start(self) -> None:
        if self._loader is not None:
            self._loader.close()
        self.seqs = array("q")
        self._pages.clear()
        with self._pg.transaction():
            hi, self._state_seq, self._invocation_seq = self._marks_of_change()
            self.first_ts = self._first_event_ts()
        self._hi = hi
        loader = _Loader(0, hi)
        if self.sort is not None:
            loader.mode = "stream"
            self._open_stream(loader)
        elif hi == 0:
            loader.done = True
        self._loader = loader

    def _open_stream(self, loader: _Loader) -> None:
        assert self.sort is not None
        key, descending = self.sort
        # SQLite puts NULLs first in ascending order; PostgreSQL last: said explicitly, the list sorts as on a file.
        direction = "DESC NULLS LAST" if descending else "ASC NULLS FIRST"
        terms = ", ".join(f"{term} {direction}" for term in SORT_SQL.get(key, ("e.seq",)))
        where, params = self._where()
        loader.conn = connect(self.url)
        loader.cursor = loader.conn.cursor(name="inspector_sorted_list")
        loader.cursor.execute(
            f"SELECT e.seq FROM events e WHERE e.capture_id = %s AND e.seq <= %s AND ({where}) "
            f"ORDER BY {terms}, e.seq {'DESC' if descending else 'ASC'}",
            [self.capture_id, loader.hi, *params],
        )

    def step(self, budget: float, first: bool = False) -> Step:
        loader = self._loader
        result = Step()
        if loader is None or loader.done or self.closed:
            result.done = True
            return result
        found = result.found
        started = time.perf_counter()
        try:
            while not loader.done and time.perf_counter() - started < budget:
                if loader.mode == "stream":
                    assert loader.cursor is not None
                    batch = loader.cursor.fetchmany(_FETCH)
                    found.extend(int(r[0]) for r in batch)
                    if len(batch) < _FETCH:
                        loader.done = True
                        loader.close()
                elif loader.mode == "keyset":
                    self._keyset(loader, found, PAGE_SIZE if first and not found else KEYSET_ROWS, first)
                else:
                    self._slice(loader, found)
                if first and len(found) >= PAGE_SIZE:
                    break
        except psycopg.Error as exc:
            loader.done = True
            loader.close()
            result.error = f"the filter stopped: {str(exc).strip()}"
        result.done = loader.done
        return result

    def _keyset(self, loader: _Loader, found: list[int], limit: int, first: bool) -> None:
        where, params = self._where()
        row = self._timed(
            "SELECT string_agg(seq::text, ',' ORDER BY seq), count(*) FROM (SELECT e.seq FROM events e "
            f"WHERE e.capture_id = %s AND e.seq > %s AND e.seq <= %s AND ({where}) ORDER BY e.seq LIMIT %s) t",
            [self.capture_id, loader.lo, loader.hi, *params, limit],
            FIRST_TIMEOUT if first else STEP_TIMEOUT,
        )
        if row is None:  # no index finds these fast: bounded slices of the seq range from here
            loader.mode = "slices"
            return
        seqs = _seqs(row[0])
        found.extend(seqs)
        if len(seqs) < limit:
            loader.lo = loader.hi
            loader.done = True
        else:
            loader.lo = seqs[-1]

    def _slice(self, loader: _Loader, found: list[int]) -> None:
        upper = min(loader.lo + loader.span, loader.hi)
        where, params = self._where()
        t0 = time.perf_counter()
        row = self._timed(
            "SELECT string_agg(e.seq::text, ',' ORDER BY e.seq) FROM events e "
            f"WHERE e.capture_id = %s AND e.seq > %s AND e.seq <= %s AND ({where})",
            [self.capture_id, loader.lo, upper, *params],
            max(STEP_TIMEOUT, SLICE_TARGET * 8),
        )
        if row is None:  # even this slice was too long: a smaller one
            loader.span = max(loader.span // 4, _MIN_SPAN)
            return
        found.extend(_seqs(row[0]))
        elapsed = time.perf_counter() - t0
        loader.lo = upper
        loader.done = upper >= loader.hi
        if elapsed < SLICE_TARGET / 2:
            loader.span = min(loader.span * 2, _MAX_SPAN)
        elif elapsed > SLICE_TARGET * 2:
            loader.span = max(loader.span // 2, _MIN_SPAN)

    # --- pages -------------------------------------------------------------------------------------------------------

    def _read_page(self, page_no: int) -> list[EventRow | None]:
        seqs = self.seqs[page_no * PAGE_SIZE : (page_no + 1) * PAGE_SIZE].tolist()
        rules = self.compiled_rules
        rows = self._pg.execute(
            self._page_sql(to_psycopg(rules.sql)),
            [*(_without_nul(p) for p in rules.params), self.capture_id, seqs],
        ).fetchall()
        by_seq: dict[int, EventRow] = {}
        for values in rows:
            fields = dict(zip(_PAGE_FIELDS, values, strict=False))
            row = EventRow(**fields, rule=values[-2], marked=int(self.marks.get(values[1], bool(values[-1]))))
            by_seq[row.seq] = row
        return [by_seq.get(seq) for seq in seqs]

    def row_for_event_id(self, event_id: str) -> int | None:
        if self.closed:
            return None
        found = self._pg.execute(
            "SELECT seq FROM events WHERE capture_id = %s AND id = %s", (self.capture_id, event_id)
        ).fetchone()
        return None if found is None else self.row_for_seq(int(found[0]))

    def event(self, seq: int) -> dict[str, Any] | None:
        if self.closed:
            return None
        columns = COLUMNS["events"]
        values = self._pg.execute(
            pgsql.SQL("SELECT {} FROM events WHERE capture_id = %s AND seq = %s").format(
                pgsql.SQL(", ").join(pgsql.Identifier(c) for c in columns)
            ),
            (self.capture_id, seq),
        ).fetchone()
        return None if values is None else dict(zip(columns, values, strict=True))

    # --- marks -------------------------------------------------------------------------------------------------------

    def set_mark(self, event_id: str, marked: bool) -> None:
        """The window's own mark (never written to the store: its recorder's mirror replaces the store's marks), kept
        here and handed to `on_mark`."""
        self.marks[event_id] = marked
        if self.on_mark is not None:
            self.on_mark(event_id, marked)

    # --- live tail ---------------------------------------------------------------------------------------------------

    def refresh(self) -> TailChange | None:
        """What the store's writer committed since the last look (its last seqs of events, states and invocations,
        three index lookups), or None when nothing was or while loading."""
        if self.closed or self.loading:
            return None
        with self._pg.transaction():  # one snapshot: the writer commits whole rounds
            hi, state_seq, invocation_seq = self._marks_of_change()
            if (hi, state_seq, invocation_seq) == (self._hi, self._state_seq, self._invocation_seq):
                return None
            new = self._matching_seqs_between(self._hi, hi)
            came_to_match = self._came_to_match() if self.filter is not None and self.sort is None else []
            if self.first_ts is None:
                self.first_ts = self._first_event_ts()
        self._state_seq, self._invocation_seq = state_seq, invocation_seq
        self._hi = max(self._hi, hi)
        return TailChange(came_to_match, new, reload=len(came_to_match) > ADMIT_LIMIT)

    def _matching_seqs_between(self, lo: int, hi: int) -> list[int]:
        if hi <= lo:
            return []
        where, params = self._where()
        row = self._pg.execute(
            "SELECT string_agg(e.seq::text, ',' ORDER BY e.seq) FROM events e "
            f"WHERE e.capture_id = %s AND e.seq > %s AND e.seq <= %s AND ({where})",
            [self.capture_id, lo, hi, *params],
        ).fetchone()
        return _seqs(None if row is None else row[0])

    def _came_to_match(self) -> list[int]:
        where, params = self._where()
        row = self._pg.execute(
            "SELECT string_agg(e.seq::text, ',' ORDER BY e.seq) FROM events e WHERE e.capture_id = %s "
            "AND e.id IN (SELECT event_id FROM event_states WHERE capture_id = %s AND seq > %s UNION "
            "SELECT event_id FROM invocations WHERE capture_id = %s AND seq > %s) "
            f"AND e.seq <= %s AND ({where})",
            [
                self.capture_id,
                self.capture_id,
                self._state_seq,
                self.capture_id,
                self._invocation_seq,
                self._hi,
                *params,
            ],
        ).fetchone()
        return [seq for seq in _seqs(None if row is None else row[0]) if self.row_for_seq(seq) is None]

    # --- closing -----------------------------------------------------------------------------------------------------

    def close(self) -> None:
        if self.closed:
            return
        self.clear()
        self.closed = True
        self._pg.close()
