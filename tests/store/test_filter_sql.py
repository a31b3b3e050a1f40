"""Display filters compiled to SQLite: every example against a real capture file, parameters only (never user text
in SQL), what SQLite's limits allow, the `regexp` function, and the colouring rules as one CASE expression. The tests
that run filters run against both stores (`store`): the capture file, and the same capture pushed into a real
PostgreSQL (`PostgresDialect`), which must select the same events."""

from __future__ import annotations

import contextlib
import inspect
import re
import sqlite3
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from inspector.core.colouring import DEFAULT_RULES, ColourRule, validate_rule
from inspector.core.filter import (
    MAX_DEPTH,
    MAX_GROUPS,
    MAX_LENGTH,
    MAX_SET,
    FilterError,
    check,
    evaluate,
    find_error,
    parse,
)
from inspector.store.capture_file import _DDL, CaptureFile
from inspector.store.filter_sql import SQLITE, CompiledFilter, compile_filter, compile_rules, register_functions
from tests.helpers.filter_events import EXAMPLES, NOW, build_filter_capture
from tests.helpers.postgres import capture_in_postgres, select_ids


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CaptureFile]:
    capture = build_filter_capture(tmp_path_factory.mktemp("filter") / "capture.sqlite")
    register_functions(capture.conn)
    yield capture
    capture.close()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, capture: CaptureFile) -> Any:
    """The capture file, or the same capture in PostgreSQL (its `PostgresCapture`)."""
    if request.param == "sqlite":
        return capture
    return capture_in_postgres(request.getfixturevalue("postgres_server"), capture.path)


def run(capture: Any, text: str) -> set[str]:
    if not isinstance(capture, CaptureFile):
        return select_ids(capture, text, NOW)
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


@pytest.mark.parametrize(("text", "expected"), EXAMPLES, ids=[t or "<empty>" for t, _ in EXAMPLES])
def test_examples_select_exactly_the_expected_events(store: Any, text: str, expected: set[str]) -> None:
    if text.startswith("STATUS"):
        with pytest.raises(FilterError, match="unknown field 'STATUS' — did you mean 'status'"):
            compile_filter(text)
        return
    assert run(store, text) == expected


@pytest.mark.parametrize("text", [t for t, _ in EXAMPLES if t.strip() and not t.startswith("STATUS")])
def test_not_is_the_complement(store: Any, text: str) -> None:
    """Missing fields and SQL's NULL never make an event fall out of both `x` and `not x`."""
    assert run(store, f"not ({text})") == {"e1", "e2", "e3", "e4", "e5"} - run(store, text)


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


def test_empty_text_compiles_to_1() -> None:
    assert isinstance(parse(""), type(compile_filter("").expr))
    compiled = compile_filter("")
    assert compiled == CompiledFilter("1", [], False, compiled.expr)


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        (r'"a\"b"', 'a"b'),
        (r"'it\'s'", "it's"),
        (r'"\x41\u00e9\U0001F355"', "Aé🍕"),
        (r'"^\d+ \."', r"^\d+ \."),
        (r'r"\d\"q"', r"\d\"q"),
        ('"line\nbreak"', "line\nbreak"),
    ],
)
def test_string_values_are_params(literal: str, value: str) -> None:
    assert compile_filter(f"trigger == {literal}").params == [value]


def test_json_paths_are_sqlite_paths() -> None:
    test = parse("data.new.items[2].name == 'x'")
    assert SQLITE.json_path(test.field) == '$.data.new."items"[2]."name"'  # type: ignore[union-attr]
    session = parse("session.User-Id == u1")
    assert SQLITE.json_path(session.field) == '$.session_variables."x-hasura-user-id"'  # type: ignore[union-attr]


def test_compile_accepts_a_parsed_tree() -> None:
    tree = parse("tries > 1")
    assert compile_filter(tree).params == [1] and compile_filter(tree).expr is tree
    checked = check(tree)
    assert compile_filter(checked).params == [1] and compile_filter(checked).expr is tree


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


