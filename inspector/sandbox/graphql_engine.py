"""Executes GraphQL operations the way Hasura does: admin-secret authentication, session variables, one transaction
per mutation, live queries and streaming subscriptions.

Owns authentication (`authenticate`), parsing and validation (`prepare`) and execution (`Operation.execute` for queries
and mutations, `Operation.results` for subscriptions). Transport-free: the HTTP endpoint (`server`) and the WebSocket
protocols (`graphql_ws`) both call it. Queries and mutations run through graphql-core; a subscription is compiled once
(`graphql_compiler`) and runs through graphql-core only for what the compiler leaves to it.

Assumptions where Hasura's behaviour is not in the reference:
- Any role is served with admin permissions (the sandbox models no permissions); the role and every `x-hasura-*`
  header still become session variables, and reach the event payload.
- A live query is re-run after each commit, at most once per refetch interval (Hasura polls every second), and its
  result is sent only when it differs from the last one sent.
- A streaming subscription's cursor is exclusive (`>` for ASC, `<` for DESC), the first batch included; a batch takes
  the rows tied with its last one too (`WITH TIES`, `graphql_schema.StreamQuery`), and a full batch is followed at
  once by the next one.
- Trace context: the request's trace headers are read with the propagators on (`TracePropagation.extract`: B3
  `X-B3-TraceId`/`X-B3-SpanId` by default, W3C `traceparent` when configured) and continued (trace id kept, a new
  span id); without them each mutation starts a new trace. The webhook sender sends the same headers and the
  handlers pass them on, so a handler's writes join the trace of the event that called it.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    execute,
    get_operation_ast,
    parse,
    validate,
)

from inspector.sandbox.database import Database
from inspector.sandbox.graphql_compiler import CompiledOperation, NotCompiled, compile_subscription
from inspector.sandbox.graphql_errors import hasura_validation_errors, unknown_operation_message
from inspector.sandbox.graphql_schema import ConstraintViolation, ResolveContext, SchemaError, build_schema
from inspector.sandbox.tables import TABLES, Table
from inspector.sandbox.tracing import TracePropagation

MISSING_SECRET = "x-hasura-admin-secret/x-hasura-access-key required, but not found"
INVALID_SECRET = "invalid x-hasura-admin-secret/x-hasura-access-key"
STREAM_BURST_SECONDS = 0.002
"""How long a stream with rows waiting runs full batches back to back before it lets other tasks run."""


class AccessDenied(Exception):
    """A request without the right admin secret (Hasura code `access-denied`)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def errors(self) -> list[dict[str, Any]]:
        return [hasura_error(self.message, "access-denied")]


class RequestError(Exception):
    """A request that cannot run: parse or validation errors, as Hasura-style error dicts."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"] if errors else "invalid request")
        self.errors = errors


def hasura_error(message: str, code: str, path: str = "$") -> dict[str, Any]:
    """One entry of a GraphQL `errors` list, in Hasura's shape."""
    return {"message": message, "extensions": {"path": path, "code": code}}


@dataclass
class Session:
    """Who is asking: the session variables of the request (lower-case `x-hasura-*` names) and its trace."""

    variables: dict[str, str]
    trace_parent: tuple[str, str] | None = None
    """(trace id, parent span id) from the request's trace headers."""

    def new_trace_context(self) -> dict[str, str]:
        """The `trace_context` a mutation of this session writes into its events (`insert_event_log` in
        `server/src-rsr/init_pg_source.sql`)."""
        trace_id = self.trace_parent[0] if self.trace_parent else secrets.token_hex(16)
        return {"trace_id": trace_id, "span_id": secrets.token_hex(8), "sampling_state": "1"}


def _parse_traceparent(value: str | None) -> tuple[str, str] | None:
    if not value:
        return None
    parts = value.strip().split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    try:
        int(parts[1], 16), int(parts[2], 16)
    except ValueError:
        return None
    return parts[1], parts[2]


def _error_path(error: GraphQLError) -> str:
    if error.path:
        return "$." + ".".join(str(p) for p in error.path)
    return "$"


def _format_errors(errors: list[GraphQLError], default_code: str) -> list[dict[str, Any]]:
    out = []
    for e in errors:
        original = e.original_error
        code = default_code
        if isinstance(original, ConstraintViolation):
            code = "constraint-violation"
        elif isinstance(original, SchemaError):
            code = "validation-failed"
        elif original is not None and not isinstance(original, GraphQLError):
            code = "unexpected"
        out.append(hasura_error(e.message, code, _error_path(e)))
    return out


