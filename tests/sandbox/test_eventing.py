"""Event triggers of the sandbox end to end: the SQL triggers that write the event log, the delivery worker, the
example's handlers and the metadata API that reads it all back (`inspector/sandbox/eventing.py`, `delivery.py`,
`handlers.py`, `metadata_api.py`), checked against Hasura's shapes in `server/src-lib/Hasura/Eventing/EventTrigger.hs`,
`server/src-lib/Hasura/Backends/Postgres/DDL/EventTrigger.hs`, `server/src-lib/Hasura/RQL/Types/Eventing.hs` and
Hasura's docs `docs/docs/api-reference/metadata-api/event-triggers.mdx`.

Real sockets and real SQLite throughout. Where a webhook must misbehave on script, the test runs its own HTTP server
(`client.ScriptedWebhook`) and points a trigger at it; the example's triggers are deleted first when they would add
noise. One test stops a sandbox gracefully mid-delivery; another runs it as a separate process and SIGKILLs it
mid-delivery, then restarts it on the same file.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import socket
import sqlite3
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from inspector.core.hasura import USER_AGENT
from inspector.sandbox.config import Faults
from inspector.sandbox.server import Sandbox
from tests.conftest import ADMIN_SECRET, SandboxFactory
from tests.helpers.sandbox_client import (
    EVENT_LOG_KEYS as EVENT_KEYS,
)
from tests.helpers.sandbox_client import (
    EXAMPLE_TRIGGER_NAMES,
    INSERT_ORDER,
    INSERT_ORDER_AND_ITEM,
    INVOCATION_KEYS,
    Remote,
    ScriptedWebhook,
    add_trigger,
    all_events,
    all_invocations,
    always_ok,
    delete_example_triggers,
    driver_assigned,
    event_by_id,
    graphql_data,
    json_reply,
    metadata,
    metadata_ok,
    order_state,
    wait_until,
)

BODY_KEYS = ["id", "table", "trigger", "event", "delivery_info", "created_at"]
API_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,5}[1-9])?Z$")
"""A metadata API time: aeson's `UTCTime`, trailing zeros of the fraction dropped, `Z`."""
"""`TIMESTAMP` rendered as aeson renders `LocalTime`: no zone suffix
(`server/src-lib/Hasura/RQL/Types/EventTrigger.hs`)."""


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


LOGGED_HEADERS = [{"name": "Content-Type", "value": "application/json"}, {"name": "User-Agent", "value": USER_AGENT}]


@pytest.fixture
async def webhooks() -> AsyncIterator[list[ScriptedWebhook]]:
    """Scripted webhooks a test starts; all are stopped afterwards (hanging replies are released first)."""
    started: list[ScriptedWebhook] = []
    yield started
    for hook in started:
        await hook.stop()


async def start_webhook(webhooks: list[ScriptedWebhook], reply: Any) -> ScriptedWebhook:
    hook = await ScriptedWebhook(reply).start()
    webhooks.append(hook)
    return hook


async def place(sandbox: Any, order_id: str, headers: dict[str, str] | None = None) -> None:
    await graphql_data(sandbox, INSERT_ORDER, {"id": order_id, "user": "u1"}, headers)


async def chain_done(sandbox: Any, order_id: str) -> bool:
    """The order reached driver_assigned and every event of the example's triggers is delivered."""
    if not await driver_assigned(sandbox, order_id):
        return False
    for name in EXAMPLE_TRIGGER_NAMES:
        events = [e for e in await all_events(sandbox, name) if _order_of(e) == order_id]
        if not events or not all(e["delivered"] for e in events):
            return False
    return True


def _order_of(event: dict[str, Any]) -> str | None:
    data = event["payload"]["data"]
    row = data["new"] or data["old"] or {}
    return row.get("order_id")


async def event_count(sandbox: Any) -> int:
    return sum([len(await all_events(sandbox, name)) for name in EXAMPLE_TRIGGER_NAMES])


async def single_event(sandbox: Any, trigger: str) -> dict[str, Any]:
    events = await all_events(sandbox, trigger)
    assert len(events) == 1, events
    return events[0]


