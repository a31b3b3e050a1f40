"""Following a store capture from a local capture file: the store's rows copied into a file as they arrive, so
everything that reads capture files (the window's `EventIndex`, `CaptureReader`, the Qt models) follows a capture
another process or machine is writing, as it follows a growing file.

Owns `StoreFollower`: the reverse of `store.FileMirror`. Each round reads, in one REPEATABLE READ snapshot (so the
round sees whole batches of the writer's rounds), the rows that arrived after the last `seq` of each append-only
table, the events that changed since (a new state or attempt; cleaned up), the small rewritten tables (operations,
trigger snapshots) and the capture info, and writes them into the file in one SQLite transaction. The file's readers
see the change through `PRAGMA data_version`, as they see a capture session's writes. Marks and notes are copied in
the first round only: after that they are the window's own (a mark set in a window on a URL stays in its copy).

Used by `store.open.follow_capture` (the window on `postgresql://...?capture=NAME`). When the store can serve the
window directly (`store.postgres.event_index.PostgresEventIndex`, `store.postgres.reader.PostgresCaptureReader`),
the list and the detail read the server and this copy is made in the background (`start()` runs the first round at
once on its thread; `ready` is set when it is done) for what reads a capture file (flows, analysis, replay, export);
marks set in the window reach the copy through `mark()`, written in the next round.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql as pgsql

from inspector.store.capture_file import CaptureFile
from inspector.store.postgres.connection import StoreUrl, connect
from inspector.store.postgres.schema import COLUMNS, check_schema
from inspector.store.postgres.store import APPEND_ONLY, PostgresStore

__all__ = ["StoreFollower"]

FIRST_ONLY = ("marks", "notes")
"""Tables copied in the first round only (afterwards the local copy's own: the window writes marks there)."""
REPLACED = ("operations", "trigger_snapshots")
"""Small tables whose rows change in place (state, cursor, removal): replaced whole whenever the store's changed."""
BATCH = 5000


class _Stopped(Exception):
    """`stop()` was called during a round: the round is rolled back."""


class StoreFollower:
    """Copies the store capture `url.capture` into the capture file `path` (created here), then what it gains, round
    after round. `sync()` is one round (one thread at a time); `start()` runs rounds every `interval` seconds on a
    thread of its own until `stop()`. The first round is run by the constructor's caller (`sync()`), so a window
    opens on the capture as it is now. Errors of a background round are kept in `error`; the next round retries."""

    def __init__(self, url: StoreUrl, path: str | Path, interval: float = 0.5) -> None:
        if not url.capture:
            from inspector.store.postgres.connection import StoreError

            raise StoreError("the store URL names no capture: add ?capture=NAME (`inspector captures URL` lists them)")
        self.url = url
        self.path = Path(path)
        self.interval = interval
        with PostgresStore.open(url) as store:  # the schema checked, the capture looked up (one-line errors)
            self.capture_id = store.capture(url.capture).id
        CaptureFile.create(self.path).close()
        self.last: dict[str, int] = dict.fromkeys(("events", *APPEND_ONLY), 0)
        self.cleaned = 0
        """How many events the store had marked cleaned up at the last round (a change means look again)."""
        self.rounds = 0
        self.copied = 0
        self.error: BaseException | None = None
        self._info: list[tuple[Any, ...]] | None = None
        self._pg: psycopg.Connection[tuple[Any, ...]] | None = None
        self._local: sqlite3.Connection | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.ready = threading.Event()
        """Set when a round has completed: the copy holds the capture as it was then."""
        self._marks: dict[str, bool] = {}
        self._marks_lock = threading.Lock()

    def mark(self, event_id: str, marked: bool) -> None:
        """Mark (or unmark) an event in the copy, at the next round (the window's own marks: never the store's)."""
        with self._marks_lock:
            self._marks[event_id] = marked

    def _write_marks(self, local: sqlite3.Connection) -> int:
        with self._marks_lock:
            marks, self._marks = self._marks, {}
        for event_id, marked in marks.items():
            if marked:
                local.execute(
                    "INSERT OR IGNORE INTO marks (kind, target, created_at) VALUES ('event', ?, ?)",
                    (event_id, time.time()),
                )
            else:
                local.execute("DELETE FROM marks WHERE kind = 'event' AND target = ?", (event_id,))
        return len(marks)

    # --- one round ---------------------------------------------------------------------------------------------------

    def _connections(self) -> tuple[psycopg.Connection[tuple[Any, ...]], sqlite3.Connection]:
        if self._pg is None or self._pg.closed:
            self._pg = connect(self.url)
            check_schema(self._pg, self.url.where())
            self._pg.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        if self._local is None:
            self._local = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._local.execute("PRAGMA busy_timeout=5000")
            self._local.execute("PRAGMA synchronous=NORMAL")
        return self._pg, self._local

    def sync(self) -> int:
        """Copy what the store capture gained since the last round; returns the rows written to the file."""
        pg, local = self._connections()
        first = self.rounds == 0
        written = 0
        with pg.transaction():  # one snapshot of the store for the whole round
            local.execute("BEGIN IMMEDIATE")
            try:
                touched = self._touched(pg)
                old_last = self.last["events"]
                written += self._append(pg, local, "events", self.last)
                written += self._update_events(pg, local, touched, old_last)
                for table in APPEND_ONLY:
                    written += self._append(pg, local, table, self.last)
                for table in REPLACED + (FIRST_ONLY if first else ()):
                    written += self._replace(pg, local, table, first)
                written += self._write_marks(local)
                info = pg.execute(
                    "SELECT key, value FROM capture_info WHERE capture_id = %s ORDER BY ord", (self.capture_id,)
                ).fetchall()
                if info != self._info:  # written only when it changed: the readers' data_version moves only then
                    if first:
                        local.execute("DELETE FROM capture_info")
                    local.executemany("INSERT OR REPLACE INTO capture_info (key, value) VALUES (?, ?)", info)
                    self._info = info
                local.execute("COMMIT")
            except BaseException:
                local.execute("ROLLBACK")
                raise
        self.rounds += 1
        self.copied += written
        self.ready.set()
        return written

    def _touched(self, pg: psycopg.Connection[Any]) -> list[str]:
        """Ids of events this file holds that changed in the store since the last round."""
        ids = {
            r[0]
            for r in pg.execute(
                "SELECT event_id FROM event_states WHERE capture_id = %s AND seq > %s UNION "
                "SELECT event_id FROM invocations WHERE capture_id = %s AND seq > %s",
                (self.capture_id, self.last["event_states"], self.capture_id, self.last["invocations"]),
            )
        }
        row = pg.execute(
            "SELECT count(*) FROM events WHERE capture_id = %s AND cleaned_up_at IS NOT NULL", (self.capture_id,)
        ).fetchone()
        cleaned = int(row[0]) if row else 0
        if cleaned != self.cleaned:
            self.cleaned = cleaned
            ids.update(
                r[0]
                for r in pg.execute(
                    "SELECT id FROM events WHERE capture_id = %s AND cleaned_up_at IS NOT NULL", (self.capture_id,)
                )
            )
        return sorted(ids)

    def _append(self, pg: psycopg.Connection[Any], local: sqlite3.Connection, table: str, last: dict[str, int]) -> int:
        columns = COLUMNS[table]
        select = pgsql.SQL("SELECT {} FROM {} WHERE capture_id = %s AND seq > %s ORDER BY seq").format(
            pgsql.SQL(", ").join(pgsql.Identifier(c) for c in columns), pgsql.Identifier(table)
        )
        insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        written = 0
        # A server-side cursor: the first round of a large capture is read in batches, not held in memory at once.
        with pg.cursor(name=f"follow_{table}") as cursor:
            cursor.itersize = BATCH
            cursor.execute(select, (self.capture_id, last[table]))
            while rows := cursor.fetchmany(BATCH):
                if self._stop.is_set():  # a large first round is abandoned when the window closes the capture
                    raise _Stopped
                local.executemany(insert, rows)
                last[table] = int(rows[-1][0])
                written += len(rows)
        return written

    def _update_events(
        self, pg: psycopg.Connection[Any], local: sqlite3.Connection, touched: Sequence[str], old_last: int
    ) -> int:
        """Events already in the file that changed: their changing columns written over (never the payload)."""
        if not touched:
            return 0
        changing = [c for c in COLUMNS["events"] if c not in ("seq", "id", "payload")]
        select = pgsql.SQL("SELECT seq, {} FROM events WHERE capture_id = %s AND id = ANY(%s) AND seq <= %s").format(
            pgsql.SQL(", ").join(pgsql.Identifier(c) for c in changing)
        )
        update = f"UPDATE events SET {', '.join(f'{c} = ?' for c in changing)} WHERE seq = ?"
        written = 0
        for start in range(0, len(touched), BATCH):
            rows = pg.execute(select, (self.capture_id, list(touched[start : start + BATCH]), old_last)).fetchall()
            local.executemany(update, [(*row[1:], row[0]) for row in rows])
            written += len(rows)
        return written

    def _replace(self, pg: psycopg.Connection[Any], local: sqlite3.Connection, table: str, first: bool) -> int:
        columns = COLUMNS[table]
        order = {"marks": "ord", "operations": "id"}.get(table, "seq")
        rows = pg.execute(
            pgsql.SQL("SELECT {} FROM {} WHERE capture_id = %s ORDER BY {}").format(
                pgsql.SQL(", ").join(pgsql.Identifier(c) for c in columns),
                pgsql.Identifier(table),
                pgsql.Identifier(order),
            ),
            (self.capture_id,),
        ).fetchall()
        names = ", ".join(columns)
        if not first:
            held = local.execute(f"SELECT {names} FROM {table} ORDER BY {'rowid' if order == 'ord' else order}")
            if [tuple(r) for r in held] == [tuple(r) for r in rows]:
                return 0  # unchanged: no write, so the readers' data_version moves only when something did
        local.execute(f"DELETE FROM {table}")
        local.executemany(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})", rows)
        return len(rows)

    # --- rounds on a thread ------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="store follower", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        # The first round at once when none was run yet (the window reading the store directly meanwhile).
        while not self._stop.wait(0 if self.rounds == 0 and self.error is None else self.interval):
            try:
                self.sync()
                self.error = None
            except _Stopped:
                return
            except BaseException as exc:  # a lost connection: kept, and the next round connects again
                self.error = exc
                with contextlib.suppress(Exception):
                    if self._pg is not None:
                        self._pg.close()
                self._pg = None

    def stop(self) -> None:
        """End the rounds and close the connections (the file stays; its owner removes it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._pg is not None:
            with contextlib.suppress(Exception):
                self._pg.close()
            self._pg = None
        if self._local is not None:
            self._local.close()
            self._local = None
