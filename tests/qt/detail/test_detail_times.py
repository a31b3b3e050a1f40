"""The detail pane's times follow View ▸ Time display format, as the event list's Time column does, and come from the
true instant the capture stores (`created_ts`), not from Hasura's `created_at` text (the database's wall time labelled
`Z` whatever its zone). Sync pytest-qt tests (shared/reference/qt-stack.md)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from inspector.core.events import EventRecord, InvocationRecord
from inspector.core.hasura import client_error
from inspector.core.time_format import TimeFormat
from inspector.qt.detail.detail_pane import DetailPane
from inspector.qt.detail.detail_times import attempt_time_texts, event_time_text
from inspector.store.capture_file import CaptureFile, CaptureWriter
from tests.helpers.captures import event_dict, invocation_dict, ok_response

EVENT_ID = "7d1e0c7a-0001-4000-8000-000000000001"
CREATED = 1709294400.0
"""2024-03-01 12:00:00 UTC: the event's created_at below, read as UTC."""


@dataclass
class Origins:
    """The window's event list model as the pane asks it (`TimeSource`)."""

    start: float | None
    previous: float | None
    asked: list[str] = field(default_factory=list)

    def time_origins(self, event_id: str) -> tuple[float | None, float | None]:
        self.asked.append(event_id)
        return self.start, self.previous


@pytest.fixture
def berlin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This machine's zone is Berlin (UTC+1 in March), so local and UTC times differ."""
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def capture(tmp_path: Path) -> Iterator[CaptureFile]:
    """An event created at 12:00:00 (UTC), attempted at 12:00:01 (500) and 12:00:11.250 (200)."""
    capture = CaptureFile.create(tmp_path / "times.inspector")
    writer = CaptureWriter(capture)
    event = event_dict(EVENT_ID, created_at="2024-03-01T12:00:00.000000")
    writer.observe_event(EventRecord.from_hasura(event), now=CREATED + 0.5)
    writer.observe_invocation(
        InvocationRecord.from_hasura(
            invocation_dict("inv-1", event, 500, client_error("kitchen closed"), "2024-03-01T12:00:01.000000")
        )
    )
    writer.observe_invocation(
        InvocationRecord.from_hasura(
            invocation_dict("inv-2", event, 200, ok_response(), "2024-03-01T12:00:11.250000", current_retry=1)
        )
    )
    writer.observe_event(EventRecord.from_hasura({**event, "tries": 2, "delivered": True}), now=CREATED + 12)
    writer.flush()
    yield capture
    capture.close()


@pytest.fixture
def pane(qtbot: QtBot, capture: CaptureFile) -> DetailPane:
    pane = DetailPane()
    pane.resize(1000, 700)
    qtbot.addWidget(pane)
    pane.show_event(capture.reader(), EVENT_ID)
    return pane


def _times(pane: DetailPane) -> list[str]:
    table = pane.invocations.table
    column = pane.invocations.COLUMNS.index("Time")
    return [table.item(row, column).text() for row in range(table.rowCount())]  # type: ignore[union-attr]


def _time_header(pane: DetailPane) -> str:
    item = pane.invocations.table.horizontalHeaderItem(pane.invocations.COLUMNS.index("Time"))
    assert item is not None
    return item.text()


def test_local_is_the_default_and_utc_says_so(pane: DetailPane, capture: CaptureFile, berlin: None) -> None:
    pane.show_event(capture.reader(), EVENT_ID)  # shown again, in Berlin
    assert "2024-03-01 13:00:00.000" in pane.header.text() and "UTC" not in pane.header.text()
    assert _times(pane) == ["2024-03-01 13:00:01.000", "2024-03-01 13:00:11.250"]
    assert _time_header(pane) == "Time"
    pane.set_time_format(TimeFormat.UTC)
    assert "2024-03-01 12:00:00.000 UTC" in pane.header.text()
    assert _times(pane) == ["2024-03-01 12:00:01.000 UTC", "2024-03-01 12:00:11.250 UTC"]
    assert _time_header(pane) == "Time (UTC)"
    # the whole instant and Hasura's own text stay a hover away
    tooltip = pane.header.toolTip()
    assert "2024-03-01 13:00:00.000 local" in tooltip and "2024-03-01T12:00:00" in tooltip


def test_seconds_since_capture_start_and_since_previous(pane: DetailPane, capture: CaptureFile) -> None:
    origins = Origins(CREATED - 5.0, CREATED - 2.0)
    pane.set_time_format(TimeFormat.SINCE_START, origins)
    assert "5.000 s since capture start" in pane.header.text()
    assert _times(pane) == ["6.000", "16.250"]
    assert _time_header(pane) == "Time (s since start)"
    pane.set_time_format(TimeFormat.SINCE_PREVIOUS, origins)
    assert "+2.000 s since previous event" in pane.header.text()
    assert _times(pane) == ["+1.000", "+10.250"]  # attempt 1 since the event's creation, then since the attempt above
    assert _time_header(pane) == "Time (s since previous)"
    # the first row of the list has no event above it: since the capture start
    pane.set_time_format(TimeFormat.SINCE_PREVIOUS, Origins(CREATED - 5.0, None))
    assert "5.000 s since capture start" in pane.header.text()
    # the chosen format holds for the next event shown
    pane.show_event(capture.reader(), EVENT_ID)
    assert _times(pane) == ["+1.000", "+10.250"]
    assert origins.asked == [EVENT_ID, EVENT_ID]


def test_times_are_the_true_instant_not_hasuras_text(pane: DetailPane, capture: CaptureFile) -> None:
    # A database in UTC+1: Hasura's created_at says 12:00 "Z", the instant is 11:00 UTC (as
    # `core.events.server_time_seconds` reads it when the capture knows the database's zone).
    with capture.conn:
        capture.conn.execute("UPDATE events SET created_ts = created_ts - 3600")
        capture.conn.execute("UPDATE invocations SET created_ts = created_ts - 3600")
    pane.set_time_format(TimeFormat.UTC)
    pane.show_event(capture.reader(), EVENT_ID)
    assert "2024-03-01 11:00:00.000 UTC" in pane.header.text() and "12:00:00" not in pane.header.text()
    assert _times(pane) == ["2024-03-01 11:00:01.000 UTC", "2024-03-01 11:00:11.250 UTC"]


def test_without_an_instant_hasuras_text_is_shown_as_is() -> None:
    event = {"created_at": "2024-03-01T12:00:00Z"}
    assert event_time_text(event, TimeFormat.SINCE_START, origin=0.0).text == "2024-03-01T12:00:00Z"
    texts = attempt_time_texts([{"created_at": "2024-03-01T12:00:01Z"}], event, TimeFormat.UTC)
    assert [t.text for t in texts] == ["2024-03-01T12:00:01Z"]
    # no capture start known: a time since start falls back to the time of day
    dated = {"created_ts": CREATED, "created_at": "2024-03-01T12:00:00"}
    assert event_time_text(dated, TimeFormat.SINCE_START).text.startswith("2024-03-01 ")
