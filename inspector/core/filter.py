r"""The display filter: a small Wireshark-style language that selects events, compiled to parameterised SQL.

Owns the grammar, the parser (text -> `Expr`, errors with the character span to underline), the compiler (`Expr` ->
an SQL predicate over `events e` plus its parameters), the `regexp` function `matches` needs, the field list and
completion. Used by the window's filter bar (checked as typed: green, or red with the error span underlined), the
CLI's `--filter` and anything else that lists events. Pure: no Qt, no I/O.

Examples::

    trigger == "validate-order" and http_status >= 500
    data.new.restaurant_id == 3 || tries > 1
    not delivered
    status in {failed retrying}
    "pizza"
    session.user-id == "u1" && latency > 2s
    invocation.http_status in {500..599} and created_at > -1h

Grammar (keywords are case-insensitive; `&&`, `||`, `!` are the same as `and`, `or`, `not`)::

    filter  := [or] EOF                                  empty: every event
    or      := and {("or" | "||") and}
    and     := unary {("and" | "&&") unary}
    unary   := {"not" | "!"} ("(" or ")" | primary)     precedence: not > and > or
    primary := STRING                                    free text: search the event payload
             | field                                     boolean field: true; any other: present (not null)
             | field cmp value                           cmp: == != < <= > >= (or eq ne lt le gt ge)
             | field ["not"] ("contains" | "matches" | "~") value
             | field ["not"] "in" "{" item {[","] item} "}"
    item    := value [".." value]                        a range: http_status in {200..299 404}
    value   := STRING | NUMBER | "true" | "false" | "null" | BAREWORD

- STRING: `"..."` or `'...'` with the escapes `\\ \" \' \n \t \r \0 \xHH \uHHHH \UHHHHHHHH`; any other backslash is
  kept as written, so the regex `^\d+ ` can be written `"^\d+ "` as well as `"^\\d+ "`. Raw strings `r"..."` keep
  every backslash.
- NUMBER: `42`, `-1.5`, `1e3`, with an optional unit (`ms s m h d w`) for `latency` and `created_at`: `latency > 2s`,
  `created_at > -15m` (fifteen minutes ago).
- BAREWORD: an unquoted value (`status == failed`, `trigger == validate-order`, `created_at > 2024-03-01`). The right
  side of a comparison is always a value, never another field.

Fields (`FIELDS` describes each one): `trigger table op status tries attempts delivered error http_status created_at
latency row_key trace_id role id`, `invocation.http_status` / `invocation.response` (true if ANY delivery attempt
matches), `data.new.<path>` / `data.old.<path>` (the row in the payload; `<path>` is columns of letters, digits and
`_`, with `[n]` array indexes: `data.new.items[0].name`), and `session.<var>` (`session.user-id` and
`session.x-hasura-user-id` are the same variable).

Semantics, as decided:

- `http_status` is the status of the event's *latest* attempt (`events.last_http_status`; null when there was no
  attempt, or the latest got no HTTP answer); `invocation.http_status` means "some attempt had" (`EXISTS` over
  `invocations`), so `invocation.http_status == 500` finds events that failed once and then succeeded.
- `a != b` is `not (a == b)` (as in Wireshark): events where the field is missing match it, and `not` is a real
  complement (SQL's NULL never makes an event fall out of both `x` and `not x`).
- Values are typed. JSON values compare as what they are: `data.new.restaurant_id == 3` does not match the string
  `"3"`, and `data.new.total > 20` compares numbers only (a string never sorts "above" a number). Text fields and
  session variables (always strings in Hasura) take numbers as their text: `row_key == 42`.
- `created_at` takes ISO 8601 (`"2024-03-01T12:00"`, a zone or none; none means UTC, as in Hasura's timestamps),
  epoch seconds, `now`, or a time ago (`-15m`, `"2h ago"`). An ISO time means the whole period it names:
  `created_at == "2024-03-01T12:00"` is that minute, `created_at > "2024-03-01"` is after that day.
- `latency` is milliseconds from creation to delivery, or to the first attempt when not delivered (null without
  attempts): `latency > 100`, `latency > 2s`.
- Free text is a quoted string on its own: `"pizza"` searches the event payload (row data, session variables) with
  the capture's FTS5 index: whole words, case- and accent-insensitive, `"piz*"` for a prefix. An unquoted unknown
  word is an error (with a "did you mean" for misspelt fields), never a silent search.
- `contains` is case-sensitive substring; `matches` is a Python regular expression searched anywhere in the value,
  case-sensitive (`(?i)` at its start ignores case). Both work on text and JSON fields.

Safety: every value the user typed, JSON paths and session variable names included, ends up in `params`; `where` is
built only from this module's fixed fragments and `?` placeholders. Hostile or machine-made filters stay within what
SQLite accepts, whatever its build: `not`s are pushed down to the tests (De Morgan) and nested groups of one operator
merged, so parentheses and `not`s cost nothing; what is left is limited to `MAX_GROUPS` nested `and`/`or` groups
(SQLite's parser stack holds 100 entries before 3.46); chains of more than 16 operands become a `CASE` (a chain of n
is an expression n deep, and SQLite refuses 1000). The text is limited to `MAX_LENGTH`, parentheses and `not`s to
`MAX_DEPTH` levels, sets to `MAX_SET` values. `matches` needs `register_functions(conn)` on the connection that runs
the query (`CompiledFilter.needs_regexp`). A pathological regex can still take long on long values (Python's `re` has
no timeout): run filters off the GUI thread.

Why a hand-written recursive-descent parser: the grammar has a dozen rules, and a parser generator (or a parsing
library) would add a dependency for a 300-line job while making the thing the filter bar needs most, a precise span
and a message a user can act on ("expected a value after '=='", "did you mean 'trigger'?"), harder to get; here each
rule knows what it expected and where.
"""

from __future__ import annotations

import difflib
import math
import re
import time
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import sqlite3

__all__ = [
    "FIELDS",
    "MAX_DEPTH",
    "MAX_GROUPS",
    "MAX_LENGTH",
    "MAX_SET",
    "All",
    "And",
    "Comparison",
    "CompiledFilter",
    "Expr",
    "FieldRef",
    "FilterError",
    "In",
    "Not",
    "Or",
    "Present",
    "Range",
    "Text",
    "Value",
    "check",
    "compile_filter",
    "complete",
    "completion_start",
    "parse",
    "register_functions",
]

MAX_LENGTH = 65536
"""Longest filter text accepted (characters)."""
MAX_DEPTH = 200
"""Deepest nesting of parentheses and `not`s accepted."""
MAX_SET = 1000
"""Most values in one `in {...}` set."""
MAX_GROUPS = 12
"""Most `and`/`or` groups nested in one another (after `not`s are pushed down and same-operator groups merged): the
limit of SQLite's parser stack (100 entries in builds before 3.46), with room for the query around the filter."""
_CHAIN = 16

