"""Inspector's benchmarks: end-to-end orders/s through the sandbox's 4-hop event chain, WebSocket messages/s of a
streaming subscription, and the capture's ingest rate, memory and JSONL rates, each printed with its ratio against a
baseline measured in the same run; and the window's event list and UI stalls, against their goals and the idle window.

Run `python benchmarks/run.py` (about 6 minutes) or `python benchmarks/run.py --quick` (a smoke run of about 35
seconds); `--only sandbox` runs the first two, `--only capture` the third, `--only window` the fourth. Every server
(sandbox or baseline) runs in a child process of this script (this file again, with the hidden `--serve` option), so
that the load generator and the gql client do not share an event loop or a core with the server under test; the child
stops when its stdin closes, so it never outlives the run. `--profile DIR` makes the sandbox benchmarks' children
write cProfile stats there.

Figures (see benchmarks/README.md and BENCHMARKS.md):
1. orders: K customers, each placing an order (`inspector.sandbox.traffic.place_order`: `insert_orders_one` +
   `insert_items`, as the example's app) and waiting until it has driver_assigned (a watcher polls every 20 ms)
   before placing the next, for T seconds; the last orders then drain (bounded). Completed orders/s adds up each
   customer's completed orders over the time from its first order's `created` to its last completion; latency runs
   from an order's `created` to its successful agent-assignment invocation in `pg_get_event_invocation_logs` (both
   stamped by the sandbox's clock). Run with a 0.05 s fetch interval and with Hasura's default 1 s. Baseline: the
   same K customers placing orders back to back, on a sandbox whose four event triggers were deleted with
   `pg_delete_event_trigger` (the raw write rate).
2. ws: a gql client (WebsocketsTransport, both sub-protocols) consumes `items_stream` from cursor 0 over pre-inserted
   rows with batch_size 1 and 100. Baseline: a minimal `websockets` server on loopback that answers the same
   subscription with pre-encoded frames of the same bytes (the transport ceiling of the same client).
3. capture: benchmarks/capture.py (its docstring says what it measures): `inspector capture`'s ingest rate against
   the raw gql client on the same stream, its memory over a 1M-message capture, and JSONL export/import rates.
4. window (`--only window`; benchmarks/window.py runs both as child processes): benchmarks/event_list.py, the event
   list over a 1,000,000-event capture (first rows, memory, scrolling, filters, live tail), each against its goal;
   and benchmarks/ui_stall.py, the window's UI stalls while another process writes 10,000 events/s into the capture
   it shows, against the same window idle. `--profile DIR` also profiles the window's process (ui_stall-gui.prof).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import math
import os
import platform
import random
import re
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from common import Results, load_average, log, percentile, revision, until_stdin_closes  # noqa: E402
from gql import Client, GraphQLRequest  # noqa: E402
from gql.transport.websockets import WebsocketsTransport  # noqa: E402
from websockets.asyncio.client import connect as ws_connect  # noqa: E402
from websockets.asyncio.server import ServerConnection  # noqa: E402
from websockets.asyncio.server import serve as ws_serve  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory  # noqa: E402
from websockets.typing import Subprotocol  # noqa: E402

from inspector.core.hasura import parse_timestamp  # noqa: E402
from inspector.sandbox.config import SandboxConfig  # noqa: E402
from inspector.sandbox.server import EXAMPLE_TRIGGERS, Sandbox  # noqa: E402
from inspector.sandbox.tables import MENU_SEED  # noqa: E402
from inspector.sandbox.traffic import place_order  # noqa: E402

SECRET = "benchmark-admin-secret"
ADMIN = {"x-hasura-admin-secret": SECRET}
TRANSPORT_WS = "graphql-transport-ws"
APOLLO = "graphql-ws"
PROTOCOLS = (TRANSPORT_WS, APOLLO)
BATCH_SIZES = (1, 100)
STREAM_ORDER_ID = "00000000-0000-4000-8000-000000000001"
"""The one order the streamed items rows belong to (items.order_id references orders)."""
STREAM_QUERY = (
    "subscription { items_stream(batch_size: %d, cursor: {initial_value: {id: 0}, ordering: ASC},"
    " where: {id: {_lte: %d}}) { id order_id item } }"
)
"""Rows 1..N in batches; the `where` makes both servers send exactly N rows, so nothing is left unread."""
DONE_AMONG = (
    "query ($ids: [String!]) { orders(where: {order_id: {_in: $ids}, driver_assigned: {_eq: true}}) { order_id } }"
)
POLL_SECONDS = 0.02
"""How often the orders benchmark's watcher asks which of the customers' orders are done."""
ALL_ORDERS = "query { orders { order_id created } }"
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=30)
SERVER_START_TIMEOUT = 20.0
SERVER_STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class Settings:
    """How much to run: the full run or the --quick smoke run."""

    repeats: int
    customers: int
    """K: concurrent customers in the orders benchmark."""
    seconds: float
    """T: how long the customers keep placing orders."""
    drain_timeout: float
    """Longest wait, after T, for every placed order to reach driver_assigned."""
    rows: int
    """R: items rows streamed with batch_size 100 (and inserted)."""
    rows_batch1: int
    """Rows streamed with batch_size 1 (one message each)."""
    stream_timeout: float
    """Longest time one streaming run may take."""
    min_seconds: float
    """Each streaming sample streams the rows again until it has run this long."""


FULL = Settings(
    repeats=3,
    customers=64,
    seconds=6.0,
    drain_timeout=30.0,
    rows=100_000,
    rows_batch1=20_000,
    stream_timeout=60.0,
    min_seconds=1.0,
)
QUICK = Settings(
    repeats=1,
    customers=4,
    seconds=1.0,
    drain_timeout=15.0,
    rows=2_000,
    rows_batch1=500,
    stream_timeout=20.0,
    min_seconds=0.0,
)


# --- servers in child processes --------------------------------------------------------------------------------------


@dataclass
class ServerInfo:
    """What a child server reported when it was ready."""

    kind: str
    urls: dict[str, str]
    pid: int


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) used so far by process `pid` (Linux /proc), or by this process; NaN if unknown."""
    if pid is None:
        return time.process_time()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return math.nan


