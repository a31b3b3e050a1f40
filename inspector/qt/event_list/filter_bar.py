"""The display filter bar: Wireshark's, for events. Checks the expression as it is typed (green when it compiles,
red with the error underlined when not), completes field names, keeps a history, and applies on Enter.

Owns only the editing; compiling is `inspector.core.filter`'s, and the event list model applies the filter.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QSettings, QStringListModel, Qt, Signal
from PySide6.QtGui import QAction, QColor, QKeyEvent, QKeySequence, QPalette
from PySide6.QtWidgets import QCompleter, QHBoxLayout, QLabel, QLineEdit, QListView, QToolButton, QWidget

from inspector.core.filter import FIELDS, FilterError, complete
from inspector.core.filter.completion import completion_start
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
        # The candidates are `complete`'s, already chosen for the word at the cursor (an alias such as `event_id`
        # offers `id`, which does not start with it): the completer shows them unfiltered.
        self.completer.setCompletionMode(QCompleter.CompletionMode.UnfilteredPopupCompletion)
        self.completer.setWidget(self.edit)
        self.popup = QListView()
        self.completer.setPopup(self.popup)  # the completer owns it
        self.completer.activated.connect(self._insert_completion)
        # Tab completes (Wireshark's habit) instead of moving the focus to Apply: seen before QLineEdit and before
        # QCompleter's own filter on its pop-up.
        self.edit.installEventFilter(self)
        self.popup.installEventFilter(self)

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
        if options and prefix and options != [prefix]:
            self._show_completions(options)
        else:
            self.popup.hide()

    def _show_completions(self, options: list[str]) -> None:
        self._words.setStringList(options)
        self.completer.complete()  # nothing highlighted: Enter still applies the filter; Tab takes the first

    def _completions(self, text: str) -> tuple[str, list[str]]:
        cursor = self.edit.cursorPosition()
        start = completion_start(text, cursor)
        return text[start:cursor], complete(text, cursor)

    def _insert_completion(self, word: str) -> None:
        text = self.edit.text()
        cursor = self.edit.cursorPosition()
        start = completion_start(text, cursor)
        self.edit.setText(text[:start] + word + text[cursor:])
        self.edit.setCursorPosition(start + len(word))
        self.check(self.edit.text())

    def complete_at_cursor(self) -> bool:
        """Tab: take the highlighted (else the first) completion when the pop-up is open; else complete the word at
        the cursor, to the one candidate or to what all candidates share (showing them). False: nothing to
        complete (Tab then moves the focus as usual)."""
        popup = self.popup
        if popup.isVisible():
            index = popup.currentIndex()
            if not index.isValid():
                index = self.completer.completionModel().index(0, 0)
            popup.hide()
            if index.isValid():
                self._insert_completion(str(index.data()))
                return True
        prefix, options = self._completions(self.edit.text())
        if not prefix or not options or options == [prefix]:
            return False
        if len(options) == 1:
            self._insert_completion(options[0])
            return True
        shared = _shared_start([o.lower() for o in options])
        if len(shared) > len(prefix) and all(o.lower().startswith(prefix.lower()) for o in options):
            self._insert_completion(options[0][: len(shared)])
        self._show_completions(options)
        return True

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_Tab
            and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
            and (watched is self.edit or watched is self.popup)
            and self.complete_at_cursor()
        ):
            return True
        return super().eventFilter(watched, event)

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


def _shared_start(words: list[str]) -> str:
    """The longest start all `words` share."""
    first, last = min(words), max(words)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    return first[:n]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _underline(text: str, start: int | None, end: int | None) -> str:
    if start is None:
        return text
    end = max(start + 1, end or start + 1)
    return text + "\n" + " " * start + "^" * min(end - start, max(1, len(text) - start))
