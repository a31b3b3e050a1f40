"""The replay runner: sends a plan's events again, records every attempt in the capture, and judges the answers.

Owns running a plan (built by `inspector.services.replay.loader.load_plan`) with `ReplayRunner` (concurrency, a
rate limit, pause/resume/cancel, progress reports), the three ways of delivering
(straight to a webhook with Hasura's exact body and headers; through the backend with `pg_redeliver_event` or, for
a variant, `pg_invoke_event_trigger`, then waiting for the backend's invocation), state queries and resets over
GraphQL, and turning answers into a `ReplayReport` with `inspector.services.replay.plan`'s judges. `create_variant`
stores an edited copy of an event for replay (the captured event is never changed).

What a direct delivery sends, as a redelivery by Hasura would: the body of
`server/src-lib/Hasura/Eventing/EventTrigger.hs` (`EventPayload`) with keys in the engine's order, serialised compactly
as aeson does, `delivery_info` = `{"max_retries": <the trigger's num_retries>, "current_retry": 0}`
(`pg_redeliver_event` resets `tries` to 0, and each duplicate is a delivery of that state), `Content-Type`, `User-Agent:
hasura-graphql-engine/<the captured server's version>`, the trigger's configured headers (values from the user or the
environment, never from the capture) and the trace headers of the event's `trace_context`: B3 (`X-B3-TraceId`,
`X-B3-SpanId`, `X-B3-Sampled`; Hasura's default propagator) and W3C `traceparent` (what Hasura adds with
`traces_propagators: ["tracecontext"]`).
The timeout is the trigger's `retry_conf.timeout_sec` unless the plan overrides it.

Every attempt becomes an `invocations` row (`source = 'replay'`, `duration_ms`, Hasura's request and response
records) linked to the replayed event, written in batches by `store.replay_records.ReplayRecorder`; through the
backend the row is the backend's own invocation (its id, request and response) and `duration_ms` runs from the
metadata call to the invocation's appearance. Each run leaves a `replay-run` note with its plan and report.

Safety: `run()` refuses a plan with remote hosts unless `allow_remote` (`RemoteTargetRefused`), whoever calls it.
Secrets (the admin secret for the backend and state queries, configured webhook header values) are handed in by
the caller in memory (from the profile's keyring entry or the environment) and are never written: request records
keep the captured, redacted header configuration.

GUI-free: the CLI (`inspector replay`) and, later, the window drive it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import gc
import json
import json.encoder
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

from inspector.backends.errors import (
    AuthenticationFailed,
    BackendError,
    ConnectionFailed,
    ProtocolMismatch,
    ServerError,
)
from inspector.backends.graphql_http import GraphQLHttpClient
from inspector.backends.hasura_metadata import HasuraMetadataClient
from inspector.backends.webhook_sender import (
    WebhookAnswer,
    WebhookError,
    WebhookSender,
    WebhookTimeout,
    WebhookUnreachable,
)
from inspector.core.connection_profile import ConnectionProfile
from inspector.core.events import RESPONSE_TIMEOUT, InvocationRecord, decode_twice
from inspector.core.hasura import (
    INVOCATION_VERSION,
    client_error,
    format_timestamp,
    webhook_body,
)
from inspector.core.redaction import redact_url
from inspector.services.replay.plan import (
    Answer,
    CheckResult,
    OrderingOutcome,
    PlanError,
    PlanEvent,
    PlanItem,
    ReplayPlan,
    ReplayReport,
    Verdict,
    bind_variables,
    judge_duplicates,
    judge_orderings,
    judge_recorded,
    judge_status,
    resolve_headers,
)
from inspector.store.capture_file import CaptureFile, dumps
from inspector.store.replay_records import ReplayRecorder, create_variant, save_run_note

__all__ = ["Backend", "ReplayProgress", "ReplayRunner", "create_variant"]

log = logging.getLogger(__name__)

YOUNG_COLLECTION_THRESHOLD = 20_000
"""The garbage collector's first threshold while a replay runs (Python's default is 700)."""


class _CollectorWhileReplaying:
    """The garbage collector tuned while any replay runs in this process, as it was once the last one ends.

    What exists when a run starts (the plan, the loaded capture, the libraries) lives through it: frozen
    (`gc.freeze`), the collector need not walk it each time the objects the run keeps (answers, checks, queued rows)
    push it to a full collection (measured: one full collection over a 10,000-event plan cost more than recording
    its attempts). And those few objects an attempt keeps would start a young collection every hundred attempts or
    so, each walking every object of the requests in flight: the first threshold is raised (measured: 6 to 9 µs an
    attempt, down to under 1). Nothing is left uncollected: `gc.unfreeze` hands everything back at the end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs = 0
        self._thresholds = gc.get_threshold()

    def start_run(self) -> None:
        with self._lock:
            self._runs += 1
            if self._runs == 1:
                self._thresholds = gc.get_threshold()
                gc.set_threshold(max(self._thresholds[0], YOUNG_COLLECTION_THRESHOLD), *self._thresholds[1:])
            gc.freeze()

    def end_run(self) -> None:
        with self._lock:
            self._runs -= 1
            if self._runs == 0:
                gc.set_threshold(*self._thresholds)
                gc.unfreeze()


