"""Delivery analysis on a big capture: how long `inspector.services.analysis.analyse` takes over a million events
(and their
million invocations), how long a flow takes to build out of them, how long `mark_flags` takes to write what was
found, and how much memory all that needs. Each figure is printed with its goal and the ratio to it (below 1.0 meets
the goal).

Run `python benchmarks/analysis.py` (1,000,000 events: about a minute to build the capture, a few seconds to
measure) or `--rows N` for another size; `--capture PATH` measures an existing capture instead of building one
(`--keep` leaves the built one in place and prints its path; `--no-mark` leaves it unchanged). Standalone:
`benchmarks/run.py` does not run it.

The capture is generated in SQL (the food-ordering app's four triggers, one order's four events in a causal chain
sharing a trace id, realistic payloads and logged requests, so rows are as big as a real capture's: 3.6 GB for a
million events). By event number i (1-based) and order number o it holds: 1% dead letters (i % 97), 3% retried
after a 500 (i % 31) and some after a network error (i % 131), 0.5% delivered twice (i % 211), 2xx answers with an
`errors` body (i % 1009) and with a non-JSON body (i % 1013), a minute of silence every 5,000 orders followed by
four cold starts (1.8 s instead of 50-250 ms), a few events stuck for hours (i % 100003), the last 20 pending, and
for every 400th order two extra `address-changed` events delivered in the opposite order (every 800th also with a
stale `data.old`). The full-text index is left empty (filling it takes minutes; analysis does not need it).

Figures:
1. analyse: `analyse(conn)` over the whole capture: every detector, per-trigger figures and percentiles.
2. analyse with a filter: `trigger == "process-payment"`, compiled as the window and `inspector stats` do.
3. timeline: `report.timeline(60)` (one-minute buckets, exact percentiles).
4. flows: `flow_for_key` and `flow_for_event` (mean of 20 each); `iter_flow_keys` over every order.
5. mark_flags: writing the flags of everything found, in one transaction.
6. memory: this process's RSS before, after each step and at its peak (VmHWM, /proc/self/status).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from inspector.store import capture_file  # noqa: E402
from inspector.store.capture_file import CaptureFile  # noqa: E402

T0 = 1709294400.0
TRIGGERS = ("validate-order", "process-payment", "restaurant-approval", "agent-assignment")

EVENTS = """
WITH RECURSIVE n(i) AS (SELECT :first UNION ALL SELECT i + 1 FROM n WHERE i < :last)
INSERT INTO events (seq, id, trigger_name, schema_name, table_name, op, created_at, created_ts, payload, status,
  delivered, error, tries, locked, next_retry_at, archived, attempts, successes, first_attempt_ts, delivered_ts,
  last_http_status, row_key, trace_id, session_role, captured_at, updated_at)
SELECT i, id, trigger, 'public', 'orders', op, strftime('%Y-%m-%dT%H:%M:%f', ts, 'unixepoch'), ts,
  json_object('op', op,
    'data', json_object(
      'old', CASE WHEN op = 'INSERT' THEN NULL ELSE json_object('order_id', order_id, 'user_id', user_id,
        'restaurant_id', o % 50, 'address', printf('%d Main Street', o % 977), 'placed', json('false'),
        'approved', json(CASE WHEN k > 2 THEN 'true' ELSE 'false' END), 'driver_assigned', json('false'),
        'food_picked', json('false'), 'delivered', json('false'),
        'order_valid', json(CASE WHEN k > 1 THEN 'true' ELSE 'false' END),
        'payment_valid', json(CASE WHEN k > 2 THEN 'true' ELSE 'null' END),
        'created', strftime('%Y-%m-%dT%H:%M:%f+00:00', order_ts, 'unixepoch')) END,
      'new', json_object('order_id', order_id, 'user_id', user_id,
        'restaurant_id', o % 50, 'address', printf('%d Main Street', o % 977), 'placed', json('false'),
        'approved', json(CASE WHEN k >= 3 THEN 'true' ELSE 'false' END), 'driver_assigned', json('false'),
        'food_picked', json('false'), 'delivered', json('false'),
        'order_valid', json(CASE WHEN k >= 1 THEN 'true' ELSE 'false' END),
        'payment_valid', json(CASE WHEN k >= 2 THEN 'true' ELSE 'null' END),
        'created', strftime('%Y-%m-%dT%H:%M:%f+00:00', order_ts, 'unixepoch'))),
    'session_variables', json_object('x-hasura-role', 'user', 'x-hasura-user-id', user_id),
    'trace_context', json_object('trace_id', trace, 'span_id', printf('%016x', i), 'sampling_state', '1')),
  status, status = 'delivered', status = 'failed', attempts, NULL, NULL, 0, attempts, successes,
  CASE WHEN attempts > 0 THEN ts + lat END,
  CASE WHEN successes > 0 THEN ts + lat + (attempts - successes) * 2.0 END,
  CASE WHEN status = 'failed' THEN 500 WHEN attempts > 0 THEN 200 END, order_id, trace, 'user', ts + 0.01, ts + 0.01