FIELDS: Mapping[str, str] = {
    "trigger": "event trigger name",
    "table": "table the event came from",
    "op": "operation: INSERT, UPDATE, DELETE or MANUAL",
    "status": "pending, retrying, in-flight, delivered, failed or archived",
    "tries": "tries Hasura counted",
    "attempts": "delivery attempts captured",
    "successes": "attempts answered 2xx (more than one: a duplicate delivery)",
    "duplicate": "delivered successfully more than once (true/false)",
    "flags": "anomalies found by analysis, e.g. out-of-order",
    "delivered": "delivered (true/false); on its own: delivered",
    "error": "retries exhausted (true/false); on its own: failed",
    "http_status": "HTTP status of the latest attempt (null: none, or no answer)",
    "invocation.http_status": "HTTP status of any attempt: invocation.http_status == 500",
    "invocation.response": "response of any attempt, as stored (JSON text)",
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
OPS = ("INSERT", "UPDATE", "DELETE", "MANUAL")

Kind = Literal["text", "enum", "int", "bool", "time", "duration", "json"]


@dataclass(frozen=True)
class _Spec:
    sql: str
    kind: Kind
    invocation: bool = False
    choices: tuple[str, ...] = ()


_SPECS: dict[str, _Spec] = {
    "trigger": _Spec("e.trigger_name", "text"),
    "table": _Spec("e.table_name", "text"),
    "op": _Spec("e.op", "enum", choices=OPS),
    "status": _Spec("e.status", "enum", choices=EVENT_STATUSES),
    "tries": _Spec("e.tries", "int"),
    "attempts": _Spec("e.attempts", "int"),
    "successes": _Spec("e.successes", "int"),
    "duplicate": _Spec("(e.successes > 1)", "bool"),
    "flags": _Spec("e.flags", "text"),
    "delivered": _Spec("e.delivered", "bool"),
    "error": _Spec("e.error", "bool"),
    "http_status": _Spec("e.last_http_status", "int"),
    "invocation.http_status": _Spec("i.http_status", "int", invocation=True),
    "invocation.response": _Spec("i.response", "text", invocation=True),
    "created_at": _Spec("e.created_ts", "time"),
    "latency": _Spec("((coalesce(e.delivered_ts, e.first_attempt_ts) - e.created_ts) * 1000.0)", "duration"),
    "row_key": _Spec("e.row_key", "text"),
    "trace_id": _Spec("e.trace_id", "text"),
    "role": _Spec("e.session_role", "text"),
    "id": _Spec("e.id", "text"),
    # JSON in the payload; the path is a parameter.
    "data.new": _Spec("json_extract(e.payload, ?)", "json"),
    "data.old": _Spec("json_extract(e.payload, ?)", "json"),
    "session": _Spec("json_extract(e.payload, ?)", "text"),
}
_JSON_ROOTS = {"data.new": "$.data.new", "data.old": "$.data.old", "session": "$.session_variables"}
_SIMPLE_FIELDS = tuple(name for name in FIELDS if "<" not in name)

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_LONG_UNITS = {
    **{u: u for u in _UNIT_SECONDS},
    **dict.fromkeys(("sec", "secs", "second", "seconds"), "s"),
    **dict.fromkeys(("min", "mins", "minute", "minutes"), "m"),
    **dict.fromkeys(("hr", "hrs", "hour", "hours"), "h"),
    **dict.fromkeys(("day", "days"), "d"),
    **dict.fromkeys(("week", "weeks"), "w"),
}

_KEYWORDS = frozenset({"and", "or", "not", "in", "contains", "matches", "true", "false", "null"})
_WORD_OPS = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})
_SQL_OP = {"==": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


# --- errors ------------------------------------------------------------------------------------------------------


class FilterError(ValueError):
    """A filter that cannot be used: `message` for the user, `start`/`end` the character span to underline (end
    exclusive; an empty span at the end of the text means "something is missing here")."""

    def __init__(self, message: str, start: int, end: int) -> None:
        super().__init__(message)
        self.message = message
        self.start = start
        self.end = max(start, end)

    def __repr__(self) -> str:
        return f"FilterError({self.message!r}, {self.start}, {self.end})"


def _did_you_mean(word: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(word.lower(), list(candidates), n=1, cutoff=0.6)
    return f" — did you mean '{close[0]}'?" if close else ""


def _show(text: str) -> str:
    """A token as quoted in a message (shortened)."""
    return text if len(text) <= 40 else text[:37] + "..."


# --- tokens ------------------------------------------------------------------------------------------------------

TokenKind = Literal["string", "number", "word", "punct", "eof"]


@dataclass(frozen=True)
class _Token:
    kind: TokenKind
    text: str
    """As written (for punctuation: the operator)."""
    start: int
    end: int
    value: Any = None
    """Strings: the decoded text; numbers: int or float."""
    unit: str | None = None
    verbatim: bool = False
    """Strings: the decoded text is exactly what is between the quotes (so regex error offsets map back)."""

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text.lower() in words

    def is_punct(self, *ops: str) -> bool:
        return self.kind == "punct" and self.text in ops

    def describe(self) -> str:
        return "the end of the filter" if self.kind == "eof" else f"'{_show(self.text)}'"


_WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-\[\]]*")
_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(ms|s|m|h|d|w)?")
_RUN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:+-")
_PUNCT = ("==", "!=", "<=", ">=", "&&", "||", "..", "<", ">", "!", "(", ")", "{", "}", ",", "~")
_BAD_OPS = {
    "===": "==",
    "!==": "!=",
    "=>": ">=",
    "=<": "<=",
    "<>": "!=",
    "=~": "matches",
    "!~": "not matches",
    "=": "==",
    "&": "&&",
    "|": "||",
}
_SIMPLE_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r", "0": "\0"}
_SMART_QUOTES = frozenset("\u201c\u201d\u201e\u201f\u2018\u2019\u201a\u201b\u00ab\u00bb")  # typographic quotes
_MAX_INT = 2**63 - 1


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)

    def tokens(self, tolerant: bool = False) -> list[_Token]:
        """All tokens, ending with `eof`. Tolerant (for completion): skip characters that make no token, but still
        raise for an unterminated string."""
        out: list[_Token] = []
        i = 0
        while True:
            while i < self.n and self.text[i].isspace():
                i += 1
            if i >= self.n:
                out.append(_Token("eof", "", self.n, self.n))
                return out
            try:
                token = self._token(i)
            except FilterError as exc:
                if not tolerant or exc.message.startswith("unterminated"):
                    raise
                i += 1
                continue
            out.append(token)
            i = token.end

    def _token(self, i: int) -> _Token:
        text, c = self.text, self.text[i]
        nxt = text[i + 1] if i + 1 < self.n else ""
        if c in "\"'":
            return self._string(i, raw=False)
        if c in "rR" and nxt in ("'", '"'):
            return self._string(i + 1, raw=True, start=i)
        if c.isascii() and (c.isalpha() or c == "_"):
            m = _WORD_RE.match(text, i)
            assert m is not None
            return _Token("word", m.group(), i, m.end())
        if (c.isascii() and c.isdigit()) or (c == "-" and nxt.isascii() and nxt.isdigit()):
            return self._number(i)
        if text.startswith(("===", "!==", "<>", "!~"), i):
            bad = text[i : i + (3 if text[i + 1] == "=" else 2)]
            raise FilterError(f"unknown operator '{bad}' — did you mean '{_BAD_OPS[bad]}'?", i, i + len(bad))
        for op in _PUNCT:
            if text.startswith(op, i):
                return _Token("punct", op, i, i + len(op))
        for bad, good in _BAD_OPS.items():
            if text.startswith(bad, i):
                raise FilterError(f"unknown operator '{bad}' — did you mean '{good}'?", i, i + len(bad))
        if c in _SMART_QUOTES:
            raise FilterError(f"use straight quotes (\" or ') instead of {c}", i, i + 1)
        if unicodedata.category(c)[0] == "C":
            raise FilterError(f"unexpected control character U+{ord(c):04X}", i, i + 1)
        raise FilterError(f"unexpected character '{c}'", i, i + 1)

    def _number(self, i: int) -> _Token:
        m = _NUMBER_RE.match(self.text, i)
        assert m is not None
        end = m.end()
        if end < self.n and self.text[end] in _RUN_CHARS and not self.text.startswith("..", end):
            # Not a number after all: an unquoted value such as 2024-03-01T12:00 or an id like 6f1c2d3e-...
            while end < self.n and self.text[end] in _RUN_CHARS:
                end += 1
            return _Token("word", self.text[i:end], i, end)
        raw = m.group()
        unit = m.group(1)
        digits = raw[: len(raw) - len(unit)] if unit else raw
        value: int | float
        if re.fullmatch(r"-?\d+", digits):
            value = int(digits)
            if abs(value) > _MAX_INT:
                raise FilterError(f"number {_show(digits)} is too large", i, end)
        else:
            value = float(digits)
            if not math.isfinite(value):
                raise FilterError(f"number {_show(digits)} is too large", i, end)
        return _Token("number", raw, i, end, value=value, unit=unit)

    def _string(self, q: int, raw: bool, start: int | None = None) -> _Token:
        text, quote = self.text, self.text[q]
        start = q if start is None else start
        parts: list[str] = []
        verbatim = True
        j = q + 1
        while True:
            if j >= self.n:
                raise FilterError(f"unterminated string — add the closing {quote}", start, self.n)
            c = text[j]
            if c == quote:
                return _Token("string", text[start : j + 1], start, j + 1, value="".join(parts), verbatim=verbatim)
            if unicodedata.category(c) == "Cs":
                raise FilterError(f"invalid character U+{ord(c):04X} in string", j, j + 1)
            if c != "\\":
                parts.append(c)
                j += 1
                continue
            if j + 1 >= self.n:
                raise FilterError(f"unterminated string — add the closing {quote}", start, self.n)
            e = text[j + 1]
            if raw:  # r"...": the backslash stays, and protects the next character (even a quote)
                parts.append(c + e)
                j += 2
                continue
            if e in _SIMPLE_ESCAPES:
                parts.append(_SIMPLE_ESCAPES[e])
                verbatim = False
                j += 2
            elif e in "xuU":
                char, j = self._code_point(j)
                parts.append(char)
                verbatim = False
            else:  # unknown escapes stay as written: "^\d+" is the regex ^\d+
                parts.append(c + e)
                j += 2

    def _code_point(self, j: int) -> tuple[str, int]:
        """`\\xHH`, `\\uHHHH` (a surrogate pair of two is combined) or `\\UHHHHHHHH` at j; the character and the
        offset after it."""
        letter = self.text[j + 1]
        width = {"x": 2, "u": 4, "U": 8}[letter]
        digits = self.text[j + 2 : j + 2 + width]
        end = j + 2 + width
        if len(digits) != width or not all(ch in "0123456789abcdefABCDEF" for ch in digits):
            raise FilterError(f"\\{letter} needs {width} hex digits", j, min(end, self.n))
        code = int(digits, 16)
        if 0xD800 <= code <= 0xDBFF and letter == "u" and self.text[end : end + 2] == "\\u":
            low_digits = self.text[end + 2 : end + 6]
            if len(low_digits) == 4 and all(ch in "0123456789abcdefABCDEF" for ch in low_digits):
                low = int(low_digits, 16)
                if 0xDC00 <= low <= 0xDFFF:
                    return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)), end + 6
        if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
            raise FilterError(f"\\{letter}{digits} is not a character", j, end)
        return chr(code), end


