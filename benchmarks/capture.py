"""Capture benchmarks: how fast `inspector capture` records a subscription against the raw gql client on the same
stream, how much memory a 1M-message capture takes, and how fast `inspector export` / `inspector import` move it
through JSON Lines, each printed with its ratio to a baseline measured in the same run.

Run `python benchmarks/capture.py` (about 2 minutes) or `--quick` (a smoke run of about 10 seconds); `python
benchmarks/run.py` runs it too (`--only capture`). The stream source runs in a child process of this script (this
file again, with the hidden `--serve` option): a minimal GraphQL-over-WebSocket server (graphql-transport-ws, no
compression) written on asyncio streams, which answers one `subscribe` with N `next` frames as fast as the client
takes them (pre-framed, written in blocks of 256 frames) and then `complete`. It costs a few per cent of a core, so
the client is the bottleneck of every figure. It stops when its stdin closes.

Figures (see benchmarks/README.md and BENCHMARKS.md):
1. ingest: N = 100,000 messages of one subscription, of two shapes: a Hasura stream (`orders_stream`, batch size 1,
   one ~250-byte row per message) and a live query (`orders(order_by: {created: desc}, limit: 1)`: the latest order
   as it goes through validation, payment, approval and assignment; every result differs from the one before: a
   diff each time, which the capture derives when read). Baseline: a raw gql `Client(WebsocketsTransport)` in this
   process subscribing and counting the results. Measured: `inspector capture --no-events --subscription ... --out
   FILE` run as a subprocess (the real CLI, as a user runs it), which exits after `complete`. Both are timed by
   the server, from the `subscribe` frame to the client's close frame (so neither process start-up nor connecting
   is counted, but everything the client does with the N frames is, except writing the capture's last partial
   batch of under 4,000 rows, a few ms), and the capture file must then hold the N frames. Ratio = capture msgs/s
   / raw msgs/s; goal >= 0.9. With N >= 50,000 also each client's CPU time per message (the raw client's from
   `time.process_time`, the capture's from /proc/PID/stat sampled every 0.1 s), which other processes on the
   machine disturb far less than the wall time, and the ratio of the fastest runs.
2. memory: `inspector capture` recording 1,000,000 stream messages; its VmRSS (/proc/PID/status) is sampled every
   0.5 s. Reported: at the first message, at 25/50/75/100 % of the messages (matched by the frames' `received_at`
   in the capture), and the peak (VmHWM); goal < 200 MB and flat. Its msg/s is set against the ingest's raw stream
   baseline.
3. jsonl: `inspector export CAPTURE --out FILE.jsonl` and `inspector import FILE.jsonl --out CAPTURE` on the 1M
   capture (subprocesses; rows/s over the wall time, start-up included). Baselines, same rows, in this process: a
   plain `SELECT *` + `json.dumps` loop writing one line per row (export), and `json.loads` + `executemany` into
   the same schema in batches of 5,000 (import); `sqlite3`'s `iterdump` is printed as a reference.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import math
import os
import platform
import signal
import sqlite3
import struct
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
for _path in (str(ROOT), str(SCRIPT.parent)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from common import Results, load_average, log, revision, until_stdin_closes  # noqa: E402
from gql import Client, GraphQLRequest  # noqa: E402
from gql.transport.websockets import WebsocketsTransport  # noqa: E402

TRANSPORT_WS = "graphql-transport-ws"
FIELDS = "order_id user_id restaurant_id order_valid payment_valid approved driver_assigned created"
QUERIES = {
    "stream": (
        "subscription OrdersStream { orders_stream(batch_size: 1, cursor: {initial_value: {created:"
        ' "2026-11-26T00:00:00+00:00"}, ordering: ASC}) { ' + FIELDS + " } }"
    ),
    "live": "subscription LatestOrder { orders(order_by: {created: desc}, limit: 1) { " + FIELDS + " } }",
}
"""The subscriptions both clients send; the server answers each with rows of the same fields."""
KINDS = ("stream", "live")
BLOCK = 256
"""Frames the server builds and writes at once."""
MAX_FRAME_BYTES = 256 * 1024 * 1024
"""As the capture's recorder asks websockets for (so the raw client runs with the same connection settings)."""
SERVER_START_TIMEOUT = 20.0
RSS_INTERVAL = 0.5
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@dataclass(frozen=True)
class Settings:
    """How much to run: the full run or the --quick smoke run."""

    repeats: int
    messages: int
    """N: messages per ingest run."""
    memory_messages: int
    """Messages of the memory run (its capture is the one exported and imported)."""
    timeout: float
    """Longest time one ingest run may take."""


