"""Capture soak: nothing lost, nothing twice, nothing wrong, while both sides are killed and restarted.

Runs `inspector sandbox --db FILE` with traffic (`--orders-per-second R`) and the fault knobs on (handler failures
and latency, duplicate deliveries, reordering) and `inspector capture` against it, as separate processes. At random
moments one of them is killed with SIGKILL and started again (the sandbox on the same database file and ports, the
capture into a new file, `run-N.inspector`: `inspector capture` does not append). When the time is up the traffic
stops, the sandbox delivers what is left, the last capture polls once more and is stopped with SIGINT; then every
capture file is compared with the sandbox's database row by row:

- **lost**: events and invocations in the sandbox's database missing from the last capture (its first poll reads
  the whole log, so it alone must hold everything), and events or invocations of an earlier capture that the sandbox
  had but that capture never recorded although it ran past them (not counted: each earlier file is partial by design);
- **duplicated**: an event state recorded twice in a row for one event, in any file (ids are unique by schema);
- **wrong**: an event whose trigger, payload or final state (delivered, error, tries, archived) in the last capture
  differs from the sandbox's, an invocation whose event or status differs, a recorded state sequence whose tries go
  down, and any captured id the sandbox never had.

It prints these counts (all must be 0), the events per trigger, and the highest per-trigger rate the sandbox wrote
in any one-second window (from its own `created_at`s) with nothing lost. `--json` prints the report as one JSON
object (for tests/services/test_capture_soak.py). `--quick` is a short run for `benchmarks/run.py --quick`.
Imports only `common` among the benchmarks.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import ROOT, load_average, log, revision

from inspector.core.events import timestamp_seconds

SECRET = "soak-admin-secret"


@dataclass
class SoakReport:
    """What one soak run found."""

    seconds: float
    orders_per_second: float
    faults: str
    kills: dict[str, int]
    capture_exits: int
    captures: int
    events: int
    invocations: int
    states: int
    lost_events: int = 0
    lost_invocations: int = 0
    duplicated: int = 0
    wrong: int = 0
    events_per_trigger: dict[str, int] = field(default_factory=dict)
    peak_rate_per_trigger: float = 0.0
    """The most events one trigger got in any one-second window of the sandbox's `created_at`s."""
    mean_rate_per_trigger: float = 0.0
    problems: list[str] = field(default_factory=list)
    """The first few rows that counted against the run, for a reader to look at."""
    load_before: str = ""
    load_after: str = ""

    @property
    def clean(self) -> bool:
        return not (self.lost_events or self.lost_invocations or self.duplicated or self.wrong)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Soak:
    """The two processes and their restarts."""

    def __init__(self, workdir: Path, rate: float, seed: int, faults: list[str], poll_interval: float) -> None:
        self.workdir = workdir
        self.rate = rate
        self.seed = seed
        self.faults = faults
        self.poll_interval = poll_interval
        self.db = workdir / "sandbox.db"
        self.port, self.handlers_port = _free_port(), _free_port()
        self.sandbox: subprocess.Popen[bytes] | None = None
        self.capture: subprocess.Popen[bytes] | None = None
        self.captures: list[Path] = []
        self.kills: Counter[str] = Counter()
        self.exits = 0
        """Captures that ended by themselves (the sandbox was down when they started) and were started again."""
        self.env = {**os.environ, "HASURA_GRAPHQL_ADMIN_SECRET": SECRET, "PYTHONPATH": str(ROOT)}

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_sandbox(self, traffic: bool = True) -> None:
        args = [
            sys.executable, "-m", "inspector", "sandbox", "--port", str(self.port),
            "--handlers-port", str(self.handlers_port), "--db", str(self.db), "--admin-secret", SECRET,
            "--seed", str(self.seed + sum(self.kills.values())), "--fetch-interval-ms", "100",
            "--retry-interval", "1", *self.faults,
        ]  # fmt: skip
        if traffic:
            args += ["--orders-per-second", str(self.rate)]
        log_file = (self.workdir / "sandbox.log").open("ab")
        self.sandbox = subprocess.Popen(args, stdout=log_file, stderr=subprocess.STDOUT, env=self.env)
        self._wait_healthy()

    def _wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the sandbox did not start; see sandbox.log")

    def start_capture(self) -> None:
        out = self.workdir / f"run-{len(self.captures) + 1}.inspector"
        self.captures.append(out)
        log_file = (self.workdir / "capture.log").open("ab")
        self.capture = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "inspector",
                "capture",
                "--endpoint",
                self.endpoint,
                "--out",
                str(out),
                "--poll-interval",
                str(self.poll_interval),
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=self.env,
        )

    def wait(self, seconds: float) -> None:
        """Sleep, restarting the capture if it ended by itself: `inspector capture` exits 3 when the backend cannot be
        reached at its start (the sandbox may be down at that moment), as a supervisor would restart it."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.capture is not None and self.capture.poll() is not None:
                self.exits += 1
                self.start_capture()
            time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))

    def kill(self, which: str) -> None:
        proc = self.sandbox if which == "sandbox" else self.capture
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            self.kills[which] += 1

    def stop(self) -> None:
        for proc in (self.capture, self.sandbox):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _open_events(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(
            conn.execute(
                "SELECT count(*) FROM hdb_event_log WHERE delivered = 0 AND error = 0 AND archived = 0"
            ).fetchone()[0]
        )
    finally:
        conn.close()


def _counts(path: Path, sql: str) -> tuple[int, ...] | None:
    """One row of counts, read as another process would (None while the file has no tables yet)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return tuple(conn.execute(sql).fetchone())
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def _caught_up(capture: Path, db: Path) -> bool:
    """Whether the capture holds as many events, invocations and final events as the sandbox."""
    final = "(delivered = 1 OR error = 1 OR archived = 1)"
    mine = _counts(
        capture,
        f"SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM invocations), "
        f"(SELECT count(*) FROM events WHERE {final})",
    )
    theirs = _counts(
        db,
        f"SELECT (SELECT count(*) FROM hdb_event_log), (SELECT count(*) FROM hdb_event_invocation_logs), "
        f"(SELECT count(*) FROM hdb_event_log WHERE {final})",
    )
    return mine is not None and mine == theirs


