"""out-of-order, for one trigger and one row (same `trigger_name`, `table_name`, `row_key`), by creation order
(`created_ts`, then capture order; events created at the same instant are one write and not ordered):

(a) delivery inversion: event E was delivered (first 2xx) before an event D created earlier: both are flagged. An
event still pending or retrying counts as delivered after every delivered one; dead letters are left out.
(b) broken chain: an UPDATE whose `data.old` differs from the previous event's `data.new` on the trigger's listened
update columns (`definition.update.columns` of the trigger snapshot; `*` or no snapshot: the columns both rows
carry). UPDATE events are written only when a listened column changed, so a mismatch means a change is missing from
the event log or the events' creation times do not follow the row's history (Hasura stamps `created_at` at
transaction start).

Judged against the whole capture, in a worker thread beside the events pass."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

from inspector.core.flows import Anomaly
from inspector.services.analysis.attempts import ms, short
from inspector.services.analysis.capture_reading import TriggerInfo, info_of
from inspector.services.analysis.detectors import AttemptView, Detector, FlowContext, Look, ScanContext, register
from inspector.store import analysis_queries as queries
from inspector.store.analysis_queries import OPEN_STATUSES, PartitionRow


def partition_out_of_order(
    rows: Sequence[PartitionRow], info: TriggerInfo
) -> list[tuple[PartitionRow, str, float | None]]:
    """(event, message, at) for each event out of order in one partition, rows in creation order."""
    found: dict[str, tuple[PartitionRow, str, float | None]] = {}

    def delivery(row: PartitionRow) -> float | None:
        if row.delivered_ts is not None:
            return row.delivered_ts
        return math.inf if row.status in OPEN_STATUSES else None  # failed or archived: out of the comparison

    # (a) inversions: compare with every event created strictly earlier (ties are one write)
    times = [delivery(r) for r in rows]
    for j, later in enumerate(rows):
        if times[j] is None or times[j] == math.inf:
            continue
        for i in range(j):
            earlier = rows[i]
            ti = times[i]
            if ti is None or earlier.created >= later.created or ti <= times[j]:  # type: ignore[operator]
                continue
            gap = later.created - earlier.created
            if later.id not in found:
                found[later.id] = (
                    later,
                    f"delivered before event {short(earlier.id)}, created {ms(gap)} earlier for the same "
                    f"{later.table} row {later.row_key}",
                    times[j],
                )
            if earlier.id not in found:
                what = "still not delivered" if ti == math.inf else "delivered"
                found[earlier.id] = (
                    earlier,
                    f"{what} after event {short(later.id)}, created {ms(gap)} later for the same "
                    f"{earlier.table} row {earlier.row_key}",
                    None if ti == math.inf else ti,
                )
    # (b) broken chain: an UPDATE's data.old against the previous event's data.new
    previous: PartitionRow | None = None
    for row in rows:
        if previous is not None and row.op == "UPDATE" and row.created > previous.created:
            before = _row_data(previous.payload, "new")
            after = _row_data(row.payload, "old")
            if before is not None and after is not None:
                columns = info.update_columns or [c for c in after if c in before]
                for column in columns:
                    if column in before and column in after and before[column] != after[column]:
                        message = (
                            f"data.old.{column} is {json.dumps(after[column], ensure_ascii=False)} but the previous "
                            f"event {short(previous.id)} left {json.dumps(before[column], ensure_ascii=False)}: "
                            "a change is missing or the events were created out of order"
                        )
                        if row.id not in found:
                            found[row.id] = (row, message, row.created)
                        break
        previous = row
    return sorted(found.values(), key=lambda f: f[0].seq)


def _row_data(payload: str | None, which: str) -> dict[str, Any] | None:
    if payload is None:
        return None
    try:
        data = json.loads(payload).get("data") or {}
    except (ValueError, AttributeError):
        return None
    row = data.get(which)
    return row if isinstance(row, dict) else None


def _scan(context: ScanContext) -> Iterator[Anomaly]:
    """Partition by partition over the row keys where one trigger has more than one event."""
    partition: list[PartitionRow] = []
    found: list[tuple[PartitionRow, str, float | None]] = []
    for row in queries.repeated_row_events(context.conn, context.triggers):
        if partition and (row.trigger, row.table, row.row_key) != (
            partition[0].trigger,
            partition[0].table,
            partition[0].row_key,
        ):
            if len(partition) > 1:
                found.extend(partition_out_of_order(partition, info_of(context.infos, partition[0].trigger)))
            partition = []
        partition.append(row)
    if len(partition) > 1:
        found.extend(partition_out_of_order(partition, info_of(context.infos, partition[0].trigger)))
    for row, message, at in found:
        yield OUT_OF_ORDER.anomaly(message, row.id, row.trigger, row.row_key, at)


def _in_flow(flow: FlowContext) -> Iterator[Anomaly]:
    """Partitions of the flow's events (a row's events all carry its key, so all are here)."""
    partitions: dict[tuple[str, str, str | None], list[PartitionRow]] = defaultdict(list)
    for event in flow.events:
        partitions[(event.trigger, event.table, event.row_key)].append(
            PartitionRow(
                event.id,
                event.trigger,
                event.table,
                event.row_key,
                event.op,
                event.created,
                event.seq,
                event.delivered_ts,
                event.status,
                event.payload,
            )
        )
    for (trigger, _table, _key), rows in partitions.items():
        if len(rows) > 1:
            for row, message, shown in partition_out_of_order(rows, info_of(flow.infos, trigger)):
                yield OUT_OF_ORDER.anomaly(message, row.id, row.trigger, row.row_key, shown)


def _marks_attempt(attempt: AttemptView) -> bool:
    return attempt.ok and "out-of-order" in attempt.flagged and not attempt.seen_ok  # its delivery


OUT_OF_ORDER = register(
    Detector(
        kind="out-of-order",
        position=20,
        severity="warning",
        title="Out of order",
        description=(
            "for one trigger and one row: it was delivered (first 2xx) before an event created earlier, or after "
            "one created later; or it is an UPDATE whose `data.old` differs from the previous event's `data.new`"
        ),
        look=Look(
            "out of order",
            "Out of order",
            "#127A68",
            "For this row, delivery order differs from creation order (or an UPDATE's old is not the last new).",
            priority=3,
        ),
        scan=_scan,
        scan_alone=True,
        whole_capture=True,
        in_flow=_in_flow,
        marks_event=True,
        marks_attempt=_marks_attempt,
    )
)
