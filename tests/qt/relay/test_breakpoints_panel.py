"""The Breakpoints panel over a real relay in front of the sandbox's real delivery worker: a breakpoint holds a
delivery in the window until Continue, and the edited body is what the handler received. Synchronous pytest-qt tests
on the `loop` fixture's qasync loop (never `async def` tests with qtbot: shared/reference/qt-stack.md)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web

from inspector.qt.relay.breakpoints_panel import BreakpointsPanel
from inspector.sandbox.server import Sandbox
from inspector.services.relay import Breakpoints, parse_rule
from tests.conftest import FAST
from tests.helpers.live import place_order
from tests.helpers.relay import Relayed, relayed
from tests.helpers.sandbox_client import ScriptedWebhook, metadata_ok

T = TypeVar("T")
Setup = tuple[Sandbox, ScriptedWebhook, Relayed, BreakpointsPanel]


def _run(qtbot: Any, loop: asyncio.AbstractEventLoop, work: Awaitable[T], timeout: int = 20000) -> T:
    task = asyncio.ensure_future(work, loop=loop)
    qtbot.waitUntil(task.done, timeout=timeout)
    return task.result()


@pytest.fixture
def setup(qtbot: Any, loop: asyncio.AbstractEventLoop, tmp_path: Path) -> Iterator[Setup]:
    from dataclasses import replace

    sandbox = Sandbox(replace(FAST, db=str(tmp_path / "sandbox.db")))
    _run(qtbot, loop, sandbox.start())

    async def ok(_n: int, _body: dict[str, Any]) -> web.StreamResponse:
        return web.json_response({"ok": True})

    hook = _run(qtbot, loop, ScriptedWebhook(ok).start())
    _run(
        qtbot,
        loop,
        metadata_ok(
            sandbox,
            "pg_create_event_trigger",
            {
                "name": "audit-orders",
                "table": {"schema": "public", "name": "orders"},
                "webhook": hook.url,
                "insert": {"columns": "*"},
                "retry_conf": {"num_retries": 2, "interval_sec": 5, "timeout_sec": 30},
            },
        ),
    )
    breakpoints = Breakpoints()
    context = relayed(sandbox, tmp_path / "relay.inspector", breakpoints=breakpoints, routes={"audit-orders": hook.url})
    r = _run(qtbot, loop, context.__aenter__())
    panel = BreakpointsPanel(breakpoints, r.relay.rules)
    qtbot.addWidget(panel)
    panel.show()
    yield sandbox, hook, r, panel
    panel.detach()
    _run(qtbot, loop, context.__aexit__(None, None, None))
    _run(qtbot, loop, hook.stop())
    _run(qtbot, loop, sandbox.stop())


def test_a_breakpoint_holds_until_continue_and_the_edited_body_is_what_the_handler_got(
    qtbot: Any, loop: asyncio.AbstractEventLoop, setup: Setup
) -> None:
    sandbox, hook, _r, panel = setup
    assert panel.add_breakpoint('trigger == "audit-orders" and op == INSERT')
    assert not panel.add_breakpoint("nosuch == 1") and "nosuch" in panel.filter_error.text()
    _run(qtbot, loop, place_order(sandbox, "o-held"))
    qtbot.waitUntil(lambda: panel.held_count() == 1, timeout=10000)
    qtbot.wait(300)
    assert hook.calls == []  # held: the handler has not been called
    held = panel.current()
    assert held is not None and held.attempt == 1
    assert "audit-orders" in panel.summary.text() and "timeout_sec 30" in panel.summary.text()
    assert "attempt 2 of 3" in panel.summary.text()  # what happens next if it fails
    assert "gives up in" in panel.countdown.text()
    body = json.loads(panel.editor.toPlainText())
    body["event"]["data"]["new"]["address"] = "edited in the window"
    panel.editor.setPlainText("{ not json")
    assert not panel.edit_button.isEnabled() and "Not JSON" in panel.editor_error.text()
    panel.editor.setPlainText(json.dumps(body))
    assert panel.edit_button.isEnabled()
    panel.edit_button.click()
    qtbot.waitUntil(lambda: len(hook.calls) == 1, timeout=10000)
    assert hook.calls[0].body == body
    assert panel.held_count() == 0


def test_continue_respond_and_the_window_going_away(qtbot: Any, loop: asyncio.AbstractEventLoop, setup: Setup) -> None:
    sandbox, hook, r, panel = setup
    panel.add_breakpoint("")
    for n in range(3):
        _run(qtbot, loop, place_order(sandbox, f"o-{n}"))
    qtbot.waitUntil(lambda: panel.held_count() == 3, timeout=10000)
    panel.held_list.setCurrentRow(0)
    panel.status_spin.setValue(503)
    panel.retry_after_spin.setValue(1)
    assert panel.respond()  # the engine retries in a second: held again
    qtbot.waitUntil(lambda: panel.held_count() == 3, timeout=10000)
    panel.held_list.setCurrentRow(0)
    assert panel.continue_current()
    qtbot.waitUntil(lambda: len(hook.calls) == 1, timeout=10000)
    r.relay.rules.append(parse_rule("-> pass"))
    panel.set_rules(r.relay.rules)
    assert panel.rule_list.count() == 1
    panel.detach()  # the window closes: the others continue
    qtbot.waitUntil(lambda: len(hook.calls) == 3, timeout=15000)