FROM (
  SELECT *,
    CASE WHEN i > :pending_after OR i % 100003 = 0 THEN 'pending' WHEN i % 97 = 0 THEN 'failed' ELSE 'delivered'
      END AS status,
    CASE WHEN i > :pending_after OR i % 100003 = 0 THEN 0 WHEN i % 97 = 0 THEN 4
      WHEN i % 211 = 0 OR i % 31 = 0 OR i % 131 = 0 THEN 2 ELSE 1 END AS attempts,
    CASE WHEN i > :pending_after OR i % 100003 = 0 OR i % 97 = 0 THEN 0 WHEN i % 211 = 0 THEN 2 ELSE 1
      END AS successes
  FROM (
    SELECT i, o, k, order_ts, order_ts + k * 0.35 + 0.002 AS ts,
      CASE k WHEN 0 THEN 'INSERT' ELSE 'UPDATE' END AS op,
      CASE k WHEN 0 THEN 'validate-order' WHEN 1 THEN 'process-payment' WHEN 2 THEN 'restaurant-approval'
        ELSE 'agent-assignment' END AS trigger,
      printf('%08x-0000-4000-8000-%012x', o * 2654435761 % 4294967296, o) AS order_id,
      printf('user-%d', o % 997) AS user_id,
      printf('%032x', o * 2654435761) AS trace,
      printf('%08x-%04x-4000-8000-%012x', i * 2654435761 % 4294967296, i % 65536, i) AS id,
      CASE WHEN o % 5000 = 0 THEN 1.8 ELSE 0.05 + (i * 37 % 200) / 1000.0 END AS lat
    FROM (SELECT i, (i - 1) / 4 AS o, (i - 1) % 4 AS k, :t0 + ((i - 1) / 4) * 0.05 + ((i - 1) / 20000) * 60.0
      AS order_ts FROM n)))
"""
"""Events `first..last`, each derived from its number; order o = (i - 1) / 4 has events 4o+1 .. 4o+4."""

EXTRA_EVENTS = """
INSERT INTO events (id, trigger_name, schema_name, table_name, op, created_at, created_ts, payload, status,
  delivered, error, tries, archived, attempts, successes, first_attempt_ts, delivered_ts, last_http_status, row_key,
  trace_id, session_role, captured_at, updated_at)
SELECT printf('addr%04x-%04x-4000-8000-%012x', n, o % 65536, o), 'address-changed', 'public', 'orders', 'UPDATE',
  strftime('%Y-%m-%dT%H:%M:%f', e.created_ts + 2.0 + n * 0.1, 'unixepoch'), e.created_ts + 2.0 + n * 0.1,
  json_object('op', 'UPDATE', 'data', json_object(
    'old', json_object('order_id', e.row_key, 'address',
      CASE WHEN n = 1 AND o % 800 = 0 THEN 'somewhere else' ELSE printf('%d Street', n) END),
    'new', json_object('order_id', e.row_key, 'address', printf('%d Street', n + 1))),
    'session_variables', json_object('x-hasura-role', 'user'), 'trace_context', NULL),
  'delivered', 1, 0, 1, 0, 1, 1, e.created_ts + 2.6 - n * 0.4, e.created_ts + 2.6 - n * 0.4, 200, e.row_key, NULL,
  'user', e.created_ts, e.created_ts
FROM (SELECT (seq - 1) / 4 AS o, * FROM events WHERE seq % 1600 = 1 AND seq <= :last) e,
  (SELECT 0 AS n UNION ALL SELECT 1)
"""

INVOCATIONS = """
INSERT INTO invocations (id, event_id, trigger_name, attempt, http_status, status, request, response, created_at,
  created_ts, source, captured_at)
