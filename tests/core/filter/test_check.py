"""The display filter's semantic check: types, canonical enums, resolved times and units, regexes, the group limit;
every error with the span to underline."""

from __future__ import annotations

import time

import pytest

from inspector.core.filter import (
    MAX_DEPTH,
    MAX_GROUPS,
    AllOf,
    AnyOf,
    Compare,
    Everything,
    FilterError,
    FreeText,
    InSet,
    IsNull,
    IsTrue,
    NotNull,
    Period,
    Search,
    check,
    find_error,
)

NOW = 1709294700.0
"""2024-03-01T12:05:00Z: "now" for relative times in these tests."""


def test_empty_text_is_everything() -> None:
    assert isinstance(check("").tree, Everything) and not check("").needs_regexp


def test_values_come_out_resolved() -> None:
    status = check("status == FAILED").tree
    assert isinstance(status, Compare) and status.value == "failed" and not status.negated
    ops = check("op in {insert update}").tree
    assert isinstance(ops, InSet) and ops.values == ("INSERT", "UPDATE")
    row_key = check("row_key == 42").tree
    assert isinstance(row_key, Compare) and row_key.value == "42"
    regex = check('trigger matches "^v"')
    assert isinstance(regex.tree, Search) and regex.tree.op == "matches" and regex.needs_regexp
    text = check('"piz*"').tree
    assert isinstance(text, FreeText) and (text.words, text.prefix) == ("piz", True)
    assert isinstance(check("delivered").tree, IsTrue) and isinstance(check("http_status").tree, NotNull)
    assert isinstance(check("data.new.paid == false").tree, IsTrue)
    assert isinstance(check("http_status == null").tree, IsNull)


def test_created_at_converts_to_epoch_seconds() -> None:
    after = check('created_at > "2024-03-01T12:00"').tree
    assert isinstance(after, Compare) and (after.op, after.value) == (">=", 1709294400.0 + 60)
    ago = check("created_at > -1h", now=NOW).tree
    assert isinstance(ago, Compare) and ago.value == NOW - 3600
    words = check('created_at > "2 hours ago"', now=NOW).tree
    assert isinstance(words, Compare) and words.value == NOW - 7200
    day = check("created_at == 2024-03-01").tree
    assert isinstance(day, Period) and (day.low, day.high) == (1709251200.0, 1709251200.0 + 86400)
    before = time.time()
    moment = check("created_at > now").tree
    assert isinstance(moment, Compare) and before <= float(moment.value) <= time.time()


def test_latency_units_are_milliseconds() -> None:
    for text, value in (
        ("latency > 250", 250),
        ("latency > 2s", 2000.0),
        ("latency > 1.5m", 90000.0),
        ("latency > 20ms", 20.0),
    ):
        tree = check(text).tree
        assert isinstance(tree, Compare) and tree.value == value


def test_nots_are_pushed_down_and_groups_merged() -> None:
    tree = check("not (delivered or (error or tries > 1)) and status != failed").tree
    assert isinstance(tree, AllOf) and len(tree.operands) == 4
    assert all(operand.negated for operand in tree.operands)  # type: ignore[union-attr]
    tree = check("not (delivered and error)").tree
    assert isinstance(tree, AnyOf) and all(operand.negated for operand in tree.operands)  # type: ignore[union-attr]


def test_the_group_limit_is_the_checks() -> None:
    text = "delivered"
    for level in range(MAX_GROUPS):
        text = f"delivered {'and' if level % 2 else 'or'} ({text})"
    check(text)
    deeper = f"delivered or ({text})" if MAX_GROUPS % 2 == 0 else f"delivered and ({text})"
    error = find_error(deeper)
    assert error is not None and "too many nested groups of 'and' and 'or'" in error.message
    assert (error.start, error.end) == (0, len(deeper))
    check("(error or " * (MAX_DEPTH - 1) + "(delivered)" + ")" * (MAX_DEPTH - 1))  # one group, however written


# --- errors a user can act on, with the span to underline -----------------------------------------------------------

ERRORS = [
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
    ('data.new.address matches "(unclosed"', "bad regular expression: missing ), unterminated subpattern", "("),
    ('trigger matches "ab[c"', "bad regular expression: unterminated character set", "["),
    ('trigger matches "a\\n("', "bad regular expression", '"a\\n("'),  # escapes: the whole string
    ('trigger matches "a{99999999999}"', "regular expression too large", '"a{99999999999}"'),
    ('""', "nothing to search for", '""'),
    ('"!?"', "nothing to search for", '"!?"'),
]


@pytest.mark.parametrize(("text", "message", "underlined"), ERRORS, ids=[t for t, _, _ in ERRORS])
def test_errors_say_what_to_do_and_where(text: str, message: str, underlined: str) -> None:
    with pytest.raises(FilterError) as caught:
        check(text)
    error = caught.value
    assert message in error.message, error.message
    assert text[error.start : error.end] == underlined, (error.start, error.end)
    assert str(error) == error.message
    assert find_error(text) is not None and find_error(text).start == error.start  # type: ignore[union-attr]


def test_check_is_none_for_good_filters() -> None:
    assert find_error("") is None and find_error('trigger == "validate-order" and http_status >= 500') is None


def test_missing_value_at_the_end_points_at_the_operator() -> None:
    """While typing `trigger == `, the operator is underlined (the filter bar has nothing after it to mark)."""
    error = find_error("trigger == ")
    assert error is not None and (error.start, error.end) == (8, 10)


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
        check(text)
