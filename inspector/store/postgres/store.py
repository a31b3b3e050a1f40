"""Captures in a shared PostgreSQL: the store (a database holding many named captures) and one capture in it.

Owns creating, listing, opening and dropping captures (`PostgresStore`), the reads of one capture
(`PostgresCapture`: its info, counts, rows table by table as the capture file has them, the display filter run on
the server, the events after a `seq` for a reader following a capture being written), and copying between a capture
file and the store (`FileMirror`: a file's rows into the store, once for `inspector push`, or again and again while
`inspector capture --out URL` records; `pull_to_file` the other way). Used by `store.open`, `cli/captures.py`,
`cli/push_pull.py` and the capture command.

How a capture is written: the capture session records into a capture file as always (the writer, the decisions what
is new, redaction, the analysis marks are the file's), and a `FileMirror` copies what the file gained since the last
round into the store, every half second, in one transaction per round (so a reader sees whole batches): new rows of
the append-only tables by `seq` with COPY, events that changed (a new state or attempt, cleaned up) updated in
place, and the few rows that are rewritten (operations, trigger snapshots, marks, notes, capture info) replaced.
Every row keeps its `seq`, so the store holds exactly the file's rows and a pulled capture is the same capture.
Several writers at once write different captures: their rows never share a key, so they never wait for each other.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shutil
import socket
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql as pgsql

from inspector import __version__
from inspector.core.filter import CheckedFilter, Expr
from inspector.store.capture_file import CaptureFile
from inspector.store.filter_sql import POSTGRES, PostgresDialect, compile_filter, search_words, to_psycopg
from inspector.store.postgres.connection import StoreError, StoreUrl, connect
from inspector.store.postgres.schema import COLUMNS, check_schema, ensure_schema

__all__ = [
    "CaptureSummary",
    "FileMirror",
    "MirroredCapture",
    "PostgresCapture",
    "PostgresStore",
    "checked_out",
    "create_mirrored",
    "pull_to_file",
    "push_file",
]

CAPTURE_LOCK = 0x1E5C
"""The first key of the advisory lock a capture's writer holds (the second is the capture's id); the two-key space
is apart from the schema's one-key lock."""


def capture_lock(capture_id: int) -> tuple[int, int]:
    """The advisory lock (two int4 keys) held by whoever writes the capture: a recording's mirror, a replay."""
    return CAPTURE_LOCK, capture_id % 2**31


APPEND_ONLY = ("event_states", "invocations", "messages", "session_log")
"""Tables whose rows never change once written: copied by `seq`."""
REWRITTEN = ("operations", "trigger_snapshots", "marks", "notes")
"""Small tables whose rows change (state, removal, marks set and cleared): replaced whole each round."""


@dataclass(frozen=True)
class CaptureSummary:
    """One line of `inspector captures`: a capture in the store."""

    name: str
    backend: str
    started: float | None
    ended: float | None
    events: int
    invocations: int
    messages: int
    recorded_by: str
    client: str | None
    inspector_version: str | None
    created_at: float


