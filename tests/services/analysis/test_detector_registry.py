"""The anomaly detectors' registry (`inspector.services.analysis.detectors`): registering a detector is all it takes
for its kind to be found by `analyse`, counted per trigger, written by `mark_flags`, shown on a flow's steps, listed
by `inspector stats` and drawn by the pictures and the anomalies panel. Two test-only detectors show it, one of
each way a kind is found: a per-event condition and a scan in Python. And the built-in detectors are one module
each, all registered, all in docs/analysis.md."""

from __future__ import annotations

import pkgutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from inspector.cli.stats import document, table
from inspector.core.flows import Anomaly
from inspector.services.analysis import analyse, flow_for_event, kinds, mark_flags, severity
from inspector.services.analysis import detectors as registry
from inspector.services.analysis.detectors import (
    AttemptView,
    Detector,
    EventCondition,
    ExampleScope,
    FlowContext,
    Look,
    ScanContext,
)
from inspector.services.analysis.statistics import EventState
from inspector.store import analysis_queries as queries
from inspector.store.analysis_queries import ExampleRow, InvocationRow
from tests.services.analysis.conftest import Builder, assert_flows_agree, kinds_of

SLOW_S = 5.0


def _unattempted_example(row: ExampleRow, _attempts: Sequence[InvocationRow], _scope: ExampleScope) -> Anomaly:
    return Anomaly("unattempted", "info", "never attempted", row.id, row.trigger, None, row.created)


def _unattempted_in_flow(flow: FlowContext) -> Iterator[Anomaly]:
    for event in flow.events:
        if event.attempts == 0:
            yield Anomaly(
                "unattempted", "info", "never attempted", event.id, event.trigger, event.row_key, event.created
            )


def _unattempted(state: EventState) -> bool:
    return state.attempts == 0


UNATTEMPTED = Detector(
    kind="unattempted",
    position=80,
    severity="info",
    title="Never attempted",
    description="no invocation was logged for it",
    look=Look("unattempted", "Never attempted", "#445566", "No delivery attempt was logged.", priority=8),
    condition=EventCondition(_unattempted, lambda _cutoff: ("e.attempts = 0", ()), _unattempted_example, False),
    in_flow=_unattempted_in_flow,
    marks_event=True,
)


def _slow_scan(context: ScanContext) -> Iterator[Anomaly]:
    for trigger in context.triggers:
        for event_id, _created, first in queries.slow_first_attempts(
            context.conn, context.where, context.params, trigger, SLOW_S
        ):
            yield Anomaly("slow-answer", "warning", "answered slowly", event_id, trigger, None, first)


def _slow_in_flow(flow: FlowContext) -> Iterator[Anomaly]:
    for event in flow.events:
        if event.first_attempt_ts is not None and event.first_attempt_ts - event.created >= SLOW_S:
            yield Anomaly("slow-answer", "warning", "answered slowly", event.id, event.trigger, event.row_key)


def _slow_marks(attempt: AttemptView) -> bool:
    return attempt.index == 0 and "slow-answer" in attempt.flagged


SLOW_ANSWER = Detector(
    kind="slow-answer",
    position=90,
    severity="warning",
    title="Slow answers",
    description=f"its first attempt came {SLOW_S:g} s or more after creation",
    look=Look("slow", "Slow answer", "#335577", "The handler answered slowly.", priority=0),
    scan=_slow_scan,
    in_flow=_slow_in_flow,
    marks_attempt=_slow_marks,
)


@pytest.fixture
def registered() -> Iterator[None]:
    registry.register(UNATTEMPTED)
    registry.register(SLOW_ANSWER)
    try:
        yield
    finally:
        registry.unregister(UNATTEMPTED.kind)
        registry.unregister(SLOW_ANSWER.kind)


