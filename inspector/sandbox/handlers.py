"""The example's serverless handlers (the async serverless factor), served over HTTP by the sandbox.

Owns the four webhooks the example's event triggers call, each stateless and writing back only through the
sandbox's GraphQL endpoint, so each write raises the next event as in the 3factor example (`hasura/3factor-example`):

- `validate-order` (insert on orders): sets `order_valid`.
- `process-payment` (update of `order_valid`): writes a payments row and sets `payment_valid`. In the example the
  client calls payment directly; the sandbox makes it a trigger so that one mutation drives the whole chain.
- `restaurant-approval` (update of `payment_valid`): sets `approved`.
- `agent-assignment` (update of `approved`): writes an assignment row and sets `driver_assigned`.

They are idempotent by default (a redelivered event writes nothing twice; concurrent duplicates are serialised per
order inside this process, the one shortcut a real serverless function could not take). `naive_handlers` turns that
off for replay checks, and `order_sensitive_handlers` makes restaurant-approval depend on the order events arrive
in (it approves only an order whose payment is already valid, and silently approves nothing otherwise), for
order-tolerance checks. The fault knobs fail, latency and cold start act here.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from inspector.sandbox.config import SandboxConfig

HANDLER_NAMES = ("validate-order", "process-payment", "restaurant-approval", "agent-assignment")

_TRACE_HEADERS = frozenset(
    {"x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid", "x-b3-sampled", "x-b3-flags", "traceparent", "tracestate"}
)
"""Trace headers a handler forwards to the GraphQL calls it makes."""

Work = Callable[[dict[str, Any], dict[str, str]], Awaitable[dict[str, Any]]]


class HandlerError(Exception):
    """The handler's GraphQL write failed; answered with 500 so Hasura retries."""