class CpuMeter:
    """Share of one core the server and this client used between `start()` and `stop()`."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.server = self.client = math.nan
        self._at = self._server0 = self._client0 = 0.0

    def start(self) -> None:
        self._at, self._server0, self._client0 = time.perf_counter(), cpu_seconds(self.pid), cpu_seconds()

    def stop(self) -> None:
        wall = time.perf_counter() - self._at
        if wall >= 0.5:  # /proc counts in clock ticks (10 ms): shorter windows say nothing
            self.server = (cpu_seconds(self.pid) - self._server0) / wall
            self.client = (cpu_seconds() - self._client0) / wall

    def __str__(self) -> str:
        if math.isnan(self.server) or math.isnan(self.client):
            return "CPU n/a"
        return f"CPU server {self.server:.0%} client {self.client:.0%}"


@contextlib.asynccontextmanager
async def child_server(kind: str, options: Sequence[str], profile_dir: Path | None) -> AsyncIterator[ServerInfo]:
    """Start `run.py --serve kind` and yield its URLs; always stop it (close stdin, then terminate, then kill)."""
    args = [sys.executable, str(SCRIPT), "--serve", kind, *options]
    if profile_dir is not None:
        args += ["--profile", str(profile_dir)]
    process = await asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=str(ROOT)
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), SERVER_START_TIMEOUT)
        if not line:
            raise RuntimeError(f"the {kind} server exited before it was ready (status {await process.wait()})")
        yield ServerInfo(kind, json.loads(line), process.pid)
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), SERVER_STOP_TIMEOUT)
        except TimeoutError:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), SERVER_STOP_TIMEOUT)
            except TimeoutError:
                process.kill()
                await process.wait()


def _ready(urls: dict[str, str]) -> None:
    sys.stdout.write(json.dumps(urls) + "\n")
    sys.stdout.flush()


async def serve_sandbox(fetch_interval: float, refetch_interval: float) -> None:
    sandbox = Sandbox(
        SandboxConfig(
            port=0, admin_secret=SECRET, fetch_interval=fetch_interval, refetch_interval=refetch_interval, seed=1
        )
    )
    try:
        await sandbox.start()
        _ready({"graphql": sandbox.graphql_url, "ws": sandbox.ws_url, "metadata": sandbox.metadata_url})
        await until_stdin_closes()
    finally:
        await sandbox.stop()


def stream_rows(count: int) -> list[dict[str, Any]]:
    """The items rows streamed in the ws benchmark, as the sandbox returns them (ids 1..count)."""
    return [{"id": i, "order_id": STREAM_ORDER_ID, "item": MENU_SEED[i % len(MENU_SEED)]} for i in range(1, count + 1)]


def _compact(value: Any) -> str:
    # As the sandbox encodes its frames (graphql_ws._encode).
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _select_subprotocol(_connection: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
    # As the sandbox (and Hasura) negotiate: graphql-transport-ws only when graphql-ws is not offered too.
    if TRANSPORT_WS in offered and APOLLO not in offered:
        return Subprotocol(TRANSPORT_WS)
    return Subprotocol(APOLLO) if APOLLO in offered else None


def parse_streams(text: str) -> list[tuple[int, int]]:
    """`--streams 1:20000,100:100000` → [(batch size, rows), ...]."""
    return [(int(size), int(rows)) for size, rows in (item.split(":") for item in text.split(",") if item)]


STREAM_ARGS = re.compile(r"batch_size:\s*(\d+).*_lte:\s*(\d+)", re.DOTALL)


async def serve_raw_ws(streams: list[tuple[int, int]]) -> None:
    """The transport-ceiling baseline: answers `items_stream(batch_size: B, ... where: {id: {_lte: N}})` with
    pre-encoded frames holding the rows the sandbox would send, then waits for the client to stop the subscription."""
    payloads: dict[tuple[int, int], list[str]] = {}

    def payloads_for(size: int, rows: int) -> list[str]:
        if (size, rows) not in payloads:
            all_rows = stream_rows(rows)
            payloads[size, rows] = [
                _compact({"data": {"items_stream": all_rows[i : i + size]}}) for i in range(0, rows, size)
            ]
        return payloads[size, rows]

    for size, rows in streams:
        payloads_for(size, rows)

    async def handler(ws: ServerConnection) -> None:
        transport_ws = ws.subprotocol == TRANSPORT_WS
        running: dict[str, asyncio.Task[None]] = {}

        async def stream(op_id: str, size: int, rows: int) -> None:
            head = '{"type":"' + ("next" if transport_ws else "data") + '","id":' + _compact(op_id) + ',"payload":'
            for payload in payloads_for(size, rows):
                await ws.send(head + payload + "}")

        try:
            async for raw in ws:
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "connection_init":
                    await ws.send('{"type":"connection_ack"}')
                    await ws.send(
                        '{"type":"ping","payload":{"message":"keepalive"}}' if transport_ws else '{"type":"ka"}'
                    )
                elif kind in ("subscribe", "start"):
                    match = STREAM_ARGS.search(message["payload"]["query"])
                    if match is None:
                        raise ValueError("not the benchmark's items_stream subscription")
                    size, rows = int(match.group(1)), int(match.group(2))
                    running[message["id"]] = asyncio.create_task(stream(message["id"], size, rows))
                elif kind in ("complete", "stop"):
                    task = running.pop(message["id"], None)
                    if task is not None:
                        task.cancel()
                    if not transport_ws:
                        await ws.send(_compact({"type": "complete", "id": message["id"]}))
                elif kind == "ping":
                    await ws.send('{"type":"pong"}')
                elif kind == "connection_terminate":
                    return
        except ConnectionClosed:
            pass
        finally:
            for task in running.values():
                task.cancel()

    # permessage-deflate with zlib's defaults, as aiohttp (the sandbox) accepts it; websockets' own default would
    # limit the window to 12 bits.
    async with ws_serve(
        handler,
        "127.0.0.1",
        0,
        subprotocols=[Subprotocol(TRANSPORT_WS), Subprotocol(APOLLO)],
        select_subprotocol=_select_subprotocol,
        compression=None,
        extensions=[ServerPerMessageDeflateFactory()],
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        _ready({"ws": f"ws://127.0.0.1:{port}/v1/graphql"})
        await until_stdin_closes()


def serve_main(args: argparse.Namespace) -> int:
    """Entry point of a child server process. Ctrl-C is left to the parent, which closes our stdin to stop us."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    profiler = cProfile.Profile() if args.profile else None
    if args.serve == "sandbox":
        job = serve_sandbox(args.fetch_interval, args.refetch_interval)
    else:
        job = serve_raw_ws(parse_streams(args.streams))
    if profiler is not None:
        profiler.enable()
    try:
        asyncio.run(job)
    finally:
        if profiler is not None:
            profiler.disable()
            out = Path(args.profile) / f"{args.serve}-{args.tag or os.getpid()}.prof"
            out.parent.mkdir(parents=True, exist_ok=True)
            profiler.dump_stats(str(out))
    return 0


