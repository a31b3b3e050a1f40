"""The waterfall of one flow, as Inngest's dev server draws a run: a row per step on a shared time axis from the
flow's first step; an event's row holds its queue delay, each attempt and each retry wait as separate bars, so retries
show as gaps between attempts; writes and subscription updates are marks on their own rows.

Owns the layout (`waterfall_rows`, pure: bars from a `core.flows.Flow`) and the view (`WaterfallView`, QPainter, with
the colours and words the other pictures use: `picture_style`, `picture_look`). The flows panel
(`qt/pictures/flows_dock.py`) shows it in its Waterfall tab and hands it the selected event's flow, as it does to the
sequence diagram; a click on a row selects its event in the list.

Hasura records no attempt duration: an attempt's bar is the window its flow step was given (`duration_ms`: recorded
for replays and relayed deliveries, else estimated from the log, attempt 1 from the event's creation), so where the
queue delay cannot be told from the handler's time the first bar says "queue + attempt".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QHelpEvent, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QScrollArea, QToolTip, QWidget

from inspector.core.flows import Flow, FlowStep
from inspector.qt.pictures.picture_look import PictureLook
from inspector.qt.pictures.picture_style import FAILED, MARKS, STEP_COLOURS, elide, format_ms, split_lane

BarKind = Literal["queue", "attempt", "wait", "replay", "point"]

QUEUE_COLOUR = "#8C99A6"
"""Waiting for Hasura to take the event (created → first attempt)."""
OK_COLOUR = "#2E7D32"
RETRY_WAIT_COLOUR = MARKS["retry"].colour if "retry" in MARKS else "#B86E00"
REPLAY_COLOUR = "#5F6B7A"
SAME_INSTANT_S = 0.001
"""An estimated first attempt starting within this of the event's creation covers the queue delay too."""


@dataclass(frozen=True)
class Bar:
    """One bar (or, for `point`, one mark) of a row, in epoch seconds."""

    kind: BarKind
    start: float
    end: float
    colour: str
    text: str
    """The tooltip: what the bar is and how long."""


@dataclass
class WaterfallRow:
    """One step of the flow: an event with its attempts, or a write or subscription update."""

    label: str
    event_id: str | None
    bars: list[Bar] = field(default_factory=list)


def _attempt_colour(step: FlowStep) -> str:
    if "replay" in step.marks:
        return REPLAY_COLOUR
    ok = step.outcome == "ok" if step.outcome else step.http_status is not None and 200 <= step.http_status < 300
    return OK_COLOUR if ok else FAILED.colour


def waterfall_rows(flow: Flow) -> list[WaterfallRow]:
    """The rows of `flow`, in its steps' order: each event with its queue delay, attempts and retry waits as bars
    (replays after them, grey), and each write or subscription update as a point."""
    rows: list[WaterfallRow] = []
    by_event: dict[str, WaterfallRow] = {}
    created: dict[str, float] = {}
    last_end: dict[str, float] = {}
    attempts: dict[str, int] = {}
    for step in flow.steps:
        if step.kind == "event" and step.event_id is not None and step.event_id not in by_event:
            trigger = split_lane(step.target)[1]
            row = WaterfallRow(f"{trigger}: {step.label}", step.event_id)
            by_event[step.event_id] = row
            created[step.event_id] = step.at
            rows.append(row)
        elif step.kind == "invocation" and step.event_id in by_event:
            event_id = step.event_id
            assert event_id is not None
            row = by_event[event_id]
            took = (step.duration_ms or 0.0) / 1000
            start, end = step.at - took, step.at
            if "replay" in step.marks:
                row.bars.append(Bar("replay", start, end, REPLAY_COLOUR, f"{step.label}: an attempt Inspector made"))
                continue
            n = attempts.get(event_id, 0) + 1
            attempts[event_id] = n
            what = f"{step.label} ({format_ms(took * 1000)})"
            if n == 1:
                queued = start - created[event_id]
                if queued > SAME_INSTANT_S:
                    row.bars.append(
                        Bar("queue", created[event_id], start, QUEUE_COLOUR, f"queue delay: {format_ms(queued * 1000)}")
                    )
                else:
                    what += ": queue + attempt, from the event's creation (Hasura records no duration)"
            else:
                previous = last_end[event_id]
                if start > previous:
                    row.bars.append(
                        Bar(
                            "wait",
                            previous,
                            start,
                            RETRY_WAIT_COLOUR,
                            f"retry wait before attempt {n}: {format_ms((start - previous) * 1000)}",
                        )
                    )
            row.bars.append(Bar("attempt", start, end, _attempt_colour(step), what))
            last_end[event_id] = end
        elif step.kind in ("write", "message"):
            kind, name = split_lane(step.target)
            colour = STEP_COLOURS.get(step.kind, REPLAY_COLOUR)
            row = WaterfallRow(f"{name}: {step.label}" if name else step.label, step.event_id)
            row.bars.append(Bar("point", step.at, step.at, colour, f"{kind.lower() or step.kind}: {step.label}"))
            rows.append(row)
    return rows


