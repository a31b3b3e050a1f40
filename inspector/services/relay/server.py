"""The relay server: an HTTP relay between the engine (Hasura, or the sandbox's delivery worker) and the handlers.

Owns the listener (`listener.Listener`, HTTP/1.1 over httptools) that receives each delivery at `/<trigger>`,
forwards it to that trigger's configured route (and to nothing else: an unknown trigger is answered 404) through
the lean client `backends.http1` with the body and headers unchanged except the hop-by-hop headers (`Connection`
and those it names, `Keep-Alive`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`, `Proxy-*`), `Host` and
`Content-Length` (the client sets them for the handler), and answers the engine with the handler's status, headers
and body, so the engine's retry semantics apply unchanged. On the way a breakpoint may hold the delivery
(`breakpoints.Breakpoints`) and the first matching fault rule acts (`rules`). A handler that cannot be reached is
passed on as what it is to the engine: the relay closes the engine's connection too, so the engine records a
connection failure, as it would have without the relay. When the engine gives up (its `timeout_sec`) and hangs up,
the listener cancels the delivery's task and with it the forward, so a handler that never answers holds nothing.
Every delivery is recorded (`inspector.store.relay_records.RelayRecorder`) with secrets in headers redacted.

Used by `inspector relay` (`inspector.cli.relay`), `inspector demo --relay`, the window's Breakpoints panel and the
benchmark `benchmarks/relay.py`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from inspector.backends.http1 import Http1Client, Http1Error
from inspector.core.connection_profile import is_loopback_host
from inspector.core.hasura import RetryConf
from inspector.core.redaction import redact_header_pairs, redact_url
from inspector.services.relay.breakpoints import Breakpoints, Decision
from inspector.services.relay.listener import Listener, Reply, Request
from inspector.services.relay.rules import (
    Action,
    Delay,
    Drop,
    Duplicate,
    Edit,
    Pass,
    Respond,
    Rule,
    RuleError,
    apply_edit,
    delivery_view,
)
from inspector.store.relay_records import RelayDeliveryRecord, RelayRecorder, fill_from_body

log = logging.getLogger(__name__)

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
"""Headers that belong to one connection (RFC 9110, section 7.6.1), never forwarded."""

_SET_BY_CLIENT = frozenset({"host", "content-length"})
_DROPPED = HOP_BY_HOP | _SET_BY_CLIENT

MAX_BODY_BYTES = 64 * 1024 * 1024
"""Largest delivery body the relay accepts (Hasura sets no limit on webhook bodies; the sandbox's handlers take
64 MiB)."""


_UNREAD: Any = object()
"""The body of a delivery nothing needed to read (forwarded as bytes, parsed for the record off the event loop)."""
_PASS = Pass()


class RouteRefused(ValueError):
    """A route to a handler outside this machine without `allow_remote`, or a route that is not an http(s) URL."""


def check_routes(routes: Mapping[str, str], allow_remote: bool) -> None:
    """`RouteRefused` unless every route is an http(s) URL on this machine (or `allow_remote`)."""
    for trigger, url in routes.items():
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RouteRefused(f"route {trigger}={redact_url(url)}: not an http(s) URL")
        if not allow_remote and not is_loopback_host(parts.hostname):
            raise RouteRefused(
                f"route {trigger}={redact_url(url)} goes to another machine ({parts.hostname}); give --allow-remote "
                "to forward deliveries there"
            )


def forwardable(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The request's headers minus hop-by-hop ones (and those `Connection` names), `Host` and `Content-Length`."""
    pairs = list(headers)
    dropped: frozenset[str] = _DROPPED
    for name, value in pairs:
        if name.lower() == "connection":  # rare from an engine: the names it lists are dropped too
            dropped = dropped | {token.strip().lower() for token in value.split(",") if token.strip()}
    return [(name, value) for name, value in pairs if name.lower() not in dropped]


def answer_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The handler's answer headers passed back to the engine (hop-by-hop ones and `Content-Length` aside)."""
    return [(n, v) for n, v in headers if n.lower() not in HOP_BY_HOP and n.lower() != "content-length"]


@dataclass(frozen=True)
class RelayConfig:
    """Where the relay listens and where each trigger's deliveries go."""

    routes: Mapping[str, str]
    """Trigger name → the handler's URL."""
    host: str = "127.0.0.1"
    port: int = 0
    """0 picks a free port."""
    allow_remote: bool = False
    retry: Mapping[str, RetryConf] = field(default_factory=dict)
    """The triggers' retry policies, when known (shown with held deliveries)."""
    max_body_bytes: int = MAX_BODY_BYTES


@dataclass
class Outcome:
    """What happened to one delivery, as the relay's own counters and a UI's log see it."""

    trigger: str
    event_id: str | None
    attempt: int | None
    action: str
    acted_by: str | None
    http_status: int | None
    error: str | None
    total_ms: float


class _HandlerFailed(Exception):
    """The handler could not be reached or broke the connection."""


