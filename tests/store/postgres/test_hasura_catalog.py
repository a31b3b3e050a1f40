"""Hasura's own database as a source (`inspector capture --database-url`), against a real PostgreSQL holding Hasura's
event-trigger catalog (`hdb_catalog.sql`, from hasura/graphql-engine's `server/src-rsr/`): rows read straight from
`hdb_catalog` have the metadata API's shapes field by field (tests/fixtures/hasura/), are read incrementally (new
events, state changes, invocations, cleanup), read-only and without a trigger or lock of the reader's own."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from inspector.cli import build_parser
from inspector.cli.capture import run as capture_run
from inspector.cli.exit_codes import ExitCode
from inspector.core.events import EventRecord, InvocationRecord, server_time_seconds
from inspector.core.hasura import invocation_request, webhook_body, webhook_response
from inspector.sandbox.eventing import api_time
from inspector.store.capture_file import CaptureFile, CaptureWriter
from inspector.store.postgres.connection import StoreError
from inspector.store.postgres.hasura_catalog import HasuraCatalogReader, event_log_json, invocation_log_json

DDL = Path(__file__).with_name("hdb_catalog.sql")
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "hasura"
ZONE = "Europe/Paris"
"""The database's time zone: not UTC, so the TIMESTAMP columns' wall time must be read in it."""


@pytest.fixture
def hasura_db(postgres_db: str) -> str:
    with psycopg.connect(postgres_db, autocommit=True) as conn:
        conn.execute(DDL.read_text())
        database = postgres_db.rsplit("/", 1)[1]
        conn.execute(f"ALTER DATABASE \"{database}\" SET timezone = '{ZONE}'")
    return postgres_db


def new_event(conn: psycopg.Connection[Any], order: str, trigger: str = "validate-order") -> str:
    """An event as a Hasura event trigger's row trigger makes it (`insert_event_log`), with a session."""
    with conn.transaction():
        conn.execute("SELECT set_config('hasura.user', %s, true)", (json.dumps({"x-hasura-role": "user"}),))
        row = conn.execute(
            "SELECT hdb_catalog.insert_event_log('public', 'orders', %s, 'INSERT', %s::json)",
            (trigger, json.dumps({"old": None, "new": {"order_id": order, "amount": 12.5}})),
        ).fetchone()
    assert row is not None
    return str(row[0])


def deliver(conn: psycopg.Connection[Any], event_id: str, status: int = 200) -> str:
    """What Hasura writes for one attempt: the invocation log row and the event's new state."""
    event = conn.execute(
        "SELECT trigger_name, payload, created_at FROM hdb_catalog.event_log WHERE id = %s", (event_id,)
    ).fetchone()
    assert event is not None
    body = webhook_body(event_id, "public", "orders", event[0], event[1], 0, 3, event[2].isoformat())
    request = invocation_request(body, [])
    response = webhook_response('{"ok":true}', [("Content-Type", "application/json")], status)
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO hdb_catalog.event_invocation_logs (event_id, trigger_name, status, request, response) "
            "VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (event_id, event[0], status, json.dumps(request), json.dumps(response)),
        ).fetchone()
        conn.execute(
            "UPDATE hdb_catalog.event_log SET delivered = %s, error = %s, tries = tries + 1, locked = NULL, "
            "next_retry_at = CASE WHEN %s THEN NULL ELSE now() + interval '10 seconds' END WHERE id = %s",
            (status < 300, False, status < 300, event_id),
        )
    assert row is not None
    return str(row[0])


TYPES = {
    "string": str,
    "integer": int,
    "boolean": bool,
    "object": dict,
    "null": type(None),
}


def check_type(value: Any, spec: str) -> None:
    for kind in spec.split("|"):
        if kind == "utc_time" and isinstance(value, str) and value.endswith("Z") and "T" in value:
            return
        if kind in TYPES and type(value) is TYPES[kind]:
            return
    raise AssertionError(f"{value!r} is not {spec}")


