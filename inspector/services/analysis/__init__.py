"""Delivery analysis over a capture file: flows (one user action followed through tables, triggers, handlers and
subscriptions) and anomalies (what at-least-once, unordered delivery did), with per-trigger figures.

Owns correlation (which events belong together), the causal order of a flow, every anomaly detector, the per-trigger
statistics and the timeline, and writing what was found into `events.flags`. Produces the shapes of
`inspector.core.flows`. GUI-free: `inspector stats`, the window's flow and service-map views (in a worker thread) and
the benchmarks call it. Calls take a `sqlite3.Connection` or a `CaptureFile`.

How it stays fast and flat on a million events: one sequential pass over `events` (SQLite packs each row's figures
into an integer, `collections.Counter` groups them in C), one over `invocations` (only failed attempts, retries and
suspicious 2xx bodies come back to Python), index seeks for idle gaps, the `row_key` index for rows with more than
one event per trigger, and small example queries. The invocations pass and the out-of-order pass run in worker
threads on their own connections while the events pass runs (each is one SQLite statement, so they run without the
GIL). Only what was found is held in Python.

Correlation (`CorrelationConfig`): a flow is keyed by one value, by default the key of the capture's *root* table
and the foreign keys pointing at it: the root is the table whose `<singular>_id` other tables carry (the 3factor
example: `orders`, key `order_id`, so `payments.order_id`, `items.order_id` and `assignment.order_id` join its flows);
other tables use their own row key (`row_key` in `core.events`). Per table configurable:
`CorrelationConfig({"orders": "order_id", "payments": "order_id"})`. The value is `data.new.<k>`, else `data.old.<k>`.
Events sharing a `trace_id` with a flow's events join it too (the sandbox and Hasura propagate `traceparent` through
handlers), except those whose own correlation value names another flow.

Causal order: an event is created by a write; its invocations follow; an event E' is attributed to the invocation I
of an earlier event of the flow whose time window contains E'.created_at (from the previous attempt, or I's event's
creation, to I's answer: the handler's write raised it before it answered), the tightest such window (latest start,
then first answer); else, on the same trace, to the latest invocation answered before it (work after answering);
else to the client. When both events carry a trace id, a different trace is never the cause. Subscription messages
whose data (or, for live queries, whose diff) mentions the key, received from the first step to 30 s after the last,
follow the write they came after. Steps are listed in that causal order, chronological where causality allows; an
invocation's `at` is when Hasura logged it (after the answer), so a write it caused can carry an earlier `at`.

Anomalies, precisely (thresholds in `Thresholds`):

- duplicate: an event with more than one 2xx invocation (`events.successes > 1`).
- out-of-order, for one trigger and one row (same `trigger_name`, `table_name`, `row_key`), by creation order
  (`created_ts`, then capture order; events created at the same instant are one write and not ordered):
  (a) delivery inversion: event E was delivered (first 2xx) before an event D created earlier: both are flagged.
  An event still pending or retrying counts as delivered after every delivered one; dead letters are left out.
  (b) broken chain: an UPDATE whose `data.old` differs from the previous event's `data.new` on the trigger's listened
  update columns (`definition.update.columns` of the trigger snapshot; `*` or no snapshot: the columns both rows
  carry). UPDATE events are written only when a listened column changed, so a mismatch means a change is missing
  from the event log or the events' creation times do not follow the row's history (Hasura stamps `created_at` at
  transaction start).
- retry: an event with more than one attempt, at least one of them failed (`attempts > 1 AND attempts >
  successes`); causes per failed attempt: `HTTP <status>`, or the network error Hasura logged (`http_exception`
  message, e.g. `response timeout`, `Connection refused`).
- dead-letter: an event whose retries are exhausted (`status == "failed"`, i.e. `error` and not delivered).
- pending-too-long: an event not delivered, failed or archived, created more than `pending_s` before the capture's
  last activity (the latest event creation or invocation, on the server's clock).
- cold-start: the first attempt of an event E of trigger T when (1) T's handler had been idle: no event of T was
  created in the `cold_start_idle_s` before E, and no attempt of the event of T just before E was logged in that time
  (a retry or a late answer); the first event of T in the capture counts as after idle (the capture cannot tell);
  retries of older events during the gap are not looked at; (2) E's first-attempt latency L =
  invocation.created_at - event.created_at (Hasura logs no duration; this includes the wait for the next fetch)
  is above `cold_start_factor` x the warm median M and L - M > `cold_start_min_ms`. The warm median is that of the
  first-attempt latencies of up to `cold_start_baseline` events of T created just before E (just after, when fewer
  than `cold_start_min_samples` exist before), leaving out events that themselves followed an idle gap.
- contract, for invocations answered 2xx: a body that is JSON with a truthy top-level `error` or `errors` key; a
  non-empty body that is not JSON (or binary); and, for any invocation, a measured latency of at least
  `near_timeout_ratio` x the trigger's `retry_conf.timeout_sec` (60 when unknown), or a timeout. Latency: attempt 1,
  `created_at - event.created_at`; a retry, `created_at - failed attempt's created_at - interval_sec`;
  `invocations.duration_ms` when recorded (replays). The body checks look at 2xx responses whose text contains
  "rror" or whose body does not begin with `{` or `[` (a JSON object/array body that merely fails to parse, and
  mentions no error, is not examined).

Scope: `analyse(conn, filter_where, params)` reports on the events matching the filter (figures and anomalies), but
anomalies that depend on other events (out-of-order, cold-start) are found against the whole capture. Counts are
exact; `AnalysisReport.anomalies` keeps up to `Thresholds.max_anomalies_per_kind` of each kind (the first in capture
order). Percentiles (nearest rank) come from histograms with 0.1 ms resolution below 100 ms and 1% above, over every
event of a capture of up to 200,000 events and over a pseudo-random sample of about 100,000 (by a hash of `seq`) in
bigger ones.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import json
import math
import re
import sqlite3
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, TypeVar
from urllib.parse import urlsplit

from inspector.core.events import decode_twice
from inspector.core.flows import Anomaly, AnomalyKind, Flow, FlowStep, ServiceEdge, Severity, TriggerStats
from inspector.store.capture_file import dumps, message_data_sql, message_diffs
from inspector.store.filter_sql import register_functions

__all__ = [
    "KINDS",
    "SEVERITY",
    "AnalysisReport",
    "CorrelationConfig",
    "FlowKey",
    "Thresholds",
    "TriggerInfo",
    "analyse",
    "flow_for_event",
    "flow_for_key",
    "iter_flow_keys",
    "last_activity",
    "mark_flags",
    "trigger_info",
]

KINDS: tuple[AnomalyKind, ...] = (
    "duplicate",
    "out-of-order",
    "retry",
    "dead-letter",
    "pending-too-long",
    "cold-start",
    "contract",
)
"""Every anomaly kind, in the order they are listed and written into `events.flags`."""

SEVERITY: dict[str, Severity] = {
    "duplicate": "warning",
    "out-of-order": "warning",
    "retry": "info",
    "dead-letter": "error",
    "pending-too-long": "warning",
    "cold-start": "info",
    "contract": "warning",
}

_OPEN = ("pending", "retrying", "in-flight")
_T = TypeVar("_T")
_CHUNK = 500


class _HasConnection(Protocol):
    conn: sqlite3.Connection


Source = sqlite3.Connection | _HasConnection


def _connection(source: Source) -> sqlite3.Connection:
    """A connection from a connection or a `CaptureFile` (anything with `.conn`)."""
    return source if isinstance(source, sqlite3.Connection) else source.conn


# --- configuration -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    """What counts as an anomaly; see the module docstring for the definitions."""

    pending_s: float = 60.0
    """Not delivered this long after creation (before the capture's last activity): pending too long."""
    cold_start_idle_s: float = 30.0
    """Idle time after which a handler may be cold (the sandbox's default; AWS Lambda keeps functions a few minutes)."""
    cold_start_factor: float = 3.0
    cold_start_min_ms: float = 500.0
    """A cold start must also be this much slower than the warm median (absolute floor)."""
    cold_start_baseline: int = 200
    cold_start_min_samples: int = 3
    near_timeout_ratio: float = 0.8
    default_timeout_s: float = 60.0
    """Hasura's default `timeout_sec`, used when the capture holds no trigger snapshot."""
    max_anomalies_per_kind: int = 500
    """How many anomalies of each kind `AnalysisReport.anomalies` keeps (counts are always exact)."""
    flow_message_window_s: float = 30.0
    """Subscription messages this long after a flow's last step still belong to it."""


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
    listed use their own row key. `CorrelationConfig.auto(conn)` derives it from a capture (see the module doc)."""

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
        conn = _connection(source)
        samples: dict[str, list[str]] = {}
        triggers_per_table: Counter[str] = Counter()
        first_seen: dict[str, float] = {}
        for trigger in _trigger_names(conn):
            row = conn.execute(
                "SELECT table_name, payload, created_ts FROM events WHERE trigger_name = ? ORDER BY created_ts LIMIT 1",
                (trigger,),
            ).fetchone()
            if row is None:
                continue
            table = str(row[0])
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


@dataclass(frozen=True)
class TriggerInfo:
    """What the capture's trigger snapshot says about one trigger."""

    name: str
    table: str | None = None
    handler: str | None = None
    """The webhook's name: the last segment of its URL path, else its host (`env:VAR` for `webhook_from_env`)."""
    webhook: str | None = None
    num_retries: int | None = None
    interval_s: float = 10.0
    timeout_s: float | None = None
    update_columns: tuple[str, ...] | None = None
    """Listened update columns; None: all (`*`) or unknown."""

    @property
    def handler_name(self) -> str:
        return self.handler or self.name


def _handler_name(config: Mapping[str, Any]) -> str | None:
    webhook = config.get("webhook")
    if isinstance(webhook, str) and webhook:
        parts = urlsplit(webhook)
        segment = parts.path.rstrip("/").rsplit("/", 1)[-1]
        return segment or parts.netloc or webhook
    env = config.get("webhook_from_env")
    return f"env:{env}" if isinstance(env, str) and env else None


def trigger_info(source: Source) -> dict[str, TriggerInfo]:
    """The latest snapshot of each trigger's configuration in the capture, by trigger name."""
    conn = _connection(source)
    infos: dict[str, TriggerInfo] = {}
    try:
        rows = conn.execute(
            "SELECT name, table_name, config FROM trigger_snapshots WHERE seq IN "
            "(SELECT max(seq) FROM trigger_snapshots GROUP BY name)"
        ).fetchall()
    except sqlite3.OperationalError:
        return infos
    for name, table, text in rows:
        try:
            config = json.loads(text) if text else {}
        except ValueError:
            config = {}
        if not isinstance(config, dict):
            config = {}
        retry: dict[str, Any] = config["retry_conf"] if isinstance(config.get("retry_conf"), dict) else {}
        definition: dict[str, Any] = config["definition"] if isinstance(config.get("definition"), dict) else {}
        update = definition.get("update")
        columns = update.get("columns") if isinstance(update, dict) else None
        infos[str(name)] = TriggerInfo(
            name=str(name),
            table=table,
            handler=_handler_name(config),
            webhook=config.get("webhook") if isinstance(config.get("webhook"), str) else None,
            num_retries=_int_or_none(retry.get("num_retries")),
            interval_s=float(retry.get("interval_sec", 10) or 0),
            timeout_s=float(retry["timeout_sec"]) if isinstance(retry.get("timeout_sec"), int | float) else None,
            update_columns=tuple(str(c) for c in columns) if isinstance(columns, list) else None,
        )
    return infos


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) else None


