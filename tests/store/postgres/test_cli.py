"""The commands on a PostgreSQL store, against a real server: push, captures, export, stats and pull give what the
same commands give on the file; failures are one line with the documented exit code."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from inspector.cli import main
from inspector.cli.exit_codes import ExitCode
from inspector.cli.export import run as export_run
from tests.helpers.captures import build_sample


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    build_sample(tmp_path / "sample.inspector").close()
    return tmp_path / "sample.inspector"


def test_push_list_export_stats_pull(
    sample: Path, postgres_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"{postgres_db}?capture=nightly"
    assert main(["push", str(sample), url]) == ExitCode.OK
    assert main(["push", str(sample), url]) == ExitCode.USAGE
    assert "a capture named 'nightly' exists" in capsys.readouterr().err
    assert main(["captures", postgres_db, "--json"]) == ExitCode.OK
    listed = json.loads(capsys.readouterr().out)
    assert [(c["name"], c["backend"], c["events"], c["invocations"]) for c in listed] == [
        ("nightly", "postgresql", 3, 5)
    ]
    assert main(["captures", postgres_db]) == ExitCode.OK
    table = capsys.readouterr().out
    assert table.splitlines()[0].split()[:2] == ["name", "backend"] and "nightly  postgresql" in table

    assert main(["export", url, "--out", str(tmp_path / "store.jsonl")]) == ExitCode.OK
    assert main(["export", str(sample), "--out", str(tmp_path / "file.jsonl")]) == ExitCode.OK
    assert (tmp_path / "store.jsonl").read_text() == (tmp_path / "file.jsonl").read_text()

    capsys.readouterr()
    assert main(["stats", url, "--json"]) == ExitCode.OK
    from_store = json.loads(capsys.readouterr().out)
    assert main(["stats", str(sample), "--json"]) == ExitCode.OK
    from_file = json.loads(capsys.readouterr().out)
    from_store.pop("file"), from_file.pop("file")
    assert from_store == from_file

    assert main(["pull", url, str(tmp_path / "pulled.inspector")]) == ExitCode.OK
    assert main(["export", str(tmp_path / "pulled.inspector"), "--out", str(tmp_path / "pulled.jsonl")]) == 0
    assert (tmp_path / "pulled.jsonl").read_text() == (tmp_path / "file.jsonl").read_text()

    assert main(["captures", postgres_db, "--drop-older-than", "30d"]) == ExitCode.OK
    assert "nightly" in capsys.readouterr().out
    assert main(["captures", postgres_db, "--drop-older-than", "0s"]) == ExitCode.OK
    assert "dropped nightly" in capsys.readouterr().err


def test_store_failures_are_one_line(postgres_server: object, postgres_db: str) -> None:
    err = io.StringIO()
    args = type("Args", (), {})()
    for name, value in {
        "file": f"{postgres_db}?capture=missing",
        "format": None,
        "redact": False,
        "out": None,
        "filter": None,
        "filter_timeout": 10.0,
    }.items():
        setattr(args, name, value)
    assert export_run(args, io.StringIO(), err) == ExitCode.CONNECTION  # type: ignore[arg-type]
    assert err.getvalue().count("\n") == 1 and "holds no Inspector store" in err.getvalue()
    database = postgres_db.rsplit("/", 1)[0] + "/missing_db"
    err = io.StringIO()
    args.file = database + "?capture=x"
    assert export_run(args, io.StringIO(), err) == ExitCode.CONNECTION  # type: ignore[arg-type]
    assert "no database 'missing_db'" in err.getvalue() and err.getvalue().count("\n") == 1
