"""`inspector sandbox` as a user runs it: a separate process that prints its URLs and serves a live flow."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from typing import Any

import pytest

from tests.helpers.processes import sandbox_process

SECRET = "cli-secret"


def metadata(base: str, kind: str, args: dict[str, Any], secret: str = SECRET) -> Any:
    request = urllib.request.Request(
        f"{base}/v1/metadata",
        data=json.dumps({"type": kind, "args": args}).encode(),
        headers={"x-hasura-admin-secret": secret, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def test_sandbox_with_traffic_runs_a_live_flow_readable_through_metadata() -> None:
    with sandbox_process(
        "--orders-per-second",
        "5",
        "--fetch-interval-ms",
        "100",
        "--seed",
        "1",
        env={"HASURA_GRAPHQL_ADMIN_SECRET": SECRET},
    ) as (_proc, base):
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as answer:
            assert answer.read() == b"OK"
        deadline = time.monotonic() + 30
        done: list[Any] = []
        while time.monotonic() < deadline and len(done) < 3:
            done = metadata(base, "pg_get_event_logs", {"name": "agent-assignment", "status": "processed"})
            time.sleep(0.2)
        assert len(done) >= 3, "orders did not reach agent-assignment"
        invocations = metadata(base, "pg_get_event_invocation_logs", {"name": "validate-order"})
        assert invocations and all(i["http_status"] == 200 for i in invocations)
        # the admin secret comes from the environment and is required
        with pytest.raises(urllib.error.HTTPError) as refused:
            metadata(base, "export_metadata", {}, secret="wrong")
        assert refused.value.code == 401


def test_banner_never_prints_the_secret() -> None:
    with sandbox_process("--admin-secret", "very-secret-value") as (proc, _base):
        pass
    assert proc.stdout is not None
    rest = proc.stdout.read()
    assert "very-secret-value" not in rest


@pytest.mark.parametrize("bad", [["--fail-rate", "2"], ["--latency-ms", "-1"], ["--port", "70000"], ["--nope"]])
def test_bad_flags_exit_2_with_a_message(bad: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "inspector", "sandbox", *bad], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "error:" in result.stderr


def test_port_in_use_is_a_clear_error() -> None:
    with sandbox_process() as (_proc, base):
        port = base.rsplit(":", 1)[1]
        result = subprocess.run(
            [sys.executable, "-m", "inspector", "sandbox", "--port", port], capture_output=True, text=True, timeout=30
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "inspector", "--version"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0 and result.stdout.startswith("inspector ")
