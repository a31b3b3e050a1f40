"""A client for Hasura's metadata API and, for servers older than v2.25, `run_sql` on the event tables.

Owns the HTTP calls (`export_metadata`, `pg_get_event_logs`, `pg_get_event_invocation_logs`, `pg_get_event_by_id`,
`/v2/query` `run_sql`, `/v1/version`) and the translation of their failures into `backends.errors`. Returns
`EventRecord` / `InvocationRecord` whichever API served them, so the event-log follower does not care. Used by the
capture session; replay will use it for `pg_redeliver_event` and `pg_invoke_event_trigger`.
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from inspector.backends.errors import AuthenticationFailed, ConnectionFailed, ProtocolMismatch, ServerError
from inspector.core.events import EventRecord, InvocationRecord

EVENT_LOG_API_SINCE = (2, 25)
"""`pg_get_event_logs` and friends exist from Hasura v2.25.0 (Hasura's docs
`docs/docs/api-reference/metadata-api/event-triggers.mdx`)."""

_SAFE_LITERAL = re.compile(r"^[A-Za-z0-9_\-]+$")
_EVENT_COLUMNS = (
    "id, schema_name, table_name, trigger_name, payload, delivered, error, tries, created_at, locked, "
    "next_retry_at, archived"
)


def parse_version(text: str | None) -> tuple[int, ...] | None:
    """`v2.25.1` / `v2.48.0-ce` → (2, 25, 1); None when unreadable (a dev build: assume current)."""
    if not text:
        return None
    match = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not match:
        return None
    return tuple(int(g) for g in match.groups() if g is not None)


def _literal(value: str) -> str:
    """A value for `run_sql` text. Trigger names and event ids are restricted to safe characters, and checked here,
    because run_sql takes no parameters."""
    if not _SAFE_LITERAL.match(value):
        raise ValueError(f"refusing to put {value!r} into SQL")
    return f"'{value}'"


def _unreachable(url: str, exc: BaseException) -> ConnectionFailed:
    """A failed request as a message that says what to check."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return ConnectionFailed(f"nothing is listening at {url} (connection refused): is the server running?")
        cause = getattr(cause, "os_error", None) or cause.__cause__
    if isinstance(exc, TimeoutError):
        return ConnectionFailed(f"{url} did not answer in time")
    return ConnectionFailed(f"cannot reach {url}: {exc or type(exc).__name__}")


@dataclass(frozen=True)
class TriggerRef:
    """Where an event trigger lives."""

    source: str
    table: Mapping[str, str]
    name: str
    config: Mapping[str, Any]