FULL = Settings(repeats=3, messages=100_000, memory_messages=1_000_000, timeout=120.0)
QUICK = Settings(repeats=1, messages=5_000, memory_messages=20_000, timeout=60.0)


# --- the stream source (child process) -------------------------------------------------------------------------------


def _row(i: int, kind: str) -> str:
    """Message i's row: an order of the food-ordering example (~250 bytes as a `next` frame)."""
    if kind == "live":  # the latest order, through its five states; a new order every fifth result
        order, stage = divmod(i, 5)
        flags = [stage >= 1, stage >= 2, stage >= 3, stage >= 4]
    else:
        order, flags = i, [True, True, False, False]
    seconds, micros = divmod(order * 1371, 1_000_000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    created = f"2026-11-26T{6 + hours % 18:02d}:{minutes:02d}:{seconds:02d}.{micros:06d}+00:00"
    valid, paid, approved, assigned = ("true" if f else "false" for f in flags)
    return (
        f'{{"order_id":"{order:08x}-7c1e-4d2a-9b3f-{order * 2654435761 % 16**12:012x}","user_id":"user-{order % 977}",'
        f'"restaurant_id":{order % 12 + 1},"order_valid":{valid},"payment_valid":{paid},"approved":{approved},'
        f'"driver_assigned":{assigned},"created":"{created}"}}'
    )


def _frame(text: str, opcode: int = 0x1) -> bytes:
    """One unmasked, unfragmented WebSocket frame (server to client)."""
    data = text.encode()
    n = len(data)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + data


def _frames(op_id: str, kind: str, start: int, stop: int) -> bytes:
    head = '{"type":"next","id":' + json.dumps(op_id) + ',"payload":{"data":{"'
    key = "orders_stream" if kind == "stream" else "orders"
    return b"".join(_frame(f'{head}{key}":[{_row(i, kind)}]}}}}}}') for i in range(start, stop))


async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One client frame (masked, as clients must send them): (opcode, payload)."""
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    mask = await reader.readexactly(4) if b1 & 0x80 else b"\0\0\0\0"
    data = await reader.readexactly(n)
    if b1 & 0x80:
        data = bytes(c ^ mask[i % 4] for i, c in enumerate(data))
    return b0 & 0x0F, data


def _report(value: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


async def serve_stream(kind: str, messages: int) -> None:
    """The stream source: a graphql-transport-ws server that answers every `subscribe` with `messages` `next`
    frames of `kind` rows, then `complete`. Reports each connection on stdout when the client has closed it."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        report: dict[str, Any] = {"kind": kind, "sent": 0, "complete": False}
        stream: asyncio.Task[None] | None = None
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            headers = {}
            for line in request.decode("latin-1").split("\r\n")[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            offered = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",")]
            if TRANSPORT_WS not in offered:
                writer.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                return
            accept = base64.b64encode(hashlib.sha1((headers["sec-websocket-key"] + GUID).encode()).digest())
            writer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Accept: " + accept + b"\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
            )

            async def send_all(op_id: str) -> None:
                for start in range(0, messages, BLOCK):
                    writer.write(_frames(op_id, kind, start, min(start + BLOCK, messages)))
                    report["sent"] = min(start + BLOCK, messages)
                    await writer.drain()
                writer.write(_frame(json.dumps({"type": "complete", "id": op_id})))
                report["complete"] = True
                await writer.drain()

            while True:
                opcode, data = await _read_frame(reader)
                if opcode == 0x8:  # close: echo it, and the connection is over
                    report["closed_at"] = time.time()
                    report["cpu_closed"] = time.process_time()
                    writer.write(struct.pack("!BB", 0x88, len(data)) + data)
                    await writer.drain()
                    return
                if opcode == 0x9:
                    writer.write(struct.pack("!BB", 0x8A, len(data)) + data)
                    continue
                if opcode != 0x1:
                    continue
                message = json.loads(data)
                if message.get("type") == "connection_init":
                    writer.write(_frame('{"type":"connection_ack"}'))
                elif message.get("type") == "subscribe" and stream is None:
                    query = message["payload"]["query"]
                    if ("_stream(" in query) != (kind == "stream"):
                        raise ValueError(f"this server streams {kind} results, not {query[:60]!r}")
                    report["subscribed_at"] = time.time()
                    report["cpu_subscribed"] = time.process_time()
                    stream = asyncio.create_task(send_all(message["id"]))
                elif message.get("type") == "complete" and stream is not None:
                    stream.cancel()
                elif message.get("type") == "ping":
                    writer.write(_frame('{"type":"pong"}'))
        except (asyncio.IncompleteReadError, ConnectionError):
            report.setdefault("closed_at", time.time())
            report.setdefault("cpu_closed", time.process_time())
        finally:
            if stream is not None:
                stream.cancel()
            writer.close()
            if "subscribed_at" in report:
                _report(report)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        _report({"ws": f"ws://127.0.0.1:{port}/v1/graphql"})
        await until_stdin_closes()


