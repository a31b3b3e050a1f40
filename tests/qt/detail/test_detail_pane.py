"""The detail pane, its JSON tree and the highlighters, driven offscreen with qtbot on a real capture file written by
`CaptureWriter` (sync tests only: see the qt-stack reference on qtbot inside async tests)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette, QTextDocument
from pytestqt.qtbot import QtBot

from inspector.core.events import EventRecord, InvocationRecord
from inspector.core.hasura import client_error, webhook_response
from inspector.qt.detail.detail_pane import (
    CHANGES_TAB,
    EMPTY_HINT,
    INVOCATIONS_TAB,
    STATES_TAB,
    BodyView,
    DetailPane,
)
from inspector.qt.roles import JSON_PATH_ROLE, JSON_VALUE_ROLE
from inspector.qt.widgets.highlighters import DARK, LIGHT, GraphQLHighlighter, JsonHighlighter, syntax_colours
from inspector.qt.widgets.json_tree import PAGE_SIZE, JsonTreeItem, JsonTreeWidget, MoreItem
from inspector.store.capture_file import CaptureFile, CaptureWriter
from inspector.store.filter_sql import compile_filter
from tests.helpers.captures import event_dict, invocation_dict, ok_response

UPDATE_ID = "7d1e0c7a-0001-4000-8000-000000000001"
BIG_ID = "7d1e0c7a-0002-4000-8000-000000000002"
BAD_ID = "7d1e0c7a-0003-4000-8000-000000000003"
OLD = {
    "order_id": "o-42",
    "user_id": "user-7f3a9c",
    "payment_valid": False,
    "total": 12.5,
    "note": 'say "hi"\nthen leave',
    "approved_at": None,
    "items": ["pizza", "cola"],
}
NEW = {**OLD, "payment_valid": True, "total": 14, "approved_at": "2024-03-01T12:00:05"}
CHANGED = ["payment_valid", "total", "approved_at"]
RESPONSE_BODY = '{"ok":true,"order":{"id":"o-42","eta_min":25}}'
BLOB = "x" * (10 * 1024 * 1024)
PNG = b"\x89PNG\r\n\x1a\n\xff\x00binary-bytes"


@pytest.fixture
def capture(tmp_path: Path) -> Iterator[CaptureFile]:
    """A capture with an UPDATE retried once (500, then 200 with a JSON-string body), an INSERT with a 10 MB string
    answered with a binary body, and an event without invocations (`damage_payload` breaks its payload)."""
    capture = CaptureFile.create(tmp_path / "detail.inspector")
    writer = CaptureWriter(capture)
    update = event_dict(
        UPDATE_ID,
        trigger="restaurant-approval",
        op="UPDATE",
        old=OLD,
        new=NEW,
        created_at="2024-03-01T12:00:00.000000",
        session_variables={"x-hasura-role": "user", "x-hasura-user-id": "u1"},
    )
    writer.observe_event(EventRecord.from_hasura(update), now=1709294400.5)
    writer.observe_invocation(
        InvocationRecord.from_hasura(
            invocation_dict("inv-1", update, 500, client_error("kitchen closed"), "2024-03-01T12:00:01.000000")
        )
    )
    writer.observe_event(
        EventRecord.from_hasura({**update, "tries": 1, "next_retry_at": "2024-03-01T12:00:11"}), now=1709294402.0
    )
    writer.observe_invocation(
        InvocationRecord.from_hasura(
            invocation_dict(
                "inv-2", update, 200, ok_response(RESPONSE_BODY), "2024-03-01T12:00:11.250000", current_retry=1
            )
        ),
        duration_ms=42.5,
    )
    writer.observe_event(EventRecord.from_hasura({**update, "tries": 2, "delivered": True}), now=1709294412.0)

    big = event_dict(BIG_ID, new={"order_id": "big", "blob": BLOB}, created_at="2024-03-01T12:01:00Z")
    writer.observe_event(EventRecord.from_hasura(big), now=1709294461.0)
    binary = webhook_response("", [("Content-Type", "image/png")], 200)
    binary["data"]["body"] = ["Base64", base64.b64encode(PNG).decode()]
    writer.observe_invocation(
        InvocationRecord.from_hasura(invocation_dict("inv-3", big, 200, binary, "2024-03-01T12:01:01.000000"))
    )

    writer.observe_event(EventRecord.from_hasura(event_dict(BAD_ID)), now=1709294500.0)
    writer.flush()
    yield capture
    capture.close()


BAD_PAYLOAD = '{"op": "INSERT", "data": {'


def damage_payload(capture: CaptureFile) -> None:
    """Make BAD_ID's payload cell text that is not JSON (a damaged or hand-edited capture)."""
    with capture.conn:
        capture.conn.execute("UPDATE events SET payload = ? WHERE id = ?", (BAD_PAYLOAD, BAD_ID))


