"""Moving captures in and out of Inspector: JSON Lines (lossless, both ways) and HAR 1.2 (invocations, export only).

Owns the JSONL capture format, the import that rebuilds a capture file from it, the HAR view of invocations, and the
redaction applied to exports. GUI-free; used by `inspector export` / `inspector import` (and later the window).

JSONL format (`inspector-capture-jsonl`, version 1), one JSON object per line, UTF-8:

- Line 1: `{"kind":"capture","format":"inspector-capture-jsonl","version":1,"info":{...}}`: `info` is the
  capture's `capture_info` (JSON values as stored).
- Then one line per row of every table, table by table, each in `seq` order (`operations` by `id`, `marks` in
  insertion order), with a `kind` naming the table: `trigger_snapshot`, `event`, `event_state`, `invocation`,
  `operation`, `message`, `log` (`session_log`), `mark`, `note`. The other keys are the row's columns, `seq`/`id`
  included. Columns that hold JSON text are written as JSON values, not strings: `trigger_snapshot.config`,
  `event.payload`, `invocation.request`/`response`, `operation.variables`/`cursor`, `message.data`/`diff`
  (`message.raw` stays the frame text as received). A column called `kind` (operations, marks, notes) is written as
  `<kind>_kind` (`operation_kind`, `mark_kind`, `note_kind`) so it cannot clash with the line's `kind`.
- If a JSON column's stored text is not exactly what re-encoding its value gives (invalid JSON, other spacing, or the
  text `null` as opposed to SQL NULL), the line also carries `"_text": {"<column>": "<stored text>"}` so the import
  restores it byte for byte. Inspector's writer rarely needs it (an operation `cursor` set to None is stored as the
  text `null`).
- Last line: `{"kind":"end","records":N,"counts":{"event":...}}`. Import checks it when present (a file cut short at a
  line boundary is then caught); a file without it is still accepted, for hand-made or filtered files.

Lines may be `\\n` or `\\r\\n` terminated; blank lines are skipped. U+0085, U+2028 and U+2029 are written escaped, so
every line splitter sees the same lines.

Redaction (the rules are `inspector.core.redaction`'s; docs/security.md says them for users). Every export, with or
without `redact`, applies the capture's own rules again, so a capture written by an older Inspector exports no more
than a new one keeps: in `invocation.request.headers`, `invocation.response.data.headers` (HAR request and response
headers) every header value outside the allow-list `CLEAR_HEADERS` becomes `"<redacted>"` (`value_from_env` entries
keep the variable's name); every header value of `trigger_snapshot.config`; the user info and query values of webhook
URLs (`trigger_snapshot.config.webhook`, HAR request URLs); the request URL, headers and URL credentials in the
message of an exception (`http_exception`, `invalid_url`) recorded as a `client_error`. On a capture written by this
version these are already redacted, so a plain export imports back to the same rows. With `redact=True` an export
also replaces:

- in `event.payload` and in `invocation.request.payload.event` (the webhook body's event; also the HAR request body):
  every value of `session_variables` except `x-hasura-role` (matched case-insensitively);
- in every other `client_error` message (a handler's error body) and in the session log's messages: URLs' user info
  and query values, `?name=value` query strings' values and quoted `("Name","value")` header pairs outside the
  allow-list (`redaction.redact_text`);
- a stored `event.payload`, `invocation.request`/`response` or `trigger_snapshot.config` that is not valid JSON
  (never written by Inspector) becomes the string `"<redacted>"` as a whole.

Nothing else is touched: row data (`data.old`/`data.new`), 2xx response bodies, subscription messages, operations and
notes are exported as captured. A redacted export imports fine but no longer round-trips to the original.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import http
import json
import math
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qsl, quote, urlsplit

from inspector import __version__
from inspector.core.redaction import (
    REDACTED,
    redact_logged_request,
    redact_logged_response,
    redact_session_variables,
    redact_text,
    redact_trigger_config,
    redact_url,
)
from inspector.store.capture_file import SCHEMA_VERSION, CaptureFile, dumps

FORMAT = "inspector-capture-jsonl"
FORMAT_VERSION = 1

KIND_TABLES: dict[str, str] = {
    "trigger_snapshot": "trigger_snapshots",
    "event": "events",
    "event_state": "event_states",
    "invocation": "invocations",
    "operation": "operations",
    "message": "messages",
    "log": "session_log",
    "mark": "marks",
    "note": "notes",
}
"""Line `kind` → table, in export order."""

JSON_COLUMNS: dict[str, tuple[str, ...]] = {
    "trigger_snapshots": ("config",),
    "events": ("payload",),
    "invocations": ("request", "response"),
    "operations": ("variables", "cursor"),
    "messages": ("data", "diff"),
}
"""Columns holding JSON text, exported as JSON values."""


class ExchangeError(ValueError):
    """An import input that cannot be read; the message starts with `line N:` when a line is at fault."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message if line is None else f"line {line}: {message}")
        self.line = line


