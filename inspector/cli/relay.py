"""`inspector relay`: the headless front of `inspector.services.relay` (a local relay between the engine and the
handlers, with fault rules, recording every delivery in a capture).

Owns the command's flags (`--listen`, `--route TRIGGER=URL`, `--rule 'FILTER -> ACTION'` with `--times N` for the
rule before it, `--out`, `--duration`, `--allow-remote`; rewiring through the shared backend options with `--rewire
[TRIGGER,...]`, and `--restore CAPTURE` after a crash; with `--out` and a backend named, its event log followed into
the same capture by a `CaptureSession` in this process, unless `--no-follow`), turning them into a relay, printing
exactly what it changed, and the exit codes (`ExitCode`): OK done, USAGE a command line that cannot work (a bad rule
or route, a remote backend or route without `--allow-remote`), CONNECTION a backend that cannot be reached or refuses
the credentials.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from inspector.cli.common import UsageError, reason
from inspector.cli.exit_codes import ExitCode
from inspector.cli.options import add_backend_options, non_negative, resolve_backend

if TYPE_CHECKING:
    from inspector.services.relay import Rule

NAME = "relay"


class _RuleAction(argparse.Action):
    """`--rule` appends a rule; `--times N` limits the rule just before it."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        rules: list[list[Any]] = getattr(namespace, "rules", None) or []
        if self.dest == "rules":
            rules.append([values, None])
        else:
            if not rules:
                parser.error("--times limits the --rule before it")
            rules[-1][1] = values
        namespace.rules = rules


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    relay = commands.add_parser(
        NAME,
        help="a local relay between the engine and the handlers: fault rules, recording every delivery",
        description="Listen for event trigger deliveries at http://HOST:PORT/<trigger>, forward each to its route "
        "with the body and headers unchanged (hop-by-hop headers aside) and return the handler's answer, so the "
        "engine's own retries apply. Rules 'FILTER -> ACTION' (the display filter; actions respond STATUS "
        "[retry-after=S] [body=JSON], delay DURATION, duplicate, drop, edit PATH=JSON, pass) act on the deliveries "
        "they match, the first matching rule acting. Exit codes: 0 done, 2 usage error, 3 connection or "
        "authentication failure.",
    )
    relay.add_argument("--listen", default="127.0.0.1:0", metavar="HOST:PORT", help="default 127.0.0.1:0 (any port)")
    relay.add_argument(
        "--route",
        action="append",
        default=[],
        metavar="TRIGGER=URL",
        help="forward this trigger's deliveries to URL (repeatable); with --rewire, the trigger's own webhook is the "
        "default",
    )
    relay.add_argument("--rule", dest="rules", action=_RuleAction, metavar="'FILTER -> ACTION'", help="a fault rule")
    relay.add_argument("--times", dest="times", action=_RuleAction, type=int, metavar="N", help="limit the rule before")
    relay.add_argument("--out", metavar="CAPTURE", help="record every delivery in this capture file")
    relay.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    relay.add_argument("--duration", type=non_negative, metavar="SECONDS", help="stop after this long")
    relay.add_argument(
        "--allow-remote", action="store_true", help="allow routes and a backend to rewire on other machines"
    )
    add_backend_options(relay, "rewiring (the backend whose triggers point at the relay)")
    relay.add_argument(
        "--rewire",
        nargs="?",
        const="*",
        metavar="TRIGGER,...",
        help="point these triggers' webhooks (default: every routed trigger, or all) at the relay through the metadata "
        "API, and restore them on exit; the originals are stored in --out first",
    )
    relay.add_argument(
        "--no-follow",
        action="store_true",
        help="with --out and a backend (--endpoint, --profile, --project or --rewire): do not follow its event log "
        "into the capture",
    )
    relay.add_argument(
        "--restore",
        metavar="CAPTURE",
        help="put back the webhooks a relay that did not exit cleanly left rewired (from its capture) and exit",
    )


