"""The display filter: parsing (trees, precedence, error messages and spans), compilation (parameters only, never user
text in SQL), hostile input, completion, and every example run against a real capture file."""

from __future__ import annotations

import contextlib
import inspect
import re
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inspector.core.events import EventRecord, InvocationRecord
from inspector.core.filter import (
    FIELDS,
    MAX_DEPTH,
    MAX_GROUPS,
    MAX_LENGTH,
    MAX_SET,
    All,
    And,
    Comparison,
    CompiledFilter,
    FilterError,
    In,
    Not,
    Or,
    Present,
    Range,
    Text,
    check,
    compile_filter,
    complete,
    completion_start,
    parse,
    register_functions,
)
from inspector.core.hasura import client_error, webhook_response
from inspector.store.capture_file import CaptureFile, CaptureWriter
from tests.helpers.captures import event_dict, invocation_dict, ok_response

NOW = 1709294700.0
"""2024-03-01T12:05:00Z: "now" for relative times in these tests."""


# --- a capture with five events that differ in every field the language can see ---------------------------------


def _failure(status: int) -> dict[str, Any]:
    return webhook_response('{"error":"kitchen closed"}', [("Content-Type", "application/json")], status)


def _build(path: Path) -> CaptureFile:
    capture = CaptureFile.create(path)
    writer = CaptureWriter(capture)

    def record(event: dict[str, Any], final: dict[str, Any], attempts: list[tuple[str, int | None, str]]) -> None:
        writer.observe_event(EventRecord.from_hasura(event), now=NOW)
        for n, (inv_id, status, at) in enumerate(attempts):
            response = (
                ok_response()
                if status == 200
                else _failure(status)
                if status
                else client_error('{"type":"http_exception","message":"ConnectionFailure: connection refused"}')
            )
            writer.observe_invocation(
                InvocationRecord.from_hasura(invocation_dict(inv_id, event, status, response, at, current_retry=n)),
                now=NOW,
            )
        writer.observe_event(EventRecord.from_hasura({**event, **final}), now=NOW)

    e1 = event_dict(
        "e1",
        new={"order_id": "o1", "restaurant_id": 3, "address": "1 Main St", "items": ["pizza"], "total": 25.5},
        created_at="2024-03-01T12:00:00",
        session_variables={"x-hasura-role": "user", "x-hasura-user-id": "u1"},
    )
    record(
        e1,
        {"tries": 2, "delivered": True},
        [("i1a", 500, "2024-03-01T12:00:01"), ("i1b", 200, "2024-03-01T12:00:11")],
    )
    e2 = event_dict(
        "e2",
        new={"order_id": "o2", "restaurant_id": 5, "address": "22 Elm St", "items": ["salad"], "total": 9},
        created_at="2024-03-01T12:01:00",
        session_variables={"x-hasura-role": "user", "x-hasura-user-id": "u2"},
    )
    record(e2, {"tries": 1, "next_retry_at": "2024-03-01T12:01:10"}, [("i2a", 503, "2024-03-01T12:01:00.050")])
    e3 = event_dict(
        "e3",
        trigger="restaurant-approval",
        op="UPDATE",
        old={"order_id": "o3", "restaurant_id": 3, "payment_valid": False},
        new={
            "order_id": "o3",
            "restaurant_id": 3,
            "payment_valid": True,
            "address": "1 Rue de la Paix",
            "note": "café au lait",
        },
        created_at="2024-03-01T12:02:00",
        session_variables={"x-hasura-role": "admin"},
    )
    record(e3, {"tries": 1, "delivered": True}, [("i3a", 200, "2024-03-01T12:02:00.080")])
    e4 = event_dict(
        "e4",
        op="DELETE",
        old={"order_id": "o4", "restaurant_id": "3"},
        created_at="2024-03-01T12:03:00",
        session_variables={"x-hasura-role": "user", "x-hasura-user-id": "u4"},
    )
    record(e4, {}, [])
    e5 = event_dict(
        "e5",
        trigger="notify-kitchen",
        new={"order_id": "o5", "restaurant_id": 7, "address": "9 Ocean Ave", "items": ["sushi"], "total": 40},
        created_at="2024-03-01T12:04:00",
        session_variables={"x-hasura-role": "user", "x-hasura-user-id": "u5"},
    )
    record(
        e5,
        {"tries": 3, "error": True},
        [
            ("i5a", None, "2024-03-01T12:04:00.200"),
            ("i5b", 500, "2024-03-01T12:04:10"),
            ("i5c", 500, "2024-03-01T12:04:20"),
        ],
    )
    writer.flush()
    return capture


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CaptureFile]:
    capture = _build(tmp_path_factory.mktemp("filter") / "capture.sqlite")
    register_functions(capture.conn)
    yield capture
    capture.close()


def run(capture: CaptureFile, text: str) -> set[str]:
    compiled = compile_filter(text, now=NOW)
    return {row["id"] for row in capture.rows(f"SELECT e.id FROM events e WHERE {compiled.where}", compiled.params)}


