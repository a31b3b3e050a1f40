"""The window capturing a fast source keeps its GUI thread free (issue 15.3): the capture session runs in a process
of its own (`services.capture_process`), so a 5 ms timer keeps ticking while thousands of events a second are
recorded, and the list ends with every event.

A synchronous pytest-qt test (the window's tasks run on the qasync loop of the `loop` fixture, driven by
`qtbot.waitUntil`: never `async def` with qtbot, shared/reference/qt-stack.md).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTimer

from inspector.core.connection_profile import ConnectionProfile
from inspector.qt.window.main_window import MainWindow

ROOT = Path(__file__).resolve().parents[3]
RATE = 5000
SECONDS = 4.0
MAX_GAP_MS = 250.0
"""Far below what recording on the GUI thread cost (a pass over thousands of events at once), with room for a shared
2-core machine; `benchmarks/ui_stall.py --writer window` measures against the 50/100 ms goals."""


@pytest.fixture
def fast_source() -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`tests/helpers/fast_event_log.py` producing RATE events/s for SECONDS."""
    source = subprocess.Popen(
        [sys.executable, "-m", "tests.helpers.fast_event_log", "--rate", str(RATE), "--seconds", str(SECONDS)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert source.stdout is not None
        yield source, json.loads(source.stdout.readline())["url"]
    finally:
        assert source.stdin is not None
        source.stdin.close()
        try:
            source.wait(10)
        except subprocess.TimeoutExpired:
            source.kill()
            source.wait()


def test_the_window_capturing_a_fast_source_stays_responsive_and_shows_every_event(
    window: MainWindow, fast_source: tuple[subprocess.Popen[str], str], qtbot: Any
) -> None:
    source, url = fast_source
    ticks: list[float] = []
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    try:
        window.connect_profile(ConnectionProfile.from_endpoint("fast", url), None)
        assert source.stdout is not None
        summary: list[str] = []  # the source's line once it has produced everything (read off the GUI thread)
        reader = threading.Thread(target=lambda: summary.append(source.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        qtbot.waitUntil(lambda: bool(summary), timeout=30000)
        produced = int(json.loads(summary[0])["produced"])
        qtbot.waitUntil(lambda: window.model is not None and window.model.rowCount() >= produced, timeout=90000)
    finally:
        timer.stop()
    gaps = [(b - a) * 1000 for a, b in itertools.pairwise(ticks)]
    assert produced == RATE * SECONDS
    assert gaps and max(gaps) < MAX_GAP_MS, f"longest gap {max(gaps):.0f} ms"
    assert window.model.rowCount() == produced
    assert window.capture is not None
    path = window.capture.path

    def open_events() -> int:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            return int(conn.execute("SELECT count(*) FROM events WHERE status != 'delivered'").fetchone()[0])

    # Every event is listed once a poll has read it, maybe still pending: the source delivers its last pending
    # events 0.5 s after producing them, and the next poll brings those states (a capture that keeps up gets every
    # row before that poll).
    qtbot.waitUntil(lambda: open_events() == 0, timeout=20000)
    window.stop_capture()
    qtbot.waitUntil(lambda: window.session is None, timeout=20000)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT count(*), count(DISTINCT id) FROM events").fetchone() == (produced, produced)
        assert conn.execute("SELECT count(*) FROM events WHERE status != 'delivered'").fetchone() == (0,)
    finally:
        conn.close()
