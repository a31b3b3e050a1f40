"""GraphQL over WebSocket on `/v1/graphql`, both sub-protocols, as Hasura GraphQL Engine v2 speaks them.

Owns everything between the WebSocket upgrade and `GraphQLEngine`: sub-protocol negotiation, the connection state
machine (`connection_init` → authentication → `connection_ack`), keep-alives, the client → server message parser, one
asyncio task per subscription, and every close code and error frame. It owns no GraphQL semantics: `engine.prepare`,
`Operation.execute` and `Operation.results` do that. Entry point: `handle_graphql_websocket` (the server routes
`GET /v1/graphql` with `Upgrade: websocket` to it).

Hasura facts followed (in `server/src-lib/Hasura/GraphQL/Transport/` of hasura/graphql-engine: `WebSocket.hs`,
`WebSocket/Protocol.hs`, `WebSocket/Server.hs`, `WSServerApp.hs`):
- Sub-protocol: `graphql-transport-ws` only when the client offers it and does not also offer `graphql-ws`; anything
  else (including no header, `graphql-ws` alone, or both) gets the legacy Apollo protocol `graphql-ws`. Hasura looks
  at the raw value of a single `Sec-WebSocket-Protocol` header and picks `graphql-transport-ws` only when that value
  is exactly `graphql-transport-ws`; gql and `websockets` send one header `graphql-ws, graphql-transport-ws` by
  default, which is therefore Apollo on Hasura and here. Deliberate difference: an offer such as
  `graphql-transport-ws, foo` (no `graphql-ws`) is graphql-transport-ws here, Apollo on Hasura. The chosen protocol is
  always echoed, offered or not (`mkAcceptRequest`: `WS.acceptSubprotocol = Just ... subProtocol`, in
  `server/src-lib/Hasura/GraphQL/Transport/WebSocket.hs`).
- Close reasons of error closes are JSON, `{"server_error_msg":"<code>: <message>"}` (`encodeServerErrorMsg` in
  `server/src-lib/Hasura/GraphQL/Transport/WebSocket/Protocol.hs`); 1000, 1011 and 1012 closes keep plain text.
- The message parser accepts the union of both protocols' client messages for either protocol, as Hasura's
  `instance FromJSON ClientMsg` does: `subscribe` = `start`, `complete` = `stop`, `ping`, `pong`,
  `connection_terminate`. Field types are checked like Hasura's aeson instances: `id` must be a string, `payload` of
  `connection_init` an object whose optional `headers` maps strings to strings, a subscribe payload an object with a
  string `query`. Parse-error details imitate aeson's wording (`Error in $: key "type" not found`); exact aeson text
  is not reproduced for invalid JSON, where Python's decoder message follows `Error in $: `.
- Authentication: `connection_init.payload.headers` merged over the upgrade request's headers (payload wins, keys
  case-insensitive; `Sec-WebSocket-Key`, `Sec-WebSocket-Version`, `Upgrade`, `Connection` dropped as Hasura does).
- After `connection_ack` a keep-alive is sent at once (`ka` / `ping {"message":"keepalive"}`, as Hasura's
  `onConnInit` does for both protocols) and then every `keepalive_seconds`. Hasura also runs its keep-alive loop from
  the moment the socket is accepted (before `connection_init`); here nothing is sent before the ack, because gql's
  graphql-transport-ws client treats a `ping` before the ack as a protocol error.
- `error` payloads: graphql-transport-ws a list of errors, Apollo `{"errors": [...]}` (Hasura's `fmtErrorMessage`).
  Errors from `prepare` are followed by `complete` (Hasura's `withComplete`). A query or mutation that fails as a
  whole (`{"errors": [...]}` without `data`) is `error` on graphql-transport-ws and `data` with `{"errors": [...]}` on
  Apollo (Hasura's `mkPostExecErrMessageAction`), followed by `complete`. Subscription payloads, errors included,
  are always `next` / `data` (Hasura's `onChange`).
- Apollo: a malformed frame gets `connection_error` `parsing ClientMessage failed: <detail>` and the connection stays
  open; a `start` whose id is already running gets `error` with a single error object (code `start-failed`, message
  `an operation already exists with this id: <id>`) and `complete`, and the running one continues (Hasura's
  `sendStartErr`); a second `connection_init` authenticates again and acks again; `connection_terminate` closes
  with 1000 `GQL_CONNECTION_TERMINATE received` (any protocol).
- Frames are compact JSON with keys in Hasura's order (`type`, `id`, `payload`).
- Shutdown: `close_graphql_websockets` (for `app.on_shutdown`) closes every socket with 1012 `shutting server down`
  (Hasura's `forceConnReconnect`) and stops its subscriptions.

Where this module follows the project's specification rather than Hasura's source (Hasura's actual behaviour in
brackets; see the report that came with this module):
- graphql-transport-ws closes 4401 `Unauthorized`, 4409 `Subscriber for <id> already exists` and 4429
  `Too many initialisation requests` as the graphql-ws spec says. [Hasura never sends 4401, 4409 or 4429: `subscribe`
  before init and a duplicate id get an `error` frame and a close with code 1000 and a 4400 reason, a second init
  re-authenticates; its 4408 check runs once right after the accept, so in practice it never fires.]
- Apollo `connection_init` that fails authentication: `connection_error` `<message>`, then close 4400
  `{"server_error_msg":"4400: Connection initialization failed: <message>"}`, as newer Hasura does
  (`mkWSServerErrorCode ... ConnInitFailed` in `server/src-lib/Hasura/GraphQL/Transport/WebSocket/Server.hs`); older
  v2 releases left the socket open. Whether Hasura sends the `connection_error` frame before closing was not
  checked.
- Apollo `start` before `connection_init`: `connection_error` `start received before the connection is initialised`,
  socket left open. [Hasura sends `error` with that message as a `start-failed` error object, then `complete`.]
- Apollo `stop`: the subscription is cancelled and `complete` is sent. [Hasura sends nothing.]
- Binary frames: graphql-transport-ws closes 4400, Apollo gets `connection_error`. [Hasura parses them like text.]
- Unexpected exceptions from the engine are logged and answered with an `error` (code `unexpected`) for that
  operation; other operations and connections carry on. Close reasons are cut to 123 bytes (the WebSocket limit).
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from aiohttp import WSMsgType, web
from multidict import CIMultiDict

from inspector.sandbox.graphql_engine import AccessDenied, GraphQLEngine, Operation, RequestError, Session

__all__ = [
    "GRAPHQL_TRANSPORT_WS",
    "GRAPHQL_WS",
    "WebSocketSettings",
    "close_graphql_websockets",
    "handle_graphql_websocket",
    "negotiate_subprotocol",
]

log = logging.getLogger(__name__)

GRAPHQL_WS: Final = "graphql-ws"
"""The legacy Apollo `subscriptions-transport-ws` protocol (Hasura's `Apollo`)."""
GRAPHQL_TRANSPORT_WS: Final = "graphql-transport-ws"
"""The `graphql-ws` library's protocol (Hasura's `GraphQLWS`)."""

_DROPPED_UPGRADE_HEADERS: Final = frozenset({"sec-websocket-key", "sec-websocket-version", "upgrade", "connection"})
_MAX_CLOSE_REASON_BYTES: Final = 123
_PARSE_FAILED: Final = "parsing ClientMessage failed: "
_START_BEFORE_INIT: Final = "start received before the connection is initialised"


@dataclass(frozen=True)
class WebSocketSettings:
    """Timing knobs: HASURA_GRAPHQL_WEBSOCKET_KEEPALIVE and HASURA_GRAPHQL_WEBSOCKET_CONNECTION_INIT_TIMEOUT."""

    keepalive_seconds: float = 5.0
    """Interval of `ka` (Apollo) / `ping` (graphql-transport-ws) after the ack."""
    init_timeout_seconds: float = 3.0
    """graphql-transport-ws only: close 4408 when no `connection_init` arrived this long after the upgrade."""


def negotiate_subprotocol(offered: Iterable[str]) -> str:
    """The sub-protocol for a client offering `offered` (the comma-separated `Sec-WebSocket-Protocol` values, in any
    grouping): `graphql-transport-ws` when it is offered and `graphql-ws` is not, else `graphql-ws`."""
    names = {name.strip() for value in offered for name in value.split(",")}
    if GRAPHQL_TRANSPORT_WS in names and GRAPHQL_WS not in names:
        return GRAPHQL_TRANSPORT_WS
    return GRAPHQL_WS


async def handle_graphql_websocket(
    request: web.Request, engine: GraphQLEngine, settings: WebSocketSettings
) -> web.WebSocketResponse:
    """Serve one GraphQL WebSocket connection until either side closes it. Never raises after the upgrade:
    unexpected errors are logged and the socket is closed with 1011."""
    subprotocol = negotiate_subprotocol(request.headers.getall("Sec-WebSocket-Protocol", []))
    ws = web.WebSocketResponse(protocols=(subprotocol,), autoping=True)
    # aiohttp echoes only an offered protocol; Hasura names its choice whatever was offered.
    ws.headers["Sec-WebSocket-Protocol"] = subprotocol
    await ws.prepare(request)
    connection = _Connection(ws, subprotocol, engine, settings, request.headers)
    open_connections = _open_connections.setdefault(request.app, set())
    open_connections.add(connection)
    try:
        await connection.run()
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("GraphQL WebSocket connection from %s failed", request.remote)
        try:
            await connection.close(1011, "Internal server error")
        except Exception:  # the peer is gone; nothing left to tell it
            log.debug("closing GraphQL WebSocket failed", exc_info=True)
    finally:
        open_connections.discard(connection)
        await connection.stop_tasks()
        if not ws.closed:
            try:
                await ws.close()
            except Exception:  # the peer is gone; nothing left to tell it
                log.debug("closing GraphQL WebSocket failed", exc_info=True)
    return ws


async def close_graphql_websockets(app: web.Application) -> None:
    """Close every open GraphQL WebSocket of `app` with 1012 `shutting server down`, as Hasura does on shutdown
    (`forceConnReconnect`). Meant for `app.on_shutdown`: without it aiohttp waits for open sockets until its shutdown
    timeout and then drops them without a close frame."""
    connections = list(_open_connections.get(app, ()))
    if connections:
        await asyncio.gather(*(c.close(1012, "shutting server down") for c in connections), return_exceptions=True)


_open_connections: weakref.WeakKeyDictionary[web.Application, set[_Connection]] = weakref.WeakKeyDictionary()


# --- client messages -------------------------------------------------------------------------------------------------


class _ParseError(Exception):
    """A client frame that is not a valid `ClientMsg`; `detail` imitates aeson's error text."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class _Init:
    headers: dict[str, str]


@dataclass(frozen=True)
class _Start:
    id: str
    query: Any
    variables: Any
    operation_name: Any


@dataclass(frozen=True)
class _Stop:
    id: str


@dataclass(frozen=True)
class _Terminate:
    pass


@dataclass(frozen=True)
class _Ping:
    payload: Any


@dataclass(frozen=True)
class _Pong:
    pass


_ClientMessage: TypeAlias = _Init | _Start | _Stop | _Terminate | _Ping | _Pong


def _json_kind(value: Any) -> str:
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int | float):
        return "Number"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "Array"
    return "Object"


def _string_field(obj: dict[str, Any], key: str, path: str, what: str) -> str:
    if key not in obj:
        raise _ParseError(f'Error in {path}: parsing {what} failed, key "{key}" not found')
    value = obj[key]
    if not isinstance(value, str):
        raise _ParseError(
            f"Error in {path}.{key}: parsing Text failed, expected String, but encountered {_json_kind(value)}"
        )
    return value


def _parse_client_message(text: str) -> _ClientMessage:
    """Parse one text frame the way Hasura's `instance FromJSON ClientMsg` does (both protocols' messages)."""
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise _ParseError(f"Error in $: Failed reading: {exc}") from None
    if not isinstance(obj, dict):
        raise _ParseError(
            f"Error in $: parsing ClientMessage failed, expected Object, but encountered {_json_kind(obj)}"
        )
    if "type" not in obj:
        raise _ParseError('Error in $: key "type" not found')
    kind = obj["type"]
    if not isinstance(kind, str):
        raise _ParseError(f"Error in $.type: expected String, but encountered {_json_kind(kind)}")
    if kind == "connection_init":
        return _Init(_parse_conn_params(obj.get("payload")))
    if kind in ("start", "subscribe"):
        op_id = _string_field(obj, "id", "$", "StartMsg")
        if "payload" not in obj:
            raise _ParseError('Error in $: parsing StartMsg failed, key "payload" not found')
        payload = obj["payload"]
        if not isinstance(payload, dict):
            raise _ParseError(
                f"Error in $.payload: parsing GQLReq failed, expected Object, but encountered {_json_kind(payload)}"
            )
        if "query" not in payload:
            raise _ParseError("Error in $.payload: the key 'query' was not present")
        query = payload["query"]
        if not isinstance(query, str):
            raise _ParseError(f"Error in $.payload.query: expected String, but encountered {_json_kind(query)}")
        variables = payload.get("variables")
        if variables is not None and not isinstance(variables, dict):
            raise _ParseError(
                f"Error in $.payload.variables: expected HashMap, but encountered {_json_kind(variables)}"
            )
        operation_name = payload.get("operationName")
        if operation_name is not None and not isinstance(operation_name, str):
            raise _ParseError(
                f"Error in $.payload.operationName: expected String, but encountered {_json_kind(operation_name)}"
            )
        return _Start(op_id, query, variables, operation_name)
    if kind in ("stop", "complete"):
        return _Stop(_string_field(obj, "id", "$", "StopMsg"))
    if kind == "connection_terminate":
        return _Terminate()
    if kind == "ping":
        return _Ping(obj.get("payload"))
    if kind == "pong":
        return _Pong()
    raise _ParseError(f"Error in $: unexpected type for ClientMessage: {kind}")


def _parse_conn_params(payload: Any) -> dict[str, str]:
    if payload is None:
        return {}
    if not isinstance(payload, dict):
        raise _ParseError(
            f"Error in $.payload: parsing ConnParams failed, expected Object, but encountered {_json_kind(payload)}"
        )
    headers = payload.get("headers")
    if headers is None:
        return {}
    if not isinstance(headers, dict):
        raise _ParseError(f"Error in $.payload.headers: expected HashMap, but encountered {_json_kind(headers)}")
    for name, value in headers.items():
        if not isinstance(value, str):
            raise _ParseError(
                f"Error in $.payload.headers.{name}: parsing Text failed, expected String, "
                f"but encountered {_json_kind(value)}"
            )
    return dict(headers)


# --- the connection ----------------------------------------------------------------------------------------------


class _Close(Exception):
    """Raised by a message handler to close the socket with `code` and `reason`."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
