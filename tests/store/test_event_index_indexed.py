"""The event list's indexed filters (`store.event_index`, whose statement for all of a big filter's seqs runs on a
second connection, `store.seq_collector`): on a real capture file of a few thousand events, every way such a filter
loads gives exactly the seqs plain SQL selects, in capture order, with the seq range cut where loading started, and
the live tail takes the rest; a statement still running is waited for step by step, stopped when over its budget or
when the filter changes, and never left running."""

from __future__ import annotations

import itertools
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from inspector.store import event_index, seq_collector
from inspector.store.capture_file import CaptureFile, CaptureWriter
from inspector.store.event_index import FIRST_STEP_BUDGET, PAGE_SIZE, STEP_BUDGET, EventIndex, Step
from inspector.store.filter_sql import CompiledFilter
from tests.helpers.event_list import deliver, fail, new_event, write_events

EVENTS = 4000
FILTERS = {
    'trigger == "validate-order"': "trigger_name = 'validate-order'",
    'status == "failed"': "status = 'failed'",
    'trigger == "agent-assignment" or status == "failed"': "trigger_name = 'agent-assignment' OR status = 'failed'",
    'id == "6f1c2d3e-0123-4000-8000-000000000123"': "id = '6f1c2d3e-0123-4000-8000-000000000123'",
}
"""Filters SQLite answers from an index, and the plain SQL selecting the same events."""


@pytest.fixture
def capture(tmp_path: Path) -> Iterator[tuple[CaptureFile, CaptureWriter]]:
    """4,000 events written through the capture's writer, the newer half read first (a backlog read later), so one
    trigger's index (by creation time) lists them out of capture order; every 13th failed, every 17th delivered."""
    capture = CaptureFile.create(tmp_path / "capture.inspector")
    writer = CaptureWriter(capture)
    events = write_events(writer, range(2000, EVENTS)) + write_events(writer, range(0, 2000))
    for event in events[::13]:
        fail(writer, event)
    for event in events[1::17]:
        deliver(writer, event, "2024-03-01T13:00:00.000000")
    yield capture, writer
    capture.close()


@pytest.fixture
def indexes() -> Iterator[list[EventIndex]]:
    made: list[EventIndex] = []
    yield made
    for index in made:
        index.close()
    assert not _job_threads(), "a statement was left running"


class SpyJob(seq_collector.SeqJob):
    """The real job, remembered (to tell which way a load went)."""

    made: ClassVar[list[SpyJob]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        SpyJob.made.append(self)


@pytest.fixture
def jobs(monkeypatch: pytest.MonkeyPatch) -> list[SpyJob]:
    SpyJob.made = []
    monkeypatch.setattr(event_index, "SeqJob", SpyJob)
    return SpyJob.made


def _job_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "inspector-seq-job" and t.is_alive()]


def plain(path: Path, where: str) -> list[int]:
    """The seqs plain SQL selects, in capture order, through a connection of its own."""
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute(f"SELECT seq FROM events WHERE {where} ORDER BY seq")]
    finally:
        conn.close()


def load(index: EventIndex, text: str | None = None, budget: float = STEP_BUDGET) -> list[Step]:
    """Apply a filter and load it as the window's model does: a first step with its budget, then steps."""
    if text is not None:
        index.filter = index.compile(text)
    index.start()
    steps = [index.step(FIRST_STEP_BUDGET, first=True)]
    index.append(steps[0].found)
    while index.loading:
        steps.append(index.step(budget))
        index.append(steps[-1].found)
        assert len(steps) < 10_000
    assert all(step.error is None for step in steps)
    return steps


def open_index(indexes: list[EventIndex], path: Path) -> EventIndex:
    index = EventIndex(path)
    indexes.append(index)
    load(index)
    return index


def test_the_capture_lists_a_trigger_out_of_capture_order_in_its_index(
    capture: tuple[CaptureFile, CaptureWriter],
) -> None:
    """What makes the tests below able to fail: the index's order is not capture order (the seqs must be sorted)."""
    conn = sqlite3.connect(capture[0].path)
    in_index = [
        r[0]
        for r in conn.execute("SELECT seq FROM events INDEXED BY events_trigger WHERE trigger_name = 'validate-order'")
    ]
    conn.close()
    assert in_index != sorted(in_index) and len(in_index) == EVENTS // 4


