"""The first-run tour: a slim dismissible panel above the views, shown once (kept in settings as `help/tour_seen`),
stepping through where things are. Help ▸ Tour shows it again.

Owns the steps and the setting; placed by `qt/window/main_window.py`.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

SETTING = "help/tour_seen"
STEPS = (
    "<b>Capture</b>: pick a connection profile and press <b>Start capture</b> (Ctrl+E), or open a capture (Ctrl+O).",
    '<b>Filter</b>: type a display filter above the list (Ctrl+/), e.g. <code>status == "failed"</code>; '
    "Help ▸ Display filter reference lists every field.",
    "<b>Inspect</b>: select an event to see its payload, attempts (request and response) and states below; "
    "the <b>Flows</b> tab (Ctrl+2) follows it through triggers, handlers and subscriptions.",
    "<b>Act</b>: Edit and replay (Ctrl+R), Go to event (Ctrl+G), Statistics ▸ Per-trigger figures; "
    "right-click an event or a trigger for more.",
)


class TourPanel(QFrame):
    """One step at a time with Back / Next; Close (or Done) hides it for good."""

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("tour")
        self.settings = settings
        self.step = 0
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.back = QPushButton("Back", self)
        self.next = QPushButton("Next", self)
        self.close_button = QPushButton("Close tour", self)
        self.back.clicked.connect(lambda: self.show_step(self.step - 1))
        self.next.clicked.connect(self._on_next_clicked)
        self.close_button.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 2, 8, 2)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.back)
        layout.addWidget(self.next)
        layout.addWidget(self.close_button)
        self.setVisible(not self.seen())
        self.show_step(0)

    def seen(self) -> bool:
        return str(self.settings.value(SETTING, "false")).lower() == "true"

    def show_step(self, step: int) -> None:
        self.step = max(0, min(len(STEPS) - 1, step))
        self.label.setText(f"Tour {self.step + 1}/{len(STEPS)}: {STEPS[self.step]}")
        self.back.setEnabled(self.step > 0)
        self.next.setText("Done" if self.step == len(STEPS) - 1 else "Next")

    def _on_next_clicked(self) -> None:
        if self.step == len(STEPS) - 1:
            self.dismiss()
        else:
            self.show_step(self.step + 1)

    def dismiss(self) -> None:
        """Hide the tour and remember it was seen."""
        self.settings.setValue(SETTING, "true")
        self.hide()

    def restart(self) -> None:
        """Help ▸ Tour: from the first step."""
        self.show_step(0)
        self.show()
