"""The window's layout on the screens users have: fitted to a 1366x768 laptop and a 1920x1080 monitor, the user's own
layout restored afterwards, the invocation's request and response readable in the default layout, the views (events,
flows, subscriptions, session log) as central tabs.

Synchronous pytest-qt tests only (shared/reference/qt-stack.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QRect, QSettings

from inspector.qt.detail.detail_pane import INVOCATIONS_TAB
from inspector.qt.window.main_window import EVENTS_VIEW, FLOWS_VIEW, SUBSCRIPTIONS_VIEW, MainWindow
from inspector.services.profiles import ProfileStore
from tests.helpers.captures import build_sample

SCREENS = {"1366x768": QRect(0, 0, 1366, 768), "1920x1080": QRect(0, 0, 1920, 1080)}


@pytest.mark.parametrize("screen", list(SCREENS))
def test_the_window_opens_inside_the_available_screen(window: MainWindow, qtbot: Any, screen: str) -> None:
    available = SCREENS[screen]
    window.fit_to_screen(available)
    qtbot.wait(50)
    # the window and everything it must show (the filter bar's buttons, the status bar) fit the screen
    assert window.width() <= available.width() and window.height() <= available.height() - 30
    assert window.minimumSizeHint().width() <= available.width()
    assert window.minimumSizeHint().height() <= available.height() - 30
    assert available.contains(window.geometry())
    status = window.statusBar()
    assert status.isVisible() and status.geometry().bottom() <= window.height()
    for button in window.filter_bar.findChildren(type(window.connect_button)):
        if button.isVisible():
            right = button.mapTo(window, button.rect().bottomRight()).x()
            assert right <= window.width(), button.text()


def test_a_stored_layout_is_restored_and_one_off_the_screen_is_not(tmp_path: Path, qtbot: Any) -> None:
    settings = QSettings(str(tmp_path / "layout.ini"), QSettings.Format.IniFormat)
    first = MainWindow(settings=settings, profiles=ProfileStore(tmp_path / "profiles"), capture_directory=tmp_path)
    qtbot.addWidget(first)
    first.fit_to_screen(QRect(0, 0, 700, 560))
    first.show()
    size = first.size()
    first.close()
    again = MainWindow(settings=settings, profiles=ProfileStore(tmp_path / "profiles"), capture_directory=tmp_path)
    qtbot.addWidget(again)
    assert again.size() == size  # the user's layout wins once there is one
    # a layout saved on a bigger screen than any attached now is fitted again
    again.resize(5000, 4000)
    again.close()
    third = MainWindow(settings=settings, profiles=ProfileStore(tmp_path / "profiles"), capture_directory=tmp_path)
    qtbot.addWidget(third)
    assert third.width() < 5000


@pytest.mark.parametrize("screen", list(SCREENS))
def test_the_invocations_request_and_response_are_readable_by_default(
    window: MainWindow, tmp_path: Path, qtbot: Any, screen: str
) -> None:
    """Defect 1: the request/response area was ~10 px tall with "Request headers" painted over the table."""
    path = tmp_path / "sample.inspector"
    build_sample(path).close()
    window.fit_to_screen(SCREENS[screen])
    window.banner.show_message("A two-line demo banner takes room as well. " * 4, "info")
    assert window.open_capture(path)
    qtbot.waitUntil(lambda: window.model is not None and window.model.rowCount() >= 3, timeout=5000)
    window.table.selectRow(0)
    qtbot.waitUntil(lambda: window.detail.event_id is not None, timeout=5000)
    window.detail.tabs.setCurrentIndex(INVOCATIONS_TAB)
    qtbot.wait(50)
    view = window.detail.invocations
    assert view.table.rowCount() == 2
    # every attempt's row is shown, and the request below it has room for a dozen lines of JSON
    assert view.table.height() >= view.table.verticalHeader().length()
    line = view.fontMetrics().height()
    assert view.request_body.height() >= 8 * line, view.request_body.height()
    # the request's headers are a tab of their own, never squeezed under the body
    assert view.request_parts.tabText(1).startswith("Headers (")
    view.tabs.setCurrentIndex(view.RESPONSE_TAB)
    qtbot.wait(50)
    assert view.response_body.height() >= 6 * line
    assert view.response_status.isVisible()


def test_the_views_are_central_tabs_and_the_flows_follow_the_selection(
    window: MainWindow, tmp_path: Path, qtbot: Any
) -> None:
    path = tmp_path / "sample.inspector"
    build_sample(path).close()
    window.fit_to_screen(SCREENS["1366x768"])
    assert window.open_capture(path)
    qtbot.waitUntil(lambda: window.model is not None and window.model.rowCount() >= 3, timeout=5000)
    assert [window.views.tabText(i) for i in range(window.views.count())][:4] == [
        "Events",
        "Flows",
        "Subscriptions",
        "Session log",
    ]
    window.table.selectRow(0)
    window.view_actions[FLOWS_VIEW].trigger()
    assert window.views.currentIndex() == FLOWS_VIEW
    qtbot.waitUntil(lambda: window.flows.sequence.flow is not None, timeout=5000)
    # the flows get the window's height, not a short dock's
    assert window.flows.sequence.height() >= 400
    first = window.flows.sequence.flow
    # Fit shows the whole flow (never above actual size); zoom in and out step from there
    scale = window.flows.zoom("fit")
    assert 0 < scale <= 1.0
    seen = window.flows.sequence.mapToScene(window.flows.sequence.viewport().rect()).boundingRect()
    assert seen.adjusted(-2, -2, 2, 2).contains(window.flows.sequence.sceneRect())
    assert window.flows.zoom("in") > scale and window.flows.zoom("reset") == 1.0
    window._move(1)  # Go ▸ Next event, from the Flows tab: the diagram follows the selection
    qtbot.waitUntil(lambda: window.flows.sequence.flow is not first, timeout=5000)
    window._on_sources_operation_selected(1)
    assert window.views.currentIndex() == SUBSCRIPTIONS_VIEW
    window.show_view(EVENTS_VIEW)
    assert window.table.isVisible()
