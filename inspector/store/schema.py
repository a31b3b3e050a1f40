"""The capture file's schema: its tables, columns and indexes, the format version, and the migrations that bring a
file written by an older Inspector (same format version) up to date.

Owns every statement that creates or alters the file's structure. Used by `store.capture_file` (creating and opening a
capture), `store.reader` and `store.event_index` (which columns a file has), `store.exchange` (the version it
writes) and the benchmarks (which drop and re-create the indexes around a bulk load).

The tables are described in `store.capture_file`'s docstring. Why the tables are created from SQL text and not with
sqlite-utils' `create_table`: SQLite keeps each `CREATE` statement's text in `sqlite_master`, so the text below is part
of the file format; files written since format 1 hold exactly this text, and `CREATE ... IF NOT EXISTS` lets an old
file be opened without touching its tables. sqlite-utils would quote and order things its own way, and cannot declare
a composite primary key with the column defaults `marks` and `events` need. The full-text indexes are where
sqlite-utils earns its place: `enable_fts` builds the FTS5 table and the triggers that keep it current.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import sqlite_utils

SCHEMA_VERSION = 1
"""The capture format this Inspector writes, and the newest it reads (kept in `capture_info.schema_version`)."""

TABLES = (
    "capture_info",
    "trigger_snapshots",
    "events",
    "event_states",
    "invocations",
    "operations",
    "messages",
    "session_log",
    "marks",
    "notes",
)
"""Every table of a capture, in the order they are created."""

DDL = """
CREATE TABLE IF NOT EXISTS capture_info (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS trigger_snapshots (
  seq INTEGER PRIMARY KEY, captured_at REAL, source TEXT, table_schema TEXT, table_name TEXT, name TEXT, config TEXT
);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, trigger_name TEXT, schema_name TEXT, table_name TEXT, op TEXT,
  created_at TEXT, created_ts REAL, payload TEXT, status TEXT, delivered INTEGER, error INTEGER, tries INTEGER,
  locked TEXT, next_retry_at TEXT, archived INTEGER, attempts INTEGER NOT NULL DEFAULT 0, first_attempt_ts REAL,
  delivered_ts REAL, last_http_status INTEGER, row_key TEXT, trace_id TEXT, session_role TEXT, captured_at REAL,
  updated_at REAL, variant_of TEXT, successes INTEGER NOT NULL DEFAULT 0, flags TEXT
);
CREATE INDEX IF NOT EXISTS events_trigger ON events (trigger_name, created_ts);
CREATE INDEX IF NOT EXISTS events_created ON events (created_ts);
CREATE INDEX IF NOT EXISTS events_status ON events (status);
CREATE INDEX IF NOT EXISTS events_row_key ON events (row_key);
CREATE INDEX IF NOT EXISTS events_http_status ON events (last_http_status);
CREATE INDEX IF NOT EXISTS events_trace ON events (trace_id);
CREATE INDEX IF NOT EXISTS events_row_trigger ON events (row_key, trigger_name);
CREATE TABLE IF NOT EXISTS event_states (
  seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL, observed_at REAL, status TEXT, delivered INTEGER, error INTEGER,
  tries INTEGER, locked TEXT, next_retry_at TEXT, archived INTEGER
);
CREATE INDEX IF NOT EXISTS event_states_event ON event_states (event_id, seq);
CREATE TABLE IF NOT EXISTS invocations (
  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, event_id TEXT, trigger_name TEXT, attempt INTEGER,
  http_status INTEGER, status INTEGER, request TEXT, response TEXT, created_at TEXT, created_ts REAL,
  duration_ms REAL, source TEXT NOT NULL DEFAULT 'hasura', captured_at REAL
);
CREATE INDEX IF NOT EXISTS invocations_event ON invocations (event_id, created_ts);
CREATE INDEX IF NOT EXISTS invocations_status ON invocations (http_status);
CREATE TABLE IF NOT EXISTS operations (
  id INTEGER PRIMARY KEY, name TEXT, query TEXT, variables TEXT, kind TEXT, protocol TEXT, started_at REAL,
  ended_at REAL, state TEXT, cursor TEXT
);
CREATE TABLE IF NOT EXISTS messages (
  seq INTEGER PRIMARY KEY, operation_id INTEGER, received_at REAL, type TEXT, raw TEXT, data TEXT, diff TEXT,
  rows INTEGER
);
CREATE INDEX IF NOT EXISTS messages_operation ON messages (operation_id, seq);
CREATE TABLE IF NOT EXISTS session_log (seq INTEGER PRIMARY KEY, at REAL, level TEXT, source TEXT, message TEXT);
CREATE TABLE IF NOT EXISTS marks (kind TEXT, target TEXT, created_at REAL, PRIMARY KEY (kind, target));
CREATE TABLE IF NOT EXISTS notes (seq INTEGER PRIMARY KEY, kind TEXT, target TEXT, created_at REAL, text TEXT);
"""
"""The tables and indexes of format 1, as SQL (see the module docstring for why as text)."""

ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("events", "successes", "INTEGER NOT NULL DEFAULT 0"),
    ("events", "flags", "TEXT"),
    ("events", "cleaned_up_at", "REAL"),
    ("trigger_snapshots", "removed_at", "REAL"),
)
"""Columns added while format 1 was unreleased (table, column, declaration): files written before them get them when
opened. `events.cleaned_up_at`: when the server was found no longer to have the event (Hasura's event cleanup;
`store.vanished`), NULL while it has it; `trigger_snapshots.removed_at`: when the trigger was found deleted."""

FULL_TEXT: tuple[tuple[str, str], ...] = (("events", "payload"), ("invocations", "response"))
"""The full-text indexes (table, column): `events_fts` over payloads, `invocations_fts` over responses."""


class CaptureFormatError(Exception):
    """The file is not a capture Inspector can read (not SQLite, damaged, or from a newer Inspector)."""


def check_format(path: Path) -> None:
    """Raise `CaptureFormatError` unless `path` is an SQLite file holding a capture of a format this Inspector reads.

    Reads with a plain connection: opening a capture for use switches it to WAL, which must not happen to a file that
    turns out not to be a capture."""
    with path.open("rb") as f:
        header = f.read(16)
    if header != b"SQLite format 3\x00":
        raise CaptureFormatError(f"{path} is not a capture file (not an SQLite database)")
    probe = sqlite3.connect(str(path))
    try:
        has_info = probe.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'capture_info'"
        ).fetchone()
        version = (
            None
            if has_info is None
            else probe.execute("SELECT value FROM capture_info WHERE key = 'schema_version'").fetchone()
        )
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:  # a bit flip in a table name decodes as neither
        raise CaptureFormatError(f"{path} is not a capture file or is damaged: {exc}") from exc
    finally:
        probe.close()
    if version is None:
        raise CaptureFormatError(f"{path} is an SQLite database but not an Inspector capture")
    try:
        number = int(json.loads(version[0]))
    except (TypeError, ValueError) as exc:
        raise CaptureFormatError(f"{path} is damaged: unreadable capture format {version[0]!r}") from exc
    if number > SCHEMA_VERSION:
        raise CaptureFormatError(
            f"{path} was written by a newer Inspector (capture format {version[0]}); this one reads up to "
            f"{SCHEMA_VERSION}. Update Inspector to open it."
        )


def initialise(db: sqlite_utils.Database) -> None:
    """Create what the file lacks: every table and index, the columns added since it was written, and the full-text
    indexes; a no-op on a current file."""
    conn = db.conn
    conn.executescript(DDL)
    for table, column, decl in ADDED_COLUMNS:
        if column not in table_columns(conn, table):
            with conn:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
    _index_full_text(db)


def _index_full_text(db: sqlite_utils.Database) -> None:
    """Full-text indexes over payloads and responses, kept current by triggers. The update triggers fire only when
    the indexed column changes: status updates (every flush) and analysis flags must not re-index."""
    conn = db.conn
    for table, column in FULL_TEXT:
        if not db.table(table).detect_fts():
            db.table(table).enable_fts([column], create_triggers=True)
        trigger = f"{table}_au"
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", (trigger,)).fetchone()
        if sql is not None and f"UPDATE OF {column}" not in sql[0]:
            # sqlite-utils' trigger re-indexes on any update of the row; replaced by one on the indexed column only.
            with conn:
                conn.execute(f'DROP TRIGGER "{trigger}"')
                conn.execute(
                    f'CREATE TRIGGER "{trigger}" AFTER UPDATE OF {column} ON "{table}" BEGIN '
                    f'INSERT INTO "{table}_fts" ("{table}_fts", rowid, "{column}") '
                    f"VALUES ('delete', old.rowid, old.\"{column}\"); "
                    f'INSERT INTO "{table}_fts" (rowid, "{column}") VALUES (new.rowid, new."{column}"); END'
                )


def table_columns(conn: sqlite3.Connection, table: str) -> set[str]:
    """The columns a table of this file has (empty when the table is missing)."""
    if table not in TABLES:
        raise ValueError(f"unknown table {table}")
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def message_data_sql(alias: str = "") -> str:
    """SQL for a `messages` row's result (`data`) as JSON text, wherever it is stored (see `store.capture_file`'s
    docstring: NULL when it is the object `payload.data` of `raw`); `alias` is the table's alias in the query, e.g.
    `m`."""
    p = f"{alias}." if alias else ""
    return (
        f"coalesce({p}data, CASE WHEN {p}operation_id IS NOT NULL AND {p}type IN ('next', 'data') "
        f"AND json_valid({p}raw) AND json_type({p}raw, '$.payload.data') = 'object' "
        f"THEN json_extract({p}raw, '$.payload.data') END)"
    )


MESSAGE_COLUMNS_SQL = f"seq, operation_id, received_at, type, raw, {message_data_sql()} AS data, diff, rows"
"""The columns of `messages` with `data` read through `message_data_sql` (for `SELECT ... FROM messages`)."""
