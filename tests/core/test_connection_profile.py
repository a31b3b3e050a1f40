"""Connection profiles: endpoint forms and the URLs derived from them, redaction, headers and the secret path."""

from __future__ import annotations

import json
from typing import Any

import pytest

from inspector.core.connection_profile import (
    ConnectionProfile,
    parse_header,
    split_secret_headers,
)
from inspector.core.redaction import looks_like_credential, redact_url

SECRET = "s3cr3t-admin-value"


def profile(endpoint: str, **fields: Any) -> ConnectionProfile:
    return ConnectionProfile.from_endpoint("p", endpoint, **fields)


# endpoint as given -> graphql http, graphql ws, metadata, /v2/query, version, healthz
URL_CASES = [
    (
        "http://localhost:8080",
        "http://localhost:8080/v1/graphql",
        "ws://localhost:8080/v1/graphql",
        "http://localhost:8080/v1/metadata",
        "http://localhost:8080/v2/query",
        "http://localhost:8080/v1/version",
        "http://localhost:8080/healthz",
    ),
    (
        "http://localhost:8080/v1/graphql",
        "http://localhost:8080/v1/graphql",
        "ws://localhost:8080/v1/graphql",
        "http://localhost:8080/v1/metadata",
        "http://localhost:8080/v2/query",
        "http://localhost:8080/v1/version",
        "http://localhost:8080/healthz",
    ),
    (
        "ws://10.0.0.5:8080/v1/graphql",
        "http://10.0.0.5:8080/v1/graphql",
        "ws://10.0.0.5:8080/v1/graphql",
        "http://10.0.0.5:8080/v1/metadata",
        "http://10.0.0.5:8080/v2/query",
        "http://10.0.0.5:8080/v1/version",
        "http://10.0.0.5:8080/healthz",
    ),
    (
        "wss://app.example.com/v1/graphql",
        "https://app.example.com/v1/graphql",
        "wss://app.example.com/v1/graphql",
        "https://app.example.com/v1/metadata",
        "https://app.example.com/v2/query",
        "https://app.example.com/v1/version",
        "https://app.example.com/healthz",
    ),
    (
        "https://app.example.com",
        "https://app.example.com/v1/graphql",
        "wss://app.example.com/v1/graphql",
        "https://app.example.com/v1/metadata",
        "https://app.example.com/v2/query",
        "https://app.example.com/v1/version",
        "https://app.example.com/healthz",
    ),
    (  # a path prefix (the Hasura CLI's `endpoint` behind a proxy)
        "https://example.com/hasura",
        "https://example.com/hasura/v1/graphql",
        "wss://example.com/hasura/v1/graphql",
        "https://example.com/hasura/v1/metadata",
        "https://example.com/hasura/v2/query",
        "https://example.com/hasura/v1/version",
        "https://example.com/hasura/healthz",
    ),
    (
        "https://example.com/hasura/v1/graphql/",
        "https://example.com/hasura/v1/graphql",
        "wss://example.com/hasura/v1/graphql",
        "https://example.com/hasura/v1/metadata",
        "https://example.com/hasura/v2/query",
        "https://example.com/hasura/v1/version",
        "https://example.com/hasura/healthz",
    ),
    (
        "http://[::1]:8080",
        "http://[::1]:8080/v1/graphql",
        "ws://[::1]:8080/v1/graphql",
        "http://[::1]:8080/v1/metadata",
        "http://[::1]:8080/v2/query",
        "http://[::1]:8080/v1/version",
        "http://[::1]:8080/healthz",
    ),
    (
        "ws://[::1]:8080/v1/graphql",
        "http://[::1]:8080/v1/graphql",
        "ws://[::1]:8080/v1/graphql",
        "http://[::1]:8080/v1/metadata",
        "http://[::1]:8080/v2/query",
        "http://[::1]:8080/v1/version",
        "http://[::1]:8080/healthz",
    ),
    (  # the console URL pasted from the browser
        "http://localhost:8080/console/data/default/schema/public",
        "http://localhost:8080/v1/graphql",
        "ws://localhost:8080/v1/graphql",
        "http://localhost:8080/v1/metadata",
        "http://localhost:8080/v2/query",
        "http://localhost:8080/v1/version",
        "http://localhost:8080/healthz",
    ),
    (  # the metadata URL pasted
        "http://localhost:8080/v1/metadata",
        "http://localhost:8080/v1/graphql",
        "ws://localhost:8080/v1/graphql",
        "http://localhost:8080/v1/metadata",
        "http://localhost:8080/v2/query",
        "http://localhost:8080/v1/version",
        "http://localhost:8080/healthz",
    ),
    (  # the Relay endpoint: GraphQL there, the other APIs at the same Hasura
        "https://example.com/v1beta1/relay",
        "https://example.com/v1beta1/relay",
        "wss://example.com/v1beta1/relay",
        "https://example.com/v1/metadata",
        "https://example.com/v2/query",
        "https://example.com/v1/version",
        "https://example.com/healthz",
    ),
    (  # a GraphQL path of a proxy's own: used as given, the other APIs at the origin
        "https://example.com/api/graphql",
        "https://example.com/api/graphql",
        "wss://example.com/api/graphql",
        "https://example.com/v1/metadata",
        "https://example.com/v2/query",
        "https://example.com/v1/version",
        "https://example.com/healthz",
    ),
]


