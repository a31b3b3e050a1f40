"""The subscriptions console: write a GraphQL subscription, run it against the connected backend, and read what it
sends: each message, and for live queries what changed from the previous result.

Owns the editor (GraphQL highlighting, field completion from the server's introspection), the list of recorded
operations and their messages (read from the capture, so a saved capture shows the same), and the message view
(the result as a JSON tree, the diff as a table). Running is the window's job: `runRequested` carries the text.
"""

from __future__ import annotations

import html
import json
import time
from typing import Any

from PySide6.QtCore import QStringListModel, Qt, Signal
from PySide6.QtGui import QColor, QFont, QKeySequence, QShortcut, QTextCursor
from PySide6.QtWidgets import (
    QComboBox,
    QCompleter,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from inspector.core.graphql_ops import OperationError, analyse, frame_error, subscription_name
from inspector.qt.widgets.highlighters import GraphQLHighlighter
from inspector.qt.widgets.json_tree import JsonTreeWidget
from inspector.store.reader import CaptureReader, StoreError

EXAMPLE = """subscription order_status {
  orders(order_by: {created: desc}, limit: 10) {
    order_id
    order_valid
    payment_valid
    approved
    driver_assigned
  }
}"""

MESSAGE_PAGE = 500


class GraphQLEditor(QPlainTextEdit):
    """A plain-text editor with GraphQL highlighting and completion of field names."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        font = QFont("monospace")
        font.setStyleHint(QFont.StyleHint.TypeWriter)
        self.setFont(font)
        self.highlighter = GraphQLHighlighter(self.document())
        self._words = QStringListModel(["subscription", "query"], self)
        self.completer = QCompleter(self._words, self)
        self.completer.setWidget(self)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.activated.connect(self._insert)

    def set_words(self, words: list[str]) -> None:
        self._words.setStringList(sorted(set(words) | {"subscription", "query"}))

    def _prefix(self) -> str:
        cursor = self.textCursor()
        cursor.select(QTextCursor.SelectionType.WordUnderCursor)
        return cursor.selectedText()

    def _insert(self, word: str) -> None:
        cursor = self.textCursor()
        cursor.select(QTextCursor.SelectionType.WordUnderCursor)
        cursor.insertText(word)
        self.setTextCursor(cursor)

    def keyPressEvent(self, event: Any) -> None:
        popup = self.completer.popup()
        if (
            popup is not None
            and popup.isVisible()
            and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Tab)
        ):
            event.ignore()
            return
        super().keyPressEvent(event)
        prefix = self._prefix()
        if len(prefix) >= 2 and event.text().strip():
            self.completer.setCompletionPrefix(prefix)
            if self.completer.completionCount():
                rect = self.cursorRect()
                rect.setWidth(240)
                self.completer.complete(rect)
                return
        if popup is not None:
            popup.hide()


__all__ = ["GraphQLEditor", "SubscriptionsConsole", "operation_title", "subscription_name"]

ERROR_COLOUR = "#c62828"


def operation_title(op_id: int, name: str | None, kind: str | None, state: str | None) -> str:
    """An operation as the console's list shows it: its one name (`subscription_name`), kind and state."""
    return f"{subscription_name(op_id, name)} · {kind or 'query'} · {state or 'starting'}"


class SubscriptionsConsole(QWidget):
    """Write, run and read subscriptions."""

    runRequested = Signal(str)
    """The editor's text, checked to be one subscription or query."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor = GraphQLEditor(self)
        self.editor.setPlainText(EXAMPLE)
        self.run_button = QPushButton("Run subscription", self)
        self.run_button.setToolTip("Record this subscription into the capture (Ctrl+Enter)")
        self.run_button.clicked.connect(self._on_run_clicked)
        shortcut = QShortcut(QKeySequence("Ctrl+Return"), self.editor)
        shortcut.activated.connect(self._on_run_clicked)
        self.editor_status = QLabel("Connect to a backend to run subscriptions.", self)
        self.editor_status.setWordWrap(True)

        self.operations = QComboBox(self)
        self.operations.setToolTip("Subscriptions recorded in this capture; choosing one shows its query in the editor")
        self.operations.currentIndexChanged.connect(self._on_operations_current_index_changed)
        self.operation_status = QLabel(self)
        """The selected operation's error (the GraphQL errors that ended it), hidden while it has none."""
        self.operation_status.setWordWrap(True)
        self.operation_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.operation_status.setVisible(False)
        self.messages = QTableWidget(0, 4, self)
        self.messages.setHorizontalHeaderLabels(["Received", "Type", "Rows", "Changes"])
        self.messages.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.messages.verticalHeader().setVisible(False)
        self.messages.setWordWrap(False)
        self.messages.verticalHeader().setDefaultSectionSize(22)
        self.messages.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.messages.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.messages.itemSelectionChanged.connect(self._on_messages_selection_changed)
        self.result_tree = JsonTreeWidget(self, field_function=None)  # results are not event payloads: no filters
        self.diff_table = QTableWidget(0, 3, self)
        self.diff_table.setHorizontalHeaderLabels(["Path", "Before", "After"])
        self.diff_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.diff_table.verticalHeader().setVisible(False)
        self.diff_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.message_tabs = QTabWidget(self)
        self.message_tabs.addTab(self.result_tree, "Result")
        self.message_tabs.addTab(self.diff_table, "Changes from previous")

        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.editor, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.editor_status, 1)
        left_layout.addLayout(buttons)
        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.operations)
        right_layout.addWidget(self.operation_status)
        inner = QSplitter(Qt.Orientation.Vertical, right)
        inner.addWidget(self.messages)
        inner.addWidget(self.message_tabs)
        right_layout.addWidget(inner, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(splitter)
        self._reader: CaptureReader | None = None
        self._shown: tuple[int, int] = (-1, -1)
        self._queries: dict[int, str] = {}
        self._states: dict[int, str] = {}
        self._errors: dict[int, str] = {}
        """Error text of operations in the `error` state, read once from their messages."""
        self.editor.document().setModified(False)
        self.set_connected(False)

    def set_connected(self, connected: bool) -> None:
        self.run_button.setEnabled(connected)
        self.editor_status.setText(
            "Ctrl+Enter runs the subscription; its messages are recorded into the capture."
            if connected
            else "Connect to a backend to run subscriptions."
        )

    def _on_run_clicked(self) -> None:
        if not self.run_button.isEnabled():
            return
        text = self.editor.toPlainText().strip()
        try:
            info = analyse(text)
        except OperationError as error:
            self.editor_status.setText(f"<span style='color:#c62828'>{error}</span>")
            return
        if info.kind == "mutation":
            self.editor_status.setText(
                "<span style='color:#c62828'>Mutations are not recorded; write a subscription or a query.</span>"
            )
            return
        self.editor_status.setText(f"Running {info.kind} subscription{' ' + info.name if info.name else ''}…")
        self.runRequested.emit(text)

    # --- reading the capture ---------------------------------------------------------------------------------------

    def refresh(self, reader: CaptureReader) -> None:
        """Re-read the operations and, when it grew, the selected operation's messages."""
        if reader is not self._reader:
            self._errors.clear()
        self._reader = reader
        try:
            operations = reader.operations()
        except StoreError:
            return
        self._queries = {op.id: op.query or "" for op in operations}
        self._states = {op.id: op.state or "" for op in operations}
        current = self.operations.currentData()
        if self.operations.count() != len(operations):
            self.operations.blockSignals(True)
            self.operations.clear()
            for op in operations:
                self.operations.addItem(operation_title(op.id, op.name, op.kind, op.state), op.id)
            index = self.operations.findData(current) if current is not None else len(operations) - 1
            self.operations.setCurrentIndex(max(index, 0))
            self.operations.blockSignals(False)
            if self.operations.currentData() != current:
                self._show_query(user_chose=False)
        else:  # the states change (running, completed, error) while the list stays
            for i, op in enumerate(operations):
                self.operations.setItemText(i, operation_title(op.id, op.name, op.kind, op.state))
        for i, op in enumerate(operations):
            self.operations.setItemData(
                i, QColor(ERROR_COLOUR) if op.state == "error" else None, Qt.ItemDataRole.ForegroundRole
            )
        self._load_messages()
        self._show_status()

    def select_operation(self, operation_id: int) -> None:
        index = self.operations.findData(operation_id)
        if index >= 0:
            self.operations.setCurrentIndex(index)

    def _on_operations_current_index_changed(self, _index: int) -> None:
        self._shown = (-1, -1)
        self.messages.setRowCount(0)
        self._show_query(user_chose=True)
        self._load_messages()
        self._show_status()

    def _show_query(self, user_chose: bool) -> None:
        """Show the selected operation's query, as it was captured, in the editor: always when the user chose the
        operation, else (a capture opened, a new operation) only over text the user has not edited."""
        query = self._queries.get(self.operations.currentData())
        if not query or query == self.editor.toPlainText():
            return
        if user_chose or not self.editor.document().isModified():
            self.editor.setPlainText(query)
            self.editor.document().setModified(False)

    def _show_status(self) -> None:
        """Say why the selected operation ended when GraphQL errors ended it."""
        op_id = self.operations.currentData()
        if op_id is None or self._states.get(op_id) != "error":
            self.operation_status.setVisible(False)
            self.operation_status.setText("")
            return
        text = self._errors.get(op_id)
        if text is None:
            text = self._read_error(op_id)
            self._errors[op_id] = text
        escaped = html.escape(text, quote=False)
        self.operation_status.setText(f"<span style='color:{ERROR_COLOUR}'><b>Error:</b> {escaped}</span>")
        self.operation_status.setToolTip(text)
        self.operation_status.setVisible(True)

    def _read_error(self, op_id: int) -> str:
        """The GraphQL errors recorded for an operation that ended with them: its `error` frame, else a result made
        of errors alone."""
        if self._reader is None:
            return "the server refused the operation"
        try:
            messages = self._reader.messages(op_id, -1, MESSAGE_PAGE)
            candidates = [m for m in messages if m.type == "error"] or [
                m for m in messages if m.type in ("next", "data")
            ]
            for message in reversed(candidates[-20:]):
                found = self._reader.message(message.seq)
                if found is None:
                    continue
                try:
                    text = frame_error(json.loads(found.raw))
                except ValueError:
                    continue
                if text:
                    return text
        except StoreError:
            pass
        return "the server refused the operation (see the session log)"

    def _load_messages(self) -> None:
        op_id = self.operations.currentData()
        if op_id is None or self._reader is None:
            return
        last_seq = self._shown[1] if self._shown[0] == op_id else -1
        try:
            messages = self._reader.messages(op_id, last_seq, MESSAGE_PAGE)  # with live queries' diffs
        except StoreError:
            return
        if not messages:
            return
        follow = self.messages.rowCount() == 0 or self.messages.currentRow() == self.messages.rowCount() - 1
        for message in messages:
            seq, received, kind, count = message.seq, message.received_at, message.type, message.rows
            row = self.messages.rowCount()
            self.messages.insertRow(row)
            stamp = time.strftime("%H:%M:%S", time.localtime(received)) + f".{int(received * 1000) % 1000:03d}"
            first = QTableWidgetItem(stamp)
            first.setData(Qt.ItemDataRole.UserRole, seq)
            self.messages.setItem(row, 0, first)
            type_item = QTableWidgetItem(kind)
            if kind == "error":
                type_item.setForeground(QColor(ERROR_COLOUR))
            self.messages.setItem(row, 1, type_item)
            self.messages.setItem(row, 2, QTableWidgetItem("" if count is None else str(count)))
            summary = ""
            changes = message.diff
            if changes is not None:
                changes = changes or []
                summary = f"{changes_text(len(changes))}: " + ", ".join(c["path"] for c in changes[:3])
            self.messages.setItem(row, 3, QTableWidgetItem(summary))
        self._shown = (op_id, messages[-1].seq)
        if follow:
            self.messages.scrollToBottom()

    def _on_messages_selection_changed(self) -> None:
        row = self.messages.currentRow()
        item = self.messages.item(row, 0) if row >= 0 else None
        if item is None or self._reader is None:
            return
        found = self._reader.message(item.data(Qt.ItemDataRole.UserRole))
        if found is None:
            return
        raw, data = found.raw, found.data
        try:
            self.result_tree.set_json(json.loads(data) if data is not None else json.loads(raw))
        except ValueError:
            self.result_tree.set_json(raw)
        changes = found.diff or []
        self.diff_table.setRowCount(0)
        for change in changes:
            row = self.diff_table.rowCount()
            self.diff_table.insertRow(row)
            self.diff_table.setItem(row, 0, QTableWidgetItem(change["path"]))
            self.diff_table.setItem(row, 1, QTableWidgetItem(_short(change.get("old", "—"))))
            self.diff_table.setItem(row, 2, QTableWidgetItem(_short(change.get("new", "—"))))


def changes_text(count: int) -> str:
    """`1 change`, `2 changes`."""
    return f"{count} change" if count == 1 else f"{count} changes"


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 200 else text[:200] + "…"
