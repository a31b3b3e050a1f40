"""The colour legend of the status bar: the colouring rules as small swatches, as many as fit, and a "Legend…" button
whose pop-up lists every rule with its colours and filter. A fixed row of every swatch was cut off at 1366 px once
there were more rules than fit; this one never widens the window.

Owns the swatches and the pop-up; the rules come from the event list model (`ColourRule`, first match wins). Used by
`inspector.qt.window.main_window`.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMenu, QSizePolicy, QToolButton, QWidget, QWidgetAction

from inspector.core.colouring import ColourRule

SWATCH_PAD = 10
"""Pixels a swatch takes beyond its name's width (the non-breaking spaces around it, the gap)."""


def swatch(rule: ColourRule, dark: bool) -> str:
    """One rule as a coloured name (rich text)."""
    background, foreground = rule.colours(dark)
    name = html.escape(rule.name, quote=False)
    return f"<span style='background:{background}; color:{foreground}'>&nbsp;{name}&nbsp;</span>"


class ColourLegend(QWidget):
    """Swatches of the enabled colouring rules that fit, and "Legend…" listing them all."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.swatches = QLabel(self)
        self.swatches.setTextFormat(Qt.TextFormat.RichText)
        self.swatches.setMinimumWidth(1)
        self.swatches.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.button = QToolButton(self)
        self.button.setText("Legend…")
        self.button.setToolTip("Row colours: every colouring rule, first match wins (View ▸ Colouring rules to edit)")
        self.button.setAutoRaise(True)
        self.button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.menu = QMenu(self.button)
        self.list = QLabel(self.menu)
        self.list.setTextFormat(Qt.TextFormat.RichText)
        self.list.setMargin(8)
        action = QWidgetAction(self.menu)
        action.setDefaultWidget(self.list)
        self.menu.addAction(action)
        self.button.setMenu(self.menu)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 4, 0)
        layout.setSpacing(4)
        layout.addWidget(self.swatches, 1)
        layout.addWidget(self.button)
        self.setToolTip("Row colours (first matching rule wins)")
        self._rules: list[ColourRule] = []
        self._dark = False
        self.shown = 0
        """How many swatches fit in the status bar now (the rest are in the pop-up)."""

    def set_rules(self, rules: Sequence[ColourRule], dark: bool) -> None:
        """Show these rules (the disabled ones are left out) in this palette."""
        self._rules = [rule for rule in rules if rule.enabled]
        self._dark = dark
        rows = "".join(
            f"<tr><td>{swatch(rule, dark)}</td><td>&nbsp;<code>{html.escape(rule.filter_text, quote=False)}</code>"
            "</td></tr>"
            for rule in self._rules
        )
        self.list.setText(
            f"<b>Row colours</b> (the first rule an event matches colours it)<table cellspacing='4'>{rows}</table>"
            if rows
            else "No colouring rules are on."
        )
        self.button.setVisible(bool(self._rules))
        self.updateGeometry()  # the status bar asks the size hint again: room for the new swatches
        self._fit()

    def text(self) -> str:
        """Every enabled rule's swatch (rich text), whether or not it fits."""
        return " ".join(swatch(rule, self._dark) for rule in self._rules)

    def sizeHint(self) -> QSize:
        # Asks for room for every swatch, but takes less (its minimum is the button alone): never widens the window.
        metrics = self.swatches.fontMetrics()
        wanted = sum(metrics.horizontalAdvance(rule.name) + SWATCH_PAD for rule in self._rules)
        return QSize(wanted + self.button.sizeHint().width() + 8, self.button.sizeHint().height())

    def minimumSizeHint(self) -> QSize:
        return QSize(self.button.sizeHint().width() + 4, self.button.sizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        """As many whole swatches as the label has room for, in the rules' order."""
        room = self.swatches.width() if self.isVisible() else self.sizeHint().width()
        metrics = self.swatches.fontMetrics()
        used, shown = 0, 0
        for rule in self._rules:
            width = metrics.horizontalAdvance(rule.name) + SWATCH_PAD
            if used + width > room:
                break
            used += width
            shown += 1
        self.shown = shown
        self.swatches.setText(" ".join(swatch(rule, self._dark) for rule in self._rules[:shown]))
