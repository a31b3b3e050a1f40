"""`inspector export` and `inspector import`: the command-line front of `inspector.store.exchange`.

Owns opening the files, writing outputs atomically (a temporary file renamed into place, so a failure never leaves a
half-written `--out`), the one-line error messages and the exit codes: 0 done, 1 the output could not be written,
2 usage error (bad arguments, missing, damaged or malformed input, an existing --out without --force).
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
from typing import BinaryIO, TextIO

from inspector.cli.common import open_capture, reason
from inspector.core.filter import FilterError
from inspector.store.capture_file import CaptureFile, copy_events
from inspector.store.exchange import ExchangeError, export_har, export_jsonl, import_jsonl
from inspector.store.filter_sql import compile_filter

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _format(args: argparse.Namespace) -> str:
    if args.format:
        return str(args.format)
    return "har" if args.out and str(args.out).lower().endswith(".har") else "jsonl"


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def run_export(args: argparse.Namespace, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    err = stderr or sys.stderr
    source = Path(args.file)
    fmt = _format(args)
    if args.out and _same_file(source, Path(args.out)):
        print(f"inspector export: --out {args.out} is the capture itself; choose another file", file=err)
        return EXIT_USAGE
    if args.out and not Path(args.out).parent.is_dir():
        print(f"inspector export: no directory {Path(args.out).parent} for --out", file=err)
        return EXIT_USAGE
    opened = open_capture("export", source, err)
    if opened is None:
        return EXIT_USAGE
    capture = opened
    filtered_dir: tempfile.TemporaryDirectory[str] | None = None
    if getattr(args, "filter", None):
        try:
            compiled = compile_filter(args.filter)
        except FilterError as exc:
            capture.close()
            pointer = " " * exc.start + "^" * max(1, exc.end - exc.start)
            print(f"inspector export: --filter: {exc.message}\n  {args.filter}\n  {pointer}", file=err)
            return EXIT_USAGE
        capture.close()
        filtered_dir = tempfile.TemporaryDirectory(prefix="inspector-export-")
        filtered = Path(filtered_dir.name) / "filtered.inspector"
        copy_events(source, filtered, compiled.where, compiled.params)
        capture = CaptureFile.open(filtered)
    write = export_har if fmt == "har" else export_jsonl
    try:
        if args.out:
            target = Path(args.out)
            try:
                with _atomic_text(target) as out:
                    count = write(capture, out, args.redact)
            except sqlite3.DatabaseError as exc:
                print(f"inspector export: {source} is damaged: {exc}", file=err)
                return EXIT_USAGE
            except OSError as exc:
                print(f"inspector export: cannot write {target}: {_reason(exc)}", file=err)
                return EXIT_FAILED
            what = "entries" if fmt == "har" else "records"
            print(f"inspector export: {count} {what} -> {target}", file=err)
            return EXIT_OK
        out = stdout or _utf8_stdout()
        try:
            write(capture, out, args.redact)
            out.flush()
        except BrokenPipeError:  # `inspector export ... | head`: the reader has what it wanted
            with contextlib.suppress(OSError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
            return EXIT_OK
        except sqlite3.DatabaseError as exc:
            print(f"inspector export: {source} is damaged: {exc}", file=err)
            return EXIT_USAGE
        finally:
            if stdout is None and isinstance(out, io.TextIOWrapper):
                with contextlib.suppress(ValueError, OSError):
                    out.detach()
        return EXIT_OK
    finally:
        capture.close()
        if filtered_dir is not None:
            filtered_dir.cleanup()


def run_import(args: argparse.Namespace, stdin: BinaryIO | None = None, stderr: TextIO | None = None) -> int:
    err = stderr or sys.stderr
    target = Path(args.out)
    if args.file != "-" and _same_file(Path(args.file), target):
        print(f"inspector import: --out {args.out} is the input itself; choose another file", file=err)
        return EXIT_USAGE
    if target.exists() and not args.force:
        print(f"inspector import: {target} exists; choose another file or add --force", file=err)
        return EXIT_USAGE
    if not target.parent.is_dir():
        print(f"inspector import: no directory {target.parent} for --out", file=err)
        return EXIT_USAGE
    owned = args.file != "-"
    try:
        source: BinaryIO = Path(args.file).open("rb") if owned else (stdin or sys.stdin.buffer)  # noqa: SIM115
    except FileNotFoundError:
        print(f"inspector import: no such file: {args.file}", file=err)
        return EXIT_USAGE
    except OSError as exc:
        print(f"inspector import: cannot read {args.file}: {_reason(exc)}", file=err)
        return EXIT_USAGE
    try:
        count = import_jsonl(_decoded_lines(source), target, overwrite=args.force)
    except ExchangeError as exc:
        print(f"inspector import: {args.file}: {exc}; nothing written", file=err)
        return EXIT_USAGE
    except FileExistsError as exc:
        print(f"inspector import: {exc}", file=err)
        return EXIT_USAGE
    except (OSError, sqlite3.Error) as exc:
        print(f"inspector import: cannot write {target}: {_reason(exc)}; nothing written", file=err)
        return EXIT_FAILED
    finally:
        if owned:
            source.close()
    print(f"inspector import: {count} records -> {target}", file=err)
    return EXIT_OK


def _decoded_lines(source: BinaryIO) -> Iterator[str]:
    """The input's lines as text, with a clear error for input that is not UTF-8 JSONL."""
    for number, raw in enumerate(source, start=1):
        if number == 1 and raw.startswith(b"SQLite format 3\x00"):
            raise ExchangeError("this is a capture file (SQLite), not JSONL; `inspector export` makes JSONL from it", 1)
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise ExchangeError(f"not UTF-8 text (byte {exc.start + 1})", number) from exc


@contextlib.contextmanager
def _atomic_text(target: Path) -> Iterator[TextIO]:
    """A UTF-8 text file that appears at `target` only when the block ends without an error."""
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


def _utf8_stdout() -> TextIO:
    """Standard output as UTF-8 with `\\n` line ends, whatever the locale says."""
    sys.stdout.flush()
    return io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="\n", line_buffering=False)


_reason = reason
