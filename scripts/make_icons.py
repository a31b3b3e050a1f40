"""Draw Inspector's application icon with Qt and write it as PNG (256, 512), ICO (Windows) and ICNS (macOS).

    QT_QPA_PLATFORM=offscreen python scripts/make_icons.py [inspector/resources/icons]

The icon: a rounded dark-blue tile with three event rows coloured like the window's list (delivered, retried, failed)
under a magnifying glass. ICO is written by Qt's own image-format plugin (qico), ICNS by the small writer below, so
no other tool is needed; on macOS `iconutil` could build the ICNS from an .iconset instead (packaging/README.md).
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QGuiApplication, QImage, QImageWriter, QLinearGradient, QPainter, QPen


def draw(size: int) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    s = size / 512.0
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    gradient = QLinearGradient(0, 0, 0, size)
    gradient.setColorAt(0.0, QColor("#2b4c7e"))
    gradient.setColorAt(1.0, QColor("#16263f"))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QBrush(gradient))
    p.drawRoundedRect(QRectF(16 * s, 16 * s, 480 * s, 480 * s), 96 * s, 96 * s)
    # three event rows: delivered (green), retried (amber), failed (red)
    for row, colour in enumerate(("#4caf50", "#ffb300", "#e53935")):
        y = (112 + row * 84) * s
        p.setBrush(QColor(colour))
        p.drawRoundedRect(QRectF(84 * s, y, 52 * s, 52 * s), 12 * s, 12 * s)
        p.setBrush(QColor(255, 255, 255, 215))
        p.drawRoundedRect(QRectF(156 * s, y + 12 * s, (250 - row * 60) * s, 28 * s), 14 * s, 14 * s)
    # the magnifying glass
    centre = QPointF(318 * s, 318 * s)
    p.setBrush(QColor(255, 255, 255, 60))
    p.setPen(QPen(QColor("#ffffff"), 30 * s))
    p.drawEllipse(centre, 92 * s, 92 * s)
    pen = QPen(QColor("#ffffff"), 46 * s)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    p.setPen(pen)
    p.drawLine(QPointF(386 * s, 386 * s), QPointF(446 * s, 446 * s))
    p.end()
    return image


def write(image: QImage, path: Path, fmt: str) -> None:
    writer = QImageWriter(str(path), fmt.encode())
    if not writer.write(image):
        raise SystemExit(f"could not write {path}: {writer.errorString()}")
    print(f"wrote {path} ({path.stat().st_size} bytes)")


def png_bytes(image: QImage) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    buffer.close()
    return bytes(data.data())


ICNS_TYPES = {128: b"ic07", 256: b"ic08", 512: b"ic09"}
"""ICNS element types holding PNG data of these sizes (macOS 10.7 and later read PNG elements)."""


def write_icns(images: dict[int, QImage], path: Path) -> None:
    """An .icns file: the `icns` header, then one (type, length, PNG) element per size. Qt's icns plugin writes a
    table of contents its own reader rejects, so this small writer is used instead (the same layout iconutil makes,
    without the optional TOC)."""
    elements = b"".join(
        ICNS_TYPES[size] + struct.pack(">I", 8 + len(png)) + png
        for size, png in ((size, png_bytes(image)) for size, image in sorted(images.items()))
    )
    path.write_bytes(b"icns" + struct.pack(">I", 8 + len(elements)) + elements)
    print(f"wrote {path} ({path.stat().st_size} bytes)")


def main() -> int:
    default = Path(__file__).resolve().parent.parent / "inspector" / "resources" / "icons"
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    out.mkdir(parents=True, exist_ok=True)
    _app = QGuiApplication(sys.argv[:1])
    formats = {bytes(f).decode() for f in QImageWriter.supportedImageFormats()}
    big = draw(512)
    write(big, out / "inspector-512.png", "png")
    write(draw(256), out / "inspector-256.png", "png")
    if "ico" in formats:
        write(draw(256), out / "inspector.ico", "ico")  # 256x256, PNG-compressed inside (Vista and later)
    else:
        print("Qt's ico plugin is missing: no inspector.ico written", file=sys.stderr)
    write_icns({128: draw(128), 256: draw(256), 512: big}, out / "inspector.icns")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
