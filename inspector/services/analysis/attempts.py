"""What one delivery attempt says, shared by the detectors, the statistics and the flows: why it failed (`cause`, by
the attempt's outcome: a handler error, a timeout or a connection failure), what is wrong with a 2xx body, how long
it took as far as Hasura's log tells, and the few words and durations the anomaly messages are made of."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from inspector.core.events import decode_twice, invocation_outcome
from inspector.services.analysis.capture_reading import TriggerInfo
from inspector.store.analysis_queries import InvocationRow


def cause(http_status: int | None, status: int | None, response: Any, outcome: str | None = None) -> str:
    """Why an attempt failed, in a few words, by its outcome (`inspector.core.events.invocation_outcome`, worked out
    here unless given): a handler error is `HTTP 500`; a timeout `timeout (recorded as HTTP 500)` from v2.25, where
    Hasura records its processing timeout with status 500, or `response timeout` before; a connection failure the
    network error Hasura logged (`Connection failure: ...`)."""
    if isinstance(response, str):
        response = decode_twice(response)
    outcome = outcome or invocation_outcome(http_status, response)
    if outcome == "timeout":
        return "response timeout" if http_status is None else f"timeout (recorded as HTTP {http_status})"
    if http_status is not None:
        return f"HTTP {http_status}"
    if status == 1000:
        return "client error (no answer)"
    if status == 1001:
        return "unreadable answer"
    data = response.get("data") if isinstance(response, Mapping) else None
    message = decode_twice(data.get("message")) if isinstance(data, Mapping) else None
    if isinstance(message, Mapping):
        kind = message.get("type")
        text = message.get("message")
        if kind == "invalid_url":
            return "invalid URL"
        message = text if text else kind
    if not message:
        return "no answer"
    return " ".join(str(message).split())[:100]


def body_problem(response: Any) -> str | None:
    """What is wrong with a 2xx answer's body, or None: an error key, a non-JSON or binary body."""
    if isinstance(response, str):
        response = decode_twice(response)
    data = response.get("data") if isinstance(response, Mapping) else None
    if not isinstance(data, Mapping):
        return None
    body = data.get("body", data.get("message"))
    if isinstance(body, list) and body[:1] == ["Base64"]:
        return "a binary (non-UTF-8) body"
    if not isinstance(body, str) or not body.strip():
        return None
    try:
        decoded = json.loads(body)
    except ValueError:
        return f"a non-JSON body: {snippet(body)}"
    if isinstance(decoded, dict):
        for key in ("error", "errors"):
            if decoded.get(key):
                return f'an "{key}" body: {snippet(body)}'
    return None


def snippet(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return json.dumps(text if len(text) <= limit else text[: limit - 1] + "…", ensure_ascii=False)


def is_ok(invocation: InvocationRow) -> bool:
    """Answered 2xx."""
    return invocation.http_status is not None and 200 <= invocation.http_status < 300


def latency(invocation: InvocationRow, created: float, previous: float | None, info: TriggerInfo) -> float:
    """Seconds an attempt took, as far as Hasura's log tells: attempt 1, from the event's creation; a retry, from the
    failed attempt before it less the retry interval; `duration_ms` when recorded (replays)."""
    if invocation.duration_ms is not None:
        return invocation.duration_ms / 1000
    if previous is None:
        return invocation.created - created
    return max(0.0, invocation.created - previous - info.interval_s)


def summarise(causes: Sequence[str]) -> list[str]:
    """Causes with their counts, in the order first seen: `HTTP 500 x3`."""
    counted = Counter(causes)
    return [f"{text} x{n}" if n > 1 else text for text, n in counted.items()]


def ms(seconds: float) -> str:
    """A duration for messages: `212 ms`, `1.3 s`, `1 min 40 s`, `2 h 5 min`."""
    value = seconds * 1000
    if value < 1000:
        return f"{value:.0f} ms"
    if value < 60_000:
        return f"{value / 1000:.1f} s"
    minutes, secs = divmod(int(value / 1000), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def short(event_id: str) -> str:
    """An event id shortened for messages."""
    return event_id[:8]
