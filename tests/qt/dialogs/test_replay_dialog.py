"""The editor: edit a captured event in the window and replay it to a local handler, against a real sandbox.

Synchronous pytest-qt tests, as in test_main_window.py (whose `loop` and `window` fixtures they use): the window's
tasks run on a qasync loop driven by `qtbot.waitUntil`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from inspector.qt.dialogs.replay_dialog import ReplayDialog, json_error, parse_headers
from inspector.qt.roles import EVENT_ID_ROLE
from inspector.qt.window.main_window import MainWindow
from tests.helpers.processes import sandbox_process
from tests.helpers.window import SECRET, connect, small_capture


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    """A sandbox with steady traffic and handlers that do not fail, for the whole module."""
    with sandbox_process(
        "--admin-secret",
        SECRET,
        "--orders-per-second",
        "4",
        "--fetch-interval-ms",
        "100",
        "--refetch-interval-ms",
        "100",
        "--seed",
        "11",
    ) as (_proc, base):
        yield f"{base}/v1/graphql"


def _captured_event(win: MainWindow, qtbot: Any) -> str:
    """Capture until a validate-order event that Hasura delivered is in the list; stop; select it; its id."""
    found: list[str] = []

    def delivered() -> bool:
        if win.reader is None:
            return False
        row = win.reader.connection.execute(
            "SELECT e.id FROM events e WHERE e.trigger_name = 'validate-order' AND e.variant_of IS NULL AND EXISTS "
            "(SELECT 1 FROM invocations i WHERE i.event_id = e.id AND i.source = 'hasura' AND i.http_status = 200) "
            "ORDER BY e.seq LIMIT 1"
        ).fetchone()
        if row and win.select_event(row[0]):
            found.append(row[0])
            return True
        return False

    qtbot.waitUntil(delivered, timeout=30000)
    qtbot.waitUntil(lambda: win.detail.event_id == found[0], timeout=5000)
    return found[0]


def _open_dialog(win: MainWindow, qtbot: Any) -> ReplayDialog:
    assert win.replay_action.isEnabled()
    win.replay_action.trigger()
    dialog = win.replay_dialog
    assert dialog is not None
    qtbot.waitExposed(dialog)
    # offscreen nothing activates a new window as a window manager would: ask (Ctrl+Enter goes to the active one)
    dialog.windowHandle().requestActivate()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog, timeout=5000)
    return dialog


def _edit(dialog: ReplayDialog, change: Any) -> dict[str, Any]:
    payload = json.loads(dialog.editor.toPlainText())
    change(payload)
    dialog.editor.setPlainText(json.dumps(payload, indent=2))
    return payload


def test_edit_an_event_and_replay_the_variant_to_the_local_handler(
    window: MainWindow,
    sandbox_url: str,
    qtbot: Any,
) -> None:
    connect(window, sandbox_url)
    event_id = _captured_event(window, qtbot)
    path = window.capture.path
    before = sqlite3.connect(path).execute("SELECT payload FROM events WHERE id = ?", (event_id,)).fetchone()[0]
    dialog = _open_dialog(window, qtbot)
    assert dialog.event_id == event_id
    # the payload, pretty-printed, and the captured webhook (the sandbox's handler, on loopback) as the target
    assert json.loads(dialog.editor.toPlainText()) == json.loads(before)
    assert dialog.editor.toPlainText().startswith("{\n  ")
    assert dialog.target.text().startswith("http://127.0.0.1:") and dialog.target.text().endswith("/validate-order")
    assert "this machine" in dialog.target_note.text()
    assert dialog.original_view.answer is not None and dialog.original_view.answer.status == 200
    assert "✔" in dialog.status.text()
    edited = _edit(dialog, lambda p: p["data"]["new"].__setitem__("address", "221B Baker Street"))
    assert "variant" in dialog.status.text() and dialog.send_button.isEnabled()
    dialog.headers.setPlainText("X-Replay-Note: from the editor")
    # Ctrl+Enter sends
    dialog.editor.setFocus()
    qtbot.keyClick(dialog.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert dialog.replayed_id is not None
    qtbot.waitUntil(lambda: dialog.replay_view.answer is not None, timeout=20000)
    answer = dialog.replay_view.answer
    assert answer is not None and answer.ok, dialog.result_label.text()
    assert dialog.replay_view.summary.text().startswith("HTTP 200 in ")
    assert dialog.replay_view.tree.isVisible()  # the handler's JSON answer as a tree
    assert dialog.original_view.answer is not None and dialog.original_view.answer.status == 200  # side by side
    variant = dialog.variant_id
    assert variant is not None and variant != event_id
    check = sqlite3.connect(path)
    try:
        row = check.execute("SELECT variant_of, payload FROM events WHERE id = ?", (variant,)).fetchone()
        assert row[0] == event_id
        assert json.loads(row[1]) == edited
        # the captured event never changes
        assert check.execute("SELECT payload FROM events WHERE id = ?", (event_id,)).fetchone()[0] == before
        replays = check.execute(
            "SELECT http_status, request FROM invocations WHERE event_id = ? AND source = 'replay'", (variant,)
        ).fetchall()
        assert len(replays) == 1 and replays[0][0] == 200
        request = json.loads(replays[0][1])
        assert request["payload"]["event"]["data"]["new"]["address"] == "221B Baker Street"
        assert "from the editor" not in replays[0][1]  # a header's value is sent, never stored
        assert {"name": "X-Replay-Note", "value": "<redacted>"} in request["headers"]
    finally:
        check.close()
    # the window shows the variant and its new attempt
    qtbot.waitUntil(lambda: window.detail.event_id == variant, timeout=5000)
    tabs = window.detail.tabs
    assert "Invocations (0 + 1 replay)" in [tabs.tabText(i) for i in range(tabs.count())]  # a variant: replays only
    qtbot.waitUntil(lambda: window.select_event(variant), timeout=5000)
    # sending the same edit again replays the same variant (no second copy)
    dialog.send()
    qtbot.waitUntil(lambda: dialog.send_button.isEnabled(), timeout=20000)
    check = sqlite3.connect(path)
    try:
        assert check.execute("SELECT count(*) FROM events WHERE variant_of = ?", (event_id,)).fetchone()[0] == 1
        assert (
            check.execute("SELECT count(*) FROM invocations WHERE event_id = ? AND source = 'replay'", (variant,))
        ).fetchone()[0] == 2
    finally:
        check.close()
    dialog.close()
    qtbot.waitUntil(lambda: window.replay_dialog is None, timeout=5000)
    window.stop_capture()


def test_invalid_json_disables_send_and_points_at_the_error(
    window: MainWindow,
    sandbox_url: str,
    qtbot: Any,
) -> None:
    connect(window, sandbox_url)
    _captured_event(window, qtbot)
    dialog = _open_dialog(window, qtbot)
    text = dialog.editor.toPlainText()
    lines = text.splitlines()
    # drop the comma ending the first line that has one: the error is where the next key starts
    broken = next(i for i, line in enumerate(lines) if line.endswith(","))
    lines[broken] = lines[broken][:-1]
    error_line = broken + 1  # 0-based: the next line
    error_column = len(lines[error_line]) - len(lines[error_line].lstrip())  # 0-based
    dialog.editor.setPlainText("\n".join(lines))
    assert not dialog.send_button.isEnabled()
    assert f"line {error_line + 1}, column {error_column + 1}</a>: Expecting ',' delimiter" in dialog.status.text()
    selections = dialog.editor.extraSelections()
    assert len(selections) == 1
    assert selections[0].cursor.block().blockNumber() == error_line
    assert selections[0].cursor.selectedText() == '"'
    dialog.send()  # Ctrl+Enter with an error: nothing is sent, the cursor goes to the error
    cursor = dialog.editor.textCursor()
    assert (cursor.blockNumber(), cursor.positionInBlock()) == (error_line, error_column)
    assert dialog.replayed_id is None
    # not an event object
    dialog.editor.setPlainText("[1, 2]")
    assert "must be an event object" in dialog.status.text() and not dialog.send_button.isEnabled()
    dialog.revert()
    assert dialog.send_button.isEnabled() and "as captured" in dialog.status.text()
    dialog.target.setText("ftp://example.com/x")
    assert not dialog.send_button.isEnabled()
    dialog.close()
    window.stop_capture()


def test_a_remote_target_asks_for_consent_and_sends_nothing_when_refused(
    window: MainWindow,
    sandbox_url: str,
    qtbot: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connect(window, sandbox_url)
    event_id = _captured_event(window, qtbot)
    window.stop_capture()
    qtbot.waitUntil(lambda: window.session is None, timeout=10000)
    dialog = _open_dialog(window, qtbot)
    _edit(dialog, lambda p: p["data"]["new"].__setitem__("address", "elsewhere"))
    dialog.target.setText("http://example.invalid/x")
    assert "not this machine" in dialog.target_note.text()
    asked: list[str] = []

    def refuse(_parent: Any, _title: str, text: str, *_args: Any) -> QMessageBox.StandardButton:
        asked.append(text)
        return QMessageBox.StandardButton.No

    monkeypatch.setattr(QMessageBox, "question", refuse)
    path = window.capture.path
    dialog.send()
    assert len(asked) == 1 and "example.invalid" in asked[0]
    assert "refused" in dialog.result_label.text()
    assert not window.tasks.running(dialog._task_name)
    check = sqlite3.connect(path)
    try:
        assert check.execute("SELECT count(*) FROM events WHERE variant_of = ?", (event_id,)).fetchone()[0] == 0
        assert check.execute("SELECT count(*) FROM invocations WHERE source = 'replay'").fetchone()[0] == 0
    finally:
        check.close()
    dialog.close()


def test_the_context_menu_action_needs_a_selected_event(window: MainWindow, tmp_path: Any) -> None:

    path = tmp_path / "small.inspector"
    ids = small_capture(path)
    window.open_capture(path)
    assert not window.replay_action.isEnabled()
    assert window.edit_and_replay() is None  # nothing selected: nothing opens
    window.table.selectRow(0)
    assert window.replay_action.isEnabled()
    assert window.model.index(0, 0).data(EVENT_ID_ROLE) in ids
    dialog = window.edit_and_replay(ids[0])
    assert dialog is not None
    # no trigger snapshot in this capture: the target must be given before Send
    assert dialog.target.text() == "" and not dialog.send_button.isEnabled()
    assert "webhook is unknown" in dialog.target_note.text()
    dialog.target.setText("http://localhost:9/hook")
    assert dialog.send_button.isEnabled()
    assert dialog.original_view.summary.text().startswith("Hasura made no attempt")
    dialog.close()


def test_helpers() -> None:
    assert json_error('{"data": {}}') is None
    assert json_error('{"data": }') == (1, 10, "Expecting value")
    assert parse_headers("A: 1\n\nB-c:  two words ") == ({"A": "1", "B-c": "two words"}, None)
    assert parse_headers("no colon")[1] == "headers, line 1: expected 'Name: value'"


def test_answers_side_by_side_show_their_types_whole(qtbot: Any, tmp_path: Any) -> None:
    """Issue 14.15: in a narrow answer view the type column says "boolean" and "number", not "boolea" / "numbe"; the
    dialog fits the screen."""
    from PySide6.QtGui import QGuiApplication

    from inspector.qt.bridge import TaskRunner
    from inspector.qt.widgets.json_tree import TYPE_COLUMN
    from inspector.services.replay.plan import Answer

    path = tmp_path / "small.inspector"
    ids = small_capture(path)
    dialog = ReplayDialog(path, ids[0], TaskRunner())
    qtbot.addWidget(dialog)
    room = QGuiApplication.primaryScreen().availableGeometry()
    assert dialog.width() <= room.width() and dialog.height() <= room.height()
    dialog.resize(1100, 700)
    dialog.show()
    qtbot.waitExposed(dialog)
    body = {"ok": True, "count": 3, "order": {"id": "o-1", "approved": False}}
    dialog.replay_view.show_answer(Answer(200, body, duration_ms=12.0), "")
    tree = dialog.replay_view.tree
    tree.expandAll()
    qtbot.waitUntil(lambda: tree.viewport().width() > 0)
    metrics = tree.fontMetrics()
    header = tree.header()
    assert header.sectionSize(TYPE_COLUMN) >= metrics.horizontalAdvance("boolean")
    assert header.sectionViewportPosition(TYPE_COLUMN) + header.sectionSize(TYPE_COLUMN) <= tree.viewport().width()
    dialog.close()
