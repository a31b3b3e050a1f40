"""The metadata API answers every event-trigger call with Hasura's shapes and error bodies (Hasura's docs
`docs/docs/api-reference/metadata-api/event-triggers.mdx`)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from inspector.sandbox.server import Sandbox
from tests.conftest import ADMIN_SECRET
from tests.helpers.sandbox_client import EVENT_LOG_KEYS, INVOCATION_KEYS


async def call(sandbox: Sandbox, kind: str, args: Any = None, secret: str | None = ADMIN_SECRET) -> tuple[int, Any]:
    headers = {} if secret is None else {"x-hasura-admin-secret": secret}
    body = {"type": kind, "args": {} if args is None else args}
    async with aiohttp.ClientSession() as session, session.post(sandbox.metadata_url, json=body, headers=headers) as r:
        return r.status, await r.json()


async def delivered_order(sandbox: Sandbox) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            sandbox.graphql_url,
            json={
                "query": 'mutation { insert_orders_one(object: {order_id: "m1", user_id: "u", restaurant_id: 1, '
                'address: "a"}) { order_id } }'
            },
            headers={"x-hasura-admin-secret": ADMIN_SECRET},
        ) as r,
    ):
        assert "errors" not in await r.json()
    for _ in range(200):
        _, logs = await call(sandbox, "pg_get_event_logs", {"name": "agent-assignment", "status": "processed"})
        if logs:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the order's chain did not finish")


async def test_export_metadata_lists_the_example_triggers(sandbox: Sandbox) -> None:
    status, metadata = await call(sandbox, "export_metadata")
    assert status == 200 and metadata["version"] == 3
    source = metadata["sources"][0]
    assert (source["name"], source["kind"]) == ("default", "postgres")
    orders = next(t for t in source["tables"] if t["table"] == {"schema": "public", "name": "orders"})
    triggers = {t["name"]: t for t in orders["event_triggers"]}
    assert list(triggers) == ["validate-order", "process-payment", "restaurant-approval", "agent-assignment"]
    validate = triggers["validate-order"]
    assert list(validate)[:3] == ["name", "definition", "retry_conf"]
    assert validate["definition"]["insert"] == {"columns": "*"}
    assert triggers["restaurant-approval"]["definition"]["update"] == {"columns": ["payment_valid"]}
    assert set(validate["retry_conf"]) == {"num_retries", "interval_sec", "timeout_sec"}
    assert validate["webhook"] == f"{sandbox.handlers_url}/validate-order"


async def test_event_and_invocation_logs_shapes(sandbox: Sandbox) -> None:
    await delivered_order(sandbox)
    status, events = await call(sandbox, "pg_get_event_logs", {"name": "validate-order"})
    assert status == 200 and len(events) == 1
    event = events[0]
    assert list(event) == EVENT_LOG_KEYS
    assert event["delivered"] is True and event["tries"] == 1 and event["locked"] is None
    _, pending = await call(sandbox, "pg_get_event_logs", {"name": "validate-order", "status": "pending"})
    assert pending == []
    _, invocations = await call(sandbox, "pg_get_event_invocation_logs", {"name": "validate-order", "limit": 10})
    assert len(invocations) == 1 and list(invocations[0]) == INVOCATION_KEYS
    assert invocations[0]["http_status"] == 200 and invocations[0]["event_id"] == event["id"]
    _, by_id = await call(sandbox, "pg_get_event_by_id", {"event_id": event["id"]})
    assert list(by_id) == ["event", "invocations"]
    assert by_id["event"] == event and by_id["invocations"] == invocations
    status, missing = await call(sandbox, "pg_get_event_by_id", {"event_id": "no-such-id"})
    # `fetchEventById`, server/src-lib/Hasura/Backends/Postgres/DDL/EventTrigger.hs: throw400 NotExists.
    assert (status, missing) == (
        400,
        {"path": "$", "error": "event id no-such-id does not exist", "code": "not-exists"},
    )


async def test_create_invoke_redeliver_delete(sandbox: Sandbox) -> None:
    args = {
        "name": "audit-items",
        "table": {"schema": "public", "name": "items"},
        "webhook": f"{sandbox.handlers_url}/nowhere",
        "insert": {"columns": "*"},
        "enable_manual": True,
        "retry_conf": {"num_retries": 0, "interval_sec": 1, "timeout_sec": 5},
    }
    assert await call(sandbox, "pg_create_event_trigger", args) == (200, {"message": "success"})
    status, again = await call(sandbox, "pg_create_event_trigger", args)
    assert status == 400 and again["code"] == "already-exists"
    assert (await call(sandbox, "pg_create_event_trigger", {**args, "replace": True}))[0] == 200
    status, invoked = await call(sandbox, "pg_invoke_event_trigger", {"name": "audit-items", "payload": {"k": 1}})
    assert status == 200 and list(invoked) == ["event_id"]
    _, by_id = await call(sandbox, "pg_get_event_by_id", {"event_id": invoked["event_id"]})
    assert by_id["event"]["payload"]["op"] == "MANUAL"
    assert by_id["event"]["payload"]["data"] == {"old": None, "new": {"k": 1}}
    assert await call(sandbox, "pg_redeliver_event", {"event_id": invoked["event_id"]}) in (
        (200, {"message": "success"}),
        (400, {"path": "$", "error": "event is already being processed", "code": "busy"}),
    )
    assert await call(sandbox, "pg_delete_event_trigger", {"name": "audit-items"}) == (200, {"message": "success"})
    assert sandbox.db is not None
    archived = sandbox.db.conn.execute(
        "SELECT archived FROM hdb_event_log WHERE id = ?", (invoked["event_id"],)
    ).fetchone()
    assert archived["archived"] == 1


@pytest.mark.parametrize(
    ("kind", "args", "code"),
    [
        ("pg_get_event_logs", {"name": "no-such-trigger"}, "not-exists"),
        ("pg_get_event_logs", {"name": "validate-order", "status": "done"}, "parse-failed"),
        ("pg_get_event_invocation_logs", {"name": "validate-order", "limit": -1}, "parse-failed"),
        ("pg_redeliver_event", {"event_id": "no-such-event"}, "not-exists"),
        ("pg_invoke_event_trigger", {"name": "validate-order"}, "parse-failed"),
        ("pg_delete_event_trigger", {"name": "no-such-trigger"}, "not-exists"),
        ("pg_create_event_trigger", {"name": "bad name!", "table": "orders", "webhook": "http://x"}, "parse-failed"),
        ("pg_create_event_trigger", {"name": "t", "table": "orders", "webhook": "http://x"}, "parse-failed"),
        (
            "pg_create_event_trigger",
            {"name": "t", "table": "nope", "webhook": "http://x", "insert": {"columns": "*"}},
            "not-exists",
        ),
        ("pg_get_event_logs", {"name": "validate-order", "source": "other"}, "not-exists"),
        ("no_such_command", {}, "bad-request"),
    ],
)
async def test_errors_have_hasura_shape(sandbox: Sandbox, kind: str, args: dict[str, Any], code: str) -> None:
    status, body = await call(sandbox, kind, args)
    assert status == 400
    assert set(body) == {"path", "error", "code"} and body["code"] == code


async def test_manual_invoke_refused_unless_enabled(sandbox: Sandbox) -> None:
    args = {
        "name": "no-manual",
        "table": {"schema": "public", "name": "items"},
        "webhook": "http://127.0.0.1:9/x",
        "insert": {"columns": "*"},
    }
    assert (await call(sandbox, "pg_create_event_trigger", args))[0] == 200
    status, body = await call(sandbox, "pg_invoke_event_trigger", {"name": "no-manual", "payload": {}})
    assert status == 400 and body["error"] == "manual mode is not enabled for event trigger"


async def test_bulk_runs_each_call(sandbox: Sandbox) -> None:
    status, answers = await call(
        sandbox,
        "bulk",
        [{"type": "export_metadata", "args": {}}, {"type": "pg_get_event_logs", "args": {"name": "validate-order"}}],
    )
    assert status == 200 and answers[0]["version"] == 3 and answers[1] == []


@pytest.mark.parametrize("secret", ["wrong", None])
async def test_wrong_or_missing_secret_is_access_denied(sandbox: Sandbox, secret: str | None) -> None:
    status, body = await call(sandbox, "export_metadata", secret=secret)
    assert status == 401 and body["code"] == "access-denied" and body["path"] == "$"


async def test_malformed_bodies(sandbox: Sandbox) -> None:
    async with aiohttp.ClientSession() as session:
        for data in (b"{", b"[1, 2]", b'{"args": {}}', b'{"type": "pg_get_event_logs", "args": 5}'):
            async with session.post(
                sandbox.metadata_url, data=data, headers={"x-hasura-admin-secret": ADMIN_SECRET}
            ) as r:
                body = await r.json()
                assert r.status == 400 and set(body) == {"path", "error", "code"}, (data, body)


async def run_sql(sandbox: Sandbox, sql: str, secret: str | None = ADMIN_SECRET) -> tuple[int, Any]:
    headers = {} if secret is None else {"x-hasura-admin-secret": secret}
    body = {"type": "run_sql", "args": {"source": "default", "sql": sql, "cascade": False, "read_only": True}}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{sandbox.base_url}/v2/query", json=body, headers=headers) as r,
    ):
        return r.status, await r.json()


async def test_run_sql_reads_the_event_tables_as_postgres_text(sandbox: Sandbox) -> None:
    await delivered_order(sandbox)
    status, result = await run_sql(
        sandbox,
        "SELECT id, delivered, error, tries, next_retry_at, payload FROM hdb_catalog.event_log "
        "WHERE trigger_name = 'validate-order' ORDER BY created_at DESC LIMIT 10",
    )
    assert status == 200 and result["result_type"] == "TuplesOk"
    header, row = result["result"]
    assert header == ["id", "delivered", "error", "tries", "next_retry_at", "payload"]
    assert row[1:5] == ["t", "f", "1", "NULL"]
    assert json.loads(row[5])["op"] == "INSERT"
    status, result = await run_sql(sandbox, "SELECT count(*) AS n FROM hdb_catalog.event_invocation_logs")
    assert result["result"] == [["n"], ["4"]]
    for sql in ("DELETE FROM hdb_catalog.event_log", "SELECT 1; DROP TABLE orders", "SELECT nope FROM nowhere"):
        status, body = await run_sql(sandbox, sql)
        assert status == 400 and set(body) == {"path", "error", "code"}, sql
    assert (await run_sql(sandbox, "SELECT 1", secret="wrong"))[0] == 401


async def test_an_old_hasura_has_no_event_log_api(sandbox_factory: Any) -> None:
    old = await sandbox_factory(hasura_version="v2.24.1")
    status, body = await call(old, "pg_get_event_logs", {"name": "validate-order"})
    assert status == 400 and body["code"] == "bad-request"
    async with aiohttp.ClientSession() as session, session.get(f"{old.base_url}/v1/version") as r:
        assert (await r.json())["version"] == "v2.24.1"
    assert (await call(old, "export_metadata"))[0] == 200
