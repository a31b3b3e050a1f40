"""The sources tree: what a capture holds, at a glance. Event triggers with their pending / processed / failed
counts, the subscriptions recorded, and the tables events came from; clicking one narrows the event list.

Owns reading those summaries from the capture (a few grouped queries, run on the window's refresh timer) and turning
clicks into display filters.
"""

from __future__ import annotations

import json
import sqlite3

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem, QWidget

FILTER_ROLE = int(Qt.ItemDataRole.UserRole) + 50
OPERATION_ROLE = int(Qt.ItemDataRole.UserRole) + 51


def _quote(text: str) -> str:
    return json.dumps(text)


class SourcesTree(QTreeWidget):
    """Triggers, subscriptions and tables of the open capture."""

    filterRequested = Signal(str)
    """A display filter for the clicked source."""
    operationSelected = Signal(int)
    """The id of the clicked subscription (the console shows its messages)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHeaderLabels(["Source", "Pending", "Done", "Failed"])
        self.setRootIsDecorated(True)
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(False)
        self._triggers = QTreeWidgetItem(self, ["Event triggers"])
        self._subscriptions = QTreeWidgetItem(self, ["Subscriptions"])
        self._tables = QTreeWidgetItem(self, ["Tables"])
        for item in (self._triggers, self._subscriptions, self._tables):
            font = item.font(0)
            font.setBold(True)
            item.setFont(0, font)
            item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsSelectable)
            item.setExpanded(True)
        self.itemClicked.connect(self._on_item_clicked)
        self.setColumnWidth(0, 160)
        for column in (1, 2, 3):
            self.setColumnWidth(column, 52)
        self.setToolTip("Click a trigger, table or subscription to narrow the list")

    def refresh(self, conn: sqlite3.Connection) -> None:
        """Re-read the summaries (cheap: indexed GROUP BYs)."""
        try:
            configured = [r[0] for r in conn.execute("SELECT DISTINCT name FROM trigger_snapshots ORDER BY seq")]
            counts = {
                r[0]: (r[1], r[2], r[3])
                for r in conn.execute(
                    "SELECT trigger_name, sum(status IN ('pending', 'retrying', 'in-flight')), "
                    "sum(status = 'delivered'), sum(status = 'failed') FROM events GROUP BY trigger_name"
                )
            }
            operations = conn.execute(
                "SELECT o.id, coalesce(o.name, o.kind), o.kind, o.state, "
                "(SELECT count(*) FROM messages m WHERE m.operation_id = o.id AND m.type IN ('next', 'data')) "
                "FROM operations o ORDER BY o.id"
            ).fetchall()
            tables = conn.execute(
                "SELECT table_name, count(*), sum(status = 'failed') FROM events GROUP BY table_name ORDER BY 1"
            ).fetchall()
        except sqlite3.Error:
            return
        names = list(dict.fromkeys([*configured, *counts]))
        self._fill(
            self._triggers,
            [
                (name, *(str(int(v or 0)) for v in counts.get(name, (0, 0, 0))), f"trigger == {_quote(name)}")
                for name in names
            ],
        )
        self._fill(
            self._tables, [(str(t), "", str(n), str(int(f or 0)), f"table == {_quote(str(t))}") for t, n, f in tables]
        )
        self._fill_operations(operations)

    def _fill(self, parent: QTreeWidgetItem, rows: list[tuple[str, str, str, str, str]]) -> None:
        for i, (label, pending, done, failed, expression) in enumerate(rows):
            item = _child(parent, i)
            for column, text in enumerate((label, pending, done, failed)):
                item.setText(column, text)
                if column:
                    item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            item.setData(0, FILTER_ROLE, expression)
            item.setToolTip(0, f"Show only {expression}")
        _truncate(parent, len(rows))

    def _fill_operations(self, operations: list[tuple[int, str, str, str, int]]) -> None:
        parent = self._subscriptions
        for i, (op_id, name, kind, state, messages) in enumerate(operations):
            item = _child(parent, i)
            item.setText(0, f"{name} ({kind})")
            item.setText(1, "")
            item.setText(2, str(messages))
            item.setText(3, "")
            item.setTextAlignment(2, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            item.setData(0, OPERATION_ROLE, op_id)
            item.setToolTip(0, f"{kind} subscription, {state}: {messages} results; click to see them")
        _truncate(parent, len(operations))

    def _on_item_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        expression = item.data(0, FILTER_ROLE)
        if expression:
            self.filterRequested.emit(str(expression))
        operation = item.data(0, OPERATION_ROLE)
        if operation is not None:
            self.operationSelected.emit(int(operation))


def _child(parent: QTreeWidgetItem, index: int) -> QTreeWidgetItem:
    """The parent's child at `index`, created when missing (rows are updated in place, so expansion survives)."""
    existing = parent.child(index) if index < parent.childCount() else None
    return existing if existing is not None else QTreeWidgetItem(parent)


def _truncate(parent: QTreeWidgetItem, count: int) -> None:
    while parent.childCount() > count:
        parent.takeChild(parent.childCount() - 1)