def test_the_capture_is_what_the_tests_assume(capture: CaptureFile) -> None:
    rows = {r["id"]: r for r in capture.rows("SELECT * FROM events")}
    assert {k: rows[k]["status"] for k in rows} == {
        "e1": "delivered",
        "e2": "retrying",
        "e3": "delivered",
        "e4": "pending",
        "e5": "failed",
    }
    assert {k: rows[k]["last_http_status"] for k in rows} == {"e1": 200, "e2": 503, "e3": 200, "e4": None, "e5": 500}
    assert rows["e4"]["row_key"] == "o4" and rows["e1"]["attempts"] == 2


# --- every example, against the capture -----------------------------------------------------------------------------

EXAMPLES = [
    # the examples
    ('trigger == "validate-order" and http_status >= 500', {"e2"}),
    ("data.new.restaurant_id == 3 || tries > 1", {"e1", "e3", "e5"}),
    ("not delivered", {"e2", "e4", "e5"}),
    ("!delivered", {"e2", "e4", "e5"}),
    ("status in {failed retrying}", {"e2", "e5"}),
    ("status in {failed, retrying}", {"e2", "e5"}),
    ('"pizza"', {"e1"}),
    ('session.user-id == "u1"', {"e1"}),
    ("session.x-hasura-user-id == u1", {"e1"}),
    ("latency > 100", {"e1", "e5"}),
    ('data.new.address matches "^1 "', {"e1", "e3"}),
    # everything
    ("", {"e1", "e2", "e3", "e4", "e5"}),
    ("   ", {"e1", "e2", "e3", "e4", "e5"}),
    # booleans and statuses
    ("delivered", {"e1", "e3"}),
    ("delivered == false", {"e2", "e4", "e5"}),
    ("delivered != true", {"e2", "e4", "e5"}),
    ("error", {"e5"}),
    ("delivered && !error", {"e1", "e3"}),
    ("status == delivered", {"e1", "e3"}),
    ('status != "delivered"', {"e2", "e4", "e5"}),
    ("status not in {delivered}", {"e2", "e4", "e5"}),
    ("STATUS == Pending", set()),  # field names are case-sensitive: see the error tests
    # text fields
    ('trigger != "validate-order"', {"e3", "e5"}),
    ("trigger == notify-kitchen", {"e5"}),
    ('trigger contains "approval"', {"e3"}),
    ('trigger not contains "order"', {"e3", "e5"}),
    ('trigger matches "^(notify|restaurant)-"', {"e3", "e5"}),
    ('trigger ~ "kitchen$"', {"e5"}),
    ('trigger matches "(?i)^VALIDATE"', {"e1", "e2", "e4"}),
    ("table == orders", {"e1", "e2", "e3", "e4", "e5"}),
    ("op == delete", {"e4"}),
    ("op in {insert UPDATE}", {"e1", "e2", "e3", "e5"}),
    ("role == admin", {"e3"}),
    ("row_key == o1 or row_key == o4", {"e1", "e4"}),
    ('id == "e3"', {"e3"}),
    ("trace_id", {"e1", "e2", "e3", "e4", "e5"}),
    # numbers
    ("tries > 1", {"e1", "e5"}),
    ("tries ge 2 and tries lt 3", {"e1"}),
    ("attempts >= 2", {"e1", "e5"}),
    ("attempts == 0", {"e4"}),
    ("http_status in {200..299}", {"e1", "e3"}),
    ("http_status in {503, 200..201}", {"e1", "e2", "e3"}),
    ("http_status == null", {"e4"}),
    ("http_status != null", {"e1", "e2", "e3", "e5"}),
    ("http_status", {"e1", "e2", "e3", "e5"}),
    # any attempt
    ("invocation.http_status >= 500", {"e1", "e2", "e5"}),
    ('invocation.http_status >= 500 and trigger == "validate-order"', {"e1", "e2"}),
    ("invocation.http_status == null", {"e5"}),
    ("invocation.http_status != 500", {"e2", "e3", "e4"}),
    ("not invocation.http_status", {"e4"}),
    ("invocation.http_status in {500..599}", {"e1", "e2", "e5"}),
    ('invocation.response contains "connection refused"', {"e5"}),
    # JSON row data, typed
    ("data.old.restaurant_id == 3", {"e3"}),
    ('data.old.restaurant_id == "3"', {"e4"}),
    ("data.new.restaurant_id == 3.0", {"e1", "e3"}),
    ("data.new.restaurant_id != 3", {"e2", "e4", "e5"}),
    ("not data.new.restaurant_id == 3", {"e2", "e4", "e5"}),
    ("data.new.restaurant_id in {3 7}", {"e1", "e3", "e5"}),
    ('data.old.restaurant_id in {3 "3"}', {"e3", "e4"}),
    ("data.new.restaurant_id in {4..7}", {"e2", "e5"}),
    ("data.new.total > 20", {"e1", "e5"}),
    ("data.new.total == 25.5", {"e1"}),
    ("data.new.address > 5", set()),  # a string is not a number, not "greater than" one
    ('data.new.address > "2"', {"e2", "e5"}),
    ("data.new.payment_valid == true", {"e3"}),
    ("data.new.payment_valid == 1", set()),  # JSON true is not the number 1
    ("data.old.payment_valid == false", {"e3"}),
    ("data.old.payment_valid != false", {"e1", "e2", "e4", "e5"}),
    ('data.new.items[0] == "pizza"', {"e1"}),
    ('data.new.items contains "sushi"', {"e5"}),
    ("data.new.items[0] in {pizza salad}", {"e1", "e2"}),
    ('data.new == "x"', set()),
    ("data.new", {"e1", "e2", "e3", "e5"}),
    ("data.old", {"e3", "e4"}),
    ("data.new.missing", set()),
    ("data.new.missing == null", {"e1", "e2", "e3", "e4", "e5"}),
    ('data.new.address matches "\\d+ [A-Z][a-z]+ [A-Z]"', {"e1", "e2", "e5"}),
    ('data.new.address matches r"^\\d{2} "', {"e2"}),
    ('data.new.address not matches "^1 "', {"e2", "e4", "e5"}),
    # session
    ("session.role == admin", {"e3"}),
    ("session.USER-ID in {u1 u2}", {"e1", "e2"}),
    ("session.user-id", {"e1", "e2", "e4", "e5"}),
    # free text
    ('"PIZZA"', {"e1"}),
    ('"piz*"', {"e1"}),
    ('"café"', {"e3"}),
    ('"cafe"', {"e3"}),
    ("'rue de la paix'", {"e3"}),
    ('"pizza" or role == admin', {"e1", "e3"}),
    ('not "pizza"', {"e2", "e3", "e4", "e5"}),
    # times
    ('created_at >= "2024-03-01T12:01"', {"e2", "e3", "e4", "e5"}),
    ('created_at == "2024-03-01T12:01"', {"e2"}),
    ('created_at < "2024-03-01T12:01"', {"e1"}),
    ('created_at <= "2024-03-01T12:01"', {"e1", "e2"}),
    ('created_at > "2024-03-01T12:01"', {"e3", "e4", "e5"}),
    ('created_at != "2024-03-01T12:01"', {"e1", "e3", "e4", "e5"}),
    ("created_at == 2024-03-01", {"e1", "e2", "e3", "e4", "e5"}),
    ('created_at > "2024-03-01T12:02:00+01:00"', {"e1", "e2", "e3", "e4", "e5"}),
    ('created_at >= "2024-03-01T12:02:00.000001Z"', {"e4", "e5"}),
    ("created_at > -150s", {"e4", "e5"}),
    ('created_at > "4 minutes ago"', {"e3", "e4", "e5"}),
    ('created_at > "3 minutes ago"', {"e4", "e5"}),  # 12:02:00 exactly is not after 12:02:00
    ('created_at > "-2.5m"', {"e4", "e5"}),
    ("created_at < now", {"e1", "e2", "e3", "e4", "e5"}),
    (f"created_at >= {NOW - 60}", {"e5"}),
    # latency
    ("latency < 1s", {"e2", "e3", "e5"}),
    ("latency <= 80ms", {"e2", "e3"}),
    ("latency > 0.1s and latency < 1m", {"e1", "e5"}),
    ("latency == null", {"e4"}),
    ("latency in {49..51 79..81}", {"e2", "e3"}),
    # precedence and grouping
    ("trigger == notify-kitchen or trigger == restaurant-approval and delivered", {"e3", "e5"}),
    ("(trigger == notify-kitchen or trigger == restaurant-approval) and delivered", {"e3"}),
    ("not not delivered", {"e1", "e3"}),
    ("NOT (delivered OR error) AND op == insert", {"e2"}),
    ('(trigger == "validate-order" || trigger == notify-kitchen) && !(status == delivered)', {"e2", "e4", "e5"}),
    ("not (trigger == validate-order and data.new.restaurant_id == 3)", {"e2", "e3", "e4", "e5"}),
    ("not (data.new.restaurant_id == 3 or tries > 1)", {"e2", "e4"}),
    ("not (not delivered or not (tries > 1))", {"e1"}),
    # long chains (more than 16 operands are a CASE)
    ("not (" + " or ".join(f"data.new.restaurant_id == {n}" for n in range(4, 30)) + ")", {"e1", "e3", "e4"}),
    (" and ".join(f"tries != {n}" for n in range(4, 30)) + " and delivered", {"e1", "e3"}),
    ("not (" + " and ".join(["delivered"] * 20) + ")", {"e2", "e4", "e5"}),
    (" || ".join(["error"] * 20 + ["role == admin"]), {"e3", "e5"}),
]


