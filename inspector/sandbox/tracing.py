"""Trace-context propagation in the sandbox, with Hasura's propagators: B3 by default, W3C `traceparent` on request.

Owns which propagators are on (from `SandboxConfig.trace_propagators`, changed at run time by the metadata call
`set_opentelemetry_config`), the headers the delivery worker adds to each webhook call (`inject`) and the reading of
a GraphQL request's trace headers (`extract`). Used by `delivery`, `graphql_engine` (through the server) and
`metadata_api`.

Hasura facts followed (hasura/graphql-engine):
- `defaultOtelExporterTracesPropagators = [B3]`, and the configured `traces_propagators` are used as
  `uniques (configured <> [B3])` (`server/src-lib/Hasura/RQL/DDL/OpenTelemetry.hs`, `parseOtelExporterConfig`), so B3
  is always on; `tracecontext` adds W3C `traceparent` (`server/src-lib/Hasura/RQL/Types/OpenTelemetry.hs`).
- B3 injects `X-B3-TraceId`, `X-B3-SpanId`, `X-B3-ParentSpanId` (when the span has a parent) and `X-B3-Sampled`
  (`server/src-lib/Hasura/Tracing/Propagator/B3.hs`).
- An event's delivery continues the trace in its payload's `trace_context` (`extractEventContext`: same trace id,
  a fresh span whose parent is the payload's span), or starts a new trace when there is none
  (`server/src-lib/Hasura/Eventing/EventTrigger.hs`); the webhook request is a child span of that
  (`traceHTTPRequest`, `server/src-lib/Hasura/Tracing/Utils.hs`), so the injected span id is new on every attempt.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping

from inspector.sandbox.config import TRACE_PROPAGATORS

__all__ = ["TracePropagation"]


def _hex(value: str | None, lengths: tuple[int, ...]) -> str | None:
    if value is None:
        return None
    value = value.strip().lower()
    if len(value) not in lengths:
        return None
    try:
        int(value, 16)
    except ValueError:
        return None
    return value


class TracePropagation:
    """The propagators on, and the headers they write and read."""

    def __init__(self, propagators: Iterable[str] = ("b3",)) -> None:
        self.propagators: tuple[str, ...] = tuple(propagators)

    def configure(self, configured: Iterable[str]) -> None:
        """`set_opentelemetry_config`'s `exporter_otlp.traces_propagators`: the given ones, then B3."""
        names = [*configured, "b3"]
        for name in names:
            if name not in TRACE_PROPAGATORS:
                raise ValueError(f"unexpected string '\"{name}\"'.")
        self.propagators = tuple(dict.fromkeys(names))

    def inject(self, trace_context: Mapping[str, object] | None) -> dict[str, str]:
        """Headers for one webhook call of an event whose payload carries `trace_context` (or null)."""
        trace_id = None
        if isinstance(trace_context, Mapping):
            trace_id = _hex(_str(trace_context.get("trace_id")), (32,))
        # The payload's span is the parent of the processing span, which no header carries.
        processing_span = secrets.token_hex(8)  # the "Event trigger: NAME" span (its parent: the payload's span)
        request_span = secrets.token_hex(8)  # the HTTP request's span, child of the processing span
        trace_id = trace_id or secrets.token_hex(16)
        headers: dict[str, str] = {}
        for name in self.propagators:
            if name == "b3":
                headers["X-B3-TraceId"] = trace_id
                headers["X-B3-SpanId"] = request_span
                headers["X-B3-ParentSpanId"] = processing_span
                headers["X-B3-Sampled"] = "1"
            elif name == "tracecontext":
                headers["traceparent"] = f"00-{trace_id}-{request_span}-01"
        return headers

    def extract(self, headers: Mapping[str, str]) -> tuple[str, str] | None:
        """(trace id, parent span id) from a request's headers (names lower-case), by the first propagator on that
        finds a context in them."""
        for name in self.propagators:
            if name == "b3":
                trace_id = _hex(headers.get("x-b3-traceid"), (16, 32))
                span_id = _hex(headers.get("x-b3-spanid"), (16,))
                if trace_id and span_id:
                    return trace_id.rjust(32, "0"), span_id
            elif name == "tracecontext":
                parts = (headers.get("traceparent") or "").strip().split("-")
                if len(parts) == 4:
                    trace_id, span_id = _hex(parts[1], (32,)), _hex(parts[2], (16,))
                    if trace_id and span_id:
                        return trace_id, span_id
        return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None
