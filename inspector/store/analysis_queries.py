"""Every SQL statement of the delivery analysis (`inspector.services.analysis`), as typed functions over a capture's
connection: trigger snapshots, the events pass (per-event figures packed into one integer and grouped in C), the
invocations pass, the index seeks of the cold-start and out-of-order detectors, example and flag queries, the
members, invocations and subscription messages of a flow, and the time-bucketed timeline.

Owns the SQL; the analysis owns what it means. The anomaly detectors that are a condition on one event's own figures
(`inspector.services.analysis.detectors`) hand their predicate over `events e` to `example_rows` and `write_flags`.
Filters come in as an SQL predicate over `events e` with its parameters (a compiled display filter). Temporary tables
are made with DDL only (no INSERT), which opens no transaction: a live capture's reader keeps seeing new rows.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections import Counter
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from inspector.store.capture_file import dumps, message_data_sql, message_diffs
from inspector.store.filter_sql import OUTCOME_SQL

OPEN_STATUSES = ("pending", "retrying", "in-flight")
"""Event statuses that are neither delivered nor final."""
STATUS_CODES = ("delivered", "failed", "pending", "retrying", "in-flight", "archived")
DELIVERIES_SQL = "i.source <> 'replay'"
"""The invocations that were deliveries of an event (Hasura's, and the relay's forwards): a replay is an attempt
Inspector made afterwards (Edit and replay, `inspector replay`), kept beside the evidence, never counted in it."""
EXACT_EVENTS = 200_000
"""Captures of up to this many events get exact latency histograms; bigger ones a pseudo-random sample of
`SAMPLED_EVENTS`."""
SAMPLED_EVENTS = 100_000
CHUNK = 500


class EventRow(NamedTuple):
    """One event as a flow reads it."""

    id: str
    trigger: str
    table: str
    op: str
    created: float
    seq: int
    payload: str | None
    status: str
    delivered_ts: float | None
    first_attempt_ts: float | None
    attempts: int
    successes: int
    row_key: str | None
    trace_id: str | None
    role: str | None


class InvocationRow(NamedTuple):
    """One invocation (delivery attempt) as a flow reads it."""

    id: str
    event_id: str
    attempt: int
    http_status: int | None
    status: int | None
    response: str | None
    created: float
    duration_ms: float | None
    source: str
    outcome: str
    """ok, handler_error, timeout or connection_failure (`inspector.core.events.invocation_outcome`, in SQL)."""


class PartitionRow(NamedTuple):
    """One event of a (trigger, table, row key) partition, for the out-of-order detector."""

    id: str
    trigger: str
    table: str
    row_key: str | None
    op: str
    created: float
    seq: int
    delivered_ts: float | None
    status: str
    payload: str | None


class EventFigures(NamedTuple):
    """What the events pass knows of a group of events (one distinct packed value): their trigger, status, number of
    attempts and of 2xx answers, whether the first attempt came `slow_first_s` or more after creation, whether they
    were created before the pending cutoff, and their latency histogram buckets (None: not sampled or no value)."""

    trigger: str
    status: str
    attempts: int
    successes: int
    slow_first: bool
    before_cutoff: bool
    first_bucket: float | None
    delivery_bucket: float | None
    sampled: bool


class ExampleRow(NamedTuple):
    """An event that matches at least one per-event anomaly condition, in capture order."""

    id: str
    trigger: str
    created: float
    attempts: int
    successes: int
    status: str


class InvocationPassRow(NamedTuple):
    """An invocation the invocations pass hands to the detectors: failed attempts, retries, and 2xx answers whose body
    may be wrong (`text` is the response for failed attempts and for those 2xx answers, else None)."""

    event_id: str
    trigger: str
    attempt: int | None
    http_status: int | None
    status: int | None
    created: float
    duration_ms: float | None
    text: str | None
    outcome: str
    """ok, handler_error, timeout or connection_failure (`inspector.core.events.invocation_outcome`, in SQL)."""


# --- triggers and the capture's extent ------------------------------------------------------------------------------


def trigger_names(conn: sqlite3.Connection) -> list[str]:
    """Distinct trigger names, by seeking through the `events_trigger` index (one seek per trigger)."""
    names: list[str] = []
    row = conn.execute("SELECT min(trigger_name) FROM events").fetchone()
    while row is not None and row[0] is not None:
        names.append(str(row[0]))
        row = conn.execute("SELECT min(trigger_name) FROM events WHERE trigger_name > ?", (row[0],)).fetchone()
    return names


def first_event_of(conn: sqlite3.Connection, trigger: str) -> tuple[str, str | None, float | None] | None:
    """(table, payload, created_ts) of the first event of a trigger."""
    row = conn.execute(
        "SELECT table_name, payload, created_ts FROM events WHERE trigger_name = ? ORDER BY created_ts LIMIT 1",
        (trigger,),
    ).fetchone()
    return None if row is None else (str(row[0]), row[1], row[2])


def trigger_snapshots(conn: sqlite3.Connection) -> list[tuple[str, str | None, str | None]]:
    """(name, table, configuration JSON) of the latest snapshot of each trigger; none in a capture without the table."""
    try:
        rows = conn.execute(
            "SELECT name, table_name, config FROM trigger_snapshots WHERE seq IN "
            "(SELECT max(seq) FROM trigger_snapshots GROUP BY name)"
        ).fetchall()
    except sqlite3.OperationalError:
        return []
    return [(str(name), table, text) for name, table, text in rows]


def last_activity(conn: sqlite3.Connection) -> float | None:
    """The capture's last activity on the server's clock: the latest event creation or invocation."""
    event = conn.execute("SELECT max(created_ts) FROM events").fetchone()[0]
    invocation = conn.execute(
        "SELECT max(created_ts) FROM (SELECT created_ts FROM invocations ORDER BY seq DESC LIMIT 1000)"
    ).fetchone()[0]
    times = [t for t in (event, invocation) if t is not None]
    return max(times) if times else None


def span(
    conn: sqlite3.Connection, where: str, params: tuple[Any, ...], filtered: bool
) -> tuple[float | None, float | None]:
    """Creation times of the first and last events matching the filter."""
    if not filtered:  # two statements: SQLite answers a lone min() or max() from the index
        first = conn.execute("SELECT min(created_ts) FROM events").fetchone()[0]
        return first, conn.execute("SELECT max(created_ts) FROM events").fetchone()[0]
    row = conn.execute(f"SELECT min(e.created_ts), max(e.created_ts) FROM events e WHERE ({where})", params).fetchone()
    return row[0], row[1]


# --- histogram buckets ----------------------------------------------------------------------------------------------


def bucket_index_sql(value: str) -> str:
    """SQL for the index (0 to 16000, 16383 for none) of a latency's histogram bucket (0.1 ms below 100 ms, then 1%):
    two fit in one integer."""
    v = f"({value})"
    return (
        f"CASE WHEN {v} IS NULL THEN 16383 WHEN {v} < 0 THEN 0 WHEN {v} < 100 THEN CAST({v} * 10 AS INTEGER) "
        f"WHEN {v} < 1000 THEN 900 + CAST({v} AS INTEGER) WHEN {v} < 10000 THEN 1800 + CAST({v} / 10 AS INTEGER) "
        f"WHEN {v} < 100000 THEN 2700 + CAST({v} / 100 AS INTEGER) "
        f"WHEN {v} < 1000000 THEN 3600 + CAST({v} / 1000 AS INTEGER) "
        f"WHEN {v} < 10000000 THEN 4500 + CAST({v} / 10000 AS INTEGER) "
        f"ELSE min(5400 + CAST({v} / 100000 AS INTEGER), 16000) END"
    )


def bucket_of_index(index: int) -> float | None:
    """The bucket's lower bound (ms) of a `bucket_index_sql` index."""
    if index == 16383:
        return None
    if index < 1000:
        return index / 10
    tier, base = divmod(index - 1000, 900)
    return float((base + 100) * 10**tier) if tier < 6 else float((index - 5400) * 100000)


