"""Two test-only anomaly detectors, one of each way a kind is found (a per-event condition, a scan in Python), and a
context manager registering them for a test. Shared by the registry's tests: the services side
(`tests/services/analysis/test_detector_registry.py`: found, counted, flagged, printed) and the Qt side
(`tests/qt/pictures/test_detector_registry_views.py`: drawn with its look, listed by the anomalies panel)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from inspector.core.flows import Anomaly
from inspector.services.analysis import detectors as registry
from inspector.services.analysis.detectors import (
    AttemptView,
    Detector,
    EventCondition,
    ExampleScope,
    FlowContext,
    Look,
    ScanContext,
)
from inspector.services.analysis.statistics import EventState
from inspector.store import analysis_queries as queries
from inspector.store.analysis_queries import ExampleRow, InvocationRow

SLOW_S = 5.0


def _unattempted_example(row: ExampleRow, _attempts: Sequence[InvocationRow], _scope: ExampleScope) -> Anomaly:
    return Anomaly("unattempted", "info", "never attempted", row.id, row.trigger, None, row.created)


def _unattempted_in_flow(flow: FlowContext) -> Iterator[Anomaly]:
    for event in flow.events:
        if event.attempts == 0:
            yield Anomaly(
                "unattempted", "info", "never attempted", event.id, event.trigger, event.row_key, event.created
            )


def _unattempted(state: EventState) -> bool:
    return state.attempts == 0


UNATTEMPTED = Detector(
    kind="unattempted",
    position=80,
    severity="info",
    title="Never attempted",
    description="no invocation was logged for it",
    look=Look("unattempted", "Never attempted", "#445566", "No delivery attempt was logged.", priority=8),
    condition=EventCondition(_unattempted, lambda _cutoff: ("e.attempts = 0", ()), _unattempted_example, False),
    in_flow=_unattempted_in_flow,
    marks_event=True,
)


def _slow_scan(context: ScanContext) -> Iterator[Anomaly]:
    for trigger in context.triggers:
        for event_id, _created, first in queries.slow_first_attempts(
            context.conn, context.where, context.params, trigger, SLOW_S
        ):
            yield Anomaly("slow-answer", "warning", "answered slowly", event_id, trigger, None, first)


def _slow_in_flow(flow: FlowContext) -> Iterator[Anomaly]:
    for event in flow.events:
        if event.first_attempt_ts is not None and event.first_attempt_ts - event.created >= SLOW_S:
            yield Anomaly("slow-answer", "warning", "answered slowly", event.id, event.trigger, event.row_key)


def _slow_marks(attempt: AttemptView) -> bool:
    return attempt.index == 0 and "slow-answer" in attempt.flagged


SLOW_ANSWER = Detector(
    kind="slow-answer",
    position=90,
    severity="warning",
    title="Slow answers",
    description=f"its first attempt came {SLOW_S:g} s or more after creation",
    look=Look("slow", "Slow answer", "#335577", "The handler answered slowly.", priority=0),
    scan=_slow_scan,
    in_flow=_slow_in_flow,
    marks_attempt=_slow_marks,
)

TEST_KINDS = (UNATTEMPTED.kind, SLOW_ANSWER.kind)


@contextmanager
def registered_test_detectors() -> Iterator[None]:
    """UNATTEMPTED and SLOW_ANSWER registered for the duration, then taken out again."""
    registry.register(UNATTEMPTED)
    registry.register(SLOW_ANSWER)
    try:
        yield
    finally:
        registry.unregister(UNATTEMPTED.kind)
        registry.unregister(SLOW_ANSWER.kind)
