"""The flow pictures: sequence diagram, service map, timeline, anomalies panel, their export and the flows panel.

Layouts are tested without a window (pure functions of hand-built `Flow`, `ServiceEdge`, `TriggerStats` and `Anomaly`
values, measured with a fixed-width estimate); views are driven offscreen with qtbot (sync tests only: see the
qt-stack reference on qtbot inside async tests).
"""

from __future__ import annotations

import itertools
import math
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QFontMetricsF, QImage, QMouseEvent, QPainter, QWheelEvent
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication, QGraphicsScene, QGraphicsTextItem, QTreeWidget, QTreeWidgetItem
from pytestqt.qtbot import QtBot

from inspector.core.flows import Anomaly, Flow, FlowStep, ServiceEdge, TriggerStats
from inspector.qt.pictures.anomalies_panel import AnomaliesPanel, group_anomalies
from inspector.qt.pictures.export import ExportError, export_picture
from inspector.qt.pictures.flows_dock import ANOMALIES_TAB, TAB_NAMES, FlowsPanel, timeline_rows
from inspector.qt.pictures.picture_style import (
    MARKS,
    STEP_COLOURS,
    error_rate_colour,
    estimate_width,
    format_ms,
    on_dark,
    split_lane,
)
from inspector.qt.pictures.plot_axes import clock_label, time_ticks
from inspector.qt.pictures.sequence_diagram import SequenceDiagramView, layout_sequence, step_marks, wrap_title
from inspector.qt.pictures.service_map import ServiceMapView, layout_service_map
from inspector.qt.pictures.timeline import EVENTS_COLOUR, TimelineView, buckets_from_rows, series, time_filter
from inspector.store.filter_sql import compile_filter

T0 = 1_764_139_501.0
LANES = (
    "client",
    "table:orders",
    "trigger:validate-order",
    "handler:validate-order",
    "trigger:process-payment",
    "handler:process-payment",
    "subscription:order_status",
)
E1, E2 = "e86a4ae0-0000-4000-8000-000000000001", "e86a4ae0-0000-4000-8000-000000000002"


def order_flow() -> Flow:
    """client insert → validate-order (500 on a cold handler, retry 200) → write → process-payment delivered twice."""
    steps = (
        FlowStep("write", T0, "client", "table:orders", "insert_orders_one"),
        FlowStep("event", T0 + 0.004, "table:orders", "trigger:validate-order", "INSERT → event", event_id=E1),
        FlowStep(
            "invocation",
            T0 + 0.052,
            "trigger:validate-order",
            "handler:validate-order",
            "POST /validate-order → 500",
            event_id=E1,
            invocation_id="i1",
            http_status=500,
            duration_ms=2312.0,
            marks=("cold-start",),
        ),
        FlowStep(
            "invocation",
            T0 + 10.371,
            "trigger:validate-order",
            "handler:validate-order",
            "POST /validate-order → 200",
            event_id=E1,
            invocation_id="i2",
            http_status=200,
            duration_ms=84.0,
            marks=("retry",),
        ),
        FlowStep("write", T0 + 10.452, "handler:validate-order", "table:orders", "UPDATE order_valid = true"),
        FlowStep("message", T0 + 10.46, "table:orders", "subscription:order_status", "order_status update"),
        FlowStep(
            "event",
            T0 + 10.463,
            "table:orders",
            "trigger:process-payment",
            "UPDATE → event",
            event_id=E2,
            marks=("out-of-order",),
        ),
        FlowStep(
            "invocation",
            T0 + 10.5,
            "trigger:process-payment",
            "handler:process-payment",
            "POST /process-payment → 200",
            event_id=E2,
            http_status=200,
        ),
        FlowStep(
            "invocation",
            T0 + 10.7,
            "trigger:process-payment",
            "handler:process-payment",
            "POST /process-payment → 200",
            event_id=E2,
            http_status=200,
            marks=("duplicate",),
        ),
    )
    return Flow(key="o-42", key_name="order_id", steps=steps, lanes=LANES)


def long_flow(count: int) -> Flow:
    steps = tuple(
        FlowStep(
            "invocation",
            T0 + i * 0.01,
            "trigger:validate-order",
            "handler:validate-order",
            f"POST /validate-order → {500 if i % 7 == 0 else 200}",
            event_id=f"e-{i}",
            http_status=500 if i % 7 == 0 else 200,
            duration_ms=80.0 + i % 50,
            marks=("retry",) if i % 7 == 1 else (),
        )
        for i in range(count)
    )
    return Flow(key="big", key_name="order_id", steps=steps, lanes=LANES[2:4])


EDGES = [
    ServiceEdge("validate-order", "/validate-order", 1000, 1100, 100, 90.0, 1800.0),
    ServiceEdge("process-payment", "/process-payment", 990, 1000, 10, 150.0, 600.0),
    ServiceEdge("restaurant-approval", "notifications", 980, 980, 0, 200.0, 700.0),
    ServiceEdge("welcome-email", "notifications", 50, 50, 0, 70.0, 90.0),
]
STATS = [
    TriggerStats("validate-order", 1000, 990, 2, 8, 1100, 100, 80.0, 2000.0, 90.0, 1800.0, {"retry": 100}),
    TriggerStats("process-payment", 990, 990, 0, 0, 1000, 10, 140.0, 590.0, 150.0, 600.0),
    TriggerStats("restaurant-approval", 980, 980, 0, 0, 980, 0, 190.0, 690.0, 200.0, 700.0),
    TriggerStats("welcome-email", 50, 50, 0, 0, 50, 0, 60.0, 80.0, 70.0, 90.0),
    TriggerStats("loyalty-points", 5, 0, 0, 5, 0, 0, None, None, None, None),
]
TABLES = {
    "validate-order": "orders",
    "process-payment": "orders",
    "restaurant-approval": "orders",
    "welcome-email": "users",
    "loyalty-points": "users",
}
ANOMALIES = [
    Anomaly("retry", "warning", "2 attempts: 500 then 200", E1, "validate-order", "o-42", T0),
    Anomaly("retry", "warning", "3 attempts", "e-9", "validate-order", "o-43", T0 + 5),
    Anomaly("cold-start", "info", "2.3 s after 9 min idle", E1, "validate-order", "o-42", T0 + 0.05),
    Anomaly("out-of-order", "error", "old != last new", E2, "process-payment", "o-42", T0 + 10.4),
    Anomaly("duplicate", "warning", "delivered twice", E2, "process-payment", "o-42", T0 + 10.7),
    Anomaly("pending-too-long", "warning", "not delivered after 60 s", None, "loyalty-points", "u-1", T0 + 3),
]


