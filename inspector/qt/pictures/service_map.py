"""The service map of a capture: which tables raise which event triggers, and which handlers those deliver to, with
the figures of each delivery edge (events, invocations, failed share, delivery latency p50/p95).

Three columns, left to right: tables → event triggers → handlers. An edge's colour says how often its invocations
failed (no failures, under 5 %, 5 % or more: `picture_style.ERROR_RATE_BANDS`) and its width how many there were.
Clicking a node or an edge asks for a display filter (`trigger == "validate-order"`, `table == "orders"`), which
the window applies to the event list.

Two parts: `layout_service_map` (pure: positions, texts, colours and filters, testable without a window) and
`ServiceMapView`, which draws it. Used by `FlowsPanel`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPalette,
    QPen,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsScene,
    QGraphicsView,
    QStyleOptionGraphicsItem,
    QWidget,
)

from inspector.core.flows import ServiceEdge, TriggerStats
from inspector.qt.pictures.interactive_items import ClickableItem
from inspector.qt.pictures.picture_look import PictureLook
from inspector.qt.pictures.picture_style import (
    ERROR_RATE_BANDS,
    LANE_KINDS,
    elide,
    error_rate_colour,
    estimate_width,
    format_ms,
    format_percent,
    quote,
)

Measure = Callable[[str], float]

MARGIN = 14.0
TITLE_HEIGHT = 26.0
LEGEND_HEIGHT = 26.0
CAPTION_HEIGHT = 22.0
NODE_HEIGHT = 46.0
NODE_GAP = 24.0
GROUP_GAP = 18.0
"""Extra space between the triggers of two tables."""
TABLE_GAP = 80.0
"""Between the tables column and the triggers column."""
LABEL_GAP = 14.0
MAX_NODE_WIDTH = 260.0
MIN_NODE_WIDTH = 120.0
MIN_EDGE_WIDTH = 1.5
MAX_EDGE_WIDTH = 7.0


@dataclass(frozen=True)
class MapNode:
    """A box: a table, an event trigger or a handler."""

    key: str
    """`table:<name>`, `trigger:<name>` or `handler:<name>`."""
    kind: str
    title: str
    subtitle: str
    x: float
    y: float
    width: float
    height: float
    tint: str
    failing: bool
    """Some of its invocations failed (drawn with a border of its error-rate colour)."""
    filter: str
    """The display filter a click asks for."""
    tooltip: str
    error_rate: float = 0.0
    """Invocations without a 2xx answer over all invocations (1.0 for a trigger with dead letters but no edge)."""

    @property
    def centre_y(self) -> float:
        return self.y + self.height / 2

    @property
    def right(self) -> float:
        return self.x + self.width


@dataclass(frozen=True)
class MapEdge:
    """An arrow from a table to a trigger (`feeds`), or from a trigger to a handler (`delivers`, with figures)."""

    kind: str
    source: str
    target: str
    x1: float
    y1: float
    x2: float
    y2: float
    colour: str
    width: float
    label_lines: tuple[str, ...]
    label_x: float
    label_y: float
    """Top-left of the label block."""
    label_width: float
    filter: str
    tooltip: str
    edge: ServiceEdge | None = None
    dashed: bool = False
    """A trigger's known handler that no invocation reached yet."""


@dataclass(frozen=True)
class MapLegendEntry:
    text: str
    colour: str
    x: float
    sample: str
    """`band` (a coloured line), `thin` / `thick` (line widths) or `text`."""


@dataclass(frozen=True)
class MapLayout:
    """Everything `ServiceMapView` draws, in scene coordinates."""

    title: str
    nodes: tuple[MapNode, ...]
    edges: tuple[MapEdge, ...]
    legend: tuple[MapLegendEntry, ...]
    captions: tuple[tuple[str, float], ...]
    """Column captions (text, x)."""
    captions_y: float
    legend_y: float
    width: float
    height: float

    def node(self, key: str) -> MapNode | None:
        for node in self.nodes:
            if node.key == key:
                return node
        return None

    def edge(self, source: str, target: str) -> MapEdge | None:
        for edge in self.edges:
            if edge.source == source and edge.target == target:
                return edge
        return None


