"""The delivery worker: Hasura's event processor for the sandbox (`server/src-lib/Hasura/Eventing/HTTP.hs`,
`server/src-lib/Hasura/Eventing/EventTrigger.hs`, `server/src-lib/Hasura/Backends/Postgres/DDL/EventTrigger.hs`).

Owns the loop that fetches due events (locking them), POSTs each to its trigger's webhook with Hasura's body and
headers, records the attempt as an invocation and moves the event on: delivered, retry at `next_retry_at` (after
`interval_sec`, or `Retry-After` seconds on a non-2xx answer, even when retries are exhausted), or error when tries are
spent. Two fault knobs act here: `duplicate_rate` (a fetched event is delivered twice at once, as when a lock expires
during a delivery) and `reorder_window_ms` (each due event is held a random time within the window first).

How an attempt that got no answer is recorded follows `server/src-lib/Hasura/Eventing/EventTrigger.hs`
(`processEvent`, `processError`, `mkInvocation`) and `server/src-lib/Hasura/HTTP.hs` (`getHttpExceptionJson`):
- From v2.25 the whole processing of an event runs under `timeout (min(timeout_sec, 30 min))`, started before the
  HTTP request (whose own response timeout is also `timeout_sec`), so a handler that does not answer in time is
  recorded as `HOther`: `http_status` 500, `request.payload` null, `response` a `client_error` whose message is the
  JSON string `"Event Trigger \"NAME\" timed out while processing."`. Before v2.25 there is no processing timeout:
  the HTTP client's response timeout fires, an `http_exception` with message `Response timeout` and a null status.
- A connection failure is an `http_exception` (`client_error` message = its JSON text) with no `status` key and a
  null `http_status`: `{"type","message":"Connection failure: ...","request":{host, port, secure, requestHeaders,
  path, queryString, method, responseTimeout}}`.
Trace headers come from `TracePropagation` (B3 by default).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from inspector.core.hasura import (
    EventTriggerConf,
    aeson_time,
    client_error,
    http_exception,
    invocation_request,
    request_headers,
    timeout_message,
    webhook_body,
    webhook_response,
)
from inspector.sandbox.config import SandboxConfig
from inspector.sandbox.eventing import DueEvent, EventTriggers
from inspector.sandbox.tracing import TracePropagation

log = logging.getLogger(__name__)

_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def resolve_webhook(conf: EventTriggerConf, env: Mapping[str, str]) -> str:
    """The URL to call: `webhook` with `{{ENV}}` templates filled in, or the value of `webhook_from_env`."""
    if conf.webhook_from_env is not None:
        return env.get(conf.webhook_from_env, "")
    return _TEMPLATE.sub(lambda m: env.get(m.group(1), ""), conf.webhook or "")


def serializable_blob(data: bytes) -> Any:
    """Hasura's `SerializableBlob`: UTF-8 text as a string, anything else as `["Base64", "<b64>"]`
    (`server/src-lib/Data/SerializableBlob.hs`)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return ["Base64", base64.b64encode(data).decode("ascii")]


def retry_after_seconds(value: str | None) -> int | None:
    """`Retry-After` as Hasura honours it: a positive whole number of seconds; an HTTP date is ignored
    (`server/src-lib/Hasura/Eventing/HTTP.hs`)."""
    if value is None or not value.strip().isdigit():
        return None
    seconds = int(value.strip())
    return seconds if seconds > 0 else None


UPPER_BOUND_TIMEOUT_SEC = 30 * 60
"""`upperBoundEventTriggerTimeout = minutes 30` (`server/src-lib/Hasura/Eventing/EventTrigger.hs`)."""


def exception_request(url: str, headers: Mapping[str, str], timeout_sec: int) -> dict[str, Any]:
    """The `request` of an `http_exception`, as `encodeHTTPRequestJSON` writes http-client's `Request`
    (`server/src-lib/Hasura/HTTP.hs`)."""
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    return {
        "host": parts.hostname or "",
        "port": parts.port or (443 if secure else 80),
        "secure": secure,
        "requestHeaders": dict(headers),
        "path": parts.path or "/",
        "queryString": f"?{parts.query}" if parts.query else "",
        "method": "POST",
        "responseTimeout": f"ResponseTimeoutMicro {timeout_sec * 1_000_000}",
    }


def _exception_message(exc: BaseException) -> str:
    """`serializeHTTPExceptionWithErrorMessage` for what aiohttp raises (the detail after `Connection failure: ` is
    Python's, not Haskell's `displayException`)."""
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return "Response timeout"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"Connection failure: {exc.os_error}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "No response data received"
    return f"Internal error: {exc or type(exc).__name__}"


