"""A lean HTTP/1.1 client for the two hot paths that post to handlers: replay's webhook sender and the relay's forward.

Why by hand: at replay's and the relay's rates (thousands of deliveries a second on one core) aiohttp's client costs
about 100 µs of CPU a request in its own Python machinery (the request and response objects, the URL, the header
multidicts, timers, tracing hooks, the stream reader), which is most of what replay and the relay spend beyond the
handler itself (BENCHMARKS.md, "Replay" and "Relay"). What these paths need is small: POST a body to a URL over a
pooled keep-alive connection and read one answer within a size and time limit. Parsing answers, the part that is
easy to get wrong (chunked bodies, framing, malformed status lines), is left to `httptools` (the C parser behind
uvicorn, llhttp); this module only writes requests, pools connections and applies the limits. Everything that
talks to a *backend* (the metadata API, GraphQL; with redirects refused and credentials) stays on aiohttp in
`backends.http`.

What it does and does not do:
- one request at a time per connection, connections kept alive and reused per origin (scheme, host, port), most
  recently used first; a connection the server closed while idle is dropped from the pool when its close arrives;
- `Host` and `Content-Length` are set from the URL and the body; every other header is sent exactly as given (the
  caller adds `Accept` and the like when it wants them); a header name or value with a line break is refused (it
  would smuggle a header or a second request);
- redirects are never followed: a 3xx is an answer like any other;
- the answer's body is bounded by `limit` bytes: a declared `Content-Length` above it is refused before reading,
  and any body (chunked, read to the close, or inflated) is abandoned as soon as it passes the limit, the
  connection closed, so a handler streaming gigabytes costs nothing; with `decompress`, `gzip` and `deflate` bodies
  are inflated, the limit counting inflated bytes; without it the body is returned as sent, with its
  `Content-Encoding` (what a relay passes on);
- `time_limit` bounds the whole request (connecting, sending, the whole answer); past it, or when the awaiting task
  is cancelled, the connection is aborted, so a handler that never answers holds nothing;
- no proxies, no cookies, no HTTP/2, no `Expect: 100-continue`; `https` with the given TLS setting.

Used by `backends.webhook_sender` (replay) and `services.relay.server` (the relay's forward).
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import zlib
from collections.abc import Iterable
from typing import NamedTuple, cast
from urllib.parse import unquote, urlsplit

import httptools

from inspector.backends.errors import BackendError


class Http1Error(BackendError):
    """A request that got no (complete) answer."""


class Http1InvalidURL(Http1Error):
    """The URL cannot be requested (not http(s), no host, a bad port, a line break)."""


class Http1ConnectError(Http1Error):
    """Nothing could be connected to (refused, no route, unknown host, TLS handshake refused)."""

    def __init__(self, host: str, port: int, reason: str) -> None:
        super().__init__(f"cannot connect to {host}:{port}: {reason}")
        self.host, self.port, self.reason = host, port, reason


class Http1Timeout(Http1Error):
    """No complete answer within the time limit."""


class Http1TooLarge(Http1Error):
    """The server answered (`status`), with a body over `limit` bytes; the rest was not read."""

    def __init__(self, status: int, limit: int, size: int | None) -> None:
        said = f" (it declared {size} bytes)" if size is not None else ""
        super().__init__(f"answer larger than {limit} bytes{said}")
        self.status, self.limit = status, limit


class Http1ProtocolError(Http1Error):
    """The server closed the connection before a complete answer, or sent something that is not HTTP/1.x."""


class Http1Answer(NamedTuple):
    """A complete answer, whatever its status. (A named tuple: one is made per request, at replay's rate.)"""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


class _Target(NamedTuple):
    origin: tuple[str, str, int]
    """(scheme, host, port): the pool's key."""
    head: bytes
    """`POST <path> HTTP/1.1\\r\\nHost: ...\\r\\n` (and `Authorization` for a URL with a user), encoded once."""
    tls: bool
    has_auth: bool


_DEFAULT_PORTS = {"http": 80, "https": 443}
_BREAKS = ("\r", "\n", "\0")


def parse_target(url: str) -> _Target:
    """The parts of `url` a request needs; `Http1InvalidURL` when it cannot be requested."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Http1InvalidURL(f"invalid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise Http1InvalidURL(f"invalid URL: not http(s): {scheme or 'no scheme'}")
    host = parts.hostname
    if not host:
        raise Http1InvalidURL("invalid URL: no host")
    if any(c in url for c in _BREAKS) or " " in url:
        raise Http1InvalidURL("invalid URL: it contains a space or a line break")
    port = port or _DEFAULT_PORTS[scheme]
    shown_host = f"[{host}]" if ":" in host else host
    host_header = shown_host if port == _DEFAULT_PORTS[scheme] else f"{shown_host}:{port}"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    head = f"POST {path} HTTP/1.1\r\nHost: {host_header}\r\n"
    has_auth = parts.username is not None
    if has_auth:  # as aiohttp and curl do for http://user:password@host/
        token = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}".encode()
        head += f"Authorization: Basic {base64.b64encode(token).decode()}\r\n"
    return _Target((scheme, host, port), head.encode("utf-8", "surrogateescape"), scheme == "https", has_auth)


def encode_headers(headers: Iterable[tuple[str, str]]) -> bytes:
    """`Name: value\\r\\n` lines; `Http1InvalidURL`'s sibling `Http1Error` for a line break in a name or value."""
    lines = []
    for name, value in headers:
        if "\n" in value or "\r" in value or "\n" in name or "\r" in name or ":" in name:
            raise Http1Error(f"header {name!r} holds a line break or a colon: not sent")
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines).encode("utf-8", "surrogateescape")


