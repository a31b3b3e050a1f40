"""The sandbox's fault knobs (`inspector/sandbox/config.py` `Faults`), each shown to act, and to stay off when off:
fail rate and dead letters, latency and cold starts at the webhook boundary (and a handler slower than timeout_sec,
which still does its work), duplicate deliveries (seeded, and what they do to naive handlers), and reordering within a
window.

Traffic is the traffic generator's own `place_order` against sandboxes from `sandbox_factory` (real sockets, real
SQLite). Where randomness could make a check flaky, the sandbox is seeded and the check is one the seed fixes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections import Counter
from datetime import datetime
from typing import Any

import aiohttp
import pytest

from inspector.core.hasura import event_payload, webhook_body
from inspector.sandbox.config import Faults
from inspector.sandbox.server import Sandbox
from inspector.sandbox.traffic import place_order
from tests.conftest import SandboxFactory
from tests.helpers.sandbox_client import (
    EXAMPLE_TRIGGER_NAMES,
    ORDER_SUMMARY,
    all_events,
    all_invocations,
    graphql_data,
    metadata_ok,
    wait_until,
)

INJECTED = {"error": "injected failure (--fail-rate)"}
FAIL_SEED = 6
"""With this seed and two orders placed one after the other (so every handler call, and so every random draw, comes in
a fixed order), fail_rate 0.5 fails two calls, each retried once: no event comes near its six attempts. Concurrent
orders would interleave the draws by timing, and some interleavings of some seeds do exhaust an event."""


async def place_orders(sandbox: Sandbox, count: int, seed: int = 1) -> list[str]:
    """Place `count` orders at once through the traffic generator; returns their ids."""
    rng = random.Random(seed)
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(count)]
    async with aiohttp.ClientSession() as session:
        results = await asyncio.gather(
            *(
                place_order(session, sandbox.graphql_url, sandbox.admin_secret, random.Random(i), order_id=order_id)
                for i, order_id in enumerate(ids)
            )
        )
    assert all("errors" not in r for r in results), results
    return ids


async def summary(sandbox: Sandbox) -> dict[str, Any]:
    return await graphql_data(sandbox, ORDER_SUMMARY)


async def all_assigned(sandbox: Sandbox, ids: list[str]) -> bool:
    orders = {o["order_id"]: o["driver_assigned"] for o in (await summary(sandbox))["orders"]}
    return all(orders.get(i) for i in ids)


async def settled(sandbox: Sandbox, events_per_trigger: int, invocations_per_event: int = 1) -> bool:
    """Every example trigger has its events, all delivered, with their invocations recorded."""
    for name in EXAMPLE_TRIGGER_NAMES:
        events = await all_events(sandbox, name)
        if len(events) != events_per_trigger or not all(e["delivered"] for e in events):
            return False
        if len(await all_invocations(sandbox, name)) != events_per_trigger * invocations_per_event:
            return False
    return True


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def call_handler(sandbox: Sandbox, name: str, order_id: str) -> tuple[float, int, dict[str, Any]]:
    """POST a Hasura-shaped event to one handler directly; returns (seconds taken, status, answer)."""
    new = {"order_id": order_id, "order_valid": True, "payment_valid": True, "approved": True}
    body = webhook_body(
        str(uuid.uuid4()),
        "public",
        "orders",
        name,
        event_payload("UPDATE", new, new, None, None),
        current_retry=0,
        max_retries=0,
        created_at=datetime.now().isoformat(),
    )
    async with aiohttp.ClientSession() as session:
        started = time.monotonic()
        async with session.post(f"{sandbox.handlers_url}/{name}", json=body) as answer:
            result = await answer.json()
            return time.monotonic() - started, answer.status, result


# --- all off ------------------------------------------------------------------------------------------------------


async def test_with_every_knob_off_each_event_is_delivered_once(sandbox_factory: SandboxFactory) -> None:
    sandbox = await sandbox_factory()
    assert not sandbox.config.faults.any_on
    ids = await place_orders(sandbox, 20)
    await wait_until(lambda: all_assigned(sandbox, ids), timeout=15)
    await wait_until(lambda: settled(sandbox, 20), timeout=5)

    for name in EXAMPLE_TRIGGER_NAMES:
        events = await all_events(sandbox, name)
        invocations = await all_invocations(sandbox, name)
        assert all((e["tries"], e["error"]) == (1, False) for e in events)
        assert Counter(i["event_id"] for i in invocations) == Counter({e["id"]: 1 for e in events})
        assert {i["http_status"] for i in invocations} == {200}
        assert sorted(e["payload"]["data"]["new"]["order_id"] for e in events) == sorted(ids)
    data = await summary(sandbox)
    assert sorted(p["order_id"] for p in data["payments"]) == sorted(ids)
    assert sorted(a["order_id"] for a in data["assignment"]) == sorted(ids)
    assert sandbox.handlers is not None
    assert sum(sandbox.handlers.calls.values()) == 80


# --- failures -----------------------------------------------------------------------------------------------------


async def test_fail_rate_half_is_recovered_by_retries(sandbox_factory: SandboxFactory) -> None:
    sandbox = await sandbox_factory(faults=Faults(fail_rate=0.5), num_retries=5, retry_interval_sec=1, seed=FAIL_SEED)
    ids: list[str] = []
    for n in range(2):  # one after the other, so the handlers draw their failures in a fixed order (see FAIL_SEED)
        [order_id] = await place_orders(sandbox, 1, seed=n)
        ids.append(order_id)
        await wait_until(
            lambda order=[order_id]: all_assigned(sandbox, order),
            timeout=15,
            message="order completes despite failures",
        )

    async def all_delivered() -> bool:
        for name in EXAMPLE_TRIGGER_NAMES:
            if not all(e["delivered"] for e in await all_events(sandbox, name)):
                return False
        return True

    await wait_until(all_delivered, timeout=5)
    failed = []
    for name in EXAMPLE_TRIGGER_NAMES:
        events = await all_events(sandbox, name)
        assert len(events) == 2
        assert not any(e["error"] for e in events)
        invocations = await all_invocations(sandbox, name)
        assert len(invocations) == sum(e["tries"] for e in events)
        for i in invocations:
            if i["http_status"] == 500:
                failed.append(i)
                assert i["response"]["type"] == "client_error"
                assert json.loads(i["response"]["data"]["message"]) == INJECTED
            else:
                assert i["http_status"] == 200
    assert failed, "fail_rate 0.5 injected no failure"
    retried = [e for n in EXAMPLE_TRIGGER_NAMES for e in await all_events(sandbox, n) if e["tries"] > 1]
    assert retried and all(e["delivered"] for e in retried)
    data = await summary(sandbox)
    assert sorted(p["order_id"] for p in data["payments"]) == sorted(ids)
    assert sorted(a["order_id"] for a in data["assignment"]) == sorted(ids)


async def test_fail_rate_one_without_retries_leaves_dead_letters(sandbox_factory: SandboxFactory) -> None:
    sandbox = await sandbox_factory(faults=Faults(fail_rate=1.0), num_retries=0)
    ids = await place_orders(sandbox, 3)

    async def dead() -> list[dict[str, Any]] | None:
        events = await all_events(sandbox, "validate-order")
        return events if len(events) == 3 and all(e["error"] for e in events) else None

    events = await wait_until(dead, timeout=5)
    assert all((e["delivered"], e["tries"], e["next_retry_at"]) == (False, 1, None) for e in events)
    invocations = await all_invocations(sandbox, "validate-order")
    assert len(invocations) == 3
    assert all(
        i["http_status"] == 500 and json.loads(i["response"]["data"]["message"]) == INJECTED for i in invocations
    )
    for name in EXAMPLE_TRIGGER_NAMES[1:]:
        assert await all_events(sandbox, name) == []
    orders = (await summary(sandbox))["orders"]
    assert sorted(o["order_id"] for o in orders) == sorted(ids)
    assert not any(o["driver_assigned"] for o in orders)


# --- latency and cold starts ---------------------------------------------------------------------------------------


async def test_latency_delays_every_handler_call(sandbox_factory: SandboxFactory) -> None:
    sandbox = await sandbox_factory(faults=Faults(latency_ms=200))
    [order_id] = await place_orders(sandbox, 1)
    await wait_until(lambda: all_assigned(sandbox, [order_id]), timeout=10)
    await wait_until(lambda: settled(sandbox, 1), timeout=5)
    for name in EXAMPLE_TRIGGER_NAMES:
        [event] = await all_events(sandbox, name)
        [invocation] = await all_invocations(sandbox, name)
        waited = (_time(invocation["created_at"]) - _time(event["created_at"])).total_seconds()
        assert waited >= 0.2, (name, waited)

    for name in ("validate-order", "restaurant-approval"):
        seconds, status, _ = await call_handler(sandbox, name, order_id)
        assert status == 200
        assert seconds >= 0.2, (name, seconds)


async def test_a_handler_slower_than_timeout_sec_still_does_its_work(
    sandbox_factory: SandboxFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Hasura gives up after timeout_sec and records status 500 with its timeout message (v2.25+); the function that
    has the request carries on and writes anyway (so the retry, or here the dead letter, follows work that was
    done)."""
    sandbox = await sandbox_factory(faults=Faults(latency_ms=1500), timeout_sec=1, num_retries=0)
    for name in EXAMPLE_TRIGGER_NAMES[1:]:
        await metadata_ok(sandbox, "pg_delete_event_trigger", {"name": name})
    [order_id] = await place_orders(sandbox, 1)

    async def timed_out() -> dict[str, Any] | None:
        events = await all_events(sandbox, "validate-order")
        return events[0] if events and events[0]["error"] else None

    event = await wait_until(timed_out, timeout=5)
    [invocation] = await all_invocations(sandbox, "validate-order")
    assert (event["tries"], invocation["http_status"]) == (1, 500)
    message = json.loads(invocation["response"]["data"]["message"])
    assert message == 'Event Trigger "validate-order" timed out while processing.'

    async def valid() -> bool:
        orders = {
            o["order_id"]: o for o in (await graphql_data(sandbox, "{ orders { order_id order_valid } }"))["orders"]
        }
        return bool(orders[order_id]["order_valid"])

    await wait_until(valid, timeout=5, message="the handler's late write")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def test_cold_start_after_idle(sandbox_factory: SandboxFactory) -> None:
    sandbox = await sandbox_factory(faults=Faults(cold_start_ms=300, cold_start_idle_s=0.5))
    order_id = str(uuid.uuid4())  # no such order: the handler's update finds nothing, which is fine here
    first, status, answer = await call_handler(sandbox, "restaurant-approval", order_id)
    assert (status, answer["updated"]) == (200, False)
    warm, _, _ = await call_handler(sandbox, "restaurant-approval", order_id)
    other, _, _ = await call_handler(sandbox, "validate-order", order_id)  # each handler has its own cold start
    await asyncio.sleep(0.7)
    again, _, _ = await call_handler(sandbox, "restaurant-approval", order_id)
    assert first >= 0.3, first
    assert warm < 0.25, warm
    assert other >= 0.3, other
    assert again >= 0.3, again


