"""Completion for the display filter: fields, operators, values and connectives at the cursor."""

from __future__ import annotations

from inspector.core.filter import FIELDS, complete, completion_start


def test_fields_have_descriptions() -> None:
    assert {"trigger", "http_status", "invocation.http_status", "data.new.<path>", "session.<var>"} <= set(FIELDS)
    assert all(description and "\n" not in description for description in FIELDS.values())


def test_complete_field_names() -> None:
    assert complete("tr") == ["trigger", "tries", "trace_id"]
    assert complete("") == [
        *(name for name in FIELDS if "<" not in name),
        "data.new.",
        "data.old.",
        "session.",
        "not",
    ]
    assert complete("data") == ["data.new.", "data.old."]
    assert complete("delivered and (st") == ["status"]
    assert complete("inv") == ["invocation.http_status", "invocation.response"]
    known = {"data.new": ["restaurant_id", "address"], "session": ["x-hasura-user-id", "x-hasura-role"]}
    assert complete("data.new.re", known=known) == ["data.new.restaurant_id"]
    assert complete("session.", known=known) == ["session.user-id", "session.role"]
    text = "tries > 1 and tri"
    assert completion_start(text, len(text)) == len(text) - 3


def test_complete_at_the_cursor_not_the_end() -> None:
    text = "tr == 1 and delivered"
    assert complete(text, 2) == ["trigger", "tries", "trace_id"] and completion_start(text, 2) == 0


def test_complete_operators_values_and_connectives() -> None:
    assert complete("trigger ") == ["==", "!=", "<", "<=", ">", ">=", "contains", "matches", "in", "and", "or"]
    assert complete("trigger co") == ["contains"]
    assert complete("status == f") == ["failed"]
    assert complete("status in {failed r") == ["retrying"]
    assert complete("op == ") == ["INSERT", "UPDATE", "DELETE", "MANUAL"]
    assert complete("delivered == ") == ["true", "false"]
    assert complete("trigger == ", known={"trigger": ["validate-order", "odd name"]}) == [
        "validate-order",
        '"odd name"',
    ]
    assert complete("tries > 1 ") == ["and", "or"]
    assert complete("tries > 1 AN") == ["and"] and complete("Tri") == ["trigger", "tries"]
    assert complete("trigger == status a") == ["and"]
    assert complete("(delivered) o") == ["or"]
    assert complete('trigger == "val') == []  # inside a string
    assert complete("tries = 1 and de") == ["delivered"]  # a mistake earlier does not stop completion


def test_a_name_from_elsewhere_completes_to_the_field() -> None:
    """Issue 14.13: `event_id` (Hasura's column name) offers `id`, never a payload column; `invocation.h` offers only
    `invocation.http_status`."""
    assert complete("invocation.h") == ["invocation.http_status"]
    assert complete("event_id") == ["id"] and complete("trigger == a and event_i") == ["id"]
    assert complete("trigger_name") == ["trigger"]
    assert complete("resp") == ["invocation.response"]
    assert complete("nothing_like_it") == []