async def settled(sandbox: Any, trigger: str, field: str = "delivered") -> dict[str, Any] | None:
    """The trigger's only event once it is delivered (or errored)."""
    events = await all_events(sandbox, trigger)
    return events[0] if len(events) == 1 and events[0][field] else None


async def invocations_oldest_first(sandbox: Any, event_id: str) -> list[dict[str, Any]]:
    return list(reversed((await event_by_id(sandbox, event_id))["invocations"]))


async def insert_item(sandbox: Any, item: str = "pizza") -> tuple[str, int]:
    order_id = str(uuid.uuid4())
    data = await graphql_data(sandbox, INSERT_ORDER_AND_ITEM, {"id": order_id, "item": item})
    return order_id, data["insert_items_one"]["id"]


def client_error(message: Any) -> dict[str, Any]:
    return {"type": "client_error", "data": {"message": message}, "version": "2"}


# --- the example's chain ------------------------------------------------------------------------------------------


async def test_one_order_runs_the_four_triggers_with_hasuras_shapes(sandbox: Sandbox) -> None:
    order_id = str(uuid.uuid4())
    await place(sandbox, order_id, {"x-hasura-role": "user", "x-hasura-user-id": "u1"})
    await wait_until(lambda: chain_done(sandbox, order_id), timeout=10, message="chain to driver_assigned")

    state = await order_state(sandbox, order_id)
    assert state["orders_by_pk"] == {
        "order_id": order_id,
        "order_valid": True,
        "payment_valid": True,
        "approved": True,
        "driver_assigned": True,
    }
    assert len(state["payments"]) == 1
    assert len(state["assignment"]) == 1
    assert state["assignment"][0]["driver_id"] in range(95, 100)

    events: dict[str, dict[str, Any]] = {}
    for name in EXAMPLE_TRIGGER_NAMES:
        event = await single_event(sandbox, name)
        events[name] = event
        assert list(event) == EVENT_KEYS
        assert event["schema_name"] == "public"
        assert event["table_name"] == "orders"
        assert event["trigger_name"] == name
        assert (event["delivered"], event["error"], event["tries"], event["archived"]) == (True, False, 1, False)
        assert event["locked"] is None
        assert event["next_retry_at"] is None
        assert API_TIMESTAMP.match(event["created_at"]), event["created_at"]
        assert list(event["payload"]) == ["op", "data", "session_variables", "trace_context"]

        invocations = await all_invocations(sandbox, name)
        assert len(invocations) == 1, invocations
        invocation = invocations[0]
        assert list(invocation) == INVOCATION_KEYS
        assert invocation["trigger_name"] == name
        assert invocation["event_id"] == event["id"]
        assert invocation["http_status"] == 200
        assert API_TIMESTAMP.match(invocation["created_at"])
        assert _time(invocation["created_at"]) >= _time(event["created_at"])

        request = invocation["request"]
        assert list(request) == ["payload", "headers", "version"]
        assert request["version"] == "2"
        assert request["headers"] == LOGGED_HEADERS
        body = request["payload"]
        assert list(body) == BODY_KEYS
        assert body == {
            "id": event["id"],
            "table": {"schema": "public", "name": "orders"},
            "trigger": {"name": name},
            "event": event["payload"],
            "delivery_info": {"max_retries": 3, "current_retry": 0},
            # The body's `created_at` is a zone-less LocalTime; the database zone is UTC here.
            "created_at": event["created_at"].removesuffix("Z"),
        }

        response = invocation["response"]
        assert list(response) == ["type", "data", "version"]
        assert (response["type"], response["version"]) == ("webhook_response", "2")
        assert list(response["data"]) == ["body", "headers", "status"]
        assert response["data"]["status"] == 200
        assert isinstance(response["data"]["body"], str)
        assert json.loads(response["data"]["body"])["order_id"] == order_id
        headers = response["data"]["headers"]
        assert all(list(h) == ["name", "value"] for h in headers)
        assert {h["name"].lower(): h["value"] for h in headers}["content-type"].startswith("application/json")

        assert await event_by_id(sandbox, event["id"]) == {"event": event, "invocations": [invocation]}

    # Creation order follows the chain.
    created = [_time(events[name]["created_at"]) for name in EXAMPLE_TRIGGER_NAMES]
    assert created == sorted(created)

    # INSERT: old null, new the whole row with JSON types; UPDATEs: old and new, differing in the listened column.
    insert = events["validate-order"]["payload"]
    assert insert["op"] == "INSERT"
    assert insert["data"]["old"] is None
    new = insert["data"]["new"]
    assert list(new) == [
        "order_id",
        "user_id",
        "restaurant_id",
        "address",
        "placed",
        "approved",
        "driver_assigned",
        "food_picked",
        "delivered",
        "order_valid",
        "payment_valid",
        "created",
    ]
    assert {k: new[k] for k in ("order_id", "user_id", "restaurant_id", "placed", "order_valid", "payment_valid")} == {
        "order_id": order_id,
        "user_id": "u1",
        "restaurant_id": 1,
        "placed": False,
        "order_valid": False,
        "payment_valid": None,
    }
    for name, column, before in (
        ("process-payment", "order_valid", False),
        ("restaurant-approval", "payment_valid", None),
        ("agent-assignment", "approved", False),
    ):
        data = events[name]["payload"]["data"]
        assert events[name]["payload"]["op"] == "UPDATE"
        assert data["old"]["order_id"] == data["new"]["order_id"] == order_id
        assert (data["old"][column], data["new"][column]) == (before, True), name

    # Session variables: the placing request's for the insert, the handlers' (admin) for their writes.
    assert insert["session_variables"] == {"x-hasura-role": "user", "x-hasura-user-id": "u1"}
    for name in EXAMPLE_TRIGGER_NAMES[1:]:
        assert events[name]["payload"]["session_variables"] == {"x-hasura-role": "admin"}

    # One trace: the worker sends B3 headers, the handlers forward them, their writes continue the trace.
    traces = [events[name]["payload"]["trace_context"] for name in EXAMPLE_TRIGGER_NAMES]
    assert all(set(t) == {"trace_id", "span_id", "sampling_state"} for t in traces)
    assert len({t["trace_id"] for t in traces}) == 1
    assert re.fullmatch(r"[0-9a-f]{32}", traces[0]["trace_id"])
    assert len({t["span_id"] for t in traces}) == 4


