"""Hostile inputs on the command line (issue 12.6): every one gets one line on stderr and a documented exit code,
never a traceback, in bounded time. Files that are not captures (truncated, empty, not SQLite, another program's
SQLite, a newer format, a directory, unreadable), captures damaged inside (bytes that are not UTF-8, values of the
wrong type), JSONL holding a lone surrogate, and a filter that would run for hours."""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from inspector.cli import main
from inspector.cli.exit_codes import ExitCode
from tests.helpers.captures import build_sample

RUNAWAY = 'id matches "^([0-9a-f-]+)*!$"'
"""Backtracks 2^36 times on a 36-character event id."""


def run(*args: str) -> tuple[int, str, str]:
    """`inspector ARGS` in this process: exit code, stdout, stderr."""
    out, err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8"), io.StringIO()  # `export` writes to stdout's buffer
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    out.flush()
    return code, out.buffer.getvalue().decode("utf-8"), err.getvalue()


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "sample.inspector"
    build_sample(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode=DELETE")  # one file, to copy and damage
    conn.close()
    return path


def copy(sample: Path, tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copy(sample, target)
    return target


def _not_captures(sample: Path, tmp_path: Path) -> dict[str, tuple[Path, str]]:
    truncated = tmp_path / "truncated.inspector"
    truncated.write_bytes(sample.read_bytes()[: sample.stat().st_size // 3])
    empty = tmp_path / "empty.inspector"
    empty.write_bytes(b"")
    text = tmp_path / "notes.inspector"
    text.write_text("not a database\n")
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE songs (title TEXT)")
    conn.commit()
    conn.close()
    newer = copy(sample, tmp_path, "newer.inspector")
    conn = sqlite3.connect(newer)
    conn.execute("UPDATE capture_info SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    directory = tmp_path / "folder.inspector"
    directory.mkdir()
    schema_flipped = copy(sample, tmp_path, "schema-flipped.inspector")
    conn = sqlite3.connect(schema_flipped)  # a bit flip in a table's name, as sqlite_master stores it
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("UPDATE sqlite_master SET name = CAST(x'6576ff6e7473' AS TEXT) WHERE name = 'events'")
    conn.commit()
    conn.close()
    return {
        "truncated": (truncated, "is not a capture file or is damaged"),
        "empty": (empty, "is not a capture file (not an SQLite database)"),
        "not SQLite": (text, "is not a capture file (not an SQLite database)"),
        "another program's SQLite": (other, "is an SQLite database but not an Inspector capture"),
        "newer format": (newer, "was written by a newer Inspector (capture format 99)"),
        "directory": (directory, "is a directory, not a capture file"),
        "schema bytes not UTF-8": (schema_flipped, "is not a capture file or is damaged"),
    }


COMMANDS = {
    "export": ("export",),
    "stats": ("stats",),
    "replay": ("replay", "--dry-run"),
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_files_that_are_not_captures_get_one_line_and_usage(sample: Path, tmp_path: Path, command: str) -> None:
    for what, (path, words) in _not_captures(sample, tmp_path).items():
        code, _, err = run(*COMMANDS[command], str(path))
        line = one_line(err)
        assert code == ExitCode.USAGE, (what, err)
        assert line.startswith(f"inspector {command}: ") and words in line, (what, line)


def test_the_window_says_in_one_line_that_a_file_is_not_a_capture(sample: Path, tmp_path: Path) -> None:
    for what, (path, words) in _not_captures(sample, tmp_path).items():
        result = subprocess.run(
            [sys.executable, "-m", "inspector", str(path), "--quit-after", "0"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
            check=False,
        )
        assert result.returncode == ExitCode.USAGE, (what, result.stderr)
        assert one_line(result.stderr).startswith("inspector: ") and words in result.stderr, (what, result.stderr)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_gets_one_line(sample: Path, tmp_path: Path) -> None:
    locked = copy(sample, tmp_path, "locked.inspector")
    locked.chmod(0)
    for command in COMMANDS.values():
        code, _, err = run(*command, str(locked))
        assert code == ExitCode.USAGE and "Permission denied" in one_line(err)
    code, _, err = run("import", str(locked), "--out", str(tmp_path / "x.inspector"))
    assert code == ExitCode.USAGE and "Permission denied" in one_line(err)


def test_text_that_is_not_utf8_inside_a_capture(sample: Path, tmp_path: Path) -> None:
    """A bit flip in a stored text value: SQLite hands back bytes that are not UTF-8 (issue 12.6: `replay
    --dry-run` raised `sqlite3.OperationalError: Could not decode to UTF-8`)."""
    flipped = copy(sample, tmp_path, "flipped.inspector")
    conn = sqlite3.connect(flipped)
    conn.execute("UPDATE events SET trigger_name = CAST(x'76616cff6964617465' AS TEXT)")
    conn.commit()
    conn.close()
    for command in COMMANDS.values():
        code, _, err = run(*command, str(flipped))
        line = one_line(err)
        assert code == ExitCode.USAGE and "flipped.inspector is damaged" in line and "UTF-8" in line, line


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("events.created_ts", "'yesterday'"),
        ("events.attempts", "'many'"),
        ("events.successes", "x'00ff'"),
        ("events.first_attempt_ts", "'soon'"),
        ("invocations.http_status", "'teapot'"),
        ("invocations.duration_ms", "x'01'"),
        ("invocations.attempt", "'first'"),
        ("trigger_snapshots.name", "x'00ff'"),
    ],
)
def test_values_of_the_wrong_type(sample: Path, tmp_path: Path, column: str, value: str) -> None:
    """Issue 12.6: `stats` on a file with wrong column types raised `TypeError` in the analysis. `export` writes
    what it can (a text where a number belongs goes out as it is) or says the file is damaged."""
    damaged = copy(sample, tmp_path, "typed.inspector")
    table, name = column.split(".")
    conn = sqlite3.connect(damaged)
    conn.execute(f"UPDATE {table} SET {name} = {value}")
    conn.commit()
    conn.close()
    said = []
    for command in (("stats",), ("stats", "--json"), ("export",), ("export", "--format", "har")):
        code, _, err = run(*command, str(damaged))
        if code == ExitCode.OK:  # the column is not one this command reads, or it writes it out as it is
            assert not err, err
            continue
        said.append(command)
        line = one_line(err)
        assert code == ExitCode.USAGE, (command, line)
        assert line.startswith(f"inspector {command[0]}: ") and "typed.inspector is damaged" in line, line
        if "values of the wrong type" in line:
            assert column in line
    assert said, "every one of these values made stats or export fail before"


def test_import_of_a_lone_surrogate_is_a_bad_line(sample: Path, tmp_path: Path) -> None:
    """Issue 12.6: a JSONL line holding `"\\ud800"` (valid JSON, not text) raised `UnicodeEncodeError`."""
    exported = tmp_path / "sample.jsonl"
    assert run("export", str(sample), "--out", str(exported))[0] == ExitCode.OK
    lines = exported.read_text(encoding="utf-8").splitlines()
    number = next(i for i, line in enumerate(lines) if json.loads(line)["kind"] == "event")
    record = json.loads(lines[number])
    record["trigger_name"] = "validate\ud800order"
    lines[number] = json.dumps(record)  # ensure_ascii: the surrogate is written as the escape \ud800
    assert "\\ud800" in lines[number]
    hostile = tmp_path / "hostile.jsonl"
    hostile.write_text("\n".join(lines) + "\n", encoding="utf-8")
    target = tmp_path / "out.inspector"
    code, _, err = run("import", str(hostile), "--out", str(target))
    line = one_line(err)
    assert code == ExitCode.USAGE and f"line {number + 1}: " in line and "\\ud800" in line and "surrogate" in line
    assert not target.exists()
    # A surrogate pair written as escapes is one character, and fine.
    record["trigger_name"] = "validate\U0001f600order"
    lines[number] = json.dumps(record)
    hostile.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, _, err = run("import", str(hostile), "--out", str(target))
    assert code == ExitCode.OK, err


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_runaway_filter_stops_at_the_filter_timeout(sample: Path, command: str) -> None:
    """Issue 12.6: `export`/`stats --filter 'id matches "^([0-9a-f-]+)*!$"'` ran past 30 s with no guard."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "inspector", *COMMANDS[command], str(sample), "--filter", RUNAWAY,
         "--filter-timeout", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert time.monotonic() - started < 30
    assert result.returncode == ExitCode.USAGE
    line = one_line(result.stderr)
    assert line.startswith(f"inspector {command}: --filter {RUNAWAY!r} ran longer than --filter-timeout 1 s")


def test_the_filter_timeout_has_a_default_and_leaves_good_filters_alone(sample: Path) -> None:
    from inspector.cli import build_parser

    for command in COMMANDS.values():
        assert build_parser().parse_args([*command, "x"]).filter_timeout == 30
    code, out, err = run("stats", str(sample), "--json", "--filter", 'status == "failed"', "--filter-timeout", "5")
    assert code == ExitCode.OK and json.loads(out)["events"] == 1, err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["stats", "x", "--filter-timeout", "-1"])


def test_an_unexpected_error_is_one_line_without_a_traceback(
    sample: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import inspector.cli.stats as stats

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(stats, "analyse", broken)
    code = main(["stats", str(sample)])
    err = capsys.readouterr().err
    assert code == ExitCode.FAILED
    assert one_line(err) == "inspector: internal error: RuntimeError: a bug of ours; run with -v for the traceback"
    with pytest.raises(RuntimeError):
        main(["-v", "stats", str(sample)])