class _Rollback(Exception):
    def __init__(self, result: ExecutionResult) -> None:
        self.result = result


@dataclass
class Operation:
    """One parsed and validated GraphQL operation, ready to run for a session."""

    engine: GraphQLEngine
    document: DocumentNode
    kind: Literal["query", "mutation", "subscription"]
    variables: dict[str, Any] | None
    operation_name: str | None
    is_stream: bool = False
    _stream_context: ResolveContext | None = field(default=None, repr=False)

    def execute(self, session: Session) -> dict[str, Any]:
        """Run a query or mutation once; a mutation runs in one transaction and fails as a whole."""
        return self.engine._run(self, session, ResolveContext(self.engine.db))

    async def results(self, session: Session) -> AsyncIterator[dict[str, Any]]:
        """The messages of a subscription, until cancelled: a live query's result each time it changes, or a
        stream's batches (only non-empty ones)."""
        engine = self.engine
        context = ResolveContext(engine.db)
        plan = engine.compile_subscription(self)
        wake = asyncio.Event()
        remove = engine.db.on_commit(wake.set)
        last: dict[str, Any] | None = None
        burst_started = time.monotonic()
        try:
            while True:
                wake.clear()
                started = time.monotonic()
                context.stream_full = False
                result = self._run_once(plan, session, context)
                if self.is_stream:
                    data = result.get("data") or {}
                    if "errors" in result or any(data.values()):
                        yield result
                    if "errors" in result:
                        return
                    if context.stream_full:
                        # The next batch at once. Other tasks (other subscriptions, requests) get the loop after a
                        # burst of batches rather than after each one: the sends of a burst then reach the socket
                        # back to back, as a plain WebSocket server's do, instead of waking the reader once per frame.
                        # A peer that reads slowly still pauses us in the send (aiohttp's drain).
                        if time.monotonic() - burst_started >= STREAM_BURST_SECONDS:
                            await asyncio.sleep(0)
                            burst_started = time.monotonic()
                        continue
                elif result != last:  # structural comparison: cheap even for large results
                    last = result
                    yield result
                # asyncio.timeout, not wait_for: Python 3.11's wait_for drops a cancellation that arrives as the
                # event is set (a commit as the client unsubscribes), and the subscription would outlive its socket.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(engine.idle_refetch_seconds):
                        await wake.wait()
                pause = engine.refetch_interval - (time.monotonic() - started)
                if pause > 0:
                    await asyncio.sleep(pause)
                burst_started = time.monotonic()
        finally:
            remove()

    def _run_once(self, plan: CompiledOperation | None, session: Session, context: ResolveContext) -> dict[str, Any]:
        """One run of the subscription: compiled when it could be, else (or when the compiled run falls back)
        through graphql-core."""
        if plan is not None:
            cursors = dict(context.stream_cursors)
            try:
                return plan.run(context)
            except Exception:  # Fallback, or an error graphql-core reports in its own words
                context.stream_cursors = cursors
                context.stream_full = False
        return self.engine._run(self, session, context)