@pytest.mark.parametrize(("text", "expected"), EXAMPLES, ids=[t or "<empty>" for t, _ in EXAMPLES])
def test_examples_select_exactly_the_expected_events(capture: CaptureFile, text: str, expected: set[str]) -> None:
    if text.startswith("STATUS"):
        with pytest.raises(FilterError, match="unknown field 'STATUS' — did you mean 'status'"):
            compile_filter(text)
        return
    assert run(capture, text) == expected


@pytest.mark.parametrize("text", [t for t, _ in EXAMPLES if t.strip() and not t.startswith("STATUS")])
def test_not_is_the_complement(capture: CaptureFile, text: str) -> None:
    """Missing fields and SQL's NULL never make an event fall out of both `x` and `not x`."""
    assert run(capture, f"not ({text})") == {"e1", "e2", "e3", "e4", "e5"} - run(capture, text)


def test_where_combines_safely_with_more_sql(capture: CaptureFile) -> None:
    compiled = compile_filter("trigger == notify-kitchen or delivered")
    rows = capture.rows(f"SELECT e.id FROM events e WHERE {compiled.where} AND e.id != ?", [*compiled.params, "e1"])
    assert {r["id"] for r in rows} == {"e3", "e5"}


def test_matches_needs_the_regexp_function_on_the_connection(capture: CaptureFile) -> None:
    compiled = compile_filter('trigger matches "x"')
    assert compiled.needs_regexp and not compile_filter('trigger contains "x"').needs_regexp
    conn = sqlite3.connect(str(capture.path))
    try:
        with pytest.raises(sqlite3.OperationalError, match=r"(?i)no such function: regexp"):
            conn.execute(f"SELECT e.id FROM events e WHERE {compiled.where}", compiled.params).fetchall()
        register_functions(conn)
        assert conn.execute(f"SELECT count(*) FROM events e WHERE {compiled.where}", compiled.params).fetchone() == (0,)
    finally:
        conn.close()