# --- the events pass ------------------------------------------------------------------------------------------------


def event_figures(
    conn: sqlite3.Connection,
    where: str,
    params: tuple[Any, ...],
    triggers: Sequence[str],
    slow_first_s: float,
    cutoff: float | None,
) -> Iterator[tuple[EventFigures, int]]:
    """One pass over the events matching the filter, grouped by their figures: SQLite packs each row's figures into
    one integer (trigger, status, attempts, successes, a slow first attempt, created before the cutoff) and `Counter`
    groups them in C: cheaper than SQLite's own GROUP BY with a dozen aggregates. Latencies are bucketed for every
    event of a small capture, for a pseudo-random sample of `SAMPLED_EVENTS` in a big one."""
    extent = conn.execute("SELECT max(seq) - min(seq) + 1 FROM events").fetchone()[0] or 0
    threshold = int(SAMPLED_EVENTS / max(extent, 1) * 2**32)
    sampled = "1" if extent <= EXACT_EVENTS else f"(e.seq * 2654435761) % 4294967296 < {threshold}"
    first = bucket_index_sql("(e.first_attempt_ts - e.created_ts) * 1000")
    delivery = bucket_index_sql("(e.delivered_ts - e.created_ts) * 1000")
    statuses = " ".join(f"WHEN '{name}' THEN {code}" for code, name in enumerate(STATUS_CODES))
    names = list(triggers)[:64]
    trigger_case = f"CASE e.trigger_name {' '.join(['WHEN ? THEN ' + str(i) for i in range(len(names))])} ELSE 127 END"
    if not names:
        trigger_case = "127"
    packed = (
        f"(((({trigger_case}) * 8 + (CASE e.status {statuses} ELSE 7 END)) * 65536 + min(e.attempts, 65535)) * 256 "
        f"+ min(e.successes, 255)) * 4 + coalesce(e.first_attempt_ts - e.created_ts >= ?, 0) * 2 "
        "+ coalesce(e.created_ts < ?, 0)"
    )
    rows = Counter(
        conn.execute(
            f"SELECT {packed}, {'e.trigger_name' if len(triggers) > 64 else 'NULL'}, "
            f"CASE WHEN {sampled} THEN ({first}) * 16384 + ({delivery}) END FROM events e WHERE ({where})",
            (*names, slow_first_s, math.inf if cutoff is None else cutoff, *params),
        )
    )
    for (key, name, buckets), n in rows.items():
        key, old = divmod(key, 2)
        key, slow_first = divmod(key, 2)
        key, successes = divmod(key, 256)
        key, attempts = divmod(key, 65536)
        trigger_index, status_code = divmod(key, 8)
        trigger = name if name is not None else names[trigger_index] if trigger_index < len(names) else ""
        status = STATUS_CODES[status_code] if status_code < len(STATUS_CODES) else ""
        first_bucket = delivery_bucket = None
        if buckets is not None:
            first_index, delivery_index = divmod(buckets, 16384)
            first_bucket, delivery_bucket = bucket_of_index(first_index), bucket_of_index(delivery_index)
        yield (
            EventFigures(
                trigger,
                status,
                attempts,
                successes,
                bool(slow_first),
                bool(old),
                first_bucket,
                delivery_bucket,
                buckets is not None,
            ),
            n,
        )