def test_rows_have_the_metadata_apis_shapes_field_by_field(hasura_db: str) -> None:
    with psycopg.connect(hasura_db, autocommit=True) as conn:
        delivered = new_event(conn, "o-1")
        deliver(conn, delivered)
        failed = new_event(conn, "o-2", trigger="process-payment")
        deliver(conn, failed, status=500)
        conn.execute("UPDATE hdb_catalog.event_log SET locked = now() WHERE id = %s", (failed,))
        raw_events = {
            r[0]: r
            for r in conn.execute(
                "SELECT id, schema_name, table_name, trigger_name, payload, delivered, error, tries, created_at, "
                "locked, next_retry_at, archived FROM hdb_catalog.event_log"
            )
        }
        raw_invocations = conn.execute(
            "SELECT id, trigger_name, event_id, status, request, response, created_at FROM "
            "hdb_catalog.event_invocation_logs ORDER BY created_at"
        ).fetchall()
    event_shape = json.loads((FIXTURES / "event_log_record.json").read_text())
    invocation_shape = json.loads((FIXTURES / "invocation_log_record.json").read_text())
    for event_id, raw in raw_events.items():
        shaped = event_log_json(raw)
        assert list(shaped) == event_shape["keys"]
        for key, spec in event_shape["types"].items():
            check_type(shaped[key], spec)
        assert list(shaped["payload"]) == event_shape["payload_keys"]
        # the values as the metadata API (modelled by the sandbox's `api_time`) gives them
        assert shaped["created_at"] == api_time(raw[8].isoformat())
        assert shaped["next_retry_at"] == (None if raw[10] is None else api_time(raw[10].isoformat()))
        assert shaped["locked"] == (None if raw[9] is None else api_time(raw[9].isoformat()))
        assert shaped["payload"] == raw[4] and shaped["id"] == event_id
        assert (shaped["delivered"], shaped["error"], shaped["tries"]) == (raw[5], raw[6], raw[7])
    assert event_log_json(raw_events[failed])["locked"].endswith("Z")
    for raw in raw_invocations:
        shaped = invocation_log_json(raw)
        assert list(shaped) == invocation_shape["keys"]
        for key, spec in invocation_shape["types"].items():
            check_type(shaped[key], spec)
        assert list(shaped["request"]) == invocation_shape["request_keys"]
        assert list(shaped["response"]) == invocation_shape["response_keys"]
        assert shaped["response"]["version"] == invocation_shape["version"]
        assert shaped["http_status"] == raw[3] and shaped["request"] == raw[4]

    # and the records made from them: times in the database's zone give the true instant
    reader = HasuraCatalogReader(hasura_db)
    reader.connect()
    assert reader.server_timezone == ZONE
    record = EventRecord.from_hasura(event_log_json(raw_events[delivered]), reader.server_timezone)
    with psycopg.connect(hasura_db) as conn:  # the true instant: the wall time read in the database's zone
        epoch = conn.execute(
            "SELECT extract(epoch FROM created_at::timestamptz)::float8 FROM hdb_catalog.event_log WHERE id = %s",
            (delivered,),
        ).fetchone()
    assert epoch is not None
    assert server_time_seconds(record.created_at, reader.server_timezone) == pytest.approx(epoch[0], abs=1e-6)
    assert record.status == "delivered"
    assert InvocationRecord.from_hasura(invocation_log_json(raw_invocations[0])).http_status == 200
    reader.close()


class Recorder:
    def __init__(self, writer: CaptureWriter) -> None:
        self.writer = writer
        self.cleaned: list[str] = []

    def observe_event(self, record: EventRecord) -> str:
        return self.writer.observe_event(record)

    def observe_invocation(self, record: InvocationRecord) -> bool:
        return self.writer.observe_invocation(record)

    def event_cleaned_up(self, event_id: str, at: float) -> None:
        self.cleaned.append(event_id)


