"""HTTP to a backend that carries its credentials: one aiohttp session, no redirects, bounded answers, typed errors.

Owns what `backends.hasura_metadata` (the metadata API, `run_sql`, `/v1/version`) and `backends.graphql_http` (replay's
state query and reset mutation) have in common: the session (created on first use, closed with the client), the TLS
setting and timeout, the translation of aiohttp's failures into `backends.errors`, the refusal of redirects, and the
limit on how much of an answer is read. `backends.webhook_sender` has its own pooled session (it talks to handlers,
not to the backend) but reads its answers through `read_bounded` under `WEBHOOK_ANSWER`, and the subscription
recorder takes its frame limit from `WEBSOCKET_FRAME`.

Redirects are never followed here, to any origin. These requests carry the admin secret (or whatever credentials the
user gave with `--header`), and aiohttp sends the same headers to wherever a 307/308 points; a backend, a proxy in
front of it or a `--state-query` endpoint would hand the secret to a host nobody chose. Hasura's own endpoints
(`/v1/metadata`, `/v2/query`, `/v1/graphql`, `/v1/version`) answer directly and do not redirect (routes in
`server/src-lib/Hasura/Server/App.hs` in hasura/graphql-engine), so a redirect comes from something in front of
the server, and the usual one (http → https) changes the origin anyway: the user is told where it pointed and fixes
`--endpoint`, which is safer than guessing which redirects are harmless.

Limits: an answer is read chunk by chunk and abandoned (connection closed) as soon as it passes the limit of its
kind, so memory stays bounded whatever the server sends; a declared `Content-Length` over the limit is refused
before reading, and one within it, on an answer without `Content-Encoding`, is read at once (aiohttp reads no more
than it declares). Each limit has a default and an environment variable (a number of bytes, optionally with a `KiB`,
`MiB` or `GiB` suffix); the clients also take an explicit limit. docs/security.md lists them.
"""

from __future__ import annotations

import json
import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import aiohttp

from inspector.backends.errors import BackendError, ConnectionFailed, RedirectRefused, ResponseTooLarge
from inspector.core.redaction import redact_url

MIB = 1024 * 1024
_CHUNK = 256 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"k": 1024, "m": MIB, "g": 1024 * MIB}


def format_size(size: int) -> str:
    """`16777216` → `16 MiB`; for messages."""
    for unit, factor in (("GiB", 1024 * MIB), ("MiB", MIB), ("KiB", 1024)):
        if size >= factor:
            value = size / factor
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size} bytes"


@dataclass(frozen=True)
class BodyLimit:
    """The largest answer of one kind that is read from a server: a default, overridable by an environment variable
    or by the client's caller."""

    kind: str
    """What is being read, for messages: "metadata answer", "webhook answer"…"""
    env: str
    default: int

    def resolve(self, given: int | None = None, environ: Mapping[str, str] | None = None) -> int:
        """The limit in bytes: `given` if not None, else the environment variable's value, else the default.
        A value that is not a positive size is a `BackendError` (a one-line message, not a traceback)."""
        if given is not None:
            if given <= 0:
                raise BackendError(f"the limit for a {self.kind} must be a positive number of bytes, not {given}")
            return given
        text = (os.environ if environ is None else environ).get(self.env, "")
        if not text.strip():
            return self.default
        match = _SIZE.match(text)
        value = 0
        if match:
            value = int(match.group(1)) * (_UNITS[match.group(2)[0].lower()] if match.group(2) else 1)
        if value <= 0:
            raise BackendError(f"{self.env}={text!r} is not a size in bytes (e.g. 67108864 or 64MiB)")
        return value

    def exceeded(self, shown_url: str, limit: int) -> ResponseTooLarge:
        return ResponseTooLarge(
            f"{shown_url} sent a {self.kind} larger than {format_size(limit)}; stopped reading it "
            f"(set {self.env} to a larger size to accept it)",
            limit,
        )


