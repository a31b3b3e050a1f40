"""Timelines of a capture, Wireshark's I/O graphs for event triggers: events/s and failures/s, and the delivery
latency percentiles (p50, p95), per time bucket.

`TimelineView` owns the data (`set_buckets`, cheap enough to call on every refresh of a live capture), a readout of the
bucket under the mouse and `TimelinePlots`, a widget that paints two plots sharing their time axis with QPainter (no
plotting library: numpy alone was 38 MB of the installers): step-filled areas of the rates, lines of the latencies
broken where no event was delivered, clock-time and value axes, a grid, legends and a crosshair snapped to the bucket
under the mouse. The wheel zooms the time axis around the mouse, a drag pans it, a double-click shows everything again;
clicking a bucket asks for a display filter of its time range. Used by `FlowsPanel`; the rows come from the analysis
report's `timeline(bucket_seconds)`.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QMouseEvent,
    QPaintEngine,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QPolygonF,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QApplication, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from inspector.qt.pictures.picture_style import MARKS, format_clock, format_ms, on_dark
from inspector.qt.pictures.plot_axes import clock_label, time_ticks, value_label, value_ticks
from inspector.qt.widgets.highlighters import is_dark

EVENTS_COLOUR = "#3F6E9E"
FAILURES_COLOUR = MARKS["failed"].colour
P50_COLOUR = "#2E7D32"
P95_COLOUR = MARKS["retry"].colour
MAX_DENSE_BUCKETS = 200_000
"""Beyond this many buckets between the first and the last, gaps are not filled with zeros."""

POLYLINE_PIECE = 16
"""Segments per piece of a drawn polyline (and steps per piece of a filled area): see `_chunked`."""
ZOOM_PER_NOTCH = 0.8
"""A notch of the mouse wheel (away from the user) shows this fraction of the time range."""


@dataclass(frozen=True)
class Bucket:
    """One time bucket of the timeline."""

    start: float
    """Epoch seconds."""
    events: int
    """Events created in the bucket."""
    failures: int
    """Invocations without a 2xx answer in the bucket."""
    p50_ms: float | None
    p95_ms: float | None
    """Delivery latency of the events delivered in the bucket."""


def buckets_from_rows(rows: Sequence[Sequence[Any]] | Sequence[Bucket]) -> list[Bucket]:
    """`(t, events, failures, p50_ms, p95_ms)` rows (or buckets) as buckets, sorted by time."""
    buckets: list[Bucket] = []
    for row in rows:
        if isinstance(row, Bucket):
            buckets.append(row)
            continue
        t, events, failures, p50, p95 = (row[i] for i in range(5))
        buckets.append(
            Bucket(
                float(t),
                int(events or 0),
                int(failures or 0),
                None if p50 is None else float(p50),
                None if p95 is None else float(p95),
            )
        )
    return sorted(buckets, key=lambda b: b.start)


@dataclass(frozen=True)
class Series:
    """What the plots draw: bucket edges (len n + 1, epoch seconds) and per-bucket values (len n), gaps filled."""

    edges: list[float]
    starts: list[float]
    events_per_s: list[float]
    failures_per_s: list[float]
    p50: list[float]
    """NaN where no event was delivered."""
    p95: list[float]


def series(buckets: Sequence[Bucket], bucket_seconds: float) -> Series:
    """Dense per-second rates and latencies from `buckets` (missing buckets are zero events, no latency)."""
    if not buckets:
        return Series([0.0], [], [], [], [], [])
    first = buckets[0].start
    span = round((buckets[-1].start - first) / bucket_seconds) + 1
    if span <= MAX_DENSE_BUCKETS:
        index = [round((b.start - first) / bucket_seconds) for b in buckets]
        starts = [first + i * bucket_seconds for i in range(span)]
    else:
        index = list(range(len(buckets)))
        starts = [b.start for b in buckets]
    count = len(starts)
    events = [0.0] * count
    failures = [0.0] * count
    p50 = [math.nan] * count
    p95 = [math.nan] * count
    for i, bucket in zip(index, buckets, strict=True):
        events[i] = bucket.events / bucket_seconds
        failures[i] = bucket.failures / bucket_seconds
        p50[i] = math.nan if bucket.p50_ms is None else bucket.p50_ms
        p95[i] = math.nan if bucket.p95_ms is None else bucket.p95_ms
    return Series([*starts, starts[-1] + bucket_seconds], starts, events, failures, p50, p95)


def time_filter(start: float, end: float) -> str:
    """A display filter for events created in [start, end)."""

    def iso(t: float) -> str:
        return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    return f'created_at >= "{iso(start)}" and created_at < "{iso(end)}"'


# --- the plots -------------------------------------------------------------------------------------------------------


@dataclass
class Curve:
    """One curve of a plot: a step-filled area over the bucket edges (`area`), or a line through the bucket middles
    broken where a value is NaN."""

    name: str
    """Its legend text."""
    colour: str
    """#RRGGBB on a light palette (made lighter on a dark one)."""
    area: bool
    fill_alpha: float = 0.0
    width: float = 1.5
    ys: list[float] = field(default_factory=list)
    """One value per bucket."""
    low: list[float] = field(default_factory=list, repr=False)
    high: list[float] = field(default_factory=list, repr=False)
    """`ys` with NaN as +inf and -inf: the least and greatest of a run of buckets with `min` and `max`."""

    def set_values(self, ys: list[float]) -> None:
        self.ys = ys
        if self.area:
            self.low = self.high = ys
        else:
            self.low = [math.inf if math.isnan(y) else y for y in ys]
            self.high = [-math.inf if math.isnan(y) else y for y in ys]