def test_regexp_function_is_safe_on_bad_patterns_and_odd_values() -> None:
    conn = sqlite3.connect(":memory:")
    register_functions(conn)
    for pattern in ("(", "a{99999999999}", "(" * 5000 + ")" * 5000):
        assert conn.execute("SELECT 'abc' REGEXP ?", (pattern,)).fetchone() == (0,)
    assert conn.execute("SELECT 123 REGEXP '^12'").fetchone() == (1,)
    assert conn.execute("SELECT X'616263' REGEXP 'b'").fetchone() == (1,)
    assert conn.execute("SELECT NULL REGEXP 'a'").fetchone() == (None,)
    conn.close()


# --- parse trees ------------------------------------------------------------------------------------------------------


def test_empty_text_is_all_and_compiles_to_1() -> None:
    assert isinstance(parse(""), All) and isinstance(parse(" \t\n"), All)
    compiled = compile_filter("")
    assert compiled == CompiledFilter("1", [], False, compiled.expr)


def test_precedence_not_over_and_over_or() -> None:
    tree = parse("delivered or tries > 1 and not error")
    assert isinstance(tree, Or) and len(tree.operands) == 2
    assert isinstance(tree.operands[0], Present) and tree.operands[0].field.name == "delivered"
    conj = tree.operands[1]
    assert isinstance(conj, And) and isinstance(conj.operands[0], Comparison) and isinstance(conj.operands[1], Not)
    grouped = parse("(delivered || tries > 1) && !error")
    assert isinstance(grouped, And) and isinstance(grouped.operands[0], Or)


def test_chains_are_flat_and_spans_are_character_offsets() -> None:
    text = 'trigger == "a" or op == INSERT or tries > 2'
    tree = parse(text)
    assert isinstance(tree, Or) and len(tree.operands) == 3
    first = tree.operands[0]
    assert isinstance(first, Comparison) and text[first.start : first.end] == 'trigger == "a"'
    assert text[first.op_start : first.op_end] == "=="
    assert first.value.kind == "string" and first.value.value == "a" and first.field.text == "trigger"


def test_fields_and_values() -> None:
    test = parse("data.new.items[2].name == 'x'")
    assert isinstance(test, Comparison) and test.field.name == "data.new" and test.field.path == ("items", 2, "name")
    assert test.field.json_path == '$.data.new."items"[2]."name"'
    session = parse("session.User-Id == u1")
    assert isinstance(session, Comparison) and session.field.json_path == '$.session_variables."x-hasura-user-id"'
    numbers = parse("latency > 1.5s")
    assert isinstance(numbers, Comparison) and numbers.value.value == 1.5 and numbers.value.unit == "s"
    in_set = parse("http_status in {200..299, 404 -1}")
    assert isinstance(in_set, In) and isinstance(in_set.items[0], Range)
    assert [getattr(v, "value", None) for v in in_set.items[1:]] == [404, -1]
    assert isinstance(parse('"free text"'), Text)
    negated = parse("trigger not matches 'x'")
    assert isinstance(negated, Not) and isinstance(negated.operand, Comparison) and negated.operand.op == "matches"
    assert isinstance(parse("tries eq 1"), Comparison) and parse("tries eq 1").op == "=="  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        (r'"a\"b"', 'a"b'),
        (r"'it\'s'", "it's"),
        (r'"tab\there"', "tab\there"),
        (r'"\x41\u00e9\U0001F355"', "Aé🍕"),
        (r'"\ud83c\udf55"', "🍕"),
        (r'"back\\slash"', "back\\slash"),
        (r'"^\d+ \."', r"^\d+ \."),  # unknown escapes stay, so regexes read naturally
        (r'r"\d\"q"', r"\d\"q"),
        ("'single \"double\" inside'", 'single "double" inside'),
        ('"line\nbreak"', "line\nbreak"),
    ],
)
def test_string_escapes(literal: str, value: str) -> None:
    test = parse(f"trigger == {literal}")
    assert isinstance(test, Comparison) and test.value.value == value
    assert compile_filter(test).params == [value]


def test_compile_accepts_a_parsed_tree() -> None:
    tree = parse("tries > 1")
    assert compile_filter(tree).params == [1] and compile_filter(tree).expr is tree


