"""What the command modules share: the usage error, opening a capture with a one-line reason on failure, the
`--filter-timeout` option and its check, writing an output atomically, and standard output as UTF-8.

Used by `inspector.cli.export`, `import_jsonl`, `stats`, `capture` and `replay`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sqlite3
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from inspector.store.capture_file import CaptureFile


class UsageError(Exception):
    """A command line that cannot work; the message says what to change (exit code `ExitCode.USAGE`)."""


def reason(exc: BaseException) -> str:
    """An exception as a short reason for a person (the OS's words for OS errors)."""
    return (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)) or type(exc).__name__


def open_capture(command: str, path: Path, err: TextIO) -> CaptureFile | None:
    """The capture at `path`, or None after printing why it cannot be used in one line (`inspector <command>: ...`;
    `command` empty for the window)."""
    from inspector.store.capture_file import CaptureFile, CaptureFormatError

    prefix = f"inspector {command}" if command else "inspector"
    try:
        if path.is_dir():
            print(f"{prefix}: {path} is a directory, not a capture file", file=err)
            return None
        return CaptureFile.open(path)
    except FileNotFoundError:
        print(f"{prefix}: no such file: {path}", file=err)
    except CaptureFormatError as exc:
        print(f"{prefix}: {exc}", file=err)
    except (OSError, sqlite3.Error, UnicodeError) as exc:
        # UnicodeError: a bit flip in the schema's own text (table names, SQL) that SQLite hands back as it is
        print(f"{prefix}: cannot open {path}: {reason(exc)}", file=err)
    return None


DAMAGE = (TypeError, ValueError, KeyError, AttributeError, UnicodeError, sqlite3.DatabaseError)
"""What reading a capture whose values are not what Inspector writes raises (a bit flip, another program's writes);
`damaged` tells such a capture from a fault of Inspector's."""


def damaged(command: str, capture: CaptureFile, exc: BaseException, err: TextIO, shown: Path | None = None) -> bool:
    """After `exc` (one of `DAMAGE`) escaped a command's work on `capture`: whether the capture is damaged, in which
    case one line saying where was printed (naming `shown`, else the capture's path). False means the capture looks
    sound: the caller re-raises (a bug)."""
    from inspector.store.damage import wrong_types

    path = shown or capture.path
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.ProgrammingError):
        print(f"inspector {command}: {path} is damaged: {exc}", file=err)
        return True
    try:
        columns = wrong_types(capture.conn)
    except (sqlite3.Error, UnicodeError) as scan:
        print(f"inspector {command}: {path} is damaged: {scan}", file=err)
        return True
    if not columns:
        return False
    print(
        f"inspector {command}: {path} is damaged: values of the wrong type in {', '.join(columns)}",
        file=err,
    )
    return True


def add_filter_timeout(parser: argparse._ActionsContainer) -> None:
    """`--filter-timeout SECONDS`, for the commands that take `--filter`."""
    from inspector.store.filter_limit import DEFAULT_FILTER_TIMEOUT

    parser.add_argument(
        "--filter-timeout",
        type=_seconds,
        default=DEFAULT_FILTER_TIMEOUT,
        metavar="SECONDS",
        help=f"give up on a --filter that runs longer than this over the capture (default {DEFAULT_FILTER_TIMEOUT:g}; "
        "0: no limit)",
    )


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number of seconds, 0 or more")
    return value


def filter_runs_in_time(
    command: str, capture: CaptureFile, filter_text: str, where: str, params: Any, seconds: float, err: TextIO
) -> bool:
    """Whether `--filter` runs over the whole capture within `--filter-timeout`; if not, prints one line naming the
    filter and the limit (`store.filter_limit`: a runaway regex must not hang the command), or that the capture is
    damaged."""
    from inspector.store.filter_limit import FilterTimeout, count_matching
    from inspector.store.filter_sql import register_functions

    register_functions(capture.conn)
    try:
        count_matching(capture.conn, where, params, seconds)
    except FilterTimeout:
        print(
            f"inspector {command}: --filter {filter_text!r} ran longer than --filter-timeout {seconds:g} s over "
            f"{capture.path}; simplify it (a regex with nested repeats such as (a+)* can run for hours) or raise "
            "the limit",
            file=err,
        )
        return False
    except (sqlite3.DatabaseError, UnicodeError) as exc:
        print(f"inspector {command}: {capture.path} is damaged: {exc}", file=err)
        return False
    return True


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
