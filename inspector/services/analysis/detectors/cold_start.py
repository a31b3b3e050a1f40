"""cold-start: the first attempt of an event E of trigger T when (1) T's handler had been idle: no event of T was
created in the `cold_start_idle_s` before E, and no attempt of the event of T just before E was logged in that time
(a retry or a late answer); the first event of T in the capture counts as after idle (the capture cannot tell);
retries of older events during the gap are not looked at; (2) E's first-attempt latency L = invocation.created_at -
event.created_at (Hasura logs no duration; this includes the wait for the next fetch) is above `cold_start_factor` x
the warm median M and L - M > `cold_start_min_ms`. The warm median is that of the first-attempt latencies of up to
`cold_start_baseline` events of T created just before E (just after, when fewer than `cold_start_min_samples` exist
before), leaving out events that themselves followed an idle gap.

Judged against the whole capture, with index seeks (about two per idle gap)."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator

from inspector.core.flows import Anomaly
from inspector.services.analysis.attempts import ms
from inspector.services.analysis.detectors import AttemptView, Detector, FlowContext, Look, ScanContext, register
from inspector.services.analysis.thresholds import Thresholds
from inspector.store import analysis_queries as queries


def warm_median(
    conn: sqlite3.Connection, trigger: str, created: float, thresholds: Thresholds
) -> tuple[float | None, int]:
    """(median first-attempt latency in seconds, samples) of the warm events of `trigger` near `created`: up to
    `cold_start_baseline` created just before it, else just after it, leaving out events that followed an idle gap
    (they may be cold themselves)."""
    idle = thresholds.cold_start_idle_s
    for before in (True, False):
        rows = queries.neighbour_first_attempts(conn, trigger, created, before, thresholds.cold_start_baseline + 1)
        # Before: the earliest row only gives the gap of the next one. After: gaps are counted from `created`.
        pairs = itertools.pairwise(rows) if before else zip([(created, None), *rows], rows, strict=False)
        latencies = sorted(b[1] - b[0] for a, b in pairs if b[1] is not None and b[0] - a[0] < idle)
        if len(latencies) >= thresholds.cold_start_min_samples:
            return latencies[(len(latencies) - 1) // 2], len(latencies)
    return None, 0


def cold_starts_at(
    conn: sqlite3.Connection, trigger: str, created: float, previous: float | None, thresholds: Thresholds
) -> list[tuple[str, float, str]]:
    """(event id, invocation time, message) for the events of `trigger` created at `created` (after an idle gap
    since `previous`) whose first attempt was a cold start."""
    found: list[tuple[str, float, str]] = []
    if previous is not None and queries.attempted_between(
        conn, trigger, previous, created - thresholds.cold_start_idle_s, created
    ):
        return found  # the previous event was attempted (a retry, a late answer) during the gap: not idle
    idle = None if previous is None else created - previous
    median: float | None = None
    for event_id, first_attempt in queries.first_attempts_created_at(conn, trigger, created):
        latency = first_attempt - created
        if latency * 1000 <= thresholds.cold_start_min_ms:
            continue
        if median is None:
            median, _samples = warm_median(conn, trigger, created, thresholds)
            if median is None:
                return found
        if latency > thresholds.cold_start_factor * median and (latency - median) * 1000 > thresholds.cold_start_min_ms:
            after = "as the first call in the capture" if idle is None else f"after {ms(idle)} without events"
            found.append(
                (
                    event_id,
                    first_attempt,
                    f"first attempt answered after {ms(latency)}, {latency / max(median, 1e-6):.0f}x the warm "
                    f"median {ms(median)}, {after}",
                )
            )
    return found


def _scan(context: ScanContext) -> Iterator[Anomaly]:
    """Every cold start in the capture: the events after each idle gap of each trigger."""
    thresholds = context.thresholds
    for trigger in context.triggers:
        for created, previous in queries.idle_gaps(context.conn, trigger, thresholds.cold_start_idle_s):
            for event_id, at, message in cold_starts_at(context.conn, trigger, created, previous, thresholds):
                yield COLD_START.anomaly(message, event_id, trigger, None, at)


def _in_flow(flow: FlowContext) -> Iterator[Anomaly]:
    thresholds = flow.thresholds
    for event in flow.events:
        if event.first_attempt_ts is None:
            continue
        previous = queries.previous_creation(flow.conn, event.trigger, event.created)
        if previous is None or event.created - previous >= thresholds.cold_start_idle_s:
            for event_id, at, message in cold_starts_at(flow.conn, event.trigger, event.created, previous, thresholds):
                if event_id == event.id:
                    yield COLD_START.anomaly(message, event.id, event.trigger, event.row_key, at)


def _marks_attempt(attempt: AttemptView) -> bool:
    return attempt.index == 0 and "cold-start" in attempt.flagged


COLD_START = register(
    Detector(
        kind="cold-start",
        position=60,
        severity="info",
        title="Cold starts",
        description=(
            "its first attempt came after its trigger had been idle for `cold_start_idle_s` (30 s) and took more "
            "than `cold_start_factor` (3) x the warm median and more than `cold_start_min_ms` (500 ms) above it"
        ),
        look=Look(
            "cold start",
            "Cold start",
            "#2F6DA8",
            "A first invocation after idle, much slower than the handler's median.",
            priority=5,
        ),
        scan=_scan,
        whole_capture=True,
        in_flow=_in_flow,
        marks_attempt=_marks_attempt,
    )
)
