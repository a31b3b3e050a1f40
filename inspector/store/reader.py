"""Typed reads of a capture file for the window's views: an event with its invocations and states, the summaries the
sources tree counts, the subscriptions console's operations and messages, the session log, marks, replayed attempts.

Owns those queries (the views hold no SQL), the derivation of live-query diffs when messages are read
(`message_diffs`, `LiveDiffs`) and the incremental counts of the sources tree (`SourceCounts`). Every read returns
dataclasses, dicts or lists, never a cursor. Used by `qt/detail`, `qt/event_list/sources_tree`, `qt/subscriptions`,
`qt/window` and `qt/dialogs/replay_dialog`, and by `store.capture_file` (exports derive diffs the same way).

A reader wraps one SQLite connection and does not own the file: `CaptureReader.open` makes its own connection (closed
by `close`), `CaptureReader(conn)` reads through one a `CaptureFile` owns. Reads run in autocommit; `snapshot()`
groups several into one read transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspector.store.schema import message_data_sql

StoreError = sqlite3.Error
"""What a read (or write) of a capture raises when SQLite fails: views catch it under this name."""
StoreOperationalError = sqlite3.OperationalError
"""SQLite's operational failures (locked, read-only, interrupted), for callers that tell them apart."""


# --- live-query diffs ------------------------------------------------------------------------------------------------


def _loads_or_none(text: Any) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


class LiveDiffs:
    """Derives live-query diffs over results read in order: the previous result per operation."""

    def __init__(self) -> None:
        # imported here: graphql_ops imports graphql-core, which the command line must not load up front
        from inspector.core.graphql_ops import diff

        self.diff = diff
        self.previous: dict[int, Any] = {}

    def next(self, operation_id: int, data: Any, stored: str | None) -> Any:
        """This result's change from the operation's previous one (its stored diff, parsed, if there is one)."""
        value = _loads_or_none(data)
        if stored is not None:
            changes = _loads_or_none(stored)
        elif operation_id in self.previous:
            changes = self.diff(self.previous[operation_id], value)
        else:
            changes = None
        self.previous[operation_id] = value
        return changes


def message_diffs(conn: sqlite3.Connection, operation_id: int, seqs: Iterable[int]) -> dict[int, Any]:
    """The change from the previous result (`graphql_ops.diff`, parsed; None for an operation's first result) of
    each of these messages of one operation that is a result (`next`/`data`) of a live query; stored or derived (see
    `store.capture_file`'s docstring). Reads the results from the first seq's predecessor to the last seq."""
    wanted = set(seqs)
    if not wanted:
        return {}
    kind = conn.execute("SELECT kind FROM operations WHERE id = ?", (operation_id,)).fetchone()
    if kind is None or kind[0] == "stream":
        return {}
    low, high = min(wanted), max(wanted)
    results = "operation_id = ? AND type IN ('next', 'data')"
    before = conn.execute(
        f"SELECT {message_data_sql()} FROM messages WHERE {results} AND seq < ? ORDER BY seq DESC LIMIT 1",
        (operation_id, low),
    ).fetchone()
    out: dict[int, Any] = {}
    differ = LiveDiffs()
    if before is not None:
        differ.previous[operation_id] = _loads_or_none(before[0])
    for seq, data, stored in conn.execute(
        f"SELECT seq, {message_data_sql()}, diff FROM messages WHERE {results} AND seq BETWEEN ? AND ? ORDER BY seq",
        (operation_id, low, high),
    ):
        changes = differ.next(operation_id, data, stored)
        if seq in wanted:
            out[seq] = changes
    return out


# --- what the reads return -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventDetail:
    """One event as the detail pane shows it: its `events` row, its invocations (in the order they were made) and
    every state it was seen in. Rows are dicts by column name: a file keeps the columns of the Inspector that wrote
    it."""

    event: dict[str, Any]
    invocations: list[dict[str, Any]]
    states: list[dict[str, Any]]


@dataclass(frozen=True)
class Operation:
    """A subscription or query the capture ran."""

    id: int
    name: str | None
    kind: str | None
    """`live` or `stream`."""
    state: str | None
    """running, completed, stopped, or error (GraphQL errors ended it: in its `error` message)."""
    query: str | None = None
    """The text recorded, as it was run."""


