"""Every answer read from a server is bounded (issue 12.5): a server streaming a gigabyte (generated, never held in
memory by the test) makes each client stop at its limit with a one-line `ResponseTooLarge`, having received little
more than the limit and allocated little more than it; a declared `Content-Length` over the limit is refused before
reading. Limits come from the client's argument or an environment variable."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.asyncio.server import ServerConnection

from inspector.backends.errors import BackendError, ResponseTooLarge
from inspector.backends.graphql_http import GraphQLHttpClient
from inspector.backends.hasura_metadata import HasuraMetadataClient
from inspector.backends.http import GRAPHQL_ANSWER, METADATA_ANSWER, MIB, WEBHOOK_ANSWER, WEBSOCKET_FRAME
from inspector.backends.subscriptions import SubscriptionRecorder, SubscriptionSpec
from inspector.backends.webhook_sender import WebhookAnswerTooLarge, WebhookSender
from inspector.cli import build_parser
from inspector.cli.replay import run as run_replay
from tests.backends.conftest import Flood, Witness
from tests.helpers.captures import build_sample

LIMIT = 1 * MIB


@contextmanager
def peak_memory() -> Iterator[list[int]]:
    """The peak of Python allocations inside the block, in bytes (`[peak]` once the block is done)."""
    found: list[int] = []
    tracemalloc.start()
    try:
        yield found
    finally:
        found.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


async def read_from(flood: Flood, kind: str, limit: int | None = LIMIT) -> None:
    """One request of `kind` to the flooding server."""
    if kind == "metadata":
        base = flood.url
        async with HasuraMetadataClient(
            f"{base}/v1/metadata", f"{base}/v2/query", f"{base}/v1/version", {}, max_answer_bytes=limit
        ) as client:
            await client.call("export_metadata", {})
    elif kind == "graphql":
        async with GraphQLHttpClient(f"{flood.url}/v1/graphql", {}, max_answer_bytes=limit) as graphql:
            await graphql.execute("query { orders { order_id } }")
    else:
        async with WebhookSender(max_answer_bytes=limit) as sender:
            await sender.post(f"{flood.url}/hook", b"{}", {"Content-Type": "application/json"}, 30)


KINDS = ["metadata", "graphql", "webhook"]


@pytest.mark.parametrize("kind", KINDS)
async def test_a_streamed_flood_is_read_only_up_to_the_limit(flood: Flood, kind: str) -> None:
    with peak_memory() as peak, pytest.raises(ResponseTooLarge) as raised:
        await asyncio.wait_for(read_from(flood, kind), 30)
    message = str(raised.value)
    assert "larger than 1 MiB" in message and "INSPECTOR_MAX_" in message and "\n" not in message
    assert raised.value.limit == LIMIT
    assert not flood.finished
    # what the server could write before the client hung up: the limit plus what the sockets' buffers held
    assert flood.sent < 32 * MIB, flood.sent
    assert peak[0] < 8 * MIB, peak[0]


async def test_a_webhook_flood_is_an_http_exception_with_its_status(flood: Flood) -> None:
    with pytest.raises(WebhookAnswerTooLarge) as raised:
        await read_from(flood, "webhook")
    assert raised.value.status == 200 and raised.value.kind == "http_exception"
    assert "webhook answer larger than 1 MiB" in str(raised.value) and "(HTTP 200)" in str(raised.value)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_declared_length_over_the_limit_is_refused_before_reading(flood: Flood, kind: str) -> None:
    flood.declare_length = True
    with pytest.raises(ResponseTooLarge):
        await asyncio.wait_for(read_from(flood, kind), 30)
    assert flood.sent < 32 * MIB


@pytest.mark.parametrize(
    ("kind", "limit"), [("metadata", METADATA_ANSWER), ("graphql", GRAPHQL_ANSWER), ("webhook", WEBHOOK_ANSWER)]
)
async def test_the_limit_comes_from_the_environment(
    flood: Flood, monkeypatch: pytest.MonkeyPatch, kind: str, limit: Any
) -> None:
    monkeypatch.setenv(limit.env, "512KiB")
    with pytest.raises(ResponseTooLarge) as raised:
        await asyncio.wait_for(read_from(flood, kind, None), 30)
    assert raised.value.limit == 512 * 1024 and "512 KiB" in str(raised.value)
    monkeypatch.setenv(limit.env, "lots")
    with pytest.raises(BackendError, match=f"{limit.env}='lots' is not a size in bytes"):
        await read_from(flood, kind, None)


def test_defaults_and_sizes() -> None:
    assert METADATA_ANSWER.resolve(environ={}) == 256 * MIB
    assert GRAPHQL_ANSWER.resolve(environ={}) == 64 * MIB
    assert WEBHOOK_ANSWER.resolve(environ={}) == 16 * MIB
    assert WEBSOCKET_FRAME.resolve(environ={}) == 256 * MIB
    assert WEBHOOK_ANSWER.resolve(environ={WEBHOOK_ANSWER.env: "1048576"}) == MIB
    assert WEBHOOK_ANSWER.resolve(environ={WEBHOOK_ANSWER.env: "2 GiB"}) == 2048 * MIB
    assert WEBHOOK_ANSWER.resolve(7, environ={WEBHOOK_ANSWER.env: "2 GiB"}) == 7
    for bad in ("0", "-5", "12 parsecs"):
        with pytest.raises(BackendError):
            WEBHOOK_ANSWER.resolve(environ={WEBHOOK_ANSWER.env: bad})


async def test_a_websocket_frame_over_the_limit_ends_the_recording_with_a_clear_error() -> None:
    big = "x" * (3 * MIB)  # built once, before memory is measured

    async def send_big(ws: ServerConnection) -> None:
        await ws.recv()  # connection_init
        await ws.send(json.dumps({"type": "connection_ack"}))
        subscribe = json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "next", "id": subscribe["id"], "payload": {"data": {"x": big}}}))
        await ws.wait_closed()

    server = await websockets.serve(send_big, "127.0.0.1", 0, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    port = server.sockets[0].getsockname()[1]
    recorder = SubscriptionRecorder(
        f"ws://127.0.0.1:{port}/v1/graphql",
        {},
        ["graphql-transport-ws"],
        [SubscriptionSpec("subscription { x }")],
        _NullSink(),
        max_frame_bytes=LIMIT,
    )
    try:
        with peak_memory() as peak, pytest.raises(ResponseTooLarge, match="WebSocket frame larger than 1 MiB"):
            await asyncio.wait_for(recorder.run(asyncio.Event()), 15)
    finally:
        server.close()
    assert peak[0] < 8 * MIB, peak[0]


class _NullSink:
    def add_operation(self, *_args: Any) -> int:
        return 1

    def update_operation(self, *_args: Any, **_fields: Any) -> None:
        pass

    def add_message(self, *_args: Any, **_kwargs: Any) -> None:
        pass

    def log(self, *_args: Any) -> None:
        pass


async def test_replay_stops_with_a_one_line_error_when_the_state_query_floods(
    flood: Flood, witness: Witness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(GRAPHQL_ANSWER.env, "1MiB")
    path = tmp_path / "sample.inspector"
    build_sample(path).close()

    def replay() -> tuple[int, str]:
        args = build_parser().parse_args(
            [
                "replay",
                str(path),
                "--target",
                f"*={witness.url}/hook/{{trigger}}",
                "--duplicate",
                "2",
                "--state-query",
                "query { orders { order_id } }",
                "--endpoint",
                flood.url,
            ]
        )
        out, err = io.StringIO(), io.StringIO()
        code = run_replay(args, env={"HASURA_GRAPHQL_ADMIN_SECRET": "s"}, stdout=out, stderr=err)
        return code, err.getvalue()

    code, err = await asyncio.to_thread(replay)
    assert code == 3, err
    assert "sent a GraphQL answer larger than 1 MiB" in err and GRAPHQL_ANSWER.env in err
    assert flood.sent < 32 * MIB


@pytest.mark.parametrize("kind", KINDS)
async def test_a_compressed_answer_is_bounded_by_its_inflated_size(kind: str) -> None:
    """A small declared `Content-Length` is no bound when the body is compressed (aiohttp inflates it): 4 MiB of
    zeros gzipped to a few KiB still stop at the 1 MiB limit, and a small gzipped answer is read in full."""
    from aiohttp import web

    small = json.dumps({"data": {"ok": True}}).encode()
    bodies = {"bomb": gzip.compress(b"0" * (4 * MIB)), "small": gzip.compress(small)}
    served = {"name": "bomb"}

    async def answer(_request: web.Request) -> web.Response:
        body = bodies[served["name"]]
        return web.Response(body=body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        flood = Flood(f"http://127.0.0.1:{port}", total=0)
        assert len(bodies["bomb"]) < LIMIT
        with pytest.raises(ResponseTooLarge):
            await asyncio.wait_for(read_from(flood, kind), 30)
        served["name"] = "small"
        if kind == "webhook":
            async with WebhookSender(max_answer_bytes=LIMIT) as sender:
                got = await sender.post(f"{flood.url}/hook", b"{}", {"Content-Type": "application/json"}, 30)
            assert got.body == small
        else:
            await asyncio.wait_for(read_from(flood, kind), 30)
    finally:
        await runner.cleanup()
