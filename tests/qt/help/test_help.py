"""Help: the display filter reference (from the field table), the keyboard shortcuts (from the window's actions) and
the first-run tour, shown once. Synchronous pytest-qt tests only (shared/reference/qt-stack.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QUrl

from inspector.core.filter.fields import FIELDS
from inspector.qt.help.help_windows import EXAMPLES
from inspector.qt.help.tour import STEPS
from inspector.qt.window.main_window import MainWindow
from tests.helpers.window import small_capture


def test_filter_reference_lists_every_field_and_applies_an_example(
    window: MainWindow, tmp_path: Path, qtbot: Any
) -> None:
    path = tmp_path / "small.inspector"
    small_capture(path)
    assert window.open_capture(path)
    qtbot.waitUntil(lambda: window.model.rowCount() == 6, timeout=5000)
    reference = window.show_filter_reference()
    assert reference.isWindow() and reference.isVisible()
    text = reference.toPlainText()
    for name in FIELDS:
        assert name in text
    example = EXAMPLES[0]
    reference.anchorClicked.emit(QUrl("filter:" + QUrl.toPercentEncoding(example).data().decode()))
    assert window.filter_bar.edit.text() == example
    reference.close()  # a top-level window left open takes the (offscreen) mouse from later tests


def test_shortcuts_window_lists_the_working_keys(window: MainWindow) -> None:
    shortcuts = window.show_shortcuts()
    rows = {
        shortcuts.table.item(r, 0).text(): shortcuts.table.item(r, 1).text() for r in range(shortcuts.table.rowCount())
    }
    assert rows["Ctrl+G"] == "Go to event"
    assert rows["Ctrl+E"] == "Start / stop capture"
    assert "Ctrl+Alt+3" in rows
    shortcuts.close()


def test_the_tour_is_shown_once_and_can_be_taken_again(window: MainWindow, tmp_path: Path) -> None:
    tour = window.tour
    assert tour.isVisible()
    assert tour.label.text().startswith(f"Tour 1/{len(STEPS)}")
    tour.next.click()
    assert tour.label.text().startswith("Tour 2/")
    tour.close_button.click()
    assert not tour.isVisible()
    other = MainWindow(settings=window.settings, capture_directory=tmp_path)
    try:
        other.show()
        assert not other.tour.isVisible()  # seen: not shown again
        other.tour.restart()
        assert other.tour.isVisible() and other.tour.label.text().startswith("Tour 1/")
    finally:
        other.quitting = True
        other.close()
        other.deleteLater()
