"""Fixtures of the window tests: a sandbox process with traffic, a qasync loop driven by qtbot, a window.

These are for synchronous pytest-qt tests: the window's tasks run on a qasync loop driven by `qtbot.waitUntil` (never
`async def` tests with qtbot, which hang: shared/reference/qt-stack.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
import qasync
from keyrings.alt.file import PlaintextKeyring
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from inspector.qt.window.main_window import MainWindow
from inspector.services.profiles import ProfileStore, SecretStore
from tests.helpers.processes import sandbox_process
from tests.helpers.window import SECRET


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    """A sandbox with traffic and some failures, for the whole module."""
    with sandbox_process(
        "--admin-secret",
        SECRET,
        "--orders-per-second",
        "4",
        "--fetch-interval-ms",
        "100",
        "--refetch-interval-ms",
        "100",
        "--fail-rate",
        "0.3",
        "--retry-interval",
        "1",
        "--seed",
        "5",
    ) as (_proc, base):
        yield f"{base}/v1/graphql"


@pytest.fixture
def loop(qapp: QApplication) -> Iterator[asyncio.AbstractEventLoop]:
    event_loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(event_loop)
    yield event_loop
    for task in asyncio.all_tasks(event_loop):
        task.cancel()
    for _ in range(20):  # let the cancellations run
        qapp.processEvents()
    # qasync runs run_in_executor(None, ...) work (e.g. DNS look-ups) on QThreads: stop them, or Qt aborts at exit
    executor = getattr(event_loop, "_QEventLoop__default_executor", None)
    if executor is not None:
        executor.shutdown(wait=True)
    # qasync marked this thread as running a loop; undo it so the next (pytest-asyncio) test can run its own
    asyncio.events._set_running_loop(None)
    asyncio.set_event_loop(None)


@pytest.fixture
def window(qtbot: Any, tmp_path: Path, loop: asyncio.AbstractEventLoop) -> Iterator[MainWindow]:
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "keyring.cfg")  # type: ignore[misc]
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(
        settings=settings,
        profiles=ProfileStore(tmp_path / "profiles"),
        secrets=SecretStore(backend=backend),
        capture_directory=tmp_path,
    )
    # Not qtbot.addWidget: pytest-qt would close and delete the window before this fixture can stop its capture.
    win.show()
    yield win
    if win.session is not None:
        win.session.stop()
        qtbot.waitUntil(lambda: win.session is None, timeout=10000)
    win.close()
    win.deleteLater()
    keyring.set_keyring(previous)
