"""The flows panel: the pictures of a capture, in tabs: the sequence diagram and the waterfall of one flow, the service
map, the timelines and the anomalies, each exportable as PNG or SVG.

Owns the four views and their export; adapts an analysis report (duck-typed: `.edges`, `.triggers` (a list or a
dict of `TriggerStats`, whose `table` and `handler` place tables and never-called handlers on the map), `.anomalies`,
`.timeline(bucket_seconds)` giving `(start, events, failures, p50_ms, p95_ms)` rows with counts per bucket, and
optionally `.trigger_tables`, a trigger → table mapping) and a `Flow` to them. The main window puts it in a central tab,
calls `show_report` on its refresh timer and `show_flow` when the selected event changes, and listens to
`eventSelected` (select that event in the list) and `filterRequested` (apply that display filter).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QTransform
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from inspector.core.flows import Flow
from inspector.qt.pictures.anomalies_panel import AnomaliesPanel
from inspector.qt.pictures.export import ExportError, export_picture
from inspector.qt.pictures.sequence_diagram import SequenceDiagramView
from inspector.qt.pictures.service_map import ServiceMapView
from inspector.qt.pictures.waterfall import WaterfallPanel

if TYPE_CHECKING:
    from inspector.qt.pictures.timeline import TimelineView

TAB_NAMES = ("sequence", "waterfall", "map", "timeline", "anomalies")
SEQUENCE_TAB, WATERFALL_TAB, MAP_TAB, TIMELINE_TAB, ANOMALIES_TAB = range(5)
BUCKET_CHOICES: tuple[tuple[str, float], ...] = (
    ("auto", 0.0),
    ("1 s", 1.0),
    ("5 s", 5.0),
    ("10 s", 10.0),
    ("30 s", 30.0),
    ("1 min", 60.0),
    ("5 min", 300.0),
    ("15 min", 900.0),
    ("1 h", 3600.0),
)
AUTO_BUCKETS = tuple(seconds for _label, seconds in BUCKET_CHOICES if seconds)
AUTO_MAX_BUCKETS = 600
"""`auto` picks the smallest bucket that keeps the timeline under this many buckets."""


def _hint(text: str, parent: QWidget) -> QLabel:
    label = QLabel(text, parent)
    label.setContentsMargins(6, 3, 6, 3)
    label.setStyleSheet("color: palette(placeholder-text);")
    return label


class FlowsPanel(QWidget):
    """Sequence diagram, service map, timeline and anomalies of a capture, with PNG/SVG export."""

    eventSelected = Signal(str)
    """The user picked an event in a picture (an arrow, an anomaly): the window selects it in the list."""
    filterRequested = Signal(str)
    """The user clicked a node, an edge or a time bucket: the window applies this display filter."""
    pictureExported = Signal(str)
    """A picture was written to this path."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.report: Any = None
        self.flow: Flow | None = None
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)

        self.sequence = SequenceDiagramView(self)
        self.sequence.eventSelected.connect(self.eventSelected)
        sequence_page = QWidget(self)
        sequence_layout = QVBoxLayout(sequence_page)
        sequence_layout.setContentsMargins(0, 0, 0, 0)
        sequence_layout.setSpacing(0)
        sequence_layout.addWidget(
            _hint("Click an arrow to select its event in the list; ↑ ↓ step through the flow; hover for details.", self)
        )
        sequence_layout.addWidget(self.sequence, 1)

        # The same flow as a waterfall (Inngest's run view): queue delay, attempts and retry waits on one time axis.
        self.waterfall = WaterfallPanel(self)
        self.waterfall.view.eventSelected.connect(self.eventSelected)

        self.service_map = ServiceMapView(self)
        self.service_map.filterRequested.connect(self.filterRequested)

        # The timeline is built when its tab is first opened, and refreshed only while it is in view.
        self._timeline: TimelineView | None = None
        self._timeline_stale = True
        self.timeline_page = QWidget(self)
        QVBoxLayout(self.timeline_page).setContentsMargins(0, 0, 0, 0)
        self.bucket_box = QComboBox(self)
        for label, seconds in BUCKET_CHOICES:
            self.bucket_box.addItem(label, seconds)
        self.bucket_box.setToolTip("Length of a timeline bucket (auto: about 600 buckets at most)")
        self.bucket_box.currentIndexChanged.connect(self._on_bucket_box_current_index_changed)
        self.bucket_box.hide()  # until the timeline is built and takes it into its header

        self.anomalies = AnomaliesPanel(self)
        self.anomalies.eventSelected.connect(self.eventSelected)
        anomalies_page = QWidget(self)
        anomalies_layout = QVBoxLayout(anomalies_page)
        anomalies_layout.setContentsMargins(0, 0, 0, 0)
        anomalies_layout.setSpacing(0)
        anomalies_layout.addWidget(
            _hint("Double-click an anomaly (or press Enter) to select its event in the list; most severe first.", self)
        )
        anomalies_layout.addWidget(self.anomalies, 1)

        self.tabs.addTab(sequence_page, "Sequence")
        self.tabs.addTab(self.waterfall, "Waterfall")
        self.tabs.addTab(self.service_map, "Service map")
        self.tabs.addTab(self.timeline_page, "Timeline")
        self.tabs.addTab(anomalies_page, "Anomalies")
        self.tabs.setTabToolTip(SEQUENCE_TAB, "The selected event's flow: every write, event, delivery and update")
        self.tabs.setTabToolTip(
            WATERFALL_TAB, "The selected event's flow on one time axis: queue delay, each attempt, retry waits"
        )
        self.tabs.setTabToolTip(MAP_TAB, "Tables → event triggers → handlers, with delivery figures")
        self.tabs.setTabToolTip(TIMELINE_TAB, "Events/s, failures/s and delivery latency over time")
        self.tabs.setTabToolTip(ANOMALIES_TAB, "What delivery did that handlers must tolerate, by kind")

        corner = QWidget(self)
        corner_layout = QHBoxLayout(corner)
        corner_layout.setContentsMargins(0, 0, 4, 0)
        # Zoom for the two diagrams: fit the whole picture in view, smaller, larger, actual size (also Ctrl+wheel).
        self.zoom_buttons: dict[str, QPushButton] = {}
        for key, text, tip in (
            ("fit", "Fit", "Fit the whole picture in view"),
            ("out", "\u2212", "Zoom out"),
            ("in", "+", "Zoom in"),
            ("reset", "1:1", "Actual size"),
        ):
            button = QPushButton(text, corner)
            button.setToolTip(tip)
            button.clicked.connect(lambda _checked=False, k=key: self.zoom(k))
            corner_layout.addWidget(button)
            self.zoom_buttons[key] = button
        self.export_png_button = QPushButton("Export PNG…", corner)
        self.export_svg_button = QPushButton("Export SVG…", corner)
        for button, suffix in ((self.export_png_button, "png"), (self.export_svg_button, "svg")):
            button.setToolTip(f"Save this picture as a {suffix.upper()} file")
            button.clicked.connect(lambda _checked=False, s=suffix: self.choose_export(s))
            corner_layout.addWidget(button)
        self.tabs.setCornerWidget(corner, Qt.Corner.TopRightCorner)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)
        self.tabs.currentChanged.connect(self._on_tabs_current_changed)
        self._last_directory = Path.home()

    # --- data ------------------------------------------------------------------------------------------------------

    def show_flow(self, flow: Flow | None) -> None:
        """Draw `flow`'s sequence diagram (None: the empty diagram with a hint)."""
        self.flow = flow
        self.sequence.show_flow(flow)
        self.waterfall.view.show_flow(flow)

    def select_event(self, event_id: str) -> bool:
        """Highlight `event_id`'s arrow in the shown flow (the list's selection followed here); emits nothing."""
        self.waterfall.view.select_event(event_id)
        return self.sequence.select_event(event_id)

    def show_report(self, report: Any) -> None:
        """Show an analysis report: service map, timeline and anomalies. Cheap when nothing changed."""
        self.report = report
        if report is None:
            self.service_map.show_map([], [])
            self._show_timeline()
            self.anomalies.show_anomalies(())
            self.tabs.setTabText(ANOMALIES_TAB, "Anomalies")
            return
        edges = list(getattr(report, "edges", ()) or ())
        triggers = getattr(report, "triggers", ()) or ()
        stats = list(triggers.values()) if isinstance(triggers, Mapping) else list(triggers)
        tables = getattr(report, "trigger_tables", None)
        self.service_map.show_map(edges, stats, tables=tables if isinstance(tables, Mapping) else None)
        self._show_timeline()
        anomalies = list(getattr(report, "anomalies", ()) or ())
        self.anomalies.show_anomalies(anomalies)
        self.tabs.setTabText(ANOMALIES_TAB, f"Anomalies ({len(anomalies):,})" if anomalies else "Anomalies")

    @property
    def timeline(self) -> TimelineView:
        """The timeline view, built on first use."""
        if self._timeline is None:
            from inspector.qt.pictures.timeline import TimelineView

            self._timeline = TimelineView(self.timeline_page)
            self._timeline.filterRequested.connect(self.filterRequested)
            self._timeline.header.insertWidget(0, QLabel("Bucket:", self._timeline))
            self._timeline.header.insertWidget(1, self.bucket_box)
            self.bucket_box.show()
            layout = self.timeline_page.layout()
            assert layout is not None
            layout.addWidget(self._timeline)
            self._timeline_stale = True
        if self._timeline_stale:
            self._timeline_stale = False
            self._fill_timeline(self._timeline)
        return self._timeline

    def _on_tabs_current_changed(self, index: int) -> None:
        if index == TIMELINE_TAB:
            _ = self.timeline  # built on first opening; filled when the report changed meanwhile

    def _show_timeline(self) -> None:
        """Refresh the timeline if it is in view; otherwise when it is next looked at (a hidden tab costs nothing)."""
        self._timeline_stale = True
        if self._timeline is not None and self.tabs.currentIndex() == TIMELINE_TAB:
            _ = self.timeline

    def _fill_timeline(self, view: TimelineView) -> None:
        report = self.report
        if report is None or not hasattr(report, "timeline"):
            view.set_buckets([], 1.0)
            return
        bucket, rows = timeline_rows(report, float(self.bucket_box.currentData() or 0.0))
        view.set_buckets(rows, bucket)

    def _on_bucket_box_current_index_changed(self, _index: int) -> None:
        self._show_timeline()

    # --- tabs and export -------------------------------------------------------------------------------------------

    def zoom(self, how: str) -> float:
        """Zoom the diagram in view: `fit` (the whole picture, never above actual size), `in`, `out` or `reset`.
        Returns the scale now shown (1.0 for the tabs that are not diagrams)."""
        index = self.tabs.currentIndex()
        view: QGraphicsView | None = (
            self.sequence if index == SEQUENCE_TAB else self.service_map if index == MAP_TAB else None
        )
        if view is None:
            return 1.0
        current = view.transform().m11()
        if how == "fit":
            rect = view.sceneRect()
            viewport = view.viewport().rect()
            if rect.width() <= 0 or rect.height() <= 0:
                return current
            target = min(1.0, viewport.width() / rect.width(), viewport.height() / rect.height())
        elif how == "in":
            target = current * 1.25
        elif how == "out":
            target = current / 1.25
        else:
            target = 1.0
        target = max(0.1, min(4.0, target))
        view.setTransform(QTransform.fromScale(target, target))
        return target

    def show_tab(self, name: str) -> None:
        """Raise a tab by name: sequence, waterfall, map, timeline or anomalies."""
        self.tabs.setCurrentIndex(TAB_NAMES.index(name))

    def current_picture(self) -> QGraphicsScene | QWidget:
        """What the export buttons save: the whole scene of a diagram, or the widget of the timeline and anomalies."""
        index = self.tabs.currentIndex()
        if index == SEQUENCE_TAB:
            return self.sequence.picture_scene()
        if index == MAP_TAB:
            return self.service_map.picture_scene()
        if index == WATERFALL_TAB:
            return self.waterfall.view
        if index == TIMELINE_TAB:
            return cast(QWidget, self.timeline.plots)  # the plots, without the bucket chooser
        return self.anomalies

    def default_file_name(self, suffix: str) -> str:
        index = self.tabs.currentIndex()
        if index in (SEQUENCE_TAB, WATERFALL_TAB) and self.flow is not None:
            safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in self.flow.key)[:40]
            return f"{'flow' if index == SEQUENCE_TAB else 'waterfall'}-{safe}.{suffix}"
        return f"{('sequence', 'waterfall', 'service-map', 'timeline', 'anomalies')[index]}.{suffix}"

    def export_current(self, path: str | Path) -> Path:
        """Write the current tab's picture to `path` (.png or .svg); raises `ExportError`."""
        written = export_picture(self.current_picture(), path, title=self.tabs.tabText(self.tabs.currentIndex()))
        self.pictureExported.emit(str(written))
        return written

    def choose_export(self, suffix: str) -> None:
        name = self.default_file_name(suffix)
        kind = "PNG image (*.png)" if suffix == "png" else "SVG image (*.svg)"
        path, _ = QFileDialog.getSaveFileName(
            self, f"Export picture as {suffix.upper()}", str(self._last_directory / name), kind
        )
        if not path:
            return
        if not path.lower().endswith(f".{suffix}"):
            path += f".{suffix}"
        self._last_directory = Path(path).parent
        try:
            self.export_current(path)
        except ExportError as error:
            QMessageBox.warning(self, "Export picture", str(error))


def timeline_rows(report: Any, bucket_seconds: float) -> tuple[float, Sequence[Any]]:
    """The report's timeline at `bucket_seconds`, or (0: auto) at the smallest bucket of `AUTO_BUCKETS` that gives at
    most `AUTO_MAX_BUCKETS` buckets (asking the report at most twice)."""
    if bucket_seconds > 0:
        return bucket_seconds, list(report.timeline(bucket_seconds))
    first = AUTO_BUCKETS[0]
    rows = list(report.timeline(first))
    if len(rows) < 2:
        return first, rows
    starts = [float(row.start if hasattr(row, "start") else row[0]) for row in rows]
    span = max(starts) - min(starts)
    for bucket in AUTO_BUCKETS:
        if span / bucket <= AUTO_MAX_BUCKETS:
            return (first, rows) if bucket == first else (bucket, list(report.timeline(bucket)))
    return AUTO_BUCKETS[-1], list(report.timeline(AUTO_BUCKETS[-1]))
