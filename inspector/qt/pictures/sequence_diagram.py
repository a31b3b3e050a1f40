"""The sequence diagram of one flow: Wireshark's flow graph for a 3factor user action.

Lanes left to right (the client, tables, event triggers, handlers, subscriptions), one arrow per step of the flow, top
to bottom in causal order, each with its time from the start of the flow in the left column (`+0.512 s`), its label
above it (`POST validate-order → 500 · 812 ms`) and its marks as badges in the right column (retry, failed,
duplicate, out of order, cold start...), explained by a legend at the top. Clicking an arrow selects its event in the
event list.

Two parts: `layout_sequence` (pure: positions, texts and colours, testable without a window, measured by a function
it is given) and `SequenceDiagramView`, which draws a layout with one item per arrow, so Qt paints only the rows in
view and a 1,000-step flow scrolls smoothly. The lane headers stay at the top of the view while scrolling. Used by
`FlowsPanel`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QKeyEvent,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QPolygonF,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsScene,
    QGraphicsView,
    QStyleOptionGraphicsItem,
    QWidget,
)

from inspector.core.flows import Flow, FlowStep
from inspector.qt.pictures.interactive_items import ClickableItem
from inspector.qt.pictures.picture_look import PictureLook
from inspector.qt.pictures.picture_style import (
    LANE_KINDS,
    OTHER_LANE,
    STEP_COLOURS,
    elide,
    estimate_width,
    format_ms,
    format_offset,
    mark_style,
    ordered_marks,
    split_lane,
)
from inspector.services.analysis.flows import REPLAY_MARK

Measure = Callable[[str], float]

MARGIN = 12.0
TITLE_HEIGHT = 24.0
LEGEND_ROW = 22.0
HEADER_HEIGHT = 44.0
WRAP_LENGTH = 12
"""Lane names longer than this go on two lines when the diagram is too wide for the view."""
HEADER_LINE = 15.0
"""Added to the headers' height when a lane name takes two lines."""
ROW_HEIGHT = 34.0
ARROW_OFFSET = 24.0
"""From the top of a row to its arrow; the label sits in the space above the arrow."""
MIN_GAP = 90.0
LANE_SPACING = 10.0
"""Between two lane headers."""
HEADER_PAD = 16.0
FILL_GAP = 260.0
"""Lanes spread out to fill a wide view, but not further apart than this."""
BADGE_HEIGHT = 16.0
BADGE_PAD = 6.0
BADGE_GAP = 4.0
SELF_LOOP = 22.0

STEP_KIND_LEGEND = {
    "write": "write",
    "event": "event",
    "invocation": "delivery (HTTP call)",
    "message": "subscription update",
}


@dataclass(frozen=True)
class LaneLayout:
    """One lane: a column with a header and a lifeline."""

    lane: str
    """As in the flow, e.g. `trigger:validate-order`."""
    kind: str
    """client, table, trigger, handler, subscription or other."""
    title: str
    """The name drawn in the header, e.g. `validate-order`."""
    caption: str
    """The kind drawn above the name, e.g. `EVENT TRIGGER`."""
    x: float
    """The lifeline's x."""
    tint: str
    """Header background on light palettes."""
    header_width: float
    title_lines: tuple[str, ...] = ()
    """The title as drawn: one line, or two when the diagram is too wide for the view (`wrap_title`)."""


@dataclass(frozen=True)
class BadgeLayout:
    """A mark drawn as a coloured pill in the marks column."""

    mark: str
    text: str
    colour: str
    x: float
    width: float


@dataclass(frozen=True)
class ArrowLayout:
    """One step of the flow as an arrow in its row."""

    index: int
    step: FlowStep
    top: float
    """The row's top; the row is `SequenceLayout.row_height` tall and spans the whole width."""
    y: float
    """The arrow's y."""
    x1: float
    x2: float
    label: str
    """The text drawn above the arrow, centred on it (elided only when wider than the whole diagram)."""
    full_label: str
    time_text: str
    colour: str
    marks: tuple[str, ...]
    """The marks drawn, most important first: the step's own plus `failed` for a non-2xx (or no) answer."""
    badges: tuple[BadgeLayout, ...]
    """Right after the label."""
    dashed: bool
    label_left: float
    label_right: float

    @property
    def event_id(self) -> str | None:
        return self.step.event_id

    @property
    def self_loop(self) -> bool:
        return self.x1 == self.x2


