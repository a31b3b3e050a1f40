"""The Breakpoints panel: display filters that hold matching deliveries in the relay, the held deliveries, and what
the user does with each (Continue, Edit and continue, Respond, Delay, Drop, Continue all), plus the relay's fault
rules, switched on and off or added here.

Owns the Qt view over `inspector.services.relay.Breakpoints` (the hold/release API; this panel is its user: it
attaches when shown with a relay and detaches in `detach()`, which the main window calls when it closes, so held
deliveries are released with their original behaviour) and over the relay's `Rule` list. A held delivery shows its
payload as a tree, its headers (redacted), the trigger's retry policy, what the engine does next if it fails, and a
countdown to the trigger's `timeout_sec`, after which the engine gives up on it. Edit and continue uses a plain JSON
editor validated as typed (the replay dialog's editor is part of that dialog, not a widget of its own). "Continue to
next in flow" continues and holds the next delivery of the same row (`row_key`), once.

Docked into the main window by `MainWindow.add_breakpoints_panel` (Relay > Start relay…, `inspector demo --relay`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from inspector.core.events import row_key
from inspector.qt.widgets.highlighters import JsonHighlighter
from inspector.qt.widgets.json_tree import JsonTreeWidget
from inspector.services.relay import Breakpoints, Decision, HeldDelivery, Rule, RuleError, parse_rule

_ID = Qt.ItemDataRole.UserRole


class BreakpointsPanel(QWidget):
    """Breakpoint filters, held deliveries and the decisions on them (see the module docstring)."""

    heldChanged = Signal()

    def __init__(
        self, breakpoints: Breakpoints, rules: list[Rule] | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.breakpoints = breakpoints
        self.rules: list[Rule] = rules if rules is not None else []
        self._attached = False
        self._build()
        breakpoints.on_held.append(self._on_held)
        breakpoints.on_released.append(self._on_released)
        self.attach()
        self._countdown = QTimer(self)
        self._countdown.setInterval(250)
        self._countdown.timeout.connect(self._tick)
        self._countdown.start()

    # --- building --------------------------------------------------------------------------------------------------

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        outer.addWidget(splitter)

        left = QWidget(splitter)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        points = QGroupBox("Breakpoints (display filters)", left)
        points_layout = QVBoxLayout(points)
        self.filter_edit = QLineEdit(points)
        self.filter_edit.setPlaceholderText('trigger == "process-payment" and attempt == 1')
        self.filter_edit.returnPressed.connect(self.add_breakpoint)
        self.filter_error = QLabel(points)
        self.filter_error.setStyleSheet("color: #b00020")
        self.filter_list = QListWidget(points)
        self.filter_list.itemChanged.connect(self._on_filter_toggled)
        remove = QPushButton("Remove", points)
        remove.clicked.connect(self.remove_breakpoint)
        points_layout.addWidget(self.filter_edit)
        points_layout.addWidget(self.filter_error)
        points_layout.addWidget(self.filter_list)
        points_layout.addWidget(remove)
        rules = QGroupBox("Fault rules (FILTER -> ACTION)", left)
        rules_layout = QVBoxLayout(rules)
        self.rule_edit = QLineEdit(rules)
        self.rule_edit.setPlaceholderText("attempt == 1 -> respond 503 retry-after=1")
        self.rule_edit.returnPressed.connect(self.add_rule)
        self.rule_list = QListWidget(rules)
        self.rule_list.itemChanged.connect(self._on_rule_toggled)
        rules_layout.addWidget(self.rule_edit)
        rules_layout.addWidget(self.rule_list)
        left_layout.addWidget(points, 1)
        left_layout.addWidget(rules, 1)
        self._fill_rules()

        middle = QGroupBox("Held deliveries", splitter)
        middle_layout = QVBoxLayout(middle)
        self.held_list = QListWidget(middle)
        self.held_list.currentItemChanged.connect(lambda *_: self._show_current())
        self.continue_all_button = QPushButton("Continue all", middle)
        self.continue_all_button.clicked.connect(self.continue_all)
        middle_layout.addWidget(self.held_list)
        middle_layout.addWidget(self.continue_all_button)

        right = QWidget(splitter)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        self.summary = QLabel("No delivery held.", right)
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.countdown = QLabel("", right)
        self.payload = JsonTreeWidget(right, field_function=None)
        self.headers = QPlainTextEdit(right)
        self.headers.setReadOnly(True)
        self.headers.setMaximumHeight(90)
        self.editor = QPlainTextEdit(right)
        self.editor.setPlaceholderText("The body to forward (Edit and continue)")
        self._highlighter = JsonHighlighter(self.editor.document(), self.editor.palette())
        self.editor.textChanged.connect(self._validate)
        self.editor_error = QLabel("", right)
        self.editor_error.setStyleSheet("color: #b00020")
        right_layout.addWidget(self.summary)
        right_layout.addWidget(self.countdown)
        right_layout.addWidget(self.payload, 2)
        right_layout.addWidget(QLabel("Headers (secrets redacted)", right))
        right_layout.addWidget(self.headers)
        right_layout.addWidget(self.editor, 2)
        right_layout.addWidget(self.editor_error)

        buttons = QHBoxLayout()
        self.continue_button = QPushButton("Continue", right)
        self.continue_button.clicked.connect(self.continue_current)
        self.edit_button = QPushButton("Edit and continue", right)
        self.edit_button.clicked.connect(self.edit_and_continue)
        self.step_button = QPushButton("Continue to next in flow", right)
        self.step_button.clicked.connect(self.step_flow)
        self.status_spin = QSpinBox(right)
        self.status_spin.setRange(100, 599)
        self.status_spin.setValue(503)
        self.retry_after_spin = QSpinBox(right)
        self.retry_after_spin.setRange(0, 3600)
        self.retry_after_spin.setPrefix("Retry-After ")
        self.retry_after_spin.setValue(1)
        self.respond_button = QPushButton("Respond", right)
        self.respond_button.clicked.connect(self.respond)
        self.delay_spin = QDoubleSpinBox(right)
        self.delay_spin.setRange(0.0, 3600.0)
        self.delay_spin.setSuffix(" s")
        self.delay_spin.setValue(2.0)
        self.delay_button = QPushButton("Delay", right)
        self.delay_button.clicked.connect(self.delay)
        self.drop_button = QPushButton("Drop", right)
        self.drop_button.clicked.connect(self.drop)
        for widget in (
            self.continue_button,
            self.edit_button,
            self.step_button,
            self.status_spin,
            self.retry_after_spin,
            self.respond_button,
            self.delay_spin,
            self.delay_button,
            self.drop_button,
        ):
            buttons.addWidget(widget)
        right_layout.addLayout(buttons)
        splitter.setSizes([260, 220, 620])
        self._enable(False)

    def _fill_rules(self) -> None:
        self.rule_list.blockSignals(True)
        self.rule_list.clear()
        for index, rule in enumerate(self.rules):
            limit = f"  (used {rule.used}/{rule.times})" if rule.times is not None else f"  (used {rule.used})"
            item = QListWidgetItem(rule.text + limit)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if rule.enabled else Qt.CheckState.Unchecked)
            item.setData(_ID, index)
            self.rule_list.addItem(item)
        self.rule_list.blockSignals(False)

    # --- the user's presence ---------------------------------------------------------------------------------------

    def attach(self) -> None:
        if not self._attached:
            self._attached = True
            self.breakpoints.attach()

    def detach(self) -> None:
        """The user goes away (the window closes): held deliveries continue with their original behaviour."""
        if self._attached:
            self._attached = False
            self.breakpoints.detach()
        for listeners, own in (
            (self.breakpoints.on_held, self._on_held),
            (self.breakpoints.on_released, self._on_released),
        ):
            if own in listeners:
                listeners.remove(own)

    # --- breakpoints and rules -------------------------------------------------------------------------------------

    def add_breakpoint(self, text: str | None = None) -> bool:
        text = self.filter_edit.text() if text is None else text
        try:
            point = self.breakpoints.add(text)
        except RuleError as exc:
            self.filter_error.setText(str(exc))
            return False
        self.filter_error.setText("")
        self.filter_edit.clear()
        item = QListWidgetItem(point.text or "(every delivery)")
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked)
        item.setData(_ID, id(point))
        self.filter_list.addItem(item)
        return True

    def _point_of(self, item: QListWidgetItem) -> Any:
        return next((p for p in self.breakpoints.breakpoints if id(p) == item.data(_ID)), None)

    def remove_breakpoint(self) -> None:
        item = self.filter_list.currentItem()
        if item is None:
            return
        point = self._point_of(item)
        if point is not None:
            self.breakpoints.remove(point)
        self.filter_list.takeItem(self.filter_list.row(item))

    def _on_filter_toggled(self, item: QListWidgetItem) -> None:
        point = self._point_of(item)
        if point is not None:
            point.enabled = item.checkState() == Qt.CheckState.Checked

    def add_rule(self) -> None:
        try:
            self.rules.append(parse_rule(self.rule_edit.text()))
        except RuleError as exc:
            self.filter_error.setText(str(exc))
            return
        self.rule_edit.clear()
        self._fill_rules()

    def _on_rule_toggled(self, item: QListWidgetItem) -> None:
        rule = self.rules[int(item.data(_ID))]
        rule.enabled = item.checkState() == Qt.CheckState.Checked

    # --- held deliveries -------------------------------------------------------------------------------------------

    def _on_held(self, held: HeldDelivery) -> None:
        item = QListWidgetItem(self._label(held))
        item.setData(_ID, held.id)
        self.held_list.addItem(item)
        if self.held_list.currentItem() is None:
            self.held_list.setCurrentItem(item)
        self.heldChanged.emit()

    def _on_released(self, held: HeldDelivery) -> None:
        for row in range(self.held_list.count()):
            if self.held_list.item(row).data(_ID) == held.id:
                self.held_list.takeItem(row)
                break
        self._fill_rules()
        self._show_current()
        self.heldChanged.emit()

    @staticmethod
    def _label(held: HeldDelivery) -> str:
        event = (held.event_id or "?")[:8]
        return f"{held.trigger}  attempt {held.attempt or '?'}  {event}"

    def current(self) -> HeldDelivery | None:
        item = self.held_list.currentItem()
        return None if item is None else self.breakpoints.held.get(int(item.data(_ID)))

    def _enable(self, on: bool) -> None:
        for widget in (
            self.continue_button,
            self.edit_button,
            self.step_button,
            self.respond_button,
            self.delay_button,
            self.drop_button,
        ):
            widget.setEnabled(on)
        self.continue_all_button.setEnabled(bool(self.breakpoints.held))

    def _show_current(self) -> None:
        held = self.current()
        self._enable(held is not None)
        if held is None:
            self.summary.setText("No delivery held." if not self.breakpoints.held else "Choose a held delivery.")
            self.countdown.setText("")
            self.payload.clear()
            self.headers.clear()
            self.editor.clear()
            return
        retry = held.retry
        policy = (
            f"num_retries {retry.num_retries}, interval_sec {retry.interval_sec}, timeout_sec {retry.timeout_sec}"
            if retry is not None
            else "unknown (rewire through the metadata API to read it)"
        )
        self.summary.setText(
            f"<b>{held.trigger}</b> event {held.event_id or '?'}, attempt {held.attempt or '?'}, held by "
            f"<code>{held.breakpoint or 'every delivery'}</code><br>Retry policy: {policy}<br>"
            f"If it fails: {held.next_if_failed()}"
        )
        self.payload.set_json(held.body)
        self.headers.setPlainText("\n".join(f"{k}: {v}" for k, v in held.headers.items()))
        self.editor.setPlainText(json.dumps(held.body, indent=2, ensure_ascii=False))
        self._tick()

    def _tick(self) -> None:
        held = self.current()
        if held is None:
            return
        left = held.seconds_left()
        if left is None:
            self.countdown.setText("Engine timeout: unknown")
        elif left > 0:
            self.countdown.setText(f"The engine gives up in {left:.0f} s (timeout_sec)")
        else:
            self.countdown.setText("The engine has given up (timeout_sec passed): it will retry on its own")

    def _validate(self) -> bool:
        text = self.editor.toPlainText()
        if not text.strip():
            self.editor_error.setText("")
            return False
        try:
            json.loads(text)
        except ValueError as exc:
            self.editor_error.setText(f"Not JSON: {exc}")
            self.edit_button.setEnabled(False)
            return False
        self.editor_error.setText("")
        self.edit_button.setEnabled(self.current() is not None)
        return True

    # --- decisions -------------------------------------------------------------------------------------------------

    def _decide(self, decision: Decision) -> bool:
        held = self.current()
        return held is not None and self.breakpoints.decide(held.id, decision)

    def continue_current(self) -> bool:
        return self._decide(Decision("continue"))

    def edit_and_continue(self) -> bool:
        if not self._validate():
            return False
        return self._decide(Decision("edit", body=json.loads(self.editor.toPlainText())))

    def respond(self) -> bool:
        retry_after = self.retry_after_spin.value() or None
        return self._decide(Decision("respond", status=self.status_spin.value(), retry_after=retry_after))

    def delay(self) -> bool:
        return self._decide(Decision("delay", seconds=self.delay_spin.value()))

    def drop(self) -> bool:
        return self._decide(Decision("drop"))

    def continue_all(self) -> int:
        return self.breakpoints.continue_all()

    def step_flow(self) -> bool:
        """Continue, and hold the next delivery of the same row once (the next event of the chain)."""
        held = self.current()
        if held is None:
            return False
        key = _row_key_of(held.body)
        if key is not None:
            point = self.breakpoints.add(f"row_key == {json.dumps(key)} and id != {json.dumps(held.event_id or '')}")
            point.once = True
        return self._decide(Decision("continue"))

    def held_count(self) -> int:
        return self.held_list.count()

    def set_rules(self, rules: Sequence[Rule]) -> None:
        self.rules[:] = list(rules)
        self._fill_rules()


def _row_key_of(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    event, table = body.get("event"), body.get("table")
    if not isinstance(event, dict) or not isinstance(table, dict):
        return None
    data = event.get("data") or {}
    return row_key(str(table.get("name", "")), data.get("new") or data.get("old"))
