"""A checked filter evaluated in memory gives the same events as the same filter run through SQL on the same events
in a real SQLite capture: every example (each field kind, every operator, sets and ranges, free text, JSON paths and
types, times, `not`/`and`/`or`, presence), their complements, and events shaped like what arrives from Hasura."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from inspector.core.filter import check, evaluate
from inspector.store.capture_file import CaptureFile
from inspector.store.filter_sql import compile_filter, register_functions
from tests.helpers.filter_events import ALL, EXAMPLES, NOW, build_filter_capture, event_rows
from tests.helpers.postgres import capture_in_postgres, select_ids

RUNNABLE = [(text, expected) for text, expected in EXAMPLES if not text.startswith("STATUS")]
EXTRA = [
    # more of each kind, beyond the SQL examples
    ("duplicate", set()),
    ("duplicate == false", ALL),
    ("successes == 1", {"e1", "e3"}),
    ("successes >= 0 and attempts in {1..2}", {"e1", "e2", "e3"}),
    ("flags", set()),
    ("flags == null", ALL),
    ('flags contains "out-of-order"', set()),
    ('status matches "^(re|fa)"', {"e2", "e5"}),
    ('invocation.response matches "(?i)KITCHEN"', {"e1", "e2", "e5"}),
    ("invocation.response", {"e1", "e2", "e3", "e5"}),
    ("invocation.http_status in {200 503}", {"e1", "e2", "e3"}),
    ("not invocation.http_status in {500..599}", {"e3", "e4"}),
    ("outcome == connection_failure", {"e5"}),
    ("outcome == handler_error", {"e1", "e2", "e5"}),
    ("outcome == timeout", set()),
    ("outcome == ok and not outcome == handler_error", {"e3"}),
    ('data.new.total contains "5"', {"e1"}),
    ('data.new.total matches "^9$"', {"e2"}),
    ('data.new.payment_valid contains "1"', {"e3"}),
    ('data.new.items matches "sushi"', {"e5"}),
    ("data.new.items contains '[\"pizza\"]'", {"e1"}),
    ("data.new.total in {9 40}", {"e2", "e5"}),
    ("data.new.total in {20..30}", {"e1"}),
    ('data.new.order_id in {"o1" o2 3}', {"e1", "e2"}),
    ('data.new.order_id >= "o3"', {"e3", "e5"}),
    ("data.new.order_id < 100", set()),
    ("data.old.payment_valid", {"e3"}),
    ("data.new.items[1]", set()),
    ("data.new.items[0]", {"e1", "e2", "e5"}),
    ("session.role != user", {"e3"}),
    ('session.user-id > "u2"', {"e4", "e5"}),
    ("session.user-id == 1", set()),
    ('"order_id"', ALL),
    ('"o1"', {"e1"}),
    ('"1 main"', {"e1"}),
    ('"main st"', {"e1"}),
    ('"elm stre*"', set()),
    ('"el*"', {"e2"}),
    ('"x-hasura-user"', {"e1", "e2", "e4", "e5"}),
    ("created_at >= 1709294520 and created_at < 1709294580", {"e3"}),
    ("created_at in {1..2}", None),
    ("latency > 50ms and latency < 100ms", {"e3"}),
    ("latency in {11000}", {"e1"}),
    ("trace_id == null", set()),
    ("id in {e1 e5}", {"e1", "e5"}),
    ('id > "e3"', {"e4", "e5"}),
    ("tries != 1 and not (status == delivered or error)", {"e4"}),
]
"""More filters: run in memory and through SQL, which must agree; where the expected set is None only the agreement is
checked (a filter that does not check is skipped)."""


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CaptureFile]:
    capture = build_filter_capture(tmp_path_factory.mktemp("evaluate") / "capture.sqlite")
    register_functions(capture.conn)
    yield capture
    capture.close()


@pytest.fixture(scope="module")
def events(capture: CaptureFile) -> dict[str, dict[str, Any]]:
    return event_rows(capture)


def in_memory(events: dict[str, dict[str, Any]], text: str) -> set[str]:
    checked = check(text, now=NOW)
    return {event_id for event_id, event in events.items() if evaluate(checked, event)}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, capture: CaptureFile) -> Any:
    """The SQL side on both stores: the capture file, and the same capture in PostgreSQL (its `PostgresCapture`)."""
    if request.param == "sqlite":
        return capture
    return capture_in_postgres(request.getfixturevalue("postgres_server"), capture.path)


def in_sql(capture: Any, text: str) -> set[str]:
    if not isinstance(capture, CaptureFile):
        return select_ids(capture, check(text, now=NOW), NOW)
    compiled = compile_filter(check(text, now=NOW))
    return {row["id"] for row in capture.rows(f"SELECT e.id FROM events e WHERE {compiled.where}", compiled.params)}


@pytest.mark.parametrize(("text", "expected"), RUNNABLE, ids=[t or "<empty>" for t, _ in RUNNABLE])
def test_every_example_selects_the_same_events_in_memory_and_in_sql(
    store: Any, events: dict[str, dict[str, Any]], text: str, expected: set[str]
) -> None:
    assert in_memory(events, text) == in_sql(store, text) == expected


@pytest.mark.parametrize(("text", "expected"), EXTRA, ids=[t for t, _ in EXTRA])
def test_more_filters_agree(
    store: Any, events: dict[str, dict[str, Any]], text: str, expected: set[str] | None
) -> None:
    try:
        check(text)
    except ValueError:
        assert expected is None
        return
    memory = in_memory(events, text)
    assert memory == in_sql(store, text)
    if expected is not None:
        assert memory == expected


@pytest.mark.parametrize("text", [t for t, _ in RUNNABLE if t.strip()] + [t for t, e in EXTRA if e is not None])
def test_not_is_the_complement_in_memory(events: dict[str, dict[str, Any]], text: str) -> None:
    assert in_memory(events, f"not ({text})") == ALL - in_memory(events, text)


def test_events_with_a_parsed_payload_and_missing_columns() -> None:
    """An event as it may arrive (payload not yet JSON text, no capture columns): missing values pass no test."""
    event = {
        "id": "x1",
        "trigger_name": "validate-order",
        "payload": {"op": "INSERT", "data": {"old": None, "new": {"id": 1, "note": "Crème brûlée"}}},
    }
    assert evaluate(check("trigger == validate-order and data.new.id == 1"), event)
    assert evaluate(check('"creme brulee"'), event) and evaluate(check('"BRÛL*"'), event)
    assert not evaluate(check("http_status"), event) and evaluate(check("http_status == null"), event)
    assert evaluate(check("not invocation.http_status"), event) and not evaluate(check("delivered"), event)
    assert evaluate(check(""), event) and not evaluate(check("latency > 0"), event)
    assert evaluate(check("data.old == null and not data.old"), event)