# --- the parent's side -----------------------------------------------------------------------------------------------


@dataclass
class Source:
    """A running stream source: its URL, and the reports of finished connections."""

    url: str
    pid: int
    reports: asyncio.Queue[dict[str, Any]]

    async def next_report(self, timeout: float) -> dict[str, Any]:
        return await asyncio.wait_for(self.reports.get(), timeout)


@contextlib.asynccontextmanager
async def stream_source(kind: str, messages: int) -> AsyncIterator[Source]:
    """Start `capture.py --serve kind --messages N` and yield it; always stop it (close stdin, then terminate)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPT),
        "--serve",
        kind,
        "--messages",
        str(messages),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=str(ROOT),
    )
    assert process.stdout is not None
    reports: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def read_reports() -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            await reports.put(json.loads(line))

    reader: asyncio.Task[None] | None = None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), SERVER_START_TIMEOUT)
        if not line:
            raise RuntimeError(f"the stream source exited before it was ready (status {await process.wait()})")
        reader = asyncio.create_task(read_reports())
        yield Source(json.loads(line)["ws"], process.pid, reports)
    finally:
        if reader is not None:
            reader.cancel()
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


@dataclass
class Run:
    """One client's pass over the stream, as the server timed it."""

    messages: int
    seconds: float
    server_cpu: float
    """Share of a core the server used while streaming."""
    client_cpu: float = math.nan
    """Share of a core the client used while streaming."""
    samples: list[tuple[float, float, int]] = field(default_factory=list)
    """For a child client: (time, CPU seconds, VmRSS bytes) every RSS_INTERVAL."""

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    def cpu_text(self) -> str:
        client = "n/a" if math.isnan(self.client_cpu) else f"{self.client_cpu:.0%}"
        return f"CPU server {self.server_cpu:.0%} client {client}"


def _timed(report: dict[str, Any], messages: int) -> Run:
    if not report.get("complete") or report.get("sent") != messages:
        raise RuntimeError(f"the server sent {report.get('sent')} of {messages} messages")
    seconds = report["closed_at"] - report["subscribed_at"]
    return Run(messages, seconds, (report["cpu_closed"] - report["cpu_subscribed"]) / seconds)


async def raw_client(source: Source, kind: str, messages: int, timeout: float) -> Run:
    """The baseline: gql's Client(WebsocketsTransport) subscribing and counting the results."""
    transport = WebsocketsTransport(
        url=source.url,
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        connect_timeout=10,
        ack_timeout=10,
        connect_args={"max_size": MAX_FRAME_BYTES},
    )
    received = 0
    async with asyncio.timeout(timeout):
        async with Client(transport=transport, fetch_schema_from_transport=False) as session:
            cpu0 = time.process_time()
            async for _result in session.subscribe(GraphQLRequest(QUERIES[kind])):
                received += 1
        cpu1 = time.process_time()
        report = await source.next_report(timeout)
    if received != messages:
        raise RuntimeError(f"the raw client received {received} of {messages} results")
    run = _timed(report, messages)
    run.client_cpu = (cpu1 - cpu0) / run.seconds  # from subscribe to after the close: a little more than the window
    return run


