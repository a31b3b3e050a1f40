"""Helpers for tests that talk to a running sandbox over real sockets: GraphQL and metadata calls with the admin
secret, polling, and a scripted webhook (a real aiohttp server on a free port) for triggers that must misbehave.

No mocks: everything here goes through HTTP to the sandbox or to a server the test starts itself.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
from aiohttp import web

HTTP_TIMEOUT = aiohttp.ClientTimeout(total=10)


class Sandbox(Protocol):
    """What the helpers need of a sandbox: an in-process `inspector.sandbox.server.Sandbox`, or `Remote` for one
    running in another process."""

    @property
    def graphql_url(self) -> str: ...

    @property
    def metadata_url(self) -> str: ...

    @property
    def admin_secret(self) -> str | None: ...


@dataclass(frozen=True)
class Remote:
    """A sandbox in another process, known by its base URL (`http://127.0.0.1:PORT`)."""

    base_url: str
    admin_secret: str | None

    @property
    def graphql_url(self) -> str:
        return f"{self.base_url}/v1/graphql"

    @property
    def metadata_url(self) -> str:
        return f"{self.base_url}/v1/metadata"


def _admin_headers(sandbox: Sandbox, headers: dict[str, str] | None) -> dict[str, str]:
    out = {"Content-Type": "application/json"}
    if sandbox.admin_secret:
        out["x-hasura-admin-secret"] = sandbox.admin_secret
    out.update(headers or {})
    return out


# The record shapes of pg_get_event_logs and pg_get_event_invocation_logs, keys in Hasura's order (Hasura's docs
# `docs/docs/api-reference/metadata-api/event-triggers.mdx`).
EVENT_LOG_KEYS = [
    "id",
    "schema_name",
    "table_name",
    "trigger_name",
    "payload",
    "delivered",
    "error",
    "tries",
    "created_at",
    "locked",
    "next_retry_at",
    "archived",
]
INVOCATION_KEYS = ["id", "trigger_name", "event_id", "http_status", "request", "response", "created_at"]


async def graphql(
    sandbox: Sandbox, query: str, variables: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """POST one GraphQL request to `/v1/graphql` with the admin secret (plus `headers`); returns the decoded body."""
    async with (
        aiohttp.ClientSession(timeout=HTTP_TIMEOUT) as session,
        session.post(
            sandbox.graphql_url,
            json={"query": query, "variables": variables or {}},
            headers=_admin_headers(sandbox, headers),
        ) as answer,
    ):
        result: dict[str, Any] = await answer.json(content_type=None)
        return result


async def graphql_data(
    sandbox: Sandbox, query: str, variables: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """Like `graphql`, but fails the test on `errors` and returns `data`."""
    result = await graphql(sandbox, query, variables, headers)
    assert "errors" not in result, result
    data: dict[str, Any] = result["data"]
    return data


async def metadata(sandbox: Sandbox, type: str, args: dict[str, Any] | None = None) -> tuple[int, Any]:
    """POST one metadata call to `/v1/metadata` with the admin secret; returns (HTTP status, decoded body)."""
    async with (
        aiohttp.ClientSession(timeout=HTTP_TIMEOUT) as session,
        session.post(
            sandbox.metadata_url, json={"type": type, "args": args or {}}, headers=_admin_headers(sandbox, None)
        ) as answer,
    ):
        return answer.status, await answer.json(content_type=None)


async def metadata_ok(sandbox: Sandbox, type: str, args: dict[str, Any] | None = None) -> Any:
    """A metadata call that must answer 200; returns its body."""
    status, body = await metadata(sandbox, type, args)
    assert status == 200, (type, status, body)
    return body


async def wait_until(
    predicate: Callable[[], Any] | Callable[[], Awaitable[Any]],
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str = "",
) -> Any:
    """Poll `predicate` (sync or async) until it returns something truthy, which is returned; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = predicate()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"condition not met within {timeout} s{': ' + message if message else ''} (last value {last!r})"
            )
        await asyncio.sleep(interval)


# --- the example's data ------------------------------------------------------------------------------------------

INSERT_ORDER = """
mutation ($id: String!, $user: String!) {
  insert_orders_one(object: {order_id: $id, user_id: $user, restaurant_id: 1, address: "1 Main St"}) { order_id }
}
"""
INSERT_ORDER_AND_ITEM = """
mutation ($id: String!, $item: String!) {
  insert_orders_one(object: {order_id: $id, user_id: "u1", restaurant_id: 1, address: "1 Main St"}) { order_id }
  insert_items_one(object: {order_id: $id, item: $item}) { id }
}
"""
ORDER_STATE = """
query ($id: String!) {
  orders_by_pk(order_id: $id) { order_id order_valid payment_valid approved driver_assigned }
  payments(where: {order_id: {_eq: $id}}) { id }
  assignment(where: {order_id: {_eq: $id}}) { driver_id }
}
"""
ORDER_SUMMARY = """
query {
  orders { order_id driver_assigned }
  payments { order_id }
  assignment { order_id }
}
"""
EXAMPLE_TRIGGER_NAMES = ("validate-order", "process-payment", "restaurant-approval", "agent-assignment")


