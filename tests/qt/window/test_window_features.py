"""The features a Wireshark user looks for (issue 14, "Missing"): the main toolbar, Go to event (Ctrl+G), the time
display format, export of displayed and marked events in every format.

Synchronous pytest-qt tests only (shared/reference/qt-stack.md).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from inspector.core.time_format import TimeFormat
from inspector.qt.roles import EVENT_ID_ROLE
from inspector.qt.window.main_window import MainWindow
from inspector.qt.window.time_menu import SETTING
from tests.helpers.captures import build_sample
from tests.helpers.window import small_capture


def _open_small(window: MainWindow, tmp_path: Path, qtbot: Any, count: int = 6) -> list[str]:
    path = tmp_path / "small.inspector"
    ids = small_capture(path, count=count)
    assert window.open_capture(path)
    qtbot.waitUntil(lambda: window.model is not None and window.model.rowCount() == count, timeout=5000)
    return ids


def test_the_main_toolbar_holds_the_everyday_actions(window: MainWindow) -> None:
    toolbar = window.main_toolbar
    assert toolbar.isVisible()
    assert window.open_action in toolbar.actions()
    assert window.save_action in toolbar.actions()
    assert window.replay_now_action in toolbar.actions()
    assert window.retry_failed_action in toolbar.actions()
    assert window.goto_action in toolbar.actions()
    # start / stop and follow stay on the connection bar, beside the profile they act on
    assert window.follow_action in window.connection_bar.actions()
    assert window.connect_button.isVisible()
    # one row: both bars fit beside each other at 1366 px; narrower, the main toolbar folds, never Start capture
    assert toolbar.y() == window.connection_bar.y()
    assert toolbar.x() > window.connection_bar.x()
    assert window.main_toolbar.sizeHint().width() + window.connection_bar.sizeHint().width() <= 1366 - 40


def test_go_to_event_selects_it_or_says_why_not(window: MainWindow, tmp_path: Path, qtbot: Any) -> None:
    ids = _open_small(window, tmp_path, qtbot)
    assert window.goto_action.shortcut().toString() == "Ctrl+G"
    assert window.go_to_event(4)
    qtbot.waitUntil(lambda: window.detail.event_id == ids[3], timeout=5000)
    assert window.table.currentIndex().row() == 3
    window.apply_filter('trigger == "validate-order"')  # events 1, 3, 5
    qtbot.waitUntil(lambda: window.model.rowCount() == 3, timeout=5000)
    assert not window.go_to_event(4)
    assert "not displayed" in window.statusBar().currentMessage()
    assert window.go_to_event(5)
    assert window.model.index(window.table.currentIndex().row(), 0).data(EVENT_ID_ROLE) == ids[4]


def test_time_display_format_is_applied_and_kept(window: MainWindow, tmp_path: Path, qtbot: Any, loop: Any) -> None:
    _open_small(window, tmp_path, qtbot)
    column = window.model.columns.index("time")
    local = window.model.index(1, column).data()
    assert local.count(":") == 2  # a time of day
    window.time_menu.actions_by_format[TimeFormat.SINCE_START].trigger()
    assert window.model.index(0, column).data() == "0.000"
    assert window.model.headerData(column, window.table.horizontalHeader().orientation()) == "Time (s since start)"
    window.time_menu.actions_by_format[TimeFormat.SINCE_PREVIOUS].trigger()
    assert window.model.index(1, column).data().startswith(("+", "-"))
    window.time_menu.actions_by_format[TimeFormat.UTC].trigger()
    assert window.model.index(1, column).data().count(":") == 2
    assert window.settings.value(SETTING) == "utc"
    # a new window (and a capture opened in it) starts with the kept format
    other = MainWindow(settings=window.settings, capture_directory=tmp_path)
    try:
        assert other.time_menu.current() is TimeFormat.UTC
        assert other.time_menu.actions_by_format[TimeFormat.UTC].isChecked()
        assert other.open_capture(tmp_path / "small.inspector")
        assert other.model is not None and other.model.time_format is TimeFormat.UTC
    finally:
        other.quitting = True
        other.close()
        other.deleteLater()


@pytest.mark.parametrize("suffix", [".jsonl", ".har", ".csv", ".inspector"])
def test_export_displayed_and_marked_in_every_format(
    window: MainWindow, tmp_path: Path, qtbot: Any, suffix: str
) -> None:
    path = tmp_path / "sample.inspector"
    build_sample(path).close()  # three events, the first marked
    assert window.open_capture(path)
    qtbot.waitUntil(lambda: window.model.rowCount() == 3, timeout=5000)
    window.apply_filter('trigger == "validate-order"')
    qtbot.waitUntil(lambda: window.model.rowCount() == 2, timeout=5000)
    displayed = tmp_path / f"displayed{suffix}"
    marked = tmp_path / f"marked{suffix}"
    assert window.export_events(False, str(displayed)) == 2
    assert window.export_events(True, str(marked)) == 1
    for written, count in ((displayed, 2), (marked, 1)):
        if suffix == ".jsonl":
            lines = [json.loads(line) for line in written.read_text().splitlines()]
            assert sum(1 for line in lines if line["kind"] == "event") == count
        elif suffix == ".har":
            entries = json.loads(written.read_text())["log"]["entries"]
            assert entries  # one entry per invocation
        elif suffix == ".csv":
            with written.open(newline="") as f:
                assert len(list(csv.reader(f))) == count + 1
        else:
            assert written.read_bytes().startswith(b"SQLite format 3")