class GraphQLEngine:
    """Hasura's GraphQL API over the sandbox database, for one admin secret (or none: then everyone is admin)."""

    def __init__(
        self,
        db: Database,
        admin_secret: str | None,
        tables: tuple[Table, ...] = TABLES,
        refetch_interval: float = 1.0,
    ) -> None:
        self.db = db
        self.admin_secret = admin_secret or None
        self.tracing: TracePropagation | None = None
        """The propagators a request's trace headers are read with (the server sets it; None reads `traceparent`)."""
        self.schema = build_schema(tables)
        self.refetch_interval = refetch_interval
        """Least time between two runs of one subscription (Hasura's multiplexed refetch interval is 1 s)."""
        self.idle_refetch_seconds = 5.0
        """Run a subscription again after this long even when nothing was committed (writes from outside)."""
        self._documents: dict[str, DocumentNode] = {}
        self.tables = tables
        self.compile_subscriptions = True
        """Run subscriptions through `graphql_compiler` (falling back to graphql-core for what it does not handle);
        False runs them all through graphql-core, the reference renderer the compiled path is tested against."""

    def compile_subscription(self, op: Operation) -> CompiledOperation | None:
        """`op` compiled for its variables, or None when it is not a subscription, compiling is off, or the compiler
        leaves it to graphql-core."""
        if op.kind != "subscription" or not self.compile_subscriptions:
            return None
        operation = get_operation_ast(op.document, op.operation_name)
        if operation is None:
            return None
        try:
            return compile_subscription(self.schema, self.tables, operation, op.variables, self.db.conn)
        except NotCompiled:
            return None

    def authenticate(self, headers: Mapping[str, str]) -> Session:
        """Check the admin secret and derive the session from the request headers (case-insensitive)."""
        lower = {k.lower(): v for k, v in headers.items()}
        if self.admin_secret is not None:
            given = lower.get("x-hasura-admin-secret", lower.get("x-hasura-access-key"))
            if given is None:
                raise AccessDenied(MISSING_SECRET)
            if not secrets.compare_digest(given.encode(), self.admin_secret.encode()):
                raise AccessDenied(INVALID_SECRET)
        variables = {
            k: str(v)
            for k, v in lower.items()
            if k.startswith("x-hasura-") and k not in ("x-hasura-admin-secret", "x-hasura-access-key")
        }
        variables.setdefault("x-hasura-role", "admin")
        if self.tracing is not None:
            trace = self.tracing.extract(lower)
        else:
            trace = _parse_traceparent(lower.get("traceparent"))
        return Session(variables, trace)

    def prepare(self, query: Any, variables: Any, operation_name: Any) -> Operation:
        """Parse and validate; raises `RequestError` with Hasura-style errors (validation errors in Hasura's words
        where `graphql_errors` knows them, the first one only, as Hasura stops at its first)."""
        if not isinstance(query, str):
            raise RequestError([hasura_error("the key 'query' was not present", "parse-failed", "$")])
        if variables is not None and not isinstance(variables, dict):
            raise RequestError([hasura_error("variables must be an object", "parse-failed", "$.variables")])
        if operation_name is not None and not isinstance(operation_name, str):
            raise RequestError([hasura_error("operationName must be a string", "parse-failed", "$.operationName")])
        document = self._documents.get(query)
        if document is None:
            try:
                document = parse(query)
            except GraphQLError as exc:
                raise RequestError([hasura_error(exc.message, "validation-failed", "$.query")]) from exc
            errors = validate(self.schema, document)
            if errors:
                raise RequestError(hasura_validation_errors(self.schema, document, list(errors), hasura_error))
            if len(self._documents) > 1000:
                self._documents.clear()
            self._documents[query] = document
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            raise RequestError([hasura_error(unknown_operation_message(operation_name), "validation-failed")])
        kind: Literal["query", "mutation", "subscription"] = {
            OperationType.QUERY: "query",
            OperationType.MUTATION: "mutation",
            OperationType.SUBSCRIPTION: "subscription",
        }[operation.operation]  # type: ignore[assignment]
        return Operation(self, document, kind, variables, operation_name, is_stream=_is_stream(operation))

    def _run(self, op: Operation, session: Session, context: ResolveContext) -> dict[str, Any]:
        if op.kind != "mutation":
            return self._to_response(self._execute(op, context))
        try:
            with self.db.transaction(session.variables, session.new_trace_context()):
                result = self._execute(op, context)
                if result.errors:
                    raise _Rollback(result)
        except _Rollback as rollback:
            return {"errors": _format_errors(list(rollback.result.errors or []), "unexpected")}
        return self._to_response(result)

    def _execute(self, op: Operation, context: ResolveContext) -> ExecutionResult:
        result = execute(
            self.schema,
            op.document,
            variable_values=op.variables,
            operation_name=op.operation_name,
            context_value=context,
        )
        assert isinstance(result, ExecutionResult), "resolvers are synchronous"
        return result

    @staticmethod
    def _to_response(result: ExecutionResult) -> dict[str, Any]:
        if result.errors:
            return {"errors": _format_errors(list(result.errors), "validation-failed")}
        return {"data": result.data}


def _is_stream(operation: OperationDefinitionNode) -> bool:
    if operation.operation != OperationType.SUBSCRIPTION:
        return False
    fields = [s for s in operation.selection_set.selections if hasattr(s, "name")]
    return any(f.name.value.endswith("_stream") for f in fields)
