"""The sources tree: what a capture holds, at a glance. Event triggers with their pending / processed / failed
counts, the subscriptions recorded, and the tables events came from; clicking one narrows the event list, and a
trigger's context menu offers Hasura Console's views of it (pending events, processed events, invocations: display
filters) and its settings (`qt/dialogs/trigger_settings_dialog`).

Owns showing those summaries (on the window's refresh timer) and turning clicks into display filters. The counts are
`store.reader.SourceCounts`, kept up to date from what was appended since the last look, so a refresh costs what was
written since, not the size of the capture; a capture just opened is counted in slices between paints.
"""

from __future__ import annotations

import functools
import json

from PySide6.QtCore import QPoint, QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import QHeaderView, QMenu, QTreeWidget, QTreeWidgetItem, QWidget

from inspector.qt.dialogs.trigger_settings_dialog import TriggerSettingsDialog
from inspector.qt.subscriptions.subscriptions_console import subscription_name
from inspector.store.reader import SLICE, CaptureReader, SourceCounts, StoreError

FILTER_ROLE = int(Qt.ItemDataRole.UserRole) + 50
OPERATION_ROLE = int(Qt.ItemDataRole.UserRole) + 51
TRIGGER_ROLE = int(Qt.ItemDataRole.UserRole) + 52
__all__ = ["FILTER_ROLE", "OPERATION_ROLE", "SLICE", "TRIGGER_ROLE", "TRIGGER_VIEWS", "SourcesTree", "trigger_view"]
_COLUMN_OF_STATUS = {"pending": 0, "retrying": 0, "in-flight": 0, "delivered": 1, "failed": 2}
"""Which count of a trigger's row (pending, done, failed) an event of each status adds to."""
NAME_SAMPLE = "restaurant-approval"
"""A long trigger name (the 3factor example's longest): the tree asks for room to show one this long whole beside the
counts, in its own font, so at any scaling (`SourcesTree.sizeHint`)."""
COUNT_SAMPLE = "00,000"
"""The widest count the tree asks room for."""


def _quote(text: str) -> str:
    return json.dumps(text)


TRIGGER_VIEWS: dict[str, tuple[str, str]] = {
    "Pending events": (
        'status in {"pending" "retrying" "in-flight"}',
        "not delivered yet: pending, retrying, in flight",
    ),
    "Processed events": ('status in {"delivered" "failed"}', "delivered, or failed for good (Hasura gave up)"),
    "Invocations": ("attempts > 0", "attempted at least once: their attempts are in the detail pane"),
}
"""Hasura Console's tabs of an event trigger (Pending, Processed, Invocation logs) as display filters over its events
(`status` and `attempts` are the filter language's: `core/filter/fields.py`)."""


