"""Breakpoints: display filters that hold a matching delivery in the relay until a user decides what happens to it.

Owns the list of breakpoint filters, the held deliveries (each waits on its own asyncio future, so a held delivery
never blocks another), the decisions (Continue, Edit and continue, Respond, Delay, Drop; Continue all), what the
trigger's retry policy does next if the delivery fails (`next_if_failed`), and the rule that a held delivery is never
dropped silently: when the user goes away (`detach`, e.g. the window closes) every held delivery is released with its
original behaviour (Continue), and nothing is held while nobody is attached. Used by the relay server (`hold`) and by
a user interface or a test (`attach`, `decide`, `continue_all`): the window's Breakpoints panel
(`inspector.qt.relay.breakpoints_panel`).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from inspector.core.filter import CheckedFilter, evaluate
from inspector.core.hasura import RetryConf
from inspector.services.relay.rules import delivery_view, parse_filter

DecisionKind = Literal["continue", "edit", "respond", "delay", "drop"]


@dataclass(frozen=True)
class Decision:
    """What the user chose for a held delivery."""

    kind: DecisionKind
    body: Any = None
    """`edit`: the body to forward instead."""
    status: int = 503
    """`respond`: the status to answer the engine with."""
    retry_after: int | None = None
    response_body: Any = None
    seconds: float = 0.0
    """`delay`: how long to wait before forwarding."""


CONTINUE = Decision("continue")


@dataclass
class Breakpoint:
    """A display filter that holds the deliveries it matches (while enabled)."""

    text: str
    filter: CheckedFilter | None
    enabled: bool = True
    once: bool = False
    """Removed when it first holds a delivery (stepping to the next event of a flow)."""


@dataclass
class HeldDelivery:
    """A delivery waiting for a decision."""

    id: int
    trigger: str
    body: Any
    """The body as received (parsed JSON; None when it is not JSON)."""
    headers: Mapping[str, str]
    """Redacted, for showing."""
    breakpoint: str
    held_at: float
    retry: RetryConf | None
    """The trigger's retry policy, when the relay knows it (from the metadata when rewired)."""
    future: asyncio.Future[Decision] = field(repr=False)

    @property
    def event_id(self) -> str | None:
        return self.body.get("id") if isinstance(self.body, Mapping) else None

    @property
    def attempt(self) -> int | None:
        view = delivery_view(self.trigger, self.body)
        attempt = view.get("attempt")
        return attempt if isinstance(attempt, int) else None

    def seconds_left(self, now: float | None = None) -> float | None:
        """Seconds until the engine gives up on this delivery (its `timeout_sec`), when known."""
        if self.retry is None:
            return None
        now = time.monotonic() if now is None else now
        return self.retry.timeout_sec - (now - self.held_at)

    def next_if_failed(self) -> str:
        """What the engine does next if this delivery fails, in words."""
        return next_if_failed(self.body, self.retry)


def next_if_failed(body: Any, retry: RetryConf | None) -> str:
    """What Hasura does after a failed attempt (`server/src-lib/Hasura/Eventing/EventTrigger.hs`, `processError`):
    retry after `interval_sec` (or the answer's `Retry-After`) while `current_retry < max_retries`, else mark the
    event failed (`error`)."""
    info = body.get("delivery_info") if isinstance(body, Mapping) else None
    current = info.get("current_retry") if isinstance(info, Mapping) else None
    most = info.get("max_retries") if isinstance(info, Mapping) else None
    if not isinstance(current, int) or not isinstance(most, int):
        return "unknown (the body has no delivery_info)"
    if current < most:
        interval = f"{retry.interval_sec} s" if retry is not None else "the trigger's interval_sec"
        return f"retried after {interval} (or a Retry-After answer): attempt {current + 2} of {most + 1}"
    return f"no retries left (attempt {current + 1} of {most + 1}): the event is marked failed (error)"


Listener = Callable[[HeldDelivery], None]


class Breakpoints:
    """The breakpoint filters and the deliveries they hold (one instance per relay)."""

    def __init__(self) -> None:
        self.breakpoints: list[Breakpoint] = []
        self.held: dict[int, HeldDelivery] = {}
        self._ids = itertools.count(1)
        self._attached = 0
        self.on_held: list[Listener] = []
        self.on_released: list[Listener] = []

    # --- the user ------------------------------------------------------------------------------------------------

    def attach(self) -> None:
        """A user is there to decide: matching deliveries are held from now on."""
        self._attached += 1

    def detach(self) -> None:
        """The user went away: release every held delivery with its original behaviour."""
        self._attached = max(0, self._attached - 1)
        if not self._attached:
            self.continue_all()

    @property
    def attached(self) -> bool:
        return self._attached > 0

    def add(self, text: str) -> Breakpoint:
        """A breakpoint on a display filter (`RuleError` when the filter is wrong)."""
        point = Breakpoint(text, parse_filter(text))
        self.breakpoints.append(point)
        return point

    def remove(self, point: Breakpoint) -> None:
        self.breakpoints = [p for p in self.breakpoints if p is not point]

    def decide(self, held_id: int, decision: Decision) -> bool:
        """Release a held delivery with this decision; False when it is no longer held."""
        held = self.held.pop(held_id, None)
        if held is None or held.future.done():
            return False
        held.future.set_result(decision)
        for listener in list(self.on_released):
            listener(held)
        return True

    def continue_all(self) -> int:
        """Release every held delivery with Continue; how many were released."""
        return sum(self.decide(held_id, CONTINUE) for held_id in list(self.held))

    # --- the relay -----------------------------------------------------------------------------------------------

    def match(self, trigger: str, body: Any) -> Breakpoint | None:
        """The first enabled breakpoint matching the delivery, while a user is attached."""
        if not self._attached:
            return None
        view = delivery_view(trigger, body)
        for point in self.breakpoints:
            if point.enabled and (point.filter is None or evaluate(point.filter, view)):
                if point.once:
                    self.remove(point)
                return point
        return None

    async def hold(
        self,
        trigger: str,
        body: Any,
        headers: Mapping[str, str],
        point: Breakpoint,
        retry: RetryConf | None = None,
    ) -> Decision:
        """Wait for the user's decision on this delivery (Continue when the wait is cancelled by a detach)."""
        loop = asyncio.get_running_loop()
        held = HeldDelivery(
            next(self._ids), trigger, body, dict(headers), point.text, time.monotonic(), retry, loop.create_future()
        )
        self.held[held.id] = held
        for listener in list(self.on_held):
            listener(held)
        try:
            return await held.future
        finally:
            if self.held.pop(held.id, None) is not None:  # cancelled (the engine hung up): tell the user it is gone
                for listener in list(self.on_released):
                    listener(held)