def _proc_sample(pid: int) -> tuple[float, int, int] | None:
    """(CPU seconds, VmRSS bytes, VmHWM bytes) of a process, or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    values = {}
    for line in status.splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            name, number, _unit = line.split()
            values[name[:-1]] = int(number) * 1024
    cpu = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    return cpu, values.get("VmRSS", 0), values.get("VmHWM", 0)


def capture_command(url: str, kind: str, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "inspector",
        "capture",
        "--endpoint",
        url,
        "--no-events",
        "--subprotocol",
        TRANSPORT_WS,
        "--subscription",
        QUERIES[kind],
        "--out",
        str(out),
        "--force",
    ]


@dataclass
class Sampled:
    """A finished child process: wall time, peak RSS (VmHWM) and (time, CPU seconds, VmRSS) samples."""

    seconds: float
    peak_rss: int
    samples: list[tuple[float, float, int]]

    def cpu_between(self, start: float, end: float) -> float:
        """Share of a core the process used between two wall-clock times (NaN if too few samples)."""
        window = [s for s in self.samples if start <= s[0] <= end]
        if len(window) < 2 or window[-1][0] - window[0][0] < 0.5:
            return math.nan
        return (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])


async def run_sampled(command: Sequence[str], timeout: float, interval: float) -> Sampled:
    """Run a command to its end, sampling its CPU and RSS every `interval`; RuntimeError unless it exits with 0."""
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        cwd=str(ROOT),
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    samples: list[tuple[float, float, int]] = []
    peak = 0

    async def sample() -> None:
        nonlocal peak
        while True:
            found = _proc_sample(process.pid)
            if found is not None:
                samples.append((time.time(), found[0], found[1]))
                peak = max(peak, found[2])
            await asyncio.sleep(interval)

    sampler = asyncio.create_task(sample())
    try:
        async with asyncio.timeout(timeout):
            _stdout, stderr = await process.communicate()
    finally:
        sampler.cancel()
        if process.returncode is None:
            process.kill()
            await process.wait()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command[3:5])} exited with {process.returncode}: {stderr.decode()[-300:]}")
    return Sampled(time.perf_counter() - started, peak, samples)


def _check_capture(path: Path, messages: int) -> None:
    conn = sqlite3.connect(path)
    try:
        nexts = conn.execute("SELECT count(*) FROM messages WHERE type = 'next'").fetchone()[0]
        completes = conn.execute("SELECT count(*) FROM messages WHERE type = 'complete'").fetchone()[0]
    finally:
        conn.close()
    if nexts != messages or completes != 1:
        raise RuntimeError(f"the capture holds {nexts} of {messages} next frames and {completes} complete frames")


@dataclass
class CaptureRun(Run):
    peak_rss: int = 0


async def inspector_capture(
    source: Source, kind: str, messages: int, out: Path, timeout: float, interval: float
) -> CaptureRun:
    """`inspector capture` as a subprocess until it exits after `complete`, its CPU and RSS sampled meanwhile; the
    capture must then hold every frame."""
    child = await run_sampled(capture_command(source.url, kind, out), timeout, interval)
    report = await source.next_report(10)
    run = _timed(report, messages)
    await asyncio.to_thread(_check_capture, out, messages)
    result = CaptureRun(run.messages, run.seconds, run.server_cpu, samples=child.samples, peak_rss=child.peak_rss)
    result.client_cpu = child.cpu_between(report["subscribed_at"], report["closed_at"])
    return result


# --- benchmark 1: ingest rate ----------------------------------------------------------------------------------------


async def ingest_benchmark(settings: Settings, results: Results, workdir: Path) -> None:
    n = settings.messages
    for kind in KINDS:
        results.define(f"capture.{kind}.raw", f"{kind}, N={n:,}: raw gql client (baseline)", "msg/s")
        results.define(
            f"capture.{kind}.inspector", f"{kind}, N={n:,}: inspector capture", "msg/s", f"capture.{kind}.raw"
        )
    # CPU time per message moves far less than wall time when another process takes the core; the child's CPU is
    # sampled every 0.1 s from /proc, so it needs runs of a second or more (not the --quick sizes).
    cpu_figures = n >= 50_000
    for kind in KINDS if cpu_figures else ():
        results.define(f"capture.{kind}.raw.cpu", f"{kind}: raw gql client's CPU per message (baseline)", "us")
        results.define(
            f"capture.{kind}.inspector.cpu",
            f"{kind}: inspector capture's CPU per message",
            "us",
            f"capture.{kind}.raw.cpu",
        )
    async with contextlib.AsyncExitStack() as stack:
        sources = {kind: await stack.enter_async_context(stream_source(kind, n)) for kind in KINDS}
        for rep in range(settings.repeats):
            for kind in KINDS:  # interleaved, so that a noisy phase of the machine hits both clients alike
                for who in ("raw", "inspector"):
                    try:
                        if who == "raw":
                            run: Run = await raw_client(sources[kind], kind, n, settings.timeout)
                        else:
                            out = workdir / f"ingest-{kind}-{rep}.capture"
                            run = await inspector_capture(sources[kind], kind, n, out, settings.timeout, 0.1)
                    except Exception as exc:  # one failed run must not lose the others
                        log(f"  {kind} {who} rep {rep + 1}: FAILED: {type(exc).__name__}: {exc}")
                        results.notes.append(f"capture {kind} {who} rep {rep + 1} failed: {exc!r}")
                        continue
                    results.add(f"capture.{kind}.{who}", run.rate)
                    if cpu_figures and not math.isnan(run.client_cpu):
                        results.add(f"capture.{kind}.{who}.cpu", run.client_cpu / run.rate * 1e6)
                    log(
                        f"  {kind:<6} {who:<9} rep {rep + 1}: {run.messages} messages in {run.seconds:.2f} s ="
                        f" {run.rate:,.0f} msg/s, {run.cpu_text()}"
                    )
    for kind in KINDS:
        raw, ours = results.figures[f"capture.{kind}.raw"], results.figures[f"capture.{kind}.inspector"]
        if raw.samples and ours.samples:
            log(
                f"  {kind}: ratio of the fastest runs {max(ours.samples) / max(raw.samples):.3f} (the least disturbed"
                " by other processes)"
            )


# --- benchmark 2: memory over a 1M-message capture -------------------------------------------------------------------


def _received_at(path: Path, n: int, quarters: Sequence[int]) -> tuple[float, dict[int, float], int]:
    """From a finished capture of n `next` frames: when the first arrived, when the q-th percent had, file size."""
    conn = sqlite3.connect(path)
    try:
        first_seq, first_at = conn.execute(
            "SELECT seq, received_at FROM messages WHERE type = 'next' ORDER BY seq LIMIT 1"
        ).fetchone()
        at = {
            q: conn.execute(
                "SELECT received_at FROM messages WHERE seq = ?", (first_seq + max(0, n * q // 100 - 1),)
            ).fetchone()[0]
            for q in quarters
        }
    finally:
        conn.close()
    return first_at, at, os.path.getsize(path)


async def memory_benchmark(settings: Settings, results: Results, capture_path: Path) -> bool:
    n = settings.memory_messages
    mb = 1024 * 1024
    quarters = (25, 50, 75, 100)
    label = f"stream, N={n:,}: inspector capture"
    results.define("memory.rate", f"{label}", "msg/s", "capture.stream.raw")
    results.define("memory.start", f"{label}: RSS at the first message", "MB")
    for q in quarters:
        results.define(f"memory.p{q}", f"{label}: RSS at {q} % of the messages", "MB")
    results.define("memory.peak", f"{label}: peak RSS (VmHWM), goal < 200", "MB")
    try:
        async with stream_source("stream", n) as source:
            run = await inspector_capture(source, "stream", n, capture_path, max(300.0, n / 2_000), RSS_INTERVAL)
        first, at, size = await asyncio.to_thread(_received_at, capture_path, n, quarters)
    except Exception as exc:
        log(f"  memory: FAILED: {type(exc).__name__}: {exc}")
        results.notes.append(f"memory run failed: {exc!r}")
        return False

    def rss_at(when: float) -> float:
        """VmRSS in the sample nearest to `when` (samples are RSS_INTERVAL apart)."""
        return min(run.samples, key=lambda s: abs(s[0] - when))[2] / mb

    results.add("memory.rate", run.rate)
    results.add("memory.start", rss_at(first))
    for q, when in at.items():
        results.add(f"memory.p{q}", rss_at(when))
    results.add("memory.peak", run.peak_rss / mb)
    log(
        f"  memory: {n:,} messages in {run.seconds:.1f} s = {run.rate:,.0f} msg/s, {run.cpu_text()}; RSS at the"
        f" first message {rss_at(first):.0f} MB, {' '.join(f'{q}%={rss_at(w):.0f}' for q, w in at.items())} MB,"
        f" peak {run.peak_rss / mb:.0f} MB ({len(run.samples)} samples); capture file {size / mb:.0f} MB"
    )
    if run.peak_rss / mb >= 200:
        results.notes.append(f"peak RSS {run.peak_rss / mb:.0f} MB: over the 200 MB goal")
    return True


# --- benchmark 3: JSONL export and import ----------------------------------------------------------------------------


def _rows(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        tables = ("trigger_snapshots", "events", "event_states", "invocations", "operations", "messages")
        return sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in (*tables, "session_log"))
    finally:
        conn.close()


def baseline_export(capture: Path, out: Path) -> int:
    """`SELECT *` of every table with rows, one `json.dumps` line per row (JSON columns left as strings): the floor
    of a JSONL export."""
    conn = sqlite3.connect(capture)
    n = 0
    try:
        with out.open("w", encoding="utf-8") as f:
            for table in ("operations", "messages", "session_log"):
                cursor = conn.execute(f"SELECT * FROM {table}")
                names = [d[0] for d in cursor.description]
                for row in cursor:
                    f.write(json.dumps({"_table": table, **dict(zip(names, row, strict=True))}) + "\n")
                    n += 1
            f.flush()
            os.fsync(f.fileno())  # as `inspector export --out` does before renaming its file into place
    finally:
        conn.close()
    return n


def baseline_import(jsonl: Path, capture: Path, batch: int = 5000) -> int:
    """`json.loads` of every line and `executemany` into the same tables, one transaction per batch."""
    from inspector.store.capture_file import _DDL

    for suffix in ("", "-wal", "-shm"):
        Path(f"{capture}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(capture)
    n = 0
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_DDL)
        pending: dict[tuple[str, tuple[str, ...]], list[tuple[Any, ...]]] = {}

        def write() -> None:
            with conn:
                for (table, names), rows in pending.items():
                    marks = ", ".join("?" * len(names))
                    conn.executemany(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})", rows)
            pending.clear()

        count = 0
        with jsonl.open(encoding="utf-8") as f:
            for line in f:
                record = json.loads(line)
                table = record.pop("_table")
                pending.setdefault((table, tuple(record)), []).append(tuple(record.values()))
                count += 1
                if count >= batch:
                    write()
                    count = 0
        write()
        n = int(sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("messages", "operations")))
    finally:
        conn.close()
    return n


def baseline_iterdump(capture: Path, out: Path) -> int:
    """sqlite3's own dump of the whole file as SQL text."""
    conn = sqlite3.connect(capture)
    n = 0
    try:
        with out.open("w", encoding="utf-8") as f:
            for line in conn.iterdump():
                f.write(line + "\n")
                n += 1
    finally:
        conn.close()
        out.unlink(missing_ok=True)
    return n


