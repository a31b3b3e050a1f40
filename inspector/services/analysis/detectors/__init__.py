"""The anomaly detectors' registry: one module per anomaly kind in this package, each registering one `Detector` at
import. Everything that lists, counts, flags, draws or prints anomaly kinds reads it: `analyse` and `mark_flags`
(`report`), the flows (`flows`), `inspector stats`, the anomalies panel and the pictures' marks
(`inspector.qt.pictures`). Every module of this package is imported when the registry is first imported.

Adding a detector is one new file here (plus its test): `detectors/<kind>.py` calling `register(Detector(...))` with

- `kind`, `position` (where it goes in `kinds()` and in `events.flags`: built-ins use 10..70), `severity`, `title`
  (the anomalies panel's group), `description` (when an event is flagged, one sentence) and `look` (badge, label,
  colour and meaning of its mark on the flow pictures, `priority` for an arrow with several marks);
- how it is found over a capture, one of:
  - `condition`: an `EventCondition` on the event's own figures (`EventState`: status, attempts, 2xx answers,
    created before the pending cutoff), as a Python predicate (the events pass counts with it), an SQL predicate
    over `events e` (examples and `events.flags` are written with it) and `example` (the anomaly of one event);
  - `scan(ScanContext)`: anomalies found in Python, through `inspector.store.analysis_queries` (SQL lives only in
    `inspector/store/`; a detector that needs a new query adds a typed function there). `scan_alone` runs it in a
    worker thread on its own connection beside the events pass (it gets no `totals`); `whole_capture` judges
    events against the whole capture, the report keeping those matching the filter;
  - `invocations(ScanContext)`: a visitor of the invocations pass (failed attempts, retries, suspicious 2xx
    bodies, in capture order);
- `in_flow(FlowContext)`: the same definition on one flow's events (`assert_flows_agree` in the tests checks that
  both agree), and how its mark shows on the flow's steps: `marks_event` (the event's arrow) and/or `marks_attempt`
  (an invocation's arrow).

Nothing else needs editing: `tests/services/analysis/test_detector_registry.py` registers a test-only detector and
finds it in `analyse`, `mark_flags`, the flows, `inspector stats` and the anomalies panel.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from inspector.core.flows import Anomaly, Severity
from inspector.services.analysis.capture_reading import TriggerInfo
from inspector.services.analysis.statistics import EventState, TriggerTotals
from inspector.services.analysis.thresholds import Thresholds
from inspector.store.analysis_queries import EventRow, ExampleRow, InvocationPassRow, InvocationRow

__all__ = [
    "AttemptView",
    "Detector",
    "EventCondition",
    "ExampleScope",
    "FlowContext",
    "InvocationVisitor",
    "Look",
    "ScanContext",
    "detector",
    "detectors",
    "kinds",
    "register",
    "severity",
    "unregister",
]


@dataclass(frozen=True)
class Look:
    """How an anomaly kind's mark is drawn on the flow pictures (`inspector.qt.pictures.picture_style`)."""

    badge: str
    """The short text of its badge, e.g. `retry`."""
    label: str
    """What the legend calls it, e.g. `Retried`."""
    colour: str
    """Badge fill and arrow colour (#RRGGBB), readable on light and dark backgrounds with white badge text."""
    meaning: str
    """One sentence for tooltips: what happened."""
    priority: int
    """An arrow with several marks takes the colour of the one with the lowest priority (`failed` is 0)."""


@dataclass(frozen=True)
class ScanContext:
    """What a detector's scan over a capture may use."""

    conn: sqlite3.Connection
    infos: Mapping[str, TriggerInfo]
    triggers: Sequence[str]
    """Every trigger with events in the capture."""
    thresholds: Thresholds
    where: str
    """The filter: an SQL predicate over `events e` ("1" for none), with `params`."""
    params: tuple[Any, ...]
    activity: float | None
    """The capture's last activity (server clock)."""
    cutoff: float | None
    """Events open and created before this are pending too long."""
    totals: Mapping[str, TriggerTotals] = field(default_factory=dict)
    """The events pass's per-trigger figures (empty for `scan_alone` detectors, which run beside that pass)."""

    def on(self, conn: sqlite3.Connection) -> ScanContext:
        """This context on another connection (a worker's)."""
        return dataclasses.replace(self, conn=conn)


@dataclass(frozen=True)
class ExampleScope:
    """What an `EventCondition.example` may use besides the event and its attempts."""

    activity: float | None
    cutoff: float | None


