"""The detail pane: everything about one event, Wireshark's middle pane for Hasura event triggers.

Owns the views of the selected event, read from the capture through the `store.reader.CaptureReader` it is given: a
header line (trigger, op, status, row key, created at, attempts, latency) and tabs for the payload as a JSON tree, the
UPDATE's old → new changes, the raw JSON, the invocations (request and response of each delivery attempt, response
bodies decoded twice as Hasura stores them as JSON strings) and the states the event was seen in. Used by the main
window, which calls `show_event` when the selection of the event list changes and listens to `filterRequested`.

Whatever a capture holds, the pane shows something readable: JSON that does not parse is shown as its text with a
note, binary bodies (`["Base64", ...]`) as their size with a button to copy them, huge strings shortened for display
(copying takes the whole value).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QBrush, QFont, QFontDatabase, QGuiApplication, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from inspector.core.events import LEGACY_NO_RESPONSE, decode_twice
from inspector.core.time_format import TimeFormat
from inspector.qt.detail.detail_times import attempt_time_header, attempt_time_texts, event_time_text
from inspector.qt.widgets.highlighters import JsonHighlighter, SyntaxColours, syntax_colours
from inspector.qt.widgets.json_tree import (
    DISPLAY_LIMIT,
    FieldFunction,
    JsonTreeWidget,
    copy_text,
    display_value,
    event_field,
    filter_for_keys,
    webhook_body_field,
)
from inspector.store.reader import CaptureReader, StoreError

log = logging.getLogger(__name__)

EMPTY_HINT = "Select an event to see its payload, changes and invocations"
RAW_FULL_LIMIT = 1_000_000
"""Characters of stored JSON shown in full in a Raw view; beyond, long strings are shortened there (copy takes all)."""
RAW_STRING_LIMIT = DISPLAY_LIMIT
"""Characters kept of each long string in a shortened Raw view."""

PAYLOAD_TAB, CHANGES_TAB, RAW_TAB, INVOCATIONS_TAB, STATES_TAB = range(5)
CLIENT_ERROR_NOTE = (
    "client_error is the response type Hasura stores for every failed attempt: an answer that is not 2xx as well as "
    "no answer at all (ResponseError in server/src-lib/Hasura/Eventing/HTTP.hs of hasura/graphql-engine). It does not "
    "mean the client was at fault."
)


class TimeSource(Protocol):
    """What the detail pane's times count from (View ▸ Time display format): the window's event list model
    (`EventTableModel.time_origins`)."""

    def time_origins(self, event_id: str) -> tuple[float | None, float | None]:
        """(the capture start, the creation time of the event above `event_id` in the list)."""
        ...


# --- Hasura's shapes (pure) -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Parsed:
    """A JSON cell of the capture: its value when it parses, else its text and why not."""

    value: Any
    text: str | None
    error: str | None = None
    """Why the text is not JSON; None when it parsed (or the cell was empty)."""

    @property
    def ok(self) -> bool:
        return self.error is None


def parse_cell(text: Any) -> Parsed:
    """A JSON column's value (`payload`, `request`, `response`); NULL gives None."""
    if text is None:
        return Parsed(None, None)
    if not isinstance(text, str | bytes):
        return Parsed(text, str(text))
    try:
        return Parsed(json.loads(text), text if isinstance(text, str) else None)
    except (ValueError, UnicodeDecodeError) as exc:
        shown = text if isinstance(text, str) else text.decode("utf-8", errors="replace")
        return Parsed(None, shown, f"not valid JSON ({exc})")


@dataclass(frozen=True)
class ColumnChange:
    """One column of an UPDATE's row, old and new."""

    name: str
    old: Any
    new: Any
    in_old: bool
    in_new: bool

    @property
    def changed(self) -> bool:
        return self.in_old != self.in_new or self.old != self.new or type(self.old) is not type(self.new)


def column_changes(old: Any, new: Any) -> list[ColumnChange]:
    """Every column of `old` and `new` (new's order, then columns only in old), with whether it changed."""
    old = old if isinstance(old, Mapping) else {}
    new = new if isinstance(new, Mapping) else {}
    names = list(new) + [name for name in old if name not in new]
    return [ColumnChange(name, old.get(name), new.get(name), name in old, name in new) for name in names]


def is_base64_blob(value: Any) -> bool:
    """Hasura's `SerializableBlob` for bodies that are not UTF-8: `["Base64", "<b64>"]`
    (`server/src-lib/Data/SerializableBlob.hs`)."""
    return isinstance(value, list) and len(value) == 2 and value[0] == "Base64" and isinstance(value[1], str)


def base64_size(text: str) -> int | None:
    try:
        return len(base64.b64decode(text, validate=False))
    except (binascii.Error, ValueError):
        return None


_NO_BODY = object()
"""A response without a body (not the same as a body that is JSON null)."""


@dataclass(frozen=True)
class ResponseParts:
    """An invocation's stored `response` taken apart (`server/src-lib/Hasura/RQL/Types/Eventing.hs`)."""

    kind: str | None
    """webhook_response, client_error, or None for a shape Inspector does not know."""
    status: int | None
    """`data.status` (webhook responses only)."""
    headers: list[Any]
    body: Any
    """The body (`data.body`, or `data.message` of a client error) decoded twice; `_NO_BODY` when there is none."""


