"""The compiled subscriptions (`inspector/sandbox/graphql_compiler.py`) send the same bytes as graphql-core did.

Each subscription below is run over a raw WebSocket on both sub-protocols twice against one sandbox and one database:
first with `engine.compile_subscriptions = False` (every run through graphql-core, the reference renderer), then
compiled. The frames (keep-alives aside) must be byte-identical: live queries and `_stream` subscriptions, with
variables, aliases, cursors on non-unique columns (ties across a batch boundary), the aggregate's nested objects,
`__typename`, nulls, booleans and timestamps, a live query's frame after a change, the values graphql-core reports as
errors (an Int beyond 32 bits, a cursor Hasura refuses) and what the compiler leaves to graphql-core (fragments,
directives).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from inspector.sandbox.graphql_ws import GRAPHQL_TRANSPORT_WS, GRAPHQL_WS
from inspector.sandbox.server import EXAMPLE_TRIGGERS, Sandbox
from tests.conftest import ADMIN_SECRET

TIMEOUT = 5.0
ADMIN = {"x-hasura-admin-secret": ADMIN_SECRET}
KEEPALIVES = ('{"type":"ka"}', '{"type":"ping","payload":{"message":"keepalive"}}')
ORDER_COLUMNS = "order_id, user_id, restaurant_id, address, placed, approved, driver_assigned, food_picked, delivered"


@dataclass(frozen=True)
class Case:
    """One subscription, and when its frames are all in: after `rows` rows of `field`, or its first `frames` data
    frames, or its `complete` (`rows` and `frames` both 0)."""

    name: str
    query: str
    variables: dict[str, Any] | None = None
    field: str = ""
    rows: int = 0
    frames: int = 0
    compiled: bool = True
    """Whether the compiler takes it (else graphql-core runs it on both passes)."""


TIES_ASC = "stream over a non-unique cursor, ties across the batch boundary"
TIES_DESC = "stream descending over a non-unique cursor"
CASES = (
    Case(
        "stream with variables and __typename",
        "subscription ($id: String!) { items_stream(batch_size: 3, cursor: {initial_value: {id: 0}, ordering: ASC},"
        " where: {order_id: {_eq: $id}}) { id item order_id __typename } }",
        {"id": "order-1"},
        field="items_stream",
        rows=6,
    ),
    Case(
        "stream of one row per frame, aliased",
        "subscription Feed { feed: items_stream(batch_size: 1, cursor: {initial_value: {id: 3}})"
        " { n: id what: item } }",
        field="feed",
        rows=9,
    ),
    Case(
        "stream on a timestamp cursor, booleans and nulls",
        "subscription ($since: timestamptz!) { orders_stream(batch_size: 2, cursor: {initial_value: {created: $since}},"
        " where: {restaurant_id: {_lt: 100}}) { order_id created placed approved order_valid payment_valid"
        " restaurant_id } }",
        {"since": "2024-01-01T00:00:00Z"},
        field="orders_stream",
        rows=5,
    ),
    Case(
        "stream descending from a variable",
        "subscription ($from: Int!, $size: Int!) { payments_stream(batch_size: $size,"
        " cursor: {initial_value: {id: $from}, ordering: DESC}) { amount id type __typename } }",
        {"from": 100, "size": 4},
        field="payments_stream",
        rows=6,
    ),
    Case(
        TIES_ASC,
        'subscription { items_stream(batch_size: 4, cursor: {initial_value: {order_id: ""}}) { id order_id } }',
        field="items_stream",
        rows=12,
    ),
    Case(
        TIES_DESC,
        'subscription { payments_stream(batch_size: 1, cursor: {initial_value: {type: "z"}, ordering: DESC})'
        " { type id } }",
        field="payments_stream",
        rows=6,
    ),
    Case(
        "live query with order_by, limit and __typename",
        "subscription ($n: Int) { orders(order_by: [{restaurant_id: desc}, {order_id: asc}], limit: $n,"
        " where: {restaurant_id: {_lt: 100}}) { __typename order_id user_id approved delivered payment_valid } }",
        {"n": 4},
        frames=1,
    ),
    Case(
        "live aggregate with nested objects",
        "subscription { orders_aggregate(where: {placed: {_eq: true}, restaurant_id: {_lt: 100}}) {"
        " __typename aggregate { count __typename } nodes { order_id created } } }",
        frames=1,
    ),
    Case(
        "live by_pk, found and not found",
        "subscription ($id: String!) { order: orders_by_pk(order_id: $id) { order_id address food_picked } }",
        {"id": "order-2"},
        frames=1,
    ),
    Case(
        "live by_pk not found",
        'subscription { orders_by_pk(order_id: "nope") { order_id } }',
        frames=1,
    ),
    Case("live view", "subscription { number_orders { count } }", frames=1),
    Case(
        "live query whose rows graphql-core reports (Int beyond 32 bits)",
        "subscription { orders(order_by: {order_id: asc}) { order_id restaurant_id } }",
        frames=1,
    ),
    Case(
        "stream that meets a row graphql-core reports",
        'subscription { orders_stream(batch_size: 10, cursor: {initial_value: {order_id: ""}}) {'
        " order_id restaurant_id } }",
    ),
    Case(
        "stream with a cursor Hasura refuses",
        "subscription { items_stream(batch_size: 2, cursor: [{initial_value: {id: 0}}, {initial_value: {id: 1}}])"
        " { id } }",
        compiled=False,
    ),
    Case(
        "fragment (left to graphql-core)",
        "subscription { items_stream(batch_size: 4, cursor: {initial_value: {id: 0}}) { ...item } }"
        " fragment item on items { id item }",
        field="items_stream",
        rows=12,
        compiled=False,
    ),
    Case(
        "directive (left to graphql-core)",
        "subscription ($all: Boolean!) { orders(order_by: {order_id: asc}, where: {restaurant_id: {_lt: 100}}) {"
        " order_id address @include(if: $all) } }",
        {"all": False},
        frames=1,
        compiled=False,
    ),
)


async def _metadata(http: aiohttp.ClientSession, sandbox: Sandbox, kind: str, args: dict[str, Any]) -> None:
    async with http.post(sandbox.metadata_url, json={"type": kind, "args": args}, headers=ADMIN) as answer:
        assert answer.status == 200, await answer.text()


async def _graphql(http: aiohttp.ClientSession, sandbox: Sandbox, query: str) -> None:
    async with http.post(sandbox.graphql_url, json={"query": query}, headers=ADMIN) as answer:
        body = await answer.json()
        assert "errors" not in body, body


def _seed(sandbox: Sandbox) -> None:
    """Fixed rows (no `now()`), so both passes see the same data."""
    assert sandbox.db is not None
    with sandbox.db.transaction():
        conn = sandbox.db.conn
        orders = [
            ("order-1", "u1", 3, "1 Main St", 1, 0, 0, 0, 0, None, None, "2024-01-01T10:00:00.123456+00:00"),
            ("order-2", "u2", 7, "2 Side Rd, «flat 3»", 1, 1, 0, 1, 0, 1, 1, "2024-01-02T11:00:00+00:00"),
            ("order-3", "u1", 7, '3 "Quoted" Ave\n', 0, 0, 0, 0, 0, 0, 0, "2024-01-03T12:30:00.5+00:00"),
            ("order-4", "u3", 1, "4 Ünïcode Way", 1, 1, 1, 1, 1, 1, 0, "2023-12-31T23:59:59+00:00"),
            ("order-5", "u3", 2, "5 Last Lane", 1, 0, 1, 0, 1, None, 1, "2024-02-29T00:00:00+00:00"),
            ("order-6", "u4", 9, "6 Sixth St", 0, 1, 0, 1, 0, 0, None, "2024-03-01T08:00:00+00:00"),
            # Beyond GraphQL's 32-bit Int: graphql-core reports it, and the compiled path must fall back.
            ("order-7", "u5", 2**40, "7 Big Blvd", 1, 0, 0, 0, 0, None, None, "2024-03-02T08:00:00+00:00"),
        ]
        conn.executemany(
            f"INSERT INTO orders ({ORDER_COLUMNS}, order_valid, payment_valid, created)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            orders,
        )
        items = [(f"order-{1 + i % 2}", f"item {i} ✓") for i in range(12)]
        conn.executemany("INSERT INTO items (order_id, item) VALUES (?, ?)", items)
        payments = [(f"order-{1 + i % 3}", "card" if i % 2 else "cash", 100 * i - 250) for i in range(6)]
        conn.executemany("INSERT INTO payments (order_id, type, amount) VALUES (?, ?, ?)", payments)


async def _recv(ws: ClientConnection) -> str:
    while True:
        frame = await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert isinstance(frame, str)
        if frame not in KEEPALIVES:
            return frame


async def _frames(sandbox: Sandbox, protocol: str, case: Case) -> list[str]:
    """The frames of `case` from its subscribe until it is complete (or stopped once all its data came)."""
    transport_ws = protocol == GRAPHQL_TRANSPORT_WS
    async with connect(sandbox.ws_url, subprotocols=[Subprotocol(protocol)]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"headers": ADMIN}}))
        assert json.loads(await _recv(ws))["type"] == "connection_ack"
        payload = {"query": case.query, "variables": case.variables}
        await ws.send(json.dumps({"type": "subscribe" if transport_ws else "start", "id": "s", "payload": payload}))
        frames: list[str] = []
        rows = 0
        while True:
            frame = await _recv(ws)
            frames.append(frame)
            message = json.loads(frame)
            if message["type"] == "complete":
                return frames
            data = (message.get("payload") or {}).get("data")
            if case.rows and data is not None:
                rows += len(data[case.field])
            if (case.rows and rows >= case.rows) or (case.frames and len(frames) >= case.frames):
                break
        assert not (case.rows and rows > case.rows), frames
        return frames


async def _all_frames(sandbox: Sandbox) -> dict[tuple[str, str], list[str]]:
    out: dict[tuple[str, str], list[str]] = {}
    for protocol in (GRAPHQL_TRANSPORT_WS, GRAPHQL_WS):
        for case in CASES:
            out[protocol, case.name] = await _frames(sandbox, protocol, case)
    return out


async def _live_change_frames(sandbox: Sandbox, protocol: str, http: aiohttp.ClientSession) -> list[str]:
    """A live query's first frame, and its frame after an update (undone afterwards)."""
    query = (
        'subscription { orders(where: {user_id: {_eq: "u1"}}, order_by: {order_id: asc}) { id: order_id approved } }'
    )
    transport_ws = protocol == GRAPHQL_TRANSPORT_WS
    async with connect(sandbox.ws_url, subprotocols=[Subprotocol(protocol)]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"headers": ADMIN}}))
        assert json.loads(await _recv(ws))["type"] == "connection_ack"
        kind = "subscribe" if transport_ws else "start"
        await ws.send(json.dumps({"type": kind, "id": "live", "payload": {"query": query}}))
        frames = [await _recv(ws)]
        toggle = (
            'mutation { update_orders_by_pk(pk_columns: {order_id: "order-3"}, _set: {approved: %s}) { order_id } }'
        )
        await _graphql(http, sandbox, toggle % "true")
        frames.append(await _recv(ws))
        await _graphql(http, sandbox, toggle % "false")
        frames.append(await _recv(ws))
        return frames


