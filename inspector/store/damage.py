"""What is wrong inside a capture whose tables are readable but whose values are not what Inspector writes.

Owns `wrong_types`: the columns holding values of another type than their declaration (text in `events.created_ts`,
a blob in `trigger_snapshots.name`...), as a bit flip or another program's writes leave them. Used by the command
line (`inspector stats`, `export`, `replay`) after their work failed on such a value, to say which column is damaged
in one line instead of a traceback; it scans each table once, so it runs only after a failure, never on open.
"""

from __future__ import annotations

import sqlite3

from inspector.store.schema import TABLES

_ALLOWED = {"INTEGER": ("integer", "null"), "REAL": ("real", "integer", "null"), "TEXT": ("text", "null")}
"""The storage classes a declared column may hold as Inspector writes it."""


def wrong_types(conn: sqlite3.Connection) -> list[str]:
    """`table.column (N rows)` for each column holding values of a type its declaration does not allow."""
    found: list[str] = []
    for table in TABLES:
        columns = [
            (str(row[1]), _ALLOWED[str(row[2]).upper()])
            for row in conn.execute(f"PRAGMA table_info({table})")
            if str(row[2]).upper() in _ALLOWED
        ]
        if not columns:
            continue
        tests = ", ".join(
            f'sum(typeof("{name}") NOT IN ({", ".join(repr(t) for t in allowed)}))' for name, allowed in columns
        )
        counts = conn.execute(f"SELECT {tests} FROM {table}").fetchone()
        found.extend(f"{table}.{name} ({n:,} rows)" for (name, _), n in zip(columns, counts, strict=True) if n)
    return found
