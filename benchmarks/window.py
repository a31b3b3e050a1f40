"""The window's benchmarks in `benchmarks/run.py` (`--only window`): `event_list.py` (the event list over a
1,000,000-event capture, each figure against its goal) and `ui_stall.py` (UI stalls while a capture grows at 10,000
events/s, against the same window idle). Each runs as a child process (Qt stays out of the benchmark runner's process),
writes its figures as JSON, and is killed if it overruns or the run is interrupted; its progress lines are shown
indented.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common import Results, log

HERE = Path(__file__).resolve().parent
EVENT_LIST = HERE / "event_list.py"
UI_STALL = HERE / "ui_stall.py"
LIST_ROWS = {False: 1_000_000, True: 20_000}
"""Events in the event-list benchmark's capture: full run, --quick."""
STALL_SECONDS = {False: 15.0, True: 3.0}
"""Seconds of each phase (ingest, idle) of the stall benchmark: full run, --quick."""
STALL_GOAL_MS = 50.0
QUIET = ("propagateSizeHints",)
"""Lines of the children not worth showing (the offscreen platform's notices)."""


async def run_child(args: Sequence[str], timeout: float, progress_only: bool = True) -> int:
    """Run `python args...` from the repository root, showing its output indented (only its progress lines, which
    the scripts indent, unless not `progress_only`: the runner prints the figures itself); returns its exit status."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=str(HERE.parent),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(timeout):
            assert process.stdout is not None
            in_table = False
            async for line in process.stdout:
                text = line.decode(errors="replace").rstrip()
                in_table = in_table or text.startswith("figure ")  # the script's own table comes last
                shown = not progress_only or text.startswith("NOTE") or (text.startswith("  ") and not in_table)
                if text and shown and not any(q in text for q in QUIET):
                    log(f"    {text}")
            return await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def _goal_text(goal: float, unit: str) -> str:
    return f"goal < {goal:,.0f}" if unit == "MB" else f"goal < {goal * 1000:,.1f}".removesuffix(".0")


async def event_list_benchmark(repeats: int, results: Results, quick: bool) -> None:
    """Build the capture once; measure it in a fresh process per repetition (the list's live-tail step appends 1,000
    events, which are deleted again after each repetition, so every repetition measures the same capture)."""
    rows = LIST_ROWS[quick]
    goals: dict[str, tuple[float, str]] = {}
    with tempfile.TemporaryDirectory(prefix="inspector-bench-list-") as tmp:
        capture = Path(tmp) / "events.inspector"
        started = time.perf_counter()
        status = await run_child([str(EVENT_LIST), "--build", str(capture), "--rows", str(rows)], 900, False)
        if status != 0:
            raise RuntimeError(f"building the {rows:,}-event capture failed (status {status})")
        log(f"  built a capture of {rows:,} events in {time.perf_counter() - started:.1f} s")
        for rep in range(repeats):
            out = Path(tmp) / f"figures-{rep + 1}.json"
            status = await run_child([str(EVENT_LIST), "--capture", str(capture), "--json", str(out)], 900)
            _trim(capture, rows)
            if status != 0 or not out.exists():
                log(f"  event list rep {rep + 1}: FAILED (status {status})")
                results.notes.append(f"event list rep {rep + 1} failed (status {status})")
                continue
            for i, figure in enumerate(json.loads(out.read_text())["figures"]):
                key = f"window.list.{i}"
                what, unit, goal = str(figure["figure"]), str(figure["unit"]), figure["goal"]
                label = f"event list, {rows:,} events: {_no_counts(what)}"
                if goal is not None:
                    label += f" ({_goal_text(goal, unit)})"
                    goals[key] = (goal * 1000 if unit != "MB" else goal, unit)
                results.define(key, label, "MB" if unit == "MB" else "ms")
                results.add(key, float(figure["value"]) * (1 if unit == "MB" else 1000))
    for key, (goal, _unit) in goals.items():
        figure = results.figures[key]
        ratio = figure.median / goal
        log(f"  {figure.label}: median {figure.median:,.1f} {figure.unit}, ratio to the goal {ratio:.2f}")


def _no_counts(text: str) -> str:
    """A figure's name without the row counts in it (they vary by a few rows between repetitions)."""
    return re.sub(r" \(\d[\d,]* rows\)", "", re.sub(r"all \d[\d,]* rows", "all rows", text))


