"""Capturing a live backend: the sandbox over real sockets, real capture files, and misbehaving servers of our own."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import signal
import sqlite3
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import websockets

from inspector.backends.errors import AuthenticationFailed, BackendError, ConnectionFailed
from inspector.backends.subscriptions import SubscriptionSpec
from inspector.core.connection_profile import ConnectionProfile
from inspector.sandbox.config import Faults
from inspector.sandbox.server import Sandbox
from inspector.services.capture_session import CaptureOptions, CaptureSession
from inspector.store.capture_file import CaptureFile, message_data_sql, message_diffs
from tests.conftest import ADMIN_SECRET, SandboxFactory
from tests.helpers.live import place_order, profile_for, read, until

LIVE = "subscription live { orders(order_by: {order_id: asc}) { order_id order_valid driver_assigned } }"
STREAM = "subscription rows { items_stream(batch_size: 5, cursor: {initial_value: {id: 0}}) { id item } }"
PROTOCOLS = ["graphql-ws", "graphql-transport-ws"]


class Running:
    """A capture session running in the background of a test."""

    def __init__(self, session: CaptureSession, task: asyncio.Task[Any]) -> None:
        self.session = session
        self.task = task

    async def finish(self) -> Any:
        self.session.stop()
        return await asyncio.wait_for(self.task, 20)


@pytest.fixture
async def start_capture(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Running]]]:
    running: list[Running] = []

    async def start(
        profile: ConnectionProfile, secret: str | None = ADMIN_SECRET, name: str = "capture.db", **options: Any
    ) -> Running:
        options.setdefault("poll_interval", 0.05)
        options.setdefault("flush_interval", 0.05)
        capture = CaptureFile.create(tmp_path / name)
        session = CaptureSession(profile, secret, capture, CaptureOptions(**options))
        item = Running(session, asyncio.create_task(session.run()))
        running.append(item)
        return item

    yield start
    for item in running:
        item.session.stop()
        await asyncio.gather(item.task, return_exceptions=True)
        item.session.capture.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_captures_the_whole_order_chain_and_both_kinds_of_subscription(
    sandbox: Sandbox, start_capture: Callable[..., Awaitable[Running]], tmp_path: Path, protocol: str
) -> None:
    run = await start_capture(
        profile_for(sandbox.graphql_url, protocol),
        subscriptions=(SubscriptionSpec(LIVE, name="live"), SubscriptionSpec(STREAM)),
    )
    path = tmp_path / "capture.db"
    await place_order(sandbox, "chain-1", items=7)
    await until(lambda: read(path, "SELECT count(*) FROM events WHERE status = 'delivered'")[0][0] == 4)
    await until(lambda: read(path, "SELECT coalesce(sum(rows), 0) FROM messages WHERE operation_id = 2")[0][0] == 7)
    await until(
        lambda: any(
            '"driver_assigned":true' in r[0] for r in read(path, "SELECT raw FROM messages WHERE operation_id = 1")
        )
    )
    progress = await run.finish()
    assert progress.protocol == protocol
    events = read(
        path, "SELECT trigger_name, op, status, attempts, last_http_status, row_key FROM events ORDER BY created_ts"
    )
    assert [e[0] for e in events] == ["validate-order", "process-payment", "restaurant-approval", "agent-assignment"]
    assert [e[1] for e in events] == ["INSERT", "UPDATE", "UPDATE", "UPDATE"]
    assert all(e[2:] == ("delivered", 1, 200, "chain-1") for e in events)
    invocations = read(path, "SELECT attempt, http_status, request, response FROM invocations")
    assert len(invocations) == 4 and all(i[:2] == (1, 200) for i in invocations)
    assert json.loads(invocations[0][2])["version"] == "2"
    assert json.loads(invocations[0][3])["type"] == "webhook_response"
    # each event's states: the last one is delivered, and no state was recorded twice in a row
    for (event_id,) in read(path, "SELECT id FROM events"):
        states = read(path, "SELECT status, tries FROM event_states WHERE event_id = ? ORDER BY seq", (event_id,))
        assert states[-1] == ("delivered", 1)
        assert all(a != b for a, b in itertools.pairwise(states))
    stream_rows = [
        json.loads(r[0])["items_stream"]
        for r in read(
            path,
            f"SELECT {message_data_sql()} FROM messages WHERE operation_id = 2 AND type IN ('next', 'data') "
            "ORDER BY seq",
        )
    ]
    ids = [row["id"] for batch in stream_rows for row in batch]
    assert ids == sorted(ids) and len(ids) == len(set(ids)) == 7
    conn = sqlite3.connect(path)
    try:
        seqs = [r[0] for r in conn.execute("SELECT seq FROM messages WHERE operation_id = 1")]
        diffs = [d for d in message_diffs(conn, 1, seqs).values() if d is not None]  # derived when read
    finally:
        conn.close()
    assert diffs and all(diffs)
    assert read(path, "SELECT protocol FROM operations WHERE id = 1")[0][0] == protocol
    snapshot = read(path, "SELECT name, config FROM trigger_snapshots")
    assert {s[0] for s in snapshot} == {"validate-order", "process-payment", "restaurant-approval", "agent-assignment"}


async def test_retries_and_dead_letters_are_recorded_as_states(
    sandbox_factory: SandboxFactory, start_capture: Callable[..., Awaitable[Running]], tmp_path: Path
) -> None:
    sandbox = await sandbox_factory(faults=Faults(fail_rate=1.0), num_retries=2, retry_interval_sec=1)
    await start_capture(profile_for(sandbox.graphql_url), triggers=("validate-order",))
    await place_order(sandbox, "doomed")
    path = tmp_path / "capture.db"
    await until(lambda: read(path, "SELECT count(*) FROM events WHERE status = 'failed'")[0][0] == 1, timeout=30)
    await asyncio.sleep(0.3)
    states = [r[0] for r in read(path, "SELECT status FROM event_states ORDER BY seq")]
    assert states[-1] == "failed" and "retrying" in states
    attempts = read(path, "SELECT attempt, http_status FROM invocations ORDER BY attempt")
    assert attempts == [(1, 500), (2, 500), (3, 500)]
    assert read(path, "SELECT attempts, last_http_status, delivered_ts FROM events") == [(3, 500, None)]


async def test_since_now_skips_what_was_there_and_triggers_filter(
    sandbox: Sandbox, start_capture: Callable[..., Awaitable[Running]], tmp_path: Path
) -> None:
    await place_order(sandbox, "old")
    await until(lambda: _delivered(sandbox) >= 4)
    await start_capture(profile_for(sandbox.graphql_url), since_now=True, triggers=("validate-order",))
    await asyncio.sleep(0.3)
    await place_order(sandbox, "new")
    path = tmp_path / "capture.db"
    await until(lambda: read(path, "SELECT count(*) FROM events WHERE status = 'delivered'")[0][0] == 1)
    await asyncio.sleep(0.5)
    assert read(path, "SELECT trigger_name, row_key FROM events") == [("validate-order", "new")]


def _delivered(sandbox: Sandbox) -> int:
    assert sandbox.db is not None
    return int(sandbox.db.conn.execute("SELECT count(*) FROM hdb_event_log WHERE delivered = 1").fetchone()[0])


async def test_unknown_trigger_and_wrong_secret_are_clear_errors(
    sandbox: Sandbox, start_capture: Callable[..., Awaitable[Running]]
) -> None:
    run = await start_capture(profile_for(sandbox.graphql_url), triggers=("nope",), name="a.db")
    with pytest.raises(BackendError, match="no event trigger named nope; the server has: agent-assignment"):
        await asyncio.wait_for(run.task, 10)
    run = await start_capture(profile_for(sandbox.graphql_url), secret="wrong", name="b.db")
    with pytest.raises(AuthenticationFailed, match="check the admin secret"):
        await asyncio.wait_for(run.task, 10)
    for protocol in PROTOCOLS:
        run = await start_capture(
            profile_for(sandbox.graphql_url, protocol),
            secret="wrong",
            events=False,
            subscriptions=(SubscriptionSpec(LIVE),),
            name=f"c-{protocol}.db",
        )
        with pytest.raises(AuthenticationFailed, match="check the secret"):
            await asyncio.wait_for(run.task, 10)


async def test_connection_refused(start_capture: Callable[..., Awaitable[Running]]) -> None:
    run = await start_capture(profile_for("http://127.0.0.1:9/v1/graphql"))
    with pytest.raises(ConnectionFailed, match=r"127\.0\.0\.1:9"):
        await asyncio.wait_for(run.task, 10)


async def test_ten_megabyte_payloads(
    sandbox: Sandbox, start_capture: Callable[..., Awaitable[Running]], tmp_path: Path
) -> None:
    big = "x" * (10 * 1024 * 1024)
    await start_capture(
        profile_for(sandbox.graphql_url),
        triggers=("validate-order",),
        subscriptions=(SubscriptionSpec("subscription { orders { order_id address } }"),),
    )
    await place_order(sandbox, "big", address=big)
    path = tmp_path / "capture.db"
    await until(lambda: read(path, "SELECT count(*) FROM events WHERE status = 'delivered'")[0][0] == 1, timeout=60)
    await until(lambda: read(path, "SELECT max(length(raw)) FROM messages")[0][0] > len(big), timeout=30)
    payload = json.loads(read(path, "SELECT payload FROM events")[0][0])
    assert payload["data"]["new"]["address"] == big


# --- servers that misbehave ---------------------------------------------------------------------------------------


async def _graphql_ws_server(behaviour: Callable[[Any], Awaitable[None]]) -> tuple[Any, str]:
    """A graphql-transport-ws server of our own (websockets) that acks and then does `behaviour`."""

    async def handler(ws: Any) -> None:
        init = json.loads(await ws.recv())
        assert init["type"] == "connection_init"
        await ws.send(json.dumps({"type": "connection_ack"}))
        await behaviour(ws)

    server = await websockets.serve(handler, "127.0.0.1", 0, subprotocols=["graphql-transport-ws"])
    port = server.sockets[0].getsockname()[1]
    return server, f"ws://127.0.0.1:{port}/v1/graphql"


@pytest.mark.parametrize("code", [4401, 4403])
async def test_server_closing_with_auth_codes_is_an_authentication_failure(
    start_capture: Callable[..., Awaitable[Running]], code: int
) -> None:
    async def close(ws: Any) -> None:
        await ws.recv()  # the subscribe
        await ws.close(code, "Forbidden")

    server, url = await _graphql_ws_server(close)
    try:
        run = await start_capture(
            profile_for(url, "graphql-transport-ws"), events=False, subscriptions=(SubscriptionSpec(LIVE),)
        )
        with pytest.raises(AuthenticationFailed, match=str(code)):
            await asyncio.wait_for(run.task, 10)
    finally:
        server.close()


async def test_malformed_frames_are_recorded_and_the_capture_goes_on(
    start_capture: Callable[..., Awaitable[Running]], tmp_path: Path
) -> None:
    connections = 0

    async def garbage(ws: Any) -> None:
        nonlocal connections
        connections += 1
        subscribe = json.loads(await ws.recv())
        if connections == 1:
            await ws.send('{"type": "next", "id": "1", "payload": {"data": ')  # cut short
            await asyncio.sleep(5)
        else:
            await ws.send(json.dumps({"type": "next", "id": subscribe["id"], "payload": {"data": {"orders": []}}}))
            await asyncio.sleep(5)

    server, url = await _graphql_ws_server(garbage)
    try:
        run = await start_capture(
            profile_for(url, "graphql-transport-ws"), events=False, subscriptions=(SubscriptionSpec(LIVE),)
        )
        path = tmp_path / "capture.db"
        await until(lambda: read(path, "SELECT count(*) FROM messages WHERE type = 'next'")[0][0] == 1, timeout=15)
        assert not run.task.done()
        assert read(path, "SELECT raw FROM messages WHERE type = 'malformed'") == [
            ('{"type": "next", "id": "1", "payload": {"data": ',)
        ]
        log = [r[0] for r in read(path, "SELECT message FROM session_log WHERE level = 'warning'")]
        assert any("reconnecting" in line for line in log)
        await run.finish()
    finally:
        server.close()


# --- processes that die -------------------------------------------------------------------------------------------


async def test_sandbox_restart_mid_capture_leaves_no_gap_and_no_duplicate(
    start_capture: Callable[..., Awaitable[Running]], tmp_path: Path, unused_tcp_port_factory: Callable[[], int]
) -> None:
    port, handlers_port = unused_tcp_port_factory(), unused_tcp_port_factory()
    db = str(tmp_path / "sandbox.db")

    async def start_sandbox() -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "inspector",
            "sandbox",
            "--port",
            str(port),
            "--handlers-port",
            str(handlers_port),
            "--db",
            db,
            "--admin-secret",
            ADMIN_SECRET,
            "--fetch-interval-ms",
            "50",
            "--refetch-interval-ms",
            "50",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        assert proc.stdout is not None
        await asyncio.wait_for(proc.stdout.readline(), 20)
        return proc

    base = f"http://127.0.0.1:{port}"
    fake = Sandbox.__new__(Sandbox)
    fake.port, fake.config = port, type("C", (), {"host": "127.0.0.1"})()  # only graphql_url is used below
    proc = await start_sandbox()
    try:
        run = await start_capture(profile_for(f"{base}/v1/graphql"), subscriptions=(SubscriptionSpec(STREAM),))
        for n in range(3):
            await place_order(fake, f"before-{n}", items=4)
        path = tmp_path / "capture.db"
        await until(lambda: read(path, "SELECT coalesce(sum(rows), 0) FROM messages")[0][0] == 12)
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        await asyncio.sleep(1.5)  # the capture notices and keeps retrying
        proc = await start_sandbox()
        for n in range(3):
            await place_order(fake, f"after-{n}", items=4)
        await until(lambda: read(path, "SELECT coalesce(sum(rows), 0) FROM messages")[0][0] >= 24, timeout=30)
        await until(
            lambda: read(path, "SELECT count(*) FROM events WHERE status = 'delivered'")[0][0] == 24, timeout=30
        )
        await asyncio.sleep(0.5)
        await run.finish()
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    ids = [
        row["id"]
        for (data,) in read(
            path, f"SELECT {message_data_sql()} FROM messages WHERE type IN ('next', 'data') ORDER BY seq"
        )
        for row in json.loads(data)["items_stream"]
    ]
    assert ids == list(range(1, 25)), "every row once, in order, across the restart"
    assert read(path, "SELECT count(*), count(DISTINCT id) FROM events") == [(24, 24)]
    assert read(path, "SELECT count(*), count(DISTINCT id) FROM invocations") == [(24, 24)]
    assert read(path, "SELECT count(*) FROM session_log WHERE message LIKE '%reconnecting%'")[0][0] >= 1


async def test_kill_9_of_the_capture_process_leaves_a_readable_file(sandbox: Sandbox, tmp_path: Path) -> None:
    out = tmp_path / "killed.db"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "inspector",
        "capture",
        "--endpoint",
        sandbox.graphql_url,
        "--poll-interval",
        "0.05",
        "--subscription",
        STREAM,
        "--out",
        str(out),
        env={**os.environ, "HASURA_GRAPHQL_ADMIN_SECRET": ADMIN_SECRET},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        for n in range(5):
            await place_order(sandbox, f"k-{n}", items=3)
        await until(lambda: _delivered_in(out) == 20 and _stream_rows_in(out) == 15, timeout=30)
    finally:
        proc.kill()
        await proc.wait()
    capture = CaptureFile.open(out)
    try:
        assert capture.count("events") == 20
        rows = sum(r["rows"] or 0 for r in capture.iter_table("messages"))
        assert rows == 15
    finally:
        capture.close()


async def _capture_process(sandbox: Sandbox, out: Path, *extra: str) -> tuple[int, bytes, bytes]:
    """`inspector -v capture` for 3 s against `sandbox` while an order is placed; (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "inspector",
        "-v",
        "capture",
        "--endpoint",
        sandbox.graphql_url,
        "--poll-interval",
        "0.05",
        "--subscription",
        LIVE,
        "--duration",
        "3",
        "--out",
        str(out),
        *extra,
        env={**os.environ, "MY_SECRET": ADMIN_SECRET},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    await asyncio.sleep(0.5)
    await place_order(sandbox, f"s-{uuid.uuid4()}")
    out_text, err_text = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out_text, err_text


async def test_the_admin_secret_never_reaches_the_capture_or_its_output(sandbox: Sandbox, tmp_path: Path) -> None:
    out = tmp_path / "secret.db"
    # no --admin-secret-env and no HASURA_GRAPHQL_ADMIN_SECRET: refused, exit 3, one line
    refused, out_text, err_text = await _capture_process(sandbox, out)
    assert refused == 3, err_text
    done, out_text2, err_text2 = await _capture_process(sandbox, out, "--admin-secret-env", "MY_SECRET", "--force")
    assert done == 0, err_text2
    # A finished capture is one file: its WAL was folded in, so the file alone (copied, shared) holds everything.
    assert await asyncio.to_thread(_files_named_like, out) == [out.name]
    shared = tmp_path / "copy.db"
    await asyncio.to_thread(shutil.copyfile, out, shared)
    assert read(shared, "SELECT count(*) FROM events")[0][0] >= 1
    secret = ADMIN_SECRET.encode()
    for text in (out_text, err_text, out_text2, err_text2):
        assert secret not in text
    for suffix in ("", "-wal", "-shm"):
        data = await asyncio.to_thread(_read_if_there, Path(f"{out}{suffix}"))
        assert secret not in data, suffix
    assert read(out, "SELECT count(*) FROM events")[0][0] >= 1


def _files_named_like(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name))