def _info(infos: Mapping[str, TriggerInfo], trigger: str) -> TriggerInfo:
    return infos.get(trigger) or TriggerInfo(trigger)


def _trigger_names(conn: sqlite3.Connection) -> list[str]:
    """Distinct trigger names, by seeking through the `events_trigger` index (one seek per trigger)."""
    names: list[str] = []
    row = conn.execute("SELECT min(trigger_name) FROM events").fetchone()
    while row is not None and row[0] is not None:
        names.append(str(row[0]))
        row = conn.execute("SELECT min(trigger_name) FROM events WHERE trigger_name > ?", (row[0],)).fetchone()
    return names


def last_activity(source: Source) -> float | None:
    """The capture's last activity on the server's clock: the latest event creation or invocation."""
    conn = _connection(source)
    event = conn.execute("SELECT max(created_ts) FROM events").fetchone()[0]
    invocation = conn.execute(
        "SELECT max(created_ts) FROM (SELECT created_ts FROM invocations ORDER BY seq DESC LIMIT 1000)"
    ).fetchone()[0]
    times = [t for t in (event, invocation) if t is not None]
    return max(times) if times else None


# --- histograms ----------------------------------------------------------------------------------------------------


def _bucket_sql(value: str) -> str:
    """SQL for the histogram bucket (lower bound, ms) of a latency in ms: 0.1 ms below 100 ms, then 1%."""
    v = f"({value})"
    return (
        f"CASE WHEN {v} IS NULL THEN NULL WHEN {v} < 0 THEN 0.0 "
        f"WHEN {v} < 100 THEN CAST({v} * 10 AS INTEGER) / 10.0 "
        f"WHEN {v} < 1000 THEN CAST({v} AS INTEGER) * 1.0 "
        f"WHEN {v} < 10000 THEN CAST({v} / 10 AS INTEGER) * 10.0 "
        f"WHEN {v} < 100000 THEN CAST({v} / 100 AS INTEGER) * 100.0 "
        f"WHEN {v} < 1000000 THEN CAST({v} / 1000 AS INTEGER) * 1000.0 "
        f"WHEN {v} < 10000000 THEN CAST({v} / 10000 AS INTEGER) * 10000.0 "
        f"ELSE CAST({v} / 100000 AS INTEGER) * 100000.0 END"
    )


def _bucket_width(lower: float) -> float:
    if lower < 100:
        return 0.1
    return float(10 ** max(0, int(math.log10(lower)) - 2))


class Histogram:
    """Counts by bucket (lower bound in ms); percentiles by nearest rank, as the bucket's midpoint."""

    def __init__(self) -> None:
        self.counts: Counter[float] = Counter()
        self.total = 0

    def add(self, bucket: float | None, count: int) -> None:
        if bucket is not None and count:
            self.counts[bucket] += count
            self.total += count

    def percentile(self, p: float) -> float | None:
        if not self.total:
            return None
        rank = max(1, math.ceil(p * self.total))
        seen = 0
        for lower in sorted(self.counts):
            seen += self.counts[lower]
            if seen >= rank:
                return round(lower + _bucket_width(lower) / 2, 3)
        return None


# --- the report ----------------------------------------------------------------------------------------------------


@dataclass
class AnalysisReport:
    """What `analyse` found. `anomalies` holds up to `thresholds.max_anomalies_per_kind` of each kind; `counts` the
    exact number of events flagged with each kind."""

    triggers: list[TriggerStats]
    edges: list[ServiceEdge]
    anomalies: list[Anomaly]
    counts: dict[str, int]
    thresholds: Thresholds
    filter_where: str = "1"
    params: tuple[Any, ...] = ()
    events: int = 0
    started: float | None = None
    """Creation time of the first event analysed (epoch seconds)."""
    ended: float | None = None
    last_activity: float | None = None
    pending_cutoff: float | None = None
    """Events open and created before this are pending too long."""
    flagged: dict[str, frozenset[str]] = field(default_factory=dict)
    """Every event id flagged with the kinds found in Python (out-of-order, cold-start, contract); the other kinds are
    SQL conditions on `events`, applied again by `mark_flags`."""
    connection: sqlite3.Connection | None = field(default=None, repr=False)

    def by_kind(self) -> dict[str, list[Anomaly]]:
        grouped: dict[str, list[Anomaly]] = {}
        for anomaly in self.anomalies:
            grouped.setdefault(anomaly.kind, []).append(anomaly)
        return {kind: grouped[kind] for kind in KINDS if kind in grouped}

    def examples(self, kind: str, limit: int = 5) -> list[str]:
        """Up to `limit` event ids showing `kind`, in capture order."""
        ids: list[str] = []
        for anomaly in self.anomalies:
            if anomaly.kind == kind and anomaly.event_id and anomaly.event_id not in ids:
                ids.append(anomaly.event_id)
                if len(ids) >= limit:
                    break
        return ids

    def timeline(
        self, bucket_seconds: float, source: Source | None = None
    ) -> list[tuple[float, int, int, float | None, float | None]]:
        """(bucket start, events created, failed attempts, p50 ms, p95 ms) per `bucket_seconds`, from the first event
        analysed to the last, over the events analysed: failed attempts are invocations without a 2xx answer logged
        in the bucket; the percentiles are of delivery latency (created -> first 2xx) of the events created in it
        (exact to a histogram bucket). Every bucket is listed, empty ones too, up to `MAX_DENSE_BUCKETS`; beyond that
        only those with events or failures. Reads through the report's connection unless given another."""
        if not bucket_seconds > 0:
            raise ValueError("bucket_seconds must be positive")
        conn = _connection(source) if source is not None else self.connection
        if conn is None:
            raise ValueError("this report has no connection; pass one")
        if self.started is None or self.ended is None:
            return []
        register_functions(conn)
        first = math.floor(self.started / bucket_seconds)
        count = math.floor(self.ended / bucket_seconds) - first + 1
        delivery = _bucket_index_sql("(e.delivered_ts - e.created_ts) * 1000")
        # (time bucket, latency bucket) packed in one integer and counted in C, as in the events pass
        counts = Counter(
            conn.execute(
                f"SELECT (CAST(e.created_ts / ? AS INTEGER) - ?) * 16384 + ({delivery}) FROM events e "
                f"WHERE ({self.filter_where}) AND e.created_ts IS NOT NULL",
                (bucket_seconds, first, *self.params),
            )
        )
        buckets: dict[int, tuple[int, Histogram]] = {}
        for (key,), n in counts.items():
            index, latency = divmod(key, 16384)
            events, histogram = buckets.get(index) or (0, Histogram())
            histogram.add(_bucket_of_index(latency), n)
            buckets[index] = (events + n, histogram)
        failures: Counter[int] = Counter()
        where = "" if self.filter_where == "1" else f" JOIN events e ON e.id = i.event_id WHERE ({self.filter_where})"
        for index, n in conn.execute(
            f"SELECT CAST(i.created_ts / ? AS INTEGER) - ? AS b, count(*) FROM ({_FAILED_INVOCATIONS}) i{where} "
            "GROUP BY b",
            (bucket_seconds, first, *(self.params if where else ())),
        ):
            if index is not None:
                failures[int(index)] += n
        count = max(count, max(failures, default=-1) + 1)  # retries logged after the last event was created
        if count <= MAX_DENSE_BUCKETS:
            indexes: Iterable[int] = range(count)
        else:
            indexes = sorted(i for i in set(buckets) | set(failures) if 0 <= i < count)
        rows = []
        for i in indexes:
            events, histogram = buckets.get(i) or (0, Histogram())
            rows.append(
                (
                    (first + i) * bucket_seconds,
                    events,
                    failures.get(i, 0),
                    histogram.percentile(0.5),
                    histogram.percentile(0.95),
                )
            )
        return rows


MAX_DENSE_BUCKETS = 200_000
"""`AnalysisReport.timeline` lists empty buckets too up to this many buckets."""