def response_parts(response: Any) -> ResponseParts:
    if not isinstance(response, Mapping):
        return ResponseParts(None, None, [], _NO_BODY if response is None else response)
    kind = response.get("type") if isinstance(response.get("type"), str) else None
    data = response.get("data")
    if not isinstance(data, Mapping):
        return ResponseParts(kind, None, [], _NO_BODY)
    status = data.get("status") if isinstance(data.get("status"), int) else None
    headers = data["headers"] if isinstance(data.get("headers"), list) else []
    if "body" in data:
        body = decode_twice(data["body"])
    elif "message" in data:
        body = decode_twice(data["message"])
    else:
        body = _NO_BODY
    return ResponseParts(kind, status, headers, body)


def header_pairs(headers: Any) -> list[tuple[str, str, bool]]:
    """(name, value, from_env) of logged headers: `{"name", "value"}` or `{"name", "value_from_env"}`."""
    pairs = []
    for header in headers if isinstance(headers, list) else []:
        if isinstance(header, Mapping):
            name = str(header.get("name", ""))
            if "value_from_env" in header:
                pairs.append((name, f"from env {header['value_from_env']}", True))
            else:
                pairs.append((name, str(header.get("value", "")), False))
        elif isinstance(header, list | tuple) and len(header) == 2:
            pairs.append((str(header[0]), str(header[1]), False))
    return pairs


def content_type(headers: Any) -> str | None:
    for name, value, _ in header_pairs(headers):
        if name.lower() == "content-type":
            return value
    return None


def outcome(http_status: int | None, status: int | None, response: Any) -> tuple[str, str]:
    """A one-line outcome of an invocation and its tone (success, error)."""
    if http_status is not None and 200 <= http_status < 300:
        return "delivered", "success"
    if http_status is not None:
        return f"unsuccessful: HTTP {http_status}", "error"
    if status in LEGACY_NO_RESPONSE:
        reason = "client exception" if status == 1000 else "parse error"
        return f"unsuccessful: no response (legacy {status}, {reason})", "error"
    body = response_parts(response).body
    detail = ""
    if isinstance(body, Mapping) and isinstance(body.get("message"), str):
        detail = body["message"]
    elif isinstance(body, str):
        detail = body
    detail = detail if len(detail) <= 80 else detail[:79] + "…"
    return ("unsuccessful: no response" + (f" ({detail})" if detail else "")), "error"