async def test_update_without_change_in_listened_columns_raises_no_event(sandbox: Sandbox) -> None:
    order_id = str(uuid.uuid4())
    await place(sandbox, order_id)
    await wait_until(lambda: chain_done(sandbox, order_id), timeout=10)
    assert await event_count(sandbox) == 4

    update = """mutation ($id: String!, $set: orders_set_input!) {
      update_orders_by_pk(pk_columns: {order_id: $id}, _set: $set) { order_id } }"""
    # Events commit with the mutation, so the count is final as soon as the mutation answers.
    await graphql_data(sandbox, update, {"id": order_id, "set": {"address": "2 Side St", "food_picked": True}})
    await graphql_data(sandbox, update, {"id": order_id, "set": {"order_valid": True, "approved": True}})
    assert await event_count(sandbox) == 4

    # Control: a listened column that does change raises exactly one event, of the trigger listening to it.
    await graphql_data(sandbox, update, {"id": order_id, "set": {"approved": False}})
    assert await event_count(sandbox) == 5
    assert len(await all_events(sandbox, "agent-assignment")) == 2


async def test_delete_trigger_gives_old_row_and_null_new(sandbox: Sandbox, webhooks: list[ScriptedWebhook]) -> None:
    hook = await start_webhook(webhooks, always_ok)
    await add_trigger(sandbox, "item-deleted", hook.url, delete={"columns": "*"})
    order_id, item_id = await insert_item(sandbox, "idli")
    assert hook.calls == []  # an insert is not a delete
    await graphql_data(sandbox, "mutation ($id: Int!) { delete_items_by_pk(id: $id) { id } }", {"id": item_id})

    event = await wait_until(lambda: settled(sandbox, "item-deleted"), timeout=5)
    assert len(hook.calls) == 1
    body = hook.calls[0].body
    assert list(body) == BODY_KEYS
    assert body["id"] == event["id"]
    assert body["table"] == {"schema": "public", "name": "items"}
    assert body["event"]["op"] == "DELETE"
    assert body["event"]["data"] == {"old": {"id": item_id, "order_id": order_id, "item": "idli"}, "new": None}
    assert body["event"]["session_variables"] == {"x-hasura-role": "admin"}
    assert hook.calls[0].headers["Content-Type"] == "application/json"
    assert hook.calls[0].headers["User-Agent"] == USER_AGENT


