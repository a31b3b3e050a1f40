"""Original versus replayed response: what a replay (an attempt Inspector made, `source = 'replay'`) got back compared
with what Hasura's delivery of the same event got, as a unified diff of the two responses' status and pretty-printed
JSON bodies (optionally their headers).

Owns the comparable text of a stored response (`response_text`), the diff (`response_diff`, difflib) and the window
that shows it (`ResponseDiffDialog`: which delivery to compare with, headers in or out, the diff coloured). Opened from
the detail pane's attempts table (`qt/detail/attempts_menu`).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QSyntaxHighlighter, QTextCharFormat, QTextDocument
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from inspector.qt.detail.detail_pane import _NO_BODY, _fixed_font, header_pairs, parse_cell, response_parts
from inspector.qt.widgets.highlighters import syntax_colours

VARYING_HEADERS = frozenset({"date", "content-length", "server", "age", "etag", "x-request-id"})
"""Headers that differ between any two answers; left out of the headers compared so the diff shows what matters."""


def _pretty(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def response_text(invocation: Mapping[str, Any], headers: bool = False) -> str:
    """An invocation's answer as comparable lines: its HTTP status (or none), optionally its headers (sorted, those
    in `VARYING_HEADERS` left out), then its body, JSON pretty-printed with sorted keys (Hasura stores the body as a
    JSON string: decoded twice)."""
    parsed = parse_cell(invocation.get("response"))
    if not parsed.ok:
        return f"(response not valid JSON)\n{parsed.text or ''}\n"
    parts = response_parts(parsed.value)
    http = invocation.get("http_status")
    lines = [f"HTTP {http}" if http is not None else f"no HTTP answer ({parts.kind or 'no response'})"]
    if headers:
        pairs = sorted(
            (name.lower(), value)
            for name, value, _env in header_pairs(parts.headers)
            if name.lower() not in VARYING_HEADERS
        )
        lines += [f"{name}: {value}" for name, value in pairs]
    lines.append("")
    lines.append("(no body)" if parts.body is _NO_BODY else _pretty(parts.body))
    return "\n".join(lines) + "\n"


def response_diff(original: Mapping[str, Any], replayed: Mapping[str, Any], headers: bool = False) -> list[str]:
    """The unified diff (difflib) from `original`'s response to `replayed`'s; empty when they are the same."""
    return list(
        difflib.unified_diff(
            response_text(original, headers).splitlines(),
            response_text(replayed, headers).splitlines(),
            fromfile=_label(original, "original"),
            tofile=_label(replayed, "replay"),
            lineterm="",
            n=3,
        )
    )


def _label(invocation: Mapping[str, Any], what: str) -> str:
    when = invocation.get("created_at") or ""
    attempt = invocation.get("attempt")
    number = f" attempt {attempt}" if attempt and what == "original" else ""
    return f"{what}{number} {invocation.get('id') or ''} {when}".strip()


class DiffHighlighter(QSyntaxHighlighter):
    """Colours a unified diff: added lines green, removed red, hunk headers muted."""

    def __init__(self, document: QTextDocument, added: QColor, removed: QColor, muted: QColor) -> None:
        super().__init__(document)
        self.formats: dict[str, QTextCharFormat] = {}
        for key, colour in (("+", added), ("-", removed), ("@", muted)):
            fmt = QTextCharFormat()
            fmt.setForeground(colour)
            self.formats[key] = fmt

    def highlightBlock(self, text: str) -> None:
        if text.startswith(("+++", "---")):
            fmt = self.formats["@"]
        else:
            found = self.formats.get(text[:1])
            if found is None:
                return
            fmt = found
        self.setFormat(0, len(text), fmt)


class ResponseDiffDialog(QDialog):
    """One replay's response against one of the event's deliveries (the latest by default)."""

    def __init__(
        self,
        replay: Mapping[str, Any],
        deliveries: Sequence[Mapping[str, Any]],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Original versus replayed response")
        self.replay = replay
        self.deliveries = list(deliveries)
        self.original = QComboBox(self)
        for index, delivery in enumerate(self.deliveries):
            http = delivery.get("http_status")
            answer = f"HTTP {http}" if http is not None else "no answer"
            self.original.addItem(f"attempt {delivery.get('attempt') or index + 1}: {answer}")
        self.original.setCurrentIndex(len(self.deliveries) - 1)
        self.original.setToolTip("The delivery (Hasura's attempt) to compare the replay with")
        self.headers = QCheckBox("Compare headers", self)
        self.headers.setToolTip(
            "Also compare the response headers ("
            + ", ".join(sorted(VARYING_HEADERS))
            + " left out: they always differ)"
        )
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)
        self.text = QPlainTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setFont(_fixed_font())
        colours = syntax_colours(self.palette())
        muted = QColor(self.palette().color(self.foregroundRole()))
        muted.setAlphaF(0.6)
        self.highlighter = DiffHighlighter(self.text.document(), colours.success, colours.error, muted)
        top = QHBoxLayout()
        top.addWidget(QLabel("Compare with:", self))
        top.addWidget(self.original)
        top.addWidget(self.headers)
        top.addStretch(1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.summary)
        layout.addWidget(self.text, 1)
        layout.addWidget(buttons)
        self.original.currentIndexChanged.connect(self.refresh)
        self.headers.toggled.connect(self.refresh)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(820, 560)
        self.refresh()

    def refresh(self) -> None:
        if not self.deliveries:
            self.summary.setText("The event has no delivery by Hasura to compare the replay with.")
            self.text.setPlainText(response_text(self.replay, self.headers.isChecked()))
            return
        original = self.deliveries[self.original.currentIndex()]
        lines = response_diff(original, self.replay, self.headers.isChecked())
        before, after = original.get("http_status"), self.replay.get("http_status")
        status = f"HTTP {before if before is not None else '—'} → {after if after is not None else '—'}"
        if not lines:
            self.summary.setText(f"{status}: the replay got the same answer.")
            self.text.setPlainText(response_text(self.replay, self.headers.isChecked()))
            return
        changed = sum(1 for line in lines if line[:1] in "+-" and not line.startswith(("+++", "---")))
        self.summary.setText(f"{status}: {changed} line{'s' if changed != 1 else ''} differ (- original, + replay).")
        self.text.setPlainText("\n".join(lines))
