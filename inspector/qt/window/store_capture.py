"""The window on a capture in a PostgreSQL store (`inspector 'postgresql://...?capture=NAME'`, issue 17).

Owns opening such a capture in the main window. When the store can serve the window (`store.open.direct_reads`:
this Inspector's schema, a role that may read the tables), the event list and the detail pane, the sources tree, the
status bar and the session log read the server directly (`PostgresEventIndex`, `PostgresCaptureReader`), so the first
screenful shows at once, and a local copy that follows the store is made in the background for what reads a capture
file (flows, analysis, a subscription's messages, replay, export). Otherwise the window waits for that copy and reads
it as any growing capture file. Either way the follower lives as long as the window shows the capture
(`close_followed`, called when the capture is closed). Used by `qt/window/main_window.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from inspector.store.capture_file import CaptureFile, CaptureFormatError
from inspector.store.open import FollowedCapture, direct_reads, follow_capture, shown

if TYPE_CHECKING:
    from inspector.qt.window.main_window import MainWindow

FOLLOWED = "_followed_store_capture"
"""The window attribute holding the `FollowedCapture` it shows (None or absent: a capture file)."""


def open_store_capture(window: MainWindow, location: str) -> bool:
    """Show the store capture at `location`, following it live; a one-line message (and the previous capture kept)
    when it cannot be read."""
    if window.session is not None and window.session.running:
        window.banner.show_message("Stop the running capture before opening another capture.", "warning")
        return False
    try:
        followed = follow_capture(location, background=True)
    except Exception as error:
        return _refused(window, location, error)
    try:
        direct = direct_reads(followed)
        if direct is None:  # the store cannot serve the window: its copy first, read as a capture file
            followed.follower.sync()
    except Exception as error:
        followed.close()
        return _refused(window, location, error)
    try:
        capture = CaptureFile.open(followed.path)  # before the follower writes it: opening may write
    except (CaptureFormatError, OSError) as error:
        if direct is not None:
            direct.index.close()
            direct.reader.close()
        followed.close()
        window.banner.show_message(f"Cannot open {shown(location)}: {error}", "error")
        return False
    followed.start()
    if direct is None:
        window._show_capture(capture)  # closes the previous capture, and the store capture followed before
    else:
        window._show_capture(capture, reader=direct.reader, index=direct.index)
    setattr(window, FOLLOWED, followed)
    window.file_label.setText(f"  {shown(location)}")
    window.setWindowTitle(f"{followed.follower.url.capture} — Inspector")
    return True


def _refused(window: MainWindow, location: str, error: Exception) -> bool:
    """Say in one line why the store capture cannot be shown (psycopg missing, the store's `StoreError`); other
    errors are raised (psycopg, and with it `StoreError`, is imported only for a store URL)."""
    if isinstance(error, ImportError):
        window.banner.show_message(f"PostgreSQL stores need psycopg 3: {error}", "error")
        return False
    if type(error).__name__ != "StoreError":
        raise error
    window.banner.show_message(f"Cannot open {shown(location)}: {error}", "error")
    return False


def followed_capture(window: MainWindow) -> FollowedCapture | None:
    """The store capture the window follows, if it shows one."""
    followed = getattr(window, FOLLOWED, None)
    return followed if isinstance(followed, FollowedCapture) else None


def close_followed(window: MainWindow) -> None:
    """Stop following the store capture the window showed (after its readers closed) and remove the local copy."""
    followed = followed_capture(window)
    if followed is not None:
        setattr(window, FOLLOWED, None)
        followed.close()
