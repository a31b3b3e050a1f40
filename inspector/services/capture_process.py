"""A capture session in a process of its own: how the window captures.

Recording a busy backend is CPU work (reading the event log over HTTP, parsing it, deciding what is new, encoding
rows), about 50 to 100 µs per event; at 10,000 events/s that is more than the window's GUI thread can spare, and a
thread would not help, since it would hold the same GIL that every paint and every read of the list needs. So the
window runs its `CaptureSession` in a child process (spawned, not forked: the window's process has Qt's threads),
which writes the capture file through its own `CaptureWriter`; the window follows the file as it follows any capture
(WAL: readers never wait for the writer).

`CaptureProcess` offers what the window uses of a `CaptureSession` (`run`, `stop`, `running`, `progress`,
`on_progress`, `add_subscription`, `flush`, `capture`) and carries them over a pipe: commands down (stop, subscribe,
flush), progress snapshots and the outcome up. A `BackendError` in the child comes back as a `BackendError` with the
same message (and class, for the ones in `backends.errors`). GUI-free: used by `inspector.qt.window.main_window`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import multiprocessing
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from inspector.backends import errors
from inspector.backends.errors import BackendError
from inspector.backends.subscriptions import SubscriptionSpec
from inspector.core.connection_profile import ConnectionProfile
from inspector.services.capture_session import CaptureOptions, CaptureProgress, CaptureSession
from inspector.store.capture_file import CaptureFile

POLL_INTERVAL = 0.05
"""Seconds between the parent's looks at the pipe (progress comes every `flush_interval`, 0.25 s by default)."""

SWITCH_INTERVAL = 0.001
"""The child's GIL switch interval, as `inspector capture` sets it (`cli.SWITCH_INTERVAL`): the writer thread gets the
GIL back within 1 ms of asking."""


class CaptureProcess:
    """Runs one `CaptureSession` in a child process, recording into `capture`'s file."""

    def __init__(
        self,
        profile: ConnectionProfile,
        secret: str | None,
        capture: CaptureFile,
        options: CaptureOptions,
        on_progress: Callable[[CaptureProgress], None] | None = None,
    ) -> None:
        self.profile = profile
        self._secret = secret
        self.capture = capture
        self.options = options
        self.on_progress = on_progress
        self.progress = CaptureProgress()
        self._context = multiprocessing.get_context("spawn")
        # Made now, not in `run`: commands given before the child starts (a subscription added at once) wait in it.
        self._pipe, self._child_pipe = self._context.Pipe()
        self._process: Any = None
        self._outcome: tuple[Any, ...] | None = None
        self._flushes = 0

    @property
    def running(self) -> bool:
        return self.progress.state in ("capturing", "reconnecting", "starting")

    def stop(self) -> None:
        """Ask the child to finish: it flushes what it has and `run` returns."""
        self._send(("stop",))

    def add_subscription(self, spec: SubscriptionSpec) -> None:
        """Record one more subscription in the child (see `CaptureSession.add_subscription`)."""
        self._send(("subscribe", spec))

    def flush(self, timeout: float = 10.0) -> None:
        """Return when everything the child recorded so far is committed to the file (or after `timeout` seconds):
        before the window copies or replays what the file holds."""
        if self._process is None or self._outcome is not None:
            return
        self._flushes += 1
        token = self._flushes
        if not self._send(("flush", token)):
            return
        deadline = time.monotonic() + timeout
        while self._outcome is None and (left := deadline - time.monotonic()) > 0:
            if self._pipe.poll(left) and self._receive() == ("flushed", token):
                return

    async def run(self) -> CaptureProgress:
        """Start the child and wait for it to end; raises `BackendError` when the backend cannot be used at all."""
        parent, child = self._pipe, self._child_pipe
        self._process = self._context.Process(
            target=_child_main,
            args=(child, self.profile, self._secret, str(self.capture.path), self.options),
            name="inspector capture",
            daemon=True,
        )
        self._process.start()
        child.close()
        try:
            while self._outcome is None:
                while self._outcome is None and parent.poll():
                    self._receive()
                if self._outcome is None and not self._process.is_alive():
                    if not parent.poll():
                        self._outcome = (
                            "failed",
                            "BackendError",
                            f"the capture process ended ({self._process.exitcode})",
                        )
                    continue
                await asyncio.sleep(POLL_INTERVAL)
        except asyncio.CancelledError:
            self._send(("stop",))
            raise
        finally:
            await self._reap()
            self.progress.state = "stopped"
        if self._outcome[0] == "failed":
            kind = getattr(errors, self._outcome[1], None)
            if not (isinstance(kind, type) and issubclass(kind, BackendError)) or kind is errors.ServerError:
                kind = BackendError
            raise kind(self._outcome[2])
        return self.progress

    async def _reap(self) -> None:
        """Wait for the child to exit (it closes its file first), or end it after a while."""
        process = self._process
        for _ in range(200):  # 10 s: the child's last flush and close
            if not process.is_alive():
                break
            await asyncio.sleep(POLL_INTERVAL)
        if process.is_alive():
            process.terminate()
            process.join(2)
        self._pipe.close()

    def _send(self, message: tuple[Any, ...]) -> bool:
        if self._pipe.closed:
            return False
        try:
            self._pipe.send(message)
        except (BrokenPipeError, OSError):
            return False
        return True

    def _receive(self) -> tuple[Any, ...] | None:
        try:
            message: tuple[Any, ...] = self._pipe.recv()
        except (EOFError, OSError):
            self._outcome = self._outcome or ("failed", "BackendError", "the capture process ended")
            return None
        kind = message[0]
        if kind == "progress":
            self.progress = message[1]
            if self.on_progress is not None:
                self.on_progress(self.progress)
        elif kind in ("done", "failed"):
            if kind == "done":
                self.progress = message[1]
            self._outcome = message
        return message