class PostgresStore:
    """One database of captures, through one connection (not shared between threads)."""

    def __init__(self, url: StoreUrl, conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        self.url = url
        self.conn = conn

    @classmethod
    def open(cls, url: StoreUrl | str, write: bool = False) -> PostgresStore:
        """Connect; a writer creates or migrates the schema, a reader checks it (`StoreError` with one line)."""
        parsed = url if isinstance(url, StoreUrl) else StoreUrl.parse(url)
        conn = connect(parsed)
        try:
            if write:
                ensure_schema(conn, parsed.where(), f"inspector {__version__}")
            else:
                check_schema(conn, parsed.where())
        except StoreError:
            conn.close()
            raise
        except psycopg.Error as exc:
            conn.close()
            raise StoreError(f"cannot use {parsed.where()}: {str(exc).strip()}") from None
        return cls(parsed, conn)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- captures --------------------------------------------------------------------------------------------------

    def names(self) -> list[str]:
        with self.conn.transaction():
            return [r[0] for r in self.conn.execute("SELECT name FROM captures ORDER BY created_at, id")]

    def captures(self) -> list[CaptureSummary]:
        """Every capture with its counts, oldest first."""
        query = """
            SELECT c.name, c.created_at, c.recorded_by, c.client, c.inspector_version,
              (SELECT value FROM capture_info i WHERE i.capture_id = c.id AND key = 'started_at'),
              (SELECT value FROM capture_info i WHERE i.capture_id = c.id AND key = 'ended_at'),
              (SELECT count(*) FROM events e WHERE e.capture_id = c.id),
              (SELECT count(*) FROM invocations v WHERE v.capture_id = c.id),
              (SELECT count(*) FROM messages m WHERE m.capture_id = c.id)
            FROM captures c ORDER BY c.created_at, c.id"""
        out = []
        with self.conn.transaction():
            for name, created, by, client, version, started, ended, events, invocations, messages in self.conn.execute(
                query
            ):
                out.append(
                    CaptureSummary(
                        name,
                        "postgresql",
                        _number(started),
                        _number(ended),
                        int(events),
                        int(invocations),
                        int(messages),
                        by,
                        client,
                        version,
                        float(created),
                    )
                )
        return out

    def create(self, name: str, overwrite: bool = False) -> PostgresCapture:
        """A new, empty capture called `name`; `StoreError` if one exists (unless `overwrite`: it is dropped)."""
        with self.conn.transaction():
            found = self.conn.execute("SELECT id FROM captures WHERE name = %s FOR UPDATE", (name,)).fetchone()
            if found is not None:
                if not overwrite:
                    raise StoreError(
                        f"a capture named {name!r} exists in {self.url.where()}: choose another name, or allow "
                        "replacing it (--force)"
                    )
                self.conn.execute("DELETE FROM captures WHERE id = %s", (found[0],))
            try:
                row = self.conn.execute(
                    "INSERT INTO captures (name, created_at, client, inspector_version) VALUES (%s, %s, %s, %s) "
                    "RETURNING id",
                    (name, time.time(), _client(), __version__),
                ).fetchone()
            except psycopg.errors.UniqueViolation:
                raise StoreError(f"a capture named {name!r} exists in {self.url.where()}") from None
        assert row is not None
        return PostgresCapture(self, int(row[0]), name)

    def capture(self, name: str) -> PostgresCapture:
        """The capture called `name`; `StoreError` naming the ones there are when it is not there."""
        with self.conn.transaction():
            row = self.conn.execute("SELECT id FROM captures WHERE name = %s", (name,)).fetchone()
        if row is None:
            known = self.names()
            listed = ", ".join(known[:10]) + (" ..." if len(known) > 10 else "") if known else "none"
            raise StoreError(f"no capture named {name!r} in {self.url.where()} (captures: {listed})")
        return PostgresCapture(self, int(row[0]), name)

    def drop(self, name: str) -> bool:
        with self.conn.transaction():
            return self.conn.execute("DELETE FROM captures WHERE name = %s", (name,)).rowcount > 0

    def drop_older_than(self, seconds: float, now: float | None = None) -> list[str]:
        """Drop every capture created more than `seconds` ago; their names."""
        cutoff = (time.time() if now is None else now) - seconds
        with self.conn.transaction():
            return [
                r[0]
                for r in self.conn.execute(
                    "DELETE FROM captures WHERE created_at < %s RETURNING name", (cutoff,)
                ).fetchall()
            ]


def _number(text: Any) -> float | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _client() -> str:
    """Who recorded a capture, beyond the database role: the OS user and machine."""
    try:
        user = getpass.getuser()
    except Exception:
        user = "?"
    return f"{user}@{socket.gethostname()}"


class PostgresCapture:
    """One capture of a store: reads, and the filter run on the server."""

    def __init__(self, store: PostgresStore, capture_id: int, name: str) -> None:
        self.store = store
        self.id = capture_id
        self.name = name

    @property
    def conn(self) -> psycopg.Connection[tuple[Any, ...]]:
        return self.store.conn

    def info(self) -> dict[str, Any]:
        with self.conn.transaction():
            rows = self.conn.execute(
                "SELECT key, value FROM capture_info WHERE capture_id = %s ORDER BY ord", (self.id,)
            ).fetchall()
        return {k: json.loads(v) for k, v in rows}

    def count(self, table: str) -> int:
        if table not in COLUMNS:
            raise ValueError(f"unknown table {table}")
        with self.conn.transaction():
            row = self.conn.execute(
                pgsql.SQL("SELECT count(*) FROM {} WHERE capture_id = %s").format(pgsql.Identifier(table)), (self.id,)
            ).fetchone()
        return int(row[0]) if row else 0

    def iter_table(self, table: str, batch: int = 2000) -> Iterator[dict[str, Any]]:
        """Every row of a table as the capture file holds it (its columns, in its order; `seq` order, `id` for
        operations, insertion order for marks), read in pages. Stored values: `messages.data`/`diff` as stored."""
        columns = COLUMNS[table]
        key = {"marks": "ord", "operations": "id", "capture_info": "ord"}.get(table, "seq")
        select = pgsql.SQL(", ").join(pgsql.Identifier(c) for c in columns)
        query = pgsql.SQL("SELECT {}, {} FROM {} WHERE capture_id = %s AND {} > %s ORDER BY {} LIMIT %s").format(
            pgsql.Identifier(key) if key == "ord" else pgsql.SQL("NULL"),
            select,
            pgsql.Identifier(table),
            pgsql.Identifier(key),
            pgsql.Identifier(key),
        )
        last: Any = -1
        while True:
            with self.conn.transaction():
                page = self.conn.execute(query, (self.id, last, batch)).fetchall()
            if not page:
                return
            for row in page:
                yield dict(zip(columns, row[1:], strict=True))
            last = page[-1][0] if key == "ord" else page[-1][1 + columns.index(key)]

    def select(
        self,
        source: str | Expr | CheckedFilter,
        *,
        after_seq: int = 0,
        limit: int = 1000,
        now: float | None = None,
        dialect: PostgresDialect = POSTGRES,
    ) -> list[tuple[int, str]]:
        """`(seq, id)` of the events after `after_seq` that match a display filter, in `seq` order, compiled to
        PostgreSQL and run on the server (the event list's query)."""
        compiled = compile_filter(source, now=now, dialect=dialect)
        query = (
            "SELECT e.seq, e.id FROM events e WHERE e.capture_id = %s AND e.seq > %s AND "
            f"({to_psycopg(compiled.where)}) ORDER BY e.seq LIMIT %s"
        )
        params = [_without_nul(p) for p in compiled.params]
        with self.conn.transaction():
            return [(int(s), str(i)) for s, i in self.conn.execute(query, (self.id, after_seq, *params, limit))]

    def events_after(self, seq: int, limit: int = 1000) -> list[dict[str, Any]]:
        """The events written after `seq` (a reader following a capture another process writes polls this)."""
        columns = COLUMNS["events"]
        query = pgsql.SQL("SELECT {} FROM events WHERE capture_id = %s AND seq > %s ORDER BY seq LIMIT %s").format(
            pgsql.SQL(", ").join(pgsql.Identifier(c) for c in columns)
        )
        with self.conn.transaction():
            return [dict(zip(columns, row, strict=True)) for row in self.conn.execute(query, (self.id, seq, limit))]


def _without_nul(value: Any) -> Any:
    """A filter's value as PostgreSQL can take it: its text holds no U+0000, so neither does any value stored; the
    character becomes U+FFFF (a noncharacter, never in captured text), which keeps `==`, `contains`, `!=` answers."""
    if isinstance(value, str):
        return value.replace("\x00", "\uffff")
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


# --- copying between a file and the store --------------------------------------------------------------------------


def _doc(payload: Any) -> str | None:
    """The payload as PostgreSQL's jsonb will take it, or None: jsonb refuses NaN and Infinity (Python's JSON
    writes them) and the character U+0000; such a payload stays text only (payload paths do not see it)."""
    if not isinstance(payload, str):
        return None
    if "NaN" in payload or "Infinity" in payload or "\\u0000" in payload:
        try:
            json.loads(payload, parse_constant=_refuse)
        except ValueError:
            return None
        if "\\u0000" in payload:
            return None
    return payload


def _refuse(name: str) -> Any:
    raise ValueError(name)


class FileMirror:
    """Copies a capture file into a store capture, then whatever the file gained since, round after round.

    `sync()` is one round (callable from any one thread at a time); `start()` runs rounds every `interval` seconds on
    a thread of its own until `stop()`, which runs a last round. Opens its own connections (SQLite read-only, one to
    PostgreSQL)."""

    def __init__(self, path: str | Path, url: StoreUrl, capture_id: int, interval: float = 0.5) -> None:
        self.path = Path(path)
        self.url = url
        self.capture_id = capture_id
        self.interval = interval
        self.last: dict[str, int] = dict.fromkeys(("events", *APPEND_ONLY), 0)
        self.rounds = 0
        self.copied = 0
        """Rows written to the store so far."""
        self._pg: psycopg.Connection[tuple[Any, ...]] | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.error: BaseException | None = None

    def _connection(self) -> psycopg.Connection[tuple[Any, ...]]:
        if self._pg is None or self._pg.closed:
            self._pg = connect(self.url)
            # The capture's writer lock, held as long as this connection: a replay on the URL waits for no one and
            # refuses while the capture is being written (`checked_out`), so their rows never collide by `seq`.
            self._pg.execute("SELECT pg_advisory_lock(%s, %s)", capture_lock(self.capture_id))
            self._pg.commit()
        return self._pg

    def sync(self) -> int:
        """Copy what the file gained since the last round, in one transaction; returns the rows written."""
        source = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            source.execute("BEGIN")  # one snapshot of the file for the whole round
            pg = self._connection()
            written = 0
            with pg.transaction():
                touched = self._touched_events(source)
                written += self._copy_events(source, pg, touched)
                for table in APPEND_ONLY:
                    written += self._copy_appended(source, pg, table)
                for table in REWRITTEN:
                    written += self._replace(source, pg, table)
                info = source.execute("SELECT key, value FROM capture_info ORDER BY rowid").fetchall()
                with pg.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO capture_info (capture_id, key, value) VALUES (%s, %s, %s) "
                        "ON CONFLICT (capture_id, key) DO UPDATE SET value = excluded.value",
                        [(self.capture_id, k, v) for k, v in info],
                    )
            source.execute("ROLLBACK")
        finally:
            source.close()
        self.rounds += 1
        self.copied += written
        return written

    def _touched_events(self, source: sqlite3.Connection) -> list[str]:
        """Ids of events already copied that changed since: a new state or attempt, or cleaned up since."""
        ids: set[str] = set()
        last_event = self.last["events"]
        for table, column in (("event_states", "event_id"), ("invocations", "event_id")):
            ids.update(
                r[0]
                for r in source.execute(f"SELECT DISTINCT {column} FROM {table} WHERE seq > ?", (self.last[table],))
            )
        ids.update(r[0] for r in source.execute("SELECT id FROM events WHERE cleaned_up_at IS NOT NULL"))
        if not ids:
            return []
        known = []
        chunk: list[str] = []
        for event_id in ids:
            chunk.append(event_id)
            if len(chunk) == 500:
                known += self._old_ids(source, chunk, last_event)
                chunk = []
        if chunk:
            known += self._old_ids(source, chunk, last_event)
        return known

    @staticmethod
    def _old_ids(source: sqlite3.Connection, ids: list[str], last_event: int) -> list[str]:
        marks = ",".join("?" * len(ids))
        return [
            r[0]
            for r in source.execute(f"SELECT id FROM events WHERE id IN ({marks}) AND seq <= ?", (*ids, last_event))
        ]

    def _columns(self, source: sqlite3.Connection, table: str) -> tuple[str, ...]:
        present = {r[1] for r in source.execute(f"PRAGMA table_info({table})")}
        return tuple(c for c in COLUMNS[table] if c in present)

    def _copy_events(self, source: sqlite3.Connection, pg: psycopg.Connection[Any], touched: list[str]) -> int:
        columns = self._columns(source, "events")
        payload_at = columns.index("payload")
        names = ", ".join(columns)
        written = 0
        copy_sql = f"COPY events (capture_id, {names}, doc, words) FROM STDIN"
        while True:
            rows = source.execute(
                f"SELECT {names} FROM events WHERE seq > ? ORDER BY seq LIMIT 5000", (self.last["events"],)
            ).fetchall()
            if not rows:
                break
            with pg.cursor() as cur, cur.copy(copy_sql) as copy:
                for row in rows:
                    payload = row[payload_at]
                    copy.write_row((self.capture_id, *row, _doc(payload), search_words(payload)))
            self.last["events"] = int(rows[-1][0])
            written += len(rows)
        if touched:
            changing = [c for c in columns if c not in ("seq", "id", "payload")]
            temp = f"COPY inspector_changed_events (id, {', '.join(changing)}) FROM STDIN"
            pg.execute(  # the columns of events without their constraints (only the changing ones are filled)
                "CREATE TEMP TABLE IF NOT EXISTS inspector_changed_events ON COMMIT DELETE ROWS AS "
                "SELECT * FROM events WITH NO DATA"
            )
            for start in range(0, len(touched), 500):
                chunk = touched[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = source.execute(
                    f"SELECT id, {', '.join(changing)} FROM events WHERE id IN ({marks})", chunk
                ).fetchall()
                with pg.cursor() as cur, cur.copy(temp) as copy:
                    for row in rows:
                        copy.write_row(row)
            sets = ", ".join(f"{c} = t.{c}" for c in changing)
            pg.execute(
                f"UPDATE events e SET {sets} FROM inspector_changed_events t WHERE e.capture_id = %s AND e.id = t.id",
                (self.capture_id,),
            )
            pg.execute("TRUNCATE inspector_changed_events")
            written += len(touched)
        return written

    def _copy_appended(self, source: sqlite3.Connection, pg: psycopg.Connection[Any], table: str) -> int:
        columns = self._columns(source, table)
        names = ", ".join(columns)
        written = 0
        while True:
            rows = source.execute(
                f"SELECT {names} FROM {table} WHERE seq > ? ORDER BY seq LIMIT 10000", (self.last[table],)
            ).fetchall()
            if not rows:
                return written
            with pg.cursor() as cur, cur.copy(f"COPY {table} (capture_id, {names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row((self.capture_id, *row))
            self.last[table] = int(rows[-1][0])
            written += len(rows)

    def _replace(self, source: sqlite3.Connection, pg: psycopg.Connection[Any], table: str) -> int:
        columns = self._columns(source, table)
        names = ", ".join(columns)
        order = "rowid" if table == "marks" else "id" if table == "operations" else "seq"
        rows = source.execute(f"SELECT {names} FROM {table} ORDER BY {order}").fetchall()
        pg.execute(f"DELETE FROM {table} WHERE capture_id = %s", (self.capture_id,))
        if rows:
            with pg.cursor() as cur, cur.copy(f"COPY {table} (capture_id, {names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row((self.capture_id, *row))
        return len(rows)

    # --- rounds on a thread ----------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="store mirror", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sync()
            except BaseException as exc:  # kept for `stop`, which raises it; the next round tries again
                self.error = exc
                with contextlib.suppress(Exception):
                    if self._pg is not None:
                        self._pg.close()
                self._pg = None

    def stop(self) -> None:
        """End the rounds, run a last one (everything the file holds is then in the store) and close."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            self.sync()
        finally:
            if self._pg is not None:
                self._pg.close()
                self._pg = None


def push_file(path: str | Path, url: StoreUrl, overwrite: bool = False) -> int:
    """Copy a whole capture file into the store as the capture `url.capture` (`StoreError` if it exists and not
    `overwrite`); returns the rows copied."""
    if not url.capture:
        raise StoreError("the store URL names no capture: add ?capture=NAME")
    CaptureFile.open(path).close()  # a capture this Inspector reads, brought up to date (columns added since)
    with PostgresStore.open(url, write=True) as store:
        capture = store.create(url.capture, overwrite=overwrite)
        mirror = FileMirror(path, url, capture.id)
        try:
            mirror.sync()
        except BaseException:
            with contextlib.suppress(Exception):
                store.drop(url.capture)
            raise
        finally:
            if mirror._pg is not None:
                mirror._pg.close()
    return mirror.copied


@contextlib.contextmanager
def checked_out(url: StoreUrl) -> Iterator[Path]:
    """The store capture `url.capture` as a capture file to add to (`inspector replay URL`): pulled into a temporary
    file while this Inspector holds the capture's writer lock, and what was added to the file (attempts, run notes,
    variants) written back into the store when the block ends, also when it ends by an exception (attempts made are
    evidence). `StoreError` when another Inspector writes the capture now (it is being recorded or replayed)."""
    if not url.capture:
        raise StoreError("the store URL names no capture: add ?capture=NAME (`inspector captures URL` lists them)")
    directory = Path(tempfile.mkdtemp(prefix="inspector-checked-out-"))
    store = PostgresStore.open(url, write=True)
    try:
        capture = store.capture(url.capture)
        locked = store.conn.execute("SELECT pg_try_advisory_lock(%s, %s)", capture_lock(capture.id)).fetchone()
        store.conn.commit()
        if not locked or not locked[0]:
            raise StoreError(
                f"the capture {url.capture!r} is being written by another Inspector (recorded or replayed) now: "
                "try again when it has ended"
            )
        path = directory / "capture.inspector"
        pull_to_file(url, path)
        mirror = FileMirror(path, url, capture.id)
        mirror._pg = store.conn  # the connection holding the lock (a second one would wait for it)
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as pulled:
            for table in mirror.last:
                mirror.last[table] = int(pulled.execute(f"SELECT coalesce(max(seq), 0) FROM {table}").fetchone()[0])
        try:
            yield path
        finally:
            mirror.sync()
    finally:
        store.close()  # ends the session: the lock goes with it
        shutil.rmtree(directory, ignore_errors=True)


def pull_to_file(url: StoreUrl, path: str | Path, overwrite: bool = False) -> int:
    """Write the store capture `url.capture` as a capture file at `path` (built next to it and renamed when
    complete); returns the rows copied."""
    if not url.capture:
        raise StoreError("the store URL names no capture: add ?capture=NAME")
    target = Path(path)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; choose another file or allow overwriting")
    temporary = target.with_name(f".{target.name}.pull")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{temporary}{suffix}").unlink(missing_ok=True)
    copied = 0
    with PostgresStore.open(url) as store:
        capture = store.capture(url.capture)
        local = CaptureFile.create(temporary)
        try:
            conn = local.conn
            with conn:
                conn.execute("DELETE FROM capture_info")
                for table, columns in COLUMNS.items():
                    copied += _insert_all(conn, table, columns, capture.iter_table(table, batch=5000))
            conn.execute("PRAGMA journal_mode=DELETE")
            local.close()
        except BaseException:
            local.close()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{temporary}{suffix}").unlink(missing_ok=True)
            raise
    for suffix in ("-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    os.replace(temporary, target)
    return copied


def _insert_all(conn: sqlite3.Connection, table: str, columns: Sequence[str], rows: Iterator[dict[str, Any]]) -> int:
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    n = 0
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(tuple(row[c] for c in columns))
        if len(batch) >= 5000:
            conn.executemany(sql, batch)
            n += len(batch)
            batch = []
    if batch:
        conn.executemany(sql, batch)
        n += len(batch)
    return n


class MirroredCapture(CaptureFile):
    """A capture being recorded into a store: a capture file in a temporary directory, copied into the store every
    half second by a `FileMirror`; `close` writes what is left, runs the last round and removes the file."""

    mirror: FileMirror
    directory: Path

    def close(self) -> None:
        try:
            super().close()
            self.mirror.stop()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


def create_mirrored(url: StoreUrl, overwrite: bool = False, interval: float = 0.5) -> MirroredCapture:
    """A new capture `url.capture` in the store (`StoreError` if the name is taken and not `overwrite`), recorded
    through a local capture file that a `FileMirror` copies into it as it grows."""
    if not url.capture:
        raise StoreError("the store URL names no capture: add ?capture=NAME")
    with PostgresStore.open(url, write=True) as store:
        target = store.create(url.capture, overwrite=overwrite)
    directory = Path(tempfile.mkdtemp(prefix="inspector-recording-"))
    try:
        capture = MirroredCapture.create(directory / "capture.inspector")
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    assert isinstance(capture, MirroredCapture)
    capture.directory = directory
    capture.mirror = FileMirror(capture.path, url, target.id, interval=interval)
    capture.mirror.start()
    return capture
