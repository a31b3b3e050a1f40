"""The display filter's semantic check: a syntax tree to a CHECKED tree, or the error to underline.

Owns the meaning of a filter, whoever runs it (SQL in `inspector.store.filter_sql`, or in memory in
`inspector.core.filter.evaluate`): every type error is raised here, with its span, and what comes out holds only
resolved values, so that running it cannot fail.

- Values are typed. Enums take any case and come out canonical (`status == FAILED` is `failed`); text fields and
  session variables take numbers as their text (`row_key == 42`); numbers keep their type; JSON values compare as
  what they are (`data.new.restaurant_id == 3` does not match the string `"3"`).
- `created_at` takes ISO 8601 (a zone or none; none means UTC, as in Hasura's timestamps), epoch seconds, `now`, or
  a time ago (`-15m`, `"2h ago"`), resolved against `now` to epoch seconds. An ISO time means the whole period it
  names: `created_at == "2024-03-01T12:00"` is that minute (a `Period`), `created_at > "2024-03-01"` is after that
  day.
- `latency` is milliseconds; units (`2s`, `1.5m`) are applied here.
- `matches` regexes are compiled here (a bad one is an error pointing into the string).
- `a != b` is `not (a == b)` (as in Wireshark): events where the field is missing match it, and `not` is a real
  complement. `not`s are pushed down to the tests (De Morgan, `negated` on each test) and nested groups of one
  operator merged, so parentheses and `not`s cost nothing; what is left is limited to `MAX_GROUPS` nested
  `and`/`or` groups (SQLite's parser stack holds 100 entries before 3.46: the language accepts only what every
  place that runs it can run).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal, cast

from inspector.core.filter.errors import FilterError, did_you_mean, show
from inspector.core.filter.fields import FIELD_KINDS, FieldKind, describe_kind
from inspector.core.filter.parser import parse
from inspector.core.filter.syntax import (
    All,
    And,
    Comparison,
    Expr,
    FieldRef,
    In,
    Not,
    Or,
    Present,
    Range,
    Text,
    Value,
)

__all__ = [
    "MAX_GROUPS",
    "AllOf",
    "AnyOf",
    "CheckedFilter",
    "CheckedNode",
    "Compare",
    "Everything",
    "FreeText",
    "InSet",
    "IsNull",
    "IsTrue",
    "Node",
    "NotNull",
    "Period",
    "Scalar",
    "Search",
    "Test",
    "check",
    "find_error",
]

MAX_GROUPS = 12
"""Most `and`/`or` groups nested in one another (after `not`s are pushed down and same-operator groups merged): the
limit of SQLite's parser stack (100 entries in builds before 3.46), with room for the query around the filter."""

UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_LONG_UNITS = {
    **{u: u for u in UNIT_SECONDS},
    **dict.fromkeys(("sec", "secs", "second", "seconds"), "s"),
    **dict.fromkeys(("min", "mins", "minute", "minutes"), "m"),
    **dict.fromkeys(("hr", "hrs", "hour", "hours"), "h"),
    **dict.fromkeys(("day", "days"), "d"),
    **dict.fromkeys(("week", "weeks"), "w"),
}
_ISO_PRECISION = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ](\d{2})(?::(\d{2})(?::(\d{2})(\.\d+)?)?)?)?")
_AGO = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)\s+ago")
_MINUS = re.compile(r"-\s*(\d+(?:\.\d+)?)\s*([a-z]+)")

Scalar = str | int | float
"""A checked value: text (enums canonical), a number, epoch seconds or milliseconds."""
Order = Literal["==", "<", "<=", ">", ">="]


# --- the checked tree ----------------------------------------------------------------------------------------------
# Each test holds `negated` (the `not`s above it, pushed down) and the span of what it was checked from.


@dataclass(frozen=True)
class Everything:
    """The empty filter: every event."""

    start: int = 0
    end: int = 0


@dataclass(frozen=True)
class IsTrue:
    """A boolean field is `value` (`delivered`, `error == false`); on a JSON field, the value is JSON `true`/`false`."""

    field: FieldRef
    value: bool
    start: int
    end: int
    negated: bool = False


@dataclass(frozen=True)
class NotNull:
    """The field has a value (JSON `null` is no value)."""

    field: FieldRef
    start: int
    end: int
    negated: bool = False


@dataclass(frozen=True)
class IsNull:
    """The field has no value (`http_status == null`)."""

    field: FieldRef
    start: int
    end: int
    negated: bool = False


@dataclass(frozen=True)
class Compare:
    """`field op value`. On a JSON field only values of the same JSON type compare (numbers with numbers, strings
    with strings)."""

    field: FieldRef
    op: Order
    value: Scalar
    start: int
    end: int
    negated: bool = False