_FAILED_INVOCATIONS = (
    "SELECT event_id, created_ts FROM invocations WHERE http_status IS NULL "
    "UNION ALL SELECT event_id, created_ts FROM invocations WHERE http_status < 200 "
    "UNION ALL SELECT event_id, created_ts FROM invocations WHERE http_status > 299"
)


# --- latency of an attempt, causes, contract -------------------------------------------------------------------------


def _cause(http_status: int | None, status: int | None, response: Any) -> str:
    """Why an attempt failed, in a few words: `HTTP 500`, or the network error Hasura logged."""
    if http_status is not None:
        return f"HTTP {http_status}"
    if status == 1000:
        return "client error (no answer)"
    if status == 1001:
        return "unreadable answer"
    if isinstance(response, str):
        response = decode_twice(response)
    data = response.get("data") if isinstance(response, Mapping) else None
    message = decode_twice(data.get("message")) if isinstance(data, Mapping) else None
    if isinstance(message, Mapping):
        kind = message.get("type")
        text = message.get("message")
        if kind == "invalid_url":
            return "invalid URL"
        message = text if text else kind
    if not message:
        return "no answer"
    return " ".join(str(message).split())[:100]


def _is_timeout(cause: str) -> bool:
    lowered = cause.lower()
    return "timeout" in lowered or "timed out" in lowered


def _body_problem(response: Any) -> str | None:
    """What is wrong with a 2xx answer's body, or None: an error key, a non-JSON or binary body."""
    if isinstance(response, str):
        response = decode_twice(response)
    data = response.get("data") if isinstance(response, Mapping) else None
    if not isinstance(data, Mapping):
        return None
    body = data.get("body", data.get("message"))
    if isinstance(body, list) and body[:1] == ["Base64"]:
        return "a binary (non-UTF-8) body"
    if not isinstance(body, str) or not body.strip():
        return None
    try:
        decoded = json.loads(body)
    except ValueError:
        return f"a non-JSON body: {_snippet(body)}"
    if isinstance(decoded, dict):
        for key in ("error", "errors"):
            if decoded.get(key):
                return f'an "{key}" body: {_snippet(body)}'
    return None


