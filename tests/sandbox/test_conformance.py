"""The sandbox answers as Hasura v2 does (issue 13), checked over real sockets and against the shapes kept in
`tests/fixtures/hasura/` (read from Hasura's source; see the README there).

One test (or a few) per point: a missing or cleaned-up event is a 400 `not-exists`; timeouts and connection failures
are recorded as v2.25+ does (and as older servers did with `hasura_version`); B3 trace headers by default, W3C on
request; one `created_at` per transaction and ties returned in no fixed order; aeson time formats and a database time
zone; GraphQL validation errors in Hasura's words, over HTTP and both WebSocket subprotocols.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp import web

from inspector.sandbox.server import Sandbox
from tests.conftest import ADMIN_SECRET, SandboxFactory
from tests.helpers.sandbox_client import (
    ScriptedWebhook,
    add_trigger,
    always_ok,
    delete_example_triggers,
    graphql_data,
    json_reply,
    metadata,
    metadata_ok,
    wait_until,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hasura"
UTC_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,5}[1-9])?Z$")
LOCAL_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,5}[1-9])?$")
INSERT_ITEMS = """
mutation ($order: String!, $items: [items_insert_input!]!) {
  insert_orders_one(object: {order_id: $order, user_id: "u1", restaurant_id: 1, address: "here"}) { order_id }
  insert_items(objects: $items) { affected_rows }
}
"""


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def check_type(value: Any, spec: str) -> bool:
    """Whether `value` has one of the fixture types in `spec` (`a|b`)."""
    for kind in spec.split("|"):
        ok = {
            "string": isinstance(value, str),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "boolean": isinstance(value, bool),
            "object": isinstance(value, dict),
            "null": value is None,
            "utc_time": isinstance(value, str) and bool(UTC_TIME.match(value)),
            "local_time": isinstance(value, str) and bool(LOCAL_TIME.match(value)),
        }[kind]
        if ok:
            return True
    return False


def assert_shape(record: dict[str, Any], shape: dict[str, Any]) -> None:
    assert list(record) == shape["keys"]
    for key, spec in shape["types"].items():
        assert check_type(record[key], spec), (key, record[key], spec)


@pytest.fixture
async def webhooks() -> AsyncIterator[list[ScriptedWebhook]]:
    started: list[ScriptedWebhook] = []
    yield started
    for hook in started:
        await hook.stop()


async def start_webhook(webhooks: list[ScriptedWebhook], reply: Any) -> ScriptedWebhook:
    hook = await ScriptedWebhook(reply).start()
    webhooks.append(hook)
    return hook


async def insert_items(sandbox: Sandbox, count: int) -> None:
    """One mutation, one transaction: an order and `count` items."""
    order = f"order-{time.monotonic_ns()}"
    items = [{"order_id": order, "item": f"item {i}"} for i in range(count)]
    await graphql_data(sandbox, INSERT_ITEMS, {"order": order, "items": items})


async def events_of(sandbox: Sandbox, trigger: str, **args: Any) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = await metadata_ok(sandbox, "pg_get_event_logs", {"name": trigger, **args})
    return body


async def all_processed(sandbox: Sandbox, trigger: str, count: int) -> list[dict[str, Any]] | None:
    events = await events_of(sandbox, trigger, limit=1000)
    return events if len(events) == count and all(e["delivered"] or e["error"] for e in events) else None


async def invocations_of(sandbox: Sandbox, trigger: str) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = await metadata_ok(
        sandbox, "pg_get_event_invocation_logs", {"name": trigger, "limit": 1000}
    )
    return body


async def run_sql(sandbox: Sandbox, sql: str) -> list[dict[str, str]]:
    body = {"type": "run_sql", "args": {"source": "default", "sql": sql, "read_only": True}}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{sandbox.base_url}/v2/query", json=body, headers={"x-hasura-admin-secret": ADMIN_SECRET}
        ) as answer,
    ):
        result = await answer.json()
    header, *rows = result["result"]
    return [dict(zip(header, row, strict=True)) for row in rows]


# --- 1. events that vanish ---------------------------------------------------------------------------------------


async def test_missing_event_is_400_not_exists(sandbox: Sandbox) -> None:
    expected = fixture("event_by_id_not_exists.json")
    status, body = await metadata(sandbox, "pg_get_event_by_id", {"event_id": "0f1e2d3c"})
    assert status == expected["status"]
    assert body == {**expected["body"], "error": expected["body"]["error"].format(event_id="0f1e2d3c")}


async def test_cleanup_removes_events_and_keeps_their_invocations(
    sandbox: Sandbox, webhooks: list[ScriptedWebhook]
) -> None:
    await delete_example_triggers(sandbox)
    hook = await start_webhook(webhooks, always_ok)
    await add_trigger(sandbox, "kept", hook.url)
    await insert_items(sandbox, 3)
    events = await wait_until(lambda: all_processed(sandbox, "kept", 3), timeout=5)
    assert events is not None
    answer = await metadata_ok(
        sandbox, "cleanup_event_trigger_logs", {"event_trigger_name": "kept", "clear_older_than": 0}
    )
    assert answer["deleted_event_logs"] == 3
    assert await events_of(sandbox, "kept") == []
    invocations = await invocations_of(sandbox, "kept")
    assert {i["event_id"] for i in invocations} == {e["id"] for e in events}
    status, body = await metadata(sandbox, "pg_get_event_by_id", {"event_id": events[0]["id"]})
    assert (status, body["code"]) == (400, "not-exists")


async def test_cleanup_can_take_the_invocations_too(sandbox: Sandbox, webhooks: list[ScriptedWebhook]) -> None:
    await delete_example_triggers(sandbox)
    hook = await start_webhook(webhooks, always_ok)
    await add_trigger(sandbox, "gone", hook.url)
    await insert_items(sandbox, 2)
    await wait_until(lambda: all_processed(sandbox, "gone", 2), timeout=5)
    await metadata_ok(
        sandbox,
        "cleanup_event_trigger_logs",
        {"event_trigger_name": "gone", "clear_older_than": 0, "clean_invocation_logs": True},
    )
    assert await invocations_of(sandbox, "gone") == []


# --- 2. timeouts and connection failures -------------------------------------------------------------------------


async def test_timeout_matches_the_v2_25_fixture(sandbox: Sandbox, webhooks: list[ScriptedWebhook]) -> None:
    expected = fixture("timeout_invocation.json")
    await delete_example_triggers(sandbox)
    hook: ScriptedWebhook

    async def hang(_n: int, _body: dict[str, Any]) -> web.StreamResponse:
        await hook.release.wait()
        return json_reply()

    hook = await start_webhook(webhooks, hang)
    await add_trigger(sandbox, "slow", hook.url, timeout_sec=1)
    await insert_items(sandbox, 1)
    await wait_until(lambda: all_processed(sandbox, "slow", 1), timeout=6)
    [invocation] = await invocations_of(sandbox, "slow")
    assert_shape(invocation, fixture("invocation_log_record.json"))
    assert invocation["http_status"] == expected["http_status"]
    assert invocation["request"]["payload"] is expected["request"]["payload"]
    assert invocation["request"]["version"] == expected["request"]["version"]
    message = expected["response"]["data"]["message"].replace("{trigger}", "slow")
    assert invocation["response"] == {**expected["response"], "data": {"message": message}}


async def test_before_v2_25_a_timeout_is_a_response_timeout_exception(
    sandbox_factory: SandboxFactory, webhooks: list[ScriptedWebhook]
) -> None:
    sandbox = await sandbox_factory(hasura_version="v2.24.1")
    await delete_example_triggers(sandbox)
    hook: ScriptedWebhook

    async def hang(_n: int, _body: dict[str, Any]) -> web.StreamResponse:
        await hook.release.wait()
        return json_reply()

    hook = await start_webhook(webhooks, hang)
    await add_trigger(sandbox, "slow", hook.url, timeout_sec=1)
    await insert_items(sandbox, 1)

    async def recorded() -> list[dict[str, str]] | None:
        rows = await run_sql(sandbox, "SELECT status, request, response FROM hdb_catalog.event_invocation_logs")
        return rows or None

    [row] = await wait_until(recorded, timeout=6)
    assert row["status"] == "NULL"
    assert json.loads(row["request"])["payload"] is not None
    exception = json.loads(json.loads(row["response"])["data"]["message"])
    assert (exception["type"], exception["message"]) == ("http_exception", "Response timeout")
    assert "status" not in exception


async def test_connection_failure_matches_the_fixture(sandbox: Sandbox) -> None:
    expected = fixture("http_exception_connection_failure.json")
    await delete_example_triggers(sandbox)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    await add_trigger(sandbox, "nowhere", f"http://127.0.0.1:{port}/hook?x=1")
    await insert_items(sandbox, 1)
    await wait_until(lambda: all_processed(sandbox, "nowhere", 1), timeout=5)
    [invocation] = await invocations_of(sandbox, "nowhere")
    assert invocation["http_status"] is expected["http_status"]
    assert invocation["response"]["type"] == expected["response_type"]
    exception = json.loads(invocation["response"]["data"]["message"])
    assert list(exception) == expected["message_keys"]
    assert exception["type"] == expected["message_type"]
    assert exception["message"].startswith(expected["message_prefix"])
    request = exception["request"]
    assert list(request) == expected["request_keys"]
    for key, spec in expected["request_types"].items():
        assert check_type(request[key], spec), key
    assert (request["host"], request["port"], request["secure"]) == ("127.0.0.1", port, False)
    assert (request["path"], request["queryString"], request["method"]) == ("/hook", "?x=1", "POST")
    assert request["responseTimeout"] == "ResponseTimeoutMicro 60000000"


# --- 3. trace headers --------------------------------------------------------------------------------------------


async def test_b3_headers_by_default_and_traceparent_when_configured(
    sandbox: Sandbox, webhooks: list[ScriptedWebhook]
) -> None:
    await delete_example_triggers(sandbox)
    hook = await start_webhook(webhooks, always_ok)
    await add_trigger(sandbox, "traced", hook.url)
    await insert_items(sandbox, 1)
    [event] = await wait_until(lambda: all_processed(sandbox, "traced", 1), timeout=5)
    headers = {k.lower(): v for k, v in hook.calls[0].headers.items()}
    assert headers["x-b3-traceid"] == event["payload"]["trace_context"]["trace_id"]
    assert re.fullmatch(r"[0-9a-f]{16}", headers["x-b3-spanid"])
    assert re.fullmatch(r"[0-9a-f]{16}", headers["x-b3-parentspanid"])
    assert headers["x-b3-sampled"] == "1"
    assert "traceparent" not in headers

    await metadata_ok(sandbox, "set_opentelemetry_config", {"exporter_otlp": {"traces_propagators": ["tracecontext"]}})
    await insert_items(sandbox, 1)
    await wait_until(lambda: all_processed(sandbox, "traced", 2), timeout=5)
    headers = {k.lower(): v for k, v in hook.calls[1].headers.items()}
    trace_id = headers["x-b3-traceid"]  # B3 is always added
    assert re.fullmatch(rf"00-{trace_id}-{headers['x-b3-spanid']}-01", headers["traceparent"])


async def test_w3c_only_sandbox_and_the_chain_joins_one_trace(sandbox_factory: SandboxFactory) -> None:
    sandbox = await sandbox_factory(trace_propagators=("tracecontext",))
    order_id = f"order-{time.monotonic_ns()}"
    await graphql_data(
        sandbox,
        'mutation ($id: String!) { insert_orders_one(object: {order_id: $id, user_id: "u", restaurant_id: 1, '
        'address: "a"}) { order_id } }',
        {"id": order_id},
    )

    async def chain() -> list[str] | None:
        traces = []
        for name in ("validate-order", "process-payment", "restaurant-approval", "agent-assignment"):
            events = await events_of(sandbox, name)
            if not events:
                return None
            traces.append(events[0]["payload"]["trace_context"]["trace_id"])
        return traces

    traces = await wait_until(chain, timeout=15)
    assert len(set(traces)) == 1


# --- 4. one created_at per transaction, ties in no fixed order ---------------------------------------------------


async def test_one_transaction_one_created_at_and_ties_in_random_order(
    sandbox_factory: SandboxFactory, webhooks: list[ScriptedWebhook]
) -> None:
    sandbox = await sandbox_factory(seed=7)
    await delete_example_triggers(sandbox)
    hook = await start_webhook(webhooks, always_ok)
    await add_trigger(sandbox, "batch", hook.url)
    await insert_items(sandbox, 12)
    events = await wait_until(lambda: all_processed(sandbox, "batch", 12), timeout=5)
    assert events is not None
    assert len({e["created_at"] for e in events}) == 1

    orders = set()
    skipped_or_repeated = False
    for _ in range(20):
        orders.add(tuple(e["id"] for e in await events_of(sandbox, "batch")))
        paged = [e["id"] for offset in (0, 5, 10) for e in await events_of(sandbox, "batch", limit=5, offset=offset)]
        skipped_or_repeated |= len(set(paged)) < 12
    assert len(orders) > 1  # ties come back in another order on another call
    assert skipped_or_repeated  # so a client paging by offset can miss rows


# --- 5. time formats and the database's time zone ----------------------------------------------------------------


async def test_time_formats_and_a_database_time_zone(
    sandbox_factory: SandboxFactory, webhooks: list[ScriptedWebhook]
) -> None:
    zone = "America/New_York"
    sandbox = await sandbox_factory(db_timezone=zone)
    await delete_example_triggers(sandbox)
    hook: ScriptedWebhook
    locked_seen: list[str | None] = []

    async def slow(_n: int, _body: dict[str, Any]) -> web.StreamResponse:
        locked_seen.extend(e["locked"] for e in await events_of(sandbox, "zoned"))
        return json_reply()

    hook = await start_webhook(webhooks, slow)
    await add_trigger(sandbox, "zoned", hook.url)
    before = datetime.now(UTC)
    await insert_items(sandbox, 1)
    [event] = await wait_until(lambda: all_processed(sandbox, "zoned", 1), timeout=5)
    after = datetime.now(UTC)

    assert_shape(event, fixture("event_log_record.json"))
    body = hook.calls[0].body
    assert list(body) == fixture("webhook_body.json")["keys"]
    assert LOCAL_TIME.match(body["created_at"])
    # The body's created_at is the database's local (New York) time, zone-less ...
    local = datetime.fromisoformat(body["created_at"]).replace(tzinfo=ZoneInfo(zone))
    assert before - timedelta(seconds=1) <= local <= after + timedelta(seconds=1)
    # ... and the metadata API labels that same wall time `Z` (a TIMESTAMP decoded as UTCTime).
    assert event["created_at"] == body["created_at"] + "Z"
    # `locked` is a TIMESTAMPTZ: the true UTC time, `Z`.
    [locked] = locked_seen
    assert locked is not None and UTC_TIME.match(locked)
    assert before - timedelta(seconds=1) <= datetime.fromisoformat(locked) <= after + timedelta(seconds=1)


# --- 8. the remaining fixtures -----------------------------------------------------------------------------------


async def test_invoke_without_enable_manual_matches_the_fixture(sandbox: Sandbox) -> None:
    expected = fixture("manual_events_disabled.json")
    await add_trigger(sandbox, "t1_disabled", "http://127.0.0.1:9/hook")
    request = expected["request"]
    status, body = await metadata(sandbox, request["type"], request["args"])
    assert status == expected["status"]
    assert list(body) == expected["body_keys"]


async def test_delivered_event_and_invocation_match_the_fixtures(sandbox: Sandbox) -> None:
    order_id = f"order-{time.monotonic_ns()}"
    await graphql_data(
        sandbox,
        'mutation ($id: String!) { insert_orders_one(object: {order_id: $id, user_id: "u", restaurant_id: 1, '
        'address: "a"}) { order_id } }',
        {"id": order_id},
    )
    [event] = await wait_until(lambda: all_processed(sandbox, "validate-order", 1), timeout=5)
    shape = fixture("event_log_record.json")
    assert_shape(event, shape)
    assert list(event["payload"]) == shape["payload_keys"]
    [invocation] = await invocations_of(sandbox, "validate-order")
    shape = fixture("invocation_log_record.json")
    assert_shape(invocation, shape)
    assert list(invocation["request"]) == shape["request_keys"]
    assert list(invocation["response"]) == shape["response_keys"]
    assert invocation["request"]["version"] == invocation["response"]["version"] == shape["version"]
    body = invocation["request"]["payload"]
    body_shape = fixture("webhook_body.json")
    assert_shape(body, body_shape)
    assert list(body["delivery_info"]) == body_shape["delivery_info_keys"]
    assert list(body["event"]) == body_shape["event_keys"]


# --- 9. GraphQL validation errors ----------------------------------------------------------------------------------


async def test_validation_errors_match_the_fixture_over_http(sandbox: Sandbox) -> None:
    for case in fixture("graphql_validation_errors.json")["cases"]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                sandbox.graphql_url, json=case["request"], headers={"x-hasura-admin-secret": ADMIN_SECRET}
            ) as answer,
        ):
            assert answer.status == 200, case["name"]
            assert await answer.json() == {"errors": case["errors"]}, case["name"]


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_validation_errors_match_the_fixture_over_websockets(sandbox: Sandbox, protocol: str) -> None:
    """The same errors on both subprotocols: graphql-transport-ws's `error` payload is the list, the legacy
    protocol's is `{"errors": [...]}`; each is followed by the sandbox's `complete`."""
    transport_ws = protocol == "graphql-transport-ws"
    async with aiohttp.ClientSession() as session, session.ws_connect(sandbox.ws_url, protocols=[protocol]) as ws:
        await ws.send_json({"type": "connection_init", "payload": {"headers": {"x-hasura-admin-secret": ADMIN_SECRET}}})
        assert (await ws.receive_json(timeout=5))["type"] == "connection_ack"
        for number, case in enumerate(fixture("graphql_validation_errors.json")["cases"]):
            operation = str(number)
            kind = "subscribe" if transport_ws else "start"
            await ws.send_json({"type": kind, "id": operation, "payload": case["request"]})
            message = await _next_message(ws)
            assert (message["type"], message["id"]) == ("error", operation), case["name"]
            payload = message["payload"] if transport_ws else message["payload"]["errors"]
            assert payload == case["errors"], case["name"]
            assert await _next_message(ws) == {"type": "complete", "id": operation}


async def _next_message(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    """The next message that is not a keep-alive."""
    while (message := await ws.receive_json(timeout=5))["type"] in ("ka", "ping", "pong"):
        pass
    result: dict[str, Any] = message
    return result
