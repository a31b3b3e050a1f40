"""Relay benchmark: what `inspector relay` adds to each delivery, against direct delivery to the same handler in the
same run.

Run `python benchmarks/relay.py` (about 40 s) or `--quick` (a few seconds). Three processes, as in use: this script is
the engine (an aiohttp client posting Hasura-shaped event bodies of about 1 KB with Hasura's headers); the handler is
a child process (this file with `--serve handler`: answers every POST `200 {}` after reading the body); the relay is
another child (`--serve relay`: `inspector.services.relay.Relay` with one route to the handler and, as `inspector
relay --out` does, every delivery recorded into a temporary capture, with the CLI's GIL switch interval). Children
stop when their stdin closes.

Figures (goals: p50 added < 1 ms, throughput >= 0.8x direct):
- latency: one delivery at a time, N of them, direct and through the relay alternately in blocks; p50 and p99 of
  each, and the added latency (relay p50 - direct p50, relay p99 - direct p99);
- throughput: C deliveries in flight (C = 16), N in all; deliveries/s direct and through the relay, and their ratio,
  with the no-op handler (every process CPU-bound: on a 2-core machine the three share the cores, so this measures
  what the relay costs) and with a handler that takes `--handler-ms` (default 5 ms) waiting, as a handler that
  writes to a database or calls an API does (the engine's 16 deliveries in flight then wait on the handler, and
  the relay must not be what limits them);
- the floor: the same no-op throughput through a bare TCP pipe (a fourth child, `--serve pipe`: asyncio protocols
  copying bytes between the engine's connections and the handler, one connection to the handler for each; no HTTP
  parsed, nothing recorded), measured in the same repeats. No relay written in Python does less per delivery, so
  its ratio bounds what any relay can reach on this machine;
- CPU per delivery of each process (user + system time from /proc over the no-op throughput runs, divided by the
  deliveries): the engine, the handler, the relay.
Repeated `--repeats` times; the median of the repeats is reported with min/max.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402
from common import load_average, log, percentile, revision, until_stdin_closes  # noqa: E402

TRIGGER = "process-payment"
HEADERS = {
    "Content-Type": "application/json",
    "User-Agent": "hasura-graphql-engine/v2.48.0",
    "X-B3-TraceId": "463ac35c9f6413ad48485a3953bb6124",
    "X-B3-SpanId": "a2fb4a1d1a96d312",
    "X-B3-Sampled": "1",
    "X-Api-Key": "benchmark-secret",
}


def body(n: int) -> bytes:
    order = {"order_id": str(uuid.uuid4()), "user_id": "u1", "restaurant_id": 1, "address": "1 Main St" * 20}
    return json.dumps(
        {
            "id": str(uuid.uuid4()),
            "table": {"schema": "public", "name": "orders"},
            "trigger": {"name": TRIGGER},
            "event": {
                "op": "UPDATE",
                "data": {"old": {**order, "order_valid": False}, "new": {**order, "order_valid": True}},
                "session_variables": {"x-hasura-role": "admin"},
                "trace_context": {"trace_id": "463ac35c9f6413ad48485a3953bb6124", "span_id": "a2fb4a1d1a96d312"},
            },
            "delivery_info": {"current_retry": 0, "max_retries": 3},
            "created_at": "2026-11-26T12:00:00.123456",
            "n": n,
        }
    ).encode()


# --- children --------------------------------------------------------------------------------------------------------


WAIT_HEADER = "X-Bench-Handler-Ms"
"""Milliseconds the handler waits before answering (sent by the engine, passed on by the relay as any header)."""


async def serve_handler() -> None:
    async def ok(request: web.Request) -> web.Response:
        await request.read()
        wait = request.headers.get(WAIT_HEADER)
        if wait:
            await asyncio.sleep(float(wait) / 1000)
        return web.json_response({})

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/{name}", ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    await until_stdin_closes()
    await runner.cleanup()


async def serve_relay(target: str, record: bool = True) -> None:
    from inspector.cli import SWITCH_INTERVAL
    from inspector.services.relay import Relay, RelayConfig
    from inspector.store.capture_file import CaptureFile
    from inspector.store.relay_records import RelayRecorder

    sys.setswitchinterval(SWITCH_INTERVAL)  # as `inspector relay` runs (the CLI sets it for every command)
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp:
        capture = CaptureFile.create(Path(tmp) / "relay.inspector")
        recorder = RelayRecorder(capture)
        relay = Relay(RelayConfig({TRIGGER: target}), recorder=recorder if record else None)
        await relay.start()
        print(relay.port, flush=True)
        await until_stdin_closes()
        await relay.stop()
        recorder.close()
        capture.close()


class _PipeUp(asyncio.Protocol):
    """The handler's side of one piped connection: its bytes go back to the engine as they come."""

    def __init__(self, down: asyncio.Transport) -> None:
        self.down = down

    def data_received(self, data: bytes) -> None:
        self.down.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.down.close()


