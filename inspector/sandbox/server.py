"""`Sandbox`: one running Hasura-compatible 3factor backend, with its HTTP endpoints, handlers, worker and traffic.

Owns start-up (database, the example's event triggers on a new file, stale locks released), the aiohttp routes
(`/healthz`, `/v1/version`, `/v1/graphql` over POST and WebSocket, `/v1alpha1/graphql` as in the example's clients,
`/v1/metadata`), the handlers' own server, and an orderly stop. `inspector sandbox` runs one until interrupted; tests
start one on free ports with `async with Sandbox(config) as sandbox`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from inspector.core.hasura import EventTriggerConf, HasuraError, RetryConf
from inspector.sandbox.config import SandboxConfig
from inspector.sandbox.database import Database
from inspector.sandbox.delivery import DeliveryWorker, stop_task
from inspector.sandbox.eventing import EventTriggers
from inspector.sandbox.graphql_engine import AccessDenied, GraphQLEngine, RequestError, Session, hasura_error
from inspector.sandbox.graphql_ws import WebSocketSettings, close_graphql_websockets, handle_graphql_websocket
from inspector.sandbox.handlers import HANDLER_NAMES, Handlers
from inspector.sandbox.metadata_api import MetadataAPI
from inspector.sandbox.run_sql import run_sql
from inspector.sandbox.tracing import TracePropagation
from inspector.sandbox.traffic import generate_orders

log = logging.getLogger(__name__)

EXAMPLE_TRIGGERS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("validate-order", {"insert": {"columns": "*"}}),
    ("process-payment", {"update": {"columns": ["order_valid"]}}),
    ("restaurant-approval", {"update": {"columns": ["payment_valid"]}}),
    ("agent-assignment", {"update": {"columns": ["approved"]}}),
)
"""The example's event triggers on orders (`hasura/3factor-example`), plus process-payment (see `handlers`)."""


