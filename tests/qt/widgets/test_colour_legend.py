"""The status bar's colour legend: as many swatches as fit, every rule in the Legend… pop-up, never wider than the
window at 1366 px however many colouring rules there are. Sync pytest-qt tests."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from PySide6.QtCore import QRect

from inspector.core.colouring import DEFAULT_RULES
from inspector.qt.widgets.colour_legend import ColourLegend
from inspector.qt.window.main_window import MainWindow
from tests.helpers.window import small_capture

MANY = [
    *DEFAULT_RULES,
    *(
        dataclasses.replace(DEFAULT_RULES[0], name=f"Trigger rule number {n}", filter_text=f'trigger == "t{n}"')
        for n in range(8)
    ),
]


def test_the_swatches_that_fit_and_every_rule_in_the_popup(qtbot: Any) -> None:
    legend = ColourLegend()
    qtbot.addWidget(legend)
    legend.resize(420, 24)
    legend.show()
    qtbot.waitExposed(legend)
    legend.set_rules(MANY, dark=False)
    assert 0 < legend.shown < len(MANY)
    assert legend.button.isVisible()
    popup = legend.list.text()
    assert all(rule.name in popup for rule in MANY) and 'trigger == "t7"' in popup
    assert all(rule.name in legend.text() for rule in MANY)
    legend.resize(4000, 24)
    qtbot.waitUntil(lambda: legend.shown == len(MANY))
    legend.set_rules([dataclasses.replace(r, enabled=False) for r in MANY], dark=True)
    assert legend.shown == 0 and not legend.button.isVisible()


def test_many_rules_do_not_widen_the_window_at_1366(window: MainWindow, tmp_path: Path, qtbot: Any) -> None:
    path = tmp_path / "small.inspector"
    small_capture(path)
    window.open_capture(path)
    qtbot.waitUntil(lambda: window.model is not None, timeout=5000)
    assert window.model is not None
    window.model.set_rules(MANY)
    window._show_legend()
    window.fit_to_screen(QRect(0, 0, 1366, 768))
    qtbot.wait(50)
    assert window.width() <= 1366
    right = window.legend.mapTo(window, window.legend.rect().bottomRight()).x()
    assert right <= window.width()
    assert window.legend.button.isVisible() and window.legend.shown < len(MANY)
    # on a wide screen the default rules all show beside the button
    window.model.set_rules(DEFAULT_RULES)
    window._show_legend()
    window.fit_to_screen(QRect(0, 0, 1920, 1080))
    qtbot.waitUntil(lambda: window.legend.shown == len([r for r in DEFAULT_RULES if r.enabled]), timeout=2000)