# --- redaction -------------------------------------------------------------------------------------------------------
# The rules are `inspector.core.redaction`'s; this section only says which of them each exported column gets.


def _redact_request(request: Any, redact: bool) -> Any:
    """An invocation's logged request: header values by the allow-list always; with `redact` also the session
    variables of the webhook body's event. The same object when nothing is replaced."""
    if not isinstance(request, Mapping):
        return request
    out = redact_logged_request(request)
    payload = out.get("payload")
    if redact and isinstance(payload, Mapping) and "event" in payload:
        event = redact_session_variables(payload["event"])
        if event is not payload["event"]:
            out = {**out, "payload": {**payload, "event": event}}
    return out


def _redact_response(response: Any, redact: bool) -> Any:
    """An invocation's logged response: header values by the allow-list and URL credentials in exception texts
    always; with `redact` the credentials in any other error text too."""
    return redact_logged_response(response, bodies=redact)


REDACTABLE_COLUMNS = frozenset(
    {
        ("invocations", "request"),
        ("invocations", "response"),
        ("trigger_snapshots", "config"),
        ("events", "payload"),
    }
)


def _redact_column(table: str, column: str, value: Any, redact: bool) -> Any:
    """A parsed JSON column value as exported (the capture's rules always; session variables and error texts only
    when `redact`); the same object when nothing is replaced."""
    if table == "invocations" and column == "request":
        return _redact_request(value, redact)
    if table == "invocations" and column == "response":
        return _redact_response(value, redact)
    if table == "trigger_snapshots" and column == "config":
        return redact_trigger_config(value)
    if table == "events" and column == "payload" and redact:
        return redact_session_variables(value)
    return value


# --- JSONL export ----------------------------------------------------------------------------------------------------


_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def _line(value: Mapping[str, Any]) -> str:
    """One JSONL line: compact UTF-8 JSON; characters some splitters treat as line breaks are escaped."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).translate(_LINE_BREAKS) + "\n"


@contextlib.contextmanager
def _snapshot(capture: CaptureFile) -> Iterator[None]:
    """Read inside one transaction, so a capture being written is exported as of one moment (WAL snapshot)."""
    if capture.conn.in_transaction:
        yield
        return
    capture.conn.execute("BEGIN")
    try:
        yield
    finally:
        capture.conn.execute("ROLLBACK")


def _iter_table(capture: CaptureFile, table: str) -> Iterator[dict[str, Any]]:
    if not capture.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone():
        return iter(())
    return capture.iter_table(table)


def export_record(kind: str, row: Mapping[str, Any], redact: bool = False) -> dict[str, Any]:
    """The JSONL object for one table row (see the module docstring)."""
    table = KIND_TABLES[kind]
    json_columns = JSON_COLUMNS.get(table, ())
    record: dict[str, Any] = {"kind": kind}
    texts: dict[str, str] = {}
    for column, value in row.items():
        if column in json_columns and value is not None:
            text = value if isinstance(value, str) else str(value)
            try:
                parsed = json.loads(text)
            except ValueError:
                if redact and (table, column) in REDACTABLE_COLUMNS:
                    parsed = REDACTED  # unreadable, so it cannot be redacted piecemeal
                else:
                    parsed = text
                    texts[column] = text
            else:
                redacted = _redact_column(table, column, parsed, redact)
                if redacted is parsed and (parsed is None or dumps(parsed) != text):
                    texts[column] = text  # `null` text (vs SQL NULL) or non-canonical JSON: keep the exact text
                parsed = redacted
            value = parsed
        elif redact and table == "session_log" and column == "message" and isinstance(value, str):
            value = redact_text(value)  # connection errors may name a URL with its credentials
        record[f"{kind}_kind" if column == "kind" else column] = value
    if texts:
        record["_text"] = texts
    return record


def export_jsonl(capture: CaptureFile, out: TextIO, redact: bool = False) -> int:
    """Write the whole capture as JSON Lines to `out`; returns the number of rows written (header and end excluded).

    Streams table by table in pages, so memory does not grow with the capture; reads one consistent snapshot.
    """
    counts: dict[str, int] = {}
    with _snapshot(capture):
        out.write(_line({"kind": "capture", "format": FORMAT, "version": FORMAT_VERSION, "info": capture.info()}))
        for kind, table in KIND_TABLES.items():
            n = 0
            for row in _iter_table(capture, table):
                out.write(_line(export_record(kind, row, redact)))
                n += 1
            counts[kind] = n
    total = sum(counts.values())
    out.write(_line({"kind": "end", "records": total, "counts": counts}))
    return total


# --- JSONL import ----------------------------------------------------------------------------------------------------


class _Column:
    def __init__(self, name: str, declared: str, not_null: bool, has_default: bool, primary_key: bool) -> None:
        self.name = name
        self.declared = declared.upper()
        self.not_null = not_null
        self.has_default = has_default
        self.primary_key = primary_key


def _columns(conn: sqlite3.Connection, table: str) -> dict[str, _Column]:
    return {
        row[1]: _Column(row[1], row[2] or "", bool(row[3]), row[4] is not None, bool(row[5]))
        for row in conn.execute(f"PRAGMA table_info({table})")
    }


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large for a number")
    return value


def _refuse_surrogates(value: Any, line: int) -> None:
    """ExchangeError for a string (or key) holding a lone UTF-16 surrogate such as `"\\ud800"`: valid JSON, but not
    text, and a capture stores UTF-8 (SQLite would refuse it as it is written, deep inside the import)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ExchangeError(
                    f"a string holds \\u{ord(item[exc.start]):04x}, half of a UTF-16 surrogate pair, which is not "
                    "text (a capture stores UTF-8)",
                    line,
                ) from None