def trigger_filter(trigger: str) -> str:
    return f"trigger == {quote(trigger)}"


def layout_service_map(
    edges: Sequence[ServiceEdge],
    stats: Iterable[TriggerStats] | Mapping[str, TriggerStats] = (),
    *,
    tables: Mapping[str, str] | None = None,
    measure: Measure = estimate_width,
    measure_bold: Measure | None = None,
    measure_small: Measure | None = None,
    line_height: float = 15.0,
) -> MapLayout:
    """Positions, texts, colours and filters of the service map. `tables` maps a trigger to its table (also read
    from an edge's or a stats' `table` attribute when they have one); triggers without a known table have no table
    node. `measure*` give text widths in the label, node-title and small fonts."""
    measure_bold = measure_bold or measure
    measure_small = measure_small or measure
    stats_by_trigger = dict(stats) if isinstance(stats, Mapping) else {s.trigger: s for s in stats}
    table_of = dict(tables or {})
    for item in (*edges, *stats_by_trigger.values()):
        table = getattr(item, "table", None)
        if table and item.trigger not in table_of:
            table_of[item.trigger] = str(table)
    # A trigger whose handler is known but was never called (every event pending): a dashed edge without figures.
    delivered = {edge.trigger for edge in edges}
    edges = [
        *edges,
        *(
            ServiceEdge(name, str(stat.handler), stat.events, 0, 0, None, None)
            for name, stat in stats_by_trigger.items()
            if getattr(stat, "handler", None) and name not in delivered
        ),
    ]
    edges_by_trigger: dict[str, list[ServiceEdge]] = defaultdict(list)
    for edge in edges:
        edges_by_trigger[edge.trigger].append(edge)
    triggers = sorted(
        set(stats_by_trigger) | set(edges_by_trigger),
        key=lambda name: (table_of.get(name) is None, table_of.get(name, ""), name),
    )

    # Triggers: one row each, grouped by table.
    top = MARGIN + TITLE_HEIGHT + LEGEND_HEIGHT + CAPTION_HEIGHT
    trigger_y: dict[str, float] = {}
    y = top
    previous_table: str | None = None
    for i, name in enumerate(triggers):
        table = table_of.get(name)
        if i and table != previous_table:
            y += GROUP_GAP
        trigger_y[name] = y
        previous_table = table
        y += NODE_HEIGHT + NODE_GAP
    bottom = y - NODE_GAP if triggers else top

    table_names = list(dict.fromkeys(table_of[name] for name in triggers if name in table_of))
    handlers = list(dict.fromkeys(edge.handler for edge in edges))

    def column_width(titles: Iterable[str], subtitles: Iterable[str]) -> float:
        widest = max([measure_bold(t) for t in titles] + [measure_small(s) for s in subtitles] + [0.0])
        return max(MIN_NODE_WIDTH, min(MAX_NODE_WIDTH, widest + 24.0))

    trigger_subtitles = {
        name: _trigger_subtitle(stats_by_trigger.get(name), edges_by_trigger.get(name, [])) for name in triggers
    }
    table_subtitles = {
        table: _count(sum(1 for name in triggers if table_of.get(name) == table), "event trigger")
        for table in table_names
    }
    handler_edges: dict[str, list[ServiceEdge]] = defaultdict(list)
    for edge in edges:
        handler_edges[edge.handler].append(edge)
    handler_subtitles = {name: _handler_subtitle(handler_edges[name]) for name in handlers}

    table_width = column_width(table_names, table_subtitles.values()) if table_names else 0.0
    trigger_width = column_width(triggers, trigger_subtitles.values())
    handler_width = column_width(handlers, handler_subtitles.values())
    table_x = MARGIN
    trigger_x = table_x + (table_width + TABLE_GAP if table_names else 0.0)

    # Edge labels sit just right of their trigger: the column between triggers and handlers is as wide as they are.
    max_invocations = max([edge.invocations for edge in edges] + [1])
    labels = {(edge.trigger, edge.handler): _edge_label(edge) for edge in edges}
    label_width = max([measure(line) for lines in labels.values() for line in lines] + [120.0])
    # Handlers: level with their busiest trigger (so most edges run straight), pushed down when taken.
    wanted = {
        name: trigger_y[max(handler_edges[name], key=lambda e: (e.invocations, e.events)).trigger] for name in handlers
    }
    handler_y: dict[str, float] = {}
    next_free = top
    for name in sorted(handlers, key=lambda h: (wanted[h], h)):
        handler_y[name] = max(wanted[name], next_free)
        next_free = handler_y[name] + NODE_HEIGHT + NODE_GAP
    # Room for the curves after the labels: more when some edges climb far.
    climb = max([abs(handler_y[e.handler] - trigger_y[e.trigger]) for e in edges] + [0.0])
    handler_x = trigger_x + trigger_width + LABEL_GAP + label_width + 70.0 + min(150.0, 0.25 * climb)

    nodes: list[MapNode] = []
    for table in table_names:
        ys = [trigger_y[name] for name in triggers if table_of.get(name) == table]
        centre = (min(ys) + max(ys) + NODE_HEIGHT) / 2
        nodes.append(
            MapNode(
                key=f"table:{table}",
                kind="table",
                title=elide(table, table_width - 16, measure_bold, middle=True),
                subtitle=table_subtitles[table],
                x=table_x,
                y=centre - NODE_HEIGHT / 2,
                width=table_width,
                height=NODE_HEIGHT,
                tint=LANE_KINDS["table"][1],
                failing=False,
                filter=f"table == {quote(table)}",
                tooltip=f"<b>Table {table}</b><br>{table_subtitles[table]}<br><i>Click to show its events</i>",
            )
        )
    for name in triggers:
        stat = stats_by_trigger.get(name)
        own = edges_by_trigger.get(name, [])
        invocations = sum(e.invocations for e in own)
        rate = sum(e.failures for e in own) / invocations if invocations else 0.0
        failing = bool(rate or (stat is not None and stat.failed))
        if stat is not None and stat.failed and not rate:
            rate = 1.0  # dead letters without the edge figures: as bad as it gets
        nodes.append(
            MapNode(
                key=f"trigger:{name}",
                kind="trigger",
                title=elide(name, trigger_width - 16, measure_bold, middle=True),
                subtitle=trigger_subtitles[name],
                x=trigger_x,
                y=trigger_y[name],
                width=trigger_width,
                height=NODE_HEIGHT,
                tint=LANE_KINDS["trigger"][1],
                failing=failing,
                error_rate=rate,
                filter=trigger_filter(name),
                tooltip=_trigger_tooltip(name, stat, table_of.get(name)),
            )
        )

    for name in handlers:
        served = sorted({e.trigger for e in handler_edges[name]})
        failures = sum(e.failures for e in handler_edges[name])
        nodes.append(
            MapNode(
                key=f"handler:{name}",
                kind="handler",
                title=elide(name, handler_width - 16, measure_bold, middle=True),
                subtitle=handler_subtitles[name],
                x=handler_x,
                y=handler_y[name],
                width=handler_width,
                height=NODE_HEIGHT,
                tint=LANE_KINDS["handler"][1],
                failing=failures > 0,
                error_rate=failures / max(1, sum(e.invocations for e in handler_edges[name])),
                filter=trigger_filter(served[0])
                if len(served) == 1
                else "trigger in {" + " ".join(quote(t) for t in served) + "}",
                tooltip=f"<b>Handler {name}</b><br>called by {', '.join(served)}<br>{handler_subtitles[name]}"
                "<br><i>Click to show the events delivered to it</i>",
            )
        )

    map_edges: list[MapEdge] = []
    for name in triggers:
        table = table_of.get(name)
        if table is None:
            continue
        table_node_y = next(n.centre_y for n in nodes if n.key == f"table:{table}")
        map_edges.append(
            MapEdge(
                kind="feeds",
                source=f"table:{table}",
                target=f"trigger:{name}",
                x1=table_x + table_width,
                y1=table_node_y,
                x2=trigger_x,
                y2=trigger_y[name] + NODE_HEIGHT / 2,
                colour="#8A96A3",
                width=1.2,
                label_lines=(),
                label_x=0.0,
                label_y=0.0,
                label_width=0.0,
                filter=trigger_filter(name),
                tooltip=f"Writes to {table} raise {name} events",
            )
        )
    for edge in edges:
        y1 = trigger_y[edge.trigger] + NODE_HEIGHT / 2
        lines = labels[(edge.trigger, edge.handler)]
        width = MIN_EDGE_WIDTH + (MAX_EDGE_WIDTH - MIN_EDGE_WIDTH) * math.sqrt(edge.invocations / max_invocations)
        map_edges.append(
            MapEdge(
                kind="delivers",
                source=f"trigger:{edge.trigger}",
                target=f"handler:{edge.handler}",
                x1=trigger_x + trigger_width,
                y1=y1,
                x2=handler_x,
                y2=handler_y[edge.handler] + NODE_HEIGHT / 2,
                colour=error_rate_colour(edge.error_rate),
                width=width,
                label_lines=lines,
                label_x=trigger_x + trigger_width + LABEL_GAP,
                label_y=y1 - width / 2 - 4 - line_height * len(lines),
                label_width=max(measure(line) for line in lines),
                filter=trigger_filter(edge.trigger),
                tooltip=_edge_tooltip(edge),
                edge=edge,
                dashed=edge.invocations == 0,
            )
        )

    right = handler_x + handler_width + MARGIN if handlers else trigger_x + trigger_width + MARGIN
    legend, legend_right = _legend(measure)
    total_events = sum((s.events for s in stats_by_trigger.values()), 0) or sum(e.events for e in edges)
    title = (
        f"Service map · {_count(len(table_names), 'table')} · {_count(len(triggers), 'event trigger')} · "
        f"{_count(len(handlers), 'handler')} · {_count(total_events, 'event')}"
    )
    captions = []
    if table_names:
        captions.append(("TABLES", table_x))
    if triggers:
        captions.append(("EVENT TRIGGERS", trigger_x))
    if handlers:
        captions.append(("HANDLERS", handler_x))
    return MapLayout(
        title=title,
        nodes=tuple(nodes),
        edges=tuple(map_edges),
        legend=legend,
        captions=tuple(captions),
        captions_y=top - CAPTION_HEIGHT,
        legend_y=MARGIN + TITLE_HEIGHT,
        width=max(right, legend_right + MARGIN, measure_bold(title) + 2 * MARGIN),
        height=max(bottom, next_free - NODE_GAP) + MARGIN,
    )


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _trigger_subtitle(stat: TriggerStats | None, edges: Sequence[ServiceEdge]) -> str:
    if stat is None:
        return _count(sum(e.events for e in edges), "event")
    parts = [_count(stat.events, "event")]
    if stat.failed:
        parts.append(f"{stat.failed:,} failed")
    if stat.retries:
        parts.append(_count(stat.retries, "retry").replace("retrys", "retries"))
    if stat.pending:
        parts.append(f"{stat.pending:,} pending")
    return " · ".join(parts)


