"""What the server no longer has: events removed by its event cleanup, event triggers deleted during a capture.

Owns the two marks in a capture file (`events.cleaned_up_at`, `trigger_snapshots.removed_at`; columns added in
`store.schema.ADDED_COLUMNS`) and their reading. Written by the capture session when the event-log follower reports
them (Hasura answers 400 `not-exists`: `fetchEventById` in `server/src-lib/Hasura/Backends/Postgres/DDL/EventTrigger.hs`
for an event its cleanup deleted, `deleteEventTriggerLogsTx` in the same file); the event keeps every state and
invocation recorded before it vanished.
"""

from __future__ import annotations

import sqlite3


def mark_event_cleaned_up(conn: sqlite3.Connection, event_id: str, at: float) -> bool:
    """Note that the server no longer has this event (the first time only); False when the capture does not hold
    it (nothing to mark: an invocation outlived an event this capture never saw)."""
    with conn:
        cursor = conn.execute(
            "UPDATE events SET cleaned_up_at = coalesce(cleaned_up_at, ?) WHERE id = ?", (at, event_id)
        )
    return cursor.rowcount > 0


def mark_trigger_removed(conn: sqlite3.Connection, name: str, at: float) -> None:
    """Note on the trigger's snapshots that the server no longer has it (the first time only)."""
    with conn:
        conn.execute("UPDATE trigger_snapshots SET removed_at = coalesce(removed_at, ?) WHERE name = ?", (at, name))


def cleaned_up_events(conn: sqlite3.Connection) -> dict[str, float]:
    """Events the server cleaned up: id → when it was noticed."""
    return {
        str(r[0]): float(r[1])
        for r in conn.execute("SELECT id, cleaned_up_at FROM events WHERE cleaned_up_at IS NOT NULL ORDER BY seq")
    }


def removed_triggers(conn: sqlite3.Connection) -> dict[str, float]:
    """Event triggers the server no longer has: name → when it was noticed."""
    return {
        str(r[0]): float(r[1])
        for r in conn.execute(
            "SELECT name, min(removed_at) FROM trigger_snapshots WHERE removed_at IS NOT NULL GROUP BY name"
        )
    }
