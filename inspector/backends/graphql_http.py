"""GraphQL over HTTP, for the few queries replay makes itself: the state query and the reset mutation.

Owns the translation of GraphQL answers into `backends.errors`: HTTP 401/403 or Hasura's `access-denied` →
`AuthenticationFailed`, `errors` in the result → `ServerError` with the first message and its `extensions.code`,
anything but a JSON object → `ProtocolMismatch`. The session, the refusal of redirects (the headers carry the
secret), the answer's size limit (`backends.http.GRAPHQL_ANSWER`) and unreachable servers are `backends.http`'s.
The headers (with the secret, from the profile's keyring entry or the environment) are given by the caller and
never logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from inspector.backends.errors import AuthenticationFailed, ProtocolMismatch, ServerError
from inspector.backends.http import GRAPHQL_ANSWER, BackendHttp
from inspector.core.redaction import redact_url


class GraphQLHttpClient:
    """POSTs operations to one GraphQL endpoint with fixed headers."""

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str],
        verify_tls: bool = True,
        timeout: float = 30.0,
        max_answer_bytes: int | None = None,
    ) -> None:
        self.url = url
        self._http = BackendHttp({"Content-Type": "application/json", **headers}, verify_tls, timeout)
        self.max_answer_bytes = GRAPHQL_ANSWER.resolve(max_answer_bytes)

    async def __aenter__(self) -> GraphQLHttpClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.close()

    async def execute(self, query: str, variables: Mapping[str, Any] | None = None) -> Any:
        """The `data` of the result; a typed error otherwise."""
        shown = redact_url(self.url)
        answer = await self._http.request(
            "POST",
            self.url,
            GRAPHQL_ANSWER,
            self.max_answer_bytes,
            json_body={"query": query, "variables": dict(variables or {})},
        )
        status = answer.status
        if status in (401, 403):
            raise AuthenticationFailed(f"{shown} refused the credentials (HTTP {status}); check the admin secret")
        try:
            result = answer.json()
        except ValueError as exc:
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
