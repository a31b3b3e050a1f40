"""Connection profiles: where a Hasura-style backend is and how to talk to it, without its secret.

Owns `ConnectionProfile` (endpoint, non-secret headers, which header carries the secret and where a fallback secret
comes from, WebSocket subprotocol, TLS verification), the URLs derived from one endpoint (GraphQL over HTTP and
WebSocket, metadata API, `/v2/query`, version, health), and header parsing that routes credential headers away from a
saved profile. Redaction (of endpoints in logs and messages) is `inspector.core.redaction`'s. Used by
`inspector.services.profiles` (storage, keyring, Hasura CLI config, the command line's backend options), the
CLI and the window (building and showing profiles) and the backends (connecting with `request_headers` and
`websocket_init_payload`).

A profile has no secret field at all, so nothing that serialises a profile can leak one; the secret lives in the OS
keyring or an environment variable and is handed to `request_headers(secret)` at connection time. Headers given for
one run (the command line's `--header`) are `extra_headers`: sent exactly as given, whatever their name, and never
saved.
Pure data and functions: no I/O.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, TypeVar, cast
from urllib.parse import SplitResult, urlsplit, urlunsplit

from inspector.core.events import valid_timezone
from inspector.core.redaction import (
    ADMIN_SECRET_HEADER,
    looks_like_credential,
    redact_url,
    url_without_credentials,
)

Subprotocol = Literal["auto", "graphql-transport-ws", "graphql-ws"]
"""`auto` lets the client offer both (gql's default) and use what the server picks."""

SUBPROTOCOLS: tuple[Subprotocol, ...] = ("auto", "graphql-transport-ws", "graphql-ws")

PROFILE_FORMAT = 1
"""`version` written by `to_json`; `from_json` refuses newer ones."""

_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}
"""Accepted endpoint schemes and the HTTP scheme each maps to."""

_GRAPHQL_SUFFIXES = ("/v1/graphql", "/v1alpha1/graphql", "/v1beta1/relay")
"""Paths that are a GraphQL endpoint of a Hasura at the path before them."""

_API_SUFFIXES = ("/v1/metadata", "/v2/query", "/v1/query", "/v1/version", "/healthz", "/console")
"""Other Hasura paths a user may paste (the console with any page below it); the Hasura is at the path before them."""

_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
"""An HTTP header name (RFC 9110 token)."""

_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Endpoint(NamedTuple):
    """An endpoint taken apart: everything the derived URLs need."""

    http_scheme: str
    userinfo: str
    """`user:password@` or empty."""
    hostport: str
    """`host`, `host:port`, `[v6]:port`."""
    host: str
    """The bare host name or address (no brackets)."""
    base_path: str
    """Path prefix the Hasura APIs live under; empty for the origin."""
    graphql_path: str
    query: str


def _split(endpoint: str) -> SplitResult:
    text = endpoint.strip()
    if not text:
        raise ValueError("the endpoint URL is empty")
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise ValueError(f"unsupported endpoint scheme {parts.scheme!r}: use http, https, ws or wss")
    if not parts.hostname:
        raise ValueError(f"the endpoint {redact_url(endpoint)!r} has no host")
    try:
        parts.port  # noqa: B018 - urllib validates the port lazily
    except ValueError as exc:
        raise ValueError(f"the endpoint {redact_url(endpoint)!r} has an invalid port") from exc
    if parts.fragment:
        raise ValueError(f"the endpoint {redact_url(endpoint)!r} has a #fragment; remove it")
    return parts


def _hostport(parts: SplitResult) -> tuple[str, str]:
    host = parts.hostname or ""
    shown = f"[{host}]" if ":" in host else host
    return host, shown if parts.port is None else f"{shown}:{parts.port}"


def _userinfo(parts: SplitResult) -> str:
    netloc = parts.netloc
    return netloc[: netloc.rindex("@") + 1] if "@" in netloc else ""


