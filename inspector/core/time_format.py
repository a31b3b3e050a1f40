"""How times are shown: the display formats the window offers (View ▸ Time display format), as Wireshark's View ▸
Time Display Format.

Owns the formats and the text each gives for an instant; pure (no Qt). Used by the event list's Time column
(`qt/event_list/event_table_model.py`) and the window's menu (`qt/window/time_menu.py`), which keeps the choice in
settings.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum

__all__ = ["TimeFormat", "format_instant"]


class TimeFormat(Enum):
    """A way to show an event's creation time."""

    LOCAL = "local"
    """Time of day in this machine's time zone."""
    UTC = "utc"
    """Time of day in UTC."""
    SINCE_START = "since_start"
    """Seconds since the first event of the capture (or the time reference)."""
    SINCE_PREVIOUS = "since_previous"
    """Seconds since the event shown above it."""

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def header(self) -> str:
        """The Time column's header in this format."""
        return _HEADERS[self]

    @classmethod
    def from_text(cls, text: object) -> TimeFormat:
        """The format stored as `text` (settings), or LOCAL for anything else."""
        for member in cls:
            if member.value == text:
                return member
        return cls.LOCAL


_LABELS = {
    TimeFormat.LOCAL: "Time of day, local",
    TimeFormat.UTC: "Time of day, UTC",
    TimeFormat.SINCE_START: "Seconds since capture start",
    TimeFormat.SINCE_PREVIOUS: "Seconds since previous event",
}
_HEADERS = {
    TimeFormat.LOCAL: "Time",
    TimeFormat.UTC: "Time (UTC)",
    TimeFormat.SINCE_START: "Time (s since start)",
    TimeFormat.SINCE_PREVIOUS: "Time (s since previous)",
}


def format_instant(
    ts: float | None, fmt: TimeFormat, origin: float | None = None, previous: float | None = None, *, date: bool = False
) -> str:
    """`ts` (epoch seconds) in `fmt`: a time of day (with the date when `date`), or seconds since `origin` (the capture
    start) or since `previous` (the event before; none: since `origin`). "" when `ts` is None."""
    if ts is None:
        return ""
    if fmt is TimeFormat.LOCAL or fmt is TimeFormat.UTC:
        moment = datetime.fromtimestamp(ts, UTC) if fmt is TimeFormat.UTC else datetime.fromtimestamp(ts)
        text = moment.strftime("%Y-%m-%d %H:%M:%S.%f" if date else "%H:%M:%S.%f")[:-3]
        return f"{text} UTC" if date and fmt is TimeFormat.UTC else text
    base = previous if fmt is TimeFormat.SINCE_PREVIOUS and previous is not None else origin
    if base is None:
        return ""
    return f"{ts - base:+.3f}" if fmt is TimeFormat.SINCE_PREVIOUS else f"{ts - base:.3f}"
