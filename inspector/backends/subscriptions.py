"""Records GraphQL subscriptions over WebSocket (gql), frame by frame, on either subprotocol, with reconnects.

Owns one WebSocket connection at a time carrying every subscription of a capture, through gql's
`WebsocketsTransport` (both `graphql-transport-ws` and Hasura's default legacy `graphql-ws`), the connection headers
sent in `connection_init` as `payload.headers` as Hasura expects, and the recording of every frame received (raw
text, time received) for the capture. A live query's results are recorded as received (their diff to the previous
result is derived when the capture is read: `capture_file.message_diffs`); a stream's batches with their row count,
and the stream's cursor is remembered so that after a dropped connection the subscription is sent again starting
after the last row received: nothing lost, nothing recorded twice.

A frame that is not a protocol message (not JSON, not an object, binary, a result without `data` or `errors`) is
recorded as `malformed` and skipped; gql would fail the whole connection on it, and every later frame would be lost
until the reconnect. Frames are bounded by `backends.http.WEBSOCKET_FRAME` (256 MiB unless configured): a larger one
ends the recording with a `ResponseTooLarge` (a reconnect would only receive it again).

Reconnects wait 1, 2, 4 … `backoff_max` s; the wait goes back to its start after a connection that worked (it
stayed up `STABLE_AFTER` seconds or brought a result), so a drop late in a long capture costs a second, not 30.

gql is subclassed at a few documented-by-code points (`_receive`, `_parse_answer`, `_handle_answer`, `_send_query`)
to see raw frames, to skip malformed ones and to learn the id each operation was sent with; everything else is gql's.
gql's version is bounded in pyproject.toml for this reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import json.scanner
import logging
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import websockets.exceptions
import websockets.headers
import websockets.uri
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportError, TransportProtocolError, TransportQueryError, TransportServerError
from gql.transport.websockets import WebsocketsTransport
from graphql import ExecutionResult

from inspector.backends.errors import (
    AuthenticationFailed,
    BackendError,
    ConnectionFailed,
    ProtocolMismatch,
    RedirectRefused,
)
from inspector.backends.http import WEBSOCKET_FRAME
from inspector.core.graphql_ops import OperationInfo, analyse, frame_error, resume_stream, with_cursor_column
from inspector.core.redaction import redact_url

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = WEBSOCKET_FRAME.default
"""Largest frame accepted by default (websockets' default of 1 MiB would drop a live query over a big table);
`INSPECTOR_MAX_WEBSOCKET_FRAME_BYTES` or the recorder's `max_frame_bytes` change it."""

STABLE_AFTER = 10.0
"""Seconds a connection must stay up (unless it brought a result sooner) for the reconnect backoff to start over."""

_MALFORMED_LOGGED = 3
"""Malformed frames logged to the session log per connection (all are recorded as messages)."""

_SCAN: Any = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]  # (typeshed: the class itself)
"""The stdlib's C JSON scanner with `json.loads`' defaults (see `_parse_frame`)."""


def _parse_frame(raw: str) -> Any:
    """`json.loads(raw)`, without its Python layers (type and BOM checks, two whitespace regexes, `raw_decode`): they
    cost a third as much as parsing a 250-byte frame. Anything unusual (leading or trailing whitespace, not JSON) is
    left to `json.loads`, so what parses and what raises is exactly what `json.loads` gives."""
    try:
        value, end = _SCAN(raw, 0)
    except StopIteration:  # nothing JSON at the start (or whitespace before it): json.loads decides
        return json.loads(raw)
    if end != len(raw):
        return json.loads(raw)  # trailing whitespace (fine) or text after the value (an error)
    return value


@dataclass(frozen=True)
class SubscriptionSpec:
    """A subscription to record."""

    query: str
    variables: Mapping[str, Any] | None = None
    name: str | None = None


class SubscriptionSink(Protocol):
    """Where recorded frames go (the capture writer)."""

    def add_operation(
        self, name: str | None, query: str, variables: Mapping[str, Any] | None, kind: str, protocol: str | None
    ) -> int: ...

    def update_operation(self, operation_id: int, **fields: Any) -> None: ...

    def add_message(
        self,
        operation_id: int | None,
        received_at: float,
        kind: str,
        raw: str,
        data: Any = None,
        diff: Any = None,
        rows: int | None = None,
    ) -> None: ...

    def log(self, level: str, source: str, message: str) -> None: ...


