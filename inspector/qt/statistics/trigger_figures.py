"""Statistics ▸ Per-trigger figures: what `inspector stats` prints, in a window of its own (as Wireshark's
Statistics windows): per event trigger its events by status, attempts, retries, latency percentiles, attempts by
outcome and why attempts failed.

Owns the table only; the figures come from `inspector.services.analysis.analyse` (run in a worker thread by
`qt/statistics/statistics_menu.py`). A double-click on a trigger asks the window to filter the list by it.
"""

from __future__ import annotations

import json

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from inspector.core.events import OUTCOME_LABELS, OUTCOMES
from inspector.core.flows import TriggerStats

HEADERS = (
    "Trigger",
    "Table",
    "Events",
    "Delivered",
    "Failed",
    "Pending",
    "Attempts",
    "Retries",
    "1st attempt p50 (ms)",
    "1st attempt p95 (ms)",
    "Delivered p50 (ms)",
    "Delivered p95 (ms)",
    *(f"Attempts {OUTCOME_LABELS[o]}" for o in OUTCOMES),
    "Failed attempts by cause",
)
TIPS = {
    "Failed": "Events Hasura gave up on (retries exhausted)",
    "Pending": "Events not delivered yet (pending, retrying, in flight)",
    "Retries": "Events that needed more than one attempt",
    "Attempts": "Delivery attempts captured (Hasura's invocations; replays not counted)",
}


class _NumberItem(QTableWidgetItem):
    """A cell that sorts by its number, not its text."""

    def __init__(self, value: float | None, text: str) -> None:
        super().__init__(text)
        self.value = -1.0 if value is None else float(value)
        self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        if isinstance(other, _NumberItem):
            return self.value < other.value
        return super().__lt__(other)


def _ms(value: float | None) -> _NumberItem:
    return _NumberItem(value, "" if value is None else f"{value:,.0f}")


def _count(value: int) -> _NumberItem:
    return _NumberItem(value, f"{value:,}")


class TriggerFiguresWindow(QWidget):
    """A top-level window with one row per event trigger; `show_figures(triggers, summary)` fills it."""

    filterRequested = Signal(str)
    """A display filter for the trigger double-clicked."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle("Per-trigger figures — Inspector")
        self.summary = QLabel("Analysing…", self)
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, len(HEADERS), self)
        self.table.setHorizontalHeaderLabels(list(HEADERS))
        for column, header in enumerate(HEADERS):
            item = self.table.horizontalHeaderItem(column)
            if item is not None and header in TIPS:
                item.setToolTip(TIPS[header])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.cellDoubleClicked.connect(self._on_table_cell_double_clicked)
        hint = QLabel("Double-click a trigger to show its events. The same figures: inspector stats FILE", self)
        hint.setEnabled(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        layout.addWidget(hint)
        self.resize(1100, 360)

    def show_figures(self, triggers: list[TriggerStats], summary: str) -> None:
        self.summary.setText(summary)
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(triggers))
        for row, t in enumerate(triggers):
            causes = ", ".join(f"{cause} x{n:,}" for cause, n in t.retry_causes.items())
            cells: list[QTableWidgetItem] = [
                QTableWidgetItem(t.trigger),
                QTableWidgetItem(t.table or ""),
                _count(t.events),
                _count(t.delivered),
                _count(t.failed),
                _count(t.pending),
                _count(t.invocations),
                _count(t.retries),
                _ms(t.first_attempt_p50_ms),
                _ms(t.first_attempt_p95_ms),
                _ms(t.delivered_p50_ms),
                _ms(t.delivered_p95_ms),
                *(_count(t.outcomes.get(o, 0)) for o in OUTCOMES),
                QTableWidgetItem(causes),
            ]
            cells[-1].setToolTip(causes)
            if t.handler:
                cells[0].setToolTip(f"Handler: {t.handler}")
            for column, item in enumerate(cells):
                self.table.setItem(row, column, item)
        self.table.setSortingEnabled(True)
        self.table.resizeColumnsToContents()

    def show_failure(self, message: str) -> None:
        self.summary.setText(f"Could not analyse the capture: {message}")

    def _on_table_cell_double_clicked(self, row: int, _column: int) -> None:
        item = self.table.item(row, 0)
        if item is not None:
            self.filterRequested.emit(f"trigger == {json.dumps(item.text())}")