def _snippet(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return json.dumps(text if len(text) <= limit else text[: limit - 1] + "…", ensure_ascii=False)


def _timeout_of(infos: Mapping[str, TriggerInfo], trigger: str, thresholds: Thresholds) -> float:
    info = infos.get(trigger)
    return info.timeout_s if info is not None and info.timeout_s else thresholds.default_timeout_s


def _ms(seconds: float) -> str:
    ms = seconds * 1000
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    minutes, secs = divmod(int(ms / 1000), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _short(event_id: str) -> str:
    return event_id[:8]


# --- out-of-order (one partition: one trigger, one row) ------------------------------------------------------------


class _Row(NamedTuple):
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


def _partition_out_of_order(rows: Sequence[_Row], info: TriggerInfo) -> list[tuple[_Row, str, float | None]]:
    """(event, message, at) for each event out of order in one partition, rows in creation order."""
    found: dict[str, tuple[_Row, str, float | None]] = {}

    def delivery(row: _Row) -> float | None:
        if row.delivered_ts is not None:
            return row.delivered_ts
        return math.inf if row.status in _OPEN else None  # failed or archived: out of the comparison

    # (a) inversions: compare with every event created strictly earlier (ties are one write)
    times = [delivery(r) for r in rows]
    for j, later in enumerate(rows):
        if times[j] is None or times[j] == math.inf:
            continue
        for i in range(j):
            earlier = rows[i]
            ti = times[i]
            if ti is None or earlier.created >= later.created or ti <= times[j]:  # type: ignore[operator]
                continue
            gap = later.created - earlier.created
            if later.id not in found:
                found[later.id] = (
                    later,
                    f"delivered before event {_short(earlier.id)}, created {_ms(gap)} earlier for the same "
                    f"{later.table} row {later.row_key}",
                    times[j],
                )
            if earlier.id not in found:
                what = "still not delivered" if ti == math.inf else "delivered"
                found[earlier.id] = (
                    earlier,
                    f"{what} after event {_short(later.id)}, created {_ms(gap)} later for the same "
                    f"{earlier.table} row {earlier.row_key}",
                    None if ti == math.inf else ti,
                )
    # (b) broken chain: an UPDATE's data.old against the previous event's data.new
    previous: _Row | None = None
    for row in rows:
        if previous is not None and row.op == "UPDATE" and row.created > previous.created:
            before = _row_data(previous.payload, "new")
            after = _row_data(row.payload, "old")
            if before is not None and after is not None:
                columns = info.update_columns or [c for c in after if c in before]
                for column in columns:
                    if column in before and column in after and before[column] != after[column]:
                        message = (
                            f"data.old.{column} is {json.dumps(after[column], ensure_ascii=False)} but the previous "
                            f"event {_short(previous.id)} left {json.dumps(before[column], ensure_ascii=False)}: "
                            "a change is missing or the events were created out of order"
                        )
                        if row.id not in found:
                            found[row.id] = (row, message, row.created)
                        break
        previous = row
    return sorted(found.values(), key=lambda f: f[0].seq)


def _row_data(payload: str | None, which: str) -> dict[str, Any] | None:
    if payload is None:
        return None
    try:
        data = json.loads(payload).get("data") or {}
    except (ValueError, AttributeError):
        return None
    row = data.get(which)
    return row if isinstance(row, dict) else None


_ROW_COLUMNS = (
    "e.id, e.trigger_name, e.table_name, e.row_key, e.op, e.created_ts, e.seq, e.delivered_ts, e.status, e.payload"
)


def _out_of_order(
    conn: sqlite3.Connection, infos: Mapping[str, TriggerInfo], triggers: Sequence[str]
) -> list[tuple[_Row, str, float | None]]:
    """Out-of-order events over the whole capture: row keys where one trigger has more than one event first (from the
    `row_key` index, with a bit per trigger so that no sort is needed), then those rows partition by partition."""
    if not triggers:
        return []
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
    # DDL only (no INSERT): Python's sqlite3 opens no transaction for it, so the connection keeps no snapshot
    conn.execute("DROP TABLE IF EXISTS temp.inspector_candidate_keys")
    conn.execute(f"CREATE TEMP TABLE inspector_candidate_keys AS {candidates}", candidate_params)
    found: list[tuple[_Row, str, float | None]] = []
    partition: list[_Row] = []
    for raw in conn.execute(
        f"SELECT {_ROW_COLUMNS} FROM events e WHERE e.row_key IN (SELECT row_key FROM temp.inspector_candidate_keys) "
        "ORDER BY e.trigger_name, e.table_name, e.row_key, e.created_ts, e.seq"
    ):
        row = _Row(*raw)
        if partition and (row.trigger, row.table, row.row_key) != (
            partition[0].trigger,
            partition[0].table,
            partition[0].row_key,
        ):
            if len(partition) > 1:
                found.extend(_partition_out_of_order(partition, _info(infos, partition[0].trigger)))
            partition = []
        partition.append(row)
    if len(partition) > 1:
        found.extend(_partition_out_of_order(partition, _info(infos, partition[0].trigger)))
    conn.execute("DROP TABLE temp.inspector_candidate_keys")
    return found


# --- cold starts ---------------------------------------------------------------------------------------------------


def _idle_candidates(conn: sqlite3.Connection, trigger: str, idle: float) -> Iterator[tuple[float, float | None]]:
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


def _warm_median(
    conn: sqlite3.Connection, trigger: str, created: float, thresholds: Thresholds
) -> tuple[float | None, int]:
    """(median first-attempt latency in seconds, samples) of the warm events of `trigger` near `created`: up to
    `cold_start_baseline` created just before it, else just after it, leaving out events that followed an idle gap
    (they may be cold themselves)."""
    idle = thresholds.cold_start_idle_s
    for before in (True, False):
        rows = conn.execute(
            "SELECT created_ts, first_attempt_ts FROM events WHERE trigger_name = ? AND "
            + ("created_ts < ? ORDER BY created_ts DESC" if before else "created_ts > ? ORDER BY created_ts")
            + " LIMIT ?",
            (trigger, created, thresholds.cold_start_baseline + 1),
        ).fetchall()
        rows.sort()
        # Before: the earliest row only gives the gap of the next one. After: gaps are counted from `created`.
        pairs = itertools.pairwise(rows) if before else zip([(created, None), *rows], rows, strict=False)
        latencies = sorted(b[1] - b[0] for a, b in pairs if b[1] is not None and b[0] - a[0] < idle)
        if len(latencies) >= thresholds.cold_start_min_samples:
            return latencies[(len(latencies) - 1) // 2], len(latencies)
    return None, 0


def _cold_start_at(
    conn: sqlite3.Connection, trigger: str, created: float, previous: float | None, thresholds: Thresholds
) -> list[tuple[str, float, str]]:
    """(event id, invocation time, message) for the events of `trigger` created at `created` (after an idle gap
    since `previous`) whose first attempt was a cold start."""
    found: list[tuple[str, float, str]] = []
    if previous is not None:
        busy = conn.execute(
            "SELECT 1 FROM events e JOIN invocations i ON i.event_id = e.id WHERE e.trigger_name = ? AND "
            "e.created_ts = ? AND i.created_ts > ? AND i.created_ts < ? LIMIT 1",
            (trigger, previous, created - thresholds.cold_start_idle_s, created),
        ).fetchone()
        if busy is not None:
            return found  # the previous event was attempted (a retry, a late answer) during the gap: not idle
    idle = None if previous is None else created - previous
    median: float | None = None
    for event_id, first_attempt in conn.execute(
        "SELECT id, first_attempt_ts FROM events WHERE trigger_name = ? AND created_ts = ? AND first_attempt_ts "
        "IS NOT NULL",
        (trigger, created),
    ).fetchall():
        latency = first_attempt - created
        if latency * 1000 <= thresholds.cold_start_min_ms:
            continue
        if median is None:
            median, _samples = _warm_median(conn, trigger, created, thresholds)
            if median is None:
                return found
        if latency > thresholds.cold_start_factor * median and (latency - median) * 1000 > thresholds.cold_start_min_ms:
            after = "as the first call in the capture" if idle is None else f"after {_ms(idle)} without events"
            found.append(
                (
                    event_id,
                    first_attempt,
                    f"first attempt answered after {_ms(latency)}, {latency / max(median, 1e-6):.0f}x the warm "
                    f"median {_ms(median)}, {after}",
                )
            )
    return found


def _cold_starts(
    conn: sqlite3.Connection, triggers: Sequence[str], thresholds: Thresholds
) -> list[tuple[str, str, float, str]]:
    """(event id, trigger, at, message) of every cold start in the capture."""
    found: list[tuple[str, str, float, str]] = []
    for trigger in triggers:
        for created, previous in _idle_candidates(conn, trigger, thresholds.cold_start_idle_s):
            for event_id, at, message in _cold_start_at(conn, trigger, created, previous, thresholds):
                found.append((event_id, trigger, at, message))
    return found


# --- analyse -------------------------------------------------------------------------------------------------------


class _TriggerTotals:
    def __init__(self) -> None:
        self.events = self.delivered = self.failed = self.pending = self.stale = 0
        self.invocations = self.attempted = self.duplicate_extra = 0
        self.duplicates = self.retried = self.slow_first = 0
        self.first = Histogram()
        self.delivery = Histogram()
        self.failures = 0
        self.causes: Counter[str] = Counter()
        self.anomalies: Counter[str] = Counter()


class _Collector:
    """Anomalies as they are found: the first `limit` of each kind, and the events flagged with the kinds found in
    Python (with their trigger, for the per-trigger counts)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.examples: dict[str, list[Anomaly]] = defaultdict(list)
        self.flagged: dict[str, dict[str, str]] = {"out-of-order": {}, "cold-start": {}, "contract": {}}

    def full(self, kind: str) -> bool:
        return len(self.examples[kind]) >= self.limit

    def keep(self, anomaly: Anomaly) -> None:
        if not self.full(anomaly.kind):
            self.examples[anomaly.kind].append(anomaly)

    def flag(self, anomaly: Anomaly) -> None:
        """An anomaly of a kind found in Python: counted once per event."""
        assert anomaly.event_id is not None and anomaly.trigger is not None
        seen = self.flagged[anomaly.kind]
        if anomaly.event_id not in seen:
            seen[anomaly.event_id] = anomaly.trigger
            self.keep(anomaly)


_EXACT = 200_000
"""Captures of up to this many events get exact latency histograms; bigger ones a pseudo-random sample of `_SAMPLE`."""
_SAMPLE = 100_000


class _Jobs:
    """Runs independent passes in worker threads, each on its own connection to the same file (SQLite releases the
    GIL while it works, so two passes use two cores). Inline on the caller's connection when it has no file or is
    inside a transaction (another connection would not see its changes). When the work fails (or the caller's
    connection is interrupted), the workers' connections are interrupted too."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.path: str | None = None
        if not conn.in_transaction:
            for _seq, name, file in conn.execute("PRAGMA database_list"):
                if name == "main" and file:
                    self.path = str(file)
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="analysis") if self.path else None
        self._lock = threading.Lock()
        self._open: set[sqlite3.Connection] = set()
        self._stopping = False

    def submit(self, job: Callable[..., _T], *args: Any) -> Callable[[], _T]:
        if self.pool is None:
            return lambda: job(self.conn, *args)
        return self.pool.submit(self._run, job, args).result

    def _run(self, job: Callable[..., _T], args: tuple[Any, ...]) -> _T:
        assert self.path is not None
        conn = sqlite3.connect(self.path, check_same_thread=False)
        with self._lock:
            if self._stopping:
                conn.close()
                raise sqlite3.OperationalError("interrupted")
            self._open.add(conn)
        try:
            register_functions(conn)
            return job(conn, *args)
        finally:
            with self._lock:
                self._open.discard(conn)
            conn.close()

    def close(self, failed: bool = False) -> None:
        if failed:
            with self._lock:
                self._stopping = True
                for conn in self._open:
                    conn.interrupt()
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


def analyse(
    source: Source,
    filter_where: str = "1",
    params: Iterable[Any] = (),
    thresholds: Thresholds | None = None,
) -> AnalysisReport:
    """Per-trigger figures, the service map's edges and the anomalies of the events matching `filter_where` (an SQL
    predicate over `events e`, e.g. a compiled display filter, with its `params`).

    Two passes run in worker threads on their own connections (see `_Jobs`); `interrupt()` on the given connection
    from another thread cancels the whole analysis (`sqlite3.OperationalError: interrupted`). Leaves no transaction
    open on the connection."""
    thresholds = thresholds or Thresholds()
    conn = _connection(source)
    register_functions(conn)
    params = tuple(params)
    where = filter_where.strip() or "1"
    filtered = where != "1"
    infos = trigger_info(conn)
    triggers = _trigger_names(conn)
    activity = last_activity(conn)
    cutoff = None if activity is None else activity - thresholds.pending_s
    found = _Collector(thresholds.max_anomalies_per_kind)

    jobs = _Jobs(conn)
    try:
        # The two passes that need no filter run beside the events pass.
        out_of_order = jobs.submit(_out_of_order, infos, triggers)
        invocation_scan = jobs.submit(_scan_invocations, infos, thresholds, where, params)
        totals = _scan_events(conn, where, params, triggers, infos, thresholds, cutoff)
        started, ended = _span(conn, where, params, filtered)
        _examples(conn, where, params, totals, cutoff, activity, found)
        cold = _cold_starts(conn, triggers, thresholds)
        relational: list[Anomaly] = [
            Anomaly("cold-start", SEVERITY["cold-start"], message, event_id, trigger, None, at)
            for event_id, trigger, at, message in cold
        ]
        scanned = invocation_scan()
        # already limited to the filter; before slow first attempts, as a timeout says more
        checked = [*scanned.contract, *_slow_first_attempts(conn, where, params, infos, thresholds, totals)]
        relational.extend(
            Anomaly("out-of-order", SEVERITY["out-of-order"], message, row.id, row.trigger, row.row_key, at)
            for row, message, at in out_of_order()
        )
    except BaseException:
        jobs.close(failed=True)
        raise
    jobs.close()
    for (trigger, cause), n in scanned.causes.items():
        if trigger in totals:
            totals[trigger].causes[cause] += n
            totals[trigger].failures += n
    kept = _restrict(conn, [a.event_id for a in relational if a.event_id], where, params) if filtered else None
    relational = [a for a in relational if kept is None or a.event_id in kept]
    for anomaly in sorted([*checked, *relational], key=lambda a: a.at if a.at is not None else math.inf):
        found.flag(anomaly)
    for kind, flagged in found.flagged.items():
        for trigger in flagged.values():
            totals[trigger].anomalies[kind] += 1

    counts = Counter({kind: sum(t.anomalies[kind] for t in totals.values()) for kind in KINDS})
    stats: list[TriggerStats] = []
    edges: list[ServiceEdge] = []
    for name in sorted(totals):
        t = totals[name]
        info = _info(infos, name)
        stats.append(
            TriggerStats(
                trigger=name,
                events=t.events,
                delivered=t.delivered,
                failed=t.failed,
                pending=t.pending,
                invocations=t.invocations,
                retries=max(0, t.invocations - t.attempted - t.duplicate_extra),
                first_attempt_p50_ms=t.first.percentile(0.5),
                first_attempt_p95_ms=t.first.percentile(0.95),
                delivered_p50_ms=t.delivery.percentile(0.5),
                delivered_p95_ms=t.delivery.percentile(0.95),
                anomalies={k: t.anomalies[k] for k in KINDS if t.anomalies[k]},
                retry_causes=dict(t.causes.most_common()),
                table=info.table,
                handler=info.handler_name,
            )
        )
        edges.append(
            ServiceEdge(
                trigger=name,
                handler=info.handler_name,
                events=t.events,
                invocations=t.invocations,
                failures=t.failures,
                p50_ms=t.delivery.percentile(0.5),
                p95_ms=t.delivery.percentile(0.95),
            )
        )
    anomalies = sorted(
        (a for kind in KINDS for a in found.examples.get(kind, [])),
        key=lambda a: (KINDS.index(a.kind), a.at if a.at is not None else math.inf),
    )
    return AnalysisReport(
        triggers=stats,
        edges=edges,
        anomalies=anomalies,
        counts={k: counts[k] for k in KINDS},
        thresholds=thresholds,
        filter_where=where,
        params=params,
        events=sum(t.events for t in totals.values()),
        started=started,
        ended=ended,
        last_activity=activity,
        pending_cutoff=cutoff,
        flagged={k: frozenset(v) for k, v in found.flagged.items()},
        connection=conn,
    )


_STATUS_CODES = ("delivered", "failed", "pending", "retrying", "in-flight", "archived")


def _bucket_index_sql(value: str) -> str:
    """SQL for the index (0 to 16000, 16383 for none) of a latency's histogram bucket, as `_bucket_sql` buckets it:
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


def _bucket_of_index(index: int) -> float | None:
    """The bucket's lower bound (ms) of a `_bucket_index_sql` index."""
    if index == 16383:
        return None
    if index < 1000:
        return index / 10
    tier, base = divmod(index - 1000, 900)
    return float((base + 100) * 10**tier) if tier < 6 else float((index - 5400) * 100000)


def _scan_events(
    conn: sqlite3.Connection,
    where: str,
    params: tuple[Any, ...],
    triggers: Sequence[str],
    infos: Mapping[str, TriggerInfo],
    thresholds: Thresholds,
    cutoff: float | None,
) -> dict[str, _TriggerTotals]:
    """One pass over the events matching the filter: per-trigger counts and latency histograms. SQLite packs each
    row's figures into one integer (trigger, status, attempts, successes, a slow first attempt, an old open event)
    and `Counter` groups them in C: cheaper than SQLite's own GROUP BY with a dozen aggregates. Latencies are bucketed
    for every event of a small capture, for a pseudo-random sample of `_SAMPLE` in a big one."""
    span = conn.execute("SELECT max(seq) - min(seq) + 1 FROM events").fetchone()[0] or 0
    threshold = int(_SAMPLE / max(span, 1) * 2**32)
    sampled = "1" if span <= _EXACT else f"(e.seq * 2654435761) % 4294967296 < {threshold}"
    first = _bucket_index_sql("(e.first_attempt_ts - e.created_ts) * 1000")
    delivery = _bucket_index_sql("(e.delivered_ts - e.created_ts) * 1000")
    slow = min(
        [thresholds.near_timeout_ratio * _timeout_of(infos, t, thresholds) for t in infos]
        + [thresholds.near_timeout_ratio * thresholds.default_timeout_s]
    )
    statuses = " ".join(f"WHEN '{name}' THEN {code}" for code, name in enumerate(_STATUS_CODES))
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
            (*names, slow, math.inf if cutoff is None else cutoff, *params),
        )
    )
    totals: dict[str, _TriggerTotals] = defaultdict(_TriggerTotals)
    for (key, name, buckets), n in rows.items():
        key, old = divmod(key, 2)
        key, slow_first = divmod(key, 2)
        key, successes = divmod(key, 256)
        key, attempts = divmod(key, 65536)
        trigger_index, status_code = divmod(key, 8)
        trigger = name if name is not None else names[trigger_index] if trigger_index < len(names) else ""
        status = _STATUS_CODES[status_code] if status_code < len(_STATUS_CODES) else ""
        t = totals[trigger]
        t.events += n
        t.delivered += n if status == "delivered" else 0
        if status == "failed":
            t.failed += n
        elif status in _OPEN:
            t.pending += n
            t.stale += n if old else 0
        t.invocations += attempts * n
        t.attempted += n if attempts > 0 else 0
        t.duplicate_extra += max(successes - 1, 0) * n
        t.duplicates += n if successes > 1 else 0
        t.retried += n if attempts > 1 and attempts > successes else 0
        t.slow_first += n if slow_first else 0
        if buckets is not None:
            first_index, delivery_index = divmod(buckets, 16384)
            t.first.add(_bucket_of_index(first_index), n)
            t.delivery.add(_bucket_of_index(delivery_index), n)
    for t in totals.values():
        t.anomalies.update(
            {"duplicate": t.duplicates, "retry": t.retried, "dead-letter": t.failed, "pending-too-long": t.stale}
        )
    return totals