# --- examples, restriction, flags -----------------------------------------------------------------------------------


def example_rows(
    conn: sqlite3.Connection, where: str, params: tuple[Any, ...], conditions: Sequence[tuple[str, tuple[Any, ...]]]
) -> Generator[ExampleRow, None, None]:
    """Events matching the filter and any of `conditions` (SQL predicates over `events e` with their parameters), in
    capture order: one scan in `seq` order (not through an index: a filter's index would make SQLite sort). The
    caller stops reading when it has what it needs, and closes the generator (which closes the cursor)."""
    if not conditions:
        return
    any_condition = " OR ".join(f"({sql})" for sql, _params in conditions)
    condition_params = tuple(p for _sql, ps in conditions for p in ps)
    cursor = conn.execute(
        "SELECT e.id, e.trigger_name, e.created_ts, e.attempts, e.successes, e.status FROM events e NOT INDEXED "
        f"WHERE ({any_condition}) AND ({where}) ORDER BY e.seq",
        (*condition_params, *params),
    )
    try:
        for row in cursor:
            yield ExampleRow(*row)
    finally:
        cursor.close()


def row_keys(conn: sqlite3.Connection, event_ids: Sequence[str]) -> dict[str, str | None]:
    """The row key of each of these events (by id, through the primary key's index)."""
    found: dict[str, str | None] = {}
    ids = list(dict.fromkeys(event_ids))
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        marks = ",".join("?" * len(chunk))
        found.update(
            (str(r[0]), r[1]) for r in conn.execute(f"SELECT id, row_key FROM events WHERE id IN ({marks})", chunk)
        )
    return found


def attempts_of(conn: sqlite3.Connection, event_id: str) -> list[InvocationRow]:
    """An event's deliveries in the order logged (the response only for failed attempts); replays left out."""
    return [
        InvocationRow(*raw)
        for raw in conn.execute(
            "SELECT id, event_id, attempt, http_status, status, CASE WHEN http_status IS NULL THEN response END, "
            f"created_ts, duration_ms, source, {OUTCOME_SQL} FROM invocations i WHERE event_id = ? "
            f"AND {DELIVERIES_SQL} ORDER BY created_ts, seq",
            (event_id,),
        )
    ]