# --- duplicates -----------------------------------------------------------------------------------------------------


async def test_duplicate_rate_one_delivers_every_event_twice_and_idempotent_handlers_cope(
    sandbox_factory: SandboxFactory,
) -> None:
    sandbox = await sandbox_factory(faults=Faults(duplicate_rate=1.0))
    ids = await place_orders(sandbox, 5)
    await wait_until(lambda: all_assigned(sandbox, ids), timeout=10)
    await wait_until(lambda: settled(sandbox, 5, invocations_per_event=2), timeout=5)

    for name in EXAMPLE_TRIGGER_NAMES:
        events = await all_events(sandbox, name)
        invocations = await all_invocations(sandbox, name)
        assert Counter(i["event_id"] for i in invocations) == Counter({e["id"]: 2 for e in events})
        assert all(i["http_status"] == 200 for i in invocations)
        assert all(i["request"]["payload"]["id"] == i["event_id"] for i in invocations)
        assert all(i["request"]["payload"]["delivery_info"]["current_retry"] == 0 for i in invocations)
        assert all((e["delivered"], e["tries"]) == (True, 2) for e in events)
    data = await summary(sandbox)
    assert sorted(p["order_id"] for p in data["payments"]) == sorted(ids)
    assert sorted(a["order_id"] for a in data["assignment"]) == sorted(ids)