@dataclass
class Report:
    """The duck type `FlowsPanel.show_report` reads."""

    edges: list[ServiceEdge] = field(default_factory=lambda: list(EDGES))
    triggers: list[TriggerStats] = field(default_factory=lambda: list(STATS))
    anomalies: list[Anomaly] = field(default_factory=lambda: list(ANOMALIES))
    trigger_tables: dict[str, str] = field(default_factory=lambda: dict(TABLES))
    asked: list[float] = field(default_factory=list)
    span: float = 120.0

    def timeline(self, bucket_seconds: float) -> list[tuple[float, int, int, float | None, float | None]]:
        self.asked.append(bucket_seconds)
        count = int(self.span / bucket_seconds)
        return [(T0 + i * bucket_seconds, 10, i % 3, 100.0, 400.0) for i in range(count)]


# --- sequence diagram: layout ----------------------------------------------------------------------------------------


def test_lanes_keep_the_flows_order_and_unknown_lanes_come_last() -> None:
    flow = order_flow()
    extra = FlowStep("message", T0 + 11, "table:orders", "subscription:payments_feed", "payments_feed update")
    layout = layout_sequence(Flow("o-42", "order_id", (*flow.steps, extra), LANES), 900)
    assert [lane.lane for lane in layout.lanes] == [*LANES, "subscription:payments_feed"]
    xs = [lane.x for lane in layout.lanes]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    assert [(lane.kind, lane.title, lane.caption) for lane in layout.lanes[:3]] == [
        ("client", "client", "CLIENT"),
        ("table", "orders", "TABLE"),
        ("trigger", "validate-order", "EVENT TRIGGER"),
    ]
    assert split_lane("handler:https://api.example.com/hook") == ("handler", "https://api.example.com/hook")
    assert split_lane("weird") == ("other", "weird")


def test_one_arrow_per_step_in_rows_between_its_lanes() -> None:
    flow = order_flow()
    layout = layout_sequence(flow, 900)
    assert len(layout.arrows) == len(flow.steps)
    for i, (arrow, step) in enumerate(zip(layout.arrows, flow.steps, strict=True)):
        assert arrow.index == i and arrow.step is step
        assert arrow.y == pytest.approx(layout.rows_top + i * layout.row_height + (arrow.y - arrow.top))
        assert arrow.x1 == layout.lane_x(step.source) and arrow.x2 == layout.lane_x(step.target)
    assert layout.arrows[4].x2 < layout.arrows[4].x1  # the handler's write goes back to the table
    assert [a.time_text for a in layout.arrows[:4]] == ["+0.000 s", "+0.004 s", "+0.052 s", "+10.371 s"]
    assert layout.arrows[2].full_label == "POST /validate-order → 500 · 2.31 s"
    assert layout.arrows[3].full_label == "POST /validate-order → 200 · 84 ms"
    assert layout.arrows[5].dashed and not layout.arrows[4].dashed
    assert layout.rows_for_event(E1) == [1, 2, 3]
    assert layout.arrow_at(layout.arrows[6].y) is layout.arrows[6]
    assert layout.height >= layout.rows_top + len(flow.steps) * layout.row_height
    assert "order_id o-42" in layout.title and "9 steps" in layout.title


def test_marks_give_colours_badges_and_legend_entries() -> None:
    layout = layout_sequence(order_flow(), 900)
    arrows = layout.arrows
    # A 500 is failed even without a mark; failed outranks the cold start for the colour; both get badges.
    assert arrows[2].marks == ("failed", "cold-start")
    assert arrows[2].colour == MARKS["failed"].colour
    assert [b.text for b in arrows[2].badges] == ["unsuccessful", "cold start"]  # an attempt is not "failed"
    assert arrows[3].marks == ("retry",) and arrows[3].colour == MARKS["retry"].colour
    assert arrows[6].marks == ("out-of-order",) and arrows[6].colour == MARKS["out-of-order"].colour
    assert arrows[8].marks == ("duplicate",) and [b.text for b in arrows[8].badges] == ["duplicate"]
    assert arrows[0].marks == () and arrows[0].badges == () and arrows[0].colour == STEP_COLOURS["write"]
    # Badges follow the label, left to right, without overlapping.
    badges = arrows[2].badges
    assert badges[0].x >= arrows[2].label_right and badges[1].x >= badges[0].x + badges[0].width
    legend = {entry.text: entry for entry in layout.legend}
    for title in (
        "Unsuccessful attempt",
        "Retried",
        "Duplicate delivery",
        "Out of order",
        "Cold start",
        "Subscription update",
    ):
        assert title in legend
    assert legend["Unsuccessful attempt"].sample == "badge" and legend["Subscription update"].sample == "dashed"
    assert "Dead letter" not in legend  # only marks that occur