"""Built once: `json.dumps` with non-default options builds an encoder for every frame."""


def _encode(message: Mapping[str, Any]) -> str:
    return _ENCODER.encode(message)


_JSON_CLOSE_CODES = frozenset({1002, 4400, 4401, 4403, 4408, 4409, 4429})
"""Hasura's `ServerErrorCode`s, whose close reason `encodeServerErrorMsg` writes as JSON."""


def _close_reason(code: int, reason: str) -> bytes:
    if code in _JSON_CLOSE_CODES:
        reason = _encode({"server_error_msg": f"{code}: {reason}"})
    return reason.encode()[:_MAX_CLOSE_REASON_BYTES].decode(errors="ignore").encode()


def _unexpected_error(message: str) -> dict[str, Any]:
    return {"extensions": {"path": "$", "code": "unexpected"}, "message": message}


class _Connection:
    """State of one socket: its protocol, session and running subscriptions."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        subprotocol: str,
        engine: GraphQLEngine,
        settings: WebSocketSettings,
        upgrade_headers: Mapping[str, str],
    ) -> None:
        self._ws = ws
        self._transport_ws = subprotocol == GRAPHQL_TRANSPORT_WS
        self._engine = engine
        self._settings = settings
        self._upgrade_headers = upgrade_headers
        self._init_received = False
        self._session: Session | None = None
        self._subscriptions: dict[str, asyncio.Task[None]] = {}
        self._keepalive: asyncio.Task[None] | None = None
        self._send_lock = asyncio.Lock()

    # -- main loop --

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.init_timeout_seconds if self._transport_ws else None
        while not self._ws.closed:
            timeout: float | None = None
            if deadline is not None and not self._init_received:
                timeout = deadline - loop.time()
                if timeout <= 0:
                    await self.close(4408, "Connection initialisation timeout")
                    return
            try:
                msg = await self._ws.receive(timeout=timeout)
            except TimeoutError:
                await self.close(4408, "Connection initialisation timeout")
                return
            try:
                if msg.type is WSMsgType.TEXT:
                    await self._on_text(msg.data)
                elif msg.type is WSMsgType.BINARY:
                    await self._on_malformed("binary frames are not supported, send JSON as text")
                else:  # CLOSE, CLOSING, CLOSED, ERROR: the socket is done
                    return
            except _Close as close:
                await self.close(close.code, close.reason)
                return
            except ConnectionError:  # the peer went away while we were answering
                log.debug("GraphQL WebSocket peer gone", exc_info=True)
                return

    async def close(self, code: int, reason: str) -> None:
        """Stop every task of this connection, then close the socket."""
        await self.stop_tasks()
        if not self._ws.closed:
            await self._ws.close(code=code, message=_close_reason(code, reason))

    async def stop_tasks(self) -> None:
        tasks = list(self._subscriptions.values())
        if self._keepalive is not None:
            tasks.append(self._keepalive)
            self._keepalive = None
        self._subscriptions.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    # -- sending --

    async def _send(self, message: Mapping[str, Any]) -> None:
        text = _encode(message)
        async with self._send_lock:
            await self._ws.send_str(text)

    def _data_message(self, op_id: str, payload: Any) -> dict[str, Any]:
        return {"type": "next" if self._transport_ws else "data", "id": op_id, "payload": payload}

    def _error_message(self, op_id: str, errors: list[dict[str, Any]]) -> dict[str, Any]:
        return {"type": "error", "id": op_id, "payload": errors if self._transport_ws else {"errors": errors}}

    async def _send_complete(self, op_id: str) -> None:
        await self._send({"type": "complete", "id": op_id})

    async def _send_keepalive(self) -> None:
        if self._transport_ws:
            await self._send({"type": "ping", "payload": {"message": "keepalive"}})
        else:
            await self._send({"type": "ka"})

    async def _keepalive_loop(self) -> None:
        try:
            while True:
                await asyncio.sleep(self._settings.keepalive_seconds)
                if self._ws.closed:
                    return
                await self._send_keepalive()
        except (ConnectionError, RuntimeError):  # the socket closed under us
            return
        except Exception:
            log.exception("GraphQL WebSocket keep-alive failed")

    # -- receiving --

    async def _on_malformed(self, detail: str) -> None:
        if self._transport_ws:
            raise _Close(4400, f"Parsing client message failed: {_PARSE_FAILED}{detail}")
        await self._send({"type": "connection_error", "payload": _PARSE_FAILED + detail})

    async def _on_text(self, text: str) -> None:
        try:
            message = _parse_client_message(text)
        except _ParseError as exc:
            await self._on_malformed(exc.detail)
            return
        match message:
            case _Init(headers):
                await self._on_init(headers)
            case _Start():
                await self._on_start(message)
            case _Stop(op_id):
                await self._on_stop(op_id)
            case _Terminate():
                raise _Close(1000, "GQL_CONNECTION_TERMINATE received")
            case _Ping(payload):
                await self._send({"type": "pong"} if payload is None else {"type": "pong", "payload": payload})
            case _Pong():
                pass

    async def _on_init(self, payload_headers: dict[str, str]) -> None:
        if self._transport_ws and self._init_received:
            raise _Close(4429, "Too many initialisation requests")
        self._init_received = True
        headers: CIMultiDict[str] = CIMultiDict(
            (name, value)
            for name, value in self._upgrade_headers.items()
            if name.lower() not in _DROPPED_UPGRADE_HEADERS
        )
        for name, value in payload_headers.items():
            headers[name] = value
        try:
            session = self._engine.authenticate(headers)
        except AccessDenied as exc:
            self._session = None
            if self._transport_ws:
                raise _Close(4403, "Forbidden") from None
            await self._send({"type": "connection_error", "payload": exc.message})
            raise _Close(4400, f"Connection initialization failed: {exc.message}") from None
        self._session = session
        await self._send({"type": "connection_ack"})
        await self._send_keepalive()
        if self._keepalive is None:
            self._keepalive = asyncio.create_task(self._keepalive_loop(), name="graphql-ws keepalive")

    async def _on_start(self, start: _Start) -> None:
        op_id = start.id
        session = self._session
        if session is None:
            if self._transport_ws:
                raise _Close(4401, "Unauthorized")
            await self._send({"type": "connection_error", "payload": _START_BEFORE_INIT})
            return
        if op_id in self._subscriptions:
            if self._transport_ws:
                raise _Close(4409, f"Subscriber for {op_id} already exists")
            error = {
                "extensions": {"path": "$", "code": "start-failed"},
                "message": f"an operation already exists with this id: {op_id}",
            }
            await self._send({"type": "error", "id": op_id, "payload": error})
            await self._send_complete(op_id)
            return
        try:
            operation = self._engine.prepare(start.query, start.variables, start.operation_name)
        except RequestError as exc:
            await self._send(self._error_message(op_id, exc.errors))
            await self._send_complete(op_id)
            return
        except Exception as exc:
            log.exception("preparing GraphQL operation %r failed", op_id)
            await self._send(self._error_message(op_id, [_unexpected_error(f"internal error: {exc}")]))
            await self._send_complete(op_id)
            return
        if operation.kind == "subscription":
            self._subscriptions[op_id] = asyncio.create_task(
                self._run_subscription(op_id, operation, session), name=f"graphql-ws subscription {op_id}"
            )
            return
        try:
            result = operation.execute(session)
        except Exception as exc:
            log.exception("executing GraphQL %s %r failed", operation.kind, op_id)
            result = {"errors": [_unexpected_error(f"internal error: {exc}")]}
        if self._transport_ws and result.get("errors") and result.get("data") is None:
            await self._send(self._error_message(op_id, result["errors"]))
        else:
            await self._send(self._data_message(op_id, result))
        await self._send_complete(op_id)

    async def _on_stop(self, op_id: str) -> None:
        task = self._subscriptions.pop(op_id, None)
        if task is None:
            return
        task.cancel()
        await asyncio.wait([task])
        if not self._transport_ws:
            await self._send_complete(op_id)

    async def _run_subscription(self, op_id: str, operation: Operation, session: Session) -> None:
        results: AsyncIterator[dict[str, Any]] = operation.results(session)
        try:
            async for payload in results:
                await self._send(self._data_message(op_id, payload))
            await self._send_complete(op_id)
        except asyncio.CancelledError:
            raise
        except (ConnectionError, RuntimeError):  # the socket closed under us
            log.debug("subscription %r stopped: socket closed", op_id, exc_info=True)
        except Exception as exc:
            log.exception("GraphQL subscription %r failed", op_id)
            try:
                await self._send(self._error_message(op_id, [_unexpected_error(f"internal error: {exc}")]))
                await self._send_complete(op_id)
            except Exception:
                log.debug("could not report the failure of subscription %r", op_id, exc_info=True)
        finally:
            if self._subscriptions.get(op_id) is asyncio.current_task():
                del self._subscriptions[op_id]
            aclose = getattr(results, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except Exception:
                    log.debug("closing the results of subscription %r failed", op_id, exc_info=True)
