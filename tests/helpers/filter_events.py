"""The five events the display filter tests run on, in a real capture, and the filters with the events each selects.

Used by the SQL tests (`tests/store/test_filter_sql.py`) and the in-memory evaluation tests
(`tests/core/filter/test_evaluate.py`), which must agree on every example.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from inspector.core.events import EventRecord, InvocationRecord
from inspector.core.hasura import client_error, webhook_response
from inspector.store.capture_file import CaptureFile, CaptureWriter
from tests.helpers.captures import event_dict, invocation_dict, ok_response

NOW = 1709294700.0
ALL = {"e1", "e2", "e3", "e4", "e5"}
"""Every event of the capture."""


# --- a capture with five events that differ in every field the language can see ---------------------------------


def _failure(status: int) -> dict[str, Any]:
    return webhook_response('{"error":"kitchen closed"}', [("Content-Type", "application/json")], status)


def build_filter_capture(path: Path) -> CaptureFile:
    """The capture: five events, e1..e5, and their attempts."""
    capture = CaptureFile.create(path)
    writer = CaptureWriter(capture)

    def record(event: dict[str, Any], final: dict[str, Any], attempts: list[tuple[str, int | None, str]]) -> None:
        writer.observe_event(EventRecord.from_hasura(event), now=NOW)
        for n, (inv_id, status, at) in enumerate(attempts):
            response = (
                ok_response()
                if status == 200
                else _failure(status)
                if status
                else client_error('{"type":"http_exception","message":"ConnectionFailure: connection refused"}')
            )
            writer.observe_invocation(
                InvocationRecord.from_hasura(invocation_dict(inv_id, event, status, response, at, current_retry=n)),
                now=NOW,
            )
        writer.observe_event(EventRecord.from_hasura({**event, **final}), now=NOW)

    e1 = event_dict(
        "e1",
        new={"order_id": "o1", "restaurant_id": 3, "address": "1 Main St", "items": ["pizza"], "total": 25.5},
        created_at="2024-03-01T12:00:00",
        session_variables={"x-hasura-role": "user", "x-hasura-user-id": "u1"},
    )
    record(
        e1,
        {"tries": 2, "delivered": True},
        [("i1a", 500, "2024-03-01T12:00:01"), ("i1b", 200, "2024-03-01T12:00:11")],
    )
    e2 = event_dict(
        "e2",
        new={"order_id": "o2", "restaurant_id": 5, "address": "22 Elm St", "items": ["salad"], "total": 9},
        created_at="2024-03-01T12:01:00",
        session_variables={"x-hasura-role": "user", "x-hasura-user-id": "u2"},
    )
    record(e2, {"tries": 1, "next_retry_at": "2024-03-01T12:01:10"}, [("i2a", 503, "2024-03-01T12:01:00.050")])
    e3 = event_dict(
        "e3",
        trigger="restaurant-approval",
        op="UPDATE",
        old={"order_id": "o3", "restaurant_id": 3, "payment_valid": False},
        new={
            "order_id": "o3",
            "restaurant_id": 3,
            "payment_valid": True,
            "address": "1 Rue de la Paix",
            "note": "café au lait",
        },
        created_at="2024-03-01T12:02:00",
        session_variables={"x-hasura-role": "admin"},
    )
    record(e3, {"tries": 1, "delivered": True}, [("i3a", 200, "2024-03-01T12:02:00.080")])
    e4 = event_dict(
        "e4",
        op="DELETE",
        old={"order_id": "o4", "restaurant_id": "3"},
        created_at="2024-03-01T12:03:00",
        session_variables={"x-hasura-role": "user", "x-hasura-user-id": "u4"},
    )
    record(e4, {}, [])
    e5 = event_dict(
        "e5",
        trigger="notify-kitchen",
        new={"order_id": "o5", "restaurant_id": 7, "address": "9 Ocean Ave", "items": ["sushi"], "total": 40},
        created_at="2024-03-01T12:04:00",
        session_variables={"x-hasura-role": "user", "x-hasura-user-id": "u5"},
    )
    record(
        e5,
        {"tries": 3, "error": True},
        [
            ("i5a", None, "2024-03-01T12:04:00.200"),
            ("i5b", 500, "2024-03-01T12:04:10"),
            ("i5c", 500, "2024-03-01T12:04:20"),
        ],
    )
    writer.flush()
    return capture


def event_rows(capture: CaptureFile) -> dict[str, dict[str, Any]]:
    """Every event as `inspector.core.filter.evaluate` reads one: its `events` row, with its `invocations` rows."""
    attempts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in capture.rows("SELECT * FROM invocations ORDER BY seq"):
        attempts[row["event_id"]].append(dict(row))
    return {
        row["id"]: {**dict(row), "invocations": attempts[row["id"]]} for row in capture.rows("SELECT * FROM events")
    }


# --- every example, with the events it selects -----------------------------------------------------------------------

EXAMPLES = [
    # the examples
    ('trigger == "validate-order" and http_status >= 500', {"e2"}),
    ("data.new.restaurant_id == 3 || tries > 1", {"e1", "e3", "e5"}),
    ("not delivered", {"e2", "e4", "e5"}),
    ("!delivered", {"e2", "e4", "e5"}),
    ("status in {failed retrying}", {"e2", "e5"}),
    ("status in {failed, retrying}", {"e2", "e5"}),
    ('"pizza"', {"e1"}),
    ('session.user-id == "u1"', {"e1"}),
    ("session.x-hasura-user-id == u1", {"e1"}),
    ("latency > 100", {"e1", "e5"}),
    ('data.new.address matches "^1 "', {"e1", "e3"}),
    # everything
    ("", {"e1", "e2", "e3", "e4", "e5"}),
    ("   ", {"e1", "e2", "e3", "e4", "e5"}),
    # booleans and statuses
    ("delivered", {"e1", "e3"}),
    ("delivered == false", {"e2", "e4", "e5"}),
    ("delivered != true", {"e2", "e4", "e5"}),
    ("error", {"e5"}),
    ("delivered && !error", {"e1", "e3"}),
    ("status == delivered", {"e1", "e3"}),
    ('status != "delivered"', {"e2", "e4", "e5"}),
    ("status not in {delivered}", {"e2", "e4", "e5"}),
    ("STATUS == Pending", set()),  # field names are case-sensitive: see the error tests
    # text fields
    ('trigger != "validate-order"', {"e3", "e5"}),
    ("trigger == notify-kitchen", {"e5"}),
    ('trigger contains "approval"', {"e3"}),
    ('trigger not contains "order"', {"e3", "e5"}),
    ('trigger matches "^(notify|restaurant)-"', {"e3", "e5"}),
    ('trigger ~ "kitchen$"', {"e5"}),
    ('trigger matches "(?i)^VALIDATE"', {"e1", "e2", "e4"}),
    ("table == orders", {"e1", "e2", "e3", "e4", "e5"}),
    ("op == delete", {"e4"}),
    ("op in {insert UPDATE}", {"e1", "e2", "e3", "e5"}),
    ("role == admin", {"e3"}),
    ("row_key == o1 or row_key == o4", {"e1", "e4"}),
    ('id == "e3"', {"e3"}),
    ("trace_id", {"e1", "e2", "e3", "e4", "e5"}),
    # numbers
    ("tries > 1", {"e1", "e5"}),
    ("tries ge 2 and tries lt 3", {"e1"}),
    ("attempts >= 2", {"e1", "e5"}),
    ("attempts == 0", {"e4"}),
    ("http_status in {200..299}", {"e1", "e3"}),
    ("http_status in {503, 200..201}", {"e1", "e2", "e3"}),
    ("http_status == null", {"e4"}),
    ("http_status != null", {"e1", "e2", "e3", "e5"}),
    ("http_status", {"e1", "e2", "e3", "e5"}),
    # any attempt
    ("invocation.http_status >= 500", {"e1", "e2", "e5"}),
    ('invocation.http_status >= 500 and trigger == "validate-order"', {"e1", "e2"}),
    ("invocation.http_status == null", {"e5"}),
    ("invocation.http_status != 500", {"e2", "e3", "e4"}),
    ("not invocation.http_status", {"e4"}),
    ("invocation.http_status in {500..599}", {"e1", "e2", "e5"}),
    ('invocation.response contains "connection refused"', {"e5"}),
    # JSON row data, typed
    ("data.old.restaurant_id == 3", {"e3"}),
    ('data.old.restaurant_id == "3"', {"e4"}),
    ("data.new.restaurant_id == 3.0", {"e1", "e3"}),
    ("data.new.restaurant_id != 3", {"e2", "e4", "e5"}),
    ("not data.new.restaurant_id == 3", {"e2", "e4", "e5"}),
    ("data.new.restaurant_id in {3 7}", {"e1", "e3", "e5"}),
    ('data.old.restaurant_id in {3 "3"}', {"e3", "e4"}),
    ("data.new.restaurant_id in {4..7}", {"e2", "e5"}),
    ("data.new.total > 20", {"e1", "e5"}),
    ("data.new.total == 25.5", {"e1"}),
    ("data.new.address > 5", set()),  # a string is not a number, not "greater than" one
    ('data.new.address > "2"', {"e2", "e5"}),
    ("data.new.payment_valid == true", {"e3"}),
    ("data.new.payment_valid == 1", set()),  # JSON true is not the number 1
    ("data.old.payment_valid == false", {"e3"}),
    ("data.old.payment_valid != false", {"e1", "e2", "e4", "e5"}),
    ('data.new.items[0] == "pizza"', {"e1"}),
    ('data.new.items contains "sushi"', {"e5"}),
    ("data.new.items[0] in {pizza salad}", {"e1", "e2"}),
    ('data.new == "x"', set()),
    ("data.new", {"e1", "e2", "e3", "e5"}),
    ("data.old", {"e3", "e4"}),
    ("data.new.missing", set()),
    ("data.new.missing == null", {"e1", "e2", "e3", "e4", "e5"}),
    ('data.new.address matches "\\d+ [A-Z][a-z]+ [A-Z]"', {"e1", "e2", "e5"}),
    ('data.new.address matches r"^\\d{2} "', {"e2"}),
    ('data.new.address not matches "^1 "', {"e2", "e4", "e5"}),
    # session
    ("session.role == admin", {"e3"}),
    ("session.USER-ID in {u1 u2}", {"e1", "e2"}),
    ("session.user-id", {"e1", "e2", "e4", "e5"}),
    # free text
    ('"PIZZA"', {"e1"}),
    ('"piz*"', {"e1"}),
    ('"café"', {"e3"}),
    ('"cafe"', {"e3"}),
    ("'rue de la paix'", {"e3"}),
    ('"pizza" or role == admin', {"e1", "e3"}),
    ('not "pizza"', {"e2", "e3", "e4", "e5"}),
    # times
    ('created_at >= "2024-03-01T12:01"', {"e2", "e3", "e4", "e5"}),
    ('created_at == "2024-03-01T12:01"', {"e2"}),
    ('created_at < "2024-03-01T12:01"', {"e1"}),
    ('created_at <= "2024-03-01T12:01"', {"e1", "e2"}),
    ('created_at > "2024-03-01T12:01"', {"e3", "e4", "e5"}),
    ('created_at != "2024-03-01T12:01"', {"e1", "e3", "e4", "e5"}),
    ("created_at == 2024-03-01", {"e1", "e2", "e3", "e4", "e5"}),
    ('created_at > "2024-03-01T12:02:00+01:00"', {"e1", "e2", "e3", "e4", "e5"}),
    ('created_at >= "2024-03-01T12:02:00.000001Z"', {"e4", "e5"}),
    ("created_at > -150s", {"e4", "e5"}),
    ('created_at > "4 minutes ago"', {"e3", "e4", "e5"}),
    ('created_at > "3 minutes ago"', {"e4", "e5"}),  # 12:02:00 exactly is not after 12:02:00
    ('created_at > "-2.5m"', {"e4", "e5"}),
    ("created_at < now", {"e1", "e2", "e3", "e4", "e5"}),
    (f"created_at >= {NOW - 60}", {"e5"}),
    # latency
    ("latency < 1s", {"e2", "e3", "e5"}),
    ("latency <= 80ms", {"e2", "e3"}),
    ("latency > 0.1s and latency < 1m", {"e1", "e5"}),
    ("latency == null", {"e4"}),
    ("latency in {49..51 79..81}", {"e2", "e3"}),
    # precedence and grouping
    ("trigger == notify-kitchen or trigger == restaurant-approval and delivered", {"e3", "e5"}),
    ("(trigger == notify-kitchen or trigger == restaurant-approval) and delivered", {"e3"}),
    ("not not delivered", {"e1", "e3"}),
    ("NOT (delivered OR error) AND op == insert", {"e2"}),
    ('(trigger == "validate-order" || trigger == notify-kitchen) && !(status == delivered)', {"e2", "e4", "e5"}),
    ("not (trigger == validate-order and data.new.restaurant_id == 3)", {"e2", "e3", "e4", "e5"}),
    ("not (data.new.restaurant_id == 3 or tries > 1)", {"e2", "e4"}),
    ("not (not delivered or not (tries > 1))", {"e1"}),
    # long chains (more than 16 operands are a CASE)
    ("not (" + " or ".join(f"data.new.restaurant_id == {n}" for n in range(4, 30)) + ")", {"e1", "e3", "e4"}),
    (" and ".join(f"tries != {n}" for n in range(4, 30)) + " and delivered", {"e1", "e3"}),
    ("not (" + " and ".join(["delivered"] * 20) + ")", {"e2", "e4", "e5"}),
    (" || ".join(["error"] * 20 + ["role == admin"]), {"e3", "e5"}),
]
"""Filters and the events each selects; `STATUS == Pending` is an error (field names are case-sensitive)."""
