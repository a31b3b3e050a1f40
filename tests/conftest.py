"""Shared fixtures. Tests talk to a real sandbox over real sockets, with real SQLite files."""

from __future__ import annotations

import os

# Qt must never look for a display in tests; set before anything imports PySide6.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest

from inspector.sandbox.config import Faults, SandboxConfig
from inspector.sandbox.server import Sandbox

ADMIN_SECRET = "test-admin-secret"

FAST = SandboxConfig(
    port=0,
    admin_secret=ADMIN_SECRET,
    fetch_interval=0.02,
    refetch_interval=0.02,
    retry_interval_sec=1,
    seed=7,
)
"""A sandbox on free ports with short intervals, so a whole order chain takes well under a second."""

SandboxFactory = Callable[..., Awaitable[Sandbox]]


@pytest.fixture
async def sandbox_factory(tmp_path: Any) -> AsyncIterator[SandboxFactory]:
    """Start sandboxes with `await sandbox_factory(faults=Faults(...), db=..., ...)`; all are stopped afterwards."""
    started: list[Sandbox] = []

    async def start(**changes: Any) -> Sandbox:
        changes.setdefault("db", str(tmp_path / f"sandbox-{len(started)}.db"))
        sandbox = Sandbox(replace(FAST, **changes))
        await sandbox.start()
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in reversed(started):
        await sandbox.stop()


@pytest.fixture
async def sandbox(sandbox_factory: SandboxFactory) -> Sandbox:
    """A running sandbox with the admin secret `ADMIN_SECRET`, no traffic and no faults."""
    return await sandbox_factory()


__all__ = ["ADMIN_SECRET", "FAST", "Faults", "SandboxFactory"]