_collector = _CollectorWhileReplaying()

ProgressState = Literal["starting", "running", "paused", "cancelling", "finished", "cancelled", "failed"]


@dataclass(frozen=True)
class Backend:
    """The backend replay talks to itself: for `--via-backend`, state queries and resets. The secret is the
    profile's (keyring or environment), held in memory only."""

    profile: ConnectionProfile
    secret: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return self.profile.request_headers(self.secret)


@dataclass
class ReplayProgress:
    """A snapshot of a running replay, for progress lines and the window's progress bar."""

    state: ProgressState = "starting"
    planned: int = 0
    """Attempts in the plan."""
    done: int = 0
    """Attempts finished (answered or not)."""
    answered_2xx: int = 0
    answered_other: int = 0
    no_answer: int = 0
    in_flight: int = 0
    elapsed: float = 0.0
    ordering: str = ""

    def line(self) -> str:
        return (
            f"{self.state:<10} {self.done}/{self.planned} attempts  2xx {self.answered_2xx}  other "
            f"{self.answered_other}  no answer {self.no_answer}  in flight {self.in_flight}  {self.elapsed:.1f} s"
            + (f"  [{self.ordering}]" if self.ordering else "")
        )


def _blob(data: bytes) -> Any:
    """Hasura's `SerializableBlob`: UTF-8 text as a string, anything else as `["Base64", "<b64>"]`
    (`server/src-lib/Data/SerializableBlob.hs`)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return ["Base64", base64.b64encode(data).decode("ascii")]


def body_text(event: PlanEvent, max_retries: int) -> str:
    """The body Hasura POSTs for `event` on a redelivery (`webhook_body` with `current_retry` 0), serialised as aeson
    does (compact, UTF-8, keys in the engine's order). Composed around the payload's stored JSON text when the
    capture gave it, which is what serialising the parsed payload would give (the capture stores it compactly, in
    the order received), without doing that work again for every event: only the id and `created_at` change between
    the events of one trigger, the rest comes from `_body_frame`."""
    if event.payload_text is None:
        body = webhook_body(
            event.id,
            event.schema_name,
            event.table_name,
            event.trigger_name,
            event.payload,
            current_retry=0,
            max_retries=max_retries,
            created_at=event.created_at,
        )
        return _dumps(body).decode("utf-8")
    head, tail = _body_frame(event.schema_name, event.table_name, event.trigger_name, max_retries)
    return '{"id":' + _json_text(event.id) + head + event.payload_text + tail + _json_text(event.created_at) + "}"


@functools.lru_cache(maxsize=256)
def _body_frame(schema: str, table: str, trigger: str, max_retries: int) -> tuple[str, str]:
    """The parts of a trigger's redelivery bodies that are the same for all its events: what comes between the id
    and the `event` object, and between it and `created_at`."""
    head = f',"table":{{"schema":{dumps(schema)},"name":{dumps(table)}}},"trigger":{{"name":{dumps(trigger)}}},"event":'
    tail = f',"delivery_info":{{"max_retries":{int(max_retries)},"current_retry":0}},"created_at":'
    return head, tail


def _json_text(value: Any) -> str:
    """`dumps(value)`, for a string straight from the encoder's C routine (what `dumps` calls for one)."""
    return _encode_string(value) if isinstance(value, str) else dumps(value)


_encode_string: Callable[[str], str] = json.encoder.encode_basestring
"""A string as compact JSON without escaping non-ASCII, as `dumps` (aeson) writes it."""


class _Timestamps:
    """Epoch seconds as Hasura's `TIMESTAMP` text in UTC (`format_timestamp`), one per attempt: the date and time
    of day are formatted once a second, only the microseconds for each attempt."""

    def __init__(self) -> None:
        self._last: tuple[int, str] = (-1, "")
        """(second, its text up to the decimal point), swapped as one value so any thread sees a matching pair."""

    def text(self, now: float) -> str:
        second, fraction = divmod(int(now * 1_000_000), 1_000_000)
        last_second, prefix = self._last
        if second != last_second:
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second))
            self._last = (second, prefix)
        return f"{prefix}{fraction:06d}"


