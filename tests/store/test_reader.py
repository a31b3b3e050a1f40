"""The capture reader: the typed reads the window's views make (an event with its invocations and states, sources,
subscriptions and their messages, the session log, marks, replayed attempts), the sources tree's incremental counts,
and the schema kept byte-compatible with the captures already written (the shipped sample among them)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from inspector.core.events import EventRecord
from inspector.store import reader as store_reader
from inspector.store import schema
from inspector.store.capture_file import CaptureFile, CaptureWriter
from inspector.store.reader import CaptureReader, EventDetail, LogEntry, Operation, SourceCounts
from tests.helpers.captures import build_sample, event_dict

SAMPLE = Path(__file__).resolve().parents[2] / "inspector" / "resources" / "samples" / "order-chain.inspector"
E1, E2, E3 = (f"6f1c2d3e-000{i}-4000-8000-00000000000{i}" for i in (1, 2, 3))


@pytest.fixture
def sample(tmp_path: Path) -> Iterator[CaptureFile]:
    capture = build_sample(tmp_path / "sample.inspector")
    yield capture
    capture.close()


@pytest.fixture
def reader(sample: CaptureFile) -> Iterator[CaptureReader]:
    opened = CaptureReader.open(sample.path)
    yield opened
    opened.close()


def test_event_detail_has_the_row_invocations_in_order_and_states(reader: CaptureReader) -> None:
    detail = reader.event_detail(E1)
    assert isinstance(detail, EventDetail)
    assert detail.event["id"] == E1 and "café" in detail.event["payload"]
    assert [i["id"] for i in detail.invocations] == ["inv-0001", "inv-0002"]
    assert [s["tries"] for s in detail.states] == [0, 1, 2]
    assert [s["status"] for s in detail.states][-1] == "delivered"
    assert reader.event_detail("no-such-event") is None


def test_counts_and_data_version_follow_other_connections(sample: CaptureFile, reader: CaptureReader) -> None:
    assert reader.event_count() == 3
    version = reader.data_version()
    assert reader.data_version() == version  # nothing written
    writer = CaptureWriter(sample)
    writer.observe_event(EventRecord.from_hasura(event_dict("6f1c2d3e-0004-4000-8000-000000000004")))
    writer.flush()
    assert reader.data_version() != version
    assert reader.event_count() == 4
    last = reader.last_seqs()
    assert (last.events, last.messages) == (4, 2) and last.event_states >= 4


def test_sources_subscriptions_and_their_messages(reader: CaptureReader) -> None:
    assert reader.configured_triggers() == ["validate-order", "restaurant-approval"]
    (operation,) = reader.operations()
    assert operation == Operation(1, "OrderStream", "stream", "stopped", operation.query)
    assert (operation.query or "").startswith("subscription OrderStream($since: timestamptz!)")  # as it was run
    messages = reader.messages(1, after=-1, limit=10)
    assert [(m.seq, m.type, m.rows, m.diff) for m in messages] == [(1, "next", 1, None), (2, "ka", None, None)]
    assert reader.messages(1, after=1, limit=10)[0].seq == 2
    assert reader.messages(1, after=-1, limit=1)[0].seq == 1
    detail = reader.message(1)
    assert detail is not None and detail.operation_id == 1
    assert json.loads(detail.data or "") == {"orders_stream": [{"order_id": "o1", "created": "t1"}]}
    assert reader.message(99) is None
    assert reader.result_counts(0, 2) == [(1, 1)]


def test_live_query_messages_carry_their_derived_diffs(tmp_path: Path) -> None:
    capture = CaptureFile.create(tmp_path / "live.inspector")
    writer = CaptureWriter(capture)
    operation = writer.add_operation("Orders", "subscription { orders { id } }", None, "live", "graphql-ws")
    for n, ids in enumerate(([1], [1, 2], [2])):
        frame = {"id": "1", "type": "data", "payload": {"data": {"orders": [{"id": i} for i in ids]}}}
        writer.add_message(operation, 1709294400.0 + n, "data", json.dumps(frame), data=frame["payload"]["data"])
    writer.flush()
    reader = capture.reader()
    messages = reader.messages(operation, after=-1, limit=10)
    assert messages[0].diff is None  # the first result
    assert messages[1].diff and messages[2].diff
    detail = reader.message(messages[2].seq)
    assert detail is not None and detail.diff == messages[2].diff  # read alone, derived from its predecessor
    capture.close()


def test_session_log_marks_and_the_last_replay_attempt(sample: CaptureFile, reader: CaptureReader) -> None:
    log = reader.session_log(after=0)
    assert [(e.level, e.source) for e in log] == [("info", "subscriptions"), ("warning", "event log")]
    assert isinstance(log[0], LogEntry) and log[0].message == "connected with graphql-transport-ws"
    assert reader.session_log(after=log[0].seq) == log[1:]
    assert reader.session_log(after=0, limit=1) == log[:1]
    assert reader.marked_event_ids() == [E1]
    assert reader.last_replay_attempt(E1) is None  # captured attempts are not replays
    with sample.conn:
        for n, ts in ((1, 100.0), (2, 200.0)):
            sample.conn.execute(
                "INSERT INTO invocations (id, event_id, http_status, created_ts, source) "
                "VALUES (?, ?, 200, ?, 'replay')",
                (f"replay-{n}", E1, ts),
            )
    found = reader.last_replay_attempt(E1)
    assert found is not None and found["id"] == "replay-2"


def test_a_snapshot_is_one_read_transaction(reader: CaptureReader) -> None:
    with reader.snapshot():
        assert reader.connection.in_transaction
        with reader.snapshot():  # nested: nothing more
            assert reader.connection.in_transaction
        assert reader.connection.in_transaction
    assert not reader.connection.in_transaction


def test_a_reader_on_a_capture_files_connection_leaves_it_open(sample: CaptureFile) -> None:
    reader = sample.reader()
    assert reader.connection is sample.conn
    reader.close()
    assert sample.info()["server_version"] == "v2.48.0"  # still open


# --- the sources tree's counts ---------------------------------------------------------------------------------------


def _grouped(path: Path) -> Counter[tuple[str | None, str | None, str | None]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT trigger_name, table_name, status, count(*) FROM events GROUP BY 1, 2, 3")
        return Counter({(t, table, s): n for t, table, s, n in rows})
    finally:
        conn.close()


def test_source_counts_catch_up_in_slices_and_follow_status_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_reader, "SLICE", 4)
    capture = CaptureFile.create(tmp_path / "counts.inspector")
    writer = CaptureWriter(capture)
    events = [event_dict(f"6f1c2d3e-{i:04d}-4000-8000-{i:012d}") for i in range(10)]
    for event in events:
        writer.observe_event(EventRecord.from_hasura(event))
    writer.flush()
    reader = CaptureReader.open(capture.path)
    counts = SourceCounts()
    counts.update(reader)
    assert sum(counts.events.values()) == 4 and not counts.caught_up
    writer.observe_event(EventRecord.from_hasura({**events[0], "delivered": True, "tries": 1}))  # counted already
    writer.observe_event(EventRecord.from_hasura({**events[9], "error": True, "tries": 1}))  # not yet counted
    writer.flush()
    while not counts.caught_up:
        counts.update(reader)
    assert +counts.events == _grouped(capture.path)
    again = CaptureReader.open(capture.path)  # another reader: counted afresh
    counts.update(again)
    assert sum(counts.events.values()) == 4
    again.close()
    reader.close()
    capture.close()


# --- the schema ------------------------------------------------------------------------------------------------------


def _master(path: Path) -> list[tuple[str, str, str, str | None]]:
    conn = sqlite3.connect(path)
    try:
        return sorted(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))
    finally:
        conn.close()


def test_a_new_capture_has_exactly_the_schema_of_the_shipped_sample(tmp_path: Path) -> None:
    """The schema's text is part of the file format: a capture written now is the one Inspector always wrote."""
    CaptureFile.create(tmp_path / "new.inspector").close()
    assert _master(tmp_path / "new.inspector") == _master(SAMPLE)
    assert {name for kind, name, _, _ in _master(SAMPLE) if kind == "table"} >= set(schema.TABLES)