def run_soak(
    seconds: float,
    rate: float,
    seed: int,
    workdir: Path,
    faults: Sequence[str] | None = None,
    poll_interval: float = 0.5,
) -> SoakReport:
    faults = list(
        faults
        if faults is not None
        else ["--fail-rate", "0.1", "--latency-ms", "20", "--duplicate-rate", "0.05", "--reorder-window-ms", "300"]
    )
    rng = random.Random(seed)
    soak = Soak(workdir, rate, seed, faults, poll_interval)
    load_before = load_average()
    started = time.monotonic()
    try:
        soak.start_sandbox()
        soak.start_capture()
        while time.monotonic() - started < seconds:
            soak.wait(rng.uniform(2.0, 5.0))
            if time.monotonic() - started >= seconds:
                break
            which = rng.choice(("sandbox", "capture"))
            soak.kill(which)
            time.sleep(rng.uniform(0.1, 1.5))
            if which == "sandbox":
                soak.start_sandbox()
            else:
                soak.start_capture()
        # traffic stops: the sandbox again without it, so it delivers (and retries) what is left
        soak.kill("sandbox")
        soak.kills["sandbox"] -= 1  # not one of the random kills
        soak.start_sandbox(traffic=False)
        deadline = time.monotonic() + 120
        while _open_events(soak.db) and time.monotonic() < deadline:
            time.sleep(0.5)
        # The last capture may be waiting out its reconnect backoff (up to 30 s after repeated sandbox kills): give
        # it until its counts reach the sandbox's, at most 45 s. What it still lacks then is counted as lost.
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and not _caught_up(soak.captures[-1], soak.db):
            soak.wait(0.5)
        time.sleep(poll_interval * 2)  # and one more poll, for the states
    finally:
        soak.stop()
    report = compare(soak.db, soak.captures)
    report.seconds = seconds
    report.orders_per_second = rate
    report.faults = " ".join(faults)
    report.kills = dict(soak.kills)
    report.capture_exits = soak.exits
    report.load_before, report.load_after = load_before, load_average()
    return report