class _Connection(asyncio.Protocol):
    """One keep-alive connection: at most one request in flight; the answer parsed by httptools' callbacks."""

    def __init__(self, client: Http1Client, origin: tuple[str, str, int]) -> None:
        self.client = client
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[Http1Answer] | None = None
        self.closed = False
        self.reusable = False
        self.limit = 0
        self.decompress = False
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.chunks: list[bytes] = []
        self.size = 0
        self.framed = False
        """The answer declares its end (Content-Length or chunked); else it ends with the connection."""
        self.inflater: zlib._Decompress | None = None
        self.headers_done = False

    # --- asyncio.Protocol -----------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a stream transport (uvloop's is not a subclass)

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():
            self._abort()  # bytes nobody asked for: the connection cannot be trusted with the next request
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(Http1ProtocolError("the server switched protocols"))
        except httptools.HttpParserError as exc:
            # A callback's own error (the size limit, a corrupt compressed body) comes wrapped: pass it on as it is.
            cause = exc.__context__
            self._fail(cause if isinstance(cause, Http1Error) else Http1ProtocolError(f"malformed HTTP answer: {exc}"))

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.client._forget(self)
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self.headers_done and not self.framed:  # a body read until the close is complete now
            try:
                self._complete()
            except Http1Error as error:
                self._fail(error)
            return
        reason = f": {exc}" if exc else ""
        self._fail(Http1ProtocolError(f"the server closed the connection before a complete answer{reason}"))

    # --- httptools callbacks ----------------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.waiter is None or self.waiter.done():
            raise Http1ProtocolError("the server sent more than one answer")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape")))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.headers_done = True
        declared: int | None = None
        for name, value in self.headers:
            lowered = name.lower()
            if lowered == "content-length":
                self.framed = True
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
            elif lowered == "transfer-encoding":
                self.framed = self.framed or "chunked" in value.lower()
            elif lowered == "content-encoding" and self.decompress:
                encoding = value.strip().lower()
                if encoding in ("gzip", "x-gzip"):
                    self.inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                elif encoding == "deflate":
                    self.inflater = zlib.decompressobj(zlib.MAX_WBITS)
        if self.status in (204, 304) or 100 <= self.status < 200:
            self.framed = True
        if declared is not None and declared > self.limit and self.inflater is None:
            raise Http1TooLarge(self.status, self.limit, declared)

    def on_body(self, body: bytes) -> None:
        if self.inflater is not None:
            try:
                body = self.inflater.decompress(body, self.limit - self.size + 1)
            except zlib.error as exc:
                raise Http1ProtocolError(f"the answer's compressed body is corrupt: {exc}") from None
            if self.inflater.unconsumed_tail:  # more than the limit inflated from this chunk
                raise Http1TooLarge(self.status, self.limit, None)
        self.size += len(body)
        if self.size > self.limit:
            raise Http1TooLarge(self.status, self.limit, None)
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self.status < 200 and self.status != 101:  # an interim answer: the real one follows
            self.headers, self.headers_done, self.framed, self.status = [], False, False, 0
            return
        self.reusable = self.parser.should_keep_alive()
        self._complete()

    # --- the request --------------------------------------------------------------------------------------------

    def begin(self, waiter: asyncio.Future[Http1Answer], limit: int, decompress: bool) -> None:
        self.waiter = waiter
        self.limit, self.decompress = limit, decompress
        self.status, self.size, self.framed, self.headers_done, self.reusable = 0, 0, False, False, False
        self.headers, self.chunks, self.inflater = [], [], None

    def _complete(self) -> None:
        if self.inflater is not None:
            tail = self.inflater.flush()
            self.size += len(tail)
            if self.size > self.limit:
                raise Http1TooLarge(self.status, self.limit, None)
            self.chunks.append(tail)
        body = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(Http1Answer(self.status, self.headers, body))

    def _fail(self, exc: Exception) -> None:
        self.reusable = False
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self._abort()

    def _abort(self) -> None:
        self.reusable = False
        self.chunks = []
        if self.transport is not None and not self.closed:
            self.transport.abort()