def shorten_strings(value: Any, limit: int = RAW_STRING_LIMIT) -> Any:
    """A copy of a JSON value with every string longer than `limit` cut, and the cut announced in the string."""
    if isinstance(value, str):
        return value if len(value) <= limit else f"{value[:limit]}… ({len(value) - limit:,} more characters)"
    if isinstance(value, Mapping):
        return {k: shorten_strings(v, limit) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [shorten_strings(v, limit) for v in value]
    return value


def hasura_time(text: Any) -> str:
    """A Hasura timestamp as `2024-03-01 12:00:00.123` (a zone is kept: ` UTC`, `+02:00`); unreadable text as is."""
    if not isinstance(text, str) or not text:
        return "" if text is None else str(text)
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    shown = value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    offset = value.utcoffset()
    if offset is None:
        return shown
    return f"{shown} UTC" if not offset else f"{shown}{value.strftime('%z')[:3]}:{value.strftime('%z')[3:]}"


def local_time(seconds: Any) -> str:
    """Epoch seconds (this machine's clock) as local time."""
    if not isinstance(seconds, int | float):
        return ""
    try:
        return datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    except (OverflowError, OSError, ValueError):
        return str(seconds)


def _epoch(text: Any) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.utcoffset() is None:
        value = value.replace(tzinfo=UTC)  # Hasura's timestamps without a zone are UTC
    return value.timestamp()


def attempt_durations(
    invocations: Sequence[Mapping[str, Any]], event: Mapping[str, Any] | None, states: Sequence[Mapping[str, Any]]
) -> list[float | None]:
    """How long each attempt took, as far as Hasura's log tells (it records no duration): attempt 1 from the event's
    creation to its invocation row; a retry from the `next_retry_at` scheduled after the attempt before it. None when
    the log does not tell (as the analysis estimates it: `services/analysis/attempts.latency`)."""
    created = None if event is None else event.get("created_ts")
    retries = sorted(t for t in (_epoch(s.get("next_retry_at")) for s in states) if t is not None)
    found: list[float | None] = []
    previous: float | None = None
    for invocation in invocations:
        value = invocation.get("created_ts")
        if not isinstance(value, int | float):
            found.append(None)
            continue
        at = float(value)
        start: float | None = None
        if previous is None:
            start = float(created) if isinstance(created, int | float) else None
        else:
            scheduled = [t for t in retries if previous <= t <= at]
            start = scheduled[-1] if scheduled else None
        previous = at
        found.append(None if start is None or at < start else at - start)
    return found


REPLAY_NOTE = (
    "A replay: an attempt Inspector made (Edit and replay, inspector replay), not one of the event's deliveries; "
    "not counted in its attempts, retries or anomalies"
)


def split_replays(invocations: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the event's deliveries: Hasura's and the relay's, the replays Inspector made), each in the order given."""
    deliveries = [i for i in invocations if (i.get("source") or "hasura") != "replay"]
    replays = [i for i in invocations if (i.get("source") or "hasura") == "replay"]
    return deliveries, replays


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms" if seconds < 0.1 else f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{int(minutes)} min {rest:.0f} s"
    hours, minutes = divmod(minutes, 60)
    return f"{int(hours)} h {int(minutes)} min"


# --- small views -----------------------------------------------------------------------------------------------------


def _fixed_font() -> QFont:
    return QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)


def _note_label(parent: QWidget | None = None) -> QLabel:
    label = QLabel(parent)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setVisible(False)
    return label


def _set_muted(label: QLabel, colours: SyntaxColours) -> None:
    label.setStyleSheet(f"color: {colours.muted.name()};")


class RawView(QWidget):
    """JSON text with highlighting, read-only, made only when first shown (a big payload costs nothing until then).
    A "Copy JSON" button copies the full value even when the view shortens long strings."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.note = _note_label(self)
        self.copy_button = QPushButton("Copy JSON", self)
        self.copy_button.clicked.connect(self.copy_all)
        self.editor = QPlainTextEdit(self)
        self.editor.setReadOnly(True)
        self.editor.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.editor.setFont(_fixed_font())
        self.highlighter = JsonHighlighter(self.editor.document(), self.palette())
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.note, 1)
        top.addStretch(0)
        top.addWidget(self.copy_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.editor, 1)
        self._value: Any = None
        self._text: str | None = None
        self._size = 0
        self._note_text = ""
        self._dirty = False

    def set_value(self, value: Any, stored_size: int, note: str = "") -> None:
        """Show a JSON value (pretty-printed when first shown); `stored_size` is the length of its stored text."""
        self._value, self._text, self._size, self._note_text, self._dirty = value, None, stored_size, note, True
        self.copy_button.setEnabled(True)
        if self.isVisible():
            self._render()

    def set_text(self, text: str, note: str) -> None:
        """Show text that is not JSON, with a note saying why."""
        self._value, self._text, self._size, self._note_text, self._dirty = None, text, len(text), note, True
        self.copy_button.setEnabled(bool(text))
        if self.isVisible():
            self._render()

    def clear(self) -> None:
        self.set_text("", "")

    def text(self) -> str:
        """The text shown (rendering it now if it was not yet)."""
        self._render()
        return self.editor.toPlainText()

    def copy_all(self) -> None:
        full = self._text if self._text is not None else json.dumps(self._value, ensure_ascii=False, indent=2)
        QGuiApplication.clipboard().setText(full)

    def showEvent(self, event: QShowEvent) -> None:
        self._render()
        super().showEvent(event)

    def _render(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        note = self._note_text
        if self._text is not None:
            text = self._text
        elif self._size > RAW_FULL_LIMIT:
            text = json.dumps(shorten_strings(self._value), ensure_ascii=False, indent=2)
            shortened = (
                f"Large JSON ({self._size:,} characters): long strings are shortened here; Copy JSON copies all."
            )
            note = f"{note} {shortened}".strip()
        else:
            text = json.dumps(self._value, ensure_ascii=False, indent=2)
        self.note.setText(note)
        self.note.setVisible(bool(note))
        _set_muted(self.note, syntax_colours(self.palette()))
        self.highlighter.set_palette(self.palette())
        self.editor.setPlainText(text)


class BodyView(QStackedWidget):
    """A value that may be JSON, text or binary: a JSON tree when it is JSON, the text (with a note) when not, and
    "binary, N bytes" with a button to copy the base64 for `["Base64", ...]` blobs."""

    filterRequested = Signal(str)

    TREE, TEXT, BINARY = range(3)

    def __init__(
        self, parent: QWidget | None = None, field_function: FieldFunction | None = None, expand_depth: int = 2
    ) -> None:
        super().__init__(parent)
        self.tree = JsonTreeWidget(self, field_function=field_function, expand_depth=expand_depth)
        self.tree.filterRequested.connect(self.filterRequested)
        self.addWidget(self.tree)

        text_page = QWidget(self)
        self.text_note = _note_label(text_page)
        self.text = QPlainTextEdit(text_page)
        self.text.setReadOnly(True)
        self.text.setFont(_fixed_font())
        text_layout = QVBoxLayout(text_page)
        text_layout.setContentsMargins(0, 0, 0, 0)
        text_layout.addWidget(self.text_note)
        text_layout.addWidget(self.text, 1)
        self.addWidget(text_page)

        binary_page = QWidget(self)
        self.binary_label = QLabel(binary_page)
        self.binary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.copy_base64_button = QPushButton("Copy base64", binary_page)
        self.copy_base64_button.clicked.connect(self.copy_base64)
        binary_layout = QVBoxLayout(binary_page)
        row = QHBoxLayout()
        row.addWidget(self.binary_label)
        row.addWidget(self.copy_base64_button)
        row.addStretch(1)
        binary_layout.addLayout(row)
        binary_layout.addStretch(1)
        self.addWidget(binary_page)
        self._base64 = ""

    def show_json(self, value: Any, root_path: str = "") -> None:
        self.tree.set_json(value, root_path)
        self.setCurrentIndex(self.TREE)

    def show_text(self, text: str, note: str = "") -> None:
        self.tree.clear()
        self.text.setPlainText(text)
        self.text_note.setText(note)
        self.text_note.setVisible(bool(note))
        _set_muted(self.text_note, syntax_colours(self.palette()))
        self.setCurrentIndex(self.TEXT)

    def show_binary(self, blob: str, kind: str | None = None) -> None:
        self.tree.clear()
        self._base64 = blob
        size = base64_size(blob)
        size_text = f"{size:,} bytes" if size is not None else f"unreadable base64, {len(blob):,} characters"
        self.binary_label.setText(f"binary, {size_text}" + (f" ({kind})" if kind else ""))
        self.setCurrentIndex(self.BINARY)

    def show_body(self, body: Any, kind: str | None = None) -> None:
        """A response body as `decode_twice` left it."""
        if body is _NO_BODY:
            self.show_text("", "No body was recorded.")
        elif is_base64_blob(body):
            self.show_binary(body[1], kind)
        elif isinstance(body, str):
            self.show_text(body, "" if body else "(empty body)")
        else:
            self.show_json(body)

    def copy_base64(self) -> None:
        QGuiApplication.clipboard().setText(self._base64)


class HeadersTable(QTableWidget):
    """Name and value of logged HTTP headers; values taken from the environment are shown as such, muted."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 2, parent)
        self.setHorizontalHeaderLabels(["Header", "Value"])
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.horizontalHeader().setStretchLastSection(True)
        self.setColumnWidth(0, self.fontMetrics().horizontalAdvance("x" * 24))
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setWordWrap(False)
        _compact_rows(self)

    def set_headers(self, headers: Any) -> None:
        pairs = header_pairs(headers)
        muted = QBrush(syntax_colours(self.palette()).muted)
        self.setRowCount(len(pairs))
        for row, (name, value, from_env) in enumerate(pairs):
            self.setItem(row, 0, QTableWidgetItem(name))
            item = QTableWidgetItem(value)
            item.setToolTip(value[:500])
            if from_env:
                item.setForeground(muted)
            self.setItem(row, 1, item)


def _compact_rows(table: QTableWidget) -> None:
    """Rows one line of text high (Qt's default leaves half a line of padding; these tables are read like lists)."""
    table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 8)
    table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)


