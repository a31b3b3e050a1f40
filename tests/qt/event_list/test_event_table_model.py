"""The event list model over real capture files: Qt's model tester, filters, the live tail, colouring, marks, columns,
sorting, following in a real (offscreen) table view, and a 200,000-event capture read without loading its rows.

Sync tests only (qtbot and qtmodeltester): see the pytest-qt + qasync note in the Qt stack reference."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QTableView

from inspector.core.colouring import DEFAULT_RULES, ColourRule
from inspector.core.events import timestamp_seconds
from inspector.qt.event_list.event_table_model import (
    COLUMNS,
    DEFAULT_COLUMNS,
    MAX_PAGES,
    PAGE_SIZE,
    EventTableModel,
    LiveTail,
)
from inspector.qt.roles import EVENT_ID_ROLE, MARKED_ROLE, ROW_ROLE, RULE_ROLE, SEQ_ROLE
from inspector.store import event_index
from inspector.store.capture_file import CaptureFile, CaptureWriter
from tests.helpers.captures import add_rows, build_big_capture
from tests.helpers.event_list import TRIGGERS, created_at, deliver, event_id, fail, write_events


@pytest.fixture
def capture(tmp_path: Path) -> Iterator[CaptureFile]:
    capture = CaptureFile.create(tmp_path / "capture.inspector")
    yield capture
    capture.close()


@pytest.fixture
def writer(capture: CaptureFile) -> CaptureWriter:
    return CaptureWriter(capture)


@pytest.fixture
def models() -> Iterator[list[EventTableModel]]:
    """Models made by a test, closed afterwards (their connections would otherwise outlive the temp dir)."""
    made: list[EventTableModel] = []
    yield made
    for model in made:
        model.close()


def open_model(models: list[EventTableModel], path: Path, **kwargs: Any) -> EventTableModel:
    model = EventTableModel(path, **kwargs)
    models.append(model)
    model.finish_loading()
    return model


def column_texts(model: EventTableModel, key: str) -> list[str]:
    c = model.columns.index(key)
    return [model.data(model.index(r, c)) for r in range(model.rowCount())]


# --- Qt's contract ---------------------------------------------------------------------------------------------------


def test_the_model_passes_qts_model_tester_with_and_without_a_filter(
    qtmodeltester: Any, capture: CaptureFile, writer: CaptureWriter, models: list[EventTableModel]
) -> None:
    events = write_events(writer, range(1, 41))
    fail(writer, events[4])
    model = open_model(models, capture.path, columns=list(COLUMNS))
    assert model.rowCount() == 40 and model.columnCount() == len(COLUMNS)
    qtmodeltester.check(model)
    assert model.set_filter('trigger == "validate-order"')
    model.finish_loading()
    assert model.rowCount() == 10
    qtmodeltester.check(model)


# --- filters ---------------------------------------------------------------------------------------------------------


def test_a_filter_narrows_the_rows_to_matching_events_in_capture_order(
    qtbot: Any, capture: CaptureFile, writer: CaptureWriter, models: list[EventTableModel]
) -> None:
    events = write_events(writer, range(1, 101))
    fail(writer, events[10])
    fail(writer, events[60])
    model = open_model(models, capture.path)
    assert model.rowCount() == 100 and not model.loading
    with qtbot.waitSignal(model.filterApplied, timeout=5000) as applied:
        assert model.set_filter('status == "failed"')
    assert applied.args == [2]
    assert model.filter_text == 'status == "failed"'
    assert [model.event_id_at(r) for r in range(2)] == [events[10]["id"], events[60]["id"]]
    assert model.data(model.index(1, 0), SEQ_ROLE) == 61
    with qtbot.waitSignal(model.filterApplied, timeout=5000) as applied:
        model.set_filter("")
    assert applied.args == [100] and model.rowCount() == 100


def test_a_bad_filter_emits_filter_failed_and_keeps_the_rows(
    qtbot: Any, capture: CaptureFile, writer: CaptureWriter, models: list[EventTableModel]
) -> None:
    write_events(writer, range(1, 21))
    model = open_model(models, capture.path)
    model.set_filter("trigger == validate-order")
    model.finish_loading()
    assert model.rowCount() == 5
    with (
        qtbot.waitSignal(model.filterFailed, timeout=1000) as failed,
        qtbot.assertNotEmitted(model.modelAboutToBeReset),
    ):
        assert not model.set_filter("trigger === x")
    message, start, end = failed.args
    assert isinstance(message, str) and message and 0 <= start <= end <= len("trigger === x")
    assert model.rowCount() == 5 and model.filter_text == "trigger == validate-order"


def test_a_large_filter_loads_in_steps_with_progress_then_applied(
    qtbot: Any, tmp_path: Path, models: list[EventTableModel]
) -> None:
    path = build_big_capture(tmp_path / "big.inspector", 60_000)
    model = open_model(models, path)
    seen: list[tuple[str, tuple[Any, ...]]] = []
    model.rowsLoaded.connect(lambda *args: seen.append(("rowsLoaded", args)))
    model.filterApplied.connect(lambda *args: seen.append(("filterApplied", args)))
    model.loadingChanged.connect(lambda *args: seen.append(("loadingChanged", args)))
    with qtbot.waitSignal(model.filterApplied, timeout=20000):
        model.set_filter("data.new.restaurant_id == 3")
        assert model.loading and 0 < model.rowCount() < 1200  # the first rows, before the rest are read
        assert model.data(model.index(0, 0), EVENT_ID_ROLE) is not None
    assert model.rowCount() == 1200  # every 50th event
    assert seen[0] == ("loadingChanged", (True,))
    assert seen[-3:] == [("loadingChanged", (False,)), ("rowsLoaded", (1200, 1200)), ("filterApplied", (1200,))]
    progress = [args for name, args in seen if name == "rowsLoaded"][:-1]
    assert progress and all(total == -1 for _, total in progress)
    assert [loaded for loaded, _ in progress] == sorted(loaded for loaded, _ in progress)


# --- live tail -------------------------------------------------------------------------------------------------------


def test_refresh_appends_exactly_the_new_rows_in_one_batch_and_updates_statuses_in_place(
    qtbot: Any, capture: CaptureFile, writer: CaptureWriter, models: list[EventTableModel]
) -> None:
    events = write_events(writer, range(1, 11))
    model = open_model(models, capture.path)
    assert column_texts(model, "status") == ["pending"] * 10
    assert not model.refresh()  # nothing committed since the model read the file
    inserted: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda _parent, first, last: inserted.append((first, last)))
    changed: list[tuple[int, int]] = []
    model.dataChanged.connect(lambda top, bottom, _roles: changed.append((top.row(), bottom.row())))

    write_events(writer, range(11, 16))
    deliver(writer, events[2], "2024-03-01T12:00:03.750000")
    assert model.refresh()
    assert inserted == [(10, 14)]
    assert model.rowCount() == 15
    assert [model.event_id_at(r) for r in range(10, 15)] == [event_id(i) for i in range(11, 16)]
    assert changed == [(0, 9)]  # the rows read before: all in the one cached page
    assert model.data(model.index(2, model.columns.index("status"))) == "delivered"
    assert model.data(model.index(2, model.columns.index("latency"))) == "500"
    assert model.data(model.index(2, model.columns.index("http_status"))) == "200"
    assert not model.refresh()
    assert inserted == [(10, 14)]


def test_the_tail_keeps_the_filter_and_takes_events_that_came_to_match(
    capture: CaptureFile, writer: CaptureWriter, models: list[EventTableModel]
) -> None:
    events = write_events(writer, range(1, 21))
    model = open_model(models, capture.path)
    model.set_filter('status == "failed"')
    model.finish_loading()
    assert model.rowCount() == 0
    more = write_events(writer, range(21, 25))
    fail(writer, more[1])  # a new event that failed
    fail(writer, events[5])  # an old one that failed since
    assert model.refresh()
    assert [model.event_id_at(r) for r in range(model.rowCount())] == [events[5]["id"], more[1]["id"]]


def test_refresh_waits_while_a_filter_loads_and_takes_the_rest_afterwards(
    tmp_path: Path, models: list[EventTableModel]
) -> None:
    path = build_big_capture(tmp_path / "big.inspector", 20_000)
    model = EventTableModel(path)
    models.append(model)
    model.set_filter("data.new.restaurant_id < 49")  # read by slices of the table: the first ones now
    assert model.loading
    add_rows(path, 20_001, 20_008)
    assert not model.refresh()
    model.finish_loading()
    assert model.rowCount() == 19_600
    assert model.refresh()
    assert model.rowCount() == 19_608
    assert model.seq_at(model.rowCount() - 1) == 20_008


# --- colouring -------------------------------------------------------------------------------------------------------


def test_a_failed_event_gets_the_failed_rules_colours_and_name(
    capture: CaptureFile, writer: CaptureWriter, models: list[EventTableModel]
) -> None:
    events = write_events(writer, range(1, 6))
    fail(writer, events[1], attempts=2)
    deliver(writer, events[3], "2024-03-01T12:00:09.000000")
    model = open_model(models, capture.path)
    model.set_dark_palette(False)
    failed_rule = DEFAULT_RULES[0]
    assert failed_rule.name == "Failed"
    index = model.index(1, 0)
    assert model.data(index, RULE_ROLE) == "Failed"  # not "Retried": the first matching rule wins
    assert model.data(index, Qt.ItemDataRole.BackgroundRole) == QColor(failed_rule.background)
    assert model.data(index, Qt.ItemDataRole.ForegroundRole) == QColor(failed_rule.foreground)
    assert "Colouring rule: Failed" in model.data(index, Qt.ItemDataRole.ToolTipRole)
    model.set_dark_palette(True)
    assert model.data(index, Qt.ItemDataRole.BackgroundRole) == QColor(failed_rule.colours(True)[0])
    assert model.data(model.index(3, 0), RULE_ROLE) == "Slow"  # delivered 4.75 s after creation
    assert model.data(model.index(0, 0), RULE_ROLE) == "Pending"
    assert model.data(model.index(2, 0), Qt.ItemDataRole.BackgroundRole) == QColor(DEFAULT_RULES[-1].colours(True)[0])


def test_rules_are_replaceable_and_a_rule_the_capture_cannot_run_is_left_out(
    qtbot: Any, capture: CaptureFile, writer: CaptureWriter, models: list[EventTableModel]
) -> None:
    events = write_events(writer, range(1, 6))
    fail(writer, events[0])
    model = open_model(models, capture.path)
    with qtbot.waitSignal(model.dataChanged, timeout=1000):
        model.set_rules(
            [
                ColourRule("Unknown", "no_such_field > 1", "#FF0000", "#000000"),
                ColourRule("Validate", 'trigger == "validate-order"', "#00FF00", "#000000"),
                ColourRule("Off", "status == failed", "#0000FF", "#FFFFFF", enabled=False),
            ]
        )
    assert set(model.rule_errors) == {"Unknown"}
    assert model.data(model.index(0, 0), RULE_ROLE) is None  # event 1: process-payment, failed (its rule is off)
    assert model.data(model.index(3, 0), RULE_ROLE) == "Validate"
    assert model.data(model.index(3, 0), Qt.ItemDataRole.BackgroundRole) == QColor("#00FF00")
    assert model.data(model.index(0, 0), Qt.ItemDataRole.BackgroundRole) is None


def test_the_default_rules_run_or_are_reported_never_crash(
    capture: CaptureFile, writer: CaptureWriter, models: list[EventTableModel]
) -> None:
    write_events(writer, range(1, 3))
    model = open_model(models, capture.path)
    enabled = {rule.name for rule in DEFAULT_RULES if rule.enabled}
    # Rules on fields the filter language may not have yet (successes, flags) are reported, the others colour.
    assert set(model.rule_errors) <= {"Duplicate delivery", "Out of order"}
    assert {"Failed", "Retried", "Slow", "Pending"} <= enabled - set(model.rule_errors)
    assert model.data(model.index(0, 0), RULE_ROLE) == "Pending"


# --- marks, lookups, columns -----------------------------------------------------------------------------------------


def test_toggle_mark_writes_the_marks_table_and_shows_at_once(
    qtbot: Any, capture: CaptureFile, writer: CaptureWriter, models: list[EventTableModel]
) -> None:
    events = write_events(writer, range(1, 6))
    model = open_model(models, capture.path)
    assert model.data(model.index(2, 0), MARKED_ROLE) is False
    with qtbot.waitSignal(model.markToggled) as toggled, qtbot.waitSignal(model.dataChanged):
        assert model.toggle_mark(2) is True
    assert toggled.args == [events[2]["id"], True]
    assert model.data(model.index(2, 3), MARKED_ROLE) is True
    assert model.data(model.index(2, 3), Qt.ItemDataRole.BackgroundRole) is not None
    marks = sqlite3.connect(capture.path).execute("SELECT kind, target FROM marks").fetchall()
    assert marks == [("event", events[2]["id"])]
    assert model.toggle_mark(2) is False
    assert sqlite3.connect(capture.path).execute("SELECT count(*) FROM marks").fetchone() == (0,)
    assert model.toggle_mark(99) is None


def test_lookups_by_event_id_and_row(
    capture: CaptureFile, writer: CaptureWriter, models: list[EventTableModel]
) -> None:
    events = write_events(writer, range(1, 21))
    model = open_model(models, capture.path)
    assert model.row_for_event_id(events[7]["id"]) == 7
    assert model.event_id_at(7) == events[7]["id"]
    assert model.row_for_event_id("no-such-event") is None
    row = model.data(model.index(7, 0), ROW_ROLE)
    assert row["id"] == events[7]["id"] and '"order_id"' in row["payload"]
    model.set_filter('trigger == "validate-order"')
    model.finish_loading()
    assert model.row_for_event_id(events[7]["id"]) == 1  # events 4 and 8 are validate-order
    assert model.row_for_event_id(events[6]["id"]) is None
    assert model.event_id_at(50) is None


def test_columns_render_configure_and_align(
    qtbot: Any, capture: CaptureFile, writer: CaptureWriter, models: list[EventTableModel]
) -> None:
    events = write_events(writer, range(1, 4))
    deliver(writer, events[0], "2024-03-01T12:00:01.500000")
    model = open_model(models, capture.path)
    assert model.columns == list(DEFAULT_COLUMNS)
    assert "trace_id" not in model.columns and "id" not in model.columns
    headers = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    assert headers[:3] == ["No.", "Time", "Relative"]
    first_ts = timestamp_seconds(created_at(1))
    assert first_ts is not None
    local = datetime.fromtimestamp(first_ts).strftime("%H:%M:%S.%f")[:-3]
    assert column_texts(model, "time")[0] == local
    assert column_texts(model, "relative") == ["0.000", "1.000", "2.000"]
    assert column_texts(model, "latency") == ["250", "", ""]
    assert column_texts(model, "no") == ["1", "2", "3"]
    assert column_texts(model, "trigger") == [TRIGGERS[1], TRIGGERS[2], TRIGGERS[3]]
    assert column_texts(model, "table") == ["orders"] * 3
    tries = model.columns.index("tries")
    assert model.data(model.index(0, tries), Qt.ItemDataRole.TextAlignmentRole) & Qt.AlignmentFlag.AlignRight
    trigger = model.columns.index("trigger")
    assert model.data(model.index(0, trigger), Qt.ItemDataRole.TextAlignmentRole) & Qt.AlignmentFlag.AlignLeft

    with qtbot.waitSignal(model.dataChanged) as changed:
        model.set_reference_time(first_ts + 1.5)
    assert changed.args[0].column() == model.columns.index("relative")
    assert column_texts(model, "relative") == ["-1.500", "-0.500", "0.500"]
    model.set_reference_time(None)

    model.set_columns(["id", "status", "nonsense", "trace_id"])
    assert model.columns == ["id", "status", "trace_id"] and model.columnCount() == 3
    assert column_texts(model, "id") == [e["id"] for e in events]
    assert column_texts(model, "trace_id") == ["4bf92f3577b34da6"] * 3
    model.set_columns([])
    assert model.columns == list(DEFAULT_COLUMNS)


def test_sorting_by_a_column_and_back_to_capture_order(
    capture: CaptureFile, writer: CaptureWriter, models: list[EventTableModel]
) -> None:
    events = write_events(writer, range(1, 9))
    fail(writer, events[5])
    model = open_model(models, capture.path)
    status = model.columns.index("status")
    model.sort(status, Qt.SortOrder.AscendingOrder)
    model.finish_loading()
    assert column_texts(model, "status") == ["failed"] + ["pending"] * 7
    assert model.row_for_event_id(events[5]["id"]) == 0
    model.sort(model.columns.index("no"), Qt.SortOrder.DescendingOrder)
    model.finish_loading()
    assert column_texts(model, "no") == [str(i) for i in range(8, 0, -1)]
    model.sort(model.columns.index("no"), Qt.SortOrder.AscendingOrder)
    assert not model.loading
    assert column_texts(model, "no") == [str(i) for i in range(1, 9)]


# --- following in a view ---------------------------------------------------------------------------------------------


def test_live_tail_follows_until_the_user_scrolls_up_and_again_at_the_bottom(
    qtbot: Any, capture: CaptureFile, writer: CaptureWriter, models: list[EventTableModel]
) -> None:
    write_events(writer, range(1, 201))
    model = open_model(models, capture.path)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(600, 300)
    view.show()
    qtbot.waitExposed(view)
    tail = LiveTail(view, model)
    bar = view.verticalScrollBar()
    assert tail.following

    write_events(writer, range(201, 211))
    model.refresh()
    assert bar.maximum() > 0 and bar.value() == bar.maximum()
    assert view.rowAt(view.viewport().height() - 2) == model.rowCount() - 1

    half, maximum = bar.maximum() // 2, bar.maximum()
    with qtbot.waitSignal(tail.followingChanged) as changed:
        bar.setValue(half)  # the user scrolls up
    assert changed.args == [False] and not tail.following
    write_events(writer, range(211, 221))
    model.refresh()
    assert model.rowCount() == 220
    qtbot.waitUntil(lambda: bar.maximum() > maximum)
    assert bar.value() == half  # left where the user put it

    with qtbot.waitSignal(tail.followingChanged) as changed:
        bar.setValue(bar.maximum())  # back at the bottom
    assert changed.args == [True]
    write_events(writer, range(221, 231))
    model.refresh()
    assert bar.value() == bar.maximum()
    tail.set_following(False)
    assert not tail.following


# --- a big capture ---------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_200k_capture_opens_and_scrolls_with_a_bounded_cache(tmp_path: Path, models: list[EventTableModel]) -> None:
    path = build_big_capture(tmp_path / "big.inspector", 200_000)
    model = EventTableModel(path)
    models.append(model)
    assert not model.loading and model.rowCount() == 200_000 and model.cached_pages == 0
    assert model.data(model.index(199_999, 0)) == "200000"
    assert model.data(model.index(199_999, 0), EVENT_ID_ROLE) == "00030d40-0000-4000-8000-000000200000"
    assert model.cached_pages == 1
    for row in range(0, 200_000, PAGE_SIZE * 7):  # jump around the whole list, as a dragged scroll bar does
        assert model.data(model.index(row, 1)) is not None
    assert model.cached_pages == MAX_PAGES
    assert model.rowCount(QModelIndex()) == 200_000
    assert model.set_filter("data.new.restaurant_id == 7")
    model.finish_loading()
    assert model.rowCount() == 4000 and model.cached_pages == 0
    assert model.data(model.index(3999, 0)) == "199957"


@pytest.mark.parametrize("probe", [0.0, 10.0], ids=["first-screen-then-index", "index-at-once"])
def test_a_filter_sqlite_answers_from_an_index_loads_in_capture_order(
    tmp_path: Path, models: list[EventTableModel], monkeypatch: pytest.MonkeyPatch, probe: float
) -> None:
    monkeypatch.setattr(event_index, "_PROBE_BUDGET", probe)
    monkeypatch.setattr(event_index, "_PROBE_ROWS", -1)  # the probe's budget alone decides
    path = build_big_capture(tmp_path / "big.inspector", 60_000)
    model = open_model(models, path)
    model.set_filter('trigger == "validate-order"')
    assert model.rowCount() >= PAGE_SIZE  # a first screenful at once, either way
    assert model.loading == (probe == 0.0)
    model.finish_loading()
    seqs = [model.seq_at(r) for r in range(model.rowCount())]
    assert seqs == list(range(4, 60_001, 4))
    model.set_filter('id == "00000010-0000-4000-8000-000000000016"')
    if probe:  # a lookup by an indexed field is answered inside set_filter
        assert not model.loading
    model.finish_loading()
    assert model.rowCount() == 1 and model.seq_at(0) == 16


def test_a_capture_with_gaps_in_its_numbers_is_read_by_slices(tmp_path: Path, models: list[EventTableModel]) -> None:
    path = build_big_capture(tmp_path / "gaps.inspector", 3000)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("DELETE FROM events WHERE seq % 7 = 0 OR seq < 10")
    conn.close()
    model = open_model(models, path)
    expected = [seq for seq in range(10, 3001) if seq % 7]
    assert [model.seq_at(r) for r in range(model.rowCount())] == expected
    assert model.data(model.index(0, 0)) == "10"
    add_rows(path, 3001, 3003)
    assert model.refresh()
    assert model.rowCount() == len(expected) + 3


def test_numbers_are_capture_order_and_time_sorts_by_creation(
    qtbot: Any, capture: CaptureFile, writer: CaptureWriter, models: list[EventTableModel]
) -> None:
    """Issue 14.9: "No." is the order the capture read events in (Wireshark's frame numbers), so older events read in
    later run backwards in it; the column's tooltip says so, and sorting by Time gives creation order."""
    newer = write_events(writer, range(20, 25))
    older = write_events(writer, range(1, 6))  # a backlog read after them
    model = open_model(models, capture.path)
    number = model.columns.index("no")
    assert [model.event_id_at(r) for r in range(10)] == [e["id"] for e in (*newer, *older)]
    assert [model.data(model.index(r, number)) for r in range(10)] == [str(n) for n in range(1, 11)]
    tooltip = model.headerData(number, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole)
    assert "order Inspector read it in" in tooltip and "sort by Time" in tooltip
    with qtbot.waitSignal(model.filterApplied, timeout=5000):
        model.sort(model.columns.index("time"), Qt.SortOrder.AscendingOrder)
    assert [model.event_id_at(r) for r in range(10)] == [e["id"] for e in (*older, *newer)]
