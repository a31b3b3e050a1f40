"""The window while a capture grows: UI stalls of Inspector's main window following a capture file that another
process fills at 10,000 events/s, against the same window with nothing being written (goal: p99 stall < 50 ms).

Run `python benchmarks/ui_stall.py` (3 repetitions of 15 s ingest + 15 s idle, about 100 s) or `--quick` (one
repetition of 3 s + 3 s); `python benchmarks/run.py` runs it too (`--only window`). `--profile FILE` writes cProfile
stats of the GUI process during the ingest phases (`python -m pstats FILE`); `--json FILE` writes the figures.

How it measures, in one process (QT_QPA_PLATFORM=offscreen, so the window really lays out and paints, into an
offscreen buffer): a `MainWindow` with a throw-away QSettings file, profile directory and capture directory opens an
empty capture file, as `File ▸ Open` does, and follows its tail (the default). A precise 5 ms QTimer records
`time.perf_counter()` at each of its ticks; a stall is the gap between two ticks minus the 5 ms interval (the time the
Qt event loop could not answer: input, paints and timers all wait that long). p50/p99 are over the ticks (a 300 ms
stall is one sample among ~3,000 in 15 s, so the longest stall and the count over 50 ms are reported too). The loop
is run with `QEventLoop` and stopped by `QTimer.singleShot`. Also reported per phase: the window process's CPU share,
the share of the time its GUI thread was runnable but waiting for a CPU (/proc/self/schedstat, read at every tick),
and the stalls less those waits (the window's own part), which tell a busy machine from a busy window.

Each repetition, on a fresh capture file:
1. ingest (measured): a writer process (this file again, with the hidden `--write` option) records events as a
   capture session does: in batches (a commit each time 1,000 items are pending, about every 500 events, as an event
   and its state row are two items, and an extra flush every 0.25 s), at 10,000 events/s, evenly, for T = 15 s. The
   events are the example app's four triggers on `orders`, as `EventRecord.from_hasura` reads `pg_get_event_logs`
   rows: payloads of 450 to 800 bytes (the order row, also the old row for UPDATEs, session variables, trace
   context); 96 % first seen delivered, 1 % failed, 3 % first seen pending and seen again delivered 0.5 s later (a
   state change: an UPDATE and an `event_states` row). 8,192 distinct events are generated before the clock starts
   and cycled, each written with its own id and time. The writer prints what it wrote and its commit times.
2. idle (baseline, same run): the same window, the same timer and the same file (now holding what was written), for
   T seconds, with no writer. The ratio ingest / idle says what following the ingest costs the UI thread.
The rows the list shows at the end of the ingest phase, and after a settle of at most 3 s, are compared with the
events written; the list must still follow the tail.

Three settings make 10,000 events/s possible for one Python writer on a 2-core VM, and none changes what the window
reads: (a) `DirectWriter` (the default; `--writer capture` uses `CaptureWriter` itself) writes the same rows in the same
batches as `CaptureWriter` without its per-row Python work (sqlite-utils' `insert_all` builds every statement in
Python); (b) the triggers that fill the full-text index of payloads are dropped (`--fts` keeps them; the event list
does not read that index); (c) the capture goes to /dev/shm (`--dir` to choose), so that the WAL's checkpoints do not
wait for the disk. Measured on the benchmark VM, flat out: `CaptureWriter` with the full-text index about 5,000 to
8,000 events/s, without it about 7,500 (disk) to 12,500 (/dev/shm); `DirectWriter` about 10,600 (disk) to 19,500
(/dev/shm).

The writer runs in its own process, so the figures are of the window's reading side (its refresh timer: the event
list's live tail, the `count(*)` in the status bar, the sources tree, the console and the session log). The window's
own capture runs in a process too (`services/capture_process.py`); `--writer window` measures it: the window presses
Start capture against `tests/helpers/fast_event_log.py` (a child process serving Hasura's event-log API at `--rate`
events/s for `--seconds`), and reports the rate its capture reached and the rows the list showed.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import itertools
import json
import math
import os
import random
import select
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from common import percentile  # noqa: E402

from inspector.core.events import FINAL_STATUSES, EventRecord, timestamp_seconds  # noqa: E402
from inspector.core.hasura import event_payload  # noqa: E402
from inspector.store.capture_file import CaptureFile, CaptureWriter, dumps, update_delivery_figures  # noqa: E402

TICK_MS = 5
"""Interval of the probe timer; a stall is a gap between its ticks minus this."""
STALL_GOAL_MS = 50.0
"""The issue's goal: p99 stall below 50 ms while ingesting 10,000 events/s."""
FLUSH_INTERVAL = 0.25
"""As `CaptureOptions.flush_interval`."""
SETTLE_SECONDS = 3.0
"""After the writer stops, how long the window may take to show every written row."""
WRITER_START_TIMEOUT = 30.0
T0 = 1_795_000_000.0
"""Epoch seconds of the first generated event (the capture's times are synthetic)."""
TRIGGERS = (
    ("validate-order", "INSERT"),
    ("process-payment", "UPDATE"),
    ("restaurant-approval", "UPDATE"),
    ("agent-assignment", "UPDATE"),
)
"""The example app's four triggers on `public.orders`, in the order an order goes through them."""
PENDING_SHARE = 0.03
FAILED_SHARE = 0.01
FTS_TRIGGERS = ("events_ai", "events_ad", "events_au")
"""The triggers sqlite-utils made to keep `events_fts` (full-text index of payloads) up to date."""
STATE_CHANGE_DELAY = 0.5
"""Seconds after which an event first seen pending is seen again, delivered (a follower poll later)."""


