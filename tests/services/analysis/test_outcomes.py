"""Timeouts, connection failures and handler errors told apart end to end, against the real sandbox: its timeout
knob (`--latency-ms` above the triggers' `timeout_sec`), a trigger whose handler port refuses connections, and one
whose handler answers 500; as a v2.25+ server records timeouts (HTTP 500 and `Event Trigger "NAME" timed out while
processing.`) and as an older one does (`http_exception` `Response timeout`). A capture of it is checked in the event
list's colours and the `outcome` filter field, in `inspector stats`' figures, and in replay's comparison with the
recorded answers."""

from __future__ import annotations

import asyncio
import random
import socket
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from inspector.core.colouring import DEFAULT_RULES
from inspector.core.connection_profile import ConnectionProfile
from inspector.sandbox.config import Faults
from inspector.sandbox.server import Sandbox
from inspector.sandbox.traffic import place_order
from inspector.services.analysis import analyse
from inspector.services.capture_session import CaptureOptions, CaptureSession
from inspector.services.replay.loader import answer_from_row
from inspector.services.replay.plan import Answer, judge_recorded
from inspector.store.capture_file import CaptureFile
from inspector.store.filter_sql import compile_filter, compile_rules, register_functions
from tests.conftest import ADMIN_SECRET, SandboxFactory
from tests.helpers.sandbox_client import ScriptedWebhook, add_trigger, json_reply, wait_until


def _refused_port() -> int:
    """A local port nothing listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _answers_500(_n: int, _body: dict[str, Any]) -> web.StreamResponse:
    return json_reply(500, {"error": "kitchen closed"})


async def _capture(sandbox: Sandbox, path: Path) -> None:
    """Capture one order (its `validate-order` event times out) and its items (`unreachable`, `answers-500`)."""
    hook = await ScriptedWebhook(_answers_500).start()
    try:
        await add_trigger(sandbox, "unreachable", f"http://127.0.0.1:{_refused_port()}/hook", table="items")
        await add_trigger(sandbox, "answers-500", hook.url, table="items")
        capture = CaptureFile.create(path)
        session = CaptureSession(
            ConnectionProfile.from_endpoint("test", sandbox.graphql_url),
            ADMIN_SECRET,
            capture,
            CaptureOptions(poll_interval=0.05, flush_interval=0.05),
        )
        task = asyncio.create_task(session.run())
        try:
            async with aiohttp.ClientSession() as client:
                await place_order(client, sandbox.graphql_url, ADMIN_SECRET, random.Random(3), order_id="o-timeout")

            def settled() -> bool:
                conn = sqlite3.connect(path)
                try:
                    rows = conn.execute("SELECT trigger_name, status FROM events").fetchall()
                finally:
                    conn.close()
                triggers = {t for t, _s in rows}
                done = all(s == "failed" for _t, s in rows)
                return done and {"validate-order", "unreachable", "answers-500"} <= triggers

            await wait_until(settled, timeout=30, message="every event to fail and be captured")
        finally:
            session.stop()
            await asyncio.wait_for(task, 20)
            capture.close()
    finally:
        await hook.stop()


@pytest.mark.parametrize("version", ["v2.48.0", "v2.24.0"])
async def test_timeouts_connection_failures_and_handler_errors_are_told_apart(
    sandbox_factory: SandboxFactory, tmp_path: Path, version: str
) -> None:
    sandbox = await sandbox_factory(
        hasura_version=version, timeout_sec=1, num_retries=0, faults=Faults(latency_ms=1500)
    )
    path = tmp_path / "outcomes.inspector"
    await _capture(sandbox, path)
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    register_functions(conn)
    by_trigger: dict[str, set[str]] = {}
    for row in conn.execute("SELECT id, trigger_name FROM events"):
        by_trigger.setdefault(row["trigger_name"], set()).add(row["id"])
    timed_out, unreachable, refused = by_trigger["validate-order"], by_trigger["unreachable"], by_trigger["answers-500"]

    if version == "v2.48.0":  # the processing timeout wins the race and is recorded as 500
        statuses = {
            r[0] for r in conn.execute("SELECT http_status FROM invocations WHERE trigger_name = 'validate-order'")
        }
        assert statuses == {500}

    # the filter field, per attempt
    def selected(text: str) -> set[str]:
        compiled = compile_filter(text)
        return {r[0] for r in conn.execute(f"SELECT e.id FROM events e WHERE {compiled.where}", compiled.params)}

    assert selected('outcome == "timeout"') == timed_out
    assert selected('outcome == "connection_failure"') == unreachable
    assert selected('outcome == "handler_error"') == refused
    assert selected("invocation.http_status == 500") & unreachable == set()

    # the event list's colours
    rules = compile_rules(DEFAULT_RULES)
    colours: dict[str, set[str | None]] = {}
    for event_id, index in conn.execute(f"SELECT e.id, {rules.sql} FROM events e", rules.params):
        rule = rules.rule_at(index)
        colours.setdefault(event_id, set()).add(None if rule is None else rule.name)
    assert {name for e in timed_out for name in colours[e]} == {"Failed: timed out"}
    assert {name for e in unreachable for name in colours[e]} == {"Failed: unreachable"}
    assert {name for e in refused for name in colours[e]} == {"Failed"}

    # inspector stats' figures
    report = analyse(conn)
    stats = {t.trigger: t for t in report.triggers}
    assert stats["validate-order"].outcomes == {
        "ok": 0,
        "handler_error": 0,
        "timeout": len(timed_out),
        "connection_failure": 0,
    }
    assert stats["unreachable"].outcomes["connection_failure"] == len(unreachable)
    assert stats["answers-500"].outcomes["handler_error"] == len(refused)
    assert stats["answers-500"].outcomes["timeout"] == stats["unreachable"].outcomes["timeout"] == 0
    expected_cause = "timeout (recorded as HTTP 500)" if version == "v2.48.0" else "response timeout"
    assert set(stats["validate-order"].retry_causes) == {expected_cause}
    assert "HTTP 500" not in stats["validate-order"].retry_causes
    assert all(cause.startswith("Connection failure: ") for cause in stats["unreachable"].retry_causes)

    # replay's comparison with the recorded answers: a recorded timeout is no answer, not a handler's 500
    def recorded(event_ids: set[str]) -> Answer:
        row = conn.execute("SELECT * FROM invocations WHERE event_id = ?", (next(iter(event_ids)),)).fetchone()
        return answer_from_row(dict(row))

    timeout_answer = recorded(timed_out)
    assert (timeout_answer.status, timeout_answer.outcome) == (None, "timeout")
    assert recorded(unreachable).outcome == "connection_failure"
    assert (recorded(refused).status, recorded(refused).outcome) == (500, "handler_error")
    handler_500 = Answer(500, {"error": "kitchen closed"})
    verdict = judge_recorded(handler_500, timeout_answer, ())
    assert verdict.outcome == "failed" and "timed out" in verdict.message, verdict
    again = judge_recorded(Answer(None, None, "no answer within 1 s", outcome="timeout"), timeout_answer, ())
    assert again.outcome == "passed" and again.message == "timed out, as recorded"
    refused_again = judge_recorded(Answer(None, None, "refused", outcome="connection_failure"), timeout_answer, ())
    assert refused_again.outcome == "failed"
    conn.close()