def parse_routes(values: list[str]) -> dict[str, str]:
    routes: dict[str, str] = {}
    for value in values:
        trigger, sep, url = value.partition("=")
        if not sep or not trigger.strip() or not url.strip():
            raise UsageError(f"--route {value!r}: write TRIGGER=URL")
        routes[trigger.strip()] = url.strip()
    return routes


def parse_rules(values: list[list[Any]] | None) -> list[Rule]:
    from inspector.services.relay import RuleError, parse_rule

    rules = []
    for text, times in values or []:
        try:
            rules.append(parse_rule(text, times))
        except RuleError as exc:
            raise UsageError(f"--rule {text!r}: {exc}") from exc
    return rules


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise UsageError(f"--listen {text!r}: write HOST:PORT, e.g. 127.0.0.1:8090")
    return host.strip("[]") or "127.0.0.1", int(port_text)


def run(args: argparse.Namespace, env: dict[str, str] | None = None, stderr: TextIO | None = None) -> int:
    env = dict(os.environ if env is None else env)
    err = stderr or sys.stderr
    try:
        if args.restore:
            return _restore(args, env, err)
        return _relay(args, env, err)
    except UsageError as exc:
        print(f"inspector relay: {exc}", file=err)
        return ExitCode.USAGE


def _backend_named(args: argparse.Namespace) -> bool:
    """Whether the command line names a backend (not only the environment's default endpoint)."""
    return bool(args.rewire or args.endpoint or args.profile or args.project)


def _client(args: argparse.Namespace, env: dict[str, str], err: TextIO, backend: Any = None) -> Any:
    from inspector.backends.hasura_metadata import HasuraMetadataClient
    from inspector.services.relay.rewire import RemoteBackendRefused, check_backend

    backend = backend or resolve_backend(NAME, args, env, err)
    profile = backend.profile
    try:
        check_backend(profile.metadata_url, args.allow_remote)
    except RemoteBackendRefused as exc:
        raise UsageError(str(exc)) from exc
    return HasuraMetadataClient(
        profile.metadata_url,
        profile.query_v2_url,
        profile.version_url,
        profile.request_headers(backend.secret),
        verify_tls=profile.verify_tls,
    )


def _restore(args: argparse.Namespace, env: dict[str, str], err: TextIO) -> int:
    from inspector.backends.errors import BackendError
    from inspector.cli.common import open_capture
    from inspector.services.relay.rewire import restore

    capture = open_capture(NAME, Path(args.restore), err)
    if capture is None:
        return ExitCode.USAGE
    client = _client(args, env, err)

    async def main() -> int:
        async with client:
            try:
                changes = await restore(client, capture)
            except BackendError as exc:
                print(f"inspector relay: {exc}", file=err)
                return ExitCode.CONNECTION
        for change in changes:
            print(f"inspector relay: {change.describe()}", file=err)
        if not changes:
            print(f"inspector relay: nothing to restore in {args.restore}", file=err)
        return ExitCode.OK

    try:
        return asyncio.run(main())
    finally:
        capture.close()


