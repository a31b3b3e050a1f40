"""`inspector import`: the command-line front of `inspector.store.exchange.import_jsonl`.

Owns the command's flags, reading the input (a file or standard input) as UTF-8 lines with a clear error for what
is not JSONL, and the exit codes (`ExitCode`): OK done, FAILED the output could not be written, USAGE bad arguments,
missing or malformed input, an existing --out without --force. Nothing is written unless the whole input was read.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

from inspector.cli.common import reason, same_file
from inspector.cli.exit_codes import ExitCode

NAME = "import"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    imp = commands.add_parser(
        NAME,
        help="rebuild a capture file from an `inspector export --format jsonl` file",
        description="Rebuild a capture file from JSON Lines written by `inspector export`. Bad lines are reported "
        "as `line N: reason` and nothing is written; --out appears only when the whole input was read. Exit "
        "codes: 0 done, 1 the output could not be written, 2 usage error (including malformed input).",
    )
    imp.add_argument("file", metavar="FILE.jsonl", help="the JSONL file to read (- for standard input)")
    imp.add_argument("--out", required=True, metavar="CAPTURE", help="the capture file to write")
    imp.add_argument("--force", action="store_true", help="replace --out if it exists")


def run(args: argparse.Namespace, stdin: BinaryIO | None = None, stderr: TextIO | None = None) -> int:
    from inspector.store.exchange import ExchangeError, import_jsonl

    err = stderr or sys.stderr
    target = Path(args.out)
    if args.file != "-" and same_file(Path(args.file), target):
        print(f"inspector import: --out {args.out} is the input itself; choose another file", file=err)
        return ExitCode.USAGE
    if target.exists() and not args.force:
        print(f"inspector import: {target} exists; choose another file or add --force", file=err)
        return ExitCode.USAGE
    if not target.parent.is_dir():
        print(f"inspector import: no directory {target.parent} for --out", file=err)
        return ExitCode.USAGE
    owned = args.file != "-"
    try:
        source: BinaryIO = Path(args.file).open("rb") if owned else (stdin or sys.stdin.buffer)  # noqa: SIM115
    except FileNotFoundError:
        print(f"inspector import: no such file: {args.file}", file=err)
        return ExitCode.USAGE
    except OSError as exc:
        print(f"inspector import: cannot read {args.file}: {reason(exc)}", file=err)
        return ExitCode.USAGE
    try:
        count = import_jsonl(_decoded_lines(source), target, overwrite=args.force)
    except ExchangeError as exc:
        print(f"inspector import: {args.file}: {exc}; nothing written", file=err)
        return ExitCode.USAGE
    except FileExistsError as exc:
        print(f"inspector import: {exc}", file=err)
        return ExitCode.USAGE
    except (OSError, sqlite3.Error) as exc:
        print(f"inspector import: cannot write {target}: {reason(exc)}; nothing written", file=err)
        return ExitCode.FAILED
    finally:
        if owned:
            source.close()
    print(f"inspector import: {count} records -> {target}", file=err)
    return ExitCode.OK


def _decoded_lines(source: BinaryIO) -> Iterator[str]:
    """The input's lines as text, with a clear error for input that is not UTF-8 JSONL."""
    from inspector.store.exchange import ExchangeError

    for number, raw in enumerate(source, start=1):
        if number == 1 and raw.startswith(b"SQLite format 3\x00"):
            raise ExchangeError("this is a capture file (SQLite), not JSONL; `inspector export` makes JSONL from it", 1)
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise ExchangeError(f"not UTF-8 text (byte {exc.start + 1})", number) from exc