# --- the writer (child process) --------------------------------------------------------------------------------------


def _stamp(ts: float) -> str:
    """A Hasura `created_at` (TIMESTAMP, no zone, microseconds)."""
    whole = int(ts)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((ts - whole) * 1e6):06d}"


def event_row(n: int, rng: random.Random) -> dict[str, Any]:
    """Event number `n` as `pg_get_event_logs` returns it: one of the four triggers, row data of an order."""
    order = n // 4
    trigger, op = TRIGGERS[n % 4]
    order_id = str(uuid.UUID(int=(order * 2654435761) << 64 | order))
    new = {
        "order_id": order_id,
        "user_id": f"user-{order % 997}",
        "restaurant_id": order % 50,
        "address": f"{order % 300} Rue de la Paix",
        "items": ["pizza", "salad"] if order % 3 else ["burger"],
        "order_valid": op == "UPDATE",
        "payment_valid": n % 4 >= 2,
        "approved": n % 4 == 3,
        "driver_assigned": False,
        "total": round((order % 9000) / 100.0, 2),
        "created": _stamp(T0 + order * 0.0004),
    }
    old = None if op == "INSERT" else {**new, "order_valid": n % 4 > 1, "payment_valid": n % 4 > 2}
    session = {"x-hasura-role": "user", "x-hasura-user-id": f"user-{order % 997}"}
    trace = {"trace_id": f"{rng.getrandbits(64):016x}", "span_id": f"{rng.getrandbits(32):08x}"}
    return {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "schema_name": "public",
        "table_name": "orders",
        "trigger_name": trigger,
        "payload": event_payload(op, old, new, session, trace),  # type: ignore[arg-type]
        "delivered": False,
        "error": False,
        "tries": 0,
        "created_at": _stamp(T0 + n * 0.0001),
        "locked": None,
        "next_retry_at": None,
        "archived": False,
    }


POOL = 8192
"""Distinct generated events (2,048 orders going through the four triggers); the stream cycles through them, each
event with its own id and time, so generating them costs the writer nothing while it writes."""


