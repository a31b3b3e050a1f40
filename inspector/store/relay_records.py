"""What `inspector relay` writes to and reads from a capture file: deliveries through the relay and the rewired
triggers' original webhooks.

Owns the SQL of the relay, so the relay service (`inspector.services.relay`) stays free of it:

- `relay_deliveries`: one row per request the relay made to a handler or answered itself (a `duplicate` forward
  is a second row, `copy` 1): the trigger, the event id and attempt (from the body), what acted on it (`action`,
  `acted_by`: the rule's text or `breakpoint: FILTER`), the request headers (redacted by
  `inspector.core.redaction`'s allow-list: secrets are passed on to the handler, never written), the body as
  received and, when a rule or the user changed it, as forwarded, the answer (status, redacted headers, body) or
  the error, and the timings;
- the same deliveries as an `events` row (the event from the body, added when the capture does not have it) and an
  `invocations` row with `source = 'relay'`, Hasura's request/response shapes (`server/src-lib/Hasura/RQL/Types/
  Eventing.hs` in hasura/graphql-engine), so the window and the analysis see them; an event's delivery figures count
  the relay's forwards only when the capture holds no attempt the backend logged (`source = 'hasura'`), which then
  govern as `store.capture_file.update_delivery_figures` computes them;
- `relay_rewirings`: a trigger's original `webhook` / `webhook_from_env` before `--rewire` pointed it at the relay,
  written BEFORE the metadata is changed, so `inspector relay --restore CAPTURE` can put it back after a crash. The
  original webhook is kept exactly (it is what must be restored); the rest of the configuration is stored redacted.

The tables are the relay's addition to the capture format (same format version: a file without them reads as a
capture with no relay deliveries). They are created like `store.schema`'s, from SQL text with `CREATE ... IF NOT
EXISTS`, by `ensure_tables` when a relay first writes to a capture; they are not in `schema.TABLES`, which lists the
tables every capture has. Joined with the event log by the event id in the body (`deliveries`).
"""

from __future__ import annotations

import collections
import json
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from inspector.core.events import row_key, server_time_seconds, valid_timezone
from inspector.core.hasura import INVOCATION_VERSION, client_error, invocation_request, webhook_response
from inspector.core.redaction import REDACTED, is_clear_header, redact_trigger_config
from inspector.store.capture_file import CaptureFile, dumps, insert_rows

RELAY_DDL = """
CREATE TABLE IF NOT EXISTS relay_deliveries (
  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, event_id TEXT, trigger_name TEXT, attempt INTEGER,
  copy INTEGER NOT NULL DEFAULT 0, received_at REAL, answered_at REAL, target TEXT, action TEXT, acted_by TEXT,
  request_headers TEXT, request_body TEXT, forwarded_body TEXT, http_status INTEGER, response_headers TEXT,
  response_body TEXT, error TEXT, handler_ms REAL, total_ms REAL
);
CREATE INDEX IF NOT EXISTS relay_deliveries_event ON relay_deliveries (event_id, seq);
CREATE TABLE IF NOT EXISTS relay_rewirings (
  name TEXT PRIMARY KEY, source TEXT, table_schema TEXT, table_name TEXT, original_webhook TEXT,
  original_webhook_from_env TEXT, relay_webhook TEXT, config TEXT, rewired_at REAL, restored_at REAL
);
"""
"""The relay's tables (see the module docstring)."""

RELAY_SOURCE = "relay"

_VERSION_TAIL = ',"version":' + json.dumps(INVOCATION_VERSION) + "}"
"""`invocations.source` of a delivery the relay made."""


def ensure_tables(conn: sqlite3.Connection) -> None:
    """Create the relay's tables where the file lacks them; a no-op on a file that has them."""
    conn.executescript(RELAY_DDL)


def has_relay_tables(conn: sqlite3.Connection) -> bool:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'relay_deliveries'").fetchone()
    return row is not None