def _span(
    conn: sqlite3.Connection, where: str, params: tuple[Any, ...], filtered: bool
) -> tuple[float | None, float | None]:
    """Creation times of the first and last events analysed."""
    if not filtered:  # two statements: SQLite answers a lone min() or max() from the index
        first = conn.execute("SELECT min(created_ts) FROM events").fetchone()[0]
        return first, conn.execute("SELECT max(created_ts) FROM events").fetchone()[0]
    else:
        row = conn.execute(
            f"SELECT min(e.created_ts), max(e.created_ts) FROM events e WHERE ({where})", params
        ).fetchone()
    return row[0], row[1]


def _attempts_of(conn: sqlite3.Connection, event_id: str) -> list[_Invocation]:
    return [
        _Invocation(*raw)
        for raw in conn.execute(
            "SELECT id, event_id, attempt, http_status, status, CASE WHEN http_status IS NULL THEN response END, "
            "created_ts, duration_ms, source FROM invocations WHERE event_id = ? ORDER BY created_ts, seq",
            (event_id,),
        )
    ]


def _examples(
    conn: sqlite3.Connection,
    where: str,
    params: tuple[Any, ...],
    totals: Mapping[str, _TriggerTotals],
    cutoff: float | None,
    activity: float | None,
    found: _Collector,
) -> None:
    """The first events of each kind SQL can find, in capture order, described from their attempts: one scan in
    `seq` order (not through an index: a filter's index would make SQLite sort) that stops when every kind that
    occurs has its examples."""
    # how many examples of each kind there will be: the scan stops when it has them all
    wanted = {
        "retry": min(found.limit, sum(t.retried for t in totals.values())),
        "dead-letter": min(found.limit, sum(t.failed for t in totals.values())),
        "duplicate": min(found.limit, sum(t.duplicates for t in totals.values())),
        "pending-too-long": min(found.limit, sum(t.stale for t in totals.values())) if cutoff is not None else 0,
    }
    if not any(wanted.values()):
        return
    cursor = conn.execute(
        "SELECT e.id, e.trigger_name, e.created_ts, e.attempts, e.successes, e.status FROM events e NOT INDEXED "
        "WHERE (e.attempts > 1 AND e.attempts > e.successes OR e.status = 'failed' OR e.successes > 1 OR "
        f"e.status IN ('pending', 'retrying', 'in-flight') AND e.created_ts < ?) AND ({where}) ORDER BY e.seq",
        (math.inf if cutoff is None else cutoff, *params),
    )
    for event_id, trigger, created, attempts, successes, status in cursor:
        kinds = [
            kind
            for kind, match in (
                ("retry", attempts > 1 and attempts > successes),
                ("dead-letter", status == "failed"),
                ("duplicate", successes > 1),
                ("pending-too-long", status in _OPEN and cutoff is not None and created < cutoff),
            )
            if match and len(found.examples[kind]) < wanted[kind]
        ]
        if not kinds:
            continue
        tried = _attempts_of(conn, event_id) if set(kinds) - {"pending-too-long"} else []
        causes = [_cause(i.http_status, i.status, i.response) for i in tried if not _ok(i)]
        for kind in kinds:
            if kind == "retry":
                outcome = "delivered" if successes else "gave up" if status == "failed" else "not delivered yet"
                message = f"{attempts} attempts, {outcome}; failed: {', '.join(_summarise(causes)) or 'unknown'}"
                found.keep(Anomaly("retry", SEVERITY["retry"], message, event_id, trigger, None, created))
            elif kind == "dead-letter":
                found.keep(_dead_letter(event_id, trigger, created, attempts, causes))
            elif kind == "duplicate":
                answers = [i.created for i in tried if _ok(i)]
                spread = f", {_ms(answers[-1] - answers[0])} apart" if len(answers) > 1 else ""
                message = (
                    f"delivered {successes} times ({successes} answers 2xx in {attempts} attempts{spread}): the "
                    "handler must be idempotent"
                )
                at = answers[1] if len(answers) > 1 else created
                found.keep(Anomaly("duplicate", SEVERITY["duplicate"], message, event_id, trigger, None, at))
            else:
                message = (
                    f"not delivered {_ms((activity or created) - created)} after creation ({status}, {attempts} "
                    f"attempt{'s' if attempts != 1 else ''})"
                )
                found.keep(
                    Anomaly("pending-too-long", SEVERITY["pending-too-long"], message, event_id, trigger, None, created)
                )
        if all(len(found.examples[kind]) >= n for kind, n in wanted.items()):
            break
    cursor.close()


def _dead_letter(event_id: str, trigger: str, created: float, attempts: int, causes: Sequence[str]) -> Anomaly:
    plural = "s" if attempts != 1 else ""
    if causes:
        message = f"retries exhausted after {attempts} attempt{plural} (last: {causes[-1]})"
    else:
        message = f"marked failed after {attempts} attempt{plural} with no failed attempt logged (a transform error?)"
    return Anomaly("dead-letter", SEVERITY["dead-letter"], message, event_id, trigger, None, created)


def _summarise(causes: Sequence[str]) -> list[str]:
    counted = Counter(causes)
    return [f"{cause} x{n}" if n > 1 else cause for cause, n in counted.items()]


def _latency(invocation: _Invocation, created: float, previous: float | None, info: TriggerInfo) -> float:
    """Seconds an attempt took, as far as Hasura's log tells (see the module doc)."""
    if invocation.duration_ms is not None:
        return invocation.duration_ms / 1000
    if previous is None:
        return invocation.created - created
    return max(0.0, invocation.created - previous - info.interval_s)