@dataclass(frozen=True)
class LegendEntry:
    """A sample (a line or a badge) and its text in the legend."""

    text: str
    colour: str
    x: float
    y: float
    sample: str
    """`line`, `dashed` or `badge`."""
    badge_text: str = ""


@dataclass(frozen=True)
class SequenceLayout:
    """Everything `SequenceDiagramView` draws, in scene coordinates."""

    title: str
    lanes: tuple[LaneLayout, ...]
    arrows: tuple[ArrowLayout, ...]
    legend: tuple[LegendEntry, ...]
    width: float
    height: float
    header_top: float
    header_height: float
    rows_top: float
    row_height: float
    gutter_right: float
    """The time column's right edge."""
    started: float | None

    def rows_between(self, y0: float, y1: float) -> range:
        """Indexes of the rows that intersect [y0, y1]."""
        first = max(0, math.floor((y0 - self.rows_top) / self.row_height))
        last = min(len(self.arrows), math.floor((y1 - self.rows_top) / self.row_height) + 1)
        return range(first, max(first, last))

    def arrow_at(self, y: float) -> ArrowLayout | None:
        rows = self.rows_between(y, y)
        return self.arrows[rows.start] if len(rows) else None

    def rows_for_event(self, event_id: str) -> list[int]:
        return [arrow.index for arrow in self.arrows if arrow.step.event_id == event_id]

    def lane_x(self, lane: str) -> float | None:
        for item in self.lanes:
            if item.lane == lane:
                return item.x
        return None


DELIVERY_MARKS = frozenset({"failed", "retry", "dead-letter"})
"""Marks that describe Hasura's delivery of an event, which a replay is never part of."""


def step_marks(step: FlowStep) -> tuple[str, ...]:
    """The marks a step shows: its own, plus `failed` for an invocation answered with a non-2xx status or not at all.

    A replay (an attempt Inspector made, marked `replay` by `inspector.services.analysis.flows`) keeps its grey
    `replay` badge only: whatever it got back, it is not one of Hasura's deliveries, so never an unsuccessful
    attempt, a retry or a dead letter (docs/window.md, Flows)."""
    marks = list(step.marks)
    if REPLAY_MARK in marks:
        return ordered_marks(mark for mark in marks if mark not in DELIVERY_MARKS)
    status = step.http_status
    if (status is not None and not 200 <= status < 300) or (step.kind == "invocation" and status is None):
        marks.append("failed")
    return ordered_marks(marks)


def step_label(step: FlowStep) -> str:
    """The text above an arrow: the step's label, plus the handler's time for an invocation."""
    label = step.label or step.kind
    if step.duration_ms is not None and format_ms(step.duration_ms) not in label:
        label = f"{label} · {format_ms(step.duration_ms)}"
    return label


