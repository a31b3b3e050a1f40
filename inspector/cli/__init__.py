"""The `inspector` command: one entry point (`inspector.cli:main`) for every job.

Owns the top-level parser (`build_parser`: `--version`, `-v`, and one sub-command per module below), what a first
argument that is not a command means (`inspector FILE` opens a capture in the window; anything else is an unknown
command, `ExitCode.USAGE`; a file there that Inspector cannot open as a capture gets one line and `ExitCode.USAGE`
before the window starts), dispatch, and the last resort: an exception no command expected becomes one line
(`inspector: internal error: ...; run with -v for the traceback`) and `ExitCode.FAILED`. Each command is one module
with argparse wiring only, exposing `add_parser(subparsers)` and `run(args) -> int`: `sandbox`, `capture`, `export`,
`import_jsonl` (`import`), `stats`, `replay`, `relay`, `demo`, `self_test` (`self-test`). The backend options they
share are `options.py`'s, the exit codes `exit_codes.py`'s (README's command table lists them). The window
(`inspector`, `inspector FILE`, `inspector demo`) is the only path that imports Qt; every module keeps its heavy
imports inside `run`, so building the parser stays cheap.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from inspector import __version__
from inspector.cli.exit_codes import ExitCode
from inspector.cli.options import non_negative

COMMANDS: dict[str, str] = {
    "sandbox": "inspector.cli.sandbox",
    "capture": "inspector.cli.capture",
    "export": "inspector.cli.export",
    "stats": "inspector.cli.stats",
    "import": "inspector.cli.import_jsonl",
    "replay": "inspector.cli.replay",
    "relay": "inspector.cli.relay",
    "captures": "inspector.cli.captures",
    "push": "inspector.cli.push_pull",
    "pull": "inspector.cli.push_pull",
    "demo": "inspector.cli.demo",
    "self-test": "inspector.cli.self_test",
}
"""Command name → its module (in the order `inspector --help` lists them)."""

SWITCH_INTERVAL = 0.001
"""Seconds a busy thread keeps the GIL when another asks for it (Python's default is 0.005). A capture records on one
thread and writes SQLite on another (`CaptureWriter`), which releases the GIL while SQLite works and must get it
back from the busy recording thread each time: at 5 ms a time the writer fell behind a fast stream."""


def _module(command: str) -> ModuleType:
    return importlib.import_module(COMMANDS[command])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inspector",
        description="Inspector: a desktop debugger for event-driven 3factor backends (Hasura event triggers, "
        "subscriptions and serverless handlers). `inspector FILE` opens a capture in the window.",
        epilog="Exit codes: 0 done, 1 failed (an output not written, a replay or check failed), 2 usage error "
        "(also an unknown command), 3 connection or authentication failure.",
    )
    parser.add_argument("--version", action="version", version=f"inspector {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more (to stderr)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        _module(command).add_parser(commands)
    parser.add_argument("--quit-after", type=non_negative, default=None, help=argparse.SUPPRESS)
    return parser


def unknown_command(argument: str) -> str:
    """The message for a first argument that is neither a command nor a capture file."""
    close = difflib.get_close_matches(argument, list(COMMANDS), n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else f"; commands: {', '.join(COMMANDS)}"
    return f"inspector: unknown command '{argument}'{hint}"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = any(arg in ("-v", "--verbose") for arg in argv)
    try:
        return _main(argv)
    except Exception as exc:  # the last resort: each command handles what it expects with its own words
        if verbose:
            raise
        print(f"inspector: internal error: {type(exc).__name__}: {exc}; run with -v for the traceback", file=sys.stderr)
        return ExitCode.FAILED


def _main(argv: list[str]) -> int:
    from inspector.cli.common import open_capture
    from inspector.cli.window import is_capture_argument, run_window

    sys.setswitchinterval(SWITCH_INTERVAL)
    parser = build_parser()
    # (an app started from Finder on older macOS gets a process serial number argument: not ours)
    argv = [arg for arg in argv if not arg.startswith("-psn_")]
    if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
        if not is_capture_argument(argv[0]):
            print(unknown_command(argv[0]), file=sys.stderr)
            return ExitCode.USAGE
        # `inspector FILE`: open a capture in the window; a file there that is not one is said here, in one line
        rest = parser.parse_args(argv[1:])
        if os.path.lexists(argv[0]):
            capture = open_capture("", Path(argv[0]), sys.stderr)
            if capture is None:
                return ExitCode.USAGE
            capture.close()
        return run_window(argv[0], quit_after=rest.quit_after)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.command is None:
        return run_window(None, quit_after=args.quit_after)
    return int(_module(args.command).run(args))


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