BIG: dict[str, Any] = {"_PROBE_ROWS": 64, "_FIRST_SPAN": 256}
"""As a big capture behaves: a filter that matches 64 events or more is too many for the first step's probe, and the
first screenful's slices do not reach the end of the capture."""


def open_big_index(indexes: list[EventIndex], path: Path, monkeypatch: pytest.MonkeyPatch) -> EventIndex:
    """An index on the capture that behaves as on a big capture (`BIG`), its unfiltered list loaded."""
    for name, value in BIG.items():
        monkeypatch.setattr(event_index, name, value)
    return open_index(indexes, path)


PATHS: dict[str, dict[str, Any]] = {
    "probe": {},  # the first step's probe answers (fewer than 4,096 matches)
    "statement": BIG,  # a first screenful by slices, then the second connection's statement
    "too-many": {**BIG, "_COLLECT_ROWS": 100},  # the statement's answer refused: the index read row by row
    "no-statement": {**BIG, "_COLLECT_BUDGET": 0.0},  # the index read row by row from the start
}


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("text", list(FILTERS))
def test_an_indexed_filter_loads_what_plain_sql_selects_in_capture_order(
    capture: tuple[CaptureFile, CaptureWriter],
    indexes: list[EventIndex],
    jobs: list[SpyJob],
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    text: str,
) -> None:
    for name, value in PATHS[path].items():
        monkeypatch.setattr(event_index, name, value)
    index = open_index(indexes, capture[0].path)
    expected = plain(capture[0].path, FILTERS[text])
    assert expected and len(expected) < EVENTS
    jobs.clear()
    steps = load(index, text)
    assert index._loader is not None and index._loader.indexed  # SQLite answers it from an index
    assert index.seqs.tolist() == expected
    big = len(expected) >= 64
    if path == "probe" or not big:  # answered by the first step
        assert len(steps) == 1
    else:  # a first screenful (from slices) first, and no seq twice where the rest begins
        assert steps[0].found == expected[: len(steps[0].found)] and PAGE_SIZE <= len(steps[0].found) < len(expected)
    answered = [job.text for job in jobs if job.text is not None]
    if path == "statement" and big:
        assert len(answered) == 1 and answered[0].count(",") + 1 == len(expected)
    if path == "too-many" and big:
        assert answered and answered[0].count(",") + 1 >= 100  # found, refused, read again row by row
    if path == "no-statement":
        assert not jobs