class DirectWriter:
    """What `CaptureWriter` records for new events and state changes (the same `events` and `event_states` rows, the
    same delivery-figures update, committed in the same batches) without its per-row Python work: sqlite-utils'
    `insert_all` builds every statement in Python, and one Python process cannot record 10,000 events/s through
    `CaptureWriter` on the benchmark machine (`--writer capture` measures that path)."""

    COLUMNS = (
        "id, trigger_name, schema_name, table_name, op, created_at, created_ts, payload, row_key, trace_id, "
        "session_role, captured_at, updated_at, status, delivered, error, tries, locked, next_retry_at, archived"
    )

    def __init__(self, capture: CaptureFile, payload_texts: dict[int, str], batch_size: int = 1000) -> None:
        self.conn = capture.conn
        self.batch_size = batch_size
        self._texts = payload_texts
        self._events: list[tuple[Any, ...]] = []
        self._updates: list[tuple[Any, ...]] = []
        self._states: list[tuple[Any, ...]] = []
        self._touched: list[str] = []
        self._open: set[str] = set()

    @property
    def pending(self) -> int:
        return len(self._events) + len(self._updates) + len(self._states)

    def observe_event(self, record: EventRecord, now: float | None = None) -> str:
        now = time.time() if now is None else now
        state = (
            record.status,
            int(record.delivered),
            int(record.error),
            record.tries,
            record.locked,
            record.next_retry_at,
            int(record.archived),
        )
        if record.id in self._open:
            self._updates.append((*state, now, record.id))
            outcome = "changed"
        else:
            text = self._texts.get(id(record.payload))
            self._events.append(
                (
                    record.id,
                    record.trigger_name,
                    record.schema_name,
                    record.table_name,
                    record.op,
                    record.created_at,
                    timestamp_seconds(record.created_at),
                    text if text is not None else dumps(record.payload),
                    record.row_key,
                    record.trace_id,
                    record.session_role,
                    now,
                    now,
                    *state,
                )
            )
            outcome = "new"
        self._states.append((record.id, now, *state))
        if record.status in FINAL_STATUSES:
            self._open.discard(record.id)
        else:
            self._open.add(record.id)
        self._touched.append(record.id)
        if self.pending >= self.batch_size:
            self.flush()
        return outcome

    def flush(self) -> None:
        if not self.pending:
            return
        with self.conn:
            self.conn.executemany(
                f"INSERT OR IGNORE INTO events ({self.COLUMNS}) VALUES ({', '.join('?' * 20)})", self._events
            )
            self.conn.executemany(
                "UPDATE events SET status = ?, delivered = ?, error = ?, tries = ?, locked = ?, next_retry_at = ?, "
                "archived = ?, updated_at = ? WHERE id = ?",
                self._updates,
            )
            self.conn.executemany(
                "INSERT INTO event_states (event_id, observed_at, status, delivered, error, tries, locked, "
                "next_retry_at, archived) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                self._states,
            )
            update_delivery_figures(self.conn, self._touched)  # the same SQL as the real writer's
        self._events.clear()
        self._updates.clear()
        self._states.clear()
        self._touched.clear()


def write_main(path: Path, rate: float, seconds: float, mode: str) -> int:
    """Record events into `path` at `rate`/s for `seconds` as a capture session's writer does (`mode` "direct":
    `DirectWriter`, "capture": `CaptureWriter`), then print a JSON summary. Stops early when stdin closes (the
    benchmark process went away)."""
    stop = threading.Event()

    def watch_stdin() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    rng = random.Random(26)
    pool = [EventRecord.from_hasura(event_row(n, rng)) for n in range(POOL)]
    texts = {id(record.payload): dumps(record.payload) for record in pool}
    capture = CaptureFile.open(path)
    writer: CaptureWriter | DirectWriter = CaptureWriter(capture) if mode == "capture" else DirectWriter(capture, texts)
    original_flush = writer.flush
    flush_times: list[float] = []

    def timed_flush() -> None:
        if writer.pending:
            started = time.perf_counter()
            original_flush()
            flush_times.append(time.perf_counter() - started)

    writer.flush = timed_flush  # type: ignore[method-assign]
    later: list[tuple[float, EventRecord]] = []
    written = changes = 0
    cpu0 = time.process_time()
    print("ready", flush=True)
    started = last_flush = time.perf_counter()
    while not stop.is_set():
        now = time.perf_counter()
        elapsed = now - started
        if elapsed >= seconds:
            break
        due = min(int(rate * elapsed), written + 500)  # then look at the clock again
        while written < due:
            event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            created_at = _stamp(T0 + written * 0.0001)
            draw = rng.random()
            if draw < PENDING_SHARE:
                record = replace(pool[written % POOL], id=event_id, created_at=created_at)
                later.append((now + STATE_CHANGE_DELAY, record))
            elif draw < PENDING_SHARE + FAILED_SHARE:
                record = replace(pool[written % POOL], id=event_id, created_at=created_at, error=True, tries=4)
            else:
                record = replace(pool[written % POOL], id=event_id, created_at=created_at, delivered=True, tries=1)
            writer.observe_event(record)
            written += 1
        while later and later[0][0] <= now:
            writer.observe_event(replace(later.pop(0)[1], delivered=True, tries=1))
            changes += 1
        if now - last_flush >= FLUSH_INTERVAL:
            writer.flush()
            last_flush = now
        if written >= int(rate * (time.perf_counter() - started)):
            time.sleep(0.002)
    wall = time.perf_counter() - started
    writer.flush()
    cpu = time.process_time() - cpu0
    capture.close()
    summary = {
        "mode": mode,
        "written": written,
        "state_changes": changes,
        "seconds": wall,
        "rate": written / wall if wall else math.nan,
        "cpu_share": cpu / wall if wall else math.nan,
        "flushes": len(flush_times),
        "flush_p50_ms": percentile(flush_times, 50) * 1000,
        "flush_max_ms": max(flush_times, default=math.nan) * 1000,
    }
    print(json.dumps(summary), flush=True)
    return 0


