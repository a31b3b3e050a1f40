"""Flows: one user action followed through tables, triggers, handlers and subscriptions, in causal order
(`flow_for_event`, `flow_for_key`), with the anomalies of its events (each registered detector's `in_flow`) drawn
as marks on its steps. Produces `inspector.core.flows.Flow`; the window's flow views call it in a worker thread.
The SQL is in `inspector.store.analysis_queries`."""

from __future__ import annotations

import heapq
import json
import math
import sqlite3
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from inspector.core.flows import Anomaly, Flow, FlowStep
from inspector.services.analysis import detectors as registry
from inspector.services.analysis.attempts import cause, is_ok, latency, ms, short
from inspector.services.analysis.capture_reading import Source, connection, info_of, last_activity, loads, trigger_info
from inspector.services.analysis.correlation import CorrelationConfig, member_events
from inspector.services.analysis.thresholds import Thresholds
from inspector.store import analysis_queries as queries
from inspector.store.analysis_queries import EventRow, InvocationRow

REPLAY_SOURCE = "replay"
"""`invocations.source` of an attempt Inspector made (`inspector.store.replay_records`)."""
REPLAY_MARK = "replay"
"""The badge of a replay's step: told apart from the event's own attempts, which carry the anomaly marks."""


def flow_for_event(
    source: Source,
    event_id: str,
    config: CorrelationConfig | None = None,
    thresholds: Thresholds | None = None,
) -> Flow:
    """The flow an event belongs to (`KeyError` if the capture has no such event)."""
    conn = connection(source)
    row = queries.event_table_and_payload(conn, event_id)
    if row is None:
        raise KeyError(event_id)
    config = CorrelationConfig.auto(conn) if config is None else config.completed(conn)
    name, value = config.value(row[0], loads(row[1]))
    if value is None:
        return _build_flow(conn, event_id, "id", {event_id: queries.event_by_id(conn, event_id)}, thresholds)
    return flow_for_key(conn, value, config, thresholds, key_name=name)


def flow_for_key(
    source: Source,
    key: str,
    config: CorrelationConfig | None = None,
    thresholds: Thresholds | None = None,
    key_name: str | None = None,
) -> Flow:
    """The flow of one correlation value (e.g. an order id): its events, invocations, the writes between them and
    the subscription messages about it, in causal order. An empty flow when no event carries the key."""
    conn = connection(source)
    config = CorrelationConfig.auto(conn) if config is None else config.completed(conn)
    members = member_events(conn, str(key), config)
    if key_name is None:
        names = [config.value(e.table, loads(e.payload))[0] for e in members.values()]
        key_name = next((n for n in names if n), "row_key")
    return _build_flow(conn, str(key), key_name, members, thresholds)


def flow_anomalies(context: registry.FlowContext) -> list[Anomaly]:
    """The anomalies of a flow's events, with the same definitions as `analyse` (every detector's `in_flow`)."""
    return [anomaly for found in registry.detectors() for anomaly in found.in_flow(context)]