async def test_manual_event_is_delivered_with_op_manual(sandbox: Sandbox, webhooks: list[ScriptedWebhook]) -> None:
    order_id = str(uuid.uuid4())
    await place(sandbox, order_id)
    await wait_until(lambda: chain_done(sandbox, order_id), timeout=10)

    answer = await metadata_ok(
        sandbox, "pg_invoke_event_trigger", {"name": "validate-order", "payload": {"order_id": order_id}}
    )
    assert list(answer) == ["event_id"]
    event_id = answer["event_id"]

    async def delivered() -> dict[str, Any] | None:
        found = await event_by_id(sandbox, event_id)
        return found if found["event"]["delivered"] else None

    found = await wait_until(delivered, timeout=5)
    event = found["event"]
    assert event["trigger_name"] == "validate-order"
    assert event["payload"] == {
        "op": "MANUAL",
        "data": {"old": None, "new": {"order_id": order_id}},
        "session_variables": {"x-hasura-role": "admin"},
        "trace_context": None,
    }
    assert API_TIMESTAMP.match(event["created_at"])
    assert [i["http_status"] for i in found["invocations"]] == [200]
    assert found["invocations"][0]["request"]["payload"]["event"]["op"] == "MANUAL"
    assert len(await all_events(sandbox, "validate-order")) == 2
    assert await event_count(sandbox) == 5  # the handler's write changed nothing: no new UPDATE event

    # A trigger without enable_manual refuses (Hasura's docs `docs/docs/api-reference/metadata-api/event-triggers.mdx`).
    hook = await start_webhook(webhooks, always_ok)
    await add_trigger(sandbox, "no-manual", hook.url)
    status, body = await metadata(sandbox, "pg_invoke_event_trigger", {"name": "no-manual", "payload": {}})
    assert status == 400
    assert body["error"] == "manual mode is not enabled for event trigger"


# --- retries ------------------------------------------------------------------------------------------------------


async def test_retries_until_the_webhook_answers_200(sandbox: Sandbox, webhooks: list[ScriptedWebhook]) -> None:
    await delete_example_triggers(sandbox)

    async def reply(n: int, _body: dict[str, Any]) -> web.StreamResponse:
        return web.Response(text=f"boom {n}", status=500) if n < 2 else json_reply()

    hook = await start_webhook(webhooks, reply)
    await add_trigger(sandbox, "flaky", hook.url, num_retries=2, interval_sec=1)
    await insert_item(sandbox)

    event = await wait_until(lambda: settled(sandbox, "flaky"), timeout=8, message="delivered after two retries")
    assert (event["tries"], event["error"], event["next_retry_at"]) == (3, False, None)
    invocations = await invocations_oldest_first(sandbox, event["id"])
    assert [i["http_status"] for i in invocations] == [500, 500, 200]
    assert [i["request"]["payload"]["delivery_info"] for i in invocations] == [
        {"max_retries": 2, "current_retry": n} for n in range(3)
    ]
    assert invocations[0]["response"] == client_error("boom 0")
    assert invocations[1]["response"] == client_error("boom 1")
    assert invocations[2]["response"]["type"] == "webhook_response"
    assert [c.body["delivery_info"]["current_retry"] for c in hook.calls] == [0, 1, 2]
    assert {c.body["id"] for c in hook.calls} == {event["id"]}
    gaps = [b.at - a.at for a, b in zip(hook.calls, hook.calls[1:], strict=False)]
    assert all(g >= 0.9 for g in gaps), gaps  # interval_sec 1