# --- measuring -------------------------------------------------------------------------------------------------------


STALL_FIGURES = (
    "p50",
    "p99",
    "max",
    "over_goal",
    "own_p99",
    "own_max",
    "own_over_goal",
    "stalled_share",
    "cpu_share",
    "waiting_share",
)
"""What `--json` reports of each phase."""


@dataclass
class Stalls:
    """The probe timer's gaps during one phase, in ms beyond the interval."""

    stalls: list[float]
    seconds: float
    own: list[float] = field(default_factory=list)
    """Each stall less the time the GUI thread waited for a CPU during it: the window's own part of the stall."""
    cpu_share: float = math.nan
    """CPU time of this (the window's) process over the phase, as a share of one core."""
    waiting_share: float = math.nan
    """Time the GUI thread was ready to run but waited for a CPU (Linux schedstat), as a share of the phase: what a
    busy machine adds to the stalls."""

    @property
    def p50(self) -> float:
        return percentile(self.stalls, 50)

    @property
    def p99(self) -> float:
        return percentile(self.stalls, 99)

    @property
    def max(self) -> float:
        return max(self.stalls, default=math.nan)

    @property
    def over_goal(self) -> int:
        return sum(1 for s in self.stalls if s > STALL_GOAL_MS)

    @property
    def own_p99(self) -> float:
        return percentile(self.own, 99)

    @property
    def own_max(self) -> float:
        return max(self.own, default=math.nan)

    @property
    def own_over_goal(self) -> int:
        return sum(1 for s in self.own if s > STALL_GOAL_MS)

    @property
    def stalled_share(self) -> float:
        """Share of the phase spent in gaps longer than two intervals (the loop busy, not just scheduling)."""
        return sum(s for s in self.stalls if s > TICK_MS) / 1000 / self.seconds if self.seconds else math.nan

    def text(self) -> str:
        return (
            f"stall p50 {self.p50:.1f} ms, p99 {self.p99:.1f} ms, max {self.max:.1f} ms, "
            f"{self.over_goal} over {STALL_GOAL_MS:.0f} ms, {len(self.stalls)} ticks, "
            f"loop busy {self.stalled_share:.0%}, GUI CPU {self.cpu_share:.0%}, waiting for a CPU"
            f" {self.waiting_share:.0%}; less the waits: p99 {self.own_p99:.1f} ms, max {self.own_max:.1f} ms,"
            f" {self.own_over_goal} over {STALL_GOAL_MS:.0f} ms"
        )


def probe(seconds: float) -> Stalls:
    """Run the Qt event loop for `seconds` with a 5 ms precise timer; its gaps (minus 5 ms) are the stalls."""
    from PySide6.QtCore import QEventLoop, Qt, QTimer

    ticks: list[tuple[float, float]] = []
    """(perf_counter, seconds the GUI thread has waited for a CPU) at each tick."""

    def tick() -> None:
        ticks.append((time.perf_counter(), runqueue_seconds()))

    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(TICK_MS)
    timer.timeout.connect(tick)
    loop = QEventLoop()
    cpu0 = time.process_time()
    tick()
    timer.start()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    timer.stop()
    tick()  # a stall at the very end counts too
    wall = ticks[-1][0] - ticks[0][0]
    stalls = [max(0.0, (b - a) * 1000 - TICK_MS) for (a, _), (b, _) in itertools.pairwise(ticks)]
    waits = [(b - a) * 1000 for (_, a), (_, b) in itertools.pairwise(ticks)]
    own = [max(0.0, s - w) if not math.isnan(w) else s for s, w in zip(stalls, waits, strict=True)]
    cpu, waited = (time.process_time() - cpu0) / wall, (ticks[-1][1] - ticks[0][1]) / wall
    return Stalls(stalls, wall, own, cpu, waited)


