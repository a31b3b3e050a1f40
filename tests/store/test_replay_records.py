"""Replay's reads and writes in a capture file: the selection, recorded answers, variants, attempts and run notes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inspector.core.hasura import client_error, invocation_request, webhook_response
from inspector.store.capture_file import CaptureFile
from inspector.store.filter_sql import compile_filter
from inspector.store.replay_records import (
    ReplayRecorder,
    create_variant,
    read_replay_source,
    recorded_invocations,
    run_notes,
    save_run_note,
    selected_event_rows,
    trigger_snapshot,
)
from tests.helpers.captures import build_sample


@pytest.fixture
def capture(tmp_path: Path) -> CaptureFile:
    path = tmp_path / "sample.inspector"
    build_sample(path).close()
    opened = CaptureFile.open(path)
    yield opened  # type: ignore[misc]
    opened.close()


def test_selection_by_filter_ids_or_all(capture: CaptureFile) -> None:
    everything, missing = selected_event_rows(capture)
    assert everything and not missing
    assert [r["seq"] for r in everything] == sorted(r["seq"] for r in everything)
    compiled = compile_filter('trigger == "validate-order"')
    some, _ = selected_event_rows(capture, compiled.where, compiled.params)
    assert some and all(r["trigger_name"] == "validate-order" for r in some)
    variant = create_variant(capture, everything[0]["id"], json.loads(everything[0]["payload"]))
    again, _ = selected_event_rows(capture)
    assert variant not in {r["id"] for r in again}  # filters and "all" select captured events only
    chosen, missing = selected_event_rows(capture, event_ids=[variant, everything[0]["id"], "nope"])
    assert {r["id"] for r in chosen} == {variant, everything[0]["id"]} and missing == ["nope"]


def test_recorded_answers_and_trigger_snapshot(capture: CaptureFile) -> None:
    ids = [r["id"] for r in capture.rows("SELECT id FROM events")]
    recorded = recorded_invocations(capture, ids)
    for event_id, row in recorded.items():
        last = capture.rows(
            "SELECT id FROM invocations WHERE event_id = ? AND source = 'hasura' ORDER BY created_ts DESC, seq DESC",
            (event_id,),
        )[0]
        assert row["id"] == last["id"]
    snapshot = trigger_snapshot(capture)
    assert snapshot and all(isinstance(config, dict) and config.get("name") for *_, config in snapshot)


def test_a_variant_is_a_new_event_and_the_original_is_untouched(capture: CaptureFile) -> None:
    original = capture.rows("SELECT * FROM events WHERE op = 'INSERT' ORDER BY seq LIMIT 1")[0]
    payload = json.loads(original["payload"])
    payload["data"]["new"]["address"] = "edited"
    variant = create_variant(capture, original["id"], payload)
    row = capture.event(variant)
    assert row is not None
    assert row["variant_of"] == original["id"] and row["status"] == "pending" and row["attempts"] == 0
    assert row["created_at"] == original["created_at"] and row["trigger_name"] == original["trigger_name"]
    assert json.loads(row["payload"])["data"]["new"]["address"] == "edited"
    assert capture.event(original["id"]) == original
    assert capture.event(create_variant(capture, variant, payload))["variant_of"] == original["id"]  # type: ignore[index]
    hits = capture.rows("SELECT rowid FROM events_fts WHERE events_fts MATCH 'edited'")
    assert len(hits) == 2  # the full-text index sees variants too
    with pytest.raises(KeyError):
        create_variant(capture, "no-such-event", payload)
    with pytest.raises(ValueError, match="event object"):
        create_variant(capture, original["id"], {"op": "INSERT"})


def test_recorder_writes_whole_rows_numbered_after_the_captured_attempts(capture: CaptureFile) -> None:
    event = capture.rows("SELECT id, trigger_name, attempts FROM events WHERE attempts > 0 LIMIT 1")[0]
    before = capture.rows("SELECT attempts, successes, last_http_status FROM events WHERE id = ?", (event["id"],))
    recorder = ReplayRecorder(capture, batch_size=3)
    request = invocation_request(
        {"id": event["id"]}, [{"name": "x-hasura-admin-secret", "value": "leaked?"}, {"name": "X-A", "value": "1"}]
    )
    ids = [
        recorder.add(
            event_id=event["id"],
            trigger_name=event["trigger_name"],
            http_status=200 if n % 2 else None,
            request=request,
            response=webhook_response("{}", [], 200) if n % 2 else client_error('{"type":"http_exception"}'),
            created_at="2024-03-01T12:00:00.000001",
            duration_ms=1.5,
        )
        for n in range(4)
    ]
    assert recorder.written == 3 and recorder.pending == 1  # a full batch is committed at once
    recorder.flush()
    rows = capture.rows(
        "SELECT id, attempt, http_status, status, request, source, duration_ms, created_ts FROM invocations "
        "WHERE source = 'replay' ORDER BY seq"
    )
    assert [r["id"] for r in rows] == ids
    assert [r["attempt"] for r in rows] == [event["attempts"] + n for n in range(1, 5)]
    assert [r["http_status"] for r in rows] == [None, 200, None, 200] == [r["status"] for r in rows]
    assert all(r["duration_ms"] == 1.5 and r["created_ts"] for r in rows)
    assert "leaked?" not in rows[0]["request"] and '"X-A","value":"<redacted>"' in rows[0]["request"]  # allow-list
    # an invocation the backend reports again (same id) is recorded once
    again = dict(
        event_id=event["id"],
        trigger_name=event["trigger_name"],
        http_status=200,
        request=request,
        response=webhook_response("{}", [], 200),
        created_at="2024-03-01T12:00:01.000001",
        duration_ms=1.0,
    )
    recorder.add(**again, invocation_id=ids[1])
    recorder.add(**again, invocation_id="b5f1c0de-0000-4000-8000-000000000001")
    recorder.flush()
    assert [r["id"] for r in capture.rows("SELECT id FROM invocations WHERE source = 'replay' ORDER BY seq")] == [
        *ids,
        "b5f1c0de-0000-4000-8000-000000000001",
    ]
    # the captured event's figures are Hasura's deliveries only
    assert (
        capture.rows("SELECT attempts, successes, last_http_status FROM events WHERE id = ?", (event["id"],)) == before
    )


def test_run_notes(capture: CaptureFile) -> None:
    save_run_note(capture, "run-1", {"run_id": "run-1", "state": "running"})
    save_run_note(capture, "run-2", {"run_id": "run-2", "state": "running"})
    save_run_note(capture, "run-1", {"run_id": "run-1", "state": "finished"})
    assert [(n["run_id"], n["state"]) for n in run_notes(capture)] == [("run-1", "finished"), ("run-2", "running")]


def test_read_replay_source_reads_what_a_plan_needs_in_one_call(capture: CaptureFile) -> None:
    capture.set_info(server_version="v2.40.1")
    everything, _ = selected_event_rows(capture)
    source = read_replay_source(capture)
    assert [e.id for e in source.events] == [r["id"] for r in everything] and not source.missing
    assert source.name == capture.path.name and source.server_version == "v2.40.1"
    assert source.recorded == {}  # only read when asked for
    assert [tuple(t) for t in source.triggers] == [tuple(t) for t in trigger_snapshot(capture)]
    some = read_replay_source(capture, 'trigger == "validate-order"', with_recorded=True)
    assert some.events and all(e.trigger_name == "validate-order" for e in some.events)
    assert some.recorded == recorded_invocations(capture, [e.id for e in some.events])
    variant = create_variant(capture, everything[0]["id"], json.loads(everything[0]["payload"]))
    chosen = read_replay_source(capture, "this filter is ignored", event_ids=[variant, "nope"], with_recorded=True)
    assert [e.id for e in chosen.events] == [variant] and chosen.missing == ("nope",)
    assert chosen.events[0].original == everything[0]["id"] and set(chosen.recorded) <= {everything[0]["id"]}
