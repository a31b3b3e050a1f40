"""Recording into a PostgreSQL store while others read it, and several captures written at once, against a real
server and the sandbox: a reader polling by `seq` follows a capture as it is recorded; two captures write into one
database each at full rate; what is recorded is what a capture file of the same session holds."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from pathlib import Path

from inspector.core.events import EventRecord
from inspector.sandbox.server import Sandbox
from inspector.services.capture_session import CaptureOptions, CaptureSession
from inspector.store.capture_file import CaptureFile, CaptureWriter
from inspector.store.exchange import export_jsonl
from inspector.store.open import create_capture, local_capture
from inspector.store.postgres.connection import StoreUrl
from inspector.store.postgres.store import PostgresStore
from tests.conftest import ADMIN_SECRET, Faults, SandboxFactory
from tests.helpers.captures import event_dict
from tests.helpers.live import place_order, profile_for, until


def jsonl(path: Path) -> str:
    capture = CaptureFile.open(path)
    try:
        out = io.StringIO()
        export_jsonl(capture, out)
        return out.getvalue()
    finally:
        capture.close()


async def test_a_capture_recorded_into_the_store_is_followed_live_by_a_reader(
    sandbox: Sandbox, postgres_db: str, tmp_path: Path
) -> None:
    url = f"{postgres_db}?capture=live"
    capture = create_capture(url)
    session = CaptureSession(
        profile_for(sandbox.graphql_url), ADMIN_SECRET, capture, CaptureOptions(poll_interval=0.05, flush_interval=0.05)
    )
    task = asyncio.create_task(session.run())
    seen: list[str] = []
    with PostgresStore.open(StoreUrl.parse(postgres_db)) as reader:  # another connection, as another machine's
        await until(lambda: "live" in reader.names())
        followed = reader.capture("live")

        def follow() -> bool:
            after = int(seen[-1].split(":")[0]) if seen else 0
            seen.extend(f"{row['seq']}:{row['id']}" for row in followed.events_after(after))
            return len(seen) >= 4

        await place_order(sandbox, "o-live-1")
        await until(follow)  # seen while the capture still runs
        assert not task.done()
        first = len(seen)
        await place_order(sandbox, "o-live-2")
        await until(lambda: follow() and len(seen) > first)
        session.stop()
        await asyncio.wait_for(task, 20)
        capture.close()  # the last round: everything recorded is in the store
        follow()
        assert [int(s.split(":")[0]) for s in seen] == sorted({int(s.split(":")[0]) for s in seen})
        assert followed.count("events") == len(seen)
        assert followed.info()["ended_at"] > followed.info()["started_at"]
        assert followed.select('trigger == "validate-order"', limit=100)
    assert not capture.path.exists()  # the local file was a means, not a second copy
    with local_capture(url) as path:
        pulled = CaptureFile.open(path)
        assert pulled.count("events") == len(seen) and pulled.count("invocations") > 0
        pulled.close()


def _write(path: Path, prefix: str, events: int) -> None:
    capture = CaptureFile.create(path)
    writer = CaptureWriter(capture)
    for n in range(events):
        record = EventRecord.from_hasura(event_dict(f"{prefix}-{n:06d}", new={"order_id": f"{prefix}{n}", "n": n}))
        writer.observe_event(record, now=1709294400.0 + n)
    writer.flush()
    capture.close()


def test_two_captures_write_into_one_database_at_once(postgres_db: str, tmp_path: Path) -> None:
    """Each capture is recorded at full rate into its own file and mirrored into the same database at the same
    time; both arrive whole, and neither waited for the other (their rows never share a key)."""
    from inspector.store.postgres.store import create_mirrored

    events = 20000
    captures = {name: create_mirrored(StoreUrl.parse(f"{postgres_db}?capture={name}"), interval=0.05) for name in "ab"}
    timings: dict[str, float] = {}

    def record(name: str) -> None:
        start = time.perf_counter()
        capture = captures[name]
        writer = CaptureWriter(capture)
        for n in range(events):
            payload = event_dict(f"{name}-{n:06d}", new={"order_id": f"{name}{n}", "n": n})
            writer.observe_event(EventRecord.from_hasura(payload), now=1709294400.0 + n)
        capture.close()  # flushes, runs the last round
        timings[name] = time.perf_counter() - start

    threads = [threading.Thread(target=record, args=(name,)) for name in captures]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with PostgresStore.open(StoreUrl.parse(postgres_db)) as store:
        listed = {c.name: c for c in store.captures()}
        assert listed["a"].events == listed["b"].events == events
        assert store.capture("a").select("data.new.n == 7", limit=10) != []
    for name in captures:
        assert captures[name].mirror.rounds > 1  # written while recording, not only at the end
    _write(tmp_path / "alone.inspector", "a", events)  # the same capture, recorded alone into a file
    with local_capture(f"{postgres_db}?capture=a") as path:
        ours, alone = CaptureFile.open(path), CaptureFile.open(tmp_path / "alone.inspector")
        try:
            columns = "id, trigger_name, payload, status, tries, created_ts"
            assert ours.rows(f"SELECT {columns} FROM events ORDER BY seq") == alone.rows(
                f"SELECT {columns} FROM events ORDER BY seq"
            )
        finally:
            ours.close()
            alone.close()


async def test_status_changes_reach_the_store_during_a_live_capture(
    sandbox_factory: SandboxFactory, postgres_db: str
) -> None:
    """Events recorded pending (the handlers answer slowly) are updated in the store to delivered while the capture
    still runs: the store's row changes in place and its states are appended, as in the file."""
    sandbox = await sandbox_factory(faults=Faults(latency_ms=700.0))
    url = f"{postgres_db}?capture=statuses"
    capture = create_capture(url)
    session = CaptureSession(
        profile_for(sandbox.graphql_url), ADMIN_SECRET, capture, CaptureOptions(poll_interval=0.05, flush_interval=0.05)
    )
    task = asyncio.create_task(session.run())
    seen: dict[str, list[str]] = {}
    try:
        with PostgresStore.open(StoreUrl.parse(postgres_db)) as reader:
            await until(lambda: "statuses" in reader.names())
            followed = reader.capture("statuses")

            def look() -> bool:
                for row in followed.iter_table("events"):
                    statuses = seen.setdefault(row["id"], [])
                    if not statuses or statuses[-1] != row["status"]:
                        statuses.append(row["status"])
                return any(s[0] != "delivered" and s[-1] == "delivered" for s in seen.values())

            await place_order(sandbox, "o-status-1")
            await until(look, timeout=30)  # seen pending (or in flight) in the store, then delivered
            assert not task.done()
            changed = next(i for i, s in seen.items() if s[0] != "delivered" and s[-1] == "delivered")
            states = [r["status"] for r in followed.iter_table("event_states") if r["event_id"] == changed]
            assert states[0] != "delivered" and states[-1] == "delivered"
            row = next(r for r in followed.iter_table("events") if r["id"] == changed)
            assert row["delivered"] == 1 and row["attempts"] >= 1 and row["delivered_ts"] is not None
    finally:
        session.stop()
        await asyncio.wait_for(task, 20)
        capture.close()
