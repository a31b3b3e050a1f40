"""Replay at scale: `inspector replay --duplicate 3` over 10,000 captured events finishes, records every attempt as
its own invocation row and reports every check, with the per-attempt shortcuts of the runner (bodies composed once
per event, response records shared between equal answers, batched recording in a thread, the garbage collector kept
off the run's objects) in play at the volume they were made for.
"""

from __future__ import annotations

import gc
import io
import json
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from inspector.cli import build_parser
from inspector.cli.replay import run as run_replay
from inspector.core.events import EventRecord, InvocationRecord
from inspector.core.hasura import event_payload, invocation_request, request_headers, webhook_body, webhook_response
from inspector.store.capture_file import CaptureFile, CaptureWriter, dumps
from inspector.store.replay_records import run_notes

EVENTS = 10_000
DUPLICATE = 3


def capture_of(path: Path, webhook: str, events: int) -> list[str]:
    """`events` INSERT events of trigger `notify` (webhook `webhook`), each with the one 200 Hasura recorded."""
    capture = CaptureFile.create(path)
    capture.set_info(server_version="v2.48.0")
    config = {
        "name": "notify",
        "definition": {"enable_manual": False, "insert": {"columns": "*"}},
        "retry_conf": {"num_retries": 3, "interval_sec": 10, "timeout_sec": 30},
        "webhook": webhook,
    }
    writer = CaptureWriter(capture, batch_size=5000)
    writer.snapshot_triggers([("default", {"schema": "public", "name": "orders"}, config)])
    ids = []
    for n in range(events):
        event_id = f"00000000-0000-4000-8000-{n:012d}"
        ids.append(event_id)
        payload = event_payload(
            "INSERT",
            None,
            {"order_id": f"order-{n}", "note": "café ☕", "amount": n % 97},
            {"x-hasura-role": "user"},
            {"trace_id": f"{n + 1:032x}", "span_id": f"{n + 1:016x}", "sampling_state": "1"},
        )
        created = f"2024-03-01T12:{(n // 60) % 60:02d}:{n % 60:02d}.000001"
        writer.observe_event(
            EventRecord(event_id, "notify", "public", "orders", payload, created, True, False, 1, None, None, False)
        )
        body = webhook_body(event_id, "public", "orders", "notify", payload, 0, 3, created)
        writer.observe_invocation(
            InvocationRecord(
                f"inv-{n}",
                event_id,
                "notify",
                200,
                invocation_request(body, request_headers((), {})[1]),
                webhook_response("{}", [], 200),
                created,
            )
        )
    writer.flush()
    capture.close()
    return ids


HANDLER = """
import asyncio, collections, json, sys
from aiohttp import web

deliveries = collections.Counter()
traceparents = set()

async def handle(request):
    raw = await request.read()
    deliveries[raw[7:43].decode()] += 1  # the body starts with {"id":"<event id>", as Hasura's does
    traceparents.add(request.headers.get("traceparent", ""))
    return web.Response(body=b"{}", content_type="application/json")

async def main():
    app = web.Application()
    app.router.add_post("/{name}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    print(site._server.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await runner.cleanup()
    print(json.dumps({"deliveries": deliveries, "traceparents": len(traceparents)}), flush=True)

asyncio.run(main())
"""
"""An idempotent webhook in a process of its own (so it does not take the replay's CPU or interpreter lock):
answers every delivery `200 {}`, counts the deliveries of each event and, when its stdin closes, prints the counts."""