def layout_sequence(
    flow: Flow,
    width: float = 900.0,
    *,
    measure: Measure = estimate_width,
    measure_bold: Measure | None = None,
    measure_small: Measure | None = None,
    row_height: float = ROW_HEIGHT,
) -> SequenceLayout:
    """Positions, texts and colours of `flow`'s sequence diagram for a view `width` pixels wide (wider when the lane
    headers need room). `measure` gives a text's width in the label font; `measure_bold` in the lane-title font;
    `measure_small` in the badge and caption font (both default to `measure`).

    Lanes are as far apart as their headers need (and spread to fill a wide view). A row holds one arrow, so its
    label and badges are centred on the arrow and may run past the lanes it joins without meeting another label."""
    measure_bold = measure_bold or measure
    measure_small = measure_small or measure
    lane_names = list(dict.fromkeys([*flow.lanes, *(lane for s in flow.steps for lane in (s.source, s.target))]))
    started = min((step.at for step in flow.steps), default=None)
    steps = flow.steps

    times = [format_offset(step.at - started) if started is not None else "" for step in steps]
    gutter = max([measure(text) for text in (*times, "+0.000 s")]) + 20.0
    kinds = [split_lane(name) for name in lane_names]
    captions = [LANE_KINDS.get(kind, OTHER_LANE)[0] for kind, _title in kinds]
    title_lines: list[tuple[str, ...]] = [(title,) for _kind, title in kinds]

    def header_widths() -> list[float]:
        return [
            max([measure_bold(line) for line in lines] + [measure_small(caption)]) + HEADER_PAD
            for lines, caption in zip(title_lines, captions, strict=True)
        ]

    xs, content_width = _lane_positions(header_widths(), gutter, width)
    if content_width > width:  # too wide for the view: long lane names on two lines
        # Long names only, and all of them alike (a trigger and its handler usually share a name).
        title_lines = [wrap_title(title, measure_bold) if len(title) > WRAP_LENGTH else (title,) for _k, title in kinds]
        xs, content_width = _lane_positions(header_widths(), gutter, width)
    widths = header_widths()
    header_height = HEADER_HEIGHT + (HEADER_LINE if any(len(lines) > 1 for lines in title_lines) else 0.0)
    lanes = tuple(
        LaneLayout(
            name, kind, title, LANE_KINDS.get(kind, OTHER_LANE)[0], x, LANE_KINDS.get(kind, OTHER_LANE)[1], hw, lines
        )
        for name, (kind, title), x, hw, lines in zip(lane_names, kinds, xs, widths, title_lines, strict=True)
    )
    lane_x = {lane.lane: lane.x for lane in lanes}

    title = _flow_title(flow, started)
    legend, legend_height = _legend(steps, content_width, measure, measure_small)
    header_top = MARGIN + TITLE_HEIGHT + legend_height
    rows_top = header_top + header_height + 4.0
    text_left = MARGIN + gutter
    text_right = content_width - MARGIN

    arrows = []
    for i, step in enumerate(steps):
        top = rows_top + i * row_height
        x1, x2 = lane_x[step.source], lane_x[step.target]
        marks = step_marks(step)
        badge_widths = [measure_small(mark_style(mark).badge) + 2 * BADGE_PAD for mark in marks]
        badges_width = sum(badge_widths) + BADGE_GAP * len(badge_widths) + (4.0 if badge_widths else 0.0)
        full_label = step_label(step)
        label_width = measure(full_label)
        room = text_right - text_left - badges_width
        label = full_label
        if label_width > room:
            label = elide(full_label, room, measure)
            label_width = measure(label)
        block = label_width + badges_width
        left = x1 + SELF_LOOP + 8.0 if x1 == x2 else (x1 + x2) / 2 - block / 2
        left = max(text_left, min(left, text_right - block))
        badges = []
        x = left + label_width + (4.0 + BADGE_GAP if badge_widths else 0.0)
        for mark, badge_width in zip(marks, badge_widths, strict=True):
            style = mark_style(mark)
            badges.append(BadgeLayout(mark, style.badge, style.colour, x, badge_width))
            x += badge_width + BADGE_GAP
        colour = mark_style(marks[0]).colour if marks else STEP_COLOURS.get(step.kind, "#2B3640")
        arrows.append(
            ArrowLayout(
                index=i,
                step=step,
                top=top,
                y=top + ARROW_OFFSET,
                x1=x1,
                x2=x2,
                label=label,
                full_label=full_label,
                time_text=times[i],
                colour=colour,
                marks=marks,
                badges=tuple(badges),
                dashed=step.kind == "message",
                label_left=left,
                label_right=left + label_width,
            )
        )
    return SequenceLayout(
        title=title,
        lanes=lanes,
        arrows=tuple(arrows),
        legend=legend,
        width=content_width,
        height=rows_top + len(arrows) * row_height + MARGIN,
        header_top=header_top,
        header_height=header_height,
        rows_top=rows_top,
        row_height=row_height,
        gutter_right=MARGIN + gutter - 8.0,
        started=started,
    )


def wrap_title(title: str, measure: Measure) -> tuple[str, ...]:
    """A lane name cut in two after the separator that best balances the lines (`restaurant-approval` →
    `restaurant-`, `approval`); names without a separator stay on one line."""
    cuts = [i + 1 for i, c in enumerate(title) if c in "-_./:" and 0 < i < len(title) - 1]
    if not cuts:
        return (title,)
    best = min(cuts, key=lambda i: max(measure(title[:i]), measure(title[i:])))
    return (title[:best], title[best:])


