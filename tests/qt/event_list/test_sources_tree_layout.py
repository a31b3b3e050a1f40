"""The sources tree at 200 % scaling (issue 11, layout): on a 1920x1080 screen at QT_SCALE_FACTOR=2 the window has
960x540 to share out, and the tree's first column still shows a long trigger name whole ("restaurant-approval", not
"validat…"); narrower than that, a name is cut in its middle and its tooltip gives it whole.

Synchronous pytest-qt tests only (shared/reference/qt-stack.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtWidgets import QTreeWidgetItem

from inspector.qt.event_list.sources_tree import NAME_SAMPLE, SourcesTree
from inspector.qt.window.main_window import MainWindow
from inspector.store.reader import CaptureReader
from tests.helpers.captures import build_sample

SCREENS = {
    "1920x1080 at 200 %": QRect(0, 0, 960, 540),
    "1366x768": QRect(0, 0, 1366, 768),
    "1920x1080": QRect(0, 0, 1920, 1080),
}


def _names(tree: SourcesTree) -> list[QTreeWidgetItem]:
    triggers = tree.topLevelItem(0)
    assert triggers is not None
    return [child for i in range(triggers.childCount()) if (child := triggers.child(i)) is not None]


@pytest.mark.parametrize("screen", list(SCREENS))
def test_a_long_trigger_name_is_shown_whole_in_the_first_layout(
    window: MainWindow, tmp_path: Path, qtbot: Any, screen: str
) -> None:
    path = tmp_path / "sample.inspector"
    build_sample(path).close()
    window.fit_to_screen(SCREENS[screen])
    assert window.open_capture(path)
    tree = window.sources
    qtbot.waitUntil(lambda: any(item.text(0) == NAME_SAMPLE for item in _names(tree)), timeout=5000)
    qtbot.wait(50)
    room = tree.columnWidth(0) - 2 * tree.indentation()
    needed = tree.fontMetrics().horizontalAdvance(NAME_SAMPLE)
    assert room >= needed, (room, needed)
    # the counts stay on screen beside it
    assert sum(tree.columnWidth(c) for c in range(4)) <= tree.viewport().width()
    # and the event list keeps most of the width
    assert tree.width() <= window.width() * 2 // 5


def test_a_name_too_long_for_the_room_is_cut_in_the_middle_with_its_tooltip(qtbot: Any, tmp_path: Path) -> None:
    path = tmp_path / "sample.inspector"
    build_sample(path).close()
    tree = SourcesTree()
    qtbot.addWidget(tree)
    reader = CaptureReader.open(path)
    try:
        tree.refresh(reader)
        qtbot.waitUntil(lambda: any(item.text(0) == NAME_SAMPLE for item in _names(tree)), timeout=5000)
    finally:
        reader.close()
    assert tree.textElideMode() == Qt.TextElideMode.ElideMiddle
    (item,) = [item for item in _names(tree) if item.text(0) == NAME_SAMPLE]
    assert item.toolTip(0).startswith(f"{NAME_SAMPLE}: show only ")
    assert tree.sizeHint().width() >= tree.wanted_width() > tree.fontMetrics().horizontalAdvance(NAME_SAMPLE)
