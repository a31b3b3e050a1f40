"""`inspector capture` against a fast event-log source: does the capture keep up with 10,000 events/s?

Runs `tests/helpers/fast_event_log.py` (Hasura's event-log API over four triggers, `--rate` events/s for `--seconds`,
3 % of them pending for 0.5 s; here in a subclass that counts the rows it serves) and `inspector capture --endpoint
<it> --poll-interval 1` as two processes, samples the capture file every 0.2 s, and reports per run:

- `at_stop`: events in the file when the source stopped producing, and that over `--seconds` (`rate_at_stop`);
- `complete_after`: seconds from the capture's start until the file held every event, every one delivered (the
  source started producing a moment before the capture);
- `cpu_per_10k`: the capture process's CPU seconds (user + system, `/proc/PID/stat`) from its start until then, per
  10,000 events (its start, imports and first answers included: about 0.6 s); `thread_cpu` splits them between the
  main thread (the event loop: HTTP, parsing, deciding what is new) and the others (the writer thread);
- `rows_per_event_at_complete`: rows of `pg_get_event_logs` answers the source served until then, per event;
  `rows_per_event`: the same until the capture ended (some idle polls more);
- `source_cpu`: the source's CPU seconds while producing (it shares the machine);
- `peak_rss_mb`: the capture's peak resident memory until then (VmHWM).

`--python-path DIR` runs the capture with another checkout's `inspector` package first on `sys.path` (e.g. an
exported older revision: `git archive REV | tar -x -C DIR`); `--compare DIR` alternates runs of DIR and this checkout,
`--repeats` times each, and prints the medians of each. Files go to a temporary directory (`--dir`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import selectors
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def serve(rate: float, seconds: float) -> None:
    """The source: `FastEventLog`, counting the event rows it answers with."""
    import asyncio

    from aiohttp import web

    sys.path.insert(0, str(ROOT))
    from tests.helpers import fast_event_log as fel

    counts = {"event_rows": 0, "by_id": 0, "event_calls": 0}

    class Counting(fel.FastEventLog):
        async def metadata(self, request: web.Request) -> web.Response:
            body = await request.json()
            kind, args = body.get("type"), body.get("args", {})
            if kind == "pg_get_event_logs":
                log = self.logs.get(args.get("name"), [])
                end = len(log) - int(args.get("offset", 0))
                counts["event_rows"] += max(0, end) - max(0, end - int(args.get("limit", 100)))
                counts["event_calls"] += 1
            elif kind == "pg_get_event_by_id":
                counts["by_id"] += 1
            return await super().metadata(request)

    async def main() -> None:
        log = Counting(rate, seconds)
        runner = await fel.listen(log)
        loop = asyncio.get_running_loop()
        producer = asyncio.create_task(log.produce())
        await log.done.wait()
        print(json.dumps({"produced": log.produced, "cpu_seconds": time.process_time(), **counts}), flush=True)
        while await loop.run_in_executor(None, sys.stdin.readline):  # each line asks for the counts; EOF ends
            print(json.dumps(counts), flush=True)
        producer.cancel()
        await runner.cleanup()

    asyncio.run(main())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of a process's main thread and of its other live threads (threads that ended are not counted)."""
    found: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = "main" if task.name == str(pid) else "others"
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[name] = found.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return found


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return math.nan


def count(path: Path) -> tuple[int, int]:
    """Events in the file, and those not delivered."""
    if not path.exists():
        return 0, 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        total, open_ = conn.execute("SELECT count(*), count(*) - coalesce(sum(delivered), 0) FROM events").fetchone()
        return int(total), int(open_)
    except sqlite3.OperationalError:
        return 0, 0
    finally:
        conn.close()