# --- HTTP helpers ----------------------------------------------------------------------------------------------------


async def graphql(
    http: aiohttp.ClientSession, url: str, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    async with http.post(
        url, json={"query": query, "variables": variables or {}}, headers=ADMIN, timeout=HTTP_TIMEOUT
    ) as answer:
        result: dict[str, Any] = await answer.json(content_type=None)
    if "errors" in result:
        raise RuntimeError(f"GraphQL error: {result['errors'][0].get('message')}")
    data: dict[str, Any] = result["data"]
    return data


async def metadata(http: aiohttp.ClientSession, url: str, kind: str, args: dict[str, Any]) -> Any:
    async with http.post(url, json={"type": kind, "args": args}, headers=ADMIN, timeout=HTTP_TIMEOUT) as answer:
        body = await answer.json(content_type=None)
        if answer.status != 200:
            raise RuntimeError(f"{kind} failed: {body}")
        return body


async def delete_triggers(http: aiohttp.ClientSession, urls: dict[str, str]) -> None:
    for name, _ops in EXAMPLE_TRIGGERS:
        await metadata(http, urls["metadata"], "pg_delete_event_trigger", {"name": name})


# --- benchmark 1: orders ---------------------------------------------------------------------------------------------


@dataclass
class OrdersRun:
    """What one repetition of the orders benchmark measured."""

    placed: int = 0
    refused: int = 0
    seconds: float = 0.0
    """How long customers kept placing orders (T, plus the last placement in flight)."""
    completed: int = 0
    """Orders whose agent-assignment invocation succeeded."""
    completed_per_s: float = math.nan
    drain_seconds: float = math.nan
    stuck: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    failed_invocations: int = 0
    polls: int = 0
    poll_errors: int = 0
    cpu: CpuMeter | None = None
    """CPU use during the load (T)."""


def _order_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


async def raw_orders(http: aiohttp.ClientSession, server: ServerInfo, settings: Settings, seed: str) -> OrdersRun:
    """The baseline: K customers placing orders back to back for T seconds (nothing else happens)."""
    run = OrdersRun(cpu=CpuMeter(server.pid))
    url = server.urls["graphql"]
    assert run.cpu is not None
    run.cpu.start()
    started = time.perf_counter()
    deadline = started + settings.seconds

    async def customer(index: int) -> None:
        rng = random.Random(f"{seed}:{index}")
        while time.perf_counter() < deadline:
            try:
                result = await place_order(http, url, SECRET, rng, _order_id(rng))
            except (aiohttp.ClientError, TimeoutError):
                result = {"errors": ["request failed"]}
            if "errors" in result:
                run.refused += 1
            else:
                run.placed += 1

    async with asyncio.timeout(settings.seconds + 30):
        await asyncio.gather(*(customer(i) for i in range(settings.customers)))
    run.seconds = time.perf_counter() - started
    run.cpu.stop()
    return run


async def chain_orders(http: aiohttp.ClientSession, server: ServerInfo, settings: Settings, seed: str) -> OrdersRun:
    """K customers, each placing an order and waiting until it has driver_assigned before placing the next, for T
    seconds; then the last orders drain (bounded). A watcher polls the customers' pending orders every POLL_SECONDS."""
    run = OrdersRun(cpu=CpuMeter(server.pid))
    urls = server.urls
    loop = asyncio.get_running_loop()
    pending: dict[str, asyncio.Future[None]] = {}
    mine: list[list[str]] = [[] for _ in range(settings.customers)]
    assert run.cpu is not None
    run.cpu.start()
    started = time.perf_counter()
    deadline = started + settings.seconds

    async def watcher() -> None:
        while True:
            if pending:
                try:
                    data = await graphql(http, urls["graphql"], DONE_AMONG, {"ids": list(pending)})
                except (aiohttp.ClientError, TimeoutError, RuntimeError) as exc:
                    run.poll_errors += 1
                    log(f"  (poll failed: {type(exc).__name__}: {exc})")
                    await asyncio.sleep(POLL_SECONDS)
                    continue
                run.polls += 1
                for order in data["orders"]:
                    future = pending.pop(order["order_id"], None)
                    if future is not None and not future.done():
                        future.set_result(None)
            await asyncio.sleep(POLL_SECONDS)

    async def customer(index: int) -> None:
        rng = random.Random(f"{seed}:{index}")
        while time.perf_counter() < deadline:
            order_id = _order_id(rng)
            future = loop.create_future()
            pending[order_id] = future
            try:
                result = await place_order(http, urls["graphql"], SECRET, rng, order_id)
            except (aiohttp.ClientError, TimeoutError):
                result = {"errors": ["request failed"]}
            if "errors" in result:
                pending.pop(order_id, None)
                run.refused += 1
                await asyncio.sleep(POLL_SECONDS)
                continue
            run.placed += 1
            mine[index].append(order_id)
            await future

    watch = asyncio.create_task(watcher())
    customers = [asyncio.create_task(customer(i)) for i in range(settings.customers)]
    try:
        await asyncio.wait(customers, timeout=settings.seconds)  # customers stop placing at the deadline
        load_end = time.perf_counter()
        run.cpu.stop()
        run.seconds = load_end - started
        _done, late = await asyncio.wait(customers, timeout=settings.drain_timeout)
        run.drain_seconds = time.perf_counter() - load_end
        run.stuck = len(late)
    finally:
        for task in [*customers, watch]:
            task.cancel()
        await asyncio.gather(*customers, watch, return_exceptions=True)

    orders = (await graphql(http, urls["graphql"], ALL_ORDERS))["orders"]
    created = {o["order_id"]: parse_timestamp(o["created"]) for o in orders}
    invocations = await metadata(
        http,
        urls["metadata"],
        "pg_get_event_invocation_logs",
        {"name": "agent-assignment", "limit": 3 * len(orders) + 100},
    )
    finished: dict[str, float] = {}
    for invocation in invocations:
        status = invocation.get("http_status")
        if status is None or not 200 <= status < 300:
            run.failed_invocations += 1
            continue
        order_id = invocation["request"]["payload"]["event"]["data"]["new"]["order_id"]
        at = parse_timestamp(invocation["created_at"]).timestamp()
        finished[order_id] = min(at, finished.get(order_id, at))
    run.completed = len(finished)
    run.latencies_ms = [(at - created[o].timestamp()) * 1000 for o, at in finished.items() if o in created]
    # Each customer is a serial loop: its completed orders over the time from its first order's `created` to its
    # last completion is its rate, with no warm-up or drain to cut off; the customers' rates add up.
    rate = 0.0
    for orders_of_one in mine:
        done = [o for o in orders_of_one if o in finished and o in created]
        if done:
            span = max(finished[o] for o in done) - min(created[o].timestamp() for o in done)
            rate += len(done) / span if span > 0 else 0.0
    run.completed_per_s = rate if finished else math.nan
    return run


async def run_orders(settings: Settings, server: ServerInfo, chain: bool, seed: str) -> OrdersRun:
    """One repetition on a fresh sandbox."""
    connector = aiohttp.TCPConnector(limit=settings.customers + 4)
    async with aiohttp.ClientSession(connector=connector, timeout=HTTP_TIMEOUT) as http:
        if chain:
            return await chain_orders(http, server, settings, seed)
        await delete_triggers(http, server.urls)
        return await raw_orders(http, server, settings, seed)


async def orders_benchmark(settings: Settings, results: Results, profile: Path | None) -> None:
    k = settings.customers
    results.define("orders.raw", f"place_order, no triggers (baseline), K={k}", "orders/s")
    variants = (("fast", 0.05, "fetch 0.05 s"), ("default", 1.0, "fetch 1 s (Hasura default)"))
    for name, _interval, label in variants:
        results.define(f"orders.{name}.completed", f"4-hop chain, {label}, K={k}: completed", "orders/s", "orders.raw")
        results.define(f"orders.{name}.p50", f"4-hop chain, {label}, K={k}: latency p50", "ms")
        results.define(f"orders.{name}.p95", f"4-hop chain, {label}, K={k}: latency p95", "ms")
    for rep in range(settings.repeats):
        # Interleaved, so that a noisy phase of the machine hits every configuration alike.
        for name, interval, _label in (("raw", 0.05, ""), *variants):
            chain = name != "raw"
            options = ["--fetch-interval", str(interval), "--refetch-interval", "1.0", "--tag", f"orders-{name}-{rep}"]
            try:
                async with child_server("sandbox", options, profile) as server:
                    run = await run_orders(settings, server, chain, f"{rep}:{name}")
            except Exception as exc:  # one failed run must not lose the others
                log(f"  orders {name} rep {rep + 1}: FAILED: {type(exc).__name__}: {exc}")
                results.notes.append(f"orders {name} rep {rep + 1} failed: {exc!r}")
                continue
            if not chain:
                rate = run.placed / run.seconds
                results.add("orders.raw", rate)
                log(
                    f"  orders raw     rep {rep + 1}: {run.placed} placed in {run.seconds:.1f} s = {rate:.0f}/s"
                    f" (refused {run.refused}), {run.cpu}"
                )
                continue
            p50, p95 = percentile(run.latencies_ms, 50), percentile(run.latencies_ms, 95)
            results.add(f"orders.{name}.completed", run.completed_per_s)
            results.add(f"orders.{name}.p50", p50)
            results.add(f"orders.{name}.p95", p95)
            log(
                f"  orders {name:<7} rep {rep + 1}: {run.placed} placed (refused {run.refused}), {run.completed}"
                f" completed ({run.drain_seconds:.1f} s drain), {run.completed_per_s:.1f} completed/s, latency p50"
                f" {p50:.0f} ms p95 {p95:.0f} ms, {run.failed_invocations} failed invocations, {run.polls} polls,"
                f" {run.cpu}"
            )
            if run.poll_errors:
                results.notes.append(f"orders {name} rep {rep + 1}: {run.poll_errors} polls failed")
            if run.stuck or run.completed < run.placed:
                results.notes.append(
                    f"orders {name} rep {rep + 1}: {run.completed} of {run.placed} orders reached"
                    f" driver_assigned ({run.stuck} customers still waiting after"
                    f" {settings.drain_timeout:.0f} s)"
                )


# --- benchmark 2: WebSocket streaming --------------------------------------------------------------------------------


async def fill_items(urls: dict[str, str], rows: int) -> float:
    """One order and `rows` items rows (ids 1..rows), with the triggers deleted first; returns rows/s inserted."""
    mutation = "mutation ($objects: [items_insert_input!]!) { insert_items(objects: $objects) { affected_rows } }"
    async with aiohttp.ClientSession() as http:
        await delete_triggers(http, urls)
        await graphql(
            http,
            urls["graphql"],
            'mutation ($id: String!) { insert_orders_one(object: {order_id: $id, user_id: "bench",'
            ' restaurant_id: 1, address: "1 Main St"}) { order_id } }',
            {"id": STREAM_ORDER_ID},
        )
        started = time.perf_counter()
        all_rows = stream_rows(rows)
        for i in range(0, rows, 2000):
            objects = [{"order_id": r["order_id"], "item": r["item"]} for r in all_rows[i : i + 2000]]
            await graphql(http, urls["graphql"], mutation, {"objects": objects})
        return rows / (time.perf_counter() - started)


async def first_frame(url: str, batch_size: int, rows: int) -> tuple[str, str]:
    """The first `next` frame of the stream, read with a raw graphql-transport-ws client (to compare frame bytes),
    and the WebSocket extensions the server accepted."""
    # max_queue=None: the server keeps streaming after the first frame; a paused reader would stall the close.
    async with (
        asyncio.timeout(10),
        ws_connect(url, subprotocols=[Subprotocol(TRANSPORT_WS)], max_queue=None, close_timeout=2) as ws,
    ):
        await ws.send(json.dumps({"type": "connection_init", "payload": {"headers": ADMIN}}))
        query = STREAM_QUERY % (batch_size, rows)
        await ws.send(json.dumps({"type": "subscribe", "id": "1", "payload": {"query": query}}))
        assert ws.response is not None
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "none")
        while True:
            frame = await ws.recv()
            assert isinstance(frame, str)
            if json.loads(frame)["type"] == "next":
                return frame, extensions


