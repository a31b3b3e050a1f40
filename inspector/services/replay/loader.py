"""From a capture to a replay plan: the one read a replay makes before it sends anything.

Owns `Selection` (which events) and `load_plan`: it reads everything the plan needs from the capture in one call
(`inspector.store.replay_records.read_replay_source`: the selected events, what Hasura recorded for them, the
trigger snapshot, the captured server's version) and hands it to the pure `inspector.services.replay.plan.build_plan`.
The runner then needs nothing more from the capture than a place to record (`store.replay_records.ReplayRecorder`).

Used by `inspector replay` (`inspector.cli.replay`), the replay dialog and the replay benchmark.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from inspector.core.events import InvocationRecord
from inspector.services.replay.plan import (
    Answer,
    PlanEvent,
    PlanOptions,
    ReplayPlan,
    TriggerInfo,
    build_plan,
    user_agent_for,
)
from inspector.store.capture_file import CaptureFile
from inspector.store.replay_records import ReplayableEvent, ReplaySource, read_replay_source

__all__ = ["Selection", "answer_from_row", "load_plan", "plan_from_source"]


@dataclass(frozen=True)
class Selection:
    """Which events to replay: a display filter, or ids (variants included), or (neither) every captured event."""

    filter: str | None = None
    event_ids: tuple[str, ...] = ()


def answer_from_row(row: Mapping[str, Any]) -> Answer:
    """The answer an `invocations` row holds."""
    record = InvocationRecord.from_hasura(
        {**row, "request": row.get("request"), "response": row.get("response"), "http_status": row.get("http_status")}
    )
    return Answer.from_invocation(record, row.get("duration_ms"))


def load_plan(
    capture: CaptureFile,
    options: PlanOptions,
    selection: Selection = Selection(),
    env: Mapping[str, str] | None = None,
) -> ReplayPlan:
    """The plan for replaying `selection` from `capture` with `options`. Reads the capture once; sends nothing.
    `FilterError` for a filter that does not parse; problems with the selection or the options are the plan's
    `errors`."""
    # Only `--expect recorded` compares with what Hasura recorded: otherwise do not read and keep it all.
    source = read_replay_source(
        capture, selection.filter, selection.event_ids, with_recorded=options.expect == "recorded"
    )
    return plan_from_source(source, options, dict(os.environ if env is None else env))


def plan_from_source(source: ReplaySource, options: PlanOptions, env: Mapping[str, str]) -> ReplayPlan:
    """`build_plan` over what `read_replay_source` read; the requested ids the capture lacks are plan errors."""
    events = [_plan_event(e, source.recorded.get(e.original)) for e in source.events]
    triggers: dict[str, TriggerInfo] = {}
    for snapshot in source.triggers:
        info = TriggerInfo.from_snapshot(snapshot.source, snapshot.table_schema, snapshot.table_name, snapshot.config)
        if info.name:
            triggers[info.name] = info
    plan = build_plan(
        events, triggers, options, env, source_name=source.name, user_agent=user_agent_for(source.server_version)
    )
    problems = [f"no event {i} in {source.name}" for i in source.missing]
    if problems:
        plan = replace(plan, errors=(*problems, *plan.errors))
    return plan


def _plan_event(event: ReplayableEvent, recorded: Mapping[str, Any] | None) -> PlanEvent:
    try:
        payload = json.loads(event.payload_text or "{}")
    except ValueError:
        payload = {}
    return PlanEvent(
        id=event.id,
        trigger_name=event.trigger_name,
        schema_name=event.schema_name,
        table_name=event.table_name,
        payload=payload if isinstance(payload, dict) else {},
        payload_text=event.payload_text if isinstance(payload, dict) else None,
        created_at=event.created_at,
        created_ts=event.created_ts,
        seq=event.seq,
        variant_of=event.variant_of,
        recorded=answer_from_row(recorded) if recorded is not None else None,
    )
