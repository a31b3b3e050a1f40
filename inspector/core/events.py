"""Events and invocations as Inspector records them, read from whatever shape a Hasura server gave.

Owns the translation from the metadata API's records (Hasura's docs
`docs/docs/api-reference/metadata-api/event-triggers.mdx`; legacy `run_sql` rows, Hasura's docs
`docs/docs/api-reference/schema-api/run-sql.mdx`; legacy invocation shapes, `server/src-lib/Hasura/Eventing/HTTP.hs`) to
`EventRecord` and `InvocationRecord`, the derived status of an event, its row key, the outcome of each delivery
attempt (`invocation_outcome`), and the double decoding of bodies that Hasura stores as JSON strings. Pure: used by
the capture backends, the store, the filter, the analysis, replay and the views.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from inspector.core.hasura import parse_timestamp

EventStatus = Literal["pending", "retrying", "in-flight", "delivered", "failed", "archived"]
"""pending: not tried yet; retrying: failed, next attempt scheduled; in-flight: locked by a worker; delivered: a 2xx
was received; failed: retries exhausted (a dead letter); archived: its trigger was deleted."""

FINAL_STATUSES: frozenset[str] = frozenset({"delivered", "failed", "archived"})

LEGACY_NO_RESPONSE = frozenset({1000, 1001})
"""Statuses old servers stored for client exceptions (1000) and parse errors (1001)
(`server/src-lib/Hasura/Eventing/HTTP.hs`)."""


Outcome = Literal["ok", "handler_error", "timeout", "connection_failure"]
"""What happened to one delivery attempt, told apart because they call for different fixes:

- ok: the handler answered 2xx;
- handler_error: the handler answered another status (it ran, and said no);
- timeout: no answer within the trigger's `timeout_sec`. From v2.25 Hasura's processing timeout wins the race and
  records `http_status` 500, `request.payload` null and the message `Event Trigger "NAME" timed out while
  processing.` (`processError` -> `mkInvocation ... (Just 500)` in `server/src-lib/Hasura/Eventing/EventTrigger.hs`);
  before v2.25 the HTTP client's `ResponseTimeout`, an `http_exception` with message `Response timeout` and no
  status (`serializeHTTPExceptionMessage` in `server/src-lib/Hasura/HTTP.hs`);
- connection_failure: any other attempt without an HTTP answer: an `http_exception` (`Connection failure: ...`,
  `Connection timeout`, `No response data received`, an invalid URL; `getHttpExceptionJson` in
  `server/src-lib/Hasura/HTTP.hs`), or a legacy status 1000/1001 without a readable timeout.
"""

OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
"""Every outcome, in the order figures list them."""

OUTCOME_LABELS: dict[str, str] = {
    "ok": "answered 2xx",
    "handler_error": "handler error",
    "timeout": "timed out",
    "connection_failure": "connection failure",
}
"""How messages, reports and the window name each outcome."""

TIMEOUT_MESSAGE = re.compile(r'Event Trigger ".*" timed out while processing\.', re.DOTALL)
"""The v2.25+ processing-timeout message (`core.hasura.timeout_message`), whole. The store's SQL for the `outcome`
filter field matches the same text with `GLOB 'Event Trigger "*" timed out while processing.'`."""

RESPONSE_TIMEOUT = "Response timeout"
"""The `http_exception` message of http-client's `ResponseTimeout` (`server/src-lib/Hasura/HTTP.hs`)."""


