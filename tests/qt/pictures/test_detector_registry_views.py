"""A registered anomaly detector is drawn with its look by the flow pictures and listed by the anomalies panel, with
no edit to either (`inspector.services.analysis.detectors`; the services side of the registry is in
`tests/services/analysis/test_detector_registry.py`). Sync pytest-qt tests (shared/reference/qt-stack.md)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot

from inspector.core.flows import Anomaly
from inspector.qt.pictures.anomalies_panel import AnomaliesPanel, kind_title, kind_titles
from inspector.qt.pictures.picture_style import mark_style, ordered_marks
from tests.helpers.detectors import registered_test_detectors


@pytest.fixture
def registered() -> Iterator[None]:
    with registered_test_detectors():
        yield


@pytest.mark.usefixtures("registered")
def test_a_registered_detector_is_drawn_with_its_look() -> None:
    style = mark_style("slow-answer")
    assert (style.badge, style.title, style.colour) == ("slow", "Slow answer", "#335577")
    assert ordered_marks(["retry", "unattempted", "slow-answer", "failed"]) == (
        "failed",
        "slow-answer",
        "retry",
        "unattempted",
    )


@pytest.mark.usefixtures("registered")
def test_the_anomalies_panel_lists_a_registered_kind(qtbot: QtBot) -> None:
    assert kind_title("unattempted") == "Never attempted" and "slow-answer" in kind_titles()
    panel = AnomaliesPanel()
    qtbot.addWidget(panel)
    panel.show_anomalies([Anomaly("unattempted", "info", "never attempted", "e1", "t", None, 0.0)])
    group = panel.topLevelItem(0)
    assert group is not None and group.text(0).startswith("Never attempted · 1 info")
    assert group.toolTip(0) == "No delivery attempt was logged."