@pytest.fixture
def pane(qtbot: QtBot) -> DetailPane:
    pane = DetailPane()
    pane.resize(1000, 700)
    qtbot.addWidget(pane)
    return pane


@pytest.fixture
def update_pane(pane: DetailPane, capture: CaptureFile) -> DetailPane:
    pane.show_event(capture.reader(), UPDATE_ID)
    return pane


def _item(tree: JsonTreeWidget, path: str) -> JsonTreeItem:
    item = tree.find_path(path)
    assert item is not None, f"no item {path}"
    return item


# --- the pane as a whole -------------------------------------------------------------------------------------------


def test_empty_pane_shows_a_hint_and_clear_returns_to_it(pane: DetailPane, capture: CaptureFile) -> None:
    assert pane.pages.currentIndex() == pane.HINT_PAGE and pane.hint.text() == EMPTY_HINT
    pane.show_event(capture.reader(), "no-such-event")
    assert pane.pages.currentIndex() == pane.HINT_PAGE and "not in this capture" in pane.hint.text()
    pane.show_event(capture.reader(), UPDATE_ID)
    assert pane.pages.currentIndex() == pane.EVENT_PAGE and pane.event_id == UPDATE_ID
    pane.clear()
    assert pane.pages.currentIndex() == pane.HINT_PAGE and pane.event_id is None and pane.hint.text() == EMPTY_HINT


def test_header_line_summarises_the_event(update_pane: DetailPane) -> None:
    header = update_pane.header.text()
    for part in ("restaurant-approval", "UPDATE", "delivered", "row o-42", "2024-03-01 12:00:00.000", "2 attempts"):
        assert part in header
    assert "latency 11.25 s" in header  # created 12:00:00.000, delivered by the attempt at 12:00:11.250
    assert UPDATE_ID in update_pane.subheader.text() and "role user" in update_pane.subheader.text()


def test_a_closed_connection_gives_a_message_not_a_traceback(pane: DetailPane, tmp_path: Path) -> None:
    capture = CaptureFile.create(tmp_path / "closed.inspector")
    capture.close()
    pane.show_event(capture.reader(), UPDATE_ID)
    assert pane.pages.currentIndex() == pane.HINT_PAGE and "Could not read event" in pane.hint.text()


# --- payload tree ---------------------------------------------------------------------------------------------------


def test_payload_tree_has_paths_values_and_types(update_pane: DetailPane) -> None:
    tree = update_pane.payload_tree
    assert [tree.topLevelItem(i).text(0) for i in range(tree.topLevelItemCount())] == [  # type: ignore[union-attr]
        "op",
        "data",
        "session_variables",
        "trace_context",
    ]
    order_id = _item(tree, "data.new.order_id")
    assert order_id.data(0, JSON_PATH_ROLE) == "data.new.order_id"
    assert order_id.data(0, JSON_VALUE_ROLE) == "o-42"
    assert (order_id.text(1), order_id.text(2)) == ('"o-42"', "string")
    pizza = _item(tree, "data.new.items[0]")
    assert pizza.data(0, JSON_VALUE_ROLE) == "pizza" and pizza.text(0) == "[0]"
    assert _item(tree, "data.new.total").text(2) == "number"
    assert (_item(tree, "data.old.payment_valid").text(1), _item(tree, "data.old.payment_valid").text(2)) == (
        "false",
        "boolean",
    )
    assert _item(tree, "data.old.approved_at").text(2) == "null"
    new = _item(tree, "data.new")
    assert new.text(2) == "object (7)" and list(new.data(0, JSON_VALUE_ROLE)) == list(NEW)  # keys in stored order
    assert new.isExpanded() and _item(tree, "data").isExpanded()
    assert not _item(tree, "data.new.items").isExpanded()  # default depth: the row's columns, not deeper
    assert _item(tree, "session_variables.x-hasura-role").data(0, JSON_VALUE_ROLE) == "user"


