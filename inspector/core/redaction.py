"""Redaction: the one set of rules for what of a header, URL or text may be kept in a file or shown.

Owns the redaction rules every writer applies: the capture writer (`inspector.store.capture_file`: invocation
requests and responses, trigger configurations), the exports (`inspector.store.exchange`: JSONL and HAR, plain and
`--redact`), the replay records and reports (`inspector.store.replay_records`, `inspector.services.replay`), log lines
and error messages (`redact_url` of any endpoint or webhook), and the connection profile's routing of credential
headers to the keyring (`looks_like_credential`, used by `inspector.core.connection_profile`).

The rules (documented for users in docs/security.md):

- Header values are redacted by ALLOW-LIST: every value becomes `REDACTED` unless the header's name is in
  `CLEAR_HEADERS` (protocol metadata and trace ids, never a credential). A deny-list of credential-looking names
  misses `x-functions-key`, `X-Hub-Signature`, `x-api_key` and whatever a webhook invents next; an allow-list
  cannot. `value_from_env` entries keep the variable's name (it is not secret).
- URLs (`redact_url`): user info (`user:password@`) is dropped, every query value becomes `redacted` (the names stay,
  so a reader still sees which parameters there were: `?code=redacted`), the fragment is dropped.
- Free text (`redact_text`: error messages such as Hasura's `http_exception` texts): every URL in it as `redact_url`
  gives it, every `?name=value&...` query string's values, and every `("Name","value")` header pair (the way
  Haskell's http-client shows `requestHeaders`) whose name is not in `CLEAR_HEADERS`.
- Session variables (`redact_session_variables`): every value except `x-hasura-role`.

Pure functions on JSON values and strings: no I/O. Each function returns its argument itself when nothing changed,
so callers can tell "untouched" from "rewritten" by identity.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

REDACTED = "<redacted>"
"""What a redacted value becomes, everywhere (captures, exports, replay records)."""

REDACTED_IN_URL = "redacted"
"""What a redacted query value becomes: URL-safe, so the URL stays one."""

ADMIN_SECRET_HEADER = "x-hasura-admin-secret"
"""Where Hasura v2 reads the admin secret."""

ACCESS_KEY_HEADER = "x-hasura-access-key"
"""Hasura v1.0's name for the admin secret, still accepted by some deployments."""

ADMIN_SECRET_HEADERS = frozenset({ADMIN_SECRET_HEADER, ACCESS_KEY_HEADER})

CLEAR_HEADERS = frozenset(
    {
        # Representation and negotiation: what the body is and how it travels.
        "accept",
        "accept-encoding",
        "accept-language",
        "content-encoding",
        "content-language",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "vary",
        # Who sent or served it, and when (Hasura sends `User-Agent: hasura-graphql-engine/<version>`).
        "user-agent",
        "server",
        "date",
        "age",
        "cache-control",
        "expires",
        "etag",
        "last-modified",
        "retry-after",
        # Trace and correlation ids: Hasura adds B3 (its default propagator) and, when configured, W3C `traceparent`.
        "traceparent",
        "tracestate",
        "b3",
        "x-b3-traceid",
        "x-b3-spanid",
        "x-b3-parentspanid",
        "x-b3-sampled",
        "x-b3-flags",
        "x-request-id",
        "x-correlation-id",
        # The role a request runs as: a role name, never a credential (session variables keep it too).
        "x-hasura-role",
    }
)
"""Header names (lower case) whose values are kept in clear; every other header value is redacted. `Location`,
`Set-Cookie` and `Link` are left out on purpose: they can carry tokens."""

KEPT_SESSION_VARIABLES = frozenset({"x-hasura-role"})
"""Session variables whose values `redact_session_variables` keeps."""

CREDENTIAL_HEADERS = frozenset(
    {ADMIN_SECRET_HEADER, ACCESS_KEY_HEADER, "authorization", "proxy-authorization", "cookie"}
)
_CREDENTIAL_WORDS = ("secret", "token", "password", "passwd", "api-key", "apikey", "api_key", "access-key", "auth")
"""A header whose name contains one of these looks like a credential (`x-auth-token`, `x-api-key`, `x-api_key`)."""


def is_clear_header(name: str) -> bool:
    """Whether a header's value may be kept in clear (its name is on the allow-list `CLEAR_HEADERS`)."""
    return name.strip().lower() in CLEAR_HEADERS