async def test_exhausted_retries_end_in_error(sandbox: Sandbox, webhooks: list[ScriptedWebhook]) -> None:
    await delete_example_triggers(sandbox)

    async def reply(_n: int, _body: dict[str, Any]) -> web.StreamResponse:
        return web.Response(text="always down", status=500)

    hook = await start_webhook(webhooks, reply)
    await add_trigger(sandbox, "dead", hook.url, num_retries=1, interval_sec=1)
    await insert_item(sandbox)

    event = await wait_until(lambda: settled(sandbox, "dead", "error"), timeout=6)
    await asyncio.sleep(1.5)  # longer than interval_sec: no third attempt comes
    assert len(hook.calls) == 2
    event = (await event_by_id(sandbox, event["id"]))["event"]
    assert (event["delivered"], event["error"], event["tries"]) == (False, True, 2)
    assert (event["locked"], event["next_retry_at"]) == (None, None)
    invocations = await invocations_oldest_first(sandbox, event["id"])
    assert [i["http_status"] for i in invocations] == [500, 500]
    assert all(i["response"] == client_error("always down") for i in invocations)
    assert [
        e["id"] for e in await metadata_ok(sandbox, "pg_get_event_logs", {"name": "dead", "status": "processed"})
    ] == [event["id"]]
    assert await metadata_ok(sandbox, "pg_get_event_logs", {"name": "dead", "status": "pending"}) == []


async def test_retry_after_forces_one_more_attempt(sandbox: Sandbox, webhooks: list[ScriptedWebhook]) -> None:
    await delete_example_triggers(sandbox)

    async def reply(n: int, _body: dict[str, Any]) -> web.StreamResponse:
        if n == 0:
            return web.Response(text="busy", status=503, headers={"Retry-After": "1"})
        return web.Response(text="still down", status=500)

    hook = await start_webhook(webhooks, reply)
    await add_trigger(sandbox, "busy", hook.url, num_retries=0, interval_sec=30)
    await insert_item(sandbox)

    event = await wait_until(lambda: settled(sandbox, "busy", "error"), timeout=6)
    assert len(hook.calls) == 2
    assert hook.calls[1].at - hook.calls[0].at >= 0.9  # after Retry-After's second
    invocations = await invocations_oldest_first(sandbox, event["id"])
    assert [i["http_status"] for i in invocations] == [503, 500]
    assert [i["response"] for i in invocations] == [client_error("busy"), client_error("still down")]
    assert [i["request"]["payload"]["delivery_info"] for i in invocations] == [
        {"max_retries": 0, "current_retry": 0},
        {"max_retries": 0, "current_retry": 1},
    ]
    assert event["tries"] == 2


async def test_retry_after_as_http_date_is_ignored(sandbox: Sandbox, webhooks: list[ScriptedWebhook]) -> None:
    await delete_example_triggers(sandbox)

    async def reply(_n: int, _body: dict[str, Any]) -> web.StreamResponse:
        return web.Response(text="busy", status=503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})

    hook = await start_webhook(webhooks, reply)
    await add_trigger(sandbox, "dated", hook.url, num_retries=0, interval_sec=1)
    await insert_item(sandbox)

    event = await wait_until(lambda: settled(sandbox, "dated", "error"), timeout=5)
    await asyncio.sleep(1.3)
    assert len(hook.calls) == 1
    assert event["tries"] == 1
    assert [i["http_status"] for i in await invocations_oldest_first(sandbox, event["id"])] == [503]


