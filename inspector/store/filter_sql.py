"""Display filters compiled to SQL: a checked filter (`inspector.core.filter`) to a parameterised predicate over the
capture's `events e`.

Owns where each field lives in the store (columns, JSON paths in `events.payload`, the `invocations` of an event, the
`events_fts` full-text index), the SQL for each checked test, the SQL functions such a predicate calls
(`register_functions`), and the colouring rules as one `CASE` (`compile_rules`). Used by the capture file, replay
records, the event list model, the CLI's `--filter`, replay selection and analysis.

What differs between databases is behind `Dialect` (JSON extraction and types, regexes, substring and full-text
search, time columns, per-attempt scoping); `SQLiteDialect` is the capture's. A PostgreSQL dialect (the event log of
Hasura itself, `hdb_catalog.event_log` with its jsonb `payload`) would be a class beside it.

Safety: every value the user typed, JSON paths and session variable names included, ends up in `params`; `where` is
built only from this module's fixed fragments and `?` placeholders. What SQLite accepts, whatever its build, is
already guaranteed by the check (`MAX_GROUPS` nested groups after `not`s are pushed down); chains of more than 16
operands become a `CASE` here (a chain of n is an expression n deep, and SQLite refuses 1000). `matches` needs
`register_functions(conn)` on the connection that runs the query (`CompiledFilter.needs_regexp`).
"""

from __future__ import annotations

import json
import math
import re
import time
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from inspector.core.colouring import ColourRule, usable_rules
from inspector.core.filter import (
    All,
    AllOf,
    AnyOf,
    CheckedFilter,
    CheckedNode,
    Compare,
    Everything,
    Expr,
    FieldRef,
    FilterError,
    FreeText,
    InSet,
    IsNull,
    IsTrue,
    Node,
    NotNull,
    Period,
    Scalar,
    Search,
    Test,
    check,
    regex_search,
)
from inspector.core.filter.fields import FIELD_KINDS, JSON_ROOTS

if TYPE_CHECKING:
    import sqlite3

__all__ = [
    "OUTCOME_SQL",
    "PG_OUTCOME_SQL",
    "POSTGRES",
    "SQLITE",
    "CompiledFilter",
    "CompiledRules",
    "Dialect",
    "FilterError",
    "PostgresDialect",
    "SQLiteDialect",
    "compile_filter",
    "compile_rules",
    "register_functions",
    "search_words",
    "to_psycopg",
]

Sql = tuple[str, list[Any]]
"""An SQL fragment and its parameters, in order."""

