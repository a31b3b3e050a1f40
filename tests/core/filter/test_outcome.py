"""The outcome of a delivery attempt (`inspector.core.events.invocation_outcome`): ok, handler_error, timeout or
connection_failure, from every shape Hasura records (the v2.25+ processing timeout, the older `Response timeout`
exception, connection failures, handler answers), and the same in the store's SQL (`filter_sql.OUTCOME_SQL`) and in
the `outcome` filter field, in memory and through SQL."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest

from inspector.core.events import OUTCOMES, InvocationRecord, invocation_outcome
from inspector.core.filter import check, evaluate
from inspector.core.filter.fields import FIELD_KINDS
from inspector.core.filter.fields import OUTCOMES as FIELD_OUTCOMES
from inspector.core.hasura import client_error, http_exception, timeout_message, webhook_response
from inspector.store.capture_file import _DDL
from inspector.store.filter_sql import OUTCOME_SQL, compile_filter, register_functions

REQUEST = {
    "host": "localhost",
    "port": 8081,
    "secure": False,
    "requestHeaders": {"Content-Type": "application/json"},
    "path": "/validate-order",
    "queryString": "",
    "method": "POST",
    "responseTimeout": "ResponseTimeoutMicro 60000000",
}


def _exception(message: str) -> dict[str, Any]:
    return client_error(json.dumps(http_exception(message, REQUEST), separators=(",", ":")))


SHAPES: list[tuple[str, int | None, Any, str]] = [
    ("2xx", 200, webhook_response('{"ok":true}', [("Content-Type", "application/json")], 200), "ok"),
    ("204 without body", 204, webhook_response("", [], 204), "ok"),
    ("handler 500", 500, client_error('{"error":"kitchen closed"}'), "handler_error"),
    ("handler 404 text", 404, client_error("Not Found"), "handler_error"),
    (
        "v2.25 timeout (JSON-encoded message)",
        500,
        client_error(json.dumps(timeout_message("validate-order"))),
        "timeout",
    ),
    ("timeout message unencoded", 500, client_error(timeout_message("a-b_c")), "timeout"),
    ("timeout message with a quote in the name", 500, client_error(json.dumps(timeout_message('x"y'))), "timeout"),
    ("a handler body that merely mentions timing out", 500, client_error('"upstream timed out"'), "handler_error"),
    ("pre-2.25 Response timeout", None, _exception("Response timeout"), "timeout"),
    ("Response timeout with a status: an answer", 503, _exception("Response timeout"), "handler_error"),
    (
        "connection refused",
        None,
        _exception("Connection failure: [Errno 111] Connect call failed"),
        "connection_failure",
    ),
    ("connection timeout (connecting)", None, _exception("Connection timeout"), "connection_failure"),
    ("no response data", None, _exception("No response data received"), "connection_failure"),
    ("invalid URL", None, client_error(json.dumps({"type": "invalid_url", "message": "bad"})), "connection_failure"),
    ("no response at all", None, None, "connection_failure"),
    ("message not JSON", None, client_error("socket closed"), "connection_failure"),
    ("message an object", None, client_error({"type": "http_exception", "message": "Response timeout"}), "timeout"),
    ("message a number", None, client_error(5), "connection_failure"),  # type: ignore[arg-type]
    (
        "timeout text JSON-encoded twice",
        500,
        client_error(json.dumps(json.dumps(timeout_message("t")))),
        "handler_error",
    ),
    ("response not JSON", None, "{not json", "connection_failure"),
    ("response a JSON string", 502, '"bad gateway"', "handler_error"),
]


def _stored(response: Any) -> str | None:
    """The response as the capture keeps it: JSON text (a raw string stays as it is, to test unreadable ones)."""
    if response is None or isinstance(response, str):
        return response
    return json.dumps(response)


@pytest.fixture(scope="module")
def conn() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.executescript(_DDL)
    register_functions(conn)
    for n, (_name, status, response, _outcome) in enumerate(SHAPES):
        event = f"e{n}"
        conn.execute(
            "INSERT INTO events (seq, id, trigger_name, status, attempts) VALUES (?, ?, 't', 'retrying', 1)", (n, event)
        )
        conn.execute(
            "INSERT INTO invocations (id, event_id, trigger_name, attempt, http_status, status, response) "
            "VALUES (?, ?, 't', 1, ?, ?, ?)",
            (f"i{n}", event, status, status, _stored(response)),
        )
    return conn


@pytest.mark.parametrize(("name", "status", "response", "expected"), SHAPES, ids=[s[0] for s in SHAPES])
def test_each_shape_has_its_outcome_in_python_and_in_sql(
    conn: sqlite3.Connection, name: str, status: int | None, response: Any, expected: str
) -> None:
    assert invocation_outcome(status, response) == expected, name
    assert invocation_outcome(status, _stored(response)) == expected, "parsed or stored, the same"
    index = next(n for n, shape in enumerate(SHAPES) if shape[0] == name)
    (in_sql,) = conn.execute(f"SELECT {OUTCOME_SQL} FROM invocations i WHERE i.id = ?", (f"i{index}",)).fetchone()
    assert in_sql == expected


def test_an_invocation_record_read_from_hasura_knows_its_outcome() -> None:
    record = InvocationRecord.from_hasura(
        {
            "id": "i1",
            "event_id": "e1",
            "trigger_name": "validate-order",
            "http_status": 500,
            "request": {"payload": None, "headers": [], "version": "2"},
            "response": client_error(json.dumps(timeout_message("validate-order"))),
            "created_at": "2024-03-01T12:00:00Z",
        }
    )
    assert record.outcome == "timeout" and not record.ok
    legacy = InvocationRecord.from_hasura(
        {"id": "i2", "event_id": "e1", "status": "1000", "response": json.dumps(_exception("Response timeout"))}
    )
    assert legacy.http_status is None and legacy.outcome == "timeout"


def test_the_filter_field_lists_the_outcomes_of_core_events() -> None:
    assert FIELD_OUTCOMES == OUTCOMES
    kind = FIELD_KINDS["outcome"]
    assert kind.kind == "enum" and kind.per_attempt and kind.choices == OUTCOMES


@pytest.mark.parametrize(
    ("text", "outcomes"),
    [
        ('outcome == "timeout"', {"timeout"}),
        ("outcome == ok", {"ok"}),
        ("outcome in {timeout connection_failure}", {"timeout", "connection_failure"}),
        ("not outcome in {timeout connection_failure}", {"ok", "handler_error"}),
        ("outcome != handler_error", {"ok", "timeout", "connection_failure"}),
        ("outcome == TIMEOUT and trigger == t", {"timeout"}),
    ],
)
def test_the_outcome_field_selects_the_same_events_in_memory_and_in_sql(
    conn: sqlite3.Connection, text: str, outcomes: set[str]
) -> None:
    events = {
        f"e{n}": {
            "id": f"e{n}",
            "trigger_name": "t",
            "status": "retrying",
            "attempts": 1,
            "invocations": [{"http_status": status, "response": _stored(response)}],
        }
        for n, (_name, status, response, _outcome) in enumerate(SHAPES)
    }
    checked = check(text)
    in_memory = {event_id for event_id, event in events.items() if evaluate(checked, event)}
    compiled = compile_filter(checked)
    in_sql = {row[0] for row in conn.execute(f"SELECT e.id FROM events e WHERE {compiled.where}", compiled.params)}
    assert in_memory == in_sql == {f"e{n}" for n, shape in enumerate(SHAPES) if shape[3] in outcomes}
