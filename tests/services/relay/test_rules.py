"""Fault rules: their text, their actions and limits, and the display filter on a delivery."""

from __future__ import annotations

from typing import Any

import pytest

from inspector.services.relay.rules import (
    Delay,
    Drop,
    Duplicate,
    Edit,
    Pass,
    Respond,
    RuleError,
    apply_edit,
    delivery_view,
    parse_duration,
    parse_rule,
)

BODY: dict[str, Any] = {
    "id": "e1",
    "table": {"schema": "public", "name": "orders"},
    "trigger": {"name": "process-payment"},
    "event": {
        "op": "UPDATE",
        "data": {"old": {"order_id": "o1", "order_valid": False}, "new": {"order_id": "o1", "order_valid": True}},
        "session_variables": {"x-hasura-role": "admin"},
    },
    "delivery_info": {"current_retry": 0, "max_retries": 3},
}


def test_actions_parse() -> None:
    assert parse_rule("-> pass").action == Pass() and parse_rule("-> pass").filter is None
    assert parse_rule("attempt == 1 -> respond 503 retry-after=1").action == Respond(503, 1)
    assert parse_rule('-> respond 500 body={"error": "x"}').action == Respond(500, None, {"error": "x"})
    assert parse_rule("-> delay 250ms").action == Delay(0.25)
    assert parse_rule("-> duplicate").action == Duplicate()
    assert parse_rule("-> drop times=2").action == Drop() and parse_rule("-> drop times=2").times == 2
    assert parse_rule("-> edit data.new.amount=0").action == Edit(("event", "data", "new", "amount"), 0)
    assert parse_rule("-> drop", times=1).times == 1
    assert parse_duration("2s") == 2 and parse_duration("1.5") == 1.5 and parse_duration("1m") == 60


@pytest.mark.parametrize(
    "text",
    [
        "attempt == 1",
        "-> respond",
        "-> respond 99",
        "-> delay soon",
        "-> explode",
        "-> edit x",
        "nope == -> drop",
        "-> respond 503 body={",
        "-> drop",
    ],
)
def test_bad_rules_say_why(text: str) -> None:
    if text == "-> drop":
        with pytest.raises(RuleError, match="at least 1"):
            parse_rule(text, times=0)
        return
    with pytest.raises(RuleError):
        parse_rule(text)


def test_filters_see_the_delivery() -> None:
    view = delivery_view("process-payment", BODY)
    assert view["attempt"] == 1 and view["tries"] == 0 and view["op"] == "UPDATE"
    for text, expected in [
        ('trigger == "process-payment" and attempt == 1', True),
        ("attempt > 1", False),
        ("op == UPDATE and data.new.order_valid == true and data.old.order_valid == false", True),
        ('table == "orders" and role == "admin" and id == "e1"', True),
        ('"o1"', True),
    ]:
        assert parse_rule(f"{text} -> pass").matches(view) is expected, text


def test_times_limits_a_rule() -> None:
    rule = parse_rule("-> drop", times=1)
    assert rule.matches({}) and not rule.spent
    rule.used += 1
    assert rule.spent and not rule.matches({})


def test_edit_copies_the_body() -> None:
    edited = apply_edit(BODY, Edit(("event", "data", "new", "amount"), 0))
    assert edited["event"]["data"]["new"]["amount"] == 0 and "amount" not in BODY["event"]["data"]["new"]
    with pytest.raises(RuleError):
        apply_edit(BODY, Edit(("id", "x"), 1))
