"""The display filter's fields: what each one is called, what kind of value it holds, its choices and its one-line
description.

Owns the language's view of an event (`FIELDS` for people, `FIELD_KINDS` for the check). Which column or JSON
expression holds a field is the store's business (`inspector.store.filter_sql`), and how an in-memory event gives it
is `inspector.core.filter.evaluate`'s. Used by the parser (field names), the check (types), completion and the filter
bar's field list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "EVENT_STATUSES",
    "FIELDS",
    "FIELD_KINDS",
    "JSON_ROOTS",
    "OPS",
    "OUTCOMES",
    "SIMPLE_FIELDS",
    "FieldKind",
    "Kind",
    "describe_kind",
]

FIELDS: Mapping[str, str] = {
    "trigger": "event trigger name",
    "table": "table the event came from",
    "op": "operation: INSERT, UPDATE, DELETE or MANUAL",
    "status": "pending, retrying, in-flight, delivered, failed or archived",
    "tries": "tries Hasura counted",
    "attempts": "delivery attempts captured",
    "attempt": "number of the delivery attempt, from 1 (relay rules: the one being made; a capture: the latest)",
    "successes": "attempts answered 2xx (more than one: a duplicate delivery)",
    "duplicate": "delivered successfully more than once (true/false)",
    "flags": "anomalies found by analysis, e.g. out-of-order",
    "delivered": "delivered (true/false); on its own: delivered",
    "error": "retries exhausted (true/false); on its own: failed",
    "http_status": "HTTP status of the latest attempt (null: none, or no answer)",
    "invocation.http_status": "HTTP status of any attempt: invocation.http_status == 500",
    "invocation.response": "response of any attempt, as stored (JSON text)",
    "outcome": "outcome of any attempt: ok, handler_error, timeout or connection_failure",
    "created_at": 'creation time: "2024-03-01T12:00", -15m, "2h ago"',
    "latency": "ms from creation to delivery (or first attempt): 250, 2s",
    "row_key": "key of the changed row (id or *_id column)",
    "trace_id": "trace id from the payload's trace_context",
    "role": "session role (x-hasura-role)",
    "id": "Hasura event id",
    "data.new.<path>": "column of the new row: data.new.restaurant_id, data.new.items[0]",
    "data.old.<path>": "column of the old row (UPDATE, DELETE)",
    "session.<var>": "session variable: session.user-id (x-hasura-user-id)",
}
"""Every field with a one-line description, in the order completion offers them. `<...>` marks a pattern."""

EVENT_STATUSES = ("pending", "retrying", "in-flight", "delivered", "failed", "archived")
"""The statuses of a captured event (`inspector.core.events`)."""
OUTCOMES = ("ok", "handler_error", "timeout", "connection_failure")
"""What happened to a delivery attempt (`inspector.core.events.Outcome`: a 2xx, another status, no answer in time,
no answer at all)."""
OPS = ("INSERT", "UPDATE", "DELETE", "MANUAL")
"""Hasura's `op` of an event: the row operation, or MANUAL for an event invoked by hand."""

Kind = Literal["text", "enum", "int", "bool", "time", "duration", "json"]
"""What a field holds: `time` is epoch seconds, `duration` milliseconds, `json` a value in the payload."""


@dataclass(frozen=True)
class FieldKind:
    """The type of a field: its kind, the values an `enum` takes (canonical spelling), and whether it belongs to the
    event's delivery attempts (`per_attempt`: a test on it is true when ANY attempt passes it)."""

    kind: Kind
    choices: tuple[str, ...] = ()
    per_attempt: bool = False


FIELD_KINDS: Mapping[str, FieldKind] = {
    "trigger": FieldKind("text"),
    "table": FieldKind("text"),
    "op": FieldKind("enum", OPS),
    "status": FieldKind("enum", EVENT_STATUSES),
    "tries": FieldKind("int"),
    "attempts": FieldKind("int"),
    "attempt": FieldKind("int"),
    "successes": FieldKind("int"),
    "duplicate": FieldKind("bool"),
    "flags": FieldKind("text"),
    "delivered": FieldKind("bool"),
    "error": FieldKind("bool"),
    "http_status": FieldKind("int"),
    "invocation.http_status": FieldKind("int", per_attempt=True),
    "invocation.response": FieldKind("text", per_attempt=True),
    "outcome": FieldKind("enum", OUTCOMES, per_attempt=True),
    "created_at": FieldKind("time"),
    "latency": FieldKind("duration"),
    "row_key": FieldKind("text"),
    "trace_id": FieldKind("text"),
    "role": FieldKind("text"),
    "id": FieldKind("text"),
    # Values in the payload (the `event` object Hasura delivers); the path below the root is the field's.
    "data.new": FieldKind("json"),
    "data.old": FieldKind("json"),
    "session": FieldKind("text"),  # session variables are always strings in Hasura
}
"""The type of every canonical field name (`data.new`, `data.old`, `session` take a path or a variable)."""

JSON_ROOTS: Mapping[str, tuple[str, ...]] = {
    "data.new": ("data", "new"),
    "data.old": ("data", "old"),
    "session": ("session_variables",),
}
"""Where the payload fields live in the event payload (keys from its top)."""

SIMPLE_FIELDS = tuple(name for name in FIELDS if "<" not in name)
"""The fields written as they are (no path)."""


def describe_kind(kind: Kind) -> str:
    """A kind as named in messages ("ranges need numbers; trigger is text")."""
    return {
        "text": "text",
        "enum": "a name",
        "int": "a number",
        "bool": "true or false",
        "time": "a time",
        "duration": "a duration",
        "json": "a JSON value",
    }[kind]