class Relay:
    """One running relay. `await start()` / `await stop()`, or `async with`."""

    def __init__(
        self,
        config: RelayConfig,
        rules: Sequence[Rule] = (),
        breakpoints: Breakpoints | None = None,
        recorder: RelayRecorder | None = None,
    ) -> None:
        check_routes(config.routes, config.allow_remote)
        self.config = config
        self.routes = dict(config.routes)
        self.rules = list(rules)
        self.breakpoints = breakpoints
        self.recorder = recorder
        self.port = 0
        self.on_delivery: list[Callable[[Outcome], None]] = []
        self.deliveries = 0
        """Requests received on a route (malformed ones included)."""
        self._listener: Listener | None = None
        self._client: Http1Client | None = None
        self._id_prefix = secrets.token_hex(8)
        """Record ids are this run's random prefix and a counter (unique in the capture, cheaper than a uuid4)."""
        self._ids = 0
        self._shown: dict[str, str] = {}

    # --- life cycle ----------------------------------------------------------------------------------------------

    async def __aenter__(self) -> Relay:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self._client = Http1Client(max_idle=1000)
        self._listener = Listener(self._dispatch, self.config.max_body_bytes)
        self.port = await self._listener.start(self.config.host, self.config.port)

    async def stop(self) -> None:
        if self.breakpoints is not None:
            self.breakpoints.continue_all()  # never leave a held delivery hanging
        if self._listener is not None:
            await self._listener.stop()
            self._listener = None
        if self._client is not None:
            await self._client.close()
            self._client = None

    @property
    def base_url(self) -> str:
        host = self.config.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        return f"http://{host if ':' not in host else f'[{host}]'}:{self.port}"

    def url(self, trigger: str) -> str:
        """Where the engine should deliver this trigger's events."""
        return f"{self.base_url}/{trigger}"

    # --- requests ------------------------------------------------------------------------------------------------

    async def _dispatch(self, request: Request) -> Reply | None:
        """`GET /`: what the relay is and its routes; `/<trigger>`: a delivery."""
        trigger = request.path[1:]
        if not trigger:
            if request.method in ("GET", "HEAD"):
                return _json(200, {"relay": "inspector", "routes": sorted(self.routes)})
            return _json(405, {"error": "GET / lists the routes; deliveries go to /<trigger>"})
        return await self._handle(trigger, request)

    def _choose(self, trigger: str, body: Any) -> tuple[Action, str | None]:
        rules = [rule for rule in self.rules if rule.enabled and not rule.spent]
        if not rules:
            return _PASS, None
        view = delivery_view(trigger, body)
        for rule in rules:
            if rule.matches(view):
                rule.used += 1
                return rule.action, rule.text
        return _PASS, None

    def _needs_body(self) -> bool:
        """Whether anything on the relay's side reads this delivery's body: a live rule, a breakpoint a user can act
        on, or a listener. Otherwise the body is forwarded as bytes and parsed, for the record, on the recorder's
        thread."""
        if self.on_delivery:
            return True
        for rule in self.rules:
            if rule.enabled and not rule.spent:
                return True
        points = self.breakpoints
        return points is not None and points.attached and any(p.enabled for p in points.breakpoints)

    async def _handle(self, trigger: str, request: Request) -> Reply | None:
        target = self.routes.get(trigger)
        if target is None:  # forwards only to configured routes
            return _json(
                404, {"error": f"the relay has no route for trigger {trigger!r}", "routes": sorted(self.routes)}
            )
        if request.method != "POST":
            return _json(405, {"error": "event trigger deliveries are POSTed"})
        self.deliveries += 1
        received = time.time()
        started = time.perf_counter()
        raw = request.body
        headers = forwardable(request.headers)
        self._ids += 1
        record = RelayDeliveryRecord(
            id=f"{self._id_prefix}{self._ids:016x}",
            trigger_name=trigger,
            event_id=None,
            attempt=None,
            received_at=received,
            answered_at=received,
            action="pass",
            acted_by=None,
            request_headers=headers,
            request_body=raw,
            parsed=False,
        )
        body: Any = _UNREAD
        if self._needs_body():
            try:
                body = json.loads(raw)
            except ValueError:
                body = None  # not JSON: forwarded unchanged all the same, no rule or breakpoint can read it
            fill_from_body(record, body)
        try:
            return await self._act(trigger, target, body, raw, headers, record)
        except asyncio.CancelledError:
            record.error = record.error or "the engine hung up before the answer (its timeout_sec)"
            raise
        finally:
            record.answered_at = time.time()
            if self.recorder is not None:
                self.recorder.add(record)
            if self.on_delivery:
                outcome = Outcome(
                    trigger,
                    record.event_id,
                    record.attempt,
                    record.action,
                    record.acted_by,
                    record.http_status,
                    record.error,
                    (time.perf_counter() - started) * 1000.0,
                )
                for listener in list(self.on_delivery):
                    listener(outcome)

    async def _act(
        self,
        trigger: str,
        target: str,
        body: Any,
        raw: bytes,
        headers: list[tuple[str, str]],
        record: RelayDeliveryRecord,
    ) -> Reply | None:
        """The answer for the engine, or None to hang up on it."""
        action: Action | None = None
        send = raw
        if body is not _UNREAD:  # a rule or a breakpoint may act
            point = self.breakpoints.match(trigger, body) if self.breakpoints is not None else None
            if point is not None and self.breakpoints is not None:
                decision = await self.breakpoints.hold(
                    trigger, body, redact_header_pairs(dict(headers)), point, self.config.retry.get(trigger)
                )
                record.acted_by = f"breakpoint: {point.text}"
                action, send = _decided(decision, raw)
                record.action = "held" if decision.kind == "continue" else decision.kind
            if action is None:
                action, acted_by = self._choose(trigger, body)
                if acted_by is not None:
                    record.acted_by = acted_by if record.acted_by is None else f"{record.acted_by}; {acted_by}"
                    record.action = type(action).__name__.lower()
        else:
            action = _PASS
        if isinstance(action, Edit):
            try:
                send = json.dumps(apply_edit(body, action), ensure_ascii=False).encode()
            except RuleError as exc:
                log.warning("relay: %s; forwarded unchanged", exc)
        if send is not raw:
            record.forwarded_body = send
        if isinstance(action, Respond):
            payload = action.body if action.body is not None else {"relay": "responded", "status": action.status}
            answer = json.dumps(payload).encode()
            answer_hdrs = [("Content-Type", "application/json")]
            if action.retry_after is not None:
                answer_hdrs.append(("Retry-After", str(action.retry_after)))
            record.http_status, record.response_headers, record.response_body = action.status, answer_hdrs, answer
            return Reply(action.status, answer_hdrs, answer)
        if isinstance(action, Drop):
            record.error = "dropped by the relay: connection closed without an answer"
            return None
        if isinstance(action, Delay):
            await asyncio.sleep(action.seconds)
        record.target = self._shown.get(target) or self._shown.setdefault(target, redact_url(target))
        try:
            status, answer_hdrs, answer, handler_ms = await self._forward(target, headers, send)
        except _HandlerFailed as exc:
            record.error = str(exc)
            return None  # the engine sees what it would have seen without the relay: a connection failure
        record.http_status, record.response_headers, record.response_body = status, answer_hdrs, answer
        record.handler_ms = handler_ms
        if isinstance(action, Duplicate):
            await self._forward_copy(trigger, target, headers, send, record)
        return Reply(status, answer_headers(answer_hdrs), answer)

    async def _forward(
        self, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes, float]:
        assert self._client is not None
        started = time.perf_counter()
        try:
            # The body passes back as the handler encoded it (with its Content-Encoding); the engine's time limit
            # governs (it hangs up, the forward is cancelled).
            status, answer_hdrs, content = await self._client.post(
                target, body, headers, limit=self.config.max_body_bytes, decompress=False
            )
        except Http1Error as exc:
            raise _HandlerFailed(f"handler {redact_url(target)} failed: {type(exc).__name__}: {exc}") from exc
        return status, answer_hdrs, content, (time.perf_counter() - started) * 1000.0

    async def _forward_copy(
        self,
        trigger: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes,
        first: RelayDeliveryRecord,
    ) -> None:
        """The second delivery of a `duplicate`: recorded as its own row (`copy` 1); its answer goes nowhere."""
        self._ids += 1
        copy = RelayDeliveryRecord(
            id=f"{self._id_prefix}{self._ids:016x}",
            trigger_name=trigger,
            event_id=first.event_id,
            attempt=first.attempt,
            received_at=time.time(),
            answered_at=0.0,
            action="duplicate",
            acted_by=first.acted_by,
            request_headers=first.request_headers,
            request_body=first.request_body,
            forwarded_body=first.forwarded_body,
            target=first.target,
            copy=1,
            event=first.event,
            table=first.table,
            created_at=first.created_at,
            parsed=first.parsed,
            body_is_object=first.body_is_object,
        )
        try:
            copy.http_status, copy.response_headers, copy.response_body, copy.handler_ms = await self._forward(
                target, headers, body
            )
        except _HandlerFailed as exc:
            copy.error = str(exc)
        copy.answered_at = time.time()
        if self.recorder is not None:
            self.recorder.add(copy)


def _decided(decision: Decision, raw: bytes) -> tuple[Action | None, bytes]:
    """A breakpoint's decision as an action (None for Continue: the rules decide, as without the breakpoint) and the
    body to forward."""
    if decision.kind == "continue":
        return None, raw
    if decision.kind == "edit":
        return Pass(), json.dumps(decision.body, ensure_ascii=False).encode()
    if decision.kind == "respond":
        return Respond(decision.status, decision.retry_after, decision.response_body), raw
    if decision.kind == "delay":
        return Delay(decision.seconds), raw
    return Drop(), raw


def _json(status: int, payload: Any) -> Reply:
    return Reply(status, [("Content-Type", "application/json; charset=utf-8")], json.dumps(payload).encode())
