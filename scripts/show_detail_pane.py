"""Open the detail pane on a capture, for looking at it (and taking screenshots under Xvfb).

    python scripts/show_detail_pane.py                      # a sample capture made on the fly
    python scripts/show_detail_pane.py CAPTURE [EVENT_ID]   # an existing capture (first event if no id)
    python scripts/show_detail_pane.py --tab invocations    # open on a tab: payload, changes, raw, invocations, states
    python scripts/show_detail_pane.py --tab response --attempt 1   # an invocation's sub-tab: request, response
    python scripts/show_detail_pane.py --cycle 1            # switch tab every second (one screenshot per tab)

A list of the capture's events on the left selects what the pane shows; "Apply as filter" is shown in the status bar.
"""

from __future__ import annotations

import argparse
import base64
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QListWidget, QListWidgetItem, QMainWindow, QSplitter

from inspector.core.events import EventRecord, InvocationRecord
from inspector.core.hasura import (
    client_error,
    event_payload,
    invocation_request,
    webhook_body,
    webhook_response,
)
from inspector.qt.detail.detail_pane import DetailPane
from inspector.store.capture_file import CaptureFile, CaptureWriter
from inspector.store.reader import CaptureReader

Json = dict[str, Any]
TABS = ("payload", "changes", "raw", "invocations", "states")
INVOCATION_TABS = ("request", "response", "invocation-raw")


