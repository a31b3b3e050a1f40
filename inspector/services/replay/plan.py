"""Replay plans, judging and the report model: what a replay will send where, and whether what came back passed.

Owns, for edit-and-replay (issue 6):

- **Targets**: where each selected event goes. In order of precedence: a per-trigger override (`--target
  TRIGGER=URL`, `*` for every trigger, `{trigger}` in the URL replaced by the trigger's name), the backend itself
  (`--via-backend`: `pg_redeliver_event` for a captured event, `pg_invoke_event_trigger` for a variant, which the
  backend has never seen), else the trigger's webhook from the capture's trigger snapshot (`{{ENV}}` templates and
  `webhook_from_env` resolved from the environment, as Hasura does).
- **Orderings**: `captured` (the order the capture first saw the events), `created` (`created_at`), `reverse`
  (`created_at`, newest first) and `shuffle:SEED[,SEED...]` (the `created` order shuffled by `random.Random(SEED)`,
  so a seed always gives the same order; several seeds are several orderings, compared for order tolerance).
- **The host check**: every host a plan contacts (targets, the backend, the GraphQL endpoint of state queries);
  those that are not this machine (`localhost`, 127.0.0.0/8, `::1`: `core.connection_profile.not_this_machine`)
  need explicit consent.
- **Judging**: answers against 2xx, against the recorded answer (status and body, minus ignore paths), duplicates
  against each other and the state after one delivery against the state after N, and final states across orderings.
- **Ignore paths**: `$.created_at` (anchored at the root), `payment_id` or `*.id` (unanchored: at any depth),
  `$..id` / `$.**.id` (any depth below), `$.items[*].id`, `$.rows[0]`, and glob patterns in key names (`*_at`).
  A matching object key is dropped (so its presence does not count either); a matching array item becomes
  `"<ignored>"` (so later items keep their index).
- **The report model**: one `CheckResult` per event and check (and one per flow for order tolerance), which the
  JUnit and HTML renderers (`inspector.services.replay.report`) and the CLI turn into output.

Pure data and functions: no I/O. Used by `inspector.services.replay.loader` (which reads the capture and calls
`build_plan`), the runner, `inspector replay` and the replay dialog.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal
from urllib.parse import urlsplit

from graphql import GraphQLError, OperationDefinitionNode, parse

from inspector.core.connection_profile import not_this_machine
from inspector.core.events import OUTCOME_LABELS, InvocationRecord, decode_twice
from inspector.core.events import Outcome as AttemptOutcome
from inspector.core.hasura import USER_AGENT, HasuraError, HeaderConf, RetryConf, request_headers
from inspector.core.wording import counted, noun

REDACTED = "<redacted>"
"""What the capture keeps instead of a literal webhook header value (`store.capture_file.redact_trigger_config`)."""

IGNORED = "<ignored>"
"""What an ignored array item is replaced with before comparing."""

OrderKind = Literal["captured", "created", "reverse", "shuffle"]
DuplicateMode = Literal["back-to-back", "concurrent"]
Expectation = Literal["2xx", "recorded"]
CheckKind = Literal["status", "recorded", "duplicate", "order"]
Outcome = Literal["passed", "failed", "skipped", "error"]
BackendCall = Literal["pg_redeliver_event", "pg_invoke_event_trigger"]
TargetKind = Literal["webhook", "override", "backend"]

_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class PlanError(ValueError):
    """A replay that cannot run as asked; `problems` lists every reason, each a line a user can act on."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


class RemoteTargetRefused(PermissionError):
    """The plan would contact hosts outside this machine and no consent was given; `hosts` names them."""

    def __init__(self, hosts: Sequence[str]) -> None:
        super().__init__(
            "refusing to send to hosts outside this machine without consent: "
            + remote_hosts_text(hosts)
            + " (give --allow-remote to send anyway)"
        )
        self.hosts = tuple(hosts)


def remote_hosts_text(hosts: Sequence[str]) -> str:
    """Hosts that are not this machine, for a message: each with its reason when that says more than "not this
    machine" (`0.0.0.0 (0.0.0.0 is not an address to send to; use 127.0.0.1)`)."""
    out = []
    for host in hosts:
        why = not_this_machine(host)
        out.append(host if why in (None, "not this machine") else f"{host} ({why})")
    return ", ".join(out)


def _host_label(host: str) -> str:
    why = not_this_machine(host)
    return "REMOTE" if why in (None, "not this machine") else f"REMOTE: {why}"


# --- ignore paths and JSON comparison ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Seg:
    kind: Literal["key", "index", "any", "any-index", "deep"]
    value: str | int | None = None


@dataclass(frozen=True)
class IgnorePath:
    """A parsed `--ignore` path."""

    text: str
    segments: tuple[_Seg, ...]

    def matches(self, path: Sequence[str | int]) -> bool:
        """Whether the value at `path` (keys and indexes from the root) is ignored by this pattern."""
        return _match(self.segments, 0, path, 0)


def _match(segs: tuple[_Seg, ...], si: int, path: Sequence[str | int], pi: int) -> bool:
    while si < len(segs):
        seg = segs[si]
        if seg.kind == "deep":
            return any(_match(segs, si + 1, path, k) for k in range(pi, len(path) + 1))
        if pi >= len(path):
            return False
        step = path[pi]
        if seg.kind == "any":
            pass
        elif seg.kind == "any-index":
            if not isinstance(step, int):
                return False
        elif seg.kind == "index":
            if step != seg.value or isinstance(step, str):
                return False
        elif not (isinstance(step, str) and fnmatch.fnmatchcase(step, str(seg.value))):
            return False
        si += 1
        pi += 1
    return pi == len(path)


_NAME = re.compile(r"[^.\[\]]+")