_timestamp = _Timestamps().text


def _now_timestamp() -> str:
    return format_timestamp(datetime.now(UTC))


def _dumps(value: Any) -> bytes:
    """The body as aeson writes it: compact, UTF-8, keys in order."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class _Prepared(NamedTuple):
    """One event's delivery, ready to send: the body, its request record (JSON text) and the headers."""

    data: bytes
    request: str
    headers: Mapping[str, str]
    time_limit: float


class _AnswerRecords:
    """What a handler's answers become, worked out once per distinct answer: Hasura's response record of a 2xx
    answer (`webhook_response(text, headers, status)` as the capture stores it, composed as text) and the decoded
    body judges compare. A handler gives few distinct answers (its `Date` header changes once a second), so most
    attempts find theirs here instead of encoding the same JSON again. Bodies are shared between the answers that
    gave them: judges and reports only read them."""

    MAX_TEXT = 4096
    """Longer bodies are encoded for each attempt (they are rarely repeated, and would make a large cache)."""
    MAX_ENTRIES = 512
    """Each cache starts afresh when it holds this many answers."""

    def __init__(self) -> None:
        self._records: dict[tuple[int, str, tuple[tuple[str, str], ...]], str] = {}
        self._bodies: dict[str, Any] = {}

    def record(self, status: int, text: Any, headers: tuple[tuple[str, str], ...]) -> str:
        cacheable = isinstance(text, str) and len(text) <= self.MAX_TEXT
        if cacheable:
            key = (status, text, headers)
            cached = self._records.get(key)
            if cached is not None:
                return cached
        names = dumps([{"name": n, "value": v} for n, v in headers])
        record = (
            f'{{"type":"webhook_response","data":{{"body":{dumps(text)},"headers":{names},'
            f'"status":{status}}},"version":"{INVOCATION_VERSION}"}}'
        )
        if cacheable:
            if len(self._records) >= self.MAX_ENTRIES:
                self._records.clear()
            self._records[key] = record
        return record

    def decoded(self, text: Any) -> Any:
        """`decode_twice(text)`, once per distinct short body."""
        if not isinstance(text, str) or len(text) > self.MAX_TEXT:
            return decode_twice(text)
        try:
            return self._bodies[text]
        except KeyError:
            pass
        if len(self._bodies) >= self.MAX_ENTRIES:
            self._bodies.clear()
        body = self._bodies[text] = decode_twice(text)
        return body


@dataclass(slots=True)
class _ItemResult:
    answers: list[Answer] = field(default_factory=list)
    state_one: Any = None
    state_all: Any = None
    state_error: str | None = None
    complete: bool = True


