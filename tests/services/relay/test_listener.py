"""The relay's HTTP/1.1 listener over real sockets, fed raw bytes as a hostile or unusual engine would send them:
pipelined and chunked requests, `Expect: 100-continue`, bodies over the limit (declared or not), garbage, an engine
that hangs up mid-delivery (the delivery's task is cancelled), and `stop()` with deliveries in flight."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from inspector.services.relay.listener import Listener, Reply, Request

LIMIT = 1024


class Echo:
    """Answers each request with its method, path and body; `/hold` waits until cancelled; `/hangup` hangs up."""

    def __init__(self) -> None:
        self.seen: list[Request] = []
        self.cancelled = asyncio.Event()

    async def __call__(self, request: Request) -> Reply | None:
        self.seen.append(request)
        if request.path == "/hold":
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        if request.path == "/hangup":
            return None
        body = f"{request.method} {request.path} ".encode() + request.body
        return Reply(200, [("X-Seen", str(len(self.seen)))], body)


@pytest.fixture
async def listening() -> AsyncIterator[tuple[Listener, Echo]]:
    echo = Echo()
    listener = Listener(echo, LIMIT)
    await listener.start("127.0.0.1", 0)
    yield listener, echo
    await listener.stop()


async def exchange(port: int, data: bytes, read_until_close: bool = True) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read() if read_until_close else reader.read(65536), 5)
    finally:
        writer.close()


def post(path: str, body: bytes, close: bool = False) -> bytes:
    extra = b"Connection: close\r\n" if close else b""
    return b"POST %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n%s" % (path.encode(), extra, len(body), body)


async def test_pipelined_and_chunked_requests_are_answered_in_order(listening: tuple[Listener, Echo]) -> None:
    listener, echo = listening
    chunked = b"POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    got = await exchange(listener.port, post("/a%20b?q=1", b"one") + chunked + post("/c", b"", close=True))
    answers = got.split(b"HTTP/1.1 ")[1:]
    assert [a.split(b"\r\n\r\n", 1)[1] for a in answers] == [b"POST /a b one", b"POST /b abcde", b"POST /c "]
    assert all(a.startswith(b"200 OK\r\n") for a in answers)
    assert b"Connection: close" in answers[2] and b"X-Seen: 3" in answers[2]
    assert [r.path for r in echo.seen] == ["/a b", "/b", "/c"]
    assert ("Host", "x") in echo.seen[0].headers


async def test_expect_continue_gets_its_interim_answer(listening: tuple[Listener, Echo]) -> None:
    listener, _echo = listening
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    writer.write(b"POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
    assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5) == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"ok")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200 OK") and await reader.readexactly(10) == b"POST /e ok"
    writer.close()


async def test_bodies_over_the_limit_and_garbage_are_refused(listening: tuple[Listener, Echo]) -> None:
    listener, echo = listening
    declared = await exchange(listener.port, b"POST /x HTTP/1.1\r\nContent-Length: 999999\r\n\r\n")
    assert declared.startswith(b"HTTP/1.1 413 Request Entity Too Large\r\n") or declared.startswith(
        b"HTTP/1.1 413 Content Too Large\r\n"
    )
    big = b"%x\r\n%s\r\n" % (LIMIT + 1, b"x" * (LIMIT + 1))
    counted = await exchange(listener.port, b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + big)
    assert counted.split(b" ", 2)[1] == b"413"
    garbage = await exchange(listener.port, b"HELLO\x00 there\r\n\r\n")
    assert garbage.startswith(b"HTTP/1.1 400 Bad Request\r\n") and b"malformed" in garbage
    assert echo.seen == []


async def test_an_engine_that_hangs_up_cancels_the_delivery(listening: tuple[Listener, Echo]) -> None:
    listener, echo = listening
    _reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    writer.write(post("/hold", b"{}"))
    await writer.drain()
    for _ in range(100):
        if echo.seen:
            break
        await asyncio.sleep(0.01)
    writer.transport.abort()
    await asyncio.wait_for(echo.cancelled.wait(), 5)
    # a handler answering None hangs up without an answer
    assert await exchange(listener.port, post("/hangup", b"")) == b""


async def test_stop_ends_deliveries_in_flight() -> None:
    echo = Echo()
    listener = Listener(echo, LIMIT)
    port = await listener.start("127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(post("/hold", b"{}"))
    await writer.drain()
    for _ in range(100):
        if echo.seen:
            break
        await asyncio.sleep(0.01)
    await asyncio.wait_for(listener.stop(), 5)
    assert echo.cancelled.is_set()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
