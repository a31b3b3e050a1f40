"""Talking to a running sandbox from a test: GraphQL calls, an order, polling, reading a capture being written."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from inspector.core.connection_profile import ConnectionProfile
from inspector.sandbox.server import Sandbox
from tests.conftest import ADMIN_SECRET


def profile_for(url: str, subprotocol: str = "auto") -> ConnectionProfile:
    return ConnectionProfile.from_endpoint("test", url, subprotocol=subprotocol)  # type: ignore[arg-type]


async def graphql(sandbox: Sandbox, query: str, variables: dict[str, Any] | None = None) -> Any:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            sandbox.graphql_url,
            json={"query": query, "variables": variables},
            headers={"x-hasura-admin-secret": ADMIN_SECRET},
        ) as answer,
    ):
        result = await answer.json()
    assert "errors" not in result, result
    return result["data"]


async def place_order(sandbox: Sandbox, order_id: str, items: int = 2, address: str = "1 Main St") -> None:
    await graphql(
        sandbox,
        "mutation ($o: orders_insert_input!, $i: [items_insert_input!]!) { insert_orders_one(object: $o) "
        "{ order_id } insert_items(objects: $i) { affected_rows } }",
        {
            "o": {"order_id": order_id, "user_id": "u", "restaurant_id": 1, "address": address},
            "i": [{"order_id": order_id, "item": f"item-{n}"} for n in range(items)],
        },
    )


async def until(predicate: Callable[[], bool] | Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while True:
            result = predicate()
            if not isinstance(result, bool):
                result = await result
            if result:
                return
            await asyncio.sleep(0.05)


def read(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read a capture as another process would (a second connection while it is being written)."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()
