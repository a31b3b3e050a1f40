"""Realistic capture contents for store tests: Hasura-shaped event and invocation records
(`server/src-lib/Hasura/RQL/Types/Eventing.hs`; Hasura's docs `docs/docs/api-reference/metadata-api/event-triggers.mdx`)
built with the same helpers the sandbox uses, and a sample capture that holds something in every table."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path
from typing import Any

from inspector.core.events import EventRecord, InvocationRecord
from inspector.core.hasura import (
    HeaderConf,
    client_error,
    event_payload,
    invocation_request,
    request_headers,
    webhook_body,
    webhook_response,
)
from inspector.store.capture_file import CaptureFile, CaptureWriter

WEBHOOK_SECRET = "hunter2-literal-webhook-secret"
ADMIN_SECRET = "admin-secret-that-must-never-leak"
USER_ID = "user-7f3a9c"
"""The ordering user, in row data (`data.new.user_id`)."""
SESSION_USER = "sess-user-4242"
"""The `x-hasura-user-id` session variable of the request that made the change."""

CONFIGURED_HEADERS = (
    HeaderConf("X-Webhook-Secret", value=WEBHOOK_SECRET),
    HeaderConf("x-hasura-admin-secret", value=ADMIN_SECRET),
    HeaderConf("X-Env-Token", value_from_env="HANDLER_TOKEN"),
    HeaderConf("X-Tenant", value="acme"),
)


def event_dict(
    event_id: str,
    trigger: str = "validate-order",
    op: str = "INSERT",
    new: dict[str, Any] | None = None,
    old: dict[str, Any] | None = None,
    created_at: str = "2024-03-01T12:00:00.123456",
    tries: int = 0,
    delivered: bool = False,
    error: bool = False,
    locked: str | None = None,
    next_retry_at: str | None = None,
    session_variables: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An `EventLog` record as `pg_get_event_logs` returns it (Hasura's docs
    `docs/docs/api-reference/metadata-api/event-triggers.mdx`)."""
    if new is None and op != "DELETE":
        new = {"order_id": event_id[:8], "user_id": USER_ID, "address": "12 Rue de la Paix", "items": ["pizza"]}
    session = session_variables
    if session is None:
        session = {"x-hasura-role": "user", "x-hasura-user-id": SESSION_USER}
    return {
        "id": event_id,
        "schema_name": "public",
        "table_name": "orders",
        "trigger_name": trigger,
        "payload": event_payload(op, old, new, session, {"trace_id": "4bf92f3577b34da6", "span_id": "00f067aa"}),
        "delivered": delivered,
        "error": error,
        "tries": tries,
        "created_at": created_at,
        "locked": locked,
        "next_retry_at": next_retry_at,
        "archived": False,
    }


def invocation_dict(
    invocation_id: str,
    event: dict[str, Any],
    http_status: int | None,
    response: dict[str, Any],
    created_at: str,
    current_retry: int = 0,
    status_key: str = "http_status",
) -> dict[str, Any]:
    """An `EventInvocationLog` record (Hasura's docs `docs/docs/api-reference/metadata-api/event-triggers.mdx`): the
    request Hasura logged (body + headers) and the stored response."""
    _, logged = request_headers(CONFIGURED_HEADERS, {})
    body = webhook_body(
        event["id"],
        "public",
        "orders",
        event["trigger_name"],
        event["payload"],
        current_retry,
        3,
        event["created_at"],
    )
    return {
        "id": invocation_id,
        "trigger_name": event["trigger_name"],
        "event_id": event["id"],
        status_key: http_status,
        "request": invocation_request(body, logged),
        "response": response,
        "created_at": created_at,
    }


def ok_response(body: str = '{"ok":true}') -> dict[str, Any]:
    return webhook_response(body, [("Content-Type", "application/json"), ("Set-Cookie", "sid=abc123")], 200)