def _read_if_there(path: Path) -> bytes:
    return path.read_bytes() if path.exists() else b""


async def test_servers_before_v2_25_are_read_through_run_sql(
    sandbox_factory: SandboxFactory, start_capture: Callable[..., Awaitable[Running]], tmp_path: Path
) -> None:
    old = await sandbox_factory(hasura_version="v2.24.1")
    run = await start_capture(profile_for(old.graphql_url))
    await place_order(old, "legacy-1")
    path = tmp_path / "capture.db"
    await until(lambda: read(path, "SELECT count(*) FROM events WHERE status = 'delivered'")[0][0] == 4)
    await until(lambda: read(path, "SELECT count(*) FROM invocations")[0][0] == 4)
    await run.finish()
    assert read(path, "SELECT value FROM capture_info WHERE key = 'event_log_api'") == [('"run_sql"',)]
    rows = read(path, "SELECT trigger_name, attempt, http_status FROM invocations ORDER BY created_ts")
    assert rows == [
        (name, 1, 200) for name in ("validate-order", "process-payment", "restaurant-approval", "agent-assignment")
    ]
    assert read(path, "SELECT DISTINCT row_key FROM events") == [("legacy-1",)]
    payload = json.loads(read(path, "SELECT payload FROM events WHERE trigger_name = 'validate-order'")[0][0])
    assert payload["data"]["new"]["order_id"] == "legacy-1"