SELECT printf('%s-%d', x.id, x.n), x.id, x.trigger_name, x.n, code, code,
  json_object('payload', json_object('id', x.id, 'table', json_object('schema', 'public', 'name', 'orders'),
      'trigger', json_object('name', x.trigger_name), 'event', json(x.payload),
      'delivery_info', json_object('max_retries', 3, 'current_retry', x.n - 1), 'created_at', x.created_at),
    'headers', json_array(json_object('name', 'Content-Type', 'value', 'application/json'),
      json_object('name', 'User-Agent', 'value', 'hasura-graphql-engine/v2.48.0')), 'version', '2'),
  CASE WHEN code BETWEEN 200 AND 299 THEN json_object('type', 'webhook_response', 'data', json_object(
      'body', CASE WHEN x.seq % 1009 = 0 THEN '{"errors":[{"message":"payment provider down"}]}'
        WHEN x.seq % 1013 = 0 THEN 'OK' ELSE printf('{"order_id":"%s","updated":true}', x.row_key) END,
      'headers', json_array(json_object('name', 'Content-Type', 'value', 'application/json; charset=utf-8'),
        json_object('name', 'Content-Length', 'value', '62'),
        json_object('name', 'Date', 'value', 'Fri, 01 Mar 2024 12:00:00 GMT'),
        json_object('name', 'Server', 'value', 'Python/3.11 aiohttp/3.9.5')), 'status', code), 'version', '2')
    WHEN code IS NULL THEN json_object('type', 'client_error', 'data', json_object('message',
      '{"type":"http_exception","message":"Connection refused","request":{"url":"http://h/x","method":"POST"},'
      || '"status":null}'), 'version', '2')
    ELSE json_object('type', 'client_error', 'data', json_object('message', '{"error": "database is locked"}'),
      'version', '2') END,
  strftime('%Y-%m-%dT%H:%M:%f', ts, 'unixepoch'), ts, 'hasura', ts + 0.05
