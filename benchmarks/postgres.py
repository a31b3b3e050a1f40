"""PostgreSQL capture store benchmark (issue 17): ingest into the store against a raw psycopg COPY of the same rows in
the same run (goal >= 0.5x) and against the SQLite capture; two writers at once; the first screenful of a large
capture, of an indexed filter and of a JSON-path filter, read on the server.

Starts a throwaway PostgreSQL (initdb/pg_ctl, as the tests do: tests/helpers/postgres.py) unless --url names a
database. Sizes: --events N (default 200,000; --quick 20,000). Run: python benchmarks/postgres.py [--events 1000000].
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, load_average, log, revision

sys.path.insert(0, str(ROOT))
import psycopg

from inspector.core.events import EventRecord
from inspector.store.capture_file import CaptureWriter
from inspector.store.filter_sql import POSTGRES, PostgresDialect
from inspector.store.postgres.connection import StoreUrl
from inspector.store.postgres.schema import COLUMNS
from inspector.store.postgres.store import FileMirror, PostgresStore
from tests.helpers.captures import build_big_capture, event_dict
from tests.helpers.postgres import start_server

SCREEN = 50
"""Rows in a first screenful of the event list."""


def sqlite_ingest(path: Path, events: int) -> float:
    """Events/s of the capture's own writer into a capture file (what a recording does first)."""
    from inspector.store.capture_file import CaptureFile

    capture = CaptureFile.create(path)
    writer = CaptureWriter(capture)
    started = time.perf_counter()
    for n in range(events):
        writer.observe_event(EventRecord.from_hasura(event_dict(f"s-{n:08d}", new={"n": n})), now=1709294400.0 + n)
    writer.flush()
    elapsed = time.perf_counter() - started
    capture.close()
    return events / elapsed


def mirror_ingest(path: Path, url: StoreUrl, name: str) -> float:
    """Seconds to copy the whole file into a new store capture (`FileMirror.sync`: COPY with the jsonb and words)."""
    with PostgresStore.open(url, write=True) as store:
        capture = store.create(name, overwrite=True)
    mirror = FileMirror(path, url, capture.id)
    started = time.perf_counter()
    mirror.sync()
    elapsed = time.perf_counter() - started
    if mirror._pg is not None:
        mirror._pg.close()
    return elapsed


def raw_copy(path: Path, url: StoreUrl, name: str) -> float:
    """Seconds for the bare baseline: the same rows read from the file and COPYed into the same table, nothing else."""
    with PostgresStore.open(url, write=True) as store:
        capture = store.create(name, overwrite=True)
    columns = COLUMNS["events"]
    source = sqlite3.connect(path)
    started = time.perf_counter()
    with psycopg.connect(**url.connect_kwargs()) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY events (capture_id, {', '.join(columns)}) FROM STDIN") as copy:
            for row in source.execute(f"SELECT {', '.join(columns)} FROM events ORDER BY seq"):
                copy.write_row((capture.id, *row))
        conn.commit()
    elapsed = time.perf_counter() - started
    source.close()
    return elapsed


def first_screen(url: StoreUrl, name: str, text: str, dialect: PostgresDialect = POSTGRES) -> tuple[float, int]:
    """Seconds to the first screenful of events matching a filter, read on the server (a warm connection); rows."""
    with PostgresStore.open(url) as store:
        capture = store.capture(name)
        capture.select(text, limit=SCREEN, dialect=dialect)  # warm: plan and connection
        best = float("inf")
        rows = 0
        for _ in range(3):
            started = time.perf_counter()
            rows = len(capture.select(text, limit=SCREEN, dialect=dialect))
            best = min(best, time.perf_counter() - started)
    return best, rows


def ingest(work: Path, path: Path, url: StoreUrl, events: int) -> None:
    """The writing figures: the SQLite writer, a raw COPY, the store's ingest, two writers at once."""
    small = min(events, 20_000)
    rate = sqlite_ingest(work / "writer.inspector", small)
    log(f"  SQLite capture (CaptureWriter, {small} events): {rate:,.0f} events/s")
    raw = raw_copy(path, url, "raw")
    mirrored = mirror_ingest(path, url, "mirrored")
    log(f"  raw COPY of the same rows: {events / raw:,.0f} events/s ({raw:.2f} s)")
    log(
        f"  store ingest (FileMirror.sync, COPY + jsonb + words): {events / mirrored:,.0f} events/s "
        f"({mirrored:.2f} s); ratio to raw COPY {raw / mirrored:.2f} (goal >= 0.5); to the SQLite writer "
        f"{events / mirrored / rate:.2f}"
    )
    times: dict[str, float] = {}

    def write(name: str) -> None:
        times[name] = mirror_ingest(path, url, name)

    threads = [threading.Thread(target=write, args=(n,)) for n in ("two-a", "two-b")]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    both = time.perf_counter() - started
    log(
        f"  two writers at once: {times['two-a']:.2f} s and {times['two-b']:.2f} s (alone {mirrored:.2f} s); "
        f"together {2 * events / both:,.0f} events/s"
    )


