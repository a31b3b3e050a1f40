"""Everything PySide6 lives here (the window arrives with the window issue)."""

from inspector.qt.pyside_workarounds import protect_none

protect_none()  # before any widget code runs: see pyside_workarounds
