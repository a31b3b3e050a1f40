"""The relay's HTTP/1.1 listener: receives the engine's deliveries and writes the relay's answers.

Why by hand: the relay does per delivery what the engine and the handler do together (receive a request, make one),
so its HTTP costs bound its throughput. aiohttp's server spent about as much CPU per request as the whole no-op
handler (its request object, multidicts, router, stream reader, response object, access-log hooks); the relay needs
only this: read one POST (its method, path, headers and body, bounded), hand it to the relay and write the answer
it gives, over keep-alive connections. Parsing requests, the part that is easy to get wrong (framing, chunked
bodies, malformed lines), is httptools' (llhttp, as in uvicorn); this module keeps the connection's state.

Behaviour:
- requests on one connection are answered in order, one at a time (a pipelined request waits its turn);
- a body over `max_body_bytes` (declared or counted) is answered `413` and the connection closed; a request that is
  not HTTP/1.x is answered `400` and closed; `Expect: 100-continue` gets its interim answer;
- the answer carries the given headers plus `Content-Length` (and `Connection: close` when the request asked for it
  or was HTTP/1.0); hop-by-hop headers are the caller's to leave out;
- when the engine hangs up, the request's handler task is cancelled (what aiohttp's `handler_cancellation` did), so
  a held or forwarded delivery stops holding anything; a handler answering `None` hangs up on the engine (closes
  the connection without an answer: what the engine sees when a handler cannot be reached);
- `stop()` closes the listening socket and every connection, cancelling what they were doing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import cast
from urllib.parse import unquote

import httptools

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Request:
    """One request as received."""

    method: str
    path: str
    """Percent-decoded, without the query string."""
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(slots=True)
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


Handler = Callable[[Request], Awaitable[Reply | None]]
"""Answers a request; `None` hangs up on the client without an answer."""

_REASONS = {status.value: status.phrase for status in HTTPStatus}


def _status_line(status: int) -> bytes:
    return f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\n".encode()


class _TooLarge(Exception):
    pass


class _Connection(asyncio.Protocol):
    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.headers: list[tuple[str, str]] = []
        self.chunks: list[bytes] = []
        self.size = 0
        self.queue: deque[tuple[Request, bool]] = deque()
        self.task: asyncio.Task[None] | None = None
        self.closing = False

    # --- asyncio.Protocol -----------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a stream transport (uvloop's is not a subclass)
        self.listener._connections.add(self)

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(400, b'{"error": "protocol upgrades are not relayed"}')
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _TooLarge):
                self._refuse(413, b'{"error": "the delivery body is larger than the relay accepts"}')
            else:
                self._refuse(400, b'{"error": "malformed HTTP request"}')

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.listener._connections.discard(self)
        self.queue.clear()
        if self.task is not None and not self.task.done():
            self.task.cancel()  # the engine hung up: what it was waiting for stops

    # --- httptools callbacks ----------------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.url, self.headers, self.chunks, self.size = b"", [], [], 0

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape")))

    def on_headers_complete(self) -> None:
        limit = self.listener.max_body_bytes
        for name, value in self.headers:
            lowered = name.lower()
            if lowered == "content-length" and value.strip().isdigit() and int(value) > limit:
                raise _TooLarge
            if lowered == "expect" and value.strip().lower() == "100-continue" and self.transport is not None:
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size > self.listener.max_body_bytes:
            raise _TooLarge
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        raw_path = self.url.split(b"?", 1)[0].decode("utf-8", "surrogateescape")
        body = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
        method = self.parser.get_method().decode("ascii", "replace")
        request = Request(method, unquote(raw_path), self.headers, body)
        self.queue.append((request, self.parser.should_keep_alive()))
        if self.task is None:
            self.task = asyncio.ensure_future(self._answer())

    # --- answering ----------------------------------------------------------------------------------------------

    async def _answer(self) -> None:
        try:
            while self.queue and not self.closing:
                request, keep_alive = self.queue.popleft()
                try:
                    reply = await self.listener.handler(request)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("relay: answering %s %s failed", request.method, request.path)
                    reply = Reply(500, [("Content-Type", "application/json")], b'{"error": "the relay failed"}')
                if reply is None:
                    self._hang_up()
                    return
                self._write(reply, keep_alive)
                if not keep_alive:
                    self._close()
                    return
        finally:
            self.task = None

    def _write(self, reply: Reply, keep_alive: bool) -> None:
        if self.transport is None or self.closing:
            return
        head = [f"{name}: {value}\r\n" for name, value in reply.headers]
        head.append(f"Content-Length: {len(reply.body)}\r\n")
        if not keep_alive:
            head.append("Connection: close\r\n")
        head.append("\r\n")
        # One buffer, one send (a second `write` would be a second system call).
        self.transport.write(
            b"".join((_status_line(reply.status), "".join(head).encode("utf-8", "surrogateescape"), reply.body))
        )

    def _refuse(self, status: int, body: bytes) -> None:
        self._write(Reply(status, [("Content-Type", "application/json")], body), keep_alive=False)
        self._close()

    def _close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    def _hang_up(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.abort()


class Listener:
    """Listens on `host:port` (0: a free port, in `port` once started) and answers each request with `handler`."""

    def __init__(self, handler: Handler, max_body_bytes: int) -> None:
        self.handler = handler
        self.max_body_bytes = max_body_bytes
        self.port = 0
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()

    async def start(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), host, port)
        sockets = self._server.sockets or ()
        self.port = int(sockets[0].getsockname()[1]) if sockets else port
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = []
        for connection in list(self._connections):
            if connection.task is not None:
                connection.task.cancel()
                tasks.append(connection.task)
            connection._hang_up()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            self._server = None