def matching_ids(conn: sqlite3.Connection, ids: Sequence[str], where: str, params: tuple[Any, ...]) -> set[str]:
    """The ids among `ids` of events matching the filter, looked up by id (CROSS JOIN keeps SQLite from walking an
    index the filter could use instead)."""
    conn.execute("DROP TABLE IF EXISTS temp.inspector_ids")
    conn.execute("CREATE TEMP TABLE inspector_ids AS SELECT DISTINCT value AS id FROM json_each(?)", (json.dumps(ids),))
    try:
        return {
            r[0]
            for r in conn.execute(
                f"SELECT e.id FROM temp.inspector_ids t CROSS JOIN events e ON e.id = t.id WHERE ({where})", params
            )
        }
    finally:
        conn.execute("DROP TABLE temp.inspector_ids")


def write_flags(
    conn: sqlite3.Connection,
    kinds: Sequence[tuple[str, tuple[str, tuple[Any, ...]] | None]],
    flagged: Mapping[str, Iterable[str]],
    where: str,
    params: tuple[Any, ...],
) -> int:
    """Write `events.flags` (comma-separated kinds in the order of `kinds`, NULL for none) for the events matching
    the filter, in one transaction, touching only rows whose flags change; returns how many changed. Each kind comes
    with its SQL predicate over `events e` and its parameters, or None for kinds found in Python, whose event ids are
    in `flagged`."""

    def condition(kind: str, predicate: tuple[str, tuple[Any, ...]] | None) -> tuple[str, tuple[Any, ...]]:
        if predicate is not None:
            return predicate
        return f"e.id IN (SELECT id FROM temp.inspector_flagged WHERE kind = '{kind}')", ()

    conditions = [(kind, *condition(kind, predicate)) for kind, predicate in kinds]
    expression = (
        "nullif(rtrim("
        + " || ".join(f"CASE WHEN {sql} THEN '{kind},' ELSE '' END" for kind, sql, _params in conditions)
        + ", ','), '')"
    )
    part_params = [p for _kind, _sql, ps in conditions for p in ps]
    any_condition = " OR ".join(f"({sql})" for _kind, sql, _params in conditions)
    began = not conn.in_transaction
    if began:
        conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS inspector_flagged (id TEXT, kind TEXT)")
        conn.execute("CREATE INDEX IF NOT EXISTS temp.inspector_flagged_id ON inspector_flagged (id, kind)")
        conn.execute("DELETE FROM temp.inspector_flagged")
        conn.executemany(
            "INSERT INTO temp.inspector_flagged (id, kind) VALUES (?, ?)",
            ((event_id, kind) for kind, ids in flagged.items() for event_id in ids),
        )
        conn.execute("DROP TABLE IF EXISTS temp.inspector_new_flags")
        conn.execute(
            f"CREATE TEMP TABLE inspector_new_flags AS SELECT e.seq AS seq, {expression} AS flags FROM events e "
            f"WHERE ({where}) AND (e.flags IS NOT NULL OR {any_condition})",
            (*part_params, *params, *part_params),
        )
        conn.execute("CREATE UNIQUE INDEX temp.inspector_new_flags_seq ON inspector_new_flags (seq)")
        changed = conn.execute(
            "UPDATE events SET flags = (SELECT n.flags FROM temp.inspector_new_flags n WHERE n.seq = events.seq) "
            "WHERE seq IN (SELECT seq FROM temp.inspector_new_flags) "
            "AND flags IS NOT (SELECT n.flags FROM temp.inspector_new_flags n WHERE n.seq = events.seq)"
        ).rowcount
        conn.execute("DROP TABLE temp.inspector_new_flags")
        conn.execute("DELETE FROM temp.inspector_flagged")
        if began:
            conn.execute("COMMIT")
    except BaseException:
        if began and conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return int(changed)


# --- the invocations pass -------------------------------------------------------------------------------------------

_BODY_CANDIDATE = (
    "(i.response GLOB '*rror*' OR NOT (i.response GLOB '*\"body\":\"{*' OR i.response GLOB '*\"body\":\"[*'))"
)