def compare(db: Path, captures: list[Path]) -> SoakReport:
    """The captures against the sandbox's database, row by row (see the module docstring)."""
    server = sqlite3.connect(db)
    events = {
        r[0]: {"trigger": r[1], "payload": json.loads(r[2]), "state": (bool(r[3]), bool(r[4]), r[5], bool(r[6])),
               "created_at": r[7]}
        for r in server.execute(
            "SELECT id, trigger_name, payload, delivered, error, tries, archived, created_at FROM hdb_event_log"
        )
    }  # fmt: skip
    invocations = {
        r[0]: (r[1], r[2]) for r in server.execute("SELECT id, event_id, status FROM hdb_event_invocation_logs")
    }
    server.close()
    report = SoakReport(0, 0, "", {}, 0, len(captures), len(events), len(invocations), 0)
    problems = report.problems

    def problem(text: str) -> None:
        if len(problems) < 20:
            problems.append(text)

    for index, path in enumerate(captures):
        last = index == len(captures) - 1
        conn = sqlite3.connect(path)
        try:
            mine = {
                r[0]: (r[1], r[2], (bool(r[3]), bool(r[4]), r[5], bool(r[6])))
                for r in conn.execute("SELECT id, trigger_name, payload, delivered, error, tries, archived FROM events")
            }
            my_invocations = {r[0]: (r[1], r[2]) for r in conn.execute("SELECT id, event_id, status FROM invocations")}
            states: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
            for r in conn.execute("SELECT event_id, delivered, error, tries, locked, next_retry_at, archived "
                                  "FROM event_states ORDER BY seq"):  # fmt: skip
                states[r[0]].append(tuple(r[1:]))
        except sqlite3.Error as exc:  # a capture killed before it created its tables
            problem(f"{path.name}: unreadable ({exc}); skipped")
            conn.close()
            if last:  # the record that must hold everything holds nothing
                report.lost_events, report.lost_invocations = len(events), len(invocations)
            continue
        conn.close()
        report.states += sum(len(s) for s in states.values())
        for event_id, (trigger, payload, state) in mine.items():
            theirs = events.get(event_id)
            if theirs is None:
                report.wrong += 1
                problem(f"{path.name}: event {event_id} is not in the sandbox")
                continue
            if trigger != theirs["trigger"] or json.loads(payload) != theirs["payload"]:
                report.wrong += 1
                problem(f"{path.name}: event {event_id} differs in trigger or payload")
            if last and state != theirs["state"]:
                report.wrong += 1
                problem(f"{path.name}: event {event_id} ends {state}, the sandbox has {theirs['state']}")
        for event_id, sequence in states.items():
            for before, after in itertools.pairwise(sequence):
                if before == after:
                    report.duplicated += 1
                    problem(f"{path.name}: state {after} of {event_id} recorded twice in a row")
                elif (after[2] or 0) < (before[2] or 0):
                    report.wrong += 1
                    problem(f"{path.name}: tries of {event_id} went down ({before[2]} -> {after[2]})")
        for invocation_id, (event_id, status) in my_invocations.items():
            theirs_inv = invocations.get(invocation_id)
            if theirs_inv is None or theirs_inv != (event_id, status):
                report.wrong += 1
                problem(
                    f"{path.name}: invocation {invocation_id} is {(event_id, status)}, the sandbox has {theirs_inv}"
                )
        if last:
            lost = [e for e in events if e not in mine]
            lost_inv = [i for i in invocations if i not in my_invocations]
            report.lost_events, report.lost_invocations = len(lost), len(lost_inv)
            for event_id in lost[:5]:
                problem(f"{path.name}: event {event_id} ({events[event_id]['trigger']}) lost")
            for invocation_id in lost_inv[:5]:
                problem(f"{path.name}: invocation {invocation_id} lost")

    per_trigger: Counter[str] = Counter(e["trigger"] for e in events.values())
    report.events_per_trigger = dict(sorted(per_trigger.items()))
    windows: Counter[tuple[str, int]] = Counter()
    spans: dict[str, list[float]] = defaultdict(list)
    for event in events.values():
        seconds = timestamp_seconds(event["created_at"])
        if seconds is not None:
            windows[(event["trigger"], int(seconds))] += 1
            spans[event["trigger"]].append(seconds)
    report.peak_rate_per_trigger = float(max(windows.values(), default=0))
    means = [len(s) / max(max(s) - min(s), 1.0) for s in spans.values() if s]
    report.mean_rate_per_trigger = round(max(means, default=0.0), 1)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=90.0, help="how long the traffic and the kills go on")
    parser.add_argument("--rate", type=float, default=40.0, help="orders per second (each order: 4 events)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="30 s at 20 orders/s")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument("--workdir", help="keep the files here (default: a temporary folder, removed)")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.rate = 30.0, 20.0
    with tempfile.TemporaryDirectory(prefix="inspector-soak-") as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        report = run_soak(args.seconds, args.rate, args.seed, workdir)
    if args.json:
        print(json.dumps({**asdict(report), "clean": report.clean}))
    else:
        log(
            f"Capture soak: {args.seconds:g} s at {args.rate:g} orders/s, faults {report.faults}; revision {revision()}"
        )
        log(f"  load average before: {report.load_before}; after: {report.load_after}")
        log(
            f"  kills: {report.kills}; captures that exited at start (sandbox down) and were restarted: "
            f"{report.capture_exits}; capture files: {report.captures}"
        )
        log(f"  sandbox: {report.events} events {report.events_per_trigger}, {report.invocations} invocations")
        log(f"  captured states: {report.states}")
        log(
            f"  lost events {report.lost_events}, lost invocations {report.lost_invocations}, "
            f"duplicated {report.duplicated}, wrong {report.wrong}"
        )
        log(
            f"  per-trigger rate: peak {report.peak_rate_per_trigger:g} events/s (1 s window), "
            f"mean {report.mean_rate_per_trigger:g} events/s"
        )
        for text in report.problems:
            log(f"  ! {text}")
        log("  OK: nothing lost, duplicated or wrong" if report.clean else "  FAILED")
    return 0 if report.clean else 1


if __name__ == "__main__":
    sys.exit(main())
