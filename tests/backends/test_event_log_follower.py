"""The event-log follower against servers that answer as Hasura does: ties in a new order on every call, backlogs of
tens of thousands, bursts of thousands of events a second, events cleaned up and triggers deleted mid-capture, and an
MS SQL source (`mssql_*` calls).

The tie and backlog tests run against a log server written here (an aiohttp server on a free port, answering
`pg_get_event_logs` as `fetchEventLogsTxE` in `server/src-lib/Hasura/Backends/Postgres/DDL/EventTrigger.hs` does:
`ORDER BY created_at DESC LIMIT OFFSET`, ties shuffled on every call) where the test controls which rows share a
time; the burst, cleanup and deletion tests against the sandbox, compared with its database row by row.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from inspector.backends.event_log_follower import EventLogFollower
from inspector.backends.hasura_metadata import HasuraMetadataClient
from inspector.core.connection_profile import ConnectionProfile
from inspector.sandbox.config import Faults
from inspector.sandbox.server import Sandbox
from inspector.services.capture_session import CaptureOptions, CaptureSession
from inspector.store.capture_file import CaptureFile, CaptureWriter
from inspector.store.vanished import cleaned_up_events, removed_triggers
from tests.conftest import ADMIN_SECRET, SandboxFactory
from tests.helpers.sandbox_client import graphql_data, metadata_ok, wait_until

# --- a log server of our own ----------------------------------------------------------------------------------------


def delivered_invocation(event_id: str, created_at: str) -> dict[str, Any]:
    """An invocation log row of trigger `t`'s event that its webhook answered 200."""
    return {
        "id": str(uuid.uuid4()),
        "trigger_name": "t",
        "event_id": event_id,
        "http_status": 200,
        "request": {"payload": {}},
        "response": {"type": "webhook_response", "data": {"body": "ok", "status": 200}},
        "created_at": created_at,
    }


class LogServer:
    """Answers export_metadata and the event-log reads of one trigger `t` on one source, as Hasura does (ties shuffled
    on every call), and records which calls it got. `before_read` runs before each read (to insert rows between
    calls, as live traffic does)."""

    def __init__(self, kind: str = "postgres", prefix: str = "pg") -> None:
        self.kind = kind
        self.prefix = prefix
        self.events: list[dict[str, Any]] = []
        self.invocations: list[dict[str, Any]] = []
        self.calls: list[str] = []
        self.event_rows_served = 0
        """Rows of `pg_get_event_logs` answers, in all."""
        self.before_read: Callable[[], None] = lambda: None
        self.rng = random.Random(13)
        self.url = ""
        self._runner: web.AppRunner | None = None

    def add_events(self, count: int, created_at: str, delivered: bool = True) -> list[str]:
        """`count` events of one transaction (one `created_at`), each with one invocation when delivered."""
        ids = []
        for _ in range(count):
            event_id = str(uuid.uuid4())
            ids.append(event_id)
            self.events.append(
                {
                    "id": event_id,
                    "schema_name": "dbo" if self.kind == "mssql" else "public",
                    "table_name": "orders",
                    "trigger_name": "t",
                    "payload": {"op": "INSERT", "data": {"old": None, "new": {"order_id": event_id}}},
                    "delivered": delivered,
                    "error": False,
                    "tries": int(delivered),
                    "created_at": created_at,
                    "locked": None,
                    "next_retry_at": None,
                    "archived": False,
                }
            )
            if delivered:
                self.invocations.append(delivered_invocation(event_id, created_at))
        return ids

    def _page(self, rows: list[dict[str, Any]], limit: int, offset: int) -> list[dict[str, Any]]:
        # ORDER BY created_at DESC with no tie-breaker: equal times in a new random order on every call (only the
        # runs the page touches are shuffled: the same answer, in less time)
        groups: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            groups.setdefault(row["created_at"], []).append(row)
        page: list[dict[str, Any]] = []
        position = 0
        for created_at in sorted(groups, reverse=True):
            group = groups[created_at]
            if position + len(group) > offset and position < offset + limit:
                shuffled = list(group)
                self.rng.shuffle(shuffled)
                page.extend(shuffled[max(0, offset - position) : offset + limit - position])
            position += len(group)
            if position >= offset + limit:
                break
        return page

    async def _metadata(self, request: web.Request) -> web.Response:
        body = await request.json()
        kind, args = body["type"], body.get("args", {})
        self.calls.append(kind)
        if kind == "export_metadata":
            return web.json_response(
                {
                    "version": 3,
                    "sources": [
                        {
                            "name": "db",
                            "kind": self.kind,
                            "tables": [
                                {
                                    "table": {"schema": "public", "name": "orders"},
                                    "event_triggers": [
                                        {
                                            "name": "t",
                                            "definition": {"insert": {"columns": "*"}},
                                            "webhook": "http://h",
                                        }
                                    ],
                                }
                            ],
                        }
                    ],
                }
            )
        if kind == f"{self.prefix}_get_event_logs":
            self.before_read()
            page = self._page(self.events, args["limit"], args["offset"])
            self.event_rows_served += len(page)
            return web.json_response(page)
        if kind == f"{self.prefix}_get_event_invocation_logs":
            self.before_read()
            return web.json_response(self._page(self.invocations, args["limit"], args["offset"]))
        if kind == f"{self.prefix}_get_event_by_id":
            for event in self.events:
                if event["id"] == args["event_id"]:
                    its = [i for i in self.invocations if i["event_id"] == event["id"]]
                    return web.json_response({"event": event, "invocations": its})
            return web.json_response(
                {"path": "$", "error": f"event id {args['event_id']} does not exist", "code": "not-exists"}, status=400
            )
        return web.json_response(
            {"path": "$.type", "error": f'unknown metadata command "{kind}"', "code": "bad-request"}, status=400
        )

    async def _version(self, _request: web.Request) -> web.Response:
        return web.json_response({"version": "v2.48.0"})

    async def start(self) -> None:
        app = web.Application(client_max_size=1 << 20)
        app.router.add_post("/v1/metadata", self._metadata)
        app.router.add_get("/v1/version", self._version)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def log_server() -> AsyncIterator[LogServer]:
    server = LogServer()
    await server.start()
    yield server
    await server.stop()


