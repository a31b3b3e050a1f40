"""The PostgreSQL store holds the capture file's tables with the same columns (its own DDL, in another dialect): a
column added to one and not the other would make push/pull lose it. No server needed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from inspector.store import schema as file_schema
from inspector.store.capture_file import CaptureFile
from inspector.store.postgres import schema as store_schema


def test_every_table_of_the_file_has_the_same_columns_in_the_store(tmp_path: Path) -> None:
    CaptureFile.create(tmp_path / "c.inspector").close()
    conn = sqlite3.connect(tmp_path / "c.inspector")
    try:
        for table in file_schema.TABLES:
            assert table in store_schema.COLUMNS, table
            in_file = file_schema.table_columns(conn, table)
            in_store = set(store_schema.COLUMNS[table])  # the store's derived `doc`, `words` are not listed here
            assert in_store == in_file, (table, sorted(in_store ^ in_file))
    finally:
        conn.close()
