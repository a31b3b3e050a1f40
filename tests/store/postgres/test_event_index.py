"""The window's reads straight from a store capture, against a real server: `PostgresEventIndex` lists, sorts, pages
and tails what `EventIndex` does on the same capture as a file, and `PostgresCaptureReader` answers the detail pane
and the sources tree as `CaptureReader` does; marks set in the window go to the followed copy, never to the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspector.core.colouring import DEFAULT_RULES
from inspector.store.event_index import EventIndex
from inspector.store.open import direct_reads, follow_capture
from inspector.store.postgres.connection import StoreUrl
from inspector.store.postgres.event_index import PostgresEventIndex
from inspector.store.postgres.store import FileMirror, PostgresStore, push_file
from inspector.store.reader import CaptureReader, SourceCounts
from tests.helpers.captures import add_rows, build_big_capture, build_sample


def loaded(index: EventIndex) -> list[int]:
    index.start()
    step = index.step(0.04, first=True)
    index.append(step.found)
    while not step.done:
        step = index.step(3600.0)
        index.append(step.found)
    return index.seqs.tolist()


FILTERS = [
    "",
    'trigger == "restaurant-approval"',
    'status == "pending"',
    "data.new.restaurant_id == 7",
    "data.new.restaurant_id in {3 4}",
    "data.new.restaurant_id > 45",
    "not data.new.restaurant_id == 7 and attempts >= 0",
]


@pytest.fixture
def big(tmp_path: Path, postgres_db: str) -> tuple[Path, StoreUrl]:
    path = build_big_capture(tmp_path / "big.inspector", 3000)
    url = StoreUrl.parse(f"{postgres_db}?capture=big")
    push_file(path, url)
    return path, url


@pytest.mark.parametrize("sort", [None, ("trigger", False), ("latency", True)])
def test_the_direct_index_lists_what_the_file_lists(big: tuple[Path, StoreUrl], sort: tuple[str, bool] | None) -> None:
    path, url = big
    local, direct = EventIndex(path), PostgresEventIndex(url)
    try:
        local.set_rules(DEFAULT_RULES)
        direct.set_rules(DEFAULT_RULES)
        for text in FILTERS:
            local.filter, direct.filter = local.compile(text), direct.compile(text)
            local.sort = direct.sort = sort
            assert loaded(direct) == loaded(local), text
            for row in (0, len(local.seqs) // 2, len(local.seqs) - 1):
                assert direct.row(row) == local.row(row), (text, row)
        assert direct.event(5) == local.event(5)
        assert direct.row_for_event_id(str(local.event(5)["id"])) == local.row_for_event_id(str(local.event(5)["id"]))
    finally:
        local.close()
        direct.close()


def test_a_filter_no_index_serves_loads_in_bounded_slices(
    big: tuple[Path, StoreUrl], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, url = big
    direct, local = PostgresEventIndex(url), EventIndex(path)
    try:
        direct.filter = direct.compile("data.new.restaurant_id > 45")
        local.filter = local.compile("data.new.restaurant_id > 45")
        expected = loaded(local)
        timed = direct._timed
        # the server cancels the first keyset statement (past its statement_timeout): the slices take over
        monkeypatch.setattr(direct, "_timed", lambda q, p, t: None if "LIMIT" in q else timed(q, p, t))
        direct.start()
        direct.append(direct.step(0.04, first=True).found)
        assert direct._loader is not None and direct._loader.mode == "slices"
        step = direct.step(3600.0)
        direct.append(step.found)
        assert step.done and direct.seqs.tolist() == expected
    finally:
        local.close()
        direct.close()


def test_the_direct_index_follows_the_writer(big: tuple[Path, StoreUrl]) -> None:
    path, url = big
    direct = PostgresEventIndex(url)
    try:
        direct.filter = direct.compile('trigger == "restaurant-approval"')
        before = loaded(direct)
        assert direct.refresh() is None  # nothing written: three index lookups, no change
        add_rows(path, 3001, 3100)
        with PostgresStore.open(url) as store:
            capture_id = store.capture("big").id
        mirror = FileMirror(path, url, capture_id)
        mirror.last = {table: 3000 if table == "events" else 0 for table in mirror.last}
        mirror.last.update({t: 10**9 for t in mirror.last if t != "events"})
        mirror.sync()
        mirror._connection().close()
        change = direct.refresh()
        assert change is not None and not change.reload
        local = EventIndex(path)
        local.filter = local.compile('trigger == "restaurant-approval"')
        assert before + change.new == loaded(local)
        local.close()
    finally:
        direct.close()


def test_the_direct_reader_answers_as_the_file_reader(tmp_path: Path, postgres_db: str) -> None:
    build_sample(tmp_path / "sample.inspector").close()
    url = f"{postgres_db}?capture=sample"
    push_file(tmp_path / "sample.inspector", StoreUrl.parse(url))
    followed = follow_capture(url, background=True)
    direct = direct_reads(followed)
    assert direct is not None
    local = CaptureReader.open(tmp_path / "sample.inspector")
    try:
        reader = direct.reader
        ids = [r[0] for r in local.connection.execute("SELECT id FROM events ORDER BY seq")]
        for event_id in ids:
            assert reader.event_detail(event_id) == local.event_detail(event_id)
            assert reader.last_replay_attempt(event_id) == local.last_replay_attempt(event_id)
        assert reader.event_detail("nothing") is None
        assert reader.event_count() == local.event_count() == len(ids)
        assert reader.last_seqs() == local.last_seqs()
        assert reader.configured_triggers() == local.configured_triggers()
        for name in local.configured_triggers():
            assert reader.trigger_settings(name) == local.trigger_settings(name)
        assert reader.operations() == local.operations()
        assert reader.session_log(0) == local.session_log(0)
        counts, expected = SourceCounts(), SourceCounts()
        counts.update(reader)
        expected.update(local)
        assert counts.events == expected.events and counts.messages == expected.messages
        version = reader.data_version()
        assert reader.data_version() == version
        # a mark set in the window: the index shows it (once its page is read again), the copy gets it at the
        # follower's next round, and the store's marks (the recorder's) stay as they are
        index = direct.index
        loaded(index)
        marked_before = set(local.marked_event_ids())
        row = next(n for n, event_id in enumerate(ids) if event_id not in marked_before)
        assert index.row(row).marked == 0  # type: ignore[union-attr]
        index.set_mark(ids[row], True)
        index.forget_page_of(row)
        assert index.row(row).marked == 1  # type: ignore[union-attr]
        followed.follower.sync()
        assert ids[row] in reader.marked_event_ids()
        with PostgresStore.open(url) as store:
            targets = {r[0] for r in store.conn.execute("SELECT target FROM marks WHERE kind = 'event'").fetchall()}
        assert targets == marked_before
    finally:
        local.close()
        direct.index.close()
        direct.reader.close()
        followed.close()
