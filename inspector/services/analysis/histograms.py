"""Latency histograms per event trigger: how long events waited for their first attempt and for their delivery, as
counts per latency bucket (the buckets `statistics.Histogram` uses: 0.1 ms below 100 ms, then three significant
digits). For the window's Statistics ▸ Latency histograms (`qt/statistics/`); `inspector stats` prints the same
distributions' percentiles. Big captures are sampled as the events pass samples them
(`store.analysis_queries.event_figures`)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from inspector.services.analysis import statistics
from inspector.services.analysis.capture_reading import Source, connection
from inspector.store import analysis_queries as queries
from inspector.store.filter_sql import register_functions

__all__ = ["TriggerLatencies", "latency_histograms"]


@dataclass(frozen=True)
class TriggerLatencies:
    """One trigger's latency distributions: (bucket lower bound in ms, events) in increasing order."""

    trigger: str
    first_attempt: tuple[tuple[float, int], ...]
    """Creation to first attempt (Hasura's fetch interval and queue included)."""
    delivery: tuple[tuple[float, int], ...]
    """Creation to the first 2xx answer (retries included)."""

    def percentile(self, which: str, p: float) -> float | None:
        """The `p` percentile (0-1) of `which` ("first_attempt" or "delivery"), as `inspector stats` reports it."""
        histogram = statistics.Histogram()
        for lower, count in getattr(self, which):
            histogram.add(lower, count)
        return histogram.percentile(p)


def latency_histograms(source: Source, filter_where: str = "1", params: Iterable[Any] = ()) -> list[TriggerLatencies]:
    """Per trigger (in the order the capture names them), the latency histograms of the events matching the filter."""
    conn = connection(source)
    register_functions(conn)
    triggers = queries.trigger_names(conn)
    totals = statistics.trigger_totals(conn, filter_where.strip() or "1", tuple(params), triggers, math.inf, None, {})
    order = [t for t in triggers if t in totals] + sorted(t for t in totals if t not in triggers)
    return [
        TriggerLatencies(
            name,
            tuple(sorted(totals[name].first.counts.items())),
            tuple(sorted(totals[name].delivery.counts.items())),
        )
        for name in order
    ]