def test_the_shipped_sample_opens_and_reads(tmp_path: Path) -> None:
    copy = tmp_path / "order-chain.inspector"
    shutil.copy(SAMPLE, copy)
    capture = CaptureFile.open(copy)
    reader = capture.reader()
    events = [r[0] for r in capture.conn.execute("SELECT id FROM events ORDER BY seq")]
    assert events and reader.event_count() == len(events)
    detail = reader.event_detail(events[0])
    assert detail is not None and detail.event["id"] == events[0]
    reader.session_log(after=0)
    reader.operations()
    capture.close()


def test_a_file_from_before_the_added_columns_gets_them(tmp_path: Path) -> None:
    path = tmp_path / "old.inspector"
    CaptureFile.create(path).close()
    conn = sqlite3.connect(path)
    with conn:
        for table, column, _ in schema.ADDED_COLUMNS:
            conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    conn.close()
    capture = CaptureFile.open(path)
    for table, column, _ in schema.ADDED_COLUMNS:
        assert column in schema.table_columns(capture.conn, table)
    capture.close()


def test_a_capture_from_a_newer_inspector_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "newer.inspector"
    capture = CaptureFile.create(path)
    capture.set_info(schema_version=schema.SCHEMA_VERSION + 1)
    capture.close()
    with pytest.raises(schema.CaptureFormatError, match="newer Inspector"):
        CaptureFile.open(path)


def test_trigger_settings_are_the_latest_snapshot_of_a_trigger(tmp_path: Path) -> None:
    capture = build_sample(tmp_path / "settings.inspector")
    try:
        reader = CaptureReader(capture.conn)
        settings = reader.trigger_settings("validate-order")
        assert settings is not None and settings.table_name == "orders" and settings.source == "default"
        assert settings.config["webhook"] == "http://localhost:8081/validate-order"
        assert settings.config["retry_conf"] == {"num_retries": 3, "interval_sec": 10, "timeout_sec": 60}
        assert settings.config["headers"] == [{"name": "X-Webhook-Secret", "value": "<redacted>"}]
        assert reader.trigger_settings("no-such-trigger") is None
    finally:
        capture.close()