def _json_or_text(value: Any) -> Any:
    """A JSON text parsed, or the value unchanged when it is not text or not JSON."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def invocation_outcome(http_status: int | None, response: Any) -> Outcome:
    """The outcome of one delivery attempt (see `Outcome`), from its HTTP status (None: no HTTP answer, legacy
    1000/1001 included) and its `response` record, parsed or as stored (JSON text).

    `inspector.store.filter_sql` computes the same in SQL for the `outcome` filter field, step by step:
    `tests/core/filter/test_evaluate.py` checks both on every shape. The message is `response.data.message`; when it
    is itself JSON text it is read once more (Hasura stores exception bodies and the timeout text JSON-encoded)."""
    if http_status is not None and 200 <= http_status < 300:
        return "ok"
    record = _json_or_text(response)
    data = record.get("data") if isinstance(record, Mapping) else None
    message = data.get("message") if isinstance(data, Mapping) else None
    inner = _json_or_text(message) if isinstance(message, str) else message
    if isinstance(message, str) and isinstance(inner, str) and TIMEOUT_MESSAGE.fullmatch(inner):
        return "timeout"
    if http_status is not None:
        return "handler_error"
    if (
        isinstance(inner, Mapping)
        and inner.get("type") == "http_exception"
        and inner.get("message") == RESPONSE_TIMEOUT
    ):
        return "timeout"
    return "connection_failure"


def _bool(value: Any) -> bool:
    """Booleans from the metadata API (true/false) or from `run_sql` ("t"/"f", "true"/"false")."""
    if isinstance(value, str):
        return value.lower() in ("t", "true", "1")
    return bool(value)


def _null(value: Any) -> Any:
    """`run_sql` renders NULL as the string "NULL" (Hasura's docs `docs/docs/api-reference/schema-api/run-sql.mdx`)."""
    return None if value == "NULL" else value


@functools.lru_cache(maxsize=4096)
def timestamp_seconds(text: str | None) -> float | None:
    """A Hasura timestamp (zone or none; none means UTC) as epoch seconds, or None when absent or unreadable.
    Remembered for the last few thousand texts: a capture reads thousands of rows sharing one time (a transaction's)."""
    if not text:
        return None
    try:
        return parse_timestamp(text).timestamp()
    except ValueError:
        return None


@functools.lru_cache(maxsize=4096)
def server_time_seconds(text: str | None, server_timezone: str | None) -> float | None:
    """A `TIMESTAMP` column of Hasura's event tables (`created_at`, `next_retry_at` of events and invocations) as epoch
    seconds, given the database's time zone (an IANA name; None: unknown, taken as UTC).

    Those columns hold the database's local wall time (`NOW()` in its `TimeZone`); the metadata API decodes them as
    `UTCTime` and labels them `Z` whatever the zone (`uncurryEventLog`, `uncurryEventInvocationLog` in
    `server/src-lib/Hasura/Backends/Postgres/DDL/EventTrigger.hs`), `run_sql` gives them without a zone, and the
    webhook body's `created_at` is a `LocalTime` (`epCreatedAt`, `server/src-lib/Hasura/RQL/Types/EventTrigger.hs`).
    So a UTC label or none means wall time in `server_timezone`; another offset is taken as written. None when
    absent, unreadable, or the zone is unknown to this machine. Remembered, as `timestamp_seconds`."""
    if not text:
        return None
    if server_timezone is None or server_timezone.upper() in ("UTC", "ETC/UTC", "Z", "GMT"):
        return timestamp_seconds(text)
    try:
        value = parse_timestamp(text)
        zone = ZoneInfo(server_timezone)
    except (ValueError, ZoneInfoNotFoundError):
        return None
    offset = value.utcoffset()
    if offset is None or not offset:
        value = value.replace(tzinfo=zone)
    return value.timestamp()


def valid_timezone(name: str) -> str:
    """`name` when this machine knows the IANA time zone (`Asia/Kolkata`, `UTC`), else `ValueError`."""
    try:
        ZoneInfo(name)
    except (ValueError, ZoneInfoNotFoundError) as exc:
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as Asia/Kolkata or UTC)") from exc
    return name


def derive_status(
    delivered: bool, error: bool, archived: bool, locked: str | None, next_retry_at: str | None, tries: int
) -> EventStatus:
    """The one status shown for an event's `event_log` fields
    (`server/src-lib/Hasura/Backends/Postgres/DDL/EventTrigger.hs`)."""
    if archived:
        return "archived"
    if delivered:
        return "delivered"
    if error:
        return "failed"
    if locked:
        return "in-flight"
    if next_retry_at or tries > 0:
        return "retrying"
    return "pending"


def row_key(table: str, row: Mapping[str, Any] | None) -> str | None:
    """The value that identifies the changed row: `id`, `<singular table>_id`, or the first `*_id` column."""
    if not row:
        return None
    singular = table[:-1] if table.endswith("s") else table
    for key in ("id", f"{singular}_id", f"{table}_id"):
        if key in row and row[key] is not None:
            return str(row[key])
    for key, value in row.items():
        if key.endswith("_id") and value is not None:
            return str(value)
    return None


def decode_twice(value: Any) -> Any:
    """Hasura keeps response bodies as JSON *strings*; return the parsed JSON when the string holds JSON, else the
    value unchanged (`["Base64", "..."]` blobs stay as they are)."""
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in ("{", "[", '"') or text in ("true", "false", "null") or _looks_numeric(text):
            try:
                return json.loads(text)
            except ValueError:
                return value
    return value


def _looks_numeric(text: str) -> bool:
    return bool(text) and (text[0].isdigit() or (text[0] == "-" and text[1:2].isdigit()))


