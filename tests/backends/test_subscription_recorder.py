"""The subscription recorder against small real WebSocket servers (websockets) that misbehave: malformed frames are
recorded as such and the connection goes on (issue 12.6); the reconnect backoff starts over after a connection that
worked (issue 12.7)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import websockets
from websockets.asyncio.server import Server, ServerConnection

from inspector.backends.subscriptions import SubscriptionRecorder, SubscriptionSpec

LIVE = SubscriptionSpec("subscription { orders { order_id } }")


@dataclass
class Message:
    operation_id: int | None
    kind: str
    raw: str
    data: Any


@dataclass
class ListSink:
    """Keeps what the recorder reports."""

    messages: list[Message] = field(default_factory=list)
    logs: list[tuple[str, str]] = field(default_factory=list)

    def add_operation(self, *_args: Any) -> int:
        return 7

    def update_operation(self, *_args: Any, **_fields: Any) -> None:
        pass

    def add_message(
        self, operation_id: int | None, _received_at: float, kind: str, raw: str, data: Any = None, **_: Any
    ) -> None:
        self.messages.append(Message(operation_id, kind, raw, data))

    def log(self, level: str, _source: str, message: str) -> None:
        self.logs.append((level, message))

    def results(self) -> list[Any]:
        return [m.data for m in self.messages if m.kind == "next"]

    def delays(self) -> list[float]:
        return [float(m.group(1)) for _, line in self.logs if (m := re.search(r"reconnecting in ([\d.]+) s", line))]


Behaviour = Callable[[ServerConnection, str, int], Awaitable[None]]
"""What the server does after `connection_ack` and the client's `subscribe`: (connection, operation id, n-th
connection from 1)."""


@dataclass
class WsServer:
    url: str
    connections: int = 0


@pytest.fixture
async def ws_server() -> AsyncIterator[Callable[[Behaviour], Awaitable[WsServer]]]:
    servers: list[Server] = []

    async def start(behaviour: Behaviour) -> WsServer:
        found = WsServer("")

        async def handler(ws: ServerConnection) -> None:
            found.connections += 1
            init = json.loads(await ws.recv())
            assert init["type"] == "connection_init"
            await ws.send(json.dumps({"type": "connection_ack"}))
            subscribe = json.loads(await ws.recv())
            await behaviour(ws, subscribe["id"], found.connections)

        server = await websockets.serve(handler, "127.0.0.1", 0, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
        servers.append(server)
        found.url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/graphql"
        return found

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


def recorder(url: str, sink: ListSink, **options: Any) -> SubscriptionRecorder:
    return SubscriptionRecorder(url, {}, ["graphql-transport-ws"], [LIVE], sink, **options)


async def run_until(rec: SubscriptionRecorder, done: Callable[[], bool], timeout: float = 15) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(rec.run(stop))
    try:
        async with asyncio.timeout(timeout):
            while not done():
                assert not task.done(), task.exception()
                await asyncio.sleep(0.01)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def result(op: str, value: int) -> str:
    return json.dumps({"type": "next", "id": op, "payload": {"data": {"orders": [{"order_id": value}]}}})


async def test_malformed_frames_are_recorded_and_later_frames_arrive_on_the_same_connection(
    ws_server: Callable[[Behaviour], Awaitable[WsServer]],
) -> None:
    async def garbage_then_results(ws: ServerConnection, op: str, _n: int) -> None:
        await ws.send(result(op, 1))
        await ws.send('{"type": "next", "id": "1", "payload": {"data": ')  # cut short
        await ws.send(b"\x00\xffbinary")
        await ws.send(json.dumps({"type": "next", "id": op, "payload": "not a result"}))
        await ws.send(json.dumps({"type": "mystery", "id": op}))
        await ws.send("[1, 2]")
        await ws.send(result(op, 2))
        await ws.send(result(op, 3))
        await ws.wait_closed()

    server = await ws_server(garbage_then_results)
    sink = ListSink()
    rec = recorder(server.url, sink)
    await run_until(rec, lambda: len(sink.results()) == 3)
    assert sink.results() == [{"orders": [{"order_id": n}]} for n in (1, 2, 3)]
    assert server.connections == 1 and rec.reconnects == 0
    kinds = [m.kind for m in sink.messages if m.kind not in ("connection_ack", "close")]
    assert kinds == ["next", "malformed", "malformed", "malformed", "mystery", "malformed", "next", "next"]
    malformed = [m.raw for m in sink.messages if m.kind == "malformed"]
    assert malformed[0] == '{"type": "next", "id": "1", "payload": {"data": ' and malformed[1] == "<binary frame>"
    warnings = [line for level, line in sink.logs if level == "warning"]
    assert len(warnings) == 3 and all("skipped a malformed frame" in w for w in warnings)
    assert "further ones on this connection are recorded, not logged" in warnings[-1]


async def test_backoff_starts_over_after_a_connection_that_brought_a_result(
    ws_server: Callable[[Behaviour], Awaitable[WsServer]],
) -> None:
    async def one_result_then_drop(ws: ServerConnection, op: str, _n: int) -> None:
        await ws.send(result(op, 1))
        await ws.close(1011, "going away")

    server = await ws_server(one_result_then_drop)
    sink = ListSink()
    rec = recorder(server.url, sink, backoff_start=0.05, stable_after=60)
    await run_until(rec, lambda: server.connections >= 5)
    assert sink.delays()[:4] == [0.05] * 4


async def test_backoff_starts_over_after_a_connection_that_stayed_up(
    ws_server: Callable[[Behaviour], Awaitable[WsServer]],
) -> None:
    async def quiet_then_drop(ws: ServerConnection, _op: str, _n: int) -> None:
        await asyncio.sleep(0.4)
        await ws.close(1011, "going away")

    server = await ws_server(quiet_then_drop)
    sink = ListSink()
    rec = recorder(server.url, sink, backoff_start=0.05, stable_after=0.3)
    await run_until(rec, lambda: server.connections >= 4)
    assert sink.delays()[:3] == [0.05] * 3


async def test_backoff_still_doubles_while_connections_do_not_work(
    ws_server: Callable[[Behaviour], Awaitable[WsServer]],
) -> None:
    async def drop_at_once(ws: ServerConnection, _op: str, _n: int) -> None:
        await ws.close(1011, "going away")

    server = await ws_server(drop_at_once)
    sink = ListSink()
    rec = recorder(server.url, sink, backoff_start=0.05, stable_after=60)
    await run_until(rec, lambda: server.connections >= 5)
    assert sink.delays()[:4] == [0.05, 0.1, 0.2, 0.4]