@pytest.mark.parametrize(
    ("path", "expression"),
    [
        ("data.new.order_id", 'data.new.order_id == "o-42"'),
        ("data.old.payment_valid", "data.old.payment_valid == false"),
        ("data.new.payment_valid", "data.new.payment_valid == true"),
        ("data.new.total", "data.new.total == 14"),
        ("data.old.total", "data.old.total == 12.5"),
        ("data.old.approved_at", "data.old.approved_at == null"),
        ("data.new.items[1]", 'data.new.items[1] == "cola"'),
        ("data.new.note", 'data.new.note == "say \\"hi\\"\\nthen leave"'),
        ("data.new.items", "data.new.items"),
        ("op", 'op == "UPDATE"'),
        ("session_variables.x-hasura-user-id", 'session.x-hasura-user-id == "u1"'),
        ("session_variables.x-hasura-role", 'session.x-hasura-role == "user"'),
        ("trace_context.trace_id", 'trace_id == "4bf92f3577b34da6"'),
    ],
)
def test_apply_as_filter_emits_an_expression_that_selects_the_event(
    qtbot: QtBot, update_pane: DetailPane, capture: CaptureFile, path: str, expression: str
) -> None:
    tree = update_pane.payload_tree
    tree.setCurrentItem(_item(tree, path))
    assert tree.apply_filter_action.isEnabled()
    with qtbot.waitSignal(update_pane.filterRequested, timeout=1000) as blocker:
        tree.apply_filter_action.trigger()
    assert blocker.args == [expression]
    compiled = compile_filter(expression)
    selected = [
        row[0] for row in capture.conn.execute(f"SELECT e.id FROM events e WHERE {compiled.where}", compiled.params)
    ]
    assert UPDATE_ID in selected


@pytest.mark.parametrize("path", ["data", "session_variables", "trace_context", "trace_context.span_id"])
def test_apply_as_filter_is_not_offered_where_the_language_has_no_field(update_pane: DetailPane, path: str) -> None:
    tree = update_pane.payload_tree
    tree.setCurrentItem(_item(tree, path))
    assert not tree.apply_filter_action.isEnabled()
    assert tree.copy_value_action.isEnabled() and tree.copy_path_action.isEnabled()


def test_copy_value_and_copy_path_use_the_clipboard(qtbot: QtBot, update_pane: DetailPane) -> None:
    tree = update_pane.payload_tree
    clipboard = QGuiApplication.clipboard()
    tree.setCurrentItem(_item(tree, "data.new.note"))
    tree.copy_value_action.trigger()
    assert clipboard.text() == NEW["note"]  # a string is copied as is, not as a JSON literal
    tree.setCurrentItem(_item(tree, "data.new"))
    tree.copy_value_action.trigger()
    assert json.loads(clipboard.text()) == NEW and clipboard.text().startswith('{\n  "order_id"')
    tree.copy_path_action.trigger()
    assert clipboard.text() == "data.new"
    update_pane.show()
    tree.setFocus()
    tree.setCurrentItem(_item(tree, "data.new.total"))
    qtbot.keyClick(tree, "c", modifier=Qt.KeyboardModifier.ControlModifier)  # type: ignore[no-untyped-call]
    assert clipboard.text() == "14"


