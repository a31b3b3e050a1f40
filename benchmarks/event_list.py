"""The event list on a big capture: how fast the window's event list shows a million events, how much memory it takes,
and how fast display filters apply, each printed with its goal and the ratio to it (below 1.0 meets the goal).

Run `python benchmarks/event_list.py` (1,000,000 events: ~20 s to build the capture, a few seconds to measure) or
`--rows N` for another size; `--capture PATH` measures an existing capture instead of building one (`--keep` leaves
the built one in place and prints its path); `--json FILE` also writes the figures. `benchmarks/run.py` runs it too
(`--only window`: it builds the capture once and measures it in a fresh process per repetition).

The capture is generated in SQL in one transaction (the food-ordering app's four triggers in turn, realistic payloads
of ~340 bytes, 1% failed, 3% retried, 0.5% delivered twice, 2% slow). Its full-text index is left empty unless
`--fts` (filling it takes minutes and the event list does not use it).

Figures:
1. first rows: `EventTableModel(path)` constructed and the first screenful (50 rows, every column) rendered.
2. RSS: resident memory of this process after that (psutil, else /proc/self/status), and what it grew by.
3. scroll to the end: the last screenful rendered (one page read), then 200 jumps across the list as a dragged
   scroll bar does (one screenful each).
4. indexed filter (`trigger == "validate-order"`) and JSON-path filter (`data.new.restaurant_id == 3`): time until
   `set_filter` returns with the first screenful rendered, then until every matching row is loaded, driven by the Qt
   event loop as in the window (the loader works in ~25 ms steps between paints). Baseline of each full load: the
   raw SQL fetching the same seqs (`trigger_name = ...`; `json_extract(payload, ...) = 3`, a scan of every payload)
   through a plain connection, measured just before and just after it (their mean); the JSON-path filter's goal is
   at most 2x that scan, the indexed filter's 50 ms.
5. live tail: `refresh()` with nothing new, and with 1,000 new events committed by another connection.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from inspector.qt.event_list.event_table_model import EventTableModel  # noqa: E402
from inspector.store import capture_file  # noqa: E402
from inspector.store.capture_file import CaptureFile  # noqa: E402

SCREEN = 50
"""Rows on one screen of the event list."""
T0 = 1709294400.0

GENERATE = """
WITH RECURSIVE n(i) AS (SELECT :first UNION ALL SELECT i + 1 FROM n WHERE i < :last)
INSERT INTO events (seq, id, trigger_name, schema_name, table_name, op, created_at, created_ts, payload, status,
  delivered, error, tries, locked, next_retry_at, archived, attempts, successes, first_attempt_ts, delivered_ts,
  last_http_status, row_key, trace_id, session_role, captured_at, updated_at)
SELECT i, id, trigger, 'public', 'orders', op, strftime('%Y-%m-%dT%H:%M:%f', ts, 'unixepoch'), ts,
  json_object('op', op,
    'data', json_object(
      'old', CASE WHEN op = 'INSERT' THEN NULL ELSE json_object('order_valid', json('false')) END,
      'new', json_object('id', order_id, 'user_id', printf('user-%d', i % 997), 'restaurant_id', i % 50,
        'items', json_array('pizza', 'salad'),
        'order_valid', json(CASE WHEN op = 'INSERT' THEN 'false' ELSE 'true' END),
        'total', (i % 9000) / 100.0)),
    'session_variables', json_object('x-hasura-role', 'user', 'x-hasura-user-id', printf('user-%d', i % 997)),
    'trace_context', json_object('trace_id', printf('%016x', i * 7919), 'span_id', printf('%08x', i))),
  status, status = 'delivered', status = 'failed', attempts, NULL, NULL, 0, attempts, successes,
  CASE WHEN attempts > 0 THEN ts + lat END, CASE WHEN successes > 0 THEN ts + lat * attempts END,
  CASE WHEN status = 'failed' THEN 500 WHEN attempts > 0 THEN 200 END, order_id, printf('%016x', i * 7919), 'user',
  ts + 0.01, ts + 0.01
FROM (
  SELECT i, ts, op, trigger, order_id, id, lat,
    CASE WHEN i > :pending_after THEN 'pending' WHEN i % 97 = 0 THEN 'failed' ELSE 'delivered' END AS status,
    CASE WHEN i > :pending_after THEN 0 WHEN i % 97 = 0 THEN 4 WHEN i % 31 = 0 THEN 2 ELSE 1 END AS attempts,
    CASE WHEN i > :pending_after OR i % 97 = 0 THEN 0 WHEN i % 211 = 0 THEN 2 ELSE 1 END AS successes
  FROM (
    SELECT i, :t0 + i * 0.05 AS ts, CASE i % 4 WHEN 0 THEN 'INSERT' ELSE 'UPDATE' END AS op,
      CASE i % 4 WHEN 0 THEN 'validate-order' WHEN 1 THEN 'process-payment' WHEN 2 THEN 'restaurant-approval'
        ELSE 'agent-assignment' END AS trigger,
      printf('%08x-0000-4000-8000-%012x', (i / 4) * 2654435761 % 4294967296, i / 4) AS order_id,
      printf('%08x-%04x-4000-8000-%012x', i * 2654435761 % 4294967296, i % 65536, i) AS id,
      CASE WHEN i % 53 = 0 THEN 1.5 ELSE (i * 37 % 900) / 1000.0 END AS lat
    FROM n))
