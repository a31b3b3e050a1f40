"""The delivery worker: Hasura's event processor for the sandbox (`server/src-lib/Hasura/Eventing/HTTP.hs`,
`server/src-lib/Hasura/Eventing/EventTrigger.hs`, `server/src-lib/Hasura/Backends/Postgres/DDL/EventTrigger.hs`).

Owns the loop that fetches due events (locking them), POSTs each to its trigger's webhook with Hasura's body and
headers, records the attempt as an invocation and moves the event on: delivered, retry at `next_retry_at` (after
`interval_sec`, or `Retry-After` seconds on a non-2xx answer, even when retries are exhausted), or error when tries are
spent. Two fault knobs act here: `duplicate_rate` (a fetched event is delivered twice at once, as when a lock expires
during a delivery) and `reorder_window_ms` (each due event is held a random time within the window first).
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
from typing import Any

import aiohttp

from inspector.core.hasura import (
    EventTriggerConf,
    client_error,
    invocation_request,
    request_headers,
    webhook_body,
    webhook_response,
)
from inspector.sandbox.config import SandboxConfig
from inspector.sandbox.eventing import DueEvent, EventTriggers

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


class DeliveryWorker:
    """Delivers due events to their webhooks until stopped."""

    def __init__(self, triggers: EventTriggers, config: SandboxConfig, env: Mapping[str, str] | None = None) -> None:
        self.triggers = triggers
        self.config = config
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
            created_at=event.created_at,
        )
        headers, logged_headers = request_headers(conf.headers, self.env)
        trace = event.payload.get("trace_context")
        if isinstance(trace, dict) and trace.get("trace_id") and trace.get("span_id"):
            headers["traceparent"] = f"00-{trace['trace_id']}-{trace['span_id']}-01"
        url = resolve_webhook(conf, self.env)
        request = invocation_request(body, logged_headers)
        status: int | None
        retry_after: int | None = None
        assert self._session is not None
        self.deliveries += 1
        try:
            async with self._session.post(
                url, data=json.dumps(body), headers=headers, timeout=aiohttp.ClientTimeout(total=retry.timeout_sec)
            ) as answer:
                raw = await answer.read()
                status = answer.status
                if 200 <= status < 300:
                    response = webhook_response(serializable_blob(raw), list(answer.headers.items()), status)
                else:
                    response = client_error(serializable_blob(raw))
                    retry_after = retry_after_seconds(answer.headers.get("Retry-After"))
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            status = None
            message = "response timeout" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
            response = client_error(
                json.dumps(
                    {
                        "type": "http_exception",
                        "message": message,
                        "request": {"url": url, "method": "POST"},
                        "status": None,
                    }
                )
            )
        if status is not None and 200 <= status < 300:
            self.triggers.record_invocation(event, status, request, response, "delivered")
        elif event.tries >= retry.num_retries and retry_after is None:
            self.triggers.record_invocation(event, status, request, response, "error")
        else:
            delay = retry_after if retry_after is not None else retry.interval_sec
            self.triggers.record_invocation(event, status, request, response, "retry", retry_in_seconds=delay)


async def stop_task(task: asyncio.Task[Any] | None) -> None:
    """Cancel a background task and wait for it to finish its clean-up."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