class Handler:
    """Runs `HANDLER`; `url` while it runs, `deliveries` and `traceparents` (how many distinct) after."""

    def __init__(self) -> None:
        self.url = ""
        self.deliveries: dict[str, int] = {}
        self.traceparents = 0
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> Handler:
        self._process = subprocess.Popen(
            [sys.executable, "-c", HANDLER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self._process.stdout is not None
        self.url = f"http://127.0.0.1:{int(self._process.stdout.readline())}"
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self._process is not None
        try:
            out, _ = self._process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.communicate()
            raise
        if out.strip():
            counts = json.loads(out)
            self.deliveries, self.traceparents = counts["deliveries"], counts["traceparents"]


def cli(*argv: str) -> tuple[int, str, str]:
    args = build_parser().parse_args(["replay", *argv])
    out, err = io.StringIO(), io.StringIO()
    code = run_replay(args, env={}, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.mark.slow
def test_duplicate_3_over_10000_events_records_and_reports_every_attempt(tmp_path: Path) -> None:
    path = tmp_path / "large.inspector"
    junit_path = tmp_path / "replay.xml"
    with Handler() as handler:
        ids = capture_of(path, f"{handler.url}/notify", EVENTS)
        code, out, err = cli(
            str(path), "--duplicate", str(DUPLICATE), "--concurrency", "32", "--report", str(junit_path)
        )
    attempts = EVENTS * DUPLICATE
    assert code == 0, out[-2000:] + err[-2000:]
    # every event was delivered exactly N times, each with its own traceparent
    assert len(handler.deliveries) == EVENTS and set(handler.deliveries) == set(ids)
    assert set(handler.deliveries.values()) == {DUPLICATE}
    assert handler.traceparents == EVENTS

    # every attempt is its own invocation row: attempts 2..N+1 after the captured one, unique ids, Hasura's shapes
    assert rows(path, "SELECT count(*), count(DISTINCT id) FROM invocations WHERE source = 'replay'") == [
        (attempts, attempts)
    ]
    per_event = rows(
        path,
        "SELECT event_id, group_concat(attempt), count(DISTINCT request), min(http_status), max(http_status) "
        "FROM (SELECT * FROM invocations WHERE source = 'replay' ORDER BY attempt) GROUP BY event_id",
    )
    assert len(per_event) == EVENTS
    assert {(a, r, lo, hi) for _, a, r, lo, hi in per_event} == {("2,3,4", 1, 200, 200)}
    request_text, response_text = rows(
        path, f"SELECT request, response FROM invocations WHERE source = 'replay' AND event_id = '{ids[-1]}' LIMIT 1"
    )[0]
    request, response = json.loads(request_text), json.loads(response_text)
    assert request["payload"]["id"] == ids[-1] and request["payload"]["delivery_info"] == {
        "max_retries": 3,
        "current_retry": 0,
    }
    assert response["type"] == "webhook_response" and response["data"]["status"] == 200
    assert response["data"]["body"] == "{}"
    # the captured events and their own figures are untouched
    assert rows(path, "SELECT count(*), sum(attempts) FROM events") == [(EVENTS, EVENTS)]
    assert rows(path, "SELECT count(*) FROM invocations WHERE source = 'hasura'") == [(EVENTS,)]

    # the report: a status and a duplicate check per event, all passed, in the note, the output and JUnit
    capture = CaptureFile.open(path)
    try:
        (note,) = run_notes(capture)
    finally:
        capture.close()
    assert note["state"] == "finished"
    assert note["attempts_made"] == note["attempts_planned"] == attempts
    assert f"{attempts} of {attempts} attempts" in out + err
    assert f"checks: {2 * EVENTS} passed, 0 failed, 0 errors, 0 skipped" in out + err
    root = ET.parse(junit_path).getroot()
    assert int(root.get("tests", "-1")) == 2 * EVENTS and int(root.get("failures", "-1")) == 0


def test_the_collector_is_as_it_was_after_runs_even_overlapping_ones() -> None:
    from inspector.services.replay.runner import YOUNG_COLLECTION_THRESHOLD, _collector

    before = gc.get_threshold()
    frozen = gc.get_freeze_count()
    _collector.start_run()
    assert gc.get_threshold()[0] == max(before[0], YOUNG_COLLECTION_THRESHOLD) and gc.get_freeze_count() > frozen
    _collector.start_run()  # a second replay in the same process (the window's, beside another)
    _collector.end_run()
    assert gc.get_threshold()[0] == max(before[0], YOUNG_COLLECTION_THRESHOLD)  # the first still runs
    _collector.end_run()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_shared_answer_records_equal_hasuras_shapes() -> None:
    from inspector.core.events import decode_twice
    from inspector.services.replay.runner import _AnswerRecords

    records = _AnswerRecords()
    headers = (("Content-Type", "application/json"), ("Date", "Sun, 06 Dec 2026 17:00:00 GMT"))
    for text in ('{"ok":true,"note":"café ☕\\u2028"}', "plain text", ["Base64", "AAEC"], "x" * 5000):
        for _ in range(2):  # composed, then found again
            assert records.record(201, text, headers) == dumps(webhook_response(text, list(headers), 201))
            assert records.decoded(text) == decode_twice(text)
    assert records.record(200, "{}", headers) != records.record(200, "{}", headers[:1])