@dataclass(slots=True)
class RelayDeliveryRecord:
    """One request the relay made to a handler, or answered itself (see the module docstring)."""

    id: str
    trigger_name: str
    event_id: str | None
    attempt: int | None
    received_at: float
    answered_at: float
    action: str
    """`pass`, `respond`, `delay`, `duplicate`, `drop`, `edit`, or `held` (a breakpoint's Continue)."""
    acted_by: str | None
    request_headers: Sequence[tuple[str, str]]
    """As received, unredacted: redacted when written."""
    request_body: bytes
    forwarded_body: bytes | None = None
    """The body forwarded, when it differs from the one received."""
    target: str | None = None
    """The handler's URL (None when the relay answered itself or dropped the connection)."""
    http_status: int | None = None
    response_headers: Sequence[tuple[str, str]] = ()
    response_body: bytes | None = None
    error: str | None = None
    handler_ms: float | None = None
    copy: int = 0
    event: Any = None
    """The `event` object of the body (parsed), for the `events` row; None when the body is not a Hasura payload."""
    table: tuple[str, str] | None = None
    """(schema, name) of the event's table, from the body."""
    created_at: str | None = None
    body_is_object: bool = False
    """The body as received parsed as a JSON object (set with the event fields)."""
    parsed: bool = True
    """False: the relay did not read the body (no rule or breakpoint needed it); the writer thread fills `event_id`,
    `attempt`, `event`, `table` and `created_at` from `request_body` (`fill_from_body`), off the relay's hot path."""


def fill_from_body(record: RelayDeliveryRecord, body: Any) -> None:
    """Set the record's event fields from a parsed Hasura event trigger body (`server/src-lib/Hasura/Eventing/
    EventTrigger.hs`, the webhook payload: `id`, `table`, `event`, `delivery_info`, `created_at`)."""
    record.parsed = True
    if not isinstance(body, Mapping):
        return
    record.body_is_object = True
    event_id = body.get("id")
    record.event_id = event_id if isinstance(event_id, str) else None
    info = body.get("delivery_info")
    retry = info.get("current_retry") if isinstance(info, Mapping) else None
    record.attempt = retry + 1 if isinstance(retry, int) and not isinstance(retry, bool) else None
    record.event = body.get("event")
    table = body.get("table")
    if isinstance(table, Mapping):
        record.table = (str(table.get("schema", "public")), str(table.get("name", "")))
    created_at = body.get("created_at")
    record.created_at = created_at if isinstance(created_at, str) else None


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", "replace")


_CLEAR: dict[str, bool] = {}
"""Header name → whether its value is kept in clear (the engine sends the same few names every time)."""


def _redacted(headers: Sequence[tuple[str, str]]) -> dict[str, str]:
    """`redact_header_pairs` over `(name, value)` pairs, the allow-list check remembered per name."""
    out = {}
    for name, value in headers:
        clear = _CLEAR.get(name)
        if clear is None:
            clear = _CLEAR[name] = is_clear_header(name)
        out[name] = value if clear else REDACTED
    return out


_JSON: dict[Any, str] = {}
"""Encoded JSON of header lists and answers, by their content: an engine sends the same headers with every
delivery of a trigger and a handler gives few distinct answers (its `Date` changes once a second), so most records
reuse an encoding instead of building and serialising the same objects again (the relay's rate)."""


def _remembered(key: Any, make: Any) -> str:
    text = _JSON.get(key)
    if text is None:
        if len(_JSON) >= 4096:
            _JSON.clear()
        text = _JSON[key] = make()
    return text


def _headers_json(headers: Sequence[tuple[str, str]]) -> str:
    """The headers as stored in `relay_deliveries`: an object, secrets redacted."""
    return _remembered(("headers", tuple(headers)), lambda: dumps(_redacted(headers)))


def _logged_headers_json(headers: Sequence[tuple[str, str]]) -> str:
    """The headers as Hasura logs them in an invocation's request: `[{"name", "value"}]`, secrets redacted."""
    return _remembered(
        ("logged", tuple(headers)),
        lambda: dumps([{"name": k, "value": v} for k, v in _redacted(headers).items()]),
    )