def test_failed_means_non_2xx_or_no_answer() -> None:
    def marks(status: int | None, kind: str = "invocation") -> tuple[str, ...]:
        return step_marks(FlowStep(kind, T0, "a", "b", "x", http_status=status))  # type: ignore[arg-type]

    assert marks(200) == () and marks(204) == ()
    assert marks(500) == ("failed",) and marks(404) == ("failed",) and marks(None) == ("failed",)
    assert marks(None, "event") == ()
    unknown = step_marks(FlowStep("event", T0, "a", "b", "x", marks=("brand-new-kind", "retry")))
    assert unknown == ("retry", "brand-new-kind")


def test_a_replay_without_a_2xx_answer_keeps_only_its_replay_badge() -> None:
    # A replay is an attempt Inspector made: whatever it got back, it is never an unsuccessful delivery, a retry or a
    # dead letter of Hasura's (issue 14.6).
    def replay(status: int | None, *marks: str) -> FlowStep:
        return FlowStep(
            "invocation",
            T0 + 30,
            "trigger:validate-order",
            "handler:validate-order",
            "replay: HTTP 500",
            event_id=E1,
            http_status=status,
            marks=("replay", *marks),
        )

    for status in (500, 404, None):
        assert step_marks(replay(status)) == ("replay",)
    assert step_marks(replay(None, "retry", "dead-letter", "failed")) == ("replay",)
    assert step_marks(replay(200)) == ("replay",)
    layout = layout_sequence(Flow("o-42", "order_id", (replay(500), replay(None)), LANES), 900)
    for arrow in layout.arrows:
        assert [b.text for b in arrow.badges] == ["replay"]
        assert arrow.colour != MARKS["failed"].colour
    legend = {entry.text for entry in layout.legend}
    assert "Unsuccessful attempt" not in legend and "Retried" not in legend and "Dead letter" not in legend


def test_labels_too_long_for_the_diagram_are_elided_but_kept_whole_for_tooltips() -> None:
    label = "POST /validate-order → 500 " + "x" * 400
    flow = Flow("k", "id", (FlowStep("invocation", T0, "a", "b", label, http_status=500),), ("a", "b"))
    arrow = layout_sequence(flow, 600).arrows[0]
    assert arrow.label.endswith("…") and len(arrow.label) < len(label)
    assert arrow.full_label == label
    assert arrow.label_left >= layout_sequence(flow, 600).gutter_right


def test_long_lane_names_go_on_two_lines_when_the_view_is_narrow() -> None:
    assert wrap_title("restaurant-approval", estimate_width) == ("restaurant-", "approval")
    assert wrap_title("orders", estimate_width) == ("orders",)
    flow = order_flow()
    wide = layout_sequence(flow, 3000)
    narrow = layout_sequence(flow, 600)
    assert all(len(lane.title_lines) == 1 for lane in wide.lanes)
    wrapped = {lane.title: lane.title_lines for lane in narrow.lanes if len(lane.title_lines) > 1}
    assert wrapped["validate-order"] == ("validate-", "order") and "orders" not in wrapped
    assert narrow.header_height > wide.header_height


def test_colours_are_lifted_on_dark_palettes() -> None:
    for colour in (*STEP_COLOURS.values(), *(style.colour for style in MARKS.values())):
        assert QColor(on_dark(colour)).lightness() > QColor(colour).lightness()
    assert QColor(on_dark("#36434F")).lightness() >= 140  # neutral lines stay visible on #1E1E1E


def test_a_self_step_is_a_loop_with_its_label_to_the_right() -> None:
    flow = Flow("k", "id", (FlowStep("write", T0, "handler:h", "handler:h", "cache"),), ("handler:h",))
    arrow = layout_sequence(flow, 600).arrows[0]
    assert arrow.self_loop and arrow.label_left > arrow.x1


def test_a_thousand_step_flow_lays_out_with_constant_row_lookup() -> None:
    layout = layout_sequence(long_flow(1000), 900)
    assert len(layout.arrows) == 1000
    assert layout.arrows[-1].time_text == "+9.990 s"
    rows = layout.rows_between(layout.rows_top + 500 * layout.row_height, layout.rows_top + 520 * layout.row_height)
    assert rows.start == 500 and rows.stop in (521, 522)
    assert layout.rows_between(-100, 0) == range(0)


# --- sequence diagram: view ------------------------------------------------------------------------------------------


@pytest.fixture
def sequence_view(qtbot: QtBot) -> SequenceDiagramView:
    view = SequenceDiagramView()
    qtbot.addWidget(view)
    view.resize(1100, 500)
    view.show_flow(order_flow())
    view.show()
    qtbot.waitExposed(view)
    return view


def _click_scene_point(qtbot: QtBot, view: SequenceDiagramView | ServiceMapView, point: QPointF) -> None:
    view.centerOn(point)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.mapFromScene(point))


def test_clicking_an_arrow_emits_its_event_id(qtbot: QtBot, sequence_view: SequenceDiagramView) -> None:
    items = sequence_view.arrow_items()
    assert len(items) == 9
    target = items[3].arrow
    with qtbot.waitSignal(sequence_view.eventSelected, timeout=2000) as blocker:
        _click_scene_point(qtbot, sequence_view, QPointF((target.x1 + target.x2) / 2, target.y))
    assert blocker.args == [E1]
    assert sequence_view.selected_row == 3 and items[3].selected