@dataclass
class Plot:
    """One of the stacked plots, and where the last layout put it."""

    title: str
    axis_label: str
    curves: list[Curve]
    rect: QRectF = field(default_factory=QRectF)
    """The plotting area, in widget pixels."""
    y_step: float = 1.0
    y_top: float = 1.0
    """The value at the top of the plotting area."""

    def y_pixel(self, value: float) -> float:
        return self.rect.bottom() - value / self.y_top * self.rect.height()


@dataclass
class _Layout:
    """Everything `paintEvent` draws that depends only on the data, the time range, the size and the font."""

    x_step: float
    x_times: list[float]
    """The times (epoch seconds) of the time axis's ticks."""
    x_ticks: list[tuple[float, str]]
    """Their (pixel, label)."""
    y_ticks: list[list[tuple[float, str]]]
    """Per plot: (pixel, label) of its value axis."""
    shapes: list[list[_Shape]]
    """Per plot, per curve."""


@dataclass
class _Shape:
    """A curve in widget pixels."""

    lines: list[QPolygonF] = field(default_factory=list)
    """Its line (the outline of an area), in pieces (`_chunked`)."""
    fill: QPolygonF | None = None
    """An area: the whole polygon (drawn on vector devices: SVG)."""
    fill_pieces: list[QPolygonF] = field(default_factory=list)
    """An area: the polygon in pieces of `POLYLINE_PIECE` steps, drawn on screen and PNG without antialiasing (exact
    where pieces meet: the edges are vertical and horizontal). Qt fills a polygon of hundreds of steps several times
    slower than its pieces."""


