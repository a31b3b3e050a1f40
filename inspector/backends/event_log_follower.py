"""Follows the event log of a set of event triggers, reporting every event, state change and invocation once.

Hasura offers no change feed for its event log: `pg_get_event_logs` and `pg_get_event_invocation_logs` (or their
`mssql_*` twins) page newest first by offset, `ORDER BY created_at DESC LIMIT $2 OFFSET $3` with no tie-breaker
(`fetchEventLogsTxE`, `fetchEventInvocationLogsTxE` in `server/src-lib/Hasura/Backends/Postgres/DDL/EventTrigger.hs`),
and every event one transaction writes shares `created_at` (`NOW()`, the transaction's start). Rows that tie may come
back in another order on every call, so plain offset paging can show a row twice and miss another. The follower
never trusts a position across calls, only what a single answer shows:

- **Tie-safe scans** (`_scan`): a page that ends inside a run of equal `created_at` ("the boundary group") is not
  followed at the next offset: the next page starts one row *before* the group (a row strictly newer than it, the
  sentinel), so the whole group comes back within one answer. A page that does not start with a row newer than the
  group (rows above were deleted, e.g. by event cleanup) steps back; a group larger than the page is read again with
  a doubled limit. A group counts as read once one answer holds it followed by an older row (or the log's end). New
  rows only push older ones down, which this absorbs: they are re-read and de-duplicated by id.
- **How deep each poll reads**: the first poll reads the whole log (the backlog, in full and at any size; with
  `since_now` only what is there is noted and skipped). Later polls read down to the newest `created_at` seen by the
  previous poll, minus a late-commit margin (a transaction that started earlier but committed later stamps its rows
  with its start): `late_commit_margin` seconds on the server's clock, but no more than `late_commit_rows` rows in a
  row that were all seen before, so that at high rates each row is read about once rather than the margin's whole
  5 s again at every poll. Polls read further down to the oldest event still open (pending, retrying, in flight),
  so every state change is seen within one poll; open events deeper than `max_deep_pages` are read one by one with
  `pg_get_event_by_id`. Answers start at what the previous poll found new plus the margin's rows and double up to
  `max_page_size` (Hasura sets no upper bound on `limit`: `MAX_PAGE_SIZE`); past the news they ask for about the
  rows still wanted (the rest of the margin, or as many as the answer's times put before the oldest open event),
  plus those that new rows pushed down since.
- Invocations are read the same way (down to the previous poll's newest, minus the margin), and once more after the
  events, down to the newest seen, when an event shows an attempt whose invocation was not read (it was logged in
  between); an invocation whose event this poll did not read has its event read by id, with no cap.
- **Vanished things**: an event that `pg_get_event_by_id` answers 400 `not-exists` for (Hasura's event cleanup
  deletes processed events and, by default, keeps their invocations: `deleteEventTriggerLogsTx`) is reported to the
  sink as cleaned up by the server; a trigger whose reads answer `not-exists` was deleted: it is reported as removed
  and no longer followed. The capture goes on either way.

What is new is decided by the `EventSink` (the capture writer), which drops repeats, so a poll after a reconnect or
a restart of either side simply carries on from where the file is: nothing lost, nothing recorded twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Protocol, TypeVar

from inspector.backends.errors import ServerError
from inspector.backends.hasura_metadata import HasuraMetadataClient, TriggerRef
from inspector.core.events import FINAL_STATUSES, EventRecord, InvocationRecord, timestamp_seconds

log = logging.getLogger(__name__)

NOT_EXISTS = "not-exists"
"""Hasura's error code for a missing event, trigger or source (`throw400 NotExists`)."""

MAX_PAGE_SIZE = 5000
"""Rows one answer asks for at most (a group of equal times larger than that is still read whole). Hasura sets no
upper bound: `limit` is a plain `Int` defaulting to 100 (`GetEventLogs`' and `GetEventInvocations`' `FromJSON` in
`server/src-lib/Hasura/RQL/Types/EventTrigger.hs`), passed to `LIMIT $2` (`fetchEventLogsTxE` in
`server/src-lib/Hasura/Backends/Postgres/DDL/EventTrigger.hs`). 5,000 rows of about 1 kB fit the metadata answer's
size limit (`backends.http.METADATA_ANSWER`) many times over, and one answer then carries a second of a trigger at
5,000 events/s instead of one round trip per 100 rows."""

