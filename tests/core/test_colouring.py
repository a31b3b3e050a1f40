"""Colouring rules: the defaults, their JSON form with validation, and the usable rules with their checked filters,
colouring events in memory (their compilation to SQL is tested in tests/store/test_filter_sql.py)."""

from __future__ import annotations

import json
import re

import pytest

from inspector.core.colouring import (
    DEFAULT_RULES,
    ColouringError,
    ColourRule,
    rules_from_json,
    rules_to_json,
    usable_rules,
    validate_rule,
)
from inspector.core.filter import FilterError, check

HEX = re.compile(r"#[0-9A-F]{6}")


def test_the_defaults_come_in_first_match_order_with_light_and_dark_colours() -> None:
    names = [rule.name for rule in DEFAULT_RULES]
    assert names == [
        "Failed",
        "Failed: timed out",
        "Failed: unreachable",
        "Duplicate delivery",
        "Out of order",
        "Timed out",
        "Unreachable",
        "Retried",
        "Slow",
        "Pending",
    ]
    for rule in DEFAULT_RULES:
        assert rule.enabled and rule.error is None
        light, dark = rule.colours(False), rule.colours(True)
        assert all(HEX.fullmatch(c) for c in (*light, *dark)), rule
        assert light != dark
        assert _lightness(light[0]) > _lightness(light[1])  # pale background, dark text on light palettes
        assert _lightness(dark[0]) < _lightness(dark[1])  # the reverse on dark ones


def _lightness(colour: str) -> float:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.299 * r + 0.587 * g + 0.114 * b


def test_every_default_rule_compiles_or_names_the_missing_field() -> None:
    for rule in DEFAULT_RULES:
        checked = validate_rule(rule)
        if checked.enabled:
            check(rule.filter_text)
            continue
        # Only the rules on fields the capture gained recently may be waiting for the filter language.
        assert rule.name in ("Duplicate delivery", "Out of order"), checked.error
        assert checked.error is not None and checked.error.startswith("filter: ")
        with pytest.raises(FilterError):
            check(rule.filter_text)


def test_a_rule_without_dark_colours_uses_its_light_ones() -> None:
    rule = ColourRule("x", "tries > 1", "#112233", "#445566")
    assert rule.colours(True) == rule.colours(False) == ("#112233", "#445566")


def test_rules_survive_a_json_round_trip() -> None:
    rules = [
        *DEFAULT_RULES[:2],
        ColourRule("Mine", 'trigger == "validate-order"', "#AABBCC", "#000000", enabled=False),
    ]
    text = rules_to_json(rules)
    assert json.loads(text)["format"] == 1
    back = rules_from_json(text)
    assert [r.name for r in back] == [r.name for r in rules]
    assert back[2] == rules[2]
    assert back[0] == rules[0]
    assert (back[1].background, back[1].dark_background, back[1].filter_text) == (
        rules[1].background,
        rules[1].dark_background,
        rules[1].filter_text,
    )


def test_a_rule_with_a_bad_filter_is_kept_but_disabled_with_the_reason() -> None:
    text = rules_to_json(
        [
            ColourRule("Broken", "status === failed", "#FF0000", "#000000"),
            ColourRule("Good", "attempts > 1", "#FFCC00", "#000000"),
        ]
    )
    broken, good = rules_from_json(text)
    assert broken.name == "Broken" and broken.filter_text == "status === failed"
    assert not broken.enabled and broken.error is not None and broken.error.startswith("filter: ")
    assert good.enabled and good.error is None


def test_a_rule_with_an_unreadable_colour_is_disabled() -> None:
    text = json.dumps({"format": 1, "rules": [{"name": "Red", "filter": "error", "background": "red"}]})
    (rule,) = rules_from_json(text)
    assert not rule.enabled and rule.error is not None and "background" in rule.error


def test_missing_fields_get_defaults_and_a_missing_filter_disables() -> None:
    (named, unnamed) = rules_from_json(json.dumps([{"name": "A", "filter": "tries > 0"}, {"background": "#123456"}]))
    assert named.enabled and (named.background, named.foreground) == ("#FFFFFF", "#000000")
    assert unnamed.name == "Rule 2" and not unnamed.enabled and unnamed.error == "filter: missing"


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        '{"rules": 3}',
        '"just a string"',
        "[1, 2]",
        '{"format": 99, "rules": []}',
    ],
)
def test_text_that_is_not_rules_raises(text: str) -> None:
    with pytest.raises(ColouringError):
        rules_from_json(text)


# --- checked rules ---------------------------------------------------------------------------------------------------


def test_usable_rules_keep_order_and_say_why_others_are_left_out() -> None:
    rules = [
        ColourRule("Payment", 'trigger == "process-payment" and attempts == 0', "#000001", "#FFFFFF"),
        ColourRule("Off", 'trigger == "validate-order"', "#000002", "#FFFFFF", enabled=False),
        ColourRule("Regex", 'trigger matches "^val"', "#000003", "#FFFFFF"),
        ColourRule("Broken", "nonsense >", "#000004", "#FFFFFF"),
        ColourRule("Fast", "latency < 200", "#000005", "#FFFFFF"),
    ]
    usable = usable_rules(rules)
    assert [r.name for r in usable.rules] == ["Payment", "Regex", "Fast"] and len(usable.filters) == 3
    assert set(usable.errors) == {"Broken"} and usable.errors["Broken"].startswith("filter: ")
    events = [
        {"trigger_name": "validate-order", "status": "failed", "attempts": 3, "created_ts": 100.0},
        {"trigger_name": "process-payment", "status": "pending", "attempts": 0, "created_ts": 100.0},
        {"trigger_name": "process-payment", "attempts": 1, "created_ts": 100.0, "delivered_ts": 100.1},
        {"trigger_name": "process-payment", "attempts": 1, "created_ts": 100.0, "delivered_ts": 105.0},
    ]
    assert [getattr(usable.first_match(e), "name", None) for e in events] == ["Regex", "Payment", "Fast", None]
