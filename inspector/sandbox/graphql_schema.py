"""Hasura's generated GraphQL schema for the sandbox's tables, with resolvers that run SQL on SQLite.

Owns the mapping from a `Table` to Hasura's root fields and type names, so queries written for Hasura run unchanged:
`<t>`, `<t>_by_pk`, `<t>_aggregate { aggregate { count } }`, `<t>_stream(batch_size, cursor, where)`, `insert_<t>`,
`insert_<t>_one`, `update_<t>`, `update_<t>_by_pk`, `delete_<t>`, `delete_<t>_by_pk`, with the input types
`<t>_bool_exp`, `<t>_order_by`, `<t>_insert_input`, `<t>_set_input`, `<t>_inc_input`, `<t>_pk_columns_input`,
`<t>_on_conflict`, `<t>_stream_cursor_input`, `<t>_stream_cursor_value_input`, `<Scalar>_comparison_exp`, the enums
`order_by`, `cursor_ordering`, `<t>_constraint`, `<t>_update_column`, and the roots `query_root`, `mutation_root`,
`subscription_root`. Used by `graphql_engine`, which executes operations against it.

The graphql-core schema is built by hand from the table specs because Hasura's schema is generated from the database;
no GraphQL server library generates Hasura's naming, and we need the resolvers to be SQL over our own tables anyway.
Not modelled: relationships, permissions for non-admin roles, `distinct_on`, aggregates other than count.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    GraphQLArgument,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLEnumValue,
    GraphQLField,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLString,
)

from inspector.core.hasura import format_timestamptz, parse_timestamp
from inspector.sandbox.database import Database, now_timestamptz
from inspector.sandbox.tables import Column, Table

Row = dict[str, Any]
Info = GraphQLResolveInfo["ResolveContext"]


class ConstraintViolation(Exception):
    """A write SQLite refused; reported with Hasura's `constraint-violation` code."""


class SchemaError(Exception):
    """A request that is valid GraphQL but not acceptable to Hasura (reported as `validation-failed`)."""


@dataclass
class ResolveContext:
    """What resolvers see as `info.context`: the database and, for streaming subscriptions, each field's cursor."""

    db: Database
    stream_cursors: dict[str, Any] = field(default_factory=dict)
    """`<response key>` → last cursor value sent; absent until the first batch."""
    stream_full: bool = False
    """Set by a stream resolver that returned a full batch (more rows may be waiting)."""


