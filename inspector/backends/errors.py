"""Errors from live systems, translated at the boundary into types with messages a user can act on.

Every backend raises only these (library exceptions from aiohttp, websockets or gql are caught where they happen), so
the CLI can map them to exit codes and the window to a message, without knowing which library failed.
"""

from __future__ import annotations


class BackendError(Exception):
    """Something went wrong talking to a backend; `str(error)` is a one-line message for the user."""


class ConnectionFailed(BackendError):
    """The server could not be reached, or the connection dropped (refused, DNS, TLS, timeout)."""


class AuthenticationFailed(BackendError):
    """The server refused our credentials (wrong or missing admin secret or token)."""


class ProtocolMismatch(BackendError):
    """The server answered, but not in the protocol we expected (not a GraphQL endpoint, another subprotocol)."""


class ServerError(BackendError):
    """The server answered with an error of its own; `code` is Hasura's error code when it gave one."""

    def __init__(self, message: str, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class RedirectRefused(ProtocolMismatch):
    """The server answered with a redirect, which is not followed: the request carried the admin secret (or other
    credentials), and following it would hand them to whatever host the server names. `location` is where it
    pointed (without credentials or query string), for the user to put in `--endpoint` if it is right."""

    def __init__(self, message: str, location: str) -> None:
        super().__init__(message)
        self.location = location


class ResponseTooLarge(ProtocolMismatch):
    """The server's answer was larger than the limit for its kind (`backends.http.BodyLimit`); reading stopped there.
    `limit` is in bytes. A `ProtocolMismatch`: the server answered, but not with anything Inspector will hold, and
    the commands report it as they report a server that is not what they expected (exit 3)."""

    def __init__(self, message: str, limit: int) -> None:
        super().__init__(message)
        self.limit = limit