SMALL_PAGE = 100
"""The least an answer asks for after the first (Hasura's default `limit`)."""

LATE_COMMIT_ROWS = 1000
"""See `EventLogFollower.late_commit_rows`."""


class EventSink(Protocol):
    """Where followed items go (the capture writer)."""

    def observe_event(self, record: EventRecord) -> str:
        """Record an event as seen now: `new`, `changed` (its state) or `same`."""

    def observe_events(self, records: Sequence[EventRecord]) -> list[str]:
        """`observe_event` for each of one answer's events, in order (the sink may look them up together)."""

    def observe_invocation(self, record: InvocationRecord) -> bool: ...

    def known_invocations(self, ids: Iterable[str]) -> set[str]: ...

    def event_cleaned_up(self, event_id: str, at: float) -> None:
        """The server no longer has this event (its invocations may remain)."""

    def trigger_removed(self, name: str, at: float) -> None:
        """The server no longer has this event trigger."""


Row = TypeVar("Row", EventRecord, InvocationRecord)


@functools.lru_cache(maxsize=4096)
def instant(text: str) -> float:
    """A row's `created_at` as epoch seconds, for ordering and ties (the metadata API trims the fraction's trailing
    zeros, so the text alone does not sort); an unreadable time sorts as the newest, so it is never stopped at.
    Remembered: the rows of one transaction share their time, and a scan asks about each row more than once."""
    seconds = timestamp_seconds(text)
    return math.inf if seconds is None else seconds


async def _scan(
    fetch: Callable[[int, int], Awaitable[list[Row]]],
    page_size: int,
    stop_before: float | None,
    on_page: Callable[[list[Row]], int],
    deep_floor: float | None = None,
    max_deep_rows: int = 0,
    max_page_size: int | None = None,
    quiet_below: float | None = None,
    quiet_rows: int = 0,
    quiet_floor: float | None = None,
) -> float | None:
    """Read a newest-first log from the top down to rows older than `stop_before` (None: to the end), handing each
    answer's rows not yet handed over to `on_page`, which returns where the news (rows never seen before) end among
    them: the position after the last such row, 0 for none. Returns the newest `created_at` seen (None
    for an empty log).

    The first answer asks for `page_size` rows; each later one for twice as many, up to `max_page_size` (a group of
    equal times larger than an answer is read again with a doubled limit, whatever the cap). With `deep_floor`, at
    most `max_deep_rows` rows are read below it (the caller reads what lies deeper another way). With `quiet_below`
    the scan also ends once `quiet_rows` rows older than `quiet_below` in a row, in the log's order, were no news
    (the re-read of the late-commit margin, bounded by rows: see `EventLogFollower.late_commit_rows`), and the
    answer reached below `quiet_floor` (the oldest open event's time: its state is read where it lies).

    See the module docstring for why positions are never trusted across calls."""
    seen: set[str] = set()
    newest: float | None = None
    cap = page_size if max_page_size is None else max(page_size, max_page_size)
    grow = page_size
    offset, limit = 0, page_size
    group: float | None = None
    """The `created_at` of the run the previous answer ended in: the next answer must start above it."""
    deep_rows = 0
    quiet = 0
    while True:
        rows = await fetch(limit, offset)
        times = [instant(r.created_at) for r in rows]
        if deep_floor is not None and times and times[0] < deep_floor:
            if deep_rows >= max_deep_rows:
                return newest
            deep_rows += len(rows)
        if group is not None and offset > 0 and (not times or times[0] <= group):
            # The sentinel row above the group is gone (rows above were deleted): step back and read again.
            offset = max(0, offset - limit)
            continue
        fresh = [r for r in rows if r.id not in seen]
        seen.update(r.id for r in fresh)
        news_end = on_page(fresh) if fresh else 0
        if times and (newest is None or times[0] > newest):
            newest = times[0]
        if len(rows) < limit:
            return newest  # the end of the log, read within one answer
        last = times[-1]
        if stop_before is not None and last < stop_before:
            return newest  # every row at or above `stop_before` came in an answer holding an older row after it
        if quiet_below is not None:
            if news_end:
                quiet = 0
            quiet += sum(1 for r in fresh[news_end:] if instant(r.created_at) < quiet_below)
            if quiet >= quiet_rows and (quiet_floor is None or last < quiet_floor):
                return newest  # a whole stretch below the previous poll's newest row, all already seen
        start = times.index(last)  # where the boundary group begins in this answer
        grow = min(cap, grow * 2)
        to_floor = 0
        if quiet >= quiet_rows and quiet_floor is not None:
            # the margin is read but the oldest open event lies deeper: about as many rows as this answer's density
            # puts between its end and that event's time, not a whole answer
            span = times[0] - last
            to_floor = SMALL_PAGE + math.ceil((last - quiet_floor) * len(rows) / span * 1.25) if span > 0 else grow
        if start == 0 or last == group:
            limit *= 2  # the group fills the answer (or did not fit last time): read it again, bigger
        elif 0 < quiet < quiet_rows or to_floor:
            # in the margin, past the news: about the rows still to see, plus what the next answer reads again (the
            # boundary group, and as many rows as new ones pushed down into this answer's start)
            wanted = max(SMALL_PAGE, quiet_rows - quiet, to_floor)
            limit = min(grow, wanted + (len(rows) - start + 1) + (len(rows) - len(fresh)))
        else:
            limit = grow
        offset = max(0, offset + start - 1) if start > 0 else offset
        group = last