class Http1Client:
    """POSTs over pooled keep-alive connections. Use `async with Http1Client(...) as client`, or `close()`.

    `verify_tls`: True checks certificates as the system does, False does not, an `ssl.SSLContext` is used as is.
    `max_idle`: idle connections kept per origin (more are closed after their answer)."""

    def __init__(self, verify_tls: bool | ssl.SSLContext = True, max_idle: int = 100) -> None:
        self._tls = verify_tls
        self._context: ssl.SSLContext | None = verify_tls if isinstance(verify_tls, ssl.SSLContext) else None
        self.max_idle = max(1, max_idle)
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._busy: set[_Connection] = set()
        self._targets: dict[str, _Target] = {}

    async def __aenter__(self) -> Http1Client:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every connection, idle or busy (a request in flight fails)."""
        connections = [c for idle in self._idle.values() for c in idle] + list(self._busy)
        self._idle.clear()
        self._busy.clear()
        for connection in connections:
            connection._fail(Http1ProtocolError("the client was closed"))
        if connections:
            await asyncio.sleep(0)  # let the transports' closes run

    def target(self, url: str) -> _Target:
        """`url` parsed once and kept (a replay or a relay posts to a handful of URLs)."""
        target = self._targets.get(url)
        if target is None:
            if len(self._targets) >= 1024:
                self._targets.clear()
            target = self._targets[url] = parse_target(url)
        return target

    def _context_for_tls(self) -> ssl.SSLContext:
        if self._context is None:
            context = ssl.create_default_context()
            if self._tls is False:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._context = context
        return self._context

    def _forget(self, connection: _Connection) -> None:
        self._busy.discard(connection)
        idle = self._idle.get(connection.origin)
        if idle and connection in idle:
            idle.remove(connection)

    async def _connect(self, target: _Target) -> _Connection:
        _scheme, host, port = target.origin
        loop = asyncio.get_running_loop()
        try:
            _transport, connection = await loop.create_connection(
                lambda: _Connection(self, target.origin),
                host,
                port,
                ssl=self._context_for_tls() if target.tls else None,
                server_hostname=host if target.tls else None,
            )
        except ssl.SSLCertVerificationError as exc:
            raise Http1ConnectError(host, port, f"TLS certificate not accepted: {exc.verify_message}") from exc
        except OSError as exc:
            raise Http1ConnectError(host, port, exc.strerror or str(exc) or type(exc).__name__) from exc
        return connection

    async def post(
        self,
        url: str,
        body: bytes,
        headers: Iterable[tuple[str, str]],
        *,
        limit: int,
        time_limit: float | None = None,
        decompress: bool = True,
    ) -> Http1Answer:
        """POST `body` to `url` with `headers` (plus `Host` and `Content-Length`); the answer of any status, read
        within `limit` bytes. Raises `Http1InvalidURL`, `Http1ConnectError`, `Http1Timeout`, `Http1TooLarge` or
        `Http1ProtocolError` (all `Http1Error`)."""
        target = self.target(url)
        # One buffer, one send: a second `write` for the body costs a second system call (about 13 µs here).
        request = b"".join((target.head, encode_headers(headers), b"Content-Length: %d\r\n\r\n" % len(body), body))
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Http1Answer] = loop.create_future()
        timer = loop.call_later(time_limit, _expire, waiter) if time_limit is not None else None
        connection: _Connection | None = None
        try:
            idle = self._idle.get(target.origin)
            while idle:
                candidate = idle.pop()
                if not candidate.closed and candidate.transport is not None and not candidate.transport.is_closing():
                    connection = candidate
                    break
            if connection is None:
                connecting = asyncio.ensure_future(self._connect(target))
                try:
                    await asyncio.wait((connecting, waiter), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    if not connecting.done():
                        connecting.cancel()
                        await asyncio.wait((connecting,))
                if waiter.done():  # the time limit passed while connecting
                    if connecting.done() and not connecting.cancelled() and connecting.exception() is None:
                        connecting.result()._abort()
                    return waiter.result()
                connection = connecting.result()
            self._busy.add(connection)
            connection.begin(waiter, limit, decompress)
            assert connection.transport is not None
            connection.transport.write(request)
            return await waiter
        except BaseException:
            if connection is not None:
                connection._fail(Http1ProtocolError("abandoned"))
            raise
        finally:
            if timer is not None:
                timer.cancel()
            if connection is not None:
                self._busy.discard(connection)
                connection.waiter = None
                if connection.reusable and not connection.closed:
                    idle = self._idle.setdefault(target.origin, [])
                    if len(idle) < self.max_idle:
                        idle.append(connection)
                    else:
                        connection._abort()
                elif not connection.closed:
                    connection._abort()


def _expire(waiter: asyncio.Future[Http1Answer]) -> None:
    if not waiter.done():
        waiter.set_exception(Http1Timeout("response timeout"))
