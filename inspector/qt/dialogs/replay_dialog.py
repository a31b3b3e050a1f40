"""The editor: one event's payload edited as JSON and replayed to a handler, the answer beside the original's.

Owns the dialog the window opens on an event ("Edit and replay…"): the event's `event` object pretty-printed in a
JSON editor (highlighted, validated as typed with the error's line and column shown and underlined), extra request
headers (sent with this replay only, never stored), the target URL (the trigger's webhook from the capture's trigger
snapshot, editable), and Send. Send saves an edited payload as a variant of the event (`create_variant`: a new row
linked to its original; the captured event never changes), asks for consent when the target is not this machine,
and runs one replay through `ReplayRunner` on the window's `TaskRunner`; the attempt is recorded in the capture
(`source = 'replay'`) and its answer shown next to the last answer Hasura recorded for the original.

The dialog writes through its own connection to the capture file (SQLite in WAL mode takes the window's reader and
a live capture's writer alongside).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from PySide6.QtCore import QEvent, QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QFontDatabase,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
    QShortcut,
    QTextCharFormat,
    QTextCursor,
)
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from inspector.core.connection_profile import is_loopback_host
from inspector.core.events import InvocationRecord
from inspector.qt.bridge import TaskRunner
from inspector.qt.widgets.highlighters import JsonHighlighter
from inspector.qt.widgets.json_tree import KEY_COLUMN, TYPE_COLUMN, JsonTreeWidget
from inspector.services.replay.loader import Selection, load_plan
from inspector.services.replay.plan import Answer, PlanOptions, TriggerInfo, check_url, json_equal, resolve_webhook
from inspector.services.replay.runner import ReplayRunner, create_variant
from inspector.store.capture_file import CaptureFile
from inspector.store.replay_records import recorded_invocations, trigger_snapshot

OK_COLOUR = "#1a7f37"
ERROR_COLOUR = "#c62828"
WARN_COLOUR = "#b26a00"
VALIDATE_NOW_LIMIT = 200_000
"""Payloads up to this many characters are validated at every keystroke; longer ones after a short pause."""


def answer_from_row(row: Mapping[str, Any]) -> Answer:
    """The answer an `invocations` row holds (status, body decoded as the capture stores it, duration)."""
    record = InvocationRecord.from_hasura(row)
    status = record.http_status
    body = record.response_body
    error = None if status is not None else str(body)
    return Answer(status, body, error, row.get("duration_ms"))


def parse_headers(text: str) -> tuple[dict[str, str], str | None]:
    """`Name: value` lines (blank lines skipped) → headers, or the first bad line's problem."""
    headers: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        name = name.strip()
        if not sep or not name or any(c.isspace() for c in name):
            return {}, f"headers, line {number}: expected 'Name: value'"
        headers[name] = value.strip()
    return headers, None


def json_error(text: str) -> tuple[int, int, str] | None:
    """None if `text` is an event object (JSON with a "data" object); else (line, column, message), 1-based."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return exc.lineno, exc.colno, exc.msg
    if not isinstance(value, dict) or not isinstance(value.get("data"), dict):
        return 1, 1, 'the payload must be an event object with "data": {"old": ..., "new": ...}'
    return None


class AnswerView(QGroupBox):
    """One answer: a summary line (status, duration) and the body as a JSON tree, or as text when it is not JSON."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.tree = JsonTreeWidget(self, field_function=None)
        # Two answers side by side leave each tree narrow: the key and type columns take what their text needs (a
        # fixed width cut the type to "boolea" / "numbe"), the value the rest.
        header = self.tree.header()
        header.setSectionResizeMode(KEY_COLUMN, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(TYPE_COLUMN, QHeaderView.ResizeMode.ResizeToContents)
        header.setMinimumSectionSize(self.fontMetrics().horizontalAdvance("number") + 16)
        self.text = QPlainTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.text, 1)
        layout.addStretch(0)  # keeps the summary at the top while there is no body to show
        self.answer: Answer | None = None
        self.show_answer(None, "")

    def show_answer(self, answer: Answer | None, empty: str) -> None:
        self.answer = answer
        if answer is None:
            self.summary.setText(empty)
            self.summary.setStyleSheet("")
            self.tree.clear()
            self.tree.hide()
            self.text.clear()
            self.text.hide()
            return
        duration = f" in {answer.duration_ms:,.0f} ms" if answer.duration_ms is not None else ""
        if answer.status is None:
            self.summary.setText(f"No answer{duration}: {answer.error or 'unknown error'}")
        else:
            self.summary.setText(f"HTTP {answer.status}{duration}")
        self.summary.setStyleSheet(f"font-weight: bold; color: {OK_COLOUR if answer.ok else ERROR_COLOUR};")
        body = answer.body
        if isinstance(body, dict | list):
            self.tree.set_json(body, "body")
            self.tree.show()
            self.text.hide()
        elif answer.status is not None:
            self.text.setPlainText("(empty body)" if body in (None, "") else str(body))
            self.text.show()
            self.tree.hide()
        else:
            self.tree.hide()
            self.text.hide()