def test_compile_raises_what_the_check_raises() -> None:
    for text in ("trigr == 'x'", "status == faild", "tries contains 1", "(delivered", 'trigger == "abc'):
        with pytest.raises(FilterError) as caught:
            compile_filter(text)
        error = find_error(text)
        assert error is not None and (caught.value.message, caught.value.start, caught.value.end) == (
            error.message,
            error.start,
            error.end,
        )


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
def test_user_values_only_ever_reach_params(store: Any, capture: CaptureFile, payload: str) -> None:
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
        assert run(store, text) <= {"e1", "e2", "e3", "e4", "e5"}
    assert capture.count("events") == 5
    if not isinstance(store, CaptureFile):
        assert store.count("events") == 5


def test_json_paths_and_session_names_are_params_too() -> None:
    compiled = compile_filter("data.new.zz_column_marker[3].zz_nested == 1 and session.zz-var-marker == x")
    assert_only_fixed_sql(compiled, "zz_column_marker", "zz_nested", "zz-var-marker")
    assert '$.data.new."zz_column_marker"[3]."zz_nested"' in compiled.params
    assert '$.session_variables."x-hasura-zz-var-marker"' in compiled.params


def test_every_example_compiles_to_fixed_sql() -> None:
    for text, _ in EXAMPLES:
        if not text.startswith("STATUS"):
            assert_only_fixed_sql(compile_filter(text, now=NOW))


