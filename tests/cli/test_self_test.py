"""`inspector self-test`: the smoke test the installers run, here from the source tree in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from inspector.cli.self_test import ORDER_CHAIN, resources_dir, sample_captures

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "inspector", "self-test", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=env,
    )


@pytest.mark.slow
def test_self_test_captures_one_orders_chain_and_exits_0(tmp_path: Path) -> None:
    keep = tmp_path / "kept.inspector"
    result = _run("--keep", str(keep))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("inspector ") and lines[-1] == "self-test passed"
    for trigger in ORDER_CHAIN:
        assert any(trigger in line and "delivered" in line and "http=200" in line for line in lines), result.stdout
    assert "invocations captured: 4" in result.stdout
    assert "window:" not in result.stdout  # GUI-free unless --gui
    # the kept capture opens as a capture file with the four events
    from inspector.store.capture_file import CaptureFile

    capture = CaptureFile.open(keep)
    try:
        assert [r["trigger_name"] for r in capture.rows("SELECT trigger_name FROM events ORDER BY created_ts")] == list(
            ORDER_CHAIN
        )
    finally:
        capture.close()


@pytest.mark.slow
def test_self_test_gui_opens_and_closes_the_window_offscreen() -> None:
    result = _run("--gui")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "window: opened on the capture and closed (exit 0, platform offscreen)" in result.stdout


def test_self_test_fails_with_exit_1_when_the_chain_cannot_finish() -> None:
    result = _run("--timeout", "0")
    assert result.returncode == 1
    assert "self-test FAILED" in result.stderr


def test_resources_and_sample_captures_are_found_from_the_source_tree(tmp_path: Path) -> None:
    base = resources_dir()
    assert base == ROOT / "inspector" / "resources"
    for icon in ("inspector-256.png", "inspector-512.png", "inspector.ico", "inspector.icns"):
        assert (base / "icons" / icon).stat().st_size > 1000, icon
    samples = sample_captures()
    assert samples and all(path.suffix == ".inspector" for path in samples)
    from inspector.store.capture_file import CaptureFile

    # opened from a copy: opening adds WAL files beside it, and an installed package is read-only
    copy = tmp_path / samples[0].name
    copy.write_bytes(samples[0].read_bytes())
    capture = CaptureFile.open(copy)
    try:
        assert capture.count("events") >= 4
    finally:
        capture.close()


def test_icons_have_the_sizes_each_system_wants() -> None:
    png = (ROOT / "inspector" / "resources" / "icons" / "inspector-512.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(png[16:20], "big") == 512
    ico = (ROOT / "inspector" / "resources" / "icons" / "inspector.ico").read_bytes()
    assert ico[:4] == b"\x00\x00\x01\x00" and int.from_bytes(ico[4:6], "little") >= 1
    icns = (ROOT / "inspector" / "resources" / "icons" / "inspector.icns").read_bytes()
    assert icns[:4] == b"icns" and int.from_bytes(icns[4:8], "big") == len(icns)
    kinds = set()
    offset = 8
    while offset < len(icns):
        kinds.add(icns[offset : offset + 4])
        offset += int.from_bytes(icns[offset + 4 : offset + 8], "big")
    assert {b"ic07", b"ic08", b"ic09"} <= kinds