def _parse(endpoint: str) -> _Endpoint:
    parts = _split(endpoint)
    host, hostport = _hostport(parts)
    path = parts.path.rstrip("/")
    base, graphql = path, path + "/v1/graphql"
    for suffix in _GRAPHQL_SUFFIXES:
        if path.endswith(suffix):
            base, graphql = path[: -len(suffix)], path
            break
    else:
        for suffix in _API_SUFFIXES:
            at = (path + "/").find(suffix + "/")
            if at >= 0:
                base = path[:at]
                graphql = base + "/v1/graphql"
                break
        else:
            if "graphql" in path.rsplit("/", 1)[-1].lower():
                # A GraphQL endpoint at a path of its own (a proxy's `/graphql`): the other APIs at the origin.
                base, graphql = "", path
    return _Endpoint(_SCHEMES[parts.scheme.lower()], _userinfo(parts), hostport, host, base, graphql, parts.query)


UNSPECIFIED_REASON = "{host} is not an address to send to; use {loopback}"
"""Why `0.0.0.0` and `::` are refused: they name no host. Linux and macOS happen to connect them to this machine,
Windows refuses; a plan that says where requests go should say it with an address that means the same everywhere."""


_INET_ATON_PART = re.compile(r"0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*", re.ASCII)
"""One part of a numeric IPv4 host as `inet_aton` reads it: hexadecimal, octal (a leading 0) or decimal."""


def _inet_aton(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a numeric host means to the C library's `inet_aton` (which `getaddrinfo` uses, so an HTTP
    client sends `127.1` and `0x7f000001` to 127.0.0.1), or None when `host` is not such a number. One to four
    parts separated by dots, each decimal, `0x` hexadecimal or `0` octal; the last part fills the remaining bytes."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_INET_ATON_PART.fullmatch(part) for part in parts):
        return None
    values = [int(p[2:], 16) if p[:2] in ("0x", "0X") else int(p, 8 if p.startswith("0") else 10) for p in parts]
    last_bits = 8 * (5 - len(values))
    if any(v > 255 for v in values[:-1]) or values[-1] >= 1 << last_bits:
        return None
    number = values[-1]
    for i, value in enumerate(values[:-1]):
        number |= value << (24 - 8 * i)
    return ipaddress.IPv4Address(number)


def not_this_machine(host: str) -> str | None:
    """None when a host name or address (no brackets, no port) is this machine, else why not, for a person.

    This machine is the name `localhost` exactly (RFC 6761: resolvers answer it themselves) and the addresses of
    127.0.0.0/8 and `::1` (also as `::ffff:127.x.x.x`), numeric hosts read as the C library reads them (`127.1`,
    `0x7f000001`, `017700000001` are 127.0.0.1). Nothing is resolved here, so every other name is remote, even one
    that resolves to 127.0.0.1; so are `evil.localhost` and `localhost.`, which go through DNS. `0.0.0.0` and `::`
    are refused with `UNSPECIFIED_REASON`."""
    lowered = host.lower()
    if lowered == "localhost":
        return None
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = _inet_aton(lowered)
    if address is None and ":" in lowered:
        try:
            address = ipaddress.IPv6Address(lowered.split("%", 1)[0])
        except ValueError:
            address = None
    if address is None:
        if lowered.rstrip(".") == "localhost" or lowered.endswith((".localhost", ".localhost.")):
            return "not this machine: only the name localhost itself is, other names go through DNS"
        return "not this machine"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_unspecified:
        loopback = "127.0.0.1" if address.version == 4 else "::1"
        return UNSPECIFIED_REASON.format(host=address, loopback=loopback)
    return None if address.is_loopback else "not this machine"


def is_loopback_host(host: str) -> bool:
    """Whether a host name or address (no brackets, no port) is this machine (`not_this_machine` says why not):
    `localhost`, 127.0.0.0/8 however `inet_aton` spells it, `::1` (also as `::ffff:127.x.x.x`). Any other name, even
    one that resolves to 127.0.0.1, is not: nothing is resolved here."""
    return not_this_machine(host) is None


def _check_header(name: str, value: str) -> None:
    if not _HEADER_NAME_RE.match(name):
        raise ValueError(f"invalid header name {name!r}: expected a token such as x-hasura-role")
    if any(c in value for c in "\r\n\0"):
        raise ValueError(f"the value of header {name!r} contains a line break or NUL")


