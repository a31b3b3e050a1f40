"""The capture session's pace against a busy event log (`tests/helpers/fast_event_log.py`, served in this process on a
loopback port): passes start every `poll_interval` seconds, a slow pass is followed at once, each pass is written as
soon as it ends, and the garbage collector is tuned for the capture and put back after it."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import statistics
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from inspector.core.connection_profile import ConnectionProfile
from inspector.services import capture_session
from inspector.services.capture_session import CaptureOptions, CaptureProgress, CaptureSession
from inspector.store.capture_file import CaptureFile
from tests.helpers.fast_event_log import TRIGGERS, FastEventLog, start
from tests.helpers.sandbox_client import wait_until


class SlowLog(FastEventLog):
    """The fast event log, answering each event-log read after `delay` seconds; notes for each pass (from the first
    trigger's first read) how long nothing was asked since the previous read was answered."""

    def __init__(self, rate: float, seconds: float, delay: float = 0.0) -> None:
        super().__init__(rate, seconds)
        self.delay = delay
        self.idle_before_pass: list[float] = []
        self._answered = 0.0

    async def metadata(self, request: web.Request) -> web.Response:
        body = await request.json()
        args = body.get("args", {})
        if body.get("type") == "pg_get_event_logs":
            if args.get("name") == TRIGGERS[0] and not args.get("offset") and self._answered:
                self.idle_before_pass.append(time.monotonic() - self._answered)
            await asyncio.sleep(self.delay)
            self._answered = time.monotonic()
        return await super().metadata(request)


@pytest.fixture
async def served() -> AsyncIterator[tuple[SlowLog, str]]:
    log = SlowLog(rate=2000, seconds=60)
    runner, url = await start(log)
    producer = asyncio.create_task(log.produce())
    yield log, url
    producer.cancel()
    await runner.cleanup()


def _events_in(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    finally:
        conn.close()


async def test_each_pass_is_written_when_it_ends(served: tuple[SlowLog, str], tmp_path: Path) -> None:
    """With the periodic flush far away (30 s), what a pass read is in the file right after the pass, not only once
    a batch fills."""
    log, url = served
    path = tmp_path / "c.inspector"
    capture = CaptureFile.create(path)
    options = CaptureOptions(poll_interval=0.5, flush_interval=30.0)
    session = CaptureSession(ConnectionProfile.from_endpoint("fast", url), None, capture, options)
    task = asyncio.create_task(session.run())
    try:
        await wait_until(lambda: session.progress.polls >= 2, timeout=20)
        in_file = _events_in(path)
        assert in_file > 0
        assert in_file >= session.progress.events - log.rate  # at most what the pass under way has read
    finally:
        session.stop()
        await task
    capture.close()


async def test_a_pass_slower_than_the_interval_is_followed_at_once(served: tuple[SlowLog, str], tmp_path: Path) -> None:
    """Passes of over a second (every event-log read answered after 0.3 s, four triggers) with a 1 s interval: the
    next begins when one ends, not a second later (the file would lag the server by a pass and an interval)."""
    log, url = served
    log.delay = 0.3
    capture = CaptureFile.create(tmp_path / "c.inspector")
    options = CaptureOptions(poll_interval=1.0)
    session = CaptureSession(ConnectionProfile.from_endpoint("fast", url), None, capture, options)
    task = asyncio.create_task(session.run())
    try:
        await wait_until(lambda: len(log.idle_before_pass) >= 3, timeout=30)
    finally:
        session.stop()
        await task
    capture.close()
    assert statistics.median(log.idle_before_pass) < 0.5, log.idle_before_pass  # was a second after every pass


async def test_the_collector_is_tuned_while_capturing_and_put_back_after(
    served: tuple[SlowLog, str], tmp_path: Path
) -> None:
    _, url = served
    before = gc.get_threshold()
    during: list[tuple[tuple[int, int, int], int]] = []

    def seen(_progress: CaptureProgress) -> None:
        during.append((gc.get_threshold(), gc.get_freeze_count()))

    capture = CaptureFile.create(tmp_path / "c.inspector")
    options = CaptureOptions(poll_interval=0.2, flush_interval=0.05, duration=1.0)
    await CaptureSession(ConnectionProfile.from_endpoint("fast", url), None, capture, options, seen).run()
    capture.close()
    assert during and all(t == capture_session.GC_THRESHOLDS and frozen > 0 for t, frozen in during)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