@dataclass
class _InvocationFindings:
    causes: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(trigger, cause) -> failed attempts."""
    contract: list[Anomaly] = field(default_factory=list)


_BODY_CANDIDATE = (
    "(i.response GLOB '*rror*' OR NOT (i.response GLOB '*\"body\":\"{*' OR i.response GLOB '*\"body\":\"[*'))"
)


def _scan_invocations(
    conn: sqlite3.Connection,
    infos: Mapping[str, TriggerInfo],
    thresholds: Thresholds,
    where: str = "1",
    params: tuple[Any, ...] = (),
) -> _InvocationFindings:
    """One pass over every invocation (unfiltered, in capture order): failure causes per trigger, and contract
    breaks: error or non-JSON 2xx bodies (only 2xx answers whose text contains "rror" or whose body does not start
    as a JSON object or array are decoded), timeouts, and retries that took close to the timeout (each retry is
    measured from the failed attempt before it, remembered until the event succeeds or runs out of attempts). With a
    filter, only the invocations of the events matching it (collected first into a temporary table)."""
    findings = _InvocationFindings()
    previous: dict[str, float] = {}
    timeouts = {name: _timeout_of(infos, name, thresholds) for name in infos}
    # Materialised in one statement, so that SQLite does the whole scan without taking the GIL back per row (this
    # pass runs in a worker thread beside the events pass).
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
        f"WHEN +i.http_status BETWEEN 200 AND 299 AND {_BODY_CANDIDATE} THEN i.response END AS text FROM invocations i "
        f"WHERE (i.http_status IS NULL OR +i.http_status NOT BETWEEN 200 AND 299 OR i.attempt > 1 OR {_BODY_CANDIDATE})"
        f"{chosen} ORDER BY i.seq"
    )
    for event_id, trigger, attempt, http_status, status, created, duration, text in conn.execute(
        "SELECT * FROM temp.inspector_invocation_scan ORDER BY rowid"
    ):
        ok = http_status is not None and 200 <= http_status < 300
        timeout = timeouts.get(trigger) or thresholds.default_timeout_s
        message: str | None = None
        if not ok:
            cause = f"HTTP {http_status}" if http_status is not None else _cause(None, status, text)
            findings.causes[(trigger, cause)] += 1
            if _is_timeout(cause):
                message = f"timed out ({cause}; timeout_sec {timeout:g})"
        elif text is not None:
            problem = _body_problem(text)
            if problem is not None:
                message = f"answered {http_status} with {problem}"
        if attempt and attempt > 1:
            before = previous.get(event_id)
            if before is not None and message is None:
                info = _info(infos, trigger)
                latency = duration / 1000 if duration is not None else max(0.0, created - before - info.interval_s)
                if latency >= thresholds.near_timeout_ratio * timeout:
                    message = f"attempt took about {_ms(latency)}, {latency / timeout:.0%} of timeout_sec {timeout:g}"
        if ok:
            previous.pop(event_id, None)
        else:
            info = _info(infos, trigger)
            if info.num_retries is not None and attempt is not None and attempt > info.num_retries:
                previous.pop(event_id, None)  # out of attempts (unless Retry-After forces one more: then unmeasured)
            else:
                previous[event_id] = created
        if message is not None:
            findings.contract.append(
                Anomaly("contract", SEVERITY["contract"], message, event_id, trigger, None, created)
            )
    return findings


def _slow_first_attempts(
    conn: sqlite3.Connection,
    where: str,
    params: tuple[Any, ...],
    infos: Mapping[str, TriggerInfo],
    thresholds: Thresholds,
    totals: Mapping[str, _TriggerTotals],
) -> list[Anomaly]:
    """First attempts close to the timeout, for the triggers where the events pass saw any."""
    found: list[Anomaly] = []
    for trigger, t in totals.items():
        if not t.slow_first:
            continue
        timeout = _timeout_of(infos, trigger, thresholds)
        for event_id, created, first in conn.execute(
            "SELECT e.id, e.created_ts, e.first_attempt_ts FROM events e WHERE e.trigger_name = ? AND "
            f"e.first_attempt_ts - e.created_ts >= ? AND ({where}) ORDER BY e.seq",
            (trigger, thresholds.near_timeout_ratio * timeout, *params),
        ):
            latency = first - created
            message = f"first attempt took {_ms(latency)}, {latency / timeout:.0%} of timeout_sec {timeout:g}"
            found.append(Anomaly("contract", SEVERITY["contract"], message, event_id, trigger, None, first))
    return found


def _restrict(conn: sqlite3.Connection, ids: Sequence[str], where: str, params: tuple[Any, ...]) -> set[str]:
    """The ids among `ids` of events matching the filter, looked up by id (CROSS JOIN keeps SQLite from walking an
    index the filter could use instead). Temporary tables are made with DDL only, which opens no transaction."""
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


# --- flags ---------------------------------------------------------------------------------------------------------


def _flag_sql(kind: str, cutoff_param: bool) -> str:
    conditions = {
        "duplicate": "e.successes > 1",
        "retry": "e.attempts > 1 AND e.attempts > e.successes",
        "dead-letter": "e.status = 'failed'",
        "pending-too-long": "e.status IN ('pending', 'retrying', 'in-flight') AND e.created_ts < ?"
        if cutoff_param
        else "0",
    }
    if kind in conditions:
        return conditions[kind]
    return f"e.id IN (SELECT id FROM temp.inspector_flagged WHERE kind = '{kind}')"


def mark_flags(source: Source, report: AnalysisReport) -> int:
    """Write what `report` found into `events.flags` (comma-separated kinds, in `KINDS` order; NULL for none) for the
    events it covered, in one transaction; rows whose flags do not change are not touched. Returns how many changed."""
    conn = _connection(source)
    register_functions(conn)
    cutoff = report.pending_cutoff
    has_cutoff = cutoff is not None
    parts = []
    part_params: list[Any] = []
    for kind in KINDS:
        parts.append(f"CASE WHEN {_flag_sql(kind, has_cutoff)} THEN '{kind},' ELSE '' END")
        if kind == "pending-too-long" and has_cutoff:
            part_params.append(cutoff)
    expression = f"nullif(rtrim({' || '.join(parts)}, ','), '')"
    any_condition = " OR ".join(f"({_flag_sql(kind, has_cutoff)})" for kind in KINDS)
    any_params = [cutoff] if has_cutoff else []
    began = not conn.in_transaction
    if began:
        conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS inspector_flagged (id TEXT, kind TEXT)")
        conn.execute("CREATE INDEX IF NOT EXISTS temp.inspector_flagged_id ON inspector_flagged (id, kind)")
        conn.execute("DELETE FROM temp.inspector_flagged")
        conn.executemany(
            "INSERT INTO temp.inspector_flagged (id, kind) VALUES (?, ?)",
            ((event_id, kind) for kind, ids in report.flagged.items() for event_id in ids),
        )
        conn.execute("DROP TABLE IF EXISTS temp.inspector_new_flags")
        conn.execute(
            f"CREATE TEMP TABLE inspector_new_flags AS SELECT e.seq AS seq, {expression} AS flags FROM events e "
            f"WHERE ({report.filter_where}) AND (e.flags IS NOT NULL OR {any_condition})",
            (*part_params, *report.params, *any_params),
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


# --- flows ---------------------------------------------------------------------------------------------------------


class FlowKey(NamedTuple):
    """One flow in a capture: its key, the key's column, when its first event was created, how many events it has."""

    key: str
    key_name: str
    started: float | None
    events: int


def _correlation_sql(config: CorrelationConfig) -> tuple[str, list[Any], str, list[Any]]:
    """SQL for the correlation value of `events e` and for its column's name, each with its parameters."""
    value_cases: list[str] = []
    value_params: list[Any] = []
    for table, column in config.columns.items():
        if not config.uses_row_key(table):
            value_cases.append(
                "WHEN ? THEN CAST(coalesce(json_extract(e.payload, ?), json_extract(e.payload, ?)) AS TEXT)"
            )
            value_params.extend([table, f"$.data.new.{_json_key(column)}", f"$.data.old.{_json_key(column)}"])
    value = f"CASE e.table_name {' '.join(value_cases)} ELSE e.row_key END" if value_cases else "e.row_key"
    names = {**config.row_key_columns, **config.columns}
    name = f"CASE e.table_name {' '.join(['WHEN ? THEN ?'] * len(names))} ELSE 'row_key' END" if names else "'row_key'"
    return value, value_params, name, [x for item in names.items() for x in item]


def _json_key(column: str) -> str:
    return column if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", column) else json.dumps(column)


def iter_flow_keys(
    source: Source, where: str = "1", params: Iterable[Any] = (), config: CorrelationConfig | None = None
) -> Iterator[FlowKey]:
    """The flows the events matching `where` belong to, in the order their first event was created."""
    conn = _connection(source)
    register_functions(conn)
    config = CorrelationConfig.auto(conn) if config is None else config.completed(conn)
    value, value_params, name, name_params = _correlation_sql(config)
    cursor = conn.execute(
        f"SELECT k, max(kn), min(created), count(*) FROM (SELECT {value} AS k, {name} AS kn, e.created_ts AS created "
        f"FROM events e WHERE ({where.strip() or '1'})) WHERE k IS NOT NULL GROUP BY k ORDER BY 3, 1",
        (*value_params, *name_params, *tuple(params)),
    )
    for key, key_name, started, count in cursor:
        yield FlowKey(str(key), str(key_name), started, int(count))


class _Event(NamedTuple):
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


class _Invocation(NamedTuple):
    id: str
    event_id: str
    attempt: int
    http_status: int | None
    status: int | None
    response: str | None
    created: float
    duration_ms: float | None
    source: str


_EVENT_COLUMNS = (
    "e.id, e.trigger_name, e.table_name, e.op, e.created_ts, e.seq, e.payload, e.status, e.delivered_ts, "
    "e.first_attempt_ts, e.attempts, e.successes, e.row_key, e.trace_id, e.session_role"
)


def _fts_query(key: str) -> str | None:
    tokens = re.findall(r"\w+", key)
    return '"' + " ".join(tokens) + '"' if tokens else None