# --- syntax tree -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRef:
    """A field as written: `name` is the canonical field (`trigger`, `data.new`, `session`, ...), `path` the JSON
    path below `data.new`/`data.old` (keys and indexes) or, for `session`, the variable (`x-hasura-user-id`)."""

    name: str
    path: tuple[str | int, ...]
    text: str
    start: int
    end: int

    @property
    def json_path(self) -> str | None:
        """The SQLite JSON path (a parameter, never part of the SQL text), for payload fields."""
        root = _JSON_ROOTS.get(self.name)
        if root is None:
            return None
        out = root
        for part in self.path:
            out += f"[{part}]" if isinstance(part, int) else f'."{part}"'
        return out


@dataclass(frozen=True)
class Value:
    """A literal: kind `string` (quoted), `word` (unquoted), `number` (int or float, maybe with a unit), `bool`,
    `null`."""

    kind: Literal["string", "word", "number", "bool", "null"]
    value: str | int | float | bool | None
    text: str
    start: int
    end: int
    unit: str | None = None
    verbatim: bool = True


@dataclass(frozen=True)
class Range:
    """`low..high` in a set."""

    low: Value
    high: Value
    start: int
    end: int


@dataclass(frozen=True)
class All:
    """The empty filter: every event."""

    start: int = 0
    end: int = 0


@dataclass(frozen=True)
class Present:
    """A field on its own: true for booleans, present (not null) for the rest."""

    field: FieldRef
    start: int
    end: int


@dataclass(frozen=True)
class Comparison:
    """`field op value`; op is one of `== != < <= > >= contains matches`."""

    field: FieldRef
    op: str
    value: Value
    start: int
    end: int
    op_start: int = 0
    op_end: int = 0


