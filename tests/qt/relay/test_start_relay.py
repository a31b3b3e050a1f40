"""Relay > Start relay… in the main window (no `demo --relay`): the dialog's checks, and a relay started in the
window's process with its Breakpoints panel docked, forwarding to a handler and recording into a new capture.
Synchronous pytest-qt tests on the `loop` fixture's qasync loop (never `async def` tests with qtbot:
shared/reference/qt-stack.md)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from aiohttp import web
from PySide6.QtWidgets import QDialog, QDockWidget

from inspector.qt.relay.breakpoints_panel import BreakpointsPanel
from inspector.qt.relay.start_dialog import RelayStartDialog, SettingsError, parse_routes
from inspector.qt.window.main_window import MainWindow
from inspector.store.capture_file import CaptureFile
from inspector.store.relay_records import deliveries

T = TypeVar("T")


def _run(qtbot: Any, loop: asyncio.AbstractEventLoop, work: Awaitable[T], timeout: int = 20000) -> T:
    task = asyncio.ensure_future(work, loop=loop)
    qtbot.waitUntil(task.done, timeout=timeout)
    return task.result()


def test_dialog_checks_routes_listen_and_the_capture(qtbot: Any, tmp_path: Path) -> None:
    dialog = RelayStartDialog()
    qtbot.addWidget(dialog)
    dialog.routes.setPlainText("# the payments\nprocess-payment=http://127.0.0.1:8081/process-payment\n")
    dialog.listen.setText("127.0.0.1:0")
    settings = dialog.read()
    assert settings.routes == {"process-payment": "http://127.0.0.1:8081/process-payment"} and settings.port == 0
    dialog.routes.setPlainText("process-payment=http://handlers.example.com/pay")
    with pytest.raises(SettingsError, match="another machine"):
        dialog.read()
    dialog.allow_remote.setChecked(True)
    assert dialog.read().allow_remote
    dialog.listen.setText("nowhere")
    dialog.accept()  # refused: the reason shown, the dialog stays open
    assert "HOST:PORT" in dialog.error.text() and dialog.result() != QDialog.DialogCode.Accepted
    (tmp_path / "taken.inspector").write_bytes(b"")
    dialog.listen.setText("127.0.0.1:0")
    dialog.record_to.setText(str(tmp_path / "taken.inspector"))
    with pytest.raises(SettingsError, match="exists"):
        dialog.read()
    with pytest.raises(SettingsError, match="at least one route"):
        parse_routes("\n# nothing\n")


def test_start_relay_from_the_menu_docks_the_panel_and_forwards(
    qtbot: Any, loop: asyncio.AbstractEventLoop, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    received: list[Any] = []

    async def handler(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", handler)
    runner = web.AppRunner(app)
    _run(qtbot, loop, runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    _run(qtbot, loop, site.start())
    port = runner.addresses[0][1]
    out = tmp_path / "relayed.inspector"

    def fill_and_accept(dialog: RelayStartDialog) -> int:
        dialog.listen.setText("127.0.0.1:0")
        dialog.routes.setPlainText(f"audit-orders=http://127.0.0.1:{port}/hook")
        dialog.record_to.setText(str(out))
        dialog.accept()
        return int(dialog.result())

    monkeypatch.setattr(RelayStartDialog, "exec", fill_and_accept)
    assert window.start_relay_action.text() == "&Start relay…"
    window.start_relay_action.trigger()
    qtbot.waitUntil(lambda: getattr(window, "relay", None) is not None, timeout=10000)
    docks = [d for d in window.findChildren(QDockWidget) if d.findChild(BreakpointsPanel) is not None]
    assert len(docks) == 1
    relay = window.relay.relay  # type: ignore[attr-defined]
    body = {"id": "e-1", "table": {"schema": "public", "name": "orders"}, "event": {"op": "INSERT", "data": {}}}

    async def deliver() -> int:
        async with (
            aiohttp.ClientSession() as session,
            session.post(relay.url("audit-orders"), data=json.dumps(body)) as answer,
        ):
            return answer.status

    assert _run(qtbot, loop, deliver()) == 200 and received == [body]
    window.relay.recorder.flush()  # type: ignore[attr-defined]
    capture = CaptureFile.open(out)
    try:
        assert [(d.event_id, d.http_status) for d in deliveries(capture)] == [("e-1", 200)]
    finally:
        capture.close()
    _run(qtbot, loop, window.relay.stop())  # type: ignore[attr-defined]
    _run(qtbot, loop, runner.cleanup())