class ReplayRunner:
    """Runs one plan against its targets, recording into `capture`. Call `run()` once; `pause()`, `resume()` and
    `cancel()` from the same event loop (or the window's) while it runs."""

    def __init__(
        self,
        capture: CaptureFile,
        plan: ReplayPlan,
        *,
        backend: Backend | None = None,
        header_values: Mapping[str, str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        allow_remote: bool = False,
        on_progress: Callable[[ReplayProgress], None] | None = None,
        verify_tls: bool = True,
        flush_interval: float = 0.25,
        cancel_grace: float = 5.0,
        poll_interval: float = 0.05,
    ) -> None:
        self.capture = capture
        self.plan = plan
        self.backend = backend
        self.header_values = dict(header_values or {})
        self.extra_headers = {
            k: v for k, v in (extra_headers or {}).items() if k.lower() not in ("content-type", "user-agent")
        }
        """Headers sent besides the trigger's configured ones (the window's editor); logged with redacted values."""
        self.env = dict(os.environ if env is None else env)
        self.allow_remote = allow_remote
        self.on_progress = on_progress
        self.verify_tls = verify_tls
        self.flush_interval = flush_interval
        self.cancel_grace = cancel_grace
        self.poll_interval = poll_interval
        self.run_id = str(uuid.uuid4())
        self.progress = ReplayProgress(planned=plan.attempts)
        self.recorder = ReplayRecorder(capture, batch_size=None)
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._cancel_requested = False
        self._workers: list[asyncio.Task[None]] = []
        self._hard_cancel: asyncio.TimerHandle | None = None
        self._interval = 1.0 / plan.options.rate if plan.options.rate else 0.0
        self._next_slot = 0.0
        self._started = 0.0
        self._headers: dict[str, tuple[dict[str, str], str]] = {}
        """trigger → (headers to send, the logged headers as JSON text)."""
        self._frames: dict[str, tuple[dict[str, str], str, str, str, float, str, str]] = {}
        """trigger → what its events' deliveries share: `_headers_for`, `_body_frame`, the time limit, and the schema
        and table the frame was made for (an event of another table gets its own)."""
        self._user_agent = plan.user_agent
        self._answers = _AnswerRecords()
        self._passed: dict[tuple[int | None, ...], Verdict] = {}
        self._sender: WebhookSender | None = None
        self._metadata: HasuraMetadataClient | None = None
        self._graphql: GraphQLHttpClient | None = None
        self._made = 0
        self._unreachable = 0
        self._final_flush: asyncio.Future[None] | None = None

    # --- control -----------------------------------------------------------------------------------------------

    @property
    def paused(self) -> bool:
        return not self._resumed.is_set()

    @property
    def cancelled(self) -> bool:
        return self._cancel_requested

    def pause(self) -> None:
        """Start no new attempt until `resume()`; attempts in flight finish."""
        if not self._cancel_requested and self._resumed.is_set():
            self._resumed.clear()
            self._set_state("paused")

    def resume(self) -> None:
        if not self._cancel_requested and not self._resumed.is_set():
            self._resumed.set()
            self._set_state("running")

    def cancel(self) -> None:
        """Start no new attempt; attempts in flight get `cancel_grace` seconds to finish, then are cancelled (and
        recorded as cancelled). Everything answered so far stays in the capture."""
        if self._cancel_requested:
            return
        self._cancel_requested = True
        self._resumed.set()  # wake paused workers so they can stop
        self._set_state("cancelling")
        with contextlib.suppress(RuntimeError):  # no running loop: nothing in flight
            loop = asyncio.get_running_loop()
            self._hard_cancel = loop.call_later(self.cancel_grace, self._cancel_workers)

    def cancel_now(self) -> None:
        """Cancel without waiting for the attempts in flight (they are recorded as cancelled)."""
        self.cancel()
        self._cancel_workers()

    def _cancel_workers(self) -> None:
        for task in self._workers:
            task.cancel()

    def _set_state(self, state: ProgressState) -> None:
        self.progress.state = state
        self._report_progress()

    def _report_progress(self) -> None:
        if self._started:
            self.progress.elapsed = time.monotonic() - self._started
        if self.on_progress is not None:
            try:
                self.on_progress(self.progress)
            except Exception:  # a progress display must not stop a replay
                log.exception("replay progress callback failed")

    # --- the run -----------------------------------------------------------------------------------------------

    async def run(self) -> ReplayReport:
        """Run the plan; returns the report (also kept in the capture as a `replay-run` note). `PlanError` for a
        plan with errors and `RemoteTargetRefused` for remote hosts without consent, before anything is sent."""
        plan = self.plan
        if plan.errors:
            raise PlanError(plan.errors)
        plan.check_consent(self.allow_remote)
        o = plan.options
        needs_backend = (
            any(i.target.kind == "backend" for i in plan.items) or o.state_query is not None or o.reset_query
        )
        if needs_backend and self.backend is None:
            raise PlanError(["this plan talks to the backend (via-backend, state or reset queries): give a Backend"])
        report = ReplayReport(
            capture=self.capture.path.name,
            started_at=time.time(),
            attempts_planned=plan.attempts,
            plan=plan.describe(),
            run_id=self.run_id,
        )
        save_run_note(
            self.capture,
            self.run_id,
            {"run_id": self.run_id, "state": "running", "started_at": report.started_at, "plan": plan.to_json()},
        )
        self.recorder.preload(item.event.id for item in plan.items)
        self._started = time.monotonic()
        self._set_state("running")
        flusher = asyncio.create_task(self._flush_periodically(), name="replay flush")
        _collector.start_run()
        try:
            async with contextlib.AsyncExitStack() as stack:
                connections = o.concurrency * (o.duplicate if o.duplicate_mode == "concurrent" else 1)
                self._sender = await stack.enter_async_context(WebhookSender(connections, self.verify_tls))
                if self.backend is not None and needs_backend:
                    profile = self.backend.profile
                    if any(i.target.kind == "backend" for i in plan.items):
                        self._metadata = await stack.enter_async_context(
                            HasuraMetadataClient(
                                profile.metadata_url,
                                profile.query_v2_url,
                                profile.version_url,
                                self.backend.headers,
                                profile.verify_tls,
                            )
                        )
                        await self._metadata.detect()
                    if o.state_query or o.reset_query:
                        self._graphql = await stack.enter_async_context(
                            GraphQLHttpClient(o.graphql_url or profile.graphql_http_url, self.backend.headers)
                        )
                await self._run_orderings(report)
        except (ConnectionFailed, AuthenticationFailed, ProtocolMismatch) as exc:
            report.state, report.error, report.connection_error = "failed", str(exc), True
        except BackendError as exc:
            report.state, report.error = "failed", str(exc)
        except asyncio.CancelledError:  # the task running the replay was cancelled (the window closing...)
            self._cancel_requested = True
            raise
        finally:
            _collector.end_run()
            if self._hard_cancel is not None:
                self._hard_cancel.cancel()
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            if self._final_flush is not None:
                await self._final_flush
            self.recorder.close()  # waits for a flush still running in its thread, then writes the rest
            report.ended_at = time.time()
            report.attempts_made = self._made
            report.unreachable = self._unreachable
            if self._cancel_requested and report.state != "failed":
                report.state = "cancelled"
            self._set_state(report.state)
            save_run_note(
                self.capture, self.run_id, {**report.to_json(passed_checks=False), "plan_options": plan.to_json()}
            )
        return report

    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            await self.recorder.flush_in_thread()

    async def _run_orderings(self, report: ReplayReport) -> None:
        plan = self.plan
        o = plan.options
        runs = plan.runs()
        several = len(runs) > 1
        outcomes: list[OrderingOutcome] = []
        first_row = plan.items[0].event.row if plan.items else {}
        for ordering, items in runs:
            if self._cancel_requested:
                break
            self.progress.ordering = ordering.label if several else ""
            if o.reset_query is not None:
                assert self._graphql is not None
                await self._graphql.execute(o.reset_query, bind_variables(plan.reset_variables, first_row))
            results = await self._run_items(items)
            if self._final_flush is None and ordering is runs[-1][0]:
                # The last attempts' rows are written in a thread while the event loop judges (SQLite lets go of
                # the GIL while it writes): `run()` waits for it before closing the recorder.
                self._final_flush = asyncio.get_running_loop().run_in_executor(None, self.recorder.flush)
            label = ordering.label if several else None
            for item in items:
                result = results.get(item.event.id)
                if result is not None:
                    report.checks.extend(self._judge(item, result, label))
            if several and not self._cancel_requested and len(results) == len(items):
                assert self._graphql is not None and o.state_query is not None
                state = await self._graphql.execute(o.state_query, bind_variables(plan.state_variables, first_row))
                answers = {k: r.answers[0] for k, r in results.items() if r.answers}
                outcomes.append(OrderingOutcome(ordering, state, answers))
        if several and len(outcomes) == len(runs):
            report.checks.extend(self._judge_orderings(outcomes))

    def _judge_orderings(self, outcomes: Sequence[OrderingOutcome]) -> list[CheckResult]:
        items = self.plan.items
        verdict, suspects = judge_orderings(outcomes, items, self.plan.ignore)
        involved = suspects or list(items)
        flow = CheckResult(
            check="order",
            outcome=verdict.outcome,
            message=verdict.message,
            trigger=", ".join(dict.fromkeys(i.event.trigger_name for i in involved)),
            target=", ".join(dict.fromkeys(i.target.description for i in involved)),
            details=verdict.details,
        )
        out = [flow]
        if verdict.outcome == "failed":
            for item in suspects:
                seen = "; ".join(
                    f"{o.ordering.label}: {o.answers[item.event.id].describe(100)}"
                    for o in outcomes
                    if item.event.id in o.answers
                )
                out.append(
                    CheckResult.of(
                        "order", Verdict("failed", f"its answer depends on the order events arrive in: {seen}"), item
                    )
                )
        return out

    def _judge(self, item: PlanItem, result: _ItemResult, ordering: str | None) -> list[CheckResult]:
        o = self.plan.options
        answers = result.answers
        if len(answers) == 1:  # the usual case, judged for every event of a run
            duration = answers[0].duration_ms or None
        else:
            duration = sum(a.duration_ms or 0.0 for a in answers) or None
        if not result.complete:
            verdict = Verdict(
                "skipped",
                f"cancelled after {len(result.answers)} of {o.duplicate} "
                f"{'delivery' if o.duplicate == 1 else 'deliveries'} of this event",
            )
            return [CheckResult.of("status" if o.expect == "2xx" else "recorded", verdict, item, ordering, duration)]
        out = []
        if o.expect == "2xx":
            out.append(CheckResult.of("status", self._judge_status(result.answers), item, ordering, duration))
        else:
            first = result.answers[0] if result.answers else None
            verdict = judge_recorded(first, item.event.recorded, self.plan.ignore)
            out.append(CheckResult.of("recorded", verdict, item, ordering, duration))
        if o.duplicate > 1:
            if result.state_error is not None:
                verdict = Verdict("error", f"the state query failed: {result.state_error}")
            else:
                verdict = judge_duplicates(
                    result.answers,
                    self.plan.ignore,
                    result.state_one,
                    result.state_all,
                    with_state=o.state_query is not None,
                )
            out.append(CheckResult.of("duplicate", verdict, item, ordering, duration))
        return out

    def _judge_status(self, answers: Sequence[Answer]) -> Verdict:
        """`judge_status(answers)`, once per distinct list of statuses when they all passed (the verdict depends on
        nothing else then), rather than once per event."""
        if len(answers) == 1:  # the usual case, without a generator
            status = answers[0].status
            if status is None or not 200 <= status < 300:
                return judge_status(answers)
            statuses: tuple[int | None, ...] = (status,)
        else:
            statuses = tuple(a.status for a in answers)
            if not all(a.ok for a in answers):
                return judge_status(answers)
        verdict = self._passed.get(statuses)
        if verdict is None:
            verdict = self._passed[statuses] = judge_status(answers)
        return verdict

    async def _run_items(self, items: Sequence[PlanItem]) -> dict[str, _ItemResult]:
        results: dict[str, _ItemResult] = {}
        queue = iter(items)

        once = self.plan.options.duplicate == 1

        async def worker() -> None:
            for item in queue:  # one iterator shared by the workers: each item is taken once, in order
                if self._cancel_requested:
                    return
                result = _ItemResult()
                try:
                    if once:  # `_replay_item` with one delivery, one coroutine level less (replay's rate)
                        result.complete = False
                        answer = await self._attempt(item, self._prepare(item))
                        if answer is not None:
                            result.answers.append(answer)
                            result.complete = True
                    else:
                        await self._replay_item(item, result)
                finally:
                    if result.answers:
                        results[item.event.id] = result

        count = max(1, min(self.plan.options.concurrency, len(items)))
        self._workers = [asyncio.create_task(worker(), name=f"replay worker {n}") for n in range(count)]
        outcomes = await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, asyncio.CancelledError):
                raise outcome
        return results

    async def _replay_item(self, item: PlanItem, result: _ItemResult) -> None:
        o = self.plan.options
        n = o.duplicate
        with_state = n > 1 and o.state_query is not None
        variables = bind_variables(self.plan.state_variables, item.event.row) if with_state else {}
        together = o.duplicate_mode == "concurrent" and item.target.kind != "backend"
        result.complete = False
        prepared = self._prepare(item)
        if together and not with_state:
            # all N at once: the race a lock expiring during a delivery makes
            # (`server/src-lib/Hasura/Backends/Postgres/DDL/EventTrigger.hs`)
            answers = await asyncio.gather(*(self._attempt(item, prepared) for _ in range(n)))
            result.answers.extend(a for a in answers if a is not None)
            result.complete = len(result.answers) == n
            return
        first = await self._attempt(item, prepared)
        if first is None:
            return
        result.answers.append(first)
        if with_state:
            result.state_one = await self._state(variables, result)
        if together:  # with a state query: the first alone (the state after one delivery), then the rest at once
            rest = await asyncio.gather(*(self._attempt(item, prepared) for _ in range(n - 1)))
            result.answers.extend(a for a in rest if a is not None)
        else:
            for _ in range(n - 1):
                answer = await self._attempt(item, prepared)
                if answer is None:
                    return
                result.answers.append(answer)
        if len(result.answers) < n:
            return
        if with_state:
            result.state_all = await self._state(variables, result)
        result.complete = True

    async def _state(self, variables: Mapping[str, Any], result: _ItemResult) -> Any:
        assert self._graphql is not None and self.plan.options.state_query is not None
        try:
            return await self._graphql.execute(self.plan.options.state_query, variables)
        except ServerError as exc:  # the query itself is wrong: a check error, not a stop
            result.state_error = str(exc)
            return None

    async def _gate(self) -> bool:
        """Wait while paused and for the next rate-limit slot; False when cancelled instead."""
        loop = asyncio.get_running_loop()
        while True:
            if self._cancel_requested:
                return False
            if not self._resumed.is_set():
                await self._resumed.wait()
                continue
            if self._interval:
                now = loop.time()
                at = max(now, self._next_slot)
                self._next_slot = at + self._interval
                if at > now:
                    await asyncio.sleep(at - now)
                if self._cancel_requested:
                    return False
                if not self._resumed.is_set():
                    continue
            return True

    async def _attempt(self, item: PlanItem, prepared: _Prepared | None) -> Answer | None:
        """One delivery of `item`, recorded; None when cancelled before it started. A direct delivery is sent from
        here rather than from a coroutine of its own: each level of coroutines costs every attempt a little at each
        of its suspensions."""
        if (self._interval or self._cancel_requested or not self._resumed.is_set()) and not await self._gate():
            return None
        progress = self.progress
        progress.in_flight += 1
        try:
            if prepared is None:
                answer = await self._attempt_backend(item)
            else:
                assert self._sender is not None
                now = time.time()
                started = time.perf_counter()
                try:
                    got = await self._sender.post(item.target.url, prepared.data, prepared.headers, prepared.time_limit)
                except WebhookError as exc:
                    answer = self._record_no_answer(item, prepared, exc, now)
                except asyncio.CancelledError:
                    self._record_cancelled(item, prepared, now, started)
                    raise
                else:
                    answer = self._record_answer(item, prepared, got, now)
        finally:
            progress.in_flight -= 1
        self._made += 1
        self._unreachable += answer.unreachable
        progress.done += 1
        if answer.ok:
            progress.answered_2xx += 1
        elif answer.status is not None:
            progress.answered_other += 1
        else:
            progress.no_answer += 1
        self._report_progress()
        return answer

    def _headers_for(self, item: PlanItem) -> tuple[dict[str, str], str]:
        cached = self._headers.get(item.event.trigger_name)
        if cached is None:
            send, logged, _ = resolve_headers(item.trigger, self.header_values, self.env, self._user_agent)
            if self.extra_headers:
                send = {**send, **self.extra_headers}
                logged = [*logged, *({"name": n, "value": "<redacted>"} for n in self.extra_headers)]
            logged_text = ReplayRecorder.logged_headers(logged)
            cached = self._headers[item.event.trigger_name] = (send, logged_text)
        return cached

    def _prepare(self, item: PlanItem) -> _Prepared | None:
        """What every delivery of `item` sends (and logs) alike: built once per event, not per duplicate."""
        if item.target.kind == "backend":
            return None
        event = item.event
        frame = self._frames.get(event.trigger_name)
        if frame is None or frame[5] != event.schema_name or frame[6] != event.table_name:
            send, logged_text = self._headers_for(item)
            head, tail = _body_frame(event.schema_name, event.table_name, event.trigger_name, item.max_retries)
            time_limit = item.timeout(self.plan.options.timeout)
            frame = (send, logged_text, head, tail, time_limit, event.schema_name, event.table_name)
            self._frames[event.trigger_name] = frame
        send, logged_text, head, tail, time_limit = frame[:5]
        trace = event.payload.get("trace_context")
        if (type(trace) is dict or isinstance(trace, Mapping)) and trace.get("trace_id") and trace.get("span_id"):
            # B3, Hasura's default propagator, and W3C `traceparent` (added with `traces_propagators:
            # ["tracecontext"]`): a handler that forwards either kind continues the event's trace.
            trace_id, span_id = trace["trace_id"], trace["span_id"]
            send = {
                **send,
                "X-B3-TraceId": trace_id,
                "X-B3-SpanId": span_id,
                "X-B3-Sampled": "1",
                "traceparent": f"00-{trace_id}-{span_id}-01",
            }
        if event.payload_text is None:
            body = body_text(event, item.max_retries)
        else:  # `body_text`, with the trigger's frame looked up once for all its events
            body = (
                '{"id":' + _json_text(event.id) + head + event.payload_text + tail + _json_text(event.created_at) + "}"
            )
        # `invocation_request(body, logged)` as the capture stores it (compact JSON, keys in order), composed from the
        # text being sent rather than serialised a second time: replay speed is bounded by work per attempt.
        request = f'{{"payload":{body},"headers":{logged_text},"version":"{INVOCATION_VERSION}"}}'
        return _Prepared(body.encode("utf-8"), request, send, time_limit)

    def _record_answer(self, item: PlanItem, prepared: _Prepared, got: WebhookAnswer, now: float) -> Answer:
        """A direct delivery's HTTP answer, of any status, recorded."""
        event = item.event
        http_status = got.status
        text = _blob(got.body)
        answers = self._answers
        response = answers.record(http_status, text, got.headers) if 200 <= http_status < 300 else client_error(text)
        answer = Answer(http_status, answers.decoded(text), None, got.duration_ms)
        self.recorder.add(
            event_id=event.id,
            trigger_name=event.trigger_name,
            http_status=http_status,
            request=prepared.request,
            response=response,
            created_at=_timestamp(now),
            created_ts=now,
            duration_ms=got.duration_ms,
        )
        return answer

    def _record_no_answer(self, item: PlanItem, prepared: _Prepared, exc: WebhookError, now: float) -> Answer:
        """A direct delivery without an HTTP answer (refused, timed out, dropped), recorded as Hasura records it."""
        event = item.event
        timed_out = isinstance(exc, WebhookTimeout)
        answer = Answer(
            None,
            None,
            str(exc),
            exc.duration_ms,
            unreachable=isinstance(exc, WebhookUnreachable),
            outcome="timeout" if timed_out else "connection_failure",
        )
        # Recorded as Hasura records a response timeout (`server/src-lib/Hasura/HTTP.hs`), so the capture's
        # `outcome` reads it as a timeout.
        url = item.target.url
        self.recorder.add(
            event_id=event.id,
            trigger_name=event.trigger_name,
            http_status=None,
            request=prepared.request,
            response=self._exception_response(exc.kind, RESPONSE_TIMEOUT if timed_out else str(exc), url),
            created_at=_timestamp(now),
            created_ts=now,
            duration_ms=answer.duration_ms,
        )
        return answer

    def _record_cancelled(self, item: PlanItem, prepared: _Prepared, now: float, started: float) -> None:
        """A direct delivery cancelled before its answer came."""
        event = item.event
        self.recorder.add(
            event_id=event.id,
            trigger_name=event.trigger_name,
            http_status=None,
            request=prepared.request,
            response=self._exception_response(
                "http_exception", "replay cancelled before the answer came", item.target.url
            ),
            created_at=_timestamp(now),
            created_ts=now,
            duration_ms=(time.perf_counter() - started) * 1000,
        )

    @staticmethod
    def _exception_response(kind: str, message: str, url: str) -> dict[str, Any]:
        """Hasura's record of a delivery without an HTTP answer (`mkInvocation` in
        `server/src-lib/Hasura/Eventing/EventTrigger.hs`), the URL without credentials."""
        detail: dict[str, Any] = {"type": kind, "message": message}
        if kind != "invalid_url":
            detail |= {"request": {"url": redact_url(url), "method": "POST"}, "status": None}
        return client_error(json.dumps(detail))

    async def _attempt_backend(self, item: PlanItem) -> Answer:
        client = self._metadata
        assert client is not None
        event = item.event
        source = item.trigger.source if item.trigger is not None else "default"
        started = time.perf_counter()
        deadline = time.monotonic() + item.timeout(self.plan.options.timeout) + 30.0
        try:
            if item.target.backend_call == "pg_invoke_event_trigger":
                result = await client.call(
                    "pg_invoke_event_trigger", {"name": event.trigger_name, "source": source, "payload": event.row}
                )
                backend_id = str(result["event_id"]) if isinstance(result, Mapping) else ""
                known: set[str] = set()
            else:
                _, before = await client.event_by_id(event.id, source)
                known = {i.id for i in before}
                await self._redeliver(client, event.id, source, deadline)
                backend_id = event.id
            invocation = await self._await_invocation(client, backend_id, source, known, deadline)
        except ServerError as exc:
            return Answer(None, None, f"the backend refused: {exc}", (time.perf_counter() - started) * 1000)
        duration = (time.perf_counter() - started) * 1000
        if invocation is None:
            return Answer(None, None, f"the backend made no delivery within {deadline - time.monotonic():.0f} s")
        self.recorder.add(
            event_id=event.id,
            trigger_name=event.trigger_name,
            http_status=invocation.http_status,
            request=invocation.request if isinstance(invocation.request, Mapping) else {"payload": None},
            response=invocation.response if isinstance(invocation.response, Mapping) else {},
            created_at=invocation.created_at or _now_timestamp(),
            duration_ms=duration,
            invocation_id=invocation.id,
        )
        return Answer.from_invocation(invocation, duration)

    async def _redeliver(self, client: HasuraMetadataClient, event_id: str, source: str, deadline: float) -> None:
        while True:
            try:
                await client.call("pg_redeliver_event", {"event_id": event_id, "source": source})
                return
            except ServerError as exc:
                busy = exc.code == "busy" or "already being processed" in str(exc)
                if not busy or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(self.poll_interval)

    async def _await_invocation(
        self, client: HasuraMetadataClient, event_id: str, source: str, known: set[str], deadline: float
    ) -> InvocationRecord | None:
        while time.monotonic() < deadline:
            _, invocations = await client.event_by_id(event_id, source)
            new = [i for i in invocations if i.id not in known]
            if new:
                return min(new, key=lambda i: (i.created_at, i.id))
            await asyncio.sleep(self.poll_interval)
        return None