def run_once(rate: float, seconds: float, python_path: str | None, workdir: Path, label: str) -> dict[str, Any]:
    out = workdir / f"capture-{label}-{time.monotonic_ns()}.sqlite"
    source = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--rate", str(rate), "--seconds", str(seconds)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert source.stdout is not None and source.stdin is not None
    url = json.loads(source.stdout.readline())["url"]
    env = dict(os.environ)
    if python_path:
        env["PYTHONPATH"] = python_path
    started = time.monotonic()
    capture = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from inspector.cli import main; sys.exit(main())",
            "capture",
            "--endpoint",
            url,
            "--poll-interval",
            "1",
            "--out",
            str(out),
            "--duration",
            str(seconds + 120),
        ],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    produced: int | None = None
    source_cpu: float | None = None
    rows_at_stop = rows_at_complete = 0
    threads: dict[str, float] = {}
    peak_rss = math.nan
    at_stop: int | None = None
    complete_after: float | None = None
    cpu_complete: float | None = None
    selector = selectors.DefaultSelector()
    selector.register(source.stdout, selectors.EVENT_READ)
    while time.monotonic() - started < seconds + 90:
        if produced is None and selector.select(timeout=0.2):
            line = json.loads(source.stdout.readline())
            produced = int(line["produced"])
            source_cpu = float(line["cpu_seconds"])
            rows_at_stop = int(line["event_rows"])
            at_stop = count(out)[0]
        elif produced is not None:
            time.sleep(0.2)
        total, open_ = count(out)
        if produced is not None and total >= produced and open_ == 0:
            complete_after = time.monotonic() - started
            cpu_complete = cpu_seconds(capture.pid)
            threads = thread_cpu(capture.pid)
            peak_rss = peak_rss_mb(capture.pid)
            source.stdin.write("\n")
            source.stdin.flush()
            rows_at_complete = int(json.loads(source.stdout.readline())["event_rows"])
            break
        if capture.poll() is not None:
            break
    capture.send_signal(signal.SIGINT)
    _, stderr = capture.communicate(timeout=60)
    source.stdin.write("\n")
    source.stdin.flush()
    counts = json.loads(source.stdout.readline())
    source.stdin.close()
    source.wait(timeout=30)
    final = count(out)[0]
    for suffix in ("", "-wal", "-shm"):
        Path(f"{out}{suffix}").unlink(missing_ok=True)
    produced = produced or 0
    return {
        "label": label,
        "produced": produced,
        "at_stop": at_stop,
        "rate_at_stop": (at_stop or 0) / seconds,
        "complete_after": complete_after,
        "cpu_complete": cpu_complete,
        "cpu_per_10k": None if cpu_complete is None else cpu_complete / produced * 10_000,
        "rows_per_event": counts["event_rows"] / max(1, produced),
        "rows_per_event_at_stop": rows_at_stop / max(1, at_stop or 0),
        "rows_per_event_at_complete": rows_at_complete / max(1, produced),
        "source_cpu": source_cpu,
        "thread_cpu": threads,
        "peak_rss_mb": peak_rss,
        "event_calls": counts["event_calls"],
        "by_id": counts["by_id"],
        "final": final,
        "load": os.getloadavg()[0],
        "stderr_tail": stderr.strip().splitlines()[-1:] if stderr.strip() else [],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=10_000.0)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--python-path", help="run the capture with this directory first on sys.path")
    parser.add_argument("--compare", help="also run the capture from this checkout, interleaved")
    parser.add_argument("--dir", type=Path, default=None, help="where capture files go (default: a temporary dir)")
    parser.add_argument("--json", type=Path, help="also write every run as JSON")
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.rate, args.seconds)
        return 0
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for _ in range(args.repeats):
            plans = [("this", args.python_path)]
            if args.compare:
                plans.insert(0, ("compare", args.compare))
            for label, path in plans:
                result = run_once(args.rate, args.seconds, path, Path(tmp), label)
                runs.append(result)
                print(json.dumps(result), flush=True)
    for label in sorted({r["label"] for r in runs}):
        mine = [r for r in runs if r["label"] == label]

        def median(key: str, mine: list[dict[str, Any]] = mine) -> float | None:
            values = [r[key] for r in mine if r[key] is not None]
            return statistics.median(values) if values else None

        print(
            json.dumps(
                {
                    "label": label,
                    "runs": len(mine),
                    "rate_at_stop": median("rate_at_stop"),
                    "at_stop": median("at_stop"),
                    "complete_after": median("complete_after"),
                    "cpu_per_10k": median("cpu_per_10k"),
                    "rows_per_event_at_complete": median("rows_per_event_at_complete"),
                    "source_cpu": median("source_cpu"),
                    "peak_rss_mb": median("peak_rss_mb"),
                }
            )
        )
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