def _check_type(column: _Column, value: Any, kind: str, line: int) -> None:
    if value is None:
        return
    if column.declared == "INTEGER":
        ok = isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63
        expected = "an integer"
    elif column.declared == "REAL":
        ok = isinstance(value, float) or (
            isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63
        )
        expected = "a number"
    else:
        ok = isinstance(value, str)
        expected = "a string"
    if not ok:
        raise ExchangeError(f"{kind}.{column.name} must be {expected} or null, not {json.dumps(value)[:60]}", line)


class _Importer:
    """Checks and inserts lines into a fresh capture; one transaction per batch."""

    def __init__(self, capture: CaptureFile) -> None:
        self.capture = capture
        self.conn = capture.conn
        self.columns = {kind: _columns(self.conn, table) for kind, table in KIND_TABLES.items()}
        self.counts: dict[str, int] = dict.fromkeys(KIND_TABLES, 0)

    def insert(self, record: Mapping[str, Any], line: int) -> None:
        kind = record["kind"]
        table = KIND_TABLES[kind]
        columns = self.columns[kind]
        json_columns = JSON_COLUMNS.get(table, ())
        texts = record.get("_text", {})
        if not isinstance(texts, Mapping) or any(
            k not in json_columns or not isinstance(v, str) for k, v in texts.items()
        ):
            raise ExchangeError(
                f"_text must map JSON columns of {kind} ({', '.join(json_columns) or 'none'}) to strings", line
            )
        values: dict[str, Any] = {}
        for key, value in record.items():
            if key in ("kind", "_text"):
                continue
            column_name = "kind" if key == f"{kind}_kind" else key
            column = columns.get(column_name)
            if column is None:
                raise ExchangeError(f"unknown field {key!r} for kind {kind!r}", line)
            if column_name in json_columns:
                values[column_name] = (
                    texts[column_name] if column_name in texts else (None if value is None else dumps(value))
                )
            else:
                _check_type(column, value, kind, line)
                values[column_name] = value
        for column_name, text in texts.items():
            values.setdefault(column_name, text)
        for column in columns.values():
            missing = column.not_null and not column.primary_key and values.get(column.name) is None
            if missing and (column.name in values or not column.has_default):
                raise ExchangeError(f"{kind} needs a non-null {_field(kind, column.name)!r}", line)
        names = list(values)
        sql = (
            f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
            if names
            else f"INSERT INTO {table} DEFAULT VALUES"
        )
        try:
            self.conn.execute(sql, [values[n] for n in names])
        except sqlite3.IntegrityError as exc:
            raise ExchangeError(f"{kind} conflicts with an earlier line ({_conflict(exc)})", line) from exc
        self.counts[kind] += 1