async def _duplicated(sandbox_factory: SandboxFactory, seed: int, orders: int) -> int:
    sandbox = await sandbox_factory(faults=Faults(duplicate_rate=0.5), seed=seed)
    ids = await place_orders(sandbox, orders)
    await wait_until(lambda: all_assigned(sandbox, ids), timeout=10)

    async def counted() -> int | None:
        twice = 0
        for name in EXAMPLE_TRIGGER_NAMES:
            events = await all_events(sandbox, name)
            if len(events) != orders or not all(e["delivered"] for e in events):
                return None
            per_event = Counter(i["event_id"] for i in await all_invocations(sandbox, name))
            if sum(per_event.values()) != sum(e["tries"] for e in events):
                return None  # a duplicate still in flight
            twice += sum(1 for n in per_event.values() if n == 2)
        return twice + 1  # truthy even when nothing was duplicated

    count: int = await wait_until(counted, timeout=5) - 1
    await sandbox.stop()
    return count


async def test_duplicate_rate_is_reproducible_under_a_seed(sandbox_factory: SandboxFactory) -> None:
    first = await _duplicated(sandbox_factory, seed=11, orders=8)
    second = await _duplicated(sandbox_factory, seed=11, orders=8)
    assert first == second
    assert 0 < first < 32  # the knob acts on some events, not all