@dataclass(frozen=True)
class In:
    field: FieldRef
    items: tuple[Value | Range, ...]
    start: int
    end: int


@dataclass(frozen=True)
class Text:
    """Free text searched in the payload."""

    value: Value
    start: int
    end: int


@dataclass(frozen=True)
class Not:
    operand: Expr
    start: int
    end: int


@dataclass(frozen=True)
class And:
    operands: tuple[Expr, ...]
    start: int
    end: int


@dataclass(frozen=True)
class Or:
    operands: tuple[Expr, ...]
    start: int
    end: int


Expr = All | Present | Comparison | In | Text | Not | And | Or


# --- parser ------------------------------------------------------------------------------------------------------

_PATH_SEGMENT = re.compile(r"([A-Za-z0-9_]+)((?:\[\d{1,9}\])*)")
_SESSION_VAR = re.compile(r"[A-Za-z0-9_\-]+")


def _resolve_field(token: _Token) -> FieldRef:
    """The field a word names, or a FilterError that says what was wrong with it."""
    name, start, end = token.text, token.start, token.end
    if name in _SPECS and name not in _JSON_ROOTS and name != "session":
        return FieldRef(name, (), name, start, end)
    for root in ("data.new", "data.old"):
        if name == root:
            return FieldRef(root, (), name, start, end)
        if name.startswith(root + "."):
            return FieldRef(root, _json_path(name, len(root) + 1, start), name, start, end)
    if name == "session":
        return FieldRef("session", (), name, start, end)
    if name.startswith("session."):
        var = name[len("session.") :]
        if not var:
            raise FilterError("expected a variable after 'session.' (session.user-id, session.role)", start, end)
        if not _SESSION_VAR.fullmatch(var):
            raise FilterError(
                f"'{_show(var)}' is not a session variable name (letters, digits, - and _)", start + 8, end
            )
        key = var.lower()
        if not key.startswith("x-hasura-"):
            key = "x-hasura-" + key
        return FieldRef("session", (key,), name, start, end)
    head, _, rest = name.partition(".")
    if head == "data" and rest:
        second, _, tail = rest.partition(".")
        close = difflib.get_close_matches(second, ["new", "old"], n=1, cutoff=0.3)
        guess = f"data.{close[0]}" + (f".{tail}" if tail else "") if close else f"data.new.{rest}"
        raise FilterError(f"unknown field '{_show(name)}' — did you mean '{guess}'?", start, end)
    if head == "invocation" and rest:
        raise FilterError(
            f"unknown field '{_show(name)}'{_did_you_mean(name, ['invocation.http_status', 'invocation.response'])}"
            " (invocation fields: invocation.http_status, invocation.response)",
            start,
            end,
        )
    candidates = [*_SIMPLE_FIELDS, "data.new", "data.old", "session"]
    hint = _did_you_mean(name, candidates)
    if not hint and re.fullmatch(r"[A-Za-z0-9_]+", name):
        hint = f'; a column of the row is data.new.{name}; to search for text, quote it: "{name}"'
    elif not hint:
        hint = f" (fields: {', '.join(_SIMPLE_FIELDS)}, data.new.<path>, data.old.<path>, session.<var>)"
    raise FilterError(f"unknown field '{_show(name)}'{hint}", start, end)