def runqueue_seconds() -> float:
    """Seconds this process's main thread has spent runnable but waiting for a CPU (NaN where Linux does not say)."""
    try:
        return int(Path("/proc/self/schedstat").read_text().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return math.nan


def run_loop_until(condition: Any, timeout: float) -> float:
    """Run the Qt event loop until `condition()` holds (checked every 20 ms) or `timeout`; returns the seconds."""
    from PySide6.QtCore import QEventLoop, QTimer

    started = time.perf_counter()
    loop = QEventLoop()
    check = QTimer()
    check.setInterval(20)
    check.timeout.connect(lambda: loop.quit() if condition() else None)
    QTimer.singleShot(int(timeout * 1000), loop.quit)
    check.start()
    if not condition():
        loop.exec()
    check.stop()
    return time.perf_counter() - started


def make_capture(path: Path, fts: bool = False) -> None:
    """An empty capture whose session has started: the trigger configuration recorded, as a live capture has. Without
    `fts`, the triggers that fill the full-text index of payloads are dropped (see the module's docstring)."""
    capture = CaptureFile.create(path, overwrite=True)
    if not fts:
        for trigger in FTS_TRIGGERS:
            capture.conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    capture.set_info(endpoint="http://localhost:8080/v1/graphql", server_version="v2.48.0", started_at=time.time())
    writer = CaptureWriter(capture)
    writer.snapshot_triggers(
        (
            "default",
            {"schema": "public", "name": "orders"},
            {
                "name": name,
                "definition": {"enable_manual": False, op.lower(): {"columns": "*"}},
                "retry_conf": {"num_retries": 3, "interval_sec": 10, "timeout_sec": 60},
                "webhook": f"http://localhost:3000/{name}",
            },
        )
        for name, op in TRIGGERS
    )
    writer.log("info", "session", "capturing http://localhost:8080/v1/graphql")
    writer.flush()
    capture.close()


@dataclass
class Repetition:
    ingest: Stalls
    idle: Stalls
    writer: dict[str, Any]
    shown_at_stop: int
    shown_settled: int
    settle_seconds: float
    following: bool
    at_bottom: bool


@dataclass
class Outcome:
    repetitions: list[Repetition] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def start_writer(path: Path, rate: float, seconds: float, mode: str) -> subprocess.Popen[str]:
    args = [sys.executable, str(SCRIPT), "--write", str(path), "--rate", str(rate), "--seconds", str(seconds)]
    args += ["--writer", mode]
    return subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=str(ROOT))


def read_line(process: subprocess.Popen[str], timeout: float) -> str:
    """The writer's next line, or "" if none comes within `timeout` seconds."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    return process.stdout.readline() if ready else ""


def stop_writer(process: subprocess.Popen[str]) -> None:
    """Close its stdin (it stops), then terminate, then kill: it never outlives the benchmark."""
    if process.stdin is not None and not process.stdin.closed:
        with contextlib.suppress(OSError):
            process.stdin.close()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class Plan:
    rate: float
    seconds: float
    repeats: int
    writer: str
    """`direct` or `capture` (see `DirectWriter`)."""
    fts: bool
    """Keep the triggers that fill the full-text index (the writer then does more per event)."""
    directory: Path | None
    """Where the capture files go; None: the system's temporary directory."""