def test_expand_all_and_collapse_all(update_pane: DetailPane) -> None:
    tree = update_pane.payload_tree
    tree.expand_all_action.trigger()
    assert _item(tree, "data.new.items").isExpanded() and _item(tree, "data.old.items").isExpanded()
    tree.collapse_all_action.trigger()
    assert not _item(tree, "data").isExpanded()


def test_a_10_mb_string_is_shortened_on_screen_but_copied_whole(pane: DetailPane, capture: CaptureFile) -> None:
    pane.show_event(capture.reader(), BIG_ID)
    tree = pane.payload_tree
    blob = _item(tree, "data.new.blob")
    assert len(blob.text(1)) < 2_100 and blob.text(1).endswith("(10,483,760 more characters)")
    assert blob.text(2) == "string (10,485,760 chars)"
    assert len(_item(tree, "data.new").text(1)) < 200  # the collapsed preview of the row stays short
    tree.setCurrentItem(blob)
    tree.copy_value_action.trigger()
    assert QGuiApplication.clipboard().text() == BLOB
    raw = pane.raw.text()
    assert len(raw) < 10_000 and "more characters" in raw and pane.raw.note.text().startswith("Large JSON")
    pane.raw.copy_button.click()
    assert json.loads(QGuiApplication.clipboard().text())["data"]["new"]["blob"] == BLOB


def test_big_arrays_are_shown_a_page_at_a_time(qtbot: QtBot) -> None:
    tree = JsonTreeWidget(field_function=None)
    qtbot.addWidget(tree)
    tree.set_json({"rows": list(range(PAGE_SIZE * 2 + 10))})
    rows = _item(tree, "rows")
    assert not rows.isExpanded()  # too many children to open by default
    rows.setExpanded(True)
    assert rows.childCount() == PAGE_SIZE + 1 and isinstance(rows.child(PAGE_SIZE), MoreItem)
    tree.itemActivated.emit(rows.child(PAGE_SIZE), 0)
    assert rows.childCount() == 2 * PAGE_SIZE + 1
    assert _item(tree, f"rows[{2 * PAGE_SIZE + 5}]").data(0, JSON_VALUE_ROLE) == 2 * PAGE_SIZE + 5
    assert not tree.apply_filter_action.isEnabled()  # no filter fields in this tree


def test_scalars_and_odd_keys(qtbot: QtBot) -> None:
    tree = JsonTreeWidget()
    qtbot.addWidget(tree)
    tree.set_json(2**70)
    only = tree.topLevelItem(0)
    assert isinstance(only, JsonTreeItem) and only.data(0, JSON_VALUE_ROLE) == 2**70 and only.text(2) == "number"
    tree.set_json({"data": {"new": {"unit price": 3, "1st": "a\u0001b", "big": 2**70}}})
    assert _item(tree, 'data.new["unit price"]').data(0, JSON_VALUE_ROLE) == 3
    assert tree.filter_for(_item(tree, 'data.new["unit price"]')) is None  # the language has no quoted columns
    assert tree.filter_for(_item(tree, 'data.new["1st"]')) == 'data.new.1st == "a\\x01b"'
    assert tree.filter_for(_item(tree, "data.new.big")) is None  # beyond the language's numbers


# --- changes --------------------------------------------------------------------------------------------------------


def test_changes_tab_lists_exactly_the_changed_columns(update_pane: DetailPane) -> None:
    changes = update_pane.changes
    assert update_pane.tabs.tabText(CHANGES_TAB) == "Changes (3)"
    assert changes.visible_columns() == CHANGED
    assert changes.summary.text().startswith("3 of 7 columns changed")
    total = list(NEW).index("total")
    assert changes.table.item(total, 1).text() == "12.5" and changes.table.item(total, 2).text() == "14"  # type: ignore[union-attr]
    changes.show_unchanged.setChecked(True)
    assert changes.visible_columns() == list(NEW)
    changes.show_unchanged.setChecked(False)
    assert changes.visible_columns() == CHANGED