@pytest.mark.asyncio
async def test_compiled_subscriptions_send_the_frames_graphql_core_sends(sandbox: Sandbox) -> None:
    assert sandbox.engine is not None
    engine = sandbox.engine
    async with aiohttp.ClientSession() as http:
        for name, _ops in EXAMPLE_TRIGGERS:  # no handler may change the rows between the two passes
            await _metadata(http, sandbox, "pg_delete_event_trigger", {"name": name})
        _seed(sandbox)

        engine.compile_subscriptions = False
        reference = await _all_frames(sandbox)
        reference_live = {p: await _live_change_frames(sandbox, p, http) for p in (GRAPHQL_TRANSPORT_WS, GRAPHQL_WS)}

        engine.compile_subscriptions = True
        for case in CASES:  # the compiled path really runs where it should
            operation = engine.prepare(case.query, case.variables, None)
            assert (engine.compile_subscription(operation) is not None) == case.compiled, case.name
        compiled = await _all_frames(sandbox)
        compiled_live = {p: await _live_change_frames(sandbox, p, http) for p in (GRAPHQL_TRANSPORT_WS, GRAPHQL_WS)}

    for key, frames in reference.items():
        assert compiled[key] == frames, key
    assert compiled_live == reference_live
    # The cases cover what they say: several frames per stream, errors where graphql-core reports them.
    assert len(reference[GRAPHQL_TRANSPORT_WS, "stream of one row per frame, aliased"]) == 9
    assert '"errors"' in reference[GRAPHQL_WS, "stream that meets a row graphql-core reports"][-2]
    assert (
        '"errors"'
        in reference[GRAPHQL_TRANSPORT_WS, "live query whose rows graphql-core reports (Int beyond 32 bits)"][0]
    )
    assert '"errors"' in reference[GRAPHQL_WS, "stream with a cursor Hasura refuses"][0]
    assert '"__typename":"payments"' in reference[GRAPHQL_WS, "stream descending from a variable"][0]
    # WITH TIES: a batch of 4 over six tied rows is all six of them, so two batches carry the twelve items.
    for protocol in (GRAPHQL_TRANSPORT_WS, GRAPHQL_WS):
        ties = [json.loads(f)["payload"]["data"]["items_stream"] for f in reference[protocol, TIES_ASC]]
        assert [{r["order_id"] for r in batch} for batch in ties] == [{"order-1"}, {"order-2"}]
        assert sorted(r["id"] for batch in ties for r in batch) == list(range(1, 13))
        by_type = [json.loads(f)["payload"]["data"]["payments_stream"] for f in reference[protocol, TIES_DESC]]
        assert [[r["type"] for r in batch] for batch in by_type] == [["cash"] * 3, ["card"] * 3]
    assert '"count":4' in reference[GRAPHQL_WS, "live aggregate with nested objects"][0]
    changed = [json.loads(f)["payload"]["data"]["orders"] for f in reference_live[GRAPHQL_WS]]
    assert [o["approved"] for o in changed[1] if o["id"] == "order-3"] == [True]