def test_polls_are_incremental_read_only_and_lock_free(hasura_db: str, tmp_path: Path) -> None:
    capture = CaptureFile.create(tmp_path / "db.inspector")
    writer = CaptureWriter(capture)
    sink = Recorder(writer)
    reader = HasuraCatalogReader(hasura_db, late_commit_margin=1.0)
    with psycopg.connect(hasura_db, autocommit=True) as conn:
        before = conn.execute("SELECT count(*) FROM pg_trigger").fetchone()
        first = new_event(conn, "o-1")
        second = new_event(conn, "o-2")
        assert reader.poll(sink) == 2
        assert reader.poll(sink) == 0  # nothing changed: nothing new
        deliver(conn, first)
        third = new_event(conn, "o-3")
        assert reader.poll(sink) == 3  # a state change, an invocation, a new event
        conn.execute("DELETE FROM hdb_catalog.event_log WHERE id = %s", (second,))  # Hasura's event cleanup
        assert reader.poll(sink) == 0 and sink.cleaned == [second]
        # the reader's connection is read-only, and it left no trigger behind
        assert reader._conn is not None and reader._conn.read_only
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction), reader._conn.transaction():
            reader._conn.execute("DELETE FROM hdb_catalog.event_log")
        assert conn.execute("SELECT count(*) FROM pg_trigger").fetchone() == before
        # between polls it holds no lock at all (and during one only ACCESS SHARE, which blocks no writer)
        locks = conn.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.application_name = "
            "'inspector' AND l.locktype = 'relation'"
        ).fetchone()
        assert locks == (0,)
    writer.flush()
    rows = capture.rows("SELECT id, status, tries FROM events ORDER BY seq")
    assert [(r["id"], r["status"], r["tries"]) for r in rows] == [
        (first, "delivered", 1),
        (second, "pending", 0),
        (third, "pending", 0),
    ]
    assert capture.count("invocations") == 1
    reader.close()
    capture.close()


def test_capture_database_url_records_what_the_api_would(hasura_db: str, tmp_path: Path) -> None:
    out = tmp_path / "from-db.inspector"
    with psycopg.connect(hasura_db, autocommit=True) as conn:
        first = new_event(conn, "o-1")
        args = build_parser().parse_args(
            ["capture", "--database-url", hasura_db, "--out", str(out), "--duration", "2", "--poll-interval", "0.1"]
        )
        result: list[int] = []
        thread = threading.Thread(target=lambda: result.append(capture_run(args)))
        thread.start()
        time.sleep(0.5)
        deliver(conn, first)
        second = new_event(conn, "o-2", trigger="process-payment")
        thread.join(30)
    assert result == [ExitCode.OK]
    db = sqlite3.connect(out)
    assert db.execute("SELECT id, trigger_name, status, attempts FROM events ORDER BY seq").fetchall() == [
        (first, "validate-order", "delivered", 1),
        (second, "process-payment", "pending", 0),
    ]
    states = db.execute("SELECT status FROM event_states WHERE event_id = ? ORDER BY seq", (first,)).fetchall()
    assert [s[0] for s in states] == ["pending", "delivered"]
    info = dict(db.execute("SELECT key, value FROM capture_info").fetchall())
    assert json.loads(info["server_timezone"]) == ZONE and json.loads(info["source"]) == "hdb_catalog"
    db.close()


def test_a_database_without_hasuras_catalog_is_one_line(postgres_db: str, tmp_path: Path) -> None:
    reader = HasuraCatalogReader(postgres_db)
    with pytest.raises(StoreError, match=r"holds no hdb_catalog\.event_log"):
        reader.connect()
    args = build_parser().parse_args(["capture", "--database-url", postgres_db, "--out", str(tmp_path / "x")])
    assert capture_run(args) == ExitCode.CONNECTION
    assert not (tmp_path / "x").exists()
