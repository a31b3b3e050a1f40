"""Statistics ▸ Per-trigger figures and Latency histograms: windows of their own over the capture's events (issue 14,
missing). Synchronous pytest-qt tests only (shared/reference/qt-stack.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inspector.qt.statistics.latency_histogram import bins, duration_label
from inspector.qt.statistics.trigger_figures import HEADERS
from inspector.qt.window.main_window import FLOWS_VIEW, MainWindow
from inspector.services.analysis.histograms import latency_histograms
from tests.helpers.captures import build_sample


def _open_sample(window: MainWindow, tmp_path: Path, qtbot: Any) -> Path:
    path = tmp_path / "sample.inspector"
    build_sample(path).close()
    assert window.open_capture(path)
    qtbot.waitUntil(lambda: window.model is not None and window.model.rowCount() == 3, timeout=5000)
    return path


def test_per_trigger_figures_window(window: MainWindow, tmp_path: Path, qtbot: Any) -> None:
    _open_sample(window, tmp_path, qtbot)
    figures = window.statistics_menu.show_figures()
    assert figures is not None and figures.isWindow() and figures.isVisible()
    qtbot.waitUntil(lambda: figures.table.rowCount() == 2, timeout=10000)
    # each figure by its full name, from the tab that shows it (a header may be shorter: its tooltip names it)
    rows: dict[str, dict[str, str]] = {}
    for table, names in figures.tables().items():
        assert [table.horizontalHeaderItem(c).toolTip().split(":")[0] for c in range(table.columnCount())] == list(
            names
        )
        for r in range(table.rowCount()):
            rows.setdefault(table.item(r, 0).text(), {}).update(
                {name: table.item(r, c).text() for c, name in enumerate(names)}
            )
    assert set(rows["validate-order"]) == set(HEADERS)
    assert rows["validate-order"]["Events"] == "2"
    assert rows["validate-order"]["Attempts"] == "4"
    assert rows["validate-order"]["Retries"] == "2"  # both needed a second attempt
    assert rows["restaurant-approval"]["Failed"] == "1"
    assert rows["restaurant-approval"]["Attempts connection failure"] == "1"
    assert "HTTP 500" in rows["validate-order"]["Failed attempts by cause"]
    assert rows["validate-order"]["1st attempt p50 (ms)"]
    assert "3 events" in figures.summary.text()
    # a double-click filters the list by the trigger
    row = next(r for r in range(2) if figures.table.item(r, 0).text() == "restaurant-approval")
    figures.table.cellDoubleClicked.emit(row, 0)
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=5000)
    assert window.model.filter_text == 'trigger == "restaurant-approval"'
    # opened again: the figures of the events displayed
    window.statistics_menu.show_figures()
    qtbot.waitUntil(lambda: figures.table.rowCount() == 1, timeout=10000)
    assert "matching" in figures.summary.text()


def test_per_trigger_figures_fit_1366_px_without_scrolling_sideways(
    window: MainWindow, tmp_path: Path, qtbot: Any
) -> None:
    """Issue 11: at 1366 px the outcome and cause columns were off to the right."""
    _open_sample(window, tmp_path, qtbot)
    figures = window.statistics_menu.show_figures()
    assert figures is not None
    qtbot.waitUntil(lambda: figures.table.rowCount() == 2, timeout=10000)
    figures.resize(1366 - 26, 360)  # the width the window takes on a 1366x768 screen
    assert [figures.tabs.tabText(i) for i in range(figures.tabs.count())] == [
        "Events and latency",
        "Attempts by outcome",
    ]
    for table in figures.tables():
        figures.tabs.setCurrentWidget(table)
        qtbot.wait(50)
        assert table.horizontalScrollBar().maximum() == 0
        last = table.columnCount() - 1
        assert table.columnViewportPosition(last) + table.columnWidth(last) <= table.viewport().width()
        # every header is at most two short lines
        for column in range(table.columnCount()):
            text = table.horizontalHeaderItem(column).text()
            assert text.count("\n") <= 1 and all(len(line) <= 15 for line in text.split("\n")), text
    # the causes' whole text is in its tooltip; a double-click on the second tab filters too
    table = figures.attempts_table
    row = next(r for r in range(2) if table.item(r, 0).text() == "validate-order")
    assert "HTTP 500" in table.item(row, table.columnCount() - 1).toolTip()
    table.cellDoubleClicked.emit(row, 3)
    qtbot.waitUntil(lambda: window.model.filter_text == 'trigger == "validate-order"', timeout=5000)


def test_latency_histograms_window(window: MainWindow, tmp_path: Path, qtbot: Any) -> None:
    _open_sample(window, tmp_path, qtbot)
    histograms = window.statistics_menu.show_histograms()
    assert histograms is not None and histograms.isWindow()
    qtbot.waitUntil(lambda: histograms.trigger.count() == 2, timeout=10000)
    histograms.trigger.setCurrentText("validate-order")
    assert histograms.picture.bins
    assert sum(n for _, _, n in histograms.picture.bins) == 2  # two events delivered
    assert "validate-order" in histograms.picture.caption and "2 events" in histograms.picture.caption
    image = histograms.picture.grab()
    assert not image.isNull()


def test_statistics_flows_raises_the_flows_view(window: MainWindow) -> None:
    window.statistics_menu.flows_action.trigger()
    assert window.views.currentIndex() == FLOWS_VIEW


def test_latency_bins_are_1_2_5_and_start_at_the_first_latency(tmp_path: Path) -> None:
    assert bins([(876.0, 1), (1000.0, 1), (11000.0, 3)]) == [
        (500.0, 1000.0, 1),
        (1000.0, 2000.0, 1),
        (2000.0, 5000.0, 0),
        (5000.0, 10000.0, 0),
        (10000.0, 20000.0, 3),
    ]
    assert bins([]) == []
    assert duration_label(500) == "500 ms" and duration_label(2000) == "2 s" and duration_label(120_000) == "2 min"
    capture = build_sample(tmp_path / "s.inspector")
    try:
        by_trigger = {t.trigger: t for t in latency_histograms(capture)}
    finally:
        capture.close()
    assert sum(n for _, n in by_trigger["validate-order"].delivery) == 2
    assert by_trigger["restaurant-approval"].delivery == ()