class ReplayDialog(QDialog):
    """Edit event `event_id` of the capture at `capture_path` and replay it; `tasks` runs the replay."""

    replayed = Signal(str)
    """The id of the event just replayed (the variant when the payload was edited): its attempt is in the capture."""

    def __init__(self, capture_path: str | Path, event_id: str, tasks: TaskRunner, parent: QWidget | None = None):
        super().__init__(parent)
        self.tasks = tasks
        self.capture = CaptureFile.open(capture_path)
        row = self.capture.event(event_id)
        if row is None:
            self.capture.close()
            raise KeyError(f"no event {event_id} in {Path(capture_path).name}")
        self.event_id = event_id
        self.event_row = row
        self.original_id: str = row["variant_of"] or row["id"]
        try:
            payload = json.loads(row["payload"] or "{}")
        except ValueError:
            payload = {}
        self.original_payload: Any = payload
        self.variant_id: str | None = None
        """The variant saved by the last Send, reused while the payload stays the same."""
        self._variant_payload: Any = None
        self.replayed_id: str | None = None
        self.last_report: Any = None
        self._error: tuple[int, int, str] | None = None
        self._task_name = f"replay-editor-{id(self)}"
        self._closing = False
        self.trigger = self._trigger_info(row["trigger_name"] or "")
        self.setWindowTitle(f"Edit and replay — {row['trigger_name']} {event_id}")
        self.resize(self._fitted_size(parent))
        self._build()
        self.tasks.taskFailed.connect(self._on_tasks_task_failed)
        self._load_original_answer()
        self._validate()

    # --- building ------------------------------------------------------------------------------------------------

    @staticmethod
    def _fitted_size(parent: QWidget | None) -> QSize:
        """1280x800, or less on a smaller screen (the one the window is on): the whole dialog on screen."""
        screen = parent.screen() if parent is not None else QGuiApplication.primaryScreen()
        if screen is None:
            return QSize(1280, 800)
        room = screen.availableGeometry()
        return QSize(min(1280, room.width() - 40), min(800, room.height() - 60))

    def _build(self) -> None:
        row = self.event_row
        fixed = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        table = f"{row['schema_name']}.{row['table_name']}"
        what = f"<b>{row['trigger_name']}</b> · {table} · {row['op']} · event {row['id']}"
        if row["variant_of"]:
            what += f" · <i>variant of {row['variant_of']}</i>"
        self.heading = QLabel(what, self)
        self.heading.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.editor = QPlainTextEdit(self)
        self.editor.setFont(fixed)
        self.editor.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.editor.setTabChangesFocus(False)
        self.highlighter = JsonHighlighter(self.editor.document(), self.editor.palette())
        self.editor.setPlainText(self._pretty(self.original_payload))
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.status.linkActivated.connect(lambda _link: self.go_to_error())
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(150)
        self._debounce.timeout.connect(self._validate)
        self.editor.textChanged.connect(self._on_editor_text_changed)
        payload_box = QGroupBox("Payload: the event object (data.old / data.new, session_variables, …)", self)
        payload_layout = QVBoxLayout(payload_box)
        payload_layout.addWidget(self.editor, 1)
        payload_layout.addWidget(self.status)

        request_box = QGroupBox("Request", self)
        form = QFormLayout(request_box)
        self.target = QLineEdit(self)
        self.target.setPlaceholderText("http://localhost:3000/handler")
        webhook, why = resolve_webhook(self.trigger, os.environ) if self.trigger else (None, "not in the capture")
        self.target.setText(webhook or "")
        self.target.textChanged.connect(lambda _text: self._validate())
        self.target_note = QLabel(self)
        self.target_note.setWordWrap(True)
        self._no_webhook = None if webhook else f"The trigger's webhook is unknown ({why}): give a URL."
        form.addRow("Target URL", self.target)
        form.addRow("", self.target_note)
        self.headers = QPlainTextEdit(self)
        self.headers.setFont(fixed)
        self.headers.setPlaceholderText("Name: value, one per line")
        self.headers.setFixedHeight(self.fontMetrics().lineSpacing() * 4 + 12)
        self.headers.textChanged.connect(self._validate)
        configured = [h.name for h in self.trigger.headers] if self.trigger else []
        hint = "Sent with this replay only; values are never stored in the capture."
        if configured:
            hint += " Configured on the trigger (values redacted in the capture): " + ", ".join(configured) + "."
        headers_note = QLabel(hint, self)
        headers_note.setWordWrap(True)
        headers_note.setStyleSheet("color: palette(placeholder-text);")
        form.addRow("Extra headers", self.headers)
        form.addRow("", headers_note)

        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(payload_box, 1)
        left_layout.addWidget(request_box)

        self.original_view = AnswerView("Original: last answer Hasura recorded", self)
        self.replay_view = AnswerView("Replay: this answer", self)
        answers = QWidget(self)  # side by side, equally wide
        answers_layout = QHBoxLayout(answers)
        answers_layout.setContentsMargins(0, 0, 0, 0)
        answers_layout.addWidget(self.original_view, 1)
        answers_layout.addWidget(self.replay_view, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(left)
        splitter.addWidget(answers)
        splitter.setStretchFactor(0, 5)
        splitter.setStretchFactor(1, 6)
        splitter.setChildrenCollapsible(False)

        self.revert_button = QPushButton("Revert edits", self)
        self.revert_button.clicked.connect(self.revert)
        self.send_button = QPushButton("Send  (Ctrl+Enter)", self)
        self.send_button.setToolTip("Save the edits as a variant (if any) and replay it to the target")
        self.send_button.clicked.connect(self.send)
        self.close_button = QPushButton("Close", self)
        self.close_button.clicked.connect(self.reject)
        for button in (self.revert_button, self.send_button, self.close_button):
            button.setAutoDefault(False)
        self.result_label = QLabel(self)
        self.result_label.setWordWrap(True)
        self.result_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QHBoxLayout()
        buttons.addWidget(self.result_label, 1)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.close_button)

        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(splitter, 1)
        layout.addLayout(buttons)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.activated.connect(self.send)
            # The window's subscriptions console has Ctrl+Return too; Qt may count both as candidates.
            shortcut.activatedAmbiguously.connect(self.send)
        for widget in (self.editor, self.headers, self.target):  # also when a shortcut cannot fire (window inactive)
            widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
            and event.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            self.send()
            return True
        return super().eventFilter(watched, event)

    @staticmethod
    def _pretty(value: Any) -> str:
        return json.dumps(value, indent=2, ensure_ascii=False)

    def _trigger_info(self, name: str) -> TriggerInfo | None:
        for source, schema, table, config in trigger_snapshot(self.capture):
            if config.get("name") == name:
                return TriggerInfo.from_snapshot(source, schema, table, config)
        return None

    def _load_original_answer(self) -> None:
        recorded = recorded_invocations(self.capture, [self.original_id]).get(self.original_id)
        if recorded is None:
            self.original_view.show_answer(None, "Hasura made no attempt for this event in the capture.")
        else:
            self.original_view.show_answer(answer_from_row(recorded), "")
        self.replay_view.show_answer(None, "Not sent yet: edit the payload and press Send (Ctrl+Enter).")

    # --- validation ----------------------------------------------------------------------------------------------

    def _on_editor_text_changed(self) -> None:
        if self.editor.document().characterCount() <= VALIDATE_NOW_LIMIT:
            self._validate()
        else:
            self._debounce.start()

    def payload(self) -> Any:
        """The edited payload, parsed; None while it is not valid."""
        if self._error is not None:
            return None
        return json.loads(self.editor.toPlainText())

    @property
    def changed(self) -> bool:
        value = self.payload()
        return value is not None and not json_equal(value, self.original_payload)

    def _validate(self) -> None:
        self._error = json_error(self.editor.toPlainText())
        self._underline_error()
        problems: list[str] = []
        if self._error is not None:
            line, column, message = self._error
            self.status.setText(
                f'<span style="color:{ERROR_COLOUR}">✖ <a href="error" style="color:{ERROR_COLOUR}">'
                f"line {line}, column {column}</a>: {_escape(message)}</span>"
            )
            problems.append("payload")
        elif self.changed:
            self.status.setText(
                f'<span style="color:{WARN_COLOUR}">✎ Valid JSON, edited: Send saves it as a variant of '
                f"{self.original_id} (the captured event is not changed).</span>"
            )
        else:
            self.status.setText(f'<span style="color:{OK_COLOUR}">✔ Valid JSON, as captured.</span>')
        url = self.target.text().strip()
        if not url:
            self.target_note.setText(self._no_webhook or "Give the URL to send to.")
            self.target_note.setStyleSheet(f"color: {ERROR_COLOUR};")
            problems.append("target")
        else:
            try:
                check_url(url, "target")
            except ValueError as exc:
                self.target_note.setText(str(exc))
                self.target_note.setStyleSheet(f"color: {ERROR_COLOUR};")
                problems.append("target")
            else:
                host = urlsplit(url).hostname or ""
                if is_loopback_host(host):
                    self.target_note.setText(f"{host} is this machine.")
                    self.target_note.setStyleSheet(f"color: {OK_COLOUR};")
                else:
                    self.target_note.setText(f"{host} is not this machine: Send asks for your consent first.")
                    self.target_note.setStyleSheet(f"color: {WARN_COLOUR};")
        _headers, header_problem = parse_headers(self.headers.toPlainText())
        if header_problem:
            self.target_note.setText(header_problem)
            self.target_note.setStyleSheet(f"color: {ERROR_COLOUR};")
            problems.append("headers")
        running = self.tasks.running(self._task_name)
        self.send_button.setEnabled(not problems and not running)
        self.revert_button.setEnabled(self.editor.toPlainText() != self._pretty(self.original_payload))

    def error_position(self) -> int | None:
        """The document position of the JSON error, if any."""
        if self._error is None:
            return None
        line, column, _ = self._error
        block = self.editor.document().findBlockByNumber(max(0, line - 1))
        if not block.isValid():
            return max(0, self.editor.document().characterCount() - 1)
        prefix = block.text()[: max(0, column - 1)]
        return block.position() + len(prefix.encode("utf-16-le")) // 2  # Qt counts UTF-16 units

    def _underline_error(self) -> None:
        position = self.error_position()
        if position is None:
            self.editor.setExtraSelections([])
            return
        cursor = QTextCursor(self.editor.document())
        last = max(0, self.editor.document().characterCount() - 1)
        cursor.setPosition(min(position, last))
        if cursor.atBlockEnd() and position > 0:  # mark the last character of the line rather than nothing
            cursor.movePosition(QTextCursor.MoveOperation.Left)
        cursor.movePosition(QTextCursor.MoveOperation.Right, QTextCursor.MoveMode.KeepAnchor)
        fmt = QTextCharFormat()
        fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.WaveUnderline)
        fmt.setUnderlineColor(QColor(ERROR_COLOUR))
        fmt.setBackground(QColor(ERROR_COLOUR).lighter(190))
        selection = QTextEdit.ExtraSelection()
        selection.cursor = cursor
        selection.format = fmt
        self.editor.setExtraSelections([selection])

    def go_to_error(self) -> None:
        position = self.error_position()
        if position is None:
            return
        cursor = self.editor.textCursor()
        cursor.setPosition(min(position, max(0, self.editor.document().characterCount() - 1)))
        self.editor.setTextCursor(cursor)
        self.editor.setFocus()

    def revert(self) -> None:
        self.editor.setPlainText(self._pretty(self.original_payload))

    # --- sending -------------------------------------------------------------------------------------------------

    def send(self) -> None:
        """Save the edits as a variant when there are any, ask consent for a remote target, replay once."""
        if self.tasks.running(self._task_name):
            return
        self._validate()
        if self._error is not None:
            self.go_to_error()
            return
        if not self.send_button.isEnabled():
            return
        url = self.target.text().strip()
        host = urlsplit(url).hostname or ""
        allow_remote = False
        if not is_loopback_host(host):
            answer = QMessageBox.question(
                self,
                "Send to another machine?",
                f"{host} is not this machine. Replaying sends this event (its row data, session variables and the "
                "headers given here) "
                f"to {url}.\n\nSend it?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                self.result_label.setText("Not sent: sending to another machine was refused.")
                return
            allow_remote = True
        payload = self.payload()
        event_id = self.event_id
        if self.changed:
            if self.variant_id is not None and json_equal(payload, self._variant_payload):
                event_id = self.variant_id
            else:
                try:
                    event_id = create_variant(self.capture, self.event_id, payload)
                except (KeyError, ValueError) as exc:
                    self.result_label.setText(f"Not sent: {exc}")
                    return
                self.variant_id, self._variant_payload = event_id, payload
        headers, _ = parse_headers(self.headers.toPlainText())
        configured = {h.name.lower() for h in self.trigger.headers} if self.trigger else set()
        header_values = {k: v for k, v in headers.items() if k.lower() in configured}
        extra = {k: v for k, v in headers.items() if k.lower() not in configured}
        options = PlanOptions(targets={"*": url}, header_names=frozenset(k.lower() for k in header_values))
        plan = load_plan(self.capture, options, Selection(event_ids=(event_id,)))
        if plan.errors:
            self.result_label.setText("Not sent: " + "; ".join(plan.errors))
            return
        runner = ReplayRunner(
            self.capture, plan, header_values=header_values, extra_headers=extra, allow_remote=allow_remote
        )
        self.replayed_id = event_id
        saved = f"variant {event_id} saved; " if event_id != self.event_id else ""
        self.result_label.setText(f"{saved}sending to {url}…")
        self.replay_view.show_answer(None, f"Sending to {url}…")
        self.tasks.start(self._task_name, self._replay(runner, event_id), on_result=self._on_replay_done)
        self._validate()  # Send is disabled while the replay runs

    async def _replay(self, runner: ReplayRunner, event_id: str) -> tuple[Any, dict[str, Any] | None]:
        try:
            report = await runner.run()
            if self._closing:
                return report, None
            return report, self.capture.reader().last_replay_attempt(event_id)
        finally:
            if self._closing:  # closed while sending: the runner has written what it had; now the file can close
                self.capture.close()

    def _on_replay_done(self, result: tuple[Any, dict[str, Any] | None]) -> None:
        report, row = result
        self.last_report = report
        if self._closing:
            return
        event_id = self.replayed_id or self.event_id
        if row is None:
            message = report.error or "no attempt was made"
            self.replay_view.show_answer(None, f"Not sent: {message}")
            self.result_label.setText(f"Not sent: {message}")
        else:
            answer = answer_from_row(row)
            self.replay_view.show_answer(answer, "")
            what = "variant " + event_id if event_id != self.event_id else "event " + event_id
            outcome = f"HTTP {answer.status}" if answer.status is not None else "no answer"
            duration = f" in {answer.duration_ms:,.0f} ms" if answer.duration_ms is not None else ""
            self.result_label.setText(
                f"Replayed {what}: {outcome}{duration}, recorded as its attempt {row['attempt']} (source replay)."
            )
        self._validate()
        self.replayed.emit(event_id)

    def _on_tasks_task_failed(self, name: str, message: str) -> None:
        if name != self._task_name or self._closing:
            return
        self.result_label.setText(f"Replay failed: {message}")
        self.replay_view.show_answer(None, f"Replay failed: {message}")
        self._validate()

    # --- closing -------------------------------------------------------------------------------------------------

    def done(self, result: int) -> None:
        """Closing (Close, Esc, the window's close button): a replay still running is cancelled, then the dialog's
        connection to the capture closes."""
        if not self._closing:
            self._closing = True
            if self.tasks.running(self._task_name):
                self.tasks.cancel(self._task_name)  # the runner records the attempt as cancelled, then closes the file
            else:
                self.capture.close()
        super().done(result)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
