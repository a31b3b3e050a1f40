"""Help ▸ Display filter reference and Help ▸ Keyboard shortcuts, each a window of its own beside the main window.

The filter reference is made from the filter language's own field table (`inspector.core.filter.fields.FIELDS`), so
it lists exactly the fields the filter bar accepts; the shortcuts from the window's actions, so it lists exactly the
keys that work. Built by `qt/window/main_window.py`; a click on an example in the reference applies it.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from urllib.parse import quote, unquote

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QTableWidget, QTableWidgetItem, QTextBrowser, QVBoxLayout, QWidget

from inspector.core.filter.fields import EVENT_STATUSES, FIELDS, OUTCOMES

EXAMPLES = (
    'trigger == "validate-order" and invocation.http_status >= 500',
    "status in {failed retrying} and created_at > -15m",
    'outcome == "timeout"',
    "attempts > 1",
    "duplicate",
    'data.new.user_id == "alice" and not delivered',
    "invocation.http_status == 500 and latency > 2s",
    '"carol"',
)
"""Filters shown (and applied on a click) in the reference; docs/window.md lists the same ones."""

OPERATORS = (
    ("==  !=  <  <=  >  >=", "compare: numbers, text (quoted), times, true/false"),
    ("contains", 'text or JSON contains: invocation.response contains "closed"'),
    ("matches", 'regular expression: trigger matches "^pay"'),
    ("in {a b c}", "one of: status in {failed retrying}"),
    ("and  or  not  (&&  ||  !)", "combine; parentheses group"),
    ('"text"', "alone: full-text search over payloads"),
)


def filter_reference_html() -> str:
    """The reference as HTML: fields (from the field table), operators, values, examples (as links)."""
    rows = "".join(
        f"<tr><td><code>{html.escape(name)}</code></td><td>{html.escape(text)}</td></tr>"
        for name, text in FIELDS.items()
    )
    operators = "".join(
        f"<tr><td><code>{html.escape(op)}</code></td><td>{html.escape(text)}</td></tr>" for op, text in OPERATORS
    )
    examples = "".join(
        f"<li><a href='filter:{quote(e, safe='')}'><code>{html.escape(e)}</code></a></li>" for e in EXAMPLES
    )
    return (
        "<h3>Display filters</h3><p>The same language as <code>inspector export --filter</code> and "
        "<code>inspector stats --filter</code>. Ctrl+/ focuses the filter bar; Tab completes a field name.</p>"
        f"<h4>Examples (click to apply)</h4><ul>{examples}</ul>"
        f"<h4>Fields</h4><table cellspacing=0 cellpadding=3>{rows}</table>"
        f"<h4>Operators</h4><table cellspacing=0 cellpadding=3>{operators}</table>"
        f"<h4>Values</h4><p>status: {', '.join(EVENT_STATUSES)}<br>outcome: {', '.join(OUTCOMES)}<br>"
        'times: "2024-03-01T12:00", -15m, "2h ago"; durations: 250 (ms), 2s</p>'
    )


class FilterReferenceWindow(QTextBrowser):
    """The reference in a window of its own; `filterRequested` when an example is clicked."""

    filterRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowFlag(Qt.WindowType.Window)
        self.setWindowTitle("Display filter reference — Inspector")
        self.setOpenLinks(False)
        self.anchorClicked.connect(self._on_anchor_clicked)
        self.setHtml(filter_reference_html())
        self.resize(720, 640)

    def _on_anchor_clicked(self, url: QUrl) -> None:
        text = url.toString()
        if text.startswith("filter:"):
            self.filterRequested.emit(unquote(text[len("filter:") :]))


def shortcut_rows(actions: Iterable[QAction]) -> list[tuple[str, str]]:
    """(keys, what they do) for every action with a shortcut, in menu order, without duplicates."""
    rows: list[tuple[str, str]] = []
    seen: set[str] = set()
    for action in actions:
        keys = ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts())
        if not keys or keys in seen:
            continue
        seen.add(keys)
        rows.append((keys, action.text().replace("&", "").rstrip("…")))
    return rows


class ShortcutsWindow(QWidget):
    """Help ▸ Keyboard shortcuts: a table of keys and actions."""

    def __init__(self, rows: list[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle("Keyboard shortcuts — Inspector")
        extra = [("Ctrl+Enter (subscriptions console)", "Run the subscription"), ("Tab (filter bar)", "Complete")]
        self.table = QTableWidget(len(rows) + len(extra), 2, self)
        self.table.setHorizontalHeaderLabels(["Keys", "Action"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for row, (keys, text) in enumerate([*rows, *extra]):
            self.table.setItem(row, 0, QTableWidgetItem(keys))
            self.table.setItem(row, 1, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        self.resize(520, 560)
