"""Helpers for relay tests: the sandbox's triggers rewired to an `inspector relay` in the same process, over real
sockets, with the deliveries recorded in a capture file.

No mocks: the sandbox's own delivery worker POSTs to the relay, which forwards to the sandbox's real handlers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from inspector.backends.hasura_metadata import HasuraMetadataClient
from inspector.sandbox.server import Sandbox
from inspector.services.relay import Breakpoints, Relay, RelayConfig, Rule
from inspector.services.relay.rewire import Change, restore, retry_policies, rewire, triggers_named
from inspector.store.capture_file import CaptureFile
from inspector.store.relay_records import RelayRecorder

EXAMPLE_TRIGGERS = ("validate-order", "process-payment", "restaurant-approval", "agent-assignment")


def metadata_client(sandbox: Sandbox) -> HasuraMetadataClient:
    headers = {"x-hasura-admin-secret": sandbox.admin_secret} if sandbox.admin_secret else {}
    return HasuraMetadataClient(
        sandbox.metadata_url, f"{sandbox.base_url}/v2/query", f"{sandbox.base_url}/v1/version", headers
    )


@dataclass
class Relayed:
    """A relay in front of a sandbox's triggers, recording into `capture`."""

    relay: Relay
    capture: CaptureFile
    recorder: RelayRecorder
    changes: list[Change]

    def rows(self, sql: str, params: tuple[object, ...] = ()) -> list[dict[str, object]]:
        self.recorder.flush()
        return self.capture.rows(sql, params)


@asynccontextmanager
async def relayed(
    sandbox: Sandbox,
    capture_path: Path,
    rules: Sequence[Rule] = (),
    breakpoints: Breakpoints | None = None,
    routes: Mapping[str, str] | None = None,
) -> AsyncIterator[Relayed]:
    """Rewire the named triggers (default: the example's four, to their real handlers) to a relay, and restore them
    on the way out."""
    routes = dict(routes) if routes is not None else {t: f"{sandbox.handlers_url}/{t}" for t in EXAMPLE_TRIGGERS}
    capture = CaptureFile.create(capture_path, overwrite=True)
    recorder = RelayRecorder(capture, interval=0.01)
    async with metadata_client(sandbox) as client:
        refs = await triggers_named(client, list(routes))
        relay = Relay(RelayConfig(routes, retry=retry_policies(refs)), rules, breakpoints, recorder)
        await relay.start()
        try:
            changes = await rewire(client, capture, refs, {name: relay.url(name) for name in routes})
            yield Relayed(relay, capture, recorder, changes)
        finally:
            await restore(client, capture)
            await relay.stop()
            recorder.close()
            capture.close()
