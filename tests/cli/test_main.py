"""The `inspector` command line as a user types it: unknown commands, exit codes defined once, and `--header` values
reaching the backend exactly as given (a tiny server of our own records what it got)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

from aiohttp import web

from inspector.cli import COMMANDS, build_parser, unknown_command
from inspector.cli.exit_codes import ExitCode

ROOT = Path(__file__).resolve().parents[2]


def inspector(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_an_unknown_command_is_a_usage_error_with_a_suggestion(tmp_path: Path) -> None:
    result = inspector("captuer")
    assert result.returncode == ExitCode.USAGE
    assert result.stderr.strip() == "inspector: unknown command 'captuer' (did you mean 'capture'?)"
    result = inspector("replya", "--help")  # not the main help with exit 0
    assert result.returncode == ExitCode.USAGE and "did you mean 'replay'" in result.stderr and not result.stdout
    assert "commands: sandbox, capture" in unknown_command("zzz")


def test_every_command_module_has_add_parser_and_run() -> None:
    parser = build_parser()
    for name in COMMANDS:
        assert parser.parse_args([name, *_required(name)]).command == name


def _required(name: str) -> list[str]:
    return {
        "capture": ["--out", "x"],
        "export": ["f"],
        "stats": ["f"],
        "import": ["f", "--out", "x"],
        "replay": ["f"],
        "captures": ["postgresql://u@h/db"],
        "push": ["f", "postgresql://u@h/db?capture=c"],
        "pull": ["postgresql://u@h/db?capture=c", "f"],
    }.get(name, [])


def test_exit_codes_are_defined_once() -> None:
    """Only `inspector/cli/exit_codes.py` gives exit statuses names (they were defined five times)."""
    pattern = re.compile(r"^\s*EXIT_[A-Z_]+\s*(,|=)", re.M)
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "inspector").rglob("*.py")
        if pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_both_commands_that_talk_to_a_backend_share_the_backend_options() -> None:
    parser = build_parser()
    backend = ["--endpoint", "http://h", "--profile", "p", "--project", "d", "--admin-secret-env", "V"]
    backend += ["--header", "a: b", "--subprotocol", "graphql-ws", "--insecure"]
    for command in (["capture", "--out", "x"], ["replay", "f"]):
        args = parser.parse_args([*command, *backend])
        assert (args.endpoint, args.profile, args.project, args.admin_secret_env, args.header) == (
            "http://h",
            "p",
            "d",
            "V",
            ["a: b"],
        )


async def test_capture_sends_header_values_as_given_beside_the_admin_secret(tmp_path: Path) -> None:
    """Issue 12.3: with `--admin-secret-env` and `--header 'Authorization: Bearer X'` the backend got
    `Authorization: <admin secret>` and neither the token nor `x-hasura-admin-secret`."""
    seen: list[tuple[str, dict[str, str]]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append((request.path, dict(request.headers)))
        return web.json_response({"code": "access-denied", "error": "no", "path": "$"}, status=401)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "inspector",
            "capture",
            "--endpoint",
            f"http://127.0.0.1:{port}",
            "--admin-secret-env",
            "MY_ADMIN_SECRET",
            "--header",
            "Authorization: Bearer X",
            "--header",
            "x-csrf-token: v",
            "--out",
            str(tmp_path / "c.inspector"),
            "--duration",
            "5",
            env={**os.environ, "MY_ADMIN_SECRET": "adm1n-s3cret"},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        await runner.cleanup()
    assert proc.returncode == ExitCode.CONNECTION, err.decode()
    calls = [headers for path, headers in seen if path != "/v1/version"]  # (the version probe sends no credentials)
    assert calls, f"the capture called nothing but {seen}"
    for headers in calls:
        lower = {k.lower(): v for k, v in headers.items()}
        assert lower["authorization"] == "Bearer X"
        assert lower["x-csrf-token"] == "v"
        assert lower["x-hasura-admin-secret"] == "adm1n-s3cret"
    assert b"adm1n-s3cret" not in err