def snapshot(writer: CaptureWriter) -> None:
    writer.snapshot_triggers(
        [
            (
                "default",
                {"schema": "public", "name": "orders"},
                {
                    "name": "validate-order",
                    "definition": {"enable_manual": False, "insert": {"columns": "*"}},
                    "retry_conf": {"num_retries": 3, "interval_sec": 10, "timeout_sec": 60},
                    "webhook": "http://localhost:8081/validate-order",
                    "headers": [{"name": "X-Webhook-Secret", "value": WEBHOOK_SECRET}],
                },
            ),
            (
                "default",
                {"schema": "public", "name": "orders"},
                {
                    "name": "restaurant-approval",
                    "definition": {"enable_manual": False, "update": {"columns": ["payment_valid"]}},
                    "retry_conf": {"num_retries": 0, "interval_sec": 10, "timeout_sec": 60},
                    "webhook_from_env": "APPROVAL_URL",
                },
            ),
        ]
    )


def build_sample(path: Path) -> CaptureFile:
    """A capture with a row in every table and the awkward cases: retries, a network error, a legacy 1000, a binary
    body, non-ASCII and line-separator characters, a stream cursor, marks and notes."""
    capture = CaptureFile.create(path)
    capture.set_info(endpoint="http://localhost:8080/v1/graphql", server_version="v2.48.0", started_at=1709294400.5)
    writer = CaptureWriter(capture)
    snapshot(writer)

    e1 = event_dict("6f1c2d3e-0001-4000-8000-000000000001")
    e1["payload"]["data"]["new"]["note"] = "café ☕ line\u2028sep"
    writer.observe_event(EventRecord.from_hasura(e1), now=1709294401.0)
    writer.observe_invocation(
        InvocationRecord.from_hasura(
            invocation_dict("inv-0001", e1, 500, client_error("kitchen closed"), "2024-03-01T12:00:01.000000")
        ),
        now=1709294401.5,
    )
    writer.observe_event(
        EventRecord.from_hasura({**e1, "tries": 1, "next_retry_at": "2024-03-01T12:00:11.000000"}), now=1709294402.0
    )
    writer.observe_invocation(
        InvocationRecord.from_hasura(
            invocation_dict("inv-0002", e1, 200, ok_response(), "2024-03-01T12:00:11.250000", current_retry=1)
        ),
        duration_ms=42.5,
        now=1709294412.0,
    )
    writer.observe_event(EventRecord.from_hasura({**e1, "tries": 2, "delivered": True}), now=1709294412.5)

    e2 = event_dict(
        "6f1c2d3e-0002-4000-8000-000000000002",
        trigger="restaurant-approval",
        op="UPDATE",
        old={"order_id": "o2", "payment_valid": False},
        new={"order_id": "o2", "payment_valid": True},
        created_at="2024-03-01T12:01:00.000000",
        session_variables={"x-hasura-role": "admin"},
    )
    writer.observe_event(EventRecord.from_hasura(e2), now=1709294461.0)
    exception = json.dumps({"type": "http_exception", "message": "ConnectionFailure: connection refused"})
    writer.observe_invocation(
        InvocationRecord.from_hasura(
            invocation_dict("inv-0003", e2, None, client_error(exception), "2024-03-01T12:01:00.500000")
        )
    )
    writer.observe_event(EventRecord.from_hasura({**e2, "tries": 1, "error": True}), now=1709294462.0)

    e3 = event_dict("6f1c2d3e-0003-4000-8000-000000000003", created_at="2024-03-01T12:02:00Z")
    writer.observe_event(EventRecord.from_hasura(e3), now=1709294521.0)
    legacy = invocation_dict(
        "inv-0004",
        e3,
        1000,
        {"type": "client_error", "data": {"message": "HttpExceptionRequest timeout"}, "version": "2"},
        "2024-03-01T12:02:01.000000",
        status_key="status",
    )
    writer.observe_invocation(InvocationRecord.from_hasura(legacy))
    blob = base64.b64encode(b"\x89PNG\r\n\x1a\n\xff\x00binary").decode()
    binary = webhook_response("", [("Content-Type", "image/png")], 200)
    binary["data"]["body"] = ["Base64", blob]
    writer.observe_invocation(
        InvocationRecord.from_hasura(invocation_dict("inv-0005", e3, 200, binary, "2024-03-01T12:02:11.000000"))
    )

    operation = writer.add_operation(
        "OrderStream",
        "subscription OrderStream($since: timestamptz!) { orders_stream(batch_size: 10, cursor: "
        "{initial_value: {created: $since}}) { order_id created } }",
        {"since": "2024-03-01T00:00:00Z"},
        "stream",
        "graphql-transport-ws",
    )
    frame = {"id": "1", "type": "next", "payload": {"data": {"orders_stream": [{"order_id": "o1", "created": "t1"}]}}}
    writer.add_message(operation, 1709294403.0, "next", json.dumps(frame), data=frame["payload"]["data"], rows=1)
    writer.add_message(operation, 1709294404.0, "ka", '{"type":"ka"}')
    writer.update_operation(operation, cursor={"created": "t1"}, state="stopped", ended_at=1709294500.0)
    writer.log("info", "subscriptions", "connected with graphql-transport-ws")
    writer.log("warning", "event log", "ConnectionFailure; retrying in 1 s")
    writer.flush()
    with capture.conn:
        capture.conn.execute("INSERT INTO marks VALUES ('event', ?, 1709294600.0)", (e1["id"],))
        capture.conn.execute("INSERT INTO marks VALUES ('invocation', 'inv-0003', 1709294601.0)")
        capture.conn.execute(
            "INSERT INTO notes (kind, target, created_at, text) VALUES ('event', ?, 1709294602.0, 'retried once: "
            "kitchen was closed')",
            (e1["id"],),
        )
    return capture