def test_clicking_a_step_without_an_event_selects_it_silently(qtbot: QtBot, sequence_view: SequenceDiagramView) -> None:
    write = sequence_view.arrow_items()[0].arrow
    steps: list[int] = []
    events: list[str] = []
    sequence_view.stepSelected.connect(steps.append)
    sequence_view.eventSelected.connect(events.append)
    _click_scene_point(qtbot, sequence_view, QPointF((write.x1 + write.x2) / 2, write.y))
    assert steps == [0] and events == []


def test_keys_step_through_the_flow_and_select_event_follows_the_list(
    qtbot: QtBot, sequence_view: SequenceDiagramView
) -> None:
    events: list[str] = []
    sequence_view.eventSelected.connect(events.append)
    sequence_view.setFocus()
    qtbot.keyClick(sequence_view, Qt.Key.Key_Down)
    qtbot.keyClick(sequence_view, Qt.Key.Key_Down)
    assert sequence_view.selected_row == 1 and events == [E1]
    assert sequence_view.select_event(E2) and sequence_view.selected_row == 6
    assert events == [E1]  # following the list emits nothing
    assert not sequence_view.select_event("unknown")
    items = sequence_view.arrow_items()
    sequence_view.show_flow(order_flow())  # nothing new: nothing redrawn
    assert sequence_view.arrow_items() == items
    flow = order_flow()
    grown = Flow(
        flow.key, flow.key_name, (*flow.steps, FlowStep("write", T0 + 12, "client", "table:orders", "x")), LANES
    )
    sequence_view.show_flow(grown)  # the same flow, grown: redrawn, the selection kept
    assert len(sequence_view.arrow_items()) == 10 and sequence_view.selected_event_id() == E2


def test_a_long_flow_scrolls_with_the_headers_pinned(qtbot: QtBot) -> None:
    view = SequenceDiagramView()
    qtbot.addWidget(view)
    view.resize(900, 400)
    view.show_flow(long_flow(1000))
    view.show()
    qtbot.waitExposed(view)
    assert len(view.arrow_items()) == 1000
    view.select_step(900)
    assert view.verticalScrollBar().value() > 0
    image = view.viewport().grab().toImage()
    layout = view.layout_
    assert layout is not None
    lane = layout.lanes[0]
    # The header box of the first lane is painted at the top of the viewport, in its tint, though scrolled away.
    top = view.mapFromScene(QPointF(lane.x, view.mapToScene(0, 0).y() + 20))
    colour = image.pixelColor(top.x() - int(lane.header_width / 2) + 6, 20)
    assert colour.name().upper() != "#FFFFFF"


def test_empty_flow_shows_a_hint(qtbot: QtBot) -> None:
    view = SequenceDiagramView()
    qtbot.addWidget(view)
    assert view.layout_ is None and view.arrow_items() == []
    texts = [item.toPlainText() for item in view.scene().items() if isinstance(item, QGraphicsTextItem)]
    assert any("Select an event" in text for text in texts)


# --- service map -----------------------------------------------------------------------------------------------------


def test_service_map_columns_edges_and_filters() -> None:
    layout = layout_service_map(EDGES, STATS, tables=TABLES)
    kinds = {node.kind for node in layout.nodes}
    assert kinds == {"table", "trigger", "handler"}
    x = {kind: {node.x for node in layout.nodes if node.kind == kind} for kind in kinds}
    assert all(len(column) == 1 for column in x.values())
    assert x["table"].pop() < x["trigger"].pop() < x["handler"].pop()
    assert [n.title for n in layout.nodes if n.kind == "trigger"] == [
        "process-payment",
        "restaurant-approval",
        "validate-order",
        "loyalty-points",
        "welcome-email",
    ]  # grouped by table, then by name
    assert len([e for e in layout.edges if e.kind == "feeds"]) == 5
    delivers = {(e.source, e.target): e for e in layout.edges if e.kind == "delivers"}
    assert len(delivers) == 4
    validate = delivers[("trigger:validate-order", "handler:/validate-order")]
    assert validate.label_lines == (
        "1,000 events · 1,100 invocations",
        f"9.1 % unsuccessful · p50 {format_ms(90.0)} · p95 {format_ms(1800.0)}",
    )
    assert validate.colour == error_rate_colour(100 / 1100) == "#C62828"
    assert delivers[("trigger:process-payment", "handler:/process-payment")].colour == "#C98300"
    assert delivers[("trigger:welcome-email", "handler:notifications")].colour == "#5C6B7A"
    assert validate.width > delivers[("trigger:welcome-email", "handler:notifications")].width
    assert validate.filter == 'trigger == "validate-order"'
    table = layout.node("table:users")
    assert table is not None and table.filter == 'table == "users"' and table.subtitle == "2 event triggers"
    handler = layout.node("handler:notifications")
    assert handler is not None and handler.filter == 'trigger in {"restaurant-approval" "welcome-email"}'
    for text in [node.filter for node in layout.nodes] + [edge.filter for edge in layout.edges]:
        compile_filter(text)  # every click gives a filter the list understands
    trigger = layout.node("trigger:validate-order")
    assert (
        trigger is not None and trigger.failing and "2 failed" in trigger.subtitle and "100 retries" in trigger.subtitle
    )


def test_service_map_places_handlers_level_with_their_busiest_trigger() -> None:
    layout = layout_service_map(EDGES, STATS, tables=TABLES)
    for trigger, handler in (("validate-order", "/validate-order"), ("restaurant-approval", "notifications")):
        t, h = layout.node(f"trigger:{trigger}"), layout.node(f"handler:{handler}")
        assert t is not None and h is not None and t.y == h.y
    handlers = sorted((n for n in layout.nodes if n.kind == "handler"), key=lambda n: n.y)
    assert all(b.y >= a.y + a.height for a, b in itertools.pairwise(handlers))