class EventLogFollower:
    """Polls one server's event log for the given triggers."""

    def __init__(
        self,
        client: HasuraMetadataClient,
        sink: EventSink,
        triggers: list[TriggerRef],
        since_now: bool = False,
        page_size: int = 100,
        late_commit_margin: float = 5.0,
        max_deep_pages: int = 50,
        max_refresh: int = 500,
        max_page_size: int = MAX_PAGE_SIZE,
        late_commit_rows: int = LATE_COMMIT_ROWS,
    ) -> None:
        self.client = client
        self.sink = sink
        self.triggers = list(triggers)
        self.page_size = page_size
        """Rows the first answer of a scan asks for (at least; see `_first_limit`); later answers of the same scan
        ask for twice as many as the one before, up to `max_page_size`."""
        self.max_page_size = max(page_size, max_page_size)
        self.late_commit_margin = late_commit_margin
        """Seconds (on the server's clock: the rows' `created_at`) below the previous poll's newest row that each poll
        reads again: rows of a transaction that started before that newest row but committed after the previous poll
        carry the older time."""
        self.late_commit_rows = late_commit_rows
        """...but no more than this many rows of it once they come in answers holding nothing new: at 10,000 events/s
        five seconds are 50,000 rows, read again at every poll. The margin is then min(`late_commit_margin`, the
        time these rows span): all of it up to `late_commit_rows / margin` events/s per trigger (200 by default),
        about 0.4 s at 2,500 events/s per trigger. A row found new or changed in the margin restarts the count."""
        self.max_deep_pages = max_deep_pages
        """Pages of `page_size` rows a poll reads beyond its usual depth to reach the oldest open event; deeper ones
        are read by id."""
        self.max_refresh = max_refresh
        """Open events beyond the deep read that are read one by one per trigger and poll (oldest first; the rest
        stay open and come at the next polls, so nothing is dropped)."""
        self.removed: dict[str, float] = {}
        """Triggers the server no longer has: name → when that was noticed."""
        self._since_now = since_now
        self._skip_events: set[str] = set()
        self._skip_invocations: set[str] = set()
        self._newest_event: dict[str, float] = {}
        self._newest_invocation: dict[str, float] = {}
        self._open: dict[str, dict[str, float]] = {}
        """Per trigger name: events last seen in a non-final state, id → created_at. Read until they are final."""
        self._last_news: dict[tuple[str, str], int] = {}
        """Per (trigger name, log): the rows the previous poll found new there, to size its first answer."""
        self._first_poll = True

    async def poll(self) -> int:
        """One pass over every trigger; returns how many items were new."""
        baseline = self._first_poll and self._since_now
        self._first_poll = False
        found = 0
        for trigger in list(self.triggers):
            try:
                if baseline:
                    await self._take_baseline(trigger)
                else:
                    found += await self._poll_trigger(trigger)
            except ServerError as error:
                if error.code != NOT_EXISTS:
                    raise
                self._trigger_gone(trigger)
        return found

    def _trigger_gone(self, trigger: TriggerRef) -> None:
        at = time.time()
        log.info("event trigger %s no longer exists on the server", trigger.name)
        self.removed[trigger.name] = at
        self.triggers = [t for t in self.triggers if t is not trigger]
        self._open.pop(trigger.name, None)
        self.sink.trigger_removed(trigger.name, at)

    async def _take_baseline(self, trigger: TriggerRef) -> None:
        """With `since now`: note what the log holds at the start (its newest rows and the margin below them), so it
        is not recorded; later polls read from there."""

        def skip_events(rows: list[EventRecord]) -> int:
            self._skip_events.update(r.id for r in rows)
            return 0

        def skip_invocations(rows: list[InvocationRecord]) -> int:
            self._skip_invocations.update(r.id for r in rows)
            return 0

        newest = await self._scan_top(self._event_fetch(trigger), skip_events)
        self._newest_event[trigger.name] = -math.inf if newest is None else newest
        newest = await self._scan_top(self._invocation_fetch(trigger), skip_invocations)
        self._newest_invocation[trigger.name] = -math.inf if newest is None else newest

    async def _scan_top(
        self, fetch: Callable[[int, int], Awaitable[list[Row]]], on_page: Callable[[list[Row]], int]
    ) -> float | None:
        """The newest rows of a log and everything within the margin below them."""
        first = await fetch(self.page_size, 0)
        if not first:
            return None
        top = max(instant(r.created_at) for r in first)
        return await _scan(
            fetch, self.page_size, top - self.late_commit_margin, on_page, max_page_size=self.max_page_size
        )

    def _event_fetch(self, trigger: TriggerRef) -> Callable[[int, int], Awaitable[list[EventRecord]]]:
        return lambda limit, offset: self.client.event_logs(trigger, limit, offset)

    def _invocation_fetch(self, trigger: TriggerRef) -> Callable[[int, int], Awaitable[list[InvocationRecord]]]:
        return lambda limit, offset: self.client.invocation_logs(trigger, limit, offset)

    async def _poll_trigger(self, trigger: TriggerRef) -> int:
        found = 0
        name = trigger.name
        open_events = self._open.setdefault(name, {})

        # 1. invocations down to the previous newest minus the margin (all of them on the first poll)
        fresh: dict[str, InvocationRecord] = {}

        def take_invocations(rows: list[InvocationRecord]) -> int:
            known = self.sink.known_invocations(r.id for r in rows if r.id not in self._skip_invocations)
            end = 0
            for position, row in enumerate(rows, 1):
                if row.id not in known and row.id not in self._skip_invocations:
                    fresh[row.id] = row
                    end = position
            return end

        previous = self._newest_invocation.get(name)
        newest = await _scan(
            self._invocation_fetch(trigger),
            self._first_limit(name, "invocations"),
            None if previous is None else previous - self.late_commit_margin,
            take_invocations,
            max_page_size=self.max_page_size,
            quiet_below=previous,
            quiet_rows=self.late_commit_rows,
        )
        self._last_news[(name, "invocations")] = len(fresh)
        if newest is not None:
            self._newest_invocation[name] = max(newest, previous or -math.inf)

        # 2. events down to the previous newest minus the margin, and to the oldest open event within reach
        previous = self._newest_event.get(name)
        stop_before: float | None = None
        if previous is not None:
            stop_before = previous - self.late_commit_margin
            if open_events:
                stop_before = min(stop_before, min(open_events.values()))
        seen: set[str] = set()
        attempted: set[str] = set()
        """Events this pass recorded new or changed with an attempt made (`tries` > 0)."""
        new_events = 0

        def take_events(rows: list[EventRecord]) -> int:
            nonlocal found, new_events
            skip = self._skip_events
            taken = [event for event in rows if event.id not in skip] if skip else rows
            outcomes = iter(self.sink.observe_events(taken))
            end = 0
            for position, event in enumerate(rows, 1):
                if skip and event.id in skip:
                    continue
                seen.add(event.id)
                outcome = next(outcomes)
                if outcome != "same":
                    found += 1
                    if event.tries:
                        attempted.add(event.id)
                    if outcome == "new":
                        new_events += 1
                        end = position
                if event.status in FINAL_STATUSES:  # `_track`, inlined: once per row read
                    open_events.pop(event.id, None)
                else:
                    open_events[event.id] = instant(event.created_at)
            return end

        newest = await _scan(
            self._event_fetch(trigger),
            self._first_limit(name, "events"),
            stop_before,
            take_events,
            deep_floor=None if previous is None else previous - self.late_commit_margin,
            max_deep_rows=self.max_deep_pages * self.page_size,
            max_page_size=self.max_page_size,
            quiet_below=previous,
            quiet_rows=self.late_commit_rows,
            quiet_floor=min(open_events.values(), default=None),
        )
        self._last_news[(name, "events")] = new_events
        if newest is not None:
            self._newest_event[name] = max(newest, previous or -math.inf)
        elif previous is None:
            self._newest_event[name] = -math.inf

        # 2b. Hasura writes an attempt's invocation and its event's new state in one transaction (`recordSuccess`,
        # `recordError'` in server/src-lib/Hasura/Backends/Postgres/DDL/EventTrigger.hs): an event read with a new
        # attempt whose invocation step 1 did not bring was answered after step 1 read the log, and its invocation is
        # among those logged since. They are read now, so that a pass does not record an attempt's outcome without the
        # attempt (a reader of the file would see a delivered event without its delivery until the next pass).
        if attempted.difference(i.event_id for i in fresh.values()):
            previous = self._newest_invocation.get(name)
            newest = await _scan(
                self._invocation_fetch(trigger),
                self.page_size,
                previous,
                take_invocations,
                max_page_size=self.max_page_size,
            )
            if newest is not None:
                self._newest_invocation[name] = max(newest, previous or -math.inf)

        # 3. invocations after events, oldest first, so attempts are numbered in time order
        touched: list[str] = []
        for invocation in sorted(fresh.values(), key=lambda i: (instant(i.created_at), i.id)):
            if self.sink.observe_invocation(invocation):
                found += 1
                if invocation.event_id not in seen and invocation.event_id not in touched:
                    touched.append(invocation.event_id)

        # 4. by id: events with new invocations that this poll did not read (no cap: none may be missed), then open
        # events it did not reach (oldest first, at most `max_refresh`)
        unread_open = sorted(
            (e for e in open_events if e not in seen and e not in touched), key=lambda e: open_events[e]
        )
        for event_id in [*touched, *unread_open[: self.max_refresh]]:
            if event_id in self._skip_events:
                continue
            found += await self._refresh(event_id, trigger)
        return found

    def _first_limit(self, name: str, log_name: str) -> int:
        """The first answer of a poll's scan: what the previous poll found new there plus the margin's rows (most
        polls then need one answer), at least `page_size`, at most `max_page_size`."""
        expected = self._last_news.get((name, log_name), 0) + self.late_commit_rows
        return max(self.page_size, min(self.max_page_size, expected))

    async def _refresh(self, event_id: str, trigger: TriggerRef) -> int:
        """Read one event by id; returns how many items were new."""
        found = 0
        try:
            refreshed, its_invocations = await self.client.event_by_id(event_id, trigger.source)
        except ServerError as error:
            if error.code != NOT_EXISTS:
                raise
            refreshed, its_invocations = None, []
        if refreshed is None:
            self._open.get(trigger.name, {}).pop(event_id, None)
            self.sink.event_cleaned_up(event_id, time.time())
            return 0
        if refreshed.trigger_name and refreshed.trigger_name != trigger.name:
            return 0
        if self.sink.observe_event(refreshed) != "same":
            found += 1
        self._track(refreshed, trigger.name)
        for invocation in sorted(its_invocations, key=lambda i: (instant(i.created_at), i.id)):
            if invocation.id not in self._skip_invocations and self.sink.observe_invocation(invocation):
                found += 1
        return found

    def _track(self, event: EventRecord, trigger_name: str) -> None:
        open_events = self._open.setdefault(trigger_name, {})
        if event.status in FINAL_STATUSES:
            open_events.pop(event.id, None)
        else:
            open_events[event.id] = instant(event.created_at)

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        """Poll every `interval` seconds until `stop` is set (errors propagate to the caller, which reconnects)."""
        while not stop.is_set():
            await self.poll()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
