"""The PostgreSQL capture store's schema: its tables (the capture file's, keyed by capture), indexes, version and
migrations.

Owns every statement that creates or alters the store's structure, and the check that this Inspector can use a
database (`ensure_schema` for writers, `check_schema` for readers). Used by `store.postgres.store`.

Many captures live side by side: `captures` names each one (`name` unique; who recorded it, when, with which
Inspector) and every other table is the capture file's table of the same name (`store.schema`; same columns, same
meaning) with a leading `capture_id`, its rows keyed by `(capture_id, seq)` (or `id`). Rows keep the `seq` they have
in a file, so a capture pushed and pulled back is the same file. Text columns use the "C" collation, so comparisons
and ordering are byte-wise as in SQLite whatever the database's locale (a filter gives the same events on both).

Two columns exist only here, both derived from `events.payload` when a row is written: `doc` (the payload as `jsonb`,
for payload paths in filters and a GIN `jsonb_path_ops` index) and `words` (the payload's words, case-folded and
without diacritics, space-separated: `filter_sql.search_words`, what SQLite's FTS5 `unicode61` tokenizer makes of
the text), which free-text filters search. `payload` keeps the exact text (key order, spacing) for lossless copies.

Versions live in `inspector_schema` (one row). An older Inspector meeting a newer version refuses with the versions
named; a newer one migrates an older database forward (`MIGRATIONS`), inside one transaction, under an advisory
lock so two Inspectors starting at once do not both migrate.
"""

from __future__ import annotations

from typing import Any

import psycopg

from inspector.store.postgres.connection import StoreError

__all__ = ["COLUMNS", "SCHEMA_VERSION", "TABLES", "check_schema", "ensure_schema", "schema_version"]

SCHEMA_VERSION = 1
"""The store schema this Inspector writes, and the newest it reads."""

COLUMNS: dict[str, tuple[str, ...]] = {
    "capture_info": ("key", "value"),
    "trigger_snapshots": ("seq", "captured_at", "source", "table_schema", "table_name", "name", "config", "removed_at"),
    "events": (
        "seq",
        "id",
        "trigger_name",
        "schema_name",
        "table_name",
        "op",
        "created_at",
        "created_ts",
        "payload",
        "status",
        "delivered",
        "error",
        "tries",
        "locked",
        "next_retry_at",
        "archived",
        "attempts",
        "first_attempt_ts",
        "delivered_ts",
        "last_http_status",
        "row_key",
        "trace_id",
        "session_role",
        "captured_at",
        "updated_at",
        "variant_of",
        "successes",
        "flags",
        "cleaned_up_at",
    ),
    "event_states": (
        "seq",
        "event_id",
        "observed_at",
        "status",
        "delivered",
        "error",
        "tries",
        "locked",
        "next_retry_at",
        "archived",
    ),
    "invocations": (
        "seq",
        "id",
        "event_id",
        "trigger_name",
        "attempt",
        "http_status",
        "status",
        "request",
        "response",
        "created_at",
        "created_ts",
        "duration_ms",
        "source",
        "captured_at",
    ),
    "operations": ("id", "name", "query", "variables", "kind", "protocol", "started_at", "ended_at", "state", "cursor"),
    "messages": ("seq", "operation_id", "received_at", "type", "raw", "data", "diff", "rows"),
    "session_log": ("seq", "at", "level", "source", "message"),
    "marks": ("kind", "target", "created_at"),
    "notes": ("seq", "kind", "target", "created_at", "text"),
}
"""Each table's columns as the capture file has them, in its order (rows read back come in this order)."""

TABLES = tuple(COLUMNS)

_T = 'text COLLATE "C"'

