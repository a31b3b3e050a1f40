"""Replay against live handlers: real sandboxes, real capture files, real sockets, the real `inspector replay`.

Covers the issue's test list: replaying a captured flow reproduces it; an idempotent handler passes the duplicate
check and a non-idempotent one fails it; a shuffled replay catches an order-sensitive handler; a remote target is
refused without consent; the JUnit file is valid; cancel leaves a consistent capture. Plus Hasura's exact request,
delivery through the backend (redeliver and a variant's manual invocation), pause/resume, rate and connection
failures.
"""

from __future__ import annotations

import asyncio
import io
import json
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from inspector.cli import build_parser
from inspector.cli.replay import run as run_replay
from inspector.core.events import server_time_seconds
from inspector.core.hasura import USER_AGENT, HeaderConf, event_payload, invocation_request, webhook_response
from inspector.sandbox.handlers import HANDLER_NAMES
from inspector.sandbox.server import Sandbox
from inspector.services.capture_session import CaptureOptions, CaptureSession
from inspector.services.replay.loader import load_plan
from inspector.services.replay.plan import PlanOptions, RemoteTargetRefused, parse_order
from inspector.services.replay.runner import ReplayProgress, ReplayRunner, create_variant
from inspector.store.capture_file import CaptureFile, dumps
from inspector.store.exchange import export_jsonl
from inspector.store.replay_records import run_notes
from tests.conftest import ADMIN_SECRET, Faults, SandboxFactory
from tests.helpers.live import graphql, place_order, profile_for, read, until

ENV = {"HASURA_GRAPHQL_ADMIN_SECRET": ADMIN_SECRET}

PAYMENTS_STATE = "query ($order_id: String!) { payments(where: {order_id: {_eq: $order_id}}) { order_id amount } }"
ORDER_STATE = (
    "query ($order_id: String!) { orders_by_pk(order_id: $order_id) "
    "{ order_valid payment_valid approved driver_assigned } "
    "payments(where: {order_id: {_eq: $order_id}}) { amount type } "
    "assignment(where: {order_id: {_eq: $order_id}}) { order_id } }"
)
RESET = (
    "mutation ($order_id: String!) { update_orders_by_pk(pk_columns: {order_id: $order_id}, "
    "_set: {order_valid: false, payment_valid: null, approved: false, driver_assigned: false}) { order_id } "
    "delete_payments(where: {order_id: {_eq: $order_id}}) { affected_rows } "
    "delete_assignment(where: {order_id: {_eq: $order_id}}) { affected_rows } }"
)


# --- helpers -------------------------------------------------------------------------------------------------------


async def capture_flow(sandbox: Sandbox, path: Path, order_id: str) -> None:
    """Capture one order's whole chain (4 events, each delivered once) into a new capture file."""
    capture = CaptureFile.create(path)
    session = CaptureSession(
        profile_for(sandbox.graphql_url), ADMIN_SECRET, capture, CaptureOptions(poll_interval=0.05, flush_interval=0.05)
    )
    task = asyncio.create_task(session.run())
    try:
        await place_order(sandbox, order_id)
        await until(
            lambda: (
                read(path, "SELECT count(*) FROM events WHERE status = 'delivered'")[0][0] == 4
                and read(path, "SELECT count(*) FROM invocations")[0][0] == 4
            )
        )
    finally:
        session.stop()
        await asyncio.wait_for(task, 20)
        capture.close()


async def replay_target(factory: SandboxFactory, order_id: str, **config: Any) -> Sandbox:
    """A fresh sandbox whose handlers only replays drive: its event triggers are deleted (so a handler's write
    raises no event), and the order row exists, as it did when the captured flow started."""
    sandbox = await factory(**config)
    async with aiohttp.ClientSession() as session:
        for name in HANDLER_NAMES:
            async with session.post(
                sandbox.metadata_url,
                json={"type": "pg_delete_event_trigger", "args": {"name": name}},
                headers={"x-hasura-admin-secret": ADMIN_SECRET},
            ) as answer:
                assert answer.status == 200, await answer.text()
    await graphql(
        sandbox,
        "mutation ($o: orders_insert_input!) { insert_orders_one(object: $o) { order_id } }",
        {"o": {"order_id": order_id, "user_id": "u", "restaurant_id": 1, "address": "1 Main St"}},
    )
    return sandbox