def _relay(args: argparse.Namespace, env: dict[str, str], err: TextIO) -> int:
    from inspector.backends.errors import BackendError
    from inspector.services.capture_session import CaptureOptions, CaptureSession
    from inspector.services.relay import Relay, RelayConfig, RouteRefused
    from inspector.services.relay.rewire import RewireError, restore, retry_policies, rewire, triggers_named
    from inspector.store.capture_file import CaptureFile
    from inspector.store.relay_records import RelayRecorder

    host, port = parse_listen(args.listen)
    routes = parse_routes(args.route)
    rules = parse_rules(getattr(args, "rules", None))
    # With --out and a backend named, its event log is followed into the same capture (a `CaptureSession` in this
    # process), so each delivery joins the event's row and the backend's invocations by the event id.
    follow = bool(args.out) and not args.no_follow and _backend_named(args)
    backend = resolve_backend(NAME, args, env, err) if follow or args.rewire else None
    client = _client(args, env, err, backend) if args.rewire else None
    if client is not None and not args.out:
        raise UsageError("--rewire needs --out: the original webhooks are stored there first, for --restore")
    if client is None and not routes:
        raise UsageError("give at least one --route TRIGGER=URL (or --rewire, whose webhooks become the routes)")
    try:
        capture = CaptureFile.create(args.out, overwrite=args.force) if args.out else None
    except (FileExistsError, OSError) as exc:
        raise UsageError(f"cannot write {args.out}: {reason(exc)}") from exc
    if capture is not None and getattr(args, "server_timezone", None):
        # The zone the body's `created_at` is read in for events the relay records first (`store.relay_records`);
        # a follower that asks the database writes it again.
        capture.set_info(server_timezone=args.server_timezone)
    recorder = RelayRecorder(capture) if capture is not None else None

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        refs: list[Any] = []
        session: CaptureSession | None = None
        following: asyncio.Task[Any] | None = None
        if client is not None:
            names = None if args.rewire == "*" else [n.strip() for n in args.rewire.split(",") if n.strip()]
            if names is None and routes:
                names = list(routes)
            try:
                refs = await triggers_named(client, names)
            except RewireError as exc:
                raise UsageError(str(exc)) from exc
            for ref in refs:
                if ref.name not in routes:
                    webhook = ref.config.get("webhook")
                    from_env = ref.config.get("webhook_from_env")
                    url = env.get(from_env, "") if isinstance(from_env, str) else webhook
                    if not isinstance(url, str) or not url or "{{" in url:
                        raise UsageError(f"give --route {ref.name}=URL: its webhook cannot be read here")
                    routes[ref.name] = url
        try:
            relay = Relay(
                RelayConfig(routes, host, port, args.allow_remote, retry_policies(refs)), rules, recorder=recorder
            )
        except RouteRefused as exc:
            raise UsageError(str(exc)) from exc
        await relay.start()
        try:
            print(f"inspector relay: listening on {relay.base_url}", file=err)
            for trigger, url in sorted(routes.items()):
                print(f"  {relay.url(trigger)} -> {url}", file=err)
            for rule in rules:
                limit = f" (at most {rule.times} times)" if rule.times is not None else ""
                print(f"  rule: {rule.text}{limit}", file=err)
            if client is not None and capture is not None:
                changes = await rewire(client, capture, refs, {ref.name: relay.url(ref.name) for ref in refs})
                for change in changes:
                    print(f"inspector relay: {change.describe()}", file=err)
            if follow and capture is not None and backend is not None:
                session = CaptureSession(
                    backend.profile, backend.secret, capture, CaptureOptions(triggers=tuple(sorted(routes)))
                )
                following = asyncio.create_task(session.run(), name="event log")
                following.add_done_callback(lambda _task: stop.set())  # a backend that fails ends the relay
                print(f"inspector relay: following {backend.profile.redacted_endpoint}'s event log", file=err)
            with contextlib.suppress(TimeoutError):  # --duration ran out
                await asyncio.wait_for(stop.wait(), timeout=args.duration)
        finally:
            if session is not None and following is not None:
                session.stop()
                await asyncio.gather(following, return_exceptions=True)
            if client is not None and capture is not None:
                for change in await restore(client, capture):
                    print(f"inspector relay: {change.describe()}", file=err)
            await relay.stop()
        print(f"inspector relay: {relay.deliveries} deliveries" + (f" -> {args.out}" if args.out else ""), file=err)
        if following is not None and following.exception() is not None:
            raise following.exception()  # type: ignore[misc]  # a BackendError: reported as such
        return ExitCode.OK

    async def guarded() -> int:
        try:
            if client is not None:
                async with client:
                    return await main()
            return await main()
        except BackendError as exc:
            print(f"inspector relay: {exc}", file=err)
            return ExitCode.CONNECTION

    try:
        return asyncio.run(guarded())
    finally:
        if recorder is not None:
            recorder.close()
        if capture is not None:
            capture.close()