def _inspector(*args: str) -> list[str]:
    return [sys.executable, "-m", "inspector", *args]


async def jsonl_benchmark(results: Results, capture: Path, workdir: Path, repeats: int) -> None:
    rows = await asyncio.to_thread(_rows, capture)
    label = f"{rows:,} rows"
    mb = 1024 * 1024
    results.define("jsonl.export.base", f"JSONL export, {label}: SELECT * + json.dumps (baseline)", "rows/s")
    results.define("jsonl.export", f"JSONL export, {label}: inspector export", "rows/s", "jsonl.export.base")
    results.define("jsonl.export.rss", f"JSONL export, {label}: inspector export peak RSS", "MB")
    results.define("jsonl.import.base", f"JSONL import, {label}: json.loads + executemany (baseline)", "rows/s")
    results.define("jsonl.import", f"JSONL import, {label}: inspector import", "rows/s", "jsonl.import.base")
    results.define("jsonl.import.rss", f"JSONL import, {label}: inspector import peak RSS", "MB")
    results.define("jsonl.iterdump", f"sqlite3 iterdump, {label} (reference)", "rows/s")
    exported, plain, imported = workdir / "export.jsonl", workdir / "plain.jsonl", workdir / "imported.capture"
    export = _inspector("export", str(capture), "--out", str(exported))
    import_ = _inspector("import", str(exported), "--out", str(imported), "--force")
    baselines = {
        "jsonl.export.base": (baseline_export, capture, plain),
        "jsonl.import.base": (baseline_import, plain, workdir / "plain.capture"),
        "jsonl.iterdump": (baseline_iterdump, capture, workdir / "dump.sql"),
    }
    order = ("jsonl.export.base", "jsonl.export", "jsonl.import.base", "jsonl.import", "jsonl.iterdump")
    for rep in range(repeats):
        for key in order:
            try:
                if key in baselines:
                    job, *args = baselines[key]
                    started = time.perf_counter()
                    await asyncio.to_thread(job, *args)
                    seconds, extra = time.perf_counter() - started, ""
                else:
                    child = await run_sampled(export if key == "jsonl.export" else import_, 900, RSS_INTERVAL)
                    seconds, extra = child.seconds, f", peak RSS {child.peak_rss / mb:.0f} MB"
                    results.add(f"{key}.rss", child.peak_rss / mb)
            except Exception as exc:
                log(f"  {key} rep {rep + 1}: FAILED: {type(exc).__name__}: {exc}")
                results.notes.append(f"{key} rep {rep + 1} failed: {exc!r}")
                continue
            results.add(key, rows / seconds)
            log(f"  {key:<17} rep {rep + 1}: {rows:,} rows in {seconds:.2f} s = {rows / seconds:,.0f} rows/s{extra}")
    if imported.exists() and await asyncio.to_thread(_rows, imported) != rows:
        results.notes.append("the imported capture does not hold the exported rows")
    await asyncio.to_thread(_remove, exported, plain, imported, workdir / "plain.capture")  # 2.5 GB at 1M messages


