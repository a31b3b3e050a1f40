"""Statistics ▸ Per-trigger figures: what `inspector stats` prints, in a window of its own (as Wireshark's
Statistics windows): per event trigger its events by status, attempts, retries, latency percentiles, attempts by
outcome and why attempts failed.

Readable at 1366x768 without scrolling sideways: two tabs, one row per trigger in each (**Events and latency**:
events by status, attempts, retries, the latency percentiles; **Attempts by outcome**: attempts by outcome and the
causes of the unsuccessful ones), short headers on two lines where the full name is long (the full name and its
meaning in the header's tooltip), the causes' text cut to the room left (whole in the cell's tooltip).

Owns the tables only; the figures come from `inspector.services.analysis.analyse` (run in a worker thread by
`qt/statistics/statistics_menu.py`). A double-click on a trigger asks the window to filter the list by it.
"""

from __future__ import annotations

import json

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget

from inspector.core.events import OUTCOME_LABELS, OUTCOMES
from inspector.core.flows import TriggerStats

EVENT_HEADERS = (
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
)
"""The columns of the Events and latency tab, by full name (as `inspector stats` names each figure)."""
ATTEMPT_HEADERS = (
    "Trigger",
    "Attempts",
    *(f"Attempts {OUTCOME_LABELS[o]}" for o in OUTCOMES),
    "Failed attempts by cause",
)
"""The columns of the Attempts by outcome tab."""
HEADERS = tuple(dict.fromkeys((*EVENT_HEADERS, *ATTEMPT_HEADERS)))
"""Every figure shown, by full name (each header's tooltip starts with it)."""
SHORT = {
    "1st attempt p50 (ms)": "1st attempt\np50 ms",
    "1st attempt p95 (ms)": "1st attempt\np95 ms",
    "Delivered p50 (ms)": "Delivered\np50 ms",
    "Delivered p95 (ms)": "Delivered\np95 ms",
    **{f"Attempts {OUTCOME_LABELS[o]}": OUTCOME_LABELS[o].replace(" ", "\n", 1) for o in OUTCOMES},
    "Failed attempts by cause": "Failed attempts\nby cause",
}
"""The headers shown where shorter than the full name: two lines."""
TIPS = {
    "Failed": "Events Hasura gave up on (retries exhausted)",
    "Pending": "Events not delivered yet (pending, retrying, in flight)",
    "Retries": "Events that needed more than one attempt",
    "Attempts": "Delivery attempts captured (Hasura's invocations; replays not counted)",
    "1st attempt p50 (ms)": "From the event's creation to its first attempt: median, in milliseconds",
    "1st attempt p95 (ms)": "From the event's creation to its first attempt: 95th percentile, in milliseconds",
    "Delivered p50 (ms)": "From the event's creation to its delivery: median, in milliseconds",
    "Delivered p95 (ms)": "From the event's creation to its delivery: 95th percentile, in milliseconds",
    **{f"Attempts {OUTCOME_LABELS[o]}": f"Attempts whose outcome was: {OUTCOME_LABELS[o]}" for o in OUTCOMES},
    "Failed attempts by cause": "Why attempts were not answered 2xx, with how many of each",
}
CAUSES_WIDTH = 420
"""The causes column is at most this wide before the window is widened: its text is cut (whole in its tooltip)."""
EVENTS_TAB, ATTEMPTS_TAB = range(2)


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


def _cells(t: TriggerStats) -> dict[str, QTableWidgetItem]:
    """One trigger's cells by column name (a table takes the ones it shows)."""
    causes = ", ".join(f"{cause} x{n:,}" for cause, n in t.retry_causes.items())
    cells: dict[str, QTableWidgetItem] = {
        "Trigger": QTableWidgetItem(t.trigger),
        "Table": QTableWidgetItem(t.table or ""),
        "Events": _count(t.events),
        "Delivered": _count(t.delivered),
        "Failed": _count(t.failed),
        "Pending": _count(t.pending),
        "Attempts": _count(t.invocations),
        "Retries": _count(t.retries),
        "1st attempt p50 (ms)": _ms(t.first_attempt_p50_ms),
        "1st attempt p95 (ms)": _ms(t.first_attempt_p95_ms),
        "Delivered p50 (ms)": _ms(t.delivered_p50_ms),
        "Delivered p95 (ms)": _ms(t.delivered_p95_ms),
        **{f"Attempts {OUTCOME_LABELS[o]}": _count(t.outcomes.get(o, 0)) for o in OUTCOMES},
        "Failed attempts by cause": QTableWidgetItem(causes),
    }
    cells["Failed attempts by cause"].setToolTip(causes)
    if t.handler:
        cells["Trigger"].setToolTip(f"Handler: {t.handler}")
    return cells


class TriggerFiguresWindow(QWidget):
    """A top-level window with one row per event trigger in each tab; `show_figures(triggers, summary)` fills it."""

    filterRequested = Signal(str)
    """A display filter for the trigger double-clicked."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle("Per-trigger figures — Inspector")
        self.summary = QLabel("Analysing…", self)
        self.summary.setWordWrap(True)
        self.table = self._new_table(EVENT_HEADERS)
        """Events and latency."""
        self.attempts_table = self._new_table(ATTEMPT_HEADERS)
        """Attempts by outcome and the causes of the unsuccessful ones."""
        self.tabs = QTabWidget(self)
        self.tabs.addTab(self.table, "Events and latency")
        self.tabs.addTab(self.attempts_table, "Attempts by outcome")
        hint = QLabel("Double-click a trigger to show its events. The same figures: inspector stats FILE", self)
        hint.setEnabled(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(hint)
        screen = self.screen().availableGeometry()
        self.resize(max(640, min(1340, screen.width() - 26)), 360)

    def _new_table(self, names: tuple[str, ...]) -> QTableWidget:
        table = QTableWidget(0, len(names), self)
        table.setHorizontalHeaderLabels([SHORT.get(name, name) for name in names])
        for column, name in enumerate(names):
            item = table.horizontalHeaderItem(column)
            if item is not None:
                item.setToolTip(f"{name}: {TIPS[name]}" if name in TIPS else name)
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        # Only the causes' text stretches to the window's width; a number column stays as wide as its figures.
        table.horizontalHeader().setStretchLastSection(names[-1] == "Failed attempts by cause")
        table.cellDoubleClicked.connect(lambda row, _column: self._on_table_cell_double_clicked(table, row))
        return table

    def tables(self) -> dict[QTableWidget, tuple[str, ...]]:
        """Each tab's table and its columns' full names."""
        return {self.table: EVENT_HEADERS, self.attempts_table: ATTEMPT_HEADERS}

    def show_figures(self, triggers: list[TriggerStats], summary: str) -> None:
        self.summary.setText(summary)
        for table, names in self.tables().items():
            table.setSortingEnabled(False)
            table.setRowCount(len(triggers))
            for row, trigger in enumerate(triggers):
                cells = _cells(trigger)  # a table owns its items: each gets its own
                for column, name in enumerate(names):
                    table.setItem(row, column, cells[name])
            table.setSortingEnabled(True)
            table.resizeColumnsToContents()
        last = len(ATTEMPT_HEADERS) - 1
        self.attempts_table.setColumnWidth(last, min(self.attempts_table.columnWidth(last), CAUSES_WIDTH))

    def show_failure(self, message: str) -> None:
        self.summary.setText(f"Could not analyse the capture: {message}")

    def _on_table_cell_double_clicked(self, table: QTableWidget, row: int) -> None:
        item = table.item(row, 0)
        if item is not None:
            self.filterRequested.emit(f"trigger == {json.dumps(item.text())}")
