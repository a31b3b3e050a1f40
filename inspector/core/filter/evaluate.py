"""A checked display filter run in memory against one event, with no SQL.

Owns the in-memory meaning of each test, written to give what `inspector.store.filter_sql` gives in SQLite for the
same event (tests/core/filter/test_evaluate.py runs both on the same events): a missing value (SQL's NULL) passes no
test and fails every negated one, numbers sort before text, JSON values compare only with values of their own JSON
type, `contains` looks in the value as SQLite writes it as text, `matches` searches `str(value)` as the `regexp`
function SQLite calls does (`regex_search`, which the store registers), and free text finds whole words in the
payload the way the capture's FTS5 index (`unicode61` tokenizer: letters and digits, case folded, diacritics removed)
does. Used for filtering events that are not (or not yet) in a capture, e.g. as they arrive.

An event is a mapping shaped like a row of the capture's `events` table (`inspector.store.capture_file`):
`id`, `trigger_name`, `table_name`, `op`, `status`, `tries`, `attempts`, `successes`, `flags`, `delivered`, `error`,
`last_http_status`, `created_ts`, `delivered_ts`, `first_attempt_ts`, `row_key`, `trace_id`, `session_role` and
`payload` (the `event` object Hasura delivers, as JSON text or parsed), plus `invocations`: the event's delivery
attempts, each a mapping with `http_status` and `response` (a row of `invocations`; `outcome` is worked out from
them), and, for a delivery in flight
(`inspector relay`'s rules and breakpoints), `attempt`: the number of the attempt being made (else `attempt` is
`attempts`, the latest attempt's number, as in SQL). Missing keys are missing values.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

from inspector.core.events import invocation_outcome
from inspector.core.filter.check import (
    AllOf,
    AnyOf,
    CheckedFilter,
    CheckedNode,
    Compare,
    Everything,
    FreeText,
    InSet,
    IsNull,
    IsTrue,
    NotNull,
    Period,
    Scalar,
    Search,
    Test,
)
from inspector.core.filter.fields import FIELD_KINDS
from inspector.core.filter.syntax import FieldRef

__all__ = ["evaluate", "regex_search"]

_COLUMNS = {
    "trigger": "trigger_name",
    "table": "table_name",
    "op": "op",
    "status": "status",
    "tries": "tries",
    "attempts": "attempts",
    "attempt": "attempt",
    "successes": "successes",
    "flags": "flags",
    "delivered": "delivered",
    "error": "error",
    "http_status": "last_http_status",
    "created_at": "created_ts",
    "row_key": "row_key",
    "trace_id": "trace_id",
    "role": "session_role",
    "id": "id",
    "invocation.http_status": "http_status",
    "invocation.response": "response",
}
"""The key of the event (or, for per-attempt fields, of an attempt) that holds each plain field."""

_MISSING = object()


def evaluate(source: CheckedFilter | CheckedNode, event: Mapping[str, Any]) -> bool:
    """Whether the event (see the module docstring for its shape) passes the checked filter."""
    tree = source.tree if isinstance(source, CheckedFilter) else source
    return _Event(event).holds(tree)


@lru_cache(maxsize=128)
def _pattern(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except (re.error, OverflowError, RecursionError):
        return None


def regex_search(pattern: Any, value: Any) -> bool | None:
    """`value REGEXP pattern`: whether the pattern is found in the value as text; False when the pattern is not a
    valid regex (a checked filter never has one, but SQL can be written by hand), None for a missing value."""
    if pattern is None or value is None:
        return None
    compiled = _pattern(str(pattern))
    if compiled is None:
        return False
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return compiled.search(str(value)) is not None


class _Event:
    """One event being tested; its payload is parsed (and tokenised for free text) once, when first needed."""

    def __init__(self, event: Mapping[str, Any]) -> None:
        self.event = event
        self._payload: Any = _MISSING
        self._words: list[str] | None = None

    def holds(self, node: CheckedNode) -> bool:
        if isinstance(node, Everything):
            return True
        if isinstance(node, AllOf):
            return all(self.holds(operand) for operand in node.operands)
        if isinstance(node, AnyOf):
            return any(self.holds(operand) for operand in node.operands)
        passed = self.test(node)
        return not passed if node.negated else passed

    def test(self, test: Test) -> bool:
        if isinstance(test, FreeText):
            return self.free_text(test)
        field = test.field
        if FIELD_KINDS[field.name].per_attempt:  # true when ANY attempt passes (SQL: EXISTS over invocations)
            attempts: Iterable[Mapping[str, Any]] = self.event.get("invocations") or ()
            return any(_passes(test, _attempt_value(attempt, field.name)) for attempt in attempts)
        return _passes(test, self.value(field))

    def value(self, field: FieldRef) -> Any:
        """The field's value: a column's, computed, or (payload fields) the JSON value, None when missing."""
        path = field.payload_path
        if path is not None:
            return _walk(self.payload(), path)
        if field.name == "duplicate":
            successes = self.event.get("successes")
            return None if successes is None else int(successes > 1)
        if field.name == "attempt":  # a delivery in flight (the relay) has its own; a captured event: its latest
            attempt = self.event.get("attempt")
            return self.event.get("attempts") if attempt is None else attempt
        if field.name == "latency":
            created = self.event.get("created_ts")
            until = self.event.get("delivered_ts")
            if until is None:
                until = self.event.get("first_attempt_ts")
            return None if created is None or until is None else (until - created) * 1000.0
        return self.event.get(_COLUMNS[field.name])

    def payload(self) -> Any:
        if self._payload is _MISSING:
            payload = self.event.get("payload")
            if isinstance(payload, str | bytes):
                try:
                    payload = json.loads(payload)
                except ValueError:
                    payload = None
            self._payload = payload
        return self._payload

    def free_text(self, test: FreeText) -> bool:
        if self._words is None:
            payload = self.event.get("payload")
            if payload is None:
                text = ""
            elif isinstance(payload, str):
                text = payload
            elif isinstance(payload, bytes):
                text = payload.decode("utf-8", "replace")
            else:  # as the capture stores it
                text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
            self._words = _tokens(text)
        wanted = _tokens(test.words)
        if not wanted:
            return False
        words, n = self._words, len(wanted)
        for i in range(len(words) - n + 1):
            if words[i : i + n - 1] == wanted[:-1] and (
                words[i + n - 1].startswith(wanted[-1]) if test.prefix else words[i + n - 1] == wanted[-1]
            ):
                return True
        return False


def _attempt_value(attempt: Mapping[str, Any], name: str) -> Any:
    """A per-attempt field's value for one attempt: a column's, or its outcome (`invocation_outcome`, from its
    `http_status` and `response`, unless the attempt carries an `outcome` already)."""
    if name == "outcome":
        given = attempt.get("outcome")
        return given if given is not None else invocation_outcome(attempt.get("http_status"), attempt.get("response"))
    return attempt.get(_COLUMNS[name])


def _walk(value: Any, path: tuple[str | int, ...]) -> Any:
    """The JSON value at `path` (keys and array indexes), None when any step is missing."""
    for part in path:
        if isinstance(part, int):
            if not isinstance(value, list) or part >= len(value):
                return None
            value = value[part]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return None
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _sql_value(value: Any) -> Any:
    """A JSON value as SQLite's `json_extract` gives it: true/false as 1/0, arrays and objects as JSON text."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


