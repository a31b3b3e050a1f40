"""`inspector` (no command), `inspector FILE` and `inspector 'postgresql://...?capture=NAME'`: the window.

Owns starting the window (also for `inspector demo`) and which first arguments are capture files; the only path of the
command line that imports Qt (`inspector.qt`). A missing system library gets a message naming what to install and
`ExitCode.FAILED`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from inspector.cli.exit_codes import ExitCode

CAPTURE_SUFFIXES = (".inspector", ".db", ".sqlite")
"""File name endings `inspector FILE` opens even when no such file exists (the window then says so), as the window's
Open dialog lists them."""


def is_capture_argument(argument: str) -> bool:
    """Whether a first argument that is not a command names a capture to open: an existing file, a name ending
    in one of `CAPTURE_SUFFIXES`, or a capture in a PostgreSQL store (`postgresql://...?capture=NAME`)."""
    from inspector.store.open import is_store_url

    return is_store_url(argument) or Path(argument).is_file() or argument.lower().endswith(CAPTURE_SUFFIXES)


def run_window(capture: str | None, demo: object = None, quit_after: float | None = None) -> int:
    """The window, on `capture` if given; a missing system library gets a message naming what to install."""
    try:
        from inspector.qt.window.app import DemoSettings, run_gui
    except ImportError as error:
        print(
            f"inspector: the window cannot start: {error}\n"
            "On Linux, Qt needs: libgl1 libegl1 libxkbcommon0 libfontconfig1 libglib2.0-0 libdbus-1-3 (and, on a "
            "display, libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0).",
            file=sys.stderr,
        )
        return ExitCode.FAILED
    return run_gui(capture, demo if isinstance(demo, DemoSettings) else None, quit_after=quit_after)
