"""Hasura's metadata API (`POST /v1/metadata`) for event triggers (Hasura's docs
`docs/docs/api-reference/metadata-api/event-triggers.mdx`), over the sandbox's event log.

Owns the dispatch from `{"type", "args"}` to the event-trigger registry and the response shapes: arrays for the
`pg_get_*` reads, `{"message": "success"}` for changes, `{"event_id"}` for manual invocations, and Hasura's error body
`{"path", "error", "code"}` for everything refused. `bulk` runs several calls and answers with the list of answers.

Two calls beyond the event-trigger ones, so tests can reach states a real server gets into:
- `cleanup_event_trigger_logs` deletes processed events as Hasura's event-log cleanup does (`deleteEventTriggerLogsTx`
  in `server/src-lib/Hasura/Backends/Postgres/DDL/EventTrigger.hs`; the call exists in Hasura Cloud/EE from v2.13
  with these args). Its answer here, `{"message": "success", "deleted_event_logs": N}`, is the sandbox's own: the
  shape of Hasura's answer was not checked.
- `set_opentelemetry_config` reads only `exporter_otlp.traces_propagators` (`b3`, `tracecontext`; B3 is always
  added, as `parseOtelExporterConfig` in `server/src-lib/Hasura/RQL/DDL/OpenTelemetry.hs` does); nothing is exported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from inspector.core.hasura import EventTriggerConf, HasuraError
from inspector.sandbox.eventing import EventTriggers
from inspector.sandbox.tables import TABLES
from inspector.sandbox.tracing import TracePropagation

SUCCESS = {"message": "success"}

Handler = Callable[[Mapping[str, Any], Mapping[str, str]], Any]


class MetadataAPI:
    """Answers metadata calls for one sandbox."""

    def __init__(
        self, triggers: EventTriggers, event_log_api: bool = True, tracing: TracePropagation | None = None
    ) -> None:
        self.triggers = triggers
        self.tracing = tracing
        self._handlers: dict[str, Handler] = {
            "export_metadata": self._export_metadata,
            "pg_create_event_trigger": self._create,
            "pg_delete_event_trigger": self._delete,
            "pg_redeliver_event": self._redeliver,
            "pg_invoke_event_trigger": self._invoke,
            "pg_get_event_logs": self._event_logs,
            "pg_get_event_invocation_logs": self._invocation_logs,
            "pg_get_event_by_id": self._event_by_id,
            "cleanup_event_trigger_logs": self._cleanup,
            "set_opentelemetry_config": self._set_opentelemetry_config,
        }
        if not event_log_api:  # servers before v2.25: read the event log with run_sql instead
            for kind in ("pg_get_event_logs", "pg_get_event_invocation_logs", "pg_get_event_by_id"):
                del self._handlers[kind]

    def handle(self, body: Any, session_variables: Mapping[str, str]) -> Any:
        """Run one call; raises `HasuraError` with the status and body Hasura would answer with."""
        if not isinstance(body, Mapping):
            raise HasuraError("the request body must be an object", "parse-failed")
        kind = body.get("type")
        if not isinstance(kind, str):
            raise HasuraError('key "type" not found', "parse-failed", "$")
        args = body.get("args", {})
        if kind == "bulk":
            return self._bulk(args, session_variables)
        handler = self._handlers.get(kind)
        if handler is None:
            raise HasuraError(f'unknown metadata command "{kind}"', "bad-request", "$.type")
        if args is None:
            args = {}
        if not isinstance(args, Mapping):
            raise HasuraError("args must be an object", "parse-failed", "$.args")
        _check_source(args)
        return handler(args, session_variables)

    # --- calls ---------------------------------------------------------------------------------------------------

    def _bulk(self, args: Any, session: Mapping[str, str]) -> list[Any]:
        if not isinstance(args, list):
            raise HasuraError("bulk args must be a list", "parse-failed", "$.args")
        return [self.handle(call, session) for call in args]

    def _export_metadata(self, _args: Mapping[str, Any], _session: Mapping[str, str]) -> dict[str, Any]:
        by_table: dict[str, list[dict[str, Any]]] = {}
        for conf in self.triggers.triggers.values():
            by_table.setdefault(conf.table_name, []).append(conf.to_metadata_json())
        tables = []
        for table in TABLES:
            entry: dict[str, Any] = {"table": {"schema": table.schema, "name": table.name}}
            if table.name in by_table:
                entry["event_triggers"] = by_table[table.name]
            tables.append(entry)
        return {
            "version": 3,
            "sources": [
                {
                    "name": "default",
                    "kind": "postgres",
                    "tables": tables,
                    "configuration": {
                        "connection_info": {
                            "database_url": {"from_env": "HASURA_GRAPHQL_DATABASE_URL"},
                            "isolation_level": "read-committed",
                            "use_prepared_statements": False,
                        }
                    },
                }
            ],
        }

    def _create(self, args: Mapping[str, Any], _session: Mapping[str, str]) -> dict[str, str]:
        conf = EventTriggerConf.from_create_args(args)
        self.triggers.create(conf, replace=bool(args.get("replace", False)))
        return SUCCESS

    def _delete(self, args: Mapping[str, Any], _session: Mapping[str, str]) -> dict[str, str]:
        self.triggers.delete(_string(args, "name"))
        return SUCCESS

    def _redeliver(self, args: Mapping[str, Any], _session: Mapping[str, str]) -> dict[str, str]:
        self.triggers.redeliver(_string(args, "event_id"))
        return SUCCESS

    def _invoke(self, args: Mapping[str, Any], session: Mapping[str, str]) -> dict[str, str]:
        if "payload" not in args:
            raise HasuraError('key "payload" not found', "parse-failed", "$.args")
        return {"event_id": self.triggers.invoke(_string(args, "name"), args["payload"], session)}

    def _event_logs(self, args: Mapping[str, Any], _session: Mapping[str, str]) -> list[dict[str, Any]]:
        status = args.get("status")
        if status is not None and status not in ("pending", "processed"):
            raise HasuraError(
                f'Invalid status "{status}". Valid values are "pending" and "processed"',
                "parse-failed",
                "$.args.status",
            )
        limit, offset = _paging(args, "limit", "offset")
        return self.triggers.event_logs(_string(args, "name"), status, limit, offset)

    def _invocation_logs(self, args: Mapping[str, Any], _session: Mapping[str, str]) -> list[dict[str, Any]]:
        limit, offset = _paging(args, "limit", "offset")
        return self.triggers.invocation_logs(_string(args, "name"), limit, offset)

    def _event_by_id(self, args: Mapping[str, Any], _session: Mapping[str, str]) -> dict[str, Any]:
        limit, offset = _paging(args, "invocation_log_limit", "invocation_log_offset")
        return self.triggers.event_by_id(_string(args, "event_id"), limit, offset)

    def _cleanup(self, args: Mapping[str, Any], _session: Mapping[str, str]) -> dict[str, Any]:
        older = args.get("clear_older_than")
        if not isinstance(older, int | float) or isinstance(older, bool) or older < 0:
            raise HasuraError('key "clear_older_than" not found', "parse-failed", "$.args")
        batch_size, _ = _paging({"batch_size": args.get("batch_size", 10000)}, "batch_size", "offset")
        deleted = self.triggers.cleanup(
            _string(args, "event_trigger_name"), float(older), batch_size, bool(args.get("clean_invocation_logs"))
        )
        return {**SUCCESS, "deleted_event_logs": deleted}

    def _set_opentelemetry_config(self, args: Mapping[str, Any], _session: Mapping[str, str]) -> dict[str, str]:
        exporter = args.get("exporter_otlp") or {}
        propagators = exporter.get("traces_propagators", ["b3"]) if isinstance(exporter, Mapping) else None
        if not isinstance(propagators, list) or not all(isinstance(p, str) for p in propagators):
            raise HasuraError("traces_propagators must be a list of strings", "parse-failed", "$.args")
        if self.tracing is not None:
            try:
                self.tracing.configure(propagators)
            except ValueError as exc:
                raise HasuraError(str(exc), "parse-failed", "$.args.exporter_otlp.traces_propagators") from None
        return SUCCESS


def _string(args: Mapping[str, Any], key: str) -> str:
    value = args.get(key)
    if not isinstance(value, str):
        raise HasuraError(
            f'key "{key}" not found' if value is None else f"{key} must be a string",
            "parse-failed",
            f"$.args.{key}" if value is not None else "$.args",
        )
    return value


def _paging(args: Mapping[str, Any], limit_key: str, offset_key: str) -> tuple[int, int]:
    limit, offset = args.get(limit_key, 100), args.get(offset_key, 0)
    for key, value in ((limit_key, limit), (offset_key, offset)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise HasuraError(f"{key} must be a non-negative integer", "parse-failed", f"$.args.{key}")
    return limit, offset


def _check_source(args: Mapping[str, Any]) -> None:
    source = args.get("source", "default")
    if source != "default":
        raise HasuraError(f'source with name "{source}" does not exist', "not-exists", "$.args.source")
