"""Statistics ▸ Latency histograms: how long one trigger's events waited, creation to first attempt or to delivery,
as bars over 1-2-5 latency bins (a latency spans 0.1 ms to minutes), painted with QPainter like the timeline
(`qt/pictures/timeline.py`), in a window of its own.

Owns the re-binning (`bins`), the picture (`LatencyHistogramPicture`) and the window with its trigger and latency
choice (`LatencyHistogramsWindow`); the counts come from `inspector.services.analysis.histograms` (run in a worker
thread by `qt/statistics/statistics_menu.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetricsF, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from inspector.qt.pictures.plot_axes import value_label, value_ticks
from inspector.services.analysis.histograms import TriggerLatencies

KINDS = {"delivery": "Creation to delivery (first 2xx)", "first_attempt": "Creation to first attempt"}


def _edges(top: float) -> list[float]:
    edges = [0.0]
    scale = 1.0
    while edges[-1] <= top:
        for step in (1, 2, 5):
            edges.append(step * scale)
        scale *= 10
    return edges


def bins(counts: Sequence[tuple[float, int]]) -> list[tuple[float, float, int]]:
    """(from ms, to ms, events) over 1-2-5 bins from 0 to past the largest latency, every bin in between listed."""
    if not counts:
        return []
    edges = _edges(max(lower for lower, _ in counts))
    out = [[edges[i], edges[i + 1], 0] for i in range(len(edges) - 1)]
    for lower, count in counts:
        for item in out:
            if item[0] <= lower < item[1]:
                item[2] += count
                break
    # Drop empty bins before the first and after the last with events: the picture spans the latencies.
    while len(out) > 1 and out[0][2] == 0:
        out.pop(0)
    while len(out) > 1 and out[-1][2] == 0:
        out.pop()
    return [(float(a), float(b), int(n)) for a, b, n in out]


def duration_label(ms: float) -> str:
    if ms >= 60_000:
        return f"{ms / 60_000:g} min"
    if ms >= 1000:
        return f"{ms / 1000:g} s"
    return f"{ms:g} ms"


class LatencyHistogramPicture(QWidget):
    """Bars of events per latency bin, a count axis, bin edges below; hover a bar for its count."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bins: list[tuple[float, float, int]] = []
        self.caption = ""
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(360, 220)

    def sizeHint(self) -> QSize:
        return QSize(720, 360)

    def set_counts(self, counts: Sequence[tuple[float, int]], caption: str) -> None:
        self.bins = bins(counts)
        self.caption = caption
        self.setToolTip("")
        self.update()

    def _plot_rect(self) -> QRectF:
        metrics = QFontMetricsF(self.font())
        left = metrics.horizontalAdvance("100,000") + 14
        return QRectF(
            left, metrics.height() * 2 + 8, self.width() - left - 16, self.height() - metrics.height() * 4 - 16
        )

    def bar_rect(self, index: int) -> QRectF:
        plot = self._plot_rect()
        width = plot.width() / max(1, len(self.bins))
        top = max((n for _, _, n in self.bins), default=1)
        _step, axis_top = value_ticks(top, 4)
        height = plot.height() * self.bins[index][2] / axis_top
        return QRectF(plot.left() + index * width + 2, plot.bottom() - height, width - 4, height)

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        text = palette.color(QPalette.ColorRole.Text)
        muted = QColor(text)
        muted.setAlphaF(0.55)
        painter.fillRect(self.rect(), palette.color(QPalette.ColorRole.Base))
        metrics = QFontMetricsF(self.font())
        painter.setPen(text)
        painter.drawText(QRectF(8, 4, self.width() - 16, metrics.height() + 4), self.caption)
        if not self.bins:
            painter.setPen(muted)
            painter.drawText(QRectF(self.rect()), Qt.AlignmentFlag.AlignCenter, "No latencies to show")
            painter.end()
            return
        plot = self._plot_rect()
        top = max(n for _, _, n in self.bins)
        step, axis_top = value_ticks(top, 4)
        value = 0.0
        while value <= axis_top + step / 2:
            y = plot.bottom() - plot.height() * value / axis_top
            painter.setPen(muted)
            painter.drawLine(int(plot.left()), int(y), int(plot.right()), int(y))
            label = value_label(value, step)
            painter.drawText(
                QRectF(0, y - metrics.height() / 2, plot.left() - 6, metrics.height()),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                label,
            )
            value += step
        bar = QColor("#4c78a8")
        width = plot.width() / len(self.bins)
        every = max(1, int(metrics.horizontalAdvance("200 ms ") / max(width, 1)) + 1)
        for index, (low, _high, count) in enumerate(self.bins):
            rect = self.bar_rect(index)
            painter.fillRect(rect, bar)
            if (
                count
                and rect.height() > metrics.height() + 2
                and rect.width() > metrics.horizontalAdvance(f"{count:,}")
            ):
                painter.setPen(QColor("white"))
                painter.drawText(
                    rect.adjusted(0, 2, 0, 0), Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, f"{count:,}"
                )
            if index % every == 0:
                painter.setPen(text)
                x = plot.left() + index * width
                painter.drawText(
                    QRectF(x - 40, plot.bottom() + 4, 80, metrics.height()),
                    Qt.AlignmentFlag.AlignHCenter,
                    duration_label(low),
                )
        painter.setPen(muted)
        painter.drawText(
            QRectF(plot.left(), plot.bottom() + metrics.height() + 6, plot.width(), metrics.height()),
            Qt.AlignmentFlag.AlignHCenter,
            "latency (each bar: from the label below it to the next)",
        )
        painter.end()

    def mouseMoveEvent(self, event: object) -> None:
        position = event.position()  # type: ignore[attr-defined]
        for index, (low, high, count) in enumerate(self.bins):
            rect = self.bar_rect(index)
            if rect.left() <= position.x() <= rect.right():
                self.setToolTip(f"{count:,} events from {duration_label(low)} to {duration_label(high)}")
                return
        self.setToolTip("")


