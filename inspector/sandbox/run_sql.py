"""`run_sql` on `/v2/query`, as far as an inspector needs it: read-only SQL over the event tables (Hasura's docs
`docs/docs/api-reference/schema-api/run-sql.mdx`).

Owns the translation of Hasura's catalog table names (`hdb_catalog.event_log`, `hdb_catalog.event_invocation_logs`)
to the sandbox's, and the rendering of results as Postgres' text output does: a header row of column names, then
every value as a string, booleans as `t`/`f`, NULL as the string `"NULL"`. Used by clients of servers older than
v2.25, which have no `pg_get_event_logs`; `--hasura-version` makes the sandbox answer as such a server.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping
from typing import Any

from inspector.core.hasura import HasuraError

_CATALOG = {
    "hdb_catalog.event_log": "hdb_event_log",
    "hdb_catalog.event_invocation_logs": "hdb_event_invocation_logs",
}
_CATALOG_RE = re.compile("|".join(re.escape(k) for k in _CATALOG), re.IGNORECASE)
_BOOLEAN_COLUMNS = frozenset({"delivered", "error", "archived"})
_READ_ONLY_START = re.compile(r"^\s*(select|with)\b", re.IGNORECASE)


def _text(column: str, value: Any) -> str:
    if value is None:
        return "NULL"
    if column in _BOOLEAN_COLUMNS and isinstance(value, int):
        return "t" if value else "f"
    return str(value)


def run_sql(conn: sqlite3.Connection, args: Mapping[str, Any]) -> dict[str, Any]:
    """Run one `run_sql` call; only reads (SELECT/WITH) are allowed, whatever `read_only` says."""
    sql = args.get("sql")
    if not isinstance(sql, str):
        raise HasuraError('key "sql" not found', "parse-failed", "$.args")
    if args.get("source", "default") != "default":
        raise HasuraError(f'source with name "{args.get("source")}" does not exist', "not-exists", "$.args.source")
    if not _READ_ONLY_START.match(sql) or ";" in sql.strip().rstrip(";"):
        raise HasuraError("the sandbox runs read-only SQL only (one SELECT)", "not-supported", "$.args.sql")
    translated = _CATALOG_RE.sub(lambda m: _CATALOG[m.group(0).lower()], sql)
    try:
        cursor = conn.execute(translated)
        rows = cursor.fetchall()
    except sqlite3.Error as exc:
        raise HasuraError(f"query execution failed: {exc}", "postgres-error", "$.args.sql") from exc
    names = [d[0] for d in cursor.description or ()]
    return {
        "result_type": "TuplesOk",
        "result": [names, *[[_text(n, v) for n, v in zip(names, row, strict=True)] for row in rows]],
    }