def test_changes_tab_explains_inserts_and_unreadable_payloads(pane: DetailPane, capture: CaptureFile) -> None:
    pane.show_event(capture.reader(), BIG_ID)
    assert pane.changes.summary.text().startswith("INSERT") and not pane.changes.table.isVisibleTo(pane.changes)
    assert pane.tabs.tabText(CHANGES_TAB) == "Changes"


# --- raw ------------------------------------------------------------------------------------------------------------


def test_raw_tab_shows_the_pretty_payload_highlighted(update_pane: DetailPane) -> None:
    raw = update_pane.raw
    assert json.loads(raw.text())["data"]["new"] == NEW
    assert raw.text().startswith('{\n  "op": "UPDATE"')
    first = raw.editor.document().findBlockByNumber(1)  # `  "op": "UPDATE",`
    assert _colour_at(first, 3) == LIGHT.key and _colour_at(first, 10) == LIGHT.string


def test_a_payload_that_is_not_json_is_shown_as_text_with_a_note(pane: DetailPane, capture: CaptureFile) -> None:
    damage_payload(capture)
    pane.show_event(capture.reader(), BAD_ID)
    assert pane.pages.currentIndex() == pane.EVENT_PAGE
    assert pane.payload.currentIndex() == BodyView.TEXT
    assert pane.payload.text.toPlainText() == BAD_PAYLOAD
    assert "not valid JSON" in pane.payload.text_note.text()
    assert pane.raw.text() == BAD_PAYLOAD and "not valid JSON" in pane.raw.note.text()
    assert "could not be read" in pane.changes.summary.text()


# --- invocations ----------------------------------------------------------------------------------------------------


def test_invocations_tab_lists_the_attempts(update_pane: DetailPane) -> None:
    view = update_pane.invocations
    assert update_pane.tabs.tabText(INVOCATIONS_TAB) == "Invocations (2)"
    table = view.table
    assert table.rowCount() == 2
    rows = [[table.item(r, c).text() for c in range(5)] for r in range(2)]  # type: ignore[union-attr]
    assert rows[0][0] == "1" and rows[0][2] == "500" and rows[0][4] == "unsuccessful: HTTP 500"
    # Hasura records no duration: estimated from its log (the event's creation to the attempt's row), and said so
    assert rows[0][3] == "≈ 1.00 s"
    assert "estimated" in table.item(0, 3).toolTip()  # type: ignore[union-attr]
    assert rows[1][0] == "2" and rows[1][2] == "200" and rows[1][3] == "42.5 ms" and rows[1][4] == "delivered"
    assert rows[1][1] == "2024-03-01 12:00:11.250"
    assert view.selected_row() == 1  # the latest attempt is selected


def test_a_json_string_body_is_decoded_twice_into_a_tree(update_pane: DetailPane) -> None:
    view = update_pane.invocations
    view.select_attempt(1)
    assert view.response_body.currentIndex() == BodyView.TREE
    body = view.response_body.tree
    assert body.json_value() == json.loads(RESPONSE_BODY)
    assert _item(body, "order.eta_min").data(0, JSON_VALUE_ROLE) == 25
    assert view.response_status.text().startswith("HTTP 200 · webhook_response · application/json")
    headers = {view.response_headers.item(r, 0).text() for r in range(view.response_headers.rowCount())}  # type: ignore[union-attr]
    assert headers == {"Content-Type", "Set-Cookie"}


def test_a_failed_attempt_shows_the_handlers_answer_as_text(update_pane: DetailPane) -> None:
    view = update_pane.invocations
    view.select_attempt(0)
    assert view.response_body.currentIndex() == BodyView.TEXT
    assert view.response_body.text.toPlainText() == "kitchen closed"
    assert view.response_status.text().startswith("HTTP 500 · client_error")


