r"""The display filter: a small Wireshark-style language that selects events.

Owns the language, pure (no Qt, no I/O, no SQL): text is lexed (`lexer`), parsed to a syntax tree (`parser`,
`syntax`), checked against the fields (`fields`) into a CHECKED tree (`check`: every type error, with the span to
underline), and then either compiled to SQL by the store (`inspector.store.filter_sql`) or evaluated in memory
against one event (`evaluate`). `completion` serves the filter bar. Used by the window's filter bar (checked as typed:
green, or red with the error span underlined), the colouring rules, the CLI's `--filter` and anything that lists
events.

Examples::

    trigger == "validate-order" and http_status >= 500
    data.new.restaurant_id == 3 || tries > 1
    not delivered
    status in {failed retrying}
    "pizza"
    session.user-id == "u1" && latency > 2s
    invocation.http_status in {500..599} and created_at > -1h

- STRING: `"..."` or `'...'` with the escapes `\\ \" \' \n \t \r \0 \xHH \uHHHH \UHHHHHHHH`; any other backslash is
  kept as written, so the regex `^\d+ ` can be written `"^\d+ "` as well as `"^\\d+ "`. Raw strings `r"..."` keep
  every backslash.
- NUMBER: `42`, `-1.5`, `1e3`, with an optional unit (`ms s m h d w`) for `latency` and `created_at`: `latency > 2s`,
  `created_at > -15m` (fifteen minutes ago).
- BAREWORD: an unquoted value (`status == failed`, `trigger == validate-order`, `created_at > 2024-03-01`).

Fields (`FIELDS` describes each one): `trigger table op status tries attempts attempt successes duplicate flags
delivered error http_status created_at latency row_key trace_id role id`, `invocation.http_status` /
`invocation.response` / `outcome` (`ok handler_error timeout connection_failure`) (true if ANY delivery attempt
matches), `data.new.<path>` / `data.old.<path>` (the row in the payload; `<path>` is columns of letters, digits and
`_`, with `[n]` array indexes: `data.new.items[0].name`), and `session.<var>` (`session.user-id` and
`session.x-hasura-user-id` are the same variable).

Semantics, as decided:

- `http_status` is the status of the event's *latest* attempt (null when there was no attempt, or the latest got no
  HTTP answer); `invocation.http_status` means "some attempt had", so `invocation.http_status == 500` finds events
  that failed once and then succeeded.
- `a != b` is `not (a == b)` (as in Wireshark): events where the field is missing match it, and `not` is a real
  complement (a missing value never makes an event fall out of both `x` and `not x`).
- Values are typed (see `check`). `latency` is milliseconds from creation to delivery, or to the first attempt when
  not delivered (null without attempts).
- Free text is a quoted string on its own: `"pizza"` searches the event payload (row data, session variables):
  whole words, case- and accent-insensitive, `"piz*"` for a prefix. An unquoted unknown word is an error (with a
  "did you mean" for misspelt fields), never a silent search.
- `contains` is case-sensitive substring; `matches` is a Python regular expression searched anywhere in the value,
  case-sensitive (`(?i)` at its start ignores case). Both work on text and JSON fields. A pathological regex can
  still take long on long values (Python's `re` has no timeout): run filters off the GUI thread.

Limits: the text is at most `MAX_LENGTH` characters, parentheses and `not`s at most `MAX_DEPTH` levels, sets at
most `MAX_SET` values, nested `and`/`or` groups at most `MAX_GROUPS` (after `not`s are pushed down).
"""

from inspector.core.filter.check import (
    MAX_GROUPS,
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
    Node,
    NotNull,
    Period,
    Scalar,
    Search,
    Test,
    check,
    find_error,
)
from inspector.core.filter.completion import complete, completion_start
from inspector.core.filter.errors import FilterError
from inspector.core.filter.evaluate import evaluate, regex_search
from inspector.core.filter.fields import EVENT_STATUSES, FIELD_KINDS, FIELDS, JSON_ROOTS, OPS, FieldKind, Kind
from inspector.core.filter.parser import MAX_DEPTH, MAX_LENGTH, MAX_SET, parse
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
    "EVENT_STATUSES",
    "FIELDS",
    "FIELD_KINDS",
    "JSON_ROOTS",
    "MAX_DEPTH",
    "MAX_GROUPS",
    "MAX_LENGTH",
    "MAX_SET",
    "OPS",
    "All",
    "AllOf",
    "And",
    "AnyOf",
    "CheckedFilter",
    "CheckedNode",
    "Compare",
    "Comparison",
    "Everything",
    "Expr",
    "FieldKind",
    "FieldRef",
    "FilterError",
    "FreeText",
    "In",
    "InSet",
    "IsNull",
    "IsTrue",
    "Kind",
    "Node",
    "Not",
    "NotNull",
    "Or",
    "Period",
    "Present",
    "Range",
    "Scalar",
    "Search",
    "Test",
    "Text",
    "Value",
    "check",
    "complete",
    "completion_start",
    "evaluate",
    "find_error",
    "parse",
    "regex_search",
]