async def order_state(sandbox: Sandbox, order_id: str) -> dict[str, Any]:
    return await graphql_data(sandbox, ORDER_STATE, {"id": order_id})


async def driver_assigned(sandbox: Sandbox, order_id: str) -> bool:
    state = await order_state(sandbox, order_id)
    return bool(state["orders_by_pk"] and state["orders_by_pk"]["driver_assigned"])


async def all_events(sandbox: Sandbox, trigger: str) -> list[dict[str, Any]]:
    """Every event of a trigger (`pg_get_event_logs`, newest first)."""
    body: list[dict[str, Any]] = await metadata_ok(sandbox, "pg_get_event_logs", {"name": trigger, "limit": 1000})
    return body


async def all_invocations(sandbox: Sandbox, trigger: str) -> list[dict[str, Any]]:
    """Every invocation of a trigger (`pg_get_event_invocation_logs`, newest first)."""
    body: list[dict[str, Any]] = await metadata_ok(
        sandbox, "pg_get_event_invocation_logs", {"name": trigger, "limit": 1000}
    )
    return body


async def event_by_id(sandbox: Sandbox, event_id: str) -> dict[str, Any]:
    body: dict[str, Any] = await metadata_ok(sandbox, "pg_get_event_by_id", {"event_id": event_id})
    return body


async def delete_example_triggers(sandbox: Sandbox) -> None:
    """Remove the example's four triggers so a test's own trigger is the only one delivering."""
    for name in EXAMPLE_TRIGGER_NAMES:
        await metadata_ok(sandbox, "pg_delete_event_trigger", {"name": name})


# --- a webhook that misbehaves on script -------------------------------------------------------------------------

Reply = Callable[[int, dict[str, Any]], Awaitable[web.StreamResponse]]
"""(0-based call number, decoded body) → the answer to give."""


@dataclass
class Call:
    body: dict[str, Any]
    headers: dict[str, str]
    at: float
    """`time.monotonic()` when the request arrived."""


@dataclass
class ScriptedWebhook:
    """A real HTTP server on 127.0.0.1:<free port> that records every POST and answers as `reply` says."""

    reply: Reply
    calls: list[Call] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    """Set on stop; a reply that hangs should wait for it, so the server can shut down."""
    _runner: web.AppRunner | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> ScriptedWebhook:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = json.loads(await request.read())
        n = len(self.calls)
        self.calls.append(Call(body, dict(request.headers), time.monotonic()))
        return await self.reply(n, body)


def json_reply(status: int = 200, body: Any = None, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"ok": True} if body is None else body, status=status, headers=headers)


async def always_ok(_n: int, _body: dict[str, Any]) -> web.StreamResponse:
    return json_reply()


async def add_trigger(
    sandbox: Sandbox,
    name: str,
    webhook: str,
    *,
    table: str = "items",
    num_retries: int = 0,
    interval_sec: int = 1,
    timeout_sec: int = 60,
    **ops: Any,
) -> None:
    """`pg_create_event_trigger` on `table` (default: insert on items) calling `webhook`."""
    if not ops:
        ops = {"insert": {"columns": "*"}}
    await metadata_ok(
        sandbox,
        "pg_create_event_trigger",
        {
            "name": name,
            "table": {"schema": "public", "name": table},
            "webhook": webhook,
            "retry_conf": {"num_retries": num_retries, "interval_sec": interval_sec, "timeout_sec": timeout_sec},
            **ops,
        },
    )


__all__ = [
    "EXAMPLE_TRIGGER_NAMES",
    "INSERT_ORDER",
    "INSERT_ORDER_AND_ITEM",
    "ORDER_STATE",
    "ORDER_SUMMARY",
    "Call",
    "Remote",
    "Sandbox",
    "ScriptedWebhook",
    "add_trigger",
    "all_events",
    "all_invocations",
    "always_ok",
    "delete_example_triggers",
    "driver_assigned",
    "event_by_id",
    "graphql",
    "graphql_data",
    "json_reply",
    "metadata",
    "metadata_ok",
    "order_state",
    "wait_until",
]
