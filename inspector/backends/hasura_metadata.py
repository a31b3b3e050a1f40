"""A client for Hasura's metadata API and, for servers older than v2.25, `run_sql` on the event tables.

Owns the HTTP calls (`export_metadata`, `pg_get_event_logs`, `pg_get_event_invocation_logs`, `pg_get_event_by_id`,
`/v2/query` `run_sql`, `/v1/version`) and the translation of their failures into `backends.errors`. Returns
`EventRecord` / `InvocationRecord` whichever API served them, so the event-log follower does not care. The session,
the refusal of redirects (the headers carry the admin secret), the answer's size limit
(`backends.http.METADATA_ANSWER`) and unreachable servers are `backends.http`'s. Used by the capture session and by
replay (`pg_redeliver_event`, `pg_invoke_event_trigger`, `pg_get_event_by_id`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from inspector.backends.errors import AuthenticationFailed, ProtocolMismatch, ServerError
from inspector.backends.http import METADATA_ANSWER, BackendHttp
from inspector.core.events import EventRecord, InvocationRecord
from inspector.core.redaction import redact_url

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
        max_answer_bytes: int | None = None,
        server_timezone: str | None = None,
    ) -> None:
        self.metadata_url = metadata_url
        self.query_v2_url = query_v2_url
        self.version_url = version_url
        self._http = BackendHttp(headers, verify_tls, timeout)
        self.max_answer_bytes = METADATA_ANSWER.resolve(max_answer_bytes)
        self.server_version: str | None = None
        self.use_run_sql = False
        """True on servers without the event-log API (older than v2.25): reads go through `run_sql`."""
        self.server_timezone = server_timezone
        """The database's time zone (IANA name), which the event tables' `TIMESTAMP` columns are wall times in: as
        given (`--server-timezone`, a profile's), else asked through `run_sql` by `detect`; None: unknown (UTC)."""
        self.source_kinds: dict[str, str] = {}
        """Each source's `kind` from `export_metadata` (`postgres`, `mssql`, `citus`, ...): which calls it takes."""

    async def __aenter__(self) -> HasuraMetadataClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.close()

    async def _post(self, url: str, body: Any) -> Any:
        answer = await self._http.request("POST", url, METADATA_ANSWER, self.max_answer_bytes, json_body=body)
        status = answer.status
        url = redact_url(url)
        try:
            result = answer.json()
        except ValueError as exc:
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
        # No credentials: the version is public. A redirect is refused here too (and said so) rather than skipped,
        # since the metadata calls that follow would meet the same one.
        answer = await self._http.request(
            "GET", self.version_url, METADATA_ANSWER, self.max_answer_bytes, with_headers=False
        )
        if answer.status == 200:
            try:
                body = answer.json()
            except ValueError as exc:
                raise ProtocolMismatch(
                    f"{redact_url(self.version_url)} did not answer with JSON: is it a Hasura server?"
                ) from exc
            self.server_version = str(body.get("version")) if isinstance(body, Mapping) else None
        version = parse_version(self.server_version)
        self.use_run_sql = version is not None and version[:2] < EVENT_LOG_API_SINCE
        await self.export_metadata()
        if self.server_timezone is None:
            self.server_timezone = await self.database_timezone()

    async def database_timezone(self, source: str = "default") -> str | None:
        """The database's `TimeZone` setting through `run_sql` (`SELECT current_setting('TimeZone')`), or None when
        `run_sql` is not allowed (a role without it, Hasura Cloud's restrictions, a source that is not Postgres)."""
        try:
            rows = await self.run_sql("SELECT current_setting('TimeZone') AS timezone", source)
        except (ServerError, ProtocolMismatch, AuthenticationFailed):
            return None
        value = next(iter(rows[0].values()), None) if rows else None
        return value if isinstance(value, str) and value and value != "NULL" else None

    async def export_metadata(self) -> dict[str, Any]:
        result = await self.call("export_metadata", {})
        if not isinstance(result, dict):
            raise ProtocolMismatch("export_metadata did not return an object")
        return result

    def call_prefix(self, source: str) -> str:
        """The prefix of a source's event-trigger calls: `mssql` for MS SQL Server sources (`mssql_get_event_logs`,
        `mssql_redeliver_event`, ...), `pg` for Postgres and the Postgres-compatible kinds (Citus, AlloyDB, ...), as
        Hasura's docs `docs/docs/api-reference/metadata-api/event-triggers.mdx` name them per backend."""
        return "mssql" if self.source_kinds.get(source) == "mssql" else "pg"

    def _reads_with_run_sql(self, source: str) -> bool:
        # run_sql on /v2/query reads Postgres catalogs only; an MS SQL source always takes the mssql_* calls
        return self.use_run_sql and self.call_prefix(source) == "pg"

    async def event_triggers(self) -> list[TriggerRef]:
        """Every event trigger in the metadata (`sources[].tables[].event_triggers[]`,
        `server/src-lib/Hasura/RQL/Types/EventTrigger.hs`); notes each source's kind."""
        metadata = await self.export_metadata()
        found = []
        for source in metadata.get("sources", []) or []:
            self.source_kinds[str(source.get("name", "default"))] = str(source.get("kind", "postgres"))
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
        if self._reads_with_run_sql(trigger.source):
            rows = await self.run_sql(
                f"SELECT {_EVENT_COLUMNS} FROM hdb_catalog.event_log WHERE trigger_name = {_literal(trigger.name)} "
                f"ORDER BY created_at DESC LIMIT {int(limit)} OFFSET {int(offset)}",
                trigger.source,
            )
        else:
            rows = await self.call(
                f"{self.call_prefix(trigger.source)}_get_event_logs",
                {"name": trigger.name, "source": trigger.source, "limit": limit, "offset": offset},
            )
        return [EventRecord.from_hasura(r, self.server_timezone) for r in rows]

    async def invocation_logs(self, trigger: TriggerRef, limit: int, offset: int) -> list[InvocationRecord]:
        """Invocations of a trigger, newest first."""
        if self._reads_with_run_sql(trigger.source):
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
                f"{self.call_prefix(trigger.source)}_get_event_invocation_logs",
                {"name": trigger.name, "source": trigger.source, "limit": limit, "offset": offset},
            )
        return [InvocationRecord.from_hasura(r, self.server_timezone) for r in rows]

    async def event_by_id(
        self, event_id: str, source: str = "default", limit: int = 100
    ) -> tuple[EventRecord | None, list[InvocationRecord]]:
        """One event and its invocations (newest first). An event the server no longer has raises `ServerError`
        with code `not-exists` (HTTP 400, `fetchEventById` in
        `server/src-lib/Hasura/Backends/Postgres/DDL/EventTrigger.hs`); through run_sql it is None."""
        if self._reads_with_run_sql(source):
            events = await self.run_sql(
                f"SELECT {_EVENT_COLUMNS} FROM hdb_catalog.event_log WHERE id = {_literal(event_id)}", source
            )
            invocations = await self.run_sql(
                "SELECT i.id, i.event_id, i.status, i.request, i.response, i.created_at, e.trigger_name "
                "FROM hdb_catalog.event_invocation_logs i JOIN hdb_catalog.event_log e ON e.id = i.event_id "
                f"WHERE i.event_id = {_literal(event_id)} ORDER BY i.created_at DESC LIMIT {int(limit)}",
                source,
            )
            event = EventRecord.from_hasura(events[0], self.server_timezone) if events else None
            return event, [InvocationRecord.from_hasura(r, self.server_timezone) for r in invocations]
        result = await self.call(
            f"{self.call_prefix(source)}_get_event_by_id",
            {"event_id": event_id, "source": source, "invocation_log_limit": limit},
        )
        event_json = result.get("event") if isinstance(result, Mapping) else None
        return (
            None if event_json is None else EventRecord.from_hasura(event_json, self.server_timezone),
            [InvocationRecord.from_hasura(r, self.server_timezone) for r in (result or {}).get("invocations", [])],
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