def _parse_timestamptz(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("timestamptz must be a string")
    return format_timestamptz(parse_timestamp(value))


def _parse_timestamptz_literal(node: Any, _variables: Any = None) -> str:
    return _parse_timestamptz(getattr(node, "value", None))


TIMESTAMPTZ = GraphQLScalarType(
    "timestamptz",
    serialize=lambda v: v,
    parse_value=_parse_timestamptz,
    parse_literal=_parse_timestamptz_literal,
)
SCALARS: dict[str, Any] = {
    "String": GraphQLString,
    "Int": GraphQLInt,
    "Boolean": GraphQLBoolean,
    "timestamptz": TIMESTAMPTZ,
}

ORDER_BY = GraphQLEnumType(
    "order_by",
    {
        "asc": GraphQLEnumValue("ASC NULLS LAST", description="in ascending order, nulls last"),
        "asc_nulls_first": GraphQLEnumValue("ASC NULLS FIRST"),
        "asc_nulls_last": GraphQLEnumValue("ASC NULLS LAST"),
        "desc": GraphQLEnumValue("DESC NULLS FIRST", description="in descending order, nulls first"),
        "desc_nulls_first": GraphQLEnumValue("DESC NULLS FIRST"),
        "desc_nulls_last": GraphQLEnumValue("DESC NULLS LAST"),
    },
    description="column ordering options",
)
CURSOR_ORDERING = GraphQLEnumType(
    "cursor_ordering",
    {"ASC": GraphQLEnumValue("ASC"), "DESC": GraphQLEnumValue("DESC")},
    description="ordering argument of a cursor",
)

COMPARISON_OPS = {"_eq": "=", "_neq": "<>", "_gt": ">", "_gte": ">=", "_lt": "<", "_lte": "<="}


def _comparison_exp(scalar_name: str) -> GraphQLInputObjectType:
    scalar = SCALARS[scalar_name]
    fields: dict[str, GraphQLInputField] = {op: GraphQLInputField(scalar) for op in COMPARISON_OPS}
    fields["_in"] = GraphQLInputField(GraphQLList(GraphQLNonNull(scalar)))
    fields["_nin"] = GraphQLInputField(GraphQLList(GraphQLNonNull(scalar)))
    fields["_is_null"] = GraphQLInputField(GraphQLBoolean)
    if scalar_name == "String":
        for op in ("_like", "_nlike", "_ilike", "_nilike"):
            fields[op] = GraphQLInputField(GraphQLString)
    return GraphQLInputObjectType(
        f"{scalar_name}_comparison_exp",
        fields,
        description=f'Boolean expression to compare columns of type "{scalar_name}". '
        "All fields are combined with logical 'AND'.",
    )


COMPARISON_EXPS = {name: _comparison_exp(name) for name in SCALARS}


# --- SQL ---------------------------------------------------------------------------------------------------------


def _to_sql_value(column: Column, value: Any) -> Any:
    if value is None:
        return None
    if column.type == "boolean":
        return 1 if value else 0
    return value


def row_to_json(table: Table, row: sqlite3.Row | Mapping[str, Any]) -> Row:
    """A stored row as GraphQL serves it (booleans as booleans)."""
    return {c.name: json_value(c, row[c.name]) for c in table.columns}


def compile_where(table: Table, where: Mapping[str, Any] | None) -> tuple[str, list[Any]]:
    """A `<t>_bool_exp` as a parameterised SQL predicate."""
    if not where:
        return "1", []
    parts: list[str] = []
    params: list[Any] = []
    for key, value in where.items():
        if key == "_and":
            subs = [compile_where(table, w) for w in value or []]
            if subs:
                parts.append("(" + " AND ".join(s for s, _ in subs) + ")")
                params.extend(p for _, ps in subs for p in ps)
        elif key == "_or":
            subs = [compile_where(table, w) for w in value or []]
            parts.append("(" + (" OR ".join(s for s, _ in subs) if subs else "0") + ")")
            params.extend(p for _, ps in subs for p in ps)
        elif key == "_not":
            sub, ps = compile_where(table, value)
            parts.append(f"NOT ({sub})")
            params.extend(ps)
        else:
            column = table.column(key)
            for op, operand in (value or {}).items():
                sql, ps = _compile_comparison(column, op, operand)
                parts.append(sql)
                params.extend(ps)
    return (" AND ".join(parts) if parts else "1"), params


def _compile_comparison(column: Column, op: str, operand: Any) -> tuple[str, list[Any]]:
    ref = f'"{column.name}"'
    if op == "_is_null":
        return (f"{ref} IS NULL" if operand else f"{ref} IS NOT NULL"), []
    if operand is None:
        # Hasura v2 treats a comparison with null as no condition at all.
        return "1", []
    if op in COMPARISON_OPS:
        return f"{ref} {COMPARISON_OPS[op]} ?", [_to_sql_value(column, operand)]
    if op in ("_in", "_nin"):
        values = [_to_sql_value(column, v) for v in operand]
        if not values:
            return ("0" if op == "_in" else "1"), []
        marks = ",".join("?" * len(values))
        return f"{ref} {'IN' if op == '_in' else 'NOT IN'} ({marks})", values
    if op in ("_like", "_nlike"):
        return f"{ref} {'NOT ' if op == '_nlike' else ''}GLOB ?", [_like_to_glob(str(operand))]
    if op in ("_ilike", "_nilike"):
        return f"{ref} {'NOT ' if op == '_nilike' else ''}LIKE ?", [operand]
    raise SchemaError(f"unsupported operator {op}")


def _like_to_glob(pattern: str) -> str:
    # Postgres LIKE is case-sensitive; SQLite's LIKE is not, GLOB is.
    out = []
    for ch in pattern:
        out.append({"%": "*", "_": "?", "*": "[*]", "?": "[?]", "[": "[[]"}.get(ch, ch))
    return "".join(out)


def compile_order_by(table: Table, order_by: Any) -> str:
    items = order_by if isinstance(order_by, list) else [order_by] if order_by else []
    terms = [f'"{table.column(col).name}" {direction}' for item in items for col, direction in item.items()]
    return (" ORDER BY " + ", ".join(terms)) if terms else ""


# --- resolvers ---------------------------------------------------------------------------------------------------


def _db(info: Info) -> Database:
    context: ResolveContext = info.context
    return context.db


def column_list(table: Table) -> str:
    """The table's columns, quoted, in `table.columns` order: what the reads select (so a row's position `i` is
    `table.columns[i]`, whatever order an older file's DDL put them in)."""
    return ", ".join(f'"{c.name}"' for c in table.columns)


def select_query(table: Table, args: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """The SQL of `<t>` / `<t>_aggregate` for coerced arguments (`where`, `order_by`, `limit`, `offset`)."""
    sql, params = compile_where(table, args.get("where"))
    order = compile_order_by(table, args.get("order_by"))
    query = f'SELECT {column_list(table)} FROM "{table.name}" WHERE {sql}{order}'
    if args.get("limit") is not None or args.get("offset") is not None:
        query += " LIMIT ? OFFSET ?"
        params += [args["limit"] if args.get("limit") is not None else -1, args.get("offset") or 0]
    return query, params


def by_pk_query(table: Table, args: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """The SQL of `<t>_by_pk` for coerced arguments (the primary key's columns)."""
    where = " AND ".join(f'"{k}" = ?' for k in table.primary_key)
    params = [_to_sql_value(table.column(k), args[k]) for k in table.primary_key]
    return f'SELECT {column_list(table)} FROM "{table.name}" WHERE {where}', params


STREAM_NO_BOUND = 2**62
"""An offset no table reaches: the tie bound's subquery finds no row, so a negative `batch_size` stays unbounded."""


@dataclass(frozen=True)
class StreamQuery:
    """One `<t>_stream` field's SQL for coerced arguments; each batch binds `parameters(last cursor value)`.

    A batch is Hasura's `FETCH FIRST batch_size ROWS WITH TIES` ordered by the cursor column (Hasura's docs page
    https://hasura.io/docs/latest/subscriptions/postgres/streaming/index/, "Bugs and limitations": on Postgres and
    Citus a cursor on a non-unique column returns every row, in batches that may be larger than `batch_size`).
    SQLite has no `WITH TIES`, so the batch is bounded instead by the cursor value of its `batch_size`-th row: every
    row up to and including that value, which is the same set. The next batch starts after the batch's last
    (greatest, or least for DESC) cursor value, as Hasura's `MAX`/`MIN` cursor extractor in `mkStreamSQLSelect`
    (`server/src-lib/Hasura/Backends/Postgres/Translate/Select/Streaming.hs`) does, so no row of a run of equal
    values is skipped or sent twice."""

    column: Column
    """The cursor column."""
    index: int
    """The cursor column's position in a selected row."""
    initial: Any
    """The cursor's initial value, as stored."""
    batch_size: int
    sql: str
    where_params: tuple[Any, ...]

    def parameters(self, last: Any) -> list[Any]:
        size = self.batch_size
        # The tie bound is the cursor value of the batch_size-th row (OFFSET batch_size - 1). batch_size 0 sends
        # nothing (outer LIMIT 0); a negative one, which Hasura's parser refuses (`P.nonNegativeInt` in
        # `server/src-lib/Hasura/GraphQL/Schema/SubscriptionStream.hs`), stays unbounded as SQLite's LIMIT -1 is.
        offset = size - 1 if size > 0 else STREAM_NO_BOUND
        limit = -1 if size > 0 else size
        return [*self.where_params, last, *self.where_params, last, offset, limit]

    def next_cursor(self, stored: Any) -> Any:
        """The cursor after a row whose cursor column holds `stored` (as the row is served, then as stored)."""
        return _to_sql_value(self.column, json_value(self.column, stored))


def stream_query(table: Table, args: Mapping[str, Any]) -> StreamQuery:
    """The SQL of `<t>_stream(batch_size, cursor, where)`; raises `SchemaError` for a cursor Hasura refuses."""
    cursors = args["cursor"]
    if len(cursors) != 1:
        raise SchemaError("one cursor is required")
    cursor = cursors[0] or {}
    initial = cursor.get("initial_value") or {}
    if len(initial) != 1:
        raise SchemaError("exactly one cursor column is required in initial_value")
    ((column_name, initial_value),) = initial.items()
    column = table.column(column_name)
    descending = cursor.get("ordering") == "DESC"
    sql, params = compile_where(table, args.get("where"))
    ref = f'"{column_name}"'
    after, up_to, direction = ("<", ">=", "DESC") if descending else (">", "<=", "ASC")
    rows = f'FROM "{table.name}" WHERE ({sql}) AND {ref} {after} ?'
    # The uncorrelated subquery (run once per batch) finds the batch_size-th row's cursor value; without one (fewer
    # rows than batch_size) the bound is the table's last cursor value, which bounds nothing. The bound must not
    # name the outer row (an earlier `COALESCE(..., ref)` did): then SQLite cannot use it as the end of the index
    # range, and every batch scanned the rest of the table (a stream of N rows cost O(N^2): 600 µs a message on
    # 100,000 rows, against 20).
    last = "max" if not descending else "min"
    end = f'(SELECT {last}({ref}) FROM "{table.name}")'
    bound = f"COALESCE((SELECT {ref} {rows} ORDER BY {ref} {direction} LIMIT 1 OFFSET ?), {end})"
    # The outer `where` is wrapped in unary `+` so that SQLite cannot take one of its terms (`id <= N`) as the end of
    # the index range instead of the bound: the bound is what ends a batch.
    outer = f'FROM "{table.name}" WHERE +({sql}) AND {ref} {after} ?'
    query = f"SELECT {column_list(table)} {outer} AND {ref} {up_to} {bound} ORDER BY {ref} {direction} LIMIT ?"
    return StreamQuery(
        column,
        table.columns.index(column),
        _to_sql_value(column, initial_value),
        args["batch_size"],
        query,
        tuple(params),
    )


def json_value(column: Column, stored: Any) -> Any:
    """A stored value as GraphQL serves it (booleans as booleans), as `row_to_json` does."""
    return bool(stored) if column.type == "boolean" and stored is not None else stored


def _select(table: Table) -> Callable[..., list[Row]]:
    def resolve(_root: Any, info: Info, **args: Any) -> list[Row]:
        query, params = select_query(table, args)
        return [row_to_json(table, r) for r in _db(info).conn.execute(query, params)]

    return resolve


def _aggregate(table: Table) -> Callable[..., Row]:
    def resolve(_root: Any, info: Info, **args: Any) -> Row:
        rows = _select(table)(_root, info, **args)
        return {"aggregate": {"count": len(rows)}, "nodes": rows}

    return resolve


def _by_pk(table: Table) -> Callable[..., Row | None]:
    def resolve(_root: Any, info: Info, **args: Any) -> Row | None:
        query, params = by_pk_query(table, args)
        row = _db(info).conn.execute(query, params).fetchone()
        return None if row is None else row_to_json(table, row)

    return resolve


def stream_key(path: list[str | int]) -> str:
    """The key of a stream field's cursor in `ResolveContext.stream_cursors`: its response path, dotted."""
    return ".".join(str(p) for p in path)


def _stream(table: Table) -> Callable[..., list[Row]]:
    def resolve(_root: Any, info: Info, **args: Any) -> list[Row]:
        stream = stream_query(table, args)
        context: ResolveContext = info.context
        key = stream_key(info.path.as_list())
        last = context.stream_cursors.get(key, stream.initial)
        rows = [row_to_json(table, r) for r in context.db.conn.execute(stream.sql, stream.parameters(last))]
        if rows:
            context.stream_cursors[key] = _to_sql_value(stream.column, rows[-1][stream.column.name])
            if len(rows) >= stream.batch_size:
                context.stream_full = True
        return rows

    return resolve


def _defaults(table: Table, obj: Mapping[str, Any]) -> dict[str, Any]:
    values = {k: _to_sql_value(table.column(k), v) for k, v in obj.items()}
    for c in table.columns:
        if c.name not in values:
            if c.default == "false":
                values[c.name] = 0
            elif c.default == "now()":
                values[c.name] = now_timestamptz()
    return values


def _run_write(db: Database, sql: str, params: list[Any]) -> list[sqlite3.Row]:
    try:
        return db.conn.execute(sql, params).fetchall()
    except sqlite3.IntegrityError as exc:
        text = str(exc)
        if "UNIQUE" in text:
            raise ConstraintViolation(
                f"Uniqueness violation. duplicate key value violates unique constraint ({text})"
            ) from exc
        if "FOREIGN KEY" in text:
            raise ConstraintViolation(f"Foreign key violation. {text}") from exc
        if "NOT NULL" in text:
            raise ConstraintViolation(f"Not-NULL violation. {text}") from exc
        raise ConstraintViolation(text) from exc


def _insert_rows(table: Table, db: Database, objects: list[Mapping[str, Any]], on_conflict: Any) -> list[Row]:
    out: list[Row] = []
    for obj in objects:
        values = _defaults(table, obj)
        cols = list(values)
        sql = (
            f'INSERT INTO "{table.name}" ('
            + ", ".join(f'"{c}"' for c in cols)
            + ") VALUES ("
            + ",".join("?" * len(cols))
            + ")"
        )
        params = list(values.values())
        if on_conflict is not None:
            keys = ", ".join(f'"{k}"' for k in table.primary_key)
            update_columns = on_conflict.get("update_columns") or []
            if update_columns:
                sets = ", ".join(f'"{c}" = excluded."{c}"' for c in update_columns)
                where_sql, where_params = compile_where(table, on_conflict.get("where"))
                sql += f" ON CONFLICT ({keys}) DO UPDATE SET {sets} WHERE {where_sql}"
                params += where_params
            else:
                sql += f" ON CONFLICT ({keys}) DO NOTHING"
        out.extend(row_to_json(table, r) for r in _run_write(db, sql + " RETURNING *", params))
    return out


def _insert(table: Table) -> Callable[..., Row]:
    def resolve(_root: Any, info: Info, **args: Any) -> Row:
        rows = _insert_rows(table, _db(info), args["objects"], args.get("on_conflict"))
        return {"affected_rows": len(rows), "returning": rows}

    return resolve


def _insert_one(table: Table) -> Callable[..., Row | None]:
    def resolve(_root: Any, info: Info, **args: Any) -> Row | None:
        rows = _insert_rows(table, _db(info), [args["object"]], args.get("on_conflict"))
        return rows[0] if rows else None

    return resolve


def _set_clause(table: Table, args: Mapping[str, Any]) -> tuple[str, list[Any]]:
    sets: list[str] = []
    params: list[Any] = []
    for col, value in (args.get("_set") or {}).items():
        sets.append(f'"{col}" = ?')
        params.append(_to_sql_value(table.column(col), value))
    for col, value in (args.get("_inc") or {}).items():
        sets.append(f'"{col}" = "{col}" + ?')
        params.append(value)
    return ", ".join(sets), params


def _update(table: Table) -> Callable[..., Row]:
    def resolve(_root: Any, info: Info, **args: Any) -> Row:
        sets, params = _set_clause(table, args)
        where, where_params = compile_where(table, args["where"])
        if not sets:
            rows = _select(table)(_root, info, where=args["where"])
            return {"affected_rows": 0, "returning": rows}
        result = _run_write(
            _db(info), f'UPDATE "{table.name}" SET {sets} WHERE {where} RETURNING *', params + where_params
        )
        rows = [row_to_json(table, r) for r in result]
        return {"affected_rows": len(rows), "returning": rows}

    return resolve


def _update_by_pk(table: Table) -> Callable[..., Row | None]:
    def resolve(_root: Any, info: Info, **args: Any) -> Row | None:
        pk = args["pk_columns"]
        sets, params = _set_clause(table, args)
        if not sets:
            return _by_pk(table)(_root, info, **pk)
        where = " AND ".join(f'"{k}" = ?' for k in table.primary_key)
        params += [_to_sql_value(table.column(k), pk[k]) for k in table.primary_key]
        result = _run_write(_db(info), f'UPDATE "{table.name}" SET {sets} WHERE {where} RETURNING *', params)
        return row_to_json(table, result[0]) if result else None

    return resolve


def _delete(table: Table) -> Callable[..., Row]:
    def resolve(_root: Any, info: Info, **args: Any) -> Row:
        where, params = compile_where(table, args["where"])
        rows = [
            row_to_json(table, r)
            for r in _run_write(_db(info), f'DELETE FROM "{table.name}" WHERE {where} RETURNING *', params)
        ]
        return {"affected_rows": len(rows), "returning": rows}

    return resolve


def _delete_by_pk(table: Table) -> Callable[..., Row | None]:
    def resolve(_root: Any, info: Info, **args: Any) -> Row | None:
        where = " AND ".join(f'"{k}" = ?' for k in table.primary_key)
        params = [_to_sql_value(table.column(k), args[k]) for k in table.primary_key]
        rows = _run_write(_db(info), f'DELETE FROM "{table.name}" WHERE {where} RETURNING *', params)
        return row_to_json(table, rows[0]) if rows else None

    return resolve


# --- types -------------------------------------------------------------------------------------------------------


@dataclass
class _TableTypes:
    object: GraphQLObjectType
    bool_exp: GraphQLInputObjectType
    order_by: GraphQLInputObjectType


def _nn(t: Any) -> GraphQLNonNull[Any]:
    return GraphQLNonNull(t)


def _column_inputs(table: Table, scalar_for: Callable[[Column], Any] | None = None) -> dict[str, GraphQLInputField]:
    return {
        c.name: GraphQLInputField(scalar_for(c) if scalar_for else SCALARS[c.graphql_scalar]) for c in table.columns
    }


def build_schema(tables: tuple[Table, ...]) -> GraphQLSchema:
    """Hasura's schema for `tables` (admin role)."""
    query: dict[str, GraphQLField] = {}
    subscription: dict[str, GraphQLField] = {}
    mutation: dict[str, GraphQLField] = {}
    bool_exps: dict[str, GraphQLInputObjectType] = {}
    for table in tables:
        t = table.name
        obj = GraphQLObjectType(
            t,
            {
                c.name: GraphQLField(SCALARS[c.graphql_scalar] if c.nullable else _nn(SCALARS[c.graphql_scalar]))
                for c in table.columns
            },
            description=f'columns and relationships of "{t}"',
        )
        bool_exp: GraphQLInputObjectType = GraphQLInputObjectType(
            f"{t}_bool_exp",
            lambda table=table, t=t: {  # type: ignore[misc]
                "_and": GraphQLInputField(GraphQLList(_nn(bool_exps[t]))),
                "_or": GraphQLInputField(GraphQLList(_nn(bool_exps[t]))),
                "_not": GraphQLInputField(bool_exps[t]),
                **{c.name: GraphQLInputField(COMPARISON_EXPS[c.graphql_scalar]) for c in table.columns},
            },
            description=f'Boolean expression to filter rows from the table "{t}". '
            "All fields are combined with a logical 'AND'.",
        )
        bool_exps[t] = bool_exp
        order_by = GraphQLInputObjectType(f"{t}_order_by", {c.name: GraphQLInputField(ORDER_BY) for c in table.columns})
        select_args = {
            "where": GraphQLArgument(bool_exp),
            "order_by": GraphQLArgument(GraphQLList(_nn(order_by))),
            "limit": GraphQLArgument(GraphQLInt),
            "offset": GraphQLArgument(GraphQLInt),
        }
        select = GraphQLField(_nn(GraphQLList(_nn(obj))), select_args, resolve=_select(table))
        aggregate_type = GraphQLObjectType(
            f"{t}_aggregate",
            {
                "aggregate": GraphQLField(
                    GraphQLObjectType(f"{t}_aggregate_fields", {"count": GraphQLField(_nn(GraphQLInt))})
                ),
                "nodes": GraphQLField(_nn(GraphQLList(_nn(obj)))),
            },
        )
        aggregate = GraphQLField(_nn(aggregate_type), select_args, resolve=_aggregate(table))
        cursor_value = GraphQLInputObjectType(f"{t}_stream_cursor_value_input", _column_inputs(table))
        cursor_input = GraphQLInputObjectType(
            f"{t}_stream_cursor_input",
            {"initial_value": GraphQLInputField(_nn(cursor_value)), "ordering": GraphQLInputField(CURSOR_ORDERING)},
        )
        stream = GraphQLField(
            _nn(GraphQLList(_nn(obj))),
            {
                "batch_size": GraphQLArgument(_nn(GraphQLInt)),
                "cursor": GraphQLArgument(_nn(GraphQLList(cursor_input))),
                "where": GraphQLArgument(bool_exp),
            },
            resolve=_stream(table),
        )
        query[t] = select
        query[f"{t}_aggregate"] = aggregate
        subscription[t] = select
        subscription[f"{t}_aggregate"] = aggregate
        subscription[f"{t}_stream"] = stream
        pk_args = {k: GraphQLArgument(_nn(SCALARS[table.column(k).graphql_scalar])) for k in table.primary_key}
        if table.primary_key:
            by_pk = GraphQLField(obj, pk_args, resolve=_by_pk(table))
            query[f"{t}_by_pk"] = by_pk
            subscription[f"{t}_by_pk"] = by_pk
        if table.is_view:
            continue
        mutation.update(_mutation_fields(table, obj, bool_exp, pk_args))
    return GraphQLSchema(
        query=GraphQLObjectType("query_root", query),
        mutation=GraphQLObjectType("mutation_root", mutation),
        subscription=GraphQLObjectType("subscription_root", subscription),
    )


def _mutation_fields(
    table: Table, obj: GraphQLObjectType, bool_exp: GraphQLInputObjectType, pk_args: dict[str, GraphQLArgument]
) -> dict[str, GraphQLField]:
    t = table.name
    insert_input = GraphQLInputObjectType(f"{t}_insert_input", _column_inputs(table))
    set_input = GraphQLInputObjectType(
        f"{t}_set_input",
        {c.name: GraphQLInputField(SCALARS[c.graphql_scalar]) for c in table.columns if c.type != "serial"},
    )
    int_cols = {c.name: GraphQLInputField(GraphQLInt) for c in table.columns if c.graphql_scalar == "Int"}
    response = GraphQLObjectType(
        f"{t}_mutation_response",
        {"affected_rows": GraphQLField(_nn(GraphQLInt)), "returning": GraphQLField(_nn(GraphQLList(_nn(obj))))},
        description=f'response of any mutation on the table "{t}"',
    )
    update_args: dict[str, GraphQLArgument] = {"_set": GraphQLArgument(set_input)}
    if int_cols:
        update_args["_inc"] = GraphQLArgument(GraphQLInputObjectType(f"{t}_inc_input", int_cols))
    insert_args: dict[str, GraphQLArgument] = {}
    if table.primary_key:
        constraint = GraphQLEnumType(f"{t}_constraint", {f"{t}_pkey": GraphQLEnumValue(f"{t}_pkey")})
        update_column = GraphQLEnumType(f"{t}_update_column", {c.name: GraphQLEnumValue(c.name) for c in table.columns})
        on_conflict = GraphQLInputObjectType(
            f"{t}_on_conflict",
            {
                "constraint": GraphQLInputField(_nn(constraint)),
                "update_columns": GraphQLInputField(_nn(GraphQLList(_nn(update_column))), default_value=[]),
                "where": GraphQLInputField(bool_exp),
            },
        )
        insert_args["on_conflict"] = GraphQLArgument(on_conflict)
    fields = {
        f"insert_{t}": GraphQLField(
            response,
            {"objects": GraphQLArgument(_nn(GraphQLList(_nn(insert_input)))), **insert_args},
            resolve=_insert(table),
        ),
        f"insert_{t}_one": GraphQLField(
            obj, {"object": GraphQLArgument(_nn(insert_input)), **insert_args}, resolve=_insert_one(table)
        ),
        f"update_{t}": GraphQLField(
            response, {"where": GraphQLArgument(_nn(bool_exp)), **update_args}, resolve=_update(table)
        ),
        f"delete_{t}": GraphQLField(response, {"where": GraphQLArgument(_nn(bool_exp))}, resolve=_delete(table)),
    }
    if table.primary_key:
        pk_input = GraphQLInputObjectType(
            f"{t}_pk_columns_input",
            {k: GraphQLInputField(_nn(SCALARS[table.column(k).graphql_scalar])) for k in table.primary_key},
        )
        fields[f"update_{t}_by_pk"] = GraphQLField(
            obj, {"pk_columns": GraphQLArgument(_nn(pk_input)), **update_args}, resolve=_update_by_pk(table)
        )
        fields[f"delete_{t}_by_pk"] = GraphQLField(obj, pk_args, resolve=_delete_by_pk(table))
    return fields