def _lane_positions(header_widths: Sequence[float], gutter: float, width: float) -> tuple[list[float], float]:
    """Lane x positions (as close as their headers allow, spread out over a wider view) and the content width."""
    if not header_widths:
        return [], width
    gaps = [
        max(MIN_GAP, (header_widths[i] + header_widths[i + 1]) / 2 + LANE_SPACING)
        for i in range(len(header_widths) - 1)
    ]
    first_x = MARGIN + gutter + header_widths[0] / 2 + 4.0
    last_pad = header_widths[-1] / 2 + MARGIN + 4.0
    spare = width - (first_x + sum(gaps) + last_pad)
    if spare > 0 and gaps:  # spread the lanes over a wide view, up to a comfortable distance
        gaps = [min(max(gap, FILL_GAP), gap + spare / len(gaps)) for gap in gaps]
    xs = [first_x]
    for gap in gaps:
        xs.append(xs[-1] + gap)
    return xs, max(width, xs[-1] + last_pad)


def _flow_title(flow: Flow, started: float | None) -> str:
    count = len(flow.steps)
    parts = [f"Flow of {flow.key_name} {flow.key}", f"{count:,} step{'s' if count != 1 else ''}"]
    if started is not None and flow.steps:
        span = max(step.at for step in flow.steps) - started
        parts.append(f"over {format_ms(span * 1000)}")
    if flow.anomalies:
        parts.append(f"{len(flow.anomalies)} anomal{'ies' if len(flow.anomalies) != 1 else 'y'}")
    return " · ".join(parts)


def _legend(
    steps: Sequence[FlowStep], width: float, measure: Measure, measure_small: Measure
) -> tuple[tuple[LegendEntry, ...], float]:
    """The legend's entries, flowed into lines no wider than `width`: line styles of the step kinds present, then the
    badges of the marks present."""
    kinds = list(dict.fromkeys(step.kind for step in steps))
    present = ordered_marks(mark for step in steps for mark in step_marks(step))
    items: list[tuple[str, str, str, str, float]] = []  # text, colour, sample, badge text, width
    solid = [STEP_KIND_LEGEND[kind] for kind in ("write", "event", "invocation") if kind in kinds]
    if solid:
        text = ", ".join(solid[:-1]) + (" or " if len(solid) > 1 else "") + solid[-1]
        items.append((text[0].upper() + text[1:], STEP_COLOURS["invocation"], "line", "", 34.0 + measure(text)))
    if "message" in kinds:
        text = "Subscription update"
        items.append((text, STEP_COLOURS["message"], "dashed", "", 34.0 + measure(text)))
    for mark in present:
        style = mark_style(mark)
        sample_width = measure_small(style.badge) + 2 * BADGE_PAD
        items.append((style.title, style.colour, "badge", style.badge, sample_width + 6.0 + measure(style.title)))
    if not items:
        return (), 0.0
    entries = []
    x, y = MARGIN, MARGIN + TITLE_HEIGHT
    for text, colour, sample, badge_text, item_width in items:
        if x > MARGIN and x + item_width > width - MARGIN:
            x, y = MARGIN, y + LEGEND_ROW
        entries.append(LegendEntry(text, colour, x, y, sample, badge_text))
        x += item_width + 18.0
    return tuple(entries), y + LEGEND_ROW - (MARGIN + TITLE_HEIGHT) + 6.0


# --- drawing ---------------------------------------------------------------------------------------------------------


class _Look(PictureLook):
    """The sequence diagram's look: the shared one plus its bands (zebra, hover, selected) and pens."""

    def __init__(self, font: QFont, palette: QPalette) -> None:
        super().__init__(font, palette, small_scale=0.82, muted_alpha=0.62)
        self.small_bold = QFont(self.small)
        self.small_bold.setBold(True)
        self.title_font = self.title
        self.small_metrics = QFontMetricsF(self.small_bold)  # badges and captions are small bold
        self.grid = QColor(self.text)
        self.grid.setAlphaF(0.22)
        self.zebra = QColor(self.text)
        self.zebra.setAlphaF(0.035)
        self.hover.setAlphaF(0.10)
        self.selected: QColor = palette.color(QPalette.ColorRole.Highlight)
        self.selected.setAlphaF(0.24)
        # Opaque versions of the row bands over the background, to back labels that cross lifelines.
        self.backings = {
            "plain": QColor(self.base),
            "zebra": _over(self.zebra, self.base),
            "hover": _over(self.hover, self.base),
            "selected": _over(self.selected, self.base),
        }
        self._pens: dict[tuple[str, bool], QPen] = {}

    def pen(self, hex_colour: str, dashed: bool) -> QPen:
        key = (hex_colour, dashed)
        pen = self._pens.get(key)
        if pen is None:
            pen = QPen(self.colour(hex_colour), 1.6)
            pen.setCapStyle(Qt.PenCapStyle.FlatCap)
            if dashed:
                pen.setStyle(Qt.PenStyle.DashLine)
            self._pens[key] = pen
        return pen


