"""The window's reads of a store capture, straight from PostgreSQL, beside a local copy that follows the store.

Owns `PostgresCaptureReader`: `store.reader.CaptureReader` whose reads for the detail pane (an event, its attempts
and states, a trigger's settings), the sources tree (counts by trigger, table and status and their changes, the
subscriptions and their result counts), the status bar's count and the session log are run on the server, so they
answer as soon as the window opens. What reads the capture through SQLite itself (the flows and the analysis, which
take `connection`; a subscription's messages and their diffs; the marks) reads the local copy that
`store.postgres.follow.StoreFollower` fills in the background and keeps following. Used by
`qt/window/store_capture.py`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from inspector.store.postgres.connection import StoreUrl, connect
from inspector.store.postgres.schema import COLUMNS
from inspector.store.reader import (
    CaptureReader,
    EventDetail,
    LastSeqs,
    LogEntry,
    Operation,
    StatusChange,
    TriggerSettings,
)

__all__ = ["PostgresCaptureReader"]

_SELECT = {table: ", ".join(columns) for table, columns in COLUMNS.items()}


class PostgresCaptureReader(CaptureReader):
    """Typed reads of the store capture `capture_id` (its own connection to the server), and of the local copy at
    `copy` for the rest (see the module docstring)."""

    def __init__(self, url: StoreUrl, capture_id: int, copy: str | Path) -> None:
        super().__init__(sqlite3.connect(str(copy), check_same_thread=False), owned=True)
        self.capture_id = capture_id
        self._pg = connect(url)
        self._pg.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        self._depth = 0
        self._seen: tuple[int, ...] = ()
        self._version = 0
        self._counted = (0, 0)
        """(the last seq counted, the events up to it): events only grow, so the count grows by what came after."""

    def close(self) -> None:
        self._pg.close()
        super().close()

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """One transaction on the server for the reads inside (a REPEATABLE READ snapshot)."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._pg.rollback()

    def _rows(self, query: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._pg.execute(query, (self.capture_id, *params)).fetchall()
        finally:
            if self._depth == 0:
                self._pg.rollback()  # read only: no transaction left open between reads

    def _dicts_of(self, table: str, where: str, params: Iterable[Any] = (), tail: str = "") -> list[dict[str, Any]]:
        rows = self._rows(f"SELECT {_SELECT[table]} FROM {table} WHERE capture_id = %s AND {where} {tail}", params)
        return [dict(zip(COLUMNS[table], row, strict=True)) for row in rows]

    # --- the capture as a whole --------------------------------------------------------------------------------------

    def data_version(self) -> int:
        """Changes when the store's capture gained rows (its last seqs; index lookups), or the local copy changed."""
        (row,) = self._rows(
            "SELECT (SELECT max(seq) FROM events WHERE capture_id = %s), (SELECT max(seq) FROM event_states "
            "WHERE capture_id = %s), (SELECT max(seq) FROM invocations WHERE capture_id = %s), (SELECT max(seq) FROM "
            "messages WHERE capture_id = %s), (SELECT max(seq) FROM session_log WHERE capture_id = %s)",
            (self.capture_id,) * 4,
        )
        seen = (*(int(v or 0) for v in row), super().data_version())
        if seen != self._seen:
            self._seen = seen
            self._version += 1
        return self._version

    def event_count(self) -> int:
        last, count = self._counted
        (row,) = self._rows("SELECT max(seq), count(*) FROM events WHERE capture_id = %s AND seq > %s", (last,))
        if row[0] is not None:
            self._counted = (int(row[0]), count + int(row[1]))
        return self._counted[1]

    def last_seqs(self) -> LastSeqs:
        (row,) = self._rows(
            "SELECT (SELECT max(seq) FROM events WHERE capture_id = %s), (SELECT max(seq) FROM event_states "
            "WHERE capture_id = %s), (SELECT max(seq) FROM messages WHERE capture_id = %s)",
            (self.capture_id,) * 2,
        )
        return LastSeqs(*(int(v or 0) for v in row))

    # --- events ------------------------------------------------------------------------------------------------------

    def event_detail(self, event_id: str) -> EventDetail | None:
        with self.snapshot():
            found = self._dicts_of("events", "id = %s", (event_id,))
            if not found:
                return None
            invocations = self._dicts_of(
                "invocations", "event_id = %s", (event_id,), "ORDER BY created_ts IS NULL, created_ts, seq"
            )
            states = self._dicts_of("event_states", "event_id = %s", (event_id,), "ORDER BY seq")
        return EventDetail(found[0], invocations, states)

    def last_replay_attempt(self, event_id: str) -> dict[str, Any] | None:
        rows = self._dicts_of(
            "invocations",
            "event_id = %s AND source = 'replay'",
            (event_id,),
            "ORDER BY created_ts DESC NULLS LAST, seq DESC LIMIT 1",
        )
        return rows[0] if rows else None

    # --- sources -----------------------------------------------------------------------------------------------------

    def configured_triggers(self) -> list[str]:
        return [
            r[0]
            for r in self._rows(
                "SELECT name FROM trigger_snapshots WHERE capture_id = %s GROUP BY name ORDER BY min(seq)"
            )
        ]

    def trigger_settings(self, name: str) -> TriggerSettings | None:
        rows = self._dicts_of("trigger_snapshots", "name = %s", (name,), "ORDER BY seq DESC LIMIT 1")
        if not rows:
            return None
        row = rows[0]
        try:
            config = json.loads(row["config"]) if row.get("config") is not None else None
        except ValueError:
            config = None
        return TriggerSettings(
            name=name,
            source=row.get("source"),
            table_schema=row.get("table_schema"),
            table_name=row.get("table_name"),
            config=config if isinstance(config, dict) else {},
            captured_at=row.get("captured_at"),
            removed_at=row.get("removed_at"),
        )

    def event_counts(self, after: int, upto: int) -> list[tuple[str | None, str | None, str | None, int]]:
        return [
            (r[0], r[1], r[2], int(r[3]))
            for r in self._rows(
                "SELECT trigger_name, table_name, status, count(*) FROM events WHERE capture_id = %s AND seq > %s "
                "AND seq <= %s GROUP BY 1, 2, 3",
                (after, upto),
            )
        ]

    def status_changes(self, after: int, upto: int, events_upto: int) -> list[StatusChange]:
        return [
            StatusChange(*row)
            for row in self._rows(
                "SELECT e.trigger_name, e.table_name, (SELECT p.status FROM event_states p WHERE p.capture_id = "
                "s.capture_id AND p.event_id = s.event_id AND p.seq < s.seq ORDER BY p.seq DESC LIMIT 1), s.status "
                "FROM event_states s JOIN events e ON e.capture_id = s.capture_id AND e.id = s.event_id "
                "WHERE s.capture_id = %s AND s.seq > %s AND s.seq <= %s AND e.seq <= %s ORDER BY s.seq",
                (after, upto, events_upto),
            )
        ]

    # --- subscriptions (their messages and diffs: the local copy) ----------------------------------------------------

    def operations(self) -> list[Operation]:
        return [
            Operation(int(r[0]), r[1], r[2], r[3], r[4])
            for r in self._rows("SELECT id, name, kind, state, query FROM operations WHERE capture_id = %s ORDER BY id")
        ]

    def result_counts(self, after: int, upto: int) -> list[tuple[int | None, int]]:
        return [
            (r[0], int(r[1]))
            for r in self._rows(
                "SELECT operation_id, count(*) FROM messages WHERE capture_id = %s AND seq > %s AND seq <= %s "
                "AND type IN ('next', 'data') GROUP BY operation_id",
                (after, upto),
            )
        ]

    # --- the session log ---------------------------------------------------------------------------------------------

    def session_log(self, after: int, limit: int = 500) -> list[LogEntry]:
        return [
            LogEntry(*row)
            for row in self._rows(
                "SELECT seq, at, level, source, message FROM session_log WHERE capture_id = %s AND seq > %s "
                "ORDER BY seq LIMIT %s",
                (after, limit),
            )
        ]
