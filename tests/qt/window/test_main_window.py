"""The window against a real sandbox (a separate process, real sockets), offscreen.

These are synchronous pytest-qt tests: the window's tasks run on a qasync loop driven by `qtbot.waitUntil` (never
`async def` tests with qtbot, which hang: shared/reference/qt-stack.md).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, Qt, QUrl
from PySide6.QtGui import QFileOpenEvent
from PySide6.QtWidgets import QApplication

from inspector.qt.roles import EVENT_ID_ROLE, RULE_ROLE
from inspector.qt.window.file_open import FileOpenRelay
from inspector.qt.window.main_window import FLOWS_VIEW, MainWindow
from inspector.services.profiles import ProfileStore
from tests.helpers.captures import build_big_capture
from tests.helpers.window import SECRET, connect, small_capture


def test_live_capture_shows_events_sources_and_status(window: MainWindow, sandbox_url: str, qtbot: Any) -> None:
    connect(window, sandbox_url)
    qtbot.waitUntil(lambda: window.model is not None and window.model.rowCount() >= 12, timeout=20000)
    assert window.connect_button.text() == "Stop capture"
    qtbot.waitUntil(lambda: "Capturing" in window.state_label.text(), timeout=5000)
    window._on_refresh_timer_timeout(force=True)
    triggers = window.sources._triggers
    names = {triggers.child(i).text(0) for i in range(triggers.childCount())}
    assert names == {"validate-order", "process-payment", "restaurant-approval", "agent-assignment"}
    assert window.displayed_label.text().startswith("Displayed: ")
    assert window.file_label.text().strip().endswith(".inspector")
    # the filter narrows the list to one trigger, and the status bar says so
    total = window.model.rowCount()
    window.apply_filter('trigger == "validate-order"')
    qtbot.waitUntil(lambda: not window.model.loading, timeout=5000)
    shown = window.model.rowCount()
    assert 0 < shown < total
    trigger_column = window.model.columns.index("trigger")
    assert {window.model.index(r, trigger_column).data() for r in range(shown)} == {"validate-order"}
    assert window.displayed_label.text().startswith(f"Displayed: {shown:,} of ")
    # selecting an event shows it with its invocations
    window.table.selectRow(0)
    event_id = window.model.index(0, 0).data(EVENT_ID_ROLE)
    qtbot.waitUntil(lambda: window.detail.event_id == event_id, timeout=5000)
    tabs = window.detail.tabs
    labels = [tabs.tabText(i) for i in range(tabs.count())]
    assert any(label.startswith("Invocations (") and label != "Invocations (0)" for label in labels), labels
    # stopping ends the session and leaves the file readable
    window.stop_capture()
    qtbot.waitUntil(lambda: window.session is None, timeout=10000)
    assert window.connect_button.text() == "Start capture"


def test_a_failed_event_is_coloured_and_found_by_filter(window: MainWindow, sandbox_url: str, qtbot: Any) -> None:
    connect(window, sandbox_url)
    qtbot.waitUntil(lambda: window.model is not None and window.model.rowCount() >= 1, timeout=20000)
    window.apply_filter("attempts > 1")
    qtbot.waitUntil(lambda: window.model.rowCount() >= 1, timeout=30000)  # the window's timer refreshes the list
    assert window.model.index(0, 0).data(RULE_ROLE) in ("Retried", "Failed", "Duplicate delivery")
    assert window.model.index(0, 0).data(Qt.ItemDataRole.BackgroundRole) is not None


@pytest.mark.parametrize(
    ("url", "secret", "expected"),
    [
        (None, "wrong-secret", "check the admin secret"),
        ("http://127.0.0.1:9/v1/graphql", SECRET, "connection refused"),
    ],
)
def test_connection_errors_are_messages_and_the_window_goes_on(
    window: MainWindow, sandbox_url: str, qtbot: Any, url: str | None, secret: str, expected: str
) -> None:
    connect(window, url or sandbox_url, secret)
    qtbot.waitUntil(lambda: window.banner.isVisible() and window.session is None, timeout=15000)
    assert expected in window.banner.label.text()
    assert "Traceback" not in window.banner.label.text()
    assert window.connect_button.text() == "Start capture"
    connect(window, sandbox_url)  # and it still works afterwards
    qtbot.waitUntil(lambda: window.model is not None and window.model.rowCount() >= 1, timeout=20000)


def test_open_export_marks_recent_and_corrupt_files(window: MainWindow, tmp_path: Path, qtbot: Any) -> None:
    path = tmp_path / "saved.inspector"
    ids = small_capture(path)
    assert window.open_capture(path)
    qtbot.waitUntil(lambda: window.model.rowCount() == 6, timeout=5000)
    assert str(path.resolve()) == window.recent_files()[0]
    window.apply_filter('trigger == "validate-order"')
    qtbot.waitUntil(lambda: window.model.rowCount() == 3, timeout=5000)
    assert window.export_events(marked=False, path=str(tmp_path / "displayed.inspector")) == 3
    exported = sqlite3.connect(tmp_path / "displayed.inspector")
    assert exported.execute("SELECT count(*) FROM events").fetchone()[0] == 3
    exported.close()
    window.table.selectRow(1)
    window.toggle_mark()
    assert window.export_events(marked=True, path=str(tmp_path / "marked.inspector")) == 1
    marked = sqlite3.connect(tmp_path / "marked.inspector")
    assert marked.execute("SELECT id FROM events").fetchall() == [(ids[2],)]
    marked.close()
    # a corrupt file: a message, and the open capture stays
    bad = tmp_path / "bad.inspector"
    bad.write_bytes(b"SQLite format 3\x00" + os.urandom(4000))
    assert not window.open_capture(bad)
    assert "Cannot open bad.inspector" in window.banner.label.text()
    assert window.capture is not None and window.capture.path == path
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert not window.open_capture(text)
    assert "not a capture file" in window.banner.label.text()


def test_a_file_sent_by_the_desktop_opens_in_the_window(window: MainWindow, tmp_path: Path, qapp: Any) -> None:
    """macOS sends a capture opened from Finder as a file-open event to the application, maybe before the window
    exists: the relay keeps it until the window can open it, then opens later ones at once."""
    first, second = tmp_path / "first.inspector", tmp_path / "second.inspector"
    small_capture(first)
    small_capture(second)
    relay = FileOpenRelay()
    qapp.installEventFilter(relay)
    try:
        QApplication.sendEvent(qapp, QFileOpenEvent(str(first)))
        assert relay.pending == [str(first)] and window.capture is None
        relay.set_target(window.open_capture)
        assert relay.pending == [] and window.capture is not None and window.capture.path == first
        QApplication.sendEvent(qapp, QFileOpenEvent(QUrl.fromLocalFile(str(second))))
        assert window.capture.path == second
        QApplication.sendEvent(qapp, QFileOpenEvent(str(tmp_path / "missing.inspector")))
        assert "Cannot open missing.inspector" in window.banner.label.text()
        assert window.capture.path == second
    finally:
        qapp.removeEventFilter(relay)


def test_settings_survive_a_restart(window: MainWindow, tmp_path: Path, qtbot: Any) -> None:
    path = tmp_path / "saved.inspector"
    small_capture(path)
    window.open_capture(path)
    window.filter_bar.set_text('trigger == "agent-assignment"')
    window._set_column_shown("trace_id", True)
    window.close()
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    again = MainWindow(settings=settings, profiles=ProfileStore(tmp_path / "profiles"), capture_directory=tmp_path)
    qtbot.addWidget(again)
    assert again.filter_bar.history[0] == 'trigger == "agent-assignment"'
    assert str(path.resolve()) in again.recent_files()
    again.open_capture(path)
    assert "trace_id" in again.model.columns
    again.close()


def test_inspector_demo_starts_captures_and_quits(tmp_path: Path) -> None:
    """The README's main job, as a user runs it (offscreen), ends cleanly and leaves a capture with events."""
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "inspector", "demo", "--quit-after", "8", "--seed", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 60
    folder = tmp_path / "data" / "inspector" / "captures"
    captures = list(folder.glob("*.inspector"))
    assert len(captures) == 1
    # every connection was closed: the WAL is folded into the file, which alone holds the capture (to share it)
    assert sorted(p.name for p in folder.iterdir()) == [captures[0].name]
    conn = sqlite3.connect(captures[0])
    try:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] >= 4
        assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] >= 1
        info = dict(conn.execute("SELECT key, value FROM capture_info"))
        assert json.loads(info["ended_at"]) > json.loads(info["started_at"])
    finally:
        conn.close()