class DeliveryWorker:
    """Delivers due events to their webhooks until stopped."""

    def __init__(
        self,
        triggers: EventTriggers,
        config: SandboxConfig,
        env: Mapping[str, str] | None = None,
        tracing: TracePropagation | None = None,
    ) -> None:
        self.triggers = triggers
        self.config = config
        self.tracing = tracing or TracePropagation(config.trace_propagators)
        self.env = dict(os.environ if env is None else env)
        self._rng = config.rng("delivery")
        self._pool = asyncio.Semaphore(config.http_pool_size)
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight: dict[str, int] = {}
        self._wanting_slot = 0
        """Deliveries holding or waiting for a pool slot (not those held back by the reorder window)."""
        self._session: aiohttp.ClientSession | None = None
        self.deliveries = 0
        """Attempts made since start (duplicates included)."""

    async def run(self) -> None:
        """Fetch and deliver until cancelled; on the way out, cancel deliveries and unlock their events."""
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self.config.http_pool_size))
        try:
            while True:
                # As Hasura's processor: fetch only as many as there are free delivery slots, and sleep the fetch
                # interval only after an empty fetch (or while every slot is busy).
                free = min(self.config.fetch_batch_size, self.config.http_pool_size - self._wanting_slot)
                events = self.triggers.fetch_due(free) if free > 0 else []
                for event in events:
                    self._start(event)
                    if self.config.faults.duplicate_rate and self._rng.random() < self.config.faults.duplicate_rate:
                        self._start(event)
                if events:
                    await asyncio.sleep(0)
                else:
                    await asyncio.sleep(
                        self.config.fetch_interval if free > 0 else min(0.05, self.config.fetch_interval)
                    )
        finally:
            tasks = list(self._tasks)
            in_flight = list(self._in_flight)  # taken before cancelling: each cancelled delivery forgets its event
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if in_flight:
                self.triggers.unlock(in_flight)
            await self._session.close()

    def _start(self, event: DueEvent) -> None:
        window = self.config.faults.reorder_window_ms
        delay = self._rng.uniform(0, window / 1000) if window else 0.0
        self._in_flight[event.id] = self._in_flight.get(event.id, 0) + 1
        task = asyncio.create_task(self._deliver(event, delay), name=f"deliver {event.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, event: DueEvent, delay: float) -> None:
        try:
            if delay:
                await asyncio.sleep(delay)
            self._wanting_slot += 1
            try:
                async with self._pool:
                    await self._attempt(event)
            finally:
                self._wanting_slot -= 1
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug here must not stop the worker; the event is unlocked below and retried
            log.exception("delivery of event %s failed unexpectedly", event.id)
            self.triggers.unlock([event.id])
        finally:
            left = self._in_flight.get(event.id, 1) - 1
            if left:
                self._in_flight[event.id] = left
            else:
                self._in_flight.pop(event.id, None)

    async def _attempt(self, event: DueEvent) -> None:
        conf = self.triggers.triggers.get(event.trigger_name)
        # Deleted meanwhile: Hasura unlocks and retries later (`server/src-lib/Hasura/Eventing/EventTrigger.hs`).
        if conf is None:
            self.triggers.unlock([event.id])
            return
        retry = conf.retry_conf
        body = webhook_body(
            event.id,
            event.schema_name,
            event.table_name,
            event.trigger_name,
            event.payload,
            current_retry=event.tries,
            max_retries=retry.num_retries,
            # `epCreatedAt :: LocalTime`: the database's local time, no zone, aeson's trimmed fraction.
            created_at=aeson_time(datetime.fromisoformat(event.created_at)),
        )
        headers, logged_headers = request_headers(conf.headers, self.env)
        headers.update(self.tracing.inject(event.payload.get("trace_context")))
        url = resolve_webhook(conf, self.env)
        request: dict[str, Any] = invocation_request(body, logged_headers)
        status: int | None
        retry_after: int | None = None
        assert self._session is not None
        self.deliveries += 1
        processing_timeout = self.config.version_at_least(2, 25)
        try:
            if not url.startswith(("http://", "https://")):
                raise aiohttp.InvalidURL(url)
            post = self._post(url, body, headers, None if processing_timeout else retry.timeout_sec)
            if processing_timeout:
                code, raw, answer_headers = await asyncio.wait_for(
                    post, timeout=min(retry.timeout_sec, UPPER_BOUND_TIMEOUT_SEC)
                )
            else:
                code, raw, answer_headers = await post
            status = code
            if 200 <= code < 300:
                response = webhook_response(serializable_blob(raw), answer_headers, code)
            else:
                response = client_error(serializable_blob(raw))
                retry_after = retry_after_seconds(dict(answer_headers).get("Retry-After"))
        except aiohttp.InvalidURL as exc:
            status = None
            response = client_error(json.dumps({"type": "invalid_url", "message": f"invalid URL: {exc}"}))
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            if processing_timeout and isinstance(exc, TimeoutError):
                # `HOther`: status 500, the request's payload null, the message JSON-encoded (`J.encode detail`).
                status = 500
                request = {**request, "payload": None}
                response = client_error(json.dumps(timeout_message(conf.name)))
            else:
                status = None
                exception = http_exception(_exception_message(exc), exception_request(url, headers, retry.timeout_sec))
                response = client_error(json.dumps(exception, separators=(",", ":")))
        if status is not None and 200 <= status < 300:
            self.triggers.record_invocation(event, status, request, response, "delivered")
        elif event.tries >= retry.num_retries and retry_after is None:
            self.triggers.record_invocation(event, status, request, response, "error")
        else:
            delay = retry_after if retry_after is not None else retry.interval_sec
            self.triggers.record_invocation(event, status, request, response, "retry", retry_in_seconds=delay)

    async def _post(
        self, url: str, body: Mapping[str, Any], headers: Mapping[str, str], timeout_sec: int | None
    ) -> tuple[int, bytes, list[tuple[str, str]]]:
        assert self._session is not None
        timeout = aiohttp.ClientTimeout(total=timeout_sec)
        async with self._session.post(url, data=json.dumps(body), headers=headers, timeout=timeout) as answer:
            raw = await answer.read()
            return answer.status, raw, list(answer.headers.items())


async def stop_task(task: asyncio.Task[Any] | None) -> None:
    """Cancel a background task and wait for it to finish its clean-up."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