@pytest.mark.parametrize(("endpoint", "http", "ws", "metadata", "query_v2", "version", "healthz"), URL_CASES)
def test_urls_derived_from_each_endpoint_form(
    endpoint: str, http: str, ws: str, metadata: str, query_v2: str, version: str, healthz: str
) -> None:
    p = profile(endpoint)
    assert p.graphql_http_url == http
    assert p.graphql_ws_url == ws
    assert p.metadata_url == metadata
    assert p.query_v2_url == query_v2
    assert p.version_url == version
    assert p.healthz_url == healthz


@pytest.mark.parametrize(
    ("given", "normal"),
    [
        ("localhost:8080", "http://localhost:8080"),
        ("  HTTP://LocalHost:8080/  ", "http://localhost:8080"),
        ("WSS://Example.COM/v1/graphql/", "wss://example.com/v1/graphql"),
        ("http://[::1]:8080/", "http://[::1]:8080"),
        ("https://example.com:443/hasura/", "https://example.com:443/hasura"),
    ],
)
def test_from_endpoint_normalises(given: str, normal: str) -> None:
    assert profile(given).endpoint == normal


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ("", "empty"),
        ("ftp://example.com", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("http://", "no host"),
        ("http://example.com:99999", "port"),
        ("http://example.com:abc", "port"),
        ("http://example.com/v1/graphql#frag", "fragment"),
    ],
)
def test_bad_endpoints_are_refused(endpoint: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        profile(endpoint)


def test_error_about_an_endpoint_does_not_echo_its_credentials() -> None:
    with pytest.raises(ValueError, match="port") as info:
        profile("http://admin:hunter2@example.com:99999/v1/graphql?token=abc")
    assert "hunter2" not in str(info.value) and "abc" not in str(info.value)


def test_redacted_endpoint_drops_userinfo_and_query() -> None:
    p = profile("http://user:pw@Example.com:8080/v1/graphql?token=x")
    assert p.redacted_endpoint == "http://example.com:8080/v1/graphql?token=redacted"
    assert p.endpoint_has_credentials
    assert not profile("http://example.com:8080/v1/graphql").endpoint_has_credentials
    # The derived URLs keep them (a proxy may need them); redact_url makes any of them safe to log.
    assert p.metadata_url == "http://user:pw@example.com:8080/v1/metadata?token=x"
    assert redact_url(p.metadata_url) == "http://example.com:8080/v1/metadata?token=redacted"
    assert redact_url("wss://u:p@[::1]:9/v1/graphql?a=b#c") == "wss://[::1]:9/v1/graphql?a=redacted"


def test_to_json_saves_the_endpoint_redacted() -> None:
    text = json.dumps(profile("https://user:pw@example.com/v1/graphql?token=tok123").to_json())
    assert "pw" not in text and "tok123" not in text and "user" not in text
    assert json.loads(text)["endpoint"] == "https://example.com/v1/graphql"


@pytest.mark.parametrize(
    ("endpoint", "loopback"),
    [
        ("http://localhost:8080", True),
        ("http://LOCALHOST", True),
        ("http://api.localhost:8080", False),  # resolved through DNS: only `localhost` itself is this machine
        ("http://127.1:8080", True),
        ("http://0.0.0.0:8080", False),
        ("http://127.0.0.1:8080", True),
        ("http://127.45.6.7", True),
        ("http://[::1]:8080", True),
        ("ws://[::ffff:127.0.0.1]:8080/v1/graphql", True),
        ("http://128.0.0.1", False),
        ("http://10.0.0.1", False),
        ("http://[::2]", False),
        ("https://localhost.example.com", False),
        ("https://example.com", False),
    ],
)
def test_is_loopback(endpoint: str, loopback: bool) -> None:
    assert profile(endpoint).is_loopback is loopback


def test_request_headers_and_websocket_payload() -> None:
    p = profile("http://localhost:8080", headers=[("x-hasura-role", "user"), ("x-hasura-user-id", "7")])
    assert p.request_headers(None) == {"x-hasura-role": "user", "x-hasura-user-id": "7"}
    assert p.request_headers(SECRET) == {
        "x-hasura-role": "user",
        "x-hasura-user-id": "7",
        "x-hasura-admin-secret": SECRET,
    }
    assert p.websocket_init_payload(SECRET) == {"headers": p.request_headers(SECRET)}
    assert p.websocket_init_payload(None) == {"headers": {"x-hasura-role": "user", "x-hasura-user-id": "7"}}


def test_bearer_token_goes_whole_into_authorization() -> None:
    p = profile("https://example.com", secret_header="Authorization")
    assert p.request_headers("Bearer abc.def") == {"Authorization": "Bearer abc.def"}
    assert p.websocket_init_payload("Bearer abc.def") == {"headers": {"Authorization": "Bearer abc.def"}}


def test_subprotocols_for_gql() -> None:
    assert profile("http://h").subprotocols() is None
    assert profile("http://h", subprotocol="graphql-ws").subprotocols() == ["graphql-ws"]
    assert profile("http://h", subprotocol="graphql-transport-ws").subprotocols() == ["graphql-transport-ws"]
    with pytest.raises(ValueError, match="subprotocol"):
        profile("http://h", subprotocol="apollo")


def test_tls_verification_is_on_by_default() -> None:
    assert profile("https://example.com").verify_tls is True
    assert ConnectionProfile("p", "https://example.com").verify_tls is True


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("x-hasura-role: user", ("x-hasura-role", "user")),
        ("  X-Hasura-Role:admin  ", ("X-Hasura-Role", "admin")),
        ("Authorization: Bearer a:b:c", ("Authorization", "Bearer a:b:c")),
        ('x-trace: {"a": 1}', ("x-trace", '{"a": 1}')),
    ],
)
def test_parse_header(text: str, parsed: tuple[str, str]) -> None:
    assert parse_header(text) == parsed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x-hasura-role user", "expected 'Name: value'"),
        ("", "expected 'Name: value'"),
        (": user", "name before ':' is empty"),
        ("x hasura role: user", "invalid header name"),
        ("x-hasura-role(1): user", "invalid header name"),
        ("x-hasura-role:", "no value"),
        ("x-hasura-role:   ", "no value"),
        ("x-a: b\r\nx-injected: 1", "line break"),
    ],
)
def test_parse_header_refuses_garbage(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_header(text)


@pytest.mark.parametrize(
    "name",
    ["x-hasura-admin-secret", "X-Hasura-Admin-Secret", "authorization", "x-hasura-access-key", "Cookie", "x-api-key"],
)
def test_secret_headers_are_recognised(name: str) -> None:
    assert looks_like_credential(name)


@pytest.mark.parametrize("name", ["x-hasura-role", "x-hasura-user-id", "content-type", "x-request-id"])
def test_plain_headers_are_not_secret(name: str) -> None:
    assert not looks_like_credential(name)


def test_split_secret_headers_routes_the_secret_away() -> None:
    parsed = [parse_header(h) for h in ("x-hasura-role: user", f"X-Hasura-Admin-Secret: {SECRET}", "x-b: 2")]
    plain, secret, header = split_secret_headers(parsed)
    assert plain == (("x-hasura-role", "user"), ("x-b", "2"))
    assert (secret, header) == (SECRET, "X-Hasura-Admin-Secret")

    plain, secret, header = split_secret_headers([("Authorization", "Bearer tok"), ("x-hasura-role", "user")])
    assert plain == (("x-hasura-role", "user"),) and (secret, header) == ("Bearer tok", "Authorization")

    assert split_secret_headers([("x-hasura-role", "user")]) == ((("x-hasura-role", "user"),), None, None)


def test_split_secret_headers_later_plain_header_wins() -> None:
    plain, _, _ = split_secret_headers([("x-hasura-role", "user"), ("X-Hasura-Role", "admin")])
    assert plain == (("X-Hasura-Role", "admin"),)


def test_split_secret_headers_refuses_two_secrets() -> None:
    with pytest.raises(ValueError, match="one secret"):
        split_secret_headers([("x-hasura-admin-secret", "a"), ("cookie", "b")])


@pytest.mark.parametrize(
    "header", [("x-hasura-admin-secret", SECRET), ("Authorization", f"Bearer {SECRET}"), ("cookie", SECRET)]
)
def test_a_profile_never_keeps_a_secret_header(header: tuple[str, str]) -> None:
    with pytest.raises(ValueError, match="credential"):
        profile("http://localhost:8080", headers=[header])
    with pytest.raises(ValueError, match="credential"):  # a hand-edited profiles.json
        ConnectionProfile.from_json(
            {"name": "p", "endpoint": "http://h", "headers": [{"name": header[0], "value": header[1]}]}
        )


def test_profile_json_built_from_headers_never_contains_the_secret() -> None:
    plain, secret, header = split_secret_headers(
        [parse_header("x-hasura-role: user"), parse_header(f"Authorization: Bearer {SECRET}")]
    )
    assert secret is not None and header is not None
    p = profile("https://example.com", headers=plain, secret_header=header, has_secret=True)
    text = json.dumps(p.to_json())
    assert SECRET not in text
    assert p.request_headers(secret)["Authorization"] == f"Bearer {SECRET}"


def test_json_round_trip() -> None:
    p = profile(
        "wss://example.com/hasura/v1/graphql",
        headers=[("x-hasura-role", "user")],
        secret_env="MY_HASURA_SECRET",
        secret_header="Authorization",
        subprotocol="graphql-ws",
        verify_tls=False,
        has_secret=True,
    )
    data = json.loads(json.dumps(p.to_json()))
    assert ConnectionProfile.from_json(data) == p
    assert set(data) == {
        "version",
        "name",
        "endpoint",
        "headers",
        "secret_env",
        "secret_header",
        "subprotocol",
        "verify_tls",
        "has_secret",
    }
    minimal = ConnectionProfile.from_json({"name": "m", "endpoint": "localhost:8080"})
    assert minimal == ConnectionProfile("m", "http://localhost:8080")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"endpoint": "http://h"}, "name"),
        ({"name": "p"}, "endpoint"),
        ({"name": "p", "endpoint": "http://h", "verify_tls": "no"}, "verify_tls"),
        ({"name": "p", "endpoint": "http://h", "subprotocol": "apollo"}, "subprotocol"),
        ({"name": "p", "endpoint": "http://h", "headers": {"a": "b"}}, "headers"),
        ({"name": "p", "endpoint": "http://h", "headers": [["a", "b"]]}, "header"),
        ({"name": "p", "endpoint": "http://h", "secret_env": "NOT A NAME"}, "environment variable"),
        ({"name": "p", "endpoint": "http://h", "version": 99}, "newer"),
        ({"name": "", "endpoint": "http://h"}, "profile name"),
    ],
)
def test_from_json_refuses_bad_profiles(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ConnectionProfile.from_json(data)


def test_extra_headers_are_sent_as_given_beside_the_secret_and_never_saved() -> None:
    p = profile(
        "http://localhost:8080",
        headers=[("x-hasura-role", "user")],
        extra_headers=[("Authorization", "Bearer tok"), ("x-csrf-token", "v"), ("X-Hasura-Role", "admin")],
    )
    assert p.request_headers(SECRET) == {
        "Authorization": "Bearer tok",
        "x-csrf-token": "v",
        "X-Hasura-Role": "admin",
        "x-hasura-admin-secret": SECRET,
    }
    assert p.websocket_init_payload(SECRET)["headers"]["Authorization"] == "Bearer tok"
    text = json.dumps(p.to_json())
    assert "tok" not in text and "csrf" not in text and "tok" not in repr(p)


def test_an_extra_header_named_as_the_secret_header_is_sent_instead_of_the_secret() -> None:
    p = profile("http://localhost:8080", extra_headers=[("X-Hasura-Admin-Secret", "given")])
    assert p.request_headers(SECRET) == {"X-Hasura-Admin-Secret": "given"}
