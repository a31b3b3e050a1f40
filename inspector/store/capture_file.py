"""The capture file: one SQLite file, written through sqlite-utils, that holds everything a capture recorded.

Owns opening and creating a capture (the schema itself, its version and migrations are `store.schema`'s), the batched
writer, copies and exports. Used by the capture session (writes), `inspector export`/`import`, replay and the window;
the window's views read through `store.reader` and `store.event_index`.

Schema, version 1 (times as Hasura gave them are kept as text; `*_ts` columns are epoch seconds for sorting and
filtering; `captured_at`/`received_at` are this machine's clock):

- `capture_info(key PRIMARY KEY, value)`: JSON values: `schema_version`, `inspector_version`, `endpoint` (never with
  credentials), `server_version`, `started_at`, `ended_at`, `subprotocol`, `triggers_followed`.
- `trigger_snapshots(seq, captured_at, source, table_schema, table_name, name, config)`: the event-trigger
  configuration as `export_metadata` gave it, with header values and webhook URL credentials redacted
  (`inspector.core.redaction`: secrets stay out of capture files).
- `events(seq, id UNIQUE, trigger_name, schema_name, table_name, op, created_at, created_ts, payload, status,
  delivered, error, tries, locked, next_retry_at, archived, attempts, first_attempt_ts, delivered_ts,
  last_http_status, row_key, trace_id, session_role, captured_at, updated_at, variant_of, successes, flags)`: one
  row per Hasura event id; `payload` is the `event` object as received (JSON text, keys in the order received);
  `status` is derived (pending, retrying, in-flight, delivered, failed, archived); `variant_of` links an edited copy
  to its original; `successes` counts 2xx invocations (more than one is a duplicate delivery); `flags` holds what
  analysis found (e.g. `out-of-order`), NULL until it runs.
- `event_states(seq, event_id, observed_at, status, delivered, error, tries, locked, next_retry_at, archived)`: every
  state an event was seen in, in the order seen.
- `invocations(seq, id UNIQUE, event_id, trigger_name, attempt, http_status, status, request, response, created_at,
  created_ts, duration_ms, source, captured_at)`: one row per delivery attempt; `status` is the stored status
  (legacy 1000/1001 kept), `http_status` the HTTP code or NULL; `attempt` counts from 1 per event; `source` is
  `hasura` (captured) or `replay`. Header values in `request` and `response` are redacted except those on
  `redaction.CLEAR_HEADERS` (content-type, user-agent, trace ids...), and so are URL credentials in the exception
  texts of `response`.
- `operations(id, name, query, variables, kind, protocol, started_at, ended_at, state, cursor)`: subscriptions and
  queries run by the capture; `kind` is `live` or `stream`; `cursor` the last stream cursor (JSON).
- `messages(seq, operation_id, received_at, type, raw, data, diff, rows)`: every frame received for an operation,
  raw as received; `data` the result, `diff` the change from the previous live-query result, `rows` the number of
  rows in a stream batch. Since 2026-11-26 (same format version; readers handle both) `data` is NULL when it is an
  object that is `payload.data` of `raw` (every result of a recorded operation whose `data` is an object): it is
  not stored twice, and `message_data_sql()` reads it (the stored text, else `json_extract` of `raw`: the same JSON
  value, its text as the server sent it). Files written before hold `data` re-encoded in every row; both read the
  same through that expression. Likewise `diff` is NULL at ingest for the results of live queries (any operation
  whose `kind` is not `stream`) and derived when read, by `message_diffs` (the window) and `iter_table` (exports):
  `graphql_ops.diff` between the operation's previous `next`/`data` result and this one; NULL for its first. Files
  written before hold it stored; a stored `diff` is always used as is.
- `session_log(seq, at, level, source, message)`: connects, disconnects, errors, reconnects.
- `marks(kind, target, created_at)`, `notes(seq, kind, target, created_at, text)`.
- Full-text search: `events_fts` over `events.payload`, `invocations_fts` over `invocations.response`.

WAL mode with `synchronous=NORMAL`; the writer commits in batches, so a reader (the window, `inspector export`) can open
the file while a capture writes it, and a crash loses at most the last uncommitted batches. `CaptureWriter` commits
its batches on one writer thread with its own connection (the capture's event loop only appends rows); `flush()`
returns when everything recorded so far is committed. `CaptureFile.close()` ends that thread too: the last connection
to close folds the WAL into the file, so a finished capture is a single file.
"""

from __future__ import annotations

import itertools
import json
import math
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlite_utils

from inspector import __version__
from inspector.core.events import EventRecord, InvocationRecord
from inspector.core.redaction import redact_logged_request, redact_logged_response, redact_trigger_config
from inspector.store.filter_sql import register_functions
from inspector.store.reader import CaptureReader, LiveDiffs, message_diffs
from inspector.store.schema import (
    DDL,
    MESSAGE_COLUMNS_SQL,
    SCHEMA_VERSION,
    CaptureFormatError,
    check_format,
    initialise,
    message_data_sql,
)

_DDL = DDL
"""The schema's SQL under its former name (benchmarks re-create the indexes with it)."""

