"""`inspector relay` as a user runs it: a sandbox process rewired to a relay process, fault rules on the command
line, the metadata restored on exit (and by `--restore` after a crash), and the usage errors."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from inspector.cli import main
from inspector.cli.exit_codes import ExitCode
from inspector.store.capture_file import CaptureFile
from inspector.store.relay_records import deliveries, rewirings
from tests.helpers.processes import sandbox_process
from tests.helpers.sandbox_client import (
    INSERT_ORDER,
    Remote,
    all_invocations,
    driver_assigned,
    graphql_data,
    metadata_ok,
    wait_until,
)

SECRET = "cli-relay-secret"


@contextmanager
def relay_process(log: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "inspector", "relay", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "RELAY_TEST_SECRET": SECRET},
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def _wait_for_text(log: Path, text: str, count: int = 1) -> str:
    return str(
        await wait_until(
            lambda: log.read_text(errors="replace").count(text) >= count and log.read_text(errors="replace"),
            timeout=20,
            message=f"{text!r} in the relay's output",
        )
    )


def _hooks(export: dict[str, object]) -> dict[str, str]:
    sources = export["sources"]
    assert isinstance(sources, list)
    return {t["name"]: t.get("webhook") for t in sources[0]["tables"][0]["event_triggers"]}


async def test_rewired_sandbox_through_the_relay_process_and_restored_on_exit(tmp_path: Path) -> None:
    with sandbox_process("--admin-secret", SECRET, "--retry-interval", "1", "--fetch-interval-ms", "50") as (
        _proc,
        base,
    ):
        sandbox = Remote(base, SECRET)
        before = await metadata_ok(sandbox, "export_metadata")
        out, log = tmp_path / "relay.inspector", tmp_path / "relay.log"
        with relay_process(
            log,
            "--endpoint",
            base,
            "--admin-secret-env",
            "RELAY_TEST_SECRET",
            "--rewire",
            "--out",
            str(out),
            "--rule",
            'trigger == "process-payment" and attempt == 1 -> respond 503 retry-after=1',
            "--times",
            "1",
        ) as relay:
            text = await _wait_for_text(log, "rewired ", 4)
            assert "rule: trigger ==" in text and "(at most 1 times)" in text
            during = _hooks(await metadata_ok(sandbox, "export_metadata"))
            assert all(url.startswith("http://127.0.0.1:") and url.endswith(f"/{name}") for name, url in during.items())
            await graphql_data(sandbox, INSERT_ORDER, {"id": "o-cli", "user": "u1"})
            await wait_until(lambda: driver_assigned(sandbox, "o-cli"), timeout=20)
            payments = await all_invocations(sandbox, "process-payment")
            assert sorted(i["http_status"] for i in payments) == [200, 503]
            relay.send_signal(signal.SIGINT)
            assert await asyncio.to_thread(relay.wait, 20) == ExitCode.OK
        text = log.read_text()
        assert text.count("restored ") == 4 and "5 deliveries" in text
        assert await metadata_ok(sandbox, "export_metadata") == before
        capture = CaptureFile.open(out)
        try:
            assert len(deliveries(capture)) == 5 and rewirings(capture) == []
            assert [d.action for d in deliveries(capture, "process-payment")] == ["respond", "pass"]
        finally:
            capture.close()


async def test_restore_after_a_crash(tmp_path: Path) -> None:
    with sandbox_process("--admin-secret", SECRET) as (_proc, base):
        sandbox = Remote(base, SECRET)
        before = await metadata_ok(sandbox, "export_metadata")
        out, log = tmp_path / "relay.inspector", tmp_path / "relay.log"
        with relay_process(
            log,
            "--endpoint",
            base,
            "--admin-secret-env",
            "RELAY_TEST_SECRET",
            "--rewire",
            "validate-order",
            "--out",
            str(out),
        ) as relay:
            await _wait_for_text(log, "rewired validate-order")
            relay.kill()  # the crash: nothing restored
            relay.wait()
        assert _hooks(await metadata_ok(sandbox, "export_metadata")) != _hooks(before)
        restore = await asyncio.to_thread(
            subprocess.run,
            [
                sys.executable,
                "-m",
                "inspector",
                "relay",
                "--restore",
                str(out),
                "--endpoint",
                base,
                "--admin-secret-env",
                "RELAY_TEST_SECRET",
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "RELAY_TEST_SECRET": SECRET},
            timeout=30,
        )
        assert restore.returncode == ExitCode.OK, restore.stderr
        assert "restored validate-order: http://127.0.0.1:" in restore.stderr  # the change it made, said exactly
        assert await metadata_ok(sandbox, "export_metadata") == before


def _joined(out: Path) -> tuple[int, list[tuple[str, int, int, int]]]:
    """(relay deliveries, [(event id, event rows, backend invocations, relay invocations)]) in the capture."""
    capture = CaptureFile.open(out)
    try:
        rows = capture.conn.execute(
            "SELECT d.event_id, (SELECT count(*) FROM events e WHERE e.id = d.event_id), "
            "(SELECT count(*) FROM invocations i WHERE i.event_id = d.event_id AND i.source = 'hasura'), "
            "(SELECT count(*) FROM invocations i WHERE i.event_id = d.event_id AND i.source = 'relay') "
            "FROM relay_deliveries d ORDER BY d.seq"
        ).fetchall()
        return len(rows), rows
    finally:
        capture.close()


async def test_out_with_a_backend_follows_its_event_log_into_the_same_capture(tmp_path: Path) -> None:
    with sandbox_process("--admin-secret", SECRET, "--fetch-interval-ms", "50") as (_proc, base):
        sandbox = Remote(base, SECRET)
        out, log = tmp_path / "relay.inspector", tmp_path / "relay.log"
        with relay_process(
            log, "--endpoint", base, "--admin-secret-env", "RELAY_TEST_SECRET", "--rewire", "--out", str(out)
        ) as relay:
            text = await _wait_for_text(log, "event log")
            assert "following http://127.0.0.1:" in text
            await graphql_data(sandbox, INSERT_ORDER, {"id": "o-follow", "user": "u1"})
            await wait_until(lambda: driver_assigned(sandbox, "o-follow"), timeout=20)

            def all_joined() -> bool:
                count, rows = _joined(out)
                return count == 4 and all(
                    events == 1 and hasura >= 1 and relayed >= 1 for _, events, hasura, relayed in rows
                )

            # Every delivery through the relay has its event's row and the backend's own invocation log entry
            # (followed by the same process), joined by the event id.
            await wait_until(all_joined, timeout=30, message="relay deliveries joined with the event log")
            relay.send_signal(signal.SIGINT)
            assert await asyncio.to_thread(relay.wait, 20) == ExitCode.OK
        capture = CaptureFile.open(out)
        try:
            info = capture.info()
            assert sorted(info["triggers_followed"]) == sorted(_hooks(await metadata_ok(sandbox, "export_metadata")))
            statuses = capture.conn.execute(
                "SELECT e.status FROM relay_deliveries d JOIN events e ON e.id = d.event_id"
            ).fetchall()
            assert statuses and all(status == "delivered" for (status,) in statuses)
        finally:
            capture.close()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["relay"], "--route"),
        (["relay", "--route", "t"], "TRIGGER=URL"),
        (["relay", "--route", "t=http://handlers.example.com/t"], "--allow-remote"),
        (["relay", "--route", "t=http://127.0.0.1:9/t", "--rule", "attempt == 1"], "FILTER -> ACTION"),
        (["relay", "--route", "t=http://127.0.0.1:9/t", "--rule", "nosuchfield == 1 -> drop"], "nosuchfield"),
        (["relay", "--listen", "nowhere", "--route", "t=http://127.0.0.1:9/t"], "HOST:PORT"),
        (["relay", "--endpoint", "http://127.0.0.1:9", "--rewire"], "--out"),
        (["relay", "--endpoint", "http://hasura.example.com", "--rewire", "--out", "x.inspector"], "--allow-remote"),
    ],
)
def test_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    os.chdir(tmp_path)
    assert main(argv) == ExitCode.USAGE
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.inspector").exists()


def test_times_needs_a_rule(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["relay", "--times", "1", "--route", "t=http://127.0.0.1:9/t"])
    assert exit_.value.code == ExitCode.USAGE and "--times limits the --rule before it" in capsys.readouterr().err


def test_a_short_run_with_duration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    code = main(["relay", "--route", "t=http://127.0.0.1:9/t", "--duration", "0.2", "--out", str(tmp_path / "r.db")])
    assert code == ExitCode.OK and time.monotonic() - started < 10
    err = capsys.readouterr().err
    assert "listening on http://127.0.0.1:" in err and "0 deliveries" in err


def test_server_timezone_is_kept_in_the_capture_for_the_bodies_created_at(tmp_path: Path) -> None:
    """With `--no-follow` nothing asks the database for its zone: `--server-timezone` is what the recorder reads the
    bodies' `created_at` in (`store.relay_records`)."""
    out = tmp_path / "r.inspector"
    argv = ["relay", "--route", "t=http://127.0.0.1:9/t", "--duration", "0.1", "--out", str(out)]

    def zone() -> object:
        capture = CaptureFile.open(out)
        try:
            return capture.info().get("server_timezone")
        finally:
            capture.close()

    assert main([*argv, "--server-timezone", "Asia/Kolkata", "--force"]) == ExitCode.OK
    assert zone() == "Asia/Kolkata"
    assert main([*argv, "--force"]) == ExitCode.OK
    assert zone() is None
