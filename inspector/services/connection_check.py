"""Test connection: one quick look at a Hasura server through a connection profile, for the profile dialog's button.

Owns the check (`check_connection`): the server's version (`/v1/version`), the credentials (`export_metadata` needs
admin) and how many event triggers the metadata holds, through the same metadata client a capture uses
(`backends.hasura_metadata.HasuraMetadataClient.detect`), with a short timeout; and the answer as one line, the
error's too (`backends.errors`' messages, written for people). GUI-free: the window runs it through `qt/bridge.py`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from inspector.backends.errors import BackendError
from inspector.backends.hasura_metadata import HasuraMetadataClient
from inspector.core.connection_profile import ConnectionProfile
from inspector.core.redaction import redact_text

CHECK_TIMEOUT_S = 10.0
"""A test that takes longer than this says so rather than keeping the dialog waiting."""


@dataclass(frozen=True)
class ConnectionCheck:
    """What Test connection found."""

    ok: bool
    message: str
    """One line: the server's version and what the credentials allow, or why it failed."""
    server_version: str | None = None


async def check_connection(
    profile: ConnectionProfile, secret: str | None, limit_s: float = CHECK_TIMEOUT_S
) -> ConnectionCheck:
    """Ask the server behind `profile` (with `secret`) its version and metadata; never raises for a backend's
    failure (the message says it), only for cancellation."""
    client = HasuraMetadataClient(
        profile.metadata_url,
        profile.query_v2_url,
        profile.version_url,
        profile.request_headers(secret),
        verify_tls=profile.verify_tls,
        timeout=limit_s,
        server_timezone=profile.server_timezone or "UTC",  # known: no run_sql asked, a quick test
    )
    try:
        async with asyncio.timeout(limit_s):
            await client.detect()
            triggers = await client.event_triggers()
    except TimeoutError:
        return ConnectionCheck(False, f"{profile.redacted_endpoint} did not answer within {limit_s:.0f} s")
    except BackendError as error:
        return ConnectionCheck(False, redact_text(str(error).splitlines()[0] if str(error) else type(error).__name__))
    except (OSError, ValueError) as error:
        return ConnectionCheck(False, redact_text(f"{type(error).__name__}: {error}".splitlines()[0]))
    finally:
        await client.close()
    version = client.server_version
    count = len(triggers)
    return ConnectionCheck(
        True,
        f"Connected: Hasura {version or '(version not given)'}, admin access, "
        f"{count} event trigger{'' if count == 1 else 's'}",
        version,
    )


__all__ = ["CHECK_TIMEOUT_S", "ConnectionCheck", "check_connection"]
