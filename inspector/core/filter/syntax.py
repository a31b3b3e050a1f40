"""The display filter's syntax tree: what the parser makes of filter text, before any type is checked.

Owns the node classes; every node carries its character span (`start`, `end`) so that the check can underline what
it refuses. Made by `inspector.core.filter.parser`, read by `inspector.core.filter.check`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from inspector.core.filter.fields import JSON_ROOTS

__all__ = ["All", "And", "Comparison", "Expr", "FieldRef", "In", "Not", "Or", "Present", "Range", "Text", "Value"]


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
    def payload_path(self) -> tuple[str | int, ...] | None:
        """Where the value is in the event payload (keys and indexes from its top), for payload fields; None for the
        others. A dialect of SQL writes it in its own JSON path syntax, always as a parameter."""
        root = JSON_ROOTS.get(self.name)
        return None if root is None else (*root, *self.path)


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
    """`field in {...}`: the field equals one of the values or lies in one of the ranges."""

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
    """`not operand` (also `!`)."""

    operand: Expr
    start: int
    end: int


@dataclass(frozen=True)
class And:
    """Operands that must all hold (`and`, `&&`), flat: `a and b and c` is one node."""

    operands: tuple[Expr, ...]
    start: int
    end: int


@dataclass(frozen=True)
class Or:
    """Operands of which one must hold (`or`, `||`), flat."""

    operands: tuple[Expr, ...]
    start: int
    end: int


Expr = All | Present | Comparison | In | Text | Not | And | Or