def repetition(window: Any, path: Path, plan: Plan, profiler: cProfile.Profile | None) -> Repetition:
    make_capture(path, plan.fts)
    if not window.open_capture(path):
        raise RuntimeError(f"the window could not open {path}: {window.banner.label.text()}")
    run_loop_until(lambda: False, 0.5)  # the window settles on the new file (first refresh, paints)

    writer = start_writer(path, plan.rate, plan.seconds, plan.writer)
    try:
        assert writer.stdout is not None
        line = read_line(writer, WRITER_START_TIMEOUT)
        if line.strip() != "ready":
            raise RuntimeError(f"the writer did not start (status {writer.poll()}): {line!r}")
        if profiler is not None:
            profiler.enable()
        try:
            ingest = probe(plan.seconds)
        finally:
            if profiler is not None:
                profiler.disable()
        shown_at_stop = window.model.rowCount()
        summary_line = read_line(writer, WRITER_START_TIMEOUT)  # it stops after `seconds` and prints a summary
        summary = json.loads(summary_line) if summary_line.strip() else {}
    finally:
        stop_writer(writer)
    if not summary:
        raise RuntimeError(f"the writer failed (status {writer.returncode})")
    written = int(summary["written"])
    settle = run_loop_until(lambda: window.model.rowCount() >= written, SETTLE_SECONDS)
    shown_settled = window.model.rowCount()
    bar = window.table.verticalScrollBar()
    at_bottom = bar.value() >= bar.maximum()
    following = bool(window.tail.following)
    idle = probe(plan.seconds)
    return Repetition(ingest, idle, summary, shown_at_stop, shown_settled, settle, following, at_bottom)


def window_repetition(window: Any, plan: Plan, profiler: cProfile.Profile | None) -> Repetition:
    """The window itself captures (Start capture, as a user does: the session runs in its own process) from a fast
    event-log source (`tests/helpers/fast_event_log.py`, a child process producing `rate` events/s for `seconds`)."""
    from inspector.core.connection_profile import ConnectionProfile

    source = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.helpers.fast_event_log",
            "--rate",
            str(plan.rate),
            "--seconds",
            str(plan.seconds),
        ],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = json.loads(read_line(source, WRITER_START_TIMEOUT))["url"]
        window.connect_profile(ConnectionProfile.from_endpoint("fast source", url), None)
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        try:
            ingest = probe(plan.seconds)
        finally:
            if profiler is not None:
                profiler.disable()
        shown_at_stop = window.model.rowCount()
        captured_at_stop = window.capture.count("events")
        if window.session is None:
            raise RuntimeError(f"the window's capture ended: {window.banner.label.text()}")
        line = read_line(source, WRITER_START_TIMEOUT)
        summary = json.loads(line) if line.strip() else {}
        if not summary:
            raise RuntimeError(f"the source failed (status {source.poll()})")
        produced = int(summary["produced"])
        settle = run_loop_until(lambda: window.model.rowCount() >= produced, SETTLE_SECONDS * 10)
        caught_up = time.perf_counter() - started
        shown_settled = window.model.rowCount()
        bar = window.table.verticalScrollBar()
        at_bottom = bar.value() >= bar.maximum()
        following = bool(window.tail.following)
        window.stop_capture()
        run_loop_until(lambda: window.session is None, 20)
    finally:
        stop_writer(source)
    states = window.capture.count("event_states")
    writer = {
        "written": produced,
        "state_changes": states - window.capture.count("events"),
        "seconds": plan.seconds,
        "rate": captured_at_stop / plan.seconds,
        "caught_up_rate": shown_settled / caught_up,
        "flushes": 0,
        "flush_p50_ms": math.nan,
        "flush_max_ms": math.nan,
        "cpu_share": summary["cpu_seconds"] / plan.seconds,
    }
    idle = probe(plan.seconds)
    return Repetition(ingest, idle, writer, shown_at_stop, shown_settled, settle, following, at_bottom)


