"""The sandbox's SQLite database: the example's tables, Hasura's event log tables, and transactions that carry a
session.

Owns the one connection the sandbox uses (all access happens on the sandbox's event-loop thread, so there is no locking
beyond SQLite's own) and the SQL functions the event-trigger SQL calls: `gen_random_uuid()`, `hasura_session()`,
`hasura_trace_context()` and `hasura_now()`. Those stand in for Postgres' `gen_random_uuid()` and the `hasura.user` /
`hasura.tracecontext` settings that Hasura sets inside each mutation's transaction (`insert_event_log` in
`server/src-rsr/init_pg_source.sql`).

Hasura keeps its event tables in the `hdb_catalog` schema; SQLite has no schemas that triggers can cross, so here they
are `hdb_event_log` and `hdb_event_invocation_logs` in the same file, with Hasura's columns
(`server/src-rsr/init_pg_source.sql`), and `hdb_metadata` holds the event-trigger configuration. Times are stored as
text with six fraction digits, so they sort as text: `TIMESTAMP` columns (`created_at`, `next_retry_at`) as the
database's local wall time in `timezone` (naive, `2023-05-04T10:11:12.123456`), `TIMESTAMPTZ` (`locked`) in UTC with
`+00:00`. As Postgres' `NOW()`, `hasura_now()` is the start time of the current transaction: every event and invocation
row written by one transaction shares its `created_at` (`created_at TIMESTAMP DEFAULT NOW()` in
`server/src-rsr/init_pg_source.sql`). `hasura_tie()` draws from a seeded random source: the event-log reads order by it
after `created_at`, so rows that tie come back in an order that may change on every call, as Postgres may return them
without a tie-breaker.
"""

from __future__ import annotations

import json
import random
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from inspector.core.hasura import format_timestamp, format_timestamptz
from inspector.sandbox.tables import FOREIGN_KEYS, MENU_SEED, TABLES, Table

SCHEMA_VERSION = 1

CATALOG_DDL = """
CREATE TABLE IF NOT EXISTS hdb_metadata (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  schema_version INTEGER NOT NULL,
  metadata TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS hdb_event_log (
  id TEXT PRIMARY KEY,
  schema_name TEXT NOT NULL,
  table_name TEXT NOT NULL,
  trigger_name TEXT NOT NULL,
  payload TEXT NOT NULL,
  delivered INTEGER NOT NULL DEFAULT 0,
  error INTEGER NOT NULL DEFAULT 0,
  tries INTEGER NOT NULL DEFAULT 0,
  created_at TEXT,
  locked TEXT,
  next_retry_at TEXT,
  archived INTEGER NOT NULL DEFAULT 0,
  seq INTEGER
);
CREATE INDEX IF NOT EXISTS hdb_event_log_trigger ON hdb_event_log (trigger_name, created_at);
CREATE INDEX IF NOT EXISTS hdb_event_log_fetch ON hdb_event_log (locked, next_retry_at, created_at)
  WHERE delivered = 0 AND error = 0 AND archived = 0;
CREATE TABLE IF NOT EXISTS hdb_event_invocation_logs (
  id TEXT PRIMARY KEY,
  trigger_name TEXT,
  event_id TEXT,
  status INTEGER,
  request TEXT,
  response TEXT,
  created_at TEXT,
  seq INTEGER
);
CREATE INDEX IF NOT EXISTS hdb_event_invocation_logs_event ON hdb_event_invocation_logs (event_id);
CREATE INDEX IF NOT EXISTS hdb_event_invocation_logs_trigger ON hdb_event_invocation_logs (trigger_name, created_at);
"""


def utc_now() -> datetime:
    return datetime.now(UTC)


def _table_ddl(table: Table) -> str:
    if table.view_sql is not None:
        return f'CREATE VIEW IF NOT EXISTS "{table.name}" AS {table.view_sql}'
    cols = []
    for c in table.columns:
        if c.type == "serial" and table.primary_key == (c.name,):
            cols.append(f'"{c.name}" INTEGER PRIMARY KEY AUTOINCREMENT')
            continue
        cols.append(f'"{c.name}" {c.sqlite_type}' + ("" if c.nullable else " NOT NULL"))
    if table.primary_key and not any(c.type == "serial" and table.primary_key == (c.name,) for c in table.columns):
        cols.append("PRIMARY KEY (" + ", ".join(f'"{k}"' for k in table.primary_key) + ")")
    fk = FOREIGN_KEYS.get(table.name)
    if fk:
        cols.append(f'FOREIGN KEY ("{fk[0]}") REFERENCES "{fk[1]}" ("{fk[2]}")')
    return f'CREATE TABLE IF NOT EXISTS "{table.name}" (' + ", ".join(cols) + ")"


