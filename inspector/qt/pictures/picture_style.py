"""Colours, words and number formats shared by the flow pictures (sequence diagram, service map, timeline, anomalies
panel), so that a retry is the same amber and a failure the same red in every picture and in the event list's
colouring rules (`inspector.core.colouring.DEFAULT_RULES`).

Pure: hex colour strings and text, no Qt, so the layouts that use them can be tested without a window. The anomaly
kinds' marks come from the detectors' registry (`inspector.services.analysis.detectors`), so a new detector is drawn
with its own badge and colour without an edit here.
"""

from __future__ import annotations

import colorsys
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from inspector.services.analysis.detectors import Detector, detector, detectors


@dataclass(frozen=True)
class MarkStyle:
    """How one mark (an anomaly kind on a step, or `failed`) is drawn."""

    badge: str
    """The short text of its badge, e.g. `retry`."""
    title: str
    """What the legend and the anomalies panel call it, e.g. `Retried`."""
    colour: str
    """Badge fill and arrow colour (#RRGGBB), readable on light and dark backgrounds with white badge text."""
    meaning: str
    """One sentence for tooltips: what happened."""


FAILED = MarkStyle(
    "unsuccessful", "Unsuccessful attempt", "#C62828", "The handler answered with a non-2xx status, or not at all."
)
"""The mark of an unsuccessful attempt (the mark's key stays `failed`; the word "failed" is kept for an event that
failed for good: docs/window.md, Glossary) (not an anomaly kind: drawn first, priority 0)."""


def _mark_of(found: Detector) -> MarkStyle:
    return MarkStyle(found.look.badge, found.look.label, found.look.colour, found.look.meaning)


def _registered_marks() -> dict[str, MarkStyle]:
    """`failed`, then every registered anomaly kind by its look's priority."""
    ranked = sorted(detectors(), key=lambda d: (d.look.priority, d.position, d.kind))
    return {"failed": FAILED, **{d.kind: _mark_of(d) for d in ranked}}


MARKS: dict[str, MarkStyle] = _registered_marks()
"""Marks in priority order: an arrow with several marks takes the colour of the first one listed here. Built from
the anomaly detectors' registry (`inspector.services.analysis.detectors`) at import; `mark_style` and
`ordered_marks` also see detectors registered later."""

UNKNOWN_MARK_COLOUR = "#5F6B7A"

LANE_KINDS: dict[str, tuple[str, str]] = {
    "client": ("CLIENT", "#E3E7EC"),
    "table": ("TABLE", "#DCE8F5"),
    "trigger": ("EVENT TRIGGER", "#E9DFF5"),
    "handler": ("HANDLER", "#DDF0E2"),
    "subscription": ("SUBSCRIPTION", "#D7F0EC"),
}
"""Lane kind → (caption drawn above the lane's name, header tint on light palettes)."""
OTHER_LANE = ("", "#E8E8E8")

STEP_COLOURS: dict[str, str] = {
    "write": "#36434F",
    "event": "#36434F",
    "invocation": "#36434F",
    "message": "#687889",
}
"""Arrow colours of unmarked steps, by step kind: neutral, so that the mark colours stand out (subscription updates
are dashed and lighter)."""

SEVERITY_COLOURS: dict[str, str] = {"error": "#C62828", "warning": "#B86E00", "info": "#2F6DA8"}
SEVERITY_ORDER: dict[str, int] = {"error": 0, "warning": 1, "info": 2}

ERROR_RATE_BANDS: tuple[tuple[float, str, str], ...] = (
    (0.0, "#5C6B7A", "every attempt 2xx"),
    (0.05, "#C98300", "under 5 % unsuccessful"),
    (float("inf"), "#C62828", "5 % or more unsuccessful"),
)
"""(upper bound inclusive, edge colour, legend text) of the service map's error-rate bands; 0.0 means exactly zero."""