def measure(plan: Plan, profile: Path | None) -> Outcome:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from inspector.qt.window.main_window import MainWindow
    from inspector.services.profiles import ProfileStore

    app = QApplication.instance() or QApplication(sys.argv[:1])
    if plan.writer == "window":  # the window's capture is an asyncio task: a qasync loop runs it as Qt runs
        import asyncio

        import qasync

        asyncio.set_event_loop(qasync.QEventLoop(app, already_running=True))
    outcome = Outcome()
    profiler = cProfile.Profile() if profile is not None else None
    with tempfile.TemporaryDirectory(prefix="inspector-ui-stall-", dir=plan.directory) as tmp:
        directory = Path(tmp)
        settings = QSettings(str(directory / "settings.ini"), QSettings.Format.IniFormat)
        profiles = ProfileStore(directory / "profiles")
        window = MainWindow(settings=settings, profiles=profiles, capture_directory=directory)
        window.show()
        try:
            for rep in range(plan.repeats):
                if plan.writer == "window":
                    result = window_repetition(window, plan, profiler)
                else:
                    result = repetition(window, directory / f"live-{rep + 1}.inspector", plan, profiler)
                outcome.repetitions.append(result)
                w = result.writer
                print(
                    f"  rep {rep + 1} ingest: {result.ingest.text()}\n"
                    f"        writer: {w['written']:,} events + {w['state_changes']:,} state changes in"
                    f" {w['seconds']:.1f} s = {w['rate']:,.0f} events/s, {w['flushes']} commits (p50"
                    f" {w['flush_p50_ms']:.1f} ms, max {w['flush_max_ms']:.1f} ms), writer CPU {w['cpu_share']:.0%}\n"
                    f"        rows shown: {result.shown_at_stop:,} at the end of the phase, {result.shown_settled:,}"
                    f" after {result.settle_seconds:.2f} s, of {w['written']:,} written; following the tail:"
                    f" {result.following}, scrolled to the bottom: {result.at_bottom}\n"
                    f"  rep {rep + 1} idle:   {result.idle.text()}",
                    flush=True,
                )
                if "caught_up_rate" in w:
                    print(
                        f"        the window's capture: {w['rate']:,.0f} events/s during the phase (events in the file"
                        f" at its end over {plan.seconds:g} s), {w['caught_up_rate']:,.0f} events/s until it held all"
                        f" {w['written']:,} produced; source CPU {w['cpu_share']:.0%}",
                        flush=True,
                    )
                if result.shown_settled != w["written"]:
                    outcome.notes.append(
                        f"rep {rep + 1}: the list shows {result.shown_settled:,} rows, {w['written']:,} were written"
                    )
                if not (result.following and result.at_bottom):
                    outcome.notes.append(f"rep {rep + 1}: the list stopped following the tail")
                if w["rate"] < 0.95 * plan.rate:
                    outcome.notes.append(f"rep {rep + 1}: the writer managed only {w['rate']:,.0f} events/s")
        finally:
            window.close()
            window.deleteLater()
            app.processEvents()
    if profiler is not None and profile is not None:
        profiler.dump_stats(str(profile))
    return outcome


def figures(outcome: Outcome, rate: float) -> dict[str, Any]:
    """Medians over the repetitions (and min/max) of each figure, with the ratios."""

    def stat(values: list[float]) -> dict[str, float]:
        return {"median": statistics.median(values), "min": min(values), "max": max(values)}

    reps = outcome.repetitions
    out: dict[str, Any] = {"rate": rate, "repetitions": len(reps), "notes": outcome.notes}
    for phase in ("ingest", "idle"):
        for name in STALL_FIGURES:
            out[f"{phase}.{name}"] = stat([float(getattr(getattr(r, phase), name)) for r in reps])
    out["written"] = stat([float(r.writer["written"]) for r in reps])
    out["writer_rate"] = stat([float(r.writer["rate"]) for r in reps])
    out["shown_at_stop"] = stat([float(r.shown_at_stop) for r in reps])
    out["shown_settled"] = stat([float(r.shown_settled) for r in reps])
    out["per_repetition"] = [
        {
            **{
                f"{phase}.{name}": float(getattr(getattr(r, phase), name))
                for phase in ("ingest", "idle")
                for name in STALL_FIGURES
            },
            "written": r.writer["written"],
            "writer_rate": r.writer["rate"],
            "shown_at_stop": r.shown_at_stop,
            "shown_settled": r.shown_settled,
        }
        for r in reps
    ]
    p99_ingest, p99_idle = out["ingest.p99"]["median"], out["idle.p99"]["median"]
    out["ratio_to_goal"] = p99_ingest / STALL_GOAL_MS
    out["ratio_to_idle"] = p99_ingest / p99_idle if p99_idle else math.nan
    return out


def _percent(stat: dict[str, float]) -> dict[str, float]:
    return {k: v * 100 for k, v in stat.items()}


