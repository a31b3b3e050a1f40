"""The server's time zone (issue 13.5): a database not set to UTC writes its local wall time into the event tables'
`TIMESTAMP` columns, which the metadata API labels `Z` and `run_sql` gives without a zone. A capture of a sandbox
whose database is in Asia/Kolkata (+05:30) stores the true instants, whether the zone is found through `run_sql` or
given by `--server-timezone` / a profile; and `inspector sandbox` takes `--db-timezone` and `--trace-propagator`."""

from __future__ import annotations

import asyncio
import io
import random
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from inspector.cli import build_parser
from inspector.cli.common import UsageError
from inspector.cli.options import resolve_backend
from inspector.core.connection_profile import ConnectionProfile
from inspector.core.events import EventRecord, InvocationRecord, server_time_seconds
from inspector.sandbox.traffic import place_order
from inspector.services.capture_session import CaptureOptions, CaptureSession
from inspector.store.capture_file import CaptureFile
from tests.conftest import ADMIN_SECRET, SandboxFactory
from tests.helpers.sandbox_client import wait_until

KOLKATA = "Asia/Kolkata"
OFFSET = 5.5 * 3600


def test_timestamp_columns_are_wall_times_in_the_server_zone() -> None:
    instant = datetime(2024, 3, 1, 6, 30, tzinfo=UTC).timestamp()
    for text in (
        "2024-03-01T12:00:00Z",
        "2024-03-01T12:00:00",
        "2024-03-01 12:00:00.000000",
        "2024-03-01T12:00:00+00:00",
    ):
        assert server_time_seconds(text, KOLKATA) == instant, text
    assert server_time_seconds("2024-03-01T12:00:00+05:30", KOLKATA) == instant  # an offset is taken as written
    assert server_time_seconds("2024-03-01T12:00:00Z", None) == instant + OFFSET  # unknown: UTC, as before
    assert server_time_seconds("2024-03-01T12:00:00Z", "UTC") == instant + OFFSET
    assert server_time_seconds("not a time", KOLKATA) is None
    event = EventRecord.from_hasura({"id": "e", "created_at": "2024-03-01T12:00:00Z"}, KOLKATA)
    invocation = InvocationRecord.from_hasura({"id": "i", "created_at": "2024-03-01T12:00:00.5Z"}, KOLKATA)
    assert event.created_seconds == instant and invocation.created_seconds == instant + 0.5
    assert event.created_at == "2024-03-01T12:00:00Z"  # the server's text is kept as received
    assert event == EventRecord.from_hasura({"id": "e", "created_at": "2024-03-01T12:00:00Z"})  # not a state change


def test_a_profile_keeps_its_server_timezone_and_refuses_an_unknown_one() -> None:
    profile = ConnectionProfile.from_endpoint("p", "http://localhost:8080", server_timezone=KOLKATA)
    assert ConnectionProfile.from_json(profile.to_json()).server_timezone == KOLKATA
    assert "server_timezone" not in ConnectionProfile.from_endpoint("p", "http://localhost:8080").to_json()
    with pytest.raises(ValueError, match="unknown time zone"):
        ConnectionProfile.from_endpoint("p", "http://localhost:8080", server_timezone="Mars/Olympus")


def test_the_backend_options_take_a_server_timezone() -> None:
    parser = build_parser()
    args = parser.parse_args(
        ["capture", "--endpoint", "http://localhost:8080", "--server-timezone", KOLKATA, "--out", "x"]
    )
    resolved = resolve_backend("capture", args, {}, io.StringIO())
    assert resolved.profile.server_timezone == KOLKATA
    with pytest.raises(SystemExit):
        parser.parse_args(["capture", "--endpoint", "http://h", "--server-timezone", "Nowhere/Else", "--out", "x"])
    with pytest.raises((SystemExit, UsageError)):
        parser.parse_args(["sandbox", "--db-timezone", "Nowhere/Else"])


def test_the_sandbox_command_takes_a_database_zone_and_trace_propagators() -> None:
    parser = build_parser()
    args = parser.parse_args(["sandbox", "--db-timezone", KOLKATA, "--trace-propagator", "tracecontext"])
    assert (args.db_timezone, args.trace_propagator) == (KOLKATA, ["tracecontext"])
    defaults = parser.parse_args(["sandbox"])
    assert (defaults.db_timezone, defaults.trace_propagator) == ("UTC", [])


async def _capture_one_order(sandbox_url: str, path: Path, profile: ConnectionProfile) -> tuple[float, float]:
    """Capture one order's chain; (just before it was placed, just after it was all delivered) on this clock."""
    capture = CaptureFile.create(path)
    session = CaptureSession(profile, ADMIN_SECRET, capture, CaptureOptions(poll_interval=0.05, flush_interval=0.05))
    task = asyncio.create_task(session.run())
    try:
        await asyncio.sleep(0.2)
        before = time.time()
        async with aiohttp.ClientSession() as client:
            await place_order(client, sandbox_url, ADMIN_SECRET, random.Random(5), order_id="o-kolkata")

        def delivered() -> bool:
            conn = sqlite3.connect(path)
            try:
                return conn.execute("SELECT count(*) FROM events WHERE status = 'delivered'").fetchone()[0] >= 4
            finally:
                conn.close()

        await wait_until(delivered, timeout=20, message="the order's four events to be delivered and captured")
        after = time.time()
    finally:
        session.stop()
        await asyncio.wait_for(task, 20)
        capture.close()
    return before, after


@pytest.mark.parametrize("how", ["run_sql", "profile"])
async def test_a_capture_of_a_kolkata_database_stores_the_true_instants(
    sandbox_factory: SandboxFactory, tmp_path: Path, how: str
) -> None:
    sandbox = await sandbox_factory(db_timezone=KOLKATA)
    profile = ConnectionProfile.from_endpoint(
        "test", sandbox.graphql_url, server_timezone=KOLKATA if how == "profile" else None
    )
    path = tmp_path / "kolkata.inspector"
    before, after = await _capture_one_order(sandbox.graphql_url, path, profile)
    conn = sqlite3.connect(path)
    try:
        events = conn.execute("SELECT created_at, created_ts, delivered_ts FROM events").fetchall()
        invocations = conn.execute("SELECT created_at, created_ts FROM invocations").fetchall()
        info = dict(conn.execute("SELECT key, value FROM capture_info").fetchall())
    finally:
        conn.close()
    assert info.get("server_timezone") == f'"{KOLKATA}"'
    assert len(events) >= 4 and invocations
    for text, created, delivered in events:
        # the server's text is its wall time, labelled Z: taken at its word it would be 5.5 h in the future
        assert text.endswith("Z") and server_time_seconds(text, None) - OFFSET == pytest.approx(created, abs=1e-3)
        assert before - 1 <= created <= after + 1, (text, created, before)
        assert delivered is not None and created <= delivered <= after + 1
    for _text, created in invocations:
        assert before - 1 <= created <= after + 1
