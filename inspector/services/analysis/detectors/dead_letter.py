"""dead-letter: an event whose retries are exhausted (`status == "failed"`, i.e. `error` and not delivered)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from inspector.core.flows import Anomaly
from inspector.services.analysis.attempts import cause, is_ok
from inspector.services.analysis.detectors import (
    AttemptView,
    Detector,
    EventCondition,
    ExampleScope,
    FlowContext,
    Look,
    register,
)
from inspector.services.analysis.statistics import EventState
from inspector.store.analysis_queries import ExampleRow, InvocationRow


def _example(row: ExampleRow, attempts: Sequence[InvocationRow], _scope: ExampleScope) -> Anomaly:
    causes = [cause(i.http_status, i.status, i.response, i.outcome) for i in attempts if not is_ok(i)]
    plural = "s" if row.attempts != 1 else ""
    if causes:
        message = f"retries exhausted after {row.attempts} attempt{plural} (last: {causes[-1]})"
    else:
        message = (
            f"marked failed after {row.attempts} attempt{plural} with no failed attempt logged (a transform error?)"
        )
    return DEAD_LETTER.anomaly(message, row.id, row.trigger, None, row.created)


def _in_flow(flow: FlowContext) -> Iterator[Anomaly]:
    for event in flow.events:
        if event.status == "failed":
            attempts = flow.invocations.get(event.id, [])
            causes = [cause(i.http_status, i.status, i.response, i.outcome) for i in attempts if not is_ok(i)]
            yield DEAD_LETTER.anomaly(
                f"retries exhausted after {event.attempts} attempts (last: {causes[-1] if causes else 'none'})",
                event.id,
                event.trigger,
                event.row_key,
                event.created,
            )


def _matches(state: EventState) -> bool:
    return state.status == "failed"


def _marks_attempt(attempt: AttemptView) -> bool:
    return not attempt.ok and attempt.index == attempt.count - 1 and attempt.event.status == "failed"


DEAD_LETTER = register(
    Detector(
        kind="dead-letter",
        position=40,
        severity="error",
        title="Dead letters (retries exhausted)",
        description="its retries are exhausted (`status == failed`)",
        look=Look(
            "dead letter",
            "Dead letter",
            "#7F1D1D",
            "Retries are exhausted: Hasura gave up on this event (error = true).",
            priority=1,
        ),
        condition=EventCondition(_matches, lambda _cutoff: ("e.status = 'failed'", ()), _example),
        in_flow=_in_flow,
        marks_attempt=_marks_attempt,
    )
)
