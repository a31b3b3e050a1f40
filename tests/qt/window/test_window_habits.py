"""What the window does around the evidence (issue 14): export by the file name's suffix, a live list that holds
still under the pointer, quitting during a capture, the detail pane following the filter, demo capture retention and
the message when there is no display.

Synchronous pytest-qt tests only (shared/reference/qt-stack.md).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QMessageBox

from inspector.qt.roles import EVENT_ID_ROLE
from inspector.qt.window.app import DEMO_PREFIX, display_problem, prune_demo_captures
from inspector.qt.window.main_window import MainWindow
from tests.helpers.captures import add_rows, build_sample
from tests.helpers.window import connect, small_capture


def test_export_writes_the_format_its_suffix_names(window: MainWindow, tmp_path: Path, qtbot: Any) -> None:
    """Defect 7: `x.har` silently wrote SQLite."""
    path = tmp_path / "sample.inspector"
    build_sample(path).close()
    assert window.open_capture(path)
    qtbot.waitUntil(lambda: window.model.rowCount() == 3, timeout=5000)
    assert window.export_events(False, str(tmp_path / "x.jsonl")) == 3
    lines = [json.loads(line) for line in (tmp_path / "x.jsonl").read_text().splitlines()]
    assert sum(1 for line in lines if line.get("kind") == "event" or line.get("type") == "event") >= 1 or lines
    assert not (tmp_path / "x.jsonl").read_bytes().startswith(b"SQLite format 3")
    assert window.export_events(False, str(tmp_path / "x.har")) == 3
    har = json.loads((tmp_path / "x.har").read_text())
    assert har["log"]["entries"]  # one entry per invocation
    assert "as HAR" in window.statusBar().currentMessage()
    assert window.export_events(False, str(tmp_path / "x.csv")) == 3
    with (tmp_path / "x.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][0] == "event_id" and "Trigger" in rows[0] and len(rows) == 4
    assert window.export_events(False, str(tmp_path / "x.inspector")) == 3
    assert (tmp_path / "x.inspector").read_bytes().startswith(b"SQLite format 3")


def test_the_list_holds_still_under_the_pointer_while_following(window: MainWindow, tmp_path: Path, qtbot: Any) -> None:
    """Defect 8: following scrolled the row under the pointer away, so a click could land on another event."""
    path = tmp_path / "live.inspector"
    small_capture(path, count=200)
    assert window.open_capture(path)
    qtbot.waitUntil(lambda: window.model.rowCount() == 200, timeout=5000)
    window.tail.set_following(True)
    assert window.follow_action in window.connection_bar.actions()  # the toggle is on the toolbar
    viewport = window.table.viewport()
    window.eventFilter(viewport, QEvent(QEvent.Type.Enter))  # the pointer comes over the list
    row = window.table.rowAt(viewport.height() // 2)
    before = window.table.visualRect(window.model.index(row, 0)).top()
    add_rows(path, 201, 260)
    qtbot.waitUntil(lambda: window.model.rowCount() == 260, timeout=10000)
    assert window.table.visualRect(window.model.index(row, 0)).top() == before  # the same event under the pointer
    assert window.follow_action.isChecked()
    window.eventFilter(viewport, QEvent(QEvent.Type.Leave))  # it leaves: the list catches up
    assert window.table.verticalScrollBar().value() == window.table.verticalScrollBar().maximum()
    window.follow_action.trigger()  # the toolbar toggle turns following off
    assert not window.tail.following


def test_the_detail_pane_clears_when_the_filter_hides_its_event(window: MainWindow, tmp_path: Path, qtbot: Any) -> None:
    """Defect 15: the pane kept showing an event the filter had hidden."""
    path = tmp_path / "six.inspector"
    small_capture(path)
    assert window.open_capture(path)
    qtbot.waitUntil(lambda: window.model.rowCount() == 6, timeout=5000)
    window.table.selectRow(1)  # an agent-assignment event
    event_id = window.model.index(1, 0).data(EVENT_ID_ROLE)
    qtbot.waitUntil(lambda: window.detail.event_id == event_id, timeout=5000)
    window.apply_filter('trigger == "validate-order"')
    qtbot.waitUntil(lambda: not window.model.loading and window.model.rowCount() == 3, timeout=5000)
    assert window.detail.event_id is None
    assert "hidden by the display filter" in window.detail.hint.text()


def test_quitting_during_a_live_capture_asks(
    window: MainWindow, sandbox_url: str, qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defect 14: quitting during a capture asked nothing."""
    asked: list[str] = []

    def answer(button: QMessageBox.StandardButton) -> Any:
        def question(_parent: Any, _title: str, text: str, *_args: Any) -> QMessageBox.StandardButton:
            asked.append(text)
            return button

        return question

    connect(window, sandbox_url)
    qtbot.waitUntil(lambda: window.session is not None and window.session.running, timeout=10000)
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Cancel))
    window.close()
    assert asked and "A capture is running" in asked[0]
    assert window.isVisible() and window.session is not None  # Cancel: nothing stopped
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    window.close()
    assert len(asked) == 2 and not window.isVisible()


def test_only_the_newest_demo_captures_are_kept(tmp_path: Path) -> None:
    """Defect 14: every demo run left a capture in the data folder forever."""
    for i in range(8):
        demo = tmp_path / f"{DEMO_PREFIX}2026010{i}-120000.inspector"
        demo.write_bytes(b"x")
        os.utime(demo, (1_000_000 + i, 1_000_000 + i))
    (tmp_path / f"{DEMO_PREFIX}20260100-120000.inspector-wal").write_bytes(b"x")
    mine = tmp_path / "capture-20260101-120000.inspector"
    mine.write_bytes(b"x")
    removed = prune_demo_captures(tmp_path, keep=5)
    assert len(removed) == 3
    left = sorted(p.name for p in tmp_path.iterdir())
    assert len([n for n in left if n.startswith(DEMO_PREFIX)]) == 5
    assert mine.name in left  # a capture of the user's own is never touched
    assert f"{DEMO_PREFIX}20260100-120000.inspector-wal" not in left


def test_no_display_is_said_in_one_line_with_how_to_run_headless(tmp_path: Path) -> None:
    """Defect 16: Qt aborted (134) blaming xcb-cursor0."""
    assert display_problem({}, "linux") is not None
    assert display_problem({"DISPLAY": ":0"}, "linux") is None
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert display_problem({}, "darwin") is None and display_problem({}, "win32") is None
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    result = subprocess.run(
        [sys.executable, "-m", "inspector", "demo"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "no display" in lines[0] and "QT_QPA_PLATFORM=offscreen" in lines[0] and "xcb" not in lines[0]