def invocation_pass(
    conn: sqlite3.Connection, where: str = "1", params: tuple[Any, ...] = ()
) -> Iterator[InvocationPassRow]:
    """Every failed attempt, retry, and 2xx answer whose text contains "rror" or whose body does not start as a JSON
    object or array (deliveries only: replays are not the event's attempts), in capture order (with a filter, only
    those of the events matching it, collected first into a temporary table). Materialised in one statement, so
    that SQLite does the whole scan without taking the GIL back per row (this pass runs in a worker thread beside the
    events pass)."""
    conn.execute("DROP TABLE IF EXISTS temp.inspector_invocation_scan")
    chosen = ""
    if where != "1":
        conn.execute("DROP TABLE IF EXISTS temp.inspector_chosen")
        conn.execute(f"CREATE TEMP TABLE inspector_chosen AS SELECT e.id FROM events e WHERE ({where})", params)
        conn.execute("CREATE UNIQUE INDEX temp.inspector_chosen_id ON inspector_chosen (id)")
        chosen = " AND i.event_id IN (SELECT id FROM temp.inspector_chosen)"
    conn.execute(
        "CREATE TEMP TABLE inspector_invocation_scan AS "
        "SELECT i.event_id, i.trigger_name, i.attempt, i.http_status, i.status, i.created_ts, i.duration_ms, "
        "CASE WHEN i.http_status IS NULL THEN i.response "
        f"WHEN +i.http_status BETWEEN 200 AND 299 AND {_BODY_CANDIDATE} THEN i.response END AS text, "
        f"{OUTCOME_SQL} AS outcome FROM invocations i "
        f"WHERE (i.http_status IS NULL OR +i.http_status NOT BETWEEN 200 AND 299 OR i.attempt > 1 OR {_BODY_CANDIDATE})"
        f" AND {DELIVERIES_SQL}{chosen} ORDER BY i.seq"
    )
    for row in conn.execute("SELECT * FROM temp.inspector_invocation_scan ORDER BY rowid"):
        yield InvocationPassRow(*row)


def slow_first_attempts(
    conn: sqlite3.Connection, where: str, params: tuple[Any, ...], trigger: str, at_least_s: float
) -> list[tuple[str, float, float]]:
    """(event id, created_ts, first_attempt_ts) of the events of `trigger` matching the filter whose first attempt
    came `at_least_s` or more after creation, in capture order."""
    return [
        (str(r[0]), r[1], r[2])
        for r in conn.execute(
            "SELECT e.id, e.created_ts, e.first_attempt_ts FROM events e WHERE e.trigger_name = ? AND "
            f"e.first_attempt_ts - e.created_ts >= ? AND ({where}) ORDER BY e.seq",
            (trigger, at_least_s, *params),
        )
    ]


# --- out of order ---------------------------------------------------------------------------------------------------

_PARTITION_COLUMNS = (
    "e.id, e.trigger_name, e.table_name, e.row_key, e.op, e.created_ts, e.seq, e.delivered_ts, e.status, e.payload"
)


def repeated_row_events(conn: sqlite3.Connection, triggers: Sequence[str]) -> Iterator[PartitionRow]:
    """The events of every row key for which one trigger has more than one event, ordered by (trigger, table, row
    key, creation, capture order): candidate keys come from the `row_key` index, with a bit per trigger so that no
    sort is needed."""
    if not triggers:
        return
    if len(triggers) <= 60:
        bits = " ".join(f"WHEN ? THEN {1 << i}" for i in range(len(triggers)))
        popcount = " + ".join(f"((s >> {i}) & 1)" for i in range(len(triggers)))
        candidates = (
            f"SELECT row_key FROM (SELECT row_key, count(*) AS n, sum(CASE trigger_name {bits} ELSE 0 END) AS s "
            "FROM events WHERE row_key IS NOT NULL GROUP BY row_key HAVING count(*) > 1) "
            f"WHERE n > {popcount}"
        )
        candidate_params: tuple[Any, ...] = tuple(triggers)
    else:
        candidates = (
            "SELECT row_key FROM events WHERE row_key IS NOT NULL GROUP BY row_key "
            "HAVING count(*) > count(DISTINCT trigger_name)"
        )
        candidate_params = ()
    conn.execute("DROP TABLE IF EXISTS temp.inspector_candidate_keys")
    conn.execute(f"CREATE TEMP TABLE inspector_candidate_keys AS {candidates}", candidate_params)
    for raw in conn.execute(
        f"SELECT {_PARTITION_COLUMNS} FROM events e "
        "WHERE e.row_key IN (SELECT row_key FROM temp.inspector_candidate_keys) "
        "ORDER BY e.trigger_name, e.table_name, e.row_key, e.created_ts, e.seq"
    ):
        yield PartitionRow(*raw)
    conn.execute("DROP TABLE temp.inspector_candidate_keys")


