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
        "--naive-handlers", action="store_true", help="handlers that are not idempotent (for replay checks)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.command == "sandbox":
        return run_sandbox(args)
    parser.print_help()
    print("\nThe window (`inspector`, `inspector demo`) is not built yet; `inspector sandbox` runs the backend.")
    return EXIT_USAGE


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