def _over(colour: QColor, base: QColor) -> QColor:
    """`colour` (translucent) painted over the opaque `base`, as one opaque colour."""
    alpha = colour.alphaF()
    return QColor.fromRgbF(
        colour.redF() * alpha + base.redF() * (1 - alpha),
        colour.greenF() * alpha + base.greenF() * (1 - alpha),
        colour.blueF() * alpha + base.blueF() * (1 - alpha),
    )


def draw_badge(painter: QPainter, look: _Look, x: float, y: float, width: float, text: str, colour: str) -> None:
    """A pill of `colour` with white text, vertically centred on `y`."""
    rect = QRectF(x, y - BADGE_HEIGHT / 2, width, BADGE_HEIGHT)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(colour))
    painter.drawRoundedRect(rect, BADGE_HEIGHT / 2, BADGE_HEIGHT / 2)
    painter.setPen(QColor("#FFFFFF"))
    painter.setFont(look.small_bold)
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)


def draw_arrow_head(painter: QPainter, tip: QPointF, direction: float, colour: QColor, size: float = 8.0) -> None:
    """A filled head at `tip` pointing along `direction` (radians)."""
    left = QPointF(tip.x() - size * math.cos(direction - 0.42), tip.y() - size * math.sin(direction - 0.42))
    right = QPointF(tip.x() - size * math.cos(direction + 0.42), tip.y() - size * math.sin(direction + 0.42))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(colour)
    painter.drawPolygon(QPolygonF([tip, left, right]))


def paint_headers(painter: QPainter, look: _Look, layout: SequenceLayout, top: float, opaque: bool) -> None:
    """The lane headers with their top at `top` (the scene's own, or the view's top while scrolling)."""
    if opaque:
        painter.fillRect(QRectF(0, top - 4, layout.width, layout.header_height + 8), look.base)
    for lane in layout.lanes:
        box_width = lane.header_width
        rect = QRectF(lane.x - box_width / 2, top, box_width, layout.header_height)
        painter.setPen(QPen(look.grid, 1))
        painter.setBrush(look.tint(lane.tint))
        painter.drawRoundedRect(rect, 5, 5)
        painter.setPen(look.muted)
        painter.setFont(look.small)
        painter.drawText(
            rect.adjusted(4, 4, -4, 0), Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, lane.caption
        )
        painter.setPen(look.text)
        painter.setFont(look.bold)
        lines = lane.title_lines or (lane.title,)
        title = "\n".join(
            elide(line, box_width - 10, look.bold_metrics.horizontalAdvance, middle=True) for line in lines
        )
        painter.drawText(
            rect.adjusted(4, 0, -4, -5), Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom, title
        )
    painter.setPen(look.muted)
    painter.setFont(look.small)
    band = QRectF(MARGIN, top, layout.gutter_right - MARGIN, layout.header_height)
    painter.drawText(band, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom, "time")


