"""Correlation: which events belong together in a flow. `CorrelationConfig` says which column of each table holds a
flow's key (derived from a capture by `CorrelationConfig.auto`); `iter_flow_keys` lists a capture's flows;
`member_events` gathers one flow's events (its key's rows, foreign-key rows through the full-text index, trace
mates). Used by `flows` and the window's flow list; the SQL is in `inspector.store.analysis_queries`."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from inspector.services.analysis.capture_reading import Source, connection, loads
from inspector.store import analysis_queries as queries
from inspector.store.analysis_queries import EventRow
from inspector.store.filter_sql import register_functions

TRACE_LIMIT = 10_000
"""Events read per trace id when completing a flow."""


def _singular(table: str) -> str:
    return table[:-1] if table.endswith("s") else table


def _key_column(table: str, columns: Sequence[str]) -> str | None:
    """The column `core.events.row_key` takes its value from, for a row with these columns."""
    singular = _singular(table)
    for key in ("id", f"{singular}_id", f"{table}_id"):
        if key in columns:
            return key
    return next((c for c in columns if c.endswith("_id")), None)


@dataclass(frozen=True)
class CorrelationConfig:
    """Which column of each table holds a flow's key: `CorrelationConfig({"orders": "order_id", ...})`. Tables not
    listed use their own row key. `CorrelationConfig.auto(conn)` derives it from a capture (see the package doc)."""

    columns: Mapping[str, str] = field(default_factory=dict)
    use_trace: bool = True
    """Events sharing a trace id with a flow's events join it."""
    row_key_columns: Mapping[str, str] = field(default_factory=dict)
    """For each table, the column its `row_key` comes from, when known (lets a lookup use the `row_key` index)."""

    def column(self, table: str) -> str | None:
        return self.columns.get(table) or self.row_key_columns.get(table)

    def value(self, table: str, payload: Any) -> tuple[str | None, str | None]:
        """(key name, key value as text) of an event's payload."""
        data = payload.get("data") if isinstance(payload, Mapping) else None
        new = data.get("new") if isinstance(data, Mapping) else None
        old = data.get("old") if isinstance(data, Mapping) else None
        name = self.columns.get(table)
        if name is None:
            row = new if isinstance(new, Mapping) and new else old
            name = _key_column(table, list(row)) if isinstance(row, Mapping) else None
        if name is None:
            return None, None
        for row in (new, old):
            if isinstance(row, Mapping) and row.get(name) is not None:
                return name, _text(row[name])
        return name, None

    def uses_row_key(self, table: str) -> bool:
        """Whether the table's key is its `row_key` (so the indexed column can be used)."""
        name = self.columns.get(table)
        return name is None or self.row_key_columns.get(table) == name

    @classmethod
    def auto(cls, source: Source) -> CorrelationConfig:
        conn = connection(source)
        samples: dict[str, list[str]] = {}
        triggers_per_table: Counter[str] = Counter()
        first_seen: dict[str, float] = {}
        for trigger in queries.trigger_names(conn):
            row = queries.first_event_of(conn, trigger)
            if row is None:
                continue
            table = row[0]
            triggers_per_table[table] += 1
            first_seen[table] = min(first_seen.get(table, math.inf), row[2] if row[2] is not None else math.inf)
            if table not in samples:
                samples[table] = _columns_of(row[1])
        row_keys = {t: k for t, cols in samples.items() if (k := _key_column(t, cols)) is not None}
        if not samples:
            return cls()

        def referenced(table: str) -> int:
            fk = f"{_singular(table)}_id"
            return sum(1 for other, cols in samples.items() if other != table and fk in cols)

        root = min(samples, key=lambda t: (-referenced(t), -triggers_per_table[t], first_seen.get(t, math.inf), t))
        root_key = row_keys.get(root)
        columns: dict[str, str] = {}
        if root_key is not None:
            columns[root] = root_key
            fk = f"{_singular(root)}_id"
            for table, cols in samples.items():
                if table == root:
                    continue
                if fk in cols:
                    columns[table] = fk
                elif root_key != "id" and root_key in cols:
                    columns[table] = root_key
        return cls(columns, row_key_columns=row_keys)

    def completed(self, source: Source) -> CorrelationConfig:
        """This configuration with the capture's row-key columns filled in (so lookups can use the index)."""
        if self.row_key_columns:
            return self
        return dataclasses.replace(self, row_key_columns=CorrelationConfig.auto(source).row_key_columns)


def _columns_of(payload: Any) -> list[str]:
    try:
        data = json.loads(payload).get("data") or {}
    except (TypeError, ValueError, AttributeError):
        return []
    row = data.get("new") or data.get("old") or {}
    return list(row) if isinstance(row, dict) else []


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class FlowKey(NamedTuple):
    """One flow in a capture: its key, the key's column, when its first event was created, how many events it has."""

    key: str
    key_name: str
    started: float | None
    events: int


def iter_flow_keys(
    source: Source, where: str = "1", params: Iterable[Any] = (), config: CorrelationConfig | None = None
) -> Iterator[FlowKey]:
    """The flows the events matching `where` belong to, in the order their first event was created."""
    conn = connection(source)
    register_functions(conn)
    config = CorrelationConfig.auto(conn) if config is None else config.completed(conn)
    extracted = {table: column for table, column in config.columns.items() if not config.uses_row_key(table)}
    key_names = {**config.row_key_columns, **config.columns}
    for key, key_name, started, count in queries.flow_keys(
        conn, where.strip() or "1", tuple(params), extracted, key_names
    ):
        yield FlowKey(key, key_name, started, count)


def _fts_query(key: str) -> str | None:
    tokens = re.findall(r"\w+", key)
    return '"' + " ".join(tokens) + '"' if tokens else None


def member_events(source: Source, key: str, config: CorrelationConfig) -> dict[str, EventRow]:
    """The events of the flow keyed by `key`: those whose correlation value is `key`, then their trace mates."""
    conn = connection(source)
    members: dict[str, EventRow] = {}
    for event in queries.events_with_row_key(conn, key):
        if config.value(event.table, loads(event.payload))[1] == key:
            members[event.id] = event
    # Tables keyed by a column other than their row key (a foreign key): the full-text index finds their events
    # when the capture keeps one, otherwise their triggers' events are read.
    other_tables = [t for t in config.columns if not config.uses_row_key(t)]
    if other_tables:
        for event in queries.events_mentioning(conn, other_tables, key, _fts_query(key)):
            if event.id not in members and config.value(event.table, loads(event.payload))[1] == key:
                members[event.id] = event
    if config.use_trace and members:
        # Trace mates join, unless their own key column is the flow's and names another value (one mutation that
        # inserted many orders is one trace: each order is still its own flow).
        key_columns = {config.column(m.table) for m in members.values()}
        traces = sorted({e.trace_id for e in members.values() if e.trace_id})
        for trace in traces:
            for event in queries.events_of_trace(conn, trace, TRACE_LIMIT):
                if event.id in members:
                    continue
                value = config.value(event.table, loads(event.payload))[1]
                if value is None or value == key or config.column(event.table) not in key_columns:
                    members[event.id] = event
    return members