def _member_events(conn: sqlite3.Connection, key: str, config: CorrelationConfig) -> dict[str, _Event]:
    members: dict[str, _Event] = {}
    for raw in conn.execute(f"SELECT {_EVENT_COLUMNS} FROM events e WHERE e.row_key = ?", (key,)):
        event = _Event(*raw)
        if config.value(event.table, _loads(event.payload))[1] == key:
            members[event.id] = event
    # Tables keyed by a column other than their row key (a foreign key): the full-text index finds their events
    # when the capture keeps one, otherwise their triggers' events are read.
    other_tables = [t for t in config.columns if not config.uses_row_key(t)]
    if other_tables:
        query = _fts_query(key)
        fts = (
            query is not None
            and conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = 'events_ai'").fetchone()
        )
        marks = ",".join("?" * len(other_tables))
        if fts:
            rows = conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events e WHERE e.seq IN (SELECT rowid FROM events_fts WHERE "
                f"events_fts MATCH ?) AND e.table_name IN ({marks})",
                (query, *other_tables),
            )
        else:
            rows = conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events e WHERE e.table_name IN ({marks}) AND instr(e.payload, ?)",
                (*other_tables, key),
            )
        for raw in rows:
            event = _Event(*raw)
            if event.id not in members and config.value(event.table, _loads(event.payload))[1] == key:
                members[event.id] = event
    if config.use_trace and members:
        # Trace mates join, unless their own key column is the flow's and names another value (one mutation that
        # inserted many orders is one trace: each order is still its own flow).
        key_columns = {config.column(m.table) for m in members.values()}
        traces = sorted({e.trace_id for e in members.values() if e.trace_id})
        for trace in traces:
            for raw in conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events e WHERE e.trace_id = ? LIMIT ?", (trace, _TRACE_LIMIT)
            ):
                event = _Event(*raw)
                if event.id in members:
                    continue
                value = config.value(event.table, _loads(event.payload))[1]
                if value is None or value == key or config.column(event.table) not in key_columns:
                    members[event.id] = event
    return members


_TRACE_LIMIT = 10_000
"""Events read per trace id when completing a flow."""


