"""The capture file: what the writer records (and refuses to record twice), what `open` refuses, and that readers,
search and crashes behave as the module docstring promises. Real SQLite files throughout."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from inspector.core.events import EventRecord, InvocationRecord, timestamp_seconds
from inspector.core.hasura import client_error
from inspector.store import capture_file as capture_file_module
from inspector.store.capture_file import (
    SCHEMA_VERSION,
    CaptureFile,
    CaptureFormatError,
    CaptureWriter,
    message_data_sql,
    message_diffs,
)
from tests.helpers.captures import event_dict, invocation_dict, ok_response

EVENT_ID = "0b8f2c1e-6a9d-4c3b-9e1f-2a7d5c4b3a21"


@pytest.fixture
def capture(tmp_path: Path) -> CaptureFile:
    capture = CaptureFile.create(tmp_path / "capture.inspector")
    yield capture  # type: ignore[misc]
    capture.close()


def test_create_refuses_an_existing_file_unless_told(tmp_path: Path) -> None:
    path = tmp_path / "c.inspector"
    CaptureFile.create(path).close()
    with pytest.raises(FileExistsError):
        CaptureFile.create(path)
    CaptureFile.create(path, overwrite=True).close()
    assert CaptureFile.open(path).info()["schema_version"] == SCHEMA_VERSION


def test_a_new_capture_has_large_pages_and_an_older_one_keeps_its_own(tmp_path: Path) -> None:
    new = tmp_path / "new.inspector"
    CaptureFile.create(new).close()
    with contextlib.closing(sqlite3.connect(new)) as conn:
        assert conn.execute("PRAGMA page_size").fetchone()[0] == capture_file_module.PAGE_SIZE == 16384
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # A capture made before (SQLite's default 4 KB pages) opens, takes events and keeps its pages.
    old = tmp_path / "old.inspector"
    CaptureFile.create(old).close()
    with contextlib.closing(sqlite3.connect(old)) as conn:
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("PRAGMA page_size = 4096")
        conn.execute("VACUUM")
        assert conn.execute("PRAGMA page_size").fetchone()[0] == 4096
    capture = CaptureFile.open(old)
    writer = CaptureWriter(capture)
    writer.observe_event(EventRecord.from_hasura(event_dict(EVENT_ID)))
    writer.flush()
    assert capture.count("events") == 1
    assert capture.conn.execute("PRAGMA page_size").fetchone()[0] == 4096
    capture.close()


# --- the writer ----------------------------------------------------------------------------------------------------


def test_the_same_event_observed_twice_is_one_row_and_one_state(capture: CaptureFile) -> None:
    writer = CaptureWriter(capture)
    record = EventRecord.from_hasura(event_dict(EVENT_ID))
    assert writer.observe_event(record) == "new"
    assert writer.observe_event(record) == "same"
    writer.flush()
    assert writer.observe_event(record) == "same"  # after a flush the known state comes from the file or memory
    writer.flush()
    assert capture.count("events") == 1
    assert capture.count("event_states") == 1
    row = capture.event(EVENT_ID)
    assert row is not None
    assert row["status"] == "pending" and row["trigger_name"] == "validate-order" and row["op"] == "INSERT"
    assert json.loads(row["payload"])["data"]["new"]["items"] == ["pizza"]
    assert row["row_key"] == EVENT_ID[:8] and row["session_role"] == "user" and row["trace_id"] == "4bf92f3577b34da6"
    assert row["created_ts"] == timestamp_seconds("2024-03-01T12:00:00.123456")


def test_a_state_change_adds_an_event_state_and_updates_the_event(capture: CaptureFile) -> None:
    writer = CaptureWriter(capture)
    writer.observe_event(EventRecord.from_hasura(event_dict(EVENT_ID)), now=100.0)
    writer.flush()
    locked = EventRecord.from_hasura(event_dict(EVENT_ID, locked="2024-03-01T12:00:00.2+00:00"))
    assert writer.observe_event(locked, now=101.0) == "changed"
    retry = EventRecord.from_hasura(event_dict(EVENT_ID, tries=1, next_retry_at="2024-03-01T12:00:10"))
    assert writer.observe_event(retry, now=102.0) == "changed"
    assert writer.observe_event(retry, now=103.0) == "same"
    writer.flush()
    # A fresh writer (a restarted capture) knows the state from the file.
    done = EventRecord.from_hasura(event_dict(EVENT_ID, tries=2, delivered=True))
    again = CaptureWriter(capture)
    assert again.observe_event(done, now=104.0) == "changed"
    assert again.observe_event(done, now=105.0) == "same"
    again.flush()
    states = capture.rows(
        "SELECT status, observed_at, tries FROM event_states WHERE event_id = ? ORDER BY seq", (EVENT_ID,)
    )
    assert [(s["status"], s["observed_at"]) for s in states] == [
        ("pending", 100.0),
        ("in-flight", 101.0),
        ("retrying", 102.0),
        ("delivered", 104.0),
    ]
    row = capture.event(EVENT_ID)
    assert row is not None
    assert (row["status"], row["tries"], row["delivered"], row["updated_at"], row["captured_at"]) == (
        "delivered",
        2,
        1,
        104.0,
        100.0,
    )
    assert capture.count("events") == 1


def test_an_invocation_is_recorded_once_and_attempts_count_from_one(capture: CaptureFile) -> None:
    writer = CaptureWriter(capture)
    event = event_dict(EVENT_ID)
    writer.observe_event(EventRecord.from_hasura(event))
    first = InvocationRecord.from_hasura(
        invocation_dict("inv-1", event, 500, client_error("kitchen closed"), "2024-03-01T12:00:01")
    )
    assert writer.observe_invocation(first) is True
    assert writer.observe_invocation(first) is False  # still pending in the batch
    writer.flush()
    assert writer.observe_invocation(first) is False  # now in the file
    assert writer.known_invocations(["inv-1", "inv-x"]) == {"inv-1"}
    second = InvocationRecord.from_hasura(
        invocation_dict("inv-2", event, 503, client_error("busy"), "2024-03-01T12:00:11", current_retry=1)
    )
    third = InvocationRecord.from_hasura(
        invocation_dict("inv-3", event, 200, ok_response(), "2024-03-01T12:00:21", current_retry=2)
    )
    assert writer.observe_invocation(second) and writer.observe_invocation(third)
    writer.flush()
    assert CaptureWriter(capture).observe_invocation(third) is False  # a restarted writer finds it in the file
    rows = capture.invocations_of(EVENT_ID)
    assert [(r["id"], r["attempt"], r["http_status"]) for r in rows] == [
        ("inv-1", 1, 500),
        ("inv-2", 2, 503),
        ("inv-3", 3, 200),
    ]
    assert capture.count("invocations") == 3
    assert json.loads(rows[2]["response"])["data"]["body"] == '{"ok":true}'
    assert json.loads(rows[0]["request"])["payload"]["id"] == EVENT_ID


def test_delivery_figures_follow_the_invocations(capture: CaptureFile) -> None:
    writer = CaptureWriter(capture)
    event = event_dict(EVENT_ID)
    writer.observe_event(EventRecord.from_hasura(event))
    writer.flush()
    row = capture.event(EVENT_ID)
    assert row is not None
    assert (row["attempts"], row["first_attempt_ts"], row["delivered_ts"], row["last_http_status"]) == (
        0,
        None,
        None,
        None,
    )
    writer.observe_invocation(
        InvocationRecord.from_hasura(invocation_dict("inv-1", event, 500, client_error("no"), "2024-03-01T12:00:01"))
    )
    writer.flush()
    row = capture.event(EVENT_ID)
    assert row is not None
    first_ts = timestamp_seconds("2024-03-01T12:00:01")
    assert (row["attempts"], row["first_attempt_ts"], row["delivered_ts"], row["last_http_status"]) == (
        1,
        first_ts,
        None,
        500,
    )
    writer.observe_invocation(
        InvocationRecord.from_hasura(
            invocation_dict("inv-2", event, 200, ok_response(), "2024-03-01T12:00:11", current_retry=1)
        )
    )
    writer.observe_invocation(
        InvocationRecord.from_hasura(  # a duplicate delivery after the lock expired
            invocation_dict("inv-3", event, 200, ok_response(), "2024-03-01T12:00:40", current_retry=1)
        )
    )
    writer.flush()
    row = capture.event(EVENT_ID)
    assert row is not None
    assert (row["attempts"], row["first_attempt_ts"], row["delivered_ts"], row["last_http_status"]) == (
        3,
        first_ts,
        timestamp_seconds("2024-03-01T12:00:11"),
        200,
    )


def test_legacy_invocation_shapes(capture: CaptureFile) -> None:
    """Old servers stored client exceptions as status 1000 and non-2xx answers as `webhook_response`
    (`server/src-lib/Hasura/Eventing/HTTP.hs`)."""
    writer = CaptureWriter(capture)
    event = event_dict(EVENT_ID)
    writer.observe_event(EventRecord.from_hasura(event))
    exception = invocation_dict(
        "inv-legacy-1",
        event,
        1000,
        {"type": "client_error", "data": {"message": "HttpExceptionRequest ConnectionTimeout"}, "version": "2"},
        "2024-03-01T12:00:01",
        status_key="status",
    )
    non_2xx = invocation_dict(
        "inv-legacy-2",
        event,
        404,
        {"type": "webhook_response", "data": {"body": "no such route", "headers": [], "status": 404}, "version": "2"},
        "2024-03-01T12:00:11",
        status_key="status",
    )
    # run_sql rows (Hasura's docs `docs/docs/api-reference/schema-api/run-sql.mdx`) carry JSON as text and NULL as
    # "NULL"; the record reader decodes both.
    as_run_sql = {**non_2xx, "request": json.dumps(non_2xx["request"]), "response": json.dumps(non_2xx["response"])}
    records = [InvocationRecord.from_hasura(exception), InvocationRecord.from_hasura(as_run_sql)]
    assert records[0].http_status is None and not records[0].ok
    assert records[1].http_status == 404 and records[1].response_body == "no such route"
    for record in records:
        writer.observe_invocation(record)
    writer.flush()
    rows = capture.invocations_of(EVENT_ID)
    assert [(r["status"], r["http_status"]) for r in rows] == [(1000, None), (404, 404)]
    assert json.loads(rows[1]["response"])["type"] == "webhook_response"
    row = capture.event(EVENT_ID)
    assert row is not None
    assert (row["attempts"], row["delivered_ts"], row["last_http_status"]) == (2, None, 404)


# --- opening what is not a capture ------------------------------------------------------------------------------


def test_open_refuses_a_text_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("this is not a capture\n")
    with pytest.raises(CaptureFormatError, match=r"notes\.txt is not a capture file \(not an SQLite database\)"):
        CaptureFile.open(path)


def test_open_refuses_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.inspector"
    path.write_bytes(b"")
    with pytest.raises(CaptureFormatError, match="not an SQLite database"):
        CaptureFile.open(path)
    assert path.read_bytes() == b""  # untouched


def test_open_refuses_random_bytes_behind_an_sqlite_header(tmp_path: Path) -> None:
    path = tmp_path / "damaged.inspector"
    path.write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
    with pytest.raises(CaptureFormatError, match=r"damaged\.inspector is not a capture file or is damaged"):
        CaptureFile.open(path)


def test_open_refuses_a_plain_sqlite_database_and_leaves_it_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE things (a)")
    conn.execute("INSERT INTO things VALUES (1)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(CaptureFormatError, match=r"other\.db is an SQLite database but not an Inspector capture"):
        CaptureFile.open(path)
    assert path.read_bytes() == before  # not switched to WAL, nothing added
    assert not Path(f"{path}-wal").exists()


def test_open_refuses_a_capture_from_a_newer_inspector(tmp_path: Path) -> None:
    path = tmp_path / "future.inspector"
    capture = CaptureFile.create(path)
    capture.set_info(schema_version=99)
    capture.close()
    with pytest.raises(
        CaptureFormatError,
        match=r"newer Inspector \(capture format 99\); this one reads up to 1\. "
        "Update Inspector",
    ):
        CaptureFile.open(path)


def test_open_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no capture file at"):
        CaptureFile.open(tmp_path / "nope.inspector")


# --- readers, search, crashes ---------------------------------------------------------------------------------


def test_a_reader_sees_committed_batches_while_the_writer_keeps_writing(tmp_path: Path) -> None:
    path = tmp_path / "live.inspector"
    capture = CaptureFile.create(path)
    writer = CaptureWriter(capture, batch_size=10_000)
    for i in range(100):
        writer.observe_event(EventRecord.from_hasura(event_dict(f"ev-{i:04d}")))
    writer.flush()
    assert capture.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    reader = CaptureFile.open(path)  # a second connection, as the window or `inspector export` would open
    assert reader.count("events") == 100
    for i in range(100, 150):
        writer.observe_event(EventRecord.from_hasura(event_dict(f"ev-{i:04d}")))
    assert reader.count("events") == 100  # not flushed yet
    capture.conn.execute("BEGIN IMMEDIATE")  # the writer in the middle of a batch holds the write lock
    capture.conn.execute("INSERT INTO session_log (at, level, source, message) VALUES (1, 'info', 't', 'm')")
    assert reader.count("events") == 100 and reader.count("session_log") == 0  # reading is not blocked
    capture.conn.commit()
    writer.flush()
    assert reader.count("events") == 150 and reader.count("session_log") == 1
    assert [r["id"] for r in reader.iter_table("events", batch=7)][-1] == "ev-0149"
    reader.close()
    capture.close()


def test_full_text_search_finds_an_event_by_payload_text(capture: CaptureFile) -> None:
    writer = CaptureWriter(capture)
    writer.observe_event(EventRecord.from_hasura(event_dict("ev-burger", new={"order_id": "b1", "items": ["burger"]})))
    writer.observe_event(EventRecord.from_hasura(event_dict("ev-pizza", new={"order_id": "p1", "items": ["pizza"]})))
    writer.flush()
    found = capture.conn.execute("SELECT rowid FROM events_fts WHERE events_fts MATCH 'pizza'").fetchall()
    assert len(found) == 1
    assert capture.rows("SELECT id FROM events WHERE seq = ?", (found[0][0],)) == [{"id": "ev-pizza"}]
    event = event_dict("ev-pizza")
    writer.observe_invocation(
        InvocationRecord.from_hasura(
            invocation_dict("inv-1", event, 500, client_error("oven on fire"), "2024-03-01T12:00:01")
        )
    )
    writer.flush()
    hits = capture.conn.execute("SELECT rowid FROM invocations_fts WHERE invocations_fts MATCH 'oven'").fetchall()
    assert capture.rows("SELECT id FROM invocations WHERE seq = ?", (hits[0][0],)) == [{"id": "inv-1"}]


def test_a_crash_loses_only_what_was_not_flushed(tmp_path: Path) -> None:
    path = tmp_path / "crash.inspector"
    script = textwrap.dedent(f"""
        import os
        from inspector.core.events import EventRecord
        from inspector.store.capture_file import CaptureFile, CaptureWriter
        from tests.helpers.captures import event_dict

        capture = CaptureFile.create({str(path)!r})
        writer = CaptureWriter(capture, batch_size=100_000)
        for i in range(250):
            writer.observe_event(EventRecord.from_hasura(event_dict(f"ev-{{i:04d}}")))
            if i % 50 == 49:
                writer.flush()
        writer.add_message(None, 1.0, "next", '{{"type":"next"}}')
        writer.flush()
        for i in range(250, 300):
            writer.observe_event(EventRecord.from_hasura(event_dict(f"ev-{{i:04d}}")))
        print("flushed", flush=True)
        os._exit(0)
    """)
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "flushed"
    assert Path(f"{path}-wal").exists()  # the process died without closing: the WAL was not checkpointed
    capture = CaptureFile.open(path)
    assert capture.count("events") == 250
    assert capture.count("event_states") == 250
    assert capture.count("messages") == 1
    assert capture.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    ids = [r["id"] for r in capture.iter_table("events")]
    assert ids == [f"ev-{i:04d}" for i in range(250)]
    capture.close()


def test_iter_table_pages_every_table_including_marks(capture: CaptureFile) -> None:
    with capture.conn:
        capture.conn.executemany("INSERT INTO marks VALUES (?, ?, ?)", [("event", f"e{i}", float(i)) for i in range(5)])
    assert [m["target"] for m in capture.iter_table("marks", batch=2)] == [f"e{i}" for i in range(5)]
    assert next(iter(capture.iter_table("marks"))) == {"kind": "event", "target": "e0", "created_at": 0.0}


def test_credential_headers_in_logged_requests_are_redacted_when_recorded(capture: CaptureFile) -> None:
    event = event_dict(EVENT_ID)
    invocation = invocation_dict("inv-secret", event, 200, ok_response(), "2024-03-01T12:00:01")
    invocation["request"]["headers"] = [
        {"name": "X-Hasura-Admin-Secret", "value": "super-secret-value"},
        {"name": "Authorization", "value": "Bearer super-secret-token"},
        {"name": "X-From-Env", "value_from_env": "SOME_VAR"},
        {"name": "X-Plain", "value": "visible"},
    ]
    writer = CaptureWriter(capture)
    writer.observe_invocation(InvocationRecord.from_hasura(invocation))
    writer.flush()
    stored = json.loads(capture.invocations_of(EVENT_ID)[0]["request"])["headers"]
    assert stored == [
        {"name": "X-Hasura-Admin-Secret", "value": "<redacted>"},
        {"name": "Authorization", "value": "<redacted>"},
        {"name": "X-From-Env", "value_from_env": "SOME_VAR"},
        {"name": "X-Plain", "value": "<redacted>"},  # not on the allow-list (core.redaction.CLEAR_HEADERS)
    ]
    assert b"super-secret" not in capture.path.read_bytes() + Path(f"{capture.path}-wal").read_bytes()


def test_copy_events_follows_the_filter_and_can_be_cancelled(tmp_path: Path) -> None:
    import threading

    from inspector.store.capture_file import copy_events
    from inspector.store.filter_sql import compile_filter
    from tests.helpers.captures import build_big_capture

    source = build_big_capture(tmp_path / "big.inspector", 300_000)
    # a filter that needs the source's own tables (a subquery on invocations) copies what it matches
    small = CaptureFile.create(tmp_path / "small.inspector")
    writer = CaptureWriter(small)
    event = event_dict(EVENT_ID)
    writer.observe_event(EventRecord.from_hasura(event))
    writer.observe_invocation(
        InvocationRecord.from_hasura(invocation_dict("inv-1", event, 500, client_error("boom"), "2024-03-01T12:00:01"))
    )
    writer.flush()
    small.close()
    compiled = compile_filter("invocation.http_status == 500")
    assert copy_events(tmp_path / "small.inspector", tmp_path / "out.inspector", compiled.where, compiled.params) == 1
    copied = CaptureFile.open(tmp_path / "out.inspector")
    assert copied.count("events") == 1 and copied.count("invocations") == 1
    copied.close()
    # cancelling a long copy from another thread leaves nothing behind: each copy is interrupted 50 ms after its
    # connection exists (not 50 ms after the test starts, which a loaded machine can reach before any copy does)
    timers: list[threading.Timer] = []

    def interrupt_soon(conn: sqlite3.Connection) -> None:
        timers.append(threading.Timer(0.05, conn.interrupt))
        timers[-1].start()

    def copy_until_interrupted() -> None:
        for _ in range(50):  # repeat until the interrupt lands mid-copy
            copy_events(
                source, tmp_path / "cancelled.inspector", "e.payload LIKE '%restaurant%'", (), True, interrupt_soon
            )

    with pytest.raises(sqlite3.OperationalError, match="interrupt"):
        copy_until_interrupted()
    for timer in timers:
        timer.join()
    assert not (tmp_path / "cancelled.inspector").exists()
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


def test_message_results_and_live_diffs_are_read_from_raw_and_derived(capture: CaptureFile) -> None:
    """An object result is not stored twice (`data` NULL, read from `raw`), a live query's diff is derived when read;
    rows written the earlier way (both stored) read the same."""
    writer = CaptureWriter(capture, batch_size=2)  # batches go to the writer thread while recording
    live = writer.add_operation("latest", "subscription { orders { id status } }", None, "live", None)
    stream = writer.add_operation("s", "subscription { orders_stream { id } }", None, "stream", None)
    results = [{"orders": [{"id": 1, "status": s}]} for s in ("new", "paid", "paid", "done")]
    for i, data in enumerate(results):
        raw = json.dumps({"type": "next", "id": "1", "payload": {"data": data}})
        writer.add_message(live, float(i), "next", raw, data=data)
    stream_data = {"orders_stream": [{"id": 1, "note": "café"}]}
    writer.add_message(stream, 5.0, "next", json.dumps({"type": "next", "payload": {"data": stream_data}}), stream_data)
    writer.add_message(live, 6.0, "complete", '{"type":"complete","id":"1"}')
    writer.add_message(None, 7.0, "malformed", '{"type": "next", "payload": {"data": ')
    writer.flush()
    with capture.conn:  # written the earlier way: data and diff stored
        capture.conn.execute(
            "INSERT INTO messages (operation_id, received_at, type, raw, data, diff) VALUES (?, 8, 'next', ?, ?, ?)",
            (live, '{"type":"next"}', '{"orders":[]}', '[{"path":"$.x"}]'),
        )
    assert capture.rows("SELECT count(*) AS n FROM messages WHERE data IS NOT NULL AND seq < 8") == [{"n": 0}]
    data = capture.rows(f"SELECT seq, {message_data_sql()} AS data FROM messages ORDER BY seq")
    assert [None if r["data"] is None else json.loads(r["data"]) for r in data] == [
        *results,
        stream_data,
        None,
        None,
        {"orders": []},
    ]
    diffs = message_diffs(capture.conn, live, range(1, 9))
    assert diffs == {
        1: None,
        2: [{"path": "$.orders[id=1].status", "old": "new", "new": "paid"}],
        3: [],
        4: [{"path": "$.orders[id=1].status", "old": "paid", "new": "done"}],
        8: [{"path": "$.x"}],
    }
    assert message_diffs(capture.conn, live, [4]) == {4: diffs[4]}
    assert message_diffs(capture.conn, stream, [5]) == {}
    exported = {r["seq"]: r for r in capture.iter_table("messages")}
    assert {seq: None if r["diff"] is None else json.loads(r["diff"]) for seq, r in exported.items()} == {
        1: None,
        2: diffs[2],
        3: [],
        4: diffs[4],
        5: None,
        6: None,
        7: None,
        8: [{"path": "$.x"}],
    }
    assert json.loads(exported[5]["data"]) == stream_data


def test_the_writer_commits_on_its_thread_and_flush_waits_for_it(capture: CaptureFile) -> None:
    writer = CaptureWriter(capture, batch_size=10, queued_batches=2)
    for i in range(95):
        writer.add_message(None, float(i), "ka", '{"type":"ka"}')  # full batches are handed off without waiting
    writer.flush(wait=False)
    writer.flush()  # returns when everything so far is committed: another connection sees it
    other = sqlite3.connect(capture.path)
    try:
        assert other.execute("SELECT count(*), min(received_at), max(received_at) FROM messages").fetchone() == (
            95,
            0.0,
            94.0,
        )
    finally:
        other.close()
    with capture.conn:
        capture.conn.execute("DROP TABLE messages")  # the next batch fails on the writer thread
    writer.add_message(None, 1.0, "ka", "{}")
    with pytest.raises(sqlite3.OperationalError):
        writer.flush()  # the failure is raised to the recording side
    writer.close()


@pytest.mark.parametrize("variable_limit", [None, 20])
def test_messages_keep_their_order_and_nulls_through_multi_row_inserts(
    capture: CaptureFile, variable_limit: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Messages go in with multi-row INSERTs of two row shapes (see `MESSAGE_VALUES`); whatever the mix and the batch
    sizes, and under an SQLite with a small limit on parameters, each row is stored in order with its NULLs."""
    if variable_limit is not None:  # the writer thread's connection gets the limit
        connect = capture_file_module._connect

        def connect_with_limit(path: Path) -> Any:
            db = connect(path)
            db.conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, variable_limit)
            return db

        monkeypatch.setattr(capture_file_module, "_connect", connect_with_limit)
    writer = CaptureWriter(capture, batch_size=1037)
    op = writer.add_operation("s", "subscription { s }", None, "stream", None)
    expected = []
    for i in range(2500):
        if i % 400 == 7:  # a result kept as text (not an object): all seven columns bound
            writer.add_message(op, float(i), "next", '{"type":"next","payload":{"data":[1]}}', data=[1], rows=0)
            expected.append((op, float(i), "next", "[1]", 0))
        elif i % 3 == 0:
            writer.add_message(None, float(i), "ka", '{"type":"ka"}')
            expected.append((None, float(i), "ka", None, None))
        else:
            writer.add_message(op, float(i), "next", '{"type":"next"}', data={"x": i}, rows=i % 5)
            expected.append((op, float(i), "next", None, i % 5))
    writer.flush()
    stored = capture.conn.execute("SELECT operation_id, received_at, type, data, rows FROM messages ORDER BY seq")
    assert stored.fetchall() == expected
