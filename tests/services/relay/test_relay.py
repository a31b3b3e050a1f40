"""The relay between the sandbox's real delivery worker and its real handlers: deliveries pass unchanged and are
recorded once, fault rules change exactly the deliveries they match and the engine's own retries follow, rewiring
leaves the metadata as it was."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from inspector.backends.hasura_metadata import TriggerRef
from inspector.core.redaction import REDACTED
from inspector.sandbox.server import Sandbox
from inspector.services.analysis import analyse
from inspector.services.relay import Relay, RelayConfig, parse_rule
from inspector.services.relay.rewire import (
    RemoteBackendRefused,
    check_backend,
    create_args,
    restore,
    rewire,
    triggers_named,
)
from inspector.store.capture_file import CaptureFile
from inspector.store.relay_records import deliveries, rewirings
from tests.conftest import SandboxFactory
from tests.helpers.live import place_order
from tests.helpers.relay import EXAMPLE_TRIGGERS, metadata_client, relayed
from tests.helpers.sandbox_client import (
    ScriptedWebhook,
    all_invocations,
    driver_assigned,
    metadata_ok,
    order_state,
    wait_until,
)


async def _chain(sandbox: Sandbox, order_id: str) -> None:
    await place_order(sandbox, order_id)
    await wait_until(lambda: driver_assigned(sandbox, order_id), timeout=20, message=f"{order_id} driver assigned")


async def test_every_delivery_passes_through_and_is_recorded_once(sandbox: Sandbox, tmp_path: Path) -> None:
    async with relayed(sandbox, tmp_path / "relay.inspector") as r:
        assert [c.trigger for c in r.changes if c.done] == list(EXAMPLE_TRIGGERS)
        await _chain(sandbox, "o-pass")
        await _chain(sandbox, "o-pass-2")
        rows = await wait_until(
            lambda: len(found := deliveries(r.capture)) == 8 and found, message="8 deliveries recorded"
        )
        assert {(d.trigger_name, d.action, d.http_status) for d in rows} == {(t, "pass", 200) for t in EXAMPLE_TRIGGERS}
        assert len({d.event_id for d in rows}) == 8  # each event once
        for d in rows:
            assert d.forwarded_body is None and d.event_status == "delivered"
            assert json.loads(d.request_body or "")["id"] == d.event_id
        # What the engine recorded is what the handlers answered through the relay: one attempt each.
        for trigger in EXAMPLE_TRIGGERS:
            invocations = await all_invocations(sandbox, trigger)
            assert len(invocations) == 2 and all(i["http_status"] == 200 for i in invocations)
        assert r.relay.deliveries == 8
    after = await metadata_ok(sandbox, "export_metadata")
    hooks = [t["webhook"] for t in after["sources"][0]["tables"][0]["event_triggers"]]
    assert all(h.startswith(sandbox.handlers_url) for h in hooks)


async def test_body_and_headers_unchanged_and_secrets_recorded_redacted(sandbox: Sandbox, tmp_path: Path) -> None:
    async def ok(_n: int, _body: dict[str, Any]) -> web.StreamResponse:
        return web.json_response({"seen": True}, headers={"X-Handler-Token": "answer-secret"})

    hook = await ScriptedWebhook(ok).start()
    try:
        await metadata_ok(
            sandbox,
            "pg_create_event_trigger",
            {
                "name": "audit-orders",
                "table": {"schema": "public", "name": "orders"},
                "webhook": hook.url,
                "insert": {"columns": "*"},
                "headers": [{"name": "X-Api-Key", "value": "s3cret-key"}],
                "retry_conf": {"num_retries": 0, "interval_sec": 1, "timeout_sec": 10},
            },
        )
        path = tmp_path / "relay.inspector"
        async with relayed(sandbox, path, routes={"audit-orders": hook.url}) as r:
            await place_order(sandbox, "o-headers")
            await wait_until(lambda: hook.calls, message="the handler was called")
            rows = await wait_until(lambda: deliveries(r.capture), message="recorded")
            call = hook.calls[0]
            # The handler got the body the engine sent, byte for byte as JSON, and the engine's headers.
            assert json.loads(rows[0].request_body or "") == call.body
            assert call.headers["X-Api-Key"] == "s3cret-key"
            assert call.headers["User-Agent"].startswith("hasura-graphql-engine/")
            assert "X-B3-TraceId" in call.headers and call.headers["Content-Type"] == "application/json"
            # Exactly the engine's headers (Host and Content-Length are the connection's): nothing added or lost.
            received = rows[0].request_headers
            assert set(call.headers) - {"Host", "Content-Length"} == set(received)
            assert all(call.headers[k] == v for k, v in received.items() if v != REDACTED)
            assert rows[0].request_headers["X-Api-Key"] == REDACTED
            invocations = await all_invocations(sandbox, "audit-orders")
            assert invocations[0]["http_status"] == 200
            assert json.loads(invocations[0]["response"]["data"]["body"]) == {"seen": True}
        data = path.read_bytes()
        assert b"s3cret-key" not in data and b"answer-secret" not in data
    finally:
        await hook.stop()


async def test_respond_503_retry_after_on_first_payment_attempt_engine_retries(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    rule = parse_rule('trigger == "process-payment" and attempt == 1 -> respond 503 retry-after=1')
    async with relayed(sandbox, tmp_path / "relay.inspector", rules=[rule]) as r:
        await _chain(sandbox, "o-503")
        invocations = await all_invocations(sandbox, "process-payment")
        assert sorted(i["http_status"] for i in invocations) == [200, 503]
        await wait_until(lambda: len(deliveries(r.capture)) == 5, message="5 deliveries")
        payment = deliveries(r.capture, "process-payment")
        assert [(d.attempt, d.action, d.http_status, d.target is None) for d in payment] == [
            (1, "respond", 503, True),
            (2, "pass", 200, False),
        ]
        assert payment[0].acted_by == rule.text and rule.used == 1
        state = await order_state(sandbox, "o-503")
        assert len(state["payments"]) == 1


async def test_duplicate_is_flagged_by_the_analysis_and_shows_the_handler_idempotent(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    rule = parse_rule('trigger == "process-payment" -> duplicate', times=1)
    async with relayed(sandbox, tmp_path / "relay.inspector", rules=[rule]) as r:
        await _chain(sandbox, "o-dup")
        payment = await wait_until(
            lambda: len(found := deliveries(r.capture, "process-payment")) == 2 and found, message="two forwards"
        )
        payment = sorted(payment, key=lambda d: d.copy)
        assert [(d.copy, d.action, d.http_status) for d in payment] == [(0, "duplicate", 200), (1, "duplicate", 200)]
        # The handler is idempotent: the second delivery made no second payment.
        assert "already made" in (payment[1].response_body or "")
        assert len((await order_state(sandbox, "o-dup"))["payments"]) == 1
        report = analyse(r.capture.conn)
        duplicates = [a for a in report.anomalies if a.kind == "duplicate"]
        assert [a.event_id for a in duplicates] == [payment[0].event_id]
        # The engine saw one delivery.
        assert len(await all_invocations(sandbox, "process-payment")) == 1


async def test_drop_is_a_connection_failure_for_the_engine(sandbox: Sandbox, tmp_path: Path) -> None:
    rule = parse_rule('trigger == "validate-order" and attempt == 1 -> drop')
    async with relayed(sandbox, tmp_path / "relay.inspector", rules=[rule]) as r:
        await _chain(sandbox, "o-drop")
        invocations = sorted(await all_invocations(sandbox, "validate-order"), key=lambda i: i["created_at"])
        assert len(invocations) == 2
        first = invocations[0]
        assert first["http_status"] is None
        message = json.loads(first["response"]["data"]["message"])
        assert message["type"] == "http_exception"
        assert invocations[1]["http_status"] == 200
        await wait_until(lambda: len(deliveries(r.capture, "validate-order")) == 2)
        dropped = deliveries(r.capture, "validate-order")[0]
        assert dropped.action == "drop" and dropped.http_status is None and "dropped" in (dropped.error or "")


async def test_edit_changes_the_forwarded_body(sandbox: Sandbox, tmp_path: Path) -> None:
    async def ok(_n: int, _body: dict[str, Any]) -> web.StreamResponse:
        return web.json_response({})

    hook = await ScriptedWebhook(ok).start()
    try:
        await metadata_ok(
            sandbox,
            "pg_create_event_trigger",
            {
                "name": "audit-orders",
                "table": {"schema": "public", "name": "orders"},
                "webhook": hook.url,
                "insert": {"columns": "*"},
            },
        )
        rule = parse_rule('op == INSERT -> edit data.new.address="2 Side St"')
        async with relayed(sandbox, tmp_path / "r.inspector", rules=[rule], routes={"audit-orders": hook.url}) as r:
            await place_order(sandbox, "o-edit")
            await wait_until(lambda: hook.calls)
            assert hook.calls[0].body["event"]["data"]["new"]["address"] == "2 Side St"
            row = (await wait_until(lambda: deliveries(r.capture)))[0]
            assert json.loads(row.request_body or "")["event"]["data"]["new"]["address"] == "1 Main St"
            assert json.loads(row.forwarded_body or "")["event"]["data"]["new"]["address"] == "2 Side St"
    finally:
        await hook.stop()


async def test_rewire_and_restore_leave_the_metadata_exactly_as_before(sandbox: Sandbox, tmp_path: Path) -> None:
    await metadata_ok(
        sandbox,
        "pg_create_event_trigger",
        {
            "name": "from-env",
            "table": {"schema": "public", "name": "orders"},
            "webhook_from_env": "AUDIT_WEBHOOK",
            "insert": {"columns": "*"},
            "headers": [{"name": "X-Key", "value_from_env": "AUDIT_KEY"}, {"name": "X-Plain", "value": "v"}],
            "retry_conf": {"num_retries": 5, "interval_sec": 7, "timeout_sec": 33},
        },
    )
    before = await metadata_ok(sandbox, "export_metadata")
    path = tmp_path / "crash.inspector"
    capture = CaptureFile.create(path)
    async with metadata_client(sandbox) as client:
        refs = await triggers_named(client, None)
        urls = {ref.name: f"http://127.0.0.1:9/{ref.name}" for ref in refs}
        changes = await rewire(client, capture, refs, urls)
        assert {c.trigger for c in changes} == {*EXAMPLE_TRIGGERS, "from-env"}
        assert "env AUDIT_WEBHOOK" in next(c.describe() for c in changes if c.trigger == "from-env")
        during = await metadata_ok(sandbox, "export_metadata")
        triggers = {t["name"]: t for t in during["sources"][0]["tables"][0]["event_triggers"]}
        assert triggers["from-env"]["webhook"] == urls["from-env"] and "webhook_from_env" not in triggers["from-env"]
        assert triggers["from-env"]["retry_conf"] == {"num_retries": 5, "interval_sec": 7, "timeout_sec": 33}
        assert triggers["from-env"]["headers"] == [
            {"name": "X-Key", "value_from_env": "AUDIT_KEY"},
            {"name": "X-Plain", "value": "v"},
        ]
    capture.close()  # "the crash": nothing restored
    reopened = CaptureFile.open(path)
    assert {w.name for w in rewirings(reopened)} == {*EXAMPLE_TRIGGERS, "from-env"}
    async with metadata_client(sandbox) as client:
        restored = await restore(client, reopened)
        assert all(c.done for c in restored) and len(restored) == 5
        assert await restore(client, reopened) == []  # nothing left to restore
    reopened.close()
    assert await metadata_ok(sandbox, "export_metadata") == before


async def test_restore_leaves_a_trigger_changed_meanwhile_alone(sandbox: Sandbox, tmp_path: Path) -> None:
    capture = CaptureFile.create(tmp_path / "c.inspector")
    async with metadata_client(sandbox) as client:
        refs = await triggers_named(client, ["validate-order"])
        await rewire(client, capture, refs, {"validate-order": "http://127.0.0.1:9/validate-order"})
        theirs = {**refs[0].config, "webhook": "http://127.0.0.1:7/theirs"}
        theirs_ref = TriggerRef("default", refs[0].table, "validate-order", theirs)
        await client.call("pg_create_event_trigger", create_args(theirs_ref, "http://127.0.0.1:7/theirs", None))
        changes = await restore(client, capture)
        assert [c.done for c in changes] == [False]
    export = await metadata_ok(sandbox, "export_metadata")
    hook = next(t for t in export["sources"][0]["tables"][0]["event_triggers"] if t["name"] == "validate-order")
    assert hook["webhook"] == "http://127.0.0.1:7/theirs"
    capture.close()


def test_a_remote_backend_is_refused_without_allow_remote() -> None:
    check_backend("http://127.0.0.1:8080/v1/metadata", allow_remote=False)
    check_backend("http://hasura.example.com/v1/metadata", allow_remote=True)
    with pytest.raises(RemoteBackendRefused, match="--allow-remote"):
        check_backend("http://hasura.example.com/v1/metadata", allow_remote=False)


async def test_unknown_trigger_and_methods(sandbox: Sandbox, tmp_path: Path) -> None:
    async with relayed(sandbox, tmp_path / "r.inspector") as r, aiohttp.ClientSession() as session:
        async with session.post(r.relay.url("nope"), json={}) as answer:
            assert answer.status == 404 and "no route" in (await answer.json())["error"]
        async with session.get(r.relay.url("validate-order")) as answer:
            assert answer.status == 405


async def test_sandbox_webhook_base_points_the_example_triggers_at_a_relay(sandbox_factory: SandboxFactory) -> None:
    async with Relay(RelayConfig({})) as relay:  # no metadata API involved: `inspector sandbox --webhook-base URL`
        sandbox = await sandbox_factory(webhook_base=relay.base_url)
        relay.routes.update({t: f"{sandbox.handlers_url}/{t}" for t in EXAMPLE_TRIGGERS})
        await _chain(sandbox, "o-base")
        assert relay.deliveries == 4