def test_window_on_a_capture_file_from_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "cli.inspector"
    small_capture(path)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path / "config")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "inspector", str(path), "--quit-after", "3"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
    assert proc.returncode == 0, err[-2000:]


def test_colouring_rules_are_edited_applied_and_kept(window: MainWindow, tmp_path: Path, qtbot: Any) -> None:
    from inspector.core.colouring import ColourRule
    from inspector.qt.dialogs.colouring_dialog import FILTER, NAME, ColouringDialog

    path = tmp_path / "rules.inspector"
    small_capture(path)
    window.open_capture(path)
    dialog = ColouringDialog(window.model.rules)
    qtbot.addWidget(dialog)
    dialog._add()
    last = dialog.table.rowCount() - 1
    dialog.table.item(last, NAME).setText("Agents")
    dialog.table.item(last, FILTER).setText('trigger == "agent-assignment"')
    dialog._move(-1)
    dialog.table.selectRow(0)
    rules = dialog.rules()
    assert [r.name for r in rules][-2] == "Agents"
    # disable everything but the new rule, so it is the one that colours
    rules = [
        r if r.name == "Agents" else ColourRule(r.name, r.filter_text, r.background, r.foreground, False) for r in rules
    ]
    window.apply_colouring_rules(rules)
    trigger = window.model.columns.index("trigger")
    coloured = {
        window.model.index(r, trigger).data(): window.model.index(r, 0).data(RULE_ROLE)
        for r in range(window.model.rowCount())
    }
    assert coloured == {"validate-order": None, "agent-assignment": "Agents"}
    assert "Agents" in window.legend.text()
    # a bad filter is kept but turned off, with the reason shown
    dialog.table.item(0, FILTER).setText("trigger ==")
    assert "expected" in dialog.status.text()
    broken = dialog.rules()[0]
    assert not broken.enabled and broken.error
    # kept between runs
    again = MainWindow(settings=window.settings, profiles=window.profiles, capture_directory=tmp_path)
    assert [r.name for r in again.colouring_rules()] == [r.name for r in rules]
    again.close()
    again.deleteLater()


