"""The webhook sender: POSTs an event-trigger body to a handler as Hasura does, and times the answer.

Owns one aiohttp session (a keep-alive connection pool sized for the replay's concurrency), the per-request timeout
(Hasura's is the trigger's `retry_conf.timeout_sec`, `server/src-lib/Hasura/Eventing/HTTP.hs`), the duration of each
request (from sending to the last byte of the answer, `time.perf_counter`) and the translation of aiohttp's failures
into typed errors whose message is what Hasura would log in an `http_exception` (`getHttpExceptionJson` in
`server/src-lib/Hasura/HTTP.hs`).

Headers are sent exactly as given: the caller builds them with `inspector.services.replay.plan.resolve_headers`, which
puts Hasura's `Content-Type: application/json` and `User-Agent: hasura-graphql-engine/<version>` over the trigger's
configured headers. Configured header values never come from a capture (it keeps them redacted): they come from
the user (the profile's keyring entry or environment variables, `--webhook-header NAME=ENVVAR`) or from the
trigger's `value_from_env` variable, as Hasura reads it. aiohttp adds `Host`, `Content-Length`, `Accept` and
`Accept-Encoding`, as any HTTP client (Hasura's included) adds its own.

An answer larger than `backends.http.WEBHOOK_ANSWER` (16 MiB unless configured) is not read further: the delivery
is a `WebhookAnswerTooLarge` (an `http_exception` saying so), so a handler streaming gigabytes cannot exhaust memory
and is not taken for a handler that answered.

Used by the replay runner (`inspector.services.replay.runner`) and its benchmark.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Mapping
from typing import NamedTuple

import aiohttp

from inspector.backends.errors import BackendError, ConnectionFailed, ResponseTooLarge
from inspector.backends.http import WEBHOOK_ANSWER, read_bounded, readable_at_once
from inspector.core.redaction import redact_url


class WebhookError(BackendError):
    """A delivery that got no HTTP answer; `kind` says why, `duration_ms` how long it took to find out."""

    kind = "http_exception"

    def __init__(self, message: str, url: str, duration_ms: float) -> None:
        super().__init__(message)
        self.url = url
        self.duration_ms = duration_ms


class WebhookUnreachable(WebhookError, ConnectionFailed):
    """Nothing could be connected to: refused, no route, unknown host."""


class WebhookTimeout(WebhookError, ConnectionFailed):
    """No (complete) answer within the timeout; Hasura logs `response timeout`."""


class WebhookAnswerTooLarge(WebhookError, ResponseTooLarge):
    """The handler answered, but with a body larger than the limit (`limit`, in bytes); `status` is the HTTP status
    it gave."""

    def __init__(self, message: str, url: str, duration_ms: float, status: int, limit: int) -> None:
        BackendError.__init__(self, message)
        self.url, self.duration_ms, self.status, self.limit = url, duration_ms, status, limit


class InvalidWebhookURL(WebhookError):
    """The URL cannot be requested at all (Hasura logs `invalid_url`)."""

    kind = "invalid_url"


class WebhookAnswer(NamedTuple):
    """An HTTP answer, whatever its status. (A named tuple: one is made per delivery, at replay's rate.)"""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...]
    duration_ms: float


class WebhookSender:
    """Sends webhook requests over one pooled session. Use `async with WebhookSender(...) as sender`."""

    def __init__(self, connections: int = 100, verify_tls: bool = True, max_answer_bytes: int | None = None) -> None:
        self._connections = max(1, connections)
        self.max_answer_bytes = WEBHOOK_ANSWER.resolve(max_answer_bytes)
        self._ssl: ssl.SSLContext | bool = bool(verify_tls)
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}
        self._shown_urls: dict[str, str] = {}
        """URL → `redact_url(URL)`: worked out once per URL, not for every delivery (replay's rate)."""

    async def __aenter__(self) -> WebhookSender:
        self._open()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections, ssl=self._ssl),
                # Our own cookies must not travel between handlers; Hasura keeps none either.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _shown(self, url: str) -> str:
        shown = self._shown_urls.get(url)
        if shown is None:
            if len(self._shown_urls) >= 1024:
                self._shown_urls.clear()
            shown = self._shown_urls[url] = redact_url(url)
        return shown

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], time_limit: float) -> WebhookAnswer:
        """POST `body` with exactly `headers`, within `time_limit` seconds; the answer of any status, or a
        `WebhookError`."""
        session = self._open()
        timeout = self._timeouts.get(time_limit)
        if timeout is None:
            timeout = self._timeouts[time_limit] = aiohttp.ClientTimeout(total=time_limit)
        started = time.perf_counter()
        try:
            async with session.post(
                url,
                data=body,
                headers=headers,  # aiohttp copies them into its own multidict
                timeout=timeout,
                allow_redirects=False,
            ) as answer:
                try:
                    limit = self.max_answer_bytes
                    if readable_at_once(answer, limit):  # the usual small answer: one read, one coroutine less
                        raw = await answer.read()
                    else:
                        raw = await read_bounded(answer, limit, WEBHOOK_ANSWER, self._shown(url))
                except ResponseTooLarge as exc:
                    raise WebhookAnswerTooLarge(
                        f"{exc} (HTTP {answer.status})", url, _since(started), answer.status, exc.limit
                    ) from exc
                return WebhookAnswer(
                    answer.status,
                    raw,
                    tuple(answer.headers.items()),
                    (time.perf_counter() - started) * 1000,
                )
        except TimeoutError as exc:
            raise WebhookTimeout("response timeout", url, _since(started)) from exc
        except aiohttp.InvalidURL as exc:
            raise InvalidWebhookURL(f"invalid URL: {exc}", url, _since(started)) from exc
        except aiohttp.ClientConnectorError as exc:
            raise WebhookUnreachable(_connector_message(exc), url, _since(started)) from exc
        except (aiohttp.ClientError, ValueError) as exc:
            raise WebhookError(str(exc) or type(exc).__name__, url, _since(started)) from exc


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _connector_message(exc: aiohttp.ClientConnectorError) -> str:
    reason = exc.os_error.strerror if exc.os_error is not None and exc.os_error.strerror else str(exc.os_error)
    return f"cannot connect to {exc.host}:{exc.port}: {reason}"