def test_created_at_converts_to_epoch_seconds() -> None:
    compiled = compile_filter('created_at > "2024-03-01T12:00"')
    assert compiled.where == "(e.created_ts >= ?)" and compiled.params == [1709294400.0 + 60]
    assert compile_filter("created_at > -1h", now=NOW).params == [NOW - 3600]
    assert compile_filter('created_at > "2 hours ago"', now=NOW).params == [NOW - 7200]
    assert compile_filter("created_at == 2024-03-01").params == [1709251200.0, 1709251200.0 + 86400]
    before = time.time()
    (moment,) = compile_filter("created_at > now").params
    assert before <= moment <= time.time()


def test_latency_units_are_milliseconds() -> None:
    assert compile_filter("latency > 250").params == [250]
    assert compile_filter("latency > 2s").params == [2000.0]
    assert compile_filter("latency > 1.5m").params == [90000.0]
    assert compile_filter("latency > 20ms").params == [20.0]


# --- errors a user can act on, with the span to underline -----------------------------------------------------------

ERRORS = [
    ("trigr == 'x'", "unknown field 'trigr' — did you mean 'trigger'?", "trigr"),
    ("trigger ==", "expected a value after '=='", "=="),
    ("trigger == )", "expected a value after '==', found ')'", ")"),
    ('trigger == "abc', 'unterminated string — add the closing "', '"abc'),
    ("trigger == 'abc\\'", "unterminated string", "'abc\\'"),
    ("pizza", 'to search for text, quote it: "pizza"', "pizza"),
    ("restaurant_id == 3", "data.new.restaurant_id", "restaurant_id"),
    ("data.nwe.id == 1", "did you mean 'data.new.id'?", "data.nwe.id"),
    ("data.restaurant_id == 1", "did you mean 'data.new.restaurant_id'?", "data.restaurant_id"),
    ("invocation.status == 1", "did you mean 'invocation.http_status'?", "invocation.status"),
    ("data.new. == 1", "expected a column name after 'data.new.'", "data.new."),
    ("data.new.a-b == 1", "'a-b' is not a column name", "a-b"),
    ("data.new.a..b == 1", "an empty column name", "."),
    ("session. == 1", "expected a variable after 'session.'", "session."),
    ("status == faild", "unknown status 'faild' — did you mean 'failed'?", "faild"),
    ("op == insrt", "unknown op 'insrt' — did you mean 'insert'?", "insrt"),
    ("status > failed", "status has no order", ">"),
    ("tries == abc", "tries is a number", "abc"),
    ("tries > 2s", "tries takes a plain number", "2s"),
    ("tries contains 1", "'contains' works on text; tries is a number", "contains"),
    ("delivered == 1", "delivered is true or false, not 1", "1"),
    ("delivered > true", "delivered is true or false: use == or !=", ">"),
    ("trigger == true", 'quote it to mean the word: "true"', "true"),
    ("tries < null", "null only compares with == or !=", "<"),
    ("created_at > 15m", "write -15m", "15m"),
    ("created_at > yesterday", "can't read yesterday as a time", "yesterday"),
    ("created_at in {1 2}", "created_at can't be used with 'in'", "created_at"),
    ("data.new.x > 5m", "units only apply to latency and created_at", "5m"),
    ("data.new.x in {true}", "true and false can't be in a set", "true"),
    ("status in {failed null}", "null can't be in a set", "null"),
    ("trigger in {1..2}", "ranges need numbers; trigger is text", "1..2"),
    ("http_status in {200..abc}", "a range needs numbers, not abc", "abc"),
    ("http_status in {}", "empty set", "{}"),
    ("http_status in {200,,300}", "expected a value before ','", ","),
    ("http_status in {200", "unclosed '{' — add '}'", "{"),
    ("http_status in 200", "expected a set such as {a b c} after 'in', found '200'", "200"),
    ('data.new.address matches "(unclosed"', "bad regular expression: missing ), unterminated subpattern", "("),
    ('trigger matches "ab[c"', "bad regular expression: unterminated character set", "["),
    ('trigger matches "a\\n("', "bad regular expression", '"a\\n("'),  # escapes: the whole string
    ('trigger matches "a{99999999999}"', "regular expression too large", '"a{99999999999}"'),
    ("tries => 1", "unknown operator '=>' — did you mean '>='?", "=>"),
    ("tries = 1", "unknown operator '=' — did you mean '=='?", "="),
    ("tries === 1", "unknown operator '===' — did you mean '=='?", "==="),
    ("tries <> 1", "unknown operator '<>' — did you mean '!='?", "<>"),
    ("trigger =~ 'x'", "did you mean 'matches'?", "=~"),
    ("delivered & error", "did you mean '&&'?", "&"),
    ("delivered | error", "did you mean '||'?", "|"),
    ('trigger contians "x"', "unknown operator 'contians' — did you mean 'contains'?", "contians"),
    ("tries > 1 adn delivered", "unknown operator 'adn' — did you mean 'and'?", "adn"),
    ("delivered tries > 1", "expected 'and', 'or' or the end of the filter, found 'tries'", "tries"),
    ('trigger "x"', "expected an operator (==, !=, <, >, contains, matches, in) between 'trigger' and", '"x"'),
    ('"x" == trigger', "a test starts with the field", '"x" =='),
    ("(delivered", "unclosed '(' — add ')'", "("),
    ("((delivered)", "unclosed '(' — add ')'", "("),
    ("delivered)", "unbalanced ')'", ")"),
    (")", "unbalanced ')'", ")"),
    ("(delivered error)", "expected 'and', 'or' or ')' or the end of the filter, found 'error'", "error"),
    ("()", "empty parentheses", "()"),
    ("delivered and", "expected a test after 'and'", "and"),
    ("delivered or )", "expected a test after 'or', found ')'", ")"),
    ("and delivered", "expected a test before 'and'", "and"),
    ("not", "expected a test after 'not'", "not"),
    ("true", "expected a field, found 'true'", "true"),
    ("42", "expected a field, found the number 42", "42"),
    ('""', "nothing to search for", '""'),
    ('"!?"', "nothing to search for", '"!?"'),
    ("trigger == “x”", "use straight quotes", "“"),
    ("trigger == x\x07", "unexpected control character U+0007", "\x07"),
    ("триггер == 1", "unexpected character 'т'", "т"),
    ("data.new.café == 1", "unexpected character 'é'", "é"),
    ('trigger == "\\ud800"', "\\ud800 is not a character", "\\ud800"),
    ('trigger == "\\u12"', "\\u needs 4 hex digits", '\\u12"'),
    ('trigger == "a\ud800"', "invalid character U+D800 in string", "\ud800"),
    ("tries > 99999999999999999999", "number 99999999999999999999 is too large", "99999999999999999999"),
    ("tries > 1e999", "number 1e999 is too large", "1e999"),
    ("x.y == 1", "unknown field 'x.y' (fields: trigger, table,", "x.y"),
]


