"""Settings of one sandbox run: where it listens, its data, its traffic and its fault knobs.

Owns `SandboxConfig` (built by the CLI from its flags, or by tests directly) and the seeded random source every fault
draws from, so a run with the same `--seed` injects the same faults in the same places.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

TRACE_PROPAGATORS = ("b3", "tracecontext")
"""Hasura's `TracePropagator` names (`server/src-lib/Hasura/RQL/Types/OpenTelemetry.hs`)."""


@dataclass(frozen=True)
class Faults:
    """The fault knobs, all off by default."""

    fail_rate: float = 0.0
    """Probability that a handler answers 500 instead of doing its work."""
    latency_ms: float = 0.0
    """Delay every handler call by this much."""
    cold_start_ms: float = 0.0
    """Extra delay on a handler's first call after `cold_start_idle_s` without calls (and on its very first call)."""
    cold_start_idle_s: float = 30.0
    """Idle time after which a handler is cold again."""
    duplicate_rate: float = 0.0
    """Probability that a fetched event is delivered twice, as Hasura does when a lock expires while a delivery is
    still running."""
    reorder_window_ms: float = 0.0
    """Hold each due event for a random time in [0, window) before delivering it, so events that fell due within the
    window are delivered out of creation order."""

    def validate(self) -> None:
        for name in ("fail_rate", "duplicate_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {value}")
        for name in ("latency_ms", "cold_start_ms", "cold_start_idle_s", "reorder_window_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")

    @property
    def any_on(self) -> bool:
        return bool(
            self.fail_rate or self.latency_ms or self.cold_start_ms or self.duplicate_rate or self.reorder_window_ms
        )


@dataclass(frozen=True)
class SandboxConfig:
    """Everything `inspector sandbox` can be told."""

    host: str = "127.0.0.1"
    port: int = 8080
    """GraphQL, metadata and health endpoints; 0 picks a free port."""
    handlers_port: int | None = None
    """Where the serverless handlers listen; None means `port + 1` (8081, as in the 3factor example), or a free port
    when `port` is 0."""
    db: str | None = None
    """SQLite file; None means a temporary file removed at exit."""
    admin_secret: str | None = None
    orders_per_second: float = 0.0
    seed: int | None = None
    faults: Faults = field(default_factory=Faults)
    num_retries: int = 3
    """retry_conf.num_retries of the example's triggers (the example sets none; the sandbox retries so the reliable
    eventing factor shows)."""
    retry_interval_sec: int = 2
    timeout_sec: int = 60
    fetch_interval: float = 1.0
    """Seconds the delivery worker sleeps after an empty fetch (HASURA_GRAPHQL_EVENTS_FETCH_INTERVAL)."""
    fetch_batch_size: int = 100
    """HASURA_GRAPHQL_EVENTS_FETCH_BATCH_SIZE."""
    http_pool_size: int = 100
    """HASURA_GRAPHQL_EVENTS_HTTP_POOL_SIZE: deliveries in flight at once."""
    refetch_interval: float = 1.0
    """Least seconds between two runs of one live query or stream (Hasura's default refetch interval is 1 s)."""
    keepalive_seconds: float = 5.0
    init_timeout_seconds: float = 3.0
    hasura_version: str = "v2.48.0"
    """The version the sandbox answers as. Before v2.25 it has no event-log metadata calls (use run_sql) and no
    processing timeout (a slow handler is a `Response timeout` http_exception, not a 500 `timed out while processing`
    record)."""
    naive_handlers: bool = False
    """Handlers that are not idempotent (a redelivered payment is charged twice): for replay checks."""
    trace_propagators: tuple[str, ...] = ("b3",)
    """How trace context is sent to webhooks and read from GraphQL requests: `b3` (`X-B3-TraceId`, `X-B3-SpanId`,
    `X-B3-ParentSpanId`, `X-B3-Sampled`) and/or `tracecontext` (W3C `traceparent`). Hasura's default is B3 alone
    (`defaultOtelExporterTracesPropagators = [B3]` in `server/src-lib/Hasura/RQL/Types/OpenTelemetry.hs`), and B3 is
    always added to what `set_opentelemetry_config` configures; `("tracecontext", "b3")` is what such a server sends
    after `traces_propagators: ["tracecontext"]`. An empty tuple sends no trace headers."""
    db_timezone: str = "UTC"
    """The database's time zone (an IANA name): `created_at` and `next_retry_at` are `TIMESTAMP` columns filled with
    the database's local time, which Hasura writes zone-less into webhook bodies and with a (wrong) `Z` into metadata
    API records."""
    webhook_base: str | None = None
    """Where the example's triggers deliver: `<webhook_base>/<trigger>` instead of the handlers' own URL, e.g. an
    `inspector relay` in front of the handlers (`inspector sandbox --webhook-base URL`), without the metadata API."""
    order_sensitive_handlers: bool = False
    """restaurant-approval depends on arrival order: it approves only when the order's payment is already valid in
    the database, and otherwise answers 200 without approving (a silent drop): for order-tolerance replay checks."""

    def __post_init__(self) -> None:
        unknown = [p for p in self.trace_propagators if p not in TRACE_PROPAGATORS]
        if unknown:
            raise ValueError(f"unknown trace propagator {unknown[0]!r} (known: {', '.join(TRACE_PROPAGATORS)})")
        try:
            ZoneInfo(self.db_timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.db_timezone!r}") from exc

    def version_at_least(self, *version: int) -> bool:
        """Whether `hasura_version` is this version or newer (`v2.25.0-beta.1` counts as 2.25.0)."""
        parts = self.hasura_version.lstrip("v").split("-")[0].split(".")
        return tuple(int(p) for p in parts if p.isdigit()) >= version

    def rng(self, purpose: str) -> random.Random:
        """A random source for one purpose, reproducible under `seed` and independent of the others."""
        return random.Random(None if self.seed is None else f"{self.seed}:{purpose}")