# --- cold starts ----------------------------------------------------------------------------------------------------


def idle_gaps(conn: sqlite3.Connection, trigger: str, idle: float) -> Iterator[tuple[float, float | None]]:
    """(created_ts, previous event's created_ts or None) of the first event of `trigger` and of each one created
    `idle` seconds or more after the one before it, found with index seeks (about two per gap of `idle`)."""
    first = conn.execute("SELECT min(created_ts) FROM events WHERE trigger_name = ?", (trigger,)).fetchone()[0]
    if first is None:
        return
    yield first, None
    current = first
    while True:
        last = conn.execute(
            "SELECT max(created_ts) FROM events WHERE trigger_name = ? AND created_ts > ? AND created_ts < ?",
            (trigger, current, current + idle),
        ).fetchone()[0]
        if last is not None:
            current = last
            continue
        following = conn.execute(
            "SELECT min(created_ts) FROM events WHERE trigger_name = ? AND created_ts >= ?", (trigger, current + idle)
        ).fetchone()[0]
        if following is None:
            return
        yield following, current
        current = following


def previous_creation(conn: sqlite3.Connection, trigger: str, created: float) -> float | None:
    """When the event of `trigger` created last before `created` was created."""
    value: float | None = conn.execute(
        "SELECT max(created_ts) FROM events WHERE trigger_name = ? AND created_ts < ?", (trigger, created)
    ).fetchone()[0]
    return value


def neighbour_first_attempts(
    conn: sqlite3.Connection, trigger: str, created: float, before: bool, limit: int
) -> list[tuple[float, float | None]]:
    """(created_ts, first_attempt_ts) of up to `limit` events of `trigger` created just before (or just after)
    `created`, in creation order."""
    rows = conn.execute(
        "SELECT created_ts, first_attempt_ts FROM events WHERE trigger_name = ? AND "
        + ("created_ts < ? ORDER BY created_ts DESC" if before else "created_ts > ? ORDER BY created_ts")
        + " LIMIT ?",
        (trigger, created, limit),
    ).fetchall()
    rows.sort()
    return [(r[0], r[1]) for r in rows]


def attempted_between(conn: sqlite3.Connection, trigger: str, created: float, start: float, end: float) -> bool:
    """Whether an event of `trigger` created at `created` had an attempt logged strictly between `start` and `end`."""
    return (
        conn.execute(
            "SELECT 1 FROM events e JOIN invocations i ON i.event_id = e.id WHERE e.trigger_name = ? AND "
            f"e.created_ts = ? AND i.created_ts > ? AND i.created_ts < ? AND {DELIVERIES_SQL} LIMIT 1",
            (trigger, created, start, end),
        ).fetchone()
        is not None
    )


def first_attempts_created_at(conn: sqlite3.Connection, trigger: str, created: float) -> list[tuple[str, float]]:
    """(event id, first_attempt_ts) of the attempted events of `trigger` created at `created`."""
    return [
        (str(r[0]), r[1])
        for r in conn.execute(
            "SELECT id, first_attempt_ts FROM events WHERE trigger_name = ? AND created_ts = ? AND first_attempt_ts "
            "IS NOT NULL",
            (trigger, created),
        ).fetchall()
    ]


# --- the timeline ---------------------------------------------------------------------------------------------------

_FAILED_INVOCATIONS = (
    f"SELECT event_id, created_ts FROM invocations i WHERE http_status IS NULL AND {DELIVERIES_SQL} "
    f"UNION ALL SELECT event_id, created_ts FROM invocations i WHERE http_status < 200 AND {DELIVERIES_SQL} "
    f"UNION ALL SELECT event_id, created_ts FROM invocations i WHERE http_status > 299 AND {DELIVERIES_SQL}"
)
"""Unsuccessful deliveries (replays left out)."""


def created_per_bucket(
    conn: sqlite3.Connection, where: str, params: tuple[Any, ...], bucket_seconds: float, first: int
) -> Iterator[tuple[int, float | None, int]]:
    """(time bucket index from `first`, delivery latency bucket in ms or None, events) of the events matching the
    filter; (time bucket, latency bucket) are packed in one integer and counted in C, as in the events pass."""
    delivery = bucket_index_sql("(e.delivered_ts - e.created_ts) * 1000")
    counts = Counter(
        conn.execute(
            f"SELECT (CAST(e.created_ts / ? AS INTEGER) - ?) * 16384 + ({delivery}) FROM events e "
            f"WHERE ({where}) AND e.created_ts IS NOT NULL",
            (bucket_seconds, first, *params),
        )
    )
    for (key,), n in counts.items():
        index, latency = divmod(key, 16384)
        yield index, bucket_of_index(latency), n