def on_dark(hex_colour: str) -> str:
    """The colour made readable on a dark background: saturated ones half again as bright, greys (the neutral lines
    and edges) a fixed step lighter."""
    red, green, blue = (int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    hue, lightness, saturation = colorsys.rgb_to_hls(red, green, blue)
    value = max(red, green, blue)
    if value == 0 or (value - min(red, green, blue)) / value < 0.35:
        lightness = min(0.72, lightness + 0.3)
    else:
        lightness = min(0.78, lightness * 1.5)
    red, green, blue = colorsys.hls_to_rgb(hue, lightness, saturation)
    return "#" + "".join(f"{round(c * 255):02X}" for c in (red, green, blue))


def mark_style(mark: str) -> MarkStyle:
    """The style of a mark; unknown marks (a newer analysis) get a neutral grey badge with their own name."""
    style = MARKS.get(mark)
    if style is not None:
        return style
    found = detector(mark)
    if found is not None:
        return _mark_of(found)
    return MarkStyle(mark.replace("-", " "), mark, UNKNOWN_MARK_COLOUR, mark)


def ordered_marks(marks: Iterable[str]) -> tuple[str, ...]:
    """Marks without repeats, most important first (by the registry's priorities, then unknown ones as given)."""
    unique = list(dict.fromkeys(marks))
    rank = {mark: i for i, mark in enumerate(_registered_marks())}
    return tuple(sorted(unique, key=lambda mark: rank.get(mark, len(rank))))


def split_lane(lane: str) -> tuple[str, str]:
    """`trigger:validate-order` → (`trigger`, `validate-order`); `client` → (`client`, `client`)."""
    kind, sep, name = lane.partition(":")
    if not sep:
        return (lane, lane) if lane in LANE_KINDS else ("other", lane)
    return (kind if kind in LANE_KINDS else "other", name or lane)


def error_rate_colour(rate: float) -> str:
    for bound, colour, _text in ERROR_RATE_BANDS:
        if (bound == 0.0 and rate <= 0.0) or (bound > 0.0 and rate < bound):
            return colour
    return ERROR_RATE_BANDS[-1][1]


def format_offset(seconds: float) -> str:
    """A time from the start of a flow: `+0.512 s`."""
    return f"+{max(0.0, seconds):.3f} s"


def format_ms(ms: float | None) -> str:
    """A duration for people: `—`, `8 ms`, `212 ms`, `1.25 s`, `14.2 s`, `3 min 5 s`."""
    if ms is None:
        return "—"
    if ms < 10:
        return f"{ms:.1f} ms" if ms % 1 else f"{ms:.0f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60)} s"


def format_percent(rate: float) -> str:
    if rate <= 0:
        return "0 %"
    if rate < 0.001:
        return "<0.1 %"
    return f"{rate * 100:.1f} %"


def format_clock(epoch: float | None) -> str:
    """Local wall-clock time with milliseconds, as the event list's Time column: `06:45:01.165`."""
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch).strftime("%H:%M:%S.%f")[:-3]


def quote(text: str) -> str:
    """A string literal of the display-filter language (its escapes are JSON's)."""
    return json.dumps(text)


def elide(text: str, width: float, measure: Callable[[str], float], *, middle: bool = False) -> str:
    """`text` shortened with `…` until `measure` says it fits in `width` (at the end, or in the middle for URLs)."""
    if measure(text) <= width:
        return text
    low, high = 0, len(text)
    while low < high:  # the longest prefix (or prefix + suffix) that fits
        mid = (low + high + 1) // 2
        candidate = _cut(text, mid, middle)
        if measure(candidate) <= width:
            low = mid
        else:
            high = mid - 1
    return _cut(text, low, middle)


def _cut(text: str, keep: int, middle: bool) -> str:
    if keep <= 0:
        return "…"
    if not middle:
        return text[:keep] + "…"
    head = (keep + 1) // 2
    tail = keep - head
    return text[:head] + "…" + (text[-tail:] if tail else "")


def estimate_width(text: str, size: float = 9.0) -> float:
    """A rough text width in pixels for layouts made without fonts (tests, benchmarks of the pure layout)."""
    return len(text) * size * 0.62