def test_deep_nesting_is_a_filter_error_not_a_recursion_error(store: Any) -> None:
    deepest = "(" * MAX_DEPTH + "delivered" + ")" * MAX_DEPTH
    assert run(store, deepest) == {"e1", "e3"}
    assert run(store, "not " * MAX_DEPTH + "delivered") == {"e1", "e3"}  # an even number of nots
    mixed = "!(" * (MAX_DEPTH // 2) + "delivered" + ")" * (MAX_DEPTH // 2)
    assert run(store, mixed) == {"e1", "e3"}
    nested_or = "(error or " * (MAX_DEPTH - 1) + "(delivered)" + ")" * (MAX_DEPTH - 1)
    assert run(store, nested_or) == {"e1", "e3", "e5"}
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
    while find_error(_alternating(deepest + 1, leaf)) is None:
        deepest += 1
    assert MAX_GROUPS - 1 <= deepest <= MAX_GROUPS
    compiled = compile_filter(_alternating(deepest, leaf))
    sql = (
        f"SELECT count(*) FROM (SELECT e.seq FROM events e WHERE ({compiled.where}) "
        "AND e.seq IN (SELECT seq FROM events WHERE seq > ?) ORDER BY e.created_ts DESC LIMIT 100)"
    )
    expected = len(run(capture, _alternating(deepest, leaf)))
    assert capture.conn.execute(sql, [*compiled.params, 0]).fetchall() == [(expected,)]
    error = find_error(_alternating(deepest + 1, leaf))
    assert error is not None and "too many nested groups of 'and' and 'or'" in error.message
    assert (error.start, error.end) == (0, len(_alternating(deepest + 1, leaf)))  # the outermost group


def test_redundant_nesting_costs_nothing(store: Any) -> None:
    """Parentheses, `not`s and groups of one operator inside another of the same are flattened."""
    same = "(error or " * (MAX_DEPTH - 1) + "(delivered)" + ")" * (MAX_DEPTH - 1)
    assert run(store, same) == {"e1", "e3", "e5"}
    de_morgan = "not (error and not (" * 50 + "delivered" + "))" * 50  # = not error or (not error or ...)
    assert run(store, de_morgan) == {"e1", "e2", "e3", "e4"}


def test_long_chains_compile_to_sql_sqlite_accepts(store: Any) -> None:
    """SQLite refuses expressions more than 1000 deep: long `or` chains become balanced trees."""
    ors = " or ".join(f"tries == {n}" for n in range(3000))
    assert len(ors) < MAX_LENGTH and run(store, ors) == {"e1", "e2", "e3", "e4", "e5"}
    ands = " && ".join(["delivered"] * 3000)
    assert run(store, ands) == {"e1", "e3"}
    ids = "id in {" + " ".join(f"id{n}" for n in range(MAX_SET - 1)) + " e2}"
    assert run(store, ids) == {"e2"}
    with pytest.raises(FilterError, match="too many values"):
        compile_filter("id in {" + " ".join(f"id{n}" for n in range(MAX_SET + 1)) + "}")
    long_literal = "x" * 60000
    assert run(store, f'trigger == "{long_literal}"') == set()


def test_control_characters_and_unicode_in_values(store: Any) -> None:
    assert run(store, 'trigger == "a\x00b\x1b[31m"') == set()
    assert compile_filter('trigger == "a\x00b"').params == ["a\x00b"]
    assert run(store, "trigger\n==\t'validate-order'\r\nand\u00a0tries > 1") == {"e1"}
    assert run(store, 'role == "заказ ✓ 🍕" or "заказ"') == set()
    with pytest.raises(FilterError, match="nothing to search for"):
        compile_filter('"🍕"')  # the full-text index keeps words only
    assert run(store, 'data.new.note contains "é"') == {"e3"}


def test_the_deepest_filters_need_few_python_frames() -> None:
    """Parsing, checking, compiling and evaluating stay well inside Python's default recursion limit (1000), wherever
    they are called."""
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
                evaluate(check(text), {"delivered": 1, "error": 0, "tries": 2})
    finally:
        sys.setrecursionlimit(limit)


# --- colouring rules as one CASE ---------------------------------------------------------------------------------


@pytest.fixture
def conn() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.executescript(_DDL)
    register_functions(conn)
    rows = [
        # seq, id, trigger, status, attempts, created_ts, delivered_ts
        (1, "a", "validate-order", "failed", 3, 100.0, None),
        (2, "b", "validate-order", "delivered", 2, 100.0, 100.5),
        (3, "c", "process-payment", "delivered", 1, 100.0, 105.0),
        (4, "d", "process-payment", "pending", 0, 100.0, None),
        (5, "e", "process-payment", "delivered", 1, 100.0, 100.1),
    ]
    conn.executemany(
        "INSERT INTO events (seq, id, trigger_name, status, attempts, created_ts, delivered_ts) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    return conn


def matched(conn: sqlite3.Connection, rules: list[ColourRule]) -> list[str | None]:
    compiled = compile_rules(rules)
    out = conn.execute(f"SELECT {compiled.sql} FROM events e ORDER BY seq", compiled.params).fetchall()
    return [None if r[0] is None else compiled.rules[r[0]].name for r in out]


def test_the_first_matching_enabled_rule_wins_in_one_expression(conn: sqlite3.Connection) -> None:
    usable = [rule for rule in DEFAULT_RULES if validate_rule(rule).enabled]
    assert matched(conn, usable) == ["Failed", "Retried", "Slow", "Pending", None]


def test_parameters_follow_the_rules_in_order(conn: sqlite3.Connection) -> None:
    rules = [
        ColourRule("Payment", 'trigger == "process-payment" and attempts == 0', "#000001", "#FFFFFF"),
        ColourRule("Off", 'trigger == "validate-order"', "#000002", "#FFFFFF", enabled=False),
        ColourRule("Regex", 'trigger matches "^val"', "#000003", "#FFFFFF"),
        ColourRule("Broken", "nonsense >", "#000004", "#FFFFFF"),
        ColourRule("Fast", "latency < 200", "#000005", "#FFFFFF"),
    ]
    compiled = compile_rules(rules)
    assert [r.name for r in compiled.rules] == ["Payment", "Regex", "Fast"]
    assert set(compiled.errors) == {"Broken"} and compiled.needs_regexp
    assert compiled.sql.count("WHEN") == 3
    assert matched(conn, rules) == ["Regex", "Regex", None, "Payment", "Fast"]
    assert compiled.rule_at(None) is None and compiled.rule_at(7) is None


def test_no_usable_rules_compile_to_null(conn: sqlite3.Connection) -> None:
    compiled = compile_rules([ColourRule("Off", "error", "#000000", "#FFFFFF", enabled=False)])
    assert compiled.sql == "NULL" and compiled.params == [] and compiled.rules == ()
    assert matched(conn, []) == [None] * 5