def failures_per_bucket(
    conn: sqlite3.Connection, where: str, params: tuple[Any, ...], bucket_seconds: float, first: int
) -> Iterator[tuple[int, int]]:
    """(time bucket index from `first`, deliveries without a 2xx answer logged in it) for the events matching the
    filter."""
    join = "" if where == "1" else f" JOIN events e ON e.id = i.event_id WHERE ({where})"
    for index, n in conn.execute(
        f"SELECT CAST(i.created_ts / ? AS INTEGER) - ? AS b, count(*) FROM ({_FAILED_INVOCATIONS}) i{join} GROUP BY b",
        (bucket_seconds, first, *(params if join else ())),
    ):
        if index is not None:
            yield int(index), n


# --- flows ----------------------------------------------------------------------------------------------------------

_EVENT_COLUMNS = (
    "e.id, e.trigger_name, e.table_name, e.op, e.created_ts, e.seq, e.payload, e.status, e.delivered_ts, "
    "e.first_attempt_ts, e.attempts, e.successes, e.row_key, e.trace_id, e.session_role"
)


def flow_keys(
    conn: sqlite3.Connection,
    where: str,
    params: tuple[Any, ...],
    extracted: Mapping[str, str],
    key_names: Mapping[str, str],
) -> Iterator[tuple[str, str, float | None, int]]:
    """(correlation value, its column's name, first creation, events) of the flows the events matching the filter
    belong to, in the order their first event was created. The value is the `row_key`, except for the tables in
    `extracted`, whose value is `data.new.<column>` else `data.old.<column>`; `key_names` names each table's column
    (`row_key` for the others)."""
    value_cases: list[str] = []
    value_params: list[Any] = []
    for table, column in extracted.items():
        value_cases.append("WHEN ? THEN CAST(coalesce(json_extract(e.payload, ?), json_extract(e.payload, ?)) AS TEXT)")
        value_params.extend([table, f"$.data.new.{_json_key(column)}", f"$.data.old.{_json_key(column)}"])
    value = f"CASE e.table_name {' '.join(value_cases)} ELSE e.row_key END" if value_cases else "e.row_key"
    name = (
        f"CASE e.table_name {' '.join(['WHEN ? THEN ?'] * len(key_names))} ELSE 'row_key' END"
        if key_names
        else "'row_key'"
    )
    name_params = [x for item in key_names.items() for x in item]
    cursor = conn.execute(
        f"SELECT k, max(kn), min(created), count(*) FROM (SELECT {value} AS k, {name} AS kn, e.created_ts AS created "
        f"FROM events e WHERE ({where})) WHERE k IS NOT NULL GROUP BY k ORDER BY 3, 1",
        (*value_params, *name_params, *params),
    )
    for key, key_name, started, count in cursor:
        yield str(key), str(key_name), started, int(count)


def _json_key(column: str) -> str:
    return column if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", column) else json.dumps(column)


def events_with_row_key(conn: sqlite3.Connection, key: str) -> list[EventRow]:
    return [
        EventRow(*raw) for raw in conn.execute(f"SELECT {_EVENT_COLUMNS} FROM events e WHERE e.row_key = ?", (key,))
    ]


def events_mentioning(
    conn: sqlite3.Connection, tables: Sequence[str], key: str, fts_query: str | None
) -> list[EventRow]:
    """Events of `tables` whose payload mentions `key`: through the full-text index when the capture keeps one (with
    `fts_query`), else by reading those tables' events. A superset: the caller checks each payload."""
    marks = ",".join("?" * len(tables))
    fts = (
        fts_query is not None
        and conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = 'events_ai'").fetchone()
    )
    if fts:
        rows = conn.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events e WHERE e.seq IN (SELECT rowid FROM events_fts WHERE "
            f"events_fts MATCH ?) AND e.table_name IN ({marks})",
            (fts_query, *tables),
        )
    else:
        rows = conn.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events e WHERE e.table_name IN ({marks}) AND instr(e.payload, ?)",
            (*tables, key),
        )
    return [EventRow(*raw) for raw in rows]