class _BackdropItem(QGraphicsItem):
    """Title, legend, lane headers and lifelines: everything but the rows."""

    def __init__(self, layout: SequenceLayout, look: _Look) -> None:
        super().__init__()
        self.layout = layout
        self.look = look
        self.setZValue(-1)

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, self.layout.width, self.layout.height)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        layout, look = self.layout, self.look
        exposed = option.exposedRect if option.exposedRect.isValid() else self.boundingRect()
        painter.setFont(look.title_font)
        painter.setPen(look.text)
        painter.drawText(
            QRectF(MARGIN, MARGIN, layout.width - 2 * MARGIN, TITLE_HEIGHT),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
            layout.title,
        )
        for entry in layout.legend:
            y = entry.y + LEGEND_ROW / 2
            if entry.sample == "badge":
                width = look.small_metrics.horizontalAdvance(entry.badge_text) + 2 * BADGE_PAD
                draw_badge(painter, look, entry.x, y, width, entry.badge_text, entry.colour)
                text_x = entry.x + width + 6
            else:
                painter.setPen(look.pen(entry.colour, entry.sample == "dashed"))
                painter.drawLine(QPointF(entry.x, y), QPointF(entry.x + 22, y))
                draw_arrow_head(painter, QPointF(entry.x + 28, y), 0.0, look.colour(entry.colour), 7)
                text_x = entry.x + 34
            painter.setPen(look.text)
            painter.setFont(look.font)
            painter.drawText(QRectF(text_x, entry.y, 400, LEGEND_ROW), Qt.AlignmentFlag.AlignVCenter, entry.text)
        if exposed.top() < layout.rows_top:
            paint_headers(painter, look, layout, layout.header_top, opaque=False)
        lifeline = QPen(look.grid, 1, Qt.PenStyle.DashLine)
        painter.setPen(lifeline)
        top = max(layout.rows_top - 4, exposed.top())
        bottom = min(layout.height - MARGIN, exposed.bottom())
        if bottom > top:
            for lane in layout.lanes:
                painter.drawLine(QPointF(lane.x, top), QPointF(lane.x, bottom))


class ArrowItem(ClickableItem):
    """One row of the diagram: zebra band, time, label, arrow and badges. Clicking it selects its step."""

    def __init__(self, arrow: ArrowLayout, layout: SequenceLayout, look: _Look) -> None:
        super().__init__(_tooltip(arrow))
        self.arrow = arrow
        self.look = look
        self._rect = QRectF(0, arrow.top, layout.width, layout.row_height)
        self._gutter = QRectF(MARGIN, arrow.top + 2, layout.gutter_right - MARGIN, layout.row_height - 4)
        self.selected = False

    @property
    def event_id(self) -> str | None:
        return self.arrow.step.event_id

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        arrow, look = self.arrow, self.look
        state = "selected" if self.selected else "hover" if self.hovered else "zebra" if arrow.index % 2 else "plain"
        if state != "plain":
            painter.fillRect(self._rect, getattr(look, state))
        painter.setFont(look.font)
        painter.setPen(look.muted)
        time_rect = QRectF(self._gutter.left(), arrow.y - 10, self._gutter.width(), 20)
        painter.drawText(time_rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, arrow.time_text)

        colour = look.colour(arrow.colour)
        painter.setPen(look.pen(arrow.colour, arrow.dashed))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        if arrow.self_loop:
            path = QPainterPath(QPointF(arrow.x1, arrow.y - 9))
            path.cubicTo(
                arrow.x1 + SELF_LOOP, arrow.y - 11, arrow.x1 + SELF_LOOP, arrow.y + 3, arrow.x1 + 4, arrow.y + 3
            )
            painter.drawPath(path)
            draw_arrow_head(painter, QPointF(arrow.x1 + 1, arrow.y + 3), math.pi, colour)
        else:
            direction = 1.0 if arrow.x2 > arrow.x1 else -1.0
            tip = QPointF(arrow.x2 - direction * 1.5, arrow.y)
            painter.drawLine(QPointF(arrow.x1, arrow.y), QPointF(tip.x() - direction * 6, arrow.y))
            draw_arrow_head(painter, tip, 0.0 if direction > 0 else math.pi, colour)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(colour)
            painter.drawEllipse(QPointF(arrow.x1, arrow.y), 2.5, 2.5)

        # The label may run over other lanes' lifelines: a backing of the background colour keeps it readable.
        label_rect = QRectF(arrow.label_left, arrow.top + 2, arrow.label_right - arrow.label_left, ARROW_OFFSET - 5)
        end = arrow.badges[-1].x + arrow.badges[-1].width if arrow.badges else label_rect.right()
        backing = QRectF(label_rect.left() - 3, label_rect.top(), end - label_rect.left() + 6, label_rect.height())
        painter.fillRect(backing, look.backings[state])
        painter.setPen(look.text if not arrow.marks else colour)
        painter.setFont(look.font)
        painter.drawText(label_rect, Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignLeft, arrow.label)
        badge_y = label_rect.bottom() - BADGE_HEIGHT / 2 - 1
        for badge in arrow.badges:
            draw_badge(painter, look, badge.x, badge_y, badge.width, badge.text, badge.colour)

    def clicked(self) -> None:
        scene = self.scene()
        if isinstance(scene, SequenceScene):
            scene.arrowClicked.emit(self.arrow.index)