def _remove(*paths: Path) -> None:
    for path in paths:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


# --- main ------------------------------------------------------------------------------------------------------------


async def capture_benchmark(
    settings: Settings, results: Results, keep: Path | None = None, only: str | None = None
) -> None:
    """Every capture benchmark, in order (or `only` "ingest", or "memory" with the JSONL figures); the figures go
    into `results`. Used by run.py too."""
    with tempfile.TemporaryDirectory(prefix="inspector-capture-bench-") as temp:
        workdir = keep or Path(temp)
        workdir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        if only in (None, "ingest"):
            log("[capture: ingest]")
            await ingest_benchmark(settings, results, workdir)
            log(f"  ({time.perf_counter() - started:.0f} s)")
        if only == "ingest":
            return
        started = time.perf_counter()
        log("[capture: memory]")
        big = workdir / "memory.capture"
        ok = await memory_benchmark(settings, results, big)
        log(f"  ({time.perf_counter() - started:.0f} s)")
        if ok:
            started = time.perf_counter()
            log("[capture: jsonl]")
            await jsonl_benchmark(results, big, workdir, 1)
            log(f"  ({time.perf_counter() - started:.0f} s)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a smoke run (one repetition, small sizes)")
    parser.add_argument("--repeats", type=int, metavar="N", help="override the number of repetitions")
    parser.add_argument("--messages", type=int, metavar="N", help="override N, the messages per ingest run")
    parser.add_argument("--memory-messages", type=int, metavar="N", help="override the memory run's messages")
    parser.add_argument("--only", choices=("ingest", "memory"), help="run one part (memory includes the JSONL figures)")
    parser.add_argument("--keep", metavar="DIR", help="write the captures and JSONL files here and keep them")
    parser.add_argument("--serve", choices=KINDS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us by closing stdin
        asyncio.run(serve_stream(args.serve, args.messages))
        return 0

    settings = QUICK if args.quick else FULL
    overrides = {"repeats": args.repeats, "messages": args.messages, "memory_messages": args.memory_messages}
    settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    started = time.perf_counter()
    log(
        f"Inspector capture benchmarks{' (--quick)' if args.quick else ''}: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC,"
        f" Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}"
    )
    log(f"  revision {revision()}; {settings}")
    log(f"  load average before: {load_average()}")
    results = Results()
    try:
        asyncio.run(capture_benchmark(settings, results, Path(args.keep).resolve() if args.keep else None, args.only))
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    log(f"  load average after: {load_average()}")
    log("")
    log(results.table())
    log("ratio = median / median of the figure's baseline, measured in the same run.")
    for note in results.notes:
        log(f"NOTE: {note}")
    log(f"total {time.perf_counter() - started:.0f} s")
    failed = any(not f.samples for f in results.figures.values()) or bool(results.notes)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
