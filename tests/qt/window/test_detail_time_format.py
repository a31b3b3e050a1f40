"""View ▸ Time display format reaches the detail pane as well as the list's Time column (issue 14, time display
format). Synchronous pytest-qt tests only (shared/reference/qt-stack.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inspector.core.time_format import TimeFormat
from inspector.qt.window.main_window import MainWindow
from tests.helpers.window import small_capture


def test_the_detail_pane_follows_the_time_display_format(window: MainWindow, tmp_path: Path, qtbot: Any) -> None:
    path = tmp_path / "small.inspector"
    ids = small_capture(path, count=3)  # every event created at 2024-03-01T12:00:00.123456
    assert window.open_capture(path)
    qtbot.waitUntil(lambda: window.model is not None and window.model.rowCount() == 3, timeout=5000)
    assert window.go_to_event(2)
    qtbot.waitUntil(lambda: window.detail.event_id == ids[1], timeout=5000)
    header = window.detail.header
    window.time_menu.actions_by_format[TimeFormat.UTC].trigger()
    assert "2024-03-01 12:00:00.123 UTC" in header.text()
    window.time_menu.actions_by_format[TimeFormat.SINCE_START].trigger()
    assert "0.000 s since capture start" in header.text()
    window.time_menu.actions_by_format[TimeFormat.SINCE_PREVIOUS].trigger()
    assert "+0.000 s since previous event" in header.text()  # the row above in the list
    # the next event shown keeps the format
    assert window.go_to_event(1)
    qtbot.waitUntil(lambda: window.detail.event_id == ids[0], timeout=5000)
    assert "0.000 s since capture start" in header.text()  # the first row has no event above it