def _build_flow(
    conn: sqlite3.Connection,
    key: str,
    key_name: str,
    members: Mapping[str, EventRow],
    thresholds: Thresholds | None,
) -> Flow:
    thresholds = thresholds or Thresholds()
    if not members:
        return Flow(key=key, key_name=key_name, steps=(), lanes=())
    infos = trigger_info(conn)
    events = sorted(members.values(), key=lambda e: (e.created, e.seq))
    invocations: dict[str, list[InvocationRow]] = defaultdict(list)
    replays: dict[str, list[InvocationRow]] = defaultdict(list)
    for invocation in queries.invocations_of(conn, [e.id for e in events]):
        # A replay (Inspector's own attempt, not the event's delivery) is drawn apart and never judged as a retry,
        # dead letter or any other anomaly of the delivery; the relay's forwards are deliveries.
        (replays if invocation.source == REPLAY_SOURCE else invocations)[invocation.event_id].append(invocation)

    anomalies = flow_anomalies(registry.FlowContext(conn, events, invocations, infos, thresholds, last_activity(conn)))
    marks_by_event: dict[str, set[str]] = defaultdict(set)
    for anomaly in anomalies:
        if anomaly.event_id:
            marks_by_event[anomaly.event_id].add(anomaly.kind)
    found = registry.detectors()
    event_markers = [d.kind for d in found if d.marks_event]
    attempt_markers = [(d.kind, d.marks_attempt) for d in found if d.marks_attempt is not None]

    # Steps, each with the step that caused it; emitted in causal order, earliest first where causality allows.
    steps: list[FlowStep] = []
    causes: list[int | None] = []

    def add(step: FlowStep, cause_step: int | None) -> int:
        steps.append(step)
        causes.append(cause_step)
        return len(steps) - 1

    invocation_steps: list[tuple[int, InvocationRow, EventRow, float]] = []  # (step, invocation, event, window start)
    writes: dict[tuple[str, float, str], int] = {}
    event_steps: list[tuple[float, int]] = []
    for event in events:
        info = info_of(infos, event.trigger)
        payload = loads(event.payload)
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
        flagged = frozenset(marks_by_event[event.id])
        event_step = add(
            FlowStep(
                kind="event",
                at=event.created,
                source=f"table:{event.table}",
                target=f"trigger:{event.trigger}",
                label=f"{event.op} event {short(event.id)} ({event.status})",
                event_id=event.id,
                marks=tuple(k for k in event_markers if k in flagged),
            ),
            write_step,
        )
        event_steps.append((event.created, event_step))
        previous_at: float | None = None
        seen_ok = False
        failed_before = False
        event_invocations = invocations.get(event.id, [])
        for n, invocation in enumerate(event_invocations):
            ok = is_ok(invocation)
            took = latency(invocation, event.created, previous_at, info)
            view = registry.AttemptView(
                event,
                invocation,
                n,
                len(event_invocations),
                ok,
                seen_ok,
                failed_before,
                flagged,
                took,
                previous_at is not None,
                info,
                thresholds,
            )
            outcome = _outcome_text(invocation)
            relayed = " (relay)" if invocation.source != "hasura" else ""
            step = add(
                FlowStep(
                    kind="invocation",
                    at=invocation.created,
                    source=f"trigger:{event.trigger}",
                    target=f"handler:{info.handler_name}",
                    label=f"attempt {n + 1}: {outcome} after {ms(took)}{relayed}",
                    event_id=event.id,
                    invocation_id=invocation.id,
                    http_status=invocation.http_status,
                    duration_ms=round(took * 1000, 3),
                    marks=tuple(kind for kind, marks in attempt_markers if marks(view)),
                    outcome=invocation.outcome,
                ),
                event_step,
            )
            window = event.created if previous_at is None else previous_at
            invocation_steps.append((step, invocation, event, window))
            seen_ok = seen_ok or ok
            failed_before = failed_before or not ok
            previous_at = invocation.created
        for invocation in replays.get(event.id, []):
            took_ms = invocation.duration_ms
            add(
                FlowStep(
                    kind="invocation",
                    at=invocation.created,
                    source=f"trigger:{event.trigger}",
                    target=f"handler:{info.handler_name}",
                    label=f"replay: {_outcome_text(invocation)}"
                    + ("" if took_ms is None else f" after {ms(took_ms / 1000)}"),
                    event_id=event.id,
                    invocation_id=invocation.id,
                    http_status=invocation.http_status,
                    duration_ms=took_ms,
                    marks=(REPLAY_MARK,),
                    outcome=invocation.outcome,
                ),
                event_step,
            )

    # Subscription messages that mention the key, after the write they followed.
    first = min(s.at for s in steps)
    last = max(s.at for s in steps) + thresholds.flow_message_window_s
    # imported here: graphql_ops loads graphql-core, which `inspector --help` (and so `inspector stats`'s parser,
    # which imports this package) should not pay for
    from inspector.core.graphql_ops import subscription_name

    for operation, name, received, kind, data_text, diff_text, rows in queries.messages_mentioning(
        conn, key, first - 1.0, last
    ):
        data, diff = loads(data_text), loads(diff_text)
        after = _latest_before([(steps[i].at, i) for i in writes.values()] + event_steps, received)
        add(
            FlowStep(
                kind="message",
                at=received,
                source=_message_source(data),
                target=f"subscription:{subscription_name(operation, name)}",
                label=_message_label(key, kind, data, diff, rows),
            ),
            after,
        )

    order = _causal_order(steps, causes)
    ordered = [steps[i] for i in order]
    lanes = _lanes(ordered)
    traces = tuple(dict.fromkeys(e.trace_id for e in events if e.trace_id))
    kind_rank = {kind: n for n, kind in enumerate(registry.kinds())}
    return Flow(
        key=key,
        key_name=key_name,
        steps=tuple(ordered),
        lanes=lanes,
        trace_ids=traces,
        anomalies=tuple(
            sorted(anomalies, key=lambda a: (a.at if a.at is not None else math.inf, kind_rank.get(a.kind, 0)))
        ),
    )


def _attribute(event: EventRow, invocation_steps: Sequence[tuple[int, InvocationRow, EventRow, float]]) -> int | None:
    """The step of the invocation whose handler's write raised `event` (see the package doc), or None (the client).
    Trace ids decide when both events have one: a different trace is a different cause."""
    best: tuple[tuple[float, float], int] | None = None
    after: tuple[float, int] | None = None
    for step, invocation, raised_by, window in invocation_steps:
        if raised_by.id == event.id or raised_by.created > event.created:
            continue
        traced = bool(event.trace_id and raised_by.trace_id)
        if traced and event.trace_id != raised_by.trace_id:
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
    for index, cause_step in enumerate(causes):
        if cause_step is None:
            ready.append((steps[index].at, _RANK[steps[index].kind], index))
        else:
            children[cause_step].append(index)
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


def _write_label(event: EventRow, payload: Any) -> str:
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


def _outcome_text(invocation: InvocationRow) -> str:
    """`HTTP 500`, or why there was no answer (a timeout, a connection failure)."""
    if invocation.outcome in ("ok", "handler_error") and invocation.http_status is not None:
        return f"HTTP {invocation.http_status}"
    return cause(invocation.http_status, invocation.status, invocation.response, invocation.outcome)


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