FROM (
  SELECT e.*, a.n AS n,
    CASE WHEN a.n <= e.attempts - e.successes AND e.seq % 131 = 0 AND e.seq % 97 != 0 THEN NULL
      WHEN a.n <= e.attempts - e.successes THEN 500 ELSE 200 END AS code,
    CASE WHEN e.successes = 2 AND a.n = 2 THEN e.first_attempt_ts + 0.004
      ELSE e.first_attempt_ts + (a.n - 1) * 2.0 END AS ts
  FROM events e JOIN (SELECT 1 AS n UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4) a
    ON a.n <= e.attempts
  WHERE e.seq BETWEEN :first AND :last
) x
"""

SNAPSHOT = {
    "validate-order": {"insert": {"columns": "*"}},
    "process-payment": {"update": {"columns": ["order_valid"]}},
    "restaurant-approval": {"update": {"columns": ["payment_valid"]}},
    "agent-assignment": {"update": {"columns": ["approved"]}},
    "address-changed": {"update": {"columns": ["address"]}},
}


def build_capture(path: Path, rows: int) -> float:
    """A capture of `rows` events (plus a few extra) and their invocations; returns the seconds it took."""
    started = time.perf_counter()
    capture = CaptureFile.create(path, overwrite=True)
    conn = capture.conn
    for trigger in ("events_ai", "events_ad", "events_au", "invocations_ai", "invocations_ad", "invocations_au"):
        conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    indexes = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('events', 'invocations') AND sql"
        )
    ]
    for name in indexes:
        conn.execute(f"DROP INDEX {name}")
    conn.execute("PRAGMA cache_size = -262144")
    step = 100_000
    for first in range(1, rows + 1, step):
        last = min(rows, first + step - 1)
        with conn:
            conn.execute(EVENTS, {"first": first, "last": last, "pending_after": rows - 20, "t0": T0})
            conn.execute(INVOCATIONS, {"first": first, "last": last})
    with conn:
        conn.execute(EXTRA_EVENTS, {"last": rows - 40})
        conn.execute(INVOCATIONS.replace("e.seq BETWEEN :first AND :last", "e.trigger_name = 'address-changed'"))
        for name, definition in SNAPSHOT.items():
            config = {
                "name": name,
                "definition": {"enable_manual": False, **definition},
                "retry_conf": {"num_retries": 3, "interval_sec": 2, "timeout_sec": 60},
                "webhook": f"http://localhost:8081/{name}",
            }
            conn.execute(
                "INSERT INTO trigger_snapshots (captured_at, source, table_schema, table_name, name, config) "
                "VALUES (?, 'default', 'public', 'orders', ?, ?)",
                (T0, name, json.dumps(config)),
            )
    conn.executescript(capture_file._DDL)  # the indexes again
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    capture.close()
    return time.perf_counter() - started


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1e3
    return float("nan")


def peak_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1e3
    return float("nan")


class Report:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, str, str]] = []

    def add(self, what: str, value: float, unit: str, goal: float | None = None) -> None:
        shown = f"{value:,.1f} MB" if unit == "MB" else f"{value * 1000:,.1f} ms"
        goal_text = "" if goal is None else (f"< {goal:,.0f} MB" if unit == "MB" else f"< {goal * 1000:,.0f} ms")
        ratio = "" if goal is None else f"{value / goal:.2f}"
        self.lines.append((what, shown, goal_text, ratio))
        print(f"  {what}: {shown}" + (f" (goal {goal_text}, ratio {ratio})" if goal else ""), flush=True)

    def table(self) -> str:
        rows = [("figure", "value", "goal", "ratio"), *self.lines]
        widths = [max(len(line[i]) for line in rows) for i in range(4)]
        return "\n".join(
            "  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(line))
            for line in rows
        )


def measure(path: Path, mark: bool) -> Report:
    from inspector.services.analysis import analyse, flow_for_event, flow_for_key, iter_flow_keys, mark_flags
    from inspector.store.filter_sql import compile_filter

    report = Report()
    baseline = rss_mb()
    report.add("RSS before", baseline, "MB")
    conn = sqlite3.connect(path)
    events = int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    invocations = int(conn.execute("SELECT count(*) FROM invocations").fetchone()[0])
    print(f"  {events:,} events, {invocations:,} invocations", flush=True)

    started = time.perf_counter()
    result = analyse(conn)
    report.add(f"analyse ({events:,} events)", time.perf_counter() - started, "s", 5.0)
    print("    " + ", ".join(f"{kind} {n:,}" for kind, n in result.counts.items()), flush=True)
    report.add("RSS after analyse", rss_mb(), "MB", 200)

    compiled = compile_filter('trigger == "process-payment"')
    started = time.perf_counter()
    analyse(conn, compiled.where, compiled.params)
    report.add('analyse with filter trigger == "process-payment"', time.perf_counter() - started, "s", 5.0)

    started = time.perf_counter()
    buckets = result.timeline(60)
    report.add(f"timeline(60 s): {len(buckets):,} buckets", time.perf_counter() - started, "s", 2.0)

    keys = [r[0] for r in conn.execute("SELECT row_key FROM events WHERE seq % (? / 20) = 1 LIMIT 20", (events,))]
    started = time.perf_counter()
    for key in keys:
        flow = flow_for_key(conn, key)
    report.add("flow_for_key (mean of 20)", (time.perf_counter() - started) / len(keys), "s", 0.05)
    print(f"    last flow: {len(flow.steps)} steps, lanes {', '.join(flow.lanes)}", flush=True)
    ids = [r[0] for r in conn.execute("SELECT id FROM events WHERE seq % (? / 20) = 2 LIMIT 20", (events,))]
    started = time.perf_counter()
    for event_id in ids:
        flow_for_event(conn, event_id)
    report.add("flow_for_event (mean of 20)", (time.perf_counter() - started) / len(ids), "s", 0.05)
    started = time.perf_counter()
    flows = sum(1 for _ in iter_flow_keys(conn))
    report.add(f"iter_flow_keys: all {flows:,} flows", time.perf_counter() - started, "s", 5.0)

    if mark:
        started = time.perf_counter()
        changed = mark_flags(conn, result)
        report.add(f"mark_flags ({changed:,} rows changed)", time.perf_counter() - started, "s", 5.0)
    report.add("RSS at the end", rss_mb(), "MB", 200)
    report.add("  growth", rss_mb() - baseline, "MB")
    report.add("peak RSS (VmHWM)", peak_mb(), "MB", 200)
    conn.close()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="events in the generated capture")
    parser.add_argument("--capture", type=Path, help="measure this capture instead of generating one")
    parser.add_argument("--keep", action="store_true", help="keep the generated capture and print its path")
    parser.add_argument("--no-mark", action="store_true", help="do not time mark_flags (leaves the capture as is)")
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.build:
        build_capture(args.build, args.rows)
        return 0
    with tempfile.TemporaryDirectory(prefix="inspector-bench-") as tmp:
        if args.capture:
            path = args.capture
        else:
            path = Path(tmp if not args.keep else tempfile.mkdtemp(prefix="inspector-bench-")) / "analysis.inspector"
            print(f"building a capture of {args.rows:,} events in {path} ...", flush=True)
            # In a child process, so SQLite's build-time cache does not count in the memory measured here.
            started = time.perf_counter()
            subprocess.run([sys.executable, str(SCRIPT), "--build", str(path), "--rows", str(args.rows)], check=True)
            print(f"  built in {time.perf_counter() - started:.1f} s, {path.stat().st_size / 1e6:,.0f} MB", flush=True)
        print(f"measuring analysis over {path}:", flush=True)
        report = measure(path, mark=not args.no_mark)
        print()
        print(report.table())
        if args.keep and not args.capture:
            print(f"\ncapture kept at {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