async def consume(
    server: ServerInfo, protocol: str, batch_size: int, rows: int, timeout: float, min_seconds: float
) -> tuple[float, int, int, CpuMeter]:
    """Stream rows 1..`rows` through gql, subscribing again on the same connection until `min_seconds` have passed
    (so that the fast baseline is timed over a long enough window); returns (seconds streaming, messages, rows, CPU
    use). Connecting and `connection_init` are not timed."""
    transport = WebsocketsTransport(
        url=server.urls["ws"],
        init_payload={"headers": ADMIN},
        connect_timeout=10,
        ack_timeout=10,
        close_timeout=5,
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL]
        if protocol == TRANSPORT_WS
        else [WebsocketsTransport.APOLLO_SUBPROTOCOL],
    )
    cpu = CpuMeter(server.pid)
    messages = received = 0
    elapsed = 0.0
    async with Client(transport=transport) as session, asyncio.timeout(timeout):
        if transport.subprotocol != protocol:
            raise RuntimeError(f"negotiated {transport.subprotocol!r}, wanted {protocol!r}")
        cpu.start()
        started = time.perf_counter()
        while elapsed < min_seconds or not received:
            results = session.subscribe(GraphQLRequest(STREAM_QUERY % (batch_size, rows)))
            this_pass = 0
            try:
                async for result in results:
                    messages += 1
                    this_pass += len(result["items_stream"])
                    if this_pass >= rows:
                        break
            finally:
                elapsed = time.perf_counter() - started
                received += this_pass
                await results.aclose()
        cpu.stop()
    return elapsed, messages, received, cpu