@dataclass(frozen=True)
class Period:
    """A time in `[low, high)` (epoch seconds): `created_at == "2024-03-01"` is that day."""

    field: FieldRef
    low: float
    high: float
    start: int
    end: int
    negated: bool = False


@dataclass(frozen=True)
class Search:
    """`contains` (case-sensitive substring) or `matches` (a Python regex, searched, already compiled once)."""

    field: FieldRef
    op: Literal["contains", "matches"]
    needle: str
    start: int
    end: int
    negated: bool = False


@dataclass(frozen=True)
class InSet:
    """`field in {...}`: equal to one of `values` or within one of `ranges` (inclusive). On a JSON field, typed as in
    `Compare`."""

    field: FieldRef
    values: tuple[Scalar, ...]
    ranges: tuple[tuple[Scalar, Scalar], ...]
    start: int
    end: int
    negated: bool = False


@dataclass(frozen=True)
class FreeText:
    """Words searched in the event payload: whole words in order, case- and accent-insensitive; `prefix`: the last
    word may be the start of a longer one (`"piz*"`)."""

    words: str
    prefix: bool
    start: int
    end: int
    negated: bool = False


@dataclass(frozen=True)
class AllOf:
    """Every operand holds (at least two; none of them an `AllOf`)."""

    operands: tuple[Node, ...]
    start: int
    end: int


@dataclass(frozen=True)
class AnyOf:
    """Some operand holds (at least two; none of them an `AnyOf`)."""

    operands: tuple[Node, ...]
    start: int
    end: int


Test = IsTrue | NotNull | IsNull | Compare | Period | Search | InSet | FreeText
Node = Test | AllOf | AnyOf
CheckedNode = Everything | Node


@dataclass(frozen=True)
class CheckedFilter:
    """A filter ready to run: `tree` (the checked tree), `expr` (the syntax tree it came from), `now` (what relative
    times were resolved against) and whether it uses regexes."""

    tree: CheckedNode
    expr: Expr
    now: float
    needs_regexp: bool = False


def check(source: str | Expr, *, now: float | None = None) -> CheckedFilter:
    """Check filter text (or a parsed tree). `now` (epoch seconds) anchors relative times such as `-15m`; the
    current time by default. Raises `FilterError` for text that does not parse or does not type-check."""
    expr = parse(source) if isinstance(source, str) else source
    checker = _Checker(time.time() if now is None else now)
    tree = checker.root(expr)
    return CheckedFilter(tree, expr, checker.now, checker.needs_regexp)


def find_error(text: str) -> FilterError | None:
    """None when the filter is usable, else the error to show (for the filter bar's green/red)."""
    try:
        check(text)
    except FilterError as exc:
        return exc
    return None


# --- the check -----------------------------------------------------------------------------------------------------


def _group_op(expr: And | Or, negated: bool) -> Literal["AND", "OR"]:
    """What a group becomes once the `not`s above it are pushed down (De Morgan)."""
    return "AND" if isinstance(expr, And) != negated else "OR"


