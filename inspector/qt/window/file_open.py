"""Files the desktop asks the running application to open: macOS sends a `QFileOpenEvent` to the application when
a capture is double-clicked in Finder or dropped on the Dock icon (the document type in Info.plist), at launch as
well as later, rather than passing the path on the command line as Windows and Linux do.

Owns the application-wide event filter that turns those events into calls of a target (the window's
`open_capture`), keeping the files that arrive before the window exists until it does.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QFileOpenEvent


class FileOpenRelay(QObject):
    """Passes the paths of file-open events sent to the object it filters (the application) to `target`."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._target: Callable[[str], object] | None = None
        self.pending: list[str] = []
        """Paths received before there was a target."""

    def set_target(self, target: Callable[[str], object] | None) -> None:
        """Open files with `target` from now on, starting with those that arrived before."""
        self._target = target
        if target is not None:
            pending, self.pending = self.pending, []
            for path in pending:
                target(path)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.FileOpen and isinstance(event, QFileOpenEvent):
            path = event.file() or event.url().toLocalFile()
            if path:
                if self._target is None:
                    self.pending.append(path)
                else:
                    self._target(path)
                return True
        return super().eventFilter(watched, event)