def _event(event_id: str, trigger: str, op: str, old: Json | None, new: Json | None, created_at: str) -> Json:
    session = {"x-hasura-role": "user", "x-hasura-user-id": "u-1234"}
    trace = {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7", "sampling_state": "1"}
    return {
        "id": event_id,
        "schema_name": "public",
        "table_name": "orders",
        "trigger_name": trigger,
        "payload": event_payload(op, old, new, session, trace),  # type: ignore[arg-type]
        "delivered": False,
        "error": False,
        "tries": 0,
        "created_at": created_at,
        "locked": None,
        "next_retry_at": None,
        "archived": False,
    }


def _invocation(invocation_id: str, event: Json, status: int | None, response: Json, at: str, retry: int) -> Json:
    body = webhook_body(
        event["id"], "public", "orders", event["trigger_name"], event["payload"], retry, 3, event["created_at"]
    )
    headers = [
        {"name": "Content-Type", "value": "application/json"},
        {"name": "User-Agent", "value": "hasura-graphql-engine/v2.48.0"},
        {"name": "X-Webhook-Secret", "value": "<redacted>"},
        {"name": "X-Handler-Token", "value_from_env": "HANDLER_TOKEN"},
    ]
    return {
        "id": invocation_id,
        "trigger_name": event["trigger_name"],
        "event_id": event["id"],
        "http_status": status,
        "request": invocation_request(body, headers),
        "response": response,
        "created_at": at,
    }


def build_sample(path: Path) -> CaptureFile:
    """The food-ordering app's events: an approval UPDATE retried after a 500, an INSERT answered with binary, a
    DELETE whose handler could not be reached."""
    capture = CaptureFile.create(path, overwrite=True)
    writer = CaptureWriter(capture)
    old = {
        "order_id": "0b8f2c1e-6a9d",
        "user_id": "u-1234",
        "restaurant_id": 7,
        "address": "12 Rue de la Paix, Paris",
        "items": [{"name": "pizza margherita", "qty": 2}, {"name": "tiramisu", "qty": 1}],
        "total": 31.5,
        "payment_valid": True,
        "approved": False,
        "approved_at": None,
        "note": "ring twice",
    }
    new = {**old, "approved": True, "approved_at": "2024-03-01T12:00:04.512000", "note": "ring twice — gate code 4B"}
    update = _event(
        "6f1c2d3e-0002-4000-8000-00000000a001", "restaurant-approval", "UPDATE", old, new, "2024-03-01T12:00:04.600123"
    )
    writer.observe_event(EventRecord.from_hasura(update), now=1709294404.7)
    writer.observe_invocation(
        InvocationRecord.from_hasura(
            _invocation(
                "inv-a1",
                update,
                500,
                client_error('{"error":"kitchen closed","retry_in":10}'),
                "2024-03-01T12:00:04.700000",
                0,
            )
        ),
        duration_ms=812.0,
    )
    writer.observe_event(
        EventRecord.from_hasura({**update, "tries": 1, "next_retry_at": "2024-03-01T12:00:14.700000"}),
        now=1709294405.6,
    )
    ok = webhook_response(
        '{"ok":true,"order_id":"0b8f2c1e-6a9d","eta_minutes":25,"courier":{"id":"c-77","name":"Ana"}}',
        [("Content-Type", "application/json; charset=utf-8"), ("X-Request-Id", "req-5b2e")],
        200,
    )
    writer.observe_invocation(
        InvocationRecord.from_hasura(_invocation("inv-a2", update, 200, ok, "2024-03-01T12:00:14.731000", 1)),
        duration_ms=42.5,
    )
    writer.observe_event(EventRecord.from_hasura({**update, "tries": 2, "delivered": True}), now=1709294415.0)

    insert = _event(
        "6f1c2d3e-0001-4000-8000-00000000a000", "validate-order", "INSERT", None, old, "2024-03-01T12:00:00.100000"
    )
    writer.observe_event(EventRecord.from_hasura(insert), now=1709294400.2)
    binary = webhook_response("", [("Content-Type", "image/png")], 200)
    binary["data"]["body"] = ["Base64", base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4).decode()]
    writer.observe_invocation(
        InvocationRecord.from_hasura(_invocation("inv-b1", insert, 200, binary, "2024-03-01T12:00:00.180000", 0)),
        duration_ms=18.25,
    )
    writer.observe_event(EventRecord.from_hasura({**insert, "tries": 1, "delivered": True}), now=1709294400.4)

    delete = _event(
        "6f1c2d3e-0003-4000-8000-00000000a002", "order-cancelled", "DELETE", old, None, "2024-03-01T12:05:00.000000"
    )
    writer.observe_event(EventRecord.from_hasura(delete), now=1709294700.1)
    refused = '{"type":"http_exception","message":"ConnectionFailure: connection refused","request":null}'
    writer.observe_invocation(
        InvocationRecord.from_hasura(
            _invocation("inv-c1", delete, None, client_error(refused), "2024-03-01T12:05:00.050000", 0)
        )
    )
    writer.observe_event(EventRecord.from_hasura({**delete, "tries": 1, "error": True}), now=1709294701.0)
    writer.flush()
    return capture


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("capture", nargs="?", help="a capture file (default: a sample made on the fly)")
    parser.add_argument("event_id", nargs="?", help="the event to show (default: the sample's UPDATE, or the first)")
    parser.add_argument("--tab", choices=TABS + INVOCATION_TABS, default="payload")
    parser.add_argument("--attempt", type=int, help="the attempt to select in Invocations (1 = first)")
    parser.add_argument("--cycle", type=float, default=0.0, help="switch to the next tab every N seconds")
    args = parser.parse_args(argv)

    app = QApplication.instance() or QApplication(sys.argv)
    if args.capture:
        conn = sqlite3.connect(args.capture)
        default = None
    else:
        sample = build_sample(Path(tempfile.mkdtemp(prefix="inspector-")) / "sample.inspector")
        conn = sample.conn
        default = "6f1c2d3e-0002-4000-8000-00000000a001"

    window = QMainWindow()
    window.setWindowTitle("Inspector — detail pane")
    events = QListWidget()
    pane = DetailPane()
    rows = conn.execute("SELECT id, trigger_name, op, status FROM events ORDER BY created_ts, seq").fetchall()
    for event_id, trigger, op, status in rows:
        item = QListWidgetItem(f"{trigger} · {op} · {status}")
        item.setToolTip(event_id)
        item.setData(256, event_id)
        events.addItem(item)

    def on_events_current_item_changed(item: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        if item is not None:
            pane.show_event(CaptureReader(conn), item.data(256))

    events.currentItemChanged.connect(on_events_current_item_changed)
    pane.filterRequested.connect(lambda expression: window.statusBar().showMessage(f"Apply as filter: {expression}"))
    splitter = QSplitter()
    splitter.addWidget(events)
    splitter.addWidget(pane)
    splitter.setSizes([260, 1080])
    window.setCentralWidget(splitter)
    window.resize(1360, 860)

    wanted = args.event_id or default
    ids = [row[0] for row in rows]
    if ids:
        events.setCurrentRow(ids.index(wanted) if wanted in ids else 0)
    if args.tab in INVOCATION_TABS:
        pane.tabs.setCurrentIndex(TABS.index("invocations"))
        pane.invocations.tabs.setCurrentIndex(INVOCATION_TABS.index(args.tab))
    else:
        pane.tabs.setCurrentIndex(TABS.index(args.tab))
    if args.attempt:
        pane.invocations.select_attempt(args.attempt - 1)
    if args.cycle > 0:
        timer = QTimer(window)
        timer.timeout.connect(lambda: pane.tabs.setCurrentIndex((pane.tabs.currentIndex() + 1) % pane.tabs.count()))
        timer.start(int(args.cycle * 1000))
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