def looks_like_credential(name: str) -> bool:
    """Whether a header's name says it carries a credential (admin secret, bearer token, cookie, API key...).

    Not a redaction rule (redaction is by allow-list, so it does not depend on guessing names): the connection
    profile uses it to route such headers to the keyring instead of `profiles.json`."""
    lower = name.strip().lower()
    return lower in CREDENTIAL_HEADERS or any(word in lower for word in _CREDENTIAL_WORDS)


def redact_headers(headers: Any, *, only_admin_secret: bool = False) -> Any:
    """A Hasura header list (`[{"name": ..., "value": ...}]`, as invocation logs and trigger configurations hold
    them) with every value outside `CLEAR_HEADERS` replaced by `REDACTED` (with `only_admin_secret`: only the
    admin-secret headers'). `value_from_env` entries are kept. The same object when nothing changed."""
    if not isinstance(headers, list):
        return headers
    out = []
    changed = False
    for header in headers:
        if isinstance(header, Mapping) and "value" in header and header["value"] != REDACTED:
            name = str(header.get("name", "")).strip().lower()
            if name in ADMIN_SECRET_HEADERS or (not only_admin_secret and name not in CLEAR_HEADERS):
                header = {**header, "value": REDACTED}
                changed = True
        out.append(header)
    return out if changed else headers


def redact_header_pairs(headers: Mapping[str, str]) -> dict[str, str]:
    """`{name: value}` headers with every value outside `CLEAR_HEADERS` replaced (for messages and reports)."""
    return {name: value if is_clear_header(name) else REDACTED for name, value in headers.items()}


def _redact_query(query: str) -> str:
    """Every value of a query string replaced by `redacted`; names (and their order) kept."""
    if not query:
        return query
    parts = []
    for item in query.split("&"):
        name, sep, _value = item.partition("=")
        parts.append(f"{name}={REDACTED_IN_URL}" if sep else name)
    return "&".join(parts)


def _netloc_without_userinfo(parts: SplitResult) -> str:
    host = parts.hostname or ""
    shown = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError:  # not a number: keep it as written, it is no credential
        return parts.netloc.rsplit("@", 1)[-1].lower()
    return shown if port is None else f"{shown}:{port}"


def redact_url(url: str) -> str:
    """`url` safe to keep, show and log: no user info, every query value `redacted`, no fragment; the scheme and host
    lower-cased (`https://u:p@Hooks.example.com/h?code=abc#x` → `https://hooks.example.com/h?code=redacted`).

    Text without a scheme (a webhook template such as `{{BASE}}/h?code=abc`) keeps its shape, with the query values
    redacted and anything before an `@` dropped."""
    text = url.strip()
    if "://" not in text:
        base, sep, query = text.partition("?")
        base = base.split("#", 1)[0]
        if "@" in base.split("/", 1)[0]:
            base = base.split("@", 1)[1]
        return base + (sep + _redact_query(query.split("#", 1)[0]) if sep else "")
    try:
        parts = urlsplit(text)
    except ValueError:
        return REDACTED
    netloc = _netloc_without_userinfo(parts)
    if not parts.hostname and "@" in parts.netloc:
        netloc = parts.netloc.rsplit("@", 1)[1]
    elif not parts.hostname:
        netloc = parts.netloc
    return urlunsplit((parts.scheme.lower(), netloc, parts.path, _redact_query(parts.query), ""))


def url_without_credentials(url: str) -> str:
    """`url` with neither user info nor query string nor fragment: what may be saved (a profile's endpoint)."""
    redacted = redact_url(url)
    return redacted.split("?", 1)[0]


_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'<>()\[\]{}`,]+")
_QUERY_IN_TEXT = re.compile(r"\?([^\s\"'<>#?()\[\]{}`,]*=[^\s\"'<>#?()\[\]{}`,]*)")
_HEADER_PAIR_IN_TEXT = re.compile(r'\(\s*"([^"\\]+)"\s*,\s*"((?:[^"\\]|\\.)*)"\s*\)')
_USERINFO_IN_TEXT = re.compile(r"(?<![\w.+\-/:@])([\w.+\-%]+):([^\s@/\"']+)@(?=[\w\-.\[])")


def redact_text(text: str) -> str:
    """Free text (an error message) with URL credentials, query values and quoted header values redacted: see the
    module docstring. The same string when nothing changed."""
    out = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
    out = _QUERY_IN_TEXT.sub(lambda m: "?" + _redact_query(m.group(1)), out)
    out = _USERINFO_IN_TEXT.sub("", out)
    out = _HEADER_PAIR_IN_TEXT.sub(
        lambda m: m.group(0) if is_clear_header(m.group(1)) else f'("{m.group(1)}","{REDACTED}")', out
    )
    return text if out == text else out