class RelayRecorder:
    """Writes deliveries to a capture from a writer thread with its own connection, in one transaction per batch.

    The relay's event loop only appends a record to a deque (no lock, no wake-up of the writer: the writer thread
    wakes every `interval`), and the writer turns a batch into a few multi-row INSERTs (`store.capture_file.
    insert_rows`), so the GIL changes hands a few times per batch instead of at every row's SQLite step (each of
    which can cost the event loop the 5 ms switch interval when it wants the GIL back: measured, per-row writes
    halved the relay's throughput)."""

    def __init__(self, capture: CaptureFile, interval: float = 0.1) -> None:
        self.path = Path(capture.path)
        ensure_tables(capture.conn)
        self.interval = interval
        self._pending: collections.deque[RelayDeliveryRecord] = collections.deque()
        self._error: BaseException | None = None
        self._written = 0
        self._added = 0
        self._done = threading.Condition()
        self._wake = threading.Event()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="relay recorder", daemon=True)
        self._thread.start()

    def add(self, record: RelayDeliveryRecord) -> None:
        self._added += 1
        self._pending.append(record)  # atomic; the writer picks it up at its next wake

    def flush(self, timeout: float = 10.0) -> None:
        """Return when everything added so far is committed (raises what the writer met)."""
        wanted = self._added
        self._wake.set()
        with self._done:
            self._done.wait_for(lambda: self._written >= wanted or self._error is not None, timeout=timeout)
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        self._closing = True
        self._wake.set()
        self._thread.join()
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        conn = sqlite3.connect(str(self.path), check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA synchronous = NORMAL")  # as the capture writer: WAL, no fsync per commit
        # Checkpoints every 10,000 pages (40 MB of WAL) rather than SQLite's 1,000: the index and full-text pages a
        # batch of deliveries dirties are mostly the ones the next batches dirty again, so each is copied back to the
        # file once per checkpoint instead of at nearly every commit (a sixth less of the recording's CPU, measured).
        conn.execute("PRAGMA wal_autocheckpoint = 10000")
        try:
            while True:
                closing = self._closing
                self._wake.wait(self.interval)  # a burst gathers into one commit
                self._wake.clear()
                batch: list[RelayDeliveryRecord] = []
                pending = self._pending
                while pending:
                    batch.append(pending.popleft())
                if batch:
                    try:
                        write_deliveries(conn, batch)
                    except BaseException as exc:  # reported at the next flush or close
                        self._error = exc
                with self._done:
                    self._written += len(batch)
                    self._done.notify_all()
                if closing and not self._pending:
                    return
        finally:
            conn.close()


_DELIVERY_COLUMNS = (
    "relay_deliveries (id, event_id, trigger_name, attempt, copy, received_at, answered_at, target, action, acted_by, "
    "request_headers, request_body, forwarded_body, http_status, response_headers, response_body, error, handler_ms, "
    "total_ms)"
)
_EVENT_COLUMNS = (
    "events (id, trigger_name, schema_name, table_name, op, created_at, created_ts, payload, status, delivered, error, "
    "tries, archived, row_key, trace_id, session_role, captured_at, updated_at)"
)
_EVENT_VALUES = {13: "(?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, 0, 0, 0, ?, ?, ?, ?, ?)"}
_FIGURED_EVENT_COLUMNS = (
    "events (id, trigger_name, schema_name, table_name, op, created_at, created_ts, payload, error, archived, row_key, "
    "trace_id, session_role, captured_at, updated_at, attempts, successes, first_attempt_ts, delivered_ts, "
    "last_http_status, delivered, tries, status)"
)
_FIGURED_EVENT_VALUES = {21: "(?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"}
_INVOCATION_COLUMNS = (
    "invocations (id, event_id, trigger_name, attempt, http_status, status, request, response, created_at, "
    "created_ts, duration_ms, source, captured_at)"
)
_INVOCATION_VALUES = {12: "(?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?)"}


def write_deliveries(conn: sqlite3.Connection, records: Sequence[RelayDeliveryRecord]) -> None:
    """Write deliveries (their `relay_deliveries`, `events` and `invocations` rows) in one transaction, a few
    multi-row statements per batch."""
    for r in records:
        if not r.parsed:
            try:
                fill_from_body(r, json.loads(r.request_body))
            except ValueError:
                r.parsed = True  # not JSON: recorded as a delivery, no event
    delivery_rows = [
        (
            r.id,
            r.event_id,
            r.trigger_name,
            r.attempt,
            r.copy,
            r.received_at,
            r.answered_at,
            r.target,
            r.action,
            r.acted_by,
            _headers_json(r.request_headers),
            _text(r.request_body),
            _text(r.forwarded_body),
            r.http_status,
            _headers_json(r.response_headers),
            _text(r.response_body),
            r.error,
            r.handler_ms,
            (r.answered_at - r.received_at) * 1000.0,
        )
        for r in records
    ]
    joined = [r for r in records if r.event_id is not None and isinstance(r.event, Mapping)]
    first_of: dict[str, RelayDeliveryRecord] = {}
    for r in joined:
        first_of.setdefault(str(r.event_id), r)
    attempted = [r for r in joined if r.target is not None]  # requests the handler got: attempts of the event
    with conn:
        insert_rows(conn, _DELIVERY_COLUMNS, delivery_rows, verb="INSERT OR IGNORE")
        if not first_of:
            return
        ids = sorted(first_of)
        before = _attempts_so_far(conn, ids)
        known = _existing_events(conn, ids)
        counts = dict(before)
        invocation_rows = []
        seen: dict[str, list[tuple[float, int | None]]] = {}
        for r in attempted:
            event_id = str(r.event_id)
            number = counts[event_id] = counts.get(event_id, 0) + 1
            invocation_rows.append(_invocation_row(r, number))
            seen.setdefault(event_id, []).append((r.answered_at, r.http_status))
        # An event new to the capture, whose every attempt is in this batch: its row is written with its figures
        # (what `update_relay_figures` would compute), sparing an UPDATE that rewrites the row.
        fresh = [i for i in ids if i not in known and not before.get(i) and i in seen]
        zone = _server_timezone(conn) if fresh or len(known) < len(ids) else None
        pending = [_event_row(first_of[i], zone) for i in ids if i not in known and i not in fresh]
        if fresh:
            rows = [_event_row(first_of[i], zone) + _figures(seen[i]) for i in fresh]
            insert_rows(conn, _FIGURED_EVENT_COLUMNS, rows, _FIGURED_EVENT_VALUES, verb="INSERT OR IGNORE")
        if pending:
            insert_rows(conn, _EVENT_COLUMNS, pending, _EVENT_VALUES, verb="INSERT OR IGNORE")
        if invocation_rows:
            insert_rows(conn, _INVOCATION_COLUMNS, invocation_rows, _INVOCATION_VALUES, verb="INSERT OR IGNORE")
        fresh_ids = set(fresh)
        update_relay_figures(conn, [i for i in ids if i not in fresh_ids])


def _figures(attempts: Sequence[tuple[float, int | None]]) -> tuple[Any, ...]:
    """`attempts, successes, first_attempt_ts, delivered_ts, last_http_status, delivered, tries, status` of an event
    from its relay attempts `(created_ts, http_status)` in the order made (as `update_relay_figures` sets them)."""
    ordered = sorted(attempts, key=lambda a: a[0])  # stable: ties keep the order made (seq)
    ok = [ts for ts, status in ordered if status is not None and 200 <= status < 300]
    delivered = bool(ok)
    return (
        len(ordered),
        len(ok),
        ordered[0][0],
        ok[0] if ok else None,
        ordered[-1][1],
        int(delivered),
        len(ordered) - int(delivered),
        "delivered" if delivered else "retrying",
    )


def _existing_events(conn: sqlite3.Connection, event_ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(event_ids), 500):
        chunk = event_ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        found.update(i for (i,) in conn.execute(f"SELECT id FROM events WHERE id IN ({marks})", chunk))
    return found


def _attempts_so_far(conn: sqlite3.Connection, event_ids: Sequence[str]) -> dict[str, int]:
    """How many invocations the capture holds of each of these events (the next one's attempt is one more)."""
    counts: dict[str, int] = {}
    for start in range(0, len(event_ids), 500):
        chunk = event_ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        counts.update(
            conn.execute(
                f"SELECT event_id, count(*) FROM invocations WHERE event_id IN ({marks}) GROUP BY event_id", chunk
            ).fetchall()
        )
    return counts


def _server_timezone(conn: sqlite3.Connection) -> str | None:
    """The database's time zone as the capture knows it (`capture_info.server_timezone`, written when the capture
    follows the backend too), else None (also for a value that is not a zone this machine knows): the webhook body's
    `created_at` is then taken as UTC."""
    found = conn.execute("SELECT value FROM capture_info WHERE key = 'server_timezone'").fetchone()
    try:
        zone = json.loads(found[0]) if found else None
        return valid_timezone(zone) if isinstance(zone, str) else None
    except ValueError:  # not JSON, or a zone this machine does not know: UTC, rather than no time at all
        return None


def _event_row(r: RelayDeliveryRecord, zone: str | None) -> tuple[Any, ...]:
    """The `events` row of a delivery's event. `zone`: the database's time zone, in which the body's `created_at`
    (Hasura's `epCreatedAt`, a `LocalTime` of the database's wall clock) was written."""
    schema, table = r.table or ("public", "")
    event = r.event
    data = event.get("data") if isinstance(event.get("data"), Mapping) else {}
    trace = event.get("trace_context")
    session = event.get("session_variables")
    created_at = r.created_at or ""
    return (
        r.event_id,
        r.trigger_name,
        schema,
        table,
        str(event.get("op", "")),
        created_at,
        server_time_seconds(created_at, zone),
        dumps(event),
        row_key(table, data.get("new") or data.get("old")),
        str(trace["trace_id"]) if isinstance(trace, Mapping) and trace.get("trace_id") else None,
        str(session["x-hasura-role"]) if isinstance(session, Mapping) and "x-hasura-role" in session else None,
        r.received_at,
        r.received_at,
    )


def _invocation_row(r: RelayDeliveryRecord, attempt: int) -> tuple[Any, ...]:
    if r.forwarded_body is None and r.body_is_object and r.request_body[:1] == b"{":  # UTF-8 text, not UTF-16
        # The body as received is a JSON object: `invocation_request`'s JSON written around its text, not parsed and
        # serialised again (same JSON value; the most expensive part of recording otherwise).
        request_json = (
            '{"payload":'
            + r.request_body.decode("utf-8", "replace")
            + ',"headers":'
            + _logged_headers_json(r.request_headers)
            + _VERSION_TAIL
        )
    else:
        sent = r.forwarded_body if r.forwarded_body is not None else r.request_body
        try:
            payload = json.loads(sent)
        except ValueError:
            payload = _text(sent)
        logged = [{"name": k, "value": v} for k, v in _redacted(r.request_headers).items()]
        request_json = dumps(invocation_request(payload if isinstance(payload, Mapping) else {"raw": payload}, logged))
    body = _text(r.response_body) or ""
    status = r.http_status
    if status is not None and 200 <= status < 300:
        headers = r.response_headers
        response = _remembered(
            ("response", status, body, tuple(headers)),
            lambda: dumps(webhook_response(body, list(_redacted(headers).items()), status)),
        )
    else:
        response = dumps(client_error(body if status is not None else (r.error or "no answer")))
    return (
        r.id,
        r.event_id,
        r.trigger_name,
        attempt,
        r.http_status,
        r.http_status,
        request_json,
        response,
        r.answered_at,
        r.handler_ms,
        RELAY_SOURCE,
        r.answered_at,
    )


def update_relay_figures(conn: sqlite3.Connection, event_ids: Sequence[str]) -> None:
    """The delivery figures of these events from the relay's forwards, for the events the capture holds no
    backend-logged attempt of (those keep `update_delivery_figures`' figures); one statement per 500 events.

    The status is `inspector.core.events.derive_status` of what the relay saw (delivered, else retrying: every
    event here had at least one attempt)."""
    for start in range(0, len(event_ids), 500):
        chunk = event_ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        conn.execute(
            "UPDATE events SET attempts = a.n, successes = a.ok, first_attempt_ts = a.first, delivered_ts = a.ok_ts, "
            "last_http_status = (SELECT http_status FROM invocations i WHERE i.event_id = events.id "
            f"AND i.source = '{RELAY_SOURCE}' ORDER BY created_ts DESC, seq DESC LIMIT 1), "
            "delivered = a.ok > 0, tries = a.n - (a.ok > 0), "
            "status = CASE WHEN a.ok > 0 THEN 'delivered' ELSE 'retrying' END "
            "FROM (SELECT event_id, count(*) AS n, coalesce(sum(http_status BETWEEN 200 AND 299), 0) AS ok, "
            "min(created_ts) AS first, min(CASE WHEN http_status BETWEEN 200 AND 299 THEN created_ts END) AS ok_ts "
            f"FROM invocations WHERE event_id IN ({marks}) AND source = '{RELAY_SOURCE}' GROUP BY event_id) AS a "
            "WHERE events.id = a.event_id "
            "AND NOT EXISTS (SELECT 1 FROM invocations h WHERE h.event_id = events.id AND h.source = 'hasura')",
            chunk,
        )


# --- reading ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RelayDeliveryRow:
    """A recorded delivery, joined with its event's row in the capture (None fields when the capture lacks it)."""

    seq: int
    id: str
    event_id: str | None
    trigger_name: str
    attempt: int | None
    copy: int
    action: str
    acted_by: str | None
    target: str | None
    http_status: int | None
    error: str | None
    request_headers: dict[str, str]
    request_body: str | None
    forwarded_body: str | None
    response_body: str | None
    received_at: float
    handler_ms: float | None
    total_ms: float | None
    event_status: str | None
    event_tries: int | None


def deliveries(capture: CaptureFile | sqlite3.Connection, trigger: str | None = None) -> list[RelayDeliveryRow]:
    """Every delivery the relay recorded (of one trigger, or all), in the order recorded, with the event's status
    and tries as the capture holds them."""
    conn = capture.conn if isinstance(capture, CaptureFile) else capture
    if not has_relay_tables(conn):
        return []
    where, params = ("WHERE d.trigger_name = ?", (trigger,)) if trigger is not None else ("", ())
    rows = conn.execute(
        "SELECT d.seq, d.id, d.event_id, d.trigger_name, d.attempt, d.copy, d.action, d.acted_by, d.target, "
        "d.http_status, d.error, d.request_headers, d.request_body, d.forwarded_body, d.response_body, d.received_at, "
        "d.handler_ms, d.total_ms, e.status, e.tries FROM relay_deliveries d LEFT JOIN events e ON e.id = d.event_id "
        f"{where} ORDER BY d.seq",
        params,
    ).fetchall()
    names = [f.name for f in fields(RelayDeliveryRow)]
    out = []
    for row in rows:
        values = dict(zip(names, row, strict=True))
        values["request_headers"] = json.loads(values["request_headers"] or "{}")
        out.append(RelayDeliveryRow(**values))
    return out


@dataclass(frozen=True)
class Rewiring:
    """A trigger `--rewire` pointed at the relay: where it pointed before."""

    name: str
    source: str
    table_schema: str
    table_name: str
    original_webhook: str | None
    original_webhook_from_env: str | None
    relay_webhook: str
    restored_at: float | None = None


def save_rewiring(capture: CaptureFile, rewiring: Rewiring, config: Mapping[str, Any]) -> None:
    """Store a trigger's original webhook (committed before the metadata is changed)."""
    ensure_tables(capture.conn)
    with capture.conn:
        capture.conn.execute(
            "INSERT INTO relay_rewirings (name, source, table_schema, table_name, original_webhook, "
            "original_webhook_from_env, relay_webhook, config, rewired_at, restored_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL) ON CONFLICT (name) DO UPDATE SET "
            "source = excluded.source, table_schema = excluded.table_schema, table_name = excluded.table_name, "
            "original_webhook = excluded.original_webhook, "
            "original_webhook_from_env = excluded.original_webhook_from_env, relay_webhook = excluded.relay_webhook, "
            "config = excluded.config, rewired_at = excluded.rewired_at, restored_at = NULL",
            (
                rewiring.name,
                rewiring.source,
                rewiring.table_schema,
                rewiring.table_name,
                rewiring.original_webhook,
                rewiring.original_webhook_from_env,
                rewiring.relay_webhook,
                dumps(redact_trigger_config(dict(config))),
                time.time(),
            ),
        )


def rewirings(capture: CaptureFile, pending_only: bool = True) -> list[Rewiring]:
    """The triggers rewired to the relay (by default only those not restored yet)."""
    if not has_relay_tables(capture.conn):
        return []
    where = "WHERE restored_at IS NULL" if pending_only else ""
    rows = capture.conn.execute(
        "SELECT name, source, table_schema, table_name, original_webhook, original_webhook_from_env, relay_webhook, "
        f"restored_at FROM relay_rewirings {where} ORDER BY rewired_at, name"
    ).fetchall()
    return [Rewiring(*row) for row in rows]


def mark_restored(capture: CaptureFile, name: str) -> None:
    with capture.conn:
        capture.conn.execute("UPDATE relay_rewirings SET restored_at = ? WHERE name = ?", (time.time(), name))
