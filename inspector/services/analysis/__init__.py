"""Delivery analysis over a capture file: flows (one user action followed through tables, triggers, handlers and
subscriptions) and anomalies (what at-least-once, unordered delivery did), with per-trigger figures.

This module is the package's public face (callers import from here). By job:

- `correlation`: which events belong together (`CorrelationConfig`, `iter_flow_keys`);
- `flows`: a flow's steps in causal order, with its anomalies as marks (`flow_for_event`, `flow_for_key`);
- `statistics`: the events pass, per-trigger figures, histograms and the timeline;
- `report`: `analyse` (the passes, in worker threads) and `mark_flags`; `AnalysisReport`;
- `detectors/`: one module per anomaly kind, each registering a `Detector` (kind, severity, title, description,
  look on the pictures, how it is found over a capture and in a flow); `detectors.kinds()` lists them;
- `capture_reading` (trigger snapshots, last activity), `attempts` (causes, latencies, message wording),
  `thresholds`.

Every SQL statement is in `inspector.store.analysis_queries`, except the per-event conditions of the detectors that
have one (a one-line predicate over `events e`, e.g. `e.successes > 1`), which that module composes. Produces the
shapes of `inspector.core.flows`. GUI-free: `inspector stats`, the window's flow and service-map views (in a worker
thread) and the benchmarks call it. Calls take a `sqlite3.Connection` or a `CaptureFile`.

Adding an anomaly kind is one new file in `detectors/` plus its test: see `detectors/__init__.py` for what a
`Detector` declares. `analyse`, `mark_flags`, the flows, `inspector stats`, the anomalies panel and the pictures'
marks all read the registry (`tests/services/analysis/test_detector_registry.py` shows it with a test-only kind).

Correlation (`CorrelationConfig`): a flow is keyed by one value, by default the key of the capture's *root* table
and the foreign keys pointing at it: the root is the table whose `<singular>_id` other tables carry (the 3factor
example: `orders`, key `order_id`, so `payments.order_id`, `items.order_id` and `assignment.order_id` join its flows);
other tables use their own row key (`row_key` in `core.events`). Per table configurable:
`CorrelationConfig({"orders": "order_id", "payments": "order_id"})`. The value is `data.new.<k>`, else `data.old.<k>`.
Events sharing a `trace_id` (their payload's `trace_context`) with a flow's events join it too, except those whose own
correlation value names another flow: Hasura sends the trace to each handler in B3 headers (`X-B3-TraceId`,
`X-B3-SpanId`, `X-B3-ParentSpanId`; its default propagator) and also as W3C `traceparent` when configured with
`traces_propagators: ["tracecontext"]`, and continues it from either in the GraphQL requests a handler makes with the
headers it received, so whichever the server sends, the events a handler's writes raise carry its event's trace.

Causal order: an event is created by a write; its invocations follow; an event E' is attributed to the invocation I
of an earlier event of the flow whose time window contains E'.created_at (from the previous attempt, or I's event's
creation, to I's answer: the handler's write raised it before it answered), the tightest such window (latest start,
then first answer); else, on the same trace, to the latest invocation answered before it (work after answering);
else to the client. When both events carry a trace id, a different trace is never the cause. Subscription messages
whose data (or, for live queries, whose diff) mentions the key, received from the first step to 30 s after the last,
follow the write they came after. Steps are listed in that causal order, chronological where causality allows; an
invocation's `at` is when Hasura logged it (after the answer), so a write it caused can carry an earlier `at`.

Anomalies, precisely (thresholds in `Thresholds`; each definition is also its detector module's docstring):

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

from inspector.services.analysis.capture_reading import Source, TriggerInfo, last_activity, trigger_info
from inspector.services.analysis.correlation import CorrelationConfig, FlowKey, iter_flow_keys
from inspector.services.analysis.detectors import Detector, detector, kinds, register, severity
from inspector.services.analysis.flows import flow_for_event, flow_for_key
from inspector.services.analysis.report import AnalysisReport, analyse, mark_flags
from inspector.services.analysis.thresholds import Thresholds

__all__ = [
    "KINDS",
    "SEVERITY",
    "AnalysisReport",
    "CorrelationConfig",
    "Detector",
    "FlowKey",
    "Source",
    "Thresholds",
    "TriggerInfo",
    "analyse",
    "detector",
    "flow_for_event",
    "flow_for_key",
    "iter_flow_keys",
    "kinds",
    "last_activity",
    "mark_flags",
    "register",
    "severity",
    "trigger_info",
]
# `detectors` stays the subpackage (the registry), so its function of that name is not re-exported here.

KINDS: tuple[str, ...] = kinds()
"""The built-in anomaly kinds, in the order they are listed and written into `events.flags` (`kinds()` also lists
detectors registered later)."""

SEVERITY = {kind: severity(kind) for kind in KINDS}
"""The built-in kinds' severities (`severity(kind)` for any registered kind)."""