def redact_session_variables(event: Any) -> Any:
    """An event payload (`op`, `data`, `session_variables`, ...) with session variables other than the role
    replaced; the same object when there is nothing to replace."""
    if not isinstance(event, Mapping) or not isinstance(event.get("session_variables"), Mapping):
        return event
    variables = event["session_variables"]
    if all(str(k).lower() in KEPT_SESSION_VARIABLES or v == REDACTED for k, v in variables.items()):
        return event
    session = {k: (v if str(k).lower() in KEPT_SESSION_VARIABLES else REDACTED) for k, v in variables.items()}
    return {**event, "session_variables": session}


def redact_logged_request(request: Any) -> Any:
    """An invocation's logged request (`{"payload", "headers", "version"}`) with header values redacted by the
    allow-list. Hasura logs configured webhook headers with their literal values (`mkInvocation` in
    `server/src-lib/Hasura/Eventing/EventTrigger.hs` of hasura/graphql-engine): a webhook key must not reach a
    capture. The same object when nothing changed."""
    if not isinstance(request, Mapping):
        return request
    headers = redact_headers(request.get("headers"))
    if headers is request.get("headers"):
        return request
    return {**request, "headers": headers}


def _redact_exception_message(message: str) -> str:
    """A `client_error` message: Hasura's (or the sandbox's, or a replay's) `http_exception`/`invalid_url` JSON
    text with its request URL, request headers and message redacted; any other text through `redact_text`."""
    try:
        detail = json.loads(message)
    except ValueError:
        return redact_text(message)
    if not isinstance(detail, dict) or not isinstance(detail.get("type"), str):
        return redact_text(message)
    out = dict(detail)
    if isinstance(out.get("message"), str):
        out["message"] = redact_text(out["message"])
    request = out.get("request")
    if isinstance(request, Mapping):
        request = dict(request)
        if isinstance(request.get("url"), str):
            request["url"] = redact_url(request["url"])
        if isinstance(request.get("headers"), list):
            request["headers"] = redact_headers(request["headers"])
        elif isinstance(request.get("headers"), Mapping):
            request["headers"] = redact_header_pairs(request["headers"])
        out["request"] = request
    if out == detail:
        return message
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


def redact_logged_response(response: Any, *, bodies: bool = False) -> Any:
    """An invocation's logged response with its header values redacted by the allow-list and, in a `client_error`
    that records an exception (`http_exception`, `invalid_url`: JSON text naming the request), the URL credentials
    and header values in it. With `bodies`, any other `client_error` message (a handler's error body) goes through
    `redact_text` too (exports with `--redact`); without, bodies stay as received (the capture: a faithful record
    of what the handler answered). The same object when nothing changed."""
    if not isinstance(response, Mapping) or not isinstance(response.get("data"), Mapping):
        return response
    data = response["data"]
    new = dict(data)
    headers = redact_headers(data.get("headers"))
    if headers is not data.get("headers"):
        new["headers"] = headers
    message = data.get("message")
    if isinstance(message, str) and (bodies or _is_exception_text(message)):
        new["message"] = _redact_exception_message(message)
    if new == data:
        return response
    return {**response, "data": new}


def _is_exception_text(message: str) -> bool:
    head = message.lstrip()[:200]
    return head.startswith("{") and ('"http_exception"' in head or '"invalid_url"' in head or '"request"' in message)


def redact_trigger_config(config: Any) -> Any:
    """A trigger's metadata (as `export_metadata` gives it) with every header value replaced (configured webhook
    headers are mostly secrets; `value_from_env` names stay) and its webhook URL through `redact_url`. The same
    object when nothing changed."""
    if not isinstance(config, Mapping):
        return config
    out: dict[str, Any] = dict(config)
    if isinstance(config.get("headers"), list):
        out["headers"] = [
            {**h, "value": REDACTED} if isinstance(h, Mapping) and "value" in h else h for h in config["headers"]
        ]
    if isinstance(config.get("webhook"), str):
        out["webhook"] = redact_url(config["webhook"])
    return config if out == config else out


__all__ = [
    "ACCESS_KEY_HEADER",
    "ADMIN_SECRET_HEADER",
    "ADMIN_SECRET_HEADERS",
    "CLEAR_HEADERS",
    "KEPT_SESSION_VARIABLES",
    "REDACTED",
    "is_clear_header",
    "looks_like_credential",
    "redact_header_pairs",
    "redact_headers",
    "redact_logged_request",
    "redact_logged_response",
    "redact_session_variables",
    "redact_text",
    "redact_trigger_config",
    "redact_url",
    "url_without_credentials",
]