@dataclass(frozen=True)
class EventRecord:
    """One `event_log` row as seen at one moment."""

    id: str
    trigger_name: str
    schema_name: str
    table_name: str
    payload: Any
    """The `event` object exactly as received: `op`, `data.old/new`, `session_variables`, `trace_context`."""
    created_at: str
    delivered: bool
    error: bool
    tries: int
    locked: str | None
    next_retry_at: str | None
    archived: bool
    server_timezone: str | None = field(default=None, compare=False)
    """The database's time zone, which `created_at` and `next_retry_at` are wall times in (None: UTC)."""

    @classmethod
    def from_hasura(cls, value: Mapping[str, Any], server_timezone: str | None = None) -> EventRecord:
        """From `pg_get_event_logs` / `pg_get_event_by_id` (Hasura's docs
        `docs/docs/api-reference/metadata-api/event-triggers.mdx`) or a `run_sql` row dict (Hasura's docs
        `docs/docs/api-reference/schema-api/run-sql.mdx`); `server_timezone` is the database's zone."""
        get = value.get
        payload = get("payload")
        if isinstance(payload, str):  # run_sql returns JSON columns as text
            payload = json.loads(payload)
        # The metadata API's JSON booleans and numbers are taken as they are (a capture reads thousands of rows a
        # second); run_sql's texts go through `_bool` and `_null`.
        delivered, error, archived, tries = get("delivered"), get("error"), get("archived"), get("tries")
        return cls(
            str(value["id"]),
            str(get("trigger_name", "")),
            str(get("schema_name", "public")),
            str(get("table_name", "")),
            payload,
            str(_null(get("created_at")) or ""),
            delivered if delivered is True or delivered is False else _bool(delivered),
            error if error is True or error is False else _bool(error),
            tries if type(tries) is int else int(_null(tries) or 0),
            _null(get("locked")),
            _null(get("next_retry_at")),
            archived if archived is True or archived is False else _bool(archived),
            server_timezone,
        )

    @property
    def created_seconds(self) -> float | None:
        """When the event was created, as epoch seconds (the true instant: `server_time_seconds`)."""
        return server_time_seconds(self.created_at, self.server_timezone)

    @property
    def op(self) -> str:
        return str((self.payload or {}).get("op", ""))

    @property
    def status(self) -> EventStatus:
        return derive_status(self.delivered, self.error, self.archived, self.locked, self.next_retry_at, self.tries)

    @property
    def state(self) -> tuple[Any, ...]:
        """The fields whose change is a state change worth recording."""
        return (self.delivered, self.error, self.tries, self.locked, self.next_retry_at, self.archived)

    @property
    def data_new(self) -> Any:
        return ((self.payload or {}).get("data") or {}).get("new")

    @property
    def data_old(self) -> Any:
        return ((self.payload or {}).get("data") or {}).get("old")

    @property
    def row_key(self) -> str | None:
        return row_key(self.table_name, self.data_new or self.data_old)

    @property
    def trace_id(self) -> str | None:
        trace = (self.payload or {}).get("trace_context")
        return str(trace["trace_id"]) if isinstance(trace, Mapping) and trace.get("trace_id") else None

    @property
    def session_role(self) -> str | None:
        session = (self.payload or {}).get("session_variables")
        return (
            str(session.get("x-hasura-role")) if isinstance(session, Mapping) and "x-hasura-role" in session else None
        )


@dataclass(frozen=True)
class InvocationRecord:
    """One delivery attempt (`event_invocation_logs` row)."""

    id: str
    event_id: str
    trigger_name: str
    status: int | None
    """The stored status: an HTTP code, None (no answer), or a legacy 1000/1001."""
    request: Any
    response: Any
    created_at: str
    server_timezone: str | None = field(default=None, compare=False)
    """The database's time zone, which `created_at` is a wall time in (None: UTC)."""

    @classmethod
    def from_hasura(cls, value: Mapping[str, Any], server_timezone: str | None = None) -> InvocationRecord:
        """From `pg_get_event_invocation_logs` (`http_status`) or a `run_sql` row (`status`, JSON as text);
        `server_timezone` is the database's zone."""
        status = value.get("http_status", value.get("status"))
        status = _null(status)
        request, response = _null(value.get("request")), _null(value.get("response"))
        if isinstance(request, str):
            request = decode_twice(request)
        if isinstance(response, str):
            response = decode_twice(response)
        return cls(
            id=str(value["id"]),
            event_id=str(value.get("event_id", "")),
            trigger_name=str(_null(value.get("trigger_name")) or ""),
            status=None if status is None else int(status),
            request=request,
            response=response,
            created_at=str(_null(value.get("created_at")) or ""),
            server_timezone=server_timezone,
        )

    @property
    def created_seconds(self) -> float | None:
        """When Hasura logged the attempt, as epoch seconds (the true instant: `server_time_seconds`)."""
        return server_time_seconds(self.created_at, self.server_timezone)

    @property
    def http_status(self) -> int | None:
        """The HTTP status, or None when no HTTP answer came (network error, timeout, legacy 1000/1001)."""
        if self.status is None or self.status in LEGACY_NO_RESPONSE:
            return None
        return self.status

    @property
    def ok(self) -> bool:
        return self.http_status is not None and 200 <= self.http_status < 300

    @property
    def outcome(self) -> Outcome:
        """ok, handler_error, timeout or connection_failure (`invocation_outcome`)."""
        return invocation_outcome(self.http_status, self.response)

    @property
    def response_body(self) -> Any:
        """The handler's answer, decoded twice: `data.body` (webhook_response) or `data.message` (client_error)."""
        if not isinstance(self.response, Mapping):
            return None
        data = self.response.get("data")
        if not isinstance(data, Mapping):
            return None
        return decode_twice(data.get("body", data.get("message")))