def _handler_subtitle(edges: Sequence[ServiceEdge]) -> str:
    invocations = sum(e.invocations for e in edges)
    failures = sum(e.failures for e in edges)
    if not invocations:
        return "no invocations yet"
    text = _count(invocations, "invocation")
    return f"{text} · {format_percent(failures / invocations)} unsuccessful" if invocations and failures else text


def _edge_label(edge: ServiceEdge) -> tuple[str, ...]:
    if not edge.invocations:
        return (f"{_count(edge.events, 'event')} · no invocations yet",)
    return (
        f"{_count(edge.events, 'event')} · {_count(edge.invocations, 'invocation')}",
        f"{format_percent(edge.error_rate)} unsuccessful · p50 {format_ms(edge.p50_ms)} · p95 {format_ms(edge.p95_ms)}",
    )


def _edge_tooltip(edge: ServiceEdge) -> str:
    if not edge.invocations:
        return (
            f"<b>{edge.trigger} → {edge.handler}</b><br>{edge.events:,} events, none delivered yet: is the handler "
            "reachable?<br><i>Click to show this trigger's events</i>"
        )
    return (
        f"<b>{edge.trigger} → {edge.handler}</b><br>"
        f"{edge.events:,} events, {edge.invocations:,} invocations, {edge.failures:,} "
        "unsuccessful (no 2xx answer; retried unless the event failed) "
        f"({format_percent(edge.error_rate)})<br>"
        f"delivery latency (created → delivered): p50 {format_ms(edge.p50_ms)}, p95 {format_ms(edge.p95_ms)}<br>"
        "<i>Click to show this trigger's events</i>"
    )


