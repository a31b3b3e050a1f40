"""The colouring rules dialog (Wireshark's View ▸ Coloring Rules): edit, reorder, enable and disable the rules that
colour event rows; the first matching rule wins.

Owns the editing only: each rule's filter is checked as typed with the display-filter language, colours are picked
with QColorDialog, and the result is a list of `ColourRule`s that the window stores in QSettings and gives the model.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QColorDialog,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from inspector.core.colouring import DEFAULT_RULES, ColourRule, validate_rule
from inspector.core.filter import find_error as check

NAME, FILTER, COLOURS = 0, 1, 2


class ColouringDialog(QDialog):
    """Edit a list of colouring rules; `rules()` gives the result when accepted."""

    def __init__(
        self, rules: tuple[ColourRule, ...] | list[ColourRule], dark: bool = False, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Colouring rules")
        self._dark = dark
        self.table = QTableWidget(0, 3, self)
        self.table.setHorizontalHeaderLabels(["Rule", "Display filter", "Colours"])
        self.table.horizontalHeader().setSectionResizeMode(FILTER, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.itemChanged.connect(self._on_table_item_changed)
        self.table.cellDoubleClicked.connect(self._on_table_cell_double_clicked)
        self.status = QLabel("First matching rule wins. Double-click the colours to change them.", self)
        self.status.setWordWrap(True)
        buttons = QHBoxLayout()
        for text, slot in (
            ("Add", self._add),
            ("Remove", self._remove),
            ("Up", lambda: self._move(-1)),
            ("Down", lambda: self._move(1)),
            ("Reset to defaults", self._reset),
        ):
            button = QPushButton(text, self)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        buttons.addStretch(1)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        box.accepted.connect(self.accept)
        box.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(box)
        self._rules: list[ColourRule] = list(rules)
        self._fill()
        self.resize(760, 380)

    def rules(self) -> list[ColourRule]:
        """The rules as edited, validated (a rule with a bad filter is kept, disabled, with the reason)."""
        return [validate_rule(rule) for rule in self._rules]

    def _fill(self) -> None:
        self.table.blockSignals(True)
        self.table.setRowCount(0)
        for rule in self._rules:
            row = self.table.rowCount()
            self.table.insertRow(row)
            name = QTableWidgetItem(rule.name)
            name.setFlags(name.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            name.setCheckState(Qt.CheckState.Checked if rule.enabled else Qt.CheckState.Unchecked)
            self.table.setItem(row, NAME, name)
            self.table.setItem(row, FILTER, QTableWidgetItem(rule.filter_text))
            swatch = QTableWidgetItem(f"  {rule.name}  ")
            swatch.setFlags(swatch.flags() & ~Qt.ItemFlag.ItemIsEditable)
            background, foreground = rule.colours(self._dark)
            swatch.setBackground(QBrush(QColor(background)))
            swatch.setForeground(QBrush(QColor(foreground)))
            self.table.setItem(row, COLOURS, swatch)
            self._mark_filter(row)
        self.table.blockSignals(False)

    def _mark_filter(self, row: int) -> None:
        item = self.table.item(row, FILTER)
        if item is None:
            return
        error = check(item.text())
        item.setForeground(QBrush(QColor("#c62828")) if error else QBrush())
        item.setToolTip(error.message if error else "")

    def _on_table_item_changed(self, item: QTableWidgetItem) -> None:
        row = item.row()
        if not 0 <= row < len(self._rules):
            return
        rule = self._rules[row]
        if item.column() == NAME:
            rule = replace(
                rule,
                name=item.text().strip() or rule.name,
                enabled=item.checkState() == Qt.CheckState.Checked,
                error=None,
            )
        elif item.column() == FILTER:
            rule = replace(rule, filter_text=item.text(), error=None)
            self._mark_filter(row)
            error = check(item.text())
            self.status.setText(f"Row {row + 1}: {error.message}" if error else "Filter is valid.")
        self._rules[row] = rule

    def _on_table_cell_double_clicked(self, row: int, column: int) -> None:
        if column != COLOURS:
            return
        rule = self._rules[row]
        background, foreground = rule.colours(self._dark)
        chosen = QColorDialog.getColor(QColor(background), self, f"Background of “{rule.name}”")
        if not chosen.isValid():
            return
        text = QColorDialog.getColor(QColor(foreground), self, f"Text colour of “{rule.name}”")
        new_foreground = text.name() if text.isValid() else foreground
        if self._dark:
            self._rules[row] = replace(rule, dark_background=chosen.name(), dark_foreground=new_foreground)
        else:
            self._rules[row] = replace(rule, background=chosen.name(), foreground=new_foreground)
        self._fill()

    def _add(self) -> None:
        self._rules.append(ColourRule("New rule", 'trigger == "validate-order"', "#E0F0FF", "#102040"))
        self._fill()
        self.table.selectRow(len(self._rules) - 1)

    def _remove(self) -> None:
        row = self.table.currentRow()
        if 0 <= row < len(self._rules):
            del self._rules[row]
            self._fill()

    def _move(self, step: int) -> None:
        row = self.table.currentRow()
        target = row + step
        if 0 <= row < len(self._rules) and 0 <= target < len(self._rules):
            self._rules[row], self._rules[target] = self._rules[target], self._rules[row]
            self._fill()
            self.table.selectRow(target)

    def _reset(self) -> None:
        self._rules = list(DEFAULT_RULES)
        self._fill()