def _field(kind: str, column: str) -> str:
    return f"{kind}_kind" if column == "kind" else column


def _conflict(exc: sqlite3.IntegrityError) -> str:
    text = str(exc)
    if text.startswith("UNIQUE constraint failed: "):
        return "same " + ", ".join(
            c.split(".", 1)[-1] for c in text.removeprefix("UNIQUE constraint failed: ").split(", ")
        )
    return text


def _parse_line(text: str, line: int) -> dict[str, Any]:
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError as exc:
        raise ExchangeError("JSON nested too deeply", line) from exc
    except ValueError as exc:
        raise ExchangeError(f"not valid JSON ({exc})", line) from exc
    if not isinstance(value, dict):
        raise ExchangeError(f"expected a JSON object, found {type(value).__name__}", line)
    if "\\ud" in text or "\\uD" in text:  # only an escape can make a surrogate: UTF-8 input has none
        _refuse_surrogates(value, line)
    kind = value.get("kind")
    if not isinstance(kind, str):
        raise ExchangeError('the object has no "kind" string', line)
    return value


def _check_header(record: Mapping[str, Any], line: int) -> dict[str, Any]:
    if record.get("kind") != "capture" or record.get("format") != FORMAT:
        raise ExchangeError(
            f'expected the capture header {{"kind":"capture","format":"{FORMAT}",...}} (a file written by '
            f"`inspector export --format jsonl`), found kind {record.get('kind')!r}",
            line,
        )
    version = record.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ExchangeError("the capture header has no integer version", line)
    if version > FORMAT_VERSION:
        raise ExchangeError(
            f"the file is format version {version}; this Inspector reads up to {FORMAT_VERSION}. "
            "Update Inspector to import it.",
            line,
        )
    info = record.get("info", {})
    if not isinstance(info, dict):
        raise ExchangeError("the capture header's info must be an object", line)
    return info


def _check_end(record: Mapping[str, Any], counts: Mapping[str, int], line: int) -> None:
    expected = record.get("counts")
    if isinstance(expected, Mapping):
        for kind, n in expected.items():
            if counts.get(kind, 0) != n:
                raise ExchangeError(
                    f"the end line counts {n} {kind} records but the file holds {counts.get(kind, 0)}; the file is "
                    "incomplete or was edited (drop this line to import it anyway)",
                    line,
                )
    records = record.get("records")
    if records is not None and records != sum(counts.values()):
        raise ExchangeError(
            f"the end line counts {records} records but the file holds {sum(counts.values())}; the "
            "file is incomplete or was edited (drop this line to import it anyway)",
            line,
        )


def _temp_sibling(path: Path, purpose: str) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".{purpose}.tmp", dir=path.parent)
    os.close(fd)
    return Path(name)


def _remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    with contextlib.suppress(OSError), path.open("rb") as f:
        os.fsync(f.fileno())