def window_screens(url: StoreUrl, name: str, events: int) -> None:
    """What the window does on a store URL before its first paint, read directly from the server: the store opened
    and checked (`direct_reads`: the list's index and the detail's reader), the list's first loading step and the
    rows of a screenful (`PostgresEventIndex`), for no filter, an indexed one and JSON-path ones; then the same list
    loaded to the end in the window's steps."""
    from inspector.store.event_index import FIRST_STEP_BUDGET, STEP_BUDGET
    from inspector.store.open import direct_reads, follow_capture

    location = str(url.with_capture(name))
    started = time.perf_counter()
    followed = follow_capture(location, background=True)
    direct = direct_reads(followed)
    assert direct is not None
    opened = time.perf_counter() - started
    index = direct.index
    try:
        log(f"  the window on the URL, read directly: store opened and checked in {opened * 1000:.1f} ms")
        for label, text in (
            ("no filter", ""),
            ("indexed (trigger)", 'trigger == "restaurant-approval"'),
            ("JSON path, common value", "data.new.restaurant_id == 7"),
            ("JSON path, one event", f"data.new.id == {events // 2}"),
            ("JSON path, no index (matches none)", "data.new.restaurant_id > 100000"),
        ):
            started = time.perf_counter()
            index.filter = index.compile(text)
            index.start()
            step = index.step(FIRST_STEP_BUDGET, first=True)
            index.append(step.found)
            rows = [index.row(n) for n in range(min(SCREEN, len(index.seqs)))]
            first = time.perf_counter() - started
            steps = 1
            while not step.done:
                step = index.step(STEP_BUDGET)
                index.append(step.found)
                steps += 1
            whole = time.perf_counter() - started
            log(
                f"    first screenful, {label}: {first * 1000:.1f} ms ({len(rows)} rows); all {len(index.seqs):,} "
                f"seqs in {whole:.2f} s, {steps} steps"
            )
    finally:
        index.close()
        direct.reader.close()
        followed.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=None, metavar="N")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--url", help="an existing database (postgresql://USER@HOST:PORT/DB) instead of a throwaway one"
    )
    parser.add_argument(
        "--screens", action="store_true", help="only what a reader sees (the capture copied in once, then screenfuls)"
    )
    args = parser.parse_args()
    events = args.events or (20_000 if args.quick else 200_000)
    log(f"PostgreSQL store benchmark: {events} events; revision {revision()}; load {load_average()}")
    work = Path(tempfile.mkdtemp(prefix="inspector-bench-pg-"))
    server = None
    try:
        if args.url:
            url = StoreUrl.parse(args.url)
        else:
            server = start_server(work)
            with psycopg.connect(server.conninfo(), autocommit=True) as conn:
                conn.execute("CREATE DATABASE bench")
            url = StoreUrl.parse(server.url("bench"))
        path = build_big_capture(work / "big.inspector", events)
        if args.screens:
            mirrored = mirror_ingest(path, url, "mirrored")
            log(f"  store ingest: {events / mirrored:,.0f} events/s ({mirrored:.2f} s)")
        else:
            ingest(work, path, url, events)
        with psycopg.connect(**url.connect_kwargs(), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE events")
        for label, text, goal in (
            ("first screenful, no filter", "", 0.5),
            ("indexed filter (trigger)", 'trigger == "restaurant-approval"', 0.05),
            ("indexed filter (status)", 'status == "pending"', 0.05),
            ("JSON-path filter, common value", "data.new.restaurant_id == 7", 0.5),
            ("JSON-path filter, one event", f"data.new.id == {events // 2}", 0.5),
        ):
            seconds, rows = first_screen(url, "mirrored", text)
            log(f"  {label}: {seconds * 1000:.1f} ms, {rows} rows (goal < {goal * 1000:.0f} ms)")
            if text.startswith("data."):  # before: the typed #>> form, which no index serves
                seconds, rows = first_screen(url, "mirrored", text, PostgresDialect(containment=False))
                log(f"    the same as #>> (no containment): {seconds * 1000:.1f} ms, {rows} rows")
        window_screens(url, "mirrored", events)
        from inspector.store.open import follow_capture

        started = time.perf_counter()
        followed = follow_capture(str(url.with_capture("mirrored")))
        opened = time.perf_counter() - started
        followed.close()
        log(
            f"  the window on the URL: its local copy made in {opened:.2f} s before the first screenful "
            "(store/postgres/follow.py; the list then reads the copy)"
        )
        log(f"  load after: {load_average()}")
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
