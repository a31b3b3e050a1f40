"""Event triggers in the sandbox: the SQL triggers that write the event log, and the event log's state machine.

Owns the event-trigger configuration (kept in `hdb_metadata`) and every read and write of `hdb_event_log` and
`hdb_event_invocation_logs`. Used by the metadata API (create/delete/redeliver/invoke/get logs) and by the delivery
worker (fetch due events, record invocations, move events through delivered / error / retry).

As in Hasura (`insert_event_log` in `server/src-rsr/init_pg_source.sql`), each trigger installs one SQL row trigger per
operation, so the event row commits in the same transaction as the change that raised it; UPDATE events are written only
when a listened column changed; the payload holds the trigger's payload columns with their JSON types, the session
variables and the trace context of the writing transaction.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from inspector.core.hasura import (
    EventTriggerConf,
    HasuraError,
    OperationSpec,
    aeson_time,
    event_payload,
    format_timestamptz,
)
from inspector.sandbox.database import Database, now_timestamptz, utc_now
from inspector.sandbox.tables import TABLES, Table

LOCK_TIMEOUT = timedelta(minutes=30)
"""A lock older than this is taken again by the fetch (`server/src-lib/Hasura/Backends/Postgres/DDL/EventTrigger.hs`):
the source of duplicate deliveries."""


def _json_expr(table: Table, row: str, column: str) -> str:
    """SQL that renders `row.column` as its JSON value (booleans as true/false, not 0/1)."""
    c = table.column(column)
    ref = f'{row}."{column}"'
    if c.type == "boolean":
        return f"json(CASE WHEN {ref} IS NULL THEN 'null' WHEN {ref} THEN 'true' ELSE 'false' END)"
    return ref


def _row_object(table: Table, row: str, spec: OperationSpec) -> str:
    cols = table.column_names if spec.payload in (None, "*") else spec.payload
    assert cols is not None and cols != "*"
    return "json_object(" + ", ".join(f"'{c}', {_json_expr(table, row, c)}" for c in cols) + ")"


def trigger_sql(conf: EventTriggerConf, table: Table) -> list[str]:
    """The SQL row triggers that implement `conf` (one per operation), as CREATE TRIGGER statements."""
    statements = []
    for op, spec in conf.ops().items():
        old = "json('null')" if op == "INSERT" else _row_object(table, "OLD", spec)
        new = "json('null')" if op == "DELETE" else _row_object(table, "NEW", spec)
        when = ""
        if op == "UPDATE":
            listened = table.column_names if spec.columns == "*" else spec.columns
            when = " WHEN " + " OR ".join(f'OLD."{c}" IS NOT NEW."{c}"' for c in listened)
        payload = (
            f"json_object('op', '{op}', 'data', json_object('old', {old}, 'new', {new}), "
            "'session_variables', json(hasura_session()), 'trace_context', json(hasura_trace_context()))"
        )
        statements.append(
            f'CREATE TRIGGER "{_sql_trigger_name(conf.name, op)}" AFTER {op} ON "{table.name}"{when} BEGIN '
            "INSERT INTO hdb_event_log (id, schema_name, table_name, trigger_name, payload, created_at, seq) "
            f"VALUES (gen_random_uuid(), '{table.schema}', '{table.name}', '{conf.name}', {payload}, hasura_now(), "
            "hasura_seq()); END"
        )
    return statements


def _sql_trigger_name(trigger: str, op: str) -> str:
    return f"notify_hasura_{trigger}_{op}"


@dataclass
class DueEvent:
    """An event the delivery worker has locked and is about to deliver."""

    id: str
    schema_name: str
    table_name: str
    trigger_name: str
    payload: dict[str, Any]
    tries: int
    created_at: str


def api_time(text: str | None) -> str | None:
    """A stored time as the metadata API serves it: a `UTCTime` in aeson's encoding (trailing zeros dropped, `Z`).

    Hasura decodes the `TIMESTAMP` columns (`created_at`, `next_retry_at`, which hold the database's local time) as
    `UTCTime` (`uncurryEventLog`, `uncurryEventInvocationLog` in
    `server/src-lib/Hasura/Backends/Postgres/DDL/EventTrigger.hs`), so their wall time is labelled `Z` whatever the
    database's zone; `locked` is a `TIMESTAMPTZ` and is the true UTC time."""
    if text is None:
        return None
    value = datetime.fromisoformat(text)
    return aeson_time(value if value.tzinfo else value.replace(tzinfo=UTC))


def _event_log_json(row: sqlite3.Row) -> dict[str, Any]:
    """An `hdb_event_log` row in the shape of `pg_get_event_logs` (Hasura's docs
    `docs/docs/api-reference/metadata-api/event-triggers.mdx`)."""
    return {
        "id": row["id"],
        "schema_name": row["schema_name"],
        "table_name": row["table_name"],
        "trigger_name": row["trigger_name"],
        "payload": json.loads(row["payload"]),
        "delivered": bool(row["delivered"]),
        "error": bool(row["error"]),
        "tries": row["tries"],
        "created_at": api_time(row["created_at"]),
        "locked": api_time(row["locked"]),
        "next_retry_at": api_time(row["next_retry_at"]),
        "archived": bool(row["archived"]),
    }


def _invocation_json(row: sqlite3.Row) -> dict[str, Any]:
    """An `hdb_event_invocation_logs` row in the shape of `pg_get_event_invocation_logs` (Hasura's docs
    `docs/docs/api-reference/metadata-api/event-triggers.mdx`; `status` is served as `http_status`)."""
    return {
        "id": row["id"],
        "trigger_name": row["trigger_name"],
        "event_id": row["event_id"],
        "http_status": row["status"],
        "request": None if row["request"] is None else json.loads(row["request"]),
        "response": None if row["response"] is None else json.loads(row["response"]),
        "created_at": api_time(row["created_at"]),
    }


class EventTriggers:
    """The event triggers of the sandbox and the log of their events and invocations."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._triggers: dict[str, EventTriggerConf] = {}
        self._tables = {t.name: t for t in TABLES if not t.is_view}

    # --- configuration -------------------------------------------------------------------------------------------

    def load(self) -> None:
        """Read the triggers kept in the database (after a restart)."""
        metadata = self.db.load_metadata() or {}
        self._triggers = {}
        for t in metadata.get("event_triggers", []):
            conf = EventTriggerConf.from_metadata_json(t["table"], t["trigger"])
            self._triggers[conf.name] = conf

    def _save(self) -> None:
        self.db.save_metadata(
            {
                "event_triggers": [
                    {"table": {"schema": c.table_schema, "name": c.table_name}, "trigger": c.to_metadata_json()}
                    for c in self._triggers.values()
                ]
            }
        )

    @property
    def triggers(self) -> dict[str, EventTriggerConf]:
        return dict(self._triggers)

    def get(self, name: str) -> EventTriggerConf:
        try:
            return self._triggers[name]
        except KeyError:
            raise HasuraError(f'event trigger "{name}" does not exist', "not-exists") from None

    def create(self, conf: EventTriggerConf, replace: bool = False) -> None:
        """Install a trigger (`pg_create_event_trigger`)."""
        table = self._tables.get(conf.table_name)
        if table is None or conf.table_schema != table.schema:
            raise HasuraError(f'table "{conf.table_name}" does not exist', "not-exists", "$.args.table")
        for op, spec in conf.ops().items():
            for cols in (spec.columns, spec.payload):
                if cols not in (None, "*"):
                    unknown = [c for c in cols if c not in table.column_names]
                    if unknown:
                        raise HasuraError(
                            f'column "{unknown[0]}" does not exist in table "{table.name}"',
                            "not-exists",
                            f"$.args.{op.lower()}",
                        )
        existing = self._triggers.get(conf.name)
        if existing is not None:
            if not replace:
                raise HasuraError(f"Event trigger with name {conf.name!r} already exists", "already-exists")
            if existing.table_name != conf.table_name:
                raise HasuraError("cannot replace an event trigger onto another table", "bad-request")
        with self.db.transaction():
            self._drop_sql_triggers(conf.name)
            for statement in trigger_sql(conf, table):
                self.db.conn.execute(statement)
            self._triggers[conf.name] = conf
            self._save()

    def delete(self, name: str) -> None:
        """Remove a trigger; its events are kept and archived (`pg_delete_event_trigger`,
        `server/src-lib/Hasura/Backends/Postgres/DDL/EventTrigger.hs`)."""
        self.get(name)
        with self.db.transaction():
            self._drop_sql_triggers(name)
            self.db.conn.execute("UPDATE hdb_event_log SET archived = 1 WHERE trigger_name = ?", (name,))
            del self._triggers[name]
            self._save()

    def _drop_sql_triggers(self, name: str) -> None:
        for op in ("INSERT", "UPDATE", "DELETE"):
            self.db.conn.execute(f'DROP TRIGGER IF EXISTS "{_sql_trigger_name(name, op)}"')

    # --- events --------------------------------------------------------------------------------------------------

    def invoke(self, name: str, payload: Any, session_variables: Mapping[str, str] | None) -> str:
        """Insert a MANUAL event (`pg_invoke_event_trigger`); returns its id."""
        conf = self.get(name)
        if not conf.enable_manual:
            raise HasuraError("manual mode is not enabled for event trigger", "not-supported")
        event_id = str(uuid.uuid4())
        body = event_payload("MANUAL", None, payload, session_variables, None)
        with self.db.transaction():
            self.db.conn.execute(
                "INSERT INTO hdb_event_log (id, schema_name, table_name, trigger_name, payload, created_at, seq) "
                "VALUES (?, ?, ?, ?, ?, ?, hasura_seq())",
                (event_id, conf.table_schema, conf.table_name, name, json.dumps(body), self.db.now_timestamp()),
            )
        return event_id

    def redeliver(self, event_id: str) -> None:
        """`pg_redeliver_event` (`server/src-lib/Hasura/Backends/Postgres/DDL/EventTrigger.hs`): refuse while locked,
        else reset to pending with tries = 0."""
        row = self.db.conn.execute("SELECT locked FROM hdb_event_log WHERE id = ?", (event_id,)).fetchone()
        if row is None:
            raise HasuraError("event not found", "not-exists")
        if row["locked"] is not None and row["locked"] >= format_timestamptz(utc_now() - LOCK_TIMEOUT):
            raise HasuraError("event is already being processed", "busy")
        with self.db.transaction():
            self.db.conn.execute(
                "UPDATE hdb_event_log SET delivered = 0, error = 0, tries = 0 WHERE id = ?", (event_id,)
            )

    def fetch_due(self, limit: int) -> list[DueEvent]:
        """Lock and return up to `limit` events that are due, in Hasura's fetch order
        (`server/src-lib/Hasura/Backends/Postgres/DDL/EventTrigger.hs`)."""
        if not self._triggers:
            return []
        now = utc_now()
        names = list(self._triggers)
        marks = ",".join("?" * len(names))
        with self.db.transaction():
            rows = self.db.conn.execute(
                "SELECT id, schema_name, table_name, trigger_name, payload, tries, created_at FROM hdb_event_log "
                "WHERE delivered = 0 AND error = 0 AND archived = 0 "
                "AND (locked IS NULL OR locked < ?) AND (next_retry_at IS NULL OR next_retry_at <= ?) "
                f"AND trigger_name IN ({marks}) "
                "ORDER BY locked IS NOT NULL, locked, next_retry_at IS NOT NULL, next_retry_at, created_at, seq "
                "LIMIT ?",
                (format_timestamptz(now - LOCK_TIMEOUT), self.db.timestamp(now), *names, limit),
            ).fetchall()
            if rows:
                self.db.conn.executemany(
                    "UPDATE hdb_event_log SET locked = ? WHERE id = ?",
                    [(format_timestamptz(now), r["id"]) for r in rows],
                )
        return [
            DueEvent(
                r["id"],
                r["schema_name"],
                r["table_name"],
                r["trigger_name"],
                json.loads(r["payload"]),
                r["tries"],
                r["created_at"],
            )
            for r in rows
        ]

    def record_invocation(
        self,
        event: DueEvent,
        status: int | None,
        request: Mapping[str, Any],
        response: Mapping[str, Any],
        outcome: str,
        retry_in_seconds: float | None = None,
    ) -> None:
        """Log one attempt and move the event on, in one transaction
        (`server/src-lib/Hasura/Backends/Postgres/DDL/EventTrigger.hs`).

        outcome: `delivered`, `retry` (with `retry_in_seconds`) or `error`.
        """
        with self.db.transaction():
            self.db.conn.execute(
                "INSERT INTO hdb_event_invocation_logs (id, trigger_name, event_id, status, request, response, "
                "created_at, seq) VALUES (?, ?, ?, ?, ?, ?, ?, hasura_seq())",
                (
                    str(uuid.uuid4()),
                    event.trigger_name,
                    event.id,
                    status,
                    json.dumps(request),
                    json.dumps(response),
                    self.db.now_timestamp(),
                ),
            )
            self.db.conn.execute("UPDATE hdb_event_log SET tries = tries + 1 WHERE id = ?", (event.id,))
            args: tuple[str, ...]
            if outcome == "delivered":
                sql, args = "delivered = 1, next_retry_at = NULL, locked = NULL", ()
            elif outcome == "error":
                sql, args = "error = 1, next_retry_at = NULL, locked = NULL", ()
            else:
                due = utc_now() + timedelta(seconds=retry_in_seconds or 0)
                sql, args = "next_retry_at = ?, locked = NULL", (self.db.timestamp(due),)
            self.db.conn.execute(f"UPDATE hdb_event_log SET {sql} WHERE id = ?", (*args, event.id))

    def unlock(self, event_ids: Iterable[str] | None = None) -> int:
        """Clear locks: of the given events (graceful shutdown,
        `server/src-lib/Hasura/Backends/Postgres/DDL/EventTrigger.hs`) or of every undelivered event (start-up)."""
        with self.db.transaction():
            if event_ids is None:
                cur = self.db.conn.execute(
                    "UPDATE hdb_event_log SET locked = NULL WHERE locked IS NOT NULL AND delivered = 0 AND error = 0"
                )
            else:
                ids = list(event_ids)
                cur = self.db.conn.executemany(
                    "UPDATE hdb_event_log SET locked = NULL WHERE id = ? AND locked IS NOT NULL", [(i,) for i in ids]
                )
            return cur.rowcount

    # --- reads for the metadata API ------------------------------------------------------------------------------

    # Hasura's reads order by `created_at DESC` alone (`fetchEventLogsTxE`, `fetchEventInvocationLogsTxE`,
    # `fetchEventByIdTxE` in `server/src-lib/Hasura/Backends/Postgres/DDL/EventTrigger.hs`), and rows written by one
    # transaction share `created_at`: `hasura_tie()` returns such ties in a random order that changes per call, so
    # a client paging by offset can see a row twice or miss one, as against Postgres.

    def event_logs(self, name: str, status: str | None, limit: int, offset: int) -> list[dict[str, Any]]:
        """`pg_get_event_logs` (Hasura's docs `docs/docs/api-reference/metadata-api/event-triggers.mdx`): newest first,
        ties in no fixed order."""
        self.get(name)
        where = "trigger_name = ?"
        if status == "pending":
            where += " AND delivered = 0 AND error = 0 AND archived = 0"
        elif status == "processed":
            where += " AND (delivered = 1 OR error = 1) AND archived = 0"
        rows = self.db.conn.execute(
            f"SELECT * FROM hdb_event_log WHERE {where} ORDER BY created_at DESC, hasura_tie() LIMIT ? OFFSET ?",
            (name, limit, offset),
        ).fetchall()
        return [_event_log_json(r) for r in rows]

    def invocation_logs(self, name: str, limit: int, offset: int) -> list[dict[str, Any]]:
        """`pg_get_event_invocation_logs` (Hasura's docs `docs/docs/api-reference/metadata-api/event-triggers.mdx`):
        newest first, ties in no fixed order."""
        self.get(name)
        rows = self.db.conn.execute(
            "SELECT * FROM hdb_event_invocation_logs WHERE trigger_name = ? ORDER BY created_at DESC, hasura_tie() "
            "LIMIT ? OFFSET ?",
            (name, limit, offset),
        ).fetchall()
        return [_invocation_json(r) for r in rows]

    def event_by_id(self, event_id: str, limit: int, offset: int) -> dict[str, Any]:
        """`pg_get_event_by_id` (Hasura's docs `docs/docs/api-reference/metadata-api/event-triggers.mdx`): the event and
        its invocations, newest first.

        An id that is not in the event log (never was, or cleaned up) is a 400 `not-exists`
        `event id <id> does not exist` (`fetchEventById`, `throw400 NotExists`, in
        `server/src-lib/Hasura/Backends/Postgres/DDL/EventTrigger.hs`), even when invocations of it remain."""
        row = self.db.conn.execute("SELECT * FROM hdb_event_log WHERE id = ?", (event_id,)).fetchone()
        if row is None:
            raise HasuraError(f"event id {event_id} does not exist", "not-exists")
        rows = self.db.conn.execute(
            "SELECT * FROM hdb_event_invocation_logs WHERE event_id = ? ORDER BY created_at DESC, hasura_tie() "
            "LIMIT ? OFFSET ?",
            (event_id, limit, offset),
        ).fetchall()
        return {"event": _event_log_json(row), "invocations": [_invocation_json(r) for r in rows]}

    def cleanup(self, name: str, clear_older_than_hours: float, batch_size: int, clean_invocation_logs: bool) -> int:
        """Delete processed events as Hasura's event-log cleanup does; returns how many went.

        `deleteEventTriggerLogsTx` (`server/src-lib/Hasura/Backends/Postgres/DDL/EventTrigger.hs`): events of the
        trigger that are delivered or errored, created before `now() - clear_older_than` and not locked, up to
        `batch_size`; their invocations are deleted too when `clean_invocation_logs`, else kept (they then outlive
        their event, and `pg_get_event_by_id` answers `not-exists` for it)."""
        self.get(name)
        threshold = self.db.timestamp(utc_now() - timedelta(hours=clear_older_than_hours))
        with self.db.transaction():
            ids = [
                r[0]
                for r in self.db.conn.execute(
                    "SELECT id FROM hdb_event_log WHERE (delivered = 1 OR error = 1) AND trigger_name = ? "
                    "AND created_at < ? AND locked IS NULL LIMIT ?",
                    (name, threshold, batch_size),
                )
            ]
            if clean_invocation_logs:
                self.db.conn.executemany(
                    "DELETE FROM hdb_event_invocation_logs WHERE event_id = ?", [(i,) for i in ids]
                )
            self.db.conn.executemany("DELETE FROM hdb_event_log WHERE id = ?", [(i,) for i in ids])
        return len(ids)


__all__ = ["DueEvent", "EventTriggers", "now_timestamptz", "trigger_sql"]
