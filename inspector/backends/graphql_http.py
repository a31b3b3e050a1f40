"""GraphQL over HTTP, for the few queries replay makes itself: the state query and the reset mutation.

Owns one aiohttp session and the translation of answers into `backends.errors`: unreachable → `ConnectionFailed`,
HTTP 401/403 or Hasura's `access-denied` → `AuthenticationFailed`, `errors` in the result → `ServerError` with the
first message and its `extensions.code`. The headers (with the secret, from the profile's keyring entry or the
environment) are given by the caller and never logged.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping
from typing import Any

import aiohttp

from inspector.backends.errors import AuthenticationFailed, ConnectionFailed, ProtocolMismatch, ServerError
from inspector.core.redaction import redact_url


class GraphQLHttpClient:
    """POSTs operations to one GraphQL endpoint with fixed headers."""

    def __init__(self, url: str, headers: Mapping[str, str], verify_tls: bool = True, timeout: float = 30.0) -> None:
        self.url = url
        self._headers = {"Content-Type": "application/json", **headers}
        self._ssl: ssl.SSLContext | bool = bool(verify_tls)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> GraphQLHttpClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def execute(self, query: str, variables: Mapping[str, Any] | None = None) -> Any:
        """The `data` of the result; a typed error otherwise."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        shown = redact_url(self.url)
        try:
            async with self._session.post(
                self.url,
                json={"query": query, "variables": dict(variables or {})},
                headers=self._headers,
                ssl=self._ssl,
            ) as answer:
                status = answer.status
                text = await answer.text()
        except TimeoutError as exc:
            raise ConnectionFailed(f"{shown} did not answer in time") from exc
        except aiohttp.ClientConnectorError as exc:
            raise ConnectionFailed(f"cannot reach {shown}: {exc.os_error or exc}") from exc
        except aiohttp.ClientError as exc:
            raise ConnectionFailed(f"cannot reach {shown}: {exc or type(exc).__name__}") from exc
        if status in (401, 403):
            raise AuthenticationFailed(f"{shown} refused the credentials (HTTP {status}); check the admin secret")
        try:
            result = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProtocolMismatch(
                f"{shown} did not answer with JSON (HTTP {status}): is it a GraphQL endpoint?"
            ) from exc
        if not isinstance(result, Mapping):
            raise ProtocolMismatch(f"{shown} answered with something that is not a GraphQL result")
        errors = result.get("errors")
        if errors:
            first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], Mapping) else {}
            message = str(first.get("message", errors))
            extensions = first.get("extensions")
            code = extensions.get("code") if isinstance(extensions, Mapping) else None
            if code in ("access-denied", "invalid-jwt", "invalid-headers"):
                raise AuthenticationFailed(f"{shown} refused the credentials: {message} (check the admin secret)")
            raise ServerError(f"{shown}: {message}", str(code) if code else None, status)
        if status >= 400:
            raise ServerError(f"{shown}: HTTP {status}", None, status)
        return result.get("data")
