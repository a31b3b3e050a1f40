"""The fonts, metrics and colours the pictures (sequence diagram, service map) draw with, made once per layout."""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPalette

from inspector.qt.pictures.picture_style import on_dark
from inspector.qt.widgets.highlighters import is_dark


class PictureLook:
    """Fonts, metrics and colours shared by the pictures, made once per layout rather than once per paint. Each
    picture subclasses it for its own pens and bands."""

    def __init__(self, font: QFont, palette: QPalette, small_scale: float, muted_alpha: float) -> None:
        self.font = QFont(font)
        self.bold = QFont(font)
        self.bold.setBold(True)
        self.small = QFont(font)
        self.small.setPointSizeF(max(6.5, font.pointSizeF() * small_scale))
        self.title = QFont(self.bold)
        self.title.setPointSizeF(font.pointSizeF() * 1.08)
        self.metrics = QFontMetricsF(self.font)
        self.bold_metrics = QFontMetricsF(self.bold)
        self.small_metrics = QFontMetricsF(self.small)
        self.dark = is_dark(palette)
        self.base = palette.color(QPalette.ColorRole.Base)
        self.text = palette.color(QPalette.ColorRole.Text)
        self.muted = QColor(self.text)
        self.muted.setAlphaF(muted_alpha)
        self.hover: QColor = palette.color(QPalette.ColorRole.Highlight)
        self._colours: dict[str, QColor] = {}

    def colour(self, hex_colour: str) -> QColor:
        colour = self._colours.get(hex_colour)
        if colour is None:
            colour = QColor(on_dark(hex_colour) if self.dark else hex_colour)
            self._colours[hex_colour] = colour
        return colour

    def tint(self, hex_colour: str) -> QColor:
        colour = QColor(hex_colour)
        if self.dark:
            return QColor.fromHslF(colour.hslHueF(), min(1.0, colour.hslSaturationF()) * 0.35, 0.24)
        return colour

    def measure(self, text: str) -> float:
        return self.metrics.horizontalAdvance(text)

    def measure_bold(self, text: str) -> float:
        return self.bold_metrics.horizontalAdvance(text)

    def measure_small(self, text: str) -> float:
        return self.small_metrics.horizontalAdvance(text)
