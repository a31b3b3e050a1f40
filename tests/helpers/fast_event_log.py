"""A fast stand-in for Hasura's event log: events at a chosen rate (10,000/s and more), served as Hasura serves them.

For the window capturing a fast source (`benchmarks/ui_stall.py --writer window`,
`tests/qt/window/test_capture_off_the_gui_thread.py`): the sandbox cannot write events that fast. It answers what
`HasuraMetadataClient` asks: `GET /v1/version`, `export_metadata` (four event triggers on `orders`, the example
app's), `pg_get_event_logs` and `pg_get_event_invocation_logs` newest first by `LIMIT`/`OFFSET` as
`fetchEventLogsTxE` in `server/src-lib/Hasura/Backends/Postgres/DDL/EventTrigger.hs` pages them (rows of one
transaction share `created_at`), `pg_get_event_by_id`, and `run_sql` for the database's time zone (UTC).

Every 10 ms it "commits" the events due at the rate, spread over the four triggers, sharing one `created_at`. 97 % are
delivered at once; 3 % are pending and delivered 0.5 s later (a state change the follower must see). No invocations
(the figure is events/s). Rows are encoded once, so a page costs a slice and a join.

Run `python -m tests.helpers.fast_event_log --rate 10000 --seconds 15`: it prints `{"url": ...}` when listening, then
`{"produced": N, ...}` once it has produced for `seconds`, and serves until stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid

from aiohttp import web

TRIGGERS = ("validate-order", "process-payment", "restaurant-approval", "agent-assignment")
TICK = 0.01
PENDING_EVERY = 33
"""One event in 33 (3 %) is first pending."""
PENDING_SECONDS = 0.5


def _stamp(ts: float) -> str:
    whole = int(ts)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((ts - whole) * 1e6):06d}"


def _row(event_id: str, trigger: str, n: int, created_at: str, delivered: bool) -> bytes:
    new = {
        "order_id": str(uuid.UUID(int=n)),
        "user_id": f"user-{n % 997}",
        "restaurant_id": n % 50,
        "address": f"{n % 300} Rue de la Paix",
        "items": ["pizza", "salad"] if n % 3 else ["burger"],
        "order_valid": True,
        "payment_valid": n % 4 >= 1,
        "approved": n % 4 >= 2,
        "driver_assigned": False,
        "total": round((n % 9000) / 100.0, 2),
        "created": created_at,
    }
    return json.dumps(
        {
            "id": event_id,
            "schema_name": "public",
            "table_name": "orders",
            "trigger_name": trigger,
            "payload": {
                "op": "UPDATE" if trigger != "validate-order" else "INSERT",
                "data": {"old": None, "new": new},
                "session_variables": {"x-hasura-role": "user", "x-hasura-user-id": new["user_id"]},
                "trace_context": {"trace_id": f"{n:016x}", "span_id": f"{n % 65536:08x}"},
            },
            "delivered": delivered,
            "error": False,
            "tries": int(delivered),
            "created_at": created_at,
            "locked": None,
            "next_retry_at": None,
            "archived": False,
        },
        separators=(",", ":"),
    ).encode()


class FastEventLog:
    """The event log and its HTTP answers."""

    def __init__(self, rate: float, seconds: float) -> None:
        self.rate = rate
        self.seconds = seconds
        self.logs: dict[str, list[bytes]] = {t: [] for t in TRIGGERS}
        self.where: dict[str, tuple[str, int]] = {}
        self.produced = 0
        self.started = 0.0
        self.done = asyncio.Event()

    async def produce(self) -> None:
        self.started = time.monotonic()
        pending: list[tuple[float, str, str, int, str]] = []
        while True:
            now = time.monotonic()
            elapsed = min(now - self.started, self.seconds)
            due = int(elapsed * self.rate) - self.produced
            created_at = _stamp(time.time())
            for _ in range(due):
                n = self.produced
                trigger = TRIGGERS[n % 4]
                event_id = str(uuid.uuid4())
                is_pending = n % PENDING_EVERY == 0
                log = self.logs[trigger]
                self.where[event_id] = (trigger, len(log))
                log.append(_row(event_id, trigger, n, created_at, not is_pending))
                if is_pending:
                    pending.append((now + PENDING_SECONDS, event_id, trigger, n, created_at))
                self.produced += 1
            while pending and pending[0][0] <= now:
                _, event_id, trigger, n, stamp = pending.pop(0)
                self.logs[trigger][self.where[event_id][1]] = _row(event_id, trigger, n, stamp, True)
            if elapsed >= self.seconds and not pending:
                self.done.set()
                return
            await asyncio.sleep(TICK)

    async def metadata(self, request: web.Request) -> web.Response:
        body = await request.json()
        kind, args = body.get("type"), body.get("args", {})
        if kind == "export_metadata":
            triggers = [
                {"name": t, "definition": {"insert": {"columns": "*"}}, "webhook": "http://h"} for t in TRIGGERS
            ]
            table = {"table": {"schema": "public", "name": "orders"}, "event_triggers": triggers}
            return web.json_response(
                {"version": 3, "sources": [{"name": "default", "kind": "postgres", "tables": [table]}]}
            )
        if kind == "pg_get_event_logs":
            log = self.logs.get(args.get("name"), [])
            end = len(log) - int(args.get("offset", 0))
            rows = log[max(0, end - int(args.get("limit", 100))) : max(0, end)]
            rows.reverse()
            return web.Response(body=b"[" + b",".join(rows) + b"]", content_type="application/json")
        if kind == "pg_get_event_invocation_logs":
            return web.json_response([])
        if kind == "pg_get_event_by_id":
            found = self.where.get(args.get("event_id", ""))
            if found is None:
                return web.json_response(
                    {"path": "$", "error": "event does not exist", "code": "not-exists"}, status=400
                )
            row = self.logs[found[0]][found[1]]
            return web.Response(body=b'{"event":' + row + b',"invocations":[]}', content_type="application/json")
        return web.json_response(
            {"path": "$.type", "error": f"unknown command {kind}", "code": "bad-request"}, status=400
        )

    async def query(self, _request: web.Request) -> web.Response:
        return web.json_response({"result_type": "TuplesOk", "result": [["timezone"], ["UTC"]]})

    async def graphql(self, _request: web.Request) -> web.Response:
        """The window asks for the schema's names (for the console's completion): an empty schema."""
        return web.json_response({"data": {"__schema": {"types": []}}})

    async def version(self, _request: web.Request) -> web.Response:
        return web.json_response({"version": "v2.48.0"})


async def start(log: FastEventLog) -> tuple[web.AppRunner, str]:
    """Serve `log` on a free loopback port; the runner and its GraphQL endpoint."""
    app = web.Application(client_max_size=1 << 20)
    app.router.add_post("/v1/metadata", log.metadata)
    app.router.add_post("/v2/query", log.query)
    app.router.add_get("/v1/version", log.version)
    app.router.add_post("/v1/graphql", log.graphql)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/v1/graphql"


async def listen(log: FastEventLog) -> web.AppRunner:
    """Serve `log` on a free loopback port and print `{"url": ...}` (its GraphQL endpoint) on stdout."""
    runner, url = await start(log)
    print(json.dumps({"url": url}), flush=True)
    return runner


async def serve(rate: float, seconds: float) -> None:
    log = FastEventLog(rate, seconds)
    runner = await listen(log)
    loop = asyncio.get_running_loop()
    stdin_closed = loop.run_in_executor(None, sys.stdin.read)
    producer = asyncio.create_task(log.produce())
    await log.done.wait()
    cpu = time.process_time()
    print(json.dumps({"produced": log.produced, "seconds": seconds, "cpu_seconds": cpu}), flush=True)
    await stdin_closed
    producer.cancel()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=10_000.0, help="events per second (default 10,000)")
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds of producing (default 15)")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.rate, args.seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
