"""Everything PySide6 lives here: the window and its views (see docs/architecture.md)."""

from inspector.qt.pyside_workarounds import protect_none, protect_true

protect_none()  # before any widget code runs: see pyside_workarounds
protect_true()
