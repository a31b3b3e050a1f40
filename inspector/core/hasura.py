"""Hasura v2's wire shapes for event triggers: configuration, webhook bodies, invocation records, errors.

Shared by the sandbox (which produces them), the capture backends (which read them) and replay (which sends
them), so the three agree to the field name. Every shape follows Hasura's own source or docs, cited by their paths
in `hasura/graphql-engine`.
Pure data and functions: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

JSON = Any
"""A value as `json.loads` returns it."""

TRIGGER_NAME_RE = re.compile(r"^[A-Za-z]+[A-Za-z0-9_\-]*$")
"""Event trigger names Hasura accepts (`server/src-lib/Hasura/RQL/DDL/EventTrigger.hs`); at most 42 characters."""

INVOCATION_VERSION = "2"
"""The `version` of request/response records written for event triggers
(`server/src-lib/Hasura/RQL/Types/Eventing.hs`)."""

USER_AGENT = "hasura-graphql-engine/v2.48.0"
"""What the sandbox sends as `User-Agent` (Hasura sends `hasura-graphql-engine/<version>`;
`server/src-lib/Hasura/HTTP.hs`)."""

Op = Literal["INSERT", "UPDATE", "DELETE", "MANUAL"]


class HasuraError(Exception):
    """An API error in Hasura's body shape `{"path","error","code"}` (Hasura's docs
    `docs/docs/api-reference/metadata-api/event-triggers.mdx`), with the HTTP status it is served with."""

    def __init__(self, error: str, code: str = "unexpected", path: str = "$", status: int = 400) -> None:
        super().__init__(error)
        self.error = error
        self.code = code
        self.path = path
        self.status = status

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "error": self.error, "code": self.code}


@dataclass(frozen=True)
class RetryConf:
    """`retry_conf` of an event trigger (`server/src-lib/Hasura/RQL/Types/EventTrigger.hs`). Total attempts are
    `num_retries + 1`."""

    num_retries: int = 0
    """How many retries after the first attempt."""
    interval_sec: int = 10
    """Seconds between a failed attempt and the next one."""
    timeout_sec: int = 60
    """Per-request HTTP timeout."""

    @classmethod
    def from_json(cls, value: JSON) -> RetryConf:
        if value is None:
            return cls()
        if not isinstance(value, Mapping):
            raise HasuraError("retry_conf must be an object", "parse-failed", "$.args.retry_conf")
        try:
            return cls(
                num_retries=int(value["num_retries"]),
                interval_sec=int(value["interval_sec"]),
                timeout_sec=int(value.get("timeout_sec", 60)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise HasuraError(f"invalid retry_conf: {exc}", "parse-failed", "$.args.retry_conf") from exc

    def to_json(self) -> dict[str, int]:
        return {"num_retries": self.num_retries, "interval_sec": self.interval_sec, "timeout_sec": self.timeout_sec}


@dataclass(frozen=True)
class OperationSpec:
    """One operation of a trigger definition: which columns it listens to and which it puts in the payload."""

    columns: Literal["*"] | tuple[str, ...] = "*"
    """Listened columns (for UPDATE: an event only when one of them changed)."""
    payload: Literal["*"] | tuple[str, ...] | None = None
    """Columns in `data.old`/`data.new`; None means all."""

    @classmethod
    def from_json(cls, value: JSON, path: str) -> OperationSpec | None:
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise HasuraError("operation spec must be an object", "parse-failed", path)
        return cls(
            columns=_column_list(value.get("columns", "*"), path), payload=_payload_list(value.get("payload"), path)
        )

    def to_json(self) -> dict[str, JSON]:
        out: dict[str, JSON] = {"columns": self.columns if self.columns == "*" else list(self.columns)}
        if self.payload is not None:
            out["payload"] = self.payload if self.payload == "*" else list(self.payload)
        return out


def _column_list(value: JSON, path: str) -> Literal["*"] | tuple[str, ...]:
    if value == "*":
        return "*"
    if isinstance(value, list) and value and all(isinstance(c, str) for c in value):
        return tuple(value)
    raise HasuraError('columns must be "*" or a non-empty list of column names', "parse-failed", path)


def _payload_list(value: JSON, path: str) -> Literal["*"] | tuple[str, ...] | None:
    return None if value is None else _column_list(value, path)


@dataclass(frozen=True)
class HeaderConf:
    """A configured webhook header: a literal `value` or `value_from_env` (logged as configured, never resolved)."""

    name: str
    value: str | None = None
    value_from_env: str | None = None

    def to_json(self) -> dict[str, str]:
        if self.value_from_env is not None:
            return {"name": self.name, "value_from_env": self.value_from_env}
        return {"name": self.name, "value": self.value or ""}


@dataclass(frozen=True)
class EventTriggerConf:
    """An event trigger as `pg_create_event_trigger` takes it and `export_metadata` returns it (Hasura's docs
    `docs/docs/api-reference/metadata-api/event-triggers.mdx`; `server/src-lib/Hasura/RQL/Types/EventTrigger.hs`)."""

    name: str
    table_schema: str
    table_name: str
    webhook: str | None = None
    webhook_from_env: str | None = None
    insert: OperationSpec | None = None
    update: OperationSpec | None = None
    delete: OperationSpec | None = None
    enable_manual: bool = False
    retry_conf: RetryConf = field(default_factory=RetryConf)
    headers: tuple[HeaderConf, ...] = ()
    source: str = "default"

    @classmethod
    def from_create_args(cls, args: Mapping[str, JSON]) -> EventTriggerConf:
        """Validate `pg_create_event_trigger` args as the server does
        (`server/src-lib/Hasura/RQL/DDL/EventTrigger.hs`)."""
        name = args.get("name")
        if not isinstance(name, str) or not TRIGGER_NAME_RE.match(name) or len(name) > 42:
            raise HasuraError(f"invalid event trigger name: {name!r}", "parse-failed", "$.args.name")
        table = args.get("table")
        if isinstance(table, str):
            table = {"schema": "public", "name": table}
        if not isinstance(table, Mapping) or not isinstance(table.get("name"), str):
            raise HasuraError('table must be {"schema", "name"}', "parse-failed", "$.args.table")
        webhook, webhook_from_env = args.get("webhook"), args.get("webhook_from_env")
        if (webhook is None) == (webhook_from_env is None):
            raise HasuraError("exactly one of webhook or webhook_from_env must be given", "parse-failed", "$.args")
        headers = []
        for i, h in enumerate(args.get("headers") or []):
            if not isinstance(h, Mapping) or not isinstance(h.get("name"), str):
                raise HasuraError("a header needs a name", "parse-failed", f"$.args.headers[{i}]")
            headers.append(HeaderConf(h["name"], h.get("value"), h.get("value_from_env")))
        conf = cls(
            name=name,
            table_schema=str(table.get("schema", "public")),
            table_name=str(table["name"]),
            webhook=webhook,
            webhook_from_env=webhook_from_env,
            insert=OperationSpec.from_json(args.get("insert"), "$.args.insert"),
            update=OperationSpec.from_json(args.get("update"), "$.args.update"),
            delete=OperationSpec.from_json(args.get("delete"), "$.args.delete"),
            enable_manual=bool(args.get("enable_manual", False)),
            retry_conf=RetryConf.from_json(args.get("retry_conf")),
            headers=tuple(headers),
            source=str(args.get("source", "default")),
        )
        if not (conf.insert or conf.update or conf.delete or conf.enable_manual):
            raise HasuraError(
                "atleast one amongst insert/update/delete/enable_manual spec must be provided", "parse-failed", "$.args"
            )
        return conf

    def definition_json(self) -> dict[str, JSON]:
        out: dict[str, JSON] = {"enable_manual": self.enable_manual}
        for op in ("insert", "update", "delete"):
            spec: OperationSpec | None = getattr(self, op)
            if spec is not None:
                out[op] = spec.to_json()
        return out

    def to_metadata_json(self) -> dict[str, JSON]:
        """The trigger as it appears in `export_metadata` (`sources[].tables[].event_triggers[]`)."""
        out: dict[str, JSON] = {
            "name": self.name,
            "definition": self.definition_json(),
            "retry_conf": self.retry_conf.to_json(),
        }
        if self.webhook is not None:
            out["webhook"] = self.webhook
        if self.webhook_from_env is not None:
            out["webhook_from_env"] = self.webhook_from_env
        if self.headers:
            out["headers"] = [h.to_json() for h in self.headers]
        return out

    @classmethod
    def from_metadata_json(
        cls, table: Mapping[str, str], value: Mapping[str, JSON], source: str = "default"
    ) -> EventTriggerConf:
        """Read back what `to_metadata_json` (or a real Hasura's `export_metadata`) produced."""
        definition = value.get("definition") or {}
        args: dict[str, JSON] = {
            "name": value["name"],
            "table": dict(table),
            "webhook": value.get("webhook"),
            "webhook_from_env": value.get("webhook_from_env"),
            "insert": definition.get("insert"),
            "update": definition.get("update"),
            "delete": definition.get("delete"),
            "enable_manual": definition.get("enable_manual", False),
            "retry_conf": value.get("retry_conf"),
            "headers": value.get("headers"),
            "source": source,
        }
        return cls.from_create_args(args)

    def ops(self) -> dict[str, OperationSpec]:
        """The table operations this trigger fires on, keyed by `INSERT`/`UPDATE`/`DELETE`."""
        return {
            op.upper(): spec
            for op, spec in (("insert", self.insert), ("update", self.update), ("delete", self.delete))
            if spec is not None
        }


def event_payload(
    op: Op,
    old: Mapping[str, JSON] | None,
    new: Mapping[str, JSON] | None,
    session_variables: Mapping[str, str] | None,
    trace_context: Mapping[str, str] | None,
) -> dict[str, JSON]:
    """The `payload` column of `event_log` (= the webhook body's `event`), as `insert_event_log` builds it
    (`server/src-rsr/init_pg_source.sql`)."""
    return {
        "op": op,
        "data": {"old": None if old is None else dict(old), "new": None if new is None else dict(new)},
        "session_variables": None if session_variables is None else dict(session_variables),
        "trace_context": None if trace_context is None else dict(trace_context),
    }


def webhook_body(
    event_id: str,
    table_schema: str,
    table_name: str,
    trigger_name: str,
    payload: Mapping[str, JSON],
    current_retry: int,
    max_retries: int,
    created_at: str,
) -> dict[str, JSON]:
    """The JSON body Hasura POSTs to a webhook, keys in the engine's order (`EventPayload` in
    `server/src-lib/Hasura/Eventing/EventTrigger.hs`)."""
    return {
        "id": event_id,
        "table": {"schema": table_schema, "name": table_name},
        "trigger": {"name": trigger_name},
        "event": dict(payload),
        "delivery_info": {"max_retries": max_retries, "current_retry": current_retry},
        "created_at": created_at,
    }


def request_headers(
    configured: Sequence[HeaderConf], resolve_env: Mapping[str, str]
) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Headers to send and headers to log (`server/src-lib/Hasura/HTTP.hs`; `decodeHeader` in
    `server/src-lib/Hasura/Eventing/HTTP.hs`): defaults override configured ones of the same name; the log keeps
    `value_from_env` unresolved."""
    send: dict[str, str] = {}
    logged: list[dict[str, str]] = []
    for h in configured:
        if h.name.lower() in ("content-type", "user-agent"):
            continue
        send[h.name] = h.value if h.value is not None else resolve_env.get(h.value_from_env or "", "")
        logged.append(h.to_json())
    send["Content-Type"] = "application/json"
    send["User-Agent"] = USER_AGENT
    logged = [
        {"name": "Content-Type", "value": "application/json"},
        {"name": "User-Agent", "value": USER_AGENT},
        *logged,
    ]
    return send, logged


def invocation_request(body: Mapping[str, JSON], logged_headers: list[dict[str, str]]) -> dict[str, JSON]:
    """The `request` JSON of an invocation log row (`server/src-lib/Hasura/RQL/Types/Eventing.hs`)."""
    return {"payload": dict(body), "headers": logged_headers, "version": INVOCATION_VERSION}


def webhook_response(body: str, headers: Sequence[tuple[str, str]], status: int) -> dict[str, JSON]:
    """The `response` JSON of a 2xx invocation: `webhook_response` with the raw body text
    (`server/src-lib/Hasura/RQL/Types/Eventing.hs`)."""
    return {
        "type": "webhook_response",
        "data": {"body": body, "headers": [{"name": n, "value": v} for n, v in headers], "status": status},
        "version": INVOCATION_VERSION,
    }


def client_error(message: str) -> dict[str, JSON]:
    """The `response` JSON of a failed invocation (non-2xx body text, or an exception description; `mkInvocation` in
    `server/src-lib/Hasura/Eventing/EventTrigger.hs`)."""
    return {"type": "client_error", "data": {"message": message}, "version": INVOCATION_VERSION}


def format_timestamp(value: datetime) -> str:
    """A `TIMESTAMP` (no zone) as aeson renders Hasura's `LocalTime`: `2023-05-04T10:11:12.123456`
    (`server/src-lib/Hasura/RQL/Types/EventTrigger.hs`)."""
    return value.replace(tzinfo=None).isoformat(timespec="microseconds")


def format_timestamptz(value: datetime) -> str:
    """A `TIMESTAMPTZ` as Hasura's GraphQL renders it: `2023-05-04T10:11:12.123456+00:00`."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def parse_timestamp(text: str) -> datetime:
    """Parse a Hasura timestamp with or without a zone (`Z`, `+00:00` or none; none means UTC here)."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def aeson_time(value: datetime) -> str:
    """A time as Hasura's aeson encoder writes it: trailing zeros of the fraction dropped (no fraction at all when it
    is zero), and `Z` for a `UTCTime` (an aware value, shifted to UTC) or no zone for a `LocalTime` (a naive value).

    The metadata API's event and invocation records hold `UTCTime`s (`uncurryEventLog` in
    `server/src-lib/Hasura/Backends/Postgres/DDL/EventTrigger.hs`), so they end in `Z`; the webhook body's
    `created_at` is a `LocalTime` (`epCreatedAt`, `server/src-lib/Hasura/RQL/Types/EventTrigger.hs`), so it has none.
    """
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
        zone = "Z"
    else:
        zone = ""
    text = value.isoformat(timespec="microseconds")
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0")
    return whole + ("." + fraction if fraction else "") + zone


def timeout_message(trigger_name: str) -> str:
    """What Hasura v2.25+ records when an event's processing outlives `min(timeout_sec, 30 min)`:
    `"Event Trigger " <> etiName eti <<> " timed out while processing."` (`<<>` quotes the name) in
    `server/src-lib/Hasura/Eventing/EventTrigger.hs`."""
    return f'Event Trigger "{trigger_name}" timed out while processing.'


def http_exception(message: str, request: Mapping[str, JSON], status: int | None = None) -> dict[str, JSON]:
    """An `http_exception` as `getHttpExceptionJson` encodes it (`server/src-lib/Hasura/HTTP.hs`): `type`, `message`,
    `request` (`encodeHTTPRequestJSON`: host, port, secure, requestHeaders, path, queryString, method,
    responseTimeout), and `status` only when the exception carries one."""
    body: dict[str, JSON] = {"type": "http_exception", "message": message, "request": dict(request)}
    if status is not None:
        body["status"] = status
    return body
