"""`inspector capture --no-events` records any GraphQL-over-WebSocket server, not only Hasura: here strawberry's
(a third-party implementation of both subprotocols), on real sockets, once per message."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path

import pytest
import strawberry
from aiohttp import web
from strawberry.aiohttp.views import GraphQLView
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL

from inspector.store.capture_file import message_data_sql


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "world"


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def count(self, up_to: int) -> AsyncGenerator[int, None]:
        for i in range(up_to):
            yield i
            await asyncio.sleep(0.001)


@pytest.fixture
async def strawberry_url() -> AsyncIterator[str]:
    schema = strawberry.Schema(query=Query, subscription=Subscription)
    app = web.Application()
    view = GraphQLView(schema=schema, subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL])
    app.router.add_route("*", "/graphql", view)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/graphql"
    await runner.cleanup()


@pytest.mark.parametrize("protocol", ["graphql-ws", "graphql-transport-ws"])
async def test_capture_records_every_message_of_a_third_party_server(
    strawberry_url: str, tmp_path: Path, protocol: str
) -> None:
    out = tmp_path / "third-party.db"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "inspector",
        "capture",
        "--endpoint",
        strawberry_url,
        "--no-events",
        "--subprotocol",
        protocol,
        "--subscription",
        "subscription { count(upTo: 500) }",
        "--out",
        str(out),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    conn = sqlite3.connect(out)
    try:
        values = [
            json.loads(data)["count"]
            for (data,) in conn.execute(
                f"SELECT {message_data_sql()} FROM messages WHERE type IN ('next', 'data') ORDER BY seq"
            )
        ]
        assert values == list(range(500)), "each message exactly once, in order"
        assert conn.execute("SELECT protocol, state FROM operations").fetchall() == [(protocol, "completed")]
        assert conn.execute("SELECT count(*) FROM messages WHERE type = 'complete'").fetchone()[0] == 1
    finally:
        conn.close()
