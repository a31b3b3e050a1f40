"""The waterfall of one flow (issue 14, missing; Inngest's run view): queue delay, each attempt and each retry wait as
separate bars on one time axis, following the flow the flows panel is given. Layout tested without painting; the view
and the panel driven offscreen with qtbot (sync tests only)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor
from pytestqt.qtbot import QtBot

from inspector.core.flows import Flow, FlowStep
from inspector.qt.pictures.flows_dock import TAB_NAMES, WATERFALL_TAB, FlowsPanel
from inspector.qt.pictures.picture_style import FAILED
from inspector.qt.pictures.waterfall import QUEUE_COLOUR, WaterfallView, nice_step, waterfall_rows

T0 = 1_764_139_501.0
E1, E2 = "e86a4ae0-0000-4000-8000-000000000001", "e86a4ae0-0000-4000-8000-000000000002"


def retried_flow() -> Flow:
    """insert → validate-order: queued 52 ms, 500 after 2.3 s, retry wait, 200 after 84 ms, then a replay; a write
    and a subscription update; process-payment with an estimated first attempt (from the event's creation)."""
    steps = (
        FlowStep("write", T0, "client", "table:orders", "insert_orders_one"),
        FlowStep("event", T0, "table:orders", "trigger:validate-order", "INSERT event e86a4ae0", event_id=E1),
        FlowStep(
            "invocation",
            T0 + 2.364,
            "trigger:validate-order",
            "handler:validate-order",
            "attempt 1: HTTP 500",
            event_id=E1,
            http_status=500,
            duration_ms=2312.0,
            outcome="handler_error",
        ),
        FlowStep(
            "invocation",
            T0 + 10.371,
            "trigger:validate-order",
            "handler:validate-order",
            "attempt 2: HTTP 200",
            event_id=E1,
            http_status=200,
            duration_ms=84.0,
            outcome="ok",
            marks=("retry",),
        ),
        FlowStep(
            "invocation",
            T0 + 12.0,
            "trigger:validate-order",
            "handler:validate-order",
            "replay: HTTP 200",
            event_id=E1,
            http_status=200,
            duration_ms=40.0,
            outcome="ok",
            marks=("replay",),
        ),
        FlowStep("write", T0 + 10.452, "handler:validate-order", "table:orders", "UPDATE order_valid = true"),
        FlowStep("message", T0 + 10.46, "table:orders", "subscription:order_status", "order_status update"),
        FlowStep("event", T0 + 10.463, "table:orders", "trigger:process-payment", "UPDATE event e86a4ae0", event_id=E2),
        FlowStep(
            "invocation",
            T0 + 10.6,
            "trigger:process-payment",
            "handler:process-payment",
            "attempt 1: HTTP 200",
            event_id=E2,
            http_status=200,
            duration_ms=137.0,
            outcome="ok",
        ),
    )
    return Flow(key="o-42", key_name="order_id", steps=steps, lanes=())


def test_an_events_row_holds_its_queue_delay_attempts_and_retry_waits() -> None:
    rows = waterfall_rows(retried_flow())
    assert [r.label for r in rows] == [
        "orders: insert_orders_one",
        "validate-order: INSERT event e86a4ae0",
        "orders: UPDATE order_valid = true",
        "order_status: order_status update",
        "process-payment: UPDATE event e86a4ae0",
    ]
    validate = rows[1]
    assert [b.kind for b in validate.bars] == ["queue", "attempt", "wait", "attempt", "replay"]
    queue, first, wait, second, _replay = validate.bars
    assert queue.start == T0 and queue.end == pytest.approx(T0 + 0.052) and queue.colour == QUEUE_COLOUR
    assert first.colour == FAILED.colour and "2.31 s" in first.text
    assert wait.start == pytest.approx(T0 + 2.364) and wait.end == pytest.approx(T0 + 10.287)
    assert wait.text == "retry wait before attempt 2: 7.92 s"
    assert second.colour != FAILED.colour
    payment = rows[4]
    assert [b.kind for b in payment.bars] == ["attempt"]  # estimated from creation: no queue bar of its own
    assert "queue + attempt" in payment.bars[0].text
    assert rows[0].bars[0].kind == "point"
    assert nice_step(12.0) == 2.0 and nice_step(0.3) == 0.05


def test_the_view_paints_the_bars_and_a_click_selects_the_event(qtbot: QtBot) -> None:
    view = WaterfallView()
    qtbot.addWidget(view)
    view.resize(1000, 300)
    view.show_flow(retried_flow())
    view.show()
    qtbot.waitExposed(view)
    image = view.grab().toImage()
    start, end = view.span()
    y = int(view.MARGIN + view.AXIS + 1.5 * view.ROW)  # the validate-order row
    x = int(view._x(T0 + 1.0, start, end))  # inside attempt 1
    assert image.pixelColor(x, y) == QColor(FAILED.colour)
    bar = view.bar_at(QPointF(view._x(T0 + 6.0, start, end), y))
    assert bar is not None and bar.kind == "wait"
    with qtbot.waitSignal(view.eventSelected, timeout=1000) as blocker:
        qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=QPointF(50, y).toPoint())
    assert blocker.args == [E1] and view.selected_event == E1


def test_the_flows_panel_shows_the_selected_flow_as_a_waterfall(qtbot: QtBot, tmp_path: Path) -> None:
    panel = FlowsPanel()
    qtbot.addWidget(panel)
    panel.resize(1200, 600)
    panel.show_flow(retried_flow())
    panel.select_event(E2)
    panel.show()
    panel.show_tab("waterfall")
    assert "waterfall" in TAB_NAMES and panel.tabs.tabText(WATERFALL_TAB) == "Waterfall"
    qtbot.waitUntil(panel.waterfall.view.isVisible, timeout=2000)
    assert len(panel.waterfall.view.rows) == 5 and panel.waterfall.view.selected_event == E2
    assert panel.default_file_name("png") == "waterfall-o-42.png"
    written = panel.export_current(tmp_path / "waterfall.png")
    assert written.stat().st_size > 1000
    with qtbot.waitSignal(panel.eventSelected, timeout=1000) as blocker:
        panel.waterfall.view.eventSelected.emit(E1)
    assert blocker.args == [E1]
    panel.show_flow(None)
    assert panel.waterfall.view.rows == []
