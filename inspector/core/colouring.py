"""Colouring rules for the event list: an ordered list of (name, display filter, colours); the first enabled rule whose
filter matches an event colours its row, as in Wireshark.

Owns the rule type, the default rules, their JSON form (how the window keeps them in QSettings) and their checked
filters (`usable_rules`, which can also colour one event in memory). Pure: no Qt, no I/O, no SQL: the store compiles
the usable rules to one SQL `CASE` expression (`inspector.store.filter_sql.compile_rules`), so the event list colours
a whole page of rows in the same query that reads it. Used by the event list model and the colouring-rules dialog.

Each rule carries two pairs of colours, one for light palettes and one for dark ones: a pale tint with dark text on a
light window, a deep tint with light text on a dark one; the view picks the pair that matches its palette.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from inspector.core.filter import CheckedFilter, FilterError, check, evaluate

__all__ = [
    "DEFAULT_RULES",
    "ColourRule",
    "ColouringError",
    "UsableRules",
    "rules_from_json",
    "rules_to_json",
    "usable_rules",
    "validate_rule",
]

RULES_FORMAT = 1
"""Version of the JSON form written by `rules_to_json`."""

_HEX = re.compile(r"#(?:[0-9A-Fa-f]{6}|[0-9A-Fa-f]{8})")


class ColouringError(ValueError):
    """Stored rules that cannot be read at all (not JSON, or not a list of rules); single bad rules never raise."""


@dataclass(frozen=True)
class ColourRule:
    """One colouring rule."""

    name: str
    """What the user calls it; also what `RULE_ROLE` gives for a row it colours."""
    filter_text: str
    """A display filter (see `inspector.core.filter`): the events the rule colours."""
    background: str
    """Row background on a light palette, `#RRGGBB` (or `#AARRGGBB`)."""
    foreground: str
    """Row text on a light palette."""
    enabled: bool = True
    """Disabled rules colour nothing but keep their place in the list."""
    dark_background: str | None = None
    """Row background on a dark palette; None: the light one."""
    dark_foreground: str | None = None
    """Row text on a dark palette; None: the light one."""
    error: str | None = None
    """Why the rule was disabled when it was read or compiled (bad filter, bad colour); None when it is usable."""

    def colours(self, dark: bool) -> tuple[str, str]:
        """(background, foreground) for a dark or a light palette."""
        if dark:
            return self.dark_background or self.background, self.dark_foreground or self.foreground
        return self.background, self.foreground


DEFAULT_RULES: tuple[ColourRule, ...] = (
    # Dead letters by cause (a filter's `outcome` is any attempt's): a handler that said no, one that never answered
    # in time, one that could not be reached call for different fixes. "Failed" stays first for the handler errors.
    ColourRule(
        "Failed",
        'status == "failed" and not outcome in {timeout connection_failure}',
        "#F6C9C9",
        "#5A0000",
        dark_background="#6B1F1F",
        dark_foreground="#FFE3E3",
    ),
    ColourRule(
        "Failed: timed out",
        'status == "failed" and outcome == "timeout"',
        "#F4C2A6",
        "#5A1E00",
        dark_background="#6E2E12",
        dark_foreground="#FFE6D6",
    ),
    ColourRule(
        "Failed: unreachable",
        'status == "failed" and outcome == "connection_failure"',
        "#EBC3DA",
        "#4D0A30",
        dark_background="#5E1F45",
        dark_foreground="#FBE3F1",
    ),
    # Before "Retried": a duplicate delivery always took at least two attempts, so below it this rule could never win.
    ColourRule(
        "Duplicate delivery",
        "successes > 1",
        "#E4D2F4",
        "#3B1260",
        dark_background="#4E2C6E",
        dark_foreground="#F1E6FB",
    ),
    ColourRule(
        "Out of order",
        'flags contains "out-of-order"',
        "#CDEDE6",
        "#0E4036",
        dark_background="#1F5148",
        dark_foreground="#DDF7F1",
    ),
    # Not (yet) failed, but an attempt got no answer: in time, or at all. Before "Retried", which they usually are.
    ColourRule(
        "Timed out",
        'outcome == "timeout"',
        "#FCDDC4",
        "#5C2C00",
        dark_background="#6B3A16",
        dark_foreground="#FFEBDC",
    ),
    ColourRule(
        "Unreachable",
        'outcome == "connection_failure"',
        "#DEDAEE",
        "#2A2452",
        dark_background="#3A355E",
        dark_foreground="#ECE9FA",
    ),
    ColourRule("Retried", "attempts > 1", "#FBE3B0", "#5A3A00", dark_background="#6B4A12", dark_foreground="#FFF0D0"),
    ColourRule("Slow", "latency > 1000", "#D6E4F0", "#14324D", dark_background="#2B4257", dark_foreground="#E1EEF9"),
    ColourRule(
        "Pending",
        "status in {pending retrying in-flight}",
        "#FAF5C8",
        "#4A4300",
        dark_background="#4F4A1E",
        dark_foreground="#FBF6D2",
    ),
)
"""The rules a new installation starts with, in order (first match wins)."""


def validate_rule(rule: ColourRule) -> ColourRule:
    """The rule as it can be used: kept as given when its colours and filter are good; otherwise disabled with
    `error` saying why (the text stays, so the user can fix it)."""
    problem = _colour_problem(rule)
    if problem is None:
        try:
            check(rule.filter_text)
        except FilterError as exc:
            problem = f"filter: {exc.message} (at {exc.start})"
    if problem is None:
        return replace(rule, error=None) if rule.error else rule
    return replace(rule, enabled=False, error=problem)


def _colour_problem(rule: ColourRule) -> str | None:
    for label, value in (
        ("background", rule.background),
        ("foreground", rule.foreground),
        ("dark background", rule.dark_background),
        ("dark foreground", rule.dark_foreground),
    ):
        if value is None and label.startswith("dark"):
            continue
        if not isinstance(value, str) or not _HEX.fullmatch(value):
            return f"{label} {value!r} is not a colour like #RRGGBB"
    return None


# --- persistence -------------------------------------------------------------------------------------------------


def rules_to_json(rules: Iterable[ColourRule]) -> str:
    """Rules as JSON text, for QSettings; `error` is not kept (it is worked out again when read)."""
    out = []
    for rule in rules:
        item: dict[str, Any] = {
            "name": rule.name,
            "filter": rule.filter_text,
            "background": rule.background,
            "foreground": rule.foreground,
            "enabled": rule.enabled,
        }
        if rule.dark_background is not None:
            item["dark_background"] = rule.dark_background
        if rule.dark_foreground is not None:
            item["dark_foreground"] = rule.dark_foreground
        out.append(item)
    return json.dumps({"format": RULES_FORMAT, "rules": out}, ensure_ascii=False)


def rules_from_json(text: str) -> list[ColourRule]:
    """Rules written by `rules_to_json`, each validated: a rule whose filter no longer compiles (or whose colour is
    unreadable) is kept, disabled, with `error` set. Raises `ColouringError` when the text is not rules at all (the
    caller then falls back to `DEFAULT_RULES`)."""
    try:
        data = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise ColouringError(f"colouring rules are not JSON: {exc}") from exc
    items = data.get("rules") if isinstance(data, dict) else data
    if isinstance(data, dict) and isinstance(data.get("format"), int) and data["format"] > RULES_FORMAT:
        raise ColouringError(f"colouring rules in format {data['format']} come from a newer Inspector")
    if not isinstance(items, list):
        raise ColouringError("colouring rules are not a list")
    rules = []
    for position, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise ColouringError(f"colouring rule {position} is not an object")
        name = item.get("name")
        text_value = item.get("filter", item.get("filter_text"))
        rule = ColourRule(
            name=str(name) if isinstance(name, str) and name.strip() else f"Rule {position}",
            filter_text=text_value if isinstance(text_value, str) else "",
            background=_colour(item.get("background"), "#FFFFFF"),
            foreground=_colour(item.get("foreground"), "#000000"),
            enabled=item.get("enabled", True) is not False,
            dark_background=_optional_colour(item.get("dark_background")),
            dark_foreground=_optional_colour(item.get("dark_foreground")),
        )
        rule = validate_rule(rule)
        if not isinstance(text_value, str) and rule.error is None:
            rule = replace(rule, enabled=False, error="filter: missing")
        rules.append(rule)
    return rules


def _colour(value: Any, missing: str) -> str:
    return missing if value is None else str(value)


def _optional_colour(value: Any) -> str | None:
    return None if value is None else str(value)


# --- checked rules -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UsableRules:
    """The enabled, usable rules in order with their checked filters (`filters[i]` is `rules[i]`'s); `errors` maps the
    name of each enabled rule that could not be used to the reason (those rules are left out)."""

    rules: tuple[ColourRule, ...]
    filters: tuple[CheckedFilter, ...]
    errors: dict[str, str] = field(default_factory=dict)

    def first_match(self, event: Mapping[str, Any]) -> ColourRule | None:
        """The rule that colours one event in memory (shaped as `inspector.core.filter.evaluate` reads it)."""
        for rule, checked in zip(self.rules, self.filters, strict=True):
            if evaluate(checked, event):
                return rule
        return None


def usable_rules(rules: Sequence[ColourRule], *, now: float | None = None) -> UsableRules:
    """Check each enabled rule once (relative times against `now`, the current time by default)."""
    kept: list[ColourRule] = []
    filters: list[CheckedFilter] = []
    errors: dict[str, str] = {}
    for rule in rules:
        if not rule.enabled:
            continue
        problem = _colour_problem(rule)
        if problem is not None:
            errors[rule.name] = problem
            continue
        try:
            filters.append(check(rule.filter_text, now=now))
        except FilterError as exc:
            errors[rule.name] = f"filter: {exc.message} (at {exc.start})"
            continue
        kept.append(rule)
    return UsableRules(tuple(kept), tuple(filters), errors)
