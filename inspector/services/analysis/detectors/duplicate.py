"""duplicate: an event with more than one 2xx invocation (`events.successes > 1`). Delivery is at least once, so a
handler must be idempotent."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from inspector.core.flows import Anomaly
from inspector.services.analysis.attempts import is_ok, ms
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
    answers = [i.created for i in attempts if is_ok(i)]
    spread = f", {ms(answers[-1] - answers[0])} apart" if len(answers) > 1 else ""
    message = (
        f"delivered {row.successes} times ({row.successes} answers 2xx in {row.attempts} attempts{spread}): the "
        "handler must be idempotent"
    )
    return DUPLICATE.anomaly(message, row.id, row.trigger, None, answers[1] if len(answers) > 1 else row.created)


def _in_flow(flow: FlowContext) -> Iterator[Anomaly]:
    for event in flow.events:
        if event.successes > 1:
            yield DUPLICATE.anomaly(
                f"delivered {event.successes} times: the handler must be idempotent",
                event.id,
                event.trigger,
                event.row_key,
                event.delivered_ts,
            )


def _matches(state: EventState) -> bool:
    return state.successes > 1


def _marks_attempt(attempt: AttemptView) -> bool:
    return attempt.ok and attempt.seen_ok  # the second 2xx answer and later ones


DUPLICATE = register(
    Detector(
        kind="duplicate",
        position=10,
        severity="warning",
        title="Duplicate deliveries",
        description="it has more than one 2xx invocation",
        look=Look(
            "duplicate",
            "Duplicate delivery",
            "#7B3FB0",
            "The same event was delivered successfully more than once.",
            priority=2,
        ),
        condition=EventCondition(_matches, lambda _cutoff: ("e.successes > 1", ()), _example),
        in_flow=_in_flow,
        marks_attempt=_marks_attempt,
    )
)
