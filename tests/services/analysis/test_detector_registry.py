"""The anomaly detectors' registry (`inspector.services.analysis.detectors`): registering a detector is all it takes
for its kind to be found by `analyse`, counted per trigger, written by `mark_flags`, shown on a flow's steps, listed
by `inspector stats`; that the pictures and the anomalies panel draw it is checked apart, without Qt here
(`tests/qt/pictures/test_detector_registry_views.py`). Two test-only detectors show it (`tests.helpers.detectors`),
one of each way a kind is found: a per-event condition and a scan in Python. And the built-in detectors are one
module each, all registered, all in docs/analysis.md."""

from __future__ import annotations

import pkgutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from inspector.cli.stats import document, table
from inspector.services.analysis import analyse, flow_for_event, kinds, mark_flags, severity
from inspector.services.analysis import detectors as registry
from tests.helpers.detectors import TEST_KINDS, UNATTEMPTED, registered_test_detectors
from tests.services.analysis.conftest import Builder, assert_flows_agree, kinds_of


@pytest.fixture
def registered() -> Iterator[None]:
    with registered_test_detectors():
        yield


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


def test_each_built_in_detector_is_one_registered_module_and_documented() -> None:
    modules = [m.name for m in pkgutil.iter_modules(registry.__path__)]
    built_in = [d for d in registry.detectors() if d.kind not in TEST_KINDS]
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
