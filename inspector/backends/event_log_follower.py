"""Follows the event log of a set of event triggers, reporting every event, state change and invocation once.

Hasura offers no change feed for its event log: `pg_get_event_logs` and `pg_get_event_invocation_logs` page newest
first by offset (Hasura's docs `docs/docs/api-reference/metadata-api/event-triggers.mdx`). The follower polls them:

1. invocations, newest first, page after page until a page holds one already recorded (new rows only push older
   ones further down, so paging by offset may repeat rows but never skips one);
2. events, newest first, until a page brings nothing new or changed;
3. events that changed out of reach of step 2 (an invocation of theirs appeared, or they were still open when last
   seen and have not been seen since) are read one by one with `pg_get_event_by_id`.

What is new is decided by the `EventSink` (the capture writer), which drops repeats, so a poll after a reconnect or
a restart of either side simply carries on from where the file is: nothing lost, nothing recorded twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Protocol

from inspector.backends.hasura_metadata import HasuraMetadataClient, TriggerRef
from inspector.core.events import FINAL_STATUSES, EventRecord, InvocationRecord

log = logging.getLogger(__name__)


class EventSink(Protocol):
    """Where followed items go (the capture writer)."""

    def observe_event(self, record: EventRecord) -> str: ...

    def observe_invocation(self, record: InvocationRecord) -> bool: ...

    def known_invocations(self, ids: Iterable[str]) -> set[str]: ...


class EventLogFollower:
    """Polls one server's event log for the given triggers."""

    def __init__(
        self,
        client: HasuraMetadataClient,
        sink: EventSink,
        triggers: list[TriggerRef],
        since_now: bool = False,
        page_size: int = 100,
        max_pages: int = 50,
    ) -> None:
        self.client = client
        self.sink = sink
        self.triggers = triggers
        self.page_size = page_size
        self.max_pages = max_pages
        """Pages read per trigger and poll at most (a large backlog is caught up over several polls)."""
        self._since_now = since_now
        self._baseline_events: set[str] = set()
        self._baseline_invocations: set[str] = set()
        self._open: dict[str, str] = {}
        """Events seen in a non-final state: id → source. Checked until they are final."""
        self._first_poll = True
        self.max_refresh = 200
        """Events read one by one per trigger and poll at most (those with new invocations first)."""

    async def poll(self) -> int:
        """One pass over every trigger; returns how many items were new."""
        if self._first_poll and self._since_now:
            await self._take_baseline()
        self._first_poll = False
        found = 0
        for trigger in self.triggers:
            found += await self._poll_trigger(trigger)
        return found

    async def _take_baseline(self) -> None:
        """With `since now`: remember what is already there (one page per trigger), so it is not recorded."""
        for trigger in self.triggers:
            for event in await self.client.event_logs(trigger, self.page_size, 0):
                self._baseline_events.add(event.id)
            for invocation in await self.client.invocation_logs(trigger, self.page_size, 0):
                self._baseline_invocations.add(invocation.id)

    async def _poll_trigger(self, trigger: TriggerRef) -> int:
        found = 0
        touched: set[str] = set()
        fresh: list[InvocationRecord] = []
        for page_number in range(self.max_pages):
            invocations = await self.client.invocation_logs(trigger, self.page_size, page_number * self.page_size)
            invocations = [i for i in invocations if i.id not in self._baseline_invocations]
            known = self.sink.known_invocations(i.id for i in invocations)
            fresh.extend(i for i in invocations if i.id not in known)
            if known or len(invocations) < self.page_size:
                break
        seen_events: set[str] = set()
        for page_number in range(self.max_pages):
            page = await self.client.event_logs(trigger, self.page_size, page_number * self.page_size)
            news = 0
            for event in page:
                if event.id in self._baseline_events:
                    continue
                seen_events.add(event.id)
                outcome = self.sink.observe_event(event)
                if outcome != "same":
                    news += 1
                self._track(event, trigger.source)
            found += news
            if news == 0 or len(page) < self.page_size:
                break
        # invocations after events, oldest first, so attempts are numbered in time order
        for invocation in sorted(fresh, key=lambda i: (i.created_at, i.id)):
            if self.sink.observe_invocation(invocation):
                found += 1
                touched.add(invocation.event_id)
        still_open = [e for e, s in self._open.items() if s == trigger.source and e not in touched]
        stale = [e for e in [*sorted(touched), *still_open] if e not in seen_events][: self.max_refresh]
        for event_id in stale:
            if event_id in self._baseline_events:
                continue
            refreshed, its_invocations = await self.client.event_by_id(event_id, trigger.source)
            if refreshed is None:
                self._open.pop(event_id, None)
                continue
            if refreshed.trigger_name != trigger.name:
                continue
            if self.sink.observe_event(refreshed) != "same":
                found += 1
            self._track(refreshed, trigger.source)
            for invocation in sorted(its_invocations, key=lambda i: (i.created_at, i.id)):
                if self.sink.observe_invocation(invocation):
                    found += 1
        return found

    def _track(self, event: EventRecord, source: str) -> None:
        if event.status in FINAL_STATUSES:
            self._open.pop(event.id, None)
        else:
            self._open[event.id] = source

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        """Poll every `interval` seconds until `stop` is set (errors propagate to the caller, which reconnects)."""
        while not stop.is_set():
            await self.poll()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
