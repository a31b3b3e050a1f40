"""`analyse`: per-trigger figures, the service map's edges and every registered detector's anomalies over a capture
(or the events matching a filter), as an `AnalysisReport`; `mark_flags` writes what it found into `events.flags`.
Used by `inspector stats`, the window's flows panel (in a worker thread) and the benchmarks.

How it stays fast and flat on a million events: one sequential pass over `events` (SQLite packs each row's figures
into an integer, `collections.Counter` groups them in C), one over `invocations` (only failed attempts, retries and
suspicious 2xx bodies come back to Python), index seeks for idle gaps, the `row_key` index for rows with more than
one event per trigger, and small example queries. The invocations pass and the detectors that run alone (the
out-of-order pass) run in worker threads on their own connections while the events pass runs (each is one SQLite
statement, so they run without the GIL). Only what was found is held in Python."""

from __future__ import annotations

import dataclasses
import math
import sqlite3
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from inspector.core.events import OUTCOMES
from inspector.core.flows import Anomaly, ServiceEdge, TriggerStats
from inspector.services.analysis import detectors as registry
from inspector.services.analysis import statistics
from inspector.services.analysis.attempts import cause
from inspector.services.analysis.capture_reading import Source, connection, info_of, timeout_of, trigger_info
from inspector.services.analysis.statistics import EventState, TriggerTotals
from inspector.services.analysis.thresholds import Thresholds
from inspector.store import analysis_queries as queries
from inspector.store.filter_sql import register_functions

_T = TypeVar("_T")

