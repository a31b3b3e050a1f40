"""View ▸ Time display format, as Wireshark's: time of day (local or UTC), seconds since capture start, seconds since
the previous event. The choice is kept in settings (`view/time_format`).

Owns the menu and the setting; the event list's model renders the Time column in the chosen format
(`EventTableModel.set_time_format`, texts from `inspector.core.time_format`). Built by `qt/window/main_window.py`.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings, Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QWidget

from inspector.core.time_format import TimeFormat

SETTING = "view/time_format"
SHORTCUTS = {
    TimeFormat.LOCAL: "Ctrl+Alt+1",
    TimeFormat.UTC: "Ctrl+Alt+2",
    TimeFormat.SINCE_START: "Ctrl+Alt+3",
    TimeFormat.SINCE_PREVIOUS: "Ctrl+Alt+4",
}
"""Wireshark's are Ctrl+Alt+1 … for its time formats too."""


class TimeFormatMenu(QMenu):
    """One checkable action per format; `formatChosen` when the user picks one (stored first)."""

    formatChosen = Signal(object)
    """The `TimeFormat` chosen."""

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__("&Time display format", parent)
        self.settings = settings
        self.group = QActionGroup(self)
        self.group.setExclusive(True)
        self.actions_by_format: dict[TimeFormat, QAction] = {}
        current = self.current()
        for fmt in TimeFormat:
            action = QAction(fmt.label, self)
            action.setCheckable(True)
            action.setChecked(fmt is current)
            action.setShortcut(SHORTCUTS[fmt])
            action.triggered.connect(lambda _checked=False, f=fmt: self.choose(f))
            self.group.addAction(action)
            self.addAction(action)
            self.actions_by_format[fmt] = action

    def current(self) -> TimeFormat:
        """The format kept in settings (local time of day when none)."""
        return TimeFormat.from_text(self.settings.value(SETTING))

    def choose(self, fmt: TimeFormat) -> None:
        self.settings.setValue(SETTING, fmt.value)
        self.actions_by_format[fmt].setChecked(True)
        self.formatChosen.emit(fmt)