def test_a_statement_that_sees_newer_events_is_cut_where_loading_started_and_the_tail_takes_them(
    capture: tuple[CaptureFile, CaptureWriter],
    indexes: list[EventIndex],
    jobs: list[SpyJob],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A capture recording while the filter loads: events committed after `start` read the seqs' range, but before
    the second connection's statement ran, are in its answer; the list stops at the range, the tail adds them."""
    path, writer = capture[0].path, capture[1]
    index = open_big_index(indexes, path, monkeypatch)
    last = plain(path, "1")[-1]
    start_jobs = EventIndex._start_jobs
    newer: list[dict[str, Any]] = []

    def committed_first(self: EventIndex, low: int, hi: int) -> Any:
        if not newer:  # another connection records 40 events (10 of them validate-order) now
            newer.extend(write_events(writer, range(EVENTS, EVENTS + 40)))
        return start_jobs(self, low, hi)

    monkeypatch.setattr(EventIndex, "_start_jobs", committed_first)
    load(index, 'trigger == "validate-order"')
    assert newer and len(jobs) == 1 and jobs[0].text is not None
    in_answer = [int(s) for s in jobs[0].text.strip("[]").split(",")]
    assert max(in_answer) > last  # the statement saw them
    assert index.seqs.tolist() == plain(path, f"trigger_name = 'validate-order' AND seq <= {last}")
    change = index.refresh()
    assert change is not None and not change.reload and change.came_to_match == []
    assert change.new == plain(path, f"trigger_name = 'validate-order' AND seq > {last}") and len(change.new) == 10
    index.append(change.new)
    assert index.seqs.tolist() == plain(path, "trigger_name = 'validate-order'")


def test_the_tail_after_an_indexed_load_inserts_events_that_came_to_match_and_appends_new_ones(
    capture: tuple[CaptureFile, CaptureWriter],
    indexes: list[EventIndex],
    jobs: list[SpyJob],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path, writer = capture[0].path, capture[1]
    index = open_big_index(indexes, path, monkeypatch)
    load(index, 'status == "failed"')
    assert len(jobs) == 1 and jobs[0].text is not None  # loaded by the second connection's statement
    assert index.seqs.tolist() == plain(path, "status = 'failed'")
    assert index.refresh() is None  # nothing committed since
    for i in (5, 1500, 2500, 3998):  # existing events (of both halves) fail now
        fail(writer, new_event(i))
    newer = write_events(writer, range(EVENTS, EVENTS + 30))
    for event in newer[::3]:
        fail(writer, event)
    change = index.refresh()
    assert change is not None and not change.reload
    assert len(change.came_to_match) == 4 and len(change.new) == 10
    for seq in change.came_to_match:
        index.insert(index.position_for(seq), seq)
    index.append(change.new)
    assert index.seqs.tolist() == plain(path, "status = 'failed'")


# --- a statement that is still running ---------------------------------------------------------------------------

SLOW = CompiledFilter(
    "(e.trigger_name = ?) AND (SELECT count(*) FROM events x WHERE x.seq <= 400 AND x.payload LIKE '%' || e.id || '%')"
    " >= 0",
    ["validate-order"],
)
"""`trigger == "validate-order"`, answered from the trigger's index, at a few hundred microseconds a match (each
match looks through 400 payloads): a statement that takes a good fraction of a second."""


def test_steps_wait_for_a_running_statement_at_most_their_budget_and_then_take_its_answer(
    capture: tuple[CaptureFile, CaptureWriter],
    indexes: list[EventIndex],
    jobs: list[SpyJob],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(event_index, "_PROBE_BUDGET", 0.0)
    monkeypatch.setattr(event_index, "_FIRST_SPAN", 256)
    monkeypatch.setattr(event_index, "_COLLECT_BUDGET", 60.0)
    index = open_index(indexes, capture[0].path)
    index.filter = SLOW
    index.start()
    assert index._loader is not None and index._loader.indexed
    index.append(index.step(FIRST_STEP_BUDGET, first=True).found)
    waits: list[float] = []
    while index.loading:
        started = time.perf_counter()
        step = index.step(0.005)
        waits.append(time.perf_counter() - started)
        assert step.error is None
        index.append(step.found)
    assert len(jobs) == 1 and jobs[0].seconds > 0.05  # slow indeed
    assert len(waits) > 3 and max(waits[:-1]) < jobs[0].seconds / 3  # each step came back (to paint) while it ran
    assert index.seqs.tolist() == plain(capture[0].path, "trigger_name = 'validate-order'")


def test_a_statement_over_its_budget_is_stopped_and_the_index_read_row_by_row(
    capture: tuple[CaptureFile, CaptureWriter],
    indexes: list[EventIndex],
    jobs: list[SpyJob],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(event_index, "_PROBE_BUDGET", 0.0)
    monkeypatch.setattr(event_index, "_FIRST_SPAN", 256)
    monkeypatch.setattr(event_index, "_COLLECT_BUDGET", 0.030)
    index = open_index(indexes, capture[0].path)
    index.filter = SLOW
    index.start()
    index.append(index.step(FIRST_STEP_BUDGET, first=True).found)
    while index.loading:
        index.append(index.step(STEP_BUDGET).found)
    assert len(jobs) == 1 and jobs[0].text is None
    assert isinstance(jobs[0].error, sqlite3.OperationalError) and "interrupt" in str(jobs[0].error)
    assert jobs[0].seconds < 1.0  # stopped soon after its budget, not run to its end
    assert index.seqs.tolist() == plain(capture[0].path, "trigger_name = 'validate-order'")


def test_a_new_filter_or_closing_stops_a_running_statement(
    capture: tuple[CaptureFile, CaptureWriter],
    indexes: list[EventIndex],
    jobs: list[SpyJob],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(event_index, "_PROBE_BUDGET", 0.0)
    monkeypatch.setattr(event_index, "_FIRST_SPAN", 256)
    monkeypatch.setattr(event_index, "_COLLECT_BUDGET", 60.0)
    index = open_index(indexes, capture[0].path)
    index.filter = SLOW
    index.start()
    index.append(index.step(FIRST_STEP_BUDGET, first=True).found)
    assert index.loading and len(_job_threads()) == 1
    started = time.perf_counter()
    load(index, 'status == "failed"')  # typed another filter meanwhile
    assert time.perf_counter() - started < 1.0
    assert "interrupt" in str(jobs[0].error)
    assert index.seqs.tolist() == plain(capture[0].path, "status = 'failed'")
    index.filter = SLOW
    index.start()
    assert len(_job_threads()) == 1
    started = time.perf_counter()
    index.close()
    assert time.perf_counter() - started < 1.0 and not _job_threads()
    assert "interrupt" in str(jobs[-1].error)


def test_a_statement_that_fails_as_it_runs_stops_the_load_with_the_reason(
    capture: tuple[CaptureFile, CaptureWriter],
    indexes: list[EventIndex],
    jobs: list[SpyJob],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    index = open_big_index(indexes, capture[0].path, monkeypatch)
    # Fails on one match only, the last in the trigger's index and in capture order: it prepares fine, the probe and
    # the first screenful do not get to it, so the second connection's statement is the first to fail.
    (last,) = plain(capture[0].path, "trigger_name = 'validate-order'")[-1:]
    index.filter = CompiledFilter(
        "(e.trigger_name = ?) AND json_extract(CASE WHEN e.seq = ? THEN 'not json' ELSE '{}' END, '$.a') IS NULL",
        ["validate-order", last],
    )
    index.start()
    first = index.step(FIRST_STEP_BUDGET, first=True)
    assert first.error is None and len(first.found) >= PAGE_SIZE and index.loading
    index.append(first.found)
    step = index.step(STEP_BUDGET)
    assert not index.loading and step.found == []
    assert step.error is not None and "the filter stopped" in step.error and "JSON" in step.error, step.error
    assert len(jobs) == 1 and "JSON" in str(jobs[0].error)


# --- the statement cut in parts on a big capture ----------------------------------------------------------------

SPLITS = {
    'trigger == "validate-order"': "created_ts",  # the trigger's index is by creation time
    'status == "failed"': "seq",  # a one-column index ends in the rowid
    'trigger == "agent-assignment" or status == "failed"': None,  # two indexes (MULTI-INDEX OR): one statement
}


def _part_seqs(job: SpyJob) -> list[int]:
    return [int(s) for s in (job.text or "").strip("[]").split(",") if s]


@pytest.mark.parametrize("text", list(SPLITS))
def test_on_a_big_capture_the_statement_is_cut_in_parts_that_load_what_plain_sql_selects(
    capture: tuple[CaptureFile, CaptureWriter],
    indexes: list[EventIndex],
    jobs: list[SpyJob],
    monkeypatch: pytest.MonkeyPatch,
    text: str,
) -> None:
    """Each part reads a range of one index, in order, the parts together give every seq once (the trigger's index
    lists them out of capture order, so a part by creation time is not a range of seqs), in capture order."""
    for name, value in {**BIG, "_SPLIT_MIN_EVENTS": 1000}.items():
        monkeypatch.setattr(event_index, name, value)
    index = open_index(indexes, capture[0].path)
    jobs.clear()
    load(index, text)
    expected = plain(capture[0].path, FILTERS[text])
    assert index.seqs.tolist() == expected
    column = SPLITS[text]
    if column is None:
        assert len(jobs) == 1
        return
    assert len(jobs) == event_index._SPLIT_PARTS and all(job.text is not None for job in jobs)
    parts = [_part_seqs(job) for job in jobs]
    assert sorted(seq for part in parts for seq in part) == expected  # each seq in exactly one part
    conn = sqlite3.connect(capture[0].path)
    times = dict(conn.execute("SELECT seq, created_ts FROM events").fetchall())
    conn.close()
    filled = [part for part in parts if part]
    assert len(filled) >= 3
    for before, after in itertools.pairwise(filled):  # in the order of the column cut by
        if column == "seq":
            assert max(before) < min(after)
        else:
            assert max(times[s] for s in before) < min(times[s] for s in after)
    if column == "created_ts":  # the newer half of the capture (written first) has the lower seqs
        assert max(filled[0]) > min(filled[-1])


def test_the_parts_on_one_connection_run_one_after_the_other_and_a_new_filter_stops_those_not_started(
    capture: tuple[CaptureFile, CaptureWriter],
    indexes: list[EventIndex],
    jobs: list[SpyJob],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Parts share two connections: each starts when the one before it on its connection ends; stopping the load
    (another filter) interrupts the running ones, and the waiting ones never start."""
    for name, value in {"_PROBE_BUDGET": 0.0, "_FIRST_SPAN": 256, "_COLLECT_BUDGET": 60.0}.items():
        monkeypatch.setattr(event_index, name, value)
    index = open_index(indexes, capture[0].path)
    monkeypatch.setattr(event_index, "_SPLIT_MIN_EVENTS", 1000)
    # `trigger == "validate-order"` at a few milliseconds a match, in a plan of one index range (a subquery,
    # as in SLOW, would add a step to the plan, and the statement would not be cut).
    index.filter = CompiledFilter(
        "(e.trigger_name = ?) AND length(replace(hex(randomblob(400000)), 'A', 'B')) > 0", ["validate-order"]
    )
    jobs.clear()
    index.start()
    assert len(jobs) == event_index._SPLIT_PARTS
    time.sleep(0.05)
    assert not any(job.done for job in jobs[2:])  # waiting for the slow first two
    started = time.perf_counter()
    load(index, 'status == "failed"')  # typed another filter meanwhile
    assert time.perf_counter() - started < 1.0
    stopped = jobs[: event_index._SPLIT_PARTS]
    assert all(job.done and job.text is None for job in stopped)
    assert all("interrupt" in str(job.error) for job in stopped)
    assert index.seqs.tolist() == plain(capture[0].path, "status = 'failed'")


def test_no_part_by_creation_time_when_an_event_has_none_and_no_parts_on_a_small_capture(
    capture: tuple[CaptureFile, CaptureWriter],
    indexes: list[EventIndex],
    jobs: list[SpyJob],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An event without a creation time would be in no part: the trigger's statement is then not cut; nor is any on a
    capture under `_SPLIT_MIN_EVENTS` events."""
    index = open_big_index(indexes, capture[0].path, monkeypatch)
    jobs.clear()
    load(index, 'status == "failed"')
    assert len(jobs) == 1  # 4,000 events: one statement
    conn = sqlite3.connect(capture[0].path)
    with conn:
        conn.execute(
            "UPDATE events SET created_ts = NULL WHERE seq = (SELECT max(seq) FROM events "
            "WHERE trigger_name = 'validate-order')"
        )
    conn.close()
    monkeypatch.setattr(event_index, "_SPLIT_MIN_EVENTS", 1000)
    jobs.clear()
    load(index, 'trigger == "validate-order"')
    assert len(jobs) == 1
    assert index.seqs.tolist() == plain(capture[0].path, "trigger_name = 'validate-order'")
    jobs.clear()
    load(index, 'status == "failed"')  # by seq: still cut
    assert len(jobs) == event_index._SPLIT_PARTS
    assert index.seqs.tolist() == plain(capture[0].path, "status = 'failed'")


@pytest.mark.parametrize(
    "sql", [event_index.FIRST_CREATED_SQL, event_index.LAST_CREATED_SQL, event_index.UNCREATED_SQL]
)
def test_what_the_split_asks_first_is_answered_from_an_index_not_a_scan(
    capture: tuple[CaptureFile, CaptureWriter], sql: str
) -> None:
    """Each is asked when a big filter starts: a scan of a million events would hold up the list by ~90 ms."""
    conn = sqlite3.connect(capture[0].path)
    plan = " ".join(str(row[3]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
    conn.close()
    assert "USING COVERING INDEX events_created" in plan and "SCAN" not in plan, plan


def test_the_previous_lists_rows_are_kept_while_a_statement_loads_and_freed_by_release(
    capture: tuple[CaptureFile, CaptureWriter],
    indexes: list[EventIndex],
    jobs: list[SpyJob],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Freeing them (milliseconds for a full cache) would hold up the load; the list frees them when idle."""
    index = open_big_index(indexes, capture[0].path, monkeypatch)
    for row in range(0, 4000, 300):
        assert index.row(row) is not None
    cached = index._pages
    assert len(cached) > 5
    load(index, 'trigger == "validate-order"')
    assert jobs and index._retired is cached and index.cached_pages < len(cached)
    index.release()
    assert index._retired is None
    load(index, 'status == "failed"')
    assert index.refresh() is None and index._retired is None  # the live tail's look frees them too
