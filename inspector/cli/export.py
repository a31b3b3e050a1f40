"""`inspector export`: the command-line front of `inspector.store.exchange`'s JSONL and HAR writers.

Owns the command's flags, writing `--out` atomically (`common.atomic_text`: a failure never leaves a half-written
file), `--filter` (the events matching are copied to a temporary capture first) and the exit codes (`ExitCode`): OK
done, FAILED the output could not be written, USAGE bad arguments or a missing or damaged capture.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from inspector.cli.common import (
    DAMAGE,
    add_filter_timeout,
    atomic_text,
    damaged,
    filter_runs_in_time,
    open_capture,
    reason,
    same_file,
    utf8_stdout,
)
from inspector.cli.exit_codes import ExitCode

NAME = "export"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = commands.add_parser(
        NAME,
        help="write a capture as JSON Lines (everything, re-importable) or HAR (the invocations as HTTP entries)",
        description="Write a capture file as JSON Lines (one JSON object per line with a `kind`: everything needed "
        "to rebuild the capture with `inspector import`) or as HAR 1.2 (each invocation as an HTTP entry, for "
        "browser devtools and HTTP tools). Header values outside a short allow-list and URL credentials are never "
        "written; --redact also hides session variables other than x-hasura-role and URL credentials in error "
        "texts and the session log (docs/security.md). Exit codes: 0 done, 1 the output could not be written, "
        "2 usage error (including a missing or damaged capture).",
    )
    export.add_argument("file", metavar="FILE", help="the capture file to export (or a postgresql://...?capture= URL)")
    export.add_argument(
        "--format", choices=("jsonl", "har"), help="jsonl (default) or har (the default when --out ends in .har)"
    )
    export.add_argument(
        "--redact",
        action="store_true",
        help="also hide session variables (except x-hasura-role) and URL credentials in error texts and logs",
    )
    export.add_argument("--out", metavar="PATH", help="write here instead of standard output (replaced atomically)")
    export.add_argument(
        "--filter",
        metavar="EXPR",
        help="only events matching this display filter (the window's language), e.g. 'status == \"failed\"'",
    )
    add_filter_timeout(export)


def _format(args: argparse.Namespace) -> str:
    if args.format:
        return str(args.format)
    return "har" if args.out and str(args.out).lower().endswith(".har") else "jsonl"


def run(args: argparse.Namespace, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    from inspector.core.filter import FilterError
    from inspector.store.capture_file import CaptureFile, copy_events
    from inspector.store.exchange import export_har, export_jsonl
    from inspector.store.filter_sql import compile_filter

    err = stderr or sys.stderr
    from inspector.store.open import is_store_url

    if is_store_url(str(args.file)):  # a capture in a PostgreSQL store: exported from a copy pulled now
        from inspector.cli.captures import on_pulled_copy

        return on_pulled_copy(NAME, args, lambda copied: run(copied, stdout, stderr), err)
    source = Path(args.file)
    fmt = _format(args)
    if args.out and same_file(source, Path(args.out)):
        print(f"inspector export: --out {args.out} is the capture itself; choose another file", file=err)
        return ExitCode.USAGE
    if args.out and not Path(args.out).parent.is_dir():
        print(f"inspector export: no directory {Path(args.out).parent} for --out", file=err)
        return ExitCode.USAGE
    opened = open_capture(NAME, source, err)
    if opened is None:
        return ExitCode.USAGE
    capture = opened
    filtered_dir: tempfile.TemporaryDirectory[str] | None = None
    if getattr(args, "filter", None):
        try:
            compiled = compile_filter(args.filter)
        except FilterError as exc:
            capture.close()
            pointer = " " * exc.start + "^" * max(1, exc.end - exc.start)
            print(f"inspector export: --filter: {exc.message}\n  {args.filter}\n  {pointer}", file=err)
            return ExitCode.USAGE
        in_time = filter_runs_in_time(
            NAME, capture, args.filter, compiled.where, compiled.params, args.filter_timeout, err
        )
        capture.close()
        if not in_time:
            return ExitCode.USAGE
        filtered_dir = tempfile.TemporaryDirectory(prefix="inspector-export-")
        filtered = Path(filtered_dir.name) / "filtered.inspector"
        try:
            copy_events(source, filtered, compiled.where, compiled.params)
        except sqlite3.DatabaseError as exc:
            filtered_dir.cleanup()
            print(f"inspector export: {source} is damaged: {exc}", file=err)
            return ExitCode.USAGE
        capture = CaptureFile.open(filtered)
    write = export_har if fmt == "har" else export_jsonl
    try:
        if args.out:
            target = Path(args.out)
            try:
                with atomic_text(target) as out:
                    count = write(capture, out, args.redact)
            except OSError as exc:
                print(f"inspector export: cannot write {target}: {reason(exc)}", file=err)
                return ExitCode.FAILED
            except DAMAGE as exc:
                if damaged(NAME, capture, exc, err, source):
                    return ExitCode.USAGE
                raise
            what = "entries" if fmt == "har" else "records"
            print(f"inspector export: {count} {what} -> {target}", file=err)
            return ExitCode.OK
        out = stdout or utf8_stdout()
        try:
            write(capture, out, args.redact)
            out.flush()
        except BrokenPipeError:  # `inspector export ... | head`: the reader has what it wanted
            with contextlib.suppress(OSError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
            return ExitCode.OK
        except DAMAGE as exc:
            if damaged(NAME, capture, exc, err, source):
                return ExitCode.USAGE
            raise
        finally:
            if stdout is None and isinstance(out, io.TextIOWrapper):
                with contextlib.suppress(ValueError, OSError):
                    out.detach()
        return ExitCode.OK
    finally:
        capture.close()
        if filtered_dir is not None:
            filtered_dir.cleanup()
