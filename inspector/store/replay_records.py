"""What replay reads from and writes to a capture file: the selection, recorded answers, variants, attempts, runs.

Owns the SQL of replay, so the replay service (`inspector.services.replay`) stays free of it:

- `read_replay_source`: everything a replay plan needs, read in one call (the events to replay, by display filter or
  ids; the last answer Hasura recorded for each; the trigger snapshot; the captured server's version), as typed
  records. Its parts (`selected_event_rows`, `recorded_invocations`, `trigger_snapshot`) serve the replay dialog too;
- `create_variant`: an edited copy of an event as a new `events` row with `variant_of` pointing at the original
  (the root original when a variant is edited again). The captured event is never changed; a variant starts
  `pending`, with no attempts, and keeps its original's `created_at` so orderings place it where the original was;
- `ReplayRecorder`: each replay attempt as an `invocations` row with `source = 'replay'`, its `duration_ms`, Hasura's
  request and response shapes (`server/src-lib/Hasura/RQL/Types/Eventing.hs` in hasura/graphql-engine) and
  `event_id` = the replayed event (a variant's own id for a variant), next to the captured attempts. Rows are
  written in batches, one transaction each, so a cancelled or killed replay leaves whole rows only. The captured
  event's own figures (`attempts`, `successes`, `last_http_status`...) stay what Hasura did: replay attempts are not
  deliveries by the backend;
- one `notes` row per run (`kind = 'replay-run'`, `target` = the run id) holding its plan and report as JSON.

No schema change: variants, `source` and `duration_ms` were in the capture format from the start.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from inspector.core.events import EventRecord, timestamp_seconds
from inspector.core.redaction import redact_logged_request
from inspector.store.capture_file import CaptureFile, dumps, insert_rows
from inspector.store.filter_sql import compile_filter, register_functions

RUN_NOTE_KIND = "replay-run"

_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
"""A random hex digit → the digit with the RFC 4122 variant bits set, as in a version-4 uuid's fourth group."""


