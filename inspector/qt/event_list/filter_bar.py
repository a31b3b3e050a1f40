"""The display filter bar: Wireshark's, for events. Checks the expression as it is typed (green when it compiles,
red with the error underlined when not), completes field names, keeps a history, and applies on Enter.

Owns only the editing; compiling is `inspector.core.filter`'s, and the event list model applies the filter.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings, QStringListModel, Qt, Signal
from PySide6.QtGui import QAction, QColor, QKeySequence, QPalette
from PySide6.QtWidgets import QCompleter, QHBoxLayout, QLabel, QLineEdit, QToolButton, QWidget

from inspector.core.filter import FIELDS, FilterError, complete
from inspector.store.filter_sql import compile_filter

HISTORY_KEY = "filter/history"
HISTORY_SIZE = 30


class FilterBar(QWidget):
    """A line edit for display filters with Apply, Clear and a recent-filters menu."""

    filterApplied = Signal(str)
    """The user applied this (valid) filter text; empty text means no filter."""

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        self.edit = QLineEdit(self)
        self.edit.setClearButtonEnabled(True)
        self.edit.setPlaceholderText(
            'Apply a display filter … <Ctrl-/>   e.g. trigger == "validate-order" and http_status >= 500'
        )
        self.edit.setAccessibleName("Display filter")
        self.status = QLabel(self)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.apply_button = QToolButton(self)
        self.apply_button.setText("Apply")
        self.apply_button.setToolTip("Apply the display filter (Enter)")
        self.history_button = QToolButton(self)
        self.history_button.setText("Recent")
        self.history_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.history_button.setToolTip("Recently applied filters")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.addWidget(QLabel("Filter:", self))
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.apply_button)
        layout.addWidget(self.history_button)
        layout.addWidget(self.status)

        self._words = QStringListModel(sorted(FIELDS), self)
        self.completer = QCompleter(self._words, self)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.completer.setWidget(self.edit)
        self.completer.activated.connect(self._insert_completion)

        self.edit.textEdited.connect(self._on_edit_text_edited)
        self.edit.returnPressed.connect(self.apply)
        self.apply_button.clicked.connect(self.apply)
        focus = QAction("Focus the display filter", self)
        focus.setShortcut(QKeySequence("Ctrl+/"))
        focus.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        focus.triggered.connect(self.focus_filter)
        self.addAction(focus)
        self._history: list[str] = []
        if settings is not None:
            stored = settings.value(HISTORY_KEY, [])
            self._history = [str(h) for h in (stored if isinstance(stored, list) else [stored]) if h]
        self._rebuild_history_menu()
        self.valid = True

    # --- checking as typed ---------------------------------------------------------------------------------------

    def _on_edit_text_edited(self, text: str) -> None:
        self.check(text)
        prefix, options = self._completions(text)
        if options and prefix:
            self._words.setStringList(options)
            self.completer.setCompletionPrefix(prefix)
            if self.completer.completionCount():
                self.completer.complete()
        else:
            popup = self.completer.popup()
            if popup is not None:
                popup.hide()

    def _completions(self, text: str) -> tuple[str, list[str]]:
        cursor = self.edit.cursorPosition()
        start = cursor
        while start > 0 and (text[start - 1].isalnum() or text[start - 1] in "._-"):
            start -= 1
        prefix = text[start:cursor]
        return prefix, complete(text, cursor)

    def _insert_completion(self, word: str) -> None:
        text = self.edit.text()
        cursor = self.edit.cursorPosition()
        start = cursor
        while start > 0 and (text[start - 1].isalnum() or text[start - 1] in "._-"):
            start -= 1
        self.edit.setText(text[:start] + word + text[cursor:])
        self.edit.setCursorPosition(start + len(word))
        self.check(self.edit.text())

    def check(self, text: str) -> bool:
        """Colour the bar for `text`; returns whether it compiles."""
        palette = self.edit.palette()
        base = self.palette().color(QPalette.ColorRole.Base)
        dark = base.lightness() < 128
        if not text.strip():
            self.edit.setPalette(self.palette())
            self.status.setText("")
            self.edit.setToolTip("")
            self.valid = True
            return True
        try:
            compile_filter(text)
        except FilterError as error:
            palette.setColor(QPalette.ColorRole.Base, QColor("#5c1f1f" if dark else "#ffd6d6"))
            self.edit.setPalette(palette)
            where = f" (at {error.start + 1})" if error.start is not None else ""
            self.status.setText(f"<span style='color:#c62828'>{_escape(error.message)}{where}</span>")
            self.edit.setToolTip(_underline(text, error.start, error.end) + "\n" + error.message)
            self.valid = False
            return False
        palette.setColor(QPalette.ColorRole.Base, QColor("#1f4d2a" if dark else "#d9f7d9"))
        self.edit.setPalette(palette)
        self.status.setText("")
        self.edit.setToolTip("")
        self.valid = True
        return True

    # --- applying --------------------------------------------------------------------------------------------------

    def focus_filter(self) -> None:
        self.edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.edit.selectAll()

    def set_text(self, text: str, apply: bool = True) -> None:
        self.edit.setText(text)
        self.check(text)
        if apply:
            self.apply()

    def apply(self) -> None:
        text = self.edit.text().strip()
        if not self.check(text):
            return
        if text:
            self._remember(text)
        self.filterApplied.emit(text)

    def _remember(self, text: str) -> None:
        if text in self._history:
            self._history.remove(text)
        self._history.insert(0, text)
        del self._history[HISTORY_SIZE:]
        if self._settings is not None:
            self._settings.setValue(HISTORY_KEY, self._history)
        self._rebuild_history_menu()

    def _rebuild_history_menu(self) -> None:
        from PySide6.QtWidgets import QMenu

        menu = QMenu(self)
        if not self._history:
            empty = menu.addAction("No filters applied yet")
            empty.setEnabled(False)
        for text in self._history:
            action = menu.addAction(text)
            action.triggered.connect(lambda _=False, t=text: self.set_text(t))
        self.history_button.setMenu(menu)

    @property
    def history(self) -> list[str]:
        return list(self._history)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _underline(text: str, start: int | None, end: int | None) -> str:
    if start is None:
        return text
    end = max(start + 1, end or start + 1)
    return text + "\n" + " " * start + "^" * min(end - start, max(1, len(text) - start))
