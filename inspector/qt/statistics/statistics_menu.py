"""The Statistics menu, as Wireshark's: per-trigger figures and latency histograms in windows of their own, and the
flows (the Flows view). Each window is filled in a worker thread on its own connection to the capture (a large
capture takes seconds), over the events the display filter shows, and refreshed each time it is opened.

Owns the menu, its windows and their analysis runs (through the window's `TaskRunner`); the figures come from
`inspector.services.analysis` (`analyse`, `histograms.latency_histograms`). Built by `qt/window/main_window.py`, which
says where the capture is (`capture_path`) and which filter is applied (`filter_text`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QMenu, QWidget

from inspector.qt.bridge import TaskRunner
from inspector.qt.statistics.latency_histogram import LatencyHistogramsWindow
from inspector.qt.statistics.trigger_figures import TriggerFiguresWindow
from inspector.services import analysis
from inspector.services.analysis.histograms import latency_histograms
from inspector.store.event_index import export_selection
from inspector.store.reader import CaptureReader


def _selection(filter_text: str) -> tuple[str, list[Any]]:
    return export_selection(filter_text, False)


class StatisticsMenu(QMenu):
    """Statistics ▸ Per-trigger figures, Latency histograms, Flows."""

    filterRequested = Signal(str)
    """A window asks the list to show these events (a display filter)."""
    flowsRequested = Signal()
    """Statistics ▸ Flows: raise the Flows view."""

    def __init__(
        self,
        tasks: TaskRunner,
        capture_path: Callable[[], Path | None],
        filter_text: Callable[[], str],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("&Statistics", parent)
        self.tasks = tasks
        self.capture_path = capture_path
        self.filter_text = filter_text
        self.figures_window: TriggerFiguresWindow | None = None
        self.histograms_window: LatencyHistogramsWindow | None = None
        self.figures_action = self.addAction("Per-&trigger figures…", self.show_figures)
        self.figures_action.setToolTip("Events, outcomes, latency percentiles, retries and their causes per trigger")
        self.histograms_action = self.addAction("&Latency histograms…", self.show_histograms)
        self.flows_action = self.addAction("&Flows", self.flowsRequested.emit)
        tasks.taskFailed.connect(self._on_tasks_task_failed)

    def _scope(self) -> tuple[str, str, list[Any]] | None:
        path = self.capture_path()
        if path is None:
            return None
        text = self.filter_text()
        where, params = _selection(text)
        return str(path), where, params

    def show_figures(self) -> TriggerFiguresWindow | None:
        scope = self._scope()
        if scope is None:
            return None
        if self.figures_window is None:
            self.figures_window = TriggerFiguresWindow(self.parentWidget())
            self.figures_window.filterRequested.connect(self.filterRequested)
        window = self.figures_window
        path, where, params = scope
        shown = self.filter_text()

        def work() -> tuple[list[Any], str]:
            reader = CaptureReader.open(path)
            try:
                report = analysis.analyse(reader.connection, where, params)
            finally:
                reader.close()
            scope_text = f" matching {shown}" if shown else ""
            summary = f"{Path(path).name}: {report.events:,} events{scope_text} on {len(report.triggers)} triggers"
            return report.triggers, summary

        window.summary.setText("Analysing…")
        self.tasks.start("statistics-figures", self.tasks.in_thread(work), on_result=lambda r: window.show_figures(*r))
        self._raise(window)
        return window

    def show_histograms(self) -> LatencyHistogramsWindow | None:
        scope = self._scope()
        if scope is None:
            return None
        if self.histograms_window is None:
            self.histograms_window = LatencyHistogramsWindow(self.parentWidget())
        window = self.histograms_window
        path, where, params = scope

        def work() -> list[Any]:
            reader = CaptureReader.open(path)
            try:
                return latency_histograms(reader.connection, where, params)
            finally:
                reader.close()

        window.status.setText("Analysing…")
        self.tasks.start("statistics-histograms", self.tasks.in_thread(work), on_result=window.show_histograms)
        self._raise(window)
        return window

    @staticmethod
    def _raise(window: QWidget) -> None:
        window.show()
        window.raise_()
        window.activateWindow()

    def _on_tasks_task_failed(self, name: str, message: str) -> None:
        if name == "statistics-figures" and self.figures_window is not None:
            self.figures_window.show_failure(message)
        elif name == "statistics-histograms" and self.histograms_window is not None:
            self.histograms_window.show_failure(message)
