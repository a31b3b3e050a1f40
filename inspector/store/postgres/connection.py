"""Store URLs and connections to a shared PostgreSQL capture store.

Owns what `postgresql://USER@HOST:PORT/DB?capture=NAME&sslmode=...` means (`StoreUrl`), where the password comes from
(libpq's own sources: `PGPASSWORD`, `PGPASSFILE`/`~/.pgpass`, `PGSERVICE`; else the OS keyring, service
`inspector-postgres`, entry `USER@HOST:PORT`), and turning libpq's failures into one line a person can act on
(`StoreError`). A password written in the URL itself is refused: URLs end up in shell history, logs and CI output.

Used by `store.postgres.store` (every connection it opens) and `store.open` (is this a path or a URL).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import psycopg

__all__ = ["KEYRING_SERVICE", "SCHEMES", "StoreError", "StoreUrl", "connect", "is_store_url"]

SCHEMES = ("postgresql", "postgres")
KEYRING_SERVICE = "inspector-postgres"
"""The keyring service the password is looked up under (entry `USER@HOST:PORT`)."""

SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
"""libpq's `sslmode` values, spelled as libpq spells them."""

LIBPQ_PARAMS = frozenset(
    {
        "sslmode",
        "sslrootcert",
        "sslcert",
        "sslkey",
        "sslcrl",
        "connect_timeout",
        "application_name",
        "options",
        "target_session_attrs",
        "service",
    }
)
"""Query parameters passed to libpq as they are (besides `capture`, which is ours)."""


class StoreError(Exception):
    """A store that cannot be used: one line saying why and, where there is one, what to do."""


def is_store_url(text: str) -> bool:
    """Whether `text` names a PostgreSQL store rather than a capture file."""
    scheme, sep, _ = str(text).partition("://")
    return bool(sep) and scheme.lower() in SCHEMES


@dataclass(frozen=True)
class StoreUrl:
    """A parsed store URL: where the database is and which capture (`capture`, None for the whole store)."""

    user: str | None
    host: str | None
    port: int | None
    database: str | None
    capture: str | None = None
    params: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> StoreUrl:
        if not is_store_url(text):
            raise StoreError(f"{text!r} is not a postgresql:// URL")
        parts = urlsplit(text)
        if parts.password is not None:
            raise StoreError(
                "the store URL holds a password: remove it and set PGPASSWORD, or keep it in the keyring "
                f"(service {KEYRING_SERVICE!r}, entry 'USER@HOST:PORT')"
            )
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        capture = query.pop("capture", None)
        for key in query:
            if key not in LIBPQ_PARAMS:
                raise StoreError(
                    f"unknown store URL parameter {key!r} (known: capture, {', '.join(sorted(LIBPQ_PARAMS))})"
                )
        if "sslmode" in query and query["sslmode"] not in SSL_MODES:
            raise StoreError(f"sslmode {query['sslmode']!r} is not one of libpq's: {', '.join(SSL_MODES)}")
        try:
            port = parts.port
        except ValueError as exc:
            raise StoreError(f"bad port in the store URL: {exc}") from exc
        database = unquote(parts.path.lstrip("/")) or None
        if capture is not None and not capture.strip():
            raise StoreError("the store URL's capture name is empty")
        return cls(
            unquote(parts.username) if parts.username else None,
            parts.hostname,
            port,
            database,
            capture,
            query,
        )

    def with_capture(self, name: str | None) -> StoreUrl:
        return StoreUrl(self.user, self.host, self.port, self.database, name, dict(self.params))

    def where(self) -> str:
        """`USER@HOST:PORT/DB` for messages (never a password)."""
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"{user}{self.host or 'localhost'}{port}/{self.database or ''}"

    def __str__(self) -> str:
        query = "&".join(
            f"{k}={v}" for k, v in ([("capture", self.capture)] if self.capture else []) + sorted(self.params.items())
        )
        return f"postgresql://{self.where()}" + (f"?{query}" if query else "")

    def connect_kwargs(self) -> dict[str, Any]:
        """libpq keywords (password only from the keyring, when libpq has none of its own)."""
        kwargs: dict[str, Any] = {k: v for k, v in self.params.items()}
        if self.user:
            kwargs["user"] = self.user
        if self.host:
            kwargs["host"] = self.host
        if self.port:
            kwargs["port"] = self.port
        if self.database:
            kwargs["dbname"] = self.database
        if "PGPASSWORD" not in os.environ:
            password = _keyring_password(self)
            if password is not None:
                kwargs["password"] = password
        kwargs.setdefault("application_name", "inspector")
        return kwargs


def _keyring_password(url: StoreUrl) -> str | None:
    """The password kept in the OS keyring for this user and server, if a keyring is there and holds one."""
    try:
        import keyring
        from keyring.errors import KeyringError

        user = url.user or os.environ.get("PGUSER") or ""
        entry = f"{user}@{url.host or 'localhost'}:{url.port or 5432}"
        try:
            return keyring.get_password(KEYRING_SERVICE, entry)
        except KeyringError:
            return None
    except Exception:  # no usable keyring backend at all: libpq's own sources still apply
        return None


def explain(url: StoreUrl, exc: BaseException) -> str:
    """libpq's failure as one line naming what to do (never the password)."""
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    full = str(exc)
    where = url.where()
    if "password authentication failed" in full:
        return f"wrong password for {url.user or 'the user'} at {where} (PGPASSWORD or keyring entry)"
    if "no password supplied" in full or "fe_sendauth" in full:
        return (
            f"{where} asks for a password: set PGPASSWORD, or keep it in the keyring (service "
            f"{KEYRING_SERVICE!r}, entry '{url.user or os.environ.get('PGUSER', 'USER')}@{url.host or 'localhost'}:"
            f"{url.port or 5432}')"
        )
    if "does not exist" in full and "database" in full:
        return f"no database {url.database!r} at {where}: create it first (createdb), or check the URL"
    if "role" in full and "does not exist" in full:
        return f"no role {url.user!r} at {where}"
    if "Connection refused" in full or "could not connect" in full or "timeout expired" in full:
        return f"cannot connect to {where}: {text}"
    if "SSL" in full or "ssl" in full:
        return f"TLS to {where} failed: {text}"
    return f"cannot open {where}: {text}"


def connect(url: StoreUrl, autocommit: bool = False) -> psycopg.Connection[tuple[Any, ...]]:
    """A connection to the store's database; `StoreError` with one line when it cannot be had."""
    try:
        return psycopg.connect(autocommit=autocommit, **url.connect_kwargs())
    except psycopg.OperationalError as exc:
        raise StoreError(explain(url, exc)) from None
