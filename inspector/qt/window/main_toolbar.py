"""The main toolbar, as Wireshark's: the buttons a user reaches for all day, beside the connection bar (which holds
the connection profile, Start / Stop capture and Follow new events).

Owns the toolbar's arrangement and icons; the actions themselves are the window's menu actions (one action, one
shortcut, whether triggered from a menu or here). Built by `qt/window/main_window.py`.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QStyle, QToolBar, QWidget

ICONS: dict[str, QStyle.StandardPixmap] = {
    "open": QStyle.StandardPixmap.SP_DialogOpenButton,
    "save": QStyle.StandardPixmap.SP_DialogSaveButton,
    "capture": QStyle.StandardPixmap.SP_MediaPlay,
    "follow": QStyle.StandardPixmap.SP_ArrowDown,
    "replay": QStyle.StandardPixmap.SP_BrowserReload,
    "retry_failed": QStyle.StandardPixmap.SP_MediaSeekForward,
    "go_to": QStyle.StandardPixmap.SP_ArrowRight,
    "statistics": QStyle.StandardPixmap.SP_FileDialogDetailedView,
}
"""Standard icons (every platform style has them) by the role of the action."""


class MainToolbar(QToolBar):
    """One row of buttons: groups of (role, action, short label), separated; each keeps its action's tooltip and
    shortcut. `set_capturing` swaps the capture button's icon between start and stop."""

    def __init__(self, groups: Sequence[Sequence[tuple[str, QAction, str]]], parent: QWidget | None = None) -> None:
        super().__init__("Main toolbar", parent)
        self.setObjectName("main_toolbar")
        self.setMovable(False)
        self.setIconSize(QSize(16, 16))
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.buttons: dict[str, QAction] = {}
        for number, group in enumerate(groups):
            if number:
                self.addSeparator()
            for role, action, label in group:
                self._add(role, action, label)

    def _add(self, role: str, action: QAction, label: str) -> None:
        # A toolbar twin of the menu action: the short label here, the menu keeps its longer text.
        style = self.style()
        if role in ICONS and action.icon().isNull():
            action.setIcon(style.standardIcon(ICONS[role]))
        if not action.toolTip() or action.toolTip() == action.text().replace("&", ""):
            shortcut = action.shortcut().toString(action.shortcut().SequenceFormat.NativeText)
            action.setToolTip(action.text().replace("&", "").rstrip("…") + (f" ({shortcut})" if shortcut else ""))
        action.setIconText(label)
        self.addAction(action)
        self.buttons[role] = action

    def set_capturing(self, capturing: bool) -> None:
        action = self.buttons.get("capture")
        if action is None:
            return
        pixmap = QStyle.StandardPixmap.SP_MediaStop if capturing else QStyle.StandardPixmap.SP_MediaPlay
        action.setIcon(self.style().standardIcon(pixmap))
        action.setIconText("Stop" if capturing else "Start")
