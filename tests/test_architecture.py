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