def import_jsonl(
    lines: Iterable[str], capture_path: str | Path, overwrite: bool = False, batch_size: int = 5000
) -> int:
    """Rebuild a capture at `capture_path` from JSONL lines; returns the number of rows imported.

    Rows keep their values and `seq`/`id`; search indexes are rebuilt. Bad input raises `ExchangeError`
    (`line N: reason`). The capture is built in a temporary file next to `capture_path` and renamed over it only when
    every line was read, so a failure leaves no file and an existing file untouched; `FileExistsError` if
    `capture_path` exists and not `overwrite`.
    """
    target = Path(capture_path)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; choose another file or allow overwriting")
    temp = _temp_sibling(target, "import")
    capture: CaptureFile | None = None
    try:
        capture = CaptureFile.create(temp, overwrite=True)
        importer = _Importer(capture)
        header_seen = False
        ended_at: int | None = None
        pending = 0
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            record = _parse_line(text, number)
            if ended_at is not None:
                raise ExchangeError(f"a {record['kind']!r} line after the end line (line {ended_at})", number)
            kind = record["kind"]
            if not header_seen:
                info = _check_header(record, number)
                header_seen = True
                info["schema_version"] = SCHEMA_VERSION  # the rows are written in this Inspector's schema
                with capture.conn:  # not set_info(**info): any key is allowed, "self" included
                    capture.conn.executemany(
                        "INSERT INTO capture_info (key, value) VALUES (?, ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        [(k, dumps(v)) for k, v in info.items()],
                    )
                continue
            if kind == "capture":
                raise ExchangeError("a second capture header; the file holds more than one capture", number)
            if kind == "end":
                _check_end(record, importer.counts, number)
                ended_at = number
                continue
            if kind not in KIND_TABLES:
                raise ExchangeError(f"unknown kind {kind!r} (known: capture, {', '.join(KIND_TABLES)}, end)", number)
            if not capture.conn.in_transaction:
                capture.conn.execute("BEGIN")
            importer.insert(record, number)
            pending += 1
            if pending >= batch_size:
                capture.conn.commit()
                pending = 0
        if not header_seen:
            raise ExchangeError("the file is empty; expected an `inspector export --format jsonl` file", 1)
        capture.conn.commit()
        capture.conn.execute("PRAGMA journal_mode=DELETE")  # one self-contained file to rename; WAL returns on open
        capture.close()
        capture = None
        _fsync(temp)
        for suffix in ("-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)  # a stale WAL must never be applied to the new file
        os.replace(temp, target)
        return sum(importer.counts.values())
    except BaseException:
        if capture is not None:
            with contextlib.suppress(sqlite3.Error):
                capture.close()
        _remove_database(temp)
        raise


# --- HAR export ------------------------------------------------------------------------------------------------------


def _iso(ts: Any) -> str:
    if not isinstance(ts, int | float) or isinstance(ts, bool) or not math.isfinite(ts):
        ts = 0.0
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _webhook_url(config: Any, trigger_name: str, redact: bool) -> str:
    webhook = config.get("webhook") if isinstance(config, Mapping) else None
    if isinstance(webhook, str) and webhook.startswith(("http://", "https://")) and "{{" not in webhook:
        return redact_url(webhook)
    return f"urn:hasura-trigger:{quote(trigger_name, safe='')}"


def _har_headers(headers: Any) -> list[dict[str, str]]:
    out = []
    for header in headers if isinstance(headers, list) else []:
        if not isinstance(header, Mapping) or not isinstance(header.get("name"), str):
            continue
        if "value" in header:
            value = header["value"]
            out.append({"name": header["name"], "value": value if isinstance(value, str) else dumps(value)})
        elif "value_from_env" in header:
            out.append(
                {
                    "name": header["name"],
                    "value": "",
                    "comment": f"value from environment variable {header['value_from_env']} (not recorded)",
                }
            )
    return out


def _header(headers: list[dict[str, str]], name: str) -> str | None:
    for header in headers:
        if header["name"].lower() == name:
            return header["value"]
    return None


def _content(body: Any, mime: str | None) -> dict[str, Any]:
    """HAR `content` for a stored body: text, a `["Base64", b64]` blob, or other JSON."""
    if body is None:
        return {"size": 0, "mimeType": mime or "x-unknown"}
    if isinstance(body, list) and len(body) == 2 and body[0] == "Base64" and isinstance(body[1], str):
        try:
            size = len(base64.b64decode(body[1], validate=True))
        except (binascii.Error, ValueError):
            size = -1
        return {"size": size, "mimeType": mime or "application/octet-stream", "text": body[1], "encoding": "base64"}
    text = body if isinstance(body, str) else dumps(body)
    if mime is None:
        try:
            json.loads(text)
            mime = "application/json"
        except ValueError:
            mime = "text/plain"
    return {"size": len(text.encode("utf-8")), "mimeType": mime, "text": text}


def har_entry(invocation: Mapping[str, Any], trigger_config: Any = None, redact: bool = False) -> dict[str, Any]:
    """One HAR 1.2 entry for an `invocations` row (columns as stored)."""
    request = _load(invocation.get("request"))
    response = _load(invocation.get("response"))
    request = _redact_request(request, redact)
    response = _redact_response(response, redact)
    trigger = str(invocation.get("trigger_name") or "")
    req_headers = _har_headers(request.get("headers") if isinstance(request, Mapping) else None)
    payload = request.get("payload") if isinstance(request, Mapping) else None
    url = _webhook_url(trigger_config, trigger, redact)
    har_request: dict[str, Any] = {
        "method": "POST",
        "url": url,
        "httpVersion": "HTTP/1.1",
        "cookies": [],
        "headers": req_headers,
        "queryString": [{"name": k, "value": v} for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True)],
        "headersSize": -1,
        "bodySize": 0,
    }
    if payload is not None:
        text = payload if isinstance(payload, str) else dumps(payload)
        har_request["postData"] = {"mimeType": _header(req_headers, "content-type") or "application/json", "text": text}
        har_request["bodySize"] = len(text.encode("utf-8"))

    data = response.get("data") if isinstance(response, Mapping) else None
    data = data if isinstance(data, Mapping) else {}
    http_status = invocation.get("http_status")
    answered = isinstance(http_status, int) and not isinstance(http_status, bool)
    status: int = http_status if isinstance(http_status, int) and answered else 0
    resp_headers = _har_headers(data.get("headers"))
    body = data.get("body", data.get("message"))
    content = _content(body, _header(resp_headers, "content-type"))
    try:
        status_text = http.HTTPStatus(status).phrase if answered else ""
    except ValueError:
        status_text = ""
    har_response: dict[str, Any] = {
        "status": status,
        "statusText": status_text,
        "httpVersion": "HTTP/1.1" if answered else "",
        "cookies": [],
        "headers": resp_headers,
        "content": content,
        "redirectURL": _header(resp_headers, "location") or "",
        "headersSize": -1,
        "bodySize": content["size"] if answered and content["size"] >= 0 else -1,
    }
    if not answered:
        har_response["_error"] = content.get("text", "no HTTP response")

    duration = invocation.get("duration_ms")
    known = (
        isinstance(duration, int | float)
        and not isinstance(duration, bool)
        and math.isfinite(duration)
        and duration >= 0
    )
    wait = float(duration) if isinstance(duration, int | float) and known else 0.0
    created_ts = invocation.get("created_ts")
    entry: dict[str, Any] = {
        "startedDateTime": _iso(created_ts if created_ts is not None else invocation.get("captured_at")),
        "time": wait,
        "request": har_request,
        "response": har_response,
        "cache": {},
        "timings": {"blocked": -1, "dns": -1, "connect": -1, "send": 0, "wait": wait, "receive": 0, "ssl": -1},
        "comment": f"{trigger} attempt {invocation.get('attempt')} of event {invocation.get('event_id')}",
        "_inspector": {
            "invocation_id": invocation.get("id"),
            "event_id": invocation.get("event_id"),
            "trigger_name": trigger,
            "attempt": invocation.get("attempt"),
            "stored_status": invocation.get("status"),
            "created_at": invocation.get("created_at"),
            "source": invocation.get("source"),
            "response_type": response.get("type") if isinstance(response, Mapping) else None,
        },
    }
    if not known:
        entry["_durationUnknown"] = True
    return entry


