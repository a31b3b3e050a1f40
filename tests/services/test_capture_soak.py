"""The loss test that cannot lie (issue 12): `benchmarks/soak.py` runs `inspector sandbox --db FILE` with traffic and
the fault knobs on and `inspector capture` as processes, kills and restarts both at random moments, and compares
every capture file with the sandbox's database row by row. Lost, duplicated and wrong must all be 0.

Run as a child process (no test imports a benchmark); its JSON report is the verdict.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parents[2] / "benchmarks" / "soak.py"


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_capture_survives_kills_of_both_sides_with_nothing_lost(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(SOAK),
            "--seconds",
            "20",
            "--rate",
            "15",
            "--seed",
            "3",
            "--json",
            "--workdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=140,
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert sum(report["kills"].values()) >= 2, report  # both sides were really killed along the way
    assert report["events"] > 400 and report["invocations"] >= report["events"], report
    assert (report["lost_events"], report["lost_invocations"], report["duplicated"], report["wrong"]) == (0, 0, 0, 0), (
        report["problems"]
    )
