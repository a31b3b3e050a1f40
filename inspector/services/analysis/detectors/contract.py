"""contract, for invocations answered 2xx: a body that is JSON with a truthy top-level `error` or `errors` key; a
non-empty body that is not JSON (or binary); and, for any invocation, a measured latency of at least
`near_timeout_ratio` x the trigger's `retry_conf.timeout_sec` (60 when unknown), or a timeout. Latency: attempt 1,
`created_at - event.created_at`; a retry, `created_at - failed attempt's created_at - interval_sec`;
`invocations.duration_ms` when recorded (replays). The body checks look at 2xx responses whose text contains "rror"
or whose body does not begin with `{` or `[` (a JSON object/array body that merely fails to parse, and mentions no
error, is not examined).

Found in the invocations pass (timeouts, bodies, slow retries: each retry is measured from the failed attempt before
it, remembered until the event succeeds or runs out of attempts) and, for the triggers where the events pass saw
slow first attempts, by a query for those."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from inspector.core.flows import Anomaly
from inspector.services.analysis.attempts import body_problem, cause, is_ok, latency, ms
from inspector.services.analysis.capture_reading import TriggerInfo, info_of, timeout_of
from inspector.services.analysis.detectors import (
    AttemptView,
    Detector,
    FlowContext,
    InvocationVisitor,
    Look,
    ScanContext,
    register,
)
from inspector.services.analysis.thresholds import Thresholds
from inspector.store import analysis_queries as queries
from inspector.store.analysis_queries import InvocationPassRow, InvocationRow


class _Visitor:
    """Contract breaks among the invocations pass's rows."""

    def __init__(self, context: ScanContext) -> None:
        self.infos = context.infos
        self.thresholds = context.thresholds
        self.timeouts = {name: timeout_of(context.infos, name, context.thresholds) for name in context.infos}
        self.previous: dict[str, float] = {}
        """Event id -> when its last failed attempt was logged (until it succeeds or runs out of attempts)."""
        self.anomalies: list[Anomaly] = []

    def visit(self, row: InvocationPassRow, failure: str | None) -> None:
        ok = failure is None
        timeout = self.timeouts.get(row.trigger) or self.thresholds.default_timeout_s
        message: str | None = None
        if failure is not None:
            if row.outcome == "timeout":
                message = f"timed out ({failure}; timeout_sec {timeout:g})"
        elif row.text is not None:
            problem = body_problem(row.text)
            if problem is not None:
                message = f"answered {row.http_status} with {problem}"
        if row.attempt and row.attempt > 1:
            before = self.previous.get(row.event_id)
            if before is not None and message is None:
                info = info_of(self.infos, row.trigger)
                took = (
                    row.duration_ms / 1000
                    if row.duration_ms is not None
                    else max(0.0, row.created - before - info.interval_s)
                )
                if took >= self.thresholds.near_timeout_ratio * timeout:
                    message = f"attempt took about {ms(took)}, {took / timeout:.0%} of timeout_sec {timeout:g}"
        if ok:
            self.previous.pop(row.event_id, None)
        else:
            info = info_of(self.infos, row.trigger)
            if info.num_retries is not None and row.attempt is not None and row.attempt > info.num_retries:
                self.previous.pop(row.event_id, None)  # out of attempts (unless Retry-After forces one more)
            else:
                self.previous[row.event_id] = row.created
        if message is not None:
            self.anomalies.append(CONTRACT.anomaly(message, row.event_id, row.trigger, None, row.created))

    def found(self) -> Iterable[Anomaly]:
        return self.anomalies


def _visitor(context: ScanContext) -> InvocationVisitor:
    return _Visitor(context)


def _slow_first_attempts(context: ScanContext) -> Iterator[Anomaly]:
    """First attempts close to the timeout, for the triggers where the events pass saw any (after the invocations
    pass's findings: a timeout says more)."""
    thresholds = context.thresholds
    for trigger, totals in context.totals.items():
        if not totals.slow_first:
            continue
        timeout = timeout_of(context.infos, trigger, thresholds)
        for event_id, created, first in queries.slow_first_attempts(
            context.conn, context.where, context.params, trigger, thresholds.near_timeout_ratio * timeout
        ):
            took = first - created
            message = f"first attempt took {ms(took)}, {took / timeout:.0%} of timeout_sec {timeout:g}"
            yield CONTRACT.anomaly(message, event_id, trigger, None, first)


def breaks_contract(invocation: InvocationRow, took: float, info: TriggerInfo, thresholds: Thresholds) -> bool:
    """Whether one invocation of a flow shows the break: a bad 2xx body, a timeout, or close to the timeout."""
    timeout = info.timeout_s or thresholds.default_timeout_s
    ok = is_ok(invocation)
    if ok and body_problem(invocation.response) is not None:
        return True
    if invocation.outcome == "timeout":
        return True
    return took >= thresholds.near_timeout_ratio * timeout


def _in_flow(flow: FlowContext) -> Iterator[Anomaly]:
    """The first invocation of each event that breaks the contract."""
    for event in flow.events:
        info = info_of(flow.infos, event.trigger)
        timeout = info.timeout_s or flow.thresholds.default_timeout_s
        previous_at: float | None = None
        for invocation in flow.invocations.get(event.id, []):
            took = latency(invocation, event.created, previous_at, info)
            message = None
            if is_ok(invocation):
                problem = body_problem(invocation.response)
                if problem is not None:
                    message = f"answered {invocation.http_status} with {problem}"
            elif invocation.outcome == "timeout":
                failure = cause(invocation.http_status, invocation.status, invocation.response, invocation.outcome)
                message = f"timed out ({failure}; timeout_sec {timeout:g})"
            if message is None and took >= flow.thresholds.near_timeout_ratio * timeout:
                what = "first attempt took" if previous_at is None else "attempt took about"
                message = f"{what} {ms(took)}, {took / timeout:.0%} of timeout_sec {timeout:g}"
            if message is not None:
                yield CONTRACT.anomaly(message, event.id, event.trigger, event.row_key, invocation.created)
                break
            previous_at = invocation.created


def _marks_attempt(attempt: AttemptView) -> bool:
    return "contract" in attempt.flagged and breaks_contract(
        attempt.invocation, attempt.latency, attempt.info, attempt.thresholds
    )


CONTRACT = register(
    Detector(
        kind="contract",
        position=70,
        severity="warning",
        title="Handler contract breaks",
        description=(
            "a 2xx answer whose body is JSON with a truthy `error`/`errors` key, is not JSON, or is binary; or an "
            "attempt that took at least `near_timeout_ratio` (0.8) x the trigger's `timeout_sec`, or timed out"
        ),
        look=Look(
            "contract",
            "Handler contract",
            "#A3470F",
            "A 2xx with an error body, a body that is not JSON, or an answer close to the timeout.",
            priority=7,
        ),
        invocations=_visitor,
        scan=_slow_first_attempts,
        in_flow=_in_flow,
        marks_attempt=_marks_attempt,
    )
)