def table_rows(capture: CaptureFile) -> dict[str, list[dict[str, Any]]]:
    """Every row of every data table, for comparing two captures."""
    out = {}
    for table in (
        "trigger_snapshots",
        "events",
        "event_states",
        "invocations",
        "operations",
        "messages",
        "session_log",
        "marks",
        "notes",
    ):
        out[table] = list(capture.iter_table(table))
    return out


def exported_rows(capture: CaptureFile) -> str:
    """`table_rows` as JSON text with the admin secret replaced as every export replaces it."""
    return json.dumps(table_rows(capture), ensure_ascii=False).replace(ADMIN_SECRET, "<redacted>")


BIG_ROWS = """
WITH RECURSIVE n(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM n WHERE i < ?)
INSERT INTO events (seq, id, trigger_name, schema_name, table_name, op, created_at, created_ts, payload, status,
  delivered, error, tries, archived, attempts, row_key, captured_at, updated_at)
SELECT i, printf('%08x-0000-4000-8000-%012d', i, i),
  CASE i % 4 WHEN 0 THEN 'validate-order' WHEN 1 THEN 'process-payment' WHEN 2 THEN 'restaurant-approval'
    ELSE 'agent-assignment' END,
  'public', 'orders', 'INSERT', strftime('%Y-%m-%dT%H:%M:%f', 1709294400 + i * 0.01, 'unixepoch'),
  1709294400 + i * 0.01, json_object('op', 'INSERT', 'data', json_object('old', NULL,
    'new', json_object('id', i, 'restaurant_id', i % 50))), 'pending', 0, 0, 0, 0, 0, i, 1709294400, 1709294400
FROM n
"""


def add_rows(path: Path, first: int, last: int) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(BIG_ROWS, (first, last))
    conn.close()


def build_big_capture(path: Path, rows: int) -> Path:
    """Rows generated in SQL in one transaction (without the full-text triggers: the list does not use them)."""
    CaptureFile.create(path).close()
    conn = sqlite3.connect(path)
    with conn:
        for trigger in ("events_ai", "events_ad", "events_au"):
            conn.execute(f"DROP TRIGGER {trigger}")
        conn.execute(BIG_ROWS, (1, rows))
    conn.close()
    return path
