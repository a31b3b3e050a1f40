"""The capture writer at the event log's pace: one answer's events observed together (`observe_events`) record what
observing them one by one records; a writer that forgot what it recorded (its memory is bounded) still asks the file
about an event or invocation seen again, however old; an attempt is numbered after the writer thread committed the
earlier ones of its event, and only then waits for it; payloads are stored as `dumps` writes them. Real SQLite files
throughout."""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from inspector.core.events import EventRecord, InvocationRecord
from inspector.core.hasura import client_error
from inspector.store import capture_file as capture_file_module
from inspector.store.capture_file import CaptureFile, CaptureWriter, dumps, dumps_parsed
from tests.helpers.captures import event_dict, invocation_dict, ok_response

STATE_COLUMNS = "event_id, status, delivered, error, tries, locked, next_retry_at, archived"


def _stamp(n: int) -> str:
    return f"2024-03-01T12:{n // 60:02d}:{n % 60:02d}.25"


def _answers() -> list[list[dict[str, Any]]]:
    """Three answers of a log as a follower reads them: new events, repeats, state changes (pending → locked →
    delivered, a failure), an id twice within one answer, an event without a readable time."""
    first = [event_dict(f"ev-{n:03d}", created_at=_stamp(n)) for n in range(40)]
    second = [
        *[event_dict(f"ev-{n:03d}", created_at=_stamp(n), tries=1, delivered=True) for n in range(0, 40, 2)],
        *[event_dict(f"ev-{n:03d}", created_at=_stamp(n)) for n in range(1, 40, 2)],
        event_dict("ev-100", created_at=_stamp(100), locked="2024-03-01T12:01:40.3"),
        event_dict("ev-100", created_at=_stamp(100), locked="2024-03-01T12:01:40.3"),
        event_dict("ev-101", created_at="not a time"),
    ]
    third = [
        event_dict("ev-100", created_at=_stamp(100), tries=1, delivered=True),
        event_dict("ev-001", created_at=_stamp(1), tries=3, error=True),
        event_dict("ev-101", created_at="not a time", tries=1, delivered=True),
        *[event_dict(f"ev-{n:03d}", created_at=_stamp(n), tries=1, delivered=True) for n in range(0, 40, 2)],
    ]
    return [first, second, third]


def _recorded(capture: CaptureFile) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    events = capture.conn.execute(
        "SELECT id, trigger_name, op, created_at, created_ts, payload, status, delivered, error, tries, locked, "
        "next_retry_at, archived, row_key, trace_id, session_role FROM events ORDER BY seq"
    ).fetchall()
    states = capture.conn.execute(f"SELECT {STATE_COLUMNS} FROM event_states ORDER BY seq").fetchall()
    return events, states


def test_an_answer_observed_together_records_what_one_by_one_records(tmp_path: Path) -> None:
    """Also on a file that already held some of the events (a capture appending to an existing file, or restarted):
    those are looked up together, and a repeat is `same`, a change `changed`."""
    outcomes: dict[str, list[list[str]]] = {}
    recorded = {}
    for way in ("one by one", "together"):
        capture = CaptureFile.create(tmp_path / f"{way}.inspector")
        earlier = CaptureWriter(capture)
        for event in _answers()[0][:10]:
            earlier.observe_event(EventRecord.from_hasura(event), now=1.0)
        earlier.flush()
        writer = CaptureWriter(capture)  # knows nothing in memory: the file answers for the first ten
        outcomes[way] = []
        for answer in _answers():
            records = [EventRecord.from_hasura(event) for event in answer]
            if way == "together":
                outcomes[way].append(writer.observe_events(records, now=2.0))
            else:
                outcomes[way].append([writer.observe_event(record, now=2.0) for record in records])
        writer.flush()
        recorded[way] = _recorded(capture)
        capture.close()
    assert outcomes["together"] == outcomes["one by one"]
    assert recorded["together"] == recorded["one by one"]
    first, second, third = outcomes["together"]
    assert first == ["same"] * 10 + ["new"] * 30
    assert second[-3:] == ["new", "same", "new"]  # the id twice in one answer is one event
    assert third[:3] == ["changed", "changed", "changed"]
    events, states = recorded["together"]
    assert len(events) == 42 == len({e[0] for e in events})
    assert len(states) == 42 + 20 + 3  # a state per event, then the changes