def _child_main(
    pipe: Connection, profile: ConnectionProfile, secret: str | None, path: str, options: CaptureOptions
) -> None:
    """The child: open the capture, run the session, answer commands, report progress and the outcome."""
    sys.setswitchinterval(SWITCH_INTERVAL)
    capture = CaptureFile.open(path)
    try:
        outcome = asyncio.run(_record(pipe, profile, secret, capture, options))
    except BackendError as error:
        outcome = ("failed", type(error).__name__, str(error))
    except Exception as error:  # reported to the window as a message, not a traceback in a child's stderr
        outcome = ("failed", "BackendError", f"{type(error).__name__}: {error}")
    finally:
        capture.close()  # its writer's last batch, and the WAL folded in when the window has closed the file too
    with contextlib.suppress(BrokenPipeError, OSError):
        pipe.send(outcome)
        pipe.close()


async def _record(
    pipe: Connection, profile: ConnectionProfile, secret: str | None, capture: CaptureFile, options: CaptureOptions
) -> tuple[Any, ...]:
    def report(progress: CaptureProgress) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            pipe.send(("progress", dataclasses.replace(progress, triggers=list(progress.triggers))))

    session = CaptureSession(profile, secret, capture, options, on_progress=report)

    def on_command() -> None:
        try:
            while pipe.poll():
                command = pipe.recv()
                if command[0] == "stop":
                    session.stop()
                elif command[0] == "subscribe":
                    session.add_subscription(command[1])
                elif command[0] == "flush":
                    session.writer.flush()
                    pipe.send(("flushed", command[1]))
        except (EOFError, OSError):  # the window went away: finish what is recorded
            session.stop()
            asyncio.get_running_loop().remove_reader(pipe.fileno())

    loop = asyncio.get_running_loop()
    loop.add_reader(pipe.fileno(), on_command)
    try:
        progress = await session.run()
    finally:
        with contextlib.suppress(OSError, ValueError):
            loop.remove_reader(pipe.fileno())
    return ("done", progress)
