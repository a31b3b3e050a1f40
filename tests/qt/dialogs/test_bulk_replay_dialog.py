"""Replay selected events and Retry all failed (issue 14, missing): the plan first (how many events, where they go),
then progress, cancel and the outcome; the replay guard for hosts that are not this machine. Synchronous pytest-qt
tests only (shared/reference/qt-stack.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inspector.qt.dialogs.bulk_replay_dialog import FAILED_FILTER
from inspector.qt.window.main_window import MainWindow
from inspector.services.replay.loader import Selection
from inspector.store.reader import CaptureReader
from tests.helpers.captures import build_sample

UNREACHABLE = "http://127.0.0.1:9/{trigger}"
"""The discard port: nothing listens, so each attempt is a connection failure (recorded as such)."""


def _open_sample(window: MainWindow, tmp_path: Path, qtbot: Any) -> Path:
    path = tmp_path / "sample.inspector"
    build_sample(path).close()
    assert window.open_capture(path)
    qtbot.waitUntil(lambda: window.model is not None and window.model.rowCount() == 3, timeout=5000)
    return path


def test_retry_all_failed_shows_the_plan_then_runs_it(window: MainWindow, tmp_path: Path, qtbot: Any) -> None:
    path = _open_sample(window, tmp_path, qtbot)
    dialog = window.replay_events(Selection(filter=FAILED_FILTER), "Retry all failed events", {"*": UNREACHABLE})
    assert dialog is not None
    assert "1 event</b> of 1 trigger" in dialog.summary.text()  # the one event Hasura gave up on
    assert "restaurant-approval" in dialog.plan_view.toPlainText()
    assert "127.0.0.1" in dialog.plan_view.toPlainText()
    assert dialog.run_button.isEnabled() and not dialog.consent.isVisible()
    dialog.run()
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=15000)
    assert "1 of 1 attempts made" in dialog.outcome.text()
    assert not dialog.run_button.isEnabled()  # one run per plan
    reader = CaptureReader.open(path)
    try:
        attempt = reader.last_replay_attempt("6f1c2d3e-0002-4000-8000-000000000002")
    finally:
        reader.close()
    assert attempt is not None and attempt["source"] == "replay"
    dialog.close()


def test_a_host_that_is_not_this_machine_needs_consent(window: MainWindow, tmp_path: Path, qtbot: Any) -> None:
    _open_sample(window, tmp_path, qtbot)
    window.table.selectRow(0)
    qtbot.waitUntil(lambda: window.detail.event_id is not None, timeout=5000)
    dialog = window.replay_selected()
    assert dialog is not None
    assert "1 event</b> of 1 trigger" in dialog.summary.text()
    dialog.close()
    remote = window.replay_events(
        Selection(event_ids=("6f1c2d3e-0001-4000-8000-000000000001",)), "Replay", targets={"*": "http://192.0.2.7/x"}
    )
    assert remote is not None
    assert remote.consent.isVisible() and "192.0.2.7" in remote.consent.text()
    assert not remote.run_button.isEnabled()
    remote.consent.setChecked(True)
    assert remote.run_button.isEnabled()
    remote.close()


def test_replay_selected_asks_for_a_selection(window: MainWindow, tmp_path: Path, qtbot: Any) -> None:
    _open_sample(window, tmp_path, qtbot)
    window.table.clearSelection()
    assert window.replay_selected() is None
    assert "Select the events" in window.statusBar().currentMessage()
    assert window.retry_failed_action in window.main_toolbar.actions()
    assert window.replay_now_action in window.main_toolbar.actions()