def parse_header(text: str) -> tuple[str, str]:
    """`"Name: value"` as curl's `-H` takes it → `("Name", "value")`; ValueError with the reason otherwise."""
    if ":" not in text:
        raise ValueError(f"invalid header {text[:40]!r}: expected 'Name: value', e.g. 'x-hasura-role: user'")
    name, value = text.split(":", 1)
    name, value = name.strip(), value.strip()
    if not name:
        raise ValueError("invalid header: the name before ':' is empty; expected 'Name: value'")
    _check_header(name, value)
    if not value:
        raise ValueError(f"header {name!r} has no value; expected 'Name: value'")
    return name, value


def split_secret_headers(
    headers: Iterable[tuple[str, str]],
) -> tuple[tuple[tuple[str, str], ...], str | None, str | None]:
    """Route parsed headers: `(plain headers, secret value or None, secret header name or None)`.

    Credential headers (`redaction.looks_like_credential`) go to the secret path (the keyring or an env var), plain
    ones to the profile; a later plain header replaces an earlier one of the same name. A profile carries one
    secret, so more than one secret header is a ValueError.
    """
    plain: dict[str, tuple[str, str]] = {}
    secret: tuple[str, str] | None = None
    for name, value in headers:
        _check_header(name, value)
        if looks_like_credential(name):
            if secret is not None:
                raise ValueError(
                    f"more than one secret header ({secret[0]!r} and {name!r}); a profile carries one secret"
                )
            secret = (name, value)
        else:
            plain[name.lower()] = (name, value)
    if secret is None:
        return tuple(plain.values()), None, None
    return tuple(plain.values()), secret[1], secret[0]