async def test_timeout_is_recorded_as_hasura_v2_25_does(sandbox: Sandbox, webhooks: list[ScriptedWebhook]) -> None:
    """`processEvent` in `server/src-lib/Hasura/Eventing/EventTrigger.hs`: the processing timeout wins the race and is
    recorded as `HOther`: status 500, no request payload, the message as a JSON string."""
    await delete_example_triggers(sandbox)
    hook: ScriptedWebhook

    async def hang(_n: int, _body: dict[str, Any]) -> web.StreamResponse:
        await hook.release.wait()
        return json_reply()

    hook = await start_webhook(webhooks, hang)
    await add_trigger(sandbox, "slow", hook.url, num_retries=0, interval_sec=1, timeout_sec=1)
    await insert_item(sandbox)

    event = await wait_until(lambda: settled(sandbox, "slow", "error"), timeout=6)
    assert time.monotonic() - hook.calls[0].at >= 0.9
    [invocation] = await invocations_oldest_first(sandbox, event["id"])
    assert invocation["http_status"] == 500
    assert invocation["request"]["payload"] is None
    assert invocation["request"]["headers"] == LOGGED_HEADERS
    assert invocation["request"]["version"] == "2"
    response = invocation["response"]
    assert list(response) == ["type", "data", "version"]
    assert (response["type"], response["version"]) == ("client_error", "2")
    assert response["data"] == {"message": '"Event Trigger \\"slow\\" timed out while processing."'}
    assert json.loads(response["data"]["message"]) == 'Event Trigger "slow" timed out while processing.'


async def test_non_utf8_body_is_logged_as_base64(sandbox: Sandbox, webhooks: list[ScriptedWebhook]) -> None:
    await delete_example_triggers(sandbox)
    raw = b"\xff\xfe not text \x80"

    async def reply(_n: int, _body: dict[str, Any]) -> web.StreamResponse:
        return web.Response(body=raw, status=200, content_type="application/octet-stream")

    hook = await start_webhook(webhooks, reply)
    await add_trigger(sandbox, "binary", hook.url)
    await insert_item(sandbox)

    event = await wait_until(lambda: settled(sandbox, "binary"), timeout=5)
    [invocation] = await invocations_oldest_first(sandbox, event["id"])
    assert invocation["response"]["data"]["body"] == ["Base64", base64.b64encode(raw).decode("ascii")]


# --- redelivery and crashes ---------------------------------------------------------------------------------------


async def test_redeliver_resets_tries_then_delivers_again(sandbox: Sandbox, webhooks: list[ScriptedWebhook]) -> None:
    await delete_example_triggers(sandbox)
    gate = asyncio.Event()

    async def reply(n: int, _body: dict[str, Any]) -> web.StreamResponse:
        if n == 1:
            await gate.wait()  # hold the redelivery so its in-flight state can be read
        return json_reply()

    hook = await start_webhook(webhooks, reply)
    await add_trigger(sandbox, "again", hook.url, num_retries=2)
    await insert_item(sandbox)
    event = await wait_until(lambda: settled(sandbox, "again"), timeout=5)
    assert event["tries"] == 1

    assert await metadata_ok(sandbox, "pg_redeliver_event", {"event_id": event["id"]}) == {"message": "success"}
    await wait_until(lambda: len(hook.calls) == 2, timeout=5)
    in_flight = await event_by_id(sandbox, event["id"])
    assert (in_flight["event"]["delivered"], in_flight["event"]["error"], in_flight["event"]["tries"]) == (
        False,
        False,
        0,
    )
    assert in_flight["event"]["locked"] is not None
    assert len(in_flight["invocations"]) == 1
    assert hook.calls[1].body["delivery_info"] == {"max_retries": 2, "current_retry": 0}
    assert hook.calls[1].body["id"] == event["id"]

    # A locked event cannot be redelivered (`server/src-lib/Hasura/Backends/Postgres/DDL/EventTrigger.hs`); an unknown
    # one is not found.
    status, body = await metadata(sandbox, "pg_redeliver_event", {"event_id": event["id"]})
    assert (status, body["error"]) == (400, "event is already being processed")
    status, body = await metadata(sandbox, "pg_redeliver_event", {"event_id": str(uuid.uuid4())})
    assert (status, body["error"]) == (400, "event not found")

    gate.set()

    async def redelivered() -> dict[str, Any] | None:
        found = await event_by_id(sandbox, event["id"])
        return found if found["event"]["delivered"] else None

    found = await wait_until(redelivered, timeout=5)
    assert found["event"]["tries"] == 1
    assert [i["http_status"] for i in found["invocations"]] == [200, 200]
    assert found["invocations"][0]["request"]["payload"]["delivery_info"]["current_retry"] == 0
    assert len(hook.calls) == 2