class Handlers:
    """The four handlers as one aiohttp application, calling back into GraphQL at `graphql_url`."""

    def __init__(self, config: SandboxConfig, graphql_url: str) -> None:
        self.config = config
        self.graphql_url = graphql_url
        self._rng = config.rng("handlers")
        self._last_call: dict[str, float] = {}
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        """order id → (its lock, how many calls hold or wait for it)."""
        self._session: aiohttp.ClientSession | None = None
        self.calls: dict[str, int] = dict.fromkeys(HANDLER_NAMES, 0)
        self.cold_calls: list[tuple[str, str | None]] = []
        """(handler, event id) of each call the cold-start knob slowed down, in the order made: what a test expects
        the analysis to report as cold starts, rather than a guess from how long events took."""
        self.app = web.Application(client_max_size=64 * 1024 * 1024)  # Hasura has no body limit for webhooks
        self.app.router.add_get("/", self._index)
        works: dict[str, Work] = {
            "validate-order": self._validate_order,
            "process-payment": self._process_payment,
            "restaurant-approval": self._restaurant_approval,
            "agent-assignment": self._agent_assignment,
        }
        for name, work in works.items():
            self.app.router.add_post(f"/{name}", self._endpoint(name, work))
        self.app.on_cleanup.append(self._close)

    async def _close(self, _app: web.Application) -> None:
        if self._session is not None:
            await self._session.close()

    async def _index(self, _request: web.Request) -> web.Response:
        return web.json_response({"handlers": [f"/{n}" for n in HANDLER_NAMES]})

    def _endpoint(self, name: str, work: Work) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            self.calls[name] += 1
            # Read the request before any delay: a caller that gives up (Hasura's timeout_sec) does not stop the work,
            # as it would not stop a real function that already has its request.
            try:
                body = await request.json()
                row = body["event"]["data"]["new"]
                order_id = row["order_id"]
            except (json.JSONDecodeError, KeyError, TypeError):
                return web.json_response({"error": "not a Hasura event trigger payload"}, status=400)
            faults = self.config.faults
            now = time.monotonic()
            last = self._last_call.get(name)
            self._last_call[name] = now
            delay = faults.latency_ms
            if faults.cold_start_ms and (last is None or now - last > faults.cold_start_idle_s):
                delay += faults.cold_start_ms
                self.cold_calls.append((name, body.get("id") if isinstance(body.get("id"), str) else None))
            if delay:
                await asyncio.sleep(delay / 1000)
            if faults.fail_rate and self._rng.random() < faults.fail_rate:
                return web.json_response({"error": "injected failure (--fail-rate)"}, status=500)
            # Pass the trace on, whichever propagator Hasura used (B3 by default, W3C `traceparent` when configured).
            headers = {k: v for k, v in request.headers.items() if k.lower() in _TRACE_HEADERS}
            try:
                if self.config.naive_handlers:
                    result = await work(row, headers)
                else:
                    lock, users = self._locks.get(order_id, (asyncio.Lock(), 0))
                    self._locks[order_id] = (lock, users + 1)
                    try:
                        async with lock:
                            result = await work(row, headers)
                    finally:
                        lock, users = self._locks[order_id]
                        if users == 1:
                            del self._locks[order_id]
                        else:
                            self._locks[order_id] = (lock, users - 1)
            except HandlerError as exc:
                return web.json_response({"error": str(exc)}, status=500)
            return web.json_response(result)

        return handle

    async def _graphql(self, query: str, variables: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        send = {"Content-Type": "application/json", **headers}
        if self.config.admin_secret:
            send["x-hasura-admin-secret"] = self.config.admin_secret
        try:
            async with self._session.post(
                self.graphql_url, json={"query": query, "variables": variables}, headers=send
            ) as answer:
                result: dict[str, Any] = await answer.json(content_type=None)
        except (aiohttp.ClientError, json.JSONDecodeError) as exc:
            raise HandlerError(f"GraphQL request failed: {exc}") from exc
        if "errors" in result:
            raise HandlerError(result["errors"][0].get("message", "GraphQL error"))
        data: dict[str, Any] = result["data"]
        return data

    async def _set_flag(self, order_id: str, column: str, headers: dict[str, str]) -> dict[str, Any]:
        data = await self._graphql(
            "mutation ($id: String!, $set: orders_set_input!) "
            "{ update_orders_by_pk(pk_columns: {order_id: $id}, _set: $set) { order_id } }",
            {"id": order_id, "set": {column: True}},
            headers,
        )
        return {"order_id": order_id, column: True, "updated": data["update_orders_by_pk"] is not None}

    async def _validate_order(self, row: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        return await self._set_flag(row["order_id"], "order_valid", headers)

    async def _restaurant_approval(self, row: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        if self.config.order_sensitive_handlers:
            # Reads the current row instead of trusting the event: correct only if payment was handled first.
            data = await self._graphql(
                "query ($id: String!) { orders_by_pk(order_id: $id) { payment_valid } }",
                {"id": row["order_id"]},
                headers,
            )
            order = data["orders_by_pk"]
            if not (order and order["payment_valid"]):
                return {"order_id": row["order_id"], "approved": False, "reason": "payment not valid yet"}
        return await self._set_flag(row["order_id"], "approved", headers)

    async def _already(self, table: str, order_id: str, headers: dict[str, str]) -> bool:
        data = await self._graphql(
            f"query ($id: String!) {{ {table}(where: {{order_id: {{_eq: $id}}}}, limit: 1) {{ order_id }} }}",
            {"id": order_id},
            headers,
        )
        return bool(data[table])

    async def _process_payment(self, row: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        order_id = row["order_id"]
        if not self.config.naive_handlers and await self._already("payments", order_id, headers):
            return await self._set_flag(order_id, "payment_valid", headers) | {"payment": "already made"}
        data = await self._graphql(
            'mutation ($id: String!) { insert_payments_one(object: {order_id: $id, type: "credit_card", amount: 500})'
            " { id } update_orders_by_pk(pk_columns: {order_id: $id}, _set: {payment_valid: true}) { order_id } }",
            {"id": order_id},
            headers,
        )
        return {"order_id": order_id, "payment_valid": True, "payment_id": data["insert_payments_one"]["id"]}

    async def _agent_assignment(self, row: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        order_id = row["order_id"]
        if not self.config.naive_handlers and await self._already("assignment", order_id, headers):
            return await self._set_flag(order_id, "driver_assigned", headers) | {"assignment": "already made"}
        driver_id = self._rng.randint(95, 99)
        await self._graphql(
            "mutation ($id: String!, $driver: Int!) {"
            " insert_assignment_one(object: {order_id: $id, driver_id: $driver}) { order_id }"
            " update_orders_by_pk(pk_columns: {order_id: $id}, _set: {driver_assigned: true}) { order_id } }",
            {"id": order_id, "driver": driver_id},
            headers,
        )
        return {"order_id": order_id, "driver_id": driver_id, "driver_assigned": True}