def _trigger_tooltip(name: str, stat: TriggerStats | None, table: str | None) -> str:
    lines = [f"<b>Event trigger {name}</b>" + (f" on {table}" if table else "")]
    if stat is not None:
        lines.append(
            f"{stat.events:,} events: {stat.delivered:,} delivered, {stat.failed:,} failed, {stat.pending:,} pending"
        )
        lines.append(f"{stat.invocations:,} invocations, {stat.retries:,} retries")
        lines.append(
            f"first attempt p50 {format_ms(stat.first_attempt_p50_ms)}, p95 {format_ms(stat.first_attempt_p95_ms)}; "
            f"delivered p50 {format_ms(stat.delivered_p50_ms)}, p95 {format_ms(stat.delivered_p95_ms)}"
        )
        if stat.anomalies:
            lines.append("anomalies: " + ", ".join(f"{kind} {count}" for kind, count in sorted(stat.anomalies.items())))
    lines.append("<i>Click to show its events</i>")
    return "<br>".join(lines)


def _legend(measure: Measure) -> tuple[tuple[MapLegendEntry, ...], float]:
    entries = []
    x = MARGIN
    for _bound, colour, text in ERROR_RATE_BANDS:
        entries.append(MapLegendEntry(text, colour, x, "band"))
        x += 30 + measure(text) + 16
    for sample, text in (("thin", "few invocations"), ("thick", "many")):
        entries.append(MapLegendEntry(text, "#8A96A3", x, sample))
        x += 30 + measure(text) + 16
    hint = "Click a table, trigger, handler or edge to filter the event list"
    entries.append(MapLegendEntry(hint, "", x + 10, "text"))
    return tuple(entries), x + 10 + measure(hint)


