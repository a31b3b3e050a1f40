"""Per-trigger figures: the events pass (counts by status, attempts, retries, duplicates, latency histograms, and
how many events each per-event anomaly condition matches), `Histogram` (percentiles exact to a bucket) and the
timeline's rows. Used by `report.analyse` and `AnalysisReport.timeline`; the SQL is in
`inspector.store.analysis_queries`."""

from __future__ import annotations

import math
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from inspector.store import analysis_queries as queries
from inspector.store.analysis_queries import OPEN_STATUSES

MAX_DENSE_BUCKETS = 200_000
"""`AnalysisReport.timeline` lists empty buckets too up to this many buckets."""


class EventState(NamedTuple):
    """An event's own delivery figures, what a per-event anomaly condition is judged on (see `detectors`)."""

    status: str
    attempts: int
    successes: int
    """Attempts answered 2xx."""
    before_cutoff: bool
    """Created before the pending cutoff (`Thresholds.pending_s` before the capture's last activity)."""


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


class TriggerTotals:
    """What the events pass counted for one trigger (and, later, the invocations pass's failure causes and the
    anomalies found in Python)."""

    def __init__(self) -> None:
        self.events = self.delivered = self.failed = self.pending = 0
        self.invocations = self.attempted = self.duplicate_extra = 0
        self.slow_first = 0
        """Events whose first attempt came at least `near_timeout_ratio` x the shortest `timeout_sec` after
        creation (the contract detector looks closer at these triggers)."""
        self.first = Histogram()
        self.delivery = Histogram()
        self.failures = 0
        self.successes = 0
        """Attempts answered 2xx."""
        self.causes: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        """Failed attempts by outcome (handler_error, timeout, connection_failure), from the invocations pass."""
        self.anomalies: Counter[str] = Counter()


def trigger_totals(
    conn: sqlite3.Connection,
    where: str,
    params: tuple[Any, ...],
    triggers: Sequence[str],
    slow_first_s: float,
    cutoff: float | None,
    conditions: Mapping[str, Callable[[EventState], bool]],
) -> dict[str, TriggerTotals]:
    """One pass over the events matching the filter (`queries.event_figures`): per-trigger counts, latency
    histograms, and how many events match each per-event anomaly condition (by kind)."""
    totals: dict[str, TriggerTotals] = defaultdict(TriggerTotals)
    for figures, n in queries.event_figures(conn, where, params, triggers, slow_first_s, cutoff):
        t = totals[figures.trigger]
        status, attempts, successes = figures.status, figures.attempts, figures.successes
        t.events += n
        t.delivered += n if status == "delivered" else 0
        if status == "failed":
            t.failed += n
        elif status in OPEN_STATUSES:
            t.pending += n
        t.invocations += attempts * n
        t.attempted += n if attempts > 0 else 0
        t.duplicate_extra += max(successes - 1, 0) * n
        t.successes += successes * n
        t.slow_first += n if figures.slow_first else 0
        if figures.sampled:
            t.first.add(figures.first_bucket, n)
            t.delivery.add(figures.delivery_bucket, n)
        state = EventState(status, attempts, successes, figures.before_cutoff)
        for kind, matches in conditions.items():
            t.anomalies[kind] += n if matches(state) else 0
    return totals


def timeline_rows(
    conn: sqlite3.Connection,
    where: str,
    params: tuple[Any, ...],
    bucket_seconds: float,
    started: float,
    ended: float,
) -> list[tuple[float, int, int, float | None, float | None]]:
    """(bucket start, events created, failed attempts, p50 ms, p95 ms) per `bucket_seconds` from `started` to
    `ended` (see `AnalysisReport.timeline`)."""
    first = math.floor(started / bucket_seconds)
    count = math.floor(ended / bucket_seconds) - first + 1
    buckets: dict[int, tuple[int, Histogram]] = {}
    for index, latency, n in queries.created_per_bucket(conn, where, params, bucket_seconds, first):
        events, histogram = buckets.get(index) or (0, Histogram())
        histogram.add(latency, n)
        buckets[index] = (events + n, histogram)
    failures: Counter[int] = Counter()
    for index, n in queries.failures_per_bucket(conn, where, params, bucket_seconds, first):
        failures[index] += n
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