@pytest.mark.parametrize(("text", "message", "underlined"), ERRORS, ids=[t for t, _, _ in ERRORS])
def test_errors_say_what_to_do_and_where(text: str, message: str, underlined: str) -> None:
    with pytest.raises(FilterError) as caught:
        compile_filter(text)
    error = caught.value
    assert message in error.message, error.message
    assert text[error.start : error.end] == underlined, (error.start, error.end)
    assert str(error) == error.message
    assert check(text) is not None and check(text).start == error.start  # type: ignore[union-attr]


def test_check_is_none_for_good_filters() -> None:
    assert check("") is None and check('trigger == "validate-order" and http_status >= 500') is None


def test_missing_value_at_the_end_points_at_the_operator() -> None:
    """While typing `trigger == `, the operator is underlined (the filter bar has nothing after it to mark)."""
    error = check("trigger == ")
    assert error is not None and (error.start, error.end) == (8, 10)


# --- hostile input -------------------------------------------------------------------------------------------------

_WHERE_TOKEN = re.compile(r"\s+|[A-Za-z_][A-Za-z0-9_.]*|\d+(?:\.\d+)?|'[a-z]+'|[()?,*=<>!-]+")
_WHERE_VOCABULARY = {
    "e.trigger_name", "e.table_name", "e.op", "e.status", "e.tries", "e.attempts", "e.delivered", "e.error",
    "e.last_http_status", "i.http_status", "i.response", "e.created_ts", "e.delivered_ts", "e.first_attempt_ts",
    "e.row_key", "e.trace_id", "e.session_role", "e.id", "e.payload", "e.seq", "i.event_id", "i",
    "json_extract", "json_type", "coalesce", "instr", "rowid", "events_fts", "invocations",
    "SELECT", "FROM", "WHERE", "EXISTS", "AND", "OR", "NOT", "IN", "IS", "NULL", "MATCH", "REGEXP", "BETWEEN",
    "CASE", "WHEN", "THEN", "ELSE", "END", "'integer'", "'real'", "'text'", "0", "1", "1000.0",
}  # fmt: skip


def assert_only_fixed_sql(compiled: CompiledFilter, *markers: str) -> None:
    """`where` is made of this module's vocabulary and placeholders: no user literal can be in it."""
    for marker in markers:
        assert marker not in compiled.where
    position = 0
    while position < len(compiled.where):
        m = _WHERE_TOKEN.match(compiled.where, position)
        assert m is not None, f"unexpected SQL at {compiled.where[position:]!r}"
        token = m.group()
        if not token.isspace() and not re.fullmatch(r"[()?,*=<>!-]+", token):
            assert token in _WHERE_VOCABULARY, f"{token!r} in {compiled.where}"
        position = m.end()
    assert compiled.where.count("?") == len(compiled.params)


INJECTIONS = [
    "x' OR 1=1 --",
    'x" OR 1=1 --',
    "'; DROP TABLE events; --",
    "1) OR (1=1",
    "e.variant_of",
    "zz_marker_\x00_nul",
    "\u202e\u2028 unicode 🍕",
]


@pytest.mark.parametrize("payload", INJECTIONS)
def test_user_values_only_ever_reach_params(capture: CaptureFile, payload: str) -> None:
    quoted = '"' + payload.replace("\\", "\\\\").replace('"', '\\"') + '"'
    for text in (
        f"trigger == {quoted}",
        f"trigger != {quoted}",
        f"trigger contains {quoted}",
        f"trigger matches {quoted.replace('(', '').replace(')', '')}",
        f"data.new.address == {quoted}",
        f"data.new.address > {quoted}",
        f"data.new.address in {{{quoted} 1 2..3}}",
        f"session.user-id == {quoted}",
        f"invocation.response contains {quoted}",
        f"status in {{{quoted}}}".replace(quoted, "failed") + f" or id == {quoted}",
        f"{quoted}",
        f"not {quoted} and role == {quoted}",
    ):
        compiled = compile_filter(text)
        assert_only_fixed_sql(compiled, payload, payload.strip())
        assert run(capture, text) <= {"e1", "e2", "e3", "e4", "e5"}
    assert capture.count("events") == 5