class Sandbox:
    """A running sandbox. Use `await start()` / `await stop()` or `async with`."""

    def __init__(self, config: SandboxConfig) -> None:
        config.faults.validate()
        self.config = config
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        self.db_path = ""
        self.db: Database | None = None
        self.triggers: EventTriggers | None = None
        self.engine: GraphQLEngine | None = None
        self.handlers: Handlers | None = None
        self.tracing = TracePropagation(config.trace_propagators)
        self.worker: DeliveryWorker | None = None
        self._runners: list[web.AppRunner] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.port = 0
        self.handlers_port = 0

    # --- addresses -----------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host = self.config.host if ":" not in self.config.host else f"[{self.config.host}]"
        return f"http://{host}:{self.port}"

    @property
    def graphql_url(self) -> str:
        return f"{self.base_url}/v1/graphql"

    @property
    def ws_url(self) -> str:
        return "ws" + self.graphql_url[4:]

    @property
    def metadata_url(self) -> str:
        return f"{self.base_url}/v1/metadata"

    @property
    def handlers_url(self) -> str:
        host = self.config.host if ":" not in self.config.host else f"[{self.config.host}]"
        return f"http://{host}:{self.handlers_port}"

    @property
    def admin_secret(self) -> str | None:
        return self.config.admin_secret

    # --- life cycle ----------------------------------------------------------------------------------------------

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        config = self.config
        if config.db is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="inspector-sandbox-")
            self.db_path = str(Path(self._tmpdir.name) / "sandbox.db")
        else:
            self.db_path = config.db
        self.db = Database(self.db_path, timezone=config.db_timezone, rng=config.rng("ties"))
        fresh = self.db.initialise()
        self.triggers = EventTriggers(self.db)
        self.triggers.load()
        released = self.triggers.unlock()
        if released:
            # The sandbox is the only instance on its file: locks at start belong to a process that died mid-delivery.
            log.info(
                "released %d %s locked by a previous run; %s delivered again",
                released,
                "event" if released == 1 else "events",
                "it will be" if released == 1 else "they will be",
            )
        self.engine = GraphQLEngine(self.db, config.admin_secret, refetch_interval=config.refetch_interval)
        self.engine.tracing = self.tracing

        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/v1/version", self._version)
        for path in ("/v1/graphql", "/v1alpha1/graphql"):
            app.router.add_post(path, self._graphql_http)
            app.router.add_get(path, self._graphql_ws)
        app.router.add_post("/v1/metadata", self._metadata)
        app.router.add_post("/v2/query", self._query_v2)
        app.on_shutdown.append(close_graphql_websockets)
        self.port = await self._serve(app, config.port)

        handlers_port = config.handlers_port
        if handlers_port is None:
            handlers_port = 0 if config.port == 0 else self.port + 1
        self.handlers = Handlers(config, self.graphql_url)
        self.handlers_port = await self._serve(self.handlers.app, handlers_port)

        self._install_example_triggers(fresh)
        self.worker = DeliveryWorker(self.triggers, config, tracing=self.tracing)
        self._tasks.append(asyncio.create_task(self.worker.run(), name="delivery worker"))
        if config.orders_per_second > 0:
            self._tasks.append(
                asyncio.create_task(
                    generate_orders(
                        self.graphql_url, config.admin_secret, config.orders_per_second, config.rng("traffic")
                    ),
                    name="traffic",
                )
            )

    async def _serve(self, app: web.Application, port: int) -> int:
        # A short grace period: in-flight handler calls must not hold a stop for aiohttp's default 60 s.
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await runner.setup()
        self._runners.append(runner)
        site = web.TCPSite(runner, self.config.host, port)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        return int(sockets[0].getsockname()[1]) if sockets else port

    def _install_example_triggers(self, fresh: bool) -> None:
        """On a new file install the example's triggers; on an old one point them at this run's handlers."""
        assert self.triggers is not None
        existing = self.triggers.triggers
        retry = RetryConf(self.config.num_retries, self.config.retry_interval_sec, self.config.timeout_sec)
        for name, ops in EXAMPLE_TRIGGERS:
            webhook = f"{(self.config.webhook_base or self.handlers_url).rstrip('/')}/{name}"
            old = existing.get(name)
            if old is None and not fresh:
                continue  # deleted by the user: leave it deleted
            if old is not None:
                host = urlsplit(old.webhook or "").hostname
                if old.webhook == webhook or host not in ("127.0.0.1", "localhost", "::1"):
                    continue
            args = {
                "name": name,
                "table": {"schema": "public", "name": "orders"},
                "webhook": webhook,
                "retry_conf": retry.to_json(),
                "enable_manual": True,
                **ops,
            }
            self.triggers.create(EventTriggerConf.from_create_args(args), replace=old is not None)

    async def stop(self) -> None:
        for task in reversed(self._tasks):
            await stop_task(task)
        self._tasks.clear()
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        if self.db is not None:
            self.db.close()
            self.db = None
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    async def serve_forever(self) -> None:
        await asyncio.Event().wait()

    def banner(self) -> str:
        """What `inspector sandbox` prints on start (never the admin secret itself)."""
        faults = self.config.faults
        knobs = [
            f"{label} {value}"
            for label, value in (
                ("fail-rate", faults.fail_rate),
                ("latency-ms", faults.latency_ms),
                ("cold-start-ms", faults.cold_start_ms),
                ("duplicate-rate", faults.duplicate_rate),
                ("reorder-window-ms", faults.reorder_window_ms),
            )
            if value
        ]
        secret = "required (x-hasura-admin-secret)" if self.config.admin_secret else "none: every request is admin"
        lines = [
            f"Inspector sandbox: a Hasura {self.config.hasura_version}-compatible 3factor backend "
            "(food-ordering example)",
            f"  GraphQL     {self.graphql_url}   (WebSocket: {self.ws_url})",
            f"  Metadata    {self.metadata_url}",
            f"  Health      {self.base_url}/healthz",
            f"  Handlers    {self.handlers_url}/  ({', '.join(HANDLER_NAMES)})",
            f"  Database    {self.db_path}" + ("  (temporary)" if self.config.db is None else ""),
            f"  Admin secret {secret}",
            f"  Traffic     {self.config.orders_per_second:g} orders/s"
            + (f", seed {self.config.seed}" if self.config.seed is not None else ""),
            f"  Faults      {', '.join(knobs) if knobs else 'off'}",
        ]
        return "\n".join(lines)

    # --- routes --------------------------------------------------------------------------------------------------

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.Response(text="OK")

    async def _version(self, _request: web.Request) -> web.Response:
        return web.json_response({"version": self.config.hasura_version, "server_type": "inspector-sandbox"})

    def _admin_session(self, request: web.Request) -> Session | web.Response:
        """The admin session of a metadata or query request, or the refusal to send (Hasura's error bodies)."""
        assert self.engine is not None
        try:
            session = self.engine.authenticate(request.headers)
        except AccessDenied as exc:
            return web.json_response({"path": "$", "error": exc.message, "code": "access-denied"}, status=401)
        if session.variables.get("x-hasura-role") != "admin":
            return web.json_response(
                {"path": "$", "error": "restricted access : admin only", "code": "access-denied"}, status=400
            )
        return session

    async def _query_v2(self, request: web.Request) -> web.Response:
        """`/v2/query`: `run_sql` only (read-only), for clients of servers without the event-log API."""
        assert self.engine is not None and self.db is not None
        session = self._admin_session(request)
        if isinstance(session, web.Response):
            return session
        try:
            body = json.loads(await request.read())
            if not isinstance(body, dict) or body.get("type") != "run_sql":
                raise HasuraError("the sandbox's /v2/query answers run_sql only", "not-supported", "$.type")
            return web.json_response(run_sql(self.db.conn, body.get("args") or {}))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return web.json_response({"path": "$", "error": f"Error in $: {exc}", "code": "invalid-json"}, status=400)
        except HasuraError as exc:
            return web.json_response(exc.to_json(), status=exc.status)

    async def _graphql_http(self, request: web.Request) -> web.Response:
        assert self.engine is not None
        try:
            body = json.loads(await request.read())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return web.json_response({"path": "$", "error": f"Error in $: {exc}", "code": "invalid-json"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"path": "$", "error": "expected an object", "code": "parse-failed"}, status=400)
        try:
            session = self.engine.authenticate(request.headers)
            op = self.engine.prepare(body.get("query"), body.get("variables"), body.get("operationName"))
        except AccessDenied as exc:
            return web.json_response({"errors": exc.errors()})
        except RequestError as exc:
            return web.json_response({"errors": exc.errors})
        if op.kind == "subscription":
            message = "subscriptions are not supported over HTTP, use websockets instead"
            return web.json_response({"errors": [hasura_error(message, "validation-failed")]})
        return web.json_response(op.execute(session))

    async def _graphql_ws(self, request: web.Request) -> web.StreamResponse:
        assert self.engine is not None
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return web.json_response(
                {
                    "path": "$",
                    "error": "GET is only for WebSocket upgrades; POST GraphQL requests",
                    "code": "bad-request",
                },
                status=405,
            )
        settings = WebSocketSettings(self.config.keepalive_seconds, self.config.init_timeout_seconds)
        return await handle_graphql_websocket(request, self.engine, settings)

    async def _metadata(self, request: web.Request) -> web.Response:
        assert self.engine is not None and self.triggers is not None
        session = self._admin_session(request)
        if isinstance(session, web.Response):
            return session
        try:
            body = json.loads(await request.read())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return web.json_response({"path": "$", "error": f"Error in $: {exc}", "code": "invalid-json"}, status=400)
        try:
            api = MetadataAPI(
                self.triggers,
                event_log_api=_version_tuple(self.config.hasura_version) >= (2, 25),
                tracing=self.tracing,
            )
            return web.json_response(api.handle(body, session.variables))
        except HasuraError as exc:
            return web.json_response(exc.to_json(), status=exc.status)


def env_admin_secret() -> str | None:
    """`HASURA_GRAPHQL_ADMIN_SECRET`, as Hasura reads it."""
    return os.environ.get("HASURA_GRAPHQL_ADMIN_SECRET") or None


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = version.lstrip("v").split("-")[0].split(".")
    return tuple(int(p) for p in parts if p.isdigit())
