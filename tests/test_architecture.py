"""The GUI-free packages load no Qt, and the README's commands are the ones CI runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUI_FREE = ["inspector.core.hasura", "inspector.sandbox.server", "inspector.cli"]


def test_gui_free_packages_import_no_qt() -> None:
    code = (
        f"import sys; import {', '.join(GUI_FREE)}; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'qasync', 'shiboken6'));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"Qt modules loaded by GUI-free code: {result.stdout} {result.stderr}"


def _fenced(readme: str, marker: str) -> str:
    block = re.search(rf"<!-- {marker} -->\s*```bash\n(.*?)\n```\s*<!-- /{marker} -->", readme, re.S)
    assert block, f"README has no {marker} block"
    return block.group(1)


def test_readme_names_both_commands_and_ci_runs_the_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    main = _fenced(readme, "main-command")
    test = _fenced(readme, "test-command")
    assert "pip install" in main and "inspector " in main
    assert "pip install" in test and "pytest" in test
    ci = (ROOT / ".ci" / "run").read_text()
    assert "test-command" in ci and "QT_QPA_PLATFORM=offscreen" in ci and "timeout" in ci


_SQL = re.compile(
    r"\bSELECT\b[\s\S]*\bFROM\b|\bINSERT\b[\s\S]*\bINTO\b|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b|\bPRAGMA\s+\w|"
    r"\bCREATE\s+(?:TABLE|INDEX|TRIGGER)\b|\bBEGIN(?:\s+IMMEDIATE)?\s*$|\bJOIN\s+\w+\s+\w*\s*ON\b"
)
"""SQL statements in a string: the keywords in capitals, as the store writes them (prose says "an UPDATE")."""


def test_the_views_hold_no_sql_and_do_not_import_sqlite3() -> None:
    """Only `inspector.store` knows the capture file's tables: the Qt views read through `store.reader` and
    `store.event_index`."""
    import ast

    found: list[str] = []
    for path in sorted((ROOT / "inspector" / "qt").rglob("*.py")):
        text = path.read_text()
        where = path.relative_to(ROOT)
        if re.search(r"\bsqlite3\b", text):
            found.append(f"{where}: mentions sqlite3")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and _SQL.search(node.value):
                found.append(f"{where}:{node.lineno}: SQL in a string: {node.value[:60]!r}")
    assert not found, "\n".join(found)


def test_the_sql_detector_finds_sql() -> None:
    for sql in (
        "SELECT seq FROM events WHERE id = ?",
        "INSERT OR IGNORE INTO marks (kind, target) VALUES (?, ?)",
        "UPDATE events SET flags = ?",
        "DELETE FROM marks WHERE kind = 'event'",
        "PRAGMA data_version",
        "BEGIN IMMEDIATE",
    ):
        assert _SQL.search(sql), sql
    for prose in ("An UPDATE's old → new changes", "INSERT, UPDATE, DELETE or MANUAL", "DELETE: the row was removed"):
        assert not _SQL.search(prose), prose