def _load(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return None


def export_har(capture: CaptureFile, out: TextIO, redact: bool = False) -> int:
    """Write the capture's invocations as a HAR 1.2 log to `out`; returns the number of entries.

    One entry per invocation, in capture order, streamed (memory stays flat). The request is the POST Hasura sent:
    to the trigger's webhook URL (from the latest trigger snapshot when it is a plain http(s) URL, else
    `urn:hasura-trigger:<name>`), with the logged headers and the payload as `application/json` post data. The
    response has status 0 when no HTTP answer came (`_error` then holds the stored error), and the body stored in
    `data.body` (webhook_response) or `data.message` (client_error); `["Base64", ...]` bodies keep `encoding: base64`.
    `time` is the measured duration, or 0 with `"_durationUnknown": true` (Hasura does not record one).
    """
    with _snapshot(capture):
        configs = {row["name"]: _load(row["config"]) for row in capture.trigger_snapshot()}
        header = {
            "version": "1.2",
            "creator": {"name": "Inspector", "version": __version__},
            "comment": f"Hasura event-trigger invocations from the Inspector capture {capture.path.name}",
        }
        opening = json.dumps({"log": header}, ensure_ascii=False)
        out.write(opening[:-2] + ',"entries":[')
        n = 0
        for row in _iter_table(capture, "invocations"):
            entry = har_entry(row, configs.get(row.get("trigger_name")), redact)
            out.write(("," if n else "") + "\n" + json.dumps(entry, ensure_ascii=False))
            n += 1
        out.write("\n]}}\n")
    return n


__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "KIND_TABLES",
    "ExchangeError",
    "export_har",
    "export_jsonl",
    "export_record",
    "har_entry",
    "import_jsonl",
]