async def ws_benchmark(settings: Settings, results: Results, profile: Path | None) -> None:
    counts = {1: settings.rows_batch1, 100: settings.rows}
    for protocol in PROTOCOLS:
        for size in BATCH_SIZES:
            base = f"ws.{protocol}.{size}.raw"
            results.define(
                base, f"{protocol}, batch {size}: raw websockets server (baseline)", "msg/s", rows_per_message=size
            )
            results.define(
                f"ws.{protocol}.{size}.sandbox",
                f"{protocol}, batch {size}: sandbox items_stream",
                "msg/s",
                base,
                rows_per_message=size,
            )
    rows_needed = max(counts.values())
    streams = ",".join(f"{size}:{rows}" for size, rows in counts.items())
    async with (
        child_server(
            "sandbox", ["--fetch-interval", "0.05", "--refetch-interval", "1.0", "--tag", "ws"], profile
        ) as sandbox,
        child_server("raw-ws", ["--streams", streams, "--tag", "ws"], profile) as raw,
    ):
        insert_rate = await fill_items(sandbox.urls, rows_needed)
        log(f"  inserted {rows_needed} items rows in chunks of 2000 ({insert_rate:.0f} rows/s)")
        for size in BATCH_SIZES:
            ours, our_ext = await first_frame(sandbox.urls["ws"], size, counts[size])
            theirs, their_ext = await first_frame(raw.urls["ws"], size, counts[size])
            same = "same" if ours == theirs else "DIFFERENT"
            log(
                f"  first frame, batch {size}: sandbox {len(ours)} bytes, baseline {len(theirs)} bytes ({same});"
                f" extensions: sandbox {our_ext!r}, baseline {their_ext!r}"
            )
            if ours != theirs:
                results.notes.append(f"batch {size}: the baseline's frames differ from the sandbox's")
        for rep in range(settings.repeats):
            for protocol in PROTOCOLS:
                for size in BATCH_SIZES:
                    for who, server in (("raw", raw), ("sandbox", sandbox)):
                        key = f"ws.{protocol}.{size}.{who}"
                        try:
                            seconds, messages, got, cpu = await consume(
                                server, protocol, size, counts[size], settings.stream_timeout, settings.min_seconds
                            )
                        except Exception as exc:
                            log(
                                f"  ws {protocol} batch {size} {who} rep {rep + 1}: FAILED: {type(exc).__name__}: {exc}"
                            )
                            results.notes.append(f"ws {protocol} batch {size} {who} rep {rep + 1} failed: {exc!r}")
                            continue
                        results.add(key, messages / seconds)
                        # The server's CPU per message tells the sides apart when a busy machine slows both.
                        per_message = cpu.server * seconds / messages * 1e6
                        log(
                            f"  ws {protocol:<20} batch {size:>3} {who:<7} rep {rep + 1}: {messages} messages,"
                            f" {got} rows in {seconds:.2f} s = {messages / seconds:.0f} msg/s,"
                            f" {got / seconds:.0f} rows/s, {cpu}, server {per_message:.1f} µs CPU/message"
                        )