# Defaults. A metadata answer holds a page of up to 100 events or invocations, each with its payload (an invocation's
# request repeats it), so a trigger on rows of a few MB needs far more than a usual answer: 256 MiB, as for WebSocket
# frames (a live query's result over a big table). The state query and reset mutation of a replay are the user's own
# small queries: 64 MiB. A webhook's answer is recorded in the capture per attempt, and a replay makes thousands of
# them concurrently: 16 MiB each.
METADATA_ANSWER = BodyLimit("metadata answer", "INSPECTOR_MAX_METADATA_ANSWER_BYTES", 256 * MIB)
GRAPHQL_ANSWER = BodyLimit("GraphQL answer", "INSPECTOR_MAX_GRAPHQL_ANSWER_BYTES", 64 * MIB)
WEBHOOK_ANSWER = BodyLimit("webhook answer", "INSPECTOR_MAX_WEBHOOK_ANSWER_BYTES", 16 * MIB)
WEBSOCKET_FRAME = BodyLimit("WebSocket frame", "INSPECTOR_MAX_WEBSOCKET_FRAME_BYTES", 256 * MIB)


def readable_at_once(answer: aiohttp.ClientResponse, limit: int) -> bool:
    """Whether `answer.read()` is bounded by `limit`: it declares a length within the limit and has no
    `Content-Encoding`. aiohttp's parser then reads exactly the declared bytes, so one `read()` is safe (and costs a
    webhook answer at replay's rate much less than `read_bounded`'s loop). An encoded body is decompressed by aiohttp
    as it arrives: its declared length says nothing of what it inflates to, so it must go through the loop, which
    counts decompressed bytes."""
    declared = answer.content_length
    return declared is not None and declared <= limit and not answer.headers.get("Content-Encoding")


async def read_bounded(answer: aiohttp.ClientResponse, limit: int, kind: BodyLimit, shown_url: str) -> bytes:
    """The whole body of `answer`, or `ResponseTooLarge` as soon as it passes `limit` bytes (after decompression);
    the connection is then closed, so the rest is never received."""
    if readable_at_once(answer, limit):
        return await answer.read()
    declared = answer.content_length
    if declared is not None and declared > limit:
        answer.close()
        raise kind.exceeded(shown_url, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in answer.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > limit:
            chunks.clear()
            answer.close()
            raise kind.exceeded(shown_url, limit)
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True)
class HttpAnswer:
    """A backend's answer, read in full (within its limit)."""

    status: int
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON (`json.JSONDecodeError` / `UnicodeDecodeError` as `ValueError` otherwise)."""
        return json.loads(self.body)


def unreachable(shown_url: str, exc: BaseException) -> ConnectionFailed:
    """A failed request as a message that says what to check."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return ConnectionFailed(f"TLS certificate of {shown_url} was not accepted: {exc.certificate_error}")
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return ConnectionFailed(f"nothing is listening at {shown_url} (connection refused): is the server running?")
        cause = getattr(cause, "os_error", None) or cause.__cause__
    if isinstance(exc, TimeoutError):
        return ConnectionFailed(f"{shown_url} did not answer in time")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ConnectionFailed(f"cannot reach {shown_url}: {exc.os_error or exc}")
    return ConnectionFailed(f"cannot reach {shown_url}: {exc or type(exc).__name__}")


class BackendHttp:
    """One session to one backend, sending the given headers (which carry its credentials) with each request.
    Use `async with`, or `close()` when done."""

    def __init__(self, headers: Mapping[str, str], verify_tls: bool = True, timeout: float = 30.0) -> None:
        self.headers = dict(headers)
        self._ssl: ssl.SSLContext | bool = bool(verify_tls)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> BackendHttp:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        url: str,
        kind: BodyLimit,
        limit: int,
        json_body: Any = None,
        with_headers: bool = True,
    ) -> HttpAnswer:
        """One request; the answer of any status except a redirect (`RedirectRefused`), read within `limit` bytes
        (`ResponseTooLarge`); `ConnectionFailed` when there is no answer. `with_headers=False` sends none of the
        credentials (`/v1/version` needs none)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        shown = redact_url(url)
        try:
            async with self._session.request(
                method,
                url,
                json=json_body,
                headers=self.headers if with_headers else None,
                ssl=self._ssl,
                allow_redirects=False,  # the credentials would go along: see the module's docstring
            ) as answer:
                if answer.status in _REDIRECTS:
                    location = answer.headers.get("Location", "")
                    target = redact_url(urljoin(url, location)) if location else "nowhere (no Location header)"
                    answer.close()
                    raise RedirectRefused(
                        f"{shown} redirects (HTTP {answer.status}) to {target}; not followed, as the request carries "
                        "the admin secret: if that is the server, point --endpoint at it",
                        target,
                    )
                body = await read_bounded(answer, limit, kind, shown)
                return HttpAnswer(answer.status, body)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise unreachable(shown, exc) from exc
