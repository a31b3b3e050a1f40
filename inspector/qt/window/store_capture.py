"""The window on a capture in a PostgreSQL store (`inspector 'postgresql://...?capture=NAME'`, issue 17).

Owns opening such a capture in the main window: the store capture is copied into a local capture file that follows
the store (`store.open.follow_capture`), and the window shows that file as it shows any growing capture file (its
refresh timer sees the follower's writes through SQLite's data version). The follower lives as long as the window
shows the capture (`close_followed`, called when the capture is closed). Used by `qt/window/main_window.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from inspector.store.capture_file import CaptureFile, CaptureFormatError
from inspector.store.open import FollowedCapture, follow_capture, shown

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
        followed = follow_capture(location)
    except ImportError as error:  # psycopg not installed
        window.banner.show_message(f"PostgreSQL stores need psycopg 3: {error}", "error")
        return False
    except Exception as error:  # the store's one-line StoreError (psycopg is imported only for a store URL)
        if type(error).__name__ != "StoreError":
            raise
        window.banner.show_message(f"Cannot open {shown(location)}: {error}", "error")
        return False
    try:
        capture = CaptureFile.open(followed.path)
    except (CaptureFormatError, OSError) as error:
        followed.close()
        window.banner.show_message(f"Cannot open {shown(location)}: {error}", "error")
        return False
    window._show_capture(capture)  # closes the previous capture, and the store capture followed before
    setattr(window, FOLLOWED, followed)
    window.file_label.setText(f"  {shown(location)}")
    window.setWindowTitle(f"{followed.follower.url.capture} — Inspector")
    return True


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