def _json_path(name: str, offset: int, start: int) -> tuple[str | int, ...]:
    rest = name[offset:]
    if not rest:
        raise FilterError(f"expected a column name after '{name}'", start, start + len(name))
    out: list[str | int] = []
    pos = offset
    for segment in rest.split("."):
        m = _PATH_SEGMENT.fullmatch(segment)
        if m is None:
            what = "an empty column name" if not segment else f"'{_show(segment)}' is not a column name"
            raise FilterError(
                f"{what}: paths are letters, digits and _, with [n] for array items (data.new.items[0])",
                start + pos,
                start + pos + max(len(segment), 1),
            )
        out.append(m.group(1))
        out.extend(int(index) for index in re.findall(r"\[(\d+)\]", m.group(2)))
        pos += len(segment) + 1
    return tuple(out)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _Lexer(text).tokens()
        self.i = 0
        self.depth = 0

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> _Token:
        token = self.tokens[self.i]
        if token.kind != "eof":
            self.i += 1
        return token

    def previous(self) -> _Token | None:
        return self.tokens[self.i - 1] if self.i > 0 else None

    def parse(self) -> Expr:
        if self.peek().kind == "eof":
            return All(0, len(self.text))
        expr = self.parse_or()
        token = self.peek()
        if token.kind != "eof":
            if token.is_punct(")"):
                raise FilterError("unbalanced ')' — there is no '(' for it to close", token.start, token.end)
            raise self.expected_connective(token)
        return expr

    def expected_connective(self, token: _Token) -> FilterError:
        if token.kind == "word":
            hint = _did_you_mean(token.text, ["and", "or", "not", "contains", "matches", "in"])
            if hint:
                return FilterError(f"unknown operator '{_show(token.text)}'{hint}", token.start, token.end)
        closing = " or ')'" if self.depth else ""
        return FilterError(
            f"expected 'and', 'or'{closing} or the end of the filter, found {token.describe()}", token.start, token.end
        )

    def parse_or(self) -> Expr:
        """`or` of `and`s of operands, in one function so that each level of parentheses costs two Python frames
        (this one and `parse_operand`, which parses parentheses), not four: `MAX_DEPTH` levels stay far from the
        recursion limit."""
        alternatives: list[Expr] = []
        while True:
            factors = [self.parse_operand()]
            while self.peek().is_word("and") or self.peek().is_punct("&&"):
                self.advance()
                factors.append(self.parse_operand())
            alternatives.append(
                factors[0] if len(factors) == 1 else And(tuple(factors), factors[0].start, factors[-1].end)
            )
            if not (self.peek().is_word("or") or self.peek().is_punct("||")):
                break
            self.advance()
        if len(alternatives) == 1:
            return alternatives[0]
        return Or(tuple(alternatives), alternatives[0].start, alternatives[-1].end)

    def enter(self, token: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FilterError(
                f"nested too deeply (more than {MAX_DEPTH} levels of '(' and 'not')", token.start, token.end
            )

    def parse_operand(self) -> Expr:
        """`{not} ("(" or ")" | primary)`."""
        nots: list[_Token] = []
        while self.peek().is_word("not") or self.peek().is_punct("!"):
            nots.append(self.advance())
            self.enter(nots[-1])
        if self.peek().is_punct("("):
            opening = self.advance()
            self.enter(opening)
            if self.peek().is_punct(")"):
                raise FilterError("empty parentheses: put a test inside", opening.start, self.peek().end)
            expr = self.parse_or()
            closing = self.peek()
            if closing.kind == "eof":
                raise FilterError("unclosed '(' — add ')'", opening.start, opening.end)
            if not closing.is_punct(")"):
                raise self.expected_connective(closing)
            self.advance()
            self.depth -= 1
            expr = replace(expr, start=opening.start, end=closing.end)  # the span includes the parentheses
        else:
            expr = self.parse_primary()
        for token in reversed(nots):
            expr = Not(expr, token.start, expr.end)
        self.depth -= len(nots)
        return expr

    def missing(self, what: str) -> FilterError:
        """Nothing (or the wrong thing) where `what` was expected: point at the token that should have been followed
        by it when the text just ends, else at the token found."""
        token, before = self.peek(), self.previous()
        after = f" after '{_show(before.text)}'" if before is not None else ""
        if token.kind == "eof":
            if before is not None:
                return FilterError(f"expected {what}{after}", before.start, before.end)
            return FilterError(f"expected {what}", token.start, token.end)
        return FilterError(f"expected {what}{after}, found {token.describe()}", token.start, token.end)

    def parse_primary(self) -> Expr:
        """A test or free text (never recursive: parentheses are `parse_operand`'s)."""
        token = self.peek()
        if token.kind == "string":
            self.advance()
            follower = self.peek()
            if (follower.kind == "punct" and follower.text in _COMPARISONS | {"~"}) or follower.is_word(
                "contains", "matches", "in"
            ):
                raise FilterError(
                    f"a test starts with the field: trigger {follower.text} {token.text}, not {token.text} "
                    f"{follower.text} trigger",
                    token.start,
                    follower.end,
                )
            return Text(_value(token), token.start, token.end)
        if token.kind == "word":
            lower = token.text.lower()
            if lower in _KEYWORDS:
                if lower in ("true", "false", "null"):
                    raise FilterError(
                        f"expected a field, found '{token.text}' (a test looks like tries > 1)", token.start, token.end
                    )
                if self.previous() is None:
                    raise FilterError(f"expected a test before '{token.text}'", token.start, token.end)
                raise self.missing("a test")
            field_ref = _resolve_field(token)
            self.advance()
            return self.parse_test(field_ref)
        if token.is_punct(")") and self.depth == 0 and self.previous() is None:
            raise FilterError("unbalanced ')' — there is no '(' for it to close", token.start, token.end)
        if token.kind == "number":
            raise FilterError(
                f"expected a field, found the number {_show(token.text)} (a test looks like tries > 1)",
                token.start,
                token.end,
            )
        raise self.missing("a test")

    def parse_test(self, field_ref: FieldRef) -> Expr:
        token = self.peek()
        if (token.kind == "punct" and token.text in _COMPARISONS) or (
            token.kind == "word" and token.text.lower() in _WORD_OPS
        ):
            self.advance()
            op = token.text if token.kind == "punct" else _WORD_OPS[token.text.lower()]
            value = self.parse_value()
            return Comparison(field_ref, op, value, field_ref.start, value.end, token.start, token.end)
        negated = None
        if token.is_word("not") and (self.peek(1).is_word("contains", "matches", "in") or self.peek(1).is_punct("~")):
            negated = self.advance()
            token = self.peek()
        if token.is_word("contains", "matches") or token.is_punct("~"):
            self.advance()
            op = "matches" if token.text == "~" else token.text.lower()
            value = self.parse_value()
            test: Expr = Comparison(field_ref, op, value, field_ref.start, value.end, token.start, token.end)
        elif token.is_word("in"):
            self.advance()
            test = self.parse_set(field_ref)
        else:
            if token.kind in ("string", "number"):
                raise FilterError(
                    f"expected an operator (==, !=, <, >, contains, matches, in) between '{field_ref.text}' and "
                    f"{token.describe()}",
                    token.start,
                    token.end,
                )
            if token.kind == "word" and token.text.lower() not in _KEYWORDS:
                hint = _did_you_mean(token.text, ["contains", "matches", "in", "and", "or", *_WORD_OPS])
                if hint:
                    raise FilterError(f"unknown operator '{_show(token.text)}'{hint}", token.start, token.end)
            return Present(field_ref, field_ref.start, field_ref.end)
        if negated is not None:
            return Not(test, field_ref.start, test.end)
        return test

    def parse_value(self) -> Value:
        token = self.peek()
        if token.kind in ("string", "number") or (
            token.kind == "word" and token.text.lower() not in _KEYWORDS - {"true", "false", "null"}
        ):
            self.advance()
            return _value(token)
        raise self.missing("a value")

    def parse_set(self, field_ref: FieldRef) -> In:
        opening = self.peek()
        if not opening.is_punct("{"):
            raise self.missing("a set such as {a b c}")
        self.advance()
        items: list[Value | Range] = []
        while True:
            token = self.peek()
            if token.is_punct("}"):
                if not items:
                    raise FilterError("empty set: put at least one value between { and }", opening.start, token.end)
                self.advance()
                return In(field_ref, tuple(items), field_ref.start, token.end)
            if token.kind == "eof":
                raise FilterError("unclosed '{' — add '}'", opening.start, opening.end)
            if token.is_punct(","):
                previous = self.previous()
                if not items or (previous is not None and previous.is_punct(",")):
                    raise FilterError("expected a value before ','", token.start, token.end)
                self.advance()
                continue
            low = self.parse_value()
            item: Value | Range = low
            if self.peek().is_punct(".."):
                self.advance()
                high = self.parse_value()
                item = Range(low, high, low.start, high.end)
            items.append(item)
            if len(items) > MAX_SET:
                raise FilterError(f"too many values in one set (at most {MAX_SET})", item.start, item.end)


def _value(token: _Token) -> Value:
    if token.kind == "string":
        return Value("string", token.value, token.text, token.start, token.end, verbatim=token.verbatim)
    if token.kind == "number":
        return Value("number", token.value, token.text, token.start, token.end, unit=token.unit)
    lower = token.text.lower()
    if lower in ("true", "false"):
        return Value("bool", lower == "true", token.text, token.start, token.end)
    if lower == "null":
        return Value("null", None, token.text, token.start, token.end)
    return Value("word", token.text, token.text, token.start, token.end)


def parse(text: str) -> Expr:
    """The syntax tree of a filter; `All` for empty text. Raises `FilterError` with the span to underline."""
    if len(text) > MAX_LENGTH:
        raise FilterError(f"filter too long ({len(text)} characters; at most {MAX_LENGTH})", MAX_LENGTH, len(text))
    return _Parser(text).parse()


# --- compiler ----------------------------------------------------------------------------------------------------

_Sql = tuple[str, list[Any]]


@dataclass(frozen=True)
class CompiledFilter:
    """An SQL predicate over `events e` and its parameters: `SELECT ... FROM events e WHERE {where}`. `where` holds
    only `?` placeholders for values; it is always safe to combine (`WHERE {where} AND ...`)."""

    where: str
    params: list[Any] = field(default_factory=list)
    needs_regexp: bool = False
    """The query calls `regexp`: run `register_functions(conn)` on the connection first."""
    expr: Expr = field(default_factory=All)


def compile_filter(source: str | Expr, *, now: float | None = None) -> CompiledFilter:
    """Compile filter text (or a parsed `Expr`) to SQL. `now` (epoch seconds) anchors relative times such as `-15m`;
    the current time by default. Raises `FilterError` for text that does not parse or does not type-check."""
    expr = parse(source) if isinstance(source, str) else source
    compiler = _Compiler(time.time() if now is None else now)
    where, params = compiler.expr(expr)
    return CompiledFilter(where, params, compiler.needs_regexp, expr)


def check(text: str) -> FilterError | None:
    """None when the filter is usable, else the error to show (for the filter bar's green/red)."""
    try:
        compile_filter(text)
    except FilterError as exc:
        return exc
    return None


def _chain(parts: list[_Sql], op: Literal["AND", "OR"]) -> _Sql:
    """Operands (each parenthesised) joined by `op`. Up to `_CHAIN` of them: a plain chain, which SQLite's optimiser
    understands (indexes, the OR optimisation). More: a CASE, whose WHENs are a list to SQLite, where a chain of n is
    a tree n deep (SQLite refuses expressions deeper than 1000, and its parser stack is short: no balanced trees)."""
    if len(parts) == 1:
        return parts[0]
    params = [p for _, group in parts for p in group]
    if len(parts) <= _CHAIN:
        return "(" + f" {op} ".join(sql for sql, _ in parts) + ")", params
    if op == "OR":
        return "(CASE" + "".join(f" WHEN {sql} THEN 1" for sql, _ in parts) + " ELSE 0 END)", params
    return "(CASE" + "".join(f" WHEN {sql} IS NOT 1 THEN 0" for sql, _ in parts) + " ELSE 1 END)", params


def _group_op(expr: And | Or, negated: bool) -> Literal["AND", "OR"]:
    """What a group becomes once the `not`s above it are pushed down (De Morgan)."""
    return "AND" if isinstance(expr, And) != negated else "OR"


def _json_typed(path_params: list[Any], sample: Any, predicate: _Sql) -> _Sql:
    """`predicate` on a JSON value, only where the value's JSON type matches `sample`'s (a number or a string): JSON
    true is 1 to SQLite and an object is text, and neither should compare with the user's numbers or strings."""
    types = "('text')" if isinstance(sample, str) else "('integer', 'real')"
    return f"(json_type(e.payload, ?) IN {types} AND {predicate[0]})", [*path_params, *predicate[1]]


def _describe_kind(spec: _Spec) -> str:
    return {
        "text": "text",
        "enum": "a name",
        "int": "a number",
        "bool": "true or false",
        "time": "a time",
        "duration": "a duration",
        "json": "a JSON value",
    }[spec.kind]


_ISO_PRECISION = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ](\d{2})(?::(\d{2})(?::(\d{2})(\.\d+)?)?)?)?")
_AGO = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)\s+ago")
_MINUS = re.compile(r"-\s*(\d+(?:\.\d+)?)\s*([a-z]+)")