class _Checker:
    """One check: `now` for relative times, and whether a regex was seen."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.needs_regexp = False

    def root(self, expr: Expr) -> CheckedNode:
        if isinstance(expr, All):
            return Everything(expr.start, expr.end)
        node, _ = self.node(expr, False)
        return node

    def node(self, expr: Expr, negated: bool) -> tuple[Node, int]:
        """The checked `expr` (negated if asked), with the `not`s pushed down to the tests (De Morgan) and nested
        groups of the same operator merged; also how many groups are nested (one Python frame per group level, and
        the flattening's: the deepest filters stay far from the recursion limit)."""
        while isinstance(expr, Not):
            expr, negated = expr.operand, not negated
        if isinstance(expr, Comparison) and expr.op == "!=":  # not (a == b): missing fields match, as in Wireshark
            expr, negated = replace(expr, op="=="), not negated
        if isinstance(expr, And | Or):
            op = _group_op(expr, negated)
            operands: list[Node] = []
            nested = 0
            for operand, operand_negated in self.flatten(expr, negated, op):
                node, groups = self.node(operand, operand_negated)
                operands.append(node)
                nested = max(nested, groups)
            if nested + 1 > MAX_GROUPS:
                raise FilterError(
                    f"too many nested groups of 'and' and 'or' (at most {MAX_GROUPS}): SQLite can't run it",
                    expr.start,
                    expr.end,
                )
            group = AllOf if op == "AND" else AnyOf
            return group(tuple(operands), expr.start, expr.end), nested + 1
        test = self.leaf(expr)
        return (replace(test, negated=True) if negated else test), 0

    def flatten(self, group: And | Or, negated: bool, op: str) -> list[tuple[Expr, bool]]:
        """The operands of `group`, with those that are groups of the same operator (after De Morgan) opened."""
        out: list[tuple[Expr, bool]] = []
        for operand in group.operands:
            inner, inner_negated = operand, negated
            while isinstance(inner, Not):
                inner, inner_negated = inner.operand, not inner_negated
            if isinstance(inner, And | Or) and _group_op(inner, inner_negated) == op:
                out.extend(self.flatten(inner, inner_negated, op))
            else:
                out.append((inner, inner_negated))
        return out

    def leaf(self, expr: Expr) -> Test:
        if isinstance(expr, Text):
            return self.text(expr)
        if isinstance(expr, Present):
            if FIELD_KINDS[expr.field.name].kind == "bool":
                return IsTrue(expr.field, True, expr.start, expr.end)
            return NotNull(expr.field, expr.start, expr.end)
        if isinstance(expr, In):
            return self.in_set(expr)
        assert isinstance(expr, Comparison), expr  # All is only ever the whole filter
        return self.test(expr)

    # --- pieces ---

    @staticmethod
    def text(expr: Text) -> FreeText:
        text = str(expr.value.value)
        prefix = text.endswith("*")
        words = text[:-1] if prefix else text
        if not any(ch.isalnum() for ch in words):  # the index holds words: punctuation and emoji are separators
            raise FilterError("nothing to search for: free text finds words (letters or digits)", expr.start, expr.end)
        return FreeText(words, prefix, expr.start, expr.end)

    def test(self, test: Comparison) -> Test:
        kind = FIELD_KINDS[test.field.name]
        value, op = test.value, test.op
        name = test.field.text
        span = (test.start, test.end)
        if op in ("contains", "matches"):
            if kind.kind not in ("text", "enum", "json"):
                raise FilterError(
                    f"'{op}' works on text; {name} is {describe_kind(kind.kind)}", test.op_start, test.op_end
                )
            if value.kind not in ("string", "word", "number"):
                raise FilterError(f"'{op}' needs text, such as \"abc\"", value.start, value.end)
            needle = value.text if value.kind == "number" else str(value.value)
            if op == "matches":
                self.validate_regex(needle, value)
                self.needs_regexp = True
                return Search(test.field, "matches", needle, *span)
            return Search(test.field, "contains", needle, *span)
        if value.kind == "null":
            if op != "==":
                raise FilterError("null only compares with == or !=", test.op_start, test.op_end)
            return IsNull(test.field, *span)
        order = cast(Order, op)  # `!=` was made `not ==` above, the others are orders
        if kind.kind == "time":
            return self.time_test(test, order)
        if kind.kind == "json":
            return self.json_test(test, order)
        if kind.kind == "bool":
            if op != "==":
                raise FilterError(f"{name} is true or false: use == or !=", test.op_start, test.op_end)
            if value.kind != "bool":
                raise FilterError(f"{name} is true or false, not {show(value.text)}", value.start, value.end)
            return IsTrue(test.field, bool(value.value), *span)
        if kind.kind == "enum" and op not in ("==", "!="):
            raise FilterError(f"{name} has no order: use ==, != or in {{...}}", test.op_start, test.op_end)
        return Compare(test.field, order, self.scalar(kind, name, value), *span)

    def scalar(self, kind: FieldKind, name: str, value: Value) -> Scalar:
        """A value for a text, enum, number or duration field, checked and converted."""
        if kind.kind in ("int", "duration"):
            if value.kind != "number":
                example = "250ms, 2s" if kind.kind == "duration" else "500"
                raise FilterError(f"{name} is a number ({example}), not {show(value.text)}", value.start, value.end)
            number = value.value
            assert isinstance(number, int | float) and not isinstance(number, bool)
            if kind.kind == "duration":
                return number * UNIT_SECONDS[value.unit] * 1000.0 if value.unit else number
            if value.unit:
                raise FilterError(f"{name} takes a plain number, without '{value.unit}'", value.start, value.end)
            return number
        if value.kind == "bool":
            raise FilterError(f'{name} is text; quote it to mean the word: "{value.text}"', value.start, value.end)
        text = value.text if value.kind == "number" else str(value.value)
        if kind.kind == "enum":
            canonical = {choice.lower(): choice for choice in kind.choices}
            if text.lower() not in canonical:
                raise FilterError(
                    f"unknown {name} '{show(text)}'{did_you_mean(text, canonical)} ({', '.join(kind.choices)})",
                    value.start,
                    value.end,
                )
            return canonical[text.lower()]
        return text

    @staticmethod
    def json_test(test: Comparison, op: Order) -> IsTrue | Compare:
        """Typed comparison with a JSON value: numbers with numbers, strings with strings, booleans by JSON type."""
        value = test.value
        if value.kind == "bool":
            if op != "==":
                raise FilterError("true and false only compare with == or !=", value.start, value.end)
            return IsTrue(test.field, bool(value.value), test.start, test.end)
        param: Scalar
        if value.kind == "number":
            if value.unit:
                raise FilterError(f"'{value.unit}' units only apply to latency and created_at", value.start, value.end)
            assert isinstance(value.value, int | float)
            param = value.value
        else:
            param = str(value.value)
        return Compare(test.field, op, param, test.start, test.end)

    def time_test(self, test: Comparison, op: Order) -> Compare | Period:
        start, end = self.time_value(test.value, test.field.text)
        span = (test.start, test.end)
        if end is None:
            return Compare(test.field, op, start, *span)
        if op == "==":
            return Period(test.field, start, end, *span)
        bounds: dict[str, tuple[Order, float]] = {
            "<": ("<", start),
            "<=": ("<", end),
            ">": (">=", end),
            ">=": (">=", start),
        }
        bound = bounds[op]
        return Compare(test.field, bound[0], bound[1], *span)

    def time_value(self, value: Value, name: str) -> tuple[float, float | None]:
        """A time as (start, end) epoch seconds: end is None for an instant, else the period's end (exclusive)."""
        if value.kind == "number":
            number = value.value
            assert isinstance(number, int | float)
            if value.unit is None:
                return float(number), None
            if not value.text.startswith("-"):
                raise FilterError(
                    f'write -{value.text} (or "{value.text} ago") for a time in the past', value.start, value.end
                )
            return self.now + number * UNIT_SECONDS[value.unit], None
        if value.kind not in ("string", "word"):
            raise FilterError(f"{name} is a time, not {show(value.text)}", value.start, value.end)
        text = str(value.value).strip()
        lower = text.lower()
        if lower == "now":
            return self.now, None
        relative = _AGO.fullmatch(lower) or _MINUS.fullmatch(lower)
        if relative and relative.group(2) in _LONG_UNITS:
            return self.now - float(relative.group(1)) * UNIT_SECONDS[_LONG_UNITS[relative.group(2)]], None
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise FilterError(
                f'can\'t read {show(value.text)} as a time: use ISO 8601 ("2024-03-01T12:00") or a time ago (-15m, '
                '"2h ago")',
                value.start,
                value.end,
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        start = moment.timestamp()
        m = _ISO_PRECISION.match(text)
        if m is None or m.group(4):
            return start, None
        period = (
            86400.0 if m.group(1) is None else 3600.0 if m.group(2) is None else 60.0 if m.group(3) is None else 1.0
        )
        return start, start + period

    def in_set(self, expr: In) -> InSet:
        kind = FIELD_KINDS[expr.field.name]
        name = expr.field.text
        if kind.kind in ("bool", "time"):
            raise FilterError(f"{name} can't be used with 'in'; use comparisons", expr.field.start, expr.field.end)
        singles: list[Scalar] = []
        ranges: list[tuple[Scalar, Scalar]] = []
        for item in expr.items:
            if isinstance(item, Range):
                if kind.kind not in ("int", "duration", "json"):
                    raise FilterError(
                        f"ranges need numbers; {name} is {describe_kind(kind.kind)}", item.start, item.end
                    )
                for bound in (item.low, item.high):
                    if bound.kind != "number":
                        raise FilterError(f"a range needs numbers, not {show(bound.text)}", bound.start, bound.end)
                ranges.append((self.set_value(kind, name, item.low), self.set_value(kind, name, item.high)))
            else:
                singles.append(self.set_value(kind, name, item))
        return InSet(expr.field, tuple(singles), tuple(ranges), expr.start, expr.end)

    def set_value(self, kind: FieldKind, name: str, value: Value) -> Scalar:
        if value.kind == "null":
            raise FilterError(f"null can't be in a set; write {name} == null", value.start, value.end)
        if kind.kind == "json":
            if value.kind == "bool":
                raise FilterError(
                    f"true and false can't be in a set; write {name} == {value.text}", value.start, value.end
                )
            if value.kind == "number":
                if value.unit:
                    raise FilterError(
                        f"'{value.unit}' units only apply to latency and created_at", value.start, value.end
                    )
                assert isinstance(value.value, int | float)
                return value.value
            return str(value.value)
        return self.scalar(kind, name, value)

    @staticmethod
    def validate_regex(pattern: str, value: Value) -> None:
        try:
            re.compile(pattern)
        except re.error as exc:
            start, end = value.start, value.end
            if value.verbatim and value.kind == "string" and exc.pos is not None:
                opening = value.text.index(value.text[-1]) + 1  # after r and the quote
                start = value.start + opening + exc.pos
                end = start + 1
            raise FilterError(f"bad regular expression: {exc.msg}", start, min(end, value.end)) from None
        except (OverflowError, RecursionError) as exc:  # a{99999999999}; thousands of nested groups
            raise FilterError(f"regular expression too large: {exc}", value.start, value.end) from None
