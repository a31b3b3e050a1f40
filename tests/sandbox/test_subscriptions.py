"""Subscriptions through gql on both subprotocols: streams send every row once in cursor order while rows are being
inserted, also when the cursor column has ties across a batch boundary; live queries re-send the whole result only
when it changed."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from gql import Client, gql
from gql.transport.websockets import WebsocketsTransport

from inspector.sandbox.server import Sandbox
from tests.conftest import ADMIN_SECRET

PROTOCOLS = {
    "graphql-ws": None,  # gql's default offer, which Hasura (and the sandbox) answer with the legacy protocol
    "graphql-transport-ws": [WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
}


def transport(sandbox: Sandbox, protocol: str) -> WebsocketsTransport:
    kwargs: dict[str, Any] = {}
    if PROTOCOLS[protocol]:
        kwargs["subprotocols"] = PROTOCOLS[protocol]
    return WebsocketsTransport(
        url=sandbox.ws_url, init_payload={"headers": {"x-hasura-admin-secret": ADMIN_SECRET}}, **kwargs
    )


async def graphql(sandbox: Sandbox, query: str, variables: dict[str, Any] | None = None) -> Any:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            sandbox.graphql_url,
            json={"query": query, "variables": variables},
            headers={"x-hasura-admin-secret": ADMIN_SECRET},
        ) as r,
    ):
        result = await r.json()
        assert "errors" not in result, result
        return result["data"]


async def insert_items(sandbox: Sandbox, order_id: str, count: int, batch: int) -> None:
    """Insert `count` items in transactions of `batch` rows, yielding between them."""
    await graphql(
        sandbox,
        'mutation ($id: String!) { insert_orders_one(object: {order_id: $id, user_id: "u", '
        'restaurant_id: 1, address: "a"}) { order_id } }',
        {"id": order_id},
    )
    for start in range(0, count, batch):
        objects = [{"order_id": order_id, "item": f"item-{i}"} for i in range(start, min(count, start + batch))]
        await graphql(
            sandbox,
            "mutation ($o: [items_insert_input!]!) { insert_items(objects: $o) { affected_rows } }",
            {"o": objects},
        )
        await asyncio.sleep(0.005)


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
async def test_stream_sends_every_row_once_in_order_during_inserts(sandbox: Sandbox, protocol: str) -> None:
    total = 300
    await insert_items(sandbox, "before", 40, 40)  # rows that exist before the subscription starts
    seen: list[int] = []
    batches = 0
    t = transport(sandbox, protocol)
    async with Client(transport=t) as client:
        assert t.subprotocol == protocol
        stream = gql(
            "subscription { items_stream(batch_size: 7, cursor: {initial_value: {id: 0}, ordering: ASC}) { id item } }"
        )
        writer = asyncio.create_task(insert_items(sandbox, "during", total - 40, 13))
        try:
            async with asyncio.timeout(30):
                async for result in client.subscribe(stream):
                    rows = result["items_stream"]
                    assert 0 < len(rows) <= 7
                    batches += 1
                    seen.extend(r["id"] for r in rows)
                    if len(seen) >= total:
                        break
        finally:
            await writer
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == total
    assert batches >= total // 7
    count = await graphql(sandbox, "{ items_aggregate { aggregate { count } } }")
    assert count["items_aggregate"]["aggregate"]["count"] == total


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "graphql-core"])
@pytest.mark.parametrize("protocol", list(PROTOCOLS))
async def test_stream_on_a_non_unique_cursor_sends_every_row_once(
    sandbox: Sandbox, protocol: str, compiled: bool
) -> None:
    """Hasura's streams take `FETCH FIRST batch_size ROWS WITH TIES`: a batch ending inside a run of equal cursor
    values takes the whole run, so the next batch (cursor > the batch's last value) skips none of it."""
    assert sandbox.engine is not None
    sandbox.engine.compile_subscriptions = compiled
    await graphql(
        sandbox,
        'mutation { insert_orders_one(object: {order_id: "ties", user_id: "u", restaurant_id: 1, address: "a"})'
        " { order_id } }",
    )
    insert = "mutation ($o: [items_insert_input!]!) { insert_items(objects: $o) { affected_rows } }"
    before = ["a", "b", "b", "b", "c", "c", "d", "e", "e", "e", "e", "e"]
    await graphql(sandbox, insert, {"o": [{"order_id": "ties", "item": v} for v in before]})
    batches: list[list[dict[str, Any]]] = []
    t = transport(sandbox, protocol)
    async with Client(transport=t) as client:
        assert t.subprotocol == protocol
        stream = gql(
            'subscription { items_stream(batch_size: 2, cursor: {initial_value: {item: ""}},'
            ' where: {order_id: {_eq: "ties"}}) { id item } }'
        )
        async with asyncio.timeout(10):
            async for result in client.subscribe(stream):
                batches.append(result["items_stream"])
                if sum(map(len, batches)) == len(before):
                    # a run of three tied rows committed together after the cursor: one batch, not two
                    await graphql(sandbox, insert, {"o": [{"order_id": "ties", "item": "f"}] * 3})
                if sum(map(len, batches)) >= len(before) + 3:
                    break
    values = [[r["item"] for r in batch] for batch in batches]
    assert values == [["a", "b", "b", "b"], ["c", "c"], ["d", "e", "e", "e", "e", "e"], ["f", "f", "f"]]
    ids = [r["id"] for batch in batches for r in batch]
    assert len(ids) == len(set(ids)) == len(before) + 3


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
async def test_live_query_resends_only_on_change(sandbox: Sandbox, protocol: str) -> None:
    query = gql(
        'subscription { orders(where: {user_id: {_eq: "live"}}, order_by: {order_id: asc}) { order_id placed } }'
    )
    results: list[list[dict[str, Any]]] = []
    async with Client(transport=transport(sandbox, protocol)) as client:
        subscription = client.subscribe(query)

        async def collect() -> None:
            async for result in subscription:
                results.append(result["orders"])

        collector = asyncio.create_task(collect())
        try:
            await _until(lambda: len(results) == 1)
            assert results[0] == []
            # writes that do not change the result: another user's order, and an update to an unselected column
            await graphql(
                sandbox,
                'mutation { insert_orders_one(object: {order_id: "other", user_id: "x", '
                'restaurant_id: 1, address: "a"}) { order_id } }',
            )
            await asyncio.sleep(0.3)
            assert len(results) == 1
            await graphql(
                sandbox,
                'mutation { insert_orders_one(object: {order_id: "l1", user_id: "live", '
                'restaurant_id: 1, address: "a"}) { order_id } }',
            )
            await _until(lambda: len(results) == 2)
            assert results[1] == [{"order_id": "l1", "placed": False}]
            await graphql(
                sandbox,
                'mutation { update_orders_by_pk(pk_columns: {order_id: "l1"}, _set: {address: "b"}) { order_id } }',
            )
            await asyncio.sleep(0.3)
            assert len(results) == 2, "an unchanged result was sent again"
            await graphql(
                sandbox,
                'mutation { update_orders_by_pk(pk_columns: {order_id: "l1"}, _set: {placed: true}) { order_id } }',
            )
            await _until(lambda: len(results) == 3)
            assert results[2] == [{"order_id": "l1", "placed": True}]  # the whole result again, not a delta
        finally:
            collector.cancel()
            await asyncio.gather(collector, return_exceptions=True)


async def _until(predicate: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)