def _loads(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def flow_for_event(
    source: Source,
    event_id: str,
    config: CorrelationConfig | None = None,
    thresholds: Thresholds | None = None,
) -> Flow:
    """The flow an event belongs to (`KeyError` if the capture has no such event)."""
    conn = _connection(source)
    row = conn.execute("SELECT table_name, payload FROM events WHERE id = ?", (event_id,)).fetchone()
    if row is None:
        raise KeyError(event_id)
    config = CorrelationConfig.auto(conn) if config is None else config.completed(conn)
    name, value = config.value(str(row[0]), _loads(row[1]))
    if value is None:
        return _build_flow(conn, event_id, "id", {event_id: _event_by_id(conn, event_id)}, config, thresholds)
    return flow_for_key(conn, value, config, thresholds, key_name=name)


def _event_by_id(conn: sqlite3.Connection, event_id: str) -> _Event:
    return _Event(*conn.execute(f"SELECT {_EVENT_COLUMNS} FROM events e WHERE e.id = ?", (event_id,)).fetchone())


def flow_for_key(
    source: Source,
    key: str,
    config: CorrelationConfig | None = None,
    thresholds: Thresholds | None = None,
    key_name: str | None = None,
) -> Flow:
    """The flow of one correlation value (e.g. an order id): its events, invocations, the writes between them and
    the subscription messages about it, in causal order. An empty flow when no event carries the key."""
    conn = _connection(source)
    config = CorrelationConfig.auto(conn) if config is None else config.completed(conn)
    members = _member_events(conn, str(key), config)
    if key_name is None:
        names = [config.value(e.table, _loads(e.payload))[0] for e in members.values()]
        key_name = next((n for n in names if n), "row_key")
    return _build_flow(conn, str(key), key_name, members, config, thresholds)


def _build_flow(
    conn: sqlite3.Connection,
    key: str,
    key_name: str,
    members: Mapping[str, _Event],
    config: CorrelationConfig,
    thresholds: Thresholds | None,
) -> Flow:
    thresholds = thresholds or Thresholds()
    if not members:
        return Flow(key=key, key_name=key_name, steps=(), lanes=())
    infos = trigger_info(conn)
    events = sorted(members.values(), key=lambda e: (e.created, e.seq))
    invocations: dict[str, list[_Invocation]] = defaultdict(list)
    ids = [e.id for e in events]
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        placeholders = ",".join("?" * len(chunk))
        for raw in conn.execute(
            "SELECT id, event_id, attempt, http_status, status, response, created_ts, duration_ms, source "
            f"FROM invocations WHERE event_id IN ({placeholders}) ORDER BY created_ts, seq",
            chunk,
        ):
            invocations[raw[1]].append(_Invocation(*raw))

    anomalies = _flow_anomalies(conn, events, invocations, infos, thresholds)
    marks_by_event: dict[str, set[str]] = defaultdict(set)
    for anomaly in anomalies:
        if anomaly.event_id:
            marks_by_event[anomaly.event_id].add(anomaly.kind)

    # Steps, each with the step that caused it; emitted in causal order, earliest first where causality allows.
    steps: list[FlowStep] = []
    causes: list[int | None] = []

    def add(step: FlowStep, cause: int | None) -> int:
        steps.append(step)
        causes.append(cause)
        return len(steps) - 1

    invocation_steps: list[tuple[int, _Invocation, _Event, float]] = []  # (step, invocation, event, window start)
    writes: dict[tuple[str, float, str], int] = {}
    event_steps: list[tuple[float, int]] = []
    for event in events:
        info = _info(infos, event.trigger)
        payload = _loads(event.payload)
        cause_step = _attribute(event, invocation_steps)
        write_key = (event.table, event.created, event.op)
        if write_key in writes:
            write_step = writes[write_key]
        else:
            source = "client" if cause_step is None else steps[cause_step].target
            label = _write_label(event, payload)
            write_step = add(
                FlowStep(
                    kind="write",
                    at=event.created,
                    source=source,
                    target=f"table:{event.table}",
                    label=label if cause_step is not None or not event.role else f"{label} (role {event.role})",
                    event_id=event.id,
                ),
                cause_step,
            )
            writes[write_key] = write_step
        event_marks = tuple(
            k for k in KINDS if k in marks_by_event[event.id] and k in ("out-of-order", "pending-too-long")
        )
        event_step = add(
            FlowStep(
                kind="event",
                at=event.created,
                source=f"table:{event.table}",
                target=f"trigger:{event.trigger}",
                label=f"{event.op} event {_short(event.id)} ({event.status})",
                event_id=event.id,
                marks=event_marks,
            ),
            write_step,
        )
        event_steps.append((event.created, event_step))
        previous_at: float | None = None
        seen_ok = False
        failed_before = False
        event_invocations = invocations.get(event.id, [])
        for n, invocation in enumerate(event_invocations):
            ok = invocation.http_status is not None and 200 <= invocation.http_status < 300
            latency = _latency(invocation, event.created, previous_at, info)
            marks: list[str] = []
            if ok and seen_ok:
                marks.append("duplicate")
            if failed_before and invocation.attempt > 1:
                marks.append("retry")
            if n == 0 and "cold-start" in marks_by_event[event.id]:
                marks.append("cold-start")
            if ok and "out-of-order" in marks_by_event[event.id] and not seen_ok:
                marks.append("out-of-order")
            if "contract" in marks_by_event[event.id] and _invocation_breaks_contract(
                invocation, latency, info, thresholds, previous_at is not None
            ):
                marks.append("contract")
            if not ok and n == len(event_invocations) - 1 and event.status == "failed":
                marks.append("dead-letter")
            outcome = (
                f"HTTP {invocation.http_status}"
                if invocation.http_status is not None
                else _cause(None, invocation.status, invocation.response)
            )
            replay = " (replay)" if invocation.source != "hasura" else ""
            step = add(
                FlowStep(
                    kind="invocation",
                    at=invocation.created,
                    source=f"trigger:{event.trigger}",
                    target=f"handler:{info.handler_name}",
                    label=f"attempt {invocation.attempt}: {outcome} after {_ms(latency)}{replay}",
                    event_id=event.id,
                    invocation_id=invocation.id,
                    http_status=invocation.http_status,
                    duration_ms=round(latency * 1000, 3),
                    marks=tuple(k for k in KINDS if k in marks),
                ),
                event_step,
            )
            window = event.created if previous_at is None else previous_at
            invocation_steps.append((step, invocation, event, window))
            seen_ok = seen_ok or ok
            failed_before = failed_before or not ok
            previous_at = invocation.created

    # Subscription messages that mention the key, after the write they followed.
    first = min(s.at for s in steps)
    last = max(s.at for s in steps) + thresholds.flow_message_window_s
    for operation, name, received, kind, data, diff, rows in _messages(conn, key, first - 1.0, last):
        cause = _latest_before([(steps[i].at, i) for i in writes.values()] + event_steps, received)
        add(
            FlowStep(
                kind="message",
                at=received,
                source=_message_source(data),
                target=f"subscription:{name or f'operation {operation}'}",
                label=_message_label(key, kind, data, diff, rows),
            ),
            cause,
        )

    order = _causal_order(steps, causes)
    ordered = [steps[i] for i in order]
    lanes = _lanes(ordered)
    traces = tuple(dict.fromkeys(e.trace_id for e in events if e.trace_id))
    return Flow(
        key=key,
        key_name=key_name,
        steps=tuple(ordered),
        lanes=lanes,
        trace_ids=traces,
        anomalies=tuple(sorted(anomalies, key=lambda a: a.at if a.at is not None else math.inf)),
    )


def _attribute(event: _Event, invocation_steps: Sequence[tuple[int, _Invocation, _Event, float]]) -> int | None:
    """The step of the invocation whose handler's write raised `event` (see the module doc), or None (the client).
    Trace ids decide when both events have one: a different trace is a different cause."""
    best: tuple[tuple[float, float], int] | None = None
    after: tuple[float, int] | None = None
    for step, invocation, cause, window in invocation_steps:
        if cause.id == event.id or cause.created > event.created:
            continue
        traced = bool(event.trace_id and cause.trace_id)
        if traced and event.trace_id != cause.trace_id:
            continue
        if window <= event.created <= invocation.created:
            rank = (-window, invocation.created)  # the tightest window: the latest start, then the first answer
            if best is None or rank < best[0]:
                best = (rank, step)
        elif traced and invocation.created < event.created and (after is None or invocation.created > after[0]):
            after = (invocation.created, step)  # written after answering: only on the same trace
    if best is not None:
        return best[1]
    return None if after is None else after[1]


def _latest_before(candidates: Sequence[tuple[float, int]], at: float) -> int | None:
    best: tuple[float, int] | None = None
    for time, step in candidates:
        if time <= at and (best is None or time >= best[0]):
            best = (time, step)
    return None if best is None else best[1]


_RANK = {"write": 0, "event": 1, "invocation": 2, "message": 3}


def _causal_order(steps: Sequence[FlowStep], causes: Sequence[int | None]) -> list[int]:
    """Steps in an order where each follows its cause, the earliest ready step first."""
    children: dict[int, list[int]] = defaultdict(list)
    ready: list[tuple[float, int, int]] = []
    for index, cause in enumerate(causes):
        if cause is None:
            ready.append((steps[index].at, _RANK[steps[index].kind], index))
        else:
            children[cause].append(index)
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        _at, _rank, index = heapq.heappop(ready)
        order.append(index)
        for child in children.get(index, ()):
            heapq.heappush(ready, (steps[child].at, _RANK[steps[child].kind], child))
    return order


def _lanes(steps: Sequence[FlowStep]) -> tuple[str, ...]:
    seen: list[str] = []
    for step in steps:
        for lane in (step.source, step.target):
            if lane not in seen:
                seen.append(lane)
    tables = [lane for lane in seen if lane.startswith("table:")]
    subscriptions = [lane for lane in seen if lane.startswith("subscription:")]
    middle: list[str] = []
    for lane in seen:
        if lane.startswith("trigger:") and lane not in middle:
            middle.append(lane)
            for step in steps:
                if step.kind == "invocation" and step.source == lane and step.target not in middle:
                    middle.append(step.target)
    rest = [lane for lane in seen if lane not in middle and lane not in tables and lane not in subscriptions]
    client = [lane for lane in rest if lane == "client"]
    others = [lane for lane in rest if lane != "client"]
    return tuple(client + tables + middle + others + subscriptions)


def _write_label(event: _Event, payload: Any) -> str:
    data = payload.get("data") if isinstance(payload, Mapping) else None
    old = data.get("old") if isinstance(data, Mapping) else None
    new = data.get("new") if isinstance(data, Mapping) else None
    if event.op == "UPDATE" and isinstance(old, Mapping) and isinstance(new, Mapping):
        changed = [
            f"{column}: {json.dumps(old.get(column), ensure_ascii=False)} → {json.dumps(value, ensure_ascii=False)}"
            for column, value in new.items()
            if old.get(column) != value
        ]
        more = "; …" if len(changed) > 3 else ""
        return f"UPDATE {event.table}" + (f" ({'; '.join(changed[:3])}{more})" if changed else "")
    if event.op == "MANUAL":
        return f"manual invocation on {event.table}"
    return f"{event.op} {event.table}"


def _invocation_breaks_contract(
    invocation: _Invocation, latency: float, info: TriggerInfo, thresholds: Thresholds, retry: bool
) -> bool:
    timeout = info.timeout_s or thresholds.default_timeout_s
    ok = invocation.http_status is not None and 200 <= invocation.http_status < 300
    if ok and _body_problem(invocation.response) is not None:
        return True
    if not ok and _is_timeout(_cause(invocation.http_status, invocation.status, invocation.response)):
        return True
    return latency >= thresholds.near_timeout_ratio * timeout


def _flow_anomalies(
    conn: sqlite3.Connection,
    events: Sequence[_Event],
    invocations: Mapping[str, Sequence[_Invocation]],
    infos: Mapping[str, TriggerInfo],
    thresholds: Thresholds,
) -> list[Anomaly]:
    """The anomalies of a flow's events, with the same definitions as `analyse`."""
    found: list[Anomaly] = []
    activity = last_activity(conn)
    for event in events:
        info = _info(infos, event.trigger)
        timeout = info.timeout_s or thresholds.default_timeout_s
        attempts = invocations.get(event.id, [])
        if event.successes > 1:
            found.append(
                Anomaly(
                    "duplicate",
                    SEVERITY["duplicate"],
                    f"delivered {event.successes} times: the handler must be idempotent",
                    event.id,
                    event.trigger,
                    event.row_key,
                    event.delivered_ts,
                )
            )
        causes = [_cause(i.http_status, i.status, i.response) for i in attempts if not _ok(i)]
        if event.attempts > 1 and event.attempts > event.successes:
            found.append(
                Anomaly(
                    "retry",
                    SEVERITY["retry"],
                    f"{event.attempts} attempts: {', '.join(_summarise(causes)) or 'failures'} failed",
                    event.id,
                    event.trigger,
                    event.row_key,
                    event.created,
                )
            )
        if event.status == "failed":
            found.append(
                Anomaly(
                    "dead-letter",
                    SEVERITY["dead-letter"],
                    f"retries exhausted after {event.attempts} attempts (last: {causes[-1] if causes else 'none'})",
                    event.id,
                    event.trigger,
                    event.row_key,
                    event.created,
                )
            )
        if event.status in _OPEN and activity is not None and event.created < activity - thresholds.pending_s:
            found.append(
                Anomaly(
                    "pending-too-long",
                    SEVERITY["pending-too-long"],
                    f"not delivered {_ms(activity - event.created)} after creation ({event.status})",
                    event.id,
                    event.trigger,
                    event.row_key,
                    event.created,
                )
            )
        previous_at: float | None = None
        for invocation in attempts:
            latency = _latency(invocation, event.created, previous_at, info)
            message = None
            if _ok(invocation):
                problem = _body_problem(invocation.response)
                if problem is not None:
                    message = f"answered {invocation.http_status} with {problem}"
            elif _is_timeout(cause := _cause(invocation.http_status, invocation.status, invocation.response)):
                message = f"timed out ({cause}; timeout_sec {timeout:g})"
            if message is None and latency >= thresholds.near_timeout_ratio * timeout:
                what = "first attempt took" if previous_at is None else "attempt took about"
                message = f"{what} {_ms(latency)}, {latency / timeout:.0%} of timeout_sec {timeout:g}"
            if message is not None:
                found.append(
                    Anomaly(
                        "contract",
                        SEVERITY["contract"],
                        message,
                        event.id,
                        event.trigger,
                        event.row_key,
                        invocation.created,
                    )
                )
                break
            previous_at = invocation.created
        # cold start: is this event after an idle gap of its trigger?
        if event.first_attempt_ts is not None:
            previous = conn.execute(
                "SELECT max(created_ts) FROM events WHERE trigger_name = ? AND created_ts < ?",
                (event.trigger, event.created),
            ).fetchone()[0]
            if previous is None or event.created - previous >= thresholds.cold_start_idle_s:
                for event_id, at, message in _cold_start_at(conn, event.trigger, event.created, previous, thresholds):
                    if event_id == event.id:
                        found.append(
                            Anomaly(
                                "cold-start",
                                SEVERITY["cold-start"],
                                message,
                                event.id,
                                event.trigger,
                                event.row_key,
                                at,
                            )
                        )
    # out of order: partitions of the flow's events (a row's events all carry its key, so all are here)
    partitions: dict[tuple[str, str, str | None], list[_Row]] = defaultdict(list)
    for event in events:
        partitions[(event.trigger, event.table, event.row_key)].append(
            _Row(
                event.id,
                event.trigger,
                event.table,
                event.row_key,
                event.op,
                event.created,
                event.seq,
                event.delivered_ts,
                event.status,
                event.payload,
            )
        )
    for (trigger, _table, _key), rows in partitions.items():
        if len(rows) > 1:
            for row, message, shown in _partition_out_of_order(rows, _info(infos, trigger)):
                found.append(
                    Anomaly("out-of-order", SEVERITY["out-of-order"], message, row.id, row.trigger, row.row_key, shown)
                )
    return found


def _ok(invocation: _Invocation) -> bool:
    return invocation.http_status is not None and 200 <= invocation.http_status < 300


def _messages(
    conn: sqlite3.Connection, key: str, start: float, end: float
) -> Iterator[tuple[int, str | None, float, str, Any, Any, int | None]]:
    """Subscription messages received between `start` and `end` whose data (live queries: whose diff) mentions
    `key`. Messages are appended in the order received, so the time range is a `seq` range, found by bisection."""
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
    for seq, operation, name, received, kind, data, diff, rows, is_derived in found:
        if is_derived:
            changes = diffs.get(seq)
            if changes is None:
                if data is None or key not in data:
                    continue
            else:
                if key not in dumps(changes):
                    continue
                diff = dumps(changes)
        yield operation, name, received, kind, _loads(data), _loads(diff), rows


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


def _message_source(data: Any) -> str:
    if isinstance(data, Mapping) and data:
        root = next(iter(data))
        for suffix in ("_stream", "_by_pk", "_aggregate"):
            if root.endswith(suffix):
                root = root[: -len(suffix)]
        return f"table:{root}"
    return "server"


def _message_label(key: str, kind: str, data: Any, diff: Any, rows: int | None) -> str:
    if rows is not None:
        return f"{kind}: {rows} row{'s' if rows != 1 else ''}"
    if isinstance(diff, list):
        mine = [c for c in diff if isinstance(c, Mapping) and key in str(c.get("path", "")) + json.dumps(c)]
        parts = []
        for change in mine[:3]:
            path = str(change.get("path", ""))
            field_name = path.rsplit(".", 1)[-1] if "]." in path else path.rsplit("]", 1)[-1] or path
            if "new" in change and "old" in change:
                parts.append(f"{field_name} → {json.dumps(change['new'], ensure_ascii=False)}")
            elif "new" in change:
                parts.append("row added")
            else:
                parts.append("row removed")
        return f"{kind}: " + ("; ".join(parts) if parts else f"{len(diff)} change{'s' if len(diff) != 1 else ''}")
    return f"{kind}: result"
