"""Reading what the analysis needs from a capture besides events: the connection behind a `CaptureFile`, the
trigger snapshots (`TriggerInfo`: table, webhook, retry configuration, listened update columns) and the capture's
last activity. Used by every module of the package; the SQL is in `inspector.store.analysis_queries`."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from inspector.services.analysis.thresholds import Thresholds
from inspector.store import analysis_queries as queries


class _HasConnection(Protocol):
    conn: sqlite3.Connection


Source = sqlite3.Connection | _HasConnection
"""A capture: a connection, or anything with `.conn` (a `CaptureFile`)."""


def connection(source: Source) -> sqlite3.Connection:
    """A connection from a connection or a `CaptureFile` (anything with `.conn`)."""
    return source if isinstance(source, sqlite3.Connection) else source.conn


@dataclass(frozen=True)
class TriggerInfo:
    """What the capture's trigger snapshot says about one trigger."""

    name: str
    table: str | None = None
    handler: str | None = None
    """The webhook's name: the last segment of its URL path, else its host (`env:VAR` for `webhook_from_env`)."""
    webhook: str | None = None
    num_retries: int | None = None
    interval_s: float = 10.0
    timeout_s: float | None = None
    update_columns: tuple[str, ...] | None = None
    """Listened update columns; None: all (`*`) or unknown."""

    @property
    def handler_name(self) -> str:
        return self.handler or self.name


def _handler_name(config: Mapping[str, Any]) -> str | None:
    webhook = config.get("webhook")
    if isinstance(webhook, str) and webhook:
        parts = urlsplit(webhook)
        segment = parts.path.rstrip("/").rsplit("/", 1)[-1]
        return segment or parts.netloc or webhook
    env = config.get("webhook_from_env")
    return f"env:{env}" if isinstance(env, str) and env else None


def trigger_info(source: Source) -> dict[str, TriggerInfo]:
    """The latest snapshot of each trigger's configuration in the capture, by trigger name."""
    infos: dict[str, TriggerInfo] = {}
    for name, table, text in queries.trigger_snapshots(connection(source)):
        try:
            config = json.loads(text) if text else {}
        except ValueError:
            config = {}
        if not isinstance(config, dict):
            config = {}
        retry: dict[str, Any] = config["retry_conf"] if isinstance(config.get("retry_conf"), dict) else {}
        definition: dict[str, Any] = config["definition"] if isinstance(config.get("definition"), dict) else {}
        update = definition.get("update")
        columns = update.get("columns") if isinstance(update, dict) else None
        infos[name] = TriggerInfo(
            name=name,
            table=table,
            handler=_handler_name(config),
            webhook=config.get("webhook") if isinstance(config.get("webhook"), str) else None,
            num_retries=_int_or_none(retry.get("num_retries")),
            interval_s=float(retry.get("interval_sec", 10) or 0),
            timeout_s=float(retry["timeout_sec"]) if isinstance(retry.get("timeout_sec"), int | float) else None,
            update_columns=tuple(str(c) for c in columns) if isinstance(columns, list) else None,
        )
    return infos


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) else None


def info_of(infos: Mapping[str, TriggerInfo], trigger: str) -> TriggerInfo:
    """A trigger's snapshot, or defaults when the capture holds none."""
    return infos.get(trigger) or TriggerInfo(trigger)


def timeout_of(infos: Mapping[str, TriggerInfo], trigger: str, thresholds: Thresholds) -> float:
    """A trigger's `timeout_sec`, else `thresholds.default_timeout_s`."""
    info = infos.get(trigger)
    return info.timeout_s if info is not None and info.timeout_s else thresholds.default_timeout_s


def last_activity(source: Source) -> float | None:
    """The capture's last activity on the server's clock: the latest event creation or invocation."""
    return queries.last_activity(connection(source))


def loads(text: str | None) -> Any:
    """JSON text decoded, or None when absent or not JSON."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None
