"""Everything PySide6 lives here (the window arrives with the window issue)."""
