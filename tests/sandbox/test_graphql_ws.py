"""GraphQL over WebSocket against a running sandbox: gql with both sub-protocols, and raw frames for Hasura's exact
messages, keep-alives and close codes (`inspector/sandbox/graphql_ws.py`).

Uses the `sandbox` / `sandbox_factory` fixtures (tests/conftest.py): sandboxes started with an admin secret; the timing
tests start their own with short keep-alive and connection-init timeouts.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError, TransportServerError
from gql.transport.websockets import WebsocketsTransport
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, NegotiationError
from websockets.typing import Subprotocol

from inspector.sandbox.graphql_ws import (
    GRAPHQL_TRANSPORT_WS,
    GRAPHQL_WS,
    WebSocketSettings,
    close_graphql_websockets,
    handle_graphql_websocket,
    negotiate_subprotocol,
)
from inspector.sandbox.server import Sandbox
from tests.conftest import SandboxFactory

TIMEOUT = 5.0
"""Longest wait for any single frame; live queries refetch within about a second."""

APOLLO = Subprotocol(GRAPHQL_WS)
TRANSPORT_WS = Subprotocol(GRAPHQL_TRANSPORT_WS)
KA = '{"type":"ka"}'
PING = '{"type":"ping","payload":{"message":"keepalive"}}'
ACK = '{"type":"connection_ack"}'

MENU_QUERY = "query { menu_items(order_by: {name: asc}, limit: 2) { name } }"
MENU_DATA = {"menu_items": [{"name": "burger"}, {"name": "burger"}]}
ORDER_SUBSCRIPTION = "subscription ($id: String!) { orders(where: {order_id: {_eq: $id}}) { order_id address } }"
INSERT_ORDER = """
mutation ($id: String!) {
  insert_orders_one(object: {order_id: $id, user_id: "u1", restaurant_id: 1, address: "1 Main St"}) { order_id }
}
"""


def _init(secret: str | None) -> str:
    headers = {} if secret is None else {"x-hasura-admin-secret": secret}
    return json.dumps({"type": "connection_init", "payload": {"headers": headers}})


def _start(kind: str, op_id: str, query: str, variables: dict[str, Any] | None = None) -> str:
    return json.dumps({"id": op_id, "type": kind, "payload": {"query": query, "variables": variables or {}}})


async def _recv(ws: ClientConnection) -> str:
    raw = await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert isinstance(raw, str), f"expected a text frame, got {raw!r}"
    return raw


async def _recv_json(ws: ClientConnection) -> Any:
    """The next frame that is not a keep-alive, decoded."""
    while True:
        raw = await _recv(ws)
        if raw not in (KA, PING):
            return json.loads(raw)


def _hasura_reason(code: int, message: str) -> str:
    """A close reason as `encodeServerErrorMsg` writes it (server/src-lib/Hasura/GraphQL/Transport/WebSocket/
    Protocol.hs)."""
    reason = json.dumps({"server_error_msg": f"{code}: {message}"}, separators=(",", ":"))
    return reason.encode()[:123].decode(errors="ignore")  # a close reason holds at most 123 bytes


async def _close_of(ws: ClientConnection) -> tuple[int | None, str | None, list[Any]]:
    """Read until the server closes: (close code, reason, frames received before the close, keep-alives excluded)."""
    frames: list[Any] = []
    try:
        while True:
            raw = await _recv(ws)
            if raw not in (KA, PING):
                frames.append(json.loads(raw))
    except ConnectionClosed:
        return ws.close_code, ws.close_reason, frames


@asynccontextmanager
async def _socket(url: str, *protocols: Subprotocol, **kwargs: Any) -> AsyncIterator[ClientConnection]:
    async with connect(url, subprotocols=list(protocols) or None, open_timeout=TIMEOUT, **kwargs) as ws:
        yield ws


@asynccontextmanager
async def _acked(url: str, secret: str | None, protocol: Subprotocol) -> AsyncIterator[ClientConnection]:
    """A connection past `connection_ack` and the keep-alive that follows it."""
    async with _socket(url, protocol) as ws:
        await ws.send(_init(secret))
        assert await _recv(ws) == ACK
        assert await _recv(ws) == (PING if protocol == TRANSPORT_WS else KA)
        yield ws


async def _subscription_tasks(expected: int) -> int:
    """The number of running subscription tasks of the sandbox (it runs on this test's event loop), once it settles
    at `expected` or after two seconds."""
    deadline = time.monotonic() + 2.0
    while True:
        running = [
            t for t in asyncio.all_tasks() if t.get_name().startswith("graphql-ws subscription") and not t.done()
        ]
        if len(running) == expected or time.monotonic() > deadline:
            return len(running)
        await asyncio.sleep(0.02)


def _transport(sandbox: Sandbox, **kwargs: Any) -> WebsocketsTransport:
    init_payload = {"headers": {"x-hasura-admin-secret": sandbox.admin_secret}}
    return WebsocketsTransport(url=sandbox.ws_url, init_payload=init_payload, connect_timeout=TIMEOUT, **kwargs)


# --- negotiation -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offered", "expected"),
    [
        ([], GRAPHQL_WS),
        (["graphql-ws"], GRAPHQL_WS),
        (["graphql-transport-ws"], GRAPHQL_TRANSPORT_WS),
        (["graphql-ws, graphql-transport-ws"], GRAPHQL_WS),
        (["graphql-transport-ws, graphql-ws"], GRAPHQL_WS),
        (["graphql-transport-ws", "graphql-ws"], GRAPHQL_WS),
        (["graphql-transport-ws, something-else"], GRAPHQL_TRANSPORT_WS),
        (["something-else"], GRAPHQL_WS),
    ],
)
def test_negotiate_subprotocol(offered: list[str], expected: str) -> None:
    assert negotiate_subprotocol(offered) == expected


def test_settings_defaults_are_hasuras() -> None:
    assert WebSocketSettings() == WebSocketSettings(keepalive_seconds=5.0, init_timeout_seconds=3.0)


async def test_subprotocol_echoed_as_negotiated(sandbox: Sandbox) -> None:
    async with _socket(sandbox.ws_url, APOLLO, TRANSPORT_WS) as ws:
        assert ws.subprotocol == GRAPHQL_WS
    async with _socket(sandbox.ws_url, TRANSPORT_WS) as ws:
        assert ws.subprotocol == GRAPHQL_TRANSPORT_WS
    # Nothing offered: Apollo, and Hasura still names it (`mkAcceptRequest` in
    # server/src-lib/Hasura/GraphQL/Transport/WebSocket.hs), which a strict client refuses.
    with pytest.raises(NegotiationError):
        async with _socket(sandbox.ws_url):
            pass


# --- gql, both sub-protocols -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subprotocols", "negotiated"),
    [(None, GRAPHQL_WS), ([WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL], GRAPHQL_TRANSPORT_WS)],
    ids=["gql-default-apollo", "gql-graphql-transport-ws"],
)
async def test_gql_query_mutation_and_live_subscription(
    sandbox: Sandbox, subprotocols: list[str] | None, negotiated: str
) -> None:
    transport = _transport(sandbox, **({} if subprotocols is None else {"subprotocols": subprotocols}))
    order_id = f"order-{uuid.uuid4()}"
    async with Client(transport=transport) as session:
        assert transport.subprotocol == negotiated
        assert await session.execute(GraphQLRequest(MENU_QUERY)) == MENU_DATA

        updates = session.subscribe(GraphQLRequest(ORDER_SUBSCRIPTION, variable_values={"id": order_id}))
        assert await asyncio.wait_for(anext(updates), TIMEOUT) == {"orders": []}
        inserted = await session.execute(GraphQLRequest(INSERT_ORDER, variable_values={"id": order_id}))
        assert inserted == {"insert_orders_one": {"order_id": order_id}}
        assert await asyncio.wait_for(anext(updates), TIMEOUT) == {
            "orders": [{"order_id": order_id, "address": "1 Main St"}]
        }
        await updates.aclose()

        # The connection still serves after the subscription was stopped.
        assert await session.execute(GraphQLRequest(MENU_QUERY)) == MENU_DATA


@pytest.mark.parametrize(
    "subprotocols",
    [None, [WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL]],
    ids=["gql-default-apollo", "gql-graphql-transport-ws"],
)
async def test_gql_validation_error_is_a_query_error(sandbox: Sandbox, subprotocols: list[str] | None) -> None:
    transport = _transport(sandbox, **({} if subprotocols is None else {"subprotocols": subprotocols}))
    async with Client(transport=transport) as session:
        with pytest.raises(TransportQueryError) as error:
            await session.execute(GraphQLRequest("query { no_such_table { id } }"))
        errors = error.value.errors
        assert errors is not None
        if subprotocols is None:
            # Apollo: Hasura's error payload is `{"errors": [...]}`, which gql passes on as one error object.
            errors = errors[0]["errors"]
        assert errors[0]["extensions"]["code"] == "validation-failed"
        assert await session.execute(GraphQLRequest(MENU_QUERY)) == MENU_DATA


async def test_gql_apollo_wrong_secret_is_a_server_error(sandbox: Sandbox) -> None:
    transport = WebsocketsTransport(
        url=sandbox.ws_url, init_payload={"headers": {"x-hasura-admin-secret": "wrong"}}, connect_timeout=TIMEOUT
    )
    with pytest.raises(TransportServerError, match="invalid x-hasura-admin-secret/x-hasura-access-key"):
        async with Client(transport=transport):
            pass


async def test_gql_secret_in_upgrade_headers(sandbox: Sandbox) -> None:
    assert sandbox.admin_secret is not None
    transport = WebsocketsTransport(
        url=sandbox.ws_url,
        headers={"X-Hasura-Admin-Secret": sandbox.admin_secret},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        connect_timeout=TIMEOUT,
    )
    async with Client(transport=transport) as session:
        assert await session.execute(GraphQLRequest(MENU_QUERY)) == MENU_DATA


async def test_init_payload_headers_override_upgrade_headers(sandbox: Sandbox) -> None:
    wrong_upgrade = {"X-Hasura-Admin-Secret": "wrong"}
    async with _socket(sandbox.ws_url, TRANSPORT_WS, additional_headers=wrong_upgrade) as ws:
        await ws.send(_init(sandbox.admin_secret))
        assert await _recv(ws) == ACK
    assert sandbox.admin_secret is not None
    right_upgrade = {"X-Hasura-Admin-Secret": sandbox.admin_secret}
    async with _socket(sandbox.ws_url, TRANSPORT_WS, additional_headers=right_upgrade) as ws:
        await ws.send(_init("wrong"))
        assert await _close_of(ws) == (4403, _hasura_reason(4403, "Forbidden"), [])
    async with _socket(sandbox.ws_url, APOLLO, additional_headers=right_upgrade) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))  # no payload at all: the upgrade headers count
        assert await _recv(ws) == ACK


# --- raw frames: Apollo graphql-ws -------------------------------------------------------------------------------


async def test_apollo_frames(sandbox: Sandbox) -> None:
    async with _socket(sandbox.ws_url, APOLLO) as ws:
        await ws.send(_init(sandbox.admin_secret))
        assert await _recv(ws) == ACK
        assert await _recv(ws) == KA  # right after the ack

        await ws.send(_start("start", "q1", MENU_QUERY))
        assert await _recv_json(ws) == {"type": "data", "id": "q1", "payload": {"data": MENU_DATA}}
        assert await _recv_json(ws) == {"type": "complete", "id": "q1"}

        await ws.send(_start("start", "bad", "query { nope }"))
        error = await _recv_json(ws)
        assert error["type"] == "error"
        assert error["id"] == "bad"
        assert error["payload"]["errors"][0]["extensions"]["code"] == "validation-failed"
        assert await _recv_json(ws) == {"type": "complete", "id": "bad"}

        await ws.send(_start("start", "s1", MENU_QUERY.replace("query", "subscription", 1)))
        assert await _recv_json(ws) == {"type": "data", "id": "s1", "payload": {"data": MENU_DATA}}
        await ws.send(json.dumps({"id": "s1", "type": "stop"}))
        assert await _recv_json(ws) == {"type": "complete", "id": "s1"}

        await ws.send(json.dumps({"type": "connection_terminate"}))
        code, reason, frames = await _close_of(ws)
        assert (code, frames) == (1000, [])
        assert reason == "GQL_CONNECTION_TERMINATE received"


async def test_apollo_mutation_failure_is_data_with_errors(sandbox: Sandbox) -> None:
    order_id = f"order-{uuid.uuid4()}"
    async with _acked(sandbox.ws_url, sandbox.admin_secret, APOLLO) as ws:
        await ws.send(_start("start", "m1", INSERT_ORDER, {"id": order_id}))
        assert await _recv_json(ws) == {
            "type": "data",
            "id": "m1",
            "payload": {"data": {"insert_orders_one": {"order_id": order_id}}},
        }
        assert await _recv_json(ws) == {"type": "complete", "id": "m1"}
        await ws.send(_start("start", "m2", INSERT_ORDER, {"id": order_id}))  # same primary key again
        failed = await _recv_json(ws)
        assert (failed["type"], failed["id"], list(failed["payload"])) == ("data", "m2", ["errors"])
        assert await _recv_json(ws) == {"type": "complete", "id": "m2"}


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("wrong", "invalid x-hasura-admin-secret/x-hasura-access-key"),
        (None, "x-hasura-admin-secret/x-hasura-access-key required, but not found"),
    ],
    ids=["wrong-secret", "missing-secret"],
)
async def test_apollo_access_denied(sandbox: Sandbox, secret: str | None, message: str) -> None:
    async with _socket(sandbox.ws_url, APOLLO) as ws:
        await ws.send(_init(secret))
        code, _reason, frames = await _close_of(ws)
        assert frames == [{"type": "connection_error", "payload": message}]
        # `mkWSServerErrorCode ... ConnInitFailed` (server/src-lib/Hasura/GraphQL/Transport/WebSocket/Server.hs).
        assert (code, _reason) == (4400, _hasura_reason(4400, f"Connection initialization failed: {message}"))


async def test_apollo_malformed_frames_keep_the_connection(sandbox: Sandbox) -> None:
    async with _socket(sandbox.ws_url, APOLLO) as ws:
        for bad in ("{not json", "[]", '{"id": "1"}', '{"type": "bogus"}', '{"type": "start", "id": "1"}'):
            await ws.send(bad)
            frame = await _recv_json(ws)
            assert frame["type"] == "connection_error", bad
            assert frame["payload"].startswith("parsing ClientMessage failed: "), bad
        await ws.send(b'{"type": "connection_init"}')
        frame = await _recv_json(ws)
        assert frame["type"] == "connection_error"
        assert frame["payload"].startswith("parsing ClientMessage failed: ")

        await ws.send(_start("start", "early", MENU_QUERY))  # before connection_init
        assert await _recv_json(ws) == {
            "type": "connection_error",
            "payload": "start received before the connection is initialised",
        }

        await ws.send(_init(sandbox.admin_secret))  # still usable
        assert await _recv(ws) == ACK
        await ws.send(_start("start", "q", MENU_QUERY))
        assert await _recv_json(ws) == {"type": "data", "id": "q", "payload": {"data": MENU_DATA}}


async def test_apollo_duplicate_start_is_refused_and_first_keeps_running(sandbox: Sandbox) -> None:
    order_id = f"order-{uuid.uuid4()}"
    async with _acked(sandbox.ws_url, sandbox.admin_secret, APOLLO) as ws:
        await ws.send(_start("start", "s", ORDER_SUBSCRIPTION, {"id": order_id}))
        assert await _recv_json(ws) == {"type": "data", "id": "s", "payload": {"data": {"orders": []}}}
        await ws.send(_start("start", "s", ORDER_SUBSCRIPTION, {"id": order_id}))
        refused = await _recv_json(ws)
        assert refused["type"] == "error"
        assert refused["payload"]["message"] == "an operation already exists with this id: s"
        assert await _recv_json(ws) == {"type": "complete", "id": "s"}
        await ws.send(_start("start", "m", INSERT_ORDER, {"id": order_id}))
        frames = [await _recv_json(ws) for _ in range(3)]
        assert {"type": "complete", "id": "m"} in frames
        assert {
            "type": "data",
            "id": "s",
            "payload": {"data": {"orders": [{"order_id": order_id, "address": "1 Main St"}]}},
        } in frames


# --- raw frames: graphql-transport-ws ----------------------------------------------------------------------------


async def test_transport_ws_frames(sandbox: Sandbox) -> None:
    async with _socket(sandbox.ws_url, TRANSPORT_WS) as ws:
        await ws.send(json.dumps({"type": "ping"}))  # allowed before connection_init
        assert await _recv(ws) == '{"type":"pong"}'
        await ws.send(_init(sandbox.admin_secret))
        assert await _recv(ws) == ACK
        assert await _recv(ws) == PING  # right after the ack
        await ws.send(json.dumps({"type": "pong", "payload": {"message": "keepalive"}}))  # accepted silently

        await ws.send(json.dumps({"type": "ping", "payload": {"n": 1}}))
        assert await _recv(ws) == '{"type":"pong","payload":{"n":1}}'

        await ws.send(_start("subscribe", "q1", MENU_QUERY))
        assert await _recv(ws) == json.dumps(
            {"type": "next", "id": "q1", "payload": {"data": MENU_DATA}}, separators=(",", ":")
        )
        assert await _recv(ws) == '{"type":"complete","id":"q1"}'

        await ws.send(_start("subscribe", "bad", "query { nope }"))
        error = await _recv_json(ws)
        assert (error["type"], error["id"]) == ("error", "bad")
        assert isinstance(error["payload"], list)
        assert error["payload"][0]["extensions"]["code"] == "validation-failed"
        assert await _recv_json(ws) == {"type": "complete", "id": "bad"}

        # A client `complete` stops the subscription; its id is free again afterwards (no 4409).
        subscription = MENU_QUERY.replace("query", "subscription", 1)
        for _ in range(2):
            await ws.send(_start("subscribe", "s1", subscription))
            assert await _recv_json(ws) == {"type": "next", "id": "s1", "payload": {"data": MENU_DATA}}
            await ws.send(json.dumps({"id": "s1", "type": "complete"}))
        await ws.send(json.dumps({"type": "ping"}))
        assert await _recv_json(ws) == {"type": "pong"}  # and no `complete` for s1 before it


async def test_transport_ws_mutation_failure_is_an_error_list(sandbox: Sandbox) -> None:
    order_id = f"order-{uuid.uuid4()}"
    async with _acked(sandbox.ws_url, sandbox.admin_secret, TRANSPORT_WS) as ws:
        for op_id in ("m1", "m2"):
            await ws.send(_start("subscribe", op_id, INSERT_ORDER, {"id": order_id}))
        assert await _recv_json(ws) == {
            "type": "next",
            "id": "m1",
            "payload": {"data": {"insert_orders_one": {"order_id": order_id}}},
        }
        assert await _recv_json(ws) == {"type": "complete", "id": "m1"}
        failed = await _recv_json(ws)
        assert (failed["type"], failed["id"]) == ("error", "m2")
        assert isinstance(failed["payload"], list)
        assert failed["payload"]
        assert await _recv_json(ws) == {"type": "complete", "id": "m2"}


@pytest.mark.parametrize("secret", ["wrong", None], ids=["wrong-secret", "missing-secret"])
async def test_transport_ws_access_denied_closes_4403(sandbox: Sandbox, secret: str | None) -> None:
    async with _socket(sandbox.ws_url, TRANSPORT_WS) as ws:
        await ws.send(_init(secret))
        assert await _close_of(ws) == (4403, _hasura_reason(4403, "Forbidden"), [])


async def test_transport_ws_subscribe_before_init_closes_4401(sandbox: Sandbox) -> None:
    async with _socket(sandbox.ws_url, TRANSPORT_WS) as ws:
        await ws.send(_start("subscribe", "1", MENU_QUERY))
        assert await _close_of(ws) == (4401, _hasura_reason(4401, "Unauthorized"), [])


async def test_transport_ws_second_init_closes_4429(sandbox: Sandbox) -> None:
    async with _acked(sandbox.ws_url, sandbox.admin_secret, TRANSPORT_WS) as ws:
        await ws.send(_init(sandbox.admin_secret))
        assert await _close_of(ws) == (4429, _hasura_reason(4429, "Too many initialisation requests"), [])


async def test_transport_ws_duplicate_id_closes_4409(sandbox: Sandbox) -> None:
    subscription = MENU_QUERY.replace("query", "subscription", 1)
    async with _acked(sandbox.ws_url, sandbox.admin_secret, TRANSPORT_WS) as ws:
        await ws.send(_start("subscribe", "dup", subscription))
        assert await _recv_json(ws) == {"type": "next", "id": "dup", "payload": {"data": MENU_DATA}}
        await ws.send(_start("subscribe", "dup", subscription))
        assert await _close_of(ws) == (4409, _hasura_reason(4409, "Subscriber for dup already exists"), [])


@pytest.mark.parametrize(
    "bad",
    ["{not json", "[1]", '{"type": "bogus"}', '{"type": "subscribe", "id": 7, "payload": {"query": "{a}"}}', b"{}"],
    ids=["invalid-json", "not-an-object", "unknown-type", "numeric-id", "binary-frame"],
)
async def test_transport_ws_malformed_closes_4400(sandbox: Sandbox, bad: str | bytes) -> None:
    async with _acked(sandbox.ws_url, sandbox.admin_secret, TRANSPORT_WS) as ws:
        await ws.send(bad)
        code, reason, frames = await _close_of(ws)
        assert (code, frames) == (4400, [])
        assert reason
        assert reason.startswith('{"server_error_msg":"4400: Parsing client message failed: ')


async def test_streaming_subscription_over_transport_ws(sandbox: Sandbox) -> None:
    order_id = f"order-{uuid.uuid4()}"
    stream = """
    subscription ($id: String!) {
      items_stream(batch_size: 10, cursor: {initial_value: {id: 0}, ordering: ASC}, where: {order_id: {_eq: $id}}) {
        item
      }
    }
    """
    add_item = (
        "mutation ($id: String!, $item: String!) { insert_items_one(object: {order_id: $id, item: $item}) { id } }"
    )
    async with _acked(sandbox.ws_url, sandbox.admin_secret, TRANSPORT_WS) as ws:
        await ws.send(_start("subscribe", "o", INSERT_ORDER, {"id": order_id}))
        assert (await _recv_json(ws))["type"] == "next"
        assert await _recv_json(ws) == {"type": "complete", "id": "o"}
        await ws.send(_start("subscribe", "stream", stream, {"id": order_id}))
        for n, item in enumerate(["pizza", "idli"]):
            await ws.send(_start("subscribe", f"add{n}", add_item, {"id": order_id, "item": item}))
            frames = [await _recv_json(ws) for _ in range(3)]
            assert {"type": "next", "id": "stream", "payload": {"data": {"items_stream": [{"item": item}]}}} in frames
            assert {"type": "complete", "id": f"add{n}"} in frames


# --- isolation and timing --------------------------------------------------------------------------------------


async def test_bad_connections_do_not_disturb_others(sandbox: Sandbox) -> None:
    order_id = f"order-{uuid.uuid4()}"
    async with _acked(sandbox.ws_url, sandbox.admin_secret, TRANSPORT_WS) as good:
        await good.send(_start("subscribe", "live", ORDER_SUBSCRIPTION, {"id": order_id}))
        assert await _recv_json(good) == {"type": "next", "id": "live", "payload": {"data": {"orders": []}}}

        async with _acked(sandbox.ws_url, sandbox.admin_secret, TRANSPORT_WS) as broken:
            await broken.send("{garbage")
            assert (await _close_of(broken))[0] == 4400
        async with _socket(sandbox.ws_url, APOLLO) as apollo:
            await apollo.send("{garbage")
            assert (await _recv_json(apollo))["type"] == "connection_error"
        async with _acked(sandbox.ws_url, sandbox.admin_secret, TRANSPORT_WS) as abandoned:
            await abandoned.send(_start("subscribe", "live", ORDER_SUBSCRIPTION, {"id": order_id}))
            assert (await _recv_json(abandoned))["type"] == "next"
            assert await _subscription_tasks(2) == 2
        # `abandoned` went away with a running subscription: its task is cancelled, `good` carries on.
        assert await _subscription_tasks(1) == 1

        await good.send(_start("subscribe", "insert", INSERT_ORDER, {"id": order_id}))
        frames = [await _recv_json(good) for _ in range(3)]
        assert {"type": "complete", "id": "insert"} in frames
        assert {
            "type": "next",
            "id": "live",
            "payload": {"data": {"orders": [{"order_id": order_id, "address": "1 Main St"}]}},
        } in frames

    assert await _subscription_tasks(0) == 0
    # And a brand-new connection is served normally.
    async with Client(transport=_transport(sandbox)) as session:
        assert await session.execute(GraphQLRequest(MENU_QUERY)) == MENU_DATA


async def test_init_timeout_closes_transport_ws_only(sandbox_factory: SandboxFactory) -> None:
    sandbox = await sandbox_factory(init_timeout_seconds=0.5)
    async with _socket(sandbox.ws_url, APOLLO) as apollo, _socket(sandbox.ws_url, TRANSPORT_WS) as ws:
        started = time.monotonic()
        assert await _close_of(ws) == (4408, _hasura_reason(4408, "Connection initialisation timeout"), [])
        assert 0.4 <= time.monotonic() - started < 2.0
        await asyncio.sleep(0.3)
        # Apollo has no init timeout: the older connection is still open and can initialise.
        await apollo.send(_init(sandbox.admin_secret))
        assert await _recv(apollo) == ACK


async def test_init_in_time_is_not_timed_out(sandbox_factory: SandboxFactory) -> None:
    sandbox = await sandbox_factory(init_timeout_seconds=0.5)
    async with _acked(sandbox.ws_url, sandbox.admin_secret, TRANSPORT_WS) as ws:
        await asyncio.sleep(0.8)
        await ws.send(_start("subscribe", "q", MENU_QUERY))
        assert await _recv_json(ws) == {"type": "next", "id": "q", "payload": {"data": MENU_DATA}}


async def test_keepalives_repeat(sandbox_factory: SandboxFactory) -> None:
    sandbox = await sandbox_factory(keepalive_seconds=0.3)
    async with (
        _acked(sandbox.ws_url, sandbox.admin_secret, APOLLO) as apollo,
        _acked(sandbox.ws_url, sandbox.admin_secret, TRANSPORT_WS) as ws,
    ):
        started = time.monotonic()
        for _ in range(3):
            assert await _recv(apollo) == KA
            assert await _recv(ws) == PING
        assert 0.6 <= time.monotonic() - started < 3.0


async def test_shutdown_hook_closes_sockets_with_1012(sandbox: Sandbox) -> None:
    """`close_graphql_websockets` as an `on_shutdown` hook, on an app of our own around the sandbox's real engine."""
    engine = sandbox.engine
    assert engine is not None

    async def graphql(request: web.Request) -> web.WebSocketResponse:
        return await handle_graphql_websocket(request, engine, WebSocketSettings())

    app = web.Application()
    app.router.add_get("/v1/graphql", graphql)
    app.on_shutdown.append(close_graphql_websockets)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        async with _acked(f"ws://{host}:{port}/v1/graphql", sandbox.admin_secret, TRANSPORT_WS) as ws:
            await ws.send(_start("subscribe", "live", MENU_QUERY.replace("query", "subscription", 1)))
            assert (await _recv_json(ws))["type"] == "next"
            started = time.monotonic()
            await runner.cleanup()
            assert await _close_of(ws) == (1012, "shutting server down", [])
            assert time.monotonic() - started < 3.0
            assert await _subscription_tasks(0) == 0
    finally:
        await runner.cleanup()
