"""What the command modules share: the usage error, opening a capture with a one-line reason on failure, writing an
output atomically, and standard output as UTF-8.

Used by `inspector.cli.export`, `import_jsonl`, `stats`, `capture` and `replay`.
"""

from __future__ import annotations

import contextlib
import io
import os
import sqlite3
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from inspector.store.capture_file import CaptureFile


class UsageError(Exception):
    """A command line that cannot work; the message says what to change (exit code `ExitCode.USAGE`)."""


def reason(exc: BaseException) -> str:
    """An exception as a short reason for a person (the OS's words for OS errors)."""
    return (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)) or type(exc).__name__


def open_capture(command: str, path: Path, err: TextIO) -> CaptureFile | None:
    """The capture at `path`, or None after printing why it cannot be used (`inspector <command>: ...`)."""
    from inspector.store.capture_file import CaptureFile, CaptureFormatError

    try:
        return CaptureFile.open(path)
    except FileNotFoundError:
        print(f"inspector {command}: no such file: {path}", file=err)
    except CaptureFormatError as exc:
        print(f"inspector {command}: {exc}", file=err)
    except (OSError, sqlite3.Error) as exc:
        print(f"inspector {command}: cannot open {path}: {reason(exc)}", file=err)
    return None


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name the same file (an output must not replace its own input)."""
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


@contextlib.contextmanager
def atomic_text(target: Path) -> Iterator[TextIO]:
    """A UTF-8 text file that appears at `target` only when the block ends without an error (a temporary file
    renamed into place, so a failure never leaves a half-written output)."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".export.tmp", dir=target.parent)
    temp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def utf8_stdout() -> TextIO:
    """Standard output as UTF-8 with `\\n` line ends, whatever the locale says."""
    sys.stdout.flush()
    return io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="\n", line_buffering=False)
