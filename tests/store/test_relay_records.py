"""The relay's records (`store.relay_records`) on a real capture file: the event row a delivery adds takes the
body's `created_at` in the database's time zone when the capture knows it (Hasura writes `epCreatedAt` as the
database's wall time, `server/src-lib/Hasura/RQL/Types/EventTrigger.hs`), and as UTC when it does not."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from inspector.store.capture_file import CaptureFile
from inspector.store.relay_records import RelayDeliveryRecord, RelayRecorder

CREATED_AT = "2026-03-01T12:00:00.123456"


def delivery(event_id: str) -> RelayDeliveryRecord:
    body = {
        "id": event_id,
        "table": {"schema": "public", "name": "orders"},
        "trigger": {"name": "validate-order"},
        "event": {"op": "INSERT", "data": {"old": None, "new": {"id": "o1"}}, "session_variables": {}},
        "delivery_info": {"current_retry": 0, "max_retries": 3},
        "created_at": CREATED_AT,
    }
    now = time.time()
    return RelayDeliveryRecord(
        id=f"relay-{event_id}",
        trigger_name="validate-order",
        event_id=None,
        attempt=None,
        received_at=now,
        answered_at=now + 0.001,
        action="pass",
        acted_by=None,
        request_headers=[("Content-Type", "application/json")],
        request_body=json.dumps(body).encode(),
        parsed=False,
        target="http://127.0.0.1:1/validate-order",
        http_status=200,
        response_body=b"{}",
    )


def recorded_created_ts(capture: CaptureFile) -> float:
    """Record one delivery into `capture` (closed afterwards) and read back its event's `created_ts`."""
    path = capture.path
    recorder = RelayRecorder(capture, interval=0.01)
    recorder.add(delivery("6f1c2d3e-0123-4000-8000-000000000001"))
    recorder.flush()
    recorder.close()
    capture.close()
    conn = sqlite3.connect(path)
    (created_ts,) = conn.execute("SELECT created_ts FROM events").fetchone()
    conn.close()
    return float(created_ts)


@pytest.mark.parametrize("zone", [None, "UTC", "Asia/Kolkata", "America/New_York"])
def test_the_event_row_takes_created_at_in_the_database_time_zone(tmp_path: Path, zone: str | None) -> None:
    capture = CaptureFile.create(tmp_path / "relay.inspector")
    if zone is not None:
        capture.set_info(server_timezone=zone)
    created_ts = recorded_created_ts(capture)
    wall = datetime.fromisoformat(CREATED_AT)
    expected = wall.replace(tzinfo=ZoneInfo(zone) if zone else UTC).timestamp()
    assert created_ts == pytest.approx(expected, abs=1e-6)
    if zone == "Asia/Kolkata":  # 12:00 in Kolkata is 06:30 UTC: not the UTC reading of the same text
        assert created_ts == pytest.approx(wall.replace(tzinfo=UTC).timestamp() - 5.5 * 3600, abs=1e-6)


@pytest.mark.parametrize("stored", ['"Nowhere/Zone"', "not json", "42"])
def test_a_time_zone_the_capture_holds_that_is_not_one_is_taken_as_utc(tmp_path: Path, stored: str) -> None:
    """A capture written elsewhere may hold a zone this machine does not know (or garbage): the event keeps a time."""
    capture = CaptureFile.create(tmp_path / "relay.inspector")
    with capture.conn:
        capture.conn.execute("INSERT INTO capture_info (key, value) VALUES ('server_timezone', ?)", [stored])
    created_ts = recorded_created_ts(capture)
    assert created_ts == pytest.approx(datetime.fromisoformat(CREATED_AT).replace(tzinfo=UTC).timestamp(), abs=1e-6)