@dataclass(frozen=True)
class MessageSummary:
    """One frame received for an operation, as the console lists it."""

    seq: int
    received_at: float
    type: str
    rows: int | None
    """Rows in a stream batch."""
    diff: Any
    """A live query's change from its previous result (a list of changes; None for its first result or a stream)."""


@dataclass(frozen=True)
class MessageDetail:
    """One frame's text and result."""

    seq: int
    raw: str
    data: str | None
    """The result as JSON text, wherever it is stored."""
    operation_id: int | None
    diff: Any


@dataclass(frozen=True)
class LogEntry:
    """One line of the session log (connects, disconnects, errors, reconnects)."""

    seq: int
    at: float
    level: str
    source: str
    message: str


@dataclass(frozen=True)
class LastSeqs:
    """The last seq of the tables that only grow, read together."""

    events: int
    event_states: int
    messages: int


@dataclass(frozen=True)
class TriggerSettings:
    """An event trigger's configuration as the capture's trigger snapshot last recorded it (what `export_metadata`
    gave, header values and webhook query values redacted when written: `core.redaction.redact_trigger_config`)."""

    name: str
    source: str | None
    table_schema: str | None
    table_name: str | None
    config: dict[str, Any]
    """The trigger's metadata: `webhook` or `webhook_from_env`, `retry_conf`, `headers`, `definition`..."""
    captured_at: float | None
    removed_at: float | None = None
    """When the trigger was found deleted from the server (None: it was there at the last look)."""


@dataclass(frozen=True)
class StatusChange:
    """An event's status as recorded by one `event_states` row, with the status recorded before it (None: none)."""

    trigger_name: str | None
    table_name: str | None
    before: str | None
    after: str | None


# --- the reader ------------------------------------------------------------------------------------------------------


