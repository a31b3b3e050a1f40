"""The `inspector` command: one entry point for every job.

Owns argument parsing and the exit codes. Each sub-command is a thin shell over a GUI-free package (`sandbox` runs
`inspector.sandbox.server.Sandbox`); the window (`inspector`, `inspector FILE`, `inspector demo`) arrives with the
window issue and is the only path that imports Qt.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence

from inspector import __version__

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CONNECTION = 3


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, not {text}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inspector",
        description="Inspector: a desktop debugger for event-driven 3factor backends (Hasura event triggers, "
        "subscriptions and serverless handlers).",
    )
    parser.add_argument("--version", action="version", version=f"inspector {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more (to stderr)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    sandbox = commands.add_parser(
        "sandbox",
        help="run a local Hasura-compatible 3factor backend (the food-ordering example)",
        description="Run a local backend that speaks Hasura v2's GraphQL (HTTP and both WebSocket subprotocols), "
        "event-trigger and metadata protocols, with the 3factor food-ordering example's tables, event triggers and "
        "handlers. Fault knobs are off by default; --seed makes them reproducible.",
    )
    sandbox.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sandbox.add_argument("--port", type=_port, default=8080, help="GraphQL/metadata port (default 8080; 0 = any free)")
    sandbox.add_argument(
        "--handlers-port", type=_port, default=None, help="port of the serverless handlers (default: --port + 1)"
    )
    sandbox.add_argument("--db", metavar="PATH", help="SQLite file to keep the data in (default: a temporary file)")
    sandbox.add_argument(
        "--admin-secret",
        metavar="S",
        help="require this admin secret (default: env HASURA_GRAPHQL_ADMIN_SECRET; none = open)",
    )
    sandbox.add_argument(
        "--orders-per-second", type=_non_negative, default=0.0, metavar="R", help="place R orders a second (default 0)"
    )
    sandbox.add_argument("--seed", type=int, default=None, metavar="N", help="seed for traffic and faults")
    faults = sandbox.add_argument_group("fault knobs (all off by default)")
    faults.add_argument(
        "--fail-rate", type=_rate, default=0.0, metavar="F", help="handlers answer 500 with probability F"
    )
    faults.add_argument("--latency-ms", type=_non_negative, default=0.0, metavar="MS", help="delay every handler call")
    faults.add_argument(
        "--cold-start-ms",
        type=_non_negative,
        default=0.0,
        metavar="MS",
        help="extra delay on a handler's first call after 30 s idle",
    )
    faults.add_argument(
        "--duplicate-rate",
        type=_rate,
        default=0.0,
        metavar="F",
        help="deliver an event twice with probability F (as when a lock expires)",
    )
    faults.add_argument(
        "--reorder-window-ms",
        type=_non_negative,
        default=0.0,
        metavar="MS",
        help="deliver due events out of creation order within this window",
    )
    eventing = sandbox.add_argument_group("eventing")
    eventing.add_argument("--num-retries", type=int, default=3, help="retry_conf.num_retries of the example's triggers")
    eventing.add_argument(
        "--retry-interval",
        type=int,
        default=2,
        metavar="SECONDS",
        help="retry_conf.interval_sec of the example's triggers",
    )
    eventing.add_argument(
        "--fetch-interval-ms",
        type=_non_negative,
        default=1000.0,
        metavar="MS",
        help="sleep after an empty event fetch (HASURA_GRAPHQL_EVENTS_FETCH_INTERVAL, default 1000)",
    )
    eventing.add_argument(
        "--refetch-interval-ms",
        type=_non_negative,
        default=1000.0,
        metavar="MS",
        help="least time between two runs of a subscription (default 1000, as Hasura)",
    )
    eventing.add_argument(
        "--hasura-version",
        default="v2.48.0",
        metavar="VERSION",
        help="answer as this Hasura version (before v2.25: no pg_get_event_logs; clients use run_sql)",
    )
    eventing.add_argument(
        "--naive-handlers", action="store_true", help="handlers that are not idempotent (for replay checks)"
    )
    eventing.add_argument(
        "--order-sensitive-handlers",
        action="store_true",
        help="restaurant-approval approves only if the payment is already valid (for order-tolerance checks)",
    )
    _add_capture(commands)
    _add_export(commands)
    _add_stats(commands)
    _add_import(commands)
    _add_replay(commands)
    _add_demo(commands)
    _add_self_test(commands)
    parser.add_argument("--quit-after", type=_non_negative, default=None, help=argparse.SUPPRESS)
    return parser


def _add_capture(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    capture = commands.add_parser(
        "capture",
        help="record a backend's event log and subscriptions into a capture file (headless)",
        description="Record a Hasura (or sandbox) backend's event log, invocations and subscriptions into a capture "
        "file. With --no-events only subscriptions are recorded, so any GraphQL-over-WebSocket server works. The "
        "endpoint and admin secret default to HASURA_GRAPHQL_ENDPOINT and HASURA_GRAPHQL_ADMIN_SECRET, as the "
        "Hasura CLI does. Exit codes: 0 done, 2 usage error, 3 connection or authentication failure.",
    )
    capture.add_argument(
        "--endpoint",
        metavar="URL",
        help="GraphQL endpoint (http(s) or ws(s); default: env HASURA_GRAPHQL_ENDPOINT, or --project's config.yaml)",
    )
    capture.add_argument("--project", metavar="DIR", help="a Hasura project directory (reads its config.yaml)")
    capture.add_argument("--subprotocol", choices=("auto", "graphql-transport-ws", "graphql-ws"), default="auto")
    capture.add_argument(
        "--admin-secret-env",
        metavar="VAR",
        help="read the admin secret from this environment variable (default HASURA_GRAPHQL_ADMIN_SECRET)",
    )
    capture.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'Name: value'",
        help="send this header (repeatable), e.g. 'x-hasura-role: user'",
    )
    capture.add_argument(
        "--subscription",
        action="append",
        default=[],
        metavar="QUERY|@FILE",
        help="a subscription to record (repeatable); @FILE reads it from a file",
    )
    capture.add_argument(
        "--events", dest="events", action="store_true", default=True, help="record the event log (default)"
    )
    capture.add_argument(
        "--no-events",
        dest="events",
        action="store_false",
        help="do not use the metadata API; record subscriptions only",
    )
    capture.add_argument("--triggers", metavar="a,b", help="only these event triggers")
    capture.add_argument(
        "--since",
        choices=("all", "now"),
        default="all",
        help="all: what the event log already holds too (default); now: only what happens from now",
    )
    capture.add_argument("--duration", type=_non_negative, metavar="SECONDS", help="stop after this long")
    capture.add_argument("--count", type=int, metavar="N", help="stop after N recorded items")
    capture.add_argument(
        "--poll-interval",
        type=_non_negative,
        default=1.0,
        metavar="SECONDS",
        help="how often to read the event log (default 1)",
    )
    capture.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    capture.add_argument("--out", required=True, metavar="FILE", help="the capture file to write")
    capture.add_argument("--force", action="store_true", help="overwrite --out if it exists")


def _add_export(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = commands.add_parser(
        "export",
        help="write a capture as JSON Lines (everything, re-importable) or HAR (the invocations as HTTP entries)",
        description="Write a capture file as JSON Lines (one JSON object per line with a `kind`: everything needed "
        "to rebuild the capture with `inspector import`) or as HAR 1.2 (each invocation as an HTTP entry, for "
        "browser devtools and HTTP tools). Admin-secret header values are never written; --redact also hides "
        "session variables other than x-hasura-role and credential-looking header values. Exit codes: 0 done, "
        "1 the output could not be written, 2 usage error (including a missing or damaged capture).",
    )
    export.add_argument("file", metavar="FILE", help="the capture file to export")
    export.add_argument(
        "--format", choices=("jsonl", "har"), help="jsonl (default) or har (the default when --out ends in .har)"
    )
    export.add_argument(
        "--redact",
        action="store_true",
        help="hide session variables (except x-hasura-role) and credential-looking header values",
    )
    export.add_argument("--out", metavar="PATH", help="write here instead of standard output (replaced atomically)")
    export.add_argument(
        "--filter",
        metavar="EXPR",
        help="only events matching this display filter (the window's language), e.g. 'status == \"failed\"'",
    )


def _add_stats(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from inspector.cli.stats import add_arguments

    stats = commands.add_parser(
        "stats",
        help="per-trigger delivery figures and anomalies (duplicates, out-of-order, retries, dead letters...)",
        description="Analyse a capture file: per-trigger counts, delivery latency percentiles (created to first "
        "attempt, created to success), retries and their causes, and each anomaly kind (duplicate, out-of-order, "
        "retry, dead-letter, pending-too-long, cold-start, contract) with its count and up to 5 example event ids. "
        "--mark writes what was found into the capture (events.flags). Exit codes: 0 done, 1 the flags could not "
        "be written, 2 usage error (a bad filter, a missing or damaged capture).",
    )
    add_arguments(stats)


def _add_import(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    imp = commands.add_parser(
        "import",
        help="rebuild a capture file from an `inspector export --format jsonl` file",
        description="Rebuild a capture file from JSON Lines written by `inspector export`. Bad lines are reported "
        "as `line N: reason` and nothing is written; --out appears only when the whole input was read. Exit "
        "codes: 0 done, 1 the output could not be written, 2 usage error (including malformed input).",
    )
    imp.add_argument("file", metavar="FILE.jsonl", help="the JSONL file to read (- for standard input)")
    imp.add_argument("--out", required=True, metavar="CAPTURE", help="the capture file to write")
    imp.add_argument("--force", action="store_true", help="replace --out if it exists")


def _add_replay(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from inspector.cli.replay import add_arguments

    replay = commands.add_parser(
        "replay",
        help="send captured events to their handlers again and check the answers (idempotency, order, as recorded)",
        description="Replay events from a capture file with Hasura's exact body and headers: to each trigger's "
        "captured webhook, to --target overrides, or through the backend (--via-backend). The plan is printed "
        "first; hosts other than this machine need --allow-remote. Every attempt is added to the capture. Exit "
        "codes: 0 everything passed, 1 a replay or check failed, 2 usage error, 3 connection failure.",
    )
    add_arguments(replay)


def _add_demo(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser(
        "demo",
        help="open the window capturing a local sandbox with live traffic and a few faults",
        description="Start the sandbox in this process (temporary data, an order a second, some handler failures, "
        "latency, cold starts and duplicate deliveries) and the window connected to it, capturing live.",
    )
    demo.add_argument("--orders-per-second", type=_non_negative, default=1.0, metavar="R")
    demo.add_argument("--seed", type=int, default=None, metavar="N", help="make traffic and faults reproducible")
    demo.add_argument("--quit-after", type=_non_negative, default=None, help=argparse.SUPPRESS)


def _add_self_test(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from inspector.cli.self_test import add_arguments

    self_test = commands.add_parser(
        "self-test",
        help="check this installation end to end: a sandbox in-process, one order's events captured (no display)",
        description="Start the sandbox in this process, capture it into a temporary capture file until one order's "
        "four events are delivered, print a summary and exit: 0 passed, 1 failed. --gui also opens the window "
        "(offscreen unless QT_QPA_PLATFORM is set) and closes it. The installers run this after building.",
    )
    add_arguments(self_test)


SWITCH_INTERVAL = 0.001
"""Seconds a busy thread keeps the GIL when another asks for it (Python's default is 0.005). A capture records on one
thread and writes SQLite on another (`CaptureWriter`), which releases the GIL while SQLite works and must get it
back from the busy recording thread each time: at 5 ms a time the writer fell behind a fast stream."""


def main(argv: Sequence[str] | None = None) -> int:
    sys.setswitchinterval(SWITCH_INTERVAL)
    parser = build_parser()
    # (an app started from Finder on older macOS gets a process serial number argument: not ours)
    argv = [arg for arg in (sys.argv[1:] if argv is None else argv) if not arg.startswith("-psn_")]
    commands = {"sandbox", "capture", "export", "import", "demo", "replay", "stats", "self-test"}
    if argv and not argv[0].startswith("-") and argv[0] not in commands:
        # `inspector FILE`: open a capture in the window
        rest = parser.parse_args(argv[1:])
        return run_window(argv[0], quit_after=rest.quit_after)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.command == "sandbox":
        return run_sandbox(args)
    if args.command == "capture":
        from inspector.cli.capture import run_capture

        return run_capture(args)
    if args.command == "export":
        from inspector.cli.exchange import run_export

        return run_export(args)
    if args.command == "import":
        from inspector.cli.exchange import run_import

        return run_import(args)
    if args.command == "stats":
        from inspector.cli.stats import run_stats

        return run_stats(args)
    if args.command == "replay":
        from inspector.cli.replay import run_replay

        return run_replay(args)
    if args.command == "self-test":
        from inspector.cli.self_test import run_self_test

        return run_self_test(args)
    if args.command == "demo":
        from inspector.qt.window.app import DemoSettings

        demo = DemoSettings(orders_per_second=args.orders_per_second, seed=args.seed)
        return run_window(None, demo=demo, quit_after=args.quit_after)
    return run_window(None, quit_after=args.quit_after)


def run_window(capture: str | None, demo: object = None, quit_after: float | None = None) -> int:
    """The window; the only path that imports Qt. A missing system library gets a message naming what to install."""
    try:
        from inspector.qt.window.app import DemoSettings, run_gui
    except ImportError as error:
        print(
            f"inspector: the window cannot start: {error}\n"
            "On Linux, Qt needs: libgl1 libegl1 libxkbcommon0 libfontconfig1 libglib2.0-0 libdbus-1-3 (and, on a "
            "display, libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0).",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return run_gui(capture, demo if isinstance(demo, DemoSettings) else None, quit_after=quit_after)


def run_sandbox(args: argparse.Namespace) -> int:
    from inspector.sandbox.config import Faults, SandboxConfig
    from inspector.sandbox.server import Sandbox, env_admin_secret

    config = SandboxConfig(
        host=args.host,
        port=args.port,
        handlers_port=args.handlers_port,
        db=args.db,
        admin_secret=args.admin_secret or env_admin_secret(),
        orders_per_second=args.orders_per_second,
        seed=args.seed,
        faults=Faults(
            fail_rate=args.fail_rate,
            latency_ms=args.latency_ms,
            cold_start_ms=args.cold_start_ms,
            duplicate_rate=args.duplicate_rate,
            reorder_window_ms=args.reorder_window_ms,
        ),
        num_retries=args.num_retries,
        retry_interval_sec=args.retry_interval,
        fetch_interval=args.fetch_interval_ms / 1000,
        refetch_interval=args.refetch_interval_ms / 1000,
        naive_handlers=args.naive_handlers,
        order_sensitive_handlers=args.order_sensitive_handlers,
        hasura_version=args.hasura_version,
    )

    async def serve() -> int:
        sandbox = Sandbox(config)
        try:
            await sandbox.start()
        except OSError as exc:
            print(
                f"inspector sandbox: cannot listen on {config.host}:{config.port}: {exc.strerror or exc}",
                file=sys.stderr,
            )
            await sandbox.stop()
            return EXIT_FAILED
        print(sandbox.banner(), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):  # Windows: Ctrl+C raises KeyboardInterrupt instead
                loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await sandbox.stop()
        print("inspector sandbox: stopped", flush=True)
        return EXIT_OK

    try:
        return asyncio.run(serve())
    except KeyboardInterrupt:
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