def _client(base_url: str, secret: str | None = None) -> HasuraMetadataClient:
    return HasuraMetadataClient(
        f"{base_url}/v1/metadata",
        f"{base_url}/v2/query",
        f"{base_url}/v1/version",
        {"x-hasura-admin-secret": secret} if secret else {},
    )


def _stamp(n: int) -> str:
    """The n-th second of a day, as the metadata API writes times (`Z`, fraction trimmed)."""
    return f"2024-05-04T10:{n // 60:02d}:{n % 60:02d}.5Z"


async def _follow_once(base_url: str, path: Path, page_size: int = 100) -> tuple[CaptureFile, EventLogFollower]:
    capture = CaptureFile.create(path)
    writer = CaptureWriter(capture)
    client = _client(base_url)
    try:
        await client.detect()
        follower = EventLogFollower(client, _Sink(writer), await client.event_triggers(), page_size=page_size)
        await follower.poll()
    finally:
        await client.close()
    writer.flush()
    return capture, follower


class _Sink:
    """The writer as the follower's sink, with the vanished marks as plain lists."""

    def __init__(self, writer: CaptureWriter) -> None:
        self.writer = writer
        self.cleaned: list[str] = []
        self.removed: list[str] = []

    def observe_event(self, record: Any) -> str:
        return self.writer.observe_event(record)

    def observe_events(self, records: Any) -> list[str]:
        return self.writer.observe_events(records)

    def observe_invocation(self, record: Any) -> bool:
        return self.writer.observe_invocation(record)

    def known_invocations(self, ids: Any) -> set[str]:
        return self.writer.known_invocations(ids)

    def event_cleaned_up(self, event_id: str, at: float) -> None:
        self.cleaned.append(event_id)

    def trigger_removed(self, name: str, at: float) -> None:
        self.removed.append(name)


def _captured(capture: CaptureFile, table: str) -> list[str]:
    return [r["id"] for r in capture.rows(f"SELECT id FROM {table}")]


# --- ties -------------------------------------------------------------------------------------------------------


async def test_ties_shuffled_on_every_call_skip_no_event(log_server: LogServer, tmp_path: Path) -> None:
    """5,000 events in 5 transactions (5 times, 1,000 rows each) and 1,000 in one: offset paging over a log that
    shuffles ties on every call misses rows; the follower misses none and records none twice."""
    expected = []
    for n in range(5):
        expected += log_server.add_events(1000, _stamp(n))
    expected += log_server.add_events(1000, _stamp(10))
    capture, _ = await _follow_once(log_server.url, tmp_path / "c.inspector")
    events, invocations = _captured(capture, "events"), _captured(capture, "invocations")
    assert len(events) == len(set(events)) == 6000
    assert set(events) == set(expected)
    assert len(invocations) == len(set(invocations)) == 6000
    capture.close()