class CaptureReader:
    """Typed queries over one connection to a capture file."""

    def __init__(self, conn: sqlite3.Connection, owned: bool = False) -> None:
        self._conn = conn
        self._owned = owned

    @classmethod
    def open(cls, path: str | Path) -> CaptureReader:
        """A reader on its own connection to `path` (usable from another thread than the one that opened it)."""
        return cls(sqlite3.connect(str(path), check_same_thread=False), owned=True)

    @property
    def connection(self) -> sqlite3.Connection:
        """The connection, for the services that read the capture themselves (analysis, flows)."""
        return self._conn

    def close(self) -> None:
        """Close the connection if this reader opened it."""
        if self._owned:
            self._conn.close()

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """One read transaction for the reads inside (a consistent view of a capture being written); nested inside an
        open transaction it adds nothing."""
        own = not self._conn.in_transaction
        if own:
            self._conn.execute("BEGIN")
        try:
            yield
        finally:
            if own:
                self._conn.execute("COMMIT")

    def _dicts(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        cursor = self._conn.execute(sql, tuple(params))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    # --- the file as a whole -------------------------------------------------------------------------------------

    def data_version(self) -> int:
        """Changes when another connection commits (SQLite's `PRAGMA data_version`): cheap polling."""
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def event_count(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM events").fetchone()[0])

    def last_seqs(self) -> LastSeqs:
        events, states, messages = self._conn.execute(
            "SELECT coalesce((SELECT max(seq) FROM events), 0), coalesce((SELECT max(seq) FROM event_states), 0), "
            "coalesce((SELECT max(seq) FROM messages), 0)"
        ).fetchone()
        return LastSeqs(int(events), int(states), int(messages))

    # --- events ----------------------------------------------------------------------------------------------------

    def event_detail(self, event_id: str) -> EventDetail | None:
        """The event, its invocations (undated ones last) and its states; None when the capture has no such event."""
        found = self._dicts("SELECT * FROM events WHERE id = ?", (event_id,))
        if not found:
            return None
        invocations = self._dicts(
            "SELECT * FROM invocations WHERE event_id = ? ORDER BY created_ts IS NULL, created_ts, seq", (event_id,)
        )
        states = self._dicts("SELECT * FROM event_states WHERE event_id = ? ORDER BY seq", (event_id,))
        return EventDetail(found[0], invocations, states)

    def last_replay_attempt(self, event_id: str) -> dict[str, Any] | None:
        """The latest invocation a replay recorded for this event (its `invocations` row), if any."""
        rows = self._dicts(
            "SELECT * FROM invocations WHERE event_id = ? AND source = 'replay' ORDER BY created_ts DESC, seq DESC "
            "LIMIT 1",
            (event_id,),
        )
        return rows[0] if rows else None

    def marked_event_ids(self) -> list[str]:
        """The events marked, in the order they were marked."""
        return [r[0] for r in self._conn.execute("SELECT target FROM marks WHERE kind = 'event' ORDER BY rowid")]

    # --- sources ---------------------------------------------------------------------------------------------------

    def configured_triggers(self) -> list[str]:
        """The names of the event triggers whose configuration the capture recorded, in the order first seen."""
        return [r[0] for r in self._conn.execute("SELECT DISTINCT name FROM trigger_snapshots ORDER BY seq")]

    def trigger_settings(self, name: str) -> TriggerSettings | None:
        """The latest configuration the capture recorded for the event trigger `name` (None: none recorded)."""
        rows = self._dicts(
            "SELECT * FROM trigger_snapshots WHERE name = ? ORDER BY seq DESC LIMIT 1",
            (name,),
        )
        if not rows:
            return None
        row = rows[0]
        config = _loads_or_none(row.get("config"))
        return TriggerSettings(
            name=name,
            source=row.get("source"),
            table_schema=row.get("table_schema"),
            table_name=row.get("table_name"),
            config=config if isinstance(config, dict) else {},
            captured_at=row.get("captured_at"),
            removed_at=row.get("removed_at"),
        )

    def event_counts(self, after: int, upto: int) -> list[tuple[str | None, str | None, str | None, int]]:
        """(trigger, table, status, count) of the events with seqs in (`after`, `upto`]."""
        # NOT INDEXED: a range of the rowid, not a walk of the status index
        return [
            (r[0], r[1], r[2], int(r[3]))
            for r in self._conn.execute(
                "SELECT trigger_name, table_name, status, count(*) FROM events NOT INDEXED WHERE seq > ? "
                "AND seq <= ? GROUP BY 1, 2, 3",
                (after, upto),
            )
        ]

    def status_changes(self, after: int, upto: int, events_upto: int) -> list[StatusChange]:
        """The status changes recorded by `event_states` rows in (`after`, `upto`] of events up to seq `events_upto`,
        in order, each with the status recorded before it."""
        return [
            StatusChange(*row)
            for row in self._conn.execute(
                "SELECT e.trigger_name, e.table_name, (SELECT p.status FROM event_states p "
                "WHERE p.event_id = s.event_id AND p.seq < s.seq ORDER BY p.seq DESC LIMIT 1), s.status "
                "FROM event_states s JOIN events e ON e.id = s.event_id "
                "WHERE s.seq > ? AND s.seq <= ? AND e.seq <= ? ORDER BY s.seq",
                (after, upto, events_upto),
            )
        ]

    # --- subscriptions ---------------------------------------------------------------------------------------------

    def operations(self) -> list[Operation]:
        """The subscriptions and queries the capture ran, in the order started."""
        return [
            Operation(int(r[0]), r[1], r[2], r[3], r[4])
            for r in self._conn.execute("SELECT id, name, kind, state, query FROM operations ORDER BY id")
        ]

    def result_counts(self, after: int, upto: int) -> list[tuple[int | None, int]]:
        """(operation id, results) of the result messages (`next`/`data`) with seqs in (`after`, `upto`]."""
        return [
            (r[0], int(r[1]))
            for r in self._conn.execute(
                "SELECT operation_id, count(*) FROM messages WHERE seq > ? AND seq <= ? "
                "AND type IN ('next', 'data') GROUP BY operation_id",
                (after, upto),
            )
        ]

    def messages(self, operation_id: int, after: int, limit: int) -> list[MessageSummary]:
        """Up to `limit` messages of an operation after seq `after`, in order, with live queries' diffs."""
        rows = self._conn.execute(
            "SELECT seq, received_at, type, rows FROM messages WHERE operation_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (operation_id, after, limit),
        ).fetchall()
        diffs = message_diffs(self._conn, operation_id, (r[0] for r in rows))  # derived when read
        return [MessageSummary(seq, received, kind, count, diffs.get(seq)) for seq, received, kind, count in rows]

    def message(self, seq: int) -> MessageDetail | None:
        """One message with its result and (a live query's) diff."""
        found = self._conn.execute(
            f"SELECT raw, {message_data_sql()}, operation_id FROM messages WHERE seq = ?", (seq,)
        ).fetchone()
        if found is None:
            return None
        raw, data, operation_id = found
        diff = message_diffs(self._conn, operation_id, [seq]).get(seq) if operation_id is not None else None
        return MessageDetail(seq, raw, data, operation_id, diff)

    # --- the session log -------------------------------------------------------------------------------------------

    def session_log(self, after: int, limit: int = 500) -> list[LogEntry]:
        """Up to `limit` lines of the session log after seq `after`, in order."""
        return [
            LogEntry(*row)
            for row in self._conn.execute(
                "SELECT seq, at, level, source, message FROM session_log WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, limit),
            )
        ]


# --- the sources tree's counts ---------------------------------------------------------------------------------------

SLICE = 20_000
"""Events (and messages) counted per `SourceCounts.update` while the counts catch up: about 15 ms of SQLite."""


class SourceCounts:
    """Events by (trigger, table, status) and result messages by operation, for one reader of one capture, kept up
    to date from what was appended since the last `update` (captures only grow: events and messages are inserted with
    increasing seqs, and every change of an event's status comes with an `event_states` row). A capture is counted in
    slices of `SLICE` rows, one per `update`, until the counts have caught up with it: grouping a 1,000,000-event
    capture in full takes about 2 s, and the window refreshes the sources tree at least every second."""

    def __init__(self) -> None:
        self.events: Counter[tuple[str | None, str | None, str | None]] = Counter()
        self.messages: Counter[int | None] = Counter()
        self._reader: CaptureReader | None = None
        self._seq = self._state_seq = self._message_seq = 0
        """The last seq of events, event_states and messages counted."""
        self._hi = self._message_hi = 0
        """The last seq of events and messages in the capture at the last `update`."""

    @property
    def caught_up(self) -> bool:
        """Whether everything the capture held at the last `update` is counted."""
        return self._seq >= self._hi and self._message_seq >= self._message_hi

    def update(self, reader: CaptureReader) -> None:
        """Count what was written since the last update (a slice of it at most); another reader counts afresh."""
        with reader.snapshot():  # one snapshot for all the queries below
            last = reader.last_seqs()
            hi, state_hi, message_hi = last.events, last.event_states, last.messages
            shrunk = hi < self._seq or state_hi < self._state_seq or message_hi < self._message_seq
            if reader is not self._reader or shrunk:
                self._reset(reader, state_hi)
            self._hi, self._message_hi = hi, message_hi
            if not self._count_states(reader, state_hi):
                self._reset(reader, state_hi)
            upper = min(hi, self._seq + SLICE)
            if upper > self._seq:
                for trigger, table, status, n in reader.event_counts(self._seq, upper):
                    self.events[trigger, table, status] += n
                self._seq = upper
            upper = min(message_hi, self._message_seq + SLICE)
            if upper > self._message_seq:
                for op_id, n in reader.result_counts(self._message_seq, upper):
                    self.messages[op_id] += n
                self._message_seq = upper

    def _reset(self, reader: CaptureReader, state_hi: int) -> None:
        """Count from the start. States recorded so far need no replay: the events are counted at their status now."""
        self.events = Counter()
        self.messages = Counter()
        self._reader = reader
        self._seq = self._message_seq = 0
        self._state_seq = state_hi

    def _count_states(self, reader: CaptureReader, state_hi: int) -> bool:
        """Move the events counted before whose status changed since (each new state row, from the state recorded
        before it); False when a change cannot be placed (no earlier state of that event is recorded)."""
        lo, self._state_seq = self._state_seq, state_hi
        if state_hi <= lo or self._seq == 0:
            return True
        for change in reader.status_changes(lo, state_hi, self._seq):
            if change.before == change.after:
                continue
            key_before = (change.trigger_name, change.table_name, change.before)
            if self.events[key_before] <= 0:
                return False
            self.events[key_before] -= 1
            self.events[change.trigger_name, change.table_name, change.after] += 1
        return True
