"""What the benchmarks share: the results table (`Figure`, `Results`), `percentile`, `log`, the run's header facts
(`revision`, `load_average`) and `until_stdin_closes` for the servers they start as child processes.

Imported by `run.py`, `capture.py`, `window.py` and `ui_stall.py` as the module `common` (each runs as a script from
this folder, which Python then puts first on `sys.path`); it imports no benchmark, so no benchmark needs another to
be imported first.
"""

from __future__ import annotations

import asyncio
import math
import os
import signal
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
"""The repository's root (the tree measured)."""


@dataclass
class Figure:
    """One measured quantity, sampled once per repetition."""

    label: str
    unit: str
    baseline: str | None = None
    """Key of the figure this one is divided by (its median by the baseline's median)."""
    rows_per_message: int | None = None
    """For message rates: rows carried per message, to print rows/s too."""
    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else math.nan


class Results:
    """Every figure of the run, in the order they are printed."""

    def __init__(self) -> None:
        self.figures: dict[str, Figure] = {}
        self.notes: list[str] = []

    def define(
        self, key: str, label: str, unit: str, baseline: str | None = None, rows_per_message: int | None = None
    ) -> None:
        self.figures.setdefault(key, Figure(label, unit, baseline, rows_per_message))

    def add(self, key: str, value: float) -> None:
        self.figures[key].samples.append(value)

    def ratio(self, key: str) -> float:
        figure = self.figures[key]
        if figure.baseline is None:
            return math.nan
        base = self.figures[figure.baseline].median
        return figure.median / base if base and not math.isnan(base) else math.nan

    def table(self) -> str:
        width = max([len("figure"), *(len(f.label) for f in self.figures.values())])
        header = (
            f"{'figure':<{width}} {'unit':<8} {'median':>9} {'min':>9} {'max':>9} {'n':>2} {'ratio':>7} {'rows/s':>9}"
        )
        lines = [header, "-" * len(header)]
        for key, f in self.figures.items():
            ratio = self.ratio(key)
            lo = min(f.samples) if f.samples else math.nan
            hi = max(f.samples) if f.samples else math.nan
            rows = f.median * f.rows_per_message if f.rows_per_message else math.nan
            lines.append(
                f"{f.label:<{width}} {f.unit:<8} {_num(f.median):>9} {_num(lo):>9} {_num(hi):>9} {len(f.samples):>2} "
                f"{'' if math.isnan(ratio) else f'{ratio:.3f}':>7} {'' if math.isnan(rows) else _num(rows):>9}"
            )
        return "\n".join(lines)


def _num(value: float) -> str:
    if math.isnan(value):
        return "-"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def log(message: str) -> None:
    print(message, flush=True)


def revision() -> str:
    """The git commit of the tree measured, with `+dirty` when it has changes (the figures are of the working tree)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def load_average() -> str:
    """The machine's load average, printed before and after a run (other work on the machine skews figures)."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg()) + " (1, 5, 15 min)"
    except OSError:
        return "unknown"


async def until_stdin_closes() -> None:
    """Wait for EOF on stdin (the parent closed it or died) or SIGTERM: how a benchmark's child server knows to stop,
    so it never outlives the run."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def drain_stdin() -> None:
        while await reader.read(4096):
            pass
        stop.set()

    drainer = asyncio.create_task(drain_stdin())
    try:
        await stop.wait()
    finally:
        drainer.cancel()
