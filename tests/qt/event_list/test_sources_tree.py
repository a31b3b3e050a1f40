"""The sources tree over a growing capture: after every refresh, its counts are those of a full count, whether the
capture grew by new events, changed statuses or new subscription messages, and through a new reader.

Sync tests only (qtbot): see the pytest-qt + qasync note in the Qt stack reference."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QTreeWidgetItem

from inspector.core.events import EventRecord
from inspector.qt.event_list.sources_tree import SourcesTree
from inspector.store import reader as store_reader
from inspector.store.capture_file import CaptureFile, CaptureWriter
from inspector.store.reader import CaptureReader
from tests.helpers.captures import event_dict

TRIGGERS = ("validate-order", "process-payment", "restaurant-approval", "agent-assignment")


def new_event(i: int, **changes: Any) -> dict[str, Any]:
    event = event_dict(f"6f1c2d3e-{i:04d}-4000-8000-{i:012d}", trigger=TRIGGERS[i % 4], **changes)
    if i % 5 == 0:
        event["table_name"] = "payments"
    return event


def children(parent: QTreeWidgetItem) -> list[QTreeWidgetItem]:
    found = [parent.child(i) for i in range(parent.childCount())]
    return [item for item in found if item is not None]


def rows(parent: QTreeWidgetItem) -> dict[str, tuple[str, str, str]]:
    return {item.text(0): (item.text(1), item.text(2), item.text(3)) for item in children(parent)}


def full_count(path: Path) -> tuple[dict[str, tuple[str, str, str]], dict[str, tuple[str, str, str]], list[str]]:
    """What the tree showed when it grouped the whole capture at every refresh."""
    conn = sqlite3.connect(path)
    try:
        triggers = {
            name: (str(pending), str(done), str(failed))
            for name, pending, done, failed in conn.execute(
                "SELECT trigger_name, sum(status IN ('pending', 'retrying', 'in-flight')), "
                "sum(status = 'delivered'), sum(status = 'failed') FROM events GROUP BY trigger_name"
            )
        }
        tables = {
            str(table): ("", str(n), str(failed))
            for table, n, failed in conn.execute(
                "SELECT table_name, count(*), sum(status = 'failed') FROM events GROUP BY table_name"
            )
        }
        operations = [
            f"{name}|{n}"  # one name per subscription: its operation name, or `subscription N`
            for name, n in conn.execute(
                "SELECT coalesce(o.name, 'subscription ' || o.id), "
                "(SELECT count(*) FROM messages m WHERE m.operation_id = o.id AND m.type IN ('next', 'data')) "
                "FROM operations o ORDER BY o.id"
            )
        ]
    finally:
        conn.close()
    return triggers, tables, operations


def shown(tree: SourcesTree) -> tuple[dict[str, tuple[str, str, str]], dict[str, tuple[str, str, str]], list[str]]:
    operations = [f"{item.text(0)}|{item.text(2)}" for item in children(tree._subscriptions)]
    return rows(tree._triggers), rows(tree._tables), operations


def count_full_counts(tree: SourcesTree) -> list[int]:
    """A list that grows by one each time the tree starts counting the whole capture again."""
    calls: list[int] = []
    counts: Any = tree._counts
    reset = counts._reset

    def counting(*args: Any) -> None:
        calls.append(1)
        reset(*args)

    counts._reset = counting
    return calls


def test_counts_follow_new_events_status_changes_and_messages(qtbot: Any, tmp_path: Path) -> None:
    path = tmp_path / "live.inspector"
    capture = CaptureFile.create(path)
    writer = CaptureWriter(capture)
    tree = SourcesTree()
    qtbot.addWidget(tree)
    full_counts = count_full_counts(tree)
    reader = CaptureReader.open(path)
    try:
        tree.refresh(reader)
        assert shown(tree) == ({}, {}, [])

        first = [new_event(i) for i in range(40)]
        for event in first:
            writer.observe_event(EventRecord.from_hasura(event))
        writer.flush()
        tree.refresh(reader)
        assert shown(tree) == full_count(path)
        assert rows(tree._triggers)["validate-order"] == ("10", "0", "0")

        # some are delivered, some fail, more arrive (some already delivered), a subscription records results
        for event in first[:15]:
            writer.observe_event(EventRecord.from_hasura({**event, "delivered": True, "tries": 1}))
        for event in first[15:20]:
            writer.observe_event(EventRecord.from_hasura({**event, "tries": 1, "next_retry_at": "2024-03-01T12:01"}))
        for i in range(40, 60):
            writer.observe_event(EventRecord.from_hasura(new_event(i, delivered=i % 2 == 0, tries=i % 2)))
        operation = writer.add_operation("orders", "subscription { orders { id } }", None, "subscription", None)
        for n in range(7):
            writer.add_message(operation, 1709294400.0 + n, "next" if n else "connection_ack", "{}")
        writer.flush()
        tree.refresh(reader)
        assert shown(tree) == full_count(path)

        # a retrying event fails, then the same events change again before the next refresh
        for event in first[15:20]:
            writer.observe_event(EventRecord.from_hasura({**event, "tries": 4, "error": True}))
        writer.flush()
        writer.observe_event(EventRecord.from_hasura({**first[15], "tries": 5, "error": False, "delivered": True}))
        writer.add_message(operation, 1709294500.0, "next", "{}")
        writer.flush()
        tree.refresh(reader)
        assert shown(tree) == full_count(path)
        assert rows(tree._triggers)["agent-assignment"][2] != "0"  # event 19 stayed failed

        # nothing new: the same counts; another connection (the window opened the file again): counted afresh
        tree.refresh(reader)
        assert shown(tree) == full_count(path)
        assert len(full_counts) == 1  # the first refresh only: the others read what was written since
        again = CaptureReader.open(path)
        try:
            tree.refresh(again)
            assert shown(tree) == full_count(path)
            assert len(full_counts) == 2
        finally:
            again.close()
    finally:
        reader.close()
        capture.close()


def test_a_change_without_an_earlier_state_is_counted_in_full(qtbot: Any, tmp_path: Path) -> None:
    """Events without state rows (written by another tool) that then change: the tree counts the capture again."""
    path = tmp_path / "imported.inspector"
    capture = CaptureFile.create(path)
    writer = CaptureWriter(capture)
    for i in range(8):
        writer.observe_event(EventRecord.from_hasura(new_event(i)))
    writer.flush()
    with capture.conn:
        capture.conn.execute("DELETE FROM event_states")
    tree = SourcesTree()
    qtbot.addWidget(tree)
    full_counts = count_full_counts(tree)
    reader = CaptureReader.open(path)
    try:
        tree.refresh(reader)
        assert shown(tree) == full_count(path)
        later = CaptureWriter(capture)  # a new session on the same file: it looks the events up in the file
        later.observe_event(EventRecord.from_hasura({**new_event(3), "delivered": True, "tries": 1}))
        later.flush()
        tree.refresh(reader)
        assert shown(tree) == full_count(path)
        assert rows(tree._triggers)["agent-assignment"] == ("1", "1", "0")
        assert len(full_counts) == 2
    finally:
        reader.close()
        capture.close()


def test_a_big_capture_is_counted_in_slices_between_paints(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opening a capture counts one slice at once and the rest from a zero-delay timer; what is written meanwhile
    (new events, changed statuses) is counted too."""
    monkeypatch.setattr(store_reader, "SLICE", 7)
    path = tmp_path / "big.inspector"
    capture = CaptureFile.create(path)
    writer = CaptureWriter(capture)
    events = [new_event(i) for i in range(50)]
    for event in events:
        writer.observe_event(EventRecord.from_hasura(event))
    operation = writer.add_operation("orders", "subscription { orders { id } }", None, "subscription", None)
    for n in range(30):
        writer.add_message(operation, 1709294400.0 + n, "next", "{}")
    writer.flush()
    tree = SourcesTree()
    qtbot.addWidget(tree)
    reader = CaptureReader.open(path)
    try:
        tree.refresh(reader)
        counted = sum(int(done) + int(pending) + int(failed) for pending, done, failed in rows(tree._triggers).values())
        assert counted == 7
        assert not tree._counts.caught_up
        for event in events[:3] + events[40:43]:  # counted and not yet counted events change
            writer.observe_event(EventRecord.from_hasura({**event, "delivered": True, "tries": 1}))
        writer.observe_event(EventRecord.from_hasura(new_event(50)))
        writer.flush()
        qtbot.waitUntil(lambda: tree._counts.caught_up, timeout=5000)
        assert shown(tree) == full_count(path)
    finally:
        reader.close()
        capture.close()
