"""Counted nouns: one event, two events, never event(s)."""

from __future__ import annotations

from inspector.core.wording import counted, noun


def test_one_is_singular_and_every_other_count_plural() -> None:
    assert counted(1, "event") == "1 event"
    assert counted(2, "event") == "2 events" and counted(0, "event") == "0 events"
    assert (
        counted(1, "delivery", "deliveries") == "1 delivery" and counted(3, "delivery", "deliveries") == "3 deliveries"
    )
    assert counted(1200, "attempt", grouped=True) == "1,200 attempts" and counted(1200, "attempt") == "1200 attempts"
    assert noun(1, "difference") == "difference" and noun(16, "difference") == "differences"