class Database:
    """One SQLite file holding the example's data, the event log and the metadata.

    `transaction()` opens a write transaction bound to a session (the role and `x-hasura-*` variables of the request
    that writes, and its trace context); SQL triggers read them through `hasura_session()` so that events carry the
    session of the mutation that raised them, as Hasura's do. Listeners added with `on_commit` run after each commit
    (the live-query and streaming pollers use them to wake up; the delivery worker polls, as Hasura does).
    """

    def __init__(self, path: str | Path, timezone: str = "UTC", rng: random.Random | None = None) -> None:
        self.path = str(path)
        self.timezone = ZoneInfo(timezone)
        self._tie_rng = rng or random.Random()
        self._transaction_start: datetime | None = None
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self._session_json: str | None = None
        self._trace_json: str | None = None
        self._in_transaction = False
        self._listeners: list[Callable[[], None]] = []
        self.version = 0
        """Bumped after every commit that wrote something."""
        self.conn.create_function("gen_random_uuid", 0, lambda: str(uuid.uuid4()))
        # Postgres' `current_setting('TimeZone')`, so that `run_sql` tells a client the database's zone.
        self.conn.create_function(
            "current_setting", 1, lambda name: timezone if str(name).lower() == "timezone" else None
        )
        self.conn.create_function("hasura_session", 0, lambda: self._session_json)
        self.conn.create_function("hasura_trace_context", 0, lambda: self._trace_json)
        self.conn.create_function("hasura_now", 0, self.now_timestamp)
        self.conn.create_function("hasura_seq", 0, self._next_seq)
        self.conn.create_function("hasura_tie", 0, self._tie_rng.random, deterministic=False)
        self._seq = 0

    def now(self) -> datetime:
        """Postgres' `NOW()`: the start of the current transaction (aware, UTC), or the current time outside one."""
        return self._transaction_start or utc_now()

    def local(self, value: datetime) -> datetime:
        """An aware time as the database's local wall time (what a `TIMESTAMP` column holds), naive."""
        return value.astimezone(self.timezone).replace(tzinfo=None)

    def now_timestamp(self) -> str:
        """`NOW()` as a `TIMESTAMP` column value: the database's local time of the transaction's start."""
        return format_timestamp(self.local(self.now()))

    def timestamp(self, value: datetime) -> str:
        """An aware time as a `TIMESTAMP` column value (the database's local time)."""
        return format_timestamp(self.local(value))

    def timestamp_as_utc(self, text: str) -> datetime:
        """A `TIMESTAMP` column value back as an aware time, reading it in the database's zone."""
        return datetime.fromisoformat(text).replace(tzinfo=self.timezone).astimezone(UTC)

    def _next_seq(self) -> int:
        # Creation order, used only by the delivery worker's fetch (ties on created_at are delivered in insertion
        # order); the metadata API's reads do not use it, as Hasura's have no tie-breaker.
        self._seq += 1
        return self._seq

    def initialise(self) -> bool:
        """Create what is missing. Returns True when the file was new (the caller then installs the example's
        triggers and seeds menu_items)."""
        fresh = self.conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'hdb_metadata'").fetchone()[0] == 0
        self.conn.executescript(CATALOG_DDL)
        for table in TABLES:
            self.conn.execute(_table_ddl(table))
        if fresh:
            with self.transaction():
                self.conn.executemany("INSERT INTO menu_items (name) VALUES (?)", [(n,) for n in MENU_SEED])
        row = self.conn.execute(
            "SELECT max(seq) FROM (SELECT seq FROM hdb_event_log UNION ALL SELECT seq FROM hdb_event_invocation_logs)"
        ).fetchone()
        self._seq = int(row[0] or 0)
        return bool(fresh)

    def load_metadata(self) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT metadata FROM hdb_metadata WHERE id = 1").fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def save_metadata(self, metadata: Mapping[str, Any]) -> None:
        """Store the metadata (inside the caller's transaction when there is one)."""
        self.conn.execute(
            "INSERT INTO hdb_metadata (id, schema_version, metadata) VALUES (1, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET metadata = excluded.metadata",
            (SCHEMA_VERSION, json.dumps(metadata)),
        )

    @contextmanager
    def transaction(
        self, session_variables: Mapping[str, str] | None = None, trace_context: Mapping[str, str] | None = None
    ) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE … COMMIT, ROLLBACK on error) bound to a session."""
        if self._in_transaction:
            raise RuntimeError("nested transaction")
        self._session_json = None if session_variables is None else json.dumps(dict(session_variables))
        self._trace_json = None if trace_context is None else json.dumps(dict(trace_context))
        self._in_transaction = True
        self._transaction_start = utc_now()
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")
        finally:
            self._in_transaction = False
            self._transaction_start = None
            self._session_json = self._trace_json = None
        self.version += 1
        for listener in list(self._listeners):
            listener()

    def on_commit(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` after each commit; returns a function that removes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def close(self) -> None:
        self.conn.close()


def now_timestamptz() -> str:
    """Now as a `TIMESTAMPTZ` column value."""
    return format_timestamptz(utc_now())