@pytest.mark.usefixtures("registered")
def test_a_registered_detector_is_found_counted_flagged_shown_and_printed(built: Builder) -> None:
    built.trigger("t")
    built.event("t", 0, [(0.1, 200)], key="a")
    waiting = built.event("t", 1, [], key="b")
    slow = built.event("t", 2, [(8, 200)], key="c")
    conn = built.close()
    assert kinds()[-2:] == ("unattempted", "slow-answer") and severity("slow-answer") == "warning"

    report = analyse(conn)
    assert kinds_of(report) == {"unattempted": {waiting}, "slow-answer": {slow}}
    assert report.counts["unattempted"] == 1 and report.counts["slow-answer"] == 1
    assert report.triggers[0].anomalies == {"unattempted": 1, "slow-answer": 1}
    assert list(report.by_kind()) == ["unattempted", "slow-answer"]
    assert_flows_agree(conn, report)
    # flags, in the registry's order
    assert mark_flags(conn, report) == 2
    assert dict(conn.execute("SELECT id, flags FROM events WHERE flags IS NOT NULL").fetchall()) == {
        waiting: "unattempted",
        slow: "slow-answer",
    }
    # marks on the flows' steps
    (event_step,) = [s for s in flow_for_event(conn, waiting).steps if s.kind == "event"]
    assert event_step.marks == ("unattempted",)
    (attempt,) = [s for s in flow_for_event(conn, slow).steps if s.kind == "invocation"]
    assert attempt.marks == ("slow-answer",)
    # inspector stats: the JSON document and the table
    printed = document(report, "x.inspector", None, None)
    assert printed["anomalies"]["unattempted"] == {
        "count": 1,
        "severity": "info",
        "examples": [waiting],
        "first": "never attempted",
    }
    assert printed["anomalies"]["slow-answer"]["examples"] == [slow]
    lines = table(report, "x.inspector", None).splitlines()
    assert any(line.split()[:3] == ["slow-answer", "warning", "1"] and slow in line for line in lines)


@pytest.mark.usefixtures("registered")
def test_a_registered_detector_is_drawn_with_its_look() -> None:
    from inspector.qt.pictures.picture_style import mark_style, ordered_marks

    style = mark_style("slow-answer")
    assert (style.badge, style.title, style.colour) == ("slow", "Slow answer", "#335577")
    assert ordered_marks(["retry", "unattempted", "slow-answer", "failed"]) == (
        "failed",
        "slow-answer",
        "retry",
        "unattempted",
    )


@pytest.mark.usefixtures("registered")
def test_the_anomalies_panel_lists_a_registered_kind(qtbot: Any) -> None:
    from inspector.qt.pictures.anomalies_panel import AnomaliesPanel, kind_title, kind_titles

    assert kind_title("unattempted") == "Never attempted" and "slow-answer" in kind_titles()
    panel = AnomaliesPanel()
    qtbot.addWidget(panel)
    panel.show_anomalies([Anomaly("unattempted", "info", "never attempted", "e1", "t", None, 0.0)])
    group = panel.topLevelItem(0)
    assert group is not None and group.text(0).startswith("Never attempted · 1 info")
    assert group.toolTip(0) == "No delivery attempt was logged."


def test_each_built_in_detector_is_one_registered_module_and_documented() -> None:
    modules = [m.name for m in pkgutil.iter_modules(registry.__path__)]
    built_in = [d for d in registry.detectors() if d.kind not in ("unattempted", "slow-answer")]
    assert sorted(modules) == sorted(d.kind.replace("-", "_") for d in built_in)
    assert [d.kind for d in built_in] == [
        "duplicate",
        "out-of-order",
        "retry",
        "dead-letter",
        "pending-too-long",
        "cold-start",
        "contract",
    ]
    docs = (Path(__file__).parents[3] / "docs" / "analysis.md").read_text()
    for found in built_in:
        assert f"| {found.kind} |" in docs, found.kind


def test_a_kind_is_registered_once() -> None:
    duplicate = registry.detector("duplicate")
    assert duplicate is not None
    with pytest.raises(ValueError, match="already registered"):
        registry.register(UNATTEMPTED.__class__(**{**duplicate.__dict__, "title": "Another"}))