def test_service_map_without_tables_or_stats() -> None:
    layout = layout_service_map(EDGES[:1])
    assert [n.kind for n in layout.nodes] == ["trigger", "handler"]
    assert [n.subtitle for n in layout.nodes] == ["1,000 events", "1,100 invocations · 9.1 % unsuccessful"]
    assert [e.kind for e in layout.edges] == ["delivers"]


def test_tables_and_handlers_can_come_from_the_trigger_stats() -> None:
    stats = [replace(stat, table=TABLES[stat.trigger]) for stat in STATS]
    stats[-1] = replace(stats[-1], handler="https://loyalty.example.com/points")  # never called: all pending
    layout = layout_service_map(EDGES, stats)
    assert {n.key for n in layout.nodes if n.kind == "table"} == {"table:orders", "table:users"}
    idle = layout.edge("trigger:loyalty-points", "handler:https://loyalty.example.com/points")
    assert idle is not None and idle.dashed and idle.label_lines == ("5 events · no invocations yet",)
    handler = layout.node("handler:https://loyalty.example.com/points")
    assert handler is not None and handler.subtitle == "no invocations yet" and not handler.failing
    assert not layout.edge("trigger:validate-order", "handler:/validate-order").dashed  # type: ignore[union-attr]


def test_clicking_a_node_or_an_edge_requests_its_filter(qtbot: QtBot) -> None:
    view = ServiceMapView()
    qtbot.addWidget(view)
    view.resize(1200, 700)
    view.show_map(EDGES, STATS, tables=TABLES)
    view.show()
    qtbot.waitExposed(view)
    node = view.node_items["trigger:validate-order"].node
    with qtbot.waitSignal(view.filterRequested, timeout=2000) as blocker:
        _click_scene_point(qtbot, view, QPointF(node.x + 10, node.centre_y))
    assert blocker.args == ['trigger == "validate-order"']
    edge = next(item.edge for item in view.edge_items if item.edge.target == "handler:/process-payment")
    with qtbot.waitSignal(view.filterRequested, timeout=2000) as blocker:
        _click_scene_point(qtbot, view, QPointF(edge.label_x + 5, edge.y1))
    assert blocker.args == ['trigger == "process-payment"']
    handler = view.node_items["handler:notifications"].node
    with qtbot.waitSignal(view.filterRequested, timeout=2000) as blocker:
        _click_scene_point(qtbot, view, QPointF(handler.x + 10, handler.centre_y))
    assert blocker.args == ['trigger in {"restaurant-approval" "welcome-email"}']


def test_service_map_redraws_only_when_the_figures_change(qtbot: QtBot) -> None:
    view = ServiceMapView()
    qtbot.addWidget(view)
    view.show_map(EDGES, STATS, tables=TABLES)
    first = view.node_items["trigger:validate-order"]
    view.show_map(list(EDGES), list(STATS), tables=dict(TABLES))
    assert view.node_items["trigger:validate-order"] is first
    view.show_map(EDGES[:2], STATS, tables=TABLES)
    assert view.node_items["trigger:validate-order"] is not first


# --- timeline --------------------------------------------------------------------------------------------------------


def test_timeline_series_fills_gaps_and_gives_rates_per_second() -> None:
    rows = [(T0 + 20, 4, 0, None, None), (T0, 10, 2, 100.0, 300.0)]  # unsorted, with a gap
    data = series(buckets_from_rows(rows), 10.0)
    assert list(data.starts) == [T0, T0 + 10, T0 + 20]
    assert list(data.edges) == [T0, T0 + 10, T0 + 20, T0 + 30]
    assert list(data.events_per_s) == [1.0, 0.0, 0.4]
    assert list(data.failures_per_s) == [0.2, 0.0, 0.0]
    assert data.p95[0] == 300.0 and math.isnan(data.p95[1]) and math.isnan(data.p50[2])


def test_timeline_view_updates_live_and_a_click_filters_the_bucket(qtbot: QtBot) -> None:
    view = TimelineView()
    qtbot.addWidget(view)
    assert "No events" in view.readout.text()
    view.set_buckets([(T0, 10, 1, 100.0, 400.0), (T0 + 5, 20, 0, 120.0, 500.0)], 5.0)
    assert "30 events" in view.readout.text()
    view.set_buckets([(T0, 10, 1, 100.0, 400.0), (T0 + 5, 20, 0, 120.0, 500.0), (T0 + 10, 5, 5, None, None)], 5.0)
    assert len(view.data.starts) == 3
    assert view.events_curve.ys == [2.0, 4.0, 1.0]
    assert view.bucket_at(T0 + 6) == 1 and view.bucket_at(T0 - 1) is None
    assert "4 events/s" in view.describe_bucket(1) and "p95 500 ms" in view.describe_bucket(1)
    # Hovering a plot moves the crosshair to the middle of the bucket under the mouse and reads it out.
    view.resize(800, 500)
    view.show()
    view.raise_()  # above any window an earlier test left open, which would take the mouse events
    view.activateWindow()
    qtbot.waitExposed(view)
    plots = view.plots
    assert view.origin == T0  # plotted in seconds from the first bucket (small numbers)
    assert plots.x_range == (0.0, 15.0)
    position = plots.position_of(plots.rates, 6, 1.0).toPoint()
    # QTest sends no move event when the (shared, offscreen) cursor is already there, as an earlier test can leave it
    qtbot.mouseMove(plots, position + QPoint(40, 0))
    qtbot.mouseMove(plots, position)
    qtbot.waitUntil(lambda: plots.crosshair is not None, timeout=2000)
    assert plots.crosshair == pytest.approx(7.5)
    assert "4 events/s" in view.readout.text()
    # Its axis labels are the clock times of the epoch seconds, on round clock values, and do not overlap.
    spacing, values = plots.time_ticks()
    assert spacing in (1.0, 2.0, 5.0) and values and all(T0 <= v <= T0 + 15 and v % spacing == 0 for v in values)
    ticks = plots.layout_now().x_ticks
    assert [label for _x, label in ticks] == [time.strftime("%H:%M:%S", time.localtime(v)) for v in values]
    metrics = QFontMetricsF(plots.font())
    assert all(b - a > metrics.horizontalAdvance(label) for (a, label), (b, _) in itertools.pairwise(ticks))
    # Clicking a bucket (once: the first click of a double-click does nothing) filters its time range.
    with qtbot.waitSignal(view.filterRequested, timeout=2000) as blocker:
        qtbot.mouseClick(plots, Qt.MouseButton.LeftButton, pos=position)
    assert blocker.args == [time_filter(T0 + 5, T0 + 10)]
    compiled = compile_filter(blocker.args[0])
    assert compiled.params == [T0 + 5, T0 + 10]
    with qtbot.waitSignal(view.filterRequested, timeout=1000) as blocker:
        view.request_bucket_filter(2)
    assert blocker.args == [time_filter(T0 + 10, T0 + 15)]