"""
"""Events `first..last`, each derived from its number: a deterministic, realistic capture in one statement."""


def build_capture(path: Path, rows: int, fts: bool) -> float:
    """A capture of `rows` events; returns the seconds it took. Indexes are built after the rows (faster)."""
    started = time.perf_counter()
    capture = CaptureFile.create(path, overwrite=True)
    conn = capture.conn
    for trigger in ("events_ai", "events_ad", "events_au"):
        conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    indexes = [
        r[0]
        for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql")
    ]
    for name in indexes:
        conn.execute(f"DROP INDEX {name}")
    conn.execute("PRAGMA cache_size = -262144")
    with conn:
        conn.execute(GENERATE, {"first": 1, "last": rows, "pending_after": rows - 20, "t0": T0})
    conn.executescript(capture_file._DDL)  # the indexes again
    if fts:
        capture.db.table("events").enable_fts(["payload"], create_triggers=True, replace=True)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    capture.close()
    return time.perf_counter() - started


FILTERS = (
    (
        "indexed filter",
        'trigger == "validate-order"',
        0.05,
        "SELECT seq FROM events WHERE trigger_name = 'validate-order'",
    ),
    (
        "JSON-path filter",
        "data.new.restaurant_id == 3",
        0.5,
        "SELECT seq FROM events WHERE json_extract(payload, '$.data.new.restaurant_id') = 3",
    ),
)
"""(figure, display filter, goal for its first screenful and for the indexed one's full load, the raw SQL baseline
of its full load: the same rows' seqs, fetched through a plain connection)."""
RAW_FACTOR = 2.0
"""Goal of the JSON-path filter's full load: at most this many times the raw `json_extract` scan, measured in the
same run."""


def raw_scan(path: Path, sql: str) -> tuple[float, int]:
    """Seconds to fetch every seq `sql` selects through a fresh connection with SQLite's defaults, and how many."""
    conn = sqlite3.connect(path)
    try:
        started = time.perf_counter()
        count = len(conn.execute(sql).fetchall())
        return time.perf_counter() - started, count
    finally:
        conn.close()


def rss_mb() -> float:
    try:
        import psutil  # type: ignore[import-untyped]

        return float(psutil.Process().memory_info().rss) / 1e6
    except ImportError:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1e3
    return float("nan")


def render(model: EventTableModel, first: int, count: int = SCREEN) -> None:
    """What the view asks for when it paints rows: text, alignment and colours of every cell."""
    for row in range(first, min(first + count, model.rowCount())):
        for column in range(model.columnCount()):
            index = model.index(row, column)
            for role in (0, 7, 8, 9):  # Display, TextAlignment, Background, Foreground
                model.data(index, role)


def wait_applied(model: EventTableModel, timeout: float = 120.0) -> None:
    """Run the Qt event loop until the model has loaded every matching row."""
    if not model.loading:
        return
    loop = QEventLoop()
    model.filterApplied.connect(loop.quit)
    QTimer.singleShot(int(timeout * 1000), loop.quit)
    loop.exec()
    model.filterApplied.disconnect(loop.quit)


class Report:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, str, str]] = []
        self.figures: list[dict[str, object]] = []
        """The same figures unformatted (value and goal in seconds or MB), for `--json`."""

    def add(self, what: str, value: float, unit: str, goal: float | None = None) -> None:
        self.figures.append({"figure": what.strip(), "value": value, "unit": unit, "goal": goal})
        shown = f"{value:,.1f} {unit}" if unit == "MB" else f"{value * 1000:,.1f} ms"
        if goal is None:
            self.lines.append((what, shown, "", ""))
            return
        goal_text = f"< {goal:,.0f} MB" if unit == "MB" else f"< {goal * 1000:,.0f} ms"
        self.lines.append((what, shown, goal_text, f"{value / goal:.2f}"))
        print(f"  {what}: {shown} (goal {goal_text}, ratio {value / goal:.2f})", flush=True)

    def note(self, what: str, value: float, unit: str = "s") -> None:
        self.add(what, value, unit)
        print(f"  {what}: {self.lines[-1][1]}", flush=True)

    def table(self) -> str:
        widths = [max(len(line[i]) for line in [("figure", "value", "goal", "ratio"), *self.lines]) for i in range(4)]
        out = []
        for line in [("figure", "value", "goal", "ratio"), *self.lines]:
            out.append(
                "  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(line))
            )
        return "\n".join(out)