def _read_only(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    conn.row_factory = sqlite3.Row
    return conn


def _validate_order_row(path: str) -> sqlite3.Row | None:
    conn = _read_only(path)
    try:
        row: sqlite3.Row | None = conn.execute(
            "SELECT id, locked, delivered, error, tries, "
            "(SELECT count(*) FROM hdb_event_invocation_logs i WHERE i.event_id = e.id) AS invocations "
            "FROM hdb_event_log e WHERE trigger_name = 'validate-order'"
        ).fetchone()
        return row
    except sqlite3.OperationalError:  # not created yet
        return None
    finally:
        conn.close()


async def test_graceful_stop_unlocks_events_in_flight(sandbox_factory: SandboxFactory) -> None:
    sandbox = await sandbox_factory(faults=Faults(latency_ms=1000))
    await place(sandbox, str(uuid.uuid4()))
    await wait_until(lambda: (r := _validate_order_row(sandbox.db_path)) is not None and r["locked"], timeout=5)
    await sandbox.stop()
    row = _validate_order_row(sandbox.db_path)
    assert row is not None
    assert (row["locked"], row["delivered"], row["error"], row["tries"], row["invocations"]) == (None, 0, 0, 0, 0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def _sandbox_process(db: Path, *extra: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, Remote]]:
    """`python -m inspector sandbox --port 0 ...` as a child process; yields it and its address once the banner shows.
    Always killed on the way out."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "inspector",
        "sandbox",
        "--port",
        "0",
        "--db",
        str(db),
        "--admin-secret",
        ADMIN_SECRET,
        "--fetch-interval-ms",
        "50",
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=Path(__file__).parents[2],
    )
    drain: asyncio.Task[bytes] | None = None
    try:
        assert proc.stdout is not None
        seen: list[str] = []

        async def banner() -> str:
            assert proc.stdout is not None
            while True:
                line = (await proc.stdout.readline()).decode()
                if not line:
                    raise AssertionError("sandbox exited before its banner:\n" + "".join(seen))
                seen.append(line)
                match = re.search(r"GraphQL\s+(http://127\.0\.0\.1:\d+)/v1/graphql", line)
                if match:
                    return match.group(1)

        base = await asyncio.wait_for(banner(), timeout=15)
        drain = asyncio.create_task(proc.stdout.read())  # keep reading so a chatty child never blocks on the pipe
        yield proc, Remote(base, ADMIN_SECRET)
    finally:
        if proc.returncode is None:
            proc.kill()
        await asyncio.wait_for(proc.wait(), timeout=10)
        if drain is not None:
            await asyncio.wait_for(drain, timeout=10)


@pytest.mark.slow
async def test_crash_mid_delivery_then_restart_delivers_the_event(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    handlers_port = str(_free_port())
    order_id = str(uuid.uuid4())
    async with _sandbox_process(db, "--latency-ms", "3000", "--handlers-port", handlers_port) as (proc, remote):
        await place(remote, order_id)
        row = await wait_until(
            lambda: (r := _validate_order_row(str(db))) is not None and r["locked"] and r,
            timeout=5,
            message="validate-order locked",
        )
        proc.kill()  # SIGKILL: no graceful unlock, the webhook never answers
        await asyncio.wait_for(proc.wait(), timeout=10)

    row = _validate_order_row(str(db))
    assert row is not None
    assert row["locked"] is not None  # the dead process's lock is still there
    assert (row["delivered"], row["tries"], row["invocations"]) == (0, 0, 0)

    async with _sandbox_process(db, "--handlers-port", handlers_port) as (_proc, remote):
        await wait_until(lambda: chain_done(remote, order_id), timeout=10, message="chain after restart")
        event = await event_by_id(remote, row["id"])
        assert (event["event"]["delivered"], event["event"]["tries"], event["event"]["locked"]) == (True, 1, None)
        assert [i["http_status"] for i in event["invocations"]] == [200]
        state = await order_state(remote, order_id)
        assert (len(state["payments"]), len(state["assignment"])) == (1, 1)