def print_table(result: dict[str, Any]) -> None:
    rows = [
        ("ingest: stall p50 (ms)", result["ingest.p50"]),
        ("ingest: stall p99 (ms)", result["ingest.p99"]),
        ("ingest: longest stall (ms)", result["ingest.max"]),
        (f"ingest: stalls > {STALL_GOAL_MS:.0f} ms", result["ingest.over_goal"]),
        ("idle (baseline): stall p50 (ms)", result["idle.p50"]),
        ("idle (baseline): stall p99 (ms)", result["idle.p99"]),
        ("idle (baseline): longest stall (ms)", result["idle.max"]),
        (f"idle (baseline): stalls > {STALL_GOAL_MS:.0f} ms", result["idle.over_goal"]),
        ("events written", result["written"]),
        ("ingest, less the waits for a CPU: stall p99 (ms)", result["ingest.own_p99"]),
        ("ingest, less the waits for a CPU: longest stall (ms)", result["ingest.own_max"]),
        (f"ingest, less the waits for a CPU: stalls > {STALL_GOAL_MS:.0f} ms", result["ingest.own_over_goal"]),
        ("ingest: CPU of the window's process (%)", _percent(result["ingest.cpu_share"])),
        ("ingest: GUI thread waiting for a CPU (%)", _percent(result["ingest.waiting_share"])),
        ("idle: CPU of the window's process (%)", _percent(result["idle.cpu_share"])),
        ("idle: GUI thread waiting for a CPU (%)", _percent(result["idle.waiting_share"])),
        ("rows shown at the end of the ingest phase", result["shown_at_stop"]),
        ("rows shown after the settle", result["shown_settled"]),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'figure':<{width}} {'median':>9} {'min':>9} {'max':>9}")
    for label, s in rows:
        print(f"{label:<{width}} {s['median']:>9,.1f} {s['min']:>9,.1f} {s['max']:>9,.1f}")
    print(
        f"p99 stall while ingesting {result['rate']:,.0f} events/s: goal < {STALL_GOAL_MS:.0f} ms, ratio to the goal"
        f" {result['ratio_to_goal']:.2f}; ratio to idle {result['ratio_to_idle']:.2f}"
    )
    for note in result["notes"]:
        print(f"NOTE: {note}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one repetition of 3 s (a smoke run)")
    parser.add_argument("--seconds", type=float, help="seconds of each phase (default 15, --quick 3)")
    parser.add_argument("--repeats", type=int, help="repetitions (default 3, --quick 1)")
    parser.add_argument("--rate", type=float, default=10_000.0, help="events written per second (default 10,000)")
    parser.add_argument(
        "--writer",
        choices=("direct", "capture", "window"),
        default="direct",
        help="direct: CaptureWriter's rows and batches, written lean (default); capture: CaptureWriter itself;"
        " window: the window itself captures a fast event-log source (tests/helpers/fast_event_log.py)",
    )
    parser.add_argument("--fts", action="store_true", help="keep the full-text index of payloads filled")
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path("/dev/shm") if os.access("/dev/shm", os.W_OK) else None,
        help="where the capture files go (default /dev/shm when there is one, so disk speed does not limit the writer)",
    )
    parser.add_argument("--profile", type=Path, metavar="FILE", help="cProfile stats of the GUI while ingesting")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--write", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    seconds = args.seconds if args.seconds is not None else (3.0 if args.quick else 15.0)
    if args.write:
        return write_main(args.write, args.rate, seconds, args.writer)
    plan = Plan(
        rate=args.rate,
        seconds=seconds,
        repeats=args.repeats if args.repeats is not None else (1 if args.quick else 3),
        writer=args.writer,
        fts=args.fts,
        directory=args.dir,
    )
    print(
        f"the window following a capture written at {plan.rate:,.0f} events/s ({plan.writer} writer"
        f"{', full-text index filled' if plan.fts else ''}, files in {plan.directory or tempfile.gettempdir()}):"
        f" {plan.repeats} x ({seconds:g} s ingest + {seconds:g} s idle), probe timer {TICK_MS} ms",
        flush=True,
    )
    outcome = measure(plan, args.profile)
    result = figures(outcome, plan.rate)
    print()
    print_table(result)
    if args.profile:
        print(f"cProfile stats of the GUI process while ingesting: {args.profile}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 1 if outcome.notes else 0


if __name__ == "__main__":
    sys.exit(main())