def parse_ignore_path(text: str) -> IgnorePath:
    """`$.a.b`, `$..id`, `$.items[*].id`, `$["odd key"]`, `*.id`, `*_at`. ValueError with the reason otherwise."""
    source = text.strip()
    if not source:
        raise ValueError("an ignore path is empty; write e.g. $.created_at or *.id")
    anchored = source.startswith("$")
    rest = source[1:] if anchored else source
    if not anchored and not rest.startswith((".", "[")):
        rest = "." + rest
    segments: list[_Seg] = [] if anchored else [_Seg("deep")]
    i = 0
    while i < len(rest):
        if rest.startswith("..", i):
            segments.append(_Seg("deep"))
            i += 2
            if i < len(rest) and rest[i] == "[":
                continue
            match = _NAME.match(rest, i)
            if not match:
                raise ValueError(f"ignore path {text!r}: expected a key after '..' at character {i + 1}")
            segments.append(_name_segment(match.group()))
            i = match.end()
        elif rest[i] == ".":
            match = _NAME.match(rest, i + 1)
            if not match:
                raise ValueError(f"ignore path {text!r}: expected a key after '.' at character {i + 1}")
            segments.append(_name_segment(match.group()))
            i = match.end()
        elif rest[i] == "[":
            end = rest.find("]", i)
            if end < 0:
                raise ValueError(f"ignore path {text!r}: '[' without ']'")
            inner = rest[i + 1 : end].strip()
            if inner == "*":
                segments.append(_Seg("any-index"))
            elif inner.isdigit():
                segments.append(_Seg("index", int(inner)))
            elif len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
                segments.append(_Seg("key", inner[1:-1]))
            else:
                raise ValueError(f"ignore path {text!r}: [{inner}] is not an index, [*] or a quoted key")
            i = end + 1
        else:
            raise ValueError(f"ignore path {text!r}: unexpected {rest[i]!r} at character {i + 1}")
    if not any(s.kind in ("key", "index") for s in segments):
        raise ValueError(f"ignore path {text!r} names no key: it would ignore everything")
    return IgnorePath(source, tuple(segments))


def _name_segment(name: str) -> _Seg:
    if name == "*":
        return _Seg("any")
    if name == "**":
        return _Seg("deep")
    return _Seg("key", name)


def strip_ignored(value: Any, paths: Sequence[IgnorePath], _path: tuple[str | int, ...] = ()) -> Any:
    """`value` without what `paths` ignore: matching keys dropped, matching array items replaced by `IGNORED`."""
    if not paths:
        return value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            here = (*_path, key)
            if not any(p.matches(here) for p in paths):
                out[key] = strip_ignored(item, paths, here)
        return out
    if isinstance(value, list):
        items: list[Any] = []
        for index, item in enumerate(value):
            here = (*_path, index)
            items.append(IGNORED if any(p.matches(here) for p in paths) else strip_ignored(item, paths, here))
        return items
    return value


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: `true` is not `1`, `1` equals `1.0`, key order does not matter."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and bool(a == b)


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


def format_path(path: Sequence[str | int]) -> str:
    """`("rows", 0, "id")` → `$.rows[0].id`; keys that are not plain names are quoted: `$["a b"]`."""
    out = "$"
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        elif _PLAIN_KEY.match(step):
            out += f".{step}"
        else:
            out += "[" + json.dumps(step, ensure_ascii=False) + "]"
    return out


def short(value: Any, limit: int = 60) -> str:
    """A JSON value on one line, cut to `limit` characters."""
    text = value if isinstance(value, str) and value == IGNORED else json.dumps(value, ensure_ascii=False)
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def json_diff(a: Any, b: Any, limit: int = 8) -> list[str]:
    """Where two JSON values differ, as `$.path: old → new` lines (at most `limit`, then a count of the rest)."""
    out: list[str] = []
    total = _diff(a, b, (), out, limit)
    if total > len(out):
        out.append(f"… and {total - len(out)} more {noun(total - len(out), 'difference')}")
    return out


def _diff(a: Any, b: Any, path: tuple[str | int, ...], out: list[str], limit: int) -> int:
    def note(text: str) -> int:
        if len(out) < limit:
            out.append(text)
        return 1

    if isinstance(a, Mapping) and isinstance(b, Mapping):
        count = 0
        for key in a:
            if key not in b:
                count += note(f"{format_path((*path, key))}: {short(a[key])} → (absent)")
            else:
                count += _diff(a[key], b[key], (*path, key), out, limit)
        for key in b:
            if key not in a:
                count += note(f"{format_path((*path, key))}: (absent) → {short(b[key])}")
        return count
    if isinstance(a, list) and isinstance(b, list):
        count = 0
        for index in range(min(len(a), len(b))):
            count += _diff(a[index], b[index], (*path, index), out, limit)
        if len(a) != len(b):
            count += note(f"{format_path(path)}: {counted(len(a), 'item')} → {counted(len(b), 'item')}")
        return count
    if json_equal(a, b):
        return 0
    return note(f"{format_path(path)}: {short(a)} → {short(b)}")


# --- events, triggers, answers -------------------------------------------------------------------------------------