# --- main ------------------------------------------------------------------------------------------------------------


async def capture_benchmarks(settings: Settings, results: Results, quick: bool) -> None:
    """benchmarks/capture.py's figures (ingest rate, memory, JSONL), at its own full or --quick sizes."""
    import capture

    await capture.capture_benchmark(
        replace(capture.QUICK if quick else capture.FULL, repeats=settings.repeats), results
    )


async def window_benchmarks(settings: Settings, results: Results, quick: bool, profile: Path | None) -> None:
    """benchmarks/event_list.py and benchmarks/ui_stall.py (through benchmarks/window.py), full or --quick sizes."""
    import window

    log("  event list (benchmarks/event_list.py):")
    try:
        await window.event_list_benchmark(settings.repeats, results, quick)
    except Exception as exc:  # the stall benchmark still runs
        log(f"  event list: FAILED: {type(exc).__name__}: {exc}")
        results.notes.append(f"event list failed: {exc!r}")
    log("  UI stalls while ingesting (benchmarks/ui_stall.py):")
    await window.ui_stall_benchmark(settings.repeats, results, quick, profile)


STANDALONE = {
    "pictures": ("pictures.py", ["--quick"]),
    "replay": ("replay.py", ["--quick"]),
    "relay": ("relay.py", ["--quick"]),
    "analysis": ("analysis.py", ["--rows", "50000"]),
    "soak": ("soak.py", ["--quick"]),
    "postgres": ("postgres.py", ["--quick"]),
}
"""Benchmarks that print their own figures and ratios (each with its goal); run as child processes, output relayed."""