def _table(headers: Sequence[str], parent: QWidget | None = None) -> QTableWidget:
    table = QTableWidget(0, len(headers), parent)
    _compact_rows(table)
    table.setHorizontalHeaderLabels(list(headers))
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setWordWrap(False)
    table.horizontalHeader().setHighlightSections(False)
    return table


def _item(text: str, tooltip: str | None = None) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    if tooltip:
        item.setToolTip(tooltip)
    return item


# --- the tabs --------------------------------------------------------------------------------------------------------


class ChangesView(QWidget):
    """An UPDATE's columns old → new: changed ones highlighted, unchanged ones greyed and hidden unless asked for.
    For other ops, a sentence saying why there is nothing to compare."""

    filterRequested = Signal(str)

    OLD_COLUMN, NEW_COLUMN = 1, 2

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)
        self.show_unchanged = QCheckBox("Show unchanged columns", self)
        self.show_unchanged.toggled.connect(self._on_show_unchanged_toggled)
        self.table = _table(["Column", "Old", "New"], self)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.setColumnWidth(0, self.fontMetrics().horizontalAdvance("x" * 22))
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._on_table_context_menu_requested)
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.show_unchanged)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        self.changes: list[ColumnChange] = []

    def clear(self) -> None:
        self.changes = []
        self.table.setRowCount(0)
        self.summary.setText("")

    def show_message(self, text: str) -> None:
        self.clear()
        self.summary.setText(text)
        self.table.setVisible(False)
        self.show_unchanged.setVisible(False)

    def show_changes(self, old: Any, new: Any) -> int:
        """Show an UPDATE's columns; returns how many changed."""
        self.changes = column_changes(old, new)
        changed = [c for c in self.changes if c.changed]
        colours = syntax_colours(self.palette())
        self.table.setVisible(True)
        self.show_unchanged.setVisible(True)
        self.table.setRowCount(len(self.changes))
        fixed = _fixed_font()
        bold = QFont(self.font())
        bold.setBold(True)
        for row, change in enumerate(self.changes):
            name = _item(change.name, change.name)
            cells = [name]
            for present, value in ((change.in_old, change.old), (change.in_new, change.new)):
                if present:
                    cell = _item(display_value(value), display_value(value, limit=500))
                    cell.setFont(fixed)
                else:
                    cell = _item("(absent)", "The column is not in this side's row (the trigger's payload columns)")
                    cell.setForeground(QBrush(colours.muted))
                cells.append(cell)
            for column, cell in enumerate(cells):
                if change.changed:
                    cell.setBackground(QBrush(colours.changed))
                else:
                    cell.setForeground(QBrush(colours.muted))
                self.table.setItem(row, column, cell)
            if change.changed:
                name.setFont(bold)
        if not changed:
            self.summary.setText(
                f"No column changed among the {len(self.changes)} in the payload (the trigger's payload columns may "
                "leave the changed ones out)."
            )
        else:
            names = ", ".join(c.name for c in changed[:6]) + (", …" if len(changed) > 6 else "")
            self.summary.setText(f"{len(changed)} of {len(self.changes)} columns changed: {names}")
        self._apply_visibility()
        return len(changed)

    def visible_columns(self) -> list[str]:
        """The column names listed (not hidden)."""
        return [self.changes[row].name for row in range(self.table.rowCount()) if not self.table.isRowHidden(row)]

    def _apply_visibility(self) -> None:
        show_all = self.show_unchanged.isChecked()
        for row, change in enumerate(self.changes):
            self.table.setRowHidden(row, not (change.changed or show_all))

    def _on_show_unchanged_toggled(self, _checked: bool) -> None:
        self._apply_visibility()

    def _on_table_context_menu_requested(self, position: QPoint) -> None:
        row = self.table.rowAt(position.y())
        if not 0 <= row < len(self.changes):
            return
        change = self.changes[row]
        menu = QMenu(self)
        if change.in_old:
            menu.addAction("Copy old value", lambda: QGuiApplication.clipboard().setText(copy_text(change.old)))
        if change.in_new:
            menu.addAction("Copy new value", lambda: QGuiApplication.clipboard().setText(copy_text(change.new)))
        menu.addSeparator()
        for side, present, value in (("new", change.in_new, change.new), ("old", change.in_old, change.old)):
            expression = filter_for_keys(("data", side, change.name), value) if present else None
            if expression is not None:
                menu.addAction(
                    f"Apply {side} value as filter", functools.partial(self.filterRequested.emit, expression)
                )
        menu.exec(self.table.viewport().mapToGlobal(position))


