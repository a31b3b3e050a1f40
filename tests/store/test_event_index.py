"""The event list's index without Qt: filters loaded in steps (slices, an index, a sorted query), keyset pages in a
bounded cache with each row's colouring rule and mark, the live tail (new events, events that came to match), marks
written through the store, lookups, and the predicate an export of the displayed or marked events uses."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from inspector.core.colouring import DEFAULT_RULES, ColourRule
from inspector.core.events import EventRecord, InvocationRecord
from inspector.core.filter import FilterError
from inspector.store import event_index
from inspector.store.capture_file import CaptureFile, CaptureWriter, copy_events
from inspector.store.event_index import (
    ADMIT_LIMIT,
    MAX_PAGES,
    PAGE_SIZE,
    EventIndex,
    FilterRefused,
    MarkFailed,
    export_selection,
)
from tests.helpers.captures import add_rows, build_big_capture, invocation_dict, ok_response
from tests.helpers.event_list import event_id, fail, write_events


@pytest.fixture
def capture(tmp_path: Path) -> Iterator[CaptureFile]:
    capture = CaptureFile.create(tmp_path / "capture.inspector")
    yield capture
    capture.close()


@pytest.fixture
def writer(capture: CaptureFile) -> CaptureWriter:
    return CaptureWriter(capture)


@pytest.fixture
def indexes() -> Iterator[list[EventIndex]]:
    made: list[EventIndex] = []
    yield made
    for index in made:
        index.close()


def load(index: EventIndex, text: str | None = None, sort: tuple[str, bool] | None = None) -> list[int]:
    """Apply a filter (and sort) and load every matching seq, as the model does over its timer."""
    if text is not None:
        index.filter = index.compile(text)
    index.sort = sort
    index.start()
    first = True
    while index.loading:
        step = index.step(3600.0, first=first)
        first = False
        assert step.error is None
        index.append(step.found)
    return index.seqs.tolist()


def open_index(indexes: list[EventIndex], path: Path, rules: list[ColourRule] | None = None) -> EventIndex:
    index = EventIndex(path)
    indexes.append(index)
    index.set_rules(DEFAULT_RULES if rules is None else rules)
    load(index)
    return index


# --- opening ---------------------------------------------------------------------------------------------------------


def test_a_missing_file_or_a_database_that_is_not_a_capture_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        EventIndex(tmp_path / "missing.inspector")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(event_index.CaptureFormatError):
        EventIndex(other)


# --- filters ---------------------------------------------------------------------------------------------------------


def test_a_filter_narrows_the_seqs_in_capture_order_and_bad_ones_are_refused(
    capture: CaptureFile, writer: CaptureWriter, indexes: list[EventIndex]
) -> None:
    events = write_events(writer, range(1, 101))
    fail(writer, events[10])
    fail(writer, events[60])
    index = open_index(indexes, capture.path)
    assert index.seqs.tolist() == list(range(1, 101)) and not index.loading
    assert load(index, 'status == "failed"') == [11, 61]
    assert [index.row(r).id for r in range(2)] == [events[10]["id"], events[60]["id"]]  # type: ignore[union-attr]
    assert load(index, "trigger == validate-order") == list(range(4, 101, 4))
    with pytest.raises(FilterError) as failed:
        index.compile("trigger === x")
    assert 0 <= failed.value.start <= failed.value.end <= len("trigger === x")
    assert index.compile("") is None
    assert load(index, "") == list(range(1, 101))


def test_a_filter_sqlite_refuses_on_this_file_is_reported(
    capture: CaptureFile, writer: CaptureWriter, indexes: list[EventIndex]
) -> None:
    write_events(writer, range(1, 4))
    with capture.conn:
        capture.conn.execute("ALTER TABLE events DROP COLUMN flags")  # a file without it: `flags` cannot run
    index = open_index(indexes, capture.path)
    with pytest.raises(FilterRefused, match="cannot run this filter"):
        index.compile('flags contains "out-of-order"')
    assert index.row(0) is not None and index.row(0).flags is None  # type: ignore[union-attr]


def test_a_large_filter_loads_in_steps_the_first_one_a_screenful(tmp_path: Path, indexes: list[EventIndex]) -> None:
    path = build_big_capture(tmp_path / "big.inspector", 60_000)
    index = open_index(indexes, path)
    index.filter = index.compile("data.new.restaurant_id == 3")
    index.start()
    first = index.step(event_index.FIRST_STEP_BUDGET, first=True)
    index.append(first.found)
    assert not first.done and 0 < len(first.found) < 1200 and index.loading
    steps = 0
    while index.loading:
        step = index.step(0.0001)  # small steps: a slice or so each
        index.append(step.found)
        steps += 1
    assert steps > 1 and len(index.seqs) == 1200
    assert index.seqs.tolist() == sorted(index.seqs)


@pytest.mark.parametrize(
    ("probe", "rows", "collect"),
    [(0.0, -1, 0.0), (0.0, -1, 10.0), (10.0, -1, 10.0), (10.0, 4096, 10.0)],
    ids=[
        "first-screen-then-index-in-steps",
        "first-screen-then-index-at-once",
        "index-at-once",
        "too-many-for-the-probe-then-index-at-once",
    ],
)
def test_a_filter_sqlite_answers_from_an_index_loads_in_capture_order(
    tmp_path: Path,
    indexes: list[EventIndex],
    monkeypatch: pytest.MonkeyPatch,
    probe: float,
    rows: int,
    collect: float,
) -> None:
    monkeypatch.setattr(event_index, "_PROBE_BUDGET", probe)
    monkeypatch.setattr(event_index, "_PROBE_ROWS", rows)  # -1: the probe's budget alone decides
    monkeypatch.setattr(event_index, "_COLLECT_BUDGET", collect)
    path = build_big_capture(tmp_path / "big.inspector", 60_000)
    index = open_index(indexes, path)
    index.filter = index.compile('trigger == "validate-order"')
    index.start()
    first = index.step(event_index.FIRST_STEP_BUDGET, first=True)
    index.append(first.found)
    assert len(index.seqs) >= PAGE_SIZE  # a first screenful at once, either way
    assert index.loading == (probe == 0.0 or rows != -1)  # 15,000 matches: more than 4,096
    while index.loading:
        index.append(index.step(3600.0).found)
    assert index.seqs.tolist() == list(range(4, 60_001, 4))
    index.filter = index.compile('id == "00000010-0000-4000-8000-000000000016"')
    index.start()
    index.append(index.step(event_index.FIRST_STEP_BUDGET, first=True).found)
    if probe:  # a lookup by an indexed field is answered in the first step
        assert not index.loading
    while index.loading:
        index.append(index.step(3600.0).found)
    assert index.seqs.tolist() == [16]


def test_a_capture_with_gaps_in_its_numbers_is_read_by_slices(tmp_path: Path, indexes: list[EventIndex]) -> None:
    path = build_big_capture(tmp_path / "gaps.inspector", 3000)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("DELETE FROM events WHERE seq % 7 = 0 OR seq < 10")
    conn.close()
    index = open_index(indexes, path)
    expected = [seq for seq in range(10, 3001) if seq % 7]
    assert index.seqs.tolist() == expected
    assert index.row(0) is not None and index.row(0).seq == 10  # type: ignore[union-attr]
    add_rows(path, 3001, 3003)
    change = index.refresh()
    assert change is not None and change.new == [3001, 3002, 3003]


# --- sorting ---------------------------------------------------------------------------------------------------------


def test_sorting_by_a_column_and_back_to_capture_order(
    capture: CaptureFile, writer: CaptureWriter, indexes: list[EventIndex]
) -> None:
    events = write_events(writer, range(1, 9))
    fail(writer, events[5])
    index = open_index(indexes, capture.path)
    assert load(index, sort=("status", False))[0] == 6
    assert index.row_for_event_id(events[5]["id"]) == 0
    assert load(index, sort=("no", True)) == list(range(8, 0, -1))
    assert load(index, sort=("latency", True))[0] == 6  # the only event with an attempt
    assert load(index, sort=None) == list(range(1, 9))
    assert set(event_index.SORT_SQL) >= {"no", "time", "status", "latency", "table"}


# --- pages -----------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_200k_capture_pages_through_a_bounded_cache(tmp_path: Path, indexes: list[EventIndex]) -> None:
    path = build_big_capture(tmp_path / "big.inspector", 200_000)
    index = EventIndex(path)
    indexes.append(index)
    index.start()
    assert not index.loading and len(index.seqs) == 200_000 and index.cached_pages == 0  # no row read to open it
    last = index.row(199_999)
    assert last is not None and last.id == "00030d40-0000-4000-8000-000000200000" and last.seq == 200_000
    assert index.cached_pages == 1
    for row in range(0, 200_000, PAGE_SIZE * 7):
        assert index.row(row) is not None
    assert index.cached_pages == MAX_PAGES
    assert load(index, "data.new.restaurant_id == 7")[-1] == 199_957
    assert len(index.seqs) == 4000 and index.cached_pages == 0


def test_rows_carry_their_colouring_rule_and_rules_this_file_cannot_run_are_left_out(
    capture: CaptureFile, writer: CaptureWriter, indexes: list[EventIndex]
) -> None:
    events = write_events(writer, range(1, 6))
    fail(writer, events[0])
    index = open_index(indexes, capture.path)
    failed = index.row(0)
    assert failed is not None and index.compiled_rules.rule_at(failed.rule) == DEFAULT_RULES[0]
    assert set(index.rule_errors) <= {"Duplicate delivery", "Out of order"}
    compiled = index.set_rules(
        [
            ColourRule("Unknown", "no_such_field > 1", "#FF0000", "#000000"),
            ColourRule("Validate", 'trigger == "validate-order"', "#00FF00", "#000000"),
            ColourRule("Off", "status == failed", "#0000FF", "#FFFFFF", enabled=False),
        ]
    )
    assert set(index.rule_errors) == {"Unknown"} and [r.name for r in compiled.rules] == ["Validate"]
    assert index.cached_pages == 0  # read again with the new rules
    assert index.row(0).rule is None  # type: ignore[union-attr]
    assert compiled.rule_at(index.row(3).rule).name == "Validate"  # type: ignore[union-attr]


# --- marks -----------------------------------------------------------------------------------------------------------


def test_marks_are_written_through_the_index(
    capture: CaptureFile, writer: CaptureWriter, indexes: list[EventIndex]
) -> None:
    events = write_events(writer, range(1, 6))
    index = open_index(indexes, capture.path)
    assert index.row(2).marked == 0  # type: ignore[union-attr]
    index.set_mark(events[2]["id"], True)
    index.set_mark(events[2]["id"], True)  # twice: one mark
    assert sqlite3.connect(capture.path).execute("SELECT kind, target FROM marks").fetchall() == [
        ("event", events[2]["id"])
    ]
    assert index.row(2).marked == 0  # type: ignore[union-attr]  # the cached page, until forgotten
    index.forget_page_of(2)
    assert index.row(2).marked == 1  # type: ignore[union-attr]
    assert capture.reader().marked_event_ids() == [events[2]["id"]]
    index.set_mark(events[2]["id"], False)
    assert sqlite3.connect(capture.path).execute("SELECT count(*) FROM marks").fetchone() == (0,)


def test_a_mark_that_cannot_be_written_fails_with_the_reason(
    capture: CaptureFile, writer: CaptureWriter, indexes: list[EventIndex]
) -> None:
    events = write_events(writer, range(1, 3))
    index = open_index(indexes, capture.path)
    index._conn.execute("PRAGMA busy_timeout = 0")  # fail at once instead of after 5 s
    blocker = sqlite3.connect(capture.path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another writer holds the file (a locked file, as a read-only one, refuses)
    try:
        with pytest.raises(MarkFailed, match="could not mark the event"):
            index.set_mark(events[0]["id"], True)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    index.set_mark(events[0]["id"], True)  # and works once the file is free
    assert capture.reader().marked_event_ids() == [events[0]["id"]]


# --- lookups ---------------------------------------------------------------------------------------------------------


def test_lookups_by_event_id_seq_and_row(
    capture: CaptureFile, writer: CaptureWriter, indexes: list[EventIndex]
) -> None:
    events = write_events(writer, range(1, 21))
    index = open_index(indexes, capture.path)
    assert index.row_for_event_id(events[7]["id"]) == 7
    assert index.row_for_event_id("no-such-event") is None
    row = index.event(8)
    assert row is not None and row["id"] == events[7]["id"] and '"order_id"' in row["payload"]
    assert index.event(999) is None
    load(index, 'trigger == "validate-order"')
    assert index.row_for_event_id(events[7]["id"]) == 1  # events 4 and 8 are validate-order
    assert index.row_for_event_id(events[6]["id"]) is None
    assert index.seq_at(1) == 8 and index.seq_at(50) is None and index.row(50) is None
    assert index.first_ts is not None


# --- live tail -------------------------------------------------------------------------------------------------------


def test_the_tail_reports_new_events_and_events_that_came_to_match(
    capture: CaptureFile, writer: CaptureWriter, indexes: list[EventIndex]
) -> None:
    events = write_events(writer, range(1, 21))
    index = open_index(indexes, capture.path)
    assert index.refresh() is None  # nothing committed since it read the file
    load(index, 'status == "failed"')
    assert index.seqs.tolist() == []
    more = write_events(writer, range(21, 25))
    fail(writer, more[1])  # a new event that failed
    fail(writer, events[5])  # an old one that failed since
    change = index.refresh()
    assert change is not None and not change.reload
    assert change.came_to_match == [6] and change.new == [22]
    for seq in change.came_to_match:
        index.insert(index.position_for(seq), seq)
    index.append(change.new)
    assert index.seqs.tolist() == [6, 22]
    assert index.refresh() is None


def test_too_many_events_that_came_to_match_ask_for_a_reload(
    capture: CaptureFile, writer: CaptureWriter, indexes: list[EventIndex], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(event_index, "ADMIT_LIMIT", 2)
    events = write_events(writer, range(1, 6))
    index = open_index(indexes, capture.path)
    load(index, 'status == "failed"')
    for event in events[:3]:
        fail(writer, event)
    change = index.refresh()
    assert change is not None and change.reload and len(change.came_to_match) == 3 > event_index.ADMIT_LIMIT
    assert ADMIT_LIMIT == 2000


def test_refresh_waits_while_a_filter_loads_and_takes_the_rest_afterwards(
    tmp_path: Path, indexes: list[EventIndex]
) -> None:
    path = build_big_capture(tmp_path / "big.inspector", 20_000)
    index = EventIndex(path)
    indexes.append(index)
    index.filter = index.compile("data.new.restaurant_id < 49")
    index.start()
    index.append(index.step(event_index.FIRST_STEP_BUDGET, first=True).found)
    assert index.loading
    add_rows(path, 20_001, 20_008)
    assert index.refresh() is None
    while index.loading:
        index.append(index.step(3600.0).found)
    assert len(index.seqs) == 19_600
    change = index.refresh()
    assert change is not None and len(change.new) == 8 and change.new[-1] == 20_008


def test_a_closed_index_shows_nothing(capture: CaptureFile, writer: CaptureWriter) -> None:
    write_events(writer, range(1, 4))
    index = EventIndex(capture.path)
    load(index)
    index.close()
    assert index.closed and len(index.seqs) == 0 and index.row(0) is None
    assert index.refresh() is None and index.row_for_event_id(event_id(1)) is None and index.event(1) is None
    index.close()  # twice: nothing


# --- exports ---------------------------------------------------------------------------------------------------------


def test_export_selection_chooses_the_displayed_or_the_marked_events(
    tmp_path: Path, capture: CaptureFile, writer: CaptureWriter, indexes: list[EventIndex]
) -> None:
    events = write_events(writer, range(1, 9))
    index = open_index(indexes, capture.path)
    index.set_mark(events[1]["id"], True)
    where, params = export_selection('trigger == "validate-order"', marked=False)
    assert copy_events(capture.path, tmp_path / "displayed.inspector", where, params) == 2
    where, params = export_selection("anything, ignored", marked=True)
    assert copy_events(capture.path, tmp_path / "marked.inspector", where, params) == 1
    with pytest.raises(FilterError):
        export_selection("trigger ===", marked=False)


def test_ok_response_helper_is_a_2xx(capture: CaptureFile, writer: CaptureWriter, indexes: list[EventIndex]) -> None:
    """A delivered event is counted by the index's row as one success (the figures the tooltip shows)."""
    (event,) = write_events(writer, range(1, 2))
    writer.observe_invocation(
        InvocationRecord.from_hasura(invocation_dict("inv-ok", event, 200, ok_response(), event["created_at"]))
    )
    writer.observe_event(EventRecord.from_hasura({**event, "tries": 1, "delivered": True}))
    writer.flush()
    index = open_index(indexes, capture.path)
    row = index.row(0)
    assert row is not None and row.successes == 1 and row.last_http_status == 200 and row.status == "delivered"