# --- drawing ---------------------------------------------------------------------------------------------------------


class _Look(PictureLook):
    """The service map's look: the shared one plus caption and border colours."""

    def __init__(self, font: QFont, palette: QPalette) -> None:
        super().__init__(font, palette, small_scale=0.85, muted_alpha=0.65)
        self.caption = QFont(self.small)
        self.caption.setBold(True)
        self.border = QColor(self.text)
        self.border.setAlphaF(0.35)


class MapScene(QGraphicsScene):
    """The scene of a service map; its items report clicks through it."""

    filterClicked = Signal(str)
    """A node or an edge was clicked: the display filter it stands for."""


class _FilterItem(ClickableItem):
    """A map item that stands for a display filter: clicking it asks the view to apply that filter."""

    def __init__(self, filter_text: str, tooltip: str) -> None:
        super().__init__(tooltip)
        self.filter_text = filter_text

    def clicked(self) -> None:
        scene = self.scene()
        if isinstance(scene, MapScene):
            scene.filterClicked.emit(self.filter_text)


class NodeItem(_FilterItem):
    """A table, trigger or handler box."""

    def __init__(self, node: MapNode, look: _Look) -> None:
        super().__init__(node.filter, node.tooltip)
        self.node = node
        self.look = look
        self._rect = QRectF(node.x, node.y, node.width, node.height)
        self.setZValue(2)

    def boundingRect(self) -> QRectF:
        return self._rect.adjusted(-2, -2, 2, 2)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        node, look = self.node, self.look
        if self.hovered:
            pen = QPen(look.hover, 2.4)
        elif node.failing:
            pen = QPen(look.colour(error_rate_colour(node.error_rate)), 2.0)
        else:
            pen = QPen(look.border, 1.0)
        painter.setPen(pen)
        painter.setBrush(look.tint(node.tint))
        painter.drawRoundedRect(self._rect, 6, 6)
        inner = self._rect.adjusted(8, 5, -8, -5)
        painter.setPen(look.text)
        painter.setFont(look.bold)
        painter.drawText(inner, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, node.title)
        painter.setPen(look.muted)
        painter.setFont(look.small)
        painter.drawText(inner, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom, node.subtitle)


