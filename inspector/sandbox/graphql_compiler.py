"""Subscriptions compiled once into SQL and row renderers: each live-query refetch or stream batch then costs one SQL
statement and one pass over its rows, instead of a run of graphql-core's executor (which coerces the argument
literals again and completes every field of every row through its resolver machinery).

Owns `compile_subscription` and `CompiledOperation`; `graphql_engine.Operation.results` uses them. graphql-core stays
the reference and the fallback, so the output is the same whichever path renders it:
- The argument values are coerced by graphql-core itself (`get_variable_values`, `get_argument_values`), once, and
  the SQL comes from the same builders the resolvers use (`graphql_schema.select_query`, `by_pk_query`,
  `stream_query`).
- What the compiler does not handle is not compiled (`NotCompiled`), and graphql-core runs that operation: fragments,
  directives, a response key selected twice, an argument graphql-core or the resolvers would refuse.
- A run that meets a value off the fast path (a null in a non-null column, an `Int` outside 32 bits, a text column
  holding a number: whatever graphql-core would coerce or report) raises `Fallback` before it changes anything, and
  the engine runs graphql-core for that run instead.

A row renderer is Python source generated from the selection set (response keys are GraphQL names, type names come
from the schema), so each row becomes one dict literal with the keys in selection order, as graphql-core builds it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
)
from graphql.execution.values import get_argument_values, get_variable_values

from inspector.sandbox.graphql_schema import (
    ResolveContext,
    by_pk_query,
    select_query,
    stream_key,
    stream_query,
)
from inspector.sandbox.tables import Column, Table

__all__ = ["CompiledOperation", "Fallback", "NotCompiled", "compile_subscription"]

StoredRow = tuple[Any, ...]
"""A row as SQLite returns it, columns in `Table.columns` order (`graphql_schema.column_list`)."""


class NotCompiled(Exception):
    """The operation uses something the compiler leaves to graphql-core."""


class Fallback(Exception):
    """A run met a value graphql-core would coerce or report: run graphql-core for it instead."""


def _fallback() -> Any:
    raise Fallback


@dataclass(frozen=True)
class CompiledOperation:
    """A subscription's root fields, each a function of the resolve context; `run` is one execution's result."""

    fields: tuple[tuple[str, Callable[[ResolveContext], Any]], ...]

    def run(self, context: ResolveContext) -> dict[str, Any]:
        """`{"data": ...}` as graphql-core would answer, or `Fallback` (nothing changed in `context` but stream
        cursors of root fields run before the one that fell back: the caller restores them)."""
        return {"data": {key: field(context) for key, field in self.fields}}


# --- compiling -------------------------------------------------------------------------------------------------------


def compile_subscription(
    schema: GraphQLSchema,
    tables: Sequence[Table],
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any] | None,
    conn: sqlite3.Connection,
) -> CompiledOperation:
    """Compile a validated subscription for its variables; raises `NotCompiled`."""
    root = schema.subscription_type
    if operation.operation != OperationType.SUBSCRIPTION or root is None:
        raise NotCompiled("not a subscription")
    coerced = get_variable_values(schema, operation.variable_definitions or (), dict(variables or {}))
    if isinstance(coerced, list):  # graphql-core reports these errors on each run
        raise NotCompiled("variables")
    root_fields = _root_fields(tables)
    # One cursor for this subscription's statements, returning plain tuples (the connection's rows are sqlite3.Row).
    cursor = conn.cursor()
    cursor.row_factory = None
    compiled: list[tuple[str, Callable[[ResolveContext], Any]]] = []
    for node in _fields(operation.selection_set):
        key = _response_key(node)
        field_def = root.fields.get(node.name.value)
        if field_def is None or node.name.value not in root_fields:
            raise NotCompiled(f"root field {node.name.value}")
        kind, table = root_fields[node.name.value]
        try:
            args = get_argument_values(field_def, node, coerced)
        except Exception as exc:  # graphql-core reports it on each run
            raise NotCompiled(f"arguments of {key}") from exc
        compiled.append((key, _root_field(kind, table, key, args, node, field_def, schema, cursor)))
    return CompiledOperation(tuple(compiled))


def _root_fields(tables: Sequence[Table]) -> dict[str, tuple[str, Table]]:
    # The subscription root's names, as graphql_schema.build_schema generates them.
    out: dict[str, tuple[str, Table]] = {}
    for table in tables:
        out[table.name] = ("select", table)
        out[f"{table.name}_aggregate"] = ("aggregate", table)
        out[f"{table.name}_stream"] = ("stream", table)
        if table.primary_key:
            out[f"{table.name}_by_pk"] = ("by_pk", table)
    return out


def _fields(selection_set: SelectionSetNode | None) -> list[FieldNode]:
    """The selections as fields, each response key once; fragments and directives are left to graphql-core."""
    if selection_set is None:
        raise NotCompiled("no selection set")
    fields: list[FieldNode] = []
    keys: set[str] = set()
    for selection in selection_set.selections:
        if not isinstance(selection, FieldNode):
            raise NotCompiled("fragment")
        if selection.directives:
            raise NotCompiled("directive")
        key = _response_key(selection)
        if key in keys:  # graphql-core merges them; rare enough to leave to it
            raise NotCompiled(f"{key} selected twice")
        keys.add(key)
        fields.append(selection)
    return fields


def _response_key(node: FieldNode) -> str:
    return node.alias.value if node.alias else node.name.value


def _object_type(field_def: GraphQLField) -> GraphQLObjectType:
    named = get_named_type(field_def.type)
    if not isinstance(named, GraphQLObjectType):
        raise NotCompiled("not an object type")
    return named


def _root_field(
    kind: str,
    table: Table,
    key: str,
    args: dict[str, Any],
    node: FieldNode,
    field_def: GraphQLField,
    schema: GraphQLSchema,
    cursor: sqlite3.Cursor,
) -> Callable[[ResolveContext], Any]:
    try:
        if kind == "stream":
            stream = stream_query(table, args)
        elif kind == "by_pk":
            sql, params = by_pk_query(table, args)
        else:
            sql, params = select_query(table, args)
    except Exception as exc:  # the resolver raises it on each run, and graphql-core reports it
        raise NotCompiled(f"arguments of {key}") from exc
    if kind == "aggregate":
        return _aggregate(table, _object_type(field_def), node, schema, cursor, sql, params)
    render = _rows_renderer(table, _object_type(field_def), node)
    if kind == "select":

        def run_select(_context: ResolveContext) -> Any:
            return render(cursor.execute(sql, params).fetchall())

        return run_select
    if kind == "by_pk":

        def run_by_pk(_context: ResolveContext) -> Any:
            rows = cursor.execute(sql, params).fetchall()
            return render(rows[:1])[0] if rows else None

        return run_by_pk
    cursor_key = stream_key([key])
    stream_sql = stream.sql
    stream_index = stream.index
    batch_size = stream.batch_size

    def run_stream(context: ResolveContext) -> Any:
        cursors = context.stream_cursors
        rows = cursor.execute(stream_sql, stream.parameters(cursors.get(cursor_key, stream.initial))).fetchall()
        out = render(rows)
        if rows:
            cursors[cursor_key] = stream.next_cursor(rows[-1][stream_index])
            if len(rows) >= batch_size:
                context.stream_full = True
        return out

    return run_stream


def _aggregate(
    table: Table,
    aggregate_type: GraphQLObjectType,
    node: FieldNode,
    schema: GraphQLSchema,
    cursor: sqlite3.Cursor,
    sql: str,
    params: list[Any],
) -> Callable[[ResolveContext], Any]:
    """`<t>_aggregate { aggregate { count } nodes { ... } __typename }`: the resolver's `{"aggregate": {"count": n},
    "nodes": rows}` completed by its selection."""
    parts: list[tuple[str, str, Any]] = []
    for sub in _fields(node.selection_set):
        name = sub.name.value
        if name == "__typename":
            parts.append((_response_key(sub), "const", aggregate_type.name))
        elif name == "nodes":
            render = _rows_renderer(table, _object_type(aggregate_type.fields[name]), sub)
            parts.append((_response_key(sub), "nodes", render))
        elif name == "aggregate":
            fields_type = _object_type(aggregate_type.fields[name])
            counts: list[tuple[str, bool]] = []  # (key, is the count)
            for leaf in _fields(sub.selection_set):
                if leaf.name.value == "__typename":
                    counts.append((_response_key(leaf), False))
                elif leaf.name.value == "count":
                    counts.append((_response_key(leaf), True))
                else:
                    raise NotCompiled(f"aggregate field {leaf.name.value}")
            parts.append((_response_key(sub), "aggregate", (fields_type.name, tuple(counts))))
        else:
            raise NotCompiled(f"aggregate field {name}")

    def run_aggregate(_context: ResolveContext) -> Any:
        rows = cursor.execute(sql, params).fetchall()
        out: dict[str, Any] = {}
        for key, what, spec in parts:
            if what == "const":
                out[key] = spec
            elif what == "nodes":
                out[key] = spec(rows)
            else:
                type_name, counts = spec
                out[key] = {k: len(rows) if is_count else type_name for k, is_count in counts}
        return out

    return run_aggregate


# --- row renderers ---------------------------------------------------------------------------------------------------

_INT_RANGE = "-2147483648 <= {v} <= 2147483647"
"""GraphQL's Int is 32-bit; graphql-core reports a larger value as an error."""


def _value_expression(column: Column, nullable: bool, v: str) -> str:
    """An expression serving stored value `v` as graphql-core completes it, or calling `_fallback()` where graphql-core
    would coerce (a value of another type) or report (a null in a non-null field, an Int out of range)."""
    scalar = column.graphql_scalar
    if scalar == "Boolean":  # row_to_json: bool(stored) unless null; a bool is served as it is
        good = f"(True if {v} else False)"
        return f"({good} if {v} is not None else {'None' if nullable else '_fallback()'})"
    if scalar == "Int":
        test = f"(type({v}) is int and {_INT_RANGE.format(v=v)})"
    elif scalar == "String":
        test = f"type({v}) is str"
    else:  # timestamptz: served as stored
        test = f"{v} is not None"
    if nullable:
        test = f"({v} is None or {test})"
    return f"({v} if {test} else _fallback())"


def _rows_renderer(
    table: Table, object_type: GraphQLObjectType, node: FieldNode
) -> Callable[[list[StoredRow]], list[dict[str, Any]]]:
    """A function from stored rows to the list graphql-core completes for `node`'s selection on `object_type`."""
    if object_type.name != table.name:
        raise NotCompiled(f"object type {object_type.name}")
    names = [f"c{i}" for i in range(len(table.columns))]
    entries: list[str] = []
    for sub in _fields(node.selection_set):
        key = _response_key(sub)
        name = sub.name.value
        if name == "__typename":
            entries.append(f"{key!r}: {object_type.name!r}")
            continue
        field_def = object_type.fields.get(name)
        if field_def is None or sub.selection_set is not None:
            raise NotCompiled(f"field {name}")
        index = table.column_names.index(name)
        nullable = not isinstance(field_def.type, GraphQLNonNull)
        if not isinstance(get_named_type(field_def.type), GraphQLScalarType):
            raise NotCompiled(f"field {name}")
        entries.append(f"{key!r}: {_value_expression(table.columns[index], nullable, names[index])}")
    unpack = ", ".join(names) + ("," if len(names) == 1 else "")
    source = f"def render(rows):\n    return [{{{', '.join(entries)}}} for ({unpack}) in rows]\n"
    namespace: dict[str, Any] = {"_fallback": _fallback}
    # The source holds only GraphQL names (validated by the parser) and type names from the schema.
    exec(compile(source, f"<rows of {table.name}>", "exec"), namespace)
    render: Callable[[list[StoredRow]], list[dict[str, Any]]] = namespace["render"]
    return render