BENCHMARKS_DIR = Path(__file__).resolve().parent


async def standalone_benchmarks(results: Results, quick: bool, names: Sequence[str]) -> None:
    here = BENCHMARKS_DIR
    for name in names:
        script, quick_args = STANDALONE[name]
        log(f"  {name} (benchmarks/{script}):")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(here / script),
            *(quick_args if quick else []),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await proc.communicate()
        for line in output.decode(errors="replace").splitlines():
            log(f"    {line}")
        if proc.returncode != 0:
            results.notes.append(f"{name} exited {proc.returncode}")


ONLY = {"orders": ("orders",), "ws": ("ws",), "sandbox": ("orders", "ws"), "capture": ("capture",)}
ONLY["window"] = ("window",)
for _name in STANDALONE:
    ONLY[_name] = (_name,)


async def bench_main(settings: Settings, profile: Path | None, only: str | None, quick: bool = False) -> Results:
    results = Results()

    async def capture_step(settings: Settings, results: Results, _profile: Path | None) -> None:
        await capture_benchmarks(settings, results, quick)

    async def window_step(settings: Settings, results: Results, profile: Path | None) -> None:
        await window_benchmarks(settings, results, quick, profile)

    def standalone_step(name: str) -> Callable[[Settings, Results, Path | None], Awaitable[None]]:
        async def step(_settings: Settings, results: Results, _profile: Path | None) -> None:
            await standalone_benchmarks(results, quick, [name])

        return step

    steps: list[tuple[str, Callable[[Settings, Results, Path | None], Awaitable[None]]]] = [
        ("orders", orders_benchmark),
        ("ws", ws_benchmark),
        ("capture", capture_step),
        ("window", window_step),
        *((name, standalone_step(name)) for name in STANDALONE),
    ]
    for name, step in steps:
        if only and name not in ONLY[only]:
            continue
        started = time.perf_counter()
        log(f"[{name}]")
        try:
            await step(settings, results, profile)
        except Exception as exc:
            log(f"  {name}: FAILED: {type(exc).__name__}: {exc}")
            results.notes.append(f"{name} failed: {exc!r}")
        log(f"  ({time.perf_counter() - started:.0f} s)")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a smoke run (one repetition, tiny sizes)")
    parser.add_argument("--customers", type=int, metavar="K", help="override K, the concurrent customers")
    parser.add_argument("--seconds", type=float, metavar="T", help="override T, the seconds of load per orders run")
    parser.add_argument("--repeats", type=int, metavar="N", help="override the number of repetitions")
    parser.add_argument(
        "--only",
        choices=tuple(ONLY),
        help="run one benchmark (sandbox: orders and ws; capture: benchmarks/capture.py; window: benchmarks/window.py;"
        " pictures, replay, relay, analysis, soak, postgres: the standalone scripts of those names)",
    )
    parser.add_argument("--profile", metavar="DIR", help="child servers write cProfile stats into DIR")
    parser.add_argument("--serve", choices=("sandbox", "raw-ws"), help=argparse.SUPPRESS)
    parser.add_argument("--fetch-interval", type=float, default=0.05, help=argparse.SUPPRESS)
    parser.add_argument("--refetch-interval", type=float, default=1.0, help=argparse.SUPPRESS)
    parser.add_argument("--streams", default="", help=argparse.SUPPRESS)
    parser.add_argument("--tag", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve_main(args)

    settings = QUICK if args.quick else FULL
    overrides = {"customers": args.customers, "seconds": args.seconds, "repeats": args.repeats}
    settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    profile = Path(args.profile).resolve() if args.profile else None
    started = time.perf_counter()
    log(
        f"Inspector benchmarks{' (--quick)' if args.quick else ''}: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC,"
        f" Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}"
    )
    log(f"  revision {revision()}; {settings}")
    log(f"  load average before: {load_average()}")
    try:
        results = asyncio.run(bench_main(settings, profile, args.only, args.quick))
    except KeyboardInterrupt:  # the servers were stopped on the way out
        log("interrupted")
        return 130
    log(f"  load average after: {load_average()}")
    log("")
    log(results.table())
    log(
        "ratio = median / median of the figure's baseline, measured in the same run; rows/s = median msg/s x rows"
        " per message."
    )
    for note in results.notes:
        log(f"NOTE: {note}")
    if profile is not None:
        log(f"cProfile stats of the servers: {profile}/*.prof")
    log(f"total {time.perf_counter() - started:.0f} s")
    failed = any(not f.samples for f in results.figures.values()) or bool(results.notes)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
