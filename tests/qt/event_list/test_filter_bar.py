"""The display filter bar's completion (issue 14.13): the pop-up offers `complete`'s candidates (an alias included),
Tab completes instead of moving the focus to Apply, and Tab with nothing to complete moves on as usual."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt

from inspector.qt.event_list.filter_bar import FilterBar


@pytest.fixture
def bar(qtbot: Any) -> FilterBar:
    widget = FilterBar()
    qtbot.addWidget(widget)
    widget.resize(900, 40)
    widget.show()
    qtbot.waitExposed(widget)
    widget.edit.setFocus()
    return widget


def _offered(bar: FilterBar) -> list[str]:
    model = bar.completer.completionModel()
    return [str(model.index(row, 0).data()) for row in range(model.rowCount())]


def _tab(bar: FilterBar, qtbot: Any) -> None:
    popup = bar.completer.popup()
    qtbot.keyClick(popup if popup.isVisible() else bar.edit, Qt.Key.Key_Tab)


def test_tab_takes_the_offered_field(bar: FilterBar, qtbot: Any) -> None:
    qtbot.keyClicks(bar.edit, "invocation.h")
    assert _offered(bar) == ["invocation.http_status"]
    _tab(bar, qtbot)
    assert bar.edit.text() == "invocation.http_status"
    assert bar.edit.hasFocus() or bar.focusWidget() is bar.edit  # not moved to Apply
    assert not bar.completer.popup().isVisible()


def test_an_alias_offers_the_field_and_tab_takes_it(bar: FilterBar, qtbot: Any) -> None:
    qtbot.keyClicks(bar.edit, "event_id")
    assert _offered(bar) == ["id"]
    _tab(bar, qtbot)
    assert bar.edit.text() == "id"


def test_tab_without_the_popup_completes_the_word(bar: FilterBar, qtbot: Any) -> None:
    bar.edit.setText("tries > 1 and deliv")
    bar.edit.setCursorPosition(len(bar.edit.text()))
    assert not bar.completer.popup().isVisible()
    qtbot.keyClick(bar.edit, Qt.Key.Key_Tab)
    assert bar.edit.text() == "tries > 1 and delivered" and bar.valid
    # several candidates: their shared start, and the pop-up to choose from
    bar.edit.setText("invocation")
    bar.edit.setCursorPosition(len("invocation"))
    qtbot.keyClick(bar.edit, Qt.Key.Key_Tab)
    assert bar.edit.text() == "invocation."
    assert _offered(bar) == ["invocation.http_status", "invocation.response"]
    _tab(bar, qtbot)
    assert bar.edit.text() == "invocation.http_status"


def test_tab_with_nothing_to_complete_moves_the_focus(bar: FilterBar, qtbot: Any) -> None:
    bar.edit.setText("tries > 1 ")
    bar.edit.setCursorPosition(len(bar.edit.text()))
    assert not bar.complete_at_cursor()
