"""Hasura's own database as a capture source: `hdb_catalog.event_log` and `hdb_catalog.event_invocation_logs` read
directly, for servers whose metadata API is closed to the user (`inspector capture --database-url URL`, issue 17).

Owns reading those two tables read-only and incrementally, and giving each row the exact shape the metadata API
gives it (`pg_get_event_logs`, `pg_get_event_invocation_logs`: `fetchEventLogsTxE`, `fetchEventInvocationLogsTxE`,
`uncurryEventLog`, `uncurryEventInvocationLog` in `server/src-lib/Hasura/Backends/Postgres/DDL/EventTrigger.hs`;
keys and types pinned by `tests/fixtures/hasura/event_log_record.json` and `invocation_log_record.json`), so the
records are made by the same `EventRecord.from_hasura`/`InvocationRecord.from_hasura` as for the API and the capture
writer cannot tell the two sources apart. The tables' shape is Hasura's source catalog
(`server/src-rsr/init_pg_source.sql` and `server/src-rsr/pg_source_migrations/` in hasura/graphql-engine).

Times as the API gives them: `created_at` and `next_retry_at` are `TIMESTAMP` columns holding the database's wall
time, which Hasura decodes as `UTCTime` and so labels `Z` whatever the zone; `locked` is a `TIMESTAMPTZ`, its true UTC
time (`core.hasura.aeson_time` writes both as aeson does). The database's `TimeZone` is read once and handed to
`from_hasura`, as the metadata client's `server_timezone` is.

How it reads (no trigger, no lock, no table of its own; a READ ONLY REPEATABLE READ transaction per poll): the first
poll reads every row of the followed triggers; later polls read the rows created since the newest `created_at` seen,
minus `late_commit_margin` seconds (a transaction stamps its rows with its start time, `NOW()`, and may commit
after a later one), plus every event still open (pending, retrying, in flight) by id, so each state change is seen
within one poll; an open event no longer there was deleted by Hasura's event cleanup and is reported as such.
Invocations likewise by `created_at`. What is new is decided by the sink (the capture writer), which drops repeats.

Used by `cli/capture.py`.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from typing import Any, Protocol

import psycopg

from inspector.core.events import FINAL_STATUSES, EventRecord, InvocationRecord
from inspector.core.hasura import aeson_time
from inspector.store.postgres.connection import StoreError, StoreUrl, connect

__all__ = ["CatalogSink", "HasuraCatalogReader", "event_log_json", "invocation_log_json"]


class CatalogSink(Protocol):
    """Where the rows go (the capture writer)."""

    def observe_event(self, record: EventRecord) -> str: ...

    def observe_invocation(self, record: InvocationRecord) -> bool: ...

    def event_cleaned_up(self, event_id: str, at: float) -> None: ...


EVENT_COLUMNS = (
    "id, schema_name, table_name, trigger_name, payload, delivered, error, tries, created_at, locked, next_retry_at, "
    "archived"
)
"""`fetchEventLogsTxE`'s select list, in its order."""


def _api_time(value: dt.datetime | None) -> str | None:
    """A `TIMESTAMP` (naive: wall time, labelled `Z` as Hasura's `UTCTime` decoding does) or a `TIMESTAMPTZ` (aware:
    its UTC time) as the metadata API writes it."""
    if value is None:
        return None
    return aeson_time(value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC))


PAYLOAD_ORDER = ("op", "data", "session_variables", "trace_context")
"""The payload's keys in the order `insert_event_log` builds them (`core.hasura.event_payload`); `data` holds `old`
then `new`."""


def _payload(value: Any) -> Any:
    """The payload with its own keys in `insert_event_log`'s order: the `jsonb` column hands them back sorted by
    length (`trace_context` before `session_variables`, `new` before `old`), which is not the shape the capture
    and the sandbox give (tests/fixtures/hasura/event_log_record.json). The row's columns keep the database's order."""
    if not isinstance(value, dict):
        return value
    ordered = {k: value[k] for k in PAYLOAD_ORDER if k in value} | value
    data = ordered.get("data")
    if isinstance(data, dict):
        ordered["data"] = {k: data[k] for k in ("old", "new") if k in data} | data
    return ordered


def event_log_json(row: tuple[Any, ...]) -> dict[str, Any]:
    """An `event_log` row (`EVENT_COLUMNS`) as `pg_get_event_logs` gives it."""
    event_id, schema, table, trigger, payload, delivered, error, tries, created, locked, retry, archived = row
    return {
        "id": event_id,
        "schema_name": schema,
        "table_name": table,
        "trigger_name": trigger,
        "payload": _payload(payload),
        "delivered": bool(delivered),
        "error": bool(error),
        "tries": int(tries),
        "created_at": _api_time(created),
        "locked": _api_time(locked),
        "next_retry_at": _api_time(retry),
        "archived": bool(archived),
    }


def invocation_log_json(row: tuple[Any, ...]) -> dict[str, Any]:
    """An `event_invocation_logs` row (id, trigger_name, event_id, status, request, response, created_at) as
    `pg_get_event_invocation_logs` gives it (`status` served as `http_status`)."""
    invocation_id, trigger, event_id, status, request, response, created = row
    return {
        "id": invocation_id,
        "trigger_name": trigger,
        "event_id": event_id,
        "http_status": status,
        "request": request,
        "response": response,
        "created_at": _api_time(created),
    }