@dataclass(frozen=True, init=False)
class Answer:
    """What one delivery brought back: an HTTP status and body, or no answer and why."""

    status: int | None
    """The HTTP status; None when no HTTP answer came (refused, timeout, dropped)."""
    body: Any = None
    """The body decoded as Hasura stores it and Inspector shows it: JSON when it is JSON, else the text."""
    error: str | None = None
    """Why no answer came (or why the backend did not deliver)."""
    duration_ms: float | None = None
    unreachable: bool = False
    """The target could not be connected to at all (refused, no such host)."""
    outcome: AttemptOutcome | None = None
    """ok, handler_error, timeout or connection_failure (`inspector.core.events.Outcome`); when not given: ok or
    handler_error by the status, connection_failure without one. A timeout has no status, even when Hasura v2.25+
    recorded it as 500 (`from_invocation`)."""

    def __init__(
        self,
        status: int | None,
        body: Any = None,
        error: str | None = None,
        duration_ms: float | None = None,
        unreachable: bool = False,
        outcome: AttemptOutcome | None = None,
    ) -> None:
        if outcome is None:
            outcome = "connection_failure" if status is None else "ok" if 200 <= status < 300 else "handler_error"
        # Straight into the instance's dict: the generated `__init__` of a frozen dataclass sets each field through
        # `object.__setattr__` (and a `__post_init__` came after), and replay makes an Answer per attempt.
        fields = self.__dict__
        fields["status"] = status
        fields["body"] = body
        fields["error"] = error
        fields["duration_ms"] = duration_ms
        fields["unreachable"] = unreachable
        fields["outcome"] = outcome

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def describe(self, limit: int = 80) -> str:
        if self.status is None:
            what = "timed out" if self.outcome == "timeout" else "no answer"
            return f"{what} ({self.error or 'unknown error'})"
        return f"HTTP {self.status} {short(self.body, limit)}" if self.body not in (None, "") else f"HTTP {self.status}"

    @classmethod
    def from_text(cls, status: int | None, text: Any, duration_ms: float | None = None) -> Answer:
        return cls(status, decode_twice(text), None, duration_ms)

    @classmethod
    def from_invocation(cls, record: InvocationRecord, duration_ms: float | None = None) -> Answer:
        """The answer a Hasura invocation record holds. A timeout is no answer, whatever status Hasura wrote (v2.25+
        records its processing timeout as 500 with the message `Event Trigger "NAME" timed out while processing.`,
        `server/src-lib/Hasura/Eventing/EventTrigger.hs`); a connection failure neither."""
        outcome = record.outcome
        body = record.response_body
        if outcome in ("ok", "handler_error"):
            return cls(record.http_status, body, None, duration_ms, outcome=outcome)
        if isinstance(body, Mapping):  # an http_exception: its message says enough
            body = body.get("message") or body.get("type") or body
        return cls(None, None, " ".join(str(body).split()) or OUTCOME_LABELS[outcome], duration_ms, outcome=outcome)


@dataclass(frozen=True)
class PlanEvent:
    """A selected event, as the capture holds it."""

    id: str
    trigger_name: str
    schema_name: str
    table_name: str
    payload: Mapping[str, Any]
    """The `event` object: `op`, `data.old`/`data.new`, `session_variables`, `trace_context`."""
    created_at: str
    created_ts: float | None
    seq: int
    variant_of: str | None = None
    recorded: Answer | None = None
    """The last answer Hasura recorded for the event (for a variant: its original's); None if never attempted."""
    payload_text: str | None = None
    """`payload` as the capture stores it (JSON text, keys in the order received), when known: a delivery's body
    is composed around it instead of serialising the payload again."""

    @property
    def row(self) -> Mapping[str, Any]:
        """The changed row: `data.new`, else `data.old` (a DELETE), else empty."""
        data = self.payload.get("data") if isinstance(self.payload, Mapping) else None
        if isinstance(data, Mapping):
            for key in ("new", "old"):
                if isinstance(data.get(key), Mapping):
                    return data[key]  # type: ignore[no-any-return]
        return {}


