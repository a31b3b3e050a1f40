"""Replay benchmark: how fast `inspector replay` delivers captured events to a local no-op handler, against a raw
aiohttp client posting the same bodies to the same handler in the same run.

Run `python benchmarks/replay.py` (about 30 s) or `--quick` (a smoke run of a few seconds). The handler runs in a
child process of this script (this file again, with the hidden `--serve` option): an aiohttp server on loopback that
answers every POST with `200 {}` after reading the body; it stops when its stdin closes, so it never outlives the run.

Figures (goal: replay >= 0.8x raw at every concurrency):
- replay: a `ReplayRunner` (the code `inspector replay` runs) on a synthetic capture of N INSERT events of one
  trigger whose captured webhook is the child, `--concurrency C`, `--expect 2xx`: each attempt builds Hasura's body
  and headers, goes through the pause/cancel gate, is timed, judged and written to the capture as an invocation
  (batched commits). Attempts/s over the `run()` wall time (the plan is loaded before the clock starts).
- raw: an `aiohttp.ClientSession` with a connector of the same size and C tasks posting the N bodies, serialised
  once beforehand, with the same headers (`Content-Type`, `User-Agent` and each event's trace headers, B3 and
  `traceparent`, made beforehand too); nothing is recorded. Attempts/s over the wall time.
The process runs with the CLI's GIL switch interval (`inspector.cli.SWITCH_INTERVAL`), as `inspector replay` does.
Both are measured alternately, `--repeats` times each, at each concurrency; the median is reported with min/max,
and the handler's CPU share (from /proc, Linux only) tells whether the handler or the client was the bottleneck. The
client's CPU per attempt (this process, all threads: replay's includes its recorder's SQLite thread; and replay's on
the event loop's thread alone) is printed too, with the ratio of the medians (raw / replay): on a shared machine,
where the wall-clock rates swing with other work, it is the steadier comparison. The load
average is printed before and after each concurrency.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402
from common import load_average  # noqa: E402

from inspector.cli import SWITCH_INTERVAL  # noqa: E402
from inspector.core.events import EventRecord, InvocationRecord  # noqa: E402
from inspector.core.hasura import (  # noqa: E402
    event_payload,
    invocation_request,
    request_headers,
    webhook_body,
    webhook_response,
)
from inspector.services.replay.loader import load_plan  # noqa: E402
from inspector.services.replay.plan import PlanOptions  # noqa: E402
from inspector.services.replay.runner import ReplayRunner  # noqa: E402
from inspector.store.capture_file import CaptureFile, CaptureWriter  # noqa: E402

GOAL = 0.8


# --- the handler (child process) -----------------------------------------------------------------------------------


def serve() -> None:
    async def noop(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=b"{}", content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/{name}", noop)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        print(port, flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin
        await runner.cleanup()

    asyncio.run(main())


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the capture ---------------------------------------------------------------------------------------------------


def build_capture(path: Path, webhook: str, events: int) -> list[tuple[bytes, dict[str, str]]]:
    """N events of trigger `notify` with a recorded 200 each; returns what a delivery of each sends: the body,
    serialised, and the headers replay sends."""
    capture = CaptureFile.create(path, overwrite=True)
    capture.set_info(server_version="v2.48.0")
    writer = CaptureWriter(capture, batch_size=5000)
    config = {
        "name": "notify",
        "definition": {"enable_manual": False, "insert": {"columns": "*"}},
        "retry_conf": {"num_retries": 3, "interval_sec": 10, "timeout_sec": 60},
        "webhook": webhook,
    }
    writer.snapshot_triggers([("default", {"schema": "public", "name": "orders"}, config)])
    bodies: list[tuple[bytes, dict[str, str]]] = []
    for n in range(events):
        event_id = f"00000000-0000-4000-8000-{n:012d}"
        row = {
            "order_id": f"order-{n}",
            "user_id": "alice",
            "restaurant_id": n % 7,
            "address": f"{n} Main Street",
            "placed": False,
            "approved": False,
            "driver_assigned": False,
            "food_picked": False,
            "delivered": False,
            "order_valid": False,
            "payment_valid": None,
            "created": "2024-03-01T12:00:00.000000+00:00",
        }
        payload = event_payload(
            "INSERT",
            None,
            row,
            {"x-hasura-role": "user", "x-hasura-user-id": "alice"},
            {"trace_id": f"{n:032x}", "span_id": f"{n:016x}", "sampling_state": "1"},
        )
        created = f"2024-03-01T12:{(n // 60) % 60:02d}:{n % 60:02d}.000001"
        writer.observe_event(
            EventRecord(event_id, "notify", "public", "orders", payload, created, True, False, 1, None, None, False)
        )
        body = webhook_body(event_id, "public", "orders", "notify", payload, 0, 3, created)
        writer.observe_invocation(
            InvocationRecord(
                f"inv-{n}",
                event_id,
                "notify",
                200,
                invocation_request(body, request_headers((), {})[1]),
                webhook_response("{}", [], 200),
                created,
            )
        )
        trace_id, span_id = f"{n:032x}", f"{n:016x}"
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "hasura-graphql-engine/v2.48.0",
            "X-B3-TraceId": trace_id,
            "X-B3-SpanId": span_id,
            "X-B3-Sampled": "1",
            "traceparent": f"00-{trace_id}-{span_id}-01",
        }
        bodies.append((json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(), headers))
    writer.flush()
    capture.close()
    return bodies


# --- the two clients -----------------------------------------------------------------------------------------------


async def raw_run(url: str, bodies: Sequence[tuple[bytes, dict[str, str]]], concurrency: int) -> float:
    queue = iter(bodies)
    ok = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal ok
        for body, headers in queue:
            async with session.post(url, data=body, headers=headers) as answer:
                await answer.read()
                ok += answer.status == 200

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    assert ok == len(bodies), f"raw: only {ok} of {len(bodies)} answered 200"
    return len(bodies) / elapsed


async def replay_run(
    path: Path, concurrency: int, cpu: list[float] | None = None, loop_cpu: list[float] | None = None
) -> float:
    """Attempts/s over `run()`; appends this process's CPU seconds during `run()` to `cpu` when given, and those of
    the event loop's thread alone to `loop_cpu`."""
    capture = CaptureFile.open(path)
    try:
        plan = load_plan(capture, PlanOptions(concurrency=concurrency), env={})
        runner = ReplayRunner(capture, plan, env={})
        started, mine, loop_mine = time.perf_counter(), time.process_time(), time.thread_time()
        report = await runner.run()
        elapsed = time.perf_counter() - started
        if cpu is not None:
            cpu.append(time.process_time() - mine)
        if loop_cpu is not None:
            loop_cpu.append(time.thread_time() - loop_mine)
    finally:
        capture.close()
    assert report.passed and report.attempts_made == plan.attempts, report.summary()
    return plan.attempts / elapsed