def _sql_text(value: Any) -> str:
    """A value as SQLite casts it to text (what `instr` looks in): a real as `%!.15g`, with `.0` when it has no
    fraction."""
    if isinstance(value, float):
        text = f"{value:.15g}"
        mantissa, e, exponent = text.partition("e")
        if "." not in mantissa and mantissa.lstrip("-").isdigit():
            mantissa += ".0"
        return mantissa + e + exponent
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _rank(value: Any) -> int:
    """SQLite's order of storage classes: numbers before text before blobs."""
    return 0 if _is_number(value) or isinstance(value, bool) else 1 if isinstance(value, str) else 2


_ORDERS: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: bool(a == b),
    "<": lambda a, b: bool(a < b),
    "<=": lambda a, b: bool(a <= b),
    ">": lambda a, b: bool(a > b),
    ">=": lambda a, b: bool(a >= b),
}


def _compare(value: Any, op: str, wanted: Scalar) -> bool:
    if value is None:
        return False
    if _rank(value) != _rank(wanted):  # no conversion: a number is below any text
        return _ORDERS[op](_rank(value), _rank(wanted))
    return _ORDERS[op](value, wanted)


def _same_json_type(value: Any, sample: Scalar) -> bool:
    """Whether a JSON value may compare with a checked value: strings with strings, numbers with numbers."""
    return isinstance(value, str) if isinstance(sample, str) else _is_number(value)


def _passes(test: Test, value: Any) -> bool:
    """Whether one value passes a (not negated) test; None (a missing value) passes none but `IsNull`."""
    json_field = not isinstance(test, FreeText) and FIELD_KINDS[test.field.name].kind == "json"
    if isinstance(test, IsNull):
        return value is None
    if isinstance(test, NotNull):
        return value is not None
    if isinstance(test, IsTrue):
        if json_field:
            return value is test.value
        return value is not None and value == int(test.value)
    if isinstance(test, Compare):
        if json_field and not _same_json_type(value, test.value):
            return False
        return _compare(value, test.op, test.value)
    if isinstance(test, Period):
        return _is_number(value) and test.low <= value < test.high
    if isinstance(test, Search):
        if value is None:
            return False
        sql_value = _sql_value(value) if json_field else value
        if test.op == "contains":
            return test.needle in _sql_text(sql_value)
        return bool(regex_search(test.needle, sql_value))
    if isinstance(test, InSet):
        if value is None:
            return False
        for wanted in test.values:
            if (not json_field or _same_json_type(value, wanted)) and _compare(value, "==", wanted):
                return True
        for low, high in test.ranges:
            typed = not json_field or _same_json_type(value, low)
            if typed and _compare(value, ">=", low) and _compare(value, "<=", high):
                return True
        return False
    raise AssertionError(test)  # FreeText is the event's, not a value's


def _tokens(text: str) -> list[str]:
    """Words as FTS5's `unicode61` tokenizer makes them: runs of letters, digits (and private-use characters), case
    folded, with diacritics removed."""
    out: list[str] = []
    current: list[str] = []
    for ch in text:
        category = unicodedata.category(ch)
        if category[0] in "LN" or category == "Co":
            current.append(ch)
        elif current:
            out.append(_fold("".join(current)))
            current = []
    if current:
        out.append(_fold("".join(current)))
    return out


def _fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFD", word.lower())
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
