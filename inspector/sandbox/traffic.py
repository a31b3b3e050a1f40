"""The traffic generator: customers placing orders through GraphQL, as the example's order app does
(`hasura/3factor-example`).

Owns `place_order` (one `insert_orders_one` + `insert_items` mutation over HTTP, with a user's session variables) and
the loop that places orders at a steady rate. Used by `inspector sandbox --orders-per-second`, tests and benchmarks.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from typing import Any

import aiohttp

from inspector.sandbox.tables import MENU_SEED

log = logging.getLogger(__name__)

PLACE_ORDER = """
mutation place_order($order: orders_insert_input!, $items: [items_insert_input!]!) {
  insert_orders_one(object: $order) { order_id created }
  insert_items(objects: $items) { affected_rows }
}
"""
USERS = ("alice", "bob", "carol", "dave", "erin")


async def place_order(
    session: aiohttp.ClientSession,
    graphql_url: str,
    admin_secret: str | None,
    rng: random.Random | None = None,
    order_id: str | None = None,
) -> dict[str, Any]:
    """Place one order as a customer would; returns the GraphQL response."""
    rng = rng or random.Random()
    user = rng.choice(USERS)
    order_id = order_id or str(uuid.UUID(int=rng.getrandbits(128), version=4))
    items = [{"order_id": order_id, "item": rng.choice(MENU_SEED)} for _ in range(rng.randint(1, 3))]
    headers = {"x-hasura-role": "user", "x-hasura-user-id": user}
    if admin_secret:
        headers["x-hasura-admin-secret"] = admin_secret
    variables = {
        "order": {
            "order_id": order_id,
            "user_id": user,
            "restaurant_id": rng.randint(1, 5),
            "address": f"{rng.randint(1, 99)} Main St",
        },
        "items": items,
    }
    async with session.post(graphql_url, json={"query": PLACE_ORDER, "variables": variables}, headers=headers) as r:
        result: dict[str, Any] = await r.json(content_type=None)
        return result


async def generate_orders(graphql_url: str, admin_secret: str | None, per_second: float, rng: random.Random) -> None:
    """Place `per_second` orders a second until cancelled (a failed order is logged, not fatal)."""
    period = 1.0 / per_second
    next_at = time.monotonic()
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                result = await place_order(session, graphql_url, admin_secret, rng)
                if "errors" in result:
                    log.warning("order refused: %s", result["errors"][0].get("message"))
            except aiohttp.ClientError as exc:
                log.warning("could not place an order: %s", exc)
            next_at += period
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
