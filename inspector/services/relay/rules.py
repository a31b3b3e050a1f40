"""Fault rules of the relay: `FILTER -> ACTION`, applied in order to each delivery, the first that matches acting.

Owns the rule text (`parse_rule`), the actions, and the view of a delivery the display filter sees
(`delivery_view`): FILTER is the display filter language (`inspector.core.filter`), evaluated in memory on the
delivery's event, with `trigger`, `table`, `op`, `id`, `tries` (`delivery_info.current_retry`), `attempt`
(`current_retry + 1`: 1 for the first attempt), `row_key`, `role`, `trace_id`, `data.new.*`, `data.old.*`,
`session.*` and free text over the event. An empty filter (`-> drop`) matches every delivery. Used by the relay
server, the `inspector relay --rule` option and the window's Breakpoints panel (its fault rules).

Actions:

- `pass`: forward unchanged (a rule that stops later rules from acting);
- `respond STATUS [retry-after=S] [body=JSON]`: answer the engine without calling the handler (`503 retry-after=1`
  makes Hasura retry in a second: `server/src-lib/Hasura/Eventing/HTTP.hs` reads `Retry-After`);
- `delay DURATION` (`250ms`, `2s`, `1.5` seconds): wait, then forward;
- `duplicate`: forward twice, one after the other, and answer the engine with the first answer: a live
  idempotency test;
- `drop`: close the connection without an answer: the engine records a connection failure;
- `edit PATH=JSON`: set a field of the body before forwarding (`event.data.new.amount=0`; a path starting with
  `data.` or `session_variables.` is under `event`).

`--times N` (or `times=N` after the action) limits how often a rule acts; once spent it no longer matches.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from inspector.core.events import row_key
from inspector.core.filter import CheckedFilter, FilterError, check, evaluate, parse

__all__ = [
    "Action",
    "Delay",
    "Drop",
    "Duplicate",
    "Edit",
    "Pass",
    "Respond",
    "Rule",
    "RuleError",
    "apply_edit",
    "delivery_view",
    "parse_action",
    "parse_duration",
    "parse_filter",
    "parse_rule",
]


class RuleError(ValueError):
    """A rule, action or filter that cannot work, with the reason."""


@dataclass(frozen=True)
class Pass:
    def describe(self) -> str:
        return "pass"


@dataclass(frozen=True)
class Respond:
    status: int
    retry_after: int | None = None
    body: Any = None
    """A JSON value to answer with (None: `{"relay": "responded"}`)."""

    def describe(self) -> str:
        text = f"respond {self.status}"
        if self.retry_after is not None:
            text += f" retry-after={self.retry_after}"
        if self.body is not None:
            text += f" body={json.dumps(self.body, separators=(',', ':'))}"
        return text


@dataclass(frozen=True)
class Delay:
    seconds: float

    def describe(self) -> str:
        return f"delay {self.seconds:g}s"


@dataclass(frozen=True)
class Duplicate:
    def describe(self) -> str:
        return "duplicate"


@dataclass(frozen=True)
class Drop:
    def describe(self) -> str:
        return "drop"


@dataclass(frozen=True)
class Edit:
    path: tuple[str | int, ...]
    value: Any

    def describe(self) -> str:
        return f"edit {_path_text(self.path)}={json.dumps(self.value, separators=(',', ':'))}"


Action = Pass | Respond | Delay | Duplicate | Drop | Edit


@dataclass
class Rule:
    """One `FILTER -> ACTION` rule; `times` limits how often it acts (None: always)."""

    text: str
    filter: CheckedFilter | None
    """None: every delivery."""
    action: Action
    times: int | None = None
    used: int = 0
    enabled: bool = True
    label: str = field(default="")

    def __post_init__(self) -> None:
        if not self.label:
            self.label = self.text

    @property
    def spent(self) -> bool:
        return self.times is not None and self.used >= self.times

    def matches(self, view: Mapping[str, Any]) -> bool:
        if not self.enabled or self.spent:
            return False
        return self.filter is None or evaluate(self.filter, view)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")


def parse_duration(text: str) -> float:
    """`250ms`, `2s`, `1m`, or a number of seconds, as seconds."""
    match = _DURATION.match(text)
    if not match:
        raise RuleError(f"not a duration: {text!r} (e.g. 250ms, 2s)")
    value = float(match.group(1))
    return value / 1000 if match.group(2) == "ms" else value * 60 if match.group(2) == "m" else value


def _parse_path(text: str) -> tuple[str | int, ...]:
    parts: list[str | int] = []
    for piece in text.split("."):
        match = re.fullmatch(r"([^\[\]]+)((?:\[\d+\])*)", piece)
        if not match:
            raise RuleError(f"not a path: {text!r} (e.g. event.data.new.amount)")
        parts.append(match.group(1))
        parts.extend(int(i) for i in re.findall(r"\[(\d+)\]", match.group(2)))
    if parts and parts[0] in ("data", "session_variables", "op", "trace_context"):
        parts.insert(0, "event")
    return tuple(parts)


def _path_text(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def parse_action(text: str) -> tuple[Action, int | None]:
    """An action and its `times=N` limit, if written."""
    words = text.strip().split(None, 1)
    if not words:
        raise RuleError("an action is missing after '->' (pass, respond, delay, duplicate, drop, edit)")
    verb, rest = words[0].lower(), (words[1] if len(words) > 1 else "")
    times: int | None = None
    match = re.search(r"(?:^|\s)times=(\d+)\s*$", rest)
    if match:
        times = int(match.group(1))
        rest = rest[: match.start()].strip()
    if verb == "pass" and not rest:
        return Pass(), times
    if verb == "duplicate" and not rest:
        return Duplicate(), times
    if verb == "drop" and not rest:
        return Drop(), times
    if verb == "delay":
        return Delay(parse_duration(rest)), times
    if verb == "respond":
        match = re.match(r"^(\d{3})(?:\s+|$)(.*)$", rest, re.DOTALL)
        if not match or not 100 <= int(match.group(1)) <= 599:
            raise RuleError(f"respond needs an HTTP status (e.g. respond 503 retry-after=1), not {rest!r}")
        status, options = int(match.group(1)), match.group(2).strip()
        retry_after: int | None = None
        body: Any = None
        while options:
            option = re.match(r"^retry-after=(\d+)\s*", options)
            if option:
                retry_after = int(option.group(1))
                options = options[option.end() :]
                continue
            if options.startswith("body="):
                try:
                    body = json.loads(options[5:])
                except ValueError as exc:
                    raise RuleError(f"body= needs JSON: {exc}") from exc
                break
            raise RuleError(f"respond takes retry-after=S and body=JSON, not {options!r}")
        return Respond(status, retry_after, body), times
    if verb == "edit":
        path, sep, value = rest.partition("=")
        if not sep or not path.strip():
            raise RuleError("edit needs PATH=JSON (e.g. edit event.data.new.amount=0)")
        try:
            parsed = json.loads(value)
        except ValueError as exc:
            raise RuleError(f"edit {path.strip()}= needs a JSON value: {exc}") from exc
        return Edit(_parse_path(path.strip()), parsed), times
    raise RuleError(f"unknown action {text.strip()!r} (pass, respond, delay, duplicate, drop, edit)")


def parse_filter(text: str) -> CheckedFilter | None:
    """A display filter for rules and breakpoints (None for an empty one: every delivery)."""
    if not text.strip():
        return None
    try:
        return check(parse(text))
    except FilterError as exc:
        raise RuleError(f"filter {text!r}: {exc}") from exc


def parse_rule(text: str, times: int | None = None) -> Rule:
    """`FILTER -> ACTION` (see the module docstring); `times` as `--times N` gives it."""
    filter_text, arrow, action_text = text.rpartition("->")
    if not arrow:
        raise RuleError(f"a rule is 'FILTER -> ACTION', e.g. 'attempt == 1 -> respond 503': {text!r}")
    action, written_times = parse_action(action_text)
    limit = times if times is not None else written_times
    if limit is not None and limit < 1:
        raise RuleError("--times must be at least 1")
    return Rule(text.strip(), parse_filter(filter_text), action, limit)


def delivery_view(trigger: str, body: Any) -> dict[str, Any]:
    """A delivery as the display filter sees it (an `inspector.core.filter.evaluate` event)."""
    view: dict[str, Any] = {"trigger_name": trigger}
    if not isinstance(body, Mapping):
        return view
    event = body.get("event")
    info = body.get("delivery_info")
    table = body.get("table")
    view["id"] = body.get("id")
    if isinstance(table, Mapping):
        view["table_name"] = table.get("name")
    if isinstance(info, Mapping) and isinstance(info.get("current_retry"), int):
        view["tries"] = info["current_retry"]
        view["attempt"] = info["current_retry"] + 1
    if isinstance(event, Mapping):
        view["payload"] = event
        view["op"] = event.get("op")
        data = event.get("data")
        if isinstance(data, Mapping) and isinstance(table, Mapping):
            view["row_key"] = row_key(str(table.get("name", "")), data.get("new") or data.get("old"))
        session = event.get("session_variables")
        if isinstance(session, Mapping):
            view["session_role"] = session.get("x-hasura-role")
        trace = event.get("trace_context")
        if isinstance(trace, Mapping):
            view["trace_id"] = trace.get("trace_id")
    return view


def apply_edit(body: Any, edit: Edit) -> Any:
    """A copy of the body with the edit's field set (missing objects on the way are created)."""
    copy = json.loads(json.dumps(body))
    target = copy
    for part in edit.path[:-1]:
        if isinstance(part, int):
            if not isinstance(target, list) or part >= len(target):
                raise RuleError(f"edit {_path_text(edit.path)}: no item {part}")
            target = target[part]
        else:
            if not isinstance(target, dict):
                raise RuleError(f"edit {_path_text(edit.path)}: {part} is not in an object")
            target = target.setdefault(part, {})
    last = edit.path[-1]
    if isinstance(last, int):
        if not isinstance(target, list) or last >= len(target):
            raise RuleError(f"edit {_path_text(edit.path)}: no item {last}")
        target[last] = edit.value
    elif isinstance(target, dict):
        target[last] = edit.value
    else:
        raise RuleError(f"edit {_path_text(edit.path)}: not an object")
    return copy