def test_a_writer_that_forgot_what_it_recorded_still_finds_it_in_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A capture into a new file does not ask the file about events newer than any it forgot (they cannot be
    there), but does ask about older ones and ones without a readable time: a late re-read after its memory was
    trimmed records nothing twice."""
    monkeypatch.setattr(capture_file_module, "KNOWN_LIMIT", 50)  # forget after 50 remembered items
    capture = CaptureFile.create(tmp_path / "c.inspector")
    writer = CaptureWriter(capture)
    delivered = [event_dict(f"ev-{n:03d}", created_at=_stamp(n), tries=1, delivered=True) for n in range(60)]
    delivered.append(event_dict("ev-untimed", created_at="not a time", tries=1, delivered=True))
    assert writer.observe_events([EventRecord.from_hasura(e) for e in delivered]) == ["new"] * 61
    writer.flush()  # over the limit: the final states are forgotten once committed
    assert writer._known_states == {}
    again = writer.observe_events([EventRecord.from_hasura(e) for e in reversed(delivered)])
    assert again == ["same"] * 61
    assert writer.observe_event(EventRecord.from_hasura(delivered[30])) == "same"
    newer = event_dict("ev-new", created_at=_stamp(90))
    assert writer.observe_events([EventRecord.from_hasura(newer)]) == ["new"]
    writer.flush()
    assert capture.count("events") == 62
    assert capture.count("event_states") == 62
    capture.close()


def test_a_writer_on_a_file_that_held_events_asks_it_about_every_unknown_event(tmp_path: Path) -> None:
    """Whatever its time: the file may hold events newer than anything this writer recorded."""
    capture = CaptureFile.create(tmp_path / "c.inspector")
    first = CaptureWriter(capture)
    first.observe_event(EventRecord.from_hasura(event_dict("ev-late", created_at=_stamp(500), tries=1, delivered=True)))
    first.flush()
    second = CaptureWriter(capture)
    assert second.observe_events([EventRecord.from_hasura(event_dict("ev-early", created_at=_stamp(1)))]) == ["new"]
    late = EventRecord.from_hasura(event_dict("ev-late", created_at=_stamp(500), tries=1, delivered=True))
    assert second.observe_events([late]) == ["same"]
    second.flush()
    assert capture.count("event_states") == 2
    capture.close()


@pytest.mark.parametrize(
    "value",
    [
        event_dict("ev-1")["payload"],
        {"op": "UPDATE", "data": {"old": {"name": "Crème brûlée ☕", "note": 'a\nb\t"c"\\'}, "new": None}},
        {"numbers": [0, -1, 1.5, 1e300, -0.0, 12345678901234567890, math.pi], "flags": [True, False, None]},
        {"nan": math.nan, "inf": [math.inf, -math.inf]},
        {"control": "\x00\x1f\u2028\u2029\ud7ff", "empty": {}, "list": [], "nested": [[[{}]]]},
        None,
        "text",
        [],
    ],
)
def test_payloads_are_stored_as_dumps_writes_them(value: Any) -> None:
    assert dumps_parsed(value) == dumps(value)


def test_a_payload_stored_by_the_writer_reads_back_equal(tmp_path: Path) -> None:
    capture = CaptureFile.create(tmp_path / "c.inspector")
    writer = CaptureWriter(capture)
    event = event_dict("ev-1", new={"name": "Crème brûlée ☕", "total": 12.5, "items": ["a", {"b": None}]})
    writer.observe_events([EventRecord.from_hasura(event)])
    writer.flush()
    (stored,) = capture.conn.execute("SELECT payload FROM events").fetchone()
    assert stored == dumps(event["payload"])
    assert json.loads(stored) == event["payload"]
    capture.close()


def _invocation(invocation_id: str, event: dict[str, Any], created_at: str, ok: bool = True) -> InvocationRecord:
    response = ok_response() if ok else client_error("connection refused")
    return InvocationRecord.from_hasura(
        invocation_dict(invocation_id, event, 200 if ok else None, response, created_at)
    )


def test_invocations_seen_again_after_the_writer_forgot_them_are_not_recorded_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(capture_file_module, "KNOWN_LIMIT", 50)
    capture = CaptureFile.create(tmp_path / "c.inspector")
    writer = CaptureWriter(capture)
    events = [event_dict(f"ev-{n:03d}", created_at=_stamp(n), tries=1, delivered=True) for n in range(40)]
    writer.observe_events([EventRecord.from_hasura(e) for e in events])
    invocations = [_invocation(f"inv-{n:03d}", e, _stamp(n)) for n, e in enumerate(events)]
    assert writer.known_invocations(i.id for i in invocations) == set()
    assert all(writer.observe_invocation(i) for i in invocations)
    writer.flush()  # over the limit: forgotten once committed
    assert writer._known_invocations == set()
    assert writer.known_invocations(i.id for i in invocations) == {i.id for i in invocations}
    assert not any(writer.observe_invocation(i) for i in reversed(invocations))
    later = _invocation("inv-later", events[0], _stamp(95))
    assert writer.observe_invocation(later)  # newer than all it forgot: not looked up, and new
    writer.flush()
    assert capture.count("invocations") == 41
    attempts = capture.rows("SELECT attempt FROM invocations WHERE event_id = 'ev-000' ORDER BY seq")
    assert [r["attempt"] for r in attempts] == [1, 2]
    capture.close()


def test_an_attempt_waits_for_the_earlier_ones_of_its_event_and_only_those(tmp_path: Path) -> None:
    """Another connection holds the file's write lock for 1.5 s, so the writer thread cannot commit: the first
    attempt of another event is numbered at once (nothing of that event is held back), the second attempt of an
    event whose first is still in the writer's queue waits for it and is numbered 2 (counted before it was
    committed, it would be 1)."""
    path = tmp_path / "c.inspector"
    capture = CaptureFile.create(path)
    writer = CaptureWriter(capture)
    first, other = event_dict("ev-1", tries=1, error=True), event_dict("ev-2", tries=1, delivered=True)
    writer.observe_events([EventRecord.from_hasura(first), EventRecord.from_hasura(other)])
    writer.flush()
    assert writer.observe_invocation(_invocation("inv-1", first, "2024-03-01T12:00:01", ok=False))
    # (with a new event in the batch, the writer's transaction begins with a write, which waits for the lock)
    writer.observe_events([EventRecord.from_hasura(event_dict("ev-3"))])
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    writer.flush(wait=False)  # inv-1 is now in the writer's queue, not committed
    released = threading.Event()

    def release() -> None:
        time.sleep(1.5)
        blocker.execute("COMMIT")
        released.set()

    threading.Thread(target=release, daemon=True).start()
    began = time.monotonic()
    assert writer.observe_invocation(_invocation("inv-2", other, "2024-03-01T12:00:02"))
    assert not released.is_set(), "the first attempt of another event waited for the writer"
    assert writer.observe_invocation(_invocation("inv-3", first, "2024-03-01T12:00:03"))
    assert released.is_set() and time.monotonic() - began >= 1.4  # the retry waited for inv-1 to be committed
    writer.flush()
    blocker.close()
    attempts = capture.rows("SELECT id, attempt FROM invocations ORDER BY seq")
    assert {r["id"]: r["attempt"] for r in attempts} == {"inv-1": 1, "inv-2": 1, "inv-3": 2}
    capture.close()


def test_a_batch_waits_for_another_connection_writing_the_file(tmp_path: Path) -> None:
    """Whatever the batch begins with (here an invocation, which sqlite-utils inserts after reading the table's
    columns): while another connection holds the write lock for a moment (the window writing a mark), the writer
    thread waits for it instead of failing the capture with "database is locked"."""
    path = tmp_path / "c.inspector"
    capture = CaptureFile.create(path)
    writer = CaptureWriter(capture)
    event = event_dict("ev-1", tries=1, delivered=True)
    writer.observe_events([EventRecord.from_hasura(event)])
    writer.flush()
    writer.observe_invocation(_invocation("inv-1", event, "2024-03-01T12:00:01"))
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO marks (kind, target, created_at) VALUES ('event', 'ev-1', 1.0)")
    writer.flush(wait=False)
    time.sleep(0.5)
    other.execute("COMMIT")
    other.close()
    writer.flush()  # raised the writer thread's OperationalError before
    assert capture.count("invocations") == 1
    capture.close()


def test_the_writer_holds_a_bounded_number_of_rows_not_yet_committed(tmp_path: Path) -> None:
    """Memory stays bounded when the file cannot keep up: with room for 200 rows (2 batches of 100 messages), a second
    batch of 150 rows of events waits for the first to be committed (here: until another connection lets go of the
    write lock), though the queue has a free place."""
    path = tmp_path / "c.inspector"
    capture = CaptureFile.create(path)
    writer = CaptureWriter(capture, batch_size=100, queued_batches=2, event_batch_size=1000)
    assert writer.queued_rows == 200
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    writer.observe_events([EventRecord.from_hasura(event_dict(f"a-{n}")) for n in range(75)])  # 150 rows
    began = time.monotonic()
    writer.flush(wait=False)
    assert time.monotonic() - began < 0.5  # room for it

    def release() -> None:
        time.sleep(1.0)
        other.execute("COMMIT")

    threading.Thread(target=release, daemon=True).start()
    writer.observe_events([EventRecord.from_hasura(event_dict(f"b-{n}")) for n in range(75)])
    began = time.monotonic()
    writer.flush(wait=False)
    assert time.monotonic() - began >= 0.8  # waited for the first batch's commit
    writer.flush()
    other.close()
    assert capture.count("events") == 150
    capture.close()
