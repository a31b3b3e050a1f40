"""`inspector replay`: the headless front of the replay runner.

Owns turning the command line into a plan (the selection, targets, orderings, duplicates, checks), printing the plan
before anything is sent, the safety check (hosts outside this machine need `--allow-remote`; without it nothing is
sent and the exit status is 2, naming the hosts), the backend (the shared option group of `inspector.cli.options`;
its secret from `--admin-secret-env VAR`, else the profile's keyring entry or `HASURA_GRAPHQL_ADMIN_SECRET`; never
the capture), the live progress line on a terminal, Ctrl+C (first: cancel after the attempts in flight; second: at
once), the reports (`--report x.xml`: JUnit, `--report x.html`: one HTML page) and the exit codes (`ExitCode`): OK
everything passed, FAILED a replay or check failed (or the run was cancelled), USAGE a command line that cannot work,
CONNECTION the backend, or every target, could not be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from inspector.cli.common import DAMAGE, UsageError, add_filter_timeout, damaged, filter_runs_in_time, open_capture
from inspector.cli.exit_codes import ExitCode
from inspector.cli.options import add_backend_options, resolve_backend

if TYPE_CHECKING:  # imported where used: building the `inspector` parser must stay cheap for every command
    from inspector.services.replay.plan import PlanOptions, ReplayPlan, ReplayReport
    from inspector.services.replay.runner import Backend
    from inspector.store.capture_file import CaptureFile

NAME = "replay"
PROGRESS_INTERVAL = 0.2
"""Seconds between two progress lines on a terminal."""


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    replay = commands.add_parser(
        NAME,
        help="send captured events to their handlers again and check the answers (idempotency, order, as recorded)",
        description="Replay events from a capture file with Hasura's exact body and headers: to each trigger's "
        "captured webhook, to --target overrides, or through the backend (--via-backend). The plan is printed "
        "first; hosts other than this machine need --allow-remote. Every attempt is added to the capture. Exit "
        "codes: 0 everything passed, 1 a replay or check failed, 2 usage error, 3 connection failure.",
    )
    replay.add_argument(
        "file",
        metavar="FILE",
        help="the capture file to replay from (attempts are added to it), or postgresql://USER@HOST/DB?capture=NAME",
    )
    select = replay.add_argument_group("what to replay")
    select.add_argument(
        "--filter", metavar="EXPR", help="captured events matching this display filter (default: every event)"
    )
    add_filter_timeout(select)
    select.add_argument(
        "--event", action="append", default=[], metavar="ID", help="this event (repeatable; variants allowed)"
    )
    where = replay.add_argument_group("where to send it")
    where.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="TRIGGER=URL",
        help="send this trigger's events to URL instead of its captured webhook (repeatable; TRIGGER * for all; "
        "{trigger} in URL is replaced by the trigger's name)",
    )
    where.add_argument(
        "--via-backend",
        nargs="?",
        const=True,
        default=None,
        metavar="URL",
        help="let the backend deliver: pg_redeliver_event for captured events, pg_invoke_event_trigger for "
        "variants (URL: the Hasura; default --endpoint/--profile/HASURA_GRAPHQL_ENDPOINT)",
    )
    where.add_argument(
        "--webhook-header",
        action="append",
        default=[],
        metavar="NAME=ENVVAR",
        help="send configured webhook header NAME with the value of environment variable ENVVAR (the capture "
        "keeps header values redacted; value_from_env headers are read from the environment as Hasura does)",
    )
    where.add_argument("--allow-remote", action="store_true", help="allow hosts other than this machine")
    how = replay.add_argument_group("how")
    how.add_argument(
        "--order",
        default="captured",
        metavar="ORDER",
        help="captured (default), created, reverse, or shuffle:SEED[,SEED...] (several seeds: compare final states)",
    )
    how.add_argument("--duplicate", type=int, default=1, metavar="N", help="deliver each event N times (default 1)")
    how.add_argument(
        "--duplicate-mode",
        choices=("back-to-back", "concurrent"),
        default="back-to-back",
        help="duplicates one after another (default) or at once",
    )
    how.add_argument("--concurrency", type=int, default=1, metavar="N", help="events replayed at once (default 1)")
    how.add_argument("--rate", type=float, default=None, metavar="PER_SECOND", help="at most this many attempts/s")
    how.add_argument(
        "--timeout", type=float, default=None, metavar="SECONDS", help="per request (default: the trigger's)"
    )
    how.add_argument("--dry-run", action="store_true", help="print the plan and send nothing")
    checks = replay.add_argument_group("checks")
    checks.add_argument(
        "--expect",
        choices=("2xx", "recorded"),
        default="2xx",
        help="2xx (default): pass on a 2xx answer; recorded: the recorded status and body too",
    )
    checks.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="PATH",
        help="leave this out of comparisons (repeatable): $.created_at, payment_id or *.id (any depth), "
        "$.items[*].id, *_at",
    )
    checks.add_argument(
        "--state-query",
        metavar="QUERY|@FILE",
        help="GraphQL query whose result is the state compared for --duplicate and several orderings; its "
        "variables take the values of the event row's columns of the same name",
    )
    checks.add_argument(
        "--reset", metavar="MUTATION|@FILE", help="GraphQL mutation run before each ordering (same variables)"
    )
    checks.add_argument(
        "--report",
        action="append",
        default=[],
        metavar="PATH.xml|PATH.html",
        help="write a JUnit XML or HTML report (repeatable)",
    )
    add_backend_options(replay, "the backend (for --via-backend, --state-query, --reset)")


def _text_or_file(value: str | None, flag: str) -> str | None:
    if value is None:
        return None
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            return path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{flag}: cannot read {path}: {exc.strerror or exc}") from exc
    return value


def _backend(args: argparse.Namespace, env: Mapping[str, str], err: TextIO) -> Backend:
    """The backend and its secret, from the shared backend options (`--via-backend URL` overrides `--endpoint`)."""
    from inspector.services.replay.runner import Backend

    via = args.via_backend if isinstance(args.via_backend, str) else None
    resolved = resolve_backend(NAME, args, env, err, endpoint=via)
    return Backend(resolved.profile, resolved.secret)


def build_options(
    args: argparse.Namespace, env: Mapping[str, str], err: TextIO | None = None
) -> tuple[PlanOptions, Backend | None, dict[str, str]]:
    """PlanOptions, the backend (when the replay talks to it) and the webhook header values."""
    from inspector.services.replay.plan import PlanOptions, check_url, parse_order, parse_target_spec

    for path in args.report:
        if Path(path).suffix.lower() not in (".xml", ".html", ".htm"):
            raise UsageError(f"--report {path}: name a .xml (JUnit) or .html file")
    targets: dict[str, str] = {}
    for spec in args.target:
        try:
            trigger, url = parse_target_spec(spec)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        if trigger in targets:
            raise UsageError(f"--target {trigger} is given twice")
        targets[trigger] = url
    try:
        orderings = parse_order(args.order)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    header_values: dict[str, str] = {}
    for spec in args.webhook_header:
        name, _, var = spec.partition("=")
        if not name.strip() or not var.strip():
            raise UsageError(f"--webhook-header {spec!r}: expected NAME=ENVVAR, e.g. X-Webhook-Secret=WEBHOOK_SECRET")
        if var.strip() not in env:
            raise UsageError(f"--webhook-header {name.strip()}: the environment variable {var.strip()} is not set")
        header_values[name.strip()] = env[var.strip()]
    state_query = _text_or_file(args.state_query, "--state-query")
    reset_query = _text_or_file(args.reset, "--reset")
    if isinstance(args.via_backend, str):
        try:
            check_url(args.via_backend if "://" in args.via_backend else f"http://{args.via_backend}", "--via-backend")
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
    backend = _backend(args, env, err or sys.stderr) if (args.via_backend or state_query or reset_query) else None
    options = PlanOptions(
        targets=targets,
        via_backend=backend.profile.metadata_url if backend is not None and args.via_backend else None,
        orderings=orderings,
        duplicate=args.duplicate,
        duplicate_mode=args.duplicate_mode,
        concurrency=args.concurrency,
        rate=args.rate,
        expect=args.expect,
        ignore=tuple(args.ignore),
        state_query=state_query,
        reset_query=reset_query,
        graphql_url=backend.profile.graphql_http_url if backend is not None else None,
        timeout=args.timeout,
        header_names=frozenset(n.lower() for n in header_values),
    )
    return options, backend, header_values


def write_reports(report: ReplayReport, paths: list[str]) -> list[str]:
    """Write each report; returns the problems (one line each)."""
    from inspector.services.replay.report import html_report, junit_xml

    problems = []
    for path in paths:
        text = junit_xml(report) if Path(path).suffix.lower() == ".xml" else html_report(report)
        target = Path(path)
        temporary = target.with_name(f".{target.name}.partial")
        try:
            temporary.write_text(text, encoding="utf-8")
            temporary.replace(target)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            problems.append(f"cannot write the report {path}: {exc.strerror or exc}")
    return problems


def run(
    args: argparse.Namespace,
    env: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    env = dict(os.environ if env is None else env)
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        options, backend, header_values = build_options(args, env, err)
    except UsageError as exc:
        print(f"inspector replay: {exc}", file=err)
        return ExitCode.USAGE
    from inspector.store.open import is_store_url

    if is_store_url(str(args.file)):  # a store capture: replayed on a copy; the attempts are written back into it
        from inspector.cli.captures import on_checked_out_copy

        return on_checked_out_copy(NAME, args, lambda copied: run(copied, env, out, err), err)
    capture = open_capture(NAME, Path(args.file), err)
    if capture is None:
        return ExitCode.USAGE
    try:
        return _run(args, capture, options, backend, header_values, env, out, err)
    finally:
        capture.close()


def _run(
    args: argparse.Namespace,
    capture: CaptureFile,
    options: PlanOptions,
    backend: Backend | None,
    header_values: dict[str, str],
    env: Mapping[str, str],
    out: TextIO,
    err: TextIO,
) -> int:
    from inspector.core.filter import FilterError
    from inspector.services.replay.loader import Selection, load_plan
    from inspector.services.replay.plan import remote_hosts_text
    from inspector.store.filter_sql import compile_filter

    try:
        if args.filter:
            compiled = compile_filter(args.filter)
            if not filter_runs_in_time(
                NAME, capture, args.filter, compiled.where, compiled.params, args.filter_timeout, err
            ):
                return ExitCode.USAGE
        plan = load_plan(capture, options, Selection(args.filter, tuple(args.event)), env)
        described = plan.describe()
    except FilterError as exc:
        pointer = " " * exc.start + "^" * max(1, exc.end - exc.start)
        print(f"inspector replay: --filter: {exc.message}\n  {args.filter}\n  {pointer}", file=err)
        return ExitCode.USAGE
    except DAMAGE as exc:
        if damaged(NAME, capture, exc, err):
            return ExitCode.USAGE
        raise
    for line in described:
        print(line, file=err)
    if plan.errors:
        for problem in plan.errors:
            print(f"inspector replay: {problem}", file=err)
        return ExitCode.USAGE
    if not plan.items:
        what = f"no captured event matches --filter {args.filter!r}" if args.filter else "the capture holds no events"
        print(f"inspector replay: nothing to replay: {what}", file=err)
        return ExitCode.USAGE
    remote = plan.remote_hosts
    if remote and not args.allow_remote:
        print(
            f"inspector replay: refusing to send to {remote_hosts_text(remote)}: not this machine. Nothing was sent; "
            "give --allow-remote to replay to it anyway.",
            file=err,
        )
        return ExitCode.USAGE
    if args.dry_run:
        print("inspector replay: dry run, nothing sent", file=err)
        return ExitCode.OK
    report = asyncio.run(_execute(capture, plan, backend, header_values, env, args, err))
    for check in report.failures:
        print(check.line(), file=out)
        for detail in check.details[:6]:
            print(f"    {detail}", file=out)
    print(f"inspector replay: {report.summary()}", file=out)
    problems = write_reports(report, args.report)
    for problem in problems:
        print(f"inspector replay: {problem}", file=err)
    if report.connection_error:
        print(f"inspector replay: {report.error}", file=err)
        return ExitCode.CONNECTION
    if report.all_unreachable:
        print(
            f"inspector replay: nothing answered at {', '.join(plan.hosts)}: no attempt could connect "
            "(is the handler running?)",
            file=err,
        )
        return ExitCode.CONNECTION
    if not report.passed or problems:
        return ExitCode.FAILED
    return ExitCode.OK


async def _execute(
    capture: CaptureFile,
    plan: ReplayPlan,
    backend: Backend | None,
    header_values: dict[str, str],
    env: Mapping[str, str],
    args: argparse.Namespace,
    err: TextIO,
) -> ReplayReport:
    from inspector.services.replay.runner import ReplayProgress, ReplayRunner

    live = err.isatty()
    shown_state: str | None = None
    shown_at = 0.0

    def show(progress: ReplayProgress) -> None:
        # Called after every attempt, printed a few times a second (and at each change of state and the last
        # attempt): a terminal line written thousands of times a second costs the replay more than its attempts.
        nonlocal shown_state, shown_at
        if not live:
            return
        now = time.monotonic()
        if progress.state != shown_state or now - shown_at >= PROGRESS_INTERVAL or progress.done == progress.planned:
            shown_state, shown_at = progress.state, now
            print("\r" + progress.line().ljust(100), end="", file=err, flush=True)

    runner = ReplayRunner(
        capture,
        plan,
        backend=backend,
        header_values=header_values,
        env=env,
        allow_remote=args.allow_remote,
        on_progress=show,
        verify_tls=not args.insecure,
    )
    interrupts = 0

    def interrupt() -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts == 1:
            runner.cancel()
        else:
            runner.cancel_now()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # Windows; not the main thread
            loop.add_signal_handler(sig, interrupt)
    try:
        return await runner.run()
    finally:
        if live:
            print(file=err)
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
