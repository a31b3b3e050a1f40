"""Rewiring: point event triggers' webhooks at the relay through the metadata API, and put them back.

Owns `rewire` (for each named trigger: read its definition from `export_metadata`, store the original webhook in the
capture FIRST, then `pg_create_event_trigger` with `replace: true` and every other setting as exported, only
`webhook` changed; Hasura's docs `docs/docs/api-reference/metadata-api/event-triggers.mdx`) and `restore` (the
stored originals back, each only if the trigger still points at the relay: a trigger someone changed meanwhile is
left alone and said so). `--restore CAPTURE` after a crash runs `restore` on what the capture holds. A backend that is
not on this machine is refused unless `allow_remote` (`RemoteBackendRefused`). Each change is reported as one line
(`Change`), so the command says exactly what it changed.

Used by `inspector relay` (`inspector.cli.relay`) and the tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from inspector.backends.hasura_metadata import HasuraMetadataClient, TriggerRef
from inspector.core.connection_profile import is_loopback_host
from inspector.core.hasura import RetryConf
from inspector.core.redaction import redact_url
from inspector.store.capture_file import CaptureFile
from inspector.store.relay_records import Rewiring, mark_restored, rewirings, save_rewiring

_DEFINITION_KEYS = ("insert", "update", "delete", "enable_manual")


class RemoteBackendRefused(ValueError):
    """Rewiring a backend on another machine without `allow_remote`."""


class RewireError(ValueError):
    """A trigger to rewire that the backend does not have, or an original webhook the relay cannot forward to."""


@dataclass(frozen=True)
class Change:
    """One trigger's webhook changed (or left alone, with why)."""

    trigger: str
    before: str
    after: str
    done: bool = True
    verb: str = "rewired"

    def describe(self) -> str:
        verb = self.verb if self.done else "left alone"
        return f"{verb} {self.trigger}: {self.before} -> {self.after}"


def check_backend(metadata_url: str, allow_remote: bool) -> None:
    host = urlsplit(metadata_url).hostname or ""
    if not allow_remote and not is_loopback_host(host):
        raise RemoteBackendRefused(
            f"refusing to rewire the triggers of {redact_url(metadata_url)} ({host} is not this machine); give "
            "--allow-remote to change another machine's metadata"
        )


def create_args(ref: TriggerRef, webhook: str | None, webhook_from_env: str | None) -> dict[str, Any]:
    """`pg_create_event_trigger` args that re-create the exported trigger with `replace: true`, every setting kept
    (retry_conf, headers, transforms, cleanup_config...) and only the webhook given."""
    config = dict(ref.config)
    definition = config.pop("definition", {}) or {}
    config.pop("webhook", None)
    config.pop("webhook_from_env", None)
    args: dict[str, Any] = {**config, "table": dict(ref.table), "source": ref.source, "replace": True}
    for key in _DEFINITION_KEYS:
        if key in definition:
            args[key] = definition[key]
    if webhook_from_env is not None:
        args["webhook_from_env"] = webhook_from_env
    else:
        args["webhook"] = webhook
    return args


def shown_webhook(webhook: str | None, webhook_from_env: str | None) -> str:
    return f"env {webhook_from_env}" if webhook_from_env is not None else redact_url(webhook or "")


def retry_policies(refs: Sequence[TriggerRef]) -> dict[str, RetryConf]:
    """The triggers' retry policies (for held deliveries' countdown and "what happens next")."""
    out: dict[str, RetryConf] = {}
    for ref in refs:
        try:
            out[ref.name] = RetryConf.from_json(ref.config.get("retry_conf"))
        except Exception:  # an unexpected shape: the policy is shown as unknown
            continue
    return out


async def triggers_named(client: HasuraMetadataClient, names: Sequence[str] | None) -> list[TriggerRef]:
    """The exported definitions of these triggers (all of them when `names` is None); `RewireError` for unknown
    names."""
    refs = await client.event_triggers()
    if names is None:
        return refs
    known = {ref.name: ref for ref in refs}
    missing = [n for n in names if n not in known]
    if missing:
        raise RewireError(f"no event trigger {', '.join(missing)} (the backend has: {', '.join(sorted(known))})")
    return [known[n] for n in names]


async def rewire(
    client: HasuraMetadataClient,
    capture: CaptureFile,
    refs: Sequence[TriggerRef],
    relay_url: Mapping[str, str],
) -> list[Change]:
    """Point each trigger at `relay_url[name]`; the originals are committed to the capture before each change."""
    changes = []
    for ref in refs:
        original = ref.config.get("webhook")
        from_env = ref.config.get("webhook_from_env")
        target = relay_url[ref.name]
        if original == target:
            changes.append(Change(ref.name, redact_url(target), redact_url(target), done=False))
            continue
        save_rewiring(
            capture,
            Rewiring(
                ref.name,
                ref.source,
                str(ref.table.get("schema", "public")),
                str(ref.table.get("name", "")),
                original if isinstance(original, str) else None,
                from_env if isinstance(from_env, str) else None,
                target,
            ),
            ref.config,
        )
        await client.call("pg_create_event_trigger", create_args(ref, target, None))
        changes.append(Change(ref.name, shown_webhook(original, from_env), redact_url(target)))
    return changes


async def restore(client: HasuraMetadataClient, capture: CaptureFile) -> list[Change]:
    """Put back every original webhook the capture holds and that is not restored yet."""
    pending = rewirings(capture)
    if not pending:
        return []
    current = {ref.name: ref for ref in await client.event_triggers()}
    changes = []
    for rewiring in pending:
        ref = current.get(rewiring.name)
        before = shown_webhook(rewiring.original_webhook, rewiring.original_webhook_from_env)
        if ref is None:
            changes.append(Change(rewiring.name, "(deleted)", before, done=False))
            mark_restored(capture, rewiring.name)
            continue
        now = ref.config.get("webhook")
        if now != rewiring.relay_webhook:
            # Changed by someone else since: theirs wins.
            changes.append(Change(rewiring.name, shown_webhook(now, ref.config.get("webhook_from_env")), before, False))
            mark_restored(capture, rewiring.name)
            continue
        await client.call(
            "pg_create_event_trigger",
            create_args(ref, rewiring.original_webhook, rewiring.original_webhook_from_env),
        )
        mark_restored(capture, rewiring.name)
        changes.append(Change(rewiring.name, redact_url(rewiring.relay_webhook), before, verb="restored"))
    return changes
