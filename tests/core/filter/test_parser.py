"""The display filter's parser: trees, precedence, spans, the errors of text that does not parse, and the limits that
keep hostile input cheap."""

from __future__ import annotations

import contextlib
import inspect
import sys
import time

import pytest

from inspector.core.filter import (
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_SET,
    All,
    And,
    Comparison,
    FilterError,
    In,
    Not,
    Or,
    Present,
    Range,
    Text,
    find_error,
    parse,
)


def test_empty_text_is_all() -> None:
    assert isinstance(parse(""), All) and isinstance(parse(" \t\n"), All)


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
    assert test.field.payload_path == ("data", "new", "items", 2, "name")
    session = parse("session.User-Id == u1")
    assert isinstance(session, Comparison) and session.field.payload_path == ("session_variables", "x-hasura-user-id")
    numbers = parse("latency > 1.5s")
    assert isinstance(numbers, Comparison) and numbers.value.value == 1.5 and numbers.value.unit == "s"
    in_set = parse("http_status in {200..299, 404 -1}")
    assert isinstance(in_set, In) and isinstance(in_set.items[0], Range)
    assert [getattr(v, "value", None) for v in in_set.items[1:]] == [404, -1]
    assert isinstance(parse('"free text"'), Text)
    negated = parse("trigger not matches 'x'")
    assert isinstance(negated, Not) and isinstance(negated.operand, Comparison) and negated.operand.op == "matches"
    assert isinstance(parse("tries eq 1"), Comparison) and parse("tries eq 1").op == "=="  # type: ignore[union-attr]


def test_compile_accepts_a_parsed_tree_and_check_keeps_it() -> None:
    from inspector.core.filter import check

    tree = parse("tries > 1")
    assert check(tree).expr is tree


# --- errors a user can act on, with the span to underline -----------------------------------------------------------

ERRORS = [
    ("trigr == 'x'", "unknown field 'trigr' — did you mean 'trigger'?", "trigr"),
    ("trigger ==", "expected a value after '=='", "=="),
    ("trigger == )", "expected a value after '==', found ')'", ")"),
    ("pizza", 'to search for text, quote it: "pizza"', "pizza"),
    ("restaurant_id == 3", "data.new.restaurant_id", "restaurant_id"),
    ("data.nwe.id == 1", "did you mean 'data.new.id'?", "data.nwe.id"),
    ("data.restaurant_id == 1", "did you mean 'data.new.restaurant_id'?", "data.restaurant_id"),
    ("invocation.status == 1", "did you mean 'invocation.http_status'?", "invocation.status"),
    ("data.new. == 1", "expected a column name after 'data.new.'", "data.new."),
    ("data.new.a-b == 1", "'a-b' is not a column name", "a-b"),
    ("data.new.a..b == 1", "an empty column name", "."),
    ("session. == 1", "expected a variable after 'session.'", "session."),
    ("http_status in {}", "empty set", "{}"),
    ("http_status in {200,,300}", "expected a value before ','", ","),
    ("http_status in {200", "unclosed '{' — add '}'", "{"),
    ("http_status in 200", "expected a set such as {a b c} after 'in', found '200'", "200"),
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
    ("x.y == 1", "unknown field 'x.y' (fields: trigger, table,", "x.y"),
]


@pytest.mark.parametrize(("text", "message", "underlined"), ERRORS, ids=[t for t, _, _ in ERRORS])
def test_errors_say_what_to_do_and_where(text: str, message: str, underlined: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse(text)
    error = caught.value
    assert message in error.message, error.message
    assert text[error.start : error.end] == underlined, (error.start, error.end)
    assert str(error) == error.message
    assert find_error(text) is not None and find_error(text).start == error.start  # type: ignore[union-attr]


def test_deep_nesting_is_a_filter_error_not_a_recursion_error() -> None:
    parse("(" * MAX_DEPTH + "delivered" + ")" * MAX_DEPTH)
    for text in (
        "(" * (MAX_DEPTH + 1) + "delivered" + ")" * (MAX_DEPTH + 1),
        "!" * (MAX_DEPTH + 1) + "delivered",
        "(" * 20000,
        "not " * 10000 + "delivered",
        "!(" * 5000 + "delivered",
    ):
        with pytest.raises(FilterError, match="nested too deeply") as caught:
            parse(text)
        assert caught.value.start > 0


def test_huge_input_is_refused_quickly() -> None:
    started = time.perf_counter()
    with pytest.raises(FilterError, match="filter too long") as caught:
        parse("x" * 5_000_000)
    assert caught.value.start == MAX_LENGTH and time.perf_counter() - started < 1


def test_sets_are_limited() -> None:
    parse("id in {" + " ".join(f"id{n}" for n in range(MAX_SET - 1)) + " e2}")
    with pytest.raises(FilterError, match="too many values"):
        parse("id in {" + " ".join(f"id{n}" for n in range(MAX_SET + 1)) + "}")


def test_parsing_the_deepest_filters_needs_few_python_frames() -> None:
    worst = [
        "(" * MAX_DEPTH + "delivered" + ")" * MAX_DEPTH,
        "(delivered and " * (MAX_DEPTH // 2) + "error" + ")" * (MAX_DEPTH // 2),
        "!(" * (MAX_DEPTH // 2) + "delivered" + ")" * (MAX_DEPTH // 2),
    ]
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 450)
    try:
        for text in worst:
            with contextlib.suppress(FilterError):
                parse(text)
    finally:
        sys.setrecursionlimit(limit)