# --- the run -------------------------------------------------------------------------------------------------------


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):8.0f}/s (min {min(values):.0f}, max {max(values):.0f})"


async def measure(port: int, child_pid: int, events: int, repeats: int, concurrencies: Sequence[int]) -> bool:
    url = f"http://127.0.0.1:{port}/notify"
    ok = True
    with tempfile.TemporaryDirectory(prefix="inspector-bench-replay-") as tmp:
        path = Path(tmp) / "bench.inspector"
        bodies = build_capture(path, url, events)
        await raw_run(url, bodies[:200], 8)  # warm both sides up (connections, code paths)
        for concurrency in concurrencies:
            raw: list[float] = []
            replayed: list[float] = []
            cpu: dict[str, list[float]] = {"raw": [], "replay": []}
            own: dict[str, list[float]] = {"raw": [], "replay": []}
            loop_own: list[float] = []
            load_before = load_average()
            for _ in range(repeats):
                for name, results in (("raw", raw), ("replay", replayed)):
                    before, started, mine = cpu_seconds(child_pid), time.perf_counter(), time.process_time()
                    spent: list[float] = []
                    on_loop: list[float] = []
                    rate = (
                        await raw_run(url, bodies, concurrency)
                        if name == "raw"
                        else await replay_run(path, concurrency, spent, on_loop)
                    )
                    after, wall = cpu_seconds(child_pid), time.perf_counter() - started
                    own[name].append((spent[0] if spent else time.process_time() - mine) / events * 1e6)
                    loop_own.extend(t / events * 1e6 for t in on_loop)
                    results.append(rate)
                    if before is not None and after is not None:
                        cpu[name].append((after - before) / wall)
            ratio = statistics.median(replayed) / statistics.median(raw)
            cpu_ratio = statistics.median(own["raw"]) / statistics.median(own["replay"])
            ok &= ratio >= GOAL
            share = {k: f"{statistics.median(v):.0%}" if v else "n/a" for k, v in cpu.items()}
            mine_us = {k: f"{statistics.median(v):.0f} us" for k, v in own.items()}
            print(f"concurrency {concurrency:>3}: load average {load_before} before, {load_average()} after")
            print(
                f"  raw aiohttp client  {spread(raw)}   handler CPU {share['raw']}, client CPU {mine_us['raw']}/attempt"
            )
            print(
                f"  inspector replay    {spread(replayed)}   handler CPU {share['replay']}, "
                f"client CPU {mine_us['replay']}/attempt ({statistics.median(loop_own):.0f} us on the event loop's "
                "thread)"
            )
            print(
                f"  ratio {ratio:.2f}x (goal >= {GOAL}x) {'ok' if ratio >= GOAL else 'BELOW GOAL'}; "
                f"CPU per attempt, raw / replay: {cpu_ratio:.2f}",
                flush=True,
            )
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a smoke run: few events, one repetition")
    parser.add_argument("--events", type=int, default=None, help="events per run (default 3000; --quick 300)")
    parser.add_argument("--repeats", type=int, default=None, help="runs of each client (default 3; --quick 1)")
    parser.add_argument("--concurrency", default="1,8,32", help="comma-separated concurrencies (default 1,8,32)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve()
        return 0
    events = args.events or (300 if args.quick else 3000)
    repeats = args.repeats or (1 if args.quick else 3)
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    print(
        f"replay benchmark: {events} events, {repeats} repetition(s), concurrency {args.concurrency}; "
        f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, {os.cpu_count()} CPU(s)"
    )
    child = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        # As `inspector replay` runs: the CLI sets the GIL switch interval for every command (`cli.SWITCH_INTERVAL`,
        # 1 ms), so the recorder's thread and the event loop hand the GIL over within a millisecond.
        sys.setswitchinterval(SWITCH_INTERVAL)
        ok = asyncio.run(measure(port, child.pid, events, repeats, concurrencies))
    finally:
        with contextlib.suppress(BrokenPipeError, OSError):
            assert child.stdin is not None
            child.stdin.close()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