@dataclass(frozen=True)
class EventCondition:
    """A kind that is a condition on one event's own figures: counted by the events pass, its first examples found
    by one shared scan in capture order, and written into `events.flags` in SQL."""

    matches: Callable[[EventState], bool]
    sql: Callable[[float | None], tuple[str, tuple[Any, ...]]]
    """The same condition as an SQL predicate over `events e`, given the pending cutoff, with its parameters."""
    example: Callable[[ExampleRow, Sequence[InvocationRow], ExampleScope], Anomaly]
    """The anomaly of one matching event, from its attempts (in the order logged; responses of failed ones only)."""
    needs_attempts: bool = True
    """Whether `example` reads the event's attempts (else it gets none)."""


class InvocationVisitor(Protocol):
    """A detector's part of the invocations pass: sees each row in capture order, with the failure's cause."""

    def visit(self, row: InvocationPassRow, cause: str | None) -> None: ...

    def found(self) -> Iterable[Anomaly]: ...


@dataclass(frozen=True)
class FlowContext:
    """One flow's events (in creation order) and their invocations (each event's in the order logged)."""

    conn: sqlite3.Connection
    events: Sequence[EventRow]
    invocations: Mapping[str, Sequence[InvocationRow]]
    infos: Mapping[str, TriggerInfo]
    thresholds: Thresholds
    activity: float | None


@dataclass(frozen=True)
class AttemptView:
    """One invocation of a flow, as its arrow is drawn: whether a mark shows on it."""

    event: EventRow
    invocation: InvocationRow
    index: int
    """0 for the event's first invocation."""
    count: int
    """How many invocations the event has."""
    ok: bool
    seen_ok: bool
    """An earlier invocation of the event was answered 2xx."""
    failed_before: bool
    """An earlier invocation of the event failed."""
    flagged: frozenset[str]
    """The kinds found on the event in this flow."""
    latency: float
    """Seconds it took (see `attempts.latency`)."""
    retry: bool
    """Not the event's first invocation."""
    info: TriggerInfo
    thresholds: Thresholds


@dataclass(frozen=True)
class Detector:
    """One anomaly kind: what it is called and how it looks, how it is found over a capture and in a flow."""

    kind: str
    position: int
    severity: Severity
    title: str
    """The anomalies panel's group title, e.g. `Duplicate deliveries`."""
    description: str
    """When an event is flagged, one sentence (docs/analysis.md's table says the same)."""
    look: Look
    in_flow: Callable[[FlowContext], Iterable[Anomaly]]
    condition: EventCondition | None = None
    scan: Callable[[ScanContext], Iterable[Anomaly]] | None = None
    scan_alone: bool = False
    whole_capture: bool = False
    invocations: Callable[[ScanContext], InvocationVisitor] | None = None
    marks_event: bool = False
    marks_attempt: Callable[[AttemptView], bool] | None = None

    def anomaly(
        self,
        message: str,
        event_id: str | None,
        trigger: str | None,
        row_key: str | None = None,
        at: float | None = None,
    ) -> Anomaly:
        """An anomaly of this kind, with its severity."""
        return Anomaly(self.kind, self.severity, message, event_id, trigger, row_key, at)


_REGISTRY: dict[str, Detector] = {}


def register(found: Detector) -> Detector:
    """Add a detector (a module of this package does it at import; a test may too). A kind is registered once."""
    if found.kind in _REGISTRY and _REGISTRY[found.kind] != found:
        raise ValueError(f"anomaly kind {found.kind!r} is already registered")
    if found.condition is None and found.scan is None and found.invocations is None:
        raise ValueError(f"detector {found.kind!r} has no condition, scan or invocations visitor")
    _REGISTRY[found.kind] = found
    return found


def unregister(kind: str) -> None:
    """Remove a detector (tests register their own and remove them)."""
    _REGISTRY.pop(kind, None)


def detectors() -> tuple[Detector, ...]:
    """Every registered detector, by position."""
    return tuple(sorted(_REGISTRY.values(), key=lambda d: (d.position, d.kind)))


def kinds() -> tuple[str, ...]:
    """Every anomaly kind, in the order they are listed and written into `events.flags`."""
    return tuple(d.kind for d in detectors())


def detector(kind: str) -> Detector | None:
    return _REGISTRY.get(kind)


def severity(kind: str) -> Severity:
    """A kind's severity (`info` for a kind no detector registers)."""
    found = _REGISTRY.get(kind)
    return found.severity if found is not None else "info"


def _load_built_ins() -> None:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


_load_built_ins()
