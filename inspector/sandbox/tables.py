"""The 3factor food-ordering example's tables (`hasura/3factor-example`), described once for DDL, GraphQL and event
payloads.

Owns the table specs; `database` creates them, `graphql_engine` derives Hasura's root fields and type names from them,
and `eventing` builds each event trigger's payload from their columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ColumnType = Literal["text", "integer", "serial", "boolean", "timestamptz"]


@dataclass(frozen=True)
class Column:
    """One column: its Postgres type in the example's schema, nullability and default."""

    name: str
    type: ColumnType
    nullable: bool = False
    """Postgres NOT NULL is the default in the example; nullable columns say so."""
    default: str | None = None
    """`false`, `now()` or None; serial columns default to the next id."""

    @property
    def graphql_scalar(self) -> str:
        """Hasura's scalar name for the column's type."""
        return {
            "text": "String",
            "integer": "Int",
            "serial": "Int",
            "boolean": "Boolean",
            "timestamptz": "timestamptz",
        }[self.type]

    @property
    def sqlite_type(self) -> str:
        return {"text": "TEXT", "integer": "INTEGER", "serial": "INTEGER", "boolean": "INTEGER", "timestamptz": "TEXT"}[
            self.type
        ]


@dataclass(frozen=True)
class Table:
    """A table (or read-only view) exposed through GraphQL as Hasura tracks it."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    """Empty when the table has none (Hasura then offers no `_by_pk` fields)."""
    view_sql: str | None = None
    """For a view: its SELECT; views are read-only."""
    schema: str = "public"

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def is_view(self) -> bool:
        return self.view_sql is not None

    @property
    def serial_column(self) -> Column | None:
        return next((c for c in self.columns if c.type == "serial"), None)


def _bool(name: str, default: str | None = "false", nullable: bool = False) -> Column:
    return Column(name, "boolean", nullable=nullable, default=default)


ORDERS = Table(
    "orders",
    (
        Column("order_id", "text"),
        Column("user_id", "text"),
        Column("restaurant_id", "integer"),
        Column("address", "text"),
        _bool("placed"),
        _bool("approved"),
        _bool("driver_assigned"),
        _bool("food_picked"),
        _bool("delivered"),
        _bool("order_valid", nullable=True),
        _bool("payment_valid", default=None, nullable=True),
        Column("created", "timestamptz", default="now()"),
    ),
    primary_key=("order_id",),
)
MENU_ITEMS = Table("menu_items", (Column("name", "text"),))
ITEMS = Table(
    "items", (Column("id", "serial"), Column("order_id", "text"), Column("item", "text")), primary_key=("id",)
)
ASSIGNMENT = Table("assignment", (Column("order_id", "text"), Column("driver_id", "integer")))
PAYMENTS = Table(
    "payments",
    (Column("id", "serial"), Column("order_id", "text"), Column("type", "text"), Column("amount", "integer")),
    primary_key=("id",),
)


def _count_view(name: str, where: str | None) -> Table:
    sql = "SELECT count(*) AS count FROM orders" + (f" WHERE {where}" if where else "")
    return Table(name, (Column("count", "integer", nullable=True),), view_sql=sql)


VIEWS = (
    _count_view("number_orders", None),
    _count_view("number_order_validated", "order_valid"),
    _count_view("number_order_payment_valid", "payment_valid"),
    _count_view("number_order_approved", "approved"),
    _count_view("number_order_driver_assigned", "driver_assigned"),
)

FOREIGN_KEYS: dict[str, tuple[str, str, str]] = {
    "items": ("order_id", "orders", "order_id"),
    "assignment": ("order_id", "orders", "order_id"),
    "payments": ("order_id", "orders", "order_id"),
}
"""table → (column, referenced table, referenced column)."""

TABLES: tuple[Table, ...] = (ORDERS, MENU_ITEMS, ITEMS, ASSIGNMENT, PAYMENTS, *VIEWS)

MENU_SEED = ("pizza", "mangoes", "chocolate milkshake", "burger", "burger", "idli")
"""The example's seed rows of menu_items (duplicates included, as in `schema.sql`)."""