def trigger_view(trigger: str, view: str) -> str:
    """The display filter of one of `TRIGGER_VIEWS` for `trigger`."""
    return f"trigger == {_quote(trigger)} and {TRIGGER_VIEWS[view][0]}"


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
        # A trigger's right-click: Hasura Console's Pending / Processed / Invocations tabs and its settings.
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._on_context_menu_requested)
        self.settings_dialog: TriggerSettingsDialog | None = None
        """The last Trigger settings dialog opened."""
        # The names take the room the counts leave (the counts as wide as their numbers), so "restaurant-approval"
        # is not cut to "restaurant-appro…" in the default layout.
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2, 3):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.setHeaderLabels(["Source", "Pending", "Done", "Failed"])
        self.setIndentation(14)
        # Narrower than a name needs (a small window, 200 % scaling), a name keeps its start and its end
        # ("restau…proval") rather than only its start ("restaur…", alike for every restaurant-* trigger); the whole
        # name is in the row's tooltip.
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.headerItem().setToolTip(3, "Events that failed for good: Hasura gave up retrying (status failed)")
        self.headerItem().setToolTip(2, "Events delivered: an attempt answered 2xx")
        self.headerItem().setToolTip(1, "Events not delivered yet: pending, retrying or in flight")
        self.setToolTip(
            "Click a trigger, table or subscription to narrow the list; right-click a trigger for its pending or "
            "processed events, its invocations and its settings"
        )
        self._counts = SourceCounts()
        self._more = QTimer(self)
        """Counts the next slice of a capture not yet counted, between paints."""
        self._more.setSingleShot(True)
        self._more.setInterval(0)
        self._more.timeout.connect(self._on_more_timeout)
        self._reader: CaptureReader | None = None
        self._configured: set[str] = set()
        """The triggers the capture's snapshot has settings for."""

    def sizeHint(self) -> QSize:
        """Wide enough for a trigger name as long as `NAME_SAMPLE` beside the counts: the window's first layout gives
        the tree this much when the screen has room (`MainWindow.fit_to_screen`)."""
        hint = super().sizeHint()
        return QSize(max(hint.width(), self.wanted_width()), hint.height())

    def wanted_width(self) -> int:
        """The width `sizeHint` asks for, in this tree's font and style (so it grows with the scaling)."""
        metrics = self.fontMetrics()
        header = self.header()
        margin = 2 * self.style().pixelMetric(self.style().PixelMetric.PM_FocusFrameHMargin, None, self) + 8
        name = 2 * self.indentation() + metrics.horizontalAdvance(NAME_SAMPLE) + margin
        counts = sum(
            max(header.sectionSizeHint(column), metrics.horizontalAdvance(COUNT_SAMPLE) + margin)
            for column in (1, 2, 3)
        )
        return name + counts + 2 * self.frameWidth() + self.verticalScrollBar().sizeHint().width()

    def refresh(self, reader: CaptureReader) -> None:
        """Bring the summaries up to date: reads what was written since the last refresh through the same reader; a
        capture not counted yet is counted a slice at a time, the next one after the next paint."""
        self._reader = reader
        try:
            configured = reader.configured_triggers()
            self._configured = set(configured)
            self._counts.update(reader)
            operations = [(op.id, op.name, op.kind, op.state) for op in reader.operations()]
        except StoreError:
            return
        if not self._counts.caught_up:
            self._more.start()
        by_trigger: dict[str, list[int]] = {}
        by_table: dict[str, list[int]] = {}
        for (trigger, table, status), n in self._counts.events.items():
            if n <= 0:
                continue
            trigger_counts = by_trigger.setdefault(str(trigger), [0, 0, 0])
            column = _COLUMN_OF_STATUS.get(str(status))
            if column is not None:
                trigger_counts[column] += n
            table_counts = by_table.setdefault(str(table), [0, 0])
            table_counts[0] += n
            if status == "failed":
                table_counts[1] += n
        shape = [group.childCount() for group in (self._triggers, self._subscriptions, self._tables)]
        names = list(dict.fromkeys([*configured, *sorted(by_trigger)]))
        trigger_rows: list[tuple[str, str, str, str, str]] = []
        for name in names:
            pending, done, failed = by_trigger.get(name, (0, 0, 0))
            trigger_rows.append((name, str(pending), str(done), str(failed), f"trigger == {_quote(name)}"))
        self._fill(self._triggers, trigger_rows)
        for i, name in enumerate(names):
            _child(self._triggers, i).setData(0, TRIGGER_ROLE, name)
        self._fill(
            self._tables, [(t, "", str(n), str(f), f"table == {_quote(t)}") for t, (n, f) in sorted(by_table.items())]
        )
        messages = self._counts.messages
        self._fill_operations(
            [(op_id, name, kind, state, messages.get(op_id, 0)) for op_id, name, kind, state in operations]
        )
        if shape != [group.childCount() for group in (self._triggers, self._subscriptions, self._tables)]:
            # A row came or went: repaint the whole tree. Seen once under Xvfb at 1366x768, a table's first row kept
            # an empty name and its group no expand arrow while its counts updated (only the changed cells were
            # repainted, over a first paint that missed them).
            self.viewport().update()

    def _on_more_timeout(self) -> None:
        if self._reader is not None:
            self.refresh(self._reader)

    def _fill(self, parent: QTreeWidgetItem, rows: list[tuple[str, str, str, str, str]]) -> None:
        for i, (label, pending, done, failed, expression) in enumerate(rows):
            item = _child(parent, i)
            for column, text in enumerate((label, pending, done, failed)):
                item.setText(column, text)
                if column:
                    item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            item.setData(0, FILTER_ROLE, expression)
            item.setToolTip(0, f"{label}: show only {expression}")
        _truncate(parent, len(rows))

    def _fill_operations(self, operations: list[tuple[int, str | None, str | None, str | None, int]]) -> None:
        parent = self._subscriptions
        for i, (op_id, name, kind, state, messages) in enumerate(operations):
            item = _child(parent, i)
            item.setText(0, subscription_name(op_id, name))
            item.setText(1, "")
            item.setText(2, str(messages))
            item.setText(3, "")
            item.setTextAlignment(2, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            item.setData(0, OPERATION_ROLE, op_id)
            title = subscription_name(op_id, name)
            item.setToolTip(0, f"{title}: {kind} subscription, {state}: {messages} results; click to see them")
        _truncate(parent, len(operations))

    def trigger_menu(self, trigger: str) -> QMenu:
        """The context menu of a trigger's row: its pending / processed events and invocations, its settings."""
        menu = QMenu(self)
        for view, (_expression, meaning) in TRIGGER_VIEWS.items():
            action = menu.addAction(view, functools.partial(self._emit_view, trigger, view))
            action.setToolTip(f"Show {trigger}'s events {meaning}")
        menu.addSeparator()
        settings = menu.addAction("Trigger settings…", lambda: self.show_trigger_settings(trigger))
        settings.setEnabled(self._reader is not None and trigger in self._configured)
        menu.setToolTipsVisible(True)
        return menu

    def _emit_view(self, trigger: str, view: str) -> None:
        self.filterRequested.emit(trigger_view(trigger, view))

    def show_trigger_settings(self, trigger: str) -> TriggerSettingsDialog | None:
        """Open the trigger's settings as the capture's trigger snapshot recorded them (None: none recorded)."""
        if self._reader is None:
            return None
        try:
            settings = self._reader.trigger_settings(trigger)
        except StoreError:
            return None
        if settings is None:
            return None
        self.settings_dialog = TriggerSettingsDialog(settings, self.window())
        self.settings_dialog.show()
        return self.settings_dialog

    def _on_context_menu_requested(self, position: QPoint) -> None:
        item = self.itemAt(position)
        trigger = item.data(0, TRIGGER_ROLE) if item is not None else None
        if trigger:
            self.trigger_menu(str(trigger)).exec(self.viewport().mapToGlobal(position))

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
