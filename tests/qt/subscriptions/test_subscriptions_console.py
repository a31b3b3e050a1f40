"""The subscriptions console (issue 14.5, 14.10): an operation that GraphQL errors ended shows an error state with the
error's text, in the console and in the capture; the editor shows the query that was captured for the operation
chosen; one name per subscription. Sync pytest-qt tests (shared/reference/qt-stack.md: no qtbot in async tests)."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from inspector.core.graphql_ops import frame_error, subscription_name
from inspector.qt.subscriptions.subscriptions_console import EXAMPLE, SubscriptionsConsole, changes_text
from inspector.qt.window.main_window import MainWindow
from inspector.store.capture_file import CaptureFile, CaptureWriter
from tests.helpers.window import connect

BAD = "subscription bad { orders { no_such_field } }"
LIVE = "subscription live_orders { orders(limit: 2) { order_id } }"
ANONYMOUS = "subscription { orders(limit: 1) { order_id approved } }"


@pytest.fixture
def console(qtbot: Any) -> SubscriptionsConsole:
    widget = SubscriptionsConsole()
    qtbot.addWidget(widget)
    widget.resize(1000, 600)
    widget.show()
    return widget


def _capture(path: Path) -> CaptureFile:
    """Two operations: a live query that got results, and an anonymous one that an `error` frame ended."""
    capture = CaptureFile.create(path)
    writer = CaptureWriter(capture)
    live = writer.add_operation("live_orders", LIVE, None, "live", "graphql-transport-ws")
    for n in range(2):
        data = {"orders": [{"order_id": "o1", "approved": n == 1}]}
        raw = json.dumps({"type": "next", "id": "1", "payload": {"data": data}})
        writer.add_message(live, time.time(), "next", raw, data=data)
    failed = writer.add_operation(None, ANONYMOUS, None, "live", "graphql-transport-ws")
    errors = [{"message": "field 'approved' not found in type: 'orders'", "extensions": {"path": "$.selectionSet"}}]
    writer.add_message(failed, time.time(), "error", json.dumps({"type": "error", "id": "2", "payload": errors}))
    writer.update_operation(failed, state="error")
    writer.flush()
    return capture


def test_frame_errors_of_both_protocols() -> None:
    transport_ws = {"type": "error", "id": "1", "payload": [{"message": "no such field", "extensions": {"path": "$"}}]}
    assert frame_error(transport_ws) == "no such field (at $)"
    apollo = {"type": "error", "id": "1", "payload": {"errors": [{"message": "a"}, {"message": "b"}]}}
    assert frame_error(apollo) == "a; b"
    assert frame_error({"type": "data", "id": "1", "payload": {"data": None, "errors": [{"message": "x"}]}}) == "x"
    partial = {"type": "next", "id": "1", "payload": {"data": {"a": 1}, "errors": [{"message": "x"}]}}
    assert frame_error(partial) is None
    assert frame_error({"type": "complete", "id": "1"}) is None
    assert subscription_name(3, None) == "subscription 3" and subscription_name(3, "live") == "live"
    assert (changes_text(1), changes_text(2), changes_text(0)) == ("1 change", "2 changes", "0 changes")


def test_an_operation_ended_by_errors_shows_its_error_and_the_captured_query(
    console: SubscriptionsConsole, tmp_path: Path, qtbot: Any
) -> None:
    capture = _capture(tmp_path / "ops.inspector")
    assert console.editor.toPlainText() == EXAMPLE
    console.refresh(capture.reader())
    items = [console.operations.itemText(i) for i in range(console.operations.count())]
    assert items == ["live_orders · live · running", "subscription 2 · live · error"]
    # the newest operation is selected: the editor shows its captured query (the editor was not edited)
    assert console.operations.currentIndex() == 1
    assert console.editor.toPlainText() == ANONYMOUS
    assert console.operation_status.isVisibleTo(console)
    assert "field 'approved' not found" in console.operation_status.text()
    assert console.operations.itemData(1, Qt.ItemDataRole.ForegroundRole) is not None
    assert console.messages.item(0, 1).text() == "error"
    # choosing the other operation shows its query and no error
    console.operations.setCurrentIndex(0)
    assert console.editor.toPlainText() == LIVE
    assert not console.operation_status.isVisibleTo(console)
    assert console.messages.rowCount() == 2
    assert console.messages.item(1, 3).text().startswith("1 change: ")
    # text the user is writing is not replaced by a refresh
    console.editor.setPlainText("subscription mine { orders { order_id } }")
    console.editor.document().setModified(True)
    console.refresh(capture.reader())
    assert console.editor.toPlainText().startswith("subscription mine")
    capture.close()


def test_a_subscription_with_an_error_is_recorded_and_shown_as_an_error(
    window: MainWindow, sandbox_url: str, qtbot: Any
) -> None:
    connect(window, sandbox_url)
    qtbot.waitUntil(lambda: window.session is not None and window.console.run_button.isEnabled(), timeout=20000)
    window.console.editor.setPlainText(BAD)
    window.console.run_button.click()

    def errored() -> bool:
        window._on_refresh_timer_timeout(force=True)
        return any(
            window.console.operations.itemText(i) == "bad · live · error"
            for i in range(window.console.operations.count())
        )

    qtbot.waitUntil(errored, timeout=20000)
    index = window.console.operations.findText("bad · live · error")
    window.console.operations.setCurrentIndex(index)
    assert window.console.operation_status.isVisibleTo(window.console)
    assert "no_such_field" in window.console.operation_status.text()
    assert window.console.editor.toPlainText() == BAD
    assert window.capture is not None
    path = window.capture.path
    window.stop_capture()
    qtbot.waitUntil(lambda: window.session is None, timeout=10000)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT state FROM operations WHERE name = 'bad'").fetchone() == ("error",)
    finally:
        conn.close()
