"""The one seam between asyncio and Qt: widgets start coroutines here, never with `asyncio.create_task` directly.

Owns the tasks the window runs (capture sessions, the demo sandbox, one-off requests): starting them on the qasync
loop, replacing a keyed task with a new one (a new connect replaces the previous), reporting failures as a signal with
a message a user can act on (never a traceback), and cancelling everything when the window closes.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal

from inspector.backends.errors import BackendError

log = logging.getLogger(__name__)
T = TypeVar("T")


class TaskRunner(QObject):
    """Runs coroutines for the window on the running (qasync) loop."""

    taskFailed = Signal(str, str)
    """(task name, message) when a task ended with an error."""
    taskFinished = Signal(str)
    """(task name) when a task ended without error."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        # Our own pool for blocking work (a large analysis, an export): plain Python threads, shut down with the
        # window. qasync's default executor runs QThreads, which abort the process if still alive at exit.
        self._threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="inspector-worker")

    async def in_thread(self, function: Callable[..., T], *args: Any) -> T:
        """Run a blocking function on a worker thread and await its result."""
        return await asyncio.get_running_loop().run_in_executor(self._threads, functools.partial(function, *args))

    def start(
        self,
        name: str,
        coroutine: Coroutine[Any, Any, Any],
        on_result: Callable[[Any], None] | None = None,
    ) -> asyncio.Task[Any]:
        """Run `coroutine` as task `name`, cancelling a running task of the same name first."""
        previous = self._tasks.get(name)
        if previous is not None and not previous.done():
            previous.cancel()
        task = asyncio.ensure_future(coroutine)
        self._tasks[name] = task

        def done(finished: asyncio.Task[Any]) -> None:
            if self._tasks.get(name) is finished:
                del self._tasks[name]
            if finished.cancelled():
                return
            error = finished.exception()
            if error is None:
                if on_result is not None:
                    on_result(finished.result())
                self.taskFinished.emit(name)
                return
            if isinstance(error, BackendError):
                message = str(error)
            else:
                log.error("task %s failed", name, exc_info=error)
                message = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            self.taskFailed.emit(name, message)

        task.add_done_callback(done)
        return task

    def running(self, name: str) -> bool:
        task = self._tasks.get(name)
        return task is not None and not task.done()

    def cancel(self, name: str) -> None:
        task = self._tasks.get(name)
        if task is not None:
            task.cancel()

    async def cancel_all(self) -> None:
        """Cancel every task and wait for them to finish their clean-up."""
        tasks = [t for t in self._tasks.values() if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._threads.shutdown(wait=False, cancel_futures=True)