__all__ = ["AnalysisReport", "analyse", "mark_flags"]


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
    """Every event id flagged with the kinds found in Python (detectors without an `EventCondition`: out-of-order,
    cold-start, contract); the other kinds are SQL conditions on `events`, applied again by `mark_flags`."""
    connection: sqlite3.Connection | None = field(default=None, repr=False)

    def by_kind(self) -> dict[str, list[Anomaly]]:
        grouped: dict[str, list[Anomaly]] = {}
        for anomaly in self.anomalies:
            grouped.setdefault(anomaly.kind, []).append(anomaly)
        return {kind: grouped[kind] for kind in registry.kinds() if kind in grouped}

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
        (exact to a histogram bucket). Every bucket is listed, empty ones too, up to
        `statistics.MAX_DENSE_BUCKETS`; beyond that only those with events or failures. Reads through the report's
        connection unless given another."""
        if not bucket_seconds > 0:
            raise ValueError("bucket_seconds must be positive")
        conn = connection(source) if source is not None else self.connection
        if conn is None:
            raise ValueError("this report has no connection; pass one")
        if self.started is None or self.ended is None:
            return []
        register_functions(conn)
        return statistics.timeline_rows(conn, self.filter_where, self.params, bucket_seconds, self.started, self.ended)


class _Collector:
    """Anomalies as they are found: the first `limit` of each kind, and the events flagged with the kinds found in
    Python (with their trigger, for the per-trigger counts)."""

    def __init__(self, limit: int, python_kinds: Iterable[str]) -> None:
        self.limit = limit
        self.examples: dict[str, list[Anomaly]] = defaultdict(list)
        self.flagged: dict[str, dict[str, str]] = {kind: {} for kind in python_kinds}

    def keep(self, anomaly: Anomaly) -> None:
        if len(self.examples[anomaly.kind]) < self.limit:
            self.examples[anomaly.kind].append(anomaly)

    def flag(self, anomaly: Anomaly) -> None:
        """An anomaly of a kind found in Python: counted once per event."""
        assert anomaly.event_id is not None and anomaly.trigger is not None
        seen = self.flagged[anomaly.kind]
        if anomaly.event_id not in seen:
            seen[anomaly.event_id] = anomaly.trigger
            self.keep(anomaly)


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


def _scan_alone(conn: sqlite3.Connection, found: registry.Detector, context: registry.ScanContext) -> list[Anomaly]:
    assert found.scan is not None
    return list(found.scan(context.on(conn)))


def _invocation_pass(
    conn: sqlite3.Connection, context: registry.ScanContext, visiting: Sequence[registry.Detector]
) -> tuple[Counter[tuple[str, str]], Counter[tuple[str, str]], dict[str, list[Anomaly]]]:
    """One pass over the invocations (unfiltered unless a filter is given, in capture order): failed attempts by
    (trigger, cause) and by (trigger, outcome), and what each visiting detector found."""
    context = context.on(conn)
    causes: Counter[tuple[str, str]] = Counter()
    outcomes: Counter[tuple[str, str]] = Counter()
    visitors = [(d.kind, d.invocations(context)) for d in visiting if d.invocations is not None]
    for row in queries.invocation_pass(conn, context.where, context.params):
        ok = row.outcome == "ok"
        failure = None if ok else cause(row.http_status, row.status, row.text, row.outcome)
        if failure is not None:
            causes[(row.trigger, failure)] += 1
            outcomes[(row.trigger, row.outcome)] += 1
        for _kind, visitor in visitors:
            visitor.visit(row, failure)
    return causes, outcomes, {kind: list(visitor.found()) for kind, visitor in visitors}


def analyse(
    source: Source,
    filter_where: str = "1",
    params: Iterable[Any] = (),
    thresholds: Thresholds | None = None,
) -> AnalysisReport:
    """Per-trigger figures, the service map's edges and the anomalies of the events matching `filter_where` (an SQL
    predicate over `events e`, e.g. a compiled display filter, with its `params`).

    Passes run in worker threads on their own connections (see `_Jobs`); `interrupt()` on the given connection from
    another thread cancels the whole analysis (`sqlite3.OperationalError: interrupted`). Leaves no transaction open
    on the connection."""
    thresholds = thresholds or Thresholds()
    conn = connection(source)
    register_functions(conn)
    params = tuple(params)
    where = filter_where.strip() or "1"
    filtered = where != "1"
    infos = trigger_info(conn)
    triggers = queries.trigger_names(conn)
    activity = queries.last_activity(conn)
    cutoff = None if activity is None else activity - thresholds.pending_s
    found_detectors = registry.detectors()
    by_condition = [d for d in found_detectors if d.condition is not None]
    in_python = [d for d in found_detectors if d.condition is None]
    found = _Collector(thresholds.max_anomalies_per_kind, (d.kind for d in in_python))
    context = registry.ScanContext(conn, infos, triggers, thresholds, where, params, activity, cutoff)
    # First attempts this slow may break a handler's contract: the events pass counts them per trigger.
    slow_first_s = min(
        [thresholds.near_timeout_ratio * timeout_of(infos, t, thresholds) for t in infos]
        + [thresholds.near_timeout_ratio * thresholds.default_timeout_s]
    )

    jobs = _Jobs(conn)
    try:
        # The passes that need no figures run beside the events pass.
        alone = {d.kind: jobs.submit(_scan_alone, d, context) for d in in_python if d.scan is not None and d.scan_alone}
        invocation_pass = jobs.submit(_invocation_pass, context, [d for d in in_python if d.invocations is not None])
        totals = statistics.trigger_totals(
            conn,
            where,
            params,
            triggers,
            slow_first_s,
            cutoff,
            {d.kind: d.condition.matches for d in by_condition if d.condition is not None},
        )
        started, ended = queries.span(conn, where, params, filtered)
        _examples(conn, context, by_condition, totals, found)
        with_figures = registry.ScanContext(conn, infos, triggers, thresholds, where, params, activity, cutoff, totals)
        scanned = {d.kind: list(d.scan(with_figures)) for d in in_python if d.scan is not None and not d.scan_alone}
        causes, outcomes, visited = invocation_pass()
        scanned_alone = {kind: result() for kind, result in alone.items()}
    except BaseException:
        jobs.close(failed=True)
        raise
    jobs.close()
    for (trigger, failure), n in causes.items():
        if trigger in totals:
            totals[trigger].causes[failure] += n
            totals[trigger].failures += n
    for (trigger, outcome), n in outcomes.items():
        if trigger in totals:
            totals[trigger].outcomes[outcome] += n
    # Each kind's anomalies: the invocations pass's first (a timeout says more than a slow attempt), then its scan's.
    per_kind = {
        d.kind: [*visited.get(d.kind, []), *scanned.get(d.kind, []), *scanned_alone.get(d.kind, [])] for d in in_python
    }
    whole = [d.kind for d in in_python if d.whole_capture]
    if filtered and whole:
        kept = queries.matching_ids(
            conn, [a.event_id for kind in whole for a in per_kind[kind] if a.event_id], where, params
        )
        for kind in whole:
            per_kind[kind] = [a for a in per_kind[kind] if a.event_id in kept]
    everything = [a for d in in_python for a in per_kind[d.kind]]
    for anomaly in sorted(everything, key=lambda a: a.at if a.at is not None else math.inf):
        found.flag(anomaly)
    for kind, flagged in found.flagged.items():
        for trigger in flagged.values():
            totals[trigger].anomalies[kind] += 1

    kinds = registry.kinds()
    counts = Counter({kind: sum(t.anomalies[kind] for t in totals.values()) for kind in kinds})
    stats: list[TriggerStats] = []
    edges: list[ServiceEdge] = []
    for name in sorted(totals):
        t = totals[name]
        info = info_of(infos, name)
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
                anomalies={k: t.anomalies[k] for k in kinds if t.anomalies[k]},
                retry_causes=dict(t.causes.most_common()),
                outcomes={"ok": t.successes, **{o: t.outcomes[o] for o in OUTCOMES if o != "ok"}},
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
    anomalies = _with_row_keys(
        conn,
        sorted(
            (a for kind in kinds for a in found.examples.get(kind, [])),
            key=lambda a: (kinds.index(a.kind), a.at if a.at is not None else math.inf),
        ),
    )
    return AnalysisReport(
        triggers=stats,
        edges=edges,
        anomalies=anomalies,
        counts={k: counts[k] for k in kinds},
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


def _with_row_keys(conn: sqlite3.Connection, anomalies: list[Anomaly]) -> list[Anomaly]:
    """The anomalies with their event's row key where the detector did not give one (those found from an example
    row or an invocation, which carry no row key), so that every anomaly of an event names its row."""
    missing = [a.event_id for a in anomalies if a.event_id and a.row_key is None]
    if not missing:
        return anomalies
    keys = queries.row_keys(conn, missing)
    return [
        dataclasses.replace(a, row_key=keys.get(a.event_id)) if a.event_id and a.row_key is None else a
        for a in anomalies
    ]


def _examples(
    conn: sqlite3.Connection,
    context: registry.ScanContext,
    by_condition: Sequence[registry.Detector],
    totals: Mapping[str, TriggerTotals],
    found: _Collector,
) -> None:
    """The first events of each per-event kind, in capture order, described from their attempts: one scan that
    stops when every kind that occurs has its examples."""
    # how many examples of each kind there will be: the scan stops when it has them all
    wanted = {d.kind: min(found.limit, sum(t.anomalies[d.kind] for t in totals.values())) for d in by_condition}
    conditions = {d.kind: d.condition for d in by_condition if d.condition is not None and wanted[d.kind]}
    if not conditions:
        return
    cutoff = context.cutoff
    scope = registry.ExampleScope(context.activity, cutoff)
    rows = queries.example_rows(
        conn, context.where, context.params, [condition.sql(cutoff) for condition in conditions.values()]
    )
    for row in rows:
        state = EventState(row.status, row.attempts, row.successes, cutoff is not None and row.created < cutoff)
        matched = [
            (kind, condition)
            for kind, condition in conditions.items()
            if condition.matches(state) and len(found.examples[kind]) < wanted[kind]
        ]
        if not matched:
            continue
        tried = queries.attempts_of(conn, row.id) if any(c.needs_attempts for _k, c in matched) else []
        for _kind, condition in matched:
            found.keep(condition.example(row, tried if condition.needs_attempts else [], scope))
        if all(len(found.examples[kind]) >= n for kind, n in wanted.items()):
            break
    rows.close()


def mark_flags(source: Source, report: AnalysisReport) -> int:
    """Write what `report` found into `events.flags` (comma-separated kinds, in `kinds()` order; NULL for none) for
    the events it covered, in one transaction; rows whose flags do not change are not touched. Returns how many
    changed."""
    conn = connection(source)
    register_functions(conn)
    kinds = [
        (d.kind, d.condition.sql(report.pending_cutoff) if d.condition is not None else None)
        for d in registry.detectors()
    ]
    return queries.write_flags(conn, kinds, report.flagged, report.filter_where, report.params)
