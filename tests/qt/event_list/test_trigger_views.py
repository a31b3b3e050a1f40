"""A trigger's context menu in the sources tree (issue 14, missing): Hasura Console's Pending / Processed /
Invocations tabs as one-click display filters, and Trigger settings… from the capture's trigger snapshot with secret
header values hidden. Sync pytest-qt tests on `tests.helpers.captures.build_sample`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from inspector.qt.dialogs.trigger_settings_dialog import HIDDEN, TriggerSettingsDialog
from inspector.qt.event_list.sources_tree import TRIGGER_ROLE, TRIGGER_VIEWS, SourcesTree, trigger_view
from inspector.store.capture_file import CaptureFile
from inspector.store.filter_sql import compile_filter
from tests.helpers.captures import WEBHOOK_SECRET, build_sample


@pytest.fixture
def capture(tmp_path: Path) -> Iterator[CaptureFile]:
    capture = build_sample(tmp_path / "views.inspector")
    yield capture
    capture.close()


@pytest.fixture
def tree(qtbot: QtBot, capture: CaptureFile) -> SourcesTree:
    tree = SourcesTree()
    qtbot.addWidget(tree)
    tree.refresh(capture.reader())
    return tree


def _selected(capture: CaptureFile, expression: str) -> set[str]:
    compiled = compile_filter(expression)
    return {r[0] for r in capture.conn.execute(f"SELECT e.id FROM events e WHERE {compiled.where}", compiled.params)}


def test_a_triggers_menu_filters_its_pending_processed_and_attempted_events(
    qtbot: QtBot, tree: SourcesTree, capture: CaptureFile
) -> None:
    triggers = tree.topLevelItem(0)
    names = [triggers.child(i).data(0, TRIGGER_ROLE) for i in range(triggers.childCount())]
    assert names == ["validate-order", "restaurant-approval"]
    menu = tree.trigger_menu("validate-order")
    texts = [a.text() for a in menu.actions() if not a.isSeparator()]
    assert texts == [*TRIGGER_VIEWS, "Trigger settings…"]
    rows = {
        r[0]: (r[1], r[2], r[3]) for r in capture.conn.execute("SELECT id, trigger_name, status, attempts FROM events")
    }
    expected = {
        "Pending events": {
            i for i, (t, s, _) in rows.items() if t == "validate-order" and s in {"pending", "retrying", "in-flight"}
        },
        "Processed events": {
            i for i, (t, s, _) in rows.items() if t == "validate-order" and s in {"delivered", "failed"}
        },
        "Invocations": {i for i, (t, _, a) in rows.items() if t == "validate-order" and a > 0},
    }
    assert expected["Processed events"] and expected["Invocations"]
    for action in menu.actions()[: len(TRIGGER_VIEWS)]:
        with qtbot.waitSignal(tree.filterRequested, timeout=1000) as blocker:
            action.trigger()
        assert blocker.args == [trigger_view("validate-order", action.text())]
        assert _selected(capture, blocker.args[0]) == expected[action.text()], action.text()
    failed = _selected(capture, trigger_view("restaurant-approval", "Processed events"))
    assert failed == {i for i, (t, _, _) in rows.items() if t == "restaurant-approval"}  # failed for good: processed


def test_trigger_settings_show_the_snapshot_with_secrets_hidden(qtbot: QtBot, tree: SourcesTree) -> None:
    dialog = tree.show_trigger_settings("validate-order")
    assert isinstance(dialog, TriggerSettingsDialog)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(dialog.isVisible, timeout=2000)
    values = {label: shown.text() for label, shown in dialog.values.items()}
    assert values["Webhook"] == "http://localhost:8081/validate-order"
    assert values["Retries"] == "3 (up to 4 attempts)"
    assert values["Retry interval"] == "10 s" and values["Timeout"] == "60 s"
    assert values["Operations"] == "INSERT" and values["Table"] == "public.orders (source default)"
    assert dialog.headers.rowCount() == 1
    assert dialog.headers.item(0, 0).text() == "X-Webhook-Secret" and dialog.headers.item(0, 1).text() == HIDDEN
    assert WEBHOOK_SECRET not in dialog.raw.toPlainText()
    other = tree.show_trigger_settings("restaurant-approval")
    assert other is not None
    qtbot.addWidget(other)
    assert other.values["Webhook"].text() == "from the environment variable APPROVAL_URL"
    assert other.values["Operations"].text() == "UPDATE (payment_valid)"
    assert tree.show_trigger_settings("no-such-trigger") is None
