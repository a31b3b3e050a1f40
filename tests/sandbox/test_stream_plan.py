"""A stream's batch reads only its own rows: SQLite ends the index range at the batch's bound, whatever the `where`
says. (A bound SQLite could not use, or a `where` term taken as the range's end instead, made every batch scan the
rest of the table: a stream over N rows cost O(N^2), 600 µs a message on 100,000 rows.)"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping
from typing import Any

from inspector.sandbox import graphql_schema
from inspector.sandbox.tables import TABLES

ITEMS = next(t for t in TABLES if t.name == "items")


def stream(where: Mapping[str, Any] | None, ordering: str = "ASC") -> graphql_schema.StreamQuery:
    args = {"cursor": [{"initial_value": {"id": 0}, "ordering": ordering}], "batch_size": 1, "where": where}
    return graphql_schema.stream_query(ITEMS, args)


def items(rows: int) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, order_id TEXT, item TEXT)")
    conn.executemany("INSERT INTO items (order_id, item) VALUES ('o', 'x')", [()] * rows)
    return conn


def test_the_batch_bound_ends_the_index_range() -> None:
    conn = items(10)
    for where in (None, {"id": {"_lte": 100_000}}, {"item": {"_eq": "x"}}):
        query = stream(where)
        plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + query.sql, query.parameters(5))]
        assert plan[0] == "SEARCH items USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)", (where, plan)


def test_a_batch_costs_the_same_on_a_large_table() -> None:
    small, large = items(1_000), items(100_000)
    query = stream({"id": {"_lte": 1_000_000}})

    def per_batch(conn: sqlite3.Connection) -> float:
        started = time.perf_counter()
        for n in range(500):
            rows = conn.execute(query.sql, query.parameters(n)).fetchall()
            assert [r[0] for r in rows] == [n + 1]
        return time.perf_counter() - started

    per_batch(small)
    assert per_batch(large) < 5 * per_batch(small) + 0.05  # O(N) a batch would be about 100 times slower
