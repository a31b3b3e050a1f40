"""The sources tree: what a capture holds, at a glance. Event triggers with their pending / processed / failed
counts, the subscriptions recorded, and the tables events came from; clicking one narrows the event list.

Owns reading those summaries from the capture (on the window's refresh timer) and turning clicks into display filters.
The counts are kept up to date from what was appended since the last look (new `events` rows by seq, status changes
by their `event_states` rows, new `messages`), so a refresh costs what was written since, not the size of the capture
(grouping a 1,000,000-event capture in full takes about 2 s, and the window refreshes this tree at least every
second); a capture just opened is counted in slices between paints.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem, QWidget

FILTER_ROLE = int(Qt.ItemDataRole.UserRole) + 50
OPERATION_ROLE = int(Qt.ItemDataRole.UserRole) + 51
SLICE = 20_000
"""Events (and messages) counted per step while the tree catches up with a capture: about 15 ms of SQLite."""
_COLUMN_OF_STATUS = {"pending": 0, "retrying": 0, "in-flight": 0, "delivered": 1, "failed": 2}
"""Which count of a trigger's row (pending, done, failed) an event of each status adds to."""


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
        self._counts = _Counts()
        self._more = QTimer(self)
        """Counts the next slice of a capture not yet counted, between paints."""
        self._more.setSingleShot(True)
        self._more.setInterval(0)
        self._more.timeout.connect(self._on_more_timeout)
        self._conn: sqlite3.Connection | None = None

    def refresh(self, conn: sqlite3.Connection) -> None:
        """Bring the summaries up to date: reads what was written since the last refresh on the same connection; a
        capture not counted yet is counted a slice at a time, the next one after the next paint."""
        self._conn = conn
        try:
            configured = [r[0] for r in conn.execute("SELECT DISTINCT name FROM trigger_snapshots ORDER BY seq")]
            self._counts.update(conn)
            operations = conn.execute(
                "SELECT o.id, coalesce(o.name, o.kind), o.kind, o.state FROM operations o ORDER BY o.id"
            ).fetchall()
        except sqlite3.Error:
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
        names = list(dict.fromkeys([*configured, *sorted(by_trigger)]))
        self._fill(
            self._triggers,
            [(name, *map(str, by_trigger.get(name, (0, 0, 0))), f"trigger == {_quote(name)}") for name in names],
        )
        self._fill(
            self._tables, [(t, "", str(n), str(f), f"table == {_quote(t)}") for t, (n, f) in sorted(by_table.items())]
        )
        messages = self._counts.messages
        self._fill_operations(
            [(op_id, name, kind, state, messages.get(op_id, 0)) for op_id, name, kind, state in operations]
        )

    def _on_more_timeout(self) -> None:
        if self._conn is not None:
            self.refresh(self._conn)

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


class _Counts:
    """Events by (trigger, table, status) and result messages by operation, for one connection to one capture, kept up
    to date from what was appended since the last `update` (captures only grow: events and messages are inserted with
    increasing seqs, and every change of an event's status comes with an `event_states` row). A capture is counted in
    slices of `SLICE` rows, one per `update`, until the counts have caught up with it."""

    def __init__(self) -> None:
        self.events: Counter[tuple[str | None, str | None, str | None]] = Counter()
        self.messages: Counter[int] = Counter()
        self._conn: sqlite3.Connection | None = None
        self._seq = self._state_seq = self._message_seq = 0
        """The last seq of events, event_states and messages counted."""
        self._hi = self._message_hi = 0
        """The last seq of events and messages in the capture at the last `update`."""

    @property
    def caught_up(self) -> bool:
        """Whether everything the capture held at the last `update` is counted."""
        return self._seq >= self._hi and self._message_seq >= self._message_hi

    def update(self, conn: sqlite3.Connection) -> None:
        own = not conn.in_transaction
        if own:
            conn.execute("BEGIN")  # one snapshot for all the queries below
        try:
            hi, state_hi, message_hi = conn.execute(
                "SELECT coalesce((SELECT max(seq) FROM events), 0), coalesce((SELECT max(seq) FROM event_states), 0), "
                "coalesce((SELECT max(seq) FROM messages), 0)"
            ).fetchone()
            shrunk = hi < self._seq or state_hi < self._state_seq or message_hi < self._message_seq
            if conn is not self._conn or shrunk:
                self._reset(conn, state_hi)
            self._hi, self._message_hi = hi, message_hi
            if not self._count_states(conn, state_hi):
                self._reset(conn, state_hi)
            upper = min(hi, self._seq + SLICE)
            if upper > self._seq:
                for trigger, table, status, n in conn.execute(
                    "SELECT trigger_name, table_name, status, count(*) FROM events NOT INDEXED WHERE seq > ? "
                    "AND seq <= ? GROUP BY 1, 2, 3",
                    (self._seq, upper),
                ):
                    self.events[trigger, table, status] += n
                self._seq = upper
            upper = min(message_hi, self._message_seq + SLICE)
            if upper > self._message_seq:
                for op_id, n in conn.execute(
                    "SELECT operation_id, count(*) FROM messages WHERE seq > ? AND seq <= ? "
                    "AND type IN ('next', 'data') GROUP BY operation_id",
                    (self._message_seq, upper),
                ):
                    self.messages[op_id] += n
                self._message_seq = upper
        finally:
            if own:
                conn.execute("COMMIT")

    def _reset(self, conn: sqlite3.Connection, state_hi: int) -> None:
        """Count from the start. States recorded so far need no replay: the events are counted at their status now."""
        self.events = Counter()
        self.messages = Counter()
        self._conn = conn
        self._seq = self._message_seq = 0
        self._state_seq = state_hi

    def _count_states(self, conn: sqlite3.Connection, state_hi: int) -> bool:
        """Move the events counted before whose status changed since (each new state row, from the state recorded
        before it); False when a change cannot be placed (no earlier state of that event is recorded)."""
        lo, self._state_seq = self._state_seq, state_hi
        if state_hi <= lo or self._seq == 0:
            return True
        for trigger, table, before, after in conn.execute(
            "SELECT e.trigger_name, e.table_name, (SELECT p.status FROM event_states p "
            "WHERE p.event_id = s.event_id AND p.seq < s.seq ORDER BY p.seq DESC LIMIT 1), s.status "
            "FROM event_states s JOIN events e ON e.id = s.event_id "
            "WHERE s.seq > ? AND s.seq <= ? AND e.seq <= ? ORDER BY s.seq",
            (lo, state_hi, self._seq),
        ):
            if before == after:
                continue
            if self.events[trigger, table, before] <= 0:
                return False
            self.events[trigger, table, before] -= 1
            self.events[trigger, table, after] += 1
        return True
