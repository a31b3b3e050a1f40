"""`inspector replay URL` and following a store capture from a local copy, against a real server: a replay's
attempts land in the store where another reader sees them, a replay waits for no recording (it refuses while one
writes the capture), and a followed copy gains the events and the status changes another process writes."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from inspector.cli import build_parser
from inspector.cli.exit_codes import ExitCode
from inspector.cli.replay import run as run_replay
from inspector.core.events import EventRecord, InvocationRecord
from inspector.store.capture_file import CaptureWriter
from inspector.store.open import follow_capture, local_capture
from inspector.store.postgres.connection import StoreUrl
from inspector.store.postgres.store import PostgresStore, create_mirrored, push_file
from tests.helpers.captures import build_sample, event_dict, invocation_dict, ok_response


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    build_sample(tmp_path / "sample.inspector").close()
    return tmp_path / "sample.inspector"


def replay_cli(*argv: str) -> tuple[int, str, str]:
    args = build_parser().parse_args(["replay", *argv])
    out, err = io.StringIO(), io.StringIO()
    code = run_replay(args, env={}, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


async def handler_server() -> tuple[web.AppRunner, str, list[str]]:
    """A webhook answering 200 to every trigger (`/{trigger}`); the paths it was sent to."""
    seen: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/{trigger}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}", seen


def replays(url: str) -> list[tuple[str, int | None]]:
    """(event id, HTTP status) of the replay attempts the store holds, read by another connection."""
    with PostgresStore.open(url.split("?")[0]) as store:
        capture = store.capture(StoreUrl.parse(url).capture or "")
        return [(r["event_id"], r["http_status"]) for r in capture.iter_table("invocations") if r["source"] == "replay"]


async def test_replay_on_a_url_writes_its_attempts_into_the_store(sample: Path, postgres_db: str) -> None:
    url = f"{postgres_db}?capture=nightly"
    push_file(sample, StoreUrl.parse(url))
    runner, base, seen = await handler_server()
    try:
        code, out, err = await asyncio.to_thread(replay_cli, url, "--target", f"*={base}/{{trigger}}")
        assert code == ExitCode.OK, out + err
        assert "3 passed, 0 failed" in out
        # the same replay of the file itself, for comparison
        code, out, err = await asyncio.to_thread(replay_cli, str(sample), "--target", f"*={base}/{{trigger}}")
        assert code == ExitCode.OK, out + err
    finally:
        await runner.cleanup()
    assert len(seen) == 6
    with local_capture(url) as pulled:
        stored = sqlite3.connect(pulled)
        local = sqlite3.connect(sample)
        query = "SELECT event_id, trigger_name, attempt, http_status, source FROM invocations ORDER BY seq"
        assert stored.execute(query).fetchall() == local.execute(query).fetchall()
        notes = "SELECT kind, count(*) FROM notes GROUP BY kind ORDER BY kind"
        assert stored.execute(notes).fetchall() == local.execute(notes).fetchall()
        stored.close()
        local.close()
    found = replays(url)
    assert len(found) == 3 and {status for _, status in found} == {200}


def test_replay_refuses_a_capture_being_recorded(sample: Path, postgres_db: str) -> None:
    url = f"{postgres_db}?capture=live"
    capture = create_mirrored(StoreUrl.parse(url), interval=0.05)
    try:
        deadline = time.monotonic() + 10
        while capture.mirror.rounds == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        code, _out, err = replay_cli(url, "--target", "*=http://127.0.0.1:9/{trigger}")
        assert code == ExitCode.USAGE
        assert "is being written by another Inspector" in err and err.count("\n") == 1
    finally:
        capture.close()


def _wait(check: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.fixture
def recording(postgres_db: str) -> Iterator[tuple[str, CaptureWriter, object]]:
    url = f"{postgres_db}?capture=growing"
    capture = create_mirrored(StoreUrl.parse(url), interval=0.05)
    writer = CaptureWriter(capture)
    try:
        yield url, writer, capture
    finally:
        capture.close()


def test_a_followed_copy_gains_new_events_and_their_status_changes(
    recording: tuple[str, CaptureWriter, object],
) -> None:
    url, writer, capture = recording
    for n in range(3):
        writer.observe_event(EventRecord.from_hasura(event_dict(f"e-{n}", new={"n": n})), now=1709294400.0 + n)
    writer.flush()
    _wait(lambda: capture.mirror.rounds > 0 and capture.mirror.last["events"] == 3)  # type: ignore[attr-defined]
    followed = follow_capture(url, interval=0.05)
    try:
        local = sqlite3.connect(followed.path)

        def rows() -> list[tuple[str, str]]:
            return local.execute("SELECT id, status FROM events ORDER BY seq").fetchall()

        assert rows() == [("e-0", "pending"), ("e-1", "pending"), ("e-2", "pending")]
        writer.observe_event(EventRecord.from_hasura(event_dict("e-3", new={"n": 3})), now=1709294404.0)
        delivered = event_dict("e-1", new={"n": 1})
        delivered.update(delivered=True, tries=1)
        writer.observe_event(EventRecord.from_hasura(delivered), now=1709294405.0)
        attempt = invocation_dict("i-1", delivered, 200, ok_response(), "2024-03-01T12:00:01.000000")
        writer.observe_invocation(InvocationRecord.from_hasura(attempt), now=1709294405.0)
        writer.flush()
        _wait(lambda: len(rows()) == 4 and dict(rows())["e-1"] == "delivered")
        assert dict(rows()) == {"e-0": "pending", "e-1": "delivered", "e-2": "pending", "e-3": "pending"}
        assert local.execute("SELECT count(*) FROM invocations").fetchone()[0] == 1
        assert json.loads(local.execute("SELECT value FROM capture_info WHERE key = 'schema_version'").fetchone()[0])
        assert followed.error is None
        local.close()
    finally:
        followed.close()
    assert not followed.path.exists()