def test_json_paths_and_session_names_are_params_too() -> None:
    compiled = compile_filter("data.new.zz_column_marker[3].zz_nested == 1 and session.zz-var-marker == x")
    assert_only_fixed_sql(compiled, "zz_column_marker", "zz_nested", "zz-var-marker")
    assert '$.data.new."zz_column_marker"[3]."zz_nested"' in compiled.params
    assert '$.session_variables."x-hasura-zz-var-marker"' in compiled.params


@pytest.mark.parametrize(
    "text",
    [
        "data.new.x'); DROP TABLE events; --",
        'data.new["x"] == 1',
        'data.new.x" == 1',
        "session.user'--",
        "trigger == x'; --",
        "e.id == 1",
        "trigger; DROP TABLE events",
        "trigger == 1 /* comment */",
        "tries > 1 -- comment",
    ],
)
def test_sql_looking_filters_are_errors_not_sql(text: str) -> None:
    with pytest.raises(FilterError):
        compile_filter(text)


def test_every_example_compiles_to_fixed_sql() -> None:
    for text, _ in EXAMPLES:
        if not text.startswith("STATUS"):
            assert_only_fixed_sql(compile_filter(text, now=NOW))


def test_deep_nesting_is_a_filter_error_not_a_recursion_error(capture: CaptureFile) -> None:
    deepest = "(" * MAX_DEPTH + "delivered" + ")" * MAX_DEPTH
    assert run(capture, deepest) == {"e1", "e3"}
    assert run(capture, "not " * MAX_DEPTH + "delivered") == {"e1", "e3"}  # an even number of nots
    mixed = "!(" * (MAX_DEPTH // 2) + "delivered" + ")" * (MAX_DEPTH // 2)
    assert run(capture, mixed) == {"e1", "e3"}
    nested_or = "(error or " * (MAX_DEPTH - 1) + "(delivered)" + ")" * (MAX_DEPTH - 1)
    assert run(capture, nested_or) == {"e1", "e3", "e5"}
    for text in (
        "(" * (MAX_DEPTH + 1) + "delivered" + ")" * (MAX_DEPTH + 1),
        "!" * (MAX_DEPTH + 1) + "delivered",
        "(" * 20000,
        "not " * 10000 + "delivered",
        "!(" * 5000 + "delivered",
    ):
        with pytest.raises(FilterError, match="nested too deeply") as caught:
            compile_filter(text)
        assert caught.value.start > 0


def _alternating(groups: int, leaf: str) -> str:
    """`leaf or (leaf and (leaf or (...)))`: `groups` groups of and/or nested in one another."""
    text = leaf
    for level in range(groups):
        text = f"{leaf} {'and' if level % 2 else 'or'} ({text})"
    return text


HEAVY_LEAVES = [
    "invocation.http_status not in {1 2..3 4..5}",
    'not data.new.x in {1 "a" 2..3}',
    "not session.user-id matches 'a'",
    '"pizza"',
    "created_at != 2024-03-01",
    "(" + " and ".join(["not invocation.http_status in {1 2..3}"] * 20) + ")",  # a CASE, and a group itself
]


@pytest.mark.parametrize("leaf", HEAVY_LEAVES)
def test_the_deepest_filter_accepted_runs_inside_a_larger_query(capture: CaptureFile, leaf: str) -> None:
    """SQLite's parser stack is short (100 entries before 3.46): the deepest filter accepted still runs, wrapped in
    the kind of query a view or an export puts around it; one group more is a FilterError."""
    deepest = 1
    while check(_alternating(deepest + 1, leaf)) is None:
        deepest += 1
    assert MAX_GROUPS - 1 <= deepest <= MAX_GROUPS
    compiled = compile_filter(_alternating(deepest, leaf))
    sql = (
        f"SELECT count(*) FROM (SELECT e.seq FROM events e WHERE ({compiled.where}) "
        "AND e.seq IN (SELECT seq FROM events WHERE seq > ?) ORDER BY e.created_ts DESC LIMIT 100)"
    )
    expected = len(run(capture, _alternating(deepest, leaf)))
    assert capture.conn.execute(sql, [*compiled.params, 0]).fetchall() == [(expected,)]
    error = check(_alternating(deepest + 1, leaf))
    assert error is not None and "too many nested groups of 'and' and 'or'" in error.message
    assert (error.start, error.end) == (0, len(_alternating(deepest + 1, leaf)))  # the outermost group


def test_redundant_nesting_costs_nothing(capture: CaptureFile) -> None:
    """Parentheses, `not`s and groups of one operator inside another of the same are flattened."""
    same = "(error or " * (MAX_DEPTH - 1) + "(delivered)" + ")" * (MAX_DEPTH - 1)
    assert run(capture, same) == {"e1", "e3", "e5"}
    de_morgan = "not (error and not (" * 50 + "delivered" + "))" * 50  # = not error or (not error or ...)
    assert run(capture, de_morgan) == {"e1", "e2", "e3", "e4"}


def test_huge_input_is_refused_quickly() -> None:
    started = time.perf_counter()
    with pytest.raises(FilterError, match="filter too long") as caught:
        compile_filter("x" * 5_000_000)
    assert caught.value.start == MAX_LENGTH and time.perf_counter() - started < 1


def test_long_chains_compile_to_sql_sqlite_accepts(capture: CaptureFile) -> None:
    """SQLite refuses expressions more than 1000 deep: long `or` chains become balanced trees."""
    ors = " or ".join(f"tries == {n}" for n in range(3000))
    assert len(ors) < MAX_LENGTH and run(capture, ors) == {"e1", "e2", "e3", "e4", "e5"}
    ands = " && ".join(["delivered"] * 3000)
    assert run(capture, ands) == {"e1", "e3"}
    ids = "id in {" + " ".join(f"id{n}" for n in range(MAX_SET - 1)) + " e2}"
    assert run(capture, ids) == {"e2"}
    with pytest.raises(FilterError, match="too many values"):
        compile_filter("id in {" + " ".join(f"id{n}" for n in range(MAX_SET + 1)) + "}")
    long_literal = "x" * 60000
    assert run(capture, f'trigger == "{long_literal}"') == set()


def test_control_characters_and_unicode_in_values(capture: CaptureFile) -> None:
    assert run(capture, 'trigger == "a\x00b\x1b[31m"') == set()
    assert compile_filter('trigger == "a\x00b"').params == ["a\x00b"]
    assert run(capture, "trigger\n==\t'validate-order'\r\nand\u00a0tries > 1") == {"e1"}
    assert run(capture, 'role == "заказ ✓ 🍕" or "заказ"') == set()
    with pytest.raises(FilterError, match="nothing to search for"):
        compile_filter('"🍕"')  # the full-text index keeps words only
    assert run(capture, 'data.new.note contains "é"') == {"e3"}


# --- completion -----------------------------------------------------------------------------------------------------


def test_fields_have_descriptions() -> None:
    assert {"trigger", "http_status", "invocation.http_status", "data.new.<path>", "session.<var>"} <= set(FIELDS)
    assert all(description and "\n" not in description for description in FIELDS.values())


def test_complete_field_names() -> None:
    assert complete("tr") == ["trigger", "tries", "trace_id"]
    assert complete("") == [
        *(name for name in FIELDS if "<" not in name),
        "data.new.",
        "data.old.",
        "session.",
        "not",
    ]
    assert complete("data") == ["data.new.", "data.old."]
    assert complete("delivered and (st") == ["status"]
    assert complete("inv") == ["invocation.http_status", "invocation.response"]
    known = {"data.new": ["restaurant_id", "address"], "session": ["x-hasura-user-id", "x-hasura-role"]}
    assert complete("data.new.re", known=known) == ["data.new.restaurant_id"]
    assert complete("session.", known=known) == ["session.user-id", "session.role"]
    text = "tries > 1 and tri"
    assert completion_start(text, len(text)) == len(text) - 3


def test_complete_at_the_cursor_not_the_end() -> None:
    text = "tr == 1 and delivered"
    assert complete(text, 2) == ["trigger", "tries", "trace_id"] and completion_start(text, 2) == 0


def test_complete_operators_values_and_connectives() -> None:
    assert complete("trigger ") == ["==", "!=", "<", "<=", ">", ">=", "contains", "matches", "in", "and", "or"]
    assert complete("trigger co") == ["contains"]
    assert complete("status == f") == ["failed"]
    assert complete("status in {failed r") == ["retrying"]
    assert complete("op == ") == ["INSERT", "UPDATE", "DELETE", "MANUAL"]
    assert complete("delivered == ") == ["true", "false"]
    assert complete("trigger == ", known={"trigger": ["validate-order", "odd name"]}) == [
        "validate-order",
        '"odd name"',
    ]
    assert complete("tries > 1 ") == ["and", "or"]
    assert complete("tries > 1 AN") == ["and"] and complete("Tri") == ["trigger", "tries"]
    assert complete("trigger == status a") == ["and"]
    assert complete("(delivered) o") == ["or"]
    assert complete('trigger == "val') == []  # inside a string
    assert complete("tries = 1 and de") == ["delivered"]  # a mistake earlier does not stop completion


def test_the_deepest_filters_need_few_python_frames() -> None:
    """Parsing and compiling stay well inside Python's default recursion limit (1000), wherever they are called."""
    worst = [
        "(" * MAX_DEPTH + "delivered" + ")" * MAX_DEPTH,
        "(delivered and " * (MAX_DEPTH // 2) + "error" + ")" * (MAX_DEPTH // 2),
        "(delivered and (error or " * (MAX_DEPTH // 2) + "tries > 1" + "))" * (MAX_DEPTH // 2),
        "!(" * (MAX_DEPTH // 2) + "delivered" + ")" * (MAX_DEPTH // 2),
    ]
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 450)
    try:
        for text in worst:
            with contextlib.suppress(FilterError):  # too many groups for SQLite is an error, not a RecursionError
                compile_filter(text)
    finally:
        sys.setrecursionlimit(limit)