def test_the_request_shows_the_body_sent_and_the_logged_headers(qtbot: QtBot, update_pane: DetailPane) -> None:
    view = update_pane.invocations
    view.select_attempt(0)
    request = view.request_body.tree
    assert _item(request, "event.data.new.order_id").data(0, JSON_VALUE_ROLE) == "o-42"
    assert _item(request, "delivery_info.current_retry").data(0, JSON_VALUE_ROLE) == 0
    headers = {
        view.request_headers.item(r, 0).text(): view.request_headers.item(r, 1).text()  # type: ignore[union-attr]
        for r in range(view.request_headers.rowCount())
    }
    assert headers["X-Env-Token"] == "from env HANDLER_TOKEN"
    assert headers["x-hasura-admin-secret"] == "<redacted>"
    request.setCurrentItem(_item(request, "event.data.new.order_id"))
    with qtbot.waitSignal(update_pane.filterRequested, timeout=1000) as blocker:
        request.apply_filter_action.trigger()
    assert blocker.args == ['data.new.order_id == "o-42"']
    request.setCurrentItem(_item(request, "trigger.name"))
    with qtbot.waitSignal(update_pane.filterRequested, timeout=1000) as blocker:
        request.apply_filter_action.trigger()
    assert blocker.args == ['trigger == "restaurant-approval"']
    raw = json.loads(view.raw.text())
    assert raw["response"]["data"]["message"] == "kitchen closed" and raw["request"]["version"] == "2"


def test_a_binary_body_is_shown_as_its_size_with_base64_to_copy(pane: DetailPane, capture: CaptureFile) -> None:
    pane.show_event(capture.reader(), BIG_ID)
    view = pane.invocations
    assert view.response_body.currentIndex() == BodyView.BINARY
    assert view.response_body.binary_label.text() == f"binary, {len(PNG)} bytes (image/png)"
    view.response_body.copy_base64_button.click()
    assert base64.b64decode(QGuiApplication.clipboard().text()) == PNG


def test_a_response_cell_that_is_not_json_is_shown_as_text(pane: DetailPane, capture: CaptureFile) -> None:
    with capture.conn:
        capture.conn.execute("UPDATE invocations SET response = 'oops {' WHERE id = 'inv-2'")
    pane.show_event(capture.reader(), UPDATE_ID)
    view = pane.invocations
    view.select_attempt(1)
    assert view.response_body.currentIndex() == BodyView.TEXT
    assert view.response_body.text.toPlainText() == "oops {"
    assert "not valid JSON" in view.response_body.text_note.text()


def test_an_event_without_invocations_says_so(pane: DetailPane, capture: CaptureFile) -> None:
    pane.show_event(capture.reader(), BAD_ID)
    assert pane.tabs.tabText(INVOCATIONS_TAB) == "Invocations (0)"
    assert pane.invocations.empty.isVisibleTo(pane.invocations)


# --- states ---------------------------------------------------------------------------------------------------------


def test_states_tab_lists_every_state_seen(update_pane: DetailPane) -> None:
    states = update_pane.states
    assert update_pane.tabs.tabText(STATES_TAB) == "States (3)"
    column = [[states.item(r, c).text() for c in (1, 2, 3)] for r in range(states.rowCount())]  # type: ignore[union-attr]
    assert column == [
        ["pending", "0", ""],
        ["retrying", "1", "2024-03-01 12:00:11.000"],
        ["delivered", "2", ""],
    ]


# --- highlighters ---------------------------------------------------------------------------------------------------


def _colour_at(block: Any, position: int) -> QColor | None:
    for fmt in block.layout().formats():
        if fmt.start <= position < fmt.start + fmt.length:
            return QColor(fmt.format.foreground().color())
    return None


def test_json_highlighter_colours_each_kind_of_token(qtbot: QtBot) -> None:
    document = QTextDocument()
    highlighter = JsonHighlighter(document)
    text = '{"key": "value", "n": -1.5e3, "t": true, "z": null}'
    document.setPlainText(text)
    highlighter.rehighlight()
    block = document.firstBlock()
    assert _colour_at(block, text.index('"key"')) == LIGHT.key
    assert _colour_at(block, text.index('"value"')) == LIGHT.string
    assert _colour_at(block, text.index("-1.5e3")) == LIGHT.number
    assert _colour_at(block, text.index("true")) == LIGHT.literal
    assert _colour_at(block, text.index("null")) == LIGHT.literal
    assert _colour_at(block, 0) == LIGHT.punctuation


