"""Starting the window: the Qt application, the qasync loop, and `inspector demo`.

Owns the process-level set-up (application name for QSettings, the asyncio loop that Qt drives), opening a file
given on the command line or sent by the desktop (macOS: `file_open`), and the demo: a sandbox started in this
process with traffic and a few faults on, and the window capturing it live. Returns the exit code when the last
window closes.
"""

from __future__ import annotations

import asyncio
import gc
import os
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import qasync
from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QApplication

from inspector.backends.subscriptions import SubscriptionSpec
from inspector.core.connection_profile import ConnectionProfile
from inspector.core.hasura import RetryConf
from inspector.qt.window.file_open import FileOpenRelay
from inspector.qt.window.main_window import MainWindow, captures_directory
from inspector.sandbox.config import Faults, SandboxConfig
from inspector.sandbox.handlers import HANDLER_NAMES
from inspector.sandbox.server import Sandbox
from inspector.services.relay import Breakpoints, Relay, RelayConfig, check_routes

DEMO_SUBSCRIPTIONS = (
    SubscriptionSpec(
        "subscription order_status {\n  orders(order_by: {created: desc}, limit: 10) {\n    order_id\n    order_valid\n"
        "    payment_valid\n    approved\n    driver_assigned\n  }\n}",
        name="order_status",
    ),
    SubscriptionSpec(
        "subscription payments_feed {\n  payments_stream(batch_size: 20, cursor: {initial_value: {id: 0}}) {\n"
        "    id\n    order_id\n    amount\n  }\n}",
        name="payments_feed",
    ),
)


DEMO_PREFIX = "demo-"
"""The file name start of a demo's captures (`demo-20261206-173537.inspector`), which are pruned."""
DEMO_CAPTURES_KEPT = 5
"""Demo captures kept in the captures folder: the oldest beyond these are deleted when a new demo starts (File ▸
Save capture as keeps one elsewhere for good)."""


def prune_demo_captures(directory: Path, keep: int = DEMO_CAPTURES_KEPT) -> list[Path]:
    """Delete all but the `keep` newest demo captures of `directory` (with their -wal/-shm files); the removed."""
    demos = sorted(directory.glob(f"{DEMO_PREFIX}*.inspector"), key=lambda p: p.stat().st_mtime, reverse=True)
    removed = []
    for old in demos[keep:]:
        for part in (old, old.with_name(old.name + "-wal"), old.with_name(old.name + "-shm")):
            part.unlink(missing_ok=True)
        removed.append(old)
    return removed


@dataclass(frozen=True)
class DemoSettings:
    """What `inspector demo` runs: some traffic, a little failure and latency, and one duplicate-delivery knob."""

    orders_per_second: float = 1.0
    fail_rate: float = 0.15
    latency_ms: float = 120.0
    cold_start_ms: float = 600.0
    duplicate_rate: float = 0.08
    seed: int | None = None
    relay: bool = False
    """Deliveries go through an `inspector relay` in this process, with the Breakpoints panel docked."""


def demo_config(settings: DemoSettings) -> SandboxConfig:
    return SandboxConfig(
        port=0,
        admin_secret=secrets.token_urlsafe(24),  # random, held in memory only: the demo exercises the secret path
        orders_per_second=settings.orders_per_second,
        seed=settings.seed,
        faults=Faults(
            fail_rate=settings.fail_rate,
            latency_ms=settings.latency_ms,
            cold_start_ms=settings.cold_start_ms,
            cold_start_idle_s=20.0,
            duplicate_rate=settings.duplicate_rate,
        ),
        # One retry: most failed attempts are retried and then delivered, and about one event in 45 fails twice and so
        # fails for good, so the demo shows both words (retried, failed) and the filters that find them.
        num_retries=1,
        retry_interval_sec=2,
        fetch_interval=0.25,
        refetch_interval=0.25,
    )


NO_DISPLAY_EXIT = 1
"""`inspector`'s exit code when the window cannot start (`cli/exit_codes.ExitCode.FAILED`)."""


def display_problem(environ: Mapping[str, str], platform: str = sys.platform) -> str | None:
    """Why the window cannot open on this machine, or None. On Linux (and the BSDs) Qt needs an X or Wayland display
    unless told to draw offscreen; without one it aborts (exit 134) blaming a missing xcb library, so say it here
    first, with how to run headless."""
    if not platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return None
    if environ.get("QT_QPA_PLATFORM") or environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        return None
    return (
        "inspector: no display to open the window on (DISPLAY and WAYLAND_DISPLAY are not set). "
        "To run it headless: QT_QPA_PLATFORM=offscreen inspector demo --quit-after 10; "
        "or use the commands that need no window: inspector capture, inspector stats, inspector export."
    )


