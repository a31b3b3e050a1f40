"""`inspector captures URL`: the captures of a PostgreSQL store, and its upkeep (retention, schema).

Owns the command's flags, the listing (name, backend, started, ended, counts, who recorded it; `--json` for scripts),
`--drop NAME`, `--drop-older-than 30d` (retention), `--init` (create or migrate the store's schema), and
`on_pulled_copy`, with which a command that works on a capture file (`export`, `stats`) takes a store URL: it runs on
a copy pulled now. Exit codes (`ExitCode`): OK done, USAGE a bad URL or duration, CONNECTION the store cannot be
reached or used (wrong password, no database, no or a newer schema).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

from inspector.cli.exit_codes import ExitCode

NAME = "captures"

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration(text: str) -> float:
    """`30d`, `12h`, `90m`, `45s`, `2w` (or plain seconds) as seconds."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if not found:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 30d, 12h, 90m")
    return float(found.group(1)) * _UNITS.get(found.group(2) or "s", 1)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    captures = commands.add_parser(
        NAME,
        help="list the captures of a PostgreSQL store; drop old ones",
        description="List the captures of a PostgreSQL store (postgresql://USER@HOST:PORT/DB): name, backend, "
        "started, ended, counts and who recorded it. The password comes from PGPASSWORD (or libpq's own sources) "
        "or the OS keyring (service inspector-postgres, entry USER@HOST:PORT), never from the URL. Exit codes: 0 "
        "done, 2 usage error, 3 the store cannot be reached or used.",
    )
    captures.add_argument("url", metavar="URL", help="the store, postgresql://USER@HOST:PORT/DB")
    captures.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    captures.add_argument("--drop", metavar="NAME", action="append", default=[], help="drop this capture")
    captures.add_argument(
        "--drop-older-than", metavar="AGE", type=duration, help="drop captures created longer ago than AGE (30d)"
    )
    captures.add_argument("--init", action="store_true", help="create or migrate the store's schema")


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def run(args: argparse.Namespace, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        from inspector.store.postgres.connection import StoreError, StoreUrl
        from inspector.store.postgres.store import PostgresStore
    except ImportError as exc:
        print(f"inspector captures: PostgreSQL stores need psycopg 3 ({exc})", file=err)
        return ExitCode.USAGE
    try:
        url = StoreUrl.parse(args.url)
    except StoreError as exc:
        print(f"inspector captures: {exc}", file=err)
        return ExitCode.USAGE
    try:
        with PostgresStore.open(url, write=bool(args.init or args.drop or args.drop_older_than is not None)) as store:
            for name in args.drop:
                if not store.drop(name):
                    print(f"inspector captures: no capture named {name!r} in {url.where()}", file=err)
                    return ExitCode.USAGE
                print(f"dropped {name}", file=err)
            if args.drop_older_than is not None:
                for name in store.drop_older_than(args.drop_older_than):
                    print(f"dropped {name}", file=err)
            listed = store.captures()
    except StoreError as exc:
        print(f"inspector captures: {exc}", file=err)
        return ExitCode.CONNECTION
    if args.json:
        json.dump([c.__dict__ for c in listed], out, indent=1)
        out.write("\n")
        return ExitCode.OK
    rows = [
        (
            c.name,
            c.backend,
            _when(c.started),
            _when(c.ended),
            str(c.events),
            str(c.invocations),
            str(c.messages),
            f"{c.recorded_by} ({c.client})" if c.client else c.recorded_by,
        )
        for c in listed
    ]
    header = ("name", "backend", "started (UTC)", "ended (UTC)", "events", "invocations", "messages", "recorded by")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip(), file=out)
    return ExitCode.OK


def on_pulled_copy(
    command: str, args: argparse.Namespace, run_on_file: Callable[[argparse.Namespace], int], err: TextIO
) -> int:
    """Run a command that reads a capture file (`args.file`) on a copy of the store capture `args.file` names,
    pulled now; one line and `ExitCode.CONNECTION` when the store cannot be read."""
    from inspector.store.open import local_capture, shown

    try:
        from inspector.store.postgres.connection import StoreError
    except ImportError as exc:
        print(f"inspector {command}: PostgreSQL stores need psycopg 3 ({exc})", file=err)
        return ExitCode.USAGE
    location = args.file
    try:
        with local_capture(location) as path:
            copied = argparse.Namespace(**{**vars(args), "file": str(path)})
            return run_on_file(copied)
    except StoreError as exc:
        print(f"inspector {command}: {shown(location)}: {exc}", file=err)
        return ExitCode.CONNECTION


def on_checked_out_copy(
    command: str, args: argparse.Namespace, run_on_file: Callable[[argparse.Namespace], int], err: TextIO
) -> int:
    """Run a command that adds to a capture file (`inspector replay`) on a copy of the store capture `args.file`
    names, pulled now under the capture's writer lock; what it added is written back into the store afterwards, where
    every reader of the store sees it. One line and `ExitCode.CONNECTION` when the store cannot be used (USAGE when the
    capture is not there or is being written by another Inspector)."""
    from inspector.store.open import capture_to_add_to, shown

    try:
        from inspector.store.postgres.connection import StoreError
    except ImportError as exc:
        print(f"inspector {command}: PostgreSQL stores need psycopg 3 ({exc})", file=err)
        return ExitCode.USAGE
    location = args.file
    try:
        with capture_to_add_to(location) as path:
            copied = argparse.Namespace(**{**vars(args), "file": str(path)})
            return run_on_file(copied)
    except StoreError as exc:
        text = str(exc)
        print(f"inspector {command}: {shown(location)}: {text}", file=err)
        return ExitCode.USAGE if "no capture named" in text or "being written" in text else ExitCode.CONNECTION
