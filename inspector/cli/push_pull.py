"""`inspector push FILE URL` and `inspector pull URL FILE`: whole captures copied between a capture file and a
PostgreSQL store, losslessly (every row with its `seq`; the JSONL export of both sides is the same).

Owns both commands' flags and messages (one module: they are each other's inverse). Exit codes (`ExitCode`): OK done,
FAILED the copy failed, USAGE a bad URL, a missing or foreign file, a target that exists (without --force),
CONNECTION the store cannot be reached or used.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path
from typing import TextIO

from inspector.cli.exit_codes import ExitCode

NAMES = ("push", "pull")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    if "push" in commands.choices:  # registered under both names: add both parsers once
        return
    push = commands.add_parser(
        "push",
        help="copy a capture file into a PostgreSQL store",
        description="Copy a whole capture file into a PostgreSQL store as the capture NAME of "
        "postgresql://USER@HOST:PORT/DB?capture=NAME. Exit codes: 0 done, 1 failed, 2 usage error, 3 the store "
        "cannot be reached or used.",
    )
    push.add_argument("file", metavar="FILE", help="the capture file")
    push.add_argument("url", metavar="URL", help="postgresql://USER@HOST:PORT/DB?capture=NAME")
    push.add_argument("--force", action="store_true", help="replace a store capture of that name")
    pull = commands.add_parser(
        "pull",
        help="copy a capture from a PostgreSQL store into a capture file",
        description="Copy a whole capture from a PostgreSQL store into a new capture file. Exit codes: 0 done, "
        "1 failed, 2 usage error, 3 the store cannot be reached or used.",
    )
    pull.add_argument("url", metavar="URL", help="postgresql://USER@HOST:PORT/DB?capture=NAME")
    pull.add_argument("file", metavar="FILE", help="the capture file to write")
    pull.add_argument("--force", action="store_true", help="overwrite FILE if it exists")


def run(args: argparse.Namespace, stderr: TextIO | None = None) -> int:
    err = stderr or sys.stderr
    command = args.command
    try:
        from inspector.store.capture_file import CaptureFormatError
        from inspector.store.postgres.connection import StoreError, StoreUrl
        from inspector.store.postgres.store import pull_to_file, push_file
    except ImportError as exc:
        print(f"inspector {command}: PostgreSQL stores need psycopg 3 ({exc})", file=err)
        return ExitCode.USAGE
    try:
        url = StoreUrl.parse(args.url)
    except StoreError as exc:
        print(f"inspector {command}: {exc}", file=err)
        return ExitCode.USAGE
    if not url.capture:
        print(f"inspector {command}: the store URL names no capture: add ?capture=NAME", file=err)
        return ExitCode.USAGE
    try:
        if command == "push":
            rows = push_file(Path(args.file), url, overwrite=args.force)
            print(f"inspector push: {rows} rows -> {url}", file=err)
        else:
            rows = pull_to_file(url, Path(args.file), overwrite=args.force)
            print(f"inspector pull: {rows} rows -> {args.file}", file=err)
    except (FileNotFoundError, FileExistsError, CaptureFormatError) as exc:
        print(f"inspector {command}: {exc}", file=err)
        return ExitCode.USAGE
    except StoreError as exc:
        text = str(exc)
        print(f"inspector {command}: {text}", file=err)
        return ExitCode.USAGE if "exists" in text or "no capture named" in text else ExitCode.CONNECTION
    except (OSError, sqlite3.Error) as exc:
        print(f"inspector {command}: {exc}", file=err)
        return ExitCode.FAILED
    return ExitCode.OK