def _application(argv: list[str]) -> QApplication:
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    QCoreApplication.setOrganizationName("Inspector")
    QCoreApplication.setApplicationName("Inspector")
    app = QApplication(argv)
    app.setApplicationDisplayName("Inspector")
    return app


async def start_demo(window: MainWindow, settings: DemoSettings, relays: list[Relay] | None = None) -> Sandbox:
    """Start the sandbox in this process and the window's live capture of it (with `settings.relay`, through a relay
    appended to `relays`, its Breakpoints panel docked)."""
    config = demo_config(settings)
    relay: Relay | None = None
    if settings.relay:
        # The relay first (its address goes into the triggers' webhooks), its routes once the handlers listen.
        relay = Relay(RelayConfig({}), breakpoints=Breakpoints())
        await relay.start()
        config = replace(config, webhook_base=relay.base_url)
        if relays is not None:
            relays.append(relay)
    sandbox = Sandbox(config)
    await sandbox.start()
    if relay is not None and relay.breakpoints is not None:
        routes = {name: f"{sandbox.handlers_url}/{name}" for name in HANDLER_NAMES}
        check_routes(routes, allow_remote=False)
        relay.routes.update(routes)
        relay.config = replace(
            relay.config,
            retry={
                name: RetryConf(config.num_retries, config.retry_interval_sec, config.timeout_sec) for name in routes
            },
        )
        window.add_breakpoints_panel(relay.breakpoints, relay.rules)
    profile = ConnectionProfile.from_endpoint("demo: local sandbox", sandbox.graphql_url)
    window.add_transient_profile(profile, sandbox.admin_secret)
    prune_demo_captures(window.capture_directory or captures_directory())
    window.connect_profile(profile, sandbox.admin_secret, subscriptions=DEMO_SUBSCRIPTIONS, prefix=DEMO_PREFIX)
    window.banner.show_message(
        "Demo: a local sandbox runs the 3factor food-ordering example with some failures, latency and duplicate "
        "deliveries switched on. Click an event to see its payload and invocations; try the filter "
        '<code>status == "failed" || attempts &gt; 1</code>.',
        "info",
    )
    return sandbox


def _close_without_asking(window: MainWindow) -> None:
    window.quitting = True
    window.close()


def run_gui(capture: str | None = None, demo: DemoSettings | None = None, quit_after: float | None = None) -> int:
    """Open the window (on `capture` if given; capturing a sandbox if `demo`) and run until it closes."""
    problem = None if QApplication.instance() is not None else display_problem(os.environ)
    if problem is not None:
        print(problem, file=sys.stderr)
        return NO_DISPLAY_EXIT
    app = _application(sys.argv[:1])
    # macOS passes a capture opened from Finder as an event, possibly before the window exists
    files = FileOpenRelay(app)
    app.installEventFilter(files)

    async def main() -> int:
        closed = asyncio.Event()
        # The loop must outlive the window: stopping tasks, the capture and the sandbox happens after it closes.
        app.setQuitOnLastWindowClosed(False)
        app.aboutToQuit.connect(closed.set)
        window = MainWindow()
        window.windowClosed.connect(closed.set)
        # Objects made at start-up live as long as the window: keep them out of the collector's full passes, which
        # otherwise stall the UI for ~50 ms now and then (measured by benchmarks/ui_stall.py).
        gc.freeze()
        window.show()
        sandbox: Sandbox | None = None
        relays: list[Relay] = []
        if capture is not None:
            window.open_capture(capture)  # a path, or a store URL (which Path would mangle)
        files.set_target(window.open_capture)
        if demo is not None:
            try:
                sandbox = await start_demo(window, demo, relays)
            except OSError as error:
                window.banner.show_message(f"The demo sandbox could not start: {error}", "error")
        if quit_after is not None:
            asyncio.get_running_loop().call_later(quit_after, _close_without_asking, window)
        await closed.wait()
        files.set_target(None)
        if window.session is not None:
            window.session.stop()
        await window.tasks.cancel_all()
        window.close_files()
        if sandbox is not None:
            await sandbox.stop()
        for relay in relays:
            await relay.stop()
        return 0

    try:
        return int(qasync.run(main()))
    except KeyboardInterrupt:
        return 0