DDL = f"""
CREATE TABLE IF NOT EXISTS inspector_schema (
  version integer NOT NULL, written_by text, migrated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS captures (
  id bigserial PRIMARY KEY, name {_T} NOT NULL UNIQUE, created_at double precision NOT NULL,
  recorded_by text NOT NULL DEFAULT current_user, client text, inspector_version text,
  last_seq_seen bigint NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS capture_info (
  capture_id bigint NOT NULL REFERENCES captures ON DELETE CASCADE, ord bigserial, key {_T} NOT NULL, value text,
  PRIMARY KEY (capture_id, key)
);
CREATE TABLE IF NOT EXISTS trigger_snapshots (
  capture_id bigint NOT NULL REFERENCES captures ON DELETE CASCADE, seq bigint NOT NULL,
  captured_at double precision, source {_T}, table_schema {_T}, table_name {_T}, name {_T}, config text,
  removed_at double precision, PRIMARY KEY (capture_id, seq)
);
CREATE TABLE IF NOT EXISTS events (
  capture_id bigint NOT NULL REFERENCES captures ON DELETE CASCADE, seq bigint NOT NULL, id {_T} NOT NULL,
  trigger_name {_T}, schema_name {_T}, table_name {_T}, op {_T}, created_at {_T}, created_ts double precision,
  payload text, status {_T}, delivered integer, error integer, tries integer, locked {_T}, next_retry_at {_T},
  archived integer, attempts integer NOT NULL DEFAULT 0, first_attempt_ts double precision,
  delivered_ts double precision, last_http_status integer, row_key {_T}, trace_id {_T}, session_role {_T},
  captured_at double precision, updated_at double precision, variant_of {_T}, successes integer NOT NULL DEFAULT 0,
  flags {_T}, cleaned_up_at double precision,
  doc jsonb, words text,
  PRIMARY KEY (capture_id, seq), UNIQUE (capture_id, id)
);
CREATE INDEX IF NOT EXISTS events_trigger ON events (capture_id, trigger_name, created_ts);
CREATE INDEX IF NOT EXISTS events_created ON events (capture_id, created_ts);
CREATE INDEX IF NOT EXISTS events_status ON events (capture_id, status);
CREATE INDEX IF NOT EXISTS events_row_key ON events (capture_id, row_key);
CREATE INDEX IF NOT EXISTS events_http_status ON events (capture_id, last_http_status);
CREATE INDEX IF NOT EXISTS events_trace ON events (capture_id, trace_id);
CREATE INDEX IF NOT EXISTS events_doc ON events USING gin (doc jsonb_path_ops);
CREATE TABLE IF NOT EXISTS event_states (
  capture_id bigint NOT NULL REFERENCES captures ON DELETE CASCADE, seq bigint NOT NULL, event_id {_T} NOT NULL,
  observed_at double precision, status {_T}, delivered integer, error integer, tries integer, locked {_T},
  next_retry_at {_T}, archived integer, PRIMARY KEY (capture_id, seq)
);
CREATE INDEX IF NOT EXISTS event_states_event ON event_states (capture_id, event_id, seq);
CREATE TABLE IF NOT EXISTS invocations (
  capture_id bigint NOT NULL REFERENCES captures ON DELETE CASCADE, seq bigint NOT NULL, id {_T} NOT NULL,
  event_id {_T}, trigger_name {_T}, attempt integer, http_status integer, status integer, request text,
  response text, created_at {_T}, created_ts double precision, duration_ms double precision,
  source {_T} NOT NULL DEFAULT 'hasura', captured_at double precision,
  PRIMARY KEY (capture_id, seq), UNIQUE (capture_id, id)
);
CREATE INDEX IF NOT EXISTS invocations_event ON invocations (capture_id, event_id, created_ts);
CREATE INDEX IF NOT EXISTS invocations_status ON invocations (capture_id, http_status);
CREATE TABLE IF NOT EXISTS operations (
  capture_id bigint NOT NULL REFERENCES captures ON DELETE CASCADE, id bigint NOT NULL, name {_T}, query text,
  variables text, kind {_T}, protocol {_T}, started_at double precision, ended_at double precision, state {_T},
  cursor text, PRIMARY KEY (capture_id, id)
);
CREATE TABLE IF NOT EXISTS messages (
  capture_id bigint NOT NULL REFERENCES captures ON DELETE CASCADE, seq bigint NOT NULL, operation_id bigint,
  received_at double precision, type {_T}, raw text, data text, diff text, rows integer,
  PRIMARY KEY (capture_id, seq)
);
CREATE INDEX IF NOT EXISTS messages_operation ON messages (capture_id, operation_id, seq);
CREATE TABLE IF NOT EXISTS session_log (
  capture_id bigint NOT NULL REFERENCES captures ON DELETE CASCADE, seq bigint NOT NULL,
  at double precision, level {_T}, source {_T}, message text, PRIMARY KEY (capture_id, seq)
);
CREATE TABLE IF NOT EXISTS marks (
  capture_id bigint NOT NULL REFERENCES captures ON DELETE CASCADE, ord bigserial, kind {_T}, target {_T},
  created_at double precision, PRIMARY KEY (capture_id, kind, target)
);
CREATE TABLE IF NOT EXISTS notes (
  capture_id bigint NOT NULL REFERENCES captures ON DELETE CASCADE, seq bigint NOT NULL, kind {_T},
  target {_T}, created_at double precision, text text, PRIMARY KEY (capture_id, seq)
);
-- JSON text that may not be JSON (a stored response, a message in it): NULL instead of aborting the query. Used
-- by the `outcome` filter field (filter_sql.PG_OUTCOME_SQL).
CREATE OR REPLACE FUNCTION inspector_try_jsonb(value text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  RETURN value::jsonb;
EXCEPTION WHEN others THEN
  RETURN NULL;
END $$;
-- A payload value as text the way SQLite's json_extract gives it to instr and REGEXP (true 1, false 0, a string
-- unquoted): `contains` and `matches` on payload fields (filter_sql.PostgresDialect).
CREATE OR REPLACE FUNCTION inspector_json_text(value jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE jsonb_typeof(value) WHEN 'boolean' THEN (CASE WHEN value = 'true'::jsonb THEN '1' ELSE '0' END)
    WHEN 'string' THEN value #>> '{{}}' WHEN 'null' THEN NULL ELSE value::text END
$$;
"""
"""Version 1, as SQL."""

