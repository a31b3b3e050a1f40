"""Flows join across handlers whichever trace headers the server sends: B3 (`X-B3-TraceId`, `X-B3-SpanId`,
`X-B3-ParentSpanId`; Hasura's default propagator, `defaultOtelExporterTracesPropagators = [B3]` in
`server/src-lib/Hasura/RQL/Types/OpenTelemetry.hs`) or W3C `traceparent` beside it (`traces_propagators:
["tracecontext"]`). The sandbox's handlers forward what they received and its GraphQL continues the trace, so one
order's four events share one trace id in their payloads' `trace_context`; with no trace headers at all each event
starts its own trace, and the flow still joins by the order's key."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from pathlib import Path

import aiohttp
import pytest

from inspector.core.connection_profile import ConnectionProfile
from inspector.sandbox.server import Sandbox
from inspector.sandbox.traffic import place_order
from inspector.services.analysis import flow_for_event, flow_for_key
from inspector.services.capture_session import CaptureOptions, CaptureSession
from inspector.store.capture_file import CaptureFile
from tests.conftest import ADMIN_SECRET, SandboxFactory
from tests.helpers.sandbox_client import ScriptedWebhook, add_trigger, always_ok, wait_until

TRIGGERS = ("validate-order", "process-payment", "restaurant-approval", "agent-assignment")


async def _capture_one_order(sandbox: Sandbox, path: Path) -> str:
    capture = CaptureFile.create(path)
    session = CaptureSession(
        ConnectionProfile.from_endpoint("test", sandbox.graphql_url),
        ADMIN_SECRET,
        capture,
        CaptureOptions(poll_interval=0.05, flush_interval=0.05),
    )
    task = asyncio.create_task(session.run())
    try:
        await asyncio.sleep(0.2)
        async with aiohttp.ClientSession() as client:
            await place_order(client, sandbox.graphql_url, ADMIN_SECRET, random.Random(11), order_id="o-trace")

        def delivered() -> bool:
            conn = sqlite3.connect(path)
            try:
                return conn.execute("SELECT count(*) FROM events WHERE status = 'delivered'").fetchone()[0] >= 4
            finally:
                conn.close()

        await wait_until(delivered, timeout=20, message="the order's four events to be delivered and captured")
    finally:
        session.stop()
        await asyncio.wait_for(task, 20)
        capture.close()
    return "o-trace"


@pytest.mark.parametrize(
    ("propagators", "headers"),
    [
        (("b3",), {"x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid", "x-b3-sampled"}),
        (("tracecontext", "b3"), {"traceparent", "x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid"}),
    ],
    ids=["b3", "tracecontext"],
)
async def test_an_order_is_one_trace_and_one_flow_with_either_propagator(
    sandbox_factory: SandboxFactory, tmp_path: Path, propagators: tuple[str, ...], headers: set[str]
) -> None:
    sandbox = await sandbox_factory(trace_propagators=propagators)
    # a webhook of the test's own on the same insert shows which headers the server sends
    hook = await ScriptedWebhook(always_ok).start()
    try:
        await add_trigger(sandbox, "headers-seen", hook.url, table="orders", insert={"columns": "*"})
        path = tmp_path / "trace.inspector"
        order = await _capture_one_order(sandbox, path)
        await wait_until(lambda: hook.calls, message="the test's webhook to be called")
        seen = [{name.lower() for name in call.headers} for call in hook.calls]
    finally:
        await hook.stop()
    assert headers <= seen[0]
    if "traceparent" not in headers:
        assert "traceparent" not in seen[0]
    conn = sqlite3.connect(path)
    try:
        traces = {r[0] for r in conn.execute("SELECT trace_id FROM events WHERE trigger_name != 'headers-seen'")}
        assert len(traces) == 1 and None not in traces  # every handler's write continued the order's trace
        flow = flow_for_key(conn, order)
        assert flow.trace_ids == tuple(traces)
        events = [s.target for s in flow.steps if s.kind == "event" and s.target != "trigger:headers-seen"]
        assert events == [f"trigger:{t}" for t in TRIGGERS]
        # each handler's write is attributed to the invocation that made it (the same trace allows it)
        writes = [s for s in flow.steps if s.kind == "write"]
        assert [w.source for w in writes[1:4]] == [f"handler:{t}" for t in TRIGGERS[:3]]
        for (event_id,) in conn.execute("SELECT id FROM events"):
            assert set(flow_for_event(conn, event_id).trace_ids) == traces
    finally:
        conn.close()


async def test_without_trace_headers_each_event_is_its_own_trace_and_the_key_still_joins(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    sandbox = await sandbox_factory(trace_propagators=())
    path = tmp_path / "untraced.inspector"
    order = await _capture_one_order(sandbox, path)
    conn = sqlite3.connect(path)
    try:
        traces = [r[0] for r in conn.execute("SELECT trace_id FROM events")]
        assert len(set(traces)) == len(traces) == 4  # no header came back: every write started a new trace
        flow = flow_for_key(conn, order)
        assert [s.target for s in flow.steps if s.kind == "event"] == [f"trigger:{t}" for t in TRIGGERS]
    finally:
        conn.close()
