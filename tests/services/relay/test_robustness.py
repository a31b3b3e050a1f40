"""The relay survives what it meets: malformed requests, 10 MB bodies, slow handlers and a handler that never
answers (the engine hangs up and the relay lets go), and a held delivery never blocks the others."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from inspector.services.relay import Breakpoints, Decision, Relay, RelayConfig, RouteRefused
from inspector.store.capture_file import CaptureFile
from inspector.store.relay_records import RelayRecorder, deliveries
from tests.helpers.sandbox_client import ScriptedWebhook, wait_until


@pytest.fixture
async def handler() -> AsyncIterator[ScriptedWebhook]:
    async def reply(_n: int, body: dict[str, Any]) -> web.StreamResponse:
        wait = body.get("sleep", 0)
        if wait == "forever":
            await hook.release.wait()
        elif wait:
            await asyncio.sleep(wait)
        return web.json_response({"size": len(json.dumps(body))})

    hook = ScriptedWebhook(reply)
    await hook.start()
    yield hook
    await hook.stop()


@pytest.fixture
async def relay(handler: ScriptedWebhook, tmp_path: Path) -> AsyncIterator[Relay]:
    capture = CaptureFile.create(tmp_path / "r.inspector")
    recorder = RelayRecorder(capture, interval=0.01)
    relay = Relay(RelayConfig({"hook": handler.url}), recorder=recorder, breakpoints=Breakpoints())
    await relay.start()
    yield relay
    await relay.stop()
    recorder.flush()
    recorder.close()
    capture.close()


async def _post(url: str, data: bytes, timeout: float = 10) -> tuple[int, bytes]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
        session.post(url, data=data, headers={"Content-Type": "application/json"}) as answer,
    ):
        return answer.status, await answer.read()


async def test_malformed_requests(relay: Relay, handler: ScriptedWebhook) -> None:
    # Not JSON: forwarded unchanged all the same (the handler decides); this one cannot parse it and fails.
    assert (await _post(relay.url("hook"), b"not json"))[0] == 500
    reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
    writer.write(b"THIS IS NOT HTTP\r\n\r\n")
    await writer.drain()
    assert (await reader.read(100)).split(b"\r\n")[0].endswith(b"400 Bad Request")
    writer.close()
    reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
    writer.write(b"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")  # then hang up mid-body
    await writer.drain()
    writer.close()
    status, _body = await _post(relay.url("hook"), b'{"id": "ok"}')
    assert status == 200 and len(handler.calls) == 1


async def test_ten_megabyte_body(tmp_path: Path) -> None:
    received: list[bytes] = []

    async def echo(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.Response(body=received[-1], content_type="application/json")

    app = web.Application(client_max_size=64 * 1024 * 1024)  # as the sandbox's handlers (Hasura sets no limit)
    app.router.add_post("/big", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/big"
    big = json.dumps({"id": "big", "event": {"op": "INSERT", "data": {"new": {"blob": "x" * (10 * 1024 * 1024)}}}})
    capture = CaptureFile.create(tmp_path / "big.inspector")
    recorder = RelayRecorder(capture, interval=0.01)
    try:
        async with Relay(RelayConfig({"big": url}), recorder=recorder) as relay:
            status, body = await _post(relay.url("big"), big.encode())
        assert status == 200 and body == big.encode() and received == [big.encode()]
        recorder.flush()
        assert deliveries(capture)[0].http_status == 200
    finally:
        recorder.close()
        capture.close()
        await runner.cleanup()


async def test_a_slow_handler_does_not_hold_the_others(relay: Relay, handler: ScriptedWebhook) -> None:
    slow = asyncio.ensure_future(_post(relay.url("hook"), b'{"id": "slow", "sleep": 1.0}'))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    status, _ = await _post(relay.url("hook"), b'{"id": "fast"}')
    assert status == 200 and time.monotonic() - started < 0.5
    assert (await slow)[0] == 200


async def test_a_handler_that_never_answers(relay: Relay, handler: ScriptedWebhook, tmp_path: Path) -> None:
    with pytest.raises(TimeoutError):
        await _post(relay.url("hook"), b'{"id": "never", "sleep": "forever"}', timeout=0.5)
    # The engine hung up: the relay let go of the handler and recorded why; it serves the next delivery.
    status, _ = await _post(relay.url("hook"), b'{"id": "next"}')
    assert status == 200
    assert relay.recorder is not None
    await wait_until(lambda: len(deliveries(CaptureFile.open(tmp_path / "r.inspector"))) == 2)
    relay.recorder.flush()
    never = next(d for d in deliveries(CaptureFile.open(tmp_path / "r.inspector")) if d.event_id == "never")
    assert "hung up" in (never.error or "")


async def test_an_unreachable_handler_is_a_connection_failure_for_the_engine(tmp_path: Path) -> None:
    relay = Relay(RelayConfig({"gone": "http://127.0.0.1:9/gone"}))
    async with relay:
        with pytest.raises(aiohttp.ClientError):
            await _post(relay.url("gone"), b"{}")


def test_routes_stay_on_this_machine() -> None:
    with pytest.raises(RouteRefused, match="--allow-remote"):
        Relay(RelayConfig({"t": "http://handlers.example.com/t"}))
    with pytest.raises(RouteRefused, match="http"):
        Relay(RelayConfig({"t": "ftp://127.0.0.1/t"}))
    Relay(RelayConfig({"t": "http://handlers.example.com/t"}, allow_remote=True))


async def test_ten_held_deliveries_while_others_flow(relay: Relay, handler: ScriptedWebhook) -> None:
    breakpoints = relay.breakpoints
    assert breakpoints is not None
    breakpoints.attach()
    breakpoints.add('id matches "^held"')
    held = [asyncio.ensure_future(_post(relay.url("hook"), f'{{"id": "held-{n}"}}'.encode())) for n in range(10)]
    await wait_until(lambda: len(breakpoints.held) == 10, message="10 held")
    for n in range(5):  # others flow meanwhile
        status, _ = await _post(relay.url("hook"), f'{{"id": "free-{n}"}}'.encode())
        assert status == 200
    assert not any(task.done() for task in held)
    first = min(breakpoints.held)
    assert breakpoints.decide(first, Decision("respond", status=503, retry_after=1))
    assert breakpoints.continue_all() == 9
    results = [await task for task in held]
    assert sorted(status for status, _ in results) == [200] * 9 + [503]
    assert len(handler.calls) == 5 + 9


async def test_a_held_delivery_is_released_when_its_user_goes_away(relay: Relay, handler: ScriptedWebhook) -> None:
    breakpoints = relay.breakpoints
    assert breakpoints is not None
    breakpoints.add("")  # every delivery
    assert (await _post(relay.url("hook"), b'{"id": "nobody"}'))[0] == 200  # nobody attached: nothing is held
    breakpoints.attach()
    task = asyncio.ensure_future(_post(relay.url("hook"), b'{"id": "orphan"}'))
    await wait_until(lambda: breakpoints.held)
    breakpoints.detach()  # the window closed
    assert (await task)[0] == 200 and [c.body["id"] for c in handler.calls] == ["nobody", "orphan"]
