"""Copy as cURL: one captured invocation's request as a shell command that sends it again.

Owns turning the request Hasura logged for an invocation (`{"payload": <webhook body>, "headers": [{"name", "value"}],
"version": "2"}`: `server/src-lib/Hasura/Eventing/HTTP.hs`, `mkRequest`/`decodeHeader`) and the trigger's webhook
into a `curl` command line, every argument shell-quoted. Used by the detail pane's attempts table
(`qt/detail/attempts_menu`).

Captures keep header values redacted (`inspector.core.redaction`): a redacted value is not sent as `<redacted>` but as a
shell variable named after the header (`X-Webhook-Secret` → `$X_WEBHOOK_SECRET`), and a header Hasura reads from the
environment (`value_from_env`) as that variable, so the command runs once they are exported. A comment line at the top
says so. Pure: no I/O.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from inspector.core.redaction import REDACTED

REDACTION_NOTE = (
    "# Header values in captures are redacted: each redacted one is sent as a shell variable named after the header "
    "(set it first)."
)
"""The comment line every copied command starts with: the capture never held the secrets."""


@dataclass(frozen=True)
class CurlCommand:
    """A command and what the user must supply before running it."""

    text: str
    """The whole text to copy: comment lines, then the command (continued over lines with backslashes)."""
    variables: tuple[str, ...]
    """Shell variables the command reads (redacted headers, `value_from_env`, a webhook from the environment)."""


def _variable(name: str) -> str:
    """A shell variable name for a header or environment name (`X-Webhook-Secret` → `X_WEBHOOK_SECRET`)."""
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", name).upper().strip("_") or "VALUE"
    return f"_{cleaned}" if cleaned[0].isdigit() else cleaned


def _expanding(prefix: str, variable: str) -> str:
    """`prefix` then `${variable}` in double quotes, so the shell expands the variable and nothing in `prefix`."""
    return '"' + re.sub(r'(["\\`$])', r"\\\1", prefix) + "${" + variable + '}"'


def _loads(value: Any) -> Any:
    if isinstance(value, str | bytes):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def curl_command(
    request: Any,
    webhook: str | None = None,
    *,
    webhook_from_env: str | None = None,
    comment: Sequence[str] = (),
) -> CurlCommand:
    """The `curl` command that sends `request` (an invocation's stored `request`, JSON text or parsed) again.

    `webhook` is the trigger's URL from the capture's trigger snapshot (its query values already redacted there);
    `webhook_from_env` the environment variable Hasura reads it from instead. Neither: `$WEBHOOK_URL`. `comment`
    lines (without `#`) follow the redaction note."""
    parsed = _loads(request)
    record: Mapping[str, Any] = parsed if isinstance(parsed, Mapping) else {}
    variables: list[str] = []
    lines = [REDACTION_NOTE, *(f"# {line}" for line in comment)]

    if webhook_from_env:
        variable = _variable(webhook_from_env)
        url = _expanding("", variable)
        variables.append(variable)
    elif webhook:
        url = shlex.quote(webhook)
    else:
        url = '"${WEBHOOK_URL}"'
        variables.append("WEBHOOK_URL")
        lines.append("# The capture holds no webhook for this trigger: set WEBHOOK_URL to the handler's URL.")

    arguments = ["curl", "-X", "POST", url]
    headers = record.get("headers")
    for header in headers if isinstance(headers, list) else ():
        if not isinstance(header, Mapping) or not isinstance(header.get("name"), str):
            continue
        name = str(header["name"])
        value = header.get("value")
        if isinstance(header.get("value_from_env"), str):
            variable = _variable(str(header["value_from_env"]))
        elif value == REDACTED or not isinstance(value, str):
            variable = _variable(name)
        else:
            arguments += ["-H", shlex.quote(f"{name}: {value}")]
            continue
        if variable not in variables:
            variables.append(variable)
        arguments += ["-H", _expanding(f"{name}: ", variable)]
    if "payload" in record:
        body = record["payload"]
        text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        arguments += ["--data-raw", shlex.quote(text)]
    command = " ".join(arguments[:4])
    for i in range(4, len(arguments), 2):
        command += f" \\\n  {arguments[i]} {arguments[i + 1]}"
    return CurlCommand("\n".join([*lines, command]) + "\n", tuple(variables))


__all__ = ["REDACTION_NOTE", "CurlCommand", "curl_command"]