class InvocationsView(QWidget):
    """The delivery attempts of one event in a table, and the selected one's request, response and raw JSON."""

    filterRequested = Signal(str)

    COLUMNS = ("#", "Time", "HTTP", "Duration", "Outcome", "Source")
    REQUEST_TAB, RESPONSE_TAB, RAW_TAB = range(3)
    ROWS_SHOWN = 4
    """Attempts the table has room for without scrolling (more scroll)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.empty = QLabel("No invocation was recorded for this event: it has not been delivered yet.", self)
        self.empty.setWordWrap(True)
        self.table = _table(self.COLUMNS, self)
        header = self.table.horizontalHeader()
        for column in range(len(self.COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(self.COLUMNS.index("Outcome"), QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._on_table_selection_changed)

        self.request_body = BodyView(field_function=webhook_body_field, expand_depth=1)
        self.request_body.filterRequested.connect(self.filterRequested)
        self.request_headers = HeadersTable()
        # Body and headers each get a whole page (not a splitter, whose lower half was squeezed to nothing and its
        # title painted over the table when the pane was short).
        self.request_parts = QTabWidget()
        self.request_parts.setDocumentMode(True)
        self.request_parts.addTab(self.request_body, "Body")
        self.request_parts.addTab(self.request_headers, "Headers")
        request_page = QWidget()
        request_layout = QVBoxLayout(request_page)
        request_layout.setContentsMargins(4, 4, 4, 4)
        request_layout.addWidget(self.request_parts, 1)

        response_page = QWidget()
        self.response_status = QLabel(response_page)
        self.response_status.setWordWrap(True)
        self.response_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.response_headers = HeadersTable()
        self.response_body = BodyView(field_function=None, expand_depth=3)
        self.response_parts = QTabWidget()
        self.response_parts.setDocumentMode(True)
        self.response_parts.addTab(self.response_body, "Body")
        self.response_parts.addTab(self.response_headers, "Headers")
        response_layout = QVBoxLayout(response_page)
        response_layout.setContentsMargins(4, 4, 4, 4)
        response_layout.addWidget(self.response_status)
        response_layout.addWidget(self.response_parts, 1)

        self.raw = RawView()
        self.tabs = QTabWidget(self)
        self.tabs.addTab(request_page, "Request")
        self.tabs.addTab(response_page, "Response")
        self.tabs.addTab(self.raw, "Raw")

        # The attempts table is as tall as its rows (up to ROWS_SHOWN) and no taller; the request and response take
        # the rest of the pane, so they stay readable however short the pane is.
        self.table.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.body = QWidget(self)
        body_layout = QVBoxLayout(self.body)
        body_layout.setContentsMargins(0, 0, 0, 0)
        body_layout.setSpacing(4)
        body_layout.addWidget(self.table)
        body_layout.addWidget(self.tabs, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.empty)
        layout.addWidget(self.body, 1)
        self.invocations: list[dict[str, Any]] = []
        """The rows shown: deliveries, then replays."""
        self.deliveries = 0
        """How many of them are the event's deliveries."""
        self.shown_event: Mapping[str, Any] | None = None
        self.time_format = TimeFormat.LOCAL
        """View ▸ Time display format, as the list's Time column (`set_time_format`)."""
        self.time_origin: float | None = None
        """The capture start the list counts times from."""

    def clear(self) -> None:
        self.set_invocations([])

    def title(self) -> str:
        """The tab's title: the deliveries (as the list's Attempts counts them), and the replays apart."""
        replays = len(self.invocations) - self.deliveries
        if not replays:
            return f"Invocations ({self.deliveries})"
        return f"Invocations ({self.deliveries} + {replays} replay{'' if replays == 1 else 's'})"

    def set_invocations(
        self,
        invocations: list[dict[str, Any]],
        event: Mapping[str, Any] | None = None,
        states: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """Show `invocations`: the event's deliveries in the order made, then its replays apart (`#` says
        `replay N`: attempts Inspector made, not the event's). With the `event` and its `states`, deliveries without a
        recorded duration get one estimated from Hasura's log (`attempt_durations`)."""
        deliveries, replays = split_replays(invocations)
        invocations = deliveries + replays
        self.invocations = invocations
        self.deliveries = len(deliveries)
        self.shown_event = event
        estimated = attempt_durations(deliveries, event, states) + [None] * len(replays)
        self.empty.setVisible(not invocations)
        self.body.setVisible(bool(invocations))
        colours = syntax_colours(self.palette())
        self.table.blockSignals(True)
        self.table.clearSelection()
        self.table.setRowCount(len(invocations))
        for row, invocation in enumerate(invocations):
            response = parse_cell(invocation.get("response"))
            text, tone = outcome(invocation.get("http_status"), invocation.get("status"), response.value)
            http = invocation.get("http_status")
            duration = invocation.get("duration_ms")
            guess = estimated[row] if duration is None else None
            replay = row >= len(deliveries)
            cells = [
                _item(f"replay {row - len(deliveries) + 1}", REPLAY_NOTE)
                if replay
                else _item(str(invocation.get("attempt") or row + 1)),
                _item(""),  # the time: show_times
                _item("—" if http is None else str(http)),
                _item(
                    duration_text(None if duration is None else duration / 1000)
                    if guess is None
                    else f"≈ {duration_text(guess)}",
                    None
                    if duration is not None
                    else "Hasura does not record how long an invocation took"
                    + (
                        ""
                        if guess is None
                        else ": estimated from its log, from the event's creation (attempt 1) or the retry's "
                        "scheduled time to the invocation's row"
                    ),
                ),
                _item(text, text),
                _item(str(invocation.get("source") or "hasura")),
            ]
            cells[4].setForeground(QBrush(colours.success if tone == "success" else colours.error))
            if replay:
                for cell in cells:
                    font = cell.font()
                    font.setItalic(True)
                    cell.setFont(font)
            cells[2].setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            for column, cell in enumerate(cells):
                self.table.setItem(row, column, cell)
        self.table.setColumnHidden(
            self.COLUMNS.index("Source"), all((i.get("source") or "hasura") == "hasura" for i in invocations)
        )
        self.show_times()
        self.table.blockSignals(False)
        shown = min(max(len(invocations), 1), self.ROWS_SHOWN)
        height = (
            self.table.horizontalHeader().sizeHint().height()
            + shown * self.table.verticalHeader().defaultSectionSize()
            + 2 * self.table.frameWidth()
        )
        if len(invocations) > self.ROWS_SHOWN:
            height += self.table.horizontalScrollBar().sizeHint().height() // 2
        self.table.setFixedHeight(height)
        if invocations:
            # the latest delivery is the one that decided the outcome (a variant has replays only)
            self.table.selectRow((len(deliveries) or len(invocations)) - 1)
        else:
            self._show_invocation(None)

    def set_time_format(self, fmt: TimeFormat, origin: float | None = None) -> None:
        """Show the attempts' times in `fmt`, counting from `origin` (the capture start) where it asks."""
        self.time_format, self.time_origin = fmt, origin
        self.show_times()

    def show_times(self) -> None:
        """The Time column in the chosen format, from each attempt's true instant (`detail_times`)."""
        column = self.COLUMNS.index("Time")
        header = self.table.horizontalHeaderItem(column)
        if header is not None:
            header.setText(attempt_time_header(self.time_format))
        texts = attempt_time_texts(self.invocations, self.shown_event, self.time_format, self.time_origin)
        for row, shown in enumerate(texts):
            cell = self.table.item(row, column)
            if cell is not None:
                cell.setText(shown.text)
                cell.setToolTip(shown.tooltip)

    def select_attempt(self, row: int) -> None:
        self.table.selectRow(row)

    def selected_row(self) -> int | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return rows[0].row() if rows else None

    def _on_table_selection_changed(self) -> None:
        row = self.selected_row()
        self._show_invocation(None if row is None else self.invocations[row])

    def _show_invocation(self, invocation: Mapping[str, Any] | None) -> None:
        if invocation is None:
            self.request_body.show_text("")
            self.request_headers.set_headers([])
            self.response_body.show_text("")
            self.response_headers.set_headers([])
            self.response_status.setText("")
            self.raw.clear()
            return
        request = parse_cell(invocation.get("request"))
        if not request.ok:
            self.request_body.show_text(request.text or "", f"The stored request is {request.error}.")
            self.request_headers.set_headers([])
        elif isinstance(request.value, Mapping) and "payload" in request.value:
            self.request_body.show_json(request.value["payload"])
            self.request_headers.set_headers(request.value.get("headers"))
        elif request.value is None:
            self.request_body.show_text("", "No request was recorded.")
            self.request_headers.set_headers([])
        else:
            self.request_body.show_json(request.value)
            self.request_headers.set_headers([])

        response = parse_cell(invocation.get("response"))
        http = invocation.get("http_status")
        status = invocation.get("status")
        if not response.ok:
            self.response_status.setText(self._status_line(http, status, None, None))
            self.response_headers.set_headers([])
            self.response_body.show_text(response.text or "", f"The stored response is {response.error}.")
        else:
            parts = response_parts(response.value)
            self.response_status.setText(self._status_line(http, status, parts, content_type(parts.headers)))
            self.response_headers.set_headers(parts.headers)
            self.response_status.setToolTip(CLIENT_ERROR_NOTE if parts.kind == "client_error" else "")
            if parts.kind is None and response.value is not None:
                self.response_body.show_json(response.value)
            else:
                self.response_body.show_body(parts.body, content_type(parts.headers))

        self.request_parts.setTabText(1, f"Headers ({self.request_headers.rowCount()})")
        self.response_parts.setTabText(1, f"Headers ({self.response_headers.rowCount()})")
        self.tabs.setTabText(self.RESPONSE_TAB, "Response" if http is None else f"Response (HTTP {http})")
        size = len(str(invocation.get("request") or "")) + len(str(invocation.get("response") or ""))
        notes = [f"request {p.error}" for p in (request,) if not p.ok] + [
            f"response {p.error}" for p in (response,) if not p.ok
        ]
        raw = {
            "request": request.value if request.ok else request.text,
            "response": response.value if response.ok else response.text,
        }
        self.raw.set_value(raw, size, "; ".join(notes))

    @staticmethod
    def _status_line(http: int | None, status: int | None, parts: ResponseParts | None, kind: str | None) -> str:
        if http is not None:
            line = f"HTTP {http}"
        elif status in LEGACY_NO_RESPONSE:
            line = f"No HTTP response (legacy status {status})"
        else:
            line = "No HTTP response"
        if parts is not None and parts.kind:
            line += f" · {parts.kind}"
            if parts.kind == "client_error" and http is not None:
                line += " (Hasura's word for any answer that is not 2xx; the body is the handler's answer as stored)"
            elif parts.kind == "client_error":
                line += " (Hasura's word for an attempt that got no usable answer)"
        if kind:
            line += f" · {kind}"
        return line


class StatesView(QTableWidget):
    """The states an event was seen in, in the order seen (`event_states`)."""

    COLUMNS = ("Observed", "Status", "Tries", "Next retry at", "Locked")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(self.COLUMNS), parent)
        self.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setWordWrap(False)
        _compact_rows(self)
        header = self.horizontalHeader()
        for column in range(len(self.COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)

    def set_states(self, states: list[dict[str, Any]]) -> None:
        colours = syntax_colours(self.palette())
        self.setRowCount(len(states))
        for row, state in enumerate(states):
            status = str(state.get("status") or "")
            cells = [
                _item(local_time(state.get("observed_at")), "This machine's clock, local time"),
                _item(status),
                _item("" if state.get("tries") is None else str(state.get("tries"))),
                _item(hasura_time(state.get("next_retry_at"))),
                _item(hasura_time(state.get("locked"))),
            ]
            cells[1].setForeground(QBrush(status_colour(status, colours)))
            for column, cell in enumerate(cells):
                self.setItem(row, column, cell)


def status_colour(status: str, colours: SyntaxColours) -> Any:
    return {
        "delivered": colours.success,
        "failed": colours.error,
        "retrying": colours.warning,
        "in-flight": colours.key,
    }.get(status, colours.muted)


def _titled(title: str, widget: QWidget) -> QWidget:
    box = QWidget()
    label = QLabel(title, box)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 4, 0, 0)
    layout.setSpacing(2)
    layout.addWidget(label)
    layout.addWidget(widget, 1)
    return box