def _tooltip(arrow: ArrowLayout) -> str:
    step = arrow.step
    lines = [
        f"<b>{_html(arrow.full_label)}</b>",
        f"{arrow.time_text} · {step.kind}: {_html(step.source)} → {_html(step.target)}",
    ]
    if step.http_status is not None:
        lines.append(f"HTTP {step.http_status}")
    if step.duration_ms is not None:
        lines.append(f"took {format_ms(step.duration_ms)}")
    for mark in arrow.marks:
        style = mark_style(mark)
        lines.append(f"<span style='color:{style.colour}'>■</span> <b>{style.title}</b>: {_html(style.meaning)}")
    if step.event_id:
        lines.append(f"event {step.event_id}")
        lines.append("<i>Click to select this event in the list</i>")
    if step.invocation_id:
        lines.append(f"invocation {step.invocation_id}")
    return "<br>".join(lines)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SequenceScene(QGraphicsScene):
    """The scene of one sequence diagram; its arrow items report clicks through it."""

    arrowClicked = Signal(int)
    """The row (step index) of the arrow that was clicked."""


class SequenceDiagramView(QGraphicsView):
    """Draws a flow's `SequenceLayout`; clicking an arrow (or Up/Down) selects its step and says which event it is."""

    eventSelected = Signal(str)
    """The event id of the arrow the user clicked (steps without an event, such as a client write, say nothing)."""
    stepSelected = Signal(int)
    """The index of the step the user clicked, in `flow.steps`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.flow: Flow | None = None
        self.layout_: SequenceLayout | None = None
        self.items_: list[ArrowItem] = []
        self.selected_row: int | None = None
        self._look: _Look | None = None
        self._laid_out_width = 0.0
        self._scene = SequenceScene(self)
        self._scene.arrowClicked.connect(self._on_scene_arrow_clicked)
        self.setScene(self._scene)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        # The sticky headers are painted over the viewport: scrolling must repaint rather than shift pixels.
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.FullViewportUpdate)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._relayout = QTimer(self)
        self._relayout.setSingleShot(True)
        self._relayout.setInterval(80)
        self._relayout.timeout.connect(self._on_relayout_timeout)
        self.show_flow(None)

    # --- public ----------------------------------------------------------------------------------------------------

    def show_flow(self, flow: Flow | None, hint: str = "Select an event to see the flow it belongs to.") -> None:
        """Draw `flow` (None: an empty diagram with `hint`); keeps the scroll position when the same flow is shown
        again (a live capture refreshing it)."""
        if flow is not None and flow == self.flow and self.layout_ is not None:
            return  # a live refresh that found nothing new
        same = flow is not None and self.flow is not None and flow.key == self.flow.key
        keep = (self.horizontalScrollBar().value(), self.verticalScrollBar().value()) if same else None
        selected_event = self.selected_event_id() if same else None
        self.flow = flow
        self.selected_row = None
        self._build(hint)
        if keep is not None:
            self.horizontalScrollBar().setValue(keep[0])
            self.verticalScrollBar().setValue(keep[1])
        if selected_event:
            self.select_event(selected_event, scroll=False)

    def select_event(self, event_id: str, *, scroll: bool = True) -> bool:
        """Highlight the first arrow of `event_id` (from the event list's selection); emits nothing."""
        if self.layout_ is None:
            return False
        rows = self.layout_.rows_for_event(event_id)
        if not rows:
            return False
        self._select_row(rows[0], scroll=scroll)
        return True

    def select_step(self, index: int) -> None:
        """Select the step at `index`, as a click on its arrow does (emits)."""
        self._on_scene_arrow_clicked(index)

    def selected_event_id(self) -> str | None:
        if self.layout_ is None or self.selected_row is None:
            return None
        return self.layout_.arrows[self.selected_row].step.event_id

    def arrow_items(self) -> list[ArrowItem]:
        return list(self.items_)

    def picture_scene(self) -> QGraphicsScene:
        """The whole diagram, for export."""
        return self._scene

    # --- building --------------------------------------------------------------------------------------------------

    def _build(self, hint: str) -> None:
        self._scene.clear()
        self.items_ = []
        self.layout_ = None
        self._look = _Look(self.font(), self.palette())
        self._scene.setBackgroundBrush(QBrush(self._look.base))
        width = max(400.0, float(self.viewport().width()) - 2)
        self._laid_out_width = width
        if self.flow is None or not self.flow.steps:
            text = self._scene.addText(hint if self.flow is None else f"Flow {self.flow.key} has no steps.")
            text.setDefaultTextColor(self._look.muted)
            text.setPos(MARGIN, MARGIN)
            self._scene.setSceneRect(QRectF(0, 0, width, 200))
            return
        look = self._look
        layout = layout_sequence(
            self.flow, width, measure=look.measure, measure_bold=look.measure_bold, measure_small=look.measure_small
        )
        self.layout_ = layout
        self._scene.setSceneRect(QRectF(0, 0, layout.width, layout.height))
        self._scene.addItem(_BackdropItem(layout, self._look))
        for arrow in layout.arrows:
            item = ArrowItem(arrow, layout, self._look)
            self._scene.addItem(item)
            self.items_.append(item)

    def _select_row(self, row: int, *, scroll: bool) -> None:
        if self.selected_row is not None and self.selected_row < len(self.items_):
            self.items_[self.selected_row].selected = False
            self.items_[self.selected_row].update()
        self.selected_row = row
        item = self.items_[row]
        item.selected = True
        item.update()
        if scroll and self.layout_ is not None:
            rect = item.boundingRect()
            visible = self.mapToScene(self.viewport().rect()).boundingRect()
            visible.setTop(visible.top() + self.layout_.header_height + 8)  # under the pinned headers
            if not visible.contains(QRectF(visible.left() + 1, rect.top(), 1, rect.height())):
                if abs(rect.center().y() - visible.center().y()) > visible.height():
                    self.centerOn(visible.center().x(), rect.center().y())  # a jump: show the row mid-view
                else:  # a step: scroll just enough
                    header = self.layout_.header_height + 8
                    self.ensureVisible(QRectF(visible.left() + 1, rect.top() - header, 1, rect.height() + header), 0, 0)

    # --- events ----------------------------------------------------------------------------------------------------

    def _on_scene_arrow_clicked(self, index: int) -> None:
        if self.layout_ is None or not 0 <= index < len(self.items_):
            return
        self._select_row(index, scroll=True)
        self.stepSelected.emit(index)
        event_id = self.layout_.arrows[index].step.event_id
        if event_id:
            self.eventSelected.emit(event_id)

    def _on_relayout_timeout(self) -> None:
        if self.flow is not None:
            flow, self.layout_ = self.flow, None  # the same flow, laid out again for the new width
            self.show_flow(flow)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if self.layout_ is not None and self.items_:
            moves = {Qt.Key.Key_Down: 1, Qt.Key.Key_Up: -1, Qt.Key.Key_PageDown: 20, Qt.Key.Key_PageUp: -20}
            key = Qt.Key(event.key())
            if key in moves:
                current = self.selected_row if self.selected_row is not None else -1
                self.select_step(max(0, min(len(self.items_) - 1, current + moves[key])))
                return
            if key in (Qt.Key.Key_Home, Qt.Key.Key_End):
                self.select_step(0 if key == Qt.Key.Key_Home else len(self.items_) - 1)
                return
        super().keyPressEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.flow is not None and abs(self.viewport().width() - self._laid_out_width) > 24:
            self._relayout.start()

    def drawForeground(self, painter: QPainter, rect: QRectF | Any) -> None:
        """Lane headers pinned to the top of the view once the scene's own have scrolled away."""
        layout, look = self.layout_, self._look
        if layout is None or look is None:
            return
        top = self.mapToScene(0, 0).y()
        if top > layout.header_top:
            paint_headers(painter, look, layout, top + 4, opaque=True)