def events_of_trace(conn: sqlite3.Connection, trace: str, limit: int) -> list[EventRow]:
    return [
        EventRow(*raw)
        for raw in conn.execute(f"SELECT {_EVENT_COLUMNS} FROM events e WHERE e.trace_id = ? LIMIT ?", (trace, limit))
    ]


def event_table_and_payload(conn: sqlite3.Connection, event_id: str) -> tuple[str, str | None] | None:
    row = conn.execute("SELECT table_name, payload FROM events WHERE id = ?", (event_id,)).fetchone()
    return None if row is None else (str(row[0]), row[1])


def event_by_id(conn: sqlite3.Connection, event_id: str) -> EventRow:
    return EventRow(*conn.execute(f"SELECT {_EVENT_COLUMNS} FROM events e WHERE e.id = ?", (event_id,)).fetchone())


def invocations_of(conn: sqlite3.Connection, event_ids: Sequence[str]) -> list[InvocationRow]:
    """The invocations of these events, each event's in the order logged, replays included (their `source` says
    which: the flow shows them apart)."""
    found: list[InvocationRow] = []
    for start in range(0, len(event_ids), CHUNK):
        chunk = event_ids[start : start + CHUNK]
        placeholders = ",".join("?" * len(chunk))
        found.extend(
            InvocationRow(*raw)
            for raw in conn.execute(
                "SELECT id, event_id, attempt, http_status, status, response, created_ts, duration_ms, source, "
                f"{OUTCOME_SQL} FROM invocations i WHERE event_id IN ({placeholders}) ORDER BY created_ts, seq",
                chunk,
            )
        )
    return found


def messages_mentioning(
    conn: sqlite3.Connection, key: str, start: float, end: float
) -> Iterator[tuple[int, str | None, float, str, str | None, str | None, int | None]]:
    """(operation id, operation name, received_at, type, data text, diff text, rows) of the subscription messages
    received between `start` and `end` whose data (live queries: whose diff) mentions `key`. Messages are appended in
    the order received, so the time range is a `seq` range, found by bisection."""
    bounds = conn.execute("SELECT min(seq), max(seq) FROM messages").fetchone()
    if bounds[0] is None:
        return
    low = _seq_at(conn, start, bounds[0], bounds[1])
    high = _seq_at(conn, end, bounds[0], bounds[1], after=True)
    # Live queries' diffs are derived when read (capture_file.message_diffs): their results are candidates whatever
    # they hold, and are kept below when the derived diff (or, for a first result, the data) mentions the key.
    derived = "(m.diff IS NULL AND m.type IN ('next', 'data') AND o.kind IS NOT 'stream')"
    found = conn.execute(
        f"SELECT m.seq, m.operation_id, o.name, m.received_at, m.type, {message_data_sql('m')}, m.diff, m.rows, "
        f"{derived} FROM messages m "
        "LEFT JOIN operations o ON o.id = m.operation_id WHERE m.seq BETWEEN ? AND ? AND m.received_at BETWEEN ? AND ? "
        f"AND ({derived} OR instr(coalesce(m.diff, {message_data_sql('m')}), ?)) ORDER BY m.seq",
        (low, high, start, end, key),
    ).fetchall()
    by_operation: dict[int, list[int]] = {}
    for row in found:
        if row[8] and row[1] is not None:
            by_operation.setdefault(row[1], []).append(row[0])
    diffs: dict[int, Any] = {}
    for operation_id, seqs in by_operation.items():
        diffs.update(message_diffs(conn, operation_id, seqs))
    for _seq, operation, name, received, kind, data, diff, rows, is_derived in found:
        if is_derived:
            changes = diffs.get(_seq)
            if changes is None:
                if data is None or key not in data:
                    continue
            else:
                if key not in dumps(changes):
                    continue
                diff = dumps(changes)
        yield operation, name, received, kind, data, diff, rows


def _seq_at(conn: sqlite3.Connection, at: float, low: int, high: int, after: bool = False) -> int:
    """The first message seq received at or after `at` (with `after`, the last received at or before it), allowing
    for small disorder between batches: the range is widened by a few hundred rows."""
    lo, hi = low, high
    while lo < hi:
        middle = (lo + hi) // 2
        row = conn.execute("SELECT received_at FROM messages WHERE seq >= ? ORDER BY seq LIMIT 1", (middle,)).fetchone()
        if row is None or row[0] is None or row[0] >= at:
            hi = middle
        else:
            lo = middle + 1
    return max(low, lo - 500) if not after else min(high, lo + 500)