@dataclass(frozen=True)
class TriggerInfo:
    """An event trigger as the capture's trigger snapshot holds it (header values redacted)."""

    name: str
    source: str = "default"
    table_schema: str = "public"
    table_name: str = ""
    webhook: str | None = None
    webhook_from_env: str | None = None
    headers: tuple[HeaderConf, ...] = ()
    retry_conf: RetryConf = field(default_factory=RetryConf)
    enable_manual: bool = False

    @classmethod
    def from_snapshot(
        cls, source: str | None, table_schema: str | None, table_name: str | None, config: Mapping[str, Any]
    ) -> TriggerInfo:
        """From a `trigger_snapshots` row (its `config` parsed): what `export_metadata` gave, redacted."""
        try:
            retry = RetryConf.from_json(config.get("retry_conf"))
        except HasuraError:
            retry = RetryConf()
        headers = tuple(
            HeaderConf(str(h["name"]), h.get("value"), h.get("value_from_env"))
            for h in config.get("headers") or []
            if isinstance(h, Mapping) and isinstance(h.get("name"), str)
        )
        definition = config.get("definition")
        return cls(
            name=str(config.get("name", "")),
            source=source or "default",
            table_schema=table_schema or "public",
            table_name=table_name or "",
            webhook=config.get("webhook") if isinstance(config.get("webhook"), str) else None,
            webhook_from_env=config.get("webhook_from_env")
            if isinstance(config.get("webhook_from_env"), str)
            else None,
            headers=headers,
            retry_conf=retry,
            enable_manual=bool(definition.get("enable_manual")) if isinstance(definition, Mapping) else False,
        )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def resolve_webhook(info: TriggerInfo, env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The trigger's webhook URL as Hasura would call it, and None; or None and why it cannot be known."""
    if info.webhook_from_env is not None:
        value = env.get(info.webhook_from_env)
        if not value:
            return None, (
                f"trigger {info.name}: its webhook comes from the environment variable {info.webhook_from_env}, "
                "which is not set here"
            )
        return value, None
    if not info.webhook:
        return None, f"trigger {info.name}: the capture holds no webhook for it"
    missing = [m.group(1) for m in _TEMPLATE.finditer(info.webhook) if not env.get(m.group(1))]
    if missing:
        return None, (
            f"trigger {info.name}: its webhook {info.webhook!r} needs the environment "
            f"{noun(len(missing), 'variable')} {', '.join(missing)}, not set here"
        )
    return _TEMPLATE.sub(lambda m: env[m.group(1)], info.webhook), None


def resolve_headers(
    info: TriggerInfo | None,
    header_values: Mapping[str, str],
    env: Mapping[str, str],
    user_agent: str = USER_AGENT,
) -> tuple[dict[str, str], list[dict[str, str]], list[str]]:
    """Headers to send, headers to log, and the configured headers whose value is unknown.

    As Hasura (`server/src-lib/Hasura/HTTP.hs`): `Content-Type: application/json` and `User-Agent:
    hasura-graphql-engine/<version>` override configured headers of the same name. A configured header's value comes
    from `header_values` (by name, any case: what the user supplied, e.g. from the keyring or `--webhook-header
    NAME=ENVVAR`), else from `value_from_env` in `env` (as Hasura reads it), else from the capture when it is not
    redacted. The capture keeps every literal value redacted, so those need `header_values`; a header with no known
    value is not sent. The log keeps the captured config (redacted values, unresolved `value_from_env`), as Hasura logs
    it (`decodeHeader` in `server/src-lib/Hasura/Eventing/HTTP.hs`): never a resolved value.
    """
    supplied = {k.lower(): v for k, v in header_values.items()}
    configured = info.headers if info is not None else ()
    resolved: list[HeaderConf] = []
    missing: list[str] = []
    for h in configured:
        if h.name.lower() in ("content-type", "user-agent"):
            continue  # Hasura's own values win (`server/src-lib/Hasura/HTTP.hs`): nothing to resolve
        if h.name.lower() in supplied:
            resolved.append(HeaderConf(h.name, value=supplied[h.name.lower()]))
        elif h.value_from_env is not None:
            if env.get(h.value_from_env):
                resolved.append(HeaderConf(h.name, value=env[h.value_from_env]))
            else:
                missing.append(f"{h.name} (value_from_env {h.value_from_env} is not set)")
        elif h.value is not None and h.value != REDACTED:
            resolved.append(h)
        else:
            missing.append(f"{h.name} (its value is redacted in the capture)")
    send, _ = request_headers(resolved, {})
    _, logged = request_headers(configured, {})
    if user_agent != USER_AGENT:
        send["User-Agent"] = user_agent
        logged = [
            {"name": "User-Agent", "value": user_agent} if h.get("name") == "User-Agent" and "value" in h else h
            for h in logged
        ]
    return send, logged, missing


def user_agent_for(server_version: str | None) -> str:
    """`hasura-graphql-engine/<version>` of the captured server, as it would send it
    (`server/src-lib/Hasura/HTTP.hs`)."""
    if server_version and re.match(r"^v?\d+\.\d+", server_version):
        version = server_version if server_version.startswith("v") else f"v{server_version}"
        return f"hasura-graphql-engine/{version}"
    return USER_AGENT


# --- orderings -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ordering:
    """One order to deliver the selection in."""

    kind: OrderKind
    seed: int | None = None
    """For `shuffle`: the `random.Random` seed."""

    @property
    def label(self) -> str:
        return f"shuffle:{self.seed}" if self.kind == "shuffle" else self.kind


def parse_order(text: str) -> tuple[Ordering, ...]:
    """`captured`, `created`, `reverse`, `shuffle:SEED` or `shuffle:S1,S2,...` (K orderings). ValueError otherwise."""
    value = text.strip().lower()
    if value in ("captured", "created", "reverse"):
        return (Ordering(value),)  # type: ignore[arg-type]
    if value.startswith("shuffle:"):
        seeds: list[int] = []
        for part in value[len("shuffle:") :].split(","):
            part = part.strip()
            if not re.fullmatch(r"-?\d+", part):
                raise ValueError(f"--order {text}: seeds must be whole numbers, e.g. shuffle:1 or shuffle:1,2,3")
            if int(part) in seeds:
                raise ValueError(f"--order {text}: seed {part} is given twice")
            seeds.append(int(part))
        return tuple(Ordering("shuffle", s) for s in seeds)
    raise ValueError(f"unknown order {text!r}: use captured, created, reverse or shuffle:SEED[,SEED...]")


def arrange(events: Sequence[PlanEvent], ordering: Ordering) -> list[PlanEvent]:
    """The events in `ordering` (see the module docstring); the same input and seed always give the same list."""
    if ordering.kind == "captured":
        return sorted(events, key=lambda e: e.seq)
    created = sorted(events, key=lambda e: (e.created_ts is None, e.created_ts or 0.0, e.seq))
    if ordering.kind == "created":
        return created
    if ordering.kind == "reverse":
        return created[::-1]
    random.Random(ordering.seed).shuffle(created)
    return created


# --- targets and the plan ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where one event is sent."""

    kind: TargetKind
    url: str
    """The webhook URL; for `backend`, the backend's metadata API URL."""
    backend_call: BackendCall | None = None

    @cached_property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @cached_property
    def description(self) -> str:
        if self.kind == "backend":
            return f"{_display_url(self.url)} ({self.backend_call})"
        return f"{_display_url(self.url)} ({'captured webhook' if self.kind == 'webhook' else '--target'})"


def _display_url(url: str) -> str:
    """The URL without user info or query string (they may hold credentials)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def parse_target_spec(text: str) -> tuple[str, str]:
    """`TRIGGER=URL` (TRIGGER may be `*`) → `(trigger, url)`; ValueError with the reason otherwise."""
    if "=" not in text:
        raise ValueError(f"--target {text!r}: expected TRIGGER=URL, e.g. validate-order=http://localhost:3000/hook")
    trigger, url = text.split("=", 1)
    trigger, url = trigger.strip(), url.strip()
    if not trigger:
        raise ValueError(f"--target {text!r}: the trigger name before '=' is empty (use * for every trigger)")
    check_url(url, f"--target {trigger}")
    return trigger, url


def check_url(url: str, what: str) -> None:
    """ValueError unless `url` is an absolute http(s) URL with a host."""
    try:
        parts = urlsplit(url.replace("{trigger}", "trigger"))
        parts.port  # noqa: B018 - urllib validates the port lazily
    except ValueError as exc:
        raise ValueError(f"{what}: {url!r} is not a valid URL ({exc})") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what}: {url!r} is not an http(s) URL with a host")


@dataclass(frozen=True)
class PlanOptions:
    """How to replay, as the CLI flags (or the window's dialog) say."""

    targets: Mapping[str, str] = field(default_factory=dict)
    """Trigger name (or `*`) → URL (`{trigger}` replaced by the trigger's name)."""
    via_backend: str | None = None
    """The backend's metadata API URL: deliver through `pg_redeliver_event` / `pg_invoke_event_trigger`."""
    orderings: tuple[Ordering, ...] = (Ordering("captured"),)
    duplicate: int = 1
    """Deliveries per event."""
    duplicate_mode: DuplicateMode = "back-to-back"
    concurrency: int = 1
    """Events replayed at once."""
    rate: float | None = None
    """Most delivery attempts started per second; None for no limit."""
    expect: Expectation = "2xx"
    ignore: tuple[str, ...] = ()
    state_query: str | None = None
    """A GraphQL query whose result is the state compared (duplicates, orderings)."""
    reset_query: str | None = None
    """A GraphQL mutation run before each ordering, so each starts from the same state."""
    graphql_url: str | None = None
    """Where state and reset queries go."""
    timeout: float | None = None
    """Per-request timeout; None means the trigger's `retry_conf.timeout_sec`, as Hasura."""
    header_names: frozenset[str] = frozenset()
    """Names (lower case) of configured webhook headers whose value the user supplied."""


@dataclass(frozen=True)
class PlanItem:
    """One selected event and where it goes."""

    event: PlanEvent
    trigger: TriggerInfo | None
    target: Target

    @property
    def max_retries(self) -> int:
        return self.trigger.retry_conf.num_retries if self.trigger is not None else 0

    def timeout(self, override: float | None) -> float:
        return override if override is not None else float(self.trigger.retry_conf.timeout_sec if self.trigger else 60)


@dataclass(frozen=True)
class ReplayPlan:
    """What a replay will do, before anything is sent: the events, their targets, the checks and the hosts."""

    items: tuple[PlanItem, ...]
    """In captured order; each ordering arranges them."""
    options: PlanOptions
    ignore: tuple[IgnorePath, ...] = ()
    state_variables: tuple[str, ...] = ()
    """Variables the state query declares, bound from each event's row (`data.new`, else `data.old`)."""
    reset_variables: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    source_name: str = ""
    user_agent: str = USER_AGENT
    """The `User-Agent` a direct delivery sends: the captured server's (`user_agent_for`)."""

    def runs(self) -> list[tuple[Ordering, list[PlanItem]]]:
        """Each ordering with the items arranged in it."""
        by_id = {item.event.id: item for item in self.items}
        events = [item.event for item in self.items]
        return [(o, [by_id[e.id] for e in arrange(events, o)]) for o in self.options.orderings]

    @property
    def attempts(self) -> int:
        return len(self.items) * self.options.duplicate * len(self.options.orderings)

    @property
    def hosts(self) -> list[str]:
        """Every host the replay contacts, sorted."""
        hosts = {item.target.host for item in self.items}
        if self.options.graphql_url and (self.options.state_query or self.options.reset_query):
            hosts.add(urlsplit(self.options.graphql_url).hostname or "")
        return sorted(h for h in hosts if h)

    @property
    def remote_hosts(self) -> list[str]:
        """Hosts that are not this machine: they need explicit consent."""
        return [h for h in self.hosts if not_this_machine(h) is not None]

    def check_consent(self, allow_remote: bool) -> None:
        """RemoteTargetRefused naming the hosts, unless every host is this machine or `allow_remote`."""
        remote = self.remote_hosts
        if remote and not allow_remote:
            raise RemoteTargetRefused(remote)

    @property
    def checks(self) -> list[str]:
        o = self.options
        out = ["status 2xx" if o.expect == "2xx" else "recorded status and body"]
        if o.duplicate > 1:
            out.append(f"{o.duplicate} answers agree" + (", state after 1 = state after N" if o.state_query else ""))
        if len(o.orderings) > 1:
            out.append(f"final state equal in all {len(o.orderings)} orderings")
        if self.ignore:
            out.append("ignoring " + " ".join(p.text for p in self.ignore))
        return out

    def describe(self) -> list[str]:
        """The plan as lines for a person: counts, targets per trigger, checks, hosts, warnings."""
        o = self.options
        per = "once" if o.duplicate == 1 else f"{o.duplicate} times {o.duplicate_mode}"
        orders = ", ".join(x.label for x in o.orderings)
        lines = [
            f"Replay plan: {counted(len(self.items), 'event')}"
            f"{f' from {self.source_name}' if self.source_name else ''}, each delivered {per}, "
            f"in {counted(len(o.orderings), 'ordering')} ({orders}): {counted(self.attempts, 'attempt')}"
        ]
        groups: dict[tuple[str, str], int] = {}
        for item in self.items:
            key = (item.event.trigger_name, item.target.description)
            groups[key] = groups.get(key, 0) + 1
        width = max((len(t) for t, _ in groups), default=0)
        for (trigger, target), count in groups.items():
            lines.append(f"  {trigger.ljust(width)}  {count:>5} {noun(count, 'event')} → {target}")
        rate = f"at most {o.rate:g} attempts/s" if o.rate else "no rate limit"
        lines.append(f"Concurrency {o.concurrency}, {rate}; checks: {'; '.join(self.checks)}")
        hosts = self.hosts
        remote = set(self.remote_hosts)
        if hosts:
            lines.append(
                "Hosts: " + ", ".join(f"{h} ({_host_label(h) if h in remote else 'this machine'})" for h in hosts)
            )
        lines.extend(f"Warning: {w}" for w in self.warnings)
        return lines

    def to_json(self) -> dict[str, Any]:
        """A summary to keep with the run in the capture (no header values: the plan holds none)."""
        o = self.options
        return {
            "events": len(self.items),
            "attempts": self.attempts,
            "orderings": [x.label for x in o.orderings],
            "duplicate": o.duplicate,
            "duplicate_mode": o.duplicate_mode,
            "concurrency": o.concurrency,
            "rate": o.rate,
            "expect": o.expect,
            "ignore": [p.text for p in self.ignore],
            "state_query": o.state_query,
            "reset_query": o.reset_query,
            "targets": sorted({i.target.description for i in self.items}),
        }


def operation_variables(text: str, expected: Literal["query", "mutation"], what: str) -> tuple[str, ...]:
    """The variables a GraphQL operation declares; ValueError if it does not parse or is not a single `expected`."""
    try:
        document = parse(text)
    except GraphQLError as exc:
        raise ValueError(f"{what} is not valid GraphQL: {exc.message}") from exc
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1:
        raise ValueError(f"{what} must hold exactly one operation")
    kind = operations[0].operation.value
    if kind != expected:
        raise ValueError(f"{what} must be a {expected}, not a {kind}")
    return tuple(v.variable.name.value for v in operations[0].variable_definitions or ())


def bind_variables(names: Iterable[str], row: Mapping[str, Any]) -> dict[str, Any]:
    """Variables named like a column of the event's row take that column's value; the others are left out."""
    return {name: row[name] for name in names if name in row}


def build_plan(
    events: Sequence[PlanEvent],
    triggers: Mapping[str, TriggerInfo],
    options: PlanOptions,
    env: Mapping[str, str],
    source_name: str = "",
    user_agent: str = USER_AGENT,
) -> ReplayPlan:
    """Resolve each event's target and check the options; problems go to `errors` (the plan must not run) and
    `warnings` (it may). Sends nothing."""
    errors: list[str] = []
    warnings: list[str] = []
    o = options
    if o.duplicate < 1:
        errors.append(f"--duplicate must be 1 or more, not {o.duplicate}")
    if o.concurrency < 1:
        errors.append(f"--concurrency must be 1 or more, not {o.concurrency}")
    if o.rate is not None and o.rate <= 0:
        errors.append(f"--rate must be above 0, not {o.rate:g}")
    if o.timeout is not None and o.timeout <= 0:
        errors.append(f"--timeout must be above 0, not {o.timeout:g}")
    if not o.orderings:
        errors.append("no ordering given")
    ignore: list[IgnorePath] = []
    for text in o.ignore:
        try:
            ignore.append(parse_ignore_path(text))
        except ValueError as exc:
            errors.append(str(exc))
    state_variables: tuple[str, ...] = ()
    reset_variables: tuple[str, ...] = ()
    if o.state_query is not None:
        try:
            state_variables = operation_variables(o.state_query, "query", "the state query")
        except ValueError as exc:
            errors.append(str(exc))
    if o.reset_query is not None:
        try:
            reset_variables = operation_variables(o.reset_query, "mutation", "the reset mutation")
        except ValueError as exc:
            errors.append(str(exc))
    if (o.state_query or o.reset_query) and not o.graphql_url:
        errors.append("state and reset queries need a GraphQL endpoint (--endpoint, --profile or --via-backend)")
    if len(o.orderings) > 1 and o.state_query is None:
        errors.append(
            f"comparing {len(o.orderings)} orderings needs --state-query: the final states are what is compared"
        )
    if len(o.orderings) > 1 and o.reset_query is None:
        warnings.append("no --reset mutation: each ordering starts from the state the previous one left")
    if len(o.orderings) > 1 and o.concurrency > 1:
        warnings.append(
            "with --concurrency above 1 events start in each ordering's order but may be handled in another"
        )

    known_triggers = set(triggers) | {e.trigger_name for e in events}
    for name in o.targets:
        if name != "*" and name not in known_triggers:
            close = [t for t in known_triggers if _similar(t, name)]
            hint = f" (did you mean {close[0]}?)" if close else ""
            errors.append(f"--target {name}: the capture has no trigger of that name{hint}")

    if o.via_backend is not None:
        try:
            check_url(o.via_backend, "--via-backend")
        except ValueError as exc:
            errors.append(str(exc))

    items: list[PlanItem] = []
    unroutable: dict[str, str] = {}
    interned: dict[Target, Target] = {}
    """One Target per distinct target: their URL is parsed once (`host`, `description` are cached on them)."""
    not_manual: set[str] = set()
    for event in sorted(events, key=lambda e: e.seq):
        info = triggers.get(event.trigger_name)
        target: Target | None = None
        override = o.targets.get(event.trigger_name, o.targets.get("*"))
        if override is not None:
            target = Target("override", override.replace("{trigger}", event.trigger_name))
        elif o.via_backend is not None:
            if event.variant_of is not None:
                if info is not None and not info.enable_manual:
                    not_manual.add(event.trigger_name)
                target = Target("backend", o.via_backend, "pg_invoke_event_trigger")
            else:
                target = Target("backend", o.via_backend, "pg_redeliver_event")
        elif info is None:
            unroutable.setdefault(
                event.trigger_name,
                f"trigger {event.trigger_name}: not in the capture's trigger snapshot, so its webhook is unknown",
            )
        else:
            url, problem = resolve_webhook(info, env)
            if url is None:
                unroutable.setdefault(event.trigger_name, problem or f"trigger {event.trigger_name}: no webhook")
            else:
                try:
                    check_url(url, f"trigger {event.trigger_name}'s webhook")
                except ValueError as exc:
                    unroutable.setdefault(event.trigger_name, str(exc))
                else:
                    target = Target("webhook", url)
        if target is not None:
            items.append(PlanItem(event, info, interned.setdefault(target, target)))
    for name, problem in unroutable.items():
        errors.append(f"{problem}; give --target {name}=URL or --via-backend")
    for name in sorted(not_manual):
        errors.append(
            f"trigger {name}: a variant is sent through the backend with pg_invoke_event_trigger, which needs "
            "enable_manual on the trigger; turn it on or use --target"
        )

    direct = [i for i in items if i.target.kind != "backend"]
    missing_headers: dict[str, list[str]] = {}
    for item in direct:
        if item.event.trigger_name not in missing_headers:
            _, _, missing = resolve_headers(item.trigger, dict.fromkeys(o.header_names, "supplied"), env)
            if missing:
                missing_headers[item.event.trigger_name] = missing
    for name, missing in missing_headers.items():
        warnings.append(
            f"trigger {name}: {noun(len(missing), 'header')} {', '.join(missing)} will not be sent; "
            "give --webhook-header NAME=ENVVAR"
        )
    if o.via_backend is not None and o.duplicate > 1 and o.duplicate_mode == "concurrent":
        warnings.append("through the backend an event is redelivered one delivery at a time: duplicates back to back")
    for label, names in (("state query", state_variables), ("reset mutation", reset_variables)):
        unbound = [n for n in names if events and all(n not in e.row for e in events)]
        if unbound:
            warnings.append(
                f"the {label}'s {noun(len(unbound), 'variable')} {', '.join(unbound)} "
                f"{'matches' if len(unbound) == 1 else 'match'} no column of the events' rows"
            )
    return ReplayPlan(
        items=tuple(items),
        options=options,
        ignore=tuple(ignore),
        state_variables=state_variables,
        reset_variables=reset_variables,
        errors=tuple(errors),
        warnings=tuple(warnings),
        source_name=source_name,
        user_agent=user_agent,
    )


def _similar(a: str, b: str) -> bool:
    return difflib.SequenceMatcher(None, a.lower(), b.lower()).ratio() >= 0.75


# --- judging -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check, before it is tied to an event."""

    outcome: Outcome
    message: str
    details: tuple[str, ...] = ()


def judge_status(answers: Sequence[Answer]) -> Verdict:
    """Passes when every answer is 2xx (what Hasura counts as delivered, `server/src-lib/Hasura/Eventing/HTTP.hs`)."""
    if not answers:
        return Verdict("skipped", "no delivery was made")
    bad = [(n, a) for n, a in enumerate(answers, 1) if not a.ok]
    if not bad:
        return Verdict("passed", f"HTTP {answers[0].status}" + (f" x {len(answers)}" if len(answers) > 1 else ""))
    first_n, first = bad[0]
    which = f"delivery {first_n} of {len(answers)}: " if len(answers) > 1 else ""
    return Verdict(
        "failed",
        f"{which}{first.describe()}, expected a 2xx answer",
        tuple(f"delivery {n}: {a.describe(200)}" for n, a in bad),
    )


def judge_recorded(answer: Answer | None, recorded: Answer | None, ignore: Sequence[IgnorePath]) -> Verdict:
    """Passes when the answer has the recorded outcome (`Answer.outcome`: a timeout is not a handler's 500) and, for
    an HTTP answer, the recorded status and, minus the ignored paths, the recorded body."""
    if recorded is None:
        return Verdict("skipped", "nothing recorded to compare with: the capture holds no attempt of this event")
    if answer is None:
        return Verdict("skipped", "no delivery was made")
    if answer.outcome != recorded.outcome or answer.status != recorded.status:
        return Verdict(
            "failed",
            f"answered {answer.describe()} where {recorded.describe()} was recorded",
            (f"recorded: {recorded.describe(400)}", f"replayed: {answer.describe(400)}"),
        )
    if answer.status is None:  # no answer either time: the same outcome is all there is to compare
        assert answer.outcome is not None
        return Verdict("passed", f"{OUTCOME_LABELS[answer.outcome]}, as recorded")
    a, b = strip_ignored(recorded.body, ignore), strip_ignored(answer.body, ignore)
    if json_equal(a, b):
        return Verdict("passed", f"HTTP {answer.status}, body as recorded")
    diff = json_diff(a, b)
    return Verdict("failed", f"body differs from the recorded one at {diff[0]}", tuple(diff))


def judge_duplicates(
    answers: Sequence[Answer],
    ignore: Sequence[IgnorePath],
    state_after_one: Any = None,
    state_after_all: Any = None,
    with_state: bool = False,
) -> Verdict:
    """Passes when the N answers agree (status and body, minus ignored paths) and, with a state query, the state
    after one delivery equals the state after N (idempotency)."""
    if len(answers) < 2:
        return Verdict("skipped", f"only {len(answers)} delivery made")
    problems: list[str] = []
    details: list[str] = []
    first = answers[0]
    base = strip_ignored(first.body, ignore)
    for n, other in enumerate(answers[1:], 2):
        if other.status != first.status:
            problems.append(f"delivery {n} answered {other.describe()}, delivery 1 {first.describe()}")
            continue
        diff = json_diff(base, strip_ignored(other.body, ignore))
        if diff:
            problems.append(f"delivery {n}'s answer differs from delivery 1's at {diff[0]}")
            details.extend(f"delivery {n}: {d}" for d in diff)
    if with_state:
        diff = json_diff(strip_ignored(state_after_one, ignore), strip_ignored(state_after_all, ignore))
        if diff:
            problems.append(f"the state after {len(answers)} deliveries differs from the state after 1 at {diff[0]}")
            details.extend(f"state: {d}" for d in diff)
    if problems:
        return Verdict("failed", f"not idempotent: {problems[0]}", (*problems[1:], *details))
    state = "; the state after 1 and after all is the same" if with_state else ""
    return Verdict("passed", f"{len(answers)} answers agree{state}")


@dataclass(frozen=True)
class OrderingOutcome:
    """One ordering of an order-tolerance run: its final state and each event's first answer."""

    ordering: Ordering
    state: Any
    answers: Mapping[str, Answer]
    """Event id → its first answer in this ordering."""


def judge_orderings(
    outcomes: Sequence[OrderingOutcome], items: Sequence[PlanItem], ignore: Sequence[IgnorePath]
) -> tuple[Verdict, list[PlanItem]]:
    """Passes when every ordering ends in the same state (minus ignored paths). Also returns the items whose answer
    changed with the ordering: the handlers that depend on the order events arrive in."""
    if len(outcomes) < 2:
        return Verdict("skipped", "only one ordering was run"), []
    base = outcomes[0]
    base_state = strip_ignored(base.state, ignore)
    problems: list[str] = []
    details: list[str] = []
    for other in outcomes[1:]:
        diff = json_diff(base_state, strip_ignored(other.state, ignore))
        if diff:
            problems.append(f"{other.ordering.label} ended in another state than {base.ordering.label}: {diff[0]}")
            details.extend(f"{base.ordering.label} → {other.ordering.label}: {d}" for d in diff)
    suspects: list[PlanItem] = []
    for item in items:
        answers = [o.answers.get(item.event.id) for o in outcomes]
        firsts = [strip_ignored(a.body, ignore) if a else None for a in answers]
        statuses = [a.status if a else None for a in answers]
        if any(s != statuses[0] for s in statuses) or any(not json_equal(firsts[0], f) for f in firsts[1:]):
            suspects.append(item)
            for o, a in zip(outcomes, answers, strict=True):
                details.append(
                    f"{item.event.trigger_name} event {item.event.id} in {o.ordering.label}: "
                    f"{a.describe(120) if a else 'not delivered'}"
                )
    if not problems:
        return Verdict("passed", f"all {len(outcomes)} orderings ended in the same state"), suspects
    who = (
        "; answers changed with the order at " + ", ".join(sorted({s.event.trigger_name for s in suspects}))
        if suspects
        else ""
    )
    return Verdict("failed", f"order-sensitive: {problems[0]}{who}", (*problems[1:], *details)), suspects


# --- the report ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, init=False)
class CheckResult:
    """One check of one event (or, for `order`, of the whole selection), as reports show it."""

    check: CheckKind
    outcome: Outcome
    message: str
    event_id: str | None = None
    trigger: str | None = None
    """The handler's trigger (for `order`: the triggers whose answers changed, or all in the flow)."""
    target: str | None = None
    """Where it was sent (URL and kind)."""
    ordering: str | None = None
    """The ordering's label when more than one ran."""
    details: tuple[str, ...] = ()
    duration_ms: float | None = None

    def __init__(
        self,
        check: CheckKind,
        outcome: Outcome,
        message: str,
        event_id: str | None = None,
        trigger: str | None = None,
        target: str | None = None,
        ordering: str | None = None,
        details: tuple[str, ...] = (),
        duration_ms: float | None = None,
    ) -> None:
        # As `Answer.__init__`, straight into the instance's dict: a replay judges every event it sends.
        fields = self.__dict__
        fields["check"] = check
        fields["outcome"] = outcome
        fields["message"] = message
        fields["event_id"] = event_id
        fields["trigger"] = trigger
        fields["target"] = target
        fields["ordering"] = ordering
        fields["details"] = details
        fields["duration_ms"] = duration_ms

    @property
    def name(self) -> str:
        """`check event-id [ordering]`: the test case name."""
        parts = [self.check, self.event_id or "flow"]
        if self.ordering:
            parts.append(f"[{self.ordering}]")
        return " ".join(parts)

    def line(self) -> str:
        """One line naming the handler and the event: what the CLI prints for a failure."""
        who = self.trigger or "replay"
        target = f" → {self.target}" if self.target else ""
        event = f", event {self.event_id}" if self.event_id else ""
        ordering = f" [{self.ordering}]" if self.ordering else ""
        return f"{self.outcome.upper()} {self.check}: {who}{target}{event}{ordering}: {self.message}"

    @classmethod
    def of(
        cls,
        check: CheckKind,
        verdict: Verdict,
        item: PlanItem | None = None,
        ordering: str | None = None,
        duration_ms: float | None = None,
    ) -> CheckResult:
        return cls(
            check=check,
            outcome=verdict.outcome,
            message=verdict.message,
            event_id=item.event.id if item else None,
            trigger=item.event.trigger_name if item else None,
            target=item.target.description if item else None,
            ordering=ordering,
            details=verdict.details,
            duration_ms=duration_ms,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "outcome": self.outcome,
            "message": self.message,
            "event_id": self.event_id,
            "trigger": self.trigger,
            "target": self.target,
            "ordering": self.ordering,
            "details": list(self.details),
            "duration_ms": self.duration_ms,
        }


RunState = Literal["finished", "cancelled", "failed"]


@dataclass
class ReplayReport:
    """What a replay run did and found."""

    capture: str
    started_at: float
    ended_at: float | None = None
    state: RunState = "finished"
    attempts_planned: int = 0
    attempts_made: int = 0
    unreachable: int = 0
    """Attempts whose target could not be connected to at all."""
    checks: list[CheckResult] = field(default_factory=list)
    plan: list[str] = field(default_factory=list)
    error: str | None = None
    """Why the run stopped early (the backend unreachable, a state query failing)."""
    connection_error: bool = False
    """`error` is a connection or authentication failure."""
    run_id: str = ""

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if c.outcome in ("failed", "error")]

    @property
    def passed(self) -> bool:
        """Everything ran and every check passed (or had nothing to compare with)."""
        return self.state == "finished" and self.error is None and not self.failures

    @property
    def all_unreachable(self) -> bool:
        """Every attempt made found nothing listening: a connection failure rather than failing handlers."""
        return self.attempts_made > 0 and self.unreachable == self.attempts_made

    def counts(self) -> dict[str, int]:
        out = {"passed": 0, "failed": 0, "skipped": 0, "error": 0}
        for c in self.checks:
            out[c.outcome] += 1
        return out

    @property
    def duration(self) -> float:
        return max(0.0, (self.ended_at or self.started_at) - self.started_at)

    def summary(self) -> str:
        c = self.counts()
        text = (
            f"{self.state}: {self.attempts_made} of {counted(self.attempts_planned, 'attempt')} "
            f"in {self.duration:.1f} s; checks: {c['passed']} passed, {c['failed']} failed, "
            f"{counted(c['error'], 'error')}, {c['skipped']} skipped"
        )
        return text + (f"; stopped: {self.error}" if self.error else "")

    def to_json(self, passed_checks: bool = True) -> dict[str, Any]:
        """The report as JSON; without `passed_checks` only the checks that did not pass are listed (the counts
        still cover all), which keeps a large run's record small."""
        checks = self.checks if passed_checks else [c for c in self.checks if c.outcome != "passed"]
        return {
            "run_id": self.run_id,
            "capture": self.capture,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "state": self.state,
            "attempts_planned": self.attempts_planned,
            "attempts_made": self.attempts_made,
            "unreachable": self.unreachable,
            "error": self.error,
            "counts": self.counts(),
            "plan": self.plan,
            "checks": [c.to_json() for c in checks],
        }
