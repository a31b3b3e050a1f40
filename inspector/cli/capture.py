"""`inspector capture`: the headless front of `CaptureSession`.

Owns turning the command line (and the Hasura CLI's environment and `config.yaml` conventions) into a connection
profile and capture options, the live progress line on a terminal, and the exit codes: 0 done, 2 usage error, 3
connection or authentication failure. The secret is read from the environment and handed to the session in memory;
it is never printed, logged or written.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import TextIO

from inspector.backends.errors import AuthenticationFailed, BackendError, ConnectionFailed, ProtocolMismatch
from inspector.backends.subscriptions import SubscriptionSpec
from inspector.core.connection_profile import ConnectionProfile, parse_header, split_secret_headers
from inspector.core.graphql_ops import OperationError, analyse
from inspector.services.capture_session import CaptureOptions, CaptureProgress, CaptureSession
from inspector.store.capture_file import CaptureFile

EXIT_OK, EXIT_USAGE, EXIT_CONNECTION = 0, 2, 3


class UsageError(Exception):
    """A command line that cannot work; the message says what to change."""


def _subscriptions(values: list[str]) -> tuple[SubscriptionSpec, ...]:
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


def build_profile(args: argparse.Namespace, env: dict[str, str]) -> tuple[ConnectionProfile, str | None]:
    """The profile and secret the command line asks for (endpoint: flag, env, or Hasura project)."""
    endpoint = args.endpoint
    secret: str | None = None
    if args.project:
        from inspector.services.profiles import ProfileError, profile_from_hasura_project

        try:
            project_profile, secret = profile_from_hasura_project(Path(args.project))
        except (ProfileError, OSError, ValueError) as exc:
            raise UsageError(str(exc)) from exc
        endpoint = endpoint or project_profile.endpoint
    endpoint = endpoint or env.get("HASURA_GRAPHQL_ENDPOINT")
    if not endpoint:
        raise UsageError("give --endpoint URL (or set HASURA_GRAPHQL_ENDPOINT, or --project DIR)")
    try:
        headers = [parse_header(h) for h in args.header]
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    plain, header_secret, secret_header = split_secret_headers(headers)
    if args.admin_secret_env:
        if args.admin_secret_env not in env:
            raise UsageError(f"--admin-secret-env {args.admin_secret_env}: that environment variable is not set")
        secret = env[args.admin_secret_env]
    elif header_secret is not None:
        secret = header_secret
    elif secret is None:
        secret = env.get("HASURA_GRAPHQL_ADMIN_SECRET") or None
    try:
        profile = ConnectionProfile.from_endpoint(
            "command line",
            endpoint,
            headers=plain,
            secret_env=args.admin_secret_env,
            secret_header=secret_header or "x-hasura-admin-secret",
            subprotocol=args.subprotocol,
            verify_tls=not args.insecure,
        )
    except ValueError as exc:
        raise UsageError(f"--endpoint: {exc}") from exc
    return profile, secret


def build_options(args: argparse.Namespace) -> CaptureOptions:
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


def run_capture(args: argparse.Namespace, env: dict[str, str] | None = None, stderr: TextIO | None = None) -> int:
    env = dict(os.environ if env is None else env)
    err = stderr or sys.stderr
    try:
        profile, secret = build_profile(args, env)
        options = build_options(args)
        capture = CaptureFile.create(args.out, overwrite=args.force)
    except (UsageError, FileExistsError) as exc:
        print(f"inspector capture: {exc}", file=err)
        return EXIT_USAGE
    except OSError as exc:
        print(f"inspector capture: cannot write {args.out}: {exc.strerror or exc}", file=err)
        return EXIT_USAGE
    live = err.isatty()

    def show(progress: CaptureProgress) -> None:
        if live:
            print("\r" + progress_line(progress).ljust(100), end="", file=err, flush=True)

    async def main() -> int:
        session = CaptureSession(profile, secret, capture, options, on_progress=show)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, session.stop)
        try:
            progress = await session.run()
        except (AuthenticationFailed, ConnectionFailed, ProtocolMismatch) as exc:
            print(("\n" if live else "") + f"inspector capture: {exc}", file=err)
            return EXIT_CONNECTION
        except BackendError as exc:
            print(("\n" if live else "") + f"inspector capture: {exc}", file=err)
            return EXIT_CONNECTION
        if live:
            print(file=err)
        print(f"inspector capture: {progress_line(progress)} -> {args.out}", file=err)
        return EXIT_OK

    try:
        return asyncio.run(main())
    finally:
        capture.close()