class _Compiler:
    def __init__(self, now: float) -> None:
        self.now = now
        self.needs_regexp = False

    def expr(self, expr: Expr) -> _Sql:
        if isinstance(expr, All):
            return "1", []
        sql, params, _ = self.node(expr, False)
        return sql, params

    def node(self, expr: Expr, negated: bool) -> tuple[str, list[Any], int]:
        """SQL for `expr` (negated if asked), with the `not`s pushed down to the tests (De Morgan) and nested groups
        of the same operator merged, so that `not` and parentheses cost SQLite's short parser stack nothing. A negated
        test is `(test) IS NOT 1`: true when the test is false or NULL, so `not` is a complement (SQL's `NOT NULL` is
        NULL, which would drop the event from both `x` and `not x`). Also returns how many groups are nested."""
        while isinstance(expr, Not):
            expr, negated = expr.operand, not negated
        if isinstance(expr, Comparison) and expr.op == "!=":  # not (a == b): missing fields match, as in Wireshark
            expr, negated = replace(expr, op="=="), not negated
        if isinstance(expr, And | Or):
            op = _group_op(expr, negated)
            parts: list[_Sql] = []
            nested = 0
            for operand, operand_negated in self.flatten(expr, negated, op):
                sql, params, groups = self.node(operand, operand_negated)
                parts.append((sql, params))
                nested = max(nested, groups)
            if nested + 1 > MAX_GROUPS:
                raise FilterError(
                    f"too many nested groups of 'and' and 'or' (at most {MAX_GROUPS}): SQLite can't run it",
                    expr.start,
                    expr.end,
                )
            sql, params = _chain(parts, op)
            return sql, params, nested + 1
        sql, params = self.leaf(expr)
        return (f"({sql} IS NOT 1)" if negated else sql), params, 0

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

    def leaf(self, expr: Expr) -> _Sql:
        if isinstance(expr, All):
            return "1", []
        if isinstance(expr, Text):
            return self.text(expr)
        if isinstance(expr, Present):
            return self.scoped(expr.field, self.present(expr.field))
        if isinstance(expr, In):
            return self.scoped(expr.field, self.in_set(expr))
        assert isinstance(expr, Comparison)
        return self.scoped(expr.field, self.test(expr))

    # --- pieces ---

    @staticmethod
    def lhs(field_ref: FieldRef) -> _Sql:
        spec = _SPECS[field_ref.name]
        path = field_ref.json_path
        return spec.sql, ([] if path is None else [path])

    @staticmethod
    def scoped(field_ref: FieldRef, predicate: _Sql) -> _Sql:
        """Invocation fields: true when any attempt of the event satisfies the predicate."""
        if not _SPECS[field_ref.name].invocation:
            return predicate
        return f"(EXISTS (SELECT 1 FROM invocations i WHERE i.event_id = e.id AND {predicate[0]}))", predicate[1]

    def present(self, field_ref: FieldRef) -> _Sql:
        sql, params = self.lhs(field_ref)
        if _SPECS[field_ref.name].kind == "bool":
            return f"({sql} = 1)", params
        return f"({sql} IS NOT NULL)", params

    def text(self, expr: Text) -> _Sql:
        text = str(expr.value.value)
        prefix = text.endswith("*")
        words = text[:-1] if prefix else text
        if not any(ch.isalnum() for ch in words):  # the index holds words: punctuation and emoji are separators
            raise FilterError("nothing to search for: free text finds words (letters or digits)", expr.start, expr.end)
        # An FTS5 phrase: the text's words in order, operators and quotes in it are just characters; NUL ends a
        # string for FTS5's query parser, and is a separator to its tokenizer anyway.
        phrase = '"' + words.replace('"', '""').replace("\0", " ") + '"' + ("*" if prefix else "")
        return "(e.seq IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ?))", [phrase]

    def test(self, test: Comparison) -> _Sql:
        spec = _SPECS[test.field.name]
        value, op = test.value, test.op
        lhs, lhs_params = self.lhs(test.field)
        name = test.field.text
        if op in ("contains", "matches"):
            if spec.kind not in ("text", "enum", "json"):
                raise FilterError(f"'{op}' works on text; {name} is {_describe_kind(spec)}", test.op_start, test.op_end)
            if value.kind not in ("string", "word", "number"):
                raise FilterError(f"'{op}' needs text, such as \"abc\"", value.start, value.end)
            needle = value.text if value.kind == "number" else str(value.value)
            if op == "contains":
                return f"(instr({lhs}, ?) > 0)", [*lhs_params, needle]
            self.validate_regex(needle, value)
            self.needs_regexp = True
            return f"({lhs} REGEXP ?)", [*lhs_params, needle]
        if value.kind == "null":
            if op != "==":
                raise FilterError("null only compares with == or !=", test.op_start, test.op_end)
            return f"({lhs} IS NULL)", lhs_params
        if spec.kind == "time":
            return self.time_test(lhs, op, value, name)
        if spec.kind == "json":
            return self.json_test(lhs, lhs_params, op, value)
        if spec.kind == "bool":
            if op != "==":
                raise FilterError(f"{name} is true or false: use == or !=", test.op_start, test.op_end)
            if value.kind != "bool":
                raise FilterError(f"{name} is true or false, not {_show(value.text)}", value.start, value.end)
            return f"({lhs} = ?)", [*lhs_params, int(bool(value.value))]
        if spec.kind == "enum" and op not in ("==", "!="):
            raise FilterError(f"{name} has no order: use ==, != or in {{...}}", test.op_start, test.op_end)
        return f"({lhs} {_SQL_OP[op]} ?)", [*lhs_params, self.scalar(spec, name, value)]

    def scalar(self, spec: _Spec, name: str, value: Value) -> Any:
        """A value for a text, enum, number or duration field, checked and converted."""
        if spec.kind in ("int", "duration"):
            if value.kind != "number":
                example = "250ms, 2s" if spec.kind == "duration" else "500"
                raise FilterError(f"{name} is a number ({example}), not {_show(value.text)}", value.start, value.end)
            number = value.value
            assert isinstance(number, int | float) and not isinstance(number, bool)
            if spec.kind == "duration":
                return number * _UNIT_SECONDS[value.unit] * 1000.0 if value.unit else number
            if value.unit:
                raise FilterError(f"{name} takes a plain number, without '{value.unit}'", value.start, value.end)
            return number
        if value.kind == "bool":
            raise FilterError(f'{name} is text; quote it to mean the word: "{value.text}"', value.start, value.end)
        text = value.text if value.kind == "number" else str(value.value)
        if spec.kind == "enum":
            canonical = {choice.lower(): choice for choice in spec.choices}
            if text.lower() not in canonical:
                raise FilterError(
                    f"unknown {name} '{_show(text)}'{_did_you_mean(text, canonical)} ({', '.join(spec.choices)})",
                    value.start,
                    value.end,
                )
            return canonical[text.lower()]
        return text

    def json_test(self, lhs: str, lhs_params: list[Any], op: str, value: Value) -> _Sql:
        """Typed comparison with a JSON value: numbers with numbers, strings with strings, booleans by JSON type."""
        if value.kind == "bool":
            if op != "==":
                raise FilterError("true and false only compare with == or !=", value.start, value.end)
            return "(json_type(e.payload, ?) = ?)", [*lhs_params, "true" if value.value else "false"]
        if value.kind == "number":
            if value.unit:
                raise FilterError(f"'{value.unit}' units only apply to latency and created_at", value.start, value.end)
            param: Any = value.value
        else:
            param = str(value.value)
        return _json_typed(lhs_params, param, (f"({lhs} {_SQL_OP[op]} ?)", [*lhs_params, param]))

    def time_test(self, lhs: str, op: str, value: Value, name: str) -> _Sql:
        start, end = self.time_value(value, name)
        if end is None:
            return f"({lhs} {_SQL_OP[op]} ?)", [start]
        if op == "==":
            return f"({lhs} >= ? AND {lhs} < ?)", [start, end]
        bound = {"<": ("<", start), "<=": ("<", end), ">": (">=", end), ">=": (">=", start)}[op]
        return f"({lhs} {bound[0]} ?)", [bound[1]]

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
            return self.now + number * _UNIT_SECONDS[value.unit], None
        if value.kind not in ("string", "word"):
            raise FilterError(f"{name} is a time, not {_show(value.text)}", value.start, value.end)
        text = str(value.value).strip()
        lower = text.lower()
        if lower == "now":
            return self.now, None
        relative = _AGO.fullmatch(lower) or _MINUS.fullmatch(lower)
        if relative and relative.group(2) in _LONG_UNITS:
            return self.now - float(relative.group(1)) * _UNIT_SECONDS[_LONG_UNITS[relative.group(2)]], None
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise FilterError(
                f'can\'t read {_show(value.text)} as a time: use ISO 8601 ("2024-03-01T12:00") or a time ago (-15m, '
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

    def in_set(self, expr: In) -> _Sql:
        spec = _SPECS[expr.field.name]
        name = expr.field.text
        if spec.kind in ("bool", "time"):
            raise FilterError(f"{name} can't be used with 'in'; use comparisons", expr.field.start, expr.field.end)
        lhs, lhs_params = self.lhs(expr.field)
        singles: list[Any] = []
        ranges: list[tuple[Any, Any]] = []
        for item in expr.items:
            if isinstance(item, Range):
                if spec.kind not in ("int", "duration", "json"):
                    raise FilterError(f"ranges need numbers; {name} is {_describe_kind(spec)}", item.start, item.end)
                for bound in (item.low, item.high):
                    if bound.kind != "number":
                        raise FilterError(f"a range needs numbers, not {_show(bound.text)}", bound.start, bound.end)
                ranges.append((self.set_value(spec, name, item.low), self.set_value(spec, name, item.high)))
            else:
                singles.append(self.set_value(spec, name, item))
        parts: list[_Sql] = []
        if spec.kind == "json":  # typed: numbers match numbers, strings strings (SQL's IN would mix true and 1)
            for group in (
                [v for v in singles if not isinstance(v, str)],
                [v for v in singles if isinstance(v, str)],
            ):
                if group:
                    marks = ", ".join("?" * len(group))
                    parts.append(_json_typed(lhs_params, group[0], (f"({lhs} IN ({marks}))", [*lhs_params, *group])))
        elif singles:
            parts.append((f"({lhs} IN ({', '.join('?' * len(singles))}))", [*lhs_params, *singles]))
        for low, high in ranges:
            between: _Sql = (f"({lhs} BETWEEN ? AND ?)", [*lhs_params, low, high])
            parts.append(_json_typed(lhs_params, low, between) if spec.kind == "json" else between)
        return _chain(parts, "OR")

    def set_value(self, spec: _Spec, name: str, value: Value) -> Any:
        if value.kind == "null":
            raise FilterError(f"null can't be in a set; write {name} == null", value.start, value.end)
        if spec.kind == "json":
            if value.kind == "bool":
                raise FilterError(
                    f"true and false can't be in a set; write {name} == {value.text}", value.start, value.end
                )
            if value.kind == "number":
                if value.unit:
                    raise FilterError(
                        f"'{value.unit}' units only apply to latency and created_at", value.start, value.end
                    )
                return value.value
            return str(value.value)
        return self.scalar(spec, name, value)

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


# --- SQLite functions ----------------------------------------------------------------------------------------------


@lru_cache(maxsize=128)
def _pattern(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except (re.error, OverflowError, RecursionError):
        return None


def _regexp(pattern: Any, value: Any) -> int | None:
    """SQLite's `value REGEXP pattern`: 1 when the pattern is found in the value, 0 when not or when the pattern is
    not a valid regex (an exception would abort the whole query), NULL for NULL."""
    if pattern is None or value is None:
        return None
    compiled = _pattern(str(pattern))
    if compiled is None:
        return 0
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return 1 if compiled.search(str(value)) else 0


def register_functions(conn: sqlite3.Connection) -> None:
    """Add what compiled filters call to a connection: `regexp` (for `matches`), with a cache of compiled patterns."""
    conn.create_function("regexp", 2, _regexp, deterministic=True)


# --- completion --------------------------------------------------------------------------------------------------

_COMPLETION_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-[]")
_BAREWORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_FIELD_PREFIXES = ("data.new.", "data.old.", "session.")
_OPERATORS = ("==", "!=", "<", "<=", ">", ">=", "contains", "matches", "in", "and", "or")


def completion_start(text: str, cursor: int) -> int:
    """Where the word being completed starts: `complete` offers replacements for `text[start:cursor]`."""
    cursor = max(0, min(cursor, len(text)))
    start = cursor
    while start > 0 and text[start - 1] in _COMPLETION_CHARS:
        start -= 1
    return start


def _quoted(value: str) -> str:
    if _BAREWORD.fullmatch(value) and value.lower() not in _KEYWORDS:
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def complete(text: str, cursor: int | None = None, known: Mapping[str, Iterable[str]] | None = None) -> list[str]:
    """Completions for the word at `cursor` (default: the end), replacing `text[completion_start(text, cursor):
    cursor]`: field names (and `data.new.`-style prefixes) where a test starts, operators after a field, `and`/`or`
    after a test, values after an operator (statuses, ops, true/false).

    `known` adds what only the capture knows: values by field (`{"trigger": ["validate-order"]}`), columns
    (`{"data.new": ["restaurant_id"]}`, also `data.old`) and session variables (`{"session": ["user-id"]}`).
    """
    known = known or {}
    cursor = len(text) if cursor is None else max(0, min(cursor, len(text)))
    start = completion_start(text, cursor)
    prefix = text[start:cursor]
    try:
        tokens = _Lexer(text[:start]).tokens(tolerant=True)[:-1]
    except FilterError:
        return []  # inside a string
    context, field_ref = _context(tokens)
    candidates: list[str]
    if context == "field":
        candidates = [*_SIMPLE_FIELDS, *_FIELD_PREFIXES, "not"]
        for root in ("data.new", "data.old", "session"):
            if prefix.startswith(root + "."):
                names = known.get(root, ())
                candidates = [f"{root}.{_session_name(n) if root == 'session' else n}" for n in names]
    elif context == "operator":
        candidates = list(_OPERATORS)
    elif context == "value" and field_ref is not None:
        spec = _SPECS[field_ref.name]
        values = [_quoted(str(v)) for v in (*spec.choices, *known.get(field_ref.text, known.get(field_ref.name, ())))]
        candidates = ["true", "false"] if spec.kind == "bool" else values
    elif context == "connective":
        candidates = ["and", "or"]
    else:
        return []
    lowered = prefix.lower()
    return [c for c in dict.fromkeys(candidates) if c.lower().startswith(lowered)]


def _session_name(name: str) -> str:
    lower = name.lower()
    return lower[len("x-hasura-") :] if lower.startswith("x-hasura-") else lower


def _as_field(token: _Token) -> FieldRef | None:
    if token.kind != "word" or token.text.lower() in _KEYWORDS:
        return None
    try:
        return _resolve_field(token)
    except FilterError:
        return None


def _context(tokens: list[_Token]) -> tuple[str, FieldRef | None]:
    """What may come next after these tokens: `field`, `operator` (after a field), `value` (with its field) or
    `connective` (after a complete test)."""
    if not tokens:
        return "field", None
    last = tokens[-1]
    if last.is_punct("(", "!", "&&", "||") or last.is_word("and", "or", "not"):
        return "field", None
    depth = 0  # inside an open { ... }?
    for token in tokens:
        if token.is_punct("{"):
            depth += 1
        elif token.is_punct("}"):
            depth = max(0, depth - 1)
    is_operator = (last.kind == "punct" and last.text in _COMPARISONS | {"~"}) or last.is_word(
        "contains", "matches", *_WORD_OPS
    )
    if is_operator or depth:
        for index in range(len(tokens) - 1, -1, -1):
            found = _as_field(tokens[index])
            if found is not None and not (index and _is_value_position(tokens[index - 1])):
                return "value", found
        return "value", None
    if last.is_word("in"):
        return "none", None
    if not (len(tokens) > 1 and _is_value_position(tokens[-2])) and _as_field(last) is not None:
        return "operator", None
    return "connective", None


def _is_value_position(before: _Token) -> bool:
    """Whether a word after `before` is a value (not a field)."""
    return (before.kind == "punct" and before.text in _COMPARISONS | {"~", "{", ",", ".."}) or before.is_word(
        "contains", "matches", *_WORD_OPS
    )
