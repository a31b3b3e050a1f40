"""What the headless commands (`export`, `stats`, ...) share: opening a capture with a one-line reason on failure."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TextIO

from inspector.store.capture_file import CaptureFile, CaptureFormatError


def reason(exc: BaseException) -> str:
    """An exception as a short reason for a person (the OS's words for OS errors)."""
    return (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)) or type(exc).__name__


def open_capture(command: str, path: Path, err: TextIO) -> CaptureFile | None:
    """The capture at `path`, or None after printing why it cannot be used (`inspector <command>: ...`)."""
    try:
        return CaptureFile.open(path)
    except FileNotFoundError:
        print(f"inspector {command}: no such file: {path}", file=err)
    except CaptureFormatError as exc:
        print(f"inspector {command}: {exc}", file=err)
    except (OSError, sqlite3.Error) as exc:
        print(f"inspector {command}: cannot open {path}: {reason(exc)}", file=err)
    return None