def selected_event_rows(
    capture: CaptureFile,
    where: str | None = None,
    params: Sequence[Any] = (),
    event_ids: Sequence[str] = (),
    needs_regexp: bool = False,
) -> tuple[list[dict[str, Any]], list[str]]:
    """The events to replay and the requested ids that are not in the capture.

    With `event_ids`: exactly those (variants included). Otherwise the captured events (not variants) matching
    `where`, an SQL predicate over `events e` (a compiled display filter), or all of them; in capture order.
    """
    if event_ids:
        rows: list[dict[str, Any]] = []
        for start in range(0, len(event_ids), 500):
            chunk = list(event_ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows.extend(capture.rows(f"SELECT * FROM events WHERE id IN ({marks})", chunk))
        found = {r["id"] for r in rows}
        missing = [i for i in dict.fromkeys(event_ids) if i not in found]
        return sorted(rows, key=lambda r: r["seq"]), missing
    if needs_regexp:
        register_functions(capture.conn)
    sql = f"SELECT e.* FROM events e WHERE ({where or '1'}) AND e.variant_of IS NULL ORDER BY e.seq"
    return capture.rows(sql, params), []


def recorded_invocations(capture: CaptureFile, event_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """For each event, the last invocation Hasura made (captured, not replayed), if any."""
    out: dict[str, dict[str, Any]] = {}
    ids = list(dict.fromkeys(event_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for row in capture.rows(
            f"SELECT * FROM invocations WHERE event_id IN ({marks}) AND source = 'hasura' ORDER BY created_ts, seq",
            chunk,
        ):
            out[row["event_id"]] = row
    return out


class TriggerSnapshot(NamedTuple):
    """One trigger's latest captured configuration (header values redacted, as the capture keeps them)."""

    source: str | None
    table_schema: str | None
    table_name: str | None
    config: dict[str, Any]


def trigger_snapshot(capture: CaptureFile) -> list[TriggerSnapshot]:
    """The latest captured configuration of each trigger: (source, table schema, table name, config)."""
    out = []
    for row in capture.trigger_snapshot():
        try:
            config = json.loads(row["config"] or "{}")
        except ValueError:
            continue
        if isinstance(config, dict):
            out.append(TriggerSnapshot(row["source"], row["table_schema"], row["table_name"], config))
    return out


@dataclass(frozen=True)
class ReplayableEvent:
    """An `events` row as replay needs it."""

    id: str
    trigger_name: str
    schema_name: str
    table_name: str
    payload_text: str | None
    """The `event` object as stored: compact JSON text, keys in the order received."""
    created_at: str
    created_ts: float | None
    seq: int
    variant_of: str | None

    @property
    def original(self) -> str:
        """The captured event this one stands for: itself, or the original of a variant."""
        return self.variant_of or self.id


@dataclass(frozen=True)
class ReplaySource:
    """Everything a replay plan is built from, read from a capture in one call (`read_replay_source`)."""

    name: str
    """The capture file's name."""
    server_version: str | None
    """The captured Hasura's version (its webhooks' `User-Agent`)."""
    events: tuple[ReplayableEvent, ...]
    """The selected events, in capture order."""
    missing: tuple[str, ...]
    """Requested event ids the capture does not hold."""
    recorded: Mapping[str, Mapping[str, Any]]
    """Original event id → the last `invocations` row Hasura made for it (only when asked for)."""
    triggers: tuple[TriggerSnapshot, ...]


def read_replay_source(
    capture: CaptureFile,
    filter_text: str | None = None,
    event_ids: Sequence[str] = (),
    with_recorded: bool = False,
) -> ReplaySource:
    """The events to replay (`event_ids`, variants included; else the captured events matching the display filter
    `filter_text`; else all of them), with what Hasura recorded for them when `with_recorded`, the trigger snapshot
    and the server version. `FilterError` for a filter that does not parse."""
    where: str | None = None
    params: Sequence[Any] = ()
    regexp = False
    if filter_text and not event_ids:
        compiled = compile_filter(filter_text)
        where, params, regexp = compiled.where, compiled.params, compiled.needs_regexp
    rows, missing = selected_event_rows(capture, where, params, event_ids, regexp)
    events = tuple(
        ReplayableEvent(
            id=row["id"],
            trigger_name=row["trigger_name"] or "",
            schema_name=row["schema_name"] or "public",
            table_name=row["table_name"] or "",
            payload_text=row["payload"],
            created_at=row["created_at"] or "",
            created_ts=row["created_ts"],
            seq=row["seq"],
            variant_of=row["variant_of"],
        )
        for row in rows
    )
    recorded = recorded_invocations(capture, [e.original for e in events]) if with_recorded else {}
    info = capture.info()
    version = info.get("server_version") if isinstance(info, dict) else None
    return ReplaySource(
        name=capture.path.name,
        server_version=version if isinstance(version, str) else None,
        events=events,
        missing=tuple(missing),
        recorded=recorded,
        triggers=tuple(trigger_snapshot(capture)),
    )


def create_variant(capture: CaptureFile, event_id: str, payload: Mapping[str, Any]) -> str:
    """Store an edited copy of event `event_id` with `payload` (the `event` object: `op`, `data`, ...) and return
    the new event's id. The original is not changed. KeyError if there is no such event; ValueError if `payload` is
    not an event object."""
    if not isinstance(payload, Mapping) or not isinstance(payload.get("data"), Mapping):
        raise ValueError('a variant\'s payload must be an event object with "data": {"old": ..., "new": ...}')
    original = capture.event(event_id)
    if original is None:
        raise KeyError(f"no event {event_id} in {capture.path.name}")
    root = original["variant_of"] or original["id"]
    new_id = str(uuid.uuid4())
    record = EventRecord(
        id=new_id,
        trigger_name=original["trigger_name"],
        schema_name=original["schema_name"],
        table_name=original["table_name"],
        payload=dict(payload),
        created_at=original["created_at"],
        delivered=False,
        error=False,
        tries=0,
        locked=None,
        next_retry_at=None,
        archived=False,
    )
    now = time.time()
    row = {
        "id": new_id,
        "trigger_name": record.trigger_name,
        "schema_name": record.schema_name,
        "table_name": record.table_name,
        "op": record.op or original["op"],
        "created_at": original["created_at"],
        "created_ts": original["created_ts"],
        "payload": dumps(record.payload),
        "status": record.status,
        "delivered": 0,
        "error": 0,
        "tries": 0,
        "locked": None,
        "next_retry_at": None,
        "archived": 0,
        "attempts": 0,
        "successes": 0,
        "row_key": record.row_key,
        "trace_id": record.trace_id,
        "session_role": record.session_role,
        "captured_at": now,
        "updated_at": now,
        "variant_of": root,
    }
    names = list(row)
    with capture.conn:
        capture.conn.execute(
            f"INSERT INTO events ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
            [row[n] for n in names],
        )
    return new_id


class ReplayRecorder:
    """Writes replay attempts as `invocations` rows (`source = 'replay'`), in batches of whole rows.

    It writes through a connection of its own, so `flush()` may run in a worker thread (`flush_in_thread()`) while
    the event loop goes on: SQLite releases the GIL while it writes, so a batch's inserts (and their full-text
    indexing) overlap with waiting for the next answers. Flushes never run at the same time as each other.
    """

    def __init__(self, capture: CaptureFile, batch_size: int | None = 500) -> None:
        self.capture = capture
        self.batch_size = batch_size
        """Flush from `add()` when this many rows are queued; None: only when told to."""
        self._conn: sqlite3.Connection | None = None
        """Opened by the first flush, so a recorder that never writes holds no connection."""
        self._flushing = threading.Lock()
        self._rows: list[tuple[Any, ...]] = []
        self._next_attempt: dict[str, int] = {}
        self._ids = random.Random(os.urandom(16))
        """Invocation ids: random version-4 uuids, drawn without a system call each."""
        self.written = 0
        """Rows committed so far."""

    @property
    def pending(self) -> int:
        return len(self._rows)

    def preload(self, event_ids: Iterable[str]) -> None:
        """Count the attempts already recorded for these events in one query (instead of one per event)."""
        ids = [i for i in dict.fromkeys(event_ids) if i not in self._next_attempt]
        counts = dict.fromkeys(ids, 0)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            counts.update(
                self.capture.conn.execute(
                    f"SELECT event_id, count(*) FROM invocations WHERE event_id IN ({marks}) GROUP BY event_id", chunk
                ).fetchall()
            )
        for event_id, count in counts.items():
            self._next_attempt[event_id] = int(count) + 1

    def add(
        self,
        *,
        event_id: str,
        trigger_name: str,
        http_status: int | None,
        request: Mapping[str, Any] | str,
        response: Mapping[str, Any] | str,
        created_at: str,
        duration_ms: float | None,
        invocation_id: str | None = None,
        created_ts: float | None = None,
    ) -> str:
        """Queue one attempt; returns its invocation id (a new uuid unless the backend gave one). `request` is the
        record (credential header values are redacted here) or its JSON text, already redacted; `response` the
        record or its JSON text."""
        attempt = self._next_attempt.get(event_id)
        if attempt is None:
            self.preload([event_id])
            attempt = self._next_attempt[event_id]
        self._next_attempt[event_id] = attempt + 1
        invocation_id = invocation_id or self._new_id()
        self._rows.append(
            (
                invocation_id,
                event_id,
                trigger_name,
                attempt,
                http_status,
                http_status,
                request if isinstance(request, str) else dumps(redact_logged_request(request)),
                response if isinstance(response, str) else dumps(response),
                created_at,
                timestamp_seconds(created_at) if created_ts is None else created_ts,
                duration_ms,
                "replay",
                time.time(),
            )
        )
        if self.batch_size is not None and len(self._rows) >= self.batch_size:
            self.flush()
        return invocation_id

    @staticmethod
    def logged_headers(logged: Sequence[Mapping[str, Any]]) -> str:
        """Headers as an attempt's request record keeps them (JSON text, credential values redacted): built once
        per trigger by the runner and composed into each attempt's `request`."""
        return dumps(redact_logged_request({"headers": list(logged)})["headers"])

    def _new_id(self) -> str:
        """A random version-4 uuid, as `uuid.uuid4()` makes, at a fraction of its cost."""
        h = f"{self._ids.getrandbits(128):032x}"
        # 4 bits of the 128 give way to the version (4) and 2 to the RFC 4122 variant (10xx: 8, 9, a or b)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"

    def flush(self) -> None:
        """Commit the queued rows in one transaction."""
        with self._flushing:
            if not self._rows:
                return
            rows, self._rows = self._rows, []
            if self._conn is None:
                self._conn = sqlite3.connect(str(self.capture.path), check_same_thread=False, timeout=30)
                self._conn.execute("PRAGMA synchronous=NORMAL")
            with self._conn:  # (not executemany: see `insert_rows`; `flush_in_thread` runs beside the replay)
                insert_rows(
                    self._conn,
                    "invocations (id, event_id, trigger_name, attempt, http_status, status, request, response, "
                    "created_at, created_ts, duration_ms, source, captured_at)",
                    rows,
                    verb="INSERT OR IGNORE",
                )
            self.written += len(rows)

    async def flush_in_thread(self) -> None:
        """`flush()` in a worker thread, so the event loop keeps running while SQLite writes."""
        if self._rows:
            await asyncio.to_thread(self.flush)

    def close(self) -> None:
        """Commit what is queued and close the recorder's connection."""
        self.flush()
        with self._flushing:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def save_run_note(capture: CaptureFile, run_id: str, summary: Mapping[str, Any]) -> None:
    """Create or replace the note that keeps a replay run's plan and report."""
    text = dumps(summary)
    with capture.conn:
        updated = capture.conn.execute(
            "UPDATE notes SET text = ? WHERE kind = ? AND target = ?", (text, RUN_NOTE_KIND, run_id)
        ).rowcount
        if not updated:
            capture.conn.execute(
                "INSERT INTO notes (kind, target, created_at, text) VALUES (?, ?, ?, ?)",
                (RUN_NOTE_KIND, run_id, time.time(), text),
            )


def run_notes(capture: CaptureFile) -> list[dict[str, Any]]:
    """Every replay run kept in the capture, oldest first, as saved by `save_run_note`."""
    out = []
    for row in capture.rows("SELECT text FROM notes WHERE kind = ? ORDER BY seq", (RUN_NOTE_KIND,)):
        try:
            out.append(json.loads(row["text"]))
        except (TypeError, ValueError):
            continue
    return out