def _count_in(path: Path, sql: str) -> int:
    """A count from a capture another process is writing; 0 until the file and its schema are there."""
    if not path.exists():
        return 0
    try:
        return int(read(path, sql)[0][0])
    except sqlite3.OperationalError:  # the file exists but the schema is not committed yet
        return 0


def _delivered_in(path: Path) -> int:
    return _count_in(path, "SELECT count(*) FROM events WHERE status = 'delivered'")


def _stream_rows_in(path: Path) -> int:
    return _count_in(path, "SELECT coalesce(sum(rows), 0) FROM messages")


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_count_counts_subscription_results_not_protocol_frames(
    sandbox: Sandbox, start_capture: Callable[..., Awaitable[Running]], tmp_path: Path, protocol: str
) -> None:
    """Issue 12.8: `--count 3` recorded `connection_ack` as one of the 3, so a capture asked for 3 results had 2."""
    run = await start_capture(
        profile_for(sandbox.graphql_url, protocol),
        events=False,
        subscriptions=(SubscriptionSpec(LIVE, name="live"),),
        count=3,
    )
    for n in range(6):
        await place_order(sandbox, f"count-{n}")
        if run.task.done():
            break
        await asyncio.sleep(0.3)
    await asyncio.wait_for(run.task, 30)  # the count ends the capture by itself
    path = tmp_path / "capture.db"
    assert read(path, "SELECT count(*) FROM messages WHERE type IN ('next', 'data')")[0][0] == 3
    assert read(path, "SELECT count(*) FROM messages WHERE type = 'connection_ack'")[0][0] == 1
