"""The click and hover behaviour the flow pictures' items share.

Owns `ClickableItem`: a scene item with a pointing-hand cursor and a tooltip that is `hovered` while the pointer is
over it (repainting on the change, so it can highlight itself) and calls `clicked()` on a left click, accepting the
press. Used by the sequence diagram's rows (`sequence_diagram.ArrowItem`: a click selects the step's event) and the
service map's boxes and arrows (`service_map.NodeItem`, `service_map.EdgeItem`: a click filters the event list).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGraphicsItem, QGraphicsSceneHoverEvent, QGraphicsSceneMouseEvent


class ClickableItem(QGraphicsItem):
    """A picture item that highlights under the pointer and reports a left click through `clicked()`.

    Subclasses paint (reading `hovered`), give their `boundingRect` and override `clicked` to tell their scene.
    """

    def __init__(self, tooltip: str) -> None:
        super().__init__()
        self.hovered = False
        """The pointer is over the item: paint it highlighted."""
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip(tooltip)

    def clicked(self) -> None:
        """A left click on the item; the scene's signal is the subclass's to emit."""

    def hoverEnterEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        self.hovered = True
        self.update()

    def hoverLeaveEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        self.hovered = False
        self.update()

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked()
            event.accept()
        else:
            super().mousePressEvent(event)
