"""Saving a picture (a whole graphics scene, or a widget as it is shown) as PNG or SVG.

`export_picture(source, path)` picks the format from the suffix: `.png` renders at twice the scene's size (sharp on
high-DPI screens and in documents; limited to `MAX_PNG_SIDE` pixels a side, so a 1,000-step sequence diagram still
fits in memory), `.svg` writes vectors with QSvgGenerator. A scene is exported whole (not only the part in view), on
its own background. Used by `FlowsPanel`'s export buttons.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QPoint, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPalette
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QApplication, QGraphicsScene, QGraphicsView, QWidget

PNG_SCALE = 2.0
MAX_PNG_SIDE = 30_000
MAX_PNG_PIXELS = 120_000_000
"""About 480 MB of ARGB: beyond, the PNG scale goes down (an SVG has no such limit)."""
FORMATS = ("png", "svg")

Renderer = Callable[[QPainter, QRectF], None]
"""Paints the picture into a target rectangle of a painter."""


class ExportError(ValueError):
    """The picture cannot be written (unknown format, empty picture, file not writable); the message says why."""


def export_picture(
    source: QGraphicsScene | QGraphicsView | QWidget,
    path: str | Path,
    *,
    scale: float = PNG_SCALE,
    title: str = "Inspector",
) -> Path:
    """Write `source` to `path` (.png or .svg). A view is exported as its whole scene; a widget as it is drawn."""
    path = Path(path)
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise ExportError(f"cannot export a picture as .{suffix or '?'}: choose a .png or .svg file name")
    scene = source.scene() if isinstance(source, QGraphicsView) else None
    if isinstance(source, QGraphicsScene):
        scene = source
    if scene is not None:
        rect = scene.sceneRect()
        if rect.isEmpty():
            rect = scene.itemsBoundingRect()
        background = (
            scene.backgroundBrush().color() if scene.backgroundBrush().style() != Qt.BrushStyle.NoBrush else None
        )
        render = _scene_renderer(scene, rect)
    else:
        assert isinstance(source, QWidget)
        rect = QRectF(0, 0, source.width(), source.height())
        background = source.palette().color(QPalette.ColorRole.Window)
        render = _widget_renderer(source)
    if rect.isEmpty():
        raise ExportError("the picture is empty: nothing to export")
    if background is None:
        background = QApplication.palette().color(QPalette.ColorRole.Base)
    if suffix == "png":
        _write_png(render, rect, path, scale, background)
    else:
        _write_svg(render, rect, path, title, background)
    return path


def _scene_renderer(scene: QGraphicsScene, rect: QRectF) -> Renderer:
    def render(painter: QPainter, target: QRectF) -> None:
        scene.render(painter, target, rect, Qt.AspectRatioMode.IgnoreAspectRatio)

    return render


def _widget_renderer(widget: QWidget) -> Renderer:
    def render(painter: QPainter, target: QRectF) -> None:
        painter.save()
        painter.scale(target.width() / max(1, widget.width()), target.height() / max(1, widget.height()))
        QWidget.render(widget, painter, QPoint(0, 0))  # QGraphicsView.render (the scene) would hide it
        painter.restore()

    return render


def _write_png(render: Renderer, rect: QRectF, path: Path, scale: float, background: QColor) -> None:
    scale = min(scale, MAX_PNG_SIDE / max(rect.width(), rect.height()))
    scale = min(scale, (MAX_PNG_PIXELS / max(1.0, rect.width() * rect.height())) ** 0.5)
    size = QSize(max(1, round(rect.width() * scale)), max(1, round(rect.height() * scale)))
    image = QImage(size, QImage.Format.Format_ARGB32_Premultiplied)
    if image.isNull():
        raise ExportError(f"not enough memory for a {size.width()} x {size.height()} image: export as SVG instead")
    image.fill(background)
    painter = QPainter(image)
    painter.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
    render(painter, QRectF(0, 0, size.width(), size.height()))
    painter.end()
    if not image.save(str(path)):  # the format follows the .png suffix
        raise ExportError(f"cannot write {path}: check the folder exists and is writable")


def _write_svg(render: Renderer, rect: QRectF, path: Path, title: str, background: QColor) -> None:
    generator = QSvgGenerator()
    generator.setFileName(str(path))
    size = QSize(max(1, round(rect.width())), max(1, round(rect.height())))
    generator.setSize(size)
    generator.setResolution(96)  # so the width and height it writes (in mm) are the picture's size in CSS pixels
    generator.setViewBox(QRectF(0, 0, size.width(), size.height()))
    generator.setTitle(title)
    generator.setDescription("Exported from Inspector")
    painter = QPainter()
    if not painter.begin(generator):
        raise ExportError(f"cannot write {path}: check the folder exists and is writable")
    painter.fillRect(QRectF(0, 0, size.width(), size.height()), background)
    render(painter, QRectF(0, 0, size.width(), size.height()))
    painter.end()
    if not path.exists() or path.stat().st_size == 0:
        raise ExportError(f"cannot write {path}: check the folder exists and is writable")
