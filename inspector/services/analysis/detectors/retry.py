"""retry: an event that took more than one attempt, at least one of them failed (`attempts > 1 AND attempts >
successes`), with the cause of each failed attempt: `HTTP <status>`, or the network error Hasura logged
(`http_exception` message, e.g. `response timeout`, `Connection refused`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from inspector.core.flows import Anomaly
from inspector.services.analysis.attempts import cause, is_ok, summarise
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
    outcome = "delivered" if row.successes else "gave up" if row.status == "failed" else "not delivered yet"
    message = f"{row.attempts} attempts, {outcome}; failed: {', '.join(summarise(causes)) or 'unknown'}"
    return RETRY.anomaly(message, row.id, row.trigger, None, row.created)


def _in_flow(flow: FlowContext) -> Iterator[Anomaly]:
    for event in flow.events:
        if event.attempts > 1 and event.attempts > event.successes:
            attempts = flow.invocations.get(event.id, [])
            causes = [cause(i.http_status, i.status, i.response, i.outcome) for i in attempts if not is_ok(i)]
            yield RETRY.anomaly(
                f"{event.attempts} attempts: {', '.join(summarise(causes)) or 'failures'} failed",
                event.id,
                event.trigger,
                event.row_key,
                event.created,
            )


def _matches(state: EventState) -> bool:
    return state.attempts > 1 and state.attempts > state.successes


def _marks_attempt(attempt: AttemptView) -> bool:
    return attempt.failed_before and attempt.invocation.attempt > 1


RETRY = register(
    Detector(
        kind="retry",
        position=30,
        severity="info",
        title="Retries",
        description="it took more than one attempt, at least one failed",
        look=Look("retry", "Retried", "#B86E00", "A delivery attempt after an earlier one failed.", priority=4),
        condition=EventCondition(
            _matches, lambda _cutoff: ("e.attempts > 1 AND e.attempts > e.successes", ()), _example
        ),
        in_flow=_in_flow,
        marks_attempt=_marks_attempt,
    )
)