def _trim(capture: Path, rows: int) -> None:
    """Delete what the live-tail step appended, so the next repetition measures the same capture."""
    conn = sqlite3.connect(capture)
    try:
        with conn:
            conn.execute("DELETE FROM events WHERE seq > ?", (rows,))
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


STALL_FIGURES = (
    ("p50", "stall p50", "ms"),
    ("p99", "stall p99", "ms"),
    ("max", "longest stall", "ms"),
    ("over_goal", f"stalls > {STALL_GOAL_MS:.0f} ms", "count"),
    ("own_p99", "stall p99 less the GUI thread's waits for a CPU", "ms"),
    ("own_max", "longest stall less the waits for a CPU", "ms"),
    ("own_over_goal", f"stalls > {STALL_GOAL_MS:.0f} ms less the waits for a CPU", "count"),
    ("stalled_share", "event loop busy (gaps > 5 ms)", "%"),
    ("cpu_share", "CPU of the window's process", "%"),
    ("waiting_share", "GUI thread waiting for a CPU", "%"),
)


def _stall_args(seconds: float, repeats: int, out: Path, profile: Path | None) -> list[str]:
    args = [str(UI_STALL), "--seconds", str(seconds), "--repeats", str(repeats), "--json", str(out)]
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
        args += ["--profile", str(profile / "ui_stall-gui.prof")]
    return args


async def ui_stall_benchmark(repeats: int, results: Results, quick: bool, profile: Path | None) -> None:
    seconds = STALL_SECONDS[quick]
    with tempfile.TemporaryDirectory(prefix="inspector-bench-stall-") as tmp:
        out = Path(tmp) / "figures.json"
        args = _stall_args(seconds, repeats, out, profile)
        status = await run_child(args, repeats * (2 * seconds + 20) + 60)
        if not out.exists():
            raise RuntimeError(f"ui_stall.py failed (status {status})")
        data: dict[str, Any] = json.loads(out.read_text())
    rate = float(data["rate"])
    for name, label, unit in STALL_FIGURES:
        results.define(f"window.stall.idle.{name}", f"window idle (baseline): {label}", unit)
        goal = f" (goal < {STALL_GOAL_MS:.0f})" if name == "p99" else ""
        results.define(
            f"window.stall.ingest.{name}",
            f"window following {rate:,.0f} events/s: {label}{goal}",
            unit,
            f"window.stall.idle.{name}",
        )
    results.define("window.stall.written", f"window following {rate:,.0f} events/s: events written", "events")
    results.define(
        "window.stall.shown",
        f"window following {rate:,.0f} events/s: rows shown at the end",
        "rows",
        "window.stall.written",
    )
    for rep in data["per_repetition"]:
        for name, _label, unit in STALL_FIGURES:
            scale = 100.0 if unit == "%" else 1.0
            for phase in ("idle", "ingest"):
                results.add(f"window.stall.{phase}.{name}", float(rep[f"{phase}.{name}"]) * scale)
        results.add("window.stall.written", float(rep["written"]))
        results.add("window.stall.shown", float(rep["shown_at_stop"]))
    results.notes.extend(f"ui_stall: {note}" for note in data["notes"])
    p99 = results.figures["window.stall.ingest.p99"].median
    ratio = p99 / STALL_GOAL_MS
    log(f"  stall p99 while ingesting: median {p99:.1f} ms, ratio to the goal ({STALL_GOAL_MS:.0f} ms) {ratio:.2f}")
