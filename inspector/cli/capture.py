"""`inspector capture`: the headless front of `inspector.services.capture_session.CaptureSession`.

Owns the command's flags (the backend through the shared option group of `inspector.cli.options`), turning them into
capture options, the live progress line on a terminal and the exit codes (`ExitCode`): OK done, USAGE a command line
that cannot work, CONNECTION a connection or authentication failure. The secret is read from the keyring or the
environment and handed to the session in memory; it is never printed, logged or written.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from inspector.cli.common import UsageError
from inspector.cli.exit_codes import ExitCode
from inspector.cli.options import add_backend_options, non_negative, resolve_backend

if TYPE_CHECKING:  # imported where used: building the `inspector` parser must stay cheap for every command
    from inspector.backends.subscriptions import SubscriptionSpec
    from inspector.services.capture_session import CaptureOptions, CaptureProgress

NAME = "capture"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    capture = commands.add_parser(
        NAME,
        help="record a backend's event log and subscriptions into a capture file (headless)",
        description="Record a Hasura (or sandbox) backend's event log, invocations and subscriptions into a capture "
        "file. With --no-events only subscriptions are recorded, so any GraphQL-over-WebSocket server works. Header "
        "values other than a short allow-list, and URL credentials, are redacted in the capture (docs/security.md). "
        "Exit codes: 0 done, 2 usage error, 3 connection or authentication failure.",
    )
    add_backend_options(capture)
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
    capture.add_argument("--duration", type=non_negative, metavar="SECONDS", help="stop after this long")
    capture.add_argument(
        "--count",
        type=int,
        metavar="N",
        help="stop after N recorded results: subscription results (data frames; protocol frames such as "
        "connection_ack and keep-alives do not count), new events, event state changes and invocations",
    )
    capture.add_argument(
        "--poll-interval",
        type=non_negative,
        default=1.0,
        metavar="SECONDS",
        help="how often to read the event log (default 1)",
    )
    capture.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="the capture file to write, or postgresql://USER@HOST/DB?capture=NAME",
    )
    capture.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    capture.add_argument(
        "--database-url",
        metavar="URL",
        help="read the event log from Hasura's own database instead of its metadata API: "
        "postgresql://USER@HOST:PORT/DB of the source holding hdb_catalog (read-only; password from PGPASSWORD or "
        "the keyring, never the URL)",
    )


def _subscriptions(values: list[str]) -> tuple[SubscriptionSpec, ...]:
    from inspector.backends.subscriptions import SubscriptionSpec
    from inspector.core.graphql_ops import OperationError, analyse

    specs = []
    for value in values:
        if value.startswith("@"):
            path = Path(value[1:])
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise UsageError(f"cannot read subscription file {path}: {exc.strerror or exc}") from exc
        else:
            text = value
        try:
            info = analyse(text)
        except OperationError as exc:
            raise UsageError(f"--subscription {value[:40]!r}: {exc}") from exc
        if info.kind == "mutation":
            raise UsageError(f"--subscription {value[:40]!r}: a capture records subscriptions, not mutations")
        specs.append(SubscriptionSpec(text, name=info.name))
    return tuple(specs)


def build_options(args: argparse.Namespace) -> CaptureOptions:
    from inspector.services.capture_session import CaptureOptions

    subscriptions = _subscriptions(args.subscription)
    if not args.events and not subscriptions:
        raise UsageError("with --no-events give at least one --subscription; there would be nothing to record")
    if args.count is not None and args.count <= 0:
        raise UsageError("--count must be a positive number")
    triggers = tuple(t.strip() for t in args.triggers.split(",") if t.strip()) if args.triggers else None
    return CaptureOptions(
        events=args.events,
        triggers=triggers,
        since_now=args.since == "now",
        subscriptions=subscriptions,
        duration=args.duration,
        count=args.count,
        poll_interval=args.poll_interval,
    )


def progress_line(progress: CaptureProgress) -> str:
    minutes, seconds = divmod(int(progress.elapsed), 60)
    text = (
        f"{progress.state:<12} {minutes:02d}:{seconds:02d}  events {progress.events}  invocations "
        f"{progress.invocations}  messages {progress.messages}  recorded {progress.recorded}"
    )
    if progress.state == "reconnecting" and progress.last_error:
        text += f"  ({progress.last_error[:60]})"
    return text


def run(args: argparse.Namespace, env: dict[str, str] | None = None, stderr: TextIO | None = None) -> int:
    from inspector.backends.errors import BackendError
    from inspector.services.capture_session import CaptureSession
    from inspector.store.open import create_capture

    env = dict(os.environ if env is None else env)
    err = stderr or sys.stderr
    if getattr(args, "database_url", None):
        return run_from_database(args, err)
    try:
        backend = resolve_backend(NAME, args, env, err)
        options = build_options(args)
        capture = create_capture(args.out, overwrite=args.force)  # a file, or a capture in a PostgreSQL store
    except (UsageError, FileExistsError) as exc:
        print(f"inspector capture: {exc}", file=err)
        return ExitCode.USAGE
    except OSError as exc:
        print(f"inspector capture: cannot write {args.out}: {exc.strerror or exc}", file=err)
        return ExitCode.USAGE
    except Exception as exc:  # the store's one-line StoreError (psycopg is imported only for a store URL)
        if type(exc).__name__ != "StoreError":
            raise
        print(f"inspector capture: {exc}", file=err)
        return ExitCode.CONNECTION if "exists" not in str(exc) else ExitCode.USAGE
    live = err.isatty()

    def show(progress: CaptureProgress) -> None:
        if live:
            print("\r" + progress_line(progress).ljust(100), end="", file=err, flush=True)

    async def main() -> int:
        session = CaptureSession(backend.profile, backend.secret, capture, options, on_progress=show)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, session.stop)
        try:
            progress = await session.run()
        except BackendError as exc:  # AuthenticationFailed, ConnectionFailed, ProtocolMismatch and the rest
            print(("\n" if live else "") + f"inspector capture: {exc}", file=err)
            return ExitCode.CONNECTION
        if live:
            print(file=err)
        print(f"inspector capture: {progress_line(progress)} -> {args.out}", file=err)
        return ExitCode.OK

    try:
        return asyncio.run(main())
    finally:
        capture.close()


def run_from_database(args: argparse.Namespace, err: TextIO) -> int:
    """`inspector capture --database-url URL`: the event log read straight from Hasura's `hdb_catalog` tables
    (`store.postgres.hasura_catalog`), for servers whose metadata API is closed; the same capture, the same exit
    codes. Subscriptions need the GraphQL endpoint and are not recorded this way."""
    import threading
    import time

    from inspector.store.capture_file import CaptureWriter
    from inspector.store.open import create_capture, shown
    from inspector.store.vanished import mark_event_cleaned_up

    try:
        import psycopg

        from inspector.store.postgres.connection import StoreError
        from inspector.store.postgres.hasura_catalog import HasuraCatalogReader
    except ImportError as exc:
        print(f"inspector capture: --database-url needs psycopg 3 ({exc})", file=err)
        return ExitCode.USAGE
    if args.subscription or not args.events:
        print(
            "inspector capture: --database-url records the event log only: leave out --subscription/--no-events",
            file=err,
        )
        return ExitCode.USAGE
    if args.count is not None and args.count <= 0:
        print("inspector capture: --count must be a positive number", file=err)
        return ExitCode.USAGE
    triggers = [t.strip() for t in args.triggers.split(",") if t.strip()] if args.triggers else None
    try:
        reader = HasuraCatalogReader(args.database_url, triggers, since_now=args.since == "now")
        reader.connect()
    except StoreError as exc:
        print(f"inspector capture: {exc}", file=err)
        return ExitCode.CONNECTION if "names Hasura's database" not in str(exc) else ExitCode.USAGE
    try:
        capture = create_capture(args.out, overwrite=args.force)
    except (FileExistsError, StoreError) as exc:
        reader.close()
        print(f"inspector capture: {exc}", file=err)
        return ExitCode.USAGE if isinstance(exc, FileExistsError) or "exists" in str(exc) else ExitCode.CONNECTION
    except OSError as exc:
        reader.close()
        print(f"inspector capture: cannot write {args.out}: {exc.strerror or exc}", file=err)
        return ExitCode.USAGE
    writer = CaptureWriter(capture)

    class Sink:
        """The capture writer, with cleaned-up events marked as the capture session marks them."""

        observe_event = staticmethod(writer.observe_event)
        observe_invocation = staticmethod(writer.observe_invocation)

        @staticmethod
        def event_cleaned_up(event_id: str, at: float) -> None:
            writer.flush()
            mark_event_cleaned_up(writer.conn, event_id, at)
            writer.log("info", "event log", f"event {event_id} was cleaned up by the server")

    stop = threading.Event()
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):  # not the main thread (tests): stopped by --duration/--count
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    capture.set_info(
        endpoint=shown(str(reader.url)),
        started_at=time.time(),
        server_timezone=reader.server_timezone,
        source="hdb_catalog",
    )
    started, recorded = time.monotonic(), 0
    try:
        while not stop.is_set():
            try:
                recorded += reader.poll(Sink())
            except (StoreError, psycopg.OperationalError) as exc:  # reconnects at the next poll
                reader.close()
                writer.log("warning", "event log", f"{str(exc).strip().splitlines()[-1]}; retrying")
            writer.flush()
            if args.count is not None and recorded >= args.count:
                break
            if args.duration is not None and time.monotonic() - started >= args.duration:
                break
            stop.wait(args.poll_interval)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        capture.set_info(ended_at=time.time(), recorded=recorded)
        reader.close()
        capture.close()
    print(f"inspector capture: recorded {recorded} from {reader.url.where()} (hdb_catalog) -> {args.out}", file=err)
    return ExitCode.OK
