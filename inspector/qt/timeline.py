"""Timelines of a capture, Wireshark's I/O graphs for event triggers: events/s and failures/s, and the delivery
latency percentiles (p50, p95), per time bucket.

Owns two pyqtgraph plots sharing their time axis, a crosshair with a readout of the bucket under the mouse, and the
data (`set_buckets`, cheap enough to call on every refresh of a live capture: the curves are updated in place).
Clicking a bucket asks for a display filter of its time range. Used by `FlowsPanel`; the rows come from the analysis
report's `timeline(bucket_seconds)`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from inspector.qt.highlighters import is_dark
from inspector.qt.picture_style import MARKS, format_clock, format_ms, on_dark

EVENTS_COLOUR = "#3F6E9E"
FAILURES_COLOUR = MARKS["failed"].colour
P50_COLOUR = "#2E7D32"
P95_COLOUR = MARKS["retry"].colour
MAX_DENSE_BUCKETS = 200_000
"""Beyond this many buckets between the first and the last, gaps are not filled with zeros."""


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
    """The arrays the plots draw: bucket edges (len n + 1) and per-bucket values (len n), gaps filled."""

    edges: np.ndarray
    starts: np.ndarray
    events_per_s: np.ndarray
    failures_per_s: np.ndarray
    p50: np.ndarray
    """NaN where no event was delivered."""
    p95: np.ndarray


def series(buckets: Sequence[Bucket], bucket_seconds: float) -> Series:
    """Dense per-second rates and latencies from `buckets` (missing buckets are zero events, no latency)."""
    if not buckets:
        empty = np.zeros(0)
        return Series(np.zeros(1), empty, empty, empty, empty, empty)
    first = buckets[0].start
    span = round((buckets[-1].start - first) / bucket_seconds) + 1
    if span <= MAX_DENSE_BUCKETS:
        index = np.array([round((b.start - first) / bucket_seconds) for b in buckets])
        starts = first + np.arange(span) * bucket_seconds
        count = span
    else:
        index = np.arange(len(buckets))
        starts = np.array([b.start for b in buckets])
        count = len(buckets)
    events = np.zeros(count)
    failures = np.zeros(count)
    p50 = np.full(count, np.nan)
    p95 = np.full(count, np.nan)
    events[index] = [b.events for b in buckets]
    failures[index] = [b.failures for b in buckets]
    p50[index] = [np.nan if b.p50_ms is None else b.p50_ms for b in buckets]
    p95[index] = [np.nan if b.p95_ms is None else b.p95_ms for b in buckets]
    edges = np.append(starts, starts[-1] + bucket_seconds)
    return Series(edges, starts, events / bucket_seconds, failures / bucket_seconds, p50, p95)


class OffsetDateAxis(pg.DateAxisItem):  # type: ignore[misc]
    """A clock-time axis for x values counted from `origin` (epoch seconds). Plotting seconds since the first bucket
    rather than epoch seconds keeps coordinates small: an SVG writer rounds the 1.7e9 offsets of epoch seconds
    (QSvgGenerator prints a handful of digits), which sends the curves off the picture."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.origin = 0.0

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, list[float]]]:
        levels = super().tickValues(minVal + self.origin, maxVal + self.origin, size)
        return [(spacing, [value - self.origin for value in values]) for spacing, values in levels]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        return list(super().tickStrings([value + self.origin for value in values], scale, spacing))


def time_filter(start: float, end: float) -> str:
    """A display filter for events created in [start, end)."""

    def iso(t: float) -> str:
        return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    return f'created_at >= "{iso(start)}" and created_at < "{iso(end)}"'


