"""The detail pane's times in the display format the user chose (View ▸ Time display format), as the event list's
Time column shows them.

Owns the texts (and tooltips) of the event's creation time in the pane's header and of each attempt's time in the
attempts table, made from the true instants the capture stores (`created_ts`: Hasura's `created_at` read in the
database's time zone, `inspector.core.events.server_time_seconds`), not from Hasura's `created_at` text, which holds
the database's wall time labelled `Z` whatever its zone. Pure text (no widgets); used by `qt/detail/detail_pane.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from inspector.core.time_format import TimeFormat, format_instant

__all__ = ["TimeText", "attempt_time_header", "attempt_time_texts", "event_time_text"]


@dataclass(frozen=True)
class TimeText:
    """A time as shown, and the tooltip that gives it whole (local and UTC, and Hasura's own text)."""

    text: str
    tooltip: str


def _seconds(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _tooltip(ts: float, raw: Any, note: str = "") -> str:
    lines = [
        f"{format_instant(ts, TimeFormat.LOCAL, date=True)} local",
        format_instant(ts, TimeFormat.UTC, date=True),
    ]
    if raw:
        lines.append(f"Hasura's created_at: {raw} (the database's wall time)")
    if note:
        lines.append(note)
    return "\n".join(lines)


def _fallback(raw: Any) -> TimeText:
    """No instant recorded (a capture that predates it): Hasura's text as it is."""
    text = "" if raw is None else str(raw)
    return TimeText(text, f"Hasura's created_at: {text}" if text else "")


def event_time_text(
    event: Mapping[str, Any], fmt: TimeFormat, origin: float | None = None, previous: float | None = None
) -> TimeText:
    """The event's creation time for the pane's header: a date and time of day (local or UTC), or seconds since the
    capture start (`origin`, as the list counts it) or since the `previous` event in the list (the first row: since
    the capture start). Without an `origin`, times since start fall back to local time."""
    ts, raw = _seconds(event.get("created_ts")), event.get("created_at")
    if ts is None:
        return _fallback(raw)
    tooltip = _tooltip(ts, raw)
    if fmt is TimeFormat.SINCE_PREVIOUS and previous is not None:
        return TimeText(f"{format_instant(ts, fmt, origin, previous)} s since previous event", tooltip)
    if fmt in (TimeFormat.SINCE_START, TimeFormat.SINCE_PREVIOUS) and origin is not None:
        return TimeText(f"{format_instant(ts, TimeFormat.SINCE_START, origin)} s since capture start", tooltip)
    if fmt is TimeFormat.UTC:
        return TimeText(format_instant(ts, TimeFormat.UTC, date=True), tooltip)
    return TimeText(format_instant(ts, TimeFormat.LOCAL, date=True), tooltip)


def attempt_time_texts(
    invocations: Sequence[Mapping[str, Any]],
    event: Mapping[str, Any] | None,
    fmt: TimeFormat,
    origin: float | None = None,
) -> list[TimeText]:
    """Each attempt's time, in table order, for the attempts table: a date and time of day (local or UTC), seconds
    since the capture start (`origin`), or seconds since the row above (the first: since the event's creation).
    Without the needed origin a row falls back to local time; without an instant, to Hasura's text."""
    created = None if event is None else _seconds(event.get("created_ts"))
    found: list[TimeText] = []
    previous = created
    for row, invocation in enumerate(invocations):
        ts, raw = _seconds(invocation.get("created_ts")), invocation.get("created_at")
        if ts is None:
            found.append(_fallback(raw))
            continue
        if fmt is TimeFormat.SINCE_PREVIOUS and previous is not None:
            note = "Seconds since the event's creation" if row == 0 else "Seconds since the attempt above"
            found.append(TimeText(format_instant(ts, fmt, previous=previous), _tooltip(ts, raw, note)))
        elif fmt is TimeFormat.SINCE_START and origin is not None:
            note = "Seconds since the capture start"
            found.append(TimeText(format_instant(ts, fmt, origin), _tooltip(ts, raw, note)))
        else:
            shown = TimeFormat.UTC if fmt is TimeFormat.UTC else TimeFormat.LOCAL
            found.append(TimeText(format_instant(ts, shown, date=True), _tooltip(ts, raw)))
        previous = ts
    return found


def attempt_time_header(fmt: TimeFormat) -> str:
    """The attempts table's Time column header in `fmt`."""
    if fmt is TimeFormat.SINCE_PREVIOUS:
        return "Time (s since previous)"
    return fmt.header
