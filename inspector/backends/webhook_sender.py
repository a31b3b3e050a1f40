"""The webhook sender: POSTs an event-trigger body to a handler as Hasura does, and times the answer.

Owns one `backends.http1.Http1Client` (pooled keep-alive connections; aiohttp's client cost about four times the
CPU per request, see that module), the per-request timeout (Hasura's is the trigger's `retry_conf.timeout_sec`,
`server/src-lib/Hasura/Eventing/HTTP.hs`), the duration of each request (from sending to the last byte of the
answer, `time.perf_counter`) and the translation of failures into typed errors whose message is what Hasura would
log in an `http_exception` (`getHttpExceptionJson` in `server/src-lib/Hasura/HTTP.hs`).

Headers are sent exactly as given: the caller builds them with `inspector.services.replay.plan.resolve_headers`, which
puts Hasura's `Content-Type: application/json` and `User-Agent: hasura-graphql-engine/<version>` over the trigger's
configured headers. Configured header values never come from a capture (it keeps them redacted): they come from
the user (the profile's keyring entry or environment variables, `--webhook-header NAME=ENVVAR`) or from the
trigger's `value_from_env` variable, as Hasura reads it. The sender adds `Host` and `Content-Length`, and `Accept:
*/*` and `Accept-Encoding: gzip, deflate` when not given (what aiohttp, the sender's client until 2026-12, added),
as any HTTP client (Hasura's included) adds its own. A compressed answer is inflated.

An answer larger than `backends.http.WEBHOOK_ANSWER` (16 MiB unless configured; inflated bytes counted) is not read
further: the delivery is a `WebhookAnswerTooLarge` (an `http_exception` saying so), so a handler streaming gigabytes
cannot exhaust memory and is not taken for a handler that answered. Redirects are not followed (a 3xx is recorded
as the handler's answer, as Hasura records it).

Used by the replay runner (`inspector.services.replay.runner`) and its benchmark.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import NamedTuple

from inspector.backends.errors import BackendError, ConnectionFailed, ResponseTooLarge
from inspector.backends.http import WEBHOOK_ANSWER
from inspector.backends.http1 import (
    Http1Client,
    Http1ConnectError,
    Http1Error,
    Http1InvalidURL,
    Http1Timeout,
    Http1TooLarge,
)
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
    """Sends webhook requests over pooled keep-alive connections. Use `async with WebhookSender(...) as sender`."""

    def __init__(self, connections: int = 100, verify_tls: bool = True, max_answer_bytes: int | None = None) -> None:
        self._connections = max(1, connections)
        self.max_answer_bytes = WEBHOOK_ANSWER.resolve(max_answer_bytes)
        self._verify_tls = bool(verify_tls)
        self._client: Http1Client | None = None
        self._shown_urls: dict[str, str] = {}
        """URL → `redact_url(URL)`: worked out once per URL, not for every delivery (replay's rate)."""
        self._headers: dict[int, tuple[Mapping[str, str], list[tuple[str, str]]]] = {}
        """id(headers) → (headers, the pairs to send): a replay passes the same mapping for every event of a trigger
        that has no per-event header, so the defaults are added once."""

    async def __aenter__(self) -> WebhookSender:
        self._open()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    def _open(self) -> Http1Client:
        if self._client is None:
            self._client = Http1Client(self._verify_tls, max_idle=self._connections)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _shown(self, url: str) -> str:
        shown = self._shown_urls.get(url)
        if shown is None:
            if len(self._shown_urls) >= 1024:
                self._shown_urls.clear()
            shown = self._shown_urls[url] = redact_url(url)
        return shown

    def _pairs(self, headers: Mapping[str, str]) -> list[tuple[str, str]]:
        known = self._headers.get(id(headers))
        if known is not None and known[0] is headers:
            return known[1]
        pairs = list(headers.items())
        present = {name.lower() for name in headers}
        if "accept" not in present:
            pairs.append(("Accept", "*/*"))
        if "accept-encoding" not in present:
            pairs.append(("Accept-Encoding", "gzip, deflate"))
        if len(self._headers) >= 256:
            self._headers.clear()
        self._headers[id(headers)] = (headers, pairs)
        return pairs

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], time_limit: float) -> WebhookAnswer:
        """POST `body` with exactly `headers`, within `time_limit` seconds; the answer of any status, or a
        `WebhookError`."""
        client = self._open()
        started = time.perf_counter()
        try:
            status, got, raw = await client.post(
                url, body, self._pairs(headers), limit=self.max_answer_bytes, time_limit=time_limit
            )
        except Http1Timeout as exc:
            raise WebhookTimeout("response timeout", url, _since(started)) from exc
        except Http1InvalidURL as exc:
            raise InvalidWebhookURL(str(exc), url, _since(started)) from exc
        except Http1ConnectError as exc:
            raise WebhookUnreachable(str(exc), url, _since(started)) from exc
        except Http1TooLarge as exc:
            too_large = WEBHOOK_ANSWER.exceeded(self._shown(url), exc.limit)
            raise WebhookAnswerTooLarge(
                f"{too_large} (HTTP {exc.status})", url, _since(started), exc.status, exc.limit
            ) from exc
        except Http1Error as exc:
            raise WebhookError(str(exc) or type(exc).__name__, url, _since(started)) from exc
        return WebhookAnswer(status, raw, tuple(got), (time.perf_counter() - started) * 1000)


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