class TimelineView(QWidget):
    """Events/s, failures/s and latency p50/p95 over time, with a crosshair; clicking a bucket filters the list."""

    filterRequested = Signal(str)
    """A display filter for the clicked bucket's time range."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.buckets: list[Bucket] = []
        self.bucket_seconds = 1.0
        self.data = series([], 1.0)
        self.origin = 0.0
        """Epoch seconds of x = 0 in the plots (the first bucket's start)."""
        self.readout = QLabel(self)
        self.readout.setTextFormat(Qt.TextFormat.RichText)
        self.readout.setContentsMargins(6, 2, 6, 2)
        self.plots = pg.GraphicsLayoutWidget(self)
        self.header = QHBoxLayout()
        """The row above the plots: the readout; owners may add controls to it."""
        self.header.setContentsMargins(4, 2, 4, 2)
        self.header.addWidget(self.readout, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(self.header)
        layout.addWidget(self.plots, 1)
        self._build_plots()
        self.set_buckets([], 1.0)

    def _build_plots(self) -> None:
        palette = self.palette()
        base = palette.color(QPalette.ColorRole.Base)
        text = palette.color(QPalette.ColorRole.Text)
        self.plots.setBackground(base)
        self.axes = [OffsetDateAxis(orientation="bottom"), OffsetDateAxis(orientation="bottom")]
        self.rates = self.plots.addPlot(row=0, col=0, axisItems={"bottom": self.axes[0]})
        self.latency = self.plots.addPlot(row=1, col=0, axisItems={"bottom": self.axes[1]})
        self.latency.setXLink(self.rates)
        self.rates.setLabel("left", "per second")
        self.latency.setLabel("left", "latency (ms)")
        self.rates.setTitle("Events and failures per second", color=text.name(), size="9pt")
        self.latency.setTitle("Delivery latency (created → delivered)", color=text.name(), size="9pt")
        grid = QColor(text)
        for plot in (self.rates, self.latency):
            plot.showGrid(x=True, y=True, alpha=0.15)
            plot.setMouseEnabled(x=True, y=False)
            plot.setMenuEnabled(False)
            for name in ("left", "bottom"):
                axis = plot.getAxis(name)
                axis.setPen(pg.mkPen(grid))
                axis.setTextPen(pg.mkPen(text))
            plot.getViewBox().setLimits(yMin=0)
        self.rates.addLegend(offset=(-10, 8), labelTextColor=text, brush=pg.mkBrush(_alpha(base, 0.85)))
        self.latency.addLegend(offset=(-10, 8), labelTextColor=text, brush=pg.mkBrush(_alpha(base, 0.85)))
        dark = is_dark(palette)
        self.events_curve = pg.PlotDataItem(
            stepMode="center",
            fillLevel=0,
            pen=pg.mkPen(_shade(EVENTS_COLOUR, dark), width=1.5),
            brush=pg.mkBrush(_alpha(QColor(_shade(EVENTS_COLOUR, dark)), 0.35)),
            name="events/s",
        )
        self.failures_curve = pg.PlotDataItem(
            stepMode="center",
            fillLevel=0,
            pen=pg.mkPen(_shade(FAILURES_COLOUR, dark), width=1.5),
            brush=pg.mkBrush(_alpha(QColor(_shade(FAILURES_COLOUR, dark)), 0.55)),
            name="failures/s",
        )
        self.p50_curve = pg.PlotDataItem(
            pen=pg.mkPen(_shade(P50_COLOUR, dark), width=2), connect="finite", name="p50 (median)"
        )
        self.p95_curve = pg.PlotDataItem(pen=pg.mkPen(_shade(P95_COLOUR, dark), width=2), connect="finite", name="p95")
        for item in (self.events_curve, self.failures_curve):
            self.rates.addItem(item)
        for item in (self.p50_curve, self.p95_curve):
            self.latency.addItem(item)
        crosshair_pen = pg.mkPen(_alpha(text, 0.45), width=1, style=Qt.PenStyle.DashLine)
        self.crosshairs = [pg.InfiniteLine(angle=90, movable=False, pen=crosshair_pen) for _ in range(2)]
        self.rates.addItem(self.crosshairs[0], ignoreBounds=True)
        self.latency.addItem(self.crosshairs[1], ignoreBounds=True)
        self.plots.scene().sigMouseMoved.connect(self._on_scene_mouse_moved)
        self.plots.scene().sigMouseClicked.connect(self._on_scene_mouse_clicked)

    # --- data ------------------------------------------------------------------------------------------------------

    def set_buckets(self, rows: Sequence[Sequence[Any]] | Sequence[Bucket], bucket_seconds: float) -> None:
        """Show `rows` of `(t, events, failures, p50_ms, p95_ms)`, t the bucket's start (epoch seconds), events and
        failures counted in the bucket (drawn per second)."""
        self.bucket_seconds = float(bucket_seconds)
        self.buckets = buckets_from_rows(rows)
        self.data = data = series(self.buckets, self.bucket_seconds)
        if len(data.starts) == 0:
            for curve in (self.events_curve, self.failures_curve, self.p50_curve, self.p95_curve):
                curve.setData([], [])
            for line in self.crosshairs:
                line.hide()
            self.readout.setText("<i>No events in this capture yet.</i>")
            return
        origin = float(data.starts[0])
        if origin != self.origin:
            self.origin = origin
            for axis in self.axes:
                axis.origin = origin
                axis.picture = None  # redraw the tick labels
                axis.update()
        self.events_curve.setData(data.edges - origin, data.events_per_s)
        self.failures_curve.setData(data.edges - origin, data.failures_per_s)
        middles = data.starts + self.bucket_seconds / 2 - origin
        self.p50_curve.setData(middles, data.p50)
        self.p95_curve.setData(middles, data.p95)
        total = sum(b.events for b in self.buckets)
        failures = sum(b.failures for b in self.buckets)
        self.readout.setText(
            f"{total:,} events, {failures:,} failed invocations in {_bucket_text(self.bucket_seconds)} buckets · "
            "<i>hover to read a bucket, click it to show its events, drag or wheel to pan and zoom</i>"
        )

    def bucket_at(self, t: float) -> int | None:
        """The index (in the dense series) of the bucket holding time `t`."""
        if len(self.data.starts) == 0:
            return None
        index = int(np.searchsorted(self.data.edges, t, side="right")) - 1
        return index if 0 <= index < len(self.data.starts) else None

    def describe_bucket(self, index: int) -> str:
        data = self.data
        start = float(data.starts[index])
        p50, p95 = data.p50[index], data.p95[index]
        return (
            f"<b>{format_clock(start)}</b> + {_bucket_text(self.bucket_seconds)}: "
            f"<span style='color:{EVENTS_COLOUR}'>{data.events_per_s[index]:.3g} events/s</span> · "
            f"<span style='color:{FAILURES_COLOUR}'>{data.failures_per_s[index]:.3g} failures/s</span> · "
            f"latency p50 {format_ms(None if math.isnan(p50) else float(p50))}, "
            f"p95 {format_ms(None if math.isnan(p95) else float(p95))}"
        )

    # --- mouse -----------------------------------------------------------------------------------------------------

    def _time_at(self, position: QPointF) -> float | None:
        for plot in (self.rates, self.latency):
            if plot.sceneBoundingRect().contains(position):
                return float(plot.getViewBox().mapSceneToView(position).x()) + self.origin
        return None

    def show_crosshair_at(self, t: float) -> bool:
        """Put the crosshair on the bucket holding time `t` and read it out (as hovering there does)."""
        index = self.bucket_at(t)
        if index is None:
            for line in self.crosshairs:
                line.hide()
            return False
        middle = float(self.data.starts[index]) + self.bucket_seconds / 2
        for line in self.crosshairs:
            line.setPos(middle - self.origin)
            line.show()
        self.readout.setText(self.describe_bucket(index) + " · <i>click to show these events</i>")
        return True

    def _on_scene_mouse_moved(self, position: QPointF) -> None:
        t = self._time_at(position)
        if t is None:
            for line in self.crosshairs:
                line.hide()
            return
        self.show_crosshair_at(t)

    def _on_scene_mouse_clicked(self, event: Any) -> None:
        if event.button() != Qt.MouseButton.LeftButton or event.double():
            return
        t = self._time_at(event.scenePos())
        index = self.bucket_at(t) if t is not None else None
        if index is not None:
            self.request_bucket_filter(index)

    def request_bucket_filter(self, index: int) -> None:
        start = float(self.data.starts[index])
        self.filterRequested.emit(time_filter(start, start + self.bucket_seconds))


def _bucket_text(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:g} s"
    if seconds < 3600:
        return f"{seconds / 60:g} min"
    return f"{seconds / 3600:g} h"


def _alpha(colour: QColor, alpha: float) -> QColor:
    copy = QColor(colour)
    copy.setAlphaF(alpha)
    return copy


def _shade(hex_colour: str, dark: bool) -> str:
    return on_dark(hex_colour) if dark else hex_colour
