"""Go to event (Ctrl+G), as Wireshark's Go ▸ Go to Packet: ask for an event's number (the list's No. column).

Owns the small dialog only; the window (`MainWindow.go_to_event`) finds the row and says when the display filter hides
the event or the capture has no such number.
"""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QSpinBox, QWidget


class GoToDialog(QDialog):
    """Asks for an event number between `lowest` and `highest`; `number()` is the one chosen."""

    def __init__(self, lowest: int, highest: int, current: int | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Go to event")
        self.spin = QSpinBox(self)
        self.spin.setRange(max(1, lowest), max(1, lowest, highest))
        self.spin.setValue(current if current is not None else self.spin.minimum())
        self.spin.selectAll()
        lowest, highest = self.spin.minimum(), self.spin.maximum()
        hint = QLabel(f"The event's number in the No. column ({lowest:,} to {highest:,}).", self)
        hint.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Go")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QFormLayout(self)
        layout.addRow("Event number:", self.spin)
        layout.addRow(hint)
        layout.addRow(buttons)

    def number(self) -> int:
        return int(self.spin.value())