# --- the pane --------------------------------------------------------------------------------------------------------


class DetailPane(QWidget):
    """Shows one event of a capture (`show_event`), or a hint when none is selected (`clear`)."""

    filterRequested = Signal(str)
    """A display-filter expression asked for from one of the pane's trees ("Apply as filter")."""

    HINT_PAGE, EVENT_PAGE = range(2)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hint = QLabel(EMPTY_HINT, self)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)
        _set_muted(self.hint, syntax_colours(self.palette()))

        page = QWidget(self)
        self.header = QLabel(page)
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.header.setWordWrap(True)
        self.subheader = QLabel(page)
        self.subheader.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.subheader.setWordWrap(True)

        self.payload = BodyView(field_function=event_field, expand_depth=2)
        self.payload.filterRequested.connect(self.filterRequested)
        self.changes = ChangesView()
        self.changes.filterRequested.connect(self.filterRequested)
        self.raw = RawView()
        self.invocations = InvocationsView()
        self.invocations.filterRequested.connect(self.filterRequested)
        from inspector.qt.detail.attempts_menu import AttemptActions  # here: it imports this module

        self.attempt_actions = AttemptActions(self.invocations)
        """Copy as cURL, Compare with original response: the attempts table's context menu."""
        self.states = StatesView()
        self.tabs = QTabWidget(page)
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.payload, "Payload")
        self.tabs.addTab(self.changes, "Changes")
        self.tabs.addTab(self.raw, "Raw")
        self.tabs.addTab(self.invocations, "Invocations")
        self.tabs.addTab(self.states, "States")

        page_layout = QVBoxLayout(page)
        page_layout.setContentsMargins(6, 6, 6, 6)
        page_layout.setSpacing(4)
        page_layout.addWidget(self.header)
        page_layout.addWidget(self.subheader)
        page_layout.addWidget(self.tabs, 1)

        self.pages = QStackedWidget(self)
        self.pages.addWidget(self.hint)
        self.pages.addWidget(page)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.pages)
        self.event_id: str | None = None
        """The id of the event shown, or None."""
        self.shown_event: dict[str, Any] | None = None
        self.time_format = TimeFormat.LOCAL
        self.time_source: TimeSource | None = None
        """Gives the capture start and the previous event's creation time for an event, as the list counts them."""

    @property
    def payload_tree(self) -> JsonTreeWidget:
        return self.payload.tree

    def clear(self, message: str = EMPTY_HINT) -> None:
        """Show nothing but a hint (or `message`)."""
        self.event_id = None
        self.shown_event = None
        self.hint.setText(message)
        self.pages.setCurrentIndex(self.HINT_PAGE)
        self.payload.show_text("")
        self.changes.clear()
        self.raw.clear()
        self.invocations.clear()
        self.states.set_states([])

    def set_time_format(self, fmt: TimeFormat, source: TimeSource | None = None) -> None:
        """View ▸ Time display format: the header's and the attempts' times in `fmt`, as the list's Time column;
        `source` (the list's model) gives what they count from."""
        self.time_format, self.time_source = fmt, source
        if self.shown_event is not None:
            self._show_header(self.shown_event, syntax_colours(self.palette()))

    def _origins(self, event_id: str) -> tuple[float | None, float | None]:
        return (None, None) if self.time_source is None else self.time_source.time_origins(event_id)

    def show_event(self, reader: CaptureReader, event_id: str) -> None:
        """Show the event `event_id` of the capture `reader` reads: its row, invocations and states."""
        self.attempt_actions.reader = reader
        try:
            found = reader.event_detail(event_id)
        except StoreError as exc:
            self.clear(f"Could not read event {event_id} from the capture: {exc}")
            return
        if found is None:
            self.clear(f"Event {event_id} is not in this capture.")
            return
        try:
            self._show(found.event, found.invocations, found.states)
        except Exception as exc:  # a capture Inspector did not foresee must not take the window down
            log.exception("could not show event %s", event_id)
            self.clear(f"Could not show event {event_id}: {exc}")
            return
        self.event_id = event_id

    def _show(self, event: dict[str, Any], invocations: list[dict[str, Any]], states: list[dict[str, Any]]) -> None:
        colours = syntax_colours(self.palette())
        payload = parse_cell(event.get("payload"))
        self.shown_event = event
        self._show_header(event, colours)

        if payload.ok:
            self.payload.show_json(payload.value)
            self.raw.set_value(payload.value, len(payload.text or ""))
        else:
            note = f"The payload is {payload.error}; shown as stored."
            self.payload.show_text(payload.text or "", note)
            self.raw.set_text(payload.text or "", note)

        op = str(event.get("op") or "")
        if not op and isinstance(payload.value, Mapping):
            op = str(payload.value.get("op") or "")
        changes_title = "Changes"
        data = payload.value.get("data") if isinstance(payload.value, Mapping) else None
        if not payload.ok:
            self.changes.show_message("The payload could not be read as JSON, so there are no changes to show.")
        elif op == "UPDATE" and isinstance(data, Mapping):
            changes_title = f"Changes ({self.changes.show_changes(data.get('old'), data.get('new'))})"
        elif op == "INSERT":
            self.changes.show_message("INSERT: a new row, with no old row to compare; its columns are in Payload.")
        elif op == "DELETE":
            self.changes.show_message(
                "DELETE: the row was removed, with no new row to compare; its columns are in Payload (data.old)."
            )
        elif op == "MANUAL":
            self.changes.show_message("MANUAL: invoked by hand with a payload, not a change to a row.")
        else:
            self.changes.show_message(f"No old → new row to compare for op {op or '(none)'}.")
        self.tabs.setTabText(CHANGES_TAB, changes_title)

        self.invocations.set_invocations(invocations, event, states)
        self.tabs.setTabText(INVOCATIONS_TAB, self.invocations.title())
        self.states.set_states(states)
        self.tabs.setTabText(STATES_TAB, f"States ({len(states)})")
        self.pages.setCurrentIndex(self.EVENT_PAGE)

    def _show_header(self, event: Mapping[str, Any], colours: SyntaxColours) -> None:
        status = str(event.get("status") or "")
        parts = [f"<b>{_html(event.get('trigger_name') or '(no trigger)')}</b>", _html(event.get("op") or "")]
        parts.append(f'<span style="color:{status_colour(status, colours).name()}"><b>{_html(status)}</b></span>')
        if event.get("row_key"):
            parts.append(f"row {_html(event['row_key'])}")
        origin, previous = self._origins(str(event.get("id") or ""))
        created_at = event_time_text(event, self.time_format, origin, previous)
        self.invocations.set_time_format(self.time_format, origin)
        self.header.setToolTip(created_at.tooltip)
        parts.append(_html(created_at.text))
        attempts = int(event.get("attempts") or 0)
        parts.append(f"{attempts} attempt{'s' if attempts != 1 else ''}")
        created, delivered = event.get("created_ts"), event.get("delivered_ts")
        if isinstance(created, int | float) and isinstance(delivered, int | float):
            parts.append(f"latency {duration_text(max(delivered - created, 0.0))}")
        elif isinstance(created, int | float) and isinstance(event.get("first_attempt_ts"), int | float):
            parts.append(f"first attempt after {duration_text(max(event['first_attempt_ts'] - created, 0.0))}")
        if event.get("last_http_status") is not None:
            parts.append(f"last HTTP {event['last_http_status']}")
        self.header.setText(" · ".join(p for p in parts if p))
        details = [f"event {event.get('id')}", f"{event.get('schema_name') or ''}.{event.get('table_name') or ''}"]
        if event.get("session_role"):
            details.append(f"role {event['session_role']}")
        if event.get("trace_id"):
            details.append(f"trace {event['trace_id']}")
        if event.get("variant_of"):
            details.append(f"variant of {event['variant_of']}")
        self.subheader.setText(" · ".join(details))
        _set_muted(self.subheader, colours)


def _html(value: Any) -> str:
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