_CHAIN = 16
_SQL_OP = {"==": "=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


class Dialect(ABC):
    """What the SQL of a filter needs from one database. Fragments are predicates or values over the events table
    aliased `e` (and, inside `per_attempt`, the attempts table aliased `i`); values always go in as parameters."""

    TRUE = "1"
    """A predicate true for every event (the empty filter), and the values a long chain's CASE gives."""
    FALSE = "0"

    def negate(self, sql: str) -> str:
        """True when the predicate is false or NULL (see `_Compiler.node`)."""
        return f"({sql} IS NOT {self.TRUE})"

    @abstractmethod
    def column(self, name: str) -> str:
        """The SQL value of a plain field (not a payload one): time fields as epoch seconds, `latency` as
        milliseconds, booleans as 0/1."""

    @abstractmethod
    def json_value(self, ref: FieldRef) -> Sql:
        """The payload value at a payload field's path, as an SQL scalar (NULL when missing or JSON null)."""

    @abstractmethod
    def json_is(self, ref: FieldRef, value: bool) -> Sql:
        """The payload value at the field's path is JSON `true` (or `false`)."""

    @abstractmethod
    def json_typed(self, ref: FieldRef, sample: Scalar, predicate: Sql) -> Sql:
        """`predicate` on the payload value, only where its JSON type is `sample`'s (a number or a string)."""

    def json_equals(self, ref: FieldRef, values: Sequence[Scalar]) -> Sql | None:
        """The payload value at the field's path equals one of `values`, typed as `json_typed` compares (a number only
        a number, a string only a string), in a form the database can answer from an index; None: no such form here,
        the caller compiles the typed comparison."""
        return None

    @abstractmethod
    def contains(self, lhs: str) -> str:
        """`lhs` as text contains the next parameter (case-sensitive)."""

    @abstractmethod
    def regexp(self, lhs: str) -> str:
        """`lhs` as text matches the next parameter, a Python regex, searched."""

    @abstractmethod
    def text_search(self, test: FreeText) -> Sql:
        """The event's payload holds the words (full-text index)."""

    @abstractmethod
    def per_attempt(self, predicate: Sql) -> Sql:
        """Some attempt of the event satisfies `predicate` (written over the attempts table `i`)."""


# An attempt's outcome, as `inspector.core.events.invocation_outcome` works it out, step for step: the message is
# `response.data.message`, read once more when it is JSON (a JSON string: the v2.25+ timeout text; an object: an
# `http_exception`). Nested CASEs, not ANDs, guard each json_* call: SQLite does not promise to stop an AND early, and
# json_extract on text that is not JSON aborts the whole query.
_MESSAGE = "(CASE WHEN json_valid(i.response) THEN json_extract(i.response, '$.data.message') END)"
_TIMEOUT_TEXT = (
    f"((CASE WHEN json_valid({_MESSAGE}) THEN (CASE WHEN json_type({_MESSAGE}) = 'text' "
    f"THEN json_extract({_MESSAGE}, '$') END) ELSE {_MESSAGE} END) "
    """GLOB 'Event Trigger "*" timed out while processing.')"""
)
_RESPONSE_TIMEOUT = (
    f"(CASE WHEN json_valid({_MESSAGE}) THEN (CASE WHEN json_type({_MESSAGE}) = 'object' "
    f"THEN (json_extract({_MESSAGE}, '$.type') = 'http_exception' "
    f"AND json_extract({_MESSAGE}, '$.message') = 'Response timeout') END) END)"
)
OUTCOME_SQL = (
    "(CASE WHEN i.http_status BETWEEN 200 AND 299 THEN 'ok' "
    f"WHEN {_TIMEOUT_TEXT} THEN 'timeout' "
    "WHEN i.http_status IS NOT NULL THEN 'handler_error' "
    f"WHEN {_RESPONSE_TIMEOUT} THEN 'timeout' "
    "ELSE 'connection_failure' END)"
)
"""The `outcome` of the attempt `i` (a row of `invocations`): ok, handler_error, timeout or connection_failure."""


class SQLiteDialect(Dialect):
    """The capture file (`inspector.store.capture_file`): columns of `events`, JSON1 functions on `events.payload`,
    `invocations` for attempts, `events_fts` (FTS5) for free text, the `regexp` function `register_functions` adds."""

    COLUMNS: Mapping[str, str] = {
        "trigger": "e.trigger_name",
        "table": "e.table_name",
        "op": "e.op",
        "status": "e.status",
        "tries": "e.tries",
        "attempts": "e.attempts",
        "attempt": "e.attempts",
        "successes": "e.successes",
        "duplicate": "(e.successes > 1)",
        "flags": "e.flags",
        "delivered": "e.delivered",
        "error": "e.error",
        "http_status": "e.last_http_status",
        "invocation.http_status": "i.http_status",
        "invocation.response": "i.response",
        "outcome": OUTCOME_SQL,
        "created_at": "e.created_ts",
        "latency": "((coalesce(e.delivered_ts, e.first_attempt_ts) - e.created_ts) * 1000.0)",
        "row_key": "e.row_key",
        "trace_id": "e.trace_id",
        "role": "e.session_role",
        "id": "e.id",
    }
    """The SQL of every plain field."""

    def column(self, name: str) -> str:
        return self.COLUMNS[name]

    @staticmethod
    def json_path(ref: FieldRef) -> str:
        """SQLite's JSON path of a payload field (a parameter, never part of the SQL text): the root as is, the
        user's keys quoted, `[n]` for array items."""
        out = "$." + ".".join(JSON_ROOTS[ref.name])
        for part in ref.path:
            out += f"[{part}]" if isinstance(part, int) else f'."{part}"'
        return out

    def json_value(self, ref: FieldRef) -> Sql:
        return "json_extract(e.payload, ?)", [self.json_path(ref)]

    def json_is(self, ref: FieldRef, value: bool) -> Sql:
        return "(json_type(e.payload, ?) = ?)", [self.json_path(ref), "true" if value else "false"]

    def json_typed(self, ref: FieldRef, sample: Scalar, predicate: Sql) -> Sql:
        # JSON true is 1 to SQLite and an object is text: neither should compare with the user's numbers or strings.
        types = "('text')" if isinstance(sample, str) else "('integer', 'real')"
        return f"(json_type(e.payload, ?) IN {types} AND {predicate[0]})", [self.json_path(ref), *predicate[1]]

    def contains(self, lhs: str) -> str:
        return f"(instr({lhs}, ?) > 0)"

    def regexp(self, lhs: str) -> str:
        return f"({lhs} REGEXP ?)"

    def text_search(self, test: FreeText) -> Sql:
        # An FTS5 phrase: the text's words in order, operators and quotes in it are just characters; NUL ends a
        # string for FTS5's query parser, and is a separator to its tokenizer anyway.
        phrase = '"' + test.words.replace('"', '""').replace("\0", " ") + '"' + ("*" if test.prefix else "")
        return "(e.seq IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ?))", [phrase]

    def per_attempt(self, predicate: Sql) -> Sql:
        return f"(EXISTS (SELECT 1 FROM invocations i WHERE i.event_id = e.id AND {predicate[0]}))", predicate[1]


SQLITE = SQLiteDialect()


# --- PostgreSQL ----------------------------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+")


def search_words(text: str | None) -> str | None:
    """The words of a text as free-text search sees them, space-separated with a space at each end: what SQLite's
    FTS5 `unicode61` tokenizer makes of it (runs of letters and digits; case folded; diacritics removed, so `café`
    is `cafe`). The PostgreSQL store keeps this for every payload (`events.words`) and `PostgresDialect.text_search`
    looks for the filter's words in it."""
    if text is None:
        return None
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " " + " ".join(_WORD.findall(plain.casefold())) + " "


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# The outcome of an attempt on PostgreSQL: `OUTCOME_SQL` step for step, with `inspector_try_jsonb` (the store's
# schema) where SQLite has json_valid: text that is not JSON is NULL instead of an error.
_PG_MESSAGE = "(inspector_try_jsonb(i.response) #>> '{data,message}')"
_PG_MESSAGE_JSON = f"inspector_try_jsonb({_PG_MESSAGE})"
PG_OUTCOME_SQL = (
    "(CASE WHEN i.http_status BETWEEN 200 AND 299 THEN 'ok' "
    f"WHEN ((CASE WHEN {_PG_MESSAGE_JSON} IS NOT NULL THEN (CASE WHEN jsonb_typeof({_PG_MESSAGE_JSON}) = 'string' "
    f"THEN {_PG_MESSAGE_JSON} #>> '{{}}' END) ELSE {_PG_MESSAGE} END) "
    """LIKE 'Event Trigger "%" timed out while processing.') THEN 'timeout' """
    "WHEN i.http_status IS NOT NULL THEN 'handler_error' "
    f"WHEN (CASE WHEN jsonb_typeof({_PG_MESSAGE_JSON}) = 'object' "
    f"THEN ({_PG_MESSAGE_JSON} ->> 'type' = 'http_exception' "
    f"AND {_PG_MESSAGE_JSON} ->> 'message' = 'Response timeout') "
    "END) THEN 'timeout' "
    "ELSE 'connection_failure' END)"
)
"""The `outcome` of the attempt `i` on PostgreSQL (the same answers as `OUTCOME_SQL`)."""

_PG_JSON_TEXT = '((e.doc #>> ?) COLLATE "C")'
_PG_JSON_NUMBER = "((e.doc #>> ?)::numeric)"
_PG_JSON_AS_TEXT = '(inspector_json_text(e.doc #> ?) COLLATE "C")'


class PostgresDialect(Dialect):
    """The PostgreSQL capture store (`inspector.store.postgres`): the same columns as the file's `events`, payload
    paths on its `jsonb` copy `e.doc` (`#>` with the path as a `text[]` parameter), `~` for `matches`, the payload's
    words (`e.words`, `search_words`) for free text, `invocations` of the same capture for attempts. Text compares
    in the "C" collation, as SQLite's BINARY. Its SQL has `?` placeholders like SQLite's; `to_psycopg` turns them
    into psycopg's. One difference: `matches` uses PostgreSQL's regular expressions (ARE), which agree with Python's
    on the common syntax (classes, anchors, `{m,n}`, a leading `(?i)`) but not everywhere."""

    TRUE = "TRUE"
    FALSE = "FALSE"

    def __init__(self, containment: bool = True) -> None:
        self.containment = containment
        """Equality on payload paths as `@>` (see `json_equals`); False keeps the typed `#>>` form everywhere (the
        benchmark compares the two)."""

    COLUMNS: Mapping[str, str] = {
        **SQLiteDialect.COLUMNS,
        "duplicate": "(e.successes > 1)::integer",
        "outcome": PG_OUTCOME_SQL,
    }

    def column(self, name: str) -> str:
        return self.COLUMNS[name]

    @staticmethod
    def json_path(ref: FieldRef) -> list[str]:
        """The payload field's path as PostgreSQL's `text[]` path (array items by their index as text)."""
        return [*JSON_ROOTS[ref.name], *(str(part) for part in ref.path)]

    def json_value(self, ref: FieldRef) -> Sql:
        return _PG_JSON_TEXT, [self.json_path(ref)]

    def json_is(self, ref: FieldRef, value: bool) -> Sql:
        return "(jsonb_typeof(e.doc #> ?) = 'boolean' AND (e.doc #>> ?) = ?)", [
            self.json_path(ref),
            self.json_path(ref),
            "true" if value else "false",
        ]

    def json_typed(self, ref: FieldRef, sample: Scalar, predicate: Sql) -> Sql:
        # A CASE, so the cast to numeric only ever sees numbers (an AND may be evaluated in any order).
        if isinstance(sample, str):
            return f"(CASE WHEN jsonb_typeof(e.doc #> ?) = 'string' THEN {predicate[0]} END)", [
                self.json_path(ref),
                *predicate[1],
            ]
        numeric = predicate[0].replace(_PG_JSON_TEXT, _PG_JSON_NUMBER)
        return f"(CASE WHEN jsonb_typeof(e.doc #> ?) = 'number' THEN {numeric} END)", [
            self.json_path(ref),
            *predicate[1],
        ]

    def json_equals(self, ref: FieldRef, values: Sequence[Scalar]) -> Sql | None:
        """`e.doc @> '{"data":{"new":{"id":3}}}'` (one per value, OR-ed): the GIN `jsonb_path_ops` index on `doc`
        answers it, where `#>>` walks every event of the capture (791 ms for one event in a million). The same
        answers as the typed comparison: containment compares a JSON number only with a number (3 and 3.0 equal)
        and a string only with a string, byte for byte; below an object key it never reaches into an array (so `x
        == 3` is false for `[3]`, as on SQLite). Left to the typed form: paths through array items (`[0]`: SQLite's
        index only reaches arrays, PostgreSQL's text path also object keys "0"), a value with U+0000 (jsonb refuses
        the character), and more values than one OR chain takes (`_CHAIN`: beyond, a CASE no index serves)."""
        path = self.json_path(ref) if self.containment else None
        if (
            not path
            or any(isinstance(part, int) for part in ref.path)
            or not 0 < len(values) <= _CHAIN
            or any(isinstance(v, bool) or (isinstance(v, str) and "\0" in v) for v in values)
            or any(isinstance(v, float) and not math.isfinite(v) for v in values)
        ):
            return None
        documents: list[Any] = []
        for value in values:
            document: Any = value
            for key in reversed(path):
                document = {key: document}
            documents.append(json.dumps(document, ensure_ascii=False, separators=(",", ":")))
        return _chain([("(e.doc @> ?::jsonb)", [d]) for d in documents], "OR", self)

    @staticmethod
    def _as_text(lhs: str) -> str:
        # a payload value as SQLite's json_extract gives it to instr and REGEXP (true is 1; the schema's function)
        return lhs.replace(_PG_JSON_TEXT, _PG_JSON_AS_TEXT)

    def contains(self, lhs: str) -> str:
        return f"(strpos(({self._as_text(lhs)})::text, ?) > 0)"

    def regexp(self, lhs: str) -> str:
        return f"(({self._as_text(lhs)})::text ~ ?)"

    def text_search(self, test: FreeText) -> Sql:
        words = (search_words(test.words) or " ").strip()
        if not words:
            return "FALSE", []
        pattern = "% " + _like_escape(words) + ("%" if test.prefix else " %")
        return "(e.words LIKE ?)", [pattern]

    def per_attempt(self, predicate: Sql) -> Sql:
        return (
            "(EXISTS (SELECT 1 FROM invocations i WHERE i.capture_id = e.capture_id AND i.event_id = e.id "
            f"AND {predicate[0]}))",
            predicate[1],
        )


POSTGRES = PostgresDialect()


def to_psycopg(sql: str) -> str:
    """SQL with `?` placeholders (this module's) in psycopg's style (`%s`, a literal `%` doubled). Safe because the
    SQL text here holds no `?` of its own: every value is a parameter."""
    return sql.replace("%", "%%").replace("?", "%s")


@dataclass(frozen=True)
class CompiledFilter:
    """An SQL predicate over `events e` and its parameters: `SELECT ... FROM events e WHERE {where}`. `where` holds
    only `?` placeholders for values; it is always safe to combine (`WHERE {where} AND ...`)."""

    where: str
    params: list[Any] = field(default_factory=list)
    needs_regexp: bool = False
    """The query calls `regexp`: run `register_functions(conn)` on the connection first."""
    expr: Expr = field(default_factory=All)
    """The syntax tree the filter came from."""


def compile_filter(
    source: str | Expr | CheckedFilter, *, now: float | None = None, dialect: Dialect = SQLITE
) -> CompiledFilter:
    """Compile filter text, a parsed tree or a checked filter to SQL. `now` (epoch seconds) anchors relative times
    such as `-15m` (the current time by default; a checked filter keeps its own). Raises `FilterError` for text that
    does not parse or does not type-check."""
    checked = source if isinstance(source, CheckedFilter) else check(source, now=time.time() if now is None else now)
    compiler = _Compiler(dialect)
    where, params = compiler.root(checked.tree)
    return CompiledFilter(where, params, compiler.needs_regexp, checked.expr)


def _chain(parts: list[Sql], op: Literal["AND", "OR"], dialect: Dialect = SQLITE) -> Sql:
    """Operands (each parenthesised) joined by `op`. Up to `_CHAIN` of them: a plain chain, which SQLite's optimiser
    understands (indexes, the OR optimisation). More: a CASE, whose WHENs are a list to SQLite, where a chain of n is
    a tree n deep (SQLite refuses expressions deeper than 1000, and its parser stack is short: no balanced trees)."""
    if len(parts) == 1:
        return parts[0]
    params = [p for _, group in parts for p in group]
    if len(parts) <= _CHAIN:
        return "(" + f" {op} ".join(sql for sql, _ in parts) + ")", params
    true, false = dialect.TRUE, dialect.FALSE
    if op == "OR":
        return "(CASE" + "".join(f" WHEN {sql} THEN {true}" for sql, _ in parts) + f" ELSE {false} END)", params
    return (
        "(CASE" + "".join(f" WHEN {sql} IS NOT {true} THEN {false}" for sql, _ in parts) + f" ELSE {true} END)",
        params,
    )


class _Compiler:
    """One compilation: the dialect, and whether the SQL calls `regexp`."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.needs_regexp = False

    def root(self, tree: CheckedNode) -> Sql:
        if isinstance(tree, Everything):
            return self.dialect.TRUE, []
        return self.node(tree)

    def node(self, node: Node) -> Sql:
        """A group, or a test; a negated test is `(test) IS NOT 1`: true when the test is false or NULL, so `not` is
        a complement (SQL's `NOT NULL` is NULL, which would drop the event from both `x` and `not x`)."""
        if isinstance(node, AllOf | AnyOf):
            return _chain(
                [self.node(operand) for operand in node.operands],
                "AND" if isinstance(node, AllOf) else "OR",
                self.dialect,
            )
        sql, params = self.test(node)
        return (self.dialect.negate(sql) if node.negated else sql), params

    def test(self, test: Test) -> Sql:
        if isinstance(test, FreeText):
            return self.dialect.text_search(test)
        predicate = self.predicate(test)
        if FIELD_KINDS[test.field.name].per_attempt:
            return self.dialect.per_attempt(predicate)
        return predicate

    def lhs(self, ref: FieldRef) -> Sql:
        if ref.payload_path is not None:
            return self.dialect.json_value(ref)
        return self.dialect.column(ref.name), []

    def predicate(self, test: IsTrue | NotNull | IsNull | Compare | Period | Search | InSet) -> Sql:
        ref = test.field
        json = FIELD_KINDS[ref.name].kind == "json"
        if isinstance(test, IsTrue) and json:
            return self.dialect.json_is(ref, test.value)
        lhs, lhs_params = self.lhs(ref)
        if isinstance(test, IsTrue):
            return f"({lhs} = {int(test.value)})", lhs_params
        if isinstance(test, NotNull):
            return f"({lhs} IS NOT NULL)", lhs_params
        if isinstance(test, IsNull):
            return f"({lhs} IS NULL)", lhs_params
        if isinstance(test, Search):
            if test.op == "contains":
                return self.dialect.contains(lhs), [*lhs_params, test.needle]
            self.needs_regexp = True
            return self.dialect.regexp(lhs), [*lhs_params, test.needle]
        if isinstance(test, Period):
            return f"({lhs} >= ? AND {lhs} < ?)", [*lhs_params, test.low, *lhs_params, test.high]
        if isinstance(test, Compare):
            if json and test.op == "==" and (equals := self.dialect.json_equals(ref, (test.value,))) is not None:
                return equals
            compared: Sql = (f"({lhs} {_SQL_OP[test.op]} ?)", [*lhs_params, test.value])
            return self.dialect.json_typed(ref, test.value, compared) if json else compared
        return self.in_set(test, lhs, lhs_params, json)

    def in_set(self, test: InSet, lhs: str, lhs_params: list[Any], json: bool) -> Sql:
        parts: list[Sql] = []
        equals = self.dialect.json_equals(test.field, test.values) if json and test.values else None
        if equals is not None:
            parts.append(equals)
        elif json:  # typed: numbers match numbers, strings strings (SQL's IN would mix true and 1)
            for group in (
                [v for v in test.values if not isinstance(v, str)],
                [v for v in test.values if isinstance(v, str)],
            ):
                if group:
                    marks = ", ".join("?" * len(group))
                    parts.append(
                        self.dialect.json_typed(test.field, group[0], (f"({lhs} IN ({marks}))", [*lhs_params, *group]))
                    )
        elif test.values:
            parts.append((f"({lhs} IN ({', '.join('?' * len(test.values))}))", [*lhs_params, *test.values]))
        for low, high in test.ranges:
            between: Sql = (f"({lhs} BETWEEN ? AND ?)", [*lhs_params, low, high])
            parts.append(self.dialect.json_typed(test.field, low, between) if json else between)
        return _chain(parts, "OR", self.dialect)


# --- SQLite functions ----------------------------------------------------------------------------------------------


def _regexp(pattern: Any, value: Any) -> int | None:
    """SQLite's `value REGEXP pattern`: 1 when the pattern is found in the value, 0 when not or when the pattern is
    not a valid regex (an exception would abort the whole query), NULL for NULL. The same search as in memory."""
    found = regex_search(pattern, value)
    return None if found is None else int(found)


def register_functions(conn: sqlite3.Connection) -> None:
    """Add what compiled filters call to a connection: `regexp` (for `matches`), with a cache of compiled patterns."""
    conn.create_function("regexp", 2, _regexp, deterministic=True)


# --- colouring rules -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledRules:
    """The enabled, usable rules as one SQL expression over `events e`: `sql` gives the index (into `rules`) of the
    first rule that matches a row, or NULL; `params` are its parameters in order. `errors` maps the name of each
    enabled rule that could not be compiled to the reason (those rules are left out)."""

    sql: str
    params: list[Any]
    rules: tuple[ColourRule, ...]
    needs_regexp: bool = False
    errors: dict[str, str] = field(default_factory=dict)

    def rule_at(self, index: int | None) -> ColourRule | None:
        return None if index is None or not 0 <= index < len(self.rules) else self.rules[index]


def compile_rules(
    rules: Sequence[ColourRule], *, now: float | None = None, dialect: Dialect = SQLITE
) -> CompiledRules:
    """Compile each enabled rule once; the result colours any number of rows in the query that reads them."""
    usable = usable_rules(rules, now=now)
    if not usable.rules:
        return CompiledRules("NULL", [], (), errors=usable.errors)
    compiled = [compile_filter(checked, dialect=dialect) for checked in usable.filters]
    whens = " ".join(f"WHEN ({c.where}) THEN {i}" for i, c in enumerate(compiled))
    params = [p for c in compiled for p in c.params]
    return CompiledRules(
        f"(CASE {whens} END)", params, usable.rules, any(c.needs_regexp for c in compiled), errors=usable.errors
    )
