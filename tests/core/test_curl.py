"""Copy as cURL (`core.curl`): the command a shell runs sends the request Hasura logged, redacted header values and
`value_from_env` headers as shell variables, every argument quoted."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from inspector.core.curl import REDACTION_NOTE, curl_command
from inspector.core.redaction import REDACTED

REQUEST = {
    "payload": {"event": {"data": {"new": {"note": 'it\'s "quoted" $HOME `uname` \\ ☕'}}}, "id": "e1"},
    "headers": [
        {"name": "Content-Type", "value": "application/json"},
        {"name": "X-Webhook-Secret", "value": REDACTED},
        {"name": "X-Env-Token", "value_from_env": "HANDLER_TOKEN"},
    ],
    "version": "2",
}


def _arguments(text: str, env: dict[str, str]) -> list[str]:
    """The arguments bash passes to curl for `text` (curl replaced by a function that prints them)."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    script = "curl() { printf '%s\\0' \"$@\"; }\n" + text
    done = subprocess.run([bash, "-c", script], capture_output=True, env=env, check=True)
    return done.stdout.decode().split("\0")[:-1]


def test_the_command_sends_the_logged_body_and_headers_to_the_webhook() -> None:
    command = curl_command(json.dumps(REQUEST), "http://localhost:8081/validate-order", comment=["attempt 2"])
    assert command.text.startswith(REDACTION_NOTE + "\n# attempt 2\n")
    assert command.variables == ("X_WEBHOOK_SECRET", "HANDLER_TOKEN")
    args = _arguments(command.text, {"X_WEBHOOK_SECRET": "s3cret", "HANDLER_TOKEN": "tok"})
    assert args[:3] == ["-X", "POST", "http://localhost:8081/validate-order"]
    headers = [args[i + 1] for i, a in enumerate(args) if a == "-H"]
    assert headers == ["Content-Type: application/json", "X-Webhook-Secret: s3cret", "X-Env-Token: tok"]
    body = args[args.index("--data-raw") + 1]
    assert json.loads(body) == REQUEST["payload"]  # $HOME, backquotes and quotes reach curl untouched
    assert REDACTED not in command.text


def test_a_webhook_from_the_environment_or_unknown_is_a_variable() -> None:
    from_env = curl_command(REQUEST, None, webhook_from_env="APPROVAL_URL")
    assert "APPROVAL_URL" in from_env.variables
    assert _arguments(from_env.text, {"APPROVAL_URL": "http://h/x"})[2] == "http://h/x"
    unknown = curl_command(REQUEST)
    assert "WEBHOOK_URL" in unknown.variables and "set WEBHOOK_URL" in unknown.text


def test_a_request_that_is_not_json_still_gives_a_command() -> None:
    command = curl_command("not json", "http://h/")
    assert _arguments(command.text, {})[:3] == ["-X", "POST", "http://h/"]
