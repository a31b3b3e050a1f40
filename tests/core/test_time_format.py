"""The time display formats (View ▸ Time display format): texts for an instant in each."""

from __future__ import annotations

from datetime import datetime

from inspector.core.time_format import TimeFormat, format_instant

AT = 1709294401.25  # 2024-03-01T12:00:01.250Z


def test_time_of_day_local_and_utc() -> None:
    assert format_instant(AT, TimeFormat.UTC) == "12:00:01.250"
    assert format_instant(AT, TimeFormat.UTC, date=True) == "2024-03-01 12:00:01.250 UTC"
    assert format_instant(AT, TimeFormat.LOCAL) == datetime.fromtimestamp(AT).strftime("%H:%M:%S.%f")[:-3]


def test_seconds_since_start_and_since_previous() -> None:
    assert format_instant(AT, TimeFormat.SINCE_START, origin=AT - 2.5) == "2.500"
    assert format_instant(AT, TimeFormat.SINCE_PREVIOUS, origin=AT - 10, previous=AT - 0.125) == "+0.125"
    assert format_instant(AT, TimeFormat.SINCE_PREVIOUS, origin=AT) == "+0.000"  # the first row: since the start
    assert format_instant(AT, TimeFormat.SINCE_START) == ""
    assert format_instant(None, TimeFormat.UTC) == ""


def test_stored_text_round_trips_and_unknown_is_local() -> None:
    for fmt in TimeFormat:
        assert TimeFormat.from_text(fmt.value) is fmt
    assert TimeFormat.from_text(None) is TimeFormat.LOCAL
    assert TimeFormat.from_text("bogus") is TimeFormat.LOCAL
