"""The capture session: connects a profile's backend to a capture file and records until told to stop.

Owns the wiring (metadata client → event-log follower, subscription recorder → capture writer), the stop conditions
(duration, item count, `stop()`), periodic flushing and progress reports, and reconnecting the event-log follower
with backoff. GUI-free: `inspector capture` and the window both run a `CaptureSession`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from inspector.backends.errors import BackendError, ConnectionFailed
from inspector.backends.event_log_follower import EventLogFollower
from inspector.backends.hasura_metadata import HasuraMetadataClient, TriggerRef
from inspector.backends.subscriptions import SubscriptionRecorder, SubscriptionSpec
from inspector.core.connection_profile import ConnectionProfile
from inspector.core.events import EventRecord, InvocationRecord
from inspector.store.capture_file import CaptureFile, CaptureWriter
from inspector.store.vanished import mark_event_cleaned_up, mark_trigger_removed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaptureOptions:
    """What to record and when to stop."""

    events: bool = True
    """Follow the event log through the metadata API (needs admin rights)."""
    triggers: tuple[str, ...] | None = None
    """Only these event triggers; None means all."""
    since_now: bool = False
    """Skip what the event log already holds when the capture starts."""
    subscriptions: tuple[SubscriptionSpec, ...] = ()
    duration: float | None = None
    count: int | None = None
    """Stop after this many recorded results: new events, event state changes, new invocations and subscription
    results (`next`/`data` frames). Protocol frames (`connection_ack`, keep-alives, `complete`, errors) are
    recorded but not counted: a user asking for N results counts results."""
    poll_interval: float = 1.0
    flush_interval: float = 0.25


@dataclass
class CaptureProgress:
    """A snapshot of a running capture, for progress lines and status bars."""

    state: str = "starting"
    recorded: int = 0
    events: int = 0
    invocations: int = 0
    messages: int = 0
    reconnects: int = 0
    polls: int = 0
    """Passes over the event log completed (each brings every followed event's state up to the server's)."""
    elapsed: float = 0.0
    protocol: str | None = None
    server_version: str | None = None
    last_error: str | None = None
    triggers: list[str] = field(default_factory=list)


RESULT_FRAMES = frozenset({"next", "data"})
"""Message types that carry a subscription result (graphql-transport-ws `next`, graphql-ws `data`): what `--count`
counts among messages."""


class _CountingWriter:
    """The writer, counting what it recorded by kind and refusing items beyond the count limit."""

    def __init__(self, writer: CaptureWriter, progress: CaptureProgress, limit: int | None) -> None:
        self.writer = writer
        self.progress = progress
        self.limit = limit
        self.counted = 0
        """Results toward the limit (see `CaptureOptions.count`): the writer's items minus protocol frames."""

    def _full(self) -> bool:
        return self.limit is not None and self.counted >= self.limit

    def observe_event(self, record: EventRecord) -> str:
        if self._full():
            return "same"
        before = self.writer.recorded
        outcome = self.writer.observe_event(record)
        self.counted += self.writer.recorded - before
        if outcome == "new":
            self.progress.events += 1
        return outcome

    def observe_events(self, records: Sequence[EventRecord]) -> list[str]:
        if self.limit is not None:  # counted one by one, so that the limit falls on the right event
            return [self.observe_event(record) for record in records]
        before = self.writer.recorded
        outcomes = self.writer.observe_events(records)
        self.counted += self.writer.recorded - before
        self.progress.events += outcomes.count("new")
        return outcomes

    def observe_invocation(self, record: InvocationRecord) -> bool:
        if self._full():
            return False
        new = self.writer.observe_invocation(record)
        self.counted += int(new)
        self.progress.invocations += int(new)
        return new

    def known_invocations(self, ids: object) -> set[str]:
        return self.writer.known_invocations(ids)  # type: ignore[arg-type]

    def event_cleaned_up(self, event_id: str, at: float) -> None:
        """The server's event cleanup deleted an event: marked in the file (its states and invocations stay), and
        the capture goes on."""
        self.writer.flush()  # the event may still be in a batch not yet written
        held = mark_event_cleaned_up(self.writer.conn, event_id, at)
        self.writer.log(
            "info",
            "event log",
            f"event {event_id} was cleaned up by the server"
            + ("" if held else " before this capture saw it (only invocations of it remain)"),
        )

    def trigger_removed(self, name: str, at: float) -> None:
        """The event trigger was deleted on the server: marked in the file, no longer followed."""
        self.writer.flush()
        mark_trigger_removed(self.writer.conn, name, at)
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))
        self.log("warning", "event log", f"event trigger {name} was removed from the server at {when}")

    def add_operation(self, *args: object, **kwargs: object) -> int:
        return self.writer.add_operation(*args, **kwargs)  # type: ignore[arg-type]

    def update_operation(self, operation_id: int, **fields: object) -> None:
        self.writer.update_operation(operation_id, **fields)

    def add_message(
        self,
        operation_id: int | None,
        received_at: float,
        kind: str,
        raw: str,
        data: object = None,
        diff: object = None,
        rows: int | None = None,
    ) -> None:
        if self.limit is not None and self.counted >= self.limit:  # `_full()`, inlined: once per frame
            return
        self.writer.add_message(operation_id, received_at, kind, raw, data, diff, rows)
        if kind in RESULT_FRAMES:
            self.counted += 1
        self.progress.messages += 1

    def log(self, level: str, source: str, message: str) -> None:
        self.writer.log(level, source, message)
        if level in ("warning", "error"):
            self.progress.last_error = message