class EdgeItem(_FilterItem):
    """An arrow between two nodes, with its figures above its start."""

    def __init__(self, edge: MapEdge, look: _Look) -> None:
        super().__init__(edge.filter, edge.tooltip)
        self.edge = edge
        self.look = look
        # Straight under the label, then a curve into the target: labels never sit on a bend.
        end = edge.x2 - 6.0
        start = min(edge.x1 + (LABEL_GAP + edge.label_width + 8.0 if edge.label_lines else 10.0), end - 30.0)
        start = max(start, edge.x1)
        control = (start + end) / 2
        path = QPainterPath(QPointF(edge.x1, edge.y1))
        path.lineTo(QPointF(start, edge.y1))
        path.cubicTo(QPointF(control, edge.y1), QPointF(control, edge.y2), QPointF(end, edge.y2))
        self.path = path
        stroker = QPainterPathStroker()
        stroker.setWidth(max(10.0, edge.width + 6))
        self._shape = stroker.createStroke(path)
        line_height = 15.0
        self._label = QRectF(
            edge.label_x - 4, edge.label_y - 1, edge.label_width + 8, line_height * len(edge.label_lines) + 2
        )
        if edge.label_lines:
            self._shape.addRect(self._label)
        self._bounds = self._shape.boundingRect().adjusted(-12, -12, 12, 12)
        self.setZValue(1)

    def boundingRect(self) -> QRectF:
        return self._bounds

    def shape(self) -> QPainterPath:
        return self._shape

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        edge, look = self.edge, self.look
        colour = look.hover if self.hovered else look.colour(edge.colour)
        pen = QPen(colour, edge.width + (1.0 if self.hovered else 0.0))
        pen.setCapStyle(Qt.PenCapStyle.FlatCap)
        if edge.dashed:
            pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self.path)
        size = 7.0 + edge.width
        tip = QPointF(edge.x2, edge.y2)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colour)
        painter.drawPolygon(
            [tip, QPointF(tip.x() - size, tip.y() - size * 0.55), QPointF(tip.x() - size, tip.y() + size * 0.55)]
        )
        if not edge.label_lines:
            return
        backing = QColor(look.base)
        backing.setAlphaF(0.9)
        painter.fillRect(self._label, backing)
        painter.setFont(look.font)
        for i, line in enumerate(edge.label_lines):
            failing = i == 1 and edge.edge is not None and edge.edge.failures > 0
            painter.setPen(look.colour(edge.colour) if failing else look.text)
            painter.drawText(
                QRectF(edge.label_x, edge.label_y + i * 15.0, edge.label_width + 4, 15.0),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                line,
            )