async def test_rows_inserted_between_calls_while_ties_shuffle(log_server: LogServer, tmp_path: Path) -> None:
    """Live traffic between every call (30 new events of one new transaction per read, pushing every row down)
    during a scan of 3,000 tied rows: every event present at the start, and every one added, is captured once."""
    for n in range(3):
        log_server.add_events(1000, _stamp(n))
    clock = iter(range(100, 10_000))

    def traffic() -> None:
        log_server.add_events(30, _stamp(next(clock)))

    log_server.before_read = traffic
    capture = CaptureFile.create(tmp_path / "c.inspector")
    writer = CaptureWriter(capture)
    client = _client(log_server.url)
    await client.detect()
    follower = EventLogFollower(client, _Sink(writer), await client.event_triggers(), page_size=100)
    await follower.poll()
    log_server.before_read = lambda: None
    await follower.poll()  # what arrived during the first poll
    await client.close()
    writer.flush()
    events = _captured(capture, "events")
    assert len(events) == len(set(events))
    assert set(events) == {e["id"] for e in log_server.events}
    capture.close()


async def test_an_open_event_just_below_the_margin_costs_rows_to_it_not_a_whole_answer(
    log_server: LogServer, tmp_path: Path
) -> None:
    """A poll has read its news and the late-commit margin, and the oldest open event lies a few hundred rows deeper:
    the next answers ask for about those rows (as this answer's times space them), not for the largest answer (the
    follower used to read 5,000 more rows there at every poll of a busy trigger with pending events). The open
    event's delivery is still recorded."""
    for n in range(20):
        log_server.add_events(200, _stamp(n))
    capture = CaptureFile.create(tmp_path / "c.inspector")
    writer = CaptureWriter(capture)
    client = _client(log_server.url)
    await client.detect()
    follower = EventLogFollower(client, _Sink(writer), await client.event_triggers())
    await follower.poll()  # the backlog
    for n in range(100, 120):  # 4,000 new events; one of them, 1,200 rows below the newest, still pending
        log_server.add_events(199 if n == 113 else 200, _stamp(n))
        if n == 113:
            (open_id,) = log_server.add_events(1, _stamp(n), delivered=False)
    await follower.poll()
    for n in range(200, 220):
        log_server.add_events(200, _stamp(n))
    for event in log_server.events:
        if event["id"] == open_id:
            event.update(delivered=True, tries=1)
    before = log_server.event_rows_served
    await follower.poll()  # 4,000 news + 1,000 margin rows in one answer; the open event ~200 rows deeper
    read = log_server.event_rows_served - before
    await client.close()
    writer.flush()
    assert read < 6_500, read  # was 10,000: the news and margin, then 5,000 more
    states = [r["status"] for r in capture.rows("SELECT status FROM event_states WHERE event_id = ?", (open_id,))]
    assert states == ["pending", "delivered"]
    assert capture.count("events") == len(log_server.events) == 12_000
    capture.close()


async def test_an_attempt_answered_while_a_poll_runs_comes_with_its_invocation(
    log_server: LogServer, tmp_path: Path
) -> None:
    """The event is delivered (its invocation logged in the same transaction, as Hasura's `recordSuccess` does) after
    the poll read the invocation log and before it read the events: the same poll records both, not the delivered
    state alone with the attempt a poll later."""
    (event_id,) = log_server.add_events(1, _stamp(1), delivered=False)
    capture = CaptureFile.create(tmp_path / "c.inspector")
    writer = CaptureWriter(capture)
    client = _client(log_server.url)
    await client.detect()
    follower = EventLogFollower(client, _Sink(writer), await client.event_triggers())
    await follower.poll()

    def deliver_before_the_events_are_read() -> None:
        if log_server.calls[-1] == "pg_get_event_logs" and not log_server.invocations:
            log_server.events[0].update(delivered=True, tries=1)
            log_server.invocations.append(delivered_invocation(event_id, _stamp(2)))

    log_server.before_read = deliver_before_the_events_are_read
    await follower.poll()
    await client.close()
    writer.flush()
    assert capture.rows("SELECT status FROM events") == [{"status": "delivered"}]
    assert capture.count("invocations") == 1
    assert capture.rows("SELECT attempts, successes FROM events") == [{"attempts": 1, "successes": 1}]
    capture.close()


@pytest.mark.slow
async def test_backlog_of_20000_events_on_one_trigger_read_in_full(log_server: LogServer, tmp_path: Path) -> None:
    """20,000 events waiting on one trigger before the capture starts (the follower used to stop at 5,000): one poll
    reads them all, in runs of 500 that share a time."""
    for n in range(40):
        log_server.add_events(500, _stamp(n), delivered=n % 2 == 0)
    capture, _ = await _follow_once(log_server.url, tmp_path / "c.inspector")
    events = _captured(capture, "events")
    assert len(events) == len(set(events)) == 20_000
    assert len(_captured(capture, "invocations")) == 10_000
    pending = capture.rows("SELECT count(*) AS n FROM events WHERE status = 'pending'")[0]["n"]
    assert pending == 10_000
    capture.close()


