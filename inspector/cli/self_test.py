"""`inspector self-test`: prove an installed (or frozen) Inspector works end to end, without a display.

Owns the smoke test the installers run after building: start the sandbox in this process on free ports with fast
intervals, record it with a `CaptureSession` into a temporary capture file, place one order and wait until that order's
four events (validate-order → process-payment → restaurant-approval → agent-assignment) are captured as delivered, then
print a summary and exit 0. `--gui` additionally opens the window (offscreen unless a platform is set) on that capture
and closes it. Also owns finding the shipped resources (icons, sample captures) in a checkout, wheel or frozen bundle.
GUI-free unless `--gui`: Qt is imported only on that path.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from inspector import __version__
from inspector.cli.exit_codes import ExitCode

NAME = "self-test"

ORDER_CHAIN = ("validate-order", "process-payment", "restaurant-approval", "agent-assignment")
SELF_TEST_ORDER = "self-test-order-1"


def is_frozen() -> bool:
    """True inside a PyInstaller bundle."""
    return bool(getattr(sys, "frozen", False)) and hasattr(sys, "_MEIPASS")


def resources_dir() -> Path | None:
    """Where icons and sample captures are: the package's own `inspector/resources/` (package data, so the same
    place in a checkout, an installed wheel or a pipx venv), or `<bundle>/inspector/resources` when frozen
    (`packaging/inspector.spec` puts them there); None when missing (a broken install)."""
    if is_frozen():
        candidate = Path(sys._MEIPASS) / "inspector" / "resources"  # type: ignore[attr-defined]
    else:
        candidate = Path(__file__).resolve().parents[1] / "resources"  # inspector/cli/ -> inspector/
    return candidate if candidate.is_dir() else None


def sample_captures() -> list[Path]:
    """The sample capture files shipped with Inspector (`inspector/resources/samples/*.inspector`)."""
    base = resources_dir()
    return sorted((base / "samples").glob("*.inspector")) if base is not None else []


@dataclass
class SelfTestResult:
    ok: bool = False
    events: list[tuple[str, str, int | None, int | None]] = field(default_factory=list)
    """(trigger, status, attempts, last HTTP status) of the test order's events, in creation order."""
    invocations: int = 0
    elapsed: float = 0.0
    graphql_url: str = ""
    error: str | None = None


async def capture_one_order(capture_path: Path, within: float = 30.0) -> SelfTestResult:
    """Start a sandbox, capture it, place one order and wait for its four events to be delivered (or `within` s)."""
    import aiohttp

    from inspector.core.connection_profile import ConnectionProfile
    from inspector.sandbox.config import SandboxConfig
    from inspector.sandbox.server import Sandbox
    from inspector.sandbox.traffic import place_order
    from inspector.services.capture_session import CaptureOptions, CaptureSession
    from inspector.store.capture_file import CaptureFile

    result = SelfTestResult()
    started = time.monotonic()
    config = SandboxConfig(
        port=0,
        admin_secret=secrets.token_urlsafe(16),
        fetch_interval=0.05,
        refetch_interval=0.05,
        retry_interval_sec=1,
        seed=1,
    )
    sandbox = Sandbox(config)
    capture = CaptureFile.create(capture_path, overwrite=True)
    task: asyncio.Task[object] | None = None
    session: CaptureSession | None = None
    try:
        await sandbox.start()
        result.graphql_url = sandbox.graphql_url
        profile = ConnectionProfile.from_endpoint("self-test", sandbox.graphql_url)
        session = CaptureSession(
            profile, sandbox.admin_secret, capture, CaptureOptions(poll_interval=0.1, flush_interval=0.1)
        )
        task = asyncio.create_task(session.run(), name="self-test capture")
        async with aiohttp.ClientSession() as http:
            answer = await place_order(http, sandbox.graphql_url, sandbox.admin_secret, order_id=SELF_TEST_ORDER)
        if "errors" in answer:
            raise RuntimeError(f"the sandbox refused the order: {answer['errors'][0].get('message')}")
        deadline = started + within
        while True:
            if task.done():
                task.result()  # raises what ended the capture
                raise RuntimeError("the capture stopped early")
            session.writer.flush()
            rows = capture.rows(
                "SELECT trigger_name, status, attempts, last_http_status FROM events WHERE row_key = ? "
                "ORDER BY created_ts",
                (SELF_TEST_ORDER,),
            )
            result.events = [(r["trigger_name"], r["status"], r["attempts"], r["last_http_status"]) for r in rows]
            if len(rows) == len(ORDER_CHAIN) and all(r["status"] == "delivered" for r in rows):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"the order's events were not all delivered within {within:g} s")
            await asyncio.sleep(0.1)
        session.stop()
        await asyncio.wait_for(task, 20)
        result.invocations = capture.count("invocations")
        result.ok = [e[0] for e in result.events] == list(ORDER_CHAIN)
        if not result.ok:
            result.error = f"unexpected chain: {[e[0] for e in result.events]}"
    except Exception as error:
        result.error = f"{type(error).__name__}: {error}"
    finally:
        if session is not None:
            session.stop()
        if task is not None and not task.done():
            task.cancel()
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
        capture.close()
        await sandbox.stop()
        result.elapsed = time.monotonic() - started
    return result


def _open_window(capture_path: Path) -> int:
    """Open the window on the capture, offscreen unless a platform was chosen, and close it after a moment."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from inspector.qt.window.app import run_gui

    return run_gui(str(capture_path), quit_after=1.0)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        NAME,
        help="check this installation end to end: a sandbox in-process, one order's events captured (no display)",
        description="Start the sandbox in this process, capture it into a temporary capture file until one order's "
        "four events are delivered, print a summary and exit: 0 passed, 1 failed. --gui also opens the window "
        "(offscreen unless QT_QPA_PLATFORM is set) and closes it. The installers run this after building.",
    )
    parser.add_argument("--gui", action="store_true", help="also open the window (offscreen by default) and close it")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS", help="give up after this long")
    parser.add_argument("--keep", metavar="FILE", help="keep the capture file here instead of deleting it")


def run(args: argparse.Namespace) -> int:
    print(f"inspector {__version__} self-test")
    print(f"  python {platform.python_version()} on {platform.system()} {platform.machine()}; frozen: {is_frozen()}")
    resources = resources_dir()
    samples = sample_captures()
    print(f"  resources: {resources or 'not found'}; sample captures: {len(samples)}")
    if is_frozen() and (resources is None or not samples):
        print("self-test FAILED: the bundle has no resources or sample captures", file=sys.stderr)
        return ExitCode.FAILED
    with tempfile.TemporaryDirectory(prefix="inspector-self-test-") as tmp:
        path = Path(args.keep) if args.keep else Path(tmp) / "self-test.inspector"
        result = asyncio.run(capture_one_order(path, within=args.timeout))
        print(f"  sandbox: {result.graphql_url or 'did not start'}")
        for trigger, status, attempts, http_status in result.events:
            print(f"  event {trigger:<20} {status:<10} attempts={attempts} http={http_status}")
        print(f"  invocations captured: {result.invocations}; took {result.elapsed:.2f} s")
        if not result.ok:
            print(f"self-test FAILED: {result.error}", file=sys.stderr)
            return ExitCode.FAILED
        if args.gui:
            code = _open_window(path)
            print(
                f"  window: opened on the capture and closed (exit {code}, platform "
                f"{os.environ.get('QT_QPA_PLATFORM', 'default')})"
            )
            if code != 0:
                print("self-test FAILED: the window did not close cleanly", file=sys.stderr)
                return ExitCode.FAILED
    print("self-test passed")
    return ExitCode.OK