@dataclass
class _Operation:
    spec: SubscriptionSpec
    info: OperationInfo
    operation_id: int = 0
    last_result: Any = None
    has_result: bool = False
    cursor: Any = None
    has_cursor: bool = False
    resynced: bool = True
    done: bool = False
    error: str | None = None
    """The GraphQL errors that ended the operation (its state is then `error`, not `completed`)."""
    query_ids: set[str] = field(default_factory=set)

    def query_now(self) -> str:
        if self.info.kind == "stream" and self.has_cursor:
            return resume_stream(self.spec.query, self.spec.variables, self.cursor)
        return with_cursor_column(self.spec.query, self.spec.variables)


def _close_code(exc: BaseException) -> tuple[int | None, str]:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, websockets.exceptions.ConnectionClosed):
            frame = seen.rcvd
            return (frame.code, frame.reason) if frame is not None else (None, "")
        seen = seen.__cause__ or seen.__context__
    return None, ""


def _sent_close_code(exc: BaseException) -> int | None:
    """The code of the close frame this side sent (1009 when a frame was larger than `max_size`)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, websockets.exceptions.ConnectionClosed):
            return seen.sent.code if seen.sent is not None else None
        seen = seen.__cause__ or seen.__context__
    return None


def classify(exc: BaseException, url: str, max_frame_bytes: int = MAX_FRAME_BYTES) -> BackendError:
    """A gql / websockets failure as one of our errors, with a message a user can act on."""
    if _sent_close_code(exc) == 1009:  # websockets closes with "message too big" past `max_size`
        return WEBSOCKET_FRAME.exceeded(url, max_frame_bytes)
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, BackendError):
            return seen
        if isinstance(seen, websockets.exceptions.InvalidStatus):
            status = seen.response.status_code
            if status in (401, 403):
                return AuthenticationFailed(f"{url} refused the WebSocket connection (HTTP {status}); check the secret")
            return ProtocolMismatch(f"{url} answered HTTP {status} instead of a WebSocket: is it a GraphQL endpoint?")
        if isinstance(seen, websockets.exceptions.NegotiationError | websockets.exceptions.InvalidHandshake):
            return ProtocolMismatch(f"{url}: WebSocket handshake failed ({seen}); try another --subprotocol")
        if isinstance(seen, ssl.SSLError):
            return ConnectionFailed(f"TLS with {url} failed: {seen}")
        if isinstance(seen, ConnectionRefusedError):
            return ConnectionFailed(f"nothing is listening at {url} (connection refused)")
        if isinstance(seen, OSError) and not isinstance(seen, TimeoutError):
            return ConnectionFailed(f"cannot reach {url}: {seen.strerror or seen}")
        seen = seen.__cause__ or seen.__context__
    code, reason = _close_code(exc)
    if code in (4401, 4403):
        return AuthenticationFailed(f"{url} closed the connection: {code} {reason or 'Forbidden'} (check the secret)")
    if code in (4400, 1002, 4406):
        return ProtocolMismatch(f"{url} closed the connection: {code} {reason} (protocol error)")
    if isinstance(exc, TransportServerError):
        text = str(exc)
        if "secret" in text or "access-key" in text or "unauthori" in text.lower() or "access-denied" in text:
            return AuthenticationFailed(f"{url} refused the connection: {text} (check the secret)")
        return ConnectionFailed(f"{url}: {text}")
    if code is not None:
        return ConnectionFailed(f"{url} closed the connection: {code} {reason}".strip())
    if isinstance(exc, TimeoutError):
        return ConnectionFailed(f"{url} did not answer in time")
    return ConnectionFailed(f"connection to {url} failed: {exc or type(exc).__name__}")


class _RecordingTransport(WebsocketsTransport):
    """gql's transport, reporting each frame received and the id each operation is sent with.

    Two shortcuts keep the recording cheap (each frame costs gql about as much again as recording it): the JSON the
    recorder parsed is handed to gql's parser instead of parsing the frame twice, and the results of recorded
    subscriptions are not queued for their consumer, which only waits for `complete` or an error (both still
    queued)."""

    def __init__(self, *args: Any, recorder: SubscriptionRecorder, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._recorder = recorder
        self._parsed: tuple[str, Any, int | None] | None = None
        """The frame `_receive` returned last, parsed, and the gql query id when it is a result of an operation recorded
        here (see `SubscriptionRecorder.on_frame`)."""

    async def _after_connect(self) -> None:
        # websockets follows up to 10 redirects during the handshake (`websockets.asyncio.client.connect`), and
        # `connection_init`, which carries the admin secret in `payload.headers`, would then go to whichever host a
        # redirect named. The handshake request says where the connection ended up: anywhere else than the URL
        # asked for, nothing more is sent (see `backends.http` on why no redirect is followed).
        websocket = getattr(self.adapter, "websocket", None)
        request = getattr(websocket, "request", None)
        if request is not None:
            asked = websockets.uri.parse_uri(self.url)
            host = request.headers.get("Host", "")
            expected = websockets.headers.build_host(asked.host, asked.port, asked.secure)
            if host.lower() != expected.lower() or request.path != asked.resource_name:
                scheme = "wss" if asked.secure else "ws"
                target = redact_url(f"{scheme}://{host}{request.path}")
                error = RedirectRefused(
                    f"{redact_url(self.url)} redirects to {target}; not followed, as the connection carries the "
                    "admin secret: if that is the server, point --endpoint at it",
                    target,
                )
                await self._fail(error, clean_close=False)
                raise error
        await super()._after_connect()  # type: ignore[no-untyped-call]

    async def _receive(self) -> str:
        while True:
            self._parsed = None
            try:
                answer = await super()._receive()
            except TransportProtocolError as exc:
                # gql's adapter raises this for a binary frame only (a closed connection is TransportConnectionFailed):
                # one odd frame is no reason to lose the connection and the frames after it.
                self._recorder.on_malformed("<binary frame>", time.time(), str(exc))
                continue
            except TransportError as exc:
                code, reason = _close_code(exc)
                if code is not None:
                    self._recorder.on_frame(json.dumps({"type": "close", "code": code, "reason": reason}), time.time())
                raise
            self._parsed = (answer, *self._recorder.on_frame(answer, time.time()))
            return answer

    def _parse_answer(self, answer: str) -> tuple[str, int | None, ExecutionResult | None]:
        parsed, self._parsed = self._parsed, None
        try:
            if parsed is None or parsed[0] is not answer:
                return super()._parse_answer(answer)  # not the frame just recorded: gql's own path
            if parsed[2] is not None:
                # A result of a recorded operation, checked and recorded by `on_frame`: its consumer discards it
                # (`_handle_answer`), so gql need not build its `ExecutionResult`.
                return "data", parsed[2], None
            if not isinstance(parsed[1], dict):
                # not JSON, or not an object (gql's parser would fail on a list with an AttributeError that ends
                # its receiving task and leaves the connection hanging)
                self._recorder.on_unreadable("not a JSON object")
                return "malformed", None, None
            if self.subprotocol == self.GRAPHQLWS_SUBPROTOCOL:
                return self._parse_answer_graphqlws(parsed[1])
            return self._parse_answer_apollo(parsed[1])
        except TransportProtocolError as exc:
            # gql would fail the connection (`_receive_data_loop`); the frame is recorded already (as `malformed`
            # when it is not a result), so skip it. Before `connection_ack` gql still refuses anything else.
            self._recorder.on_unreadable(str(exc))
            return "malformed", None, None

    async def _handle_answer(
        self, answer_type: str, answer_id: int | None, execution_result: ExecutionResult | None
    ) -> None:
        if answer_type == "data" and self._recorder.records(answer_id):
            return  # recorded already; its consumer discards results
        await super()._handle_answer(answer_type, answer_id, execution_result)

    async def _send_query(self, request: GraphQLRequest) -> int:
        query_id = await super()._send_query(request)
        self._recorder.on_sent(request, query_id)
        return query_id


class SubscriptionRecorder:
    """Runs the given subscriptions on one connection until stopped, reconnecting with backoff after a drop."""

    def __init__(
        self,
        url: str,
        init_payload: Mapping[str, Any],
        subprotocols: list[str] | None,
        specs: list[SubscriptionSpec],
        sink: SubscriptionSink,
        verify_tls: bool = True,
        backoff_max: float = 30.0,
        backoff_start: float = 1.0,
        stable_after: float = STABLE_AFTER,
        max_frame_bytes: int | None = None,
    ) -> None:
        self.url = url
        self.init_payload = dict(init_payload)
        self.subprotocols = subprotocols
        self.sink = sink
        self.verify_tls = verify_tls
        self.backoff_max = backoff_max
        self.protocol: str | None = None
        self.state = "idle"
        self.reconnects = 0
        self._ops = [_Operation(spec, analyse(spec.query, spec.variables)) for spec in specs]
        for op in self._ops:
            if op.info.kind == "mutation":
                raise ValueError("a capture records subscriptions and queries, not mutations")
        self._by_query_id: dict[str, _Operation] = {}
        self._connected_once = False
        self._sent_queue: list[tuple[str, _Operation]] = []
        self.max_frame_bytes = WEBSOCKET_FRAME.resolve(max_frame_bytes)
        self.backoff_start = backoff_start
        self.stable_after = stable_after
        self._connected_at: float | None = None
        """`time.monotonic()` when the current connection was acknowledged; None while not connected."""
        self._results_this_connection = 0
        self._malformed_this_connection = 0

    # --- frames ----------------------------------------------------------------------------------------------------

    def on_sent(self, request: GraphQLRequest, query_id: int) -> None:
        query = request.payload.get("query")
        for i, (text, op) in enumerate(self._sent_queue):
            if text == query:
                del self._sent_queue[i]
                self._by_query_id[str(query_id)] = op
                return

    def records(self, query_id: int | None) -> bool:
        """Whether results sent with this gql query id belong to an operation recorded here."""
        return query_id is not None and str(query_id) in self._by_query_id

    def on_malformed(self, raw: str, received_at: float, why: str) -> None:
        """A frame that could not even be read as text (binary): recorded as `malformed`, then skipped."""
        self.sink.add_message(None, received_at, "malformed", raw)
        self.on_unreadable(why)

    def on_unreadable(self, why: str) -> None:
        """gql could not read the frame just recorded; it is skipped and the connection goes on."""
        self._malformed_this_connection += 1
        if self._malformed_this_connection <= _MALFORMED_LOGGED:
            more = (
                " (further ones on this connection are recorded, not logged)"
                if (self._malformed_this_connection == _MALFORMED_LOGGED)
                else ""
            )
            self.sink.log("warning", "subscriptions", f"skipped a malformed frame: {why[:200]}{more}")

    def on_frame(self, raw: str, received_at: float) -> tuple[Any, int | None]:
        """Record one frame received; returns it parsed (None if it is not JSON) and, when it is a result (`next` or
        `data` with `data` or `errors`) of an operation recorded here, the gql query id it came with (else None)."""
        try:
            message = _parse_frame(raw)
            kind = str(message.get("type")) if isinstance(message, dict) else "malformed"
        except ValueError:
            message, kind = None, "malformed"
        if kind in ("next", "data"):
            payload = message.get("payload")
            if not isinstance(payload, dict) or ("data" not in payload and "errors" not in payload):
                kind = "malformed"  # not a result (gql skips it, see `_parse_answer`): not recorded as one either
            else:
                self._results_this_connection += 1
        op = self._by_query_id.get(str(message.get("id"))) if isinstance(message, dict) else None
        if op is None or kind == "malformed":
            self.sink.add_message(op.operation_id if op is not None else None, received_at, kind, raw)
            return message, None
        if kind not in ("next", "data"):
            self.sink.add_message(op.operation_id, received_at, kind, raw)
            if kind in ("complete", "error"):
                op.done = True
            if kind == "error":
                op.error = op.error or frame_error(message)
            return message, None
        payload = message["payload"]  # a dict with `data` or `errors`: checked above
        if op.error is None and "errors" in payload:
            op.error = frame_error(message)  # a result of errors alone (Apollo protocol): the operation failed
        data = payload.get("data")
        query_id = int(message["id"])  # equal, as a string, to the gql query id it was looked up by
        if op.info.kind == "stream" and isinstance(data, dict):
            rows = data.get(op.info.response_key or "") or []
            if rows and isinstance(rows[-1], dict) and op.info.cursor_column in rows[-1]:
                op.cursor = rows[-1][op.info.cursor_column]
                op.has_cursor = True
            self.sink.add_message(op.operation_id, received_at, kind, raw, data, None, len(rows))
            return message, query_id
        if op.has_result and not op.resynced and data == op.last_result:
            # the first result after a reconnect, identical to the last one recorded: not a new message
            op.resynced = True
            return message, query_id
        op.resynced = True
        op.last_result, op.has_result = data, True
        # The diff from the previous result is derived when read (`capture_file.message_diffs`), not here: it cost
        # more than receiving the frame.
        self.sink.add_message(op.operation_id, received_at, kind, raw, data=data)
        return message, query_id

    # --- running ---------------------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Record until `stop` is set or every operation completed. The first connection's failure is raised;
        later drops are retried with backoff (1, 2, 4 … `backoff_max` s); authentication and protocol failures are
        raised at any time."""
        for op in self._ops:
            op.operation_id = self.sink.add_operation(
                op.spec.name or op.info.name, op.spec.query, op.spec.variables, op.info.kind, None
            )
        self._connected_once = False
        delay = self.backoff_start
        try:
            while not stop.is_set() and not all(op.done for op in self._ops):
                try:
                    await self._connection(stop)
                    delay = self.backoff_start
                except BackendError as error:
                    if not self._connected_once or not isinstance(error, ConnectionFailed):
                        raise
                    if self._worked():
                        delay = self.backoff_start  # the drop ends a good connection: not one more failed attempt
                    self._connected_at = None
                    self.state = "reconnecting"
                    self.reconnects += 1
                    self.sink.log("warning", "subscriptions", f"{error}; reconnecting in {delay:g} s")
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=delay)
                    delay = min(delay * 2, self.backoff_max)
        finally:
            self.state = "stopped"
            for op in self._ops:
                self.sink.update_operation(
                    op.operation_id,
                    state="error" if op.error else ("completed" if op.done else "stopped"),
                    ended_at=time.time(),
                    cursor=op.cursor if op.has_cursor else None,
                )

    def _worked(self) -> bool:
        """Whether the connection that just ended worked: it brought a result, or stayed up `stable_after` s."""
        if self._connected_at is None:
            return False
        return self._results_this_connection > 0 or time.monotonic() - self._connected_at >= self.stable_after

    async def _connection(self, stop: asyncio.Event) -> None:
        kwargs: dict[str, Any] = {}
        if self.subprotocols:
            kwargs["subprotocols"] = self.subprotocols
        if self.url.startswith("wss") and not self.verify_tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            kwargs["ssl"] = context
        transport = _RecordingTransport(
            url=self.url,
            init_payload=self.init_payload,
            recorder=self,
            connect_timeout=10,
            ack_timeout=10,
            connect_args={"max_size": self.max_frame_bytes},
            **kwargs,
        )
        self._by_query_id.clear()
        self._sent_queue.clear()
        self._connected_at = None
        self._results_this_connection = 0
        self._malformed_this_connection = 0
        self.state = "connecting"
        try:
            async with Client(transport=transport, fetch_schema_from_transport=False) as session:
                self.protocol = transport.subprotocol
                self.state = "capturing"
                self._connected_once = True
                self._connected_at = time.monotonic()
                self.sink.log("info", "subscriptions", f"connected to {self.url} ({self.protocol})")
                for op in self._ops:
                    op.resynced = not op.has_result
                    self.sink.update_operation(op.operation_id, protocol=self.protocol, state="running")
                tasks = [asyncio.create_task(self._consume(session, op)) for op in self._ops if not op.done]
                stopper = asyncio.create_task(stop.wait())
                try:
                    pending: set[asyncio.Task[Any]] = {*tasks, stopper}
                    while tasks and not stop.is_set():
                        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                        for task in done:
                            if task is not stopper and task.exception() is not None:
                                raise task.exception()  # type: ignore[misc]
                        tasks = [t for t in tasks if not t.done()]
                finally:
                    for task in [*tasks, stopper]:
                        task.cancel()
                    await asyncio.gather(*tasks, stopper, return_exceptions=True)
        except BackendError:
            raise
        except (TransportError, OSError, TimeoutError, websockets.exceptions.WebSocketException) as exc:
            raise classify(exc, self.url, self.max_frame_bytes) from exc

    async def _consume(self, session: Any, op: _Operation) -> None:
        request = GraphQLRequest(op.query_now(), variable_values=dict(op.spec.variables or {}) or None)
        self._sent_queue.append((request.payload["query"], op))
        try:
            async for _result in session.subscribe(request):
                pass
        except TransportQueryError as exc:
            # the server refused or failed this operation (an `error` frame, already recorded): it is over
            op.done = True
            op.error = op.error or str(exc)
            self.sink.update_operation(op.operation_id, state="error")  # now, not when the connection ends
            self.sink.log("error", "subscriptions", f"{op.spec.name or 'subscription'} failed: {op.error}")
            return
        op.done = True
