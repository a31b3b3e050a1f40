"""Flows and anomalies: the shapes that analysis produces and the pictures draw.

A flow is one user action followed through the system: the write that raised the first event, each event, its
invocations and retries, the writes its handler made, the next events, the subscription updates they caused. Steps
are arrows between lanes (the client, tables, event triggers, handlers, subscriptions), ordered causally. Anomalies
are what at-least-once, unordered delivery did to it (duplicates, out-of-order processing, retries, dead letters,
long-pending events, cold starts, handler contract breaks); which kinds exist is the registry of
`inspector.services.analysis.detectors` (one module per kind).

Pure data: `inspector.services.analysis` builds these from a capture; `inspector.qt` draws them; `inspector stats`
prints them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

AnomalyKind = str
"""An anomaly kind, as a detector of `inspector.services.analysis.detectors` registers it. The built-in ones:
`duplicate` (one event delivered successfully more than once), `out-of-order` (for one row key, delivery order
differs from creation order, or an UPDATE's old is not the last new), `retry` (more than one attempt, with the
causes), `dead-letter` (retries exhausted), `pending-too-long` (not delivered after a threshold), `cold-start` (a
first invocation after idle much slower than the handler's warm median), `contract` (2xx with an error body, a
non-JSON body, or an answer close to the timeout)."""
Severity = Literal["error", "warning", "info"]
StepKind = Literal["write", "event", "invocation", "message"]


@dataclass(frozen=True)
class Anomaly:
    """Something delivery did that a 3factor handler must tolerate, found in a capture."""

    kind: AnomalyKind
    severity: Severity
    message: str
    """One line for a person: what happened, with figures."""
    event_id: str | None = None
    trigger: str | None = None
    row_key: str | None = None
    at: float | None = None
    """Epoch seconds of the step that shows it."""


@dataclass(frozen=True)
class FlowStep:
    """One arrow of a sequence diagram."""

    kind: StepKind
    at: float
    """Epoch seconds."""
    source: str
    """The lane the arrow leaves, e.g. `client`, `table:orders`, `trigger:validate-order`, `handler:validate-order`,
    `subscription:order_status`."""
    target: str
    label: str
    event_id: str | None = None
    invocation_id: str | None = None
    http_status: int | None = None
    duration_ms: float | None = None
    marks: tuple[str, ...] = ()
    outcome: str | None = None
    """For an invocation: ok, handler_error, timeout or connection_failure (`inspector.core.events.Outcome`; a v2.25+
    timeout has `http_status` 500 and is still a timeout)."""
    """Anomaly kinds that show on this step (drawn as badges), e.g. ("retry",), ("duplicate",)."""


@dataclass(frozen=True)
class Flow:
    """One causal chain, keyed by a correlation value (by default the row key shared across tables, e.g. order_id)."""

    key: str
    key_name: str
    steps: tuple[FlowStep, ...]
    lanes: tuple[str, ...]
    """Lanes in drawing order (left to right)."""
    trace_ids: tuple[str, ...] = ()
    anomalies: tuple[Anomaly, ...] = ()

    @property
    def started(self) -> float | None:
        return self.steps[0].at if self.steps else None

    @property
    def ended(self) -> float | None:
        return self.steps[-1].at if self.steps else None


@dataclass(frozen=True)
class ServiceEdge:
    """An arrow of the service map: a trigger delivering to its handler, with figures."""

    trigger: str
    handler: str
    """The webhook (its URL path or host) or the handler's name."""
    events: int
    invocations: int
    failures: int
    """Invocations without a 2xx answer."""
    p50_ms: float | None
    p95_ms: float | None
    """Delivery latency (created → delivered) percentiles."""

    @property
    def error_rate(self) -> float:
        return self.failures / self.invocations if self.invocations else 0.0


@dataclass(frozen=True)
class TriggerStats:
    """Per-trigger figures for `inspector stats` and the service map."""

    trigger: str
    events: int
    delivered: int
    failed: int
    pending: int
    invocations: int
    retries: int
    first_attempt_p50_ms: float | None
    first_attempt_p95_ms: float | None
    delivered_p50_ms: float | None
    delivered_p95_ms: float | None
    anomalies: dict[str, int] = field(default_factory=dict)
    retry_causes: dict[str, int] = field(default_factory=dict)
    """Why attempts failed, most frequent first: `HTTP 500`, `response timeout`, `Connection refused`..."""
    outcomes: dict[str, int] = field(default_factory=dict)
    """Attempts by outcome (`inspector.core.events.OUTCOMES`: ok, handler_error, timeout, connection_failure), every
    outcome listed, zeros too."""
    table: str | None = None
    """The table the trigger is on (from the capture's trigger snapshot)."""
    handler: str | None = None
    """The handler it calls, as `ServiceEdge.handler` names it."""