GC_THRESHOLDS = (50_000, 20, 20)
"""The cyclic garbage collector's thresholds while a capture runs (Python's defaults: 700, 10, 10). Reading the event
log allocates about eight containers per row (the parsed answer: each row, its payload's objects, its record), and
with the defaults a collection ran every 700 of them and a full one every few answers, traversing every object the
process holds: at 10,000 events/s that was about a quarter of the recording thread's time (3.4 s of collections
in a 15 s capture of 150,000 events: 3,052 young, 277 middle, 25 full ones of 70 to 115 ms). Almost all of it is
freed by reference counting anyway (an answer's rows once it is read), so collections are made rarer, and what
the process holds before the capture (its modules: some 50,000 objects) is frozen out of them."""

_tuned = 0
"""Captures running in this process with the collector tuned (the first restores it when the last ends)."""
_saved_thresholds: tuple[int, int, int] = gc.get_threshold()


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Tune the garbage collector for a capture (see `GC_THRESHOLDS`), and put it back after the last one ends."""
    global _tuned, _saved_thresholds
    if _tuned == 0:
        _saved_thresholds = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
    _tuned += 1
    try:
        yield
    finally:
        _tuned -= 1
        if _tuned == 0:
            gc.set_threshold(*_saved_thresholds)
            gc.unfreeze()


class CaptureSession:
    """Records one backend into one capture file."""

    def __init__(
        self,
        profile: ConnectionProfile,
        secret: str | None,
        capture: CaptureFile,
        options: CaptureOptions,
        on_progress: Callable[[CaptureProgress], None] | None = None,
    ) -> None:
        self.profile = profile
        self._secret = secret
        self.capture = capture
        self.options = options
        self.on_progress = on_progress
        self.progress = CaptureProgress()
        self.writer = CaptureWriter(capture)
        self._sink = _CountingWriter(self.writer, self.progress, options.count)
        self._stop = asyncio.Event()
        self._recorder: SubscriptionRecorder | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._extra_recorders: list[SubscriptionRecorder] = []
        self._polling = False
        """A pass over the event log is under way: the periodic flush waits for its end (see `_supervise`)."""

    def add_subscription(self, spec: SubscriptionSpec) -> None:
        """Start recording one more subscription on its own connection while the capture runs (the window's
        subscriptions console). Its failures are logged to the capture, not fatal to the session."""
        recorder = SubscriptionRecorder(
            self.profile.graphql_ws_url,
            self.profile.websocket_init_payload(self._secret),
            self.profile.subprotocols(),
            [spec],
            self._sink,
            verify_tls=self.profile.verify_tls,
        )
        self._extra_recorders.append(recorder)

        async def record() -> None:
            try:
                await recorder.run(self._stop)
            except BackendError as error:
                self._sink.log("error", "subscriptions", f"{spec.name or 'subscription'}: {error}")

        self._tasks.append(asyncio.create_task(record(), name="console subscription"))

    @property
    def running(self) -> bool:
        return self.progress.state in ("capturing", "reconnecting", "starting")

    def stop(self) -> None:
        """Ask the session to finish: it flushes what it has and returns from `run`."""
        self._stop.set()

    def flush(self) -> None:
        """Return when everything recorded so far is committed to the file (before a copy or a replay of it)."""
        self.writer.flush()

    async def run(self) -> CaptureProgress:
        """Record until stopped; raises `BackendError` when the backend cannot be used at all."""
        with _fewer_collections():
            return await self._run()

    async def _run(self) -> CaptureProgress:
        started = time.monotonic()
        self.capture.set_info(
            endpoint=self.profile.redacted_endpoint, started_at=time.time(), subprotocol=self.profile.subprotocol
        )
        tasks = self._tasks
        client: HasuraMetadataClient | None = None
        try:
            if self.options.events:
                client = HasuraMetadataClient(
                    self.profile.metadata_url,
                    self.profile.query_v2_url,
                    self.profile.version_url,
                    self.profile.request_headers(self._secret),
                    verify_tls=self.profile.verify_tls,
                    server_timezone=self.profile.server_timezone,
                )
                triggers = await self._discover(client)
                # The zone the server's event times were read in (`HasuraMetadataClient.server_timezone`).
                self.capture.set_info(server_timezone=client.server_timezone)
                follower = EventLogFollower(client, self._sink, triggers, since_now=self.options.since_now)
                tasks.append(asyncio.create_task(self._follow(follower), name="event log"))
            if self.options.subscriptions:
                self._recorder = SubscriptionRecorder(
                    self.profile.graphql_ws_url,
                    self.profile.websocket_init_payload(self._secret),
                    self.profile.subprotocols(),
                    list(self.options.subscriptions),
                    self._sink,
                    verify_tls=self.profile.verify_tls,
                )
                tasks.append(asyncio.create_task(self._recorder.run(self._stop), name="subscriptions"))
            self.progress.state = "capturing"
            await self._supervise(tasks, started)
        finally:
            self._stop.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if client is not None:
                await client.close()
            self.writer.flush()
            self.capture.set_info(ended_at=time.time(), recorded=self.writer.recorded)
            self.progress.state = "stopped"
            self.progress.recorded = self.writer.recorded
            self._report(started)
        return self.progress

    async def _discover(self, client: HasuraMetadataClient) -> list[TriggerRef]:
        await client.detect()
        self.progress.server_version = client.server_version
        found = await client.event_triggers()
        if self.options.triggers is not None:
            names = {t.name for t in found}
            unknown = [n for n in self.options.triggers if n not in names]
            if unknown:
                raise BackendError(
                    f"no event trigger named {', '.join(unknown)}; the server has: {', '.join(sorted(names)) or 'none'}"
                )
            found = [t for t in found if t.name in self.options.triggers]
        self.writer.snapshot_triggers((t.source, t.table, t.config) for t in found)
        self.capture.set_info(
            server_version=client.server_version,
            triggers_followed=[t.name for t in found],
            event_log_api="run_sql" if client.use_run_sql else "metadata",
        )
        self.progress.triggers = [t.name for t in found]
        return found

    async def _follow(self, follower: EventLogFollower) -> None:
        """Poll the event log every `poll_interval` seconds (from the start of one pass to the start of the next; a
        pass that takes longer is followed at once, so at high rates the file lags the server by about one pass, not
        a pass and an interval); a dropped connection is retried with backoff, other errors end the capture."""
        delay = 1.0
        while not self._stop.is_set():
            try:
                self._polling = True
                began = time.monotonic()
                try:
                    await follower.poll()
                finally:
                    self._polling = False
                # The pass is whole (events before their invocations): written now rather than at the next tick of
                # `_supervise`, which skips passes under way.
                self.writer.flush(wait=False)
                self.progress.polls += 1
                delay = 1.0
                wait = max(0.0, self.options.poll_interval - (time.monotonic() - began))
            except ConnectionFailed as error:
                self.writer.log("warning", "event log", f"{error}; retrying in {delay:g} s")
                self.progress.last_error = str(error)
                self.progress.reconnects += 1
                wait, delay = delay, min(delay * 2, 30.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=wait)

    async def _supervise(self, tasks: list[asyncio.Task[None]], started: float) -> None:
        deadline = None if self.options.duration is None else started + self.options.duration
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.options.flush_interval)
            if not self._polling:
                # Committed on the writer's thread; the end of `run` waits for it. Not in the middle of a pass over
                # the event log: its events come before their invocations, and a reader (the window) would see a
                # delivered event without its delivery until the next flush. (A pass bigger than a batch is still
                # written as it goes: the writer flushes every `batch_size` items.)
                self.writer.flush(wait=False)
            for task in tasks:
                if task.done() and not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            self._report(started)
            if deadline is not None and time.monotonic() >= deadline:
                break
            if self.options.count is not None and self._sink.counted >= self.options.count:
                break
            if tasks and all(t.done() for t in tasks) and not self._extra_recorders:
                break

    def _report(self, started: float) -> None:
        self.progress.elapsed = time.monotonic() - started
        self.progress.recorded = self.writer.recorded
        if self._recorder is not None:
            self.progress.protocol = self._recorder.protocol
            if self._recorder.state == "reconnecting":
                self.progress.state = "reconnecting"
            elif self.progress.state == "reconnecting":
                self.progress.state = "capturing"
        if self.on_progress is not None:
            self.on_progress(self.progress)
