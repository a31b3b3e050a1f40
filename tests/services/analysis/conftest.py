"""Fixtures and helpers of the delivery-analysis tests: `Builder` writes hand-made events and invocations straight into
a capture's tables (each detector's edge cases), and the checks every analysis test shares (`kinds_of`,
`assert_flows_agree`)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from inspector.core.hasura import client_error, event_payload, webhook_response
from inspector.services.analysis import Thresholds, flow_for_event, kinds
from inspector.store.capture_file import CaptureFile
from inspector.store.filter_sql import compile_filter


def flagged(report: Any, kind: str) -> set[str]:
    return {a.event_id for a in report.anomalies if a.kind == kind}


def filter_of(text: str) -> tuple[str, list[Any]]:
    compiled = compile_filter(text)
    return compiled.where, compiled.params


# --- hand-built captures: each detector's edge cases -----------------------------------------------------------------

T0 = 1_709_294_400.0


class Builder:
    """Writes events and invocations straight into a capture's tables, with the figures the writer derives."""

    def __init__(self, path: Path) -> None:
        self.capture = CaptureFile.create(path)
        self.conn = self.capture.conn
        self.n = 0

    def trigger(self, name: str, table: str = "orders", timeout: int = 60, interval: int = 10, **ops: Any) -> None:
        config = {
            "name": name,
            "definition": {"enable_manual": False, **(ops or {"insert": {"columns": "*"}})},
            "retry_conf": {"num_retries": 3, "interval_sec": interval, "timeout_sec": timeout},
            "webhook": f"http://localhost:8081/{name}",
        }
        with self.conn:
            self.conn.execute(
                "INSERT INTO trigger_snapshots (captured_at, source, table_schema, table_name, name, config) "
                "VALUES (?, 'default', 'public', ?, ?, ?)",
                (T0, table, name, json.dumps(config)),
            )

    def event(
        self,
        trigger: str,
        at: float,
        attempts: Sequence[tuple[Any, ...]] = (),
        key: str = "o1",
        op: str = "INSERT",
        old: dict[str, Any] | None = None,
        new: dict[str, Any] | None = None,
        status: str | None = None,
        table: str = "orders",
        trace: str | None = None,
    ) -> str:
        """An event created at T0 + `at` with attempts (seconds after T0, HTTP status or None, response body)."""
        self.n += 1
        event_id = f"e{self.n:03d}"
        new = new if new is not None else ({"order_id": key} if op != "DELETE" else None)
        payload = event_payload(op, old, new, {"x-hasura-role": "user"}, {"trace_id": trace} if trace else None)
        oks = [a for a in attempts if a[1] is not None and 200 <= a[1] < 300]
        if status is None:
            status = "delivered" if oks else ("retrying" if attempts else "pending")
        with self.conn:
            self.conn.execute(
                "INSERT INTO events (id, trigger_name, schema_name, table_name, op, created_at, created_ts, payload, "
                "status, delivered, error, tries, archived, attempts, successes, first_attempt_ts, delivered_ts, "
                "last_http_status, row_key, trace_id) VALUES (?, ?, 'public', ?, ?, '', ?, ?, ?, ?, ?, ?, 0, ?, ?, "
                "?, ?, ?, ?, ?)",
                (
                    event_id,
                    trigger,
                    table,
                    op,
                    T0 + at,
                    json.dumps(payload),
                    status,
                    int(bool(oks)),
                    int(status == "failed"),
                    len(attempts),
                    len(attempts),
                    len(oks),
                    T0 + attempts[0][0] if attempts else None,
                    T0 + oks[0][0] if oks else None,
                    attempts[-1][1] if attempts else None,
                    key,
                    trace,
                ),
            )
            for n, attempt in enumerate(attempts, start=1):
                when, code = attempt[0], attempt[1]
                body = attempt[2] if len(attempt) > 2 else '{"ok": true}'
                if code is None:
                    response = client_error(json.dumps({"type": "http_exception", "message": body, "status": None}))
                elif 200 <= code < 300:
                    response = webhook_response(body, [("Content-Type", "application/json")], code)
                else:
                    response = client_error(body)
                self.conn.execute(
                    "INSERT INTO invocations (id, event_id, trigger_name, attempt, http_status, status, request, "
                    "response, created_at, created_ts) VALUES (?, ?, ?, ?, ?, ?, '{}', ?, '', ?)",
                    (f"{event_id}-{n}", event_id, trigger, n, code, code, json.dumps(response), T0 + when),
                )
        return event_id

    def close(self) -> sqlite3.Connection:
        self.capture.close()
        return sqlite3.connect(self.capture.path)


@pytest.fixture
def built(tmp_path: Path) -> Builder:
    return Builder(tmp_path / "built.inspector")


def row(key: str, address: str, **more: Any) -> dict[str, Any]:
    return {"order_id": key, "address": address, **more}


def kinds_of(report: Any) -> dict[str, set[str]]:
    return {kind: flagged(report, kind) for kind in kinds() if flagged(report, kind)}


def assert_flows_agree(conn: sqlite3.Connection, report: Any, thresholds: Thresholds | None = None) -> None:
    """Each event's flow shows the anomalies `analyse` found for it (one set of definitions)."""
    for (event_id,) in conn.execute("SELECT id FROM events").fetchall():
        flow = flow_for_event(conn, event_id, thresholds=thresholds)
        shown = {a.kind for a in flow.anomalies if a.event_id == event_id}
        assert shown == {kind for kind in kinds() if event_id in flagged(report, kind)}, event_id