class TimelinePlots(QWidget):
    """Two plots sharing their time axis, painted: events/s and failures/s above, latency p50/p95 below. x values are
    seconds since `origin` (the first bucket's start), so that the numbers stay small."""

    hovered = Signal(object)
    """The x (seconds since `origin`) under the mouse, or None when it leaves the plots."""
    clicked = Signal(float)
    """The x clicked (without a drag; emitted after the double-click interval, a double-click resets the zoom)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.events_curve = Curve("events/s", EVENTS_COLOUR, area=True, fill_alpha=0.35)
        self.failures_curve = Curve("unsuccessful attempts/s", FAILURES_COLOUR, area=True, fill_alpha=0.55)
        self.p50_curve = Curve("p50 (median)", P50_COLOUR, area=False, width=2.0)
        self.p95_curve = Curve("p95", P95_COLOUR, area=False, width=2.0)
        self.rates = Plot(
            "Events and unsuccessful attempts per second", "per second", [self.events_curve, self.failures_curve]
        )
        self.latency = Plot("Delivery latency (created → delivered)", "latency (ms)", [self.p50_curve, self.p95_curve])
        self.plots = (self.rates, self.latency)
        self.origin = 0.0
        self.bucket_seconds = 1.0
        self.edges: list[float] = [0.0]
        """Bucket edges, seconds since `origin`."""
        self.crosshair: float | None = None
        """x of the crosshair (seconds since `origin`), None when hidden."""
        self._zoom: tuple[float, float] | None = None
        """The x range shown when zoomed or panned; None: all of it (following a live capture)."""
        self._generation = 0
        self._layout_key: tuple[Any, ...] | None = None
        self._layout: _Layout | None = None
        self._press: tuple[float, tuple[float, float]] | None = None
        """Mouse x and time range when the left button went down (None after a double-click)."""
        self._dragging = False
        self._click_x = 0.0
        self._click_timer = QTimer(self)
        self._click_timer.setSingleShot(True)
        self._click_timer.timeout.connect(lambda: self.clicked.emit(self._click_x))
        self.setMouseTracking(True)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    def sizeHint(self) -> QSize:
        return QSize(640, 400)

    def minimumSizeHint(self) -> QSize:
        return QSize(240, 200)

    # --- data and range --------------------------------------------------------------------------------------------

    def set_series(self, data: Series, bucket_seconds: float) -> None:
        """Show `data`; a zoomed range stays on the same times."""
        origin = data.starts[0] if data.starts else 0.0
        if self._zoom is not None and data.starts:
            shift = self.origin - origin
            self._zoom = (self._zoom[0] + shift, self._zoom[1] + shift)
        self.origin = origin
        self.edges = [t - origin for t in data.edges]
        self.bucket_seconds = bucket_seconds
        self.events_curve.set_values(data.events_per_s)
        self.failures_curve.set_values(data.failures_per_s)
        self.p50_curve.set_values(data.p50)
        self.p95_curve.set_values(data.p95)
        if self._zoom is not None:
            self.set_x_range(*self._zoom)
        self._changed()

    def full_range(self) -> tuple[float, float]:
        return (0.0, self.edges[-1]) if len(self.edges) > 1 else (0.0, 1.0)

    @property
    def x_range(self) -> tuple[float, float]:
        """The time range shown, seconds since `origin`."""
        return self._zoom or self.full_range()

    def set_x_range(self, start: float, end: float) -> None:
        """Show [start, end] (seconds since `origin`), kept within the data; all of it means following it."""
        low, high = self.full_range()
        span = min(high - low, max(end - start, min(high - low, 2 * self.bucket_seconds)))
        start = min(max(start, low), high - span)
        self._zoom = None if span >= high - low else (start, start + span)
        self._changed()

    def reset_x_range(self) -> None:
        self._zoom = None
        self._changed()

    def set_crosshair(self, x: float | None) -> None:
        if x != self.crosshair:
            for old_or_new in (self.crosshair, x):  # repaint only the strips of the old and the new line
                if old_or_new is not None:
                    self.update(math.floor(self.x_pixel(old_or_new)) - 2, 0, 5, self.height())
            self.crosshair = x

    def _changed(self) -> None:
        self._generation += 1
        self.update()

    # --- geometry --------------------------------------------------------------------------------------------------

    def x_pixel(self, x: float) -> float:
        x0, x1 = self.x_range
        rect = self._current_layout_rect()
        return rect.left() + (x - x0) / (x1 - x0) * rect.width()

    def x_at(self, pixel: float) -> float:
        x0, x1 = self.x_range
        rect = self._current_layout_rect()
        return x0 + (pixel - rect.left()) / max(1.0, rect.width()) * (x1 - x0)

    def position_of(self, plot: Plot, x: float, y: float) -> QPointF:
        """Where (x, y) of `plot` is in the widget."""
        self.layout_now()
        return QPointF(self.x_pixel(x), plot.y_pixel(y))

    def plot_at(self, position: QPointF) -> Plot | None:
        self.layout_now()
        return next((plot for plot in self.plots if plot.rect.contains(position)), None)

    def time_ticks(self) -> tuple[float, list[float]]:
        """The spacing and the times (epoch seconds) of the time axis's ticks as laid out now."""
        layout = self.layout_now()
        return layout.x_step, layout.x_times

    def _current_layout_rect(self) -> QRectF:
        self.layout_now()
        return self.rates.rect

    def layout_now(self) -> _Layout:
        """The layout for the current data, range, size and font (cached)."""
        key = (self._generation, self.width(), self.height(), self.font().key())
        if self._layout is None or key != self._layout_key:
            self._layout = self._compute_layout()
            self._layout_key = key
        return self._layout

    def _compute_layout(self) -> _Layout:
        metrics = QFontMetricsF(self.font())
        title_metrics = QFontMetricsF(_title_font(self.font()))
        line = metrics.height()
        title_height = title_metrics.height() + 14
        axis_height = 5 + line + 2
        top, bottom_margin, right_margin = 2.0, 2.0, 14.0
        block = max(60.0, (self.height() - top - bottom_margin) / 2)
        heights = [max(10.0, block - title_height - axis_height)] * 2
        x0, x1 = self.x_range
        has_data = len(self.edges) > 1
        first, last = self._visible(x0, x1)
        # Buckets narrower than half a pixel are drawn in runs: the greatest value (areas), the least and the greatest
        # (lines) of each run, the runs aligned on bucket indices so that panning does not flicker.
        run = max(1, math.ceil((last - first) / (2 * max(10.0, self.width() - 100))))

        # Value axes first: their widest label sets where the plotting areas start.
        y_ticks_values: list[list[tuple[float, str]]] = []
        for plot, height in zip(self.plots, heights, strict=True):
            peak = 0.0
            for curve in plot.curves:
                # Lines go on to a run past each side (cut there): their values count too.
                lo, hi = (first, last) if curve.area else (max(0, first - 2 * run), min(len(curve.ys), last + 2 * run))
                if hi > lo:
                    peak = max(peak, max(curve.high[lo:hi]))
            plot.y_step, plot.y_top = value_ticks(peak * 1.05, max(2, min(8, int(height // 36))))
            count = round(plot.y_top / plot.y_step)
            y_ticks_values.append(
                [(i * plot.y_step, value_label(i * plot.y_step, plot.y_step)) for i in range(count + 1)]
            )
        label_width = max(metrics.horizontalAdvance(text) for ticks in y_ticks_values for _v, text in ticks)
        left = 4 + line + 6 + label_width + 6
        width = max(10.0, self.width() - left - right_margin)
        for index, (plot, height) in enumerate(zip(self.plots, heights, strict=True)):
            plot.rect = QRectF(left, top + index * block + title_height, width, height)
        y_ticks = [
            [(plot.y_pixel(value), text) for value, text in ticks]
            for plot, ticks in zip(self.plots, y_ticks_values, strict=True)
        ]

        x_step, times = (
            time_ticks(self.origin + x0, self.origin + x1, width, metrics.horizontalAdvance) if has_data else (0.0, [])
        )
        scale = width / (x1 - x0)
        x_ticks = [(left + (t - self.origin - x0) * scale, clock_label(t, x_step)) for t in times]

        shapes: list[list[_Shape]] = []
        if has_data:
            for plot in self.plots:
                shapes.append([])
                for curve in plot.curves:
                    if curve.area:
                        shapes[-1].append(self._area(curve, plot, first, last, run, x0, scale))
                    else:
                        shapes[-1].append(_Shape(self._lines(curve, plot, first, last, run, x0, scale)))
        else:
            shapes = [[_Shape() for _ in plot.curves] for plot in self.plots]
        return _Layout(x_step, times, x_ticks, y_ticks, shapes)

    def _visible(self, x0: float, x1: float) -> tuple[int, int]:
        """The buckets [first, last) overlapping [x0, x1]."""
        count = len(self.edges) - 1
        first = max(0, bisect.bisect_right(self.edges, x0) - 1)
        last = min(count, bisect.bisect_left(self.edges, x1))
        return first, max(first, last)

    def _area(self, curve: Curve, plot: Plot, first: int, last: int, run: int, x0: float, scale: float) -> _Shape:
        """The step-filled area from the baseline, over the bucket edges, back to the baseline, cut at the sides."""
        left, right = plot.rect.left(), plot.rect.right()
        base = plot.rect.bottom()

        def pixel(x: float) -> float:
            return min(right, max(left, left + (x - x0) * scale))

        steps: list[tuple[float, float, float]] = []
        j = first - first % run
        while j < last:
            end = min(j + run, len(curve.ys))
            steps.append((pixel(self.edges[j]), pixel(self.edges[end]), plot.y_pixel(max(curve.high[j:end]))))
            j = end
        if not steps:
            return _Shape()

        def polygon(part: list[tuple[float, float, float]]) -> list[QPointF]:
            points = [QPointF(part[0][0], base)]
            for start, end, y in part:
                points += (QPointF(start, y), QPointF(end, y))
            points.append(QPointF(part[-1][1], base))
            return points

        # The outline leaves out the runs of zeros (no line along the axis) and the plot's sides.
        outlines: list[list[QPointF]] = []
        current: list[QPointF] = []
        for step_start, step_end, y in steps:
            if y >= base:
                if current:
                    outlines.append([*current, QPointF(step_start, base)])
                    current = []
                continue
            if not current and step_start > left:
                current.append(QPointF(step_start, base))
            current += (QPointF(step_start, y), QPointF(step_end, y))
        if current:
            outlines.append(current if steps[-1][1] >= right else [*current, QPointF(steps[-1][1], base)])
        pieces = [QPolygonF(polygon(steps[i : i + POLYLINE_PIECE])) for i in range(0, len(steps), POLYLINE_PIECE)]
        lines = [polyline for outline in outlines for polyline in _chunked(outline)]
        return _Shape(lines, QPolygonF(polygon(steps)), pieces)

    def _lines(
        self, curve: Curve, plot: Plot, first: int, last: int, run: int, x0: float, scale: float
    ) -> list[QPolygonF]:
        """Polylines through the bucket middles, one bucket past each side of the view, cut at the plot's sides."""
        left = plot.rect.left()
        lines: list[list[tuple[float, float]]] = []
        current: list[tuple[float, float]] = []
        first, last = max(0, first - run), min(len(curve.ys), last + run)
        j = first - first % run
        while j < last:
            end = min(j + run, len(curve.ys))
            low, high = min(curve.low[j:end]), max(curve.high[j:end])
            if high == -math.inf:
                if current:
                    lines.append(current)
                current = []
            else:
                x = left + ((self.edges[j] + self.edges[end]) / 2 - x0) * scale
                current.append((x, plot.y_pixel(low)))
                if high != low:
                    current.append((x, plot.y_pixel(high)))
            j = end
        if current:
            lines.append(current)
        return [
            polyline
            for points in lines
            for piece in _clip_x(points, left, plot.rect.right())
            for polyline in _chunked([QPointF(x, y) for x, y in piece])
        ]

    # --- painting --------------------------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        layout = self.layout_now()
        palette = self.palette()
        base = palette.color(QPalette.ColorRole.Base)
        text = palette.color(QPalette.ColorRole.Text)
        dark = is_dark(palette)
        painter = QPainter(self)
        painter.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        vector = painter.paintEngine().type() != QPaintEngine.Type.Raster
        painter.fillRect(QRectF(self.rect()), base)
        metrics = QFontMetricsF(self.font())
        grid_pen = QPen(_alpha(text, 0.12), 1)
        axis_pen = QPen(_alpha(text, 0.55), 1)
        for index, plot in enumerate(self.plots):
            rect = plot.rect
            # Grid: hairlines on pixel centres, without antialiasing (crisp, and much faster).
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
            painter.setPen(grid_pen)
            for pixel, _label in layout.x_ticks:
                painter.drawLine(QPointF(_crisp(pixel), rect.top()), QPointF(_crisp(pixel), rect.bottom()))
            for pixel, _label in layout.y_ticks[index][1:]:
                painter.drawLine(QPointF(rect.left(), _crisp(pixel)), QPointF(rect.right(), _crisp(pixel)))
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            # Curves.
            painter.save()
            painter.setClipRect(rect.adjusted(-1, -2, 1, 1))
            for curve, shape in zip(plot.curves, layout.shapes[index], strict=True):
                colour = QColor(_shade(curve.colour, dark))
                pen = QPen(colour, curve.width)
                pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
                pen.setCapStyle(Qt.PenCapStyle.RoundCap)  # where the pieces of a polyline meet
                if shape.fill is not None:
                    painter.setPen(Qt.PenStyle.NoPen)
                    painter.setBrush(_alpha(colour, curve.fill_alpha))
                    if vector:
                        painter.drawPolygon(shape.fill)
                    else:
                        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
                        for piece in shape.fill_pieces:
                            painter.drawPolygon(piece)
                        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
                painter.setPen(pen)
                painter.setBrush(Qt.BrushStyle.NoBrush)
                for polyline in shape.lines:
                    if polyline.size() == 1:  # a latency between two gaps: a dash
                        point = polyline.at(0)
                        painter.drawLine(QPointF(point.x() - 2, point.y()), QPointF(point.x() + 2, point.y()))
                    else:
                        painter.drawPolyline(polyline)
            painter.restore()
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
            if self.crosshair is not None:
                x0, x1 = self.x_range
                if x0 <= self.crosshair <= x1:
                    pixel = _crisp(self.x_pixel(self.crosshair))
                    painter.setPen(QPen(_alpha(text, 0.45), 1, Qt.PenStyle.DashLine))
                    painter.drawLine(QPointF(pixel, rect.top()), QPointF(pixel, rect.bottom()))
            self._paint_axes(painter, plot, layout, index, metrics, axis_pen, text)
            self._paint_legend(painter, plot, metrics, base, text, dark)
        painter.end()

    def _paint_axes(
        self,
        painter: QPainter,
        plot: Plot,
        layout: _Layout,
        index: int,
        metrics: QFontMetricsF,
        axis_pen: QPen,
        text: QColor,
    ) -> None:
        rect = plot.rect
        line = metrics.height()
        left, bottom = _crisp(rect.left()), _crisp(rect.bottom())
        painter.setPen(axis_pen)  # without antialiasing, on pixel centres
        painter.drawLine(QPointF(left, bottom), QPointF(left, rect.top()))
        painter.drawLine(QPointF(left, bottom), QPointF(rect.right(), bottom))
        for pixel, _label in layout.x_ticks:
            painter.drawLine(QPointF(_crisp(pixel), bottom), QPointF(_crisp(pixel), bottom + 4))
        for pixel, _label in layout.y_ticks[index]:
            painter.drawLine(QPointF(left - 4, _crisp(pixel)), QPointF(left, _crisp(pixel)))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(text)
        for pixel, label in layout.x_ticks:
            width = metrics.horizontalAdvance(label)
            if pixel - width / 2 >= rect.left() - 2 and pixel + width / 2 <= self.width() - 2:
                painter.drawText(QRectF(pixel - width / 2 - 1, rect.bottom() + 5, width + 2, line), label)
        for pixel, label in layout.y_ticks[index]:
            label_rect = QRectF(0, pixel - line / 2, rect.left() - 7, line)
            painter.drawText(label_rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, label)
        # The axis's name, written upwards along it.
        painter.save()
        painter.translate(4, rect.center().y())
        painter.rotate(-90)
        painter.drawText(
            QRectF(-rect.height() / 2, 0, rect.height(), line), Qt.AlignmentFlag.AlignCenter, plot.axis_label
        )
        painter.restore()
        painter.save()
        painter.setFont(_title_font(self.font()))
        title_metrics = QFontMetricsF(painter.font())
        title_height = title_metrics.height()
        title_rect = QRectF(rect.left(), rect.top() - title_height - 5, rect.width(), title_height)
        if title_metrics.horizontalAdvance(plot.title) > title_rect.width():  # narrow: over the axis too, elided
            title_rect = QRectF(4, title_rect.top(), self.width() - 8, title_height)
        title = title_metrics.elidedText(plot.title, Qt.TextElideMode.ElideRight, title_rect.width())
        painter.drawText(title_rect, Qt.AlignmentFlag.AlignCenter, title)
        painter.restore()

    def _paint_legend(
        self, painter: QPainter, plot: Plot, metrics: QFontMetricsF, base: QColor, text: QColor, dark: bool
    ) -> None:
        line = metrics.height()
        swatch, pad = 22.0, 6.0
        width = swatch + pad + max(metrics.horizontalAdvance(curve.name) for curve in plot.curves) + 2 * pad
        height = line * len(plot.curves) + 2 * pad - 2
        box = QRectF(plot.rect.right() - width - 8, plot.rect.top() + 8, width, height)
        if box.left() < plot.rect.left() + 8 or box.bottom() > plot.rect.bottom() - 4:
            return  # no room
        painter.setPen(QPen(_alpha(text, 0.25), 1))
        painter.setBrush(_alpha(base, 0.85))
        painter.drawRoundedRect(box, 3, 3)
        for i, curve in enumerate(plot.curves):
            row = QRectF(box.left() + pad, box.top() + pad - 1 + i * line, box.width() - 2 * pad, line)
            colour = QColor(_shade(curve.colour, dark))
            middle = row.center().y()
            if curve.area:
                sample = QRectF(row.left(), middle - 5, swatch, 10)
                painter.setPen(QPen(colour, curve.width))
                painter.setBrush(_alpha(colour, curve.fill_alpha))
                painter.drawRect(sample)
            else:
                painter.setPen(QPen(colour, curve.width))
                painter.drawLine(QPointF(row.left(), middle), QPointF(row.left() + swatch, middle))
            painter.setPen(text)
            painter.drawText(
                row.adjusted(swatch + pad, 0, 0, 0),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                curve.name,
            )

    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.PaletteChange):
            self._changed()
        super().changeEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        self._changed()
        super().resizeEvent(event)

    # --- mouse -----------------------------------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._press = (event.position().x(), self.x_range)
            self._dragging = False
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        position = event.position()
        if self._press is not None and event.buttons() & Qt.MouseButton.LeftButton:
            pressed_at, (x0, x1) = self._press
            moved = position.x() - pressed_at
            if self._dragging or abs(moved) >= QApplication.startDragDistance():
                if not self._dragging:
                    self._dragging = True
                    self.setCursor(Qt.CursorShape.ClosedHandCursor)
                shift = moved / max(1.0, self.rates.rect.width()) * (x1 - x0)
                self.set_x_range(x0 - shift, x1 - shift)
        inside = self.plot_at(position) is not None and len(self.edges) > 1
        self.hovered.emit(self.x_at(position.x()) if inside else None)
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._press is not None:
            if not self._dragging and self.plot_at(event.position()) is not None:
                self._click_x = self.x_at(event.position().x())
                self._click_timer.start(QApplication.doubleClickInterval())
            self._press = None
            self._dragging = False
            self.unsetCursor()
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._click_timer.stop()  # the first click of a double-click filters nothing
            self._press = None
            self.reset_x_range()
        super().mouseDoubleClickEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        notches = event.angleDelta().y() / 120
        if not notches or len(self.edges) < 2:
            event.ignore()
            return
        x0, x1 = self.x_range
        rect = self.rates.rect
        pixel = min(rect.right(), max(rect.left(), event.position().x()))
        anchor = self.x_at(pixel)
        factor = ZOOM_PER_NOTCH**notches
        self.set_x_range(anchor - (anchor - x0) * factor, anchor + (x1 - anchor) * factor)
        event.accept()

    def leaveEvent(self, event: QEvent) -> None:
        if self._press is None:
            self.hovered.emit(None)
        super().leaveEvent(event)


def _crisp(pixel: float) -> float:
    """The centre of the pixel holding `pixel`: where a one-pixel line is sharp."""
    return math.floor(pixel) + 0.5


def _chunked(points: list[QPointF]) -> list[QPolygonF]:
    """A polyline as pieces of `POLYLINE_PIECE` segments sharing their ends: Qt strokes a wide pen along a long zigzag
    (hundreds of buckets, their runs when decimated) many times slower than along short pieces."""
    if len(points) <= POLYLINE_PIECE + 1:
        return [QPolygonF(points)] if points else []
    return [QPolygonF(points[i : i + POLYLINE_PIECE + 1]) for i in range(0, len(points) - 1, POLYLINE_PIECE)]


def _clip_x(points: list[tuple[float, float]], left: float, right: float) -> list[list[tuple[float, float]]]:
    """The parts of a polyline between x = left and x = right (its x never decreases)."""
    pieces: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    previous: tuple[float, float] | None = None
    for x, y in points:
        if previous is not None:
            px, py = previous
            for edge in (left, right):
                if (px - edge) * (x - edge) < 0:  # the segment crosses the edge
                    current.append((edge, py + (y - py) * (edge - px) / (x - px)))
        if left <= x <= right:
            current.append((x, y))
        elif current:
            pieces.append(current)
            current = []
        previous = (x, y)
    if current:
        pieces.append(current)
    return pieces


class TimelineView(QWidget):
    """Events/s, failures/s and latency p50/p95 over time, with a crosshair; clicking a bucket filters the list."""

    filterRequested = Signal(str)
    """A display filter for the clicked bucket's time range."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.buckets: list[Bucket] = []
        self.bucket_seconds = 1.0
        self.data = series([], 1.0)
        self.readout = QLabel(self)
        self.readout.setTextFormat(Qt.TextFormat.RichText)
        self.readout.setContentsMargins(6, 2, 6, 2)
        self.plots = TimelinePlots(self)
        """The two plots (what the export buttons save)."""
        self.plots.hovered.connect(self._on_plots_hovered)
        self.plots.clicked.connect(self._on_plots_clicked)
        self.header = QHBoxLayout()
        """The row above the plots: the readout; owners may add controls to it."""
        self.header.setContentsMargins(4, 2, 4, 2)
        self.header.addWidget(self.readout, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(self.header)
        layout.addWidget(self.plots, 1)
        self.set_buckets([], 1.0)

    @property
    def origin(self) -> float:
        """Epoch seconds of x = 0 in the plots (the first bucket's start)."""
        return self.plots.origin

    @property
    def events_curve(self) -> Curve:
        return self.plots.events_curve

    # --- data ------------------------------------------------------------------------------------------------------

    def set_buckets(self, rows: Sequence[Sequence[Any]] | Sequence[Bucket], bucket_seconds: float) -> None:
        """Show `rows` of `(t, events, failures, p50_ms, p95_ms)`, t the bucket's start (epoch seconds), events and
        failures counted in the bucket (drawn per second)."""
        self.bucket_seconds = float(bucket_seconds)
        self.buckets = buckets_from_rows(rows)
        self.data = data = series(self.buckets, self.bucket_seconds)
        self.plots.set_series(data, self.bucket_seconds)
        if not data.starts:
            self.plots.set_crosshair(None)
            self.readout.setText("<i>No events in this capture yet.</i>")
            return
        total = sum(b.events for b in self.buckets)
        failures = sum(b.failures for b in self.buckets)
        self.readout.setText(
            f"{total:,} events, {failures:,} unsuccessful attempts in {_bucket_text(self.bucket_seconds)} buckets · "
            "<i>hover to read a bucket, click it to show its events, drag or wheel to pan and zoom</i>"
        )

    def bucket_at(self, t: float) -> int | None:
        """The index (in the dense series) of the bucket holding time `t`."""
        if not self.data.starts:
            return None
        index = bisect.bisect_right(self.data.edges, t) - 1
        return index if 0 <= index < len(self.data.starts) else None

    def describe_bucket(self, index: int) -> str:
        data = self.data
        start = data.starts[index]
        p50, p95 = data.p50[index], data.p95[index]
        return (
            f"<b>{format_clock(start)}</b> + {_bucket_text(self.bucket_seconds)}: "
            f"<span style='color:{EVENTS_COLOUR}'>{data.events_per_s[index]:.3g} events/s</span> · "
            f"<span style='color:{FAILURES_COLOUR}'>{data.failures_per_s[index]:.3g} unsuccessful attempts/s</span> · "
            f"latency p50 {format_ms(None if math.isnan(p50) else p50)}, "
            f"p95 {format_ms(None if math.isnan(p95) else p95)}"
        )

    # --- mouse -----------------------------------------------------------------------------------------------------

    def show_crosshair_at(self, t: float) -> bool:
        """Put the crosshair on the bucket holding time `t` and read it out (as hovering there does)."""
        index = self.bucket_at(t)
        if index is None:
            self.plots.set_crosshair(None)
            return False
        self.plots.set_crosshair(self.data.starts[index] + self.bucket_seconds / 2 - self.origin)
        self.readout.setText(self.describe_bucket(index) + " · <i>click to show these events</i>")
        return True

    def _on_plots_hovered(self, x: float | None) -> None:
        if x is None:
            self.plots.set_crosshair(None)
        else:
            self.show_crosshair_at(x + self.origin)

    def _on_plots_clicked(self, x: float) -> None:
        index = self.bucket_at(x + self.origin)
        if index is not None:
            self.request_bucket_filter(index)

    def request_bucket_filter(self, index: int) -> None:
        start = self.data.starts[index]
        self.filterRequested.emit(time_filter(start, start + self.bucket_seconds))


def _bucket_text(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:g} s"
    if seconds < 3600:
        return f"{seconds / 60:g} min"
    return f"{seconds / 3600:g} h"


def _title_font(font: QFont) -> QFont:
    title = QFont(font)
    title.setWeight(QFont.Weight.DemiBold)
    return title


def _alpha(colour: QColor, alpha: float) -> QColor:
    copy = QColor(colour)
    copy.setAlphaF(alpha)
    return copy


def _shade(hex_colour: str, dark: bool) -> str:
    return on_dark(hex_colour) if dark else hex_colour
