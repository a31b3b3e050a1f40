"""Completion for the display filter: what may come next at the cursor, for the filter bar's pop-up.

Owns the context rules (a field where a test starts, an operator after a field, a value after an operator, `and`/
`or` after a test) and the candidates for each. Uses the lexer tolerantly, so a mistake earlier in the text does not
stop completion. Used by `inspector.qt.event_list.filter_bar`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from inspector.core.filter.errors import FilterError
from inspector.core.filter.fields import FIELD_KINDS, SIMPLE_FIELDS
from inspector.core.filter.lexer import COMPARISONS, KEYWORDS, WORD_OPS, Lexer, Token
from inspector.core.filter.parser import resolve_field
from inspector.core.filter.syntax import FieldRef

__all__ = ["FIELD_ALIASES", "complete", "completion_start"]

_COMPLETION_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-[]")
_BAREWORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_FIELD_PREFIXES = ("data.new.", "data.old.", "session.")
_OPERATORS = ("==", "!=", "<", "<=", ">", ">=", "contains", "matches", "in", "and", "or")
FIELD_ALIASES: Mapping[str, str] = {
    "event_id": "id",
    "trigger_name": "trigger",
    "table_name": "table",
    "operation": "op",
    "status_code": "http_status",
    "response": "invocation.response",
    "created": "created_at",
    "key": "row_key",
    "trace": "trace_id",
    "session_role": "role",
    "retries": "tries",
}
"""Names people (and Hasura's event log columns) use for a field, completed to the field's own name: `event_id`
offers `id`, not a payload column."""


def completion_start(text: str, cursor: int) -> int:
    """Where the word being completed starts: `complete` offers replacements for `text[start:cursor]`."""
    cursor = max(0, min(cursor, len(text)))
    start = cursor
    while start > 0 and text[start - 1] in _COMPLETION_CHARS:
        start -= 1
    return start


def _quoted(value: str) -> str:
    if _BAREWORD.fullmatch(value) and value.lower() not in KEYWORDS:
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
        tokens = Lexer(text[:start]).tokens(tolerant=True)[:-1]
    except FilterError:
        return []  # inside a string
    context, field_ref = _context(tokens)
    candidates: list[str]
    if context == "field":
        candidates = [*SIMPLE_FIELDS, *_FIELD_PREFIXES, "not"]
        for root in ("data.new", "data.old", "session"):
            if prefix.startswith(root + "."):
                names = known.get(root, ())
                candidates = [f"{root}.{_session_name(n) if root == 'session' else n}" for n in names]
    elif context == "operator":
        candidates = list(_OPERATORS)
    elif context == "value" and field_ref is not None:
        kind = FIELD_KINDS[field_ref.name]
        values = [_quoted(str(v)) for v in (*kind.choices, *known.get(field_ref.text, known.get(field_ref.name, ())))]
        candidates = ["true", "false"] if kind.kind == "bool" else values
    elif context == "connective":
        candidates = ["and", "or"]
    else:
        return []
    lowered = prefix.lower()
    found = [c for c in dict.fromkeys(candidates) if c.lower().startswith(lowered)]
    if not found and context == "field" and lowered and "." not in lowered:
        # no field starts so: the fields an alias names (`event_id` → `id`), then those with a later word starting
        # so (`code` → none, `resp` → `invocation.response`): a name typed as another tool writes it finds the field
        aliased = [field for alias, field in FIELD_ALIASES.items() if alias.startswith(lowered)]
        words = [c for c in candidates if any(w.startswith(lowered) for w in re.split(r"[._]", c.lower())[1:])]
        found = list(dict.fromkeys([*found, *aliased, *words]))
    return found


def _session_name(name: str) -> str:
    lower = name.lower()
    return lower[len("x-hasura-") :] if lower.startswith("x-hasura-") else lower


def _as_field(token: Token) -> FieldRef | None:
    if token.kind != "word" or token.text.lower() in KEYWORDS:
        return None
    try:
        return resolve_field(token)
    except FilterError:
        return None


def _context(tokens: list[Token]) -> tuple[str, FieldRef | None]:
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
    is_operator = (last.kind == "punct" and last.text in COMPARISONS | {"~"}) or last.is_word(
        "contains", "matches", *WORD_OPS
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


def _is_value_position(before: Token) -> bool:
    """Whether a word after `before` is a value (not a field)."""
    return (before.kind == "punct" and before.text in COMPARISONS | {"~", "{", ",", ".."}) or before.is_word(
        "contains", "matches", *WORD_OPS
    )
