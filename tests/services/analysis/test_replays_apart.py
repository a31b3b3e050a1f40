"""Replays are not evidence of the delivery (issue 14.6): an attempt Inspector made (`invocations.source = 'replay'`)
is never a retry, dead letter or failed delivery in the analysis, the flow or `inspector stats`' figures; it is shown
apart (the flow's `replay` badge). The relay's forwards (`source = 'relay'`) are deliveries and stay counted."""

from __future__ import annotations

import json
import sqlite3

from inspector.core.hasura import client_error
from inspector.services.analysis import analyse, flow_for_event
from inspector.services.analysis.flows import REPLAY_MARK
from inspector.store import analysis_queries as queries
from tests.services.analysis.conftest import T0, Builder, assert_flows_agree, kinds_of

CANNOT_CONNECT = json.dumps({"type": "http_exception", "message": "cannot connect to localhost:9", "status": None})


def _add_invocation(
    conn: sqlite3.Connection, event_id: str, n: int, at: float, status: int | None, source: str
) -> None:
    response = client_error(CANNOT_CONNECT if status is None else '{"error": "boom"}')
    with conn:
        conn.execute(
            "INSERT INTO invocations (id, event_id, trigger_name, attempt, http_status, status, request, response, "
            "created_at, created_ts, duration_ms, source) VALUES (?, ?, 't', ?, ?, ?, '{}', ?, '', ?, 12.5, ?)",
            (f"{event_id}-{source}-{n}", event_id, n, status, status, json.dumps(response), T0 + at, source),
        )


def test_replays_are_neither_retries_nor_failures_and_are_badged_apart(built: Builder) -> None:
    built.trigger("t")
    delivered = built.event("t", 0, [(0.1, 200)], key="a")
    built.event("t", 1, [(1.1, 200)], key="b")
    # two replays of the delivered event: one that could not connect, one answered 500
    _add_invocation(built.conn, delivered, 2, 30.0, None, "replay")
    _add_invocation(built.conn, delivered, 3, 31.0, 500, "replay")
    conn = built.close()
    report = analyse(conn)
    assert kinds_of(report) == {}  # no retry, dead letter or contract break from a replay
    (stats,) = report.triggers
    assert (stats.events, stats.delivered, stats.failed, stats.invocations, stats.retries) == (2, 2, 0, 2, 0)
    assert stats.retry_causes == {}
    assert report.edges[0].failures == 0
    assert sum(b[2] for b in report.timeline(10)) == 0  # no unsuccessful attempt in the timeline
    assert [i.source for i in queries.attempts_of(conn, delivered)] == ["hasura"]
    assert_flows_agree(conn, report)

    flow = flow_for_event(conn, delivered)
    attempts = [s for s in flow.steps if s.kind == "invocation"]
    assert [s.marks for s in attempts] == [(), (REPLAY_MARK,), (REPLAY_MARK,)]
    assert attempts[0].label.startswith("attempt 1: HTTP 200")
    assert attempts[1].label.startswith("replay: ") and "cannot connect" in attempts[1].label
    assert attempts[2].label == "replay: HTTP 500 after 12 ms"
    assert not flow.anomalies


def test_relay_deliveries_stay_counted(built: Builder) -> None:
    built.trigger("t")
    event = built.event("t", 0, [(0.1, 500)], key="a")
    _add_invocation(built.conn, event, 2, 10.2, 500, "relay")
    with built.conn:  # as the relay's recorder counts its forwards (`store/relay_records.py`)
        built.conn.execute("UPDATE events SET attempts = 2, tries = 2 WHERE id = ?", (event,))
    conn = built.close()
    report = analyse(conn)
    assert event in kinds_of(report).get("retry", set())
    flow = flow_for_event(conn, event)
    attempts = [s for s in flow.steps if s.kind == "invocation"]
    assert len(attempts) == 2 and REPLAY_MARK not in attempts[1].marks
    assert attempts[1].label.endswith("(relay)")
    assert report.edges[0].failures == 2