def test_a_slow_filter_shows_progress_and_can_be_cancelled(window: MainWindow, tmp_path: Path, qtbot: Any) -> None:

    path = build_big_capture(tmp_path / "big.inspector", 300_000)
    assert window.open_capture(path)
    seen: list[bool] = []
    window.model.loadingChanged.connect(seen.append)
    window.apply_filter("data.new.restaurant_id == 7")
    if window.model.loading:
        assert window.load_progress.isVisible() and window.load_cancel.isVisible()
        window.load_cancel.click()
        assert window.filter_bar.edit.text() == ""
        qtbot.waitUntil(lambda: not window.model.loading, timeout=10000)
        assert window.model.rowCount() > 0
    else:  # a fast machine finished at once: it still went through the loading state
        assert seen and seen[-1] is False
    qtbot.waitUntil(lambda: not window.load_progress.isVisible(), timeout=10000)


def test_flows_view_shows_the_selected_flow_and_the_analysis(window: MainWindow, sandbox_url: str, qtbot: Any) -> None:
    connect(window, sandbox_url)
    qtbot.waitUntil(lambda: window.model is not None and window.model.rowCount() >= 8, timeout=20000)
    window.show_view(FLOWS_VIEW)
    window.table.selectRow(0)
    event_id = window.model.index(0, 0).data(EVENT_ID_ROLE)
    qtbot.waitUntil(lambda: window.flows.sequence.flow is not None, timeout=5000)
    flow = window.flows.sequence.flow
    assert any(step.event_id == event_id for step in flow.steps)
    assert any(lane.startswith("trigger:") for lane in flow.lanes)
    window.refresh_analysis()
    qtbot.waitUntil(lambda: not window.tasks.running("analysis"), timeout=20000)
    assert window.flows.anomalies.topLevelItemCount() >= 1  # fail-rate 0.3: retries at least
