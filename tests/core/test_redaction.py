"""Redaction: the allow-list of headers kept in clear, URL credentials, free text and exception records."""

from __future__ import annotations

import json

import pytest

from inspector.core.redaction import (
    REDACTED,
    is_clear_header,
    redact_headers,
    redact_logged_request,
    redact_logged_response,
    redact_text,
    redact_trigger_config,
    redact_url,
)


@pytest.mark.parametrize("name", ["x-functions-key", "X-Hub-Signature", "x-api_key", "X-Tenant", "Set-Cookie"])
def test_every_header_not_on_the_allow_list_is_redacted(name: str) -> None:
    headers = [{"name": name, "value": "v4lue"}, {"name": "Content-Type", "value": "application/json"}]
    assert redact_headers(headers) == [{"name": name, "value": REDACTED}, headers[1]]
    assert not is_clear_header(name)


@pytest.mark.parametrize("name", ["content-type", "User-Agent", "traceparent", "x-b3-traceid", "x-hasura-role"])
def test_the_allow_list_stays_in_clear(name: str) -> None:
    headers = [{"name": name, "value": "v"}]
    assert redact_headers(headers) is headers


def test_value_from_env_names_stay_and_admin_secret_only_mode() -> None:
    headers = [{"name": "X-Key", "value_from_env": "KEY_VAR"}, {"name": "X-Tenant", "value": "acme"}]
    assert redact_headers(headers)[0] == headers[0]
    mixed = [{"name": "x-hasura-admin-secret", "value": "s"}, {"name": "X-Tenant", "value": "acme"}]
    assert redact_headers(mixed, only_admin_secret=True) == [
        {"name": "x-hasura-admin-secret", "value": REDACTED},
        mixed[1],
    ]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://bot:pa55@Hooks.example.com/h?code=abc&x=1#f", "https://hooks.example.com/h?code=redacted&x=redacted"),
        ("http://localhost:8081/validate-order", "http://localhost:8081/validate-order"),
        ("wss://u:p@[::1]:9/v1/graphql", "wss://[::1]:9/v1/graphql"),
        ("{{BASE_URL}}/h?sig=abc", "{{BASE_URL}}/h?sig=redacted"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_text_finds_credentials_in_error_messages() -> None:
    text = (
        'HttpExceptionRequest Request { host = "h.example.com" queryString = "?code=c0de" '
        'requestHeaders = [("x-functions-key","fk1"),("Content-Type","application/json")] } '
        "ConnectionFailure to https://u:pw@h.example.com/x?sig=s1g and admin:hunter2@db.example.com"
    )
    out = redact_text(text)
    for secret in ("c0de", "fk1", "pw@", "s1g", "hunter2"):
        assert secret not in out
    assert "application/json" in out and "h.example.com" in out
    assert redact_text("nothing here") == "nothing here"


def test_exception_records_lose_their_url_credentials_but_handler_bodies_stay() -> None:
    exception = json.dumps(
        {"type": "http_exception", "message": "boom", "request": {"url": "http://a:b@h/x?code=1", "method": "POST"}}
    )
    response = {"type": "client_error", "data": {"message": exception}, "version": "2"}
    out = redact_logged_response(response)
    assert "a:b" not in json.dumps(out) and "code=1" not in json.dumps(out)
    body = {"type": "client_error", "data": {"message": "see http://h/x?token=t"}, "version": "2"}
    assert redact_logged_response(body) is body  # a handler's body is kept as answered...
    assert "token=t" not in json.dumps(redact_logged_response(body, bodies=True))  # ...unless exported with --redact


def test_logged_request_and_trigger_config() -> None:
    request = {"payload": {}, "headers": [{"name": "x-functions-key", "value": "k"}], "version": "2"}
    assert redact_logged_request(request)["headers"][0]["value"] == REDACTED
    config = {"name": "t", "webhook": "https://u:p@h/x?code=c", "headers": [{"name": "X-Tenant", "value": "acme"}]}
    out = redact_trigger_config(config)
    assert out["webhook"] == "https://h/x?code=redacted" and out["headers"][0]["value"] == REDACTED
