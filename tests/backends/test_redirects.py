"""A redirect never carries the admin secret away (issue 12.2): the metadata client, the GraphQL HTTP client, the
subscription recorder's WebSocket and the replay paths that use them (`--via-backend`, `--state-query`) refuse to
follow a 30x to another origin, with a one-line error naming where it pointed; the witness server it points at never
sees the secret."""

from __future__ import annotations

import asyncio
import io
import json
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from inspector.backends.errors import RedirectRefused
from inspector.backends.graphql_http import GraphQLHttpClient
from inspector.backends.hasura_metadata import HasuraMetadataClient
from inspector.backends.subscriptions import SubscriptionRecorder, SubscriptionSpec
from inspector.cli import build_parser
from inspector.cli.replay import run as run_replay
from tests.backends.conftest import SECRET, Redirector, Witness
from tests.helpers.captures import build_sample

HEADERS = {"x-hasura-admin-secret": SECRET}
STATUSES = [301, 302, 303, 307, 308]


def metadata_client(base: str) -> HasuraMetadataClient:
    return HasuraMetadataClient(f"{base}/v1/metadata", f"{base}/v2/query", f"{base}/v1/version", HEADERS)


@pytest.mark.parametrize("status", STATUSES)
async def test_the_metadata_client_does_not_follow_a_redirect(
    redirector: Redirector, witness: Witness, status: int
) -> None:
    base = await redirector(status)
    async with metadata_client(base) as client:
        with pytest.raises(RedirectRefused) as refused:
            await client.detect()
        assert f"{witness.url}/v1/metadata" in str(refused.value) and "--endpoint" in str(refused.value)
        assert "\n" not in str(refused.value)
        with pytest.raises(RedirectRefused):
            await client.run_sql("SELECT 1")
        with pytest.raises(RedirectRefused):
            await client.call("pg_redeliver_event", {"event_id": "e"})
    assert witness.seen == []


@pytest.mark.parametrize("status", STATUSES)
async def test_the_graphql_client_does_not_follow_a_redirect(
    redirector: Redirector, witness: Witness, status: int
) -> None:
    base = await redirector(status)
    async with GraphQLHttpClient(f"{base}/v1/graphql", HEADERS) as client:
        with pytest.raises(RedirectRefused, match=r"redirects \(HTTP \d+\) to http://127\.0\.0\.1:\d+/v1/graphql"):
            await client.execute("query { orders { order_id } }")
    assert witness.seen == []


def replay(*argv: str) -> tuple[int, str, str]:
    args = build_parser().parse_args(["replay", *argv])
    out, err = io.StringIO(), io.StringIO()
    code = run_replay(args, env={"HASURA_GRAPHQL_ADMIN_SECRET": SECRET}, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


async def test_replay_via_the_backend_does_not_follow_a_redirect(
    redirector: Redirector, witness: Witness, tmp_path: Path
) -> None:
    path = tmp_path / "sample.inspector"
    build_sample(path).close()
    base = await redirector(307)
    code, out, err = await asyncio.to_thread(replay, str(path), "--via-backend", base)
    assert code != 0, out + err
    assert "redirects (HTTP 307)" in err and witness.url in err, err
    assert witness.secret_seen() == []


async def test_replay_state_query_does_not_follow_a_redirect(
    redirector: Redirector, witness: Witness, tmp_path: Path
) -> None:
    path = tmp_path / "sample.inspector"
    build_sample(path).close()
    base = await redirector(307)
    code, out, err = await asyncio.to_thread(
        replay,
        str(path),
        "--target",
        f"*={witness.url}/hook/{{trigger}}",
        "--duplicate",
        "2",
        "--state-query",
        "query { orders { order_id } }",
        "--endpoint",
        base,
    )
    assert code != 0, out + err
    assert "redirects (HTTP 307)" in err and witness.url in err, err
    assert any(s.path.startswith("/hook/") for s in witness.seen)  # the deliveries went out
    assert witness.secret_seen() == []


async def test_the_subscription_recorder_does_not_follow_a_websocket_redirect() -> None:
    """websockets follows redirects in the handshake; `connection_init` carries the secret, so it must not go to
    where the redirect pointed."""
    received: list[str] = []

    async def record(ws: ServerConnection) -> None:
        async for message in ws:
            received.append(str(message))
            if json.loads(message).get("type") == "connection_init":
                await ws.send(json.dumps({"type": "connection_ack"}))

    other = await websockets.serve(record, "127.0.0.1", 0, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    other_port = other.sockets[0].getsockname()[1]

    def moved(_ws: ServerConnection, request: Request) -> Response:
        answer = _ws.respond(HTTPStatus.TEMPORARY_REDIRECT, "")
        answer.headers["Location"] = f"ws://127.0.0.1:{other_port}{request.path}"
        return answer

    hostile = await websockets.serve(record, "127.0.0.1", 0, process_request=moved)
    port = hostile.sockets[0].getsockname()[1]
    sink = _Sink()
    recorder = SubscriptionRecorder(
        f"ws://127.0.0.1:{port}/v1/graphql",
        {"headers": HEADERS},
        ["graphql-transport-ws"],
        [SubscriptionSpec("subscription { orders { order_id } }")],
        sink,
    )
    try:
        with pytest.raises(RedirectRefused, match=rf"redirects to ws://127\.0\.0\.1:{other_port}/v1/graphql"):
            await asyncio.wait_for(recorder.run(asyncio.Event()), 10)
    finally:
        hostile.close()
        other.close()
    assert not any(SECRET in message for message in received)


class _Sink:
    def add_operation(self, *_args: Any) -> int:
        return 1

    def update_operation(self, *_args: Any, **_fields: Any) -> None:
        pass

    def add_message(self, *_args: Any, **_kwargs: Any) -> None:
        pass

    def log(self, *_args: Any) -> None:
        pass