QUERY = """# orders placed since a time
subscription OrderStream($since: timestamptz!, $ids: [uuid!]) {
  orders_stream(batch_size: 10, cursor: {initial_value: {created: $since}}) {
    query
    order_id @include(if: true)
    ...OrderFields
    note(text: \"\"\"block
string\"\"\")
  }
}
fragment OrderFields on orders { total }"""


def test_graphql_highlighter_colours_keywords_names_variables_and_comments(qtbot: QtBot) -> None:
    document = QTextDocument()
    highlighter = GraphQLHighlighter(document)
    document.setPlainText(QUERY)
    highlighter.rehighlight()
    lines = QUERY.split("\n")

    def colour(line: int, word: str, nth: int = 0) -> QColor | None:
        column = -1
        for _ in range(nth + 1):
            column = lines[line].index(word, column + 1)
        return _colour_at(document.findBlockByNumber(line), column)

    assert colour(0, "orders") == LIGHT.comment
    assert colour(1, "subscription") == LIGHT.keyword
    assert colour(1, "OrderStream") == LIGHT.key
    assert colour(1, "$since") == LIGHT.variable
    assert colour(1, "timestamptz") == LIGHT.type_name
    assert colour(1, "uuid") == LIGHT.type_name
    assert colour(1, "{") == LIGHT.punctuation
    assert colour(2, "orders_stream") == LIGHT.key
    assert colour(2, "10") == LIGHT.number
    assert colour(2, "$since") == LIGHT.variable
    assert colour(3, "query") == LIGHT.key  # a field named like a keyword, inside a selection set
    assert colour(4, "@include") == LIGHT.type_name
    assert colour(4, "true") == LIGHT.literal
    assert colour(6, '"""') == LIGHT.string and colour(7, "string") == LIGHT.string  # across lines
    assert colour(10, "fragment") == LIGHT.keyword
    assert colour(10, "on") == LIGHT.keyword
    assert colour(10, "orders") == LIGHT.type_name


def test_colours_follow_the_palette_lightness() -> None:
    dark = QPalette()
    dark.setColor(QPalette.ColorRole.Base, QColor("#1e1e1e"))
    light = QPalette()
    light.setColor(QPalette.ColorRole.Base, QColor("#ffffff"))
    assert syntax_colours(dark) is DARK and syntax_colours(light) is LIGHT
    assert DARK.string.lightness() > 128 > LIGHT.string.lightness()


def test_replays_are_listed_apart_from_the_deliveries(pane: DetailPane, capture: CaptureFile) -> None:
    """Issue 14.6: a replay (an attempt Inspector made) is not counted as one of the event's invocations."""
    with capture.conn:
        capture.conn.execute(
            "INSERT INTO invocations (id, event_id, trigger_name, attempt, http_status, status, request, response, "
            "created_at, created_ts, duration_ms, source) SELECT 'replay-1', event_id, trigger_name, 3, NULL, NULL, "
            "request, ?, created_at, created_ts - 0.5, 40, 'replay' FROM invocations WHERE id = 'inv-2'",
            (json.dumps(client_error("cannot connect")),),
        )
    pane.show_event(capture.reader(), UPDATE_ID)
    view = pane.invocations
    assert pane.tabs.tabText(INVOCATIONS_TAB) == "Invocations (2 + 1 replay)"
    numbers = [view.table.item(row, 0).text() for row in range(view.table.rowCount())]
    assert numbers == ["1", "2", "replay 1"]  # the deliveries first, in order; the replay after them
    assert "not one of the event's deliveries" in view.table.item(2, 0).toolTip()
    assert view.selected_row() == 1  # the delivery that decided the outcome
    assert not view.table.isColumnHidden(view.COLUMNS.index("Source"))
