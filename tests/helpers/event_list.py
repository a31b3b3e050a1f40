"""Events for the event-list tests (the Qt model's and the store index's): numbered events on the four example
triggers, written through a real `CaptureWriter`, and their failed or delivered attempts."""

from __future__ import annotations

from typing import Any

from inspector.core.events import EventRecord, InvocationRecord
from inspector.store.capture_file import CaptureWriter
from tests.helpers.captures import client_error, event_dict, invocation_dict, ok_response

TRIGGERS = ("validate-order", "process-payment", "restaurant-approval", "agent-assignment")


def event_id(i: int) -> str:
    return f"6f1c2d3e-{i:04d}-4000-8000-{i:012d}"


def created_at(i: int) -> str:
    return f"2024-03-01T12:{i // 60 % 60:02d}:{i % 60:02d}.250000"


def new_event(i: int, **changes: Any) -> dict[str, Any]:
    return event_dict(event_id(i), trigger=TRIGGERS[i % 4], created_at=created_at(i), **changes)


def write_events(writer: CaptureWriter, numbers: range) -> list[dict[str, Any]]:
    events = [new_event(i) for i in numbers]
    for event in events:
        writer.observe_event(EventRecord.from_hasura(event), now=1709294400.0)
    writer.flush()
    return events


def fail(writer: CaptureWriter, event: dict[str, Any], attempts: int = 1) -> None:
    """Deliveries answered 500 until retries ran out: the event is failed."""
    for attempt in range(attempts):
        writer.observe_invocation(
            InvocationRecord.from_hasura(
                invocation_dict(f"inv-{event['id']}-{attempt}", event, 500, client_error("down"), event["created_at"])
            )
        )
    writer.observe_event(EventRecord.from_hasura({**event, "tries": attempts, "error": True}))
    writer.flush()


def deliver(writer: CaptureWriter, event: dict[str, Any], after: str) -> None:
    writer.observe_invocation(
        InvocationRecord.from_hasura(invocation_dict(f"inv-{event['id']}-ok", event, 200, ok_response(), after))
    )
    writer.observe_event(EventRecord.from_hasura({**event, "tries": 1, "delivered": True}))
    writer.flush()