class HasuraMetadataClient:
    """Calls one Hasura server's metadata API with the given headers (which carry the admin secret)."""

    def __init__(
        self,
        metadata_url: str,
        query_v2_url: str,
        version_url: str,
        headers: Mapping[str, str],
        verify_tls: bool = True,
        timeout: float = 30.0,
    ) -> None:
        self.metadata_url = metadata_url
        self.query_v2_url = query_v2_url
        self.version_url = version_url
        self._headers = dict(headers)
        self._ssl: ssl.SSLContext | bool = bool(verify_tls)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self.server_version: str | None = None
        self.use_run_sql = False
        """True on servers without the event-log API (older than v2.25): reads go through `run_sql`."""

    async def __aenter__(self) -> HasuraMetadataClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def _post(self, url: str, body: Any) -> Any:
        try:
            async with self._http().post(url, json=body, headers=self._headers, ssl=self._ssl) as answer:
                text = await answer.text()
                status = answer.status
        except aiohttp.ClientConnectorCertificateError as exc:
            raise ConnectionFailed(f"TLS certificate of {url} was not accepted: {exc.certificate_error}") from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _unreachable(url, exc) from exc
        try:
            result = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProtocolMismatch(f"{url} did not answer with JSON (HTTP {status}); is it a Hasura server?") from exc
        if status >= 400 or (isinstance(result, Mapping) and "error" in result and "code" in result):
            code = result.get("code") if isinstance(result, Mapping) else None
            message = result.get("error") if isinstance(result, Mapping) else None
            if code == "access-denied" or status in (401, 403):
                raise AuthenticationFailed(
                    f"{url} refused the credentials: {message or status} (check the admin secret)"
                )
            raise ServerError(f"{url}: {message or f'HTTP {status}'}", code, status)
        return result

    async def call(self, kind: str, args: Mapping[str, Any]) -> Any:
        """One metadata call, e.g. `call("export_metadata", {})`."""
        return await self._post(self.metadata_url, {"type": kind, "args": dict(args)})

    async def detect(self) -> None:
        """Read the server version and check the credentials (export_metadata needs admin); choose the event-log
        API or run_sql."""
        try:
            async with self._http().get(self.version_url, ssl=self._ssl) as answer:
                if answer.status == 200:
                    body = await answer.json(content_type=None)
                    self.server_version = str(body.get("version")) if isinstance(body, Mapping) else None
        except json.JSONDecodeError as exc:
            raise ProtocolMismatch(f"{self.version_url} did not answer with JSON: is it a Hasura server?") from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _unreachable(self.version_url, exc) from exc
        version = parse_version(self.server_version)
        self.use_run_sql = version is not None and version[:2] < EVENT_LOG_API_SINCE
        await self.export_metadata()

    async def export_metadata(self) -> dict[str, Any]:
        result = await self.call("export_metadata", {})
        if not isinstance(result, dict):
            raise ProtocolMismatch("export_metadata did not return an object")
        return result

    async def event_triggers(self) -> list[TriggerRef]:
        """Every event trigger in the metadata (`sources[].tables[].event_triggers[]`,
        `server/src-lib/Hasura/RQL/Types/EventTrigger.hs`)."""
        metadata = await self.export_metadata()
        found = []
        for source in metadata.get("sources", []) or []:
            for table in source.get("tables", []) or []:
                for trigger in table.get("event_triggers", []) or []:
                    found.append(
                        TriggerRef(
                            str(source.get("name", "default")),
                            table.get("table", {}),
                            str(trigger.get("name")),
                            trigger,
                        )
                    )
        return found

    async def event_logs(self, trigger: TriggerRef, limit: int, offset: int) -> list[EventRecord]:
        """Events of a trigger, newest first, whatever their status."""
        if self.use_run_sql:
            rows = await self.run_sql(
                f"SELECT {_EVENT_COLUMNS} FROM hdb_catalog.event_log WHERE trigger_name = {_literal(trigger.name)} "
                f"ORDER BY created_at DESC LIMIT {int(limit)} OFFSET {int(offset)}",
                trigger.source,
            )
        else:
            rows = await self.call(
                "pg_get_event_logs", {"name": trigger.name, "source": trigger.source, "limit": limit, "offset": offset}
            )
        return [EventRecord.from_hasura(r) for r in rows]

    async def invocation_logs(self, trigger: TriggerRef, limit: int, offset: int) -> list[InvocationRecord]:
        """Invocations of a trigger, newest first."""
        if self.use_run_sql:
            # Older catalogs have no trigger_name on invocation rows: select through the events.
            rows = await self.run_sql(
                "SELECT id, event_id, status, request, response, created_at FROM hdb_catalog.event_invocation_logs "
                "WHERE event_id IN (SELECT id FROM hdb_catalog.event_log "
                f"WHERE trigger_name = {_literal(trigger.name)})"
                f" ORDER BY created_at DESC LIMIT {int(limit)} OFFSET {int(offset)}",
                trigger.source,
            )
            rows = [{**r, "trigger_name": trigger.name} for r in rows]
        else:
            rows = await self.call(
                "pg_get_event_invocation_logs",
                {"name": trigger.name, "source": trigger.source, "limit": limit, "offset": offset},
            )
        return [InvocationRecord.from_hasura(r) for r in rows]

    async def event_by_id(
        self, event_id: str, source: str = "default", limit: int = 100
    ) -> tuple[EventRecord | None, list[InvocationRecord]]:
        """One event and its invocations (newest first)."""
        if self.use_run_sql:
            events = await self.run_sql(
                f"SELECT {_EVENT_COLUMNS} FROM hdb_catalog.event_log WHERE id = {_literal(event_id)}", source
            )
            invocations = await self.run_sql(
                "SELECT i.id, i.event_id, i.status, i.request, i.response, i.created_at, e.trigger_name "
                "FROM hdb_catalog.event_invocation_logs i JOIN hdb_catalog.event_log e ON e.id = i.event_id "
                f"WHERE i.event_id = {_literal(event_id)} ORDER BY i.created_at DESC LIMIT {int(limit)}",
                source,
            )
            event = EventRecord.from_hasura(events[0]) if events else None
            return event, [InvocationRecord.from_hasura(r) for r in invocations]
        result = await self.call(
            "pg_get_event_by_id", {"event_id": event_id, "source": source, "invocation_log_limit": limit}
        )
        event_json = result.get("event") if isinstance(result, Mapping) else None
        return (
            None if event_json is None else EventRecord.from_hasura(event_json),
            [InvocationRecord.from_hasura(r) for r in (result or {}).get("invocations", [])],
        )

    async def run_sql(self, sql: str, source: str = "default") -> list[dict[str, Any]]:
        """`run_sql` read-only on `/v2/query`; rows as dicts of strings (`"NULL"` for NULL, Hasura's docs
        `docs/docs/api-reference/schema-api/run-sql.mdx`)."""
        result = await self._post(
            self.query_v2_url,
            {"type": "run_sql", "args": {"source": source, "sql": sql, "cascade": False, "read_only": True}},
        )
        table = result.get("result") if isinstance(result, Mapping) else None
        if not table:
            return []
        header, *rows = table
        return [dict(zip(header, row, strict=True)) for row in rows]