class HasuraCatalogReader:
    """Follows the event log in a Hasura source database through one read-only connection (not shared between
    threads). `poll(sink)` is one pass; returns how many items were new or changed."""

    def __init__(
        self,
        url: str,
        triggers: Iterable[str] | None = None,
        since_now: bool = False,
        late_commit_margin: float = 5.0,
    ) -> None:
        self.url = StoreUrl.parse(url)
        if self.url.capture:
            raise StoreError("--database-url names Hasura's database, not a capture: leave ?capture= out")
        self.triggers = sorted(set(triggers)) if triggers else None
        self.since_now = since_now
        self.margin = dt.timedelta(seconds=late_commit_margin)
        self.server_timezone: str | None = None
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None
        self._invocation_trigger = "i.trigger_name"
        self._newest_event: dt.datetime | None = None
        self._newest_invocation: dt.datetime | None = None
        self._open: set[str] = set()
        self._skip_events: set[str] = set()
        self._skip_invocations: set[str] = set()
        self._first = True

    def connect(self) -> None:
        """Connect read-only and check the tables are Hasura's (`StoreError`, one line, when they are not there)."""
        conn = connect(self.url)
        try:
            conn.read_only = True
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            with conn.transaction():
                found = conn.execute(
                    "SELECT to_regclass('hdb_catalog.event_log') IS NOT NULL, "
                    "to_regclass('hdb_catalog.event_invocation_logs') IS NOT NULL, current_setting('TimeZone')"
                ).fetchone()
                assert found is not None
                if not (found[0] and found[1]):
                    raise StoreError(
                        f"{self.url.where()} holds no hdb_catalog.event_log and event_invocation_logs: give the "
                        "database of the Hasura source whose event triggers to record"
                    )
                self.server_timezone = str(found[2])
                # Source catalogs before version 3 (`pg_source_migrations/2_to_3.sql`) keep no trigger_name on
                # invocations: it is then the event's, as Hasura's older `fetchEventInvocationLogsTxE` joined it.
                has_column = conn.execute(
                    "SELECT 1 FROM information_schema.columns WHERE table_schema = 'hdb_catalog' "
                    "AND table_name = 'event_invocation_logs' AND column_name = 'trigger_name'"
                ).fetchone()
                self._invocation_trigger = (
                    "coalesce(i.trigger_name, e.trigger_name)" if has_column else "e.trigger_name"
                )
        except psycopg.errors.InsufficientPrivilege as exc:
            conn.close()
            raise StoreError(f"{self.url.where()}: not allowed to read hdb_catalog: {str(exc).strip()}") from None
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def poll(self, sink: CatalogSink) -> int:
        """One read of what changed since the last poll, handed to `sink`; the number of new or changed items."""
        if self._conn is None or self._conn.closed:
            self.connect()
        conn = self._conn
        assert conn is not None
        trigger_clause = " AND trigger_name = ANY(%(triggers)s)" if self.triggers else ""
        params: dict[str, Any] = {"triggers": self.triggers}
        found = 0
        with conn.transaction():
            params["floor"] = None if self._newest_event is None else self._newest_event - self.margin
            events = conn.execute(
                f"SELECT {EVENT_COLUMNS} FROM hdb_catalog.event_log WHERE (%(floor)s::timestamp IS NULL OR "
                f"created_at >= %(floor)s){trigger_clause} ORDER BY created_at, id",
                params,
            ).fetchall()
            read = {row[0] for row in events}
            still_open = sorted(self._open - read)
            if still_open:
                events += conn.execute(
                    f"SELECT {EVENT_COLUMNS} FROM hdb_catalog.event_log WHERE id = ANY(%s) ORDER BY created_at, id",
                    (still_open,),
                ).fetchall()
            gone = set(still_open) - {row[0] for row in events}
            params["floor"] = None if self._newest_invocation is None else self._newest_invocation - self.margin
            invocation_triggers = f" AND {self._invocation_trigger} = ANY(%(triggers)s)" if self.triggers else ""
            invocations = conn.execute(
                f"SELECT i.id, {self._invocation_trigger}, i.event_id, i.status, i.request, i.response, i.created_at "
                "FROM hdb_catalog.event_invocation_logs i LEFT JOIN hdb_catalog.event_log e ON e.id = i.event_id "
                f"WHERE (%(floor)s::timestamp IS NULL OR i.created_at >= %(floor)s){invocation_triggers} "
                "ORDER BY i.created_at, i.id",
                params,
            ).fetchall()
        for row in events:
            if row[8] is not None and (self._newest_event is None or row[8] > self._newest_event):
                self._newest_event = row[8]
        for row in invocations:
            if row[6] is not None and (self._newest_invocation is None or row[6] > self._newest_invocation):
                self._newest_invocation = row[6]
        if self._first and self.since_now:  # what is there now is noted and skipped
            self._skip_events = {row[0] for row in events}
            self._skip_invocations = {row[0] for row in invocations}
            self._first = False
            return 0
        self._first = False
        for row in events:
            if row[0] in self._skip_events:
                continue
            record = EventRecord.from_hasura(event_log_json(row), self.server_timezone)
            if sink.observe_event(record) != "same":
                found += 1
            if record.status in FINAL_STATUSES:
                self._open.discard(record.id)
            else:
                self._open.add(record.id)
        for row in invocations:
            if row[0] in self._skip_invocations:
                continue
            if sink.observe_invocation(InvocationRecord.from_hasura(invocation_log_json(row), self.server_timezone)):
                found += 1
        now = time.time()
        for event_id in sorted(gone):
            sink.event_cleaned_up(event_id, now)
            self._open.discard(event_id)
        return found
