"""The release workflow (.github/workflows/release.yml), checked without GitHub: its structure and the scripts it
names, here on every run; against GitHub's published workflow schema when check-jsonschema is installed (it carries
the schema: `pip install check-jsonschema`); with actionlint when it is on PATH (a Go binary: not on PyPI or Debian
12, so usually not here)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"


def _workflow() -> dict[Any, Any]:
    loaded = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_the_workflow_builds_every_platform_and_smoke_tests_each() -> None:
    workflow = _workflow()
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert triggers["push"]["tags"] == ["v*"] and "workflow_dispatch" in triggers
    build = workflow["jobs"]["build"]
    oses = {entry["os"].split("-")[0] for entry in build["strategy"]["matrix"]["include"]}
    assert oses == {"ubuntu", "windows", "macos"}
    steps = build["steps"]
    for step in steps:
        assert ("uses" in step) != ("run" in step), step
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[\w./-]+", step["uses"]), step["uses"]
        if "if" in step:
            # expressions compare runner.os with the names GitHub uses
            for name in re.findall(r"runner\.os [!=]= '(\w+)'", step["if"]):
                assert name in ("Linux", "Windows", "macOS"), step["if"]
    scripts = " ".join(step.get("run", "") for step in steps)
    for script in re.findall(r"packaging/[\w/.-]+\.(?:sh|iss|spec)", scripts.replace("\\", "/")):
        assert (ROOT / script).is_file(), script
    assert "inspector-cli.exe self-test" in scripts and "build-macos.sh" in scripts
    assert "pipx install dist/inspector_3factor-" in scripts and "inspector self-test" in scripts
    uploaded = next(step for step in steps if step.get("uses", "").startswith("actions/upload-artifact"))
    for pattern in ("dist/*.whl", "dist/*.deb", "dist/*-setup.exe", "dist/*.dmg"):
        assert pattern in uploaded["with"]["path"]
    publish = workflow["jobs"]["pypi"]
    assert publish["needs"] == "build" and publish["permissions"] == {"id-token": "write"}
    assert publish["steps"][0]["with"]["name"] == "inspector-linux"  # the Linux job's artifact: inspector-{name}


def test_the_workflow_matches_githubs_schema() -> None:
    if subprocess.run([sys.executable, "-c", "import check_jsonschema"], capture_output=True).returncode != 0:
        pytest.skip("check-jsonschema is not installed (pip install check-jsonschema)")
    run = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_actionlint_finds_nothing() -> None:
    actionlint = shutil.which("actionlint")
    if actionlint is None:
        pytest.skip("actionlint is not installed")
    run = subprocess.run([actionlint, str(WORKFLOW)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