def cli(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """`inspector replay ...` in this process (run it in a thread: it runs its own event loop)."""
    args = build_parser().parse_args(["replay", *argv])
    out, err = io.StringIO(), io.StringIO()
    code = run_replay(args, env=ENV if env is None else env, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


async def replay(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    return await asyncio.to_thread(cli, *argv, env=env)


def event_ids(path: Path) -> dict[str, str]:
    """trigger name → captured event id."""
    return dict(read(path, "SELECT trigger_name, id FROM events WHERE variant_of IS NULL"))


def junit(path: Path) -> ET.Element:
    """Parse a JUnit report and check the structure CI systems read."""
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert suites
    cases = root.findall("testsuite/testcase")
    assert int(root.get("tests", "-1")) == len(cases) == sum(int(s.get("tests", "-1")) for s in suites)
    failures = root.findall("testsuite/testcase/failure")
    assert int(root.get("failures", "-1")) == len(failures) == sum(int(s.get("failures", "-1")) for s in suites)
    for case in cases:
        assert case.get("classname", "").startswith("replay.") and case.get("name")
        float(case.get("time", "x"))
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the issue's tests ---------------------------------------------------------------------------------------------


async def test_replaying_a_captured_flow_reproduces_it(sandbox_factory: SandboxFactory, tmp_path: Path) -> None:
    source = await sandbox_factory()
    path = tmp_path / "flow.inspector"
    await capture_flow(source, path, "flow-1")
    events_before = read(path, "SELECT * FROM events ORDER BY seq")
    target = await replay_target(sandbox_factory, "flow-1")

    code, out, err = await replay(
        str(path),
        "--target",
        f"*={target.handlers_url}/{{trigger}}",
        "--expect",
        "recorded",
        "--ignore",
        "$.payment_id",
        "--report",
        str(tmp_path / "flow.xml"),
    )
    assert code == 0, out + err
    assert "4 events" in err and f"{target.handlers_url}/process-payment (--target)" in err
    assert "4 passed, 0 failed" in out

    # the replay drove the fresh backend to the state the captured flow left the original in
    def state(sandbox: Sandbox) -> Any:
        return graphql(sandbox, ORDER_STATE, {"order_id": "flow-1"})

    assert await state(target) == await state(source)
    assert (await state(target))["orders_by_pk"] == {
        "order_valid": True,
        "payment_valid": True,
        "approved": True,
        "driver_assigned": True,
    }
    # every attempt is in the capture beside the original, which is unchanged
    assert read(path, "SELECT * FROM events ORDER BY seq") == events_before
    ids = event_ids(path)
    rows = read(
        path,
        "SELECT event_id, trigger_name, attempt, http_status, request, response, duration_ms FROM invocations "
        "WHERE source = 'replay' ORDER BY seq",
    )
    assert [r[1] for r in rows] == ["validate-order", "process-payment", "restaurant-approval", "agent-assignment"]
    for event_id, trigger, attempt, status, request, response, duration in rows:
        assert event_id == ids[trigger] and attempt == 2 and status == 200 and duration > 0
        request, response = json.loads(request), json.loads(response)
        captured = json.loads(
            read(path, "SELECT request FROM invocations WHERE event_id = ? AND source = 'hasura'", (event_id,))[0][0]
        )
        # the body Hasura sent, delivery_info included; `created_at` as an instant: the replay takes it from the
        # metadata API (aeson UTCTime, `...Z`), Hasura's webhook body has the database's zone-less local time
        # (`epCreatedAt :: LocalTime`, server/src-lib/Hasura/RQL/Types/EventTrigger.hs)
        sent, recorded = dict(request["payload"]), dict(captured["payload"])
        zone = source.config.db_timezone
        assert server_time_seconds(sent.pop("created_at"), zone) == server_time_seconds(
            recorded.pop("created_at"), zone
        )
        assert sent == recorded
        assert request["payload"]["delivery_info"] == {"max_retries": 3, "current_retry": 0}
        assert request["headers"] == captured["headers"] and request["version"] == "2"
        assert response["type"] == "webhook_response" and response["data"]["status"] == 200
    junit(tmp_path / "flow.xml")


@pytest.mark.parametrize("naive", [False, True], ids=["idempotent", "naive"])
async def test_duplicate_check_passes_an_idempotent_handler_and_fails_a_naive_one(
    sandbox_factory: SandboxFactory, tmp_path: Path, naive: bool
) -> None:
    sandbox = await sandbox_factory(naive_handlers=naive)
    path = tmp_path / "dup.inspector"
    await capture_flow(sandbox, path, "dup-1")
    (tmp_path / "state.graphql").write_text(PAYMENTS_STATE)
    report = tmp_path / "dup.xml"
    code, out, err = await replay(
        str(path),
        "--filter",
        'trigger == "process-payment"',
        "--duplicate",
        "3",
        "--state-query",
        f"@{tmp_path / 'state.graphql'}",
        "--endpoint",
        sandbox.base_url,
        "--report",
        str(report),
        "--report",
        str(tmp_path / "dup.html"),
    )
    payment_event = event_ids(path)["process-payment"]
    payments = await graphql(sandbox, PAYMENTS_STATE, {"order_id": "dup-1"})
    root = junit(report)
    html = (tmp_path / "dup.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and payment_event in html
    if not naive:
        assert code == 0, out + err
        assert len(payments["payments"]) == 1
        assert not root.findall(".//failure")
        return
    assert code == 1, out + err
    assert len(payments["payments"]) == 4  # charged three more times
    failing = [line for line in out.splitlines() if line.startswith("FAILED duplicate")]
    assert len(failing) == 1 and "process-payment" in failing[0] and payment_event in failing[0]
    assert "not idempotent" in failing[0]
    failure = root.find(".//failure[@type='duplicate']")
    assert failure is not None
    assert "process-payment" in failure.get("message", "") and payment_event in failure.get("message", "")
    assert "state after 3 deliveries differs" in (failure.text or "")
    assert root.find("testsuite[@name='process-payment']") is not None


async def test_a_shuffled_replay_catches_an_order_sensitive_handler(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    source = await sandbox_factory()
    path = tmp_path / "order.inspector"
    await capture_flow(source, path, "order-1")
    (tmp_path / "state.graphql").write_text(ORDER_STATE)
    (tmp_path / "reset.graphql").write_text(RESET)
    seeds = _seeds_with_both_orders(path)
    sensitive = await replay_target(sandbox_factory, "order-1", order_sensitive_handlers=True)
    tolerant = await replay_target(sandbox_factory, "order-1")

    def args(target: Sandbox, report: str) -> list[str]:
        return [
            str(path),
            "--target",
            f"*={target.handlers_url}/{{trigger}}",
            "--order",
            "shuffle:" + ",".join(map(str, seeds)),
            "--reset",
            f"@{tmp_path / 'reset.graphql'}",
            "--state-query",
            f"@{tmp_path / 'state.graphql'}",
            "--endpoint",
            target.base_url,
            "--report",
            str(tmp_path / report),
            # new on every run whatever the order: not what the order check is about
            "--ignore",
            "payment_id",
            "--ignore",
            "driver_id",
        ]

    code, out, err = await replay(*args(tolerant, "tolerant.xml"))
    assert code == 0, out + err
    assert f"{len(seeds)} orderings" in err

    code, out, err = await replay(*args(sensitive, "sensitive.xml"))
    assert code == 1, out + err
    approval = event_ids(path)["restaurant-approval"]
    order_lines = [line for line in out.splitlines() if line.startswith("FAILED order")]
    assert len(order_lines) == 2, out  # the flow, and the one handler whose answer changed with the order
    assert "$.orders_by_pk.approved: true → false" in order_lines[0] or "false → true" in order_lines[0], out
    assert order_lines[1].startswith("FAILED order: restaurant-approval → ") and approval in order_lines[1]
    assert "payment not valid yet" in order_lines[1]
    assert not any(name in out for name in ("FAILED order: process-payment", "FAILED order: agent-assignment"))
    root = junit(tmp_path / "sensitive.xml")
    flow = root.find("testsuite[@name='flow']/testcase/failure")
    assert flow is not None and "restaurant-approval" in flow.get("message", "")
    cases = root.findall("testsuite/testcase")
    assert len([c for c in cases if c.get("name", "").startswith("status ")]) == 4 * len(seeds)


def _seeds_with_both_orders(path: Path) -> list[int]:
    """Three seeds whose shuffles put restaurant-approval before process-payment in one and after it in another."""
    capture = CaptureFile.open(path)
    try:
        plan = load_plan(capture, PlanOptions(orderings=parse_order("shuffle:" + ",".join(map(str, range(40))))))
    finally:
        capture.close()
    before, after = [], []
    for ordering, items in plan.runs():
        names = [i.event.trigger_name for i in items]
        first = names.index("restaurant-approval") < names.index("process-payment")
        (before if first else after).append(ordering.seed)
    assert before and len(after) >= 2
    return [after[0], before[0], after[1]]  # type: ignore[list-item]


async def test_a_remote_target_is_refused_without_consent(sandbox: Sandbox, tmp_path: Path) -> None:
    path = tmp_path / "remote.inspector"
    await capture_flow(sandbox, path, "remote-1")
    invocations = read(path, "SELECT count(*) FROM invocations")[0][0]

    # the real command, as a user runs it: nothing sent, exit 2, the host named
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "inspector", "replay", str(path), "--target", "validate-order=http://203.0.113.9/x"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "203.0.113.9" in result.stderr and "--allow-remote" in result.stderr

    for argv, host in (
        (["--target", "*=https://hooks.example.com/{trigger}"], "hooks.example.com"),
        (["--target", "*=http://localhost.example.net:8081/x"], "localhost.example.net"),
        (["--via-backend", "http://10.1.2.3:8080"], "10.1.2.3"),
        (
            ["--duplicate", "2", "--state-query", PAYMENTS_STATE, "--endpoint", "http://[2001:db8::1]:8080"],
            "2001:db8::1",
        ),
    ):
        code, out, err = await replay(str(path), *argv)
        assert code == 2, (argv, out, err)
        assert f"refusing to send to {host}" in err, err
    # loopback in all its spellings needs no consent
    for host in ("localhost", "127.0.0.1", "127.8.9.10", "[::1]"):
        code, _, err = await replay(str(path), "--target", f"*=http://{host}:9/x", "--dry-run")
        assert code == 0, err
    # consent given: planned (dry run here, so still nothing sent)
    code, _, err = await replay(str(path), "--target", "*=https://hooks.example.com/x", "--allow-remote", "--dry-run")
    assert code == 0 and "hooks.example.com (REMOTE)" in err
    assert read(path, "SELECT count(*) FROM invocations")[0][0] == invocations

    # the library refuses too, whoever drives it
    capture = CaptureFile.open(path)
    try:
        plan = load_plan(capture, PlanOptions(targets={"*": "http://192.0.2.1/hook"}))
        with pytest.raises(RemoteTargetRefused) as refused:
            await ReplayRunner(capture, plan).run()
        assert refused.value.hosts == ("192.0.2.1",)
    finally:
        capture.close()


async def test_cancel_leaves_a_consistent_capture(sandbox_factory: SandboxFactory, tmp_path: Path) -> None:
    sandbox = await sandbox_factory(faults=Faults(latency_ms=60))
    path = tmp_path / "cancel.inspector"
    await capture_flow(sandbox, path, "cancel-1")
    events_before = read(path, "SELECT * FROM events ORDER BY seq")
    captured = read(path, "SELECT count(*) FROM invocations")[0][0]

    async def run(cancel_after: int, grace: float, now: bool = False) -> Any:
        capture = CaptureFile.open(path)
        try:
            plan = load_plan(capture, PlanOptions(duplicate=25, concurrency=3))
            runner: ReplayRunner

            def progress(p: ReplayProgress) -> None:
                if p.done >= cancel_after and not runner.cancelled:
                    runner.cancel_now() if now else runner.cancel()

            runner = ReplayRunner(capture, plan, on_progress=progress, cancel_grace=grace, flush_interval=0.05)
            report = await runner.run()
        finally:
            capture.close()
        return report

    graceful = await run(cancel_after=10, grace=5.0)
    assert graceful.state == "cancelled" and not graceful.passed
    assert 10 <= graceful.attempts_made < 100
    replayed = read(path, "SELECT count(*) FROM invocations WHERE source = 'replay'")[0][0]
    assert replayed == graceful.attempts_made  # in-flight attempts finished within the grace and were recorded
    hard = await run(cancel_after=5, grace=0.0, now=True)
    assert hard.state == "cancelled"
    rows = read(path, "SELECT id, event_id, attempt, request, response, created_at, duration_ms FROM invocations")
    replay_rows = read(path, "SELECT response FROM invocations WHERE source = 'replay'")
    assert len(replay_rows) >= graceful.attempts_made + hard.attempts_made
    cancelled = [r for (r,) in replay_rows if "replay cancelled" in r]
    assert len(replay_rows) == graceful.attempts_made + hard.attempts_made + len(cancelled)
    # whole rows only, attempts numbered without gaps per event, the captured events untouched
    for _id, _event, _attempt, request, response, created_at, _duration in rows:
        assert json.loads(request)["payload"]["id"] and json.loads(response)["type"] and created_at
    for (event_id,) in read(path, "SELECT id FROM events"):
        attempts = [
            a for (a,) in read(path, "SELECT attempt FROM invocations WHERE event_id = ? ORDER BY seq", (event_id,))
        ]
        assert attempts == list(range(1, len(attempts) + 1))
    assert read(path, "SELECT * FROM events ORDER BY seq") == events_before
    assert read(path, "PRAGMA integrity_check") == [("ok",)]
    assert captured == read(path, "SELECT count(*) FROM invocations WHERE source = 'hasura'")[0][0]
    # the file still opens, exports, and remembers both runs
    capture = CaptureFile.open(path)
    try:
        assert export_jsonl(capture, io.StringIO()) > 0
        notes = run_notes(capture)
    finally:
        capture.close()
    assert [n["state"] for n in notes] == ["cancelled", "cancelled"]
    assert [n["attempts_made"] for n in notes] == [graceful.attempts_made, hard.attempts_made]

    # the task running a replay cancelled from outside (the window closing): the same guarantees
    capture = CaptureFile.open(path)
    try:
        runner = ReplayRunner(capture, load_plan(capture, PlanOptions(duplicate=25, concurrency=3)))
        task = asyncio.create_task(runner.run())
        await until(lambda: runner.progress.done >= 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert run_notes(capture)[-1]["state"] == "cancelled"
        made = run_notes(capture)[-1]["attempts_made"]
    finally:
        capture.close()
    assert made >= 5
    assert read(path, "SELECT * FROM events ORDER BY seq") == events_before
    assert read(path, "PRAGMA integrity_check") == [("ok",)]


# --- more of the same machinery ------------------------------------------------------------------------------------


class Recorder:
    """A local webhook that records what it receives, answering with `answer(request body) -> (status, json)`."""

    def __init__(self, answer: Callable[[dict[str, Any]], tuple[int, Any]] | None = None, delay: float = 0.0) -> None:
        self.requests: list[tuple[dict[str, str], bytes, float]] = []
        self.answer = answer or (lambda body: (200, {"ok": True, "id": body["id"]}))
        self.delay = delay
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.requests.append((dict(request.headers), raw, time.monotonic()))
        if self.delay:
            await asyncio.sleep(self.delay)
        status, body = self.answer(json.loads(raw))
        return web.json_response(body, status=status)

    async def __aenter__(self) -> Recorder:
        app = web.Application()
        app.router.add_post("/{name}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


def synthetic_capture(path: Path, webhook: str, events: int = 3, headers: tuple[HeaderConf, ...] = ()) -> list[str]:
    """A capture with a `notify` trigger (webhook, headers) and `events` INSERT events with one recorded 200 each."""
    from inspector.core.events import EventRecord, InvocationRecord
    from inspector.core.hasura import invocation_request, request_headers, webhook_body, webhook_response
    from inspector.store.capture_file import CaptureWriter

    capture = CaptureFile.create(path)
    capture.set_info(server_version="v2.40.1")
    config: dict[str, Any] = {
        "name": "notify",
        "definition": {"enable_manual": False, "insert": {"columns": "*"}},
        "retry_conf": {"num_retries": 5, "interval_sec": 10, "timeout_sec": 3},
        "webhook": webhook,
    }
    if headers:
        config["headers"] = [h.to_json() for h in headers]
    writer = CaptureWriter(capture)
    writer.snapshot_triggers([("default", {"schema": "public", "name": "orders"}, config)])
    ids = []
    for n in range(events):
        event_id = f"00000000-0000-4000-8000-00000000000{n}"
        ids.append(event_id)
        payload = event_payload(
            "INSERT",
            None,
            {"order_id": f"o-{n}", "note": "café ☕"},
            {"x-hasura-role": "user"},
            {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7", "sampling_state": "1"},
        )
        created = f"2024-03-01T12:00:0{n}.000001"
        writer.observe_event(
            EventRecord(event_id, "notify", "public", "orders", payload, created, True, False, 1, None, None, False)
        )
        body = webhook_body(event_id, "public", "orders", "notify", payload, 0, 5, created)
        writer.observe_invocation(
            InvocationRecord(
                f"inv-{n}",
                event_id,
                "notify",
                200,
                invocation_request(body, request_headers(headers, {})[1]),
                webhook_response(json.dumps({"ok": True, "id": event_id}), [], 200),
                created,
            )
        )
    writer.flush()
    capture.close()
    return ids


async def test_requests_carry_hasuras_exact_body_and_headers(tmp_path: Path) -> None:
    path = tmp_path / "exact.inspector"
    headers = (
        HeaderConf("X-Webhook-Secret", value="s3cret-in-hasura-metadata"),
        HeaderConf("X-From-Env", value_from_env="HANDLER_TOKEN"),
        HeaderConf("X-Unknown", value="never-supplied"),
        HeaderConf("User-Agent", value="overridden-by-hasura"),
    )
    async with Recorder() as hook:
        ids = synthetic_capture(path, f"{hook.url}/notify", headers=headers)
        env = {"HANDLER_TOKEN": "token-from-env", "MY_SECRET": "secret-from-user"}
        code, out, err = await replay(
            str(path), "--webhook-header", "x-webhook-secret=MY_SECRET", "--expect", "recorded", env=env
        )
        assert code == 0, out + err
        assert "X-Unknown (its value is redacted in the capture) will not be sent" in err
        assert len(hook.requests) == 3
        sent_headers, raw, _ = hook.requests[0]
    capture_text = path.read_bytes()
    assert b"s3cret-in-hasura-metadata" not in capture_text and b"secret-from-user" not in capture_text
    body = json.loads(raw)
    assert list(body) == ["id", "table", "trigger", "event", "delivery_info", "created_at"]
    assert body["delivery_info"] == {"max_retries": 5, "current_retry": 0}
    assert body["id"] == ids[0] and body["created_at"] == "2024-03-01T12:00:00.000001"
    assert raw == json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()  # compact, UTF-8, as aeson
    assert sent_headers["Content-Type"] == "application/json"
    assert sent_headers["User-Agent"] == "hasura-graphql-engine/v2.40.1" != USER_AGENT
    assert sent_headers["X-Webhook-Secret"] == "secret-from-user"
    assert sent_headers["X-From-Env"] == "token-from-env"
    assert "X-Unknown" not in sent_headers
    assert sent_headers["traceparent"] == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    request_text, response_text = read(
        path, "SELECT request, response FROM invocations WHERE source = 'replay' ORDER BY seq LIMIT 1"
    )[0]
    request, response = json.loads(request_text), json.loads(response_text)
    assert request["payload"] == body
    logged = request["headers"]
    assert {"name": "X-From-Env", "value_from_env": "HANDLER_TOKEN"} in logged
    assert {"name": "X-Webhook-Secret", "value": "<redacted>"} in logged
    # the records replay composes as text are exactly Hasura's shapes as the capture stores them
    assert request_text == dumps(invocation_request(body, logged))
    answer_headers = [(h["name"], h["value"]) for h in response["data"]["headers"]]
    assert response_text == dumps(webhook_response(response["data"]["body"], answer_headers, 200))
    assert json.loads(response["data"]["body"]) == {"ok": True, "id": ids[0]}


async def test_via_backend_redelivers_captured_events_and_invokes_variants(sandbox: Sandbox, tmp_path: Path) -> None:
    path = tmp_path / "backend.inspector"
    await capture_flow(sandbox, path, "backend-1")
    original = event_ids(path)["validate-order"]
    capture = CaptureFile.open(path)
    try:
        before = capture.event(original)
        payload = json.loads(before["payload"])  # type: ignore[index]
        payload["data"]["new"]["address"] = "42 Edited Road"
        variant = create_variant(capture, original, payload)
        assert capture.event(original) == before
        row = capture.event(variant)
        assert row is not None and row["variant_of"] == original and row["attempts"] == 0
        assert json.loads(row["payload"])["data"]["new"]["address"] == "42 Edited Road"
        assert create_variant(capture, variant, payload) != variant
        assert (
            capture.event(capture.rows("SELECT id FROM events ORDER BY seq DESC LIMIT 1")[0]["id"])[
                "variant_of"  # type: ignore[index]
            ]
            == original
        )  # a variant of a variant points at the root original
    finally:
        capture.close()

    code, out, err = await replay(
        str(path), "--event", original, "--event", variant, "--via-backend", sandbox.base_url, "--duplicate", "2"
    )
    assert code == 0, out + err
    assert "(pg_redeliver_event)" in err and "(pg_invoke_event_trigger)" in err
    rows = read(path, "SELECT event_id, id, http_status, request FROM invocations WHERE source = 'replay' ORDER BY seq")
    assert [r[0] for r in rows].count(original) == 2 and [r[0] for r in rows].count(variant) == 2
    assert all(r[2] == 200 for r in rows)
    manual = [json.loads(r[3])["payload"] for r in rows if r[0] == variant]
    assert all(
        p["event"]["op"] == "MANUAL" and p["event"]["data"]["new"]["address"] == "42 Edited Road" for p in manual
    )
    assert len({p["id"] for p in manual}) == 2  # two new manual events in the backend
    redelivered = [json.loads(r[3])["payload"] for r in rows if r[0] == original]
    assert all(p["id"] == original for p in redelivered)
    # these are the backend's own invocation records, so a capture of it would not count them twice
    assert sandbox.db is not None
    backend_ids = {r[0] for r in sandbox.db.conn.execute("SELECT id FROM hdb_event_invocation_logs")}
    assert {r[1] for r in rows} <= backend_ids


async def test_pause_holds_new_attempts_and_rate_spaces_them(tmp_path: Path) -> None:
    path = tmp_path / "pause.inspector"
    async with Recorder() as hook:
        synthetic_capture(path, f"{hook.url}/notify", events=4)
        capture = CaptureFile.open(path)
        try:
            plan = load_plan(capture, PlanOptions(duplicate=3, rate=20.0, concurrency=2))
            paused_at: list[int] = []
            runner: ReplayRunner

            def progress(p: ReplayProgress) -> None:
                if p.done == 3 and not paused_at:
                    paused_at.append(len(hook.requests))
                    runner.pause()
                    asyncio.get_running_loop().call_later(0.4, runner.resume)

            runner = ReplayRunner(capture, plan, on_progress=progress)
            started = time.monotonic()
            task = asyncio.create_task(runner.run())
            await until(lambda: runner.paused)
            held = len(hook.requests)
            await asyncio.sleep(0.3)
            assert runner.paused and len(hook.requests) <= held + 1  # one may have passed the gate already
            report = await task
            elapsed = time.monotonic() - started
        finally:
            capture.close()
    assert report.passed and report.attempts_made == 12 == len(hook.requests)
    assert elapsed >= 11 / 20 + 0.3
    gaps = [b[2] - a[2] for a, b in zip(hook.requests, hook.requests[1:], strict=False)]
    assert min(gaps) >= 0.03  # 20/s: 50 ms apart, with scheduling slack


async def test_connection_failures_exit_3(sandbox: Sandbox, tmp_path: Path) -> None:
    path = tmp_path / "down.inspector"
    await capture_flow(sandbox, path, "down-1")
    closed = free_port()
    code, out, err = await replay(str(path), "--target", f"*=http://127.0.0.1:{closed}/{{trigger}}")
    assert code == 3, out + err
    assert "nothing answered at 127.0.0.1" in err
    answers = read(path, "SELECT http_status, response FROM invocations WHERE source = 'replay'")
    assert len(answers) == 4 and all(s is None and "http_exception" in r for s, r in answers)

    code, out, err = await replay(str(path), "--via-backend", f"http://127.0.0.1:{closed}")
    assert code == 3 and "connection refused" in err, out + err
    code, out, err = await replay(
        str(path), "--via-backend", sandbox.base_url, env={"HASURA_GRAPHQL_ADMIN_SECRET": "wrong"}
    )
    assert code == 3 and "admin secret" in err, out + err


async def test_failing_handler_is_named_and_a_bad_command_line_is_usage(tmp_path: Path) -> None:
    path = tmp_path / "fail.inspector"
    async with Recorder(lambda body: (500, {"error": "boom"}) if body["id"].endswith("1") else (200, {})) as hook:
        ids = synthetic_capture(path, f"{hook.url}/notify")
        code, out, _ = await replay(str(path), "--concurrency", "3")
    assert code == 1
    failed = [line for line in out.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and "notify" in failed[0] and ids[1] in failed[0] and "HTTP 500" in failed[0]
    for argv, message in (
        (["--filter", "trigger =="], "--filter"),
        (["--target", "notfy=http://127.0.0.1:1/"], "did you mean notify"),
        (["--order", "sideways"], "unknown order"),
        (["--order", "shuffle:1,2"], "needs --state-query"),
        (["--ignore", "$"], "names no key"),
        (["--filter", 'trigger == "nope"'], "nothing to replay"),
        (["--report", str(tmp_path / "r.txt")], ".xml"),
        (["--event", "no-such-id"], "no event no-such-id"),
        (["--webhook-header", "X-A=UNSET_VAR"], "UNSET_VAR"),
    ):
        code, out, err = await replay(str(path), *argv, env={})
        assert code == 2, (argv, out, err)
        assert message in err, (argv, err)
    code, _, err = await replay(str(tmp_path / "missing.inspector"))
    assert code == 2 and "no such file" in err and "missing.inspector" in err
    assert read(path, "SELECT count(*) FROM invocations WHERE source = 'replay'")[0][0] == 3


async def test_concurrent_duplicates_arrive_together(tmp_path: Path) -> None:
    path = tmp_path / "together.inspector"
    async with Recorder(delay=0.3) as hook:
        ids = synthetic_capture(path, f"{hook.url}/notify", events=2)
        started = time.monotonic()
        code, out, err = await replay(str(path), "--duplicate", "3", "--duplicate-mode", "concurrent")
        elapsed = time.monotonic() - started
    assert code == 0, out + err
    assert "each delivered 3 times concurrent" in err
    assert elapsed < 2 * 0.3 + 1.0  # two events one after the other, each one's 3 deliveries at once
    for event_id in ids:
        arrivals = [at for _, raw, at in hook.requests if json.loads(raw)["id"] == event_id]
        assert len(arrivals) == 3 and max(arrivals) - min(arrivals) < 0.15


def test_building_the_command_line_stays_cheap() -> None:
    """Every `inspector` command builds the whole parser: `replay`'s flags must not import its machinery (aiohttp,
    graphql-core, the runner), or every command starts slower (a capture test's race window once depended on it)."""
    code = (
        "import sys, inspector.cli as cli; cli.build_parser(); "
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('aiohttp', 'graphql') "
        "or m in ('inspector.services.replay.runner', 'inspector.services.replay.plan', "
        "'inspector.store.replay_records')); "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_fast_paths_equal_the_canonical_shapes(tmp_path: Path) -> None:
    """The per-attempt shortcuts (body composed around the stored payload text, timestamps, ids) give exactly what
    the canonical functions give."""
    import uuid
    from datetime import UTC, datetime

    from inspector.core.hasura import format_timestamp, webhook_body
    from inspector.services.replay.plan import PlanEvent
    from inspector.services.replay.runner import _timestamp, body_text
    from inspector.store.replay_records import ReplayRecorder

    payload = event_payload(
        "UPDATE",
        {"order_id": 'é\u2028"x\\', "n": 1.5, "flag": None},
        {"order_id": 'é\u2028"x\\', "n": 2, "list": [True, {"deep": "☕"}]},
        {"x-hasura-role": "user"},
        None,
    )
    for text in (dumps(payload), None):
        event = PlanEvent(
            'id-"1"', "trig", "public", "orders", payload, "2024-03-01T12:00:00.5", 1.0, 1, payload_text=text
        )
        expected = webhook_body('id-"1"', "public", "orders", "trig", payload, 0, 7, "2024-03-01T12:00:00.5")
        assert body_text(event, 7) == json.dumps(expected, ensure_ascii=False, separators=(",", ":"))
    for now in (0.0, 1_709_294_400.123456, time.time()):
        assert _timestamp(now)[:19] == format_timestamp(datetime.fromtimestamp(now, UTC))[:19]
        assert abs(float(_timestamp(now)[19:]) - float(format_timestamp(datetime.fromtimestamp(now, UTC))[19:])) < 2e-6
    path = tmp_path / "ids.inspector"
    CaptureFile.create(path).close()
    capture = CaptureFile.open(path)
    try:
        recorder = ReplayRecorder(capture)
        ids = {recorder._new_id() for _ in range(2000)}
        recorder.close()
    finally:
        capture.close()
    assert len(ids) == 2000
    assert all(
        uuid.UUID(i).version == 4 and uuid.UUID(i).variant == uuid.RFC_4122 and str(uuid.UUID(i)) == i for i in ids
    )


def test_prepared_deliveries_equal_the_canonical_body(tmp_path: Path) -> None:
    """A delivery prepared with its trigger's shared frame (headers, body frame, time limit) sends what `body_text`
    composes for that event, also when one trigger's events come from two tables, and logs that body."""
    from inspector.services.replay.plan import PlanEvent, PlanItem, PlanOptions, ReplayPlan, Target
    from inspector.services.replay.runner import ReplayRunner, body_text

    items = []
    for n, table in enumerate(("orders", "orders", "archived_orders", "orders")):
        payload = event_payload("INSERT", None, {"order_id": f"o{n}"}, {"x-hasura-role": "user"}, None)
        event = PlanEvent(f"id-{n}", "trig", "public", table, payload, f"2024-03-01T12:00:0{n}", 1.0, n, dumps(payload))
        items.append(PlanItem(event, None, Target("webhook", "http://127.0.0.1:1/hook")))
    path = tmp_path / "prepared.inspector"
    CaptureFile.create(path).close()
    capture = CaptureFile.open(path)
    try:
        runner = ReplayRunner(capture, ReplayPlan(tuple(items), PlanOptions()), env={})
        for item in items:
            prepared = runner._prepare(item)
            assert prepared is not None
            assert prepared.data.decode() == body_text(item.event, 0)
            assert json.loads(prepared.request)["payload"] == json.loads(prepared.data)
            assert prepared.time_limit == 60.0
        runner.recorder.close()
    finally:
        capture.close()


async def test_the_backend_secret_comes_from_the_profiles_keyring_entry(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--profile NAME`: the endpoint from the saved profile, the admin secret from its keyring entry; neither the
    environment nor the capture holds it, and nothing replay writes does either."""
    import keyring
    from keyrings.alt.file import PlaintextKeyring

    from inspector.core.connection_profile import ConnectionProfile
    from inspector.services.profiles import ProfileStore, SecretStore

    path = tmp_path / "profile.inspector"
    await capture_flow(sandbox, path, "profile-1")
    monkeypatch.setattr("platformdirs.user_config_dir", lambda *_a, **_k: str(tmp_path / "config"))
    previous = keyring.get_keyring()
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "keyring.cfg")
    keyring.set_keyring(backend)
    try:
        ProfileStore().save(ConnectionProfile.from_endpoint("local", sandbox.base_url, has_secret=True))
        SecretStore().set("local", ADMIN_SECRET)
        (tmp_path / "state.graphql").write_text(PAYMENTS_STATE)
        argv = [
            str(path),
            "--filter",
            'trigger == "process-payment"',
            "--duplicate",
            "2",
            "--state-query",
            f"@{tmp_path / 'state.graphql'}",
            "--profile",
            "local",
            "--via-backend",
            "--report",
            str(tmp_path / "profile.xml"),
        ]
        code, out, err = await replay(*argv, env={})
        assert code == 0, out + err
        assert "(pg_redeliver_event)" in err
        code, out, err = await replay(*argv[:-2], "--profile", "nope", env={})
        assert code == 2 and "no saved profile" in err
    finally:
        keyring.set_keyring(previous)
    for written in (path, tmp_path / "profile.xml", tmp_path / "config" / "profiles.json"):
        assert ADMIN_SECRET.encode() not in written.read_bytes()