class _PipeDown(asyncio.Protocol):
    """The engine's side of one piped connection: a connection to the handler opened for it, bytes copied both ways
    (no HTTP parsed, nothing recorded)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.early: list[bytes] = []
        self.up: asyncio.Transport | None = None
        self.connecting: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.connecting = asyncio.ensure_future(self._connect(transport))

    async def _connect(self, down: asyncio.Transport) -> None:
        loop = asyncio.get_running_loop()
        up, _ = await loop.create_connection(lambda: _PipeUp(down), "127.0.0.1", self.port)
        self.up = up
        for data in self.early:
            up.write(data)
        self.early = []

    def data_received(self, data: bytes) -> None:
        if self.up is not None:
            self.up.write(data)
        else:
            self.early.append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.up is not None:
            self.up.close()


async def serve_pipe(target: str) -> None:
    """The floor of any relay written in Python: a TCP pipe to the handler (asyncio protocols, as the relay's own
    listener), one connection to the handler per connection from the engine. Whatever a relay adds (HTTP framing,
    rules, recording) comes on top of what this costs."""
    from urllib.parse import urlsplit

    port = urlsplit(target).port
    assert port is not None
    server = await asyncio.get_running_loop().create_server(lambda: _PipeDown(port), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await until_stdin_closes()
    server.close()


async def start_child(*args: str) -> tuple[asyncio.subprocess.Process, int]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(SCRIPT), "--serve", *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    return proc, int(line)


async def stop_child(proc: asyncio.subprocess.Process) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    await asyncio.wait_for(proc.wait(), 30)


# --- measuring -------------------------------------------------------------------------------------------------------


async def latencies(session: aiohttp.ClientSession, url: str, bodies: Sequence[bytes]) -> list[float]:
    out = []
    for data in bodies:
        started = time.perf_counter()
        async with session.post(url, data=data, headers=HEADERS) as answer:
            await answer.read()
            assert answer.status == 200, answer.status
        out.append((time.perf_counter() - started) * 1000.0)
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def throughput(
    session: aiohttp.ClientSession, url: str, bodies: Sequence[bytes], concurrency: int, handler_ms: float = 0
) -> float:
    queue = list(bodies)
    headers = {**HEADERS, WAIT_HEADER: str(handler_ms)} if handler_ms else HEADERS

    async def worker() -> None:
        while queue:
            data = queue.pop()
            async with session.post(url, data=data, headers=headers) as answer:
                await answer.read()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(bodies) / (time.perf_counter() - started)


async def bench(n: int, repeats: int, concurrency: int, record: bool = True, handler_ms: float = 5.0) -> int:
    log(
        f"relay benchmark at {revision()} ({'recording' if record else 'not recording'}); load average before: "
        f"{load_average()}"
    )
    handler, handler_port = await start_child("handler")
    direct = f"http://127.0.0.1:{handler_port}/{TRIGGER}"
    relay, relay_port = await start_child("relay", direct, *([] if record else ["no-record"]))
    relayed = f"http://127.0.0.1:{relay_port}/{TRIGGER}"
    pipe, pipe_port = await start_child("pipe", direct)
    piped = f"http://127.0.0.1:{pipe_port}/{TRIGGER}"

    def bodies_of(count: int) -> list[bytes]:
        """Events new to the relay: each delivery a first attempt, as the engine's are unless a handler failed (a
        retry of a known event costs the recording more: its figures are worked out again)."""
        return [body(i) for i in range(count)]

    bodies = bodies_of(n)
    keys = ("d50", "d99", "r50", "r99", "a50", "a99", "dt", "rt", "ratio", "pt", "pratio", "wdt", "wrt", "wratio")
    figures: dict[str, list[float]] = {k: [] for k in (*keys, "cpu_engine", "cpu_handler", "cpu_relay")}
    pids = {"cpu_engine": os.getpid(), "cpu_handler": handler.pid, "cpu_relay": relay.pid}
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
            await latencies(session, direct, bodies_of(50))  # warm both paths
            await latencies(session, relayed, bodies_of(50))
            await latencies(session, piped, bodies_of(50))
            for _ in range(repeats):
                d: list[float] = []
                r: list[float] = []
                for start in range(0, n, 100):  # alternate in blocks: both see the same machine load
                    d += await latencies(session, direct, bodies[start : start + 100])
                    r += await latencies(session, relayed, bodies_of(min(100, n - start)))
                d50, d99, r50, r99 = percentile(d, 50), percentile(d, 99), percentile(r, 50), percentile(r, 99)
                dt = await throughput(session, direct, bodies, concurrency)
                fresh = bodies_of(n)
                before = {key: cpu_seconds(pid) for key, pid in pids.items()}
                rt = await throughput(session, relayed, fresh, concurrency)
                for key, pid in pids.items():
                    figures[key].append((cpu_seconds(pid) - before[key]) / len(bodies) * 1e6)
                pt = await throughput(session, piped, bodies_of(n), concurrency)
                waited = bodies[: max(1, len(bodies) // 2)]
                wdt = await throughput(session, direct, waited, concurrency, handler_ms)
                fresh = bodies_of(len(waited))
                wrt = await throughput(session, relayed, fresh, concurrency, handler_ms)
                values = (d50, d99, r50, r99, r50 - d50, r99 - d99, dt, rt, rt / dt, pt, pt / dt, wdt, wrt, wrt / wdt)
                for key, value in zip(keys, values, strict=True):
                    figures[key].append(value)
    finally:
        await stop_child(pipe)
        await stop_child(relay)
        await stop_child(handler)
    labels = {
        "d50": "direct latency p50 (ms)",
        "d99": "direct latency p99 (ms)",
        "r50": "relayed latency p50 (ms)",
        "r99": "relayed latency p99 (ms)",
        "a50": "added p50 (ms, goal < 1)",
        "a99": "added p99 (ms)",
        "dt": f"direct deliveries/s (C={concurrency})",
        "rt": f"relayed deliveries/s (C={concurrency})",
        "ratio": "throughput ratio, no-op handler",
        "pt": f"piped deliveries/s (C={concurrency})",
        "pratio": "throughput ratio, bare TCP pipe",
        "cpu_engine": "CPU us/delivery relayed: engine",
        "cpu_handler": "CPU us/delivery relayed: handler",
        "cpu_relay": "CPU us/delivery relayed: relay",
        "wdt": f"direct deliveries/s ({handler_ms:g} ms handler)",
        "wrt": f"relayed deliveries/s ({handler_ms:g} ms handler)",
        "wratio": f"throughput ratio, {handler_ms:g} ms handler",
    }
    log(f"{n} deliveries x {repeats} repeats; median [min, max] of the repeats")
    for key, label in labels.items():
        got = figures[key]
        log(f"  {label:<36} {statistics.median(got):9.3f}  [{min(got):.3f}, {max(got):.3f}]")
    log(f"load average after: {load_average()}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 300 deliveries, 1 repeat")
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--no-record", action="store_true", help="the relay records nothing (no --out)")
    parser.add_argument(
        "--handler-ms", type=float, default=5.0, help="the waiting handler's time per delivery (default 5)"
    )
    parser.add_argument("--serve", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        if args.serve[0] == "handler":
            asyncio.run(serve_handler())
        elif args.serve[0] == "pipe":
            asyncio.run(serve_pipe(args.serve[1]))
        else:
            asyncio.run(serve_relay(args.serve[1], record=args.serve[-1] != "no-record"))
        return 0
    n, repeats = (300, 1) if args.quick else (args.deliveries, args.repeats)
    return asyncio.run(bench(n, repeats, args.concurrency, record=not args.no_record, handler_ms=args.handler_ms))


if __name__ == "__main__":
    raise SystemExit(main())