def nice_step(span: float, ticks: int = 6) -> float:
    """A round tick spacing (1, 2 or 5 times a power of ten, in seconds): about `ticks` ticks over `span` seconds."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    power = 10.0 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 5, 10):
        if raw <= multiple * power:
            return multiple * power
    return 10 * power


class WaterfallView(QWidget):
    """Paints one flow's waterfall; as tall as its rows (it lives in a scroll area)."""

    eventSelected = Signal(str)
    """A row of an event was clicked."""

    ROW = 24.0
    AXIS = 26.0
    MARGIN = 10.0

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.flow: Flow | None = None
        self.rows: list[WaterfallRow] = []
        self.selected_event: str | None = None
        self.setMouseTracking(True)
        self.setMinimumHeight(120)

    # --- data ------------------------------------------------------------------------------------------------------

    def show_flow(self, flow: Flow | None) -> None:
        self.flow = flow
        self.rows = waterfall_rows(flow) if flow is not None else []
        self.setMinimumHeight(self.sizeHint().height())  # the scroll area scrolls a long flow
        self.updateGeometry()
        self.update()

    def select_event(self, event_id: str | None) -> bool:
        """Highlight `event_id`'s row; whether the flow has one."""
        self.selected_event = event_id
        self.update()
        return any(row.event_id == event_id for row in self.rows)

    def span(self) -> tuple[float, float]:
        """The time axis: the flow's first step to its last bar's end."""
        times = [t for row in self.rows for bar in row.bars for t in (bar.start, bar.end)]
        if not times:
            return 0.0, 1.0
        start, end = min(times), max(times)
        return start, max(end, start + 0.001)

    # --- geometry --------------------------------------------------------------------------------------------------

    def sizeHint(self) -> QSize:
        return QSize(900, int(self.AXIS + self.ROW * max(len(self.rows), 3) + 2 * self.MARGIN))

    def _look(self) -> PictureLook:
        return PictureLook(self.font(), self.palette(), small_scale=0.85, muted_alpha=0.6)

    def _label_width(self) -> float:
        return min(360.0, max(160.0, self.width() * 0.32))

    def _x(self, t: float, start: float, end: float) -> float:
        left = self.MARGIN + self._label_width()
        width = max(10.0, self.width() - left - self.MARGIN)
        return left + (t - start) / (end - start) * width

    def row_at(self, y: float) -> int | None:
        index = int((y - self.MARGIN - self.AXIS) // self.ROW)
        return index if 0 <= index < len(self.rows) and y >= self.MARGIN + self.AXIS else None

    def bar_at(self, point: QPointF) -> Bar | None:
        index = self.row_at(point.y())
        if index is None:
            return None
        start, end = self.span()
        for bar in self.rows[index].bars:
            x0, x1 = self._x(bar.start, start, end), self._x(bar.end, start, end)
            if x0 - 4 <= point.x() <= max(x1, x0 + 4) + 4:
                return bar
        return None

    # --- painting --------------------------------------------------------------------------------------------------

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        look = self._look()
        painter.fillRect(self.rect(), look.base)
        if not self.rows:
            painter.setPen(look.muted)
            painter.setFont(look.font)
            painter.drawText(
                QRectF(self.rect()),
                Qt.AlignmentFlag.AlignCenter,
                "Select an event in the list: its flow's steps are drawn here on one time axis.",
            )
            return
        start, end = self.span()
        left = self.MARGIN + self._label_width()
        top = self.MARGIN + self.AXIS
        bottom = top + self.ROW * len(self.rows)
        # the axis: offsets from the flow's first step
        step = nice_step(end - start)
        grid = QColor(look.text)
        grid.setAlphaF(0.15)
        painter.setFont(look.small)
        tick = 0.0
        while start + tick <= end + 1e-9:
            x = self._x(start + tick, start, end)
            painter.setPen(QPen(grid, 1))
            painter.drawLine(QPointF(x, top - 4), QPointF(x, bottom))
            painter.setPen(look.muted)
            text = f"+{format_ms(tick * 1000)}"
            if x + 2 + look.measure_small(text) <= self.width():  # the last tick's label only where it fits
                painter.drawText(QPointF(x + 2, top - 8), text)
            tick += step
        for index, row in enumerate(self.rows):
            y = top + index * self.ROW
            band = QRectF(0, y, self.width(), self.ROW)
            is_event = bool(row.bars) and row.bars[0].kind != "point"
            if is_event and row.event_id is not None and row.event_id == self.selected_event:
                highlight = QColor(look.hover)
                highlight.setAlphaF(0.18)
                painter.fillRect(band, highlight)
            elif index % 2:
                zebra = QColor(look.text)
                zebra.setAlphaF(0.035)
                painter.fillRect(band, zebra)
            painter.setPen(look.text if row.bars and row.bars[0].kind != "point" else look.muted)
            painter.setFont(look.font)
            label = elide(row.label, self._label_width() - 8, look.measure)
            painter.drawText(
                QRectF(self.MARGIN, y, self._label_width() - 8, self.ROW),
                Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                label,
            )
            for bar in row.bars:
                colour = look.colour(bar.colour)
                x0, x1 = self._x(bar.start, start, end), self._x(bar.end, start, end)
                if bar.kind == "point":
                    painter.setPen(Qt.PenStyle.NoPen)
                    painter.setBrush(colour)
                    cy = y + self.ROW / 2
                    painter.drawPolygon(
                        [QPointF(x0, cy - 5), QPointF(x0 + 5, cy), QPointF(x0, cy + 5), QPointF(x0 - 5, cy)]
                    )
                    continue
                height = self.ROW * (0.3 if bar.kind in ("queue", "wait") else 0.6)
                rect = QRectF(x0, y + (self.ROW - height) / 2, max(3.0, x1 - x0), height)
                if bar.kind == "wait":
                    painter.setPen(QPen(colour, 1, Qt.PenStyle.DashLine))
                    painter.setBrush(Qt.BrushStyle.NoBrush)
                else:
                    painter.setPen(Qt.PenStyle.NoPen)
                    painter.setBrush(colour)
                painter.drawRoundedRect(rect, 2, 2)
        painter.setPen(QPen(grid, 1))
        painter.drawLine(QPointF(left, top), QPointF(left, bottom))

    # --- interaction -----------------------------------------------------------------------------------------------

    def event(self, event: QEvent) -> bool:
        if isinstance(event, QHelpEvent):
            bar = self.bar_at(QPointF(event.pos()))
            index = self.row_at(event.pos().y())
            text = bar.text if bar is not None else (self.rows[index].label if index is not None else "")
            if text:
                QToolTip.showText(event.globalPos(), text, self)
            else:
                QToolTip.hideText()
            return True
        return super().event(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        index = self.row_at(event.position().y())
        if index is not None and self.rows[index].event_id:
            event_id = str(self.rows[index].event_id)
            self.select_event(event_id)
            self.eventSelected.emit(event_id)
        super().mousePressEvent(event)


class WaterfallPanel(QScrollArea):
    """The waterfall in a vertical scroll area (the flows panel's tab)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = WaterfallView(self)
        self.setWidget(self.view)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