__all__ = [
    "MESSAGE_COLUMNS_SQL",
    "SCHEMA_VERSION",
    "CaptureFile",
    "CaptureFormatError",
    "CaptureWriter",
    "copy_events",
    "dumps",
    "insert_rows",
    "message_data_sql",
    "message_diffs",
    "save_copy",
    "update_delivery_figures",
]

_EVENT_COLUMNS = (
    "id",
    "trigger_name",
    "schema_name",
    "table_name",
    "op",
    "created_at",
    "created_ts",
    "payload",
    "status",
    "delivered",
    "error",
    "tries",
    "locked",
    "next_retry_at",
    "archived",
    "row_key",
    "trace_id",
    "session_role",
    "captured_at",
    "updated_at",
)


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dumps(value: Any) -> str:
    """JSON as stored in a capture: compact, keys in their original order, non-ASCII kept."""
    return _ENCODER.encode(value)  # what json.dumps(value, ensure_ascii=False, separators=...) gives, minus its setup


def _parsed_json_encoder() -> Callable[[Any], str]:
    """`dumps` for values parsed from JSON (so neither circular nor of other types): the C encoder called directly,
    without the check for circular references and `JSONEncoder.encode`'s layers (a fifth less per payload)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # an interpreter without the C accelerator
        return json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode
    encode = make(None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", False, False, True)
    return lambda value: "".join(encode(value, 0))


dumps_parsed = _parsed_json_encoder()
"""`dumps` of a value parsed from JSON (an event's payload, an invocation's request and response): the same text,
faster."""


class CaptureFile:
    """One open capture file."""

    def __init__(self, path: str | Path, db: sqlite_utils.Database) -> None:
        self.path = Path(path)
        self.db = db
        self.conn: sqlite3.Connection = db.conn
        self.writers: list[CaptureWriter] = []
        """Writers of this file, flushed and stopped by `close`."""

    # --- opening ---------------------------------------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | Path, overwrite: bool = False) -> CaptureFile:
        """A new, empty capture at `path` (refused if a file is there, unless `overwrite`)."""
        path = Path(path)
        if path.exists():
            if not overwrite:
                raise FileExistsError(f"{path} exists; choose another file or allow overwriting")
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        capture = cls(path, _connect(path, new=True))
        capture._initialise()
        capture.set_info(schema_version=SCHEMA_VERSION, inspector_version=__version__, created_at=time.time())
        return capture

    @classmethod
    def open(cls, path: str | Path) -> CaptureFile:
        """Open an existing capture for reading and appending; `CaptureFormatError` if it is not one."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no capture file at {path}")
        check_format(path)
        try:
            db = _connect(path)
        except sqlite3.DatabaseError as exc:
            raise CaptureFormatError(f"{path} is not a capture file or is damaged: {exc}") from exc
        capture = cls(path, db)
        try:
            capture._initialise()  # adds what older files lack; a no-op on current ones
        except sqlite3.DatabaseError as exc:
            raise CaptureFormatError(f"{path} is damaged: {exc}") from exc
        return capture

    def _initialise(self) -> None:
        initialise(self.db)

    def reader(self) -> CaptureReader:
        """Typed reads over this file's connection (the window's dialogs use it; the connection stays this file's)."""
        return CaptureReader(self.conn)

    def close(self) -> None:
        for writer in self.writers:
            writer.close()
        self.conn.close()

    # --- capture_info ----------------------------------------------------------------------------------------------

    def set_info(self, **values: Any) -> None:
        with self.conn:
            self.conn.executemany(
                "INSERT INTO capture_info (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [(k, dumps(v)) for k, v in values.items()],
            )

    def info(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self.conn.execute("SELECT key, value FROM capture_info")}

    # --- reads -----------------------------------------------------------------------------------------------------

    def count(self, table: str) -> int:
        if table not in ("events", "invocations", "messages", "operations", "event_states", "session_log"):
            raise ValueError(f"unknown table {table}")
        return int(self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        cursor = self.conn.execute(sql, tuple(params))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    def event(self, event_id: str) -> dict[str, Any] | None:
        found = self.rows("SELECT * FROM events WHERE id = ?", (event_id,))
        return found[0] if found else None

    def invocations_of(self, event_id: str) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM invocations WHERE event_id = ? ORDER BY created_ts, seq", (event_id,))

    def iter_table(self, table: str, batch: int = 1000) -> Iterator[dict[str, Any]]:
        """Every row of a table in `seq` (or id; for `marks`, insertion) order, read in pages so memory stays flat."""
        if table == "marks":  # no seq column: page by rowid, which is not part of the row
            last_rowid = -1
            while True:
                page = self.rows(
                    "SELECT rowid AS _rowid, * FROM marks WHERE rowid > ? ORDER BY rowid LIMIT ?", (last_rowid, batch)
                )
                if not page:
                    return
                last_rowid = page[-1]["_rowid"]
                for row in page:
                    del row["_rowid"]
                yield from page
        key = "id" if table == "operations" else "seq"
        columns = MESSAGE_COLUMNS_SQL if table == "messages" else "*"
        live: set[int] = set()
        differ = LiveDiffs()
        if table == "messages":  # their diffs are derived (see the module docstring)
            live = {r[0] for r in self.conn.execute("SELECT id FROM operations WHERE kind IS NOT 'stream'")}
        last: Any = -1
        while True:
            page = self.rows(f"SELECT {columns} FROM {table} WHERE {key} > ? ORDER BY {key} LIMIT ?", (last, batch))
            if not page:
                return
            if live:
                for row in page:
                    if row["operation_id"] in live and row["type"] in ("next", "data"):
                        changes = differ.next(row["operation_id"], row["data"], row["diff"])
                        if row["diff"] is None and changes is not None:
                            row["diff"] = dumps(changes)
            yield from page
            last = page[-1][key]

    def trigger_snapshot(self) -> list[dict[str, Any]]:
        """The latest configuration captured for each trigger."""
        return self.rows(
            "SELECT * FROM trigger_snapshots WHERE seq IN "
            "(SELECT max(seq) FROM trigger_snapshots GROUP BY source, name) ORDER BY seq"
        )


PAGE_SIZE = 16384
"""Bytes of a page of a new capture file (SQLite's default is 4,096; a file keeps the size it was created with). The
event list walks an index for a filter such as `trigger == x` (a quarter of a million entries of a million-event
capture): with pages four times larger the first walk in a process touches a quarter of the pages, ~10 ms less of
~35; later walks and the writes (capture, relay recording, appending to a million-event file) measured no slower.
See BENCHMARKS.md."""


def _connect(path: Path, new: bool = False) -> sqlite_utils.Database:
    conn = sqlite3.connect(str(path), check_same_thread=False)
    if new:
        conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # before the file's first write, which fixes it
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return sqlite_utils.Database(conn)


class CaptureWriter:
    """Batches what a capture session observes and writes it in one transaction per batch.

    Decides what is new: an event id seen for the first time becomes an `events` row, a changed state an
    `event_states` row, an invocation id seen for the first time an `invocations` row; repeats are dropped, so a
    follower may report the same thing many times (after a reconnect, overlapping pages) and nothing is recorded twice.
    Keeps in memory only the state of events that are not final, so memory does not grow with the capture.
    """

    def __init__(
        self, capture: CaptureFile, batch_size: int = 4000, queued_batches: int = 8, event_batch_size: int = 10_000
    ) -> None:
        self.capture = capture
        self.conn = capture.conn
        self.batch_size = batch_size
        """Subscription messages per batch."""
        self.event_batch_size = event_batch_size
        """Rows of the event log (new events, their states, state changes, invocations) per batch: a new event is two
        (its row and its first state), so 10,000 are about 5,000 events, half a second at 10,000 events/s. Larger
        transactions cost less per row: each commit rewrites every index page it touched, and the indexes on ids
        (random) touch a page per row."""
        self._events: list[tuple[Any, ...]] = []
        """New events, as rows of `EVENT_COLUMNS`."""
        self._event_updates: list[dict[str, Any]] = []
        self._states: list[tuple[Any, ...]] = []
        self._invocations: list[dict[str, Any]] = []
        self._messages: list[tuple[Any, ...]] = []
        self._log: list[tuple[Any, ...]] = []
        self._known_states: dict[str, tuple[Any, ...]] = {}
        """The last state of every event this writer recorded or looked up since its last trim (see `KNOWN_LIMIT`):
        a follower re-reads the newest seconds of the log at every poll, and each repeat is answered from here, not
        by waiting for the writer thread and asking the file."""
        self._known_invocations: set[str] = set()
        """Invocation ids recorded since the last trim, likewise."""
        held = capture.conn.execute("SELECT 1 FROM events LIMIT 1").fetchone()
        self._stored_newest = math.inf if held else -math.inf
        """The newest `created_ts` of an event the file may hold that `_known_states` does not (see `_may_be_stored`):
        none while the file holds only what this writer recorded and remembers; +inf when the file held events
        before (every unknown event is then looked up)."""
        held = capture.conn.execute("SELECT 1 FROM invocations LIMIT 1").fetchone()
        self._stored_newest_invocation = math.inf if held else -math.inf
        """Likewise for invocations and `_known_invocations`."""
        self._attempts: dict[str, int] = {}
        self._touched: set[str] = set()
        self._in_flight: dict[str, int] = {}
        """Events with invocations in batches handed to the writer thread and not yet committed: how many batches.
        Their attempts are counted from the file only once those are committed (see `observe_invocation`)."""
        self._in_flight_lock = threading.Lock()
        self.recorded = 0
        """Items recorded since start: new events, state changes, new invocations, messages."""
        # Batches handed to the writer thread; bounded, so a writer slower than the stream holds the recorder back
        # (`put` blocks) instead of letting memory grow.
        self._queue: queue.Queue[_Batch | None] = queue.Queue(maxsize=queued_batches)
        self.queued_rows = queued_batches * batch_size
        """Rows handed to the writer thread and not yet committed, at most (a flush waits for room beyond): the
        event log's larger batches are held to the memory the message batches always had."""
        self._queued = 0
        self._room = threading.Condition()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        capture.writers.append(self)

    @property
    def pending(self) -> int:
        return (
            len(self._events)
            + len(self._event_updates)
            + len(self._states)
            + len(self._invocations)
            + len(self._messages)
            + len(self._log)
        )

    # --- events ----------------------------------------------------------------------------------------------------

    def observe_event(self, record: EventRecord, now: float | None = None) -> str:
        """Record an event as seen now: returns `new`, `changed` or `same`."""
        known = self._known_states.get(record.id)
        if known is None and self._may_be_stored(record):
            known = self._stored_states([record.id]).get(record.id)
        return self._observe(record, known, time.time() if now is None else now)

    def observe_events(self, records: Sequence[EventRecord], now: float | None = None) -> list[str]:
        """`observe_event` for each record, in order (one answer of the event log): the file is asked about those
        not known in memory in one query, not one per event."""
        now = time.time() if now is None else now
        known_states = self._known_states
        may_be_stored = self._may_be_stored
        stored = self._stored_states([r.id for r in records if r.id not in known_states and may_be_stored(r)])
        outcomes = []
        for record in records:
            known = known_states.get(record.id)
            outcomes.append(self._observe(record, stored.get(record.id) if known is None else known, now))
        return outcomes

    def _may_be_stored(self, record: EventRecord) -> bool:
        """Whether the file may hold this event though `_known_states` does not: not when the file held no events
        when this writer began and the event is newer than every event forgotten since (see `_trim`). A capture
        into a new file then asks the file about nothing until its first trim, and afterwards only about events as
        old as the ones it forgot (a late commit, a re-read of the margin), not about each new one."""
        created = record.created_seconds
        return created is None or created <= self._stored_newest

    def _stored_states(self, ids: list[str]) -> dict[str, tuple[Any, ...]]:
        """The states the file holds for these events, also kept in `_known_states`. Asked only about events not
        recorded since the last trim, so not in a batch the writer thread still holds (a trim waits for them): what
        the file has committed is the whole answer, and the recorder need not wait for the writer."""
        found: dict[str, tuple[Any, ...]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            if len(chunk) == 1:
                sql = "SELECT id, delivered, error, tries, locked, next_retry_at, archived FROM events WHERE id = ?"
            else:
                sql = (
                    "SELECT id, delivered, error, tries, locked, next_retry_at, archived FROM events "
                    f"WHERE id IN ({','.join('?' * len(chunk))})"
                )
            for row in self.conn.execute(sql, chunk):
                found[row[0]] = (bool(row[1]), bool(row[2]), row[3], row[4], row[5], bool(row[6]))
        self._known_states.update(found)
        return found

    def _observe(self, record: EventRecord, known: tuple[Any, ...] | None, now: float) -> str:
        """Record `record` given the last state recorded for it (None: never)."""
        state = record.state
        if known == state:
            return "same"
        status = record.status
        fields = (
            status,
            int(record.delivered),
            int(record.error),
            record.tries,
            record.locked,
            record.next_retry_at,
            int(record.archived),
        )
        if known is None:
            self._events.append(
                (
                    record.id,
                    record.trigger_name,
                    record.schema_name,
                    record.table_name,
                    record.op,
                    record.created_at,
                    record.created_seconds,  # the true instant, in the server's time zone
                    dumps_parsed(record.payload),
                    record.row_key,
                    record.trace_id,
                    record.session_role,
                    now,
                    now,
                    *fields,
                )
            )
            outcome = "new"
        else:
            update = dict(zip(STATE_COLUMNS, fields, strict=True))
            self._event_updates.append({"id": record.id, "updated_at": now, **update})
            outcome = "changed"
        self._states.append((record.id, now, *fields))
        self._known_states[record.id] = state
        # (A state change leaves the delivery figures as they are: they come from invocations. A new event's are
        # recomputed only if the file already holds invocations of it: see `_write`.)
        self.recorded += 1
        self._maybe_flush()
        return outcome

    def known_invocations(self, ids: Iterable[str]) -> set[str]:
        """Which of these invocation ids are already recorded (or waiting to be)."""
        ids = list(ids)
        known = {i for i in ids if i in self._known_invocations}
        if self._stored_newest_invocation == -math.inf:
            return known  # the file held none before this writer, which has forgotten none since
        rest = [i for i in ids if i not in known]
        # (The rest are not in a batch the writer thread holds: see `_known_states`.)
        for start in range(0, len(rest), 500):
            chunk = rest[start : start + 500]
            marks = ",".join("?" * len(chunk))
            known.update(r[0] for r in self.conn.execute(f"SELECT id FROM invocations WHERE id IN ({marks})", chunk))
        return known

    def observe_invocation(
        self,
        record: InvocationRecord,
        source: str = "hasura",
        duration_ms: float | None = None,
        now: float | None = None,
    ) -> bool:
        """Record an invocation unless already recorded; returns whether it was new."""
        if record.id in self._known_invocations:
            return False
        created = record.created_seconds
        if (created is None or created <= self._stored_newest_invocation) and self.known_invocations([record.id]):
            return False  # (asked only when the file may hold it: see `_may_be_stored`)
        now = time.time() if now is None else now
        attempt = self._attempts.get(record.event_id)
        if attempt is None:
            # Counted from the file (other writers, e.g. a replay, add attempts too), once this writer's own
            # invocations of the event are committed: waiting for the writer thread only when it still holds some,
            # not at every first invocation after a flush (which stalled the recording on the writer's backlog).
            with self._in_flight_lock:
                held_back = record.event_id in self._in_flight
            if held_back:
                self._wait()
            attempt = int(
                self.conn.execute("SELECT count(*) FROM invocations WHERE event_id = ?", (record.event_id,)).fetchone()[
                    0
                ]
            )
        attempt += 1
        self._attempts[record.event_id] = attempt
        self._invocations.append(
            {
                "id": record.id,
                "event_id": record.event_id,
                "trigger_name": record.trigger_name,
                "attempt": attempt,
                "http_status": record.http_status,
                "status": record.status,
                "request": None if record.request is None else dumps_parsed(redact_logged_request(record.request)),
                "response": None if record.response is None else dumps_parsed(redact_logged_response(record.response)),
                "created_at": record.created_at,
                "created_ts": record.created_seconds,  # the true instant, in the server's time zone
                "duration_ms": duration_ms,
                "source": source,
                "captured_at": now,
            }
        )
        self._known_invocations.add(record.id)
        self._touched.add(record.event_id)
        self.recorded += 1
        self._maybe_flush()
        return True

    def snapshot_triggers(self, triggers: Iterable[tuple[str, Mapping[str, str], Mapping[str, Any]]]) -> None:
        """Store the trigger configuration (source, table, config) as seen now."""
        now = time.time()
        with self.conn:
            self.conn.executemany(
                "INSERT INTO trigger_snapshots (captured_at, source, table_schema, table_name, name, config) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        now,
                        source,
                        table.get("schema", "public"),
                        table.get("name"),
                        config.get("name"),
                        dumps(redact_trigger_config(config)),
                    )
                    for source, table, config in triggers
                ],
            )

    # --- subscriptions ---------------------------------------------------------------------------------------------

    def add_operation(
        self, name: str | None, query: str, variables: Mapping[str, Any] | None, kind: str, protocol: str | None
    ) -> int:
        with self.conn:
            cursor = self.conn.execute(
                "INSERT INTO operations (name, query, variables, kind, protocol, started_at, state) "
                "VALUES (?, ?, ?, ?, ?, ?, 'running')",
                (name, query, None if variables is None else dumps(variables), kind, protocol, time.time()),
            )
        return int(cursor.lastrowid or 0)

    def update_operation(self, operation_id: int, **fields: Any) -> None:
        allowed = {"state", "cursor", "ended_at", "protocol"}
        sets = {k: (dumps(v) if k == "cursor" else v) for k, v in fields.items() if k in allowed}
        if sets:
            self.flush()
            with self.conn:
                self.conn.execute(
                    f"UPDATE operations SET {', '.join(f'{k} = ?' for k in sets)} WHERE id = ?",
                    (*sets.values(), operation_id),
                )

    def add_message(
        self,
        operation_id: int | None,
        received_at: float,
        kind: str,
        raw: str,
        data: Any = None,
        diff: Any = None,
        rows: int | None = None,
    ) -> None:
        """Record one frame. `data` is the result, `payload.data` of `raw` parsed (an object result is read back from
        `raw`, see the module docstring); `diff` is stored only when given (live-query diffs are derived when read)."""
        if data is None or (
            type(data) is dict
            and operation_id is not None
            and kind in ("next", "data")
            and "NaN" not in raw
            and "Infinity" not in raw
        ):
            # An object result is `payload.data` of `raw`: not stored twice; `message_data_sql` reads it from `raw`.
            # (Python's parser takes NaN and Infinity, SQLite's does not: such results are stored as before.)
            data_text = None
        else:
            data_text = dumps(data)
        messages = self._messages
        if data_text is None and diff is None:  # the common case: see MESSAGE_VALUES
            messages.append((operation_id or 0, received_at, kind, raw, -1 if rows is None else rows))
        else:
            messages.append(
                (operation_id, received_at, kind, raw, data_text, None if diff is None else dumps(diff), rows)
            )
        self.recorded += 1
        if len(messages) >= self.batch_size:  # (not `pending`: this is the hot path; other rows flush at their add)
            self.flush(wait=False)

    def log(self, level: str, source: str, message: str) -> None:
        self._log.append((time.time(), level, source, message))

    # --- flushing --------------------------------------------------------------------------------------------------

    def _maybe_flush(self) -> None:
        if self.pending >= self.event_batch_size:
            self.flush(wait=False)

    def flush(self, wait: bool = True) -> None:
        """Hand everything pending to the writer thread, to be written in one transaction. With `wait` (the
        default), return when everything recorded so far is committed; without, return at once (the periodic flush
        of a running capture), unless the writer thread is `queued_batches` or `queued_rows` behind: then wait for
        room."""
        if self.pending:
            batch = _Batch(
                self._events,
                self._event_updates,
                self._states,
                self._invocations,
                self._messages,
                self._log,
                list(self._touched),
                self.pending,
            )
            self._events = []
            self._event_updates = []
            self._states = []
            self._invocations = []
            self._messages = []
            self._log = []
            self._attempts.clear()  # (other writers, e.g. a replay, may add attempts: counted from the file)
            self._touched.clear()
            if batch.touched:
                with self._in_flight_lock:
                    for event_id in batch.touched:
                        self._in_flight[event_id] = self._in_flight.get(event_id, 0) + 1
            with self._room:  # (`_queued` > 0: batches in the queue, so a writer thread is there to make room)
                while self._queued and self._queued + batch.rows > self.queued_rows:
                    self._room.wait()
                self._queued += batch.rows
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="capture writer", daemon=True)
                    self._thread.start()
                self._queue.put(batch)
            if len(self._known_states) + len(self._known_invocations) > KNOWN_LIMIT:
                self._trim()
        if wait:
            self._wait()
        self._raise_error()

    def _trim(self) -> None:
        """Forget what `_known_states` and `_known_invocations` hold beyond events that can still change, once the
        writer thread has committed it all (so memory stays flat and what is forgotten is in the file)."""
        self._wait()
        for table, attribute in (("events", "_stored_newest"), ("invocations", "_stored_newest_invocation")):
            if getattr(self, attribute) != math.inf:  # what is forgotten now is in the file, no newer than its newest
                newest = self.conn.execute(f"SELECT max(created_ts) FROM {table}").fetchone()[0]
                # (what has no time is always looked up; a table with nothing timed leaves it as it was)
                setattr(self, attribute, max(getattr(self, attribute), -math.inf if newest is None else float(newest)))
        still_open = {k: v for k, v in self._known_states.items() if not (v[0] or v[1] or v[5])}
        self._known_states = still_open if len(still_open) < KNOWN_LIMIT // 2 else {}
        self._known_invocations = set()

    def _wait(self) -> None:
        """Return when every batch handed to the writer thread is committed (or failed)."""
        self._queue.join()

    def _raise_error(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise error

    def close(self) -> None:
        """Write what is pending and end the writer thread, closing its connection: the last connection to a capture
        to close folds the WAL into the file and removes it, so the file alone holds everything (to be copied or
        shared). The thread also ends by itself after a second idle; a later flush starts a new one."""
        if self.pending:
            self.flush(wait=False)
        with self._lock:
            thread = self._thread
            if thread is not None:
                self._queue.put(None)  # after the batches queued: the thread ends when they are written
        if thread is not None:
            thread.join()
        self._raise_error()

    def _run(self) -> None:
        """The writer thread: commits each batch in one transaction on its own connection; ends after a second idle
        (a later flush starts a new one)."""
        db: sqlite_utils.Database | None = None
        failed: BaseException | None = None
        try:
            db = _connect(self.capture.path)
            db.conn.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
        except BaseException as exc:  # every batch fails (and is marked done: `flush` must not wait forever)
            failed = exc
        try:
            while True:
                try:
                    batch = self._queue.get(timeout=1.0)
                except queue.Empty:
                    with self._lock:
                        if self._queue.empty():
                            self._thread = None
                            return
                    continue
                if batch is None:  # `close`
                    with self._lock:
                        self._thread = None
                    self._queue.task_done()
                    return
                try:
                    if db is None:
                        raise failed or RuntimeError("no connection")
                    self._write(db, batch)
                except BaseException as exc:  # reported to the recording side at its next flush
                    self._error = exc
                finally:
                    with self._room:
                        self._queued -= batch.rows
                        self._room.notify_all()
                    if batch.touched:
                        with self._in_flight_lock:
                            for event_id in batch.touched:
                                left = self._in_flight.pop(event_id, 1) - 1
                                if left:
                                    self._in_flight[event_id] = left
                    self._queue.task_done()
        finally:
            if db is not None:
                db.conn.close()

    def _write(self, db: sqlite_utils.Database, batch: _Batch) -> None:
        conn = db.conn
        # The write lock first: a transaction that read before its first write (sqlite-utils' `insert_all` asks for
        # the table's columns) fails at once with "database is locked" when another connection holds that lock (the
        # window writing a mark, this capture's own connection adding an operation), where one that begins with it
        # waits the connection's timeout like any writer.
        conn.execute("BEGIN IMMEDIATE")
        with conn:
            if batch.events:
                # Multi-row statements rather than sqlite-utils' `insert_all` (which builds each row's SQL in
                # Python): see `insert_rows`.
                insert_rows(conn, EVENT_INSERT, batch.events, verb="INSERT OR IGNORE")
            for update in batch.event_updates:
                sets = ", ".join(f"{k} = :{k}" for k in update if k != "id")
                conn.execute(f"UPDATE events SET {sets} WHERE id = :id", update)
            if batch.states:
                insert_rows(
                    conn,
                    "event_states (event_id, observed_at, status, delivered, error, tries, locked, next_retry_at, "
                    "archived)",
                    batch.states,
                )
            if batch.invocations:
                db.table("invocations").insert_all(batch.invocations, batch_size=len(batch.invocations), ignore=True)
            if batch.messages:
                insert_rows(conn, MESSAGE_COLUMNS, batch.messages, MESSAGE_VALUES)
            if batch.log:
                insert_rows(conn, "session_log (at, level, source, message)", batch.log)
            touched = batch.touched
            if batch.events:
                # A new event's delivery figures are the columns' defaults unless the file already holds invocations
                # of it (recorded before it, e.g. by an earlier capture into the same file): only those are computed.
                touched = list({*touched, *_with_invocations(conn, [row[0] for row in batch.events])})
            if touched:
                update_delivery_figures(conn, touched)


EVENT_COLUMNS = (
    "id",
    "trigger_name",
    "schema_name",
    "table_name",
    "op",
    "created_at",
    "created_ts",
    "payload",
    "row_key",
    "trace_id",
    "session_role",
    "captured_at",
    "updated_at",
    "status",
    "delivered",
    "error",
    "tries",
    "locked",
    "next_retry_at",
    "archived",
)
"""The columns of a new event's row, in the order `CaptureWriter.observe_event` queues them."""
EVENT_INSERT = f"events ({', '.join(EVENT_COLUMNS)})"
STATE_COLUMNS = ("status", "delivered", "error", "tries", "locked", "next_retry_at", "archived")
"""An event's state as `events` and `event_states` store it (after `event_states`' event_id and observed_at)."""


def _with_invocations(conn: sqlite3.Connection, event_ids: list[str]) -> list[str]:
    """Which of these events the file holds invocations of."""
    found: list[str] = []
    for start in range(0, len(event_ids), 500):
        chunk = event_ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        found.extend(
            r[0] for r in conn.execute(f"SELECT DISTINCT event_id FROM invocations WHERE event_id IN ({marks})", chunk)
        )
    return found


WRITER_CACHE_KIB = 16 * 1024
"""The writer thread's page cache (SQLite's default is 2 MiB). Every new event adds a row at a random place of the
indexes on ids (`events.id`, row keys, trace ids, `event_states_event`); with a cache smaller than those indexes
each such insert reads its page back from the file first. 16 MiB hold them for some 250,000 events and cut the
writer's time per event by about a fifth at 150,000 (measured: 53 -> 40 µs; 32 and 64 MiB did no better there).
The cache fills as pages are written, so a long capture holds up to that much more memory (bounded)."""

KNOWN_LIMIT = 200_000
"""Event states and invocation ids a writer keeps in memory (about 40 MB at most): a follower's re-reads of the
newest seconds of a log at 10,000 events/s stay within it."""

MAX_ROWS_PER_STATEMENT = 1000
"""Rows one multi-row INSERT carries at most (7 columns: 7,000 parameters; SQLite's limit is 32,766 since 3.32, and
a smaller limit of an older SQLite is obeyed)."""
MESSAGE_COLUMNS = "messages (operation_id, received_at, type, raw, data, diff, rows)"
MESSAGE_VALUES = {
    5: "(nullif(?, 0), ?, ?, ?, NULL, NULL, nullif(?, -1))",
    7: "(?, ?, ?, ?, ?, ?, ?)",
}
"""A `messages` row as `CaptureWriter` queues it, by its width: the common case (no stored data or diff) as
`(operation_id or 0, received_at, type, raw, rows or -1)`: binding None costs Python's sqlite3 more than binding a
300-byte string (it looks for an adapter); or all seven columns."""


def insert_rows(
    conn: sqlite3.Connection,
    into: str,
    rows: Sequence[tuple[Any, ...]],
    values: Mapping[int, str] | None = None,
    verb: str = "INSERT",
) -> None:
    """Insert `rows` into `into` (`table (columns)`), in order, with a few multi-row `INSERT ... VALUES (...), (...)`.
    `values` gives the SQL of one row by the width of its tuple (default: a `?` per value), so rows of a few shapes
    can be queued together.

    For writer threads, rather than `executemany`: that releases the GIL around each row's step, and while another
    thread is busy in Python each re-acquisition waits for the switch interval (5 ms by default), so a batch of 1,000
    rows could take seconds (measured: 400 µs a row against a busy thread). One statement per 1,000 rows releases it
    once for the whole of SQLite's work, which then runs beside the busy thread; what holds the GIL is binding the
    parameters. The statements come in a few sizes (the largest and powers of two below it), so SQLite's statement
    cache keeps them all."""
    variables = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    start = 0
    while start < len(rows):
        width = len(rows[start])
        row_sql = values[width] if values is not None else "(" + ", ".join("?" * width) + ")"
        most = max(1, min(MAX_ROWS_PER_STATEMENT, variables // width))
        end = start + 1
        while end < len(rows) and end - start < most and len(rows[end]) == width:
            end += 1
        count = end - start
        size = count if count == most else 1 << (count.bit_length() - 1)
        conn.execute(
            f"{verb} INTO {into} VALUES " + ",".join([row_sql] * size),
            list(itertools.chain.from_iterable(rows[start : start + size])),
        )
        start += size


class _Batch:
    """What one flush hands to the writer thread."""

    __slots__ = ("event_updates", "events", "invocations", "log", "messages", "rows", "states", "touched")

    def __init__(
        self,
        events: list[tuple[Any, ...]],
        event_updates: list[dict[str, Any]],
        states: list[tuple[Any, ...]],
        invocations: list[dict[str, Any]],
        messages: list[tuple[Any, ...]],
        log: list[tuple[Any, ...]],
        touched: list[str],
        rows: int,
    ) -> None:
        self.rows = rows
        """Rows in all (`CaptureWriter.pending` when it was made)."""
        self.events = events
        self.event_updates = event_updates
        self.states = states
        self.invocations = invocations
        self.messages = messages
        self.log = log
        self.touched = touched


def update_delivery_figures(conn: sqlite3.Connection, event_ids: list[str]) -> None:
    """Recompute the delivery figures of these events (attempts, successes, first attempt, delivered, last status)
    from their captured invocations."""
    for start in range(0, len(event_ids), 500):
        chunk = event_ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        # Only what the backend did counts here: replays (source 'replay') never make an event look retried or
        # delivered twice.
        captured = "FROM invocations i WHERE i.event_id = events.id AND i.source = 'hasura'"
        conn.execute(
            "UPDATE events SET "
            f"attempts = (SELECT count(*) {captured}), "
            f"successes = (SELECT count(*) {captured} AND i.http_status BETWEEN 200 AND 299), "
            f"first_attempt_ts = (SELECT min(created_ts) {captured}), "
            f"delivered_ts = (SELECT min(created_ts) {captured} AND i.http_status BETWEEN 200 AND 299), "
            f"last_http_status = (SELECT http_status {captured} ORDER BY created_ts DESC, seq DESC LIMIT 1) "
            f"WHERE id IN ({marks})",
            chunk,
        )


def copy_events(
    source: str | Path,
    destination: str | Path,
    where: str = "1",
    params: Iterable[Any] = (),
    overwrite: bool = False,
    on_connection: Callable[[sqlite3.Connection], None] | None = None,
) -> int:
    """Write a new capture holding the events of `source` that match `where` (an SQL predicate over `events e`,
    e.g. a compiled display filter), with their invocations and states, the trigger configuration and the capture
    info. Returns how many events were copied. The destination appears only when complete.

    Used by "export displayed / marked events" and `inspector export --filter`. A caller in another thread can cancel
    a long copy with `interrupt()` on the connection given to `on_connection`; the partial file is then removed.
    """
    destination = Path(destination)
    if destination.exists() and not overwrite:
        raise FileExistsError(f"{destination} exists; choose another file or allow overwriting")
    temporary = destination.with_name(f".{destination.name}.partial")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{temporary}{suffix}").unlink(missing_ok=True)
    CaptureFile.create(temporary).close()  # the schema, empty
    # Run from the source's side, with the new file attached: the filter's SQL (subqueries on invocations, the
    # full-text index) then reads the source's tables, as it does in the window.
    conn = sqlite3.connect(str(source), check_same_thread=False)
    try:
        register_functions(conn)
        if on_connection is not None:
            on_connection(conn)
        conn.execute("ATTACH DATABASE ? AS target", (str(temporary),))
        with conn:
            conn.execute("CREATE TEMP TABLE chosen AS SELECT e.id FROM main.events e WHERE " + where, tuple(params))
            for table, key in (("events", "id"), ("invocations", "event_id"), ("event_states", "event_id")):
                cols = ", ".join(c[1] for c in conn.execute(f"PRAGMA main.table_info({table})") if c[1] != "seq")
                conn.execute(
                    f"INSERT INTO target.{table} ({cols}) SELECT {cols} FROM main.{table} "
                    f"WHERE {key} IN (SELECT id FROM temp.chosen) ORDER BY seq"
                )
            conn.execute(
                "INSERT INTO target.trigger_snapshots (captured_at, source, table_schema, table_name, name, config) "
                "SELECT captured_at, source, table_schema, table_name, name, config FROM main.trigger_snapshots "
                "ORDER BY seq"
            )
            conn.execute(
                "INSERT OR REPLACE INTO target.capture_info (key, value) SELECT key, value "
                "FROM main.capture_info WHERE key NOT IN ('schema_version', 'created_at')"
            )
            conn.execute(
                "INSERT INTO target.marks (kind, target, created_at) SELECT kind, target, created_at "
                "FROM main.marks WHERE kind = 'event' AND target IN (SELECT id FROM temp.chosen)"
            )
            copied = int(conn.execute("SELECT count(*) FROM temp.chosen").fetchone()[0])
        conn.execute("DETACH DATABASE target")
    except BaseException:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{temporary}{suffix}").unlink(missing_ok=True)
        raise
    conn.close()
    finished = sqlite3.connect(str(temporary))
    finished.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finished.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{temporary}{suffix}").unlink(missing_ok=True)
    temporary.replace(destination)
    return copied


def save_copy(source: CaptureFile | str | Path, destination: str | Path) -> None:
    """Save a consistent copy of a capture (even one being written) with SQLite's backup API."""
    destination = Path(destination)
    temporary = destination.with_name(f".{destination.name}.partial")
    temporary.unlink(missing_ok=True)
    src = source.conn if isinstance(source, CaptureFile) else sqlite3.connect(str(source))
    try:
        dst = sqlite3.connect(str(temporary))
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    finally:
        if not isinstance(source, CaptureFile):
            src.close()
    temporary.replace(destination)