async def test_naive_handlers_pay_twice_under_duplicates(sandbox_factory: SandboxFactory) -> None:
    sandbox = await sandbox_factory(faults=Faults(duplicate_rate=1.0), naive_handlers=True)
    ids = await place_orders(sandbox, 3)
    await wait_until(lambda: all_assigned(sandbox, ids), timeout=10)
    await wait_until(lambda: settled(sandbox, 3, invocations_per_event=2), timeout=5)
    data = await summary(sandbox)
    assert Counter(p["order_id"] for p in data["payments"]) == Counter({i: 2 for i in ids})
    assert Counter(a["order_id"] for a in data["assignment"]) == Counter({i: 2 for i in ids})


# --- reordering -----------------------------------------------------------------------------------------------------


async def _first_invocation_order(sandbox: Sandbox, ids: list[str]) -> tuple[list[str], list[str]]:
    """(validate-order event ids in creation order, the same ids in the order of their first invocation)."""
    await wait_until(lambda: all_assigned(sandbox, ids), timeout=15)
    await wait_until(lambda: settled(sandbox, len(ids)), timeout=5)
    created = [e["id"] for e in reversed(await all_events(sandbox, "validate-order"))]
    invoked: list[str] = []
    for i in reversed(await all_invocations(sandbox, "validate-order")):
        if i["event_id"] not in invoked:
            invoked.append(i["event_id"])
    assert sorted(created) == sorted(invoked)
    return created, invoked


async def test_reorder_window_delivers_out_of_creation_order(sandbox_factory: SandboxFactory) -> None:
    sandbox = await sandbox_factory(faults=Faults(reorder_window_ms=500), seed=3, http_pool_size=1)
    created, invoked = await _first_invocation_order(sandbox, await place_orders(sandbox, 30))
    assert invoked != created


async def test_without_a_window_one_connection_delivers_in_creation_order(sandbox_factory: SandboxFactory) -> None:
    """The control for the test above: same traffic, window 0."""
    sandbox = await sandbox_factory(seed=3, http_pool_size=1)
    created, invoked = await _first_invocation_order(sandbox, await place_orders(sandbox, 30))
    assert invoked == created