def measure(path: Path, rows: int) -> Report:
    from inspector.cli import SWITCH_INTERVAL

    sys.setswitchinterval(SWITCH_INTERVAL)  # as the window runs (`inspector` sets it for every command)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    report = Report()
    baseline = rss_mb()

    started = time.perf_counter()
    model = EventTableModel(path)
    render(model, 0)
    report.add("first rows (model + first screenful)", time.perf_counter() - started, "s", 0.5)
    if model.rowCount() != rows:
        raise SystemExit(f"expected {rows} rows, the model shows {model.rowCount()}")
    report.add("RSS after first rows", rss_mb(), "MB", 300)
    report.note(f"  growth from opening the model ({rows:,} rows)", rss_mb() - baseline, "MB")

    started = time.perf_counter()
    render(model, rows - SCREEN)
    report.add("scroll to the end (last screenful)", time.perf_counter() - started, "s", 1 / 60)
    jumps = random.Random(7)
    started = time.perf_counter()
    for _ in range(200):
        render(model, jumps.randrange(0, rows - SCREEN))
    report.add("a jump across the list (mean of 200)", (time.perf_counter() - started) / 200, "s", 1 / 60)
    print(f"  pages cached after the jumps: {model.cached_pages} (bounded)", flush=True)

    for label, text, goal, raw_sql in FILTERS:
        before = raw_scan(path, raw_sql)
        started = time.perf_counter()
        assert model.set_filter(text), text
        render(model, 0)
        first = time.perf_counter() - started
        wait_applied(model)
        everything = time.perf_counter() - started
        after = raw_scan(path, raw_sql)
        if before[1] != model.rowCount() or after[1] != model.rowCount():
            raise SystemExit(f"{label}: the list shows {model.rowCount()} rows, the raw SQL found {before[1]}")
        raw = (before[0] + after[0]) / 2
        report.add(f"{label}: first screenful", first, "s", goal)
        report.note(f"{label}: raw SQL, all {model.rowCount():,} seqs (baseline, before and after)", raw)
        # The JSON-path filter's goal is relative: at most twice SQLite's own scan of the same rows, this run.
        loaded_goal = goal if label == "indexed filter" else RAW_FACTOR * raw
        report.add(f"{label}: all {model.rowCount():,} rows loaded", everything, "s", loaded_goal)
        print(f"  {label}: all rows loaded / raw SQL = {everything / raw:.2f}", flush=True)
    report.add("RSS after the filters", rss_mb(), "MB", 300)

    model.set_filter("")
    wait_applied(model)
    started = time.perf_counter()
    model.refresh()
    report.note("live tail: refresh with nothing new", time.perf_counter() - started)
    writer = sqlite3.connect(path)
    with writer:
        writer.execute(GENERATE, {"first": rows + 1, "last": rows + 1000, "pending_after": rows, "t0": T0})
    writer.close()
    started = time.perf_counter()
    model.refresh()
    render(model, model.rowCount() - SCREEN)
    report.note("live tail: refresh with 1,000 new events", time.perf_counter() - started)
    if model.rowCount() != rows + 1000:
        raise SystemExit(f"the tail shows {model.rowCount()} rows, expected {rows + 1000}")
    model.close()
    del app
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="events in the generated capture")
    parser.add_argument("--capture", type=Path, help="measure this capture instead of generating one")
    parser.add_argument("--keep", action="store_true", help="keep the generated capture and print its path")
    parser.add_argument("--fts", action="store_true", help="also fill the full-text index (slow)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.build:
        build_capture(args.build, args.rows, args.fts)
        return 0

    with tempfile.TemporaryDirectory(prefix="inspector-bench-") as tmp:
        if args.capture:
            path = args.capture
            rows = int(sqlite3.connect(path).execute("SELECT count(*) FROM events").fetchone()[0])
        else:
            path = Path(tmp if not args.keep else tempfile.mkdtemp(prefix="inspector-bench-")) / "events.inspector"
            rows = args.rows
            print(f"building a capture of {rows:,} events in {path} ...", flush=True)
            # In a child process, so SQLite's build-time cache does not count in the memory measured here.
            started = time.perf_counter()
            build = [
                sys.executable,
                str(SCRIPT),
                "--build",
                str(path),
                "--rows",
                str(rows),
                *(["--fts"] if args.fts else []),
            ]
            subprocess.run(build, check=True)
            seconds = time.perf_counter() - started
            print(f"  built in {seconds:.1f} s, {path.stat().st_size / 1e6:,.0f} MB", flush=True)
        print(f"measuring the event list over {rows:,} events:", flush=True)
        report = measure(path, rows)
        print()
        print(report.table())
        if args.json:
            args.json.write_text(json.dumps({"rows": rows, "figures": report.figures}, indent=2))
        if args.keep and not args.capture:
            print(f"\ncapture kept at {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
