"""`inspector sandbox`: run `inspector.sandbox.server.Sandbox` until Ctrl+C.

Owns the command's flags (address, data file, admin secret, traffic, fault knobs, eventing settings: retries,
intervals, the Hasura version posed as, the database's time zone, the trace propagators) and the exit
codes (`ExitCode`): OK stopped, FAILED it could not listen.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from inspector.cli.exit_codes import ExitCode
from inspector.cli.options import non_negative, port, rate, timezone

NAME = "sandbox"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sandbox = commands.add_parser(
        NAME,
        help="run a local Hasura-compatible 3factor backend (the food-ordering example)",
        description="Run a local backend that speaks Hasura v2's GraphQL (HTTP and both WebSocket subprotocols), "
        "event-trigger and metadata protocols, with the 3factor food-ordering example's tables, event triggers and "
        "handlers. Fault knobs are off by default; --seed makes them reproducible. Exit codes: 0 stopped, 1 it "
        "could not listen, 2 usage error.",
    )
    sandbox.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sandbox.add_argument("--port", type=port, default=8080, help="GraphQL/metadata port (default 8080; 0 = any free)")
    sandbox.add_argument(
        "--handlers-port", type=port, default=None, help="port of the serverless handlers (default: --port + 1)"
    )
    sandbox.add_argument("--db", metavar="PATH", help="SQLite file to keep the data in (default: a temporary file)")
    sandbox.add_argument(
        "--admin-secret",
        metavar="S",
        help="require this admin secret (default: env HASURA_GRAPHQL_ADMIN_SECRET; none = open)",
    )
    sandbox.add_argument(
        "--orders-per-second", type=non_negative, default=0.0, metavar="R", help="place R orders a second (default 0)"
    )
    sandbox.add_argument("--seed", type=int, default=None, metavar="N", help="seed for traffic and faults")
    faults = sandbox.add_argument_group("fault knobs (all off by default)")
    faults.add_argument(
        "--fail-rate", type=rate, default=0.0, metavar="F", help="handlers answer 500 with probability F"
    )
    faults.add_argument("--latency-ms", type=non_negative, default=0.0, metavar="MS", help="delay every handler call")
    faults.add_argument(
        "--cold-start-ms",
        type=non_negative,
        default=0.0,
        metavar="MS",
        help="extra delay on a handler's first call after 30 s idle",
    )
    faults.add_argument(
        "--duplicate-rate",
        type=rate,
        default=0.0,
        metavar="F",
        help="deliver an event twice with probability F (as when a lock expires)",
    )
    faults.add_argument(
        "--reorder-window-ms",
        type=non_negative,
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
        type=non_negative,
        default=1000.0,
        metavar="MS",
        help="sleep after an empty event fetch (HASURA_GRAPHQL_EVENTS_FETCH_INTERVAL, default 1000)",
    )
    eventing.add_argument(
        "--refetch-interval-ms",
        type=non_negative,
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
    eventing.add_argument(
        "--db-timezone",
        type=timezone,
        default="UTC",
        metavar="ZONE",
        help="the database's time zone (IANA, e.g. Asia/Kolkata): event times are its wall times, as Postgres' "
        "TIMESTAMP columns are (default UTC)",
    )
    eventing.add_argument(
        "--trace-propagator",
        action="append",
        choices=("b3", "tracecontext"),
        default=[],
        help="trace headers on webhook calls (repeatable): b3 (X-B3-*, Hasura's default, always on) and "
        "tracecontext (W3C traceparent too), as set_opentelemetry_config's traces_propagators",
    )
    eventing.add_argument(
        "--webhook-base",
        metavar="URL",
        help="the example's triggers deliver to URL/<trigger> (e.g. an `inspector relay` in front of the handlers)",
    )


def run(args: argparse.Namespace) -> int:
    from inspector.sandbox.config import Faults, SandboxConfig
    from inspector.sandbox.server import Sandbox, env_admin_secret

    config = SandboxConfig(
        host=args.host,
        port=args.port,
        handlers_port=args.handlers_port,
        db=args.db,
        webhook_base=args.webhook_base,
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
        db_timezone=args.db_timezone,
        # Hasura keeps B3 whatever is configured (`parseOtelExporterConfig` in
        # server/src-lib/Hasura/RQL/DDL/OpenTelemetry.hs)
        trace_propagators=tuple(dict.fromkeys([*args.trace_propagator, "b3"])),
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
            return ExitCode.FAILED
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
        return ExitCode.OK

    try:
        return asyncio.run(serve())
    except KeyboardInterrupt:
        return ExitCode.OK