async def test_mssql_source_uses_the_mssql_calls(tmp_path: Path) -> None:
    """An MS SQL source is read with `mssql_get_event_logs` and friends (run_sql and the pg_* calls are
    Postgres-only); a Citus source with the pg_* ones."""
    for kind, prefix in (("mssql", "mssql"), ("citus", "pg")):
        server = LogServer(kind, prefix)
        await server.start()
        try:
            ids = server.add_events(150, _stamp(1))
            capture, _ = await _follow_once(server.url, tmp_path / f"{kind}.inspector")
            assert set(_captured(capture, "events")) == set(ids)
            reads = {c for c in server.calls if c != "export_metadata"}
            assert reads == {f"{prefix}_get_event_logs", f"{prefix}_get_event_invocation_logs"}, server.calls
            capture.close()
        finally:
            await server.stop()


# --- against the sandbox ------------------------------------------------------------------------------------------


def _sandbox_log(sandbox: Sandbox, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(sandbox.config.db or "")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def _bulk_orders(sandbox: Sandbox, count: int) -> None:
    """`count` orders in one mutation: one transaction, so their events share `created_at`."""
    await graphql_data(
        sandbox,
        "mutation ($o: [orders_insert_input!]!) { insert_orders(objects: $o) { affected_rows } }",
        {
            "o": [
                {"order_id": str(uuid.uuid4()), "user_id": "u", "restaurant_id": 1, "address": "x"}
                for _ in range(count)
            ]
        },
    )


def _session(sandbox: Sandbox, path: Path, **options: Any) -> tuple[CaptureSession, CaptureFile]:
    capture = CaptureFile.create(path)
    profile = ConnectionProfile.from_endpoint("test", sandbox.graphql_url)
    return (
        CaptureSession(profile, ADMIN_SECRET, capture, CaptureOptions(flush_interval=0.05, **options)),
        capture,
    )


@pytest.mark.slow
async def test_burst_of_thousands_of_events_a_second_on_one_trigger(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """Bulk inserts of 500 orders every 0.1 s on validate-order while a capture runs (the follower used to lose some
    at 166 events/s); after the traffic stops, one poll brings every state up to the sandbox's."""
    sandbox = await sandbox_factory()
    for downstream in ("process-payment", "restaurant-approval", "agent-assignment"):
        # only validate-order: the machine's time goes to the burst, not to the rest of each order's chain
        await metadata_ok(sandbox, "pg_delete_event_trigger", {"name": downstream})
    session, capture = _session(sandbox, tmp_path / "c.inspector", poll_interval=0.2)
    task = asyncio.create_task(session.run())
    await wait_until(lambda: session.progress.state == "capturing", timeout=10)
    started = time.monotonic()
    for _ in range(6):
        await _bulk_orders(sandbox, 500)  # as fast as the sandbox takes them
    # The rate the sandbox held, from its own record (500 events share each transaction's created_at): far above
    # the 166 events/s at which the follower used to lose events, and as fast as this machine lets the sandbox go.
    stamps = sorted({r[0] for r in _sandbox_log(sandbox, "SELECT created_at FROM hdb_event_log")})
    assert len(stamps) == 6
    rate = 3000 / max(time.monotonic() - started, 1e-3)
    assert rate > 300, f"the burst ran at {rate:.0f} events/s only"

    def settled() -> bool:
        open_rows = _sandbox_log(
            sandbox, "SELECT count(*) FROM hdb_event_log WHERE delivered = 0 AND error = 0 AND archived = 0"
        )
        return open_rows[0][0] == 0

    await wait_until(settled, timeout=90, interval=0.5, message="the sandbox delivers every event")
    # the poll under way may have started before the sandbox settled; the one after it starts after
    polls = session.progress.polls
    await wait_until(lambda: session.progress.polls >= polls + 2, timeout=30, message="one poll after the traffic")
    session.stop()
    await task
    server = {
        r[0]: (r[1], bool(r[2]), bool(r[3]), r[4])
        for r in _sandbox_log(sandbox, "SELECT id, trigger_name, delivered, error, tries FROM hdb_event_log")
    }
    reopened = CaptureFile.open(tmp_path / "c.inspector")
    mine = {
        r["id"]: (r["trigger_name"], bool(r["delivered"]), bool(r["error"]), r["tries"])
        for r in reopened.rows("SELECT id, trigger_name, delivered, error, tries FROM events")
    }
    assert sum(1 for v in server.values() if v[0] == "validate-order") == 3000
    assert set(server) - set(mine) == set(), "events lost"
    assert {k for k in server if server[k] != mine[k]} == set(), "states not caught up"
    server_invocations = {r[0] for r in _sandbox_log(sandbox, "SELECT id FROM hdb_event_invocation_logs")}
    assert server_invocations == {r["id"] for r in reopened.rows("SELECT id FROM invocations")}
    reopened.close()
    capture.close()


async def test_cleaned_up_event_is_recorded_and_the_capture_goes_on(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """Events seen in flight by a capture; while it is stopped they are delivered and removed by
    `cleanup_event_trigger_logs` (their invocations kept). The next capture into the same file meets invocations of
    events pg_get_event_by_id answers 400 not-exists for: they are marked cleaned up and the capture goes on."""
    sandbox = await sandbox_factory(faults=Faults(latency_ms=600))
    path = tmp_path / "c.inspector"
    session, capture = _session(sandbox, path, poll_interval=0.05, triggers=("validate-order",))
    task = asyncio.create_task(session.run())
    await wait_until(lambda: session.progress.state == "capturing", timeout=10)
    await _bulk_orders(sandbox, 3)
    await wait_until(lambda: capture.count("events") == 3, timeout=10)
    session.stop()
    await task
    in_flight = {r["id"] for r in capture.rows("SELECT id FROM events WHERE status != 'delivered'")}
    assert in_flight, "the capture saw the events before they were delivered"
    capture.close()

    delivered = "SELECT count(*) FROM hdb_event_log WHERE delivered = 1 AND trigger_name = 'validate-order'"
    await wait_until(lambda: _sandbox_log(sandbox, delivered)[0][0] == 3, timeout=20)
    await metadata_ok(
        sandbox, "cleanup_event_trigger_logs", {"event_trigger_name": "validate-order", "clear_older_than": 0}
    )
    assert _sandbox_log(sandbox, "SELECT count(*) FROM hdb_event_log WHERE trigger_name = 'validate-order'") == [(0,)]

    capture = CaptureFile.open(path)
    profile = ConnectionProfile.from_endpoint("test", sandbox.graphql_url)
    options = CaptureOptions(poll_interval=0.05, flush_interval=0.05, triggers=("validate-order",))
    session = CaptureSession(profile, ADMIN_SECRET, capture, options)
    task = asyncio.create_task(session.run())
    await wait_until(lambda: in_flight <= set(cleaned_up_events(capture.conn)), timeout=10, message="cleaned up")
    await _bulk_orders(sandbox, 2)
    await wait_until(lambda: capture.count("events") >= 5, timeout=10, message="the capture goes on")
    assert session.running
    session.stop()
    await task
    assert capture.count("invocations") >= 3  # the invocations that outlived their events
    capture.close()


async def test_open_event_cleaned_up_between_polls(log_server: LogServer, tmp_path: Path) -> None:
    """An event last seen pending, delivered and cleaned up before the next poll: it is read by id, the server says
    not-exists, and it is reported cleaned up (not an error)."""
    (event_id,) = log_server.add_events(1, _stamp(1), delivered=False)
    capture = CaptureFile.create(tmp_path / "c.inspector")
    sink = _Sink(CaptureWriter(capture))
    client = _client(log_server.url)
    await client.detect()
    follower = EventLogFollower(client, sink, await client.event_triggers())
    await follower.poll()
    log_server.events.clear()
    await follower.poll()
    await client.close()
    assert sink.cleaned == [event_id]
    capture.close()


async def test_deleted_trigger_is_recorded_and_the_capture_goes_on(sandbox: Sandbox, tmp_path: Path) -> None:
    session, capture = _session(sandbox, tmp_path / "c.inspector", poll_interval=0.1)
    task = asyncio.create_task(session.run())
    await wait_until(lambda: session.progress.state == "capturing", timeout=10)
    await metadata_ok(sandbox, "pg_delete_event_trigger", {"name": "agent-assignment"})
    await wait_until(lambda: "agent-assignment" in removed_triggers(capture.conn), timeout=10)
    await _bulk_orders(sandbox, 2)
    await wait_until(lambda: capture.count("events") >= 2, timeout=10, message="the capture goes on")
    assert session.running
    session.stop()
    await task
    log = capture.rows("SELECT message FROM session_log")
    assert any("agent-assignment was removed from the server at" in r["message"] for r in log)
    capture.close()