def test_timeline_ticks_on_round_local_clock_times() -> None:
    def width(text: str) -> float:
        return 7.0 * len(text)

    spacing, values = time_ticks(T0, T0 + 600, 1000, width)
    assert spacing == 60.0  # 30 s would put "12:34" labels 50 px apart: too close
    assert values and all(time.localtime(v).tm_sec == 0 and T0 <= v <= T0 + 600 for v in values)
    assert clock_label(values[0], spacing) == time.strftime("%H:%M", time.localtime(values[0]))
    spacing, values = time_ticks(T0, T0 + 6 * 3600, 1000, width)
    assert spacing == 1800.0 and all(time.localtime(v).tm_min in (0, 30) for v in values)
    spacing, values = time_ticks(T0, T0 + 40 * 86400, 800, width)  # days: ticks at local midnight, dated
    assert spacing >= 86400 and values
    assert all(time.localtime(v)[3:6] == (0, 0, 0) for v in values)
    assert clock_label(values[0], spacing) == time.strftime("%d %b", time.localtime(values[0]))
    assert time_ticks(T0, T0, 800, width) == (0.0, [])


def test_timeline_zooms_with_the_wheel_pans_with_a_drag_and_double_click_resets(qtbot: QtBot) -> None:
    view = TimelineView()
    qtbot.addWidget(view)
    view.resize(800, 500)
    view.set_buckets([(T0 + i, i % 7, 0, 100.0 + i, None) for i in range(100)], 1.0)
    view.show()
    qtbot.waitExposed(view)
    plots = view.plots
    filters: list[str] = []
    view.filterRequested.connect(filters.append)
    middle = plots.position_of(plots.rates, 50, 1.0)
    wheel = QWheelEvent(
        middle,
        plots.mapToGlobal(middle),
        QPoint(0, 0),
        QPoint(0, 240),  # two notches away from the user: zoom in around the mouse
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(plots, wheel)
    x0, x1 = plots.x_range
    assert x1 - x0 == pytest.approx(64.0) and x0 < 50 < x1
    assert plots.x_at(middle.x()) == pytest.approx(50.0)
    # A drag to the left shows later times, and is no click.
    start = middle.toPoint()
    qtbot.mousePress(plots, Qt.MouseButton.LeftButton, pos=start)
    drag = QMouseEvent(
        QEvent.Type.MouseMove,
        QPointF(start - QPoint(100, 0)),
        plots.mapToGlobal(QPointF(start - QPoint(100, 0))),
        Qt.MouseButton.NoButton,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(plots, drag)
    qtbot.mouseRelease(plots, Qt.MouseButton.LeftButton, pos=start - QPoint(100, 0))
    panned = plots.x_range
    assert panned[0] > x0 and panned[1] - panned[0] == pytest.approx(64.0)
    # A live refresh keeps the zoomed range; a double-click shows everything again and filters nothing.
    view.set_buckets([(T0 + i, 1, 0, None, None) for i in range(120)], 1.0)
    assert plots.x_range == pytest.approx(panned)
    qtbot.mouseDClick(plots, Qt.MouseButton.LeftButton, pos=start)
    assert plots.x_range == (0.0, 120.0)
    qtbot.wait(QApplication.doubleClickInterval() + 100)
    assert filters == []


def test_timeline_draws_latency_lines_with_gaps(qtbot: QtBot) -> None:
    view = TimelineView()
    qtbot.addWidget(view)
    view.resize(800, 500)
    rows = [(T0 + i, 1, 0, None if 3 <= i < 6 else 100.0, None) for i in range(10)]
    view.set_buckets(rows, 1.0)
    shapes = view.plots.layout_now().shapes[1]
    p50_lines = shapes[0].lines
    assert [line.size() for line in p50_lines] == [3, 4]  # broken where nothing was delivered
    assert shapes[1].lines == []  # no p95 at all
    assert not view.plots.latency.rect.isEmpty()


def _top(tree: QTreeWidget, index: int) -> QTreeWidgetItem:
    item = tree.topLevelItem(index)
    assert item is not None
    return item


def _child(item: QTreeWidgetItem, index: int) -> QTreeWidgetItem:
    child = item.child(index)
    assert child is not None
    return child


# --- anomalies panel -------------------------------------------------------------------------------------------------


def test_anomalies_are_grouped_by_kind_most_severe_first() -> None:
    groups = group_anomalies(ANOMALIES)
    assert [kind for kind, _ in groups] == ["out-of-order", "retry", "duplicate", "pending-too-long", "cold-start"]
    assert [a.event_id for a in dict(groups)["retry"]] == [E1, "e-9"]


def test_anomalies_panel_shows_groups_and_jumps_to_the_event(qtbot: QtBot) -> None:
    panel = AnomaliesPanel()
    qtbot.addWidget(panel)
    panel.resize(1000, 500)
    panel.show_anomalies(ANOMALIES)
    panel.show()
    qtbot.waitExposed(panel)
    titles = [_top(panel, i).text(0) for i in range(panel.topLevelItemCount())]
    assert titles[0] == "Out of order · 1 error"
    assert titles[1] == "Retries · 2 warnings"
    retry = _child(_top(panel, 1), 0)
    assert [retry.text(c) for c in range(4)][:3] == ["2 attempts: 500 then 200", "validate-order", "o-42"]
    assert retry.text(3).count(":") == 2 and "." in retry.text(3)
    assert not retry.icon(0).isNull()
    panel.setFocus()
    panel.setCurrentItem(retry)
    with qtbot.waitSignal(panel.eventSelected, timeout=1000) as blocker:
        qtbot.keyClick(panel.viewport(), Qt.Key.Key_Return)
    assert blocker.args == [E1]
    duplicate = _child(_top(panel, 2), 0)
    with qtbot.waitSignal(panel.eventSelected, timeout=1000) as blocker:
        rect = panel.visualItemRect(duplicate)
        # A real double-click starts with a press on the same item (QTest's double-click alone has none).
        qtbot.mouseClick(panel.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.mouseDClick(panel.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args == [E2]
    # A live refresh keeps the current anomaly and the collapsed groups.
    _top(panel, 0).setExpanded(False)
    panel.setCurrentItem(duplicate)
    panel.show_anomalies([*ANOMALIES, Anomaly("retry", "warning", "4 attempts", "e-10", "validate-order")])
    current = panel.currentItem()
    assert current is not None and current.text(0) == "delivered twice"
    assert not _top(panel, 0).isExpanded() and _top(panel, 1).text(0) == "Retries · 3 warnings"


def test_an_anomaly_without_an_event_says_nothing(qtbot: QtBot) -> None:
    panel = AnomaliesPanel()
    qtbot.addWidget(panel)
    panel.show_anomalies(ANOMALIES)
    pending = next(item for item in panel.anomaly_items() if item.text(1) == "loyalty-points")
    events: list[str] = []
    panel.eventSelected.connect(events.append)
    panel.itemActivated.emit(pending, 0)
    assert events == []
    panel.show_anomalies([])
    assert panel.topLevelItemCount() == 1 and "No anomalies" in _top(panel, 0).text(0)


def test_identical_lines_are_gathered_with_a_count_and_expand(qtbot: QtBot) -> None:
    """Issue 14.12: 28 "delivered 2 times" lines are one line with a count, expandable; every line names its row key."""
    same = [
        Anomaly(
            "duplicate",
            "warning",
            f"delivered 2 times (2 answers 2xx in 2 attempts, {n + 100} ms apart): the handler must be idempotent",
            f"d-{n}",
            "validate-order",
            f"o-{n}",
            1_709_294_400.0 + n,
        )
        for n in range(28)
    ]
    other = Anomaly("duplicate", "warning", "delivered 3 times", "d-99", "validate-order", "o-99", 1_709_294_500.0)
    panel = AnomaliesPanel()
    qtbot.addWidget(panel)
    panel.show_anomalies([*same, other])
    group = _top(panel, 0)
    assert group.text(0).endswith("· 29 warnings")
    assert group.childCount() == 2
    lines = _child(group, 0)
    assert [lines.text(c) for c in range(3)] == ["delivered 2 times · 28 events", "validate-order", "28 rows"]
    assert lines.childCount() == 28 and not lines.isExpanded()
    assert [_child(lines, n).text(2) for n in range(3)] == ["o-0", "o-1", "o-2"]
    assert _child(lines, 1).text(0).startswith("delivered 2 times (2 answers 2xx in 2 attempts, 101 ms apart)")
    single = _child(group, 1)
    assert [single.text(c) for c in range(3)] == ["delivered 3 times", "validate-order", "o-99"]
    assert len(panel.anomaly_items()) == 29
    # an opened group of lines stays open over a live refresh; activating one of its lines selects its event
    lines.setExpanded(True)
    panel.show_anomalies([*same, other, Anomaly("retry", "warning", "2 attempts", "r-1", "validate-order", "o-1")])
    lines = next(
        _child(_top(panel, i), 0)
        for i in range(panel.topLevelItemCount())
        if _child(_top(panel, i), 0).text(0).startswith("delivered 2 times")
    )
    assert lines.isExpanded()
    events: list[str] = []
    panel.eventSelected.connect(events.append)
    panel.itemActivated.emit(_child(lines, 5), 0)
    assert events == ["d-5"]


# --- export ----------------------------------------------------------------------------------------------------------


def _assert_png(path: Path, min_width: int = 0) -> QImage:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = QImage(str(path))
    assert not image.isNull() and image.width() >= min_width
    return image


def _assert_svg(path: Path) -> ET.Element:
    root = ET.parse(path).getroot()
    assert root.tag.rsplit("}", 1)[-1] == "svg"
    return root


def test_export_a_scene_as_png_at_twice_its_size_and_as_svg(qtbot: QtBot, tmp_path: Path) -> None:
    view = SequenceDiagramView()
    qtbot.addWidget(view)
    view.resize(1000, 300)
    view.show_flow(order_flow())
    scene = view.picture_scene()
    rect = scene.sceneRect()
    image = _assert_png(export_picture(view, tmp_path / "flow.png"))
    assert (image.width(), image.height()) == (round(rect.width() * 2), round(rect.height() * 2))
    root = _assert_svg(export_picture(scene, tmp_path / "flow.svg"))
    assert "POST /validate-order" in ET.tostring(root, encoding="unicode")  # text stays text: searchable


def _near(colour: QColor, base: QColor, alpha: float) -> bool:
    """Whether `colour` is `base` painted at `alpha` over white."""
    expected = [round(c * alpha + 255 * (1 - alpha)) for c in (base.red(), base.green(), base.blue())]
    return all(abs(a - b) <= 12 for a, b in zip((colour.red(), colour.green(), colour.blue()), expected, strict=True))


def test_export_a_widget_and_refuse_unknown_formats(qtbot: QtBot, tmp_path: Path) -> None:
    view = TimelineView()
    qtbot.addWidget(view)
    view.resize(800, 400)
    view.set_buckets([(T0, 10, 1, 100.0, 400.0), (T0 + 5, 20, 0, 120.0, 500.0)], 5.0)
    _assert_png(export_picture(view, tmp_path / "timeline.png"), min_width=1600)
    _assert_svg(export_picture(view, tmp_path / "timeline.svg"))
    # The plots as vectors: the events curve is in the picture (epoch-second coordinates were once rounded off it).
    _assert_svg(export_picture(view.plots, tmp_path / "plots.svg"))
    renderer = QSvgRenderer(str(tmp_path / "plots.svg"))
    image = QImage(renderer.defaultSize(), QImage.Format.Format_ARGB32)
    image.fill(QColor("#FFFFFF"))
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    blue = QColor(EVENTS_COLOUR)
    filled = sum(
        1
        for x in range(0, image.width(), 4)
        for y in range(0, image.height(), 4)
        if _near(image.pixelColor(x, y), blue, alpha=0.35)
    )
    assert filled > 100
    with pytest.raises(ExportError, match=r"\.png or \.svg"):
        export_picture(view, tmp_path / "timeline.jpg")
    with pytest.raises(ExportError, match="empty"):
        export_picture(QGraphicsScene(), tmp_path / "empty.png")
    with pytest.raises(ExportError, match="cannot write"):
        export_picture(view, tmp_path / "missing-folder" / "timeline.png")


def test_a_huge_diagram_exports_to_a_png_of_bounded_size(qtbot: QtBot, tmp_path: Path) -> None:
    view = SequenceDiagramView()
    qtbot.addWidget(view)
    view.show_flow(long_flow(1000))
    image = _assert_png(export_picture(view, tmp_path / "long.png"))
    assert max(image.width(), image.height()) <= 30_000


# --- the panel -------------------------------------------------------------------------------------------------------


def test_timeline_auto_bucket_asks_the_report_at_most_twice() -> None:
    report = Report(span=3600.0)
    bucket, rows = timeline_rows(report, 0.0)
    assert bucket == 10.0 and len(rows) == 360 and report.asked == [1.0, 10.0]
    short = Report(span=100.0)
    assert timeline_rows(short, 0.0)[0] == 1.0 and short.asked == [1.0]
    assert timeline_rows(short, 30.0)[0] == 30.0


def test_flows_panel_shows_a_report_and_forwards_clicks(qtbot: QtBot, tmp_path: Path) -> None:
    panel = FlowsPanel()
    qtbot.addWidget(panel)
    panel.resize(1200, 600)
    report = Report()
    panel.show_report(report)
    panel.show_flow(order_flow())
    panel.show()
    qtbot.waitExposed(panel)
    assert panel.tabs.tabText(ANOMALIES_TAB) == "Anomalies (6)"
    assert panel.service_map.layout_ is not None and len(panel.service_map.node_items) == 2 + 5 + 3
    assert panel._timeline is None  # the timeline is built when its tab is first opened
    assert not panel.bucket_box.isVisible()  # and its bucket chooser is nowhere until then
    panel.show_tab("timeline")
    assert panel._timeline is not None and len(panel.timeline.data.starts) == 120
    qtbot.waitUntil(panel.bucket_box.isVisible, timeout=2000)
    assert panel.bucket_box.parent() is panel.timeline
    panel.show_tab("sequence")
    panel.show_report(Report(span=60.0))  # while the tab is hidden: filled when it is next looked at
    assert len(panel._timeline.data.starts) == 120
    panel.show_tab("timeline")
    assert len(panel.timeline.data.starts) == 60
    panel.show_report(report)
    assert len(panel.timeline.data.starts) == 120
    with qtbot.waitSignal(panel.eventSelected, timeout=1000) as blocker:
        panel.sequence.select_step(8)
    assert blocker.args == [E2]
    with qtbot.waitSignal(panel.filterRequested, timeout=1000) as blocker:
        panel.service_map.filterRequested.emit('trigger == "x"')
    assert blocker.args == ['trigger == "x"']
    assert panel.select_event(E1) and panel.sequence.selected_row == 1
    for name in TAB_NAMES:
        panel.show_tab(name)
        _assert_png(panel.export_current(tmp_path / f"{name}.png"))
        _assert_svg(panel.export_current(tmp_path / f"{name}.svg"))
    panel.show_tab("sequence")
    assert panel.default_file_name("svg") == "flow-o-42.svg"
    panel.show_report(None)
    assert panel.tabs.tabText(ANOMALIES_TAB) == "Anomalies" and panel.service_map.layout_ is None