class LatencyHistogramsWindow(QWidget):
    """A top-level window: choose a trigger and which latency; `show_histograms(list)` fills it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle("Latency histograms — Inspector")
        self.latencies: list[TriggerLatencies] = []
        self.trigger = QComboBox(self)
        self.kind = QComboBox(self)
        for key, label in KINDS.items():
            self.kind.addItem(label, key)
        self.trigger.currentIndexChanged.connect(self._show)
        self.kind.currentIndexChanged.connect(self._show)
        self.status = QLabel("Analysing…", self)
        self.picture = LatencyHistogramPicture(self)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Trigger:", self))
        bar.addWidget(self.trigger, 1)
        bar.addWidget(QLabel("Latency:", self))
        bar.addWidget(self.kind, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.status)
        layout.addWidget(self.picture, 1)
        self.resize(800, 460)

    def show_histograms(self, latencies: list[TriggerLatencies]) -> None:
        self.latencies = latencies
        current = self.trigger.currentText()
        self.trigger.blockSignals(True)
        self.trigger.clear()
        for item in latencies:
            self.trigger.addItem(item.trigger)
        index = self.trigger.findText(current)
        self.trigger.setCurrentIndex(max(0, index))
        self.trigger.blockSignals(False)
        self.status.setText("" if latencies else "The capture has no events with latencies yet.")
        self._show()

    def show_failure(self, message: str) -> None:
        self.status.setText(f"Could not analyse the capture: {message}")

    def _show(self) -> None:
        index = self.trigger.currentIndex()
        if not 0 <= index < len(self.latencies):
            self.picture.set_counts([], "")
            return
        item = self.latencies[index]
        kind = str(self.kind.currentData())
        counts = getattr(item, kind)
        total = sum(n for _, n in counts)
        p50, p95 = item.percentile(kind, 0.5), item.percentile(kind, 0.95)
        figures = "" if p50 is None else f" · p50 {duration_label(round(p50))} · p95 {duration_label(round(p95 or 0))}"
        self.picture.set_counts(counts, f"{item.trigger}: {KINDS[kind].lower()}, {total:,} events{figures}")
