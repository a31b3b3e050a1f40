"""pending-too-long: an event not delivered, failed or archived, created more than `Thresholds.pending_s` before the
capture's last activity (the latest event creation or invocation, on the server's clock)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from inspector.core.flows import Anomaly
from inspector.services.analysis.attempts import ms
from inspector.services.analysis.detectors import Detector, EventCondition, ExampleScope, FlowContext, Look, register
from inspector.services.analysis.statistics import EventState
from inspector.store.analysis_queries import OPEN_STATUSES, ExampleRow, InvocationRow


def _example(row: ExampleRow, _attempts: Sequence[InvocationRow], scope: ExampleScope) -> Anomaly:
    plural = "s" if row.attempts != 1 else ""
    message = (
        f"not delivered {ms((scope.activity or row.created) - row.created)} after creation ({row.status}, "
        f"{row.attempts} attempt{plural})"
    )
    return PENDING_TOO_LONG.anomaly(message, row.id, row.trigger, None, row.created)


def _in_flow(flow: FlowContext) -> Iterator[Anomaly]:
    activity = flow.activity
    for event in flow.events:
        if (
            event.status in OPEN_STATUSES
            and activity is not None
            and event.created < activity - flow.thresholds.pending_s
        ):
            yield PENDING_TOO_LONG.anomaly(
                f"not delivered {ms(activity - event.created)} after creation ({event.status})",
                event.id,
                event.trigger,
                event.row_key,
                event.created,
            )


def _matches(state: EventState) -> bool:
    return state.status in OPEN_STATUSES and state.before_cutoff


def _sql(cutoff: float | None) -> tuple[str, tuple[Any, ...]]:
    if cutoff is None:
        return "0", ()
    return "e.status IN ('pending', 'retrying', 'in-flight') AND e.created_ts < ?", (cutoff,)


PENDING_TOO_LONG = register(
    Detector(
        kind="pending-too-long",
        position=50,
        severity="warning",
        title="Pending too long",
        description="it is still open `pending_s` (60 s) after creation, counting to the capture's last activity",
        look=Look(
            "pending", "Pending too long", "#8A7400", "The event waited for delivery longer than the threshold.", 6
        ),
        condition=EventCondition(_matches, _sql, _example, needs_attempts=False),
        in_flow=_in_flow,
        marks_event=True,
    )
)