class _BackdropItem(QGraphicsItem):
    """Title, legend and column captions."""

    def __init__(self, layout: MapLayout, look: _Look) -> None:
        super().__init__()
        self.layout = layout
        self.look = look

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, self.layout.width, self.layout.captions_y + CAPTION_HEIGHT)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        layout, look = self.layout, self.look
        painter.setFont(look.title)
        painter.setPen(look.text)
        painter.drawText(QRectF(MARGIN, MARGIN, layout.width, TITLE_HEIGHT), Qt.AlignmentFlag.AlignLeft, layout.title)
        y = layout.legend_y + LEGEND_HEIGHT / 2 - 2
        painter.setFont(look.font)
        for entry in layout.legend:
            if entry.sample == "text":
                painter.setPen(look.muted)
                painter.drawText(QRectF(entry.x, y - 10, 600, 20), Qt.AlignmentFlag.AlignVCenter, entry.text)
                continue
            width = {"band": 3.5, "thin": MIN_EDGE_WIDTH, "thick": MAX_EDGE_WIDTH}[entry.sample]
            pen = QPen(look.colour(entry.colour), width)
            pen.setCapStyle(Qt.PenCapStyle.FlatCap)
            painter.setPen(pen)
            painter.drawLine(QPointF(entry.x, y), QPointF(entry.x + 24, y))
            painter.setPen(look.text)
            painter.drawText(QRectF(entry.x + 30, y - 10, 400, 20), Qt.AlignmentFlag.AlignVCenter, entry.text)
        painter.setFont(look.caption)
        painter.setPen(look.muted)
        for text, x in layout.captions:
            painter.drawText(QRectF(x, layout.captions_y, 300, CAPTION_HEIGHT), Qt.AlignmentFlag.AlignVCenter, text)


class ServiceMapView(QGraphicsView):
    """Draws a `MapLayout`; clicking a node or an edge asks for its display filter. Ctrl+wheel zooms."""

    filterRequested = Signal(str)
    """A display filter for what the user clicked, e.g. `trigger == "validate-order"`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.layout_: MapLayout | None = None
        self.node_items: dict[str, NodeItem] = {}
        self.edge_items: list[EdgeItem] = []
        self._scene = MapScene(self)
        self._scene.filterClicked.connect(self.filterRequested)
        self.setScene(self._scene)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self._signature: Any = None
        self.show_map([], [])

    def show_map(
        self,
        edges: Sequence[ServiceEdge],
        stats: Iterable[TriggerStats] | Mapping[str, TriggerStats] = (),
        *,
        tables: Mapping[str, str] | None = None,
        hint: str = "Open or start a capture to see which triggers deliver to which handlers.",
    ) -> None:
        """Draw the map of `edges` and `stats` (redrawn only when they changed, so a live refresh keeps the view)."""
        stats_list = list(stats.values()) if isinstance(stats, Mapping) else list(stats)
        signature = (tuple(edges), tuple(stats_list), tuple(sorted((tables or {}).items())))
        if signature == self._signature:
            return
        self._signature = signature
        self._scene.clear()
        self.node_items = {}
        self.edge_items = []
        look = _Look(self.font(), self.palette())
        self._scene.setBackgroundBrush(QBrush(look.base))
        if not edges and not stats_list:
            self.layout_ = None
            text = self._scene.addText(hint)
            text.setDefaultTextColor(look.muted)
            text.setPos(MARGIN, MARGIN)
            self._scene.setSceneRect(QRectF(0, 0, 600, 120))
            return
        layout = layout_service_map(
            edges,
            stats_list,
            tables=tables,
            measure=look.measure,
            measure_bold=look.measure_bold,
            measure_small=look.measure_small,
        )
        self.layout_ = layout
        self._scene.setSceneRect(QRectF(0, 0, layout.width, layout.height))
        self._scene.addItem(_BackdropItem(layout, look))
        for edge in layout.edges:
            edge_item = EdgeItem(edge, look)
            self._scene.addItem(edge_item)
            self.edge_items.append(edge_item)
        for node in layout.nodes:
            node_item = NodeItem(node, look)
            self._scene.addItem(node_item)
            self.node_items[node.key] = node_item

    def picture_scene(self) -> QGraphicsScene:
        return self._scene

    def wheelEvent(self, event: QWheelEvent) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            factor = 1.15 if event.angleDelta().y() > 0 else 1 / 1.15
            scale = self.transform().m11() * factor
            if 0.3 <= scale <= 3.0:
                self.scale(factor, factor)
            event.accept()
            return
        super().wheelEvent(event)