@dataclass(frozen=True)
class ConnectionProfile:
    """A named backend to connect to. Holds no secret: `has_secret` only says the keyring has one for `name`."""

    name: str
    endpoint: str
    """As the user gave it (normalised by `from_endpoint`): `http://host:8080`, `https://host/v1/graphql`,
    `ws://host:8080/v1/graphql`. A bare origin or path prefix means Hasura's APIs under it (the Hasura CLI's
    `endpoint`); a path ending in `/v1/graphql` (or `/v1alpha1/graphql`, `/v1beta1/relay`) is the GraphQL endpoint
    of a Hasura at the path before it; another path whose last segment says `graphql` is used as is for GraphQL,
    with the other APIs at the origin."""
    headers: tuple[tuple[str, str], ...] = ()
    """Non-secret headers sent on every request (`x-hasura-role`...)."""
    secret_env: str | None = None
    """Name of an environment variable holding the secret: the fallback where no keyring exists."""
    secret_header: str = ADMIN_SECRET_HEADER
    """Which header carries the secret; for `Authorization` the secret is the whole value (`Bearer abc`)."""
    subprotocol: Subprotocol = "auto"
    verify_tls: bool = True
    has_secret: bool = False
    """Whether a secret is stored in the keyring under this profile's name."""
    extra_headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    """Headers given for this run only (the command line's `--header`): sent exactly as given whatever their name,
    after `headers` (replacing one of the same name) and instead of the secret when one names `secret_header`.
    Never saved by `to_json`, left out of `repr`: they may be credentials (`Authorization: Bearer ...`)."""
    server_timezone: str | None = None
    """The database's time zone (IANA name, `Asia/Kolkata`), for servers where `run_sql` cannot ask it: the event
    tables' times are wall times in it (`inspector.core.events.server_time_seconds`). None: ask, else UTC."""

    def __post_init__(self) -> None:
        if not self.name.strip() or any(ord(c) < 32 for c in self.name):
            raise ValueError(f"invalid profile name {self.name!r}: it must be non-empty, on one line")
        _parse(self.endpoint)
        seen: set[str] = set()
        for name, value in self.headers:
            _check_header(name, value)
            if looks_like_credential(name):
                raise ValueError(
                    f"header {name!r} is a credential and cannot be kept in a profile; store it as the profile's "
                    "secret (keyring or environment variable) instead"
                )
            if name.lower() in seen:
                raise ValueError(f"header {name!r} is given twice")
            seen.add(name.lower())
        for name, value in self.extra_headers:
            _check_header(name, value)
        if not _HEADER_NAME_RE.match(self.secret_header):
            raise ValueError(f"invalid secret header name {self.secret_header!r}")
        if self.secret_env is not None and not _ENV_NAME_RE.match(self.secret_env):
            raise ValueError(f"invalid environment variable name {self.secret_env!r}")
        if self.subprotocol not in SUBPROTOCOLS:
            raise ValueError(f"unknown subprotocol {self.subprotocol!r}: use one of {', '.join(SUBPROTOCOLS)}")
        if self.server_timezone is not None:
            valid_timezone(self.server_timezone)

    @classmethod
    def from_endpoint(
        cls,
        name: str,
        endpoint: str,
        *,
        headers: Iterable[tuple[str, str]] = (),
        secret_env: str | None = None,
        secret_header: str = ADMIN_SECRET_HEADER,
        subprotocol: Subprotocol = "auto",
        verify_tls: bool = True,
        has_secret: bool = False,
        extra_headers: Iterable[tuple[str, str]] = (),
        server_timezone: str | None = None,
    ) -> ConnectionProfile:
        """A profile with `endpoint` normalised: scheme added (`localhost:8080` → `http://localhost:8080`), scheme
        and host lower-cased, trailing `/` dropped. ValueError for what is not an http(s)/ws(s) URL."""
        parts = _split(endpoint)
        _, hostport = _hostport(parts)
        normal = urlunsplit(
            (parts.scheme.lower(), _userinfo(parts) + hostport, parts.path.rstrip("/"), parts.query, "")
        )
        return cls(
            name=name.strip(),
            endpoint=normal,
            headers=tuple(headers),
            secret_env=secret_env or None,
            secret_header=secret_header,
            subprotocol=subprotocol,
            verify_tls=verify_tls,
            has_secret=has_secret,
            extra_headers=tuple(extra_headers),
            server_timezone=server_timezone or None,
        )

    # Derived URLs. They keep user info and query string from the endpoint (a proxy may need them): log
    # `redacted_endpoint` or `redact_url(url)`, never these.

    def _url(self, scheme: str, path: str) -> str:
        e = _parse(self.endpoint)
        return urlunsplit((scheme, e.userinfo + e.hostport, path, e.query, ""))

    @property
    def _ws_scheme(self) -> str:
        return "wss" if _parse(self.endpoint).http_scheme == "https" else "ws"

    @property
    def graphql_http_url(self) -> str:
        """GraphQL over HTTP: `http(s)://host[:port][/prefix]/v1/graphql`, or the GraphQL path the user gave."""
        e = _parse(self.endpoint)
        return self._url(e.http_scheme, e.graphql_path)

    @property
    def graphql_ws_url(self) -> str:
        """GraphQL over WebSocket: the same path with `ws`/`wss`."""
        return self._url(self._ws_scheme, _parse(self.endpoint).graphql_path)

    def _api(self, path: str) -> str:
        e = _parse(self.endpoint)
        return self._url(e.http_scheme, e.base_path + path)

    @property
    def metadata_url(self) -> str:
        """The metadata API (`/v1/metadata`) of the same Hasura."""
        return self._api("/v1/metadata")

    @property
    def query_v2_url(self) -> str:
        """The schema/query API (`/v2/query`: `run_sql` and friends)."""
        return self._api("/v2/query")

    @property
    def version_url(self) -> str:
        return self._api("/v1/version")

    @property
    def healthz_url(self) -> str:
        return self._api("/healthz")

    @property
    def redacted_endpoint(self) -> str:
        """The endpoint as `redaction.redact_url` gives it (no user info, query values redacted): what to show and
        log."""
        return redact_url(self.endpoint)

    @property
    def endpoint_has_credentials(self) -> bool:
        """Whether the endpoint carries user info or a query string, which `to_json` does not save."""
        e = _parse(self.endpoint)
        return bool(e.userinfo or e.query)

    @property
    def is_loopback(self) -> bool:
        """Whether the host is this machine: `localhost`, 127.0.0.0/8, `::1` (`is_loopback_host`)."""
        return is_loopback_host(_parse(self.endpoint).host)

    def request_headers(self, secret: str | None) -> dict[str, str]:
        """HTTP headers to send: the plain headers, the extra headers as given (replacing plain ones of the same name,
        in any case), and the secret in `secret_header` when one is given and no extra header has that name."""
        out = dict(self.headers)
        for name, value in self.extra_headers:
            for same in [n for n in out if n.lower() == name.lower()]:
                del out[same]
            out[name] = value
        if secret and not any(n.lower() == self.secret_header.lower() for n in out):
            out[self.secret_header] = secret
        return out

    def websocket_init_payload(self, secret: str | None) -> dict[str, dict[str, str]]:
        """The `connection_init` payload: Hasura reads headers from `payload.headers` on both subprotocols."""
        return {"headers": self.request_headers(secret)}

    def subprotocols(self) -> list[str] | None:
        """For gql's `WebsocketsTransport(subprotocols=...)`: None (gql offers both) for `auto`, else the one."""
        return None if self.subprotocol == "auto" else [self.subprotocol]

    def to_json(self) -> dict[str, Any]:
        """The profile as stored in `profiles.json`. No secret: there is none, the endpoint is saved without user info
        or query string, and `extra_headers` (one run's) are not saved."""
        out: dict[str, Any] = {
            "version": PROFILE_FORMAT,
            "name": self.name,
            "endpoint": url_without_credentials(self.endpoint),
            "headers": [{"name": n, "value": v} for n, v in self.headers],
            "secret_header": self.secret_header,
            "subprotocol": self.subprotocol,
            "verify_tls": self.verify_tls,
            "has_secret": self.has_secret,
        }
        if self.secret_env is not None:
            out["secret_env"] = self.secret_env
        if self.server_timezone is not None:
            out["server_timezone"] = self.server_timezone
        return out

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> ConnectionProfile:
        """Read back `to_json`; ValueError naming the bad field otherwise."""
        if not isinstance(value, Mapping):
            raise ValueError("a profile must be a JSON object")
        version = value.get("version", PROFILE_FORMAT)
        if not isinstance(version, int) or version > PROFILE_FORMAT:
            raise ValueError(f"profile format {version!r} is newer than this Inspector understands; upgrade it")
        name = _field(value, "name", str)
        endpoint = _field(value, "endpoint", str)
        headers: list[tuple[str, str]] = []
        raw_headers = value.get("headers", [])
        if not isinstance(raw_headers, list):
            raise ValueError(f"profile {name!r}: headers must be a list")
        for h in raw_headers:
            if not (isinstance(h, Mapping) and isinstance(h.get("name"), str) and isinstance(h.get("value"), str)):
                raise ValueError(f'profile {name!r}: each header must be {{"name": ..., "value": ...}}')
            headers.append((h["name"], h["value"]))
        secret_env = value.get("secret_env")
        if secret_env is not None and not isinstance(secret_env, str):
            raise ValueError(f"profile {name!r}: secret_env must be a string")
        subprotocol = value.get("subprotocol", "auto")
        if subprotocol not in SUBPROTOCOLS:
            raise ValueError(f"profile {name!r}: unknown subprotocol {subprotocol!r}")
        server_timezone = value.get("server_timezone")
        if server_timezone is not None and not isinstance(server_timezone, str):
            raise ValueError(f"profile {name!r}: server_timezone must be a string")
        return cls.from_endpoint(
            name,
            endpoint,
            headers=headers,
            secret_env=secret_env,
            secret_header=_field(value, "secret_header", str, ADMIN_SECRET_HEADER),
            subprotocol=cast(Subprotocol, subprotocol),
            verify_tls=_field(value, "verify_tls", bool, True),
            has_secret=_field(value, "has_secret", bool, False),
            server_timezone=server_timezone,
        )


_T = TypeVar("_T")


def _field(value: Mapping[str, Any], key: str, kind: type[_T], default: _T | None = None) -> _T:
    got = value.get(key, default)
    if not isinstance(got, kind):
        raise ValueError(f"profile field {key!r} must be a {kind.__name__}, not {got!r}")
    return got
