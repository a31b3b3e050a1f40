"""The lean HTTP/1.1 client (`backends.http1`) against real servers on loopback sockets: a well-behaved aiohttp
server, and raw asyncio servers that answer with scripted bytes (chunked, read to the close, compressed, interim
1xx, garbage, a hang, a close mid-answer, a flood) and a TLS server with a certificate made for the test. Each case
checks what a user of replay or of the relay would see: the answer as sent, or a one-line error, never a hang, and
connections reused while the server keeps them alive."""

from __future__ import annotations

import asyncio
import gzip
import subprocess
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from inspector.backends.http1 import (
    Http1Client,
    Http1ConnectError,
    Http1Error,
    Http1InvalidURL,
    Http1ProtocolError,
    Http1Timeout,
    Http1TooLarge,
)

MIB = 1024 * 1024

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class RawServer:
    """A loopback server whose every connection runs `script`; counts connections and requests read."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> RawServer:
        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                await self.script(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        self.server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/hook?x=1"
        return self

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = await reader.readexactly(length)
        self.requests.append(head + body)
        return head + body

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()


@pytest.fixture
async def raw() -> AsyncIterator[Callable[[Script], Awaitable[RawServer]]]:
    servers: list[RawServer] = []

    async def start(script: Script) -> RawServer:
        server = await RawServer(script).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


def answering(*answers: bytes, close: bool = False) -> Callable[[RawServer], Script]:
    """A script that reads a request and sends the next of `answers`, for each request on the connection."""

    def make(server: RawServer) -> Script:
        async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            for answer in answers:
                await server.read_request(reader)
                writer.write(answer)
                await writer.drain()
                if close:
                    return
            await reader.read()

        return script

    return make


async def serve(raw: Callable[[Script], Awaitable[RawServer]], make: Callable[[RawServer], Script]) -> RawServer:
    holder: list[RawServer] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await make(holder[0])(reader, writer)

    server = await raw(script)
    holder.append(server)
    return server


HEADERS = [("Content-Type", "application/json"), ("User-Agent", "hasura-graphql-engine/v2.48.0")]


async def test_posts_exactly_the_given_headers_and_reuses_one_connection() -> None:
    seen: list[tuple[str, str, list[tuple[str, str]], bytes]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((request.method, request.path_qs, list(request.headers.items()), await request.read()))
        return web.json_response({"n": len(seen)}, headers={"X-Answer": "yes"})

    app = web.Application()
    app.router.add_post("/hook", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    peers: set[Any] = set()
    try:
        async with Http1Client() as client:
            for n in range(1, 51):
                answer = await client.post(f"http://127.0.0.1:{port}/hook?a=b", b'{"id": 1}', HEADERS, limit=MIB)
                assert answer.status == 200 and answer.body == b'{"n": %d}' % n
                assert ("X-Answer", "yes") in answer.headers
                idle = client._idle[("http", "127.0.0.1", port)]
                peers.update(id(c) for c in idle)
    finally:
        await runner.cleanup()
    assert len(peers) == 1  # one keep-alive connection for 50 requests
    method, path, headers, body = seen[0]
    assert (method, path, body) == ("POST", "/hook?a=b", b'{"id": 1}')
    assert headers == [("Host", f"127.0.0.1:{port}"), *HEADERS, ("Content-Length", "9")]


async def test_chunked_read_to_close_and_interim_answers(raw: Any) -> None:
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
    server = await serve(raw, answering(chunked, interim))
    async with Http1Client() as client:
        first = await client.post(server.url, b"{}", HEADERS, limit=MIB)
        second = await client.post(server.url, b"{}", HEADERS, limit=MIB)
    assert (first.status, first.body) == (200, b"hello world")
    assert (second.status, second.body) == (201, b"ok")
    assert server.connections == 1
    to_close = await serve(
        raw, answering(b"HTTP/1.1 500 Oops\r\nContent-Type: text/plain\r\n\r\nall of it", close=True)
    )
    async with Http1Client() as client:
        answer = await client.post(to_close.url, b"{}", HEADERS, limit=MIB)
        assert (answer.status, answer.body) == (500, b"all of it")
        assert not client._idle.get(("http", "127.0.0.1", int(to_close.url.split(":")[2].split("/")[0])))


async def test_compressed_answers_are_inflated_within_the_limit(raw: Any) -> None:
    small = gzip.compress(b'{"ok": true}')
    bomb = gzip.compress(b"0" * (8 * MIB))  # 8 KB on the wire, 8 MiB inflated
    deflated = zlib.compress(b"deflated")
    server = await serve(
        raw,
        answering(
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(small), small),
            b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: %d\r\n\r\n%s" % (len(deflated), deflated),
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(bomb), bomb),
        ),
    )
    async with Http1Client() as client:
        assert (await client.post(server.url, b"{}", HEADERS, limit=MIB)).body == b'{"ok": true}'
        assert (await client.post(server.url, b"{}", HEADERS, limit=MIB)).body == b"deflated"
        with pytest.raises(Http1TooLarge) as caught:
            await client.post(server.url, b"{}", HEADERS, limit=MIB)
        assert caught.value.status == 200 and caught.value.limit == MIB
    # without decompress (the relay), the bytes pass as sent
    server = await serve(
        raw, answering(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(bomb), bomb))
    )
    async with Http1Client() as client:
        answer = await client.post(server.url, b"{}", HEADERS, limit=MIB, decompress=False)
        assert answer.body == bomb


async def test_a_flood_stops_at_the_limit(raw: Any) -> None:
    sent = [0]

    def make(server: RawServer) -> Script:
        async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"x" * 65536
            while sent[0] < 1024 * MIB:  # a gigabyte, never all sent
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent[0] += len(chunk)
                await writer.drain()

        return script

    server = await serve(raw, make)
    declared = await serve(raw, answering(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (1024 * MIB)))
    async with Http1Client() as client:
        with pytest.raises(Http1TooLarge):
            await client.post(server.url, b"{}", HEADERS, limit=MIB)
        with pytest.raises(Http1TooLarge, match="declared 1073741824 bytes"):
            await client.post(declared.url, b"{}", HEADERS, limit=MIB)
    await asyncio.sleep(0.1)
    assert sent[0] < 64 * MIB


async def test_failures_are_one_line_errors_and_never_hang(raw: Any) -> None:
    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    async def half(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
        await writer.drain()

    hanging = await raw(hang)
    cut = await raw(half)
    garbage = await serve(raw, answering(b"SMTP ready\r\n\r\n"))
    async with Http1Client() as client:
        started = time.monotonic()
        with pytest.raises(Http1Timeout, match="response timeout"):
            await client.post(hanging.url, b"{}", HEADERS, limit=MIB, time_limit=0.3)
        assert time.monotonic() - started < 2
        with pytest.raises(Http1ProtocolError, match="closed the connection before a complete answer"):
            await client.post(cut.url, b"{}", HEADERS, limit=MIB, time_limit=5)
        with pytest.raises(Http1ProtocolError, match="malformed HTTP answer"):
            await client.post(garbage.url, b"{}", HEADERS, limit=MIB, time_limit=5)
        with pytest.raises(Http1ConnectError, match=r"cannot connect to 127\.0\.0\.1:1: "):
            await client.post("http://127.0.0.1:1/x", b"{}", HEADERS, limit=MIB, time_limit=5)
        for bad in ("ftp://h/x", "http:///x", "http://h:99999/x", "http://h/a b"):
            with pytest.raises(Http1InvalidURL, match="invalid URL"):
                await client.post(bad, b"{}", HEADERS, limit=MIB)
        with pytest.raises(Http1Error, match="line break"):
            await client.post(hanging.url, b"{}", [("X-A", "1\r\nX-Smuggled: 2")], limit=MIB)


async def test_a_cancelled_request_closes_its_connection(raw: Any) -> None:
    closed = asyncio.Event()

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await reader.read()  # returns when the client closes
        closed.set()

    server = await raw(hang)
    async with Http1Client() as client:
        task = asyncio.create_task(client.post(server.url, b"{}", HEADERS, limit=MIB))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(closed.wait(), 5)
        assert not client._busy


async def test_a_connection_the_server_closed_while_idle_is_not_reused(raw: Any) -> None:
    server = await serve(raw, answering(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", close=True))
    async with Http1Client() as client:
        for _ in range(5):
            assert (await client.post(server.url, b"{}", HEADERS, limit=MIB)).body == b"ok"
            await asyncio.sleep(0.05)  # the server's close arrives while the connection is idle
    assert server.connections == 5


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return key, cert


async def test_https_checks_certificates_unless_told_not_to(certificate: tuple[Path, Path]) -> None:
    import ssl

    key, cert = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="secure")

    app = web.Application()
    app.router.add_post("/hook", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"https://127.0.0.1:{port}/hook"
    try:
        async with Http1Client() as client:
            with pytest.raises(Http1ConnectError, match="TLS certificate not accepted"):
                await client.post(url, b"{}", HEADERS, limit=MIB, time_limit=5)
        async with Http1Client(verify_tls=False) as client:
            assert (await client.post(url, b"{}", HEADERS, limit=MIB, time_limit=5)).body == b"secure"
        trusting = ssl.create_default_context(cafile=str(cert))
        async with Http1Client(verify_tls=trusting) as client:
            assert (await client.post(url, b"{}", HEADERS, limit=MIB, time_limit=5)).body == b"secure"
    finally:
        await runner.cleanup()