MIGRATIONS: dict[int, str] = {}
"""SQL that brings a database of version N-1 to version N (none yet: version 1 is the first)."""

_LOCK = 0x1E5C_0017
"""The advisory lock key held while the schema is created or migrated."""


def schema_version(conn: psycopg.Connection[Any]) -> int | None:
    """The database's store version, or None when it holds no Inspector schema."""
    found = conn.execute("SELECT to_regclass('inspector_schema') IS NOT NULL").fetchone()
    if not found or not found[0]:
        return None
    row = conn.execute("SELECT max(version) FROM inspector_schema").fetchone()
    return None if row is None or row[0] is None else int(row[0])


def _refuse_newer(version: int, where: str) -> None:
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{where} holds store schema version {version}, written by a newer Inspector; this one reads up to "
            f"{SCHEMA_VERSION}. Update Inspector to use it."
        )


def check_schema(conn: psycopg.Connection[Any], where: str) -> int:
    """For readers: the version, or `StoreError` when there is none or it is newer than this Inspector's."""
    version = schema_version(conn)
    conn.rollback()
    if version is None:
        raise StoreError(
            f"{where} holds no Inspector store (no schema version): record or push a capture into it first "
            "(`inspector capture --out URL`, `inspector push FILE URL`), or `inspector captures URL --init`"
        )
    _refuse_newer(version, where)
    if version < SCHEMA_VERSION:
        raise StoreError(
            f"{where} holds store schema version {version}; this Inspector needs {SCHEMA_VERSION}: open it once "
            "with a writer (`inspector captures URL --init`) to migrate it"
        )
    return version


def ensure_schema(conn: psycopg.Connection[Any], where: str, written_by: str) -> int:
    """For writers: create the schema, or migrate it forward; `StoreError` if it is newer than this Inspector's."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        version = schema_version(conn)
        if version is not None:
            _refuse_newer(version, where)
        if version is None:
            conn.execute(DDL)
            conn.execute(
                "INSERT INTO inspector_schema (version, written_by) VALUES (%s, %s)", (SCHEMA_VERSION, written_by)
            )
            return SCHEMA_VERSION
        for number in range(version + 1, SCHEMA_VERSION + 1):
            conn.execute(MIGRATIONS[number])
            conn.execute(
                "UPDATE inspector_schema SET version = %s, written_by = %s, migrated_at = now()", (number, written_by)
            )
    return SCHEMA_VERSION
