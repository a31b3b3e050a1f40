"""Axes of the pictures' plots, without Qt: ticks on round local clock times for a time axis (spaced so that their
labels do not overlap), round value ticks from zero, and their labels. Used by the timeline (`timeline.TimelinePlots`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta

DAY = 86_400
TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, DAY)
"""Spacings (seconds) of the clock-time ticks, the smallest whose labels do not overlap is used."""
TICK_GAP = 24.0
"""Least room (pixels) between two tick labels of the time axis."""


def clock_label(t: float, step: float) -> str:
    """The label of a time-axis tick at `t` (epoch seconds) on an axis ticked every `step` seconds: the local clock
    time (with seconds below a minute), or the date at midnight on axes ticked every hour or more."""
    local = time.localtime(t)
    if step < 60:
        return time.strftime("%H:%M:%S", local)
    if step >= DAY or (step >= 3600 and local.tm_hour == 0 and local.tm_min == 0):
        return time.strftime("%d %b", local)
    return time.strftime("%H:%M", local)


def _time_steps() -> Iterator[int]:
    yield from TIME_STEPS
    days = 2
    while True:  # long captures: a tick every few days
        yield days * DAY
        days = 7 if days == 2 else days * 2


def time_ticks(
    start: float, end: float, pixels: float, text_width: Callable[[str], float], gap: float = TICK_GAP
) -> tuple[float, list[float]]:
    """Ticks on round local clock times for an axis showing [start, end] (epoch seconds) over `pixels`: the spacing
    (the smallest of `TIME_STEPS` whose labels, measured with `text_width`, keep `gap` pixels apart) and the times."""
    if not end > start or pixels <= 0:
        return 0.0, []
    seconds_per_pixel = (end - start) / pixels
    local = time.localtime(start)
    for step in _time_steps():
        widest = text_width(time.strftime("%H:%M:%S" if step < 60 else "%H:%M", local))
        if step >= 3600:
            widest = max(widest, text_width(time.strftime("%d %b", local)))
        if step / seconds_per_pixel >= widest + gap:
            return float(step), _tick_times(start, end, step)
    raise AssertionError("unreachable: the steps grow without bound")


def _tick_times(start: float, end: float, step: int) -> list[float]:
    if step < DAY:  # every step divides a day: round on the local clock
        offset = time.localtime(start).tm_gmtoff
        first = math.ceil((start + offset) / step) * step - offset
        return [float(first + i * step) for i in range(int((end - first) // step) + 1)]
    days = step // DAY
    day = date.fromtimestamp(start)
    day = date.fromordinal(day.toordinal() - day.toordinal() % days)
    ticks: list[float] = []
    while (t := datetime(day.year, day.month, day.day).timestamp()) <= end:  # local midnight
        if t >= start:
            ticks.append(t)
        day += timedelta(days=days)
    return ticks


def value_ticks(top: float, intervals: int) -> tuple[float, float]:
    """A round spacing (1, 2 or 5 times a power of ten) for about `intervals` intervals from 0 up to `top`, and the
    top of the axis (the first multiple of the spacing at or above `top`)."""
    if not (top > 0 and math.isfinite(top)):
        top = 1.0
    raw = top / max(1, intervals)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    return step, step * max(1, math.ceil(top / step - 1e-9))


def value_label(value: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{value:,.{decimals}f}"
