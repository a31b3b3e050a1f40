"""Options shared by several commands: the backend option group and argument types.

`add_backend_options` adds the one group every command that talks to a backend uses (`capture`, `replay`):
`--endpoint`, `--profile`, `--project`, `--admin-secret-env`, `--header`, `--subprotocol`, `--insecure`,
`--server-timezone`.
`resolve_backend` turns them into a profile and secret through `inspector.services.profiles.backend_from_options`
(and so `resolve_secret`), printing its warnings (an insecure keyring) as one line each on stderr. The secret is
never printed, logged or written.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import TYPE_CHECKING, TextIO

from inspector.cli.common import UsageError
from inspector.core.events import valid_timezone

if TYPE_CHECKING:
    from inspector.services.profiles import BackendOptions, ResolvedBackend

SUBPROTOCOL_CHOICES = ("auto", "graphql-transport-ws", "graphql-ws")


def rate(text: str) -> float:
    """A probability: a number from 0 to 1."""
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, not {text}")
    return value


def port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {text}")
    return value


def timezone(text: str) -> str:
    """An IANA time zone name this machine knows (`Asia/Kolkata`, `UTC`)."""
    try:
        return valid_timezone(text.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_backend_options(parser: argparse.ArgumentParser, title: str = "the backend") -> None:
    """The backend option group (see the module docstring)."""
    group = parser.add_argument_group(
        title,
        "The endpoint and admin secret default to HASURA_GRAPHQL_ENDPOINT and HASURA_GRAPHQL_ADMIN_SECRET, as the "
        "Hasura CLI does.",
    )
    group.add_argument(
        "--endpoint",
        metavar="URL",
        help="the Hasura (http(s) or ws(s); default: the profile's or project's, else env HASURA_GRAPHQL_ENDPOINT)",
    )
    group.add_argument("--profile", metavar="NAME", help="a saved connection profile (its secret: the keyring)")
    group.add_argument("--project", metavar="DIR", help="a Hasura project directory (reads its config.yaml and .env)")
    group.add_argument(
        "--admin-secret-env",
        metavar="VAR",
        help="read the admin secret from this environment variable (default HASURA_GRAPHQL_ADMIN_SECRET)",
    )
    group.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'Name: value'",
        help="send this header exactly as given (repeatable), beside the admin secret, e.g. 'x-hasura-role: user' "
        "or 'Authorization: Bearer ...'",
    )
    group.add_argument(
        "--subprotocol", choices=SUBPROTOCOL_CHOICES, default=None, help="GraphQL over WebSocket (default auto)"
    )
    group.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    group.add_argument(
        "--server-timezone",
        type=timezone,
        metavar="ZONE",
        help="the database's time zone (IANA, e.g. Asia/Kolkata), which Hasura's event times are wall times in "
        "(default: the profile's, else asked through run_sql, else UTC)",
    )


def backend_options(args: argparse.Namespace, endpoint: str | None = None) -> BackendOptions:
    """The parsed backend options; `endpoint` (e.g. `replay --via-backend URL`) overrides `--endpoint`."""
    from inspector.services.profiles import BackendOptions

    return BackendOptions(
        endpoint=endpoint or args.endpoint,
        profile=args.profile,
        project=args.project,
        admin_secret_env=args.admin_secret_env,
        headers=tuple(args.header),
        subprotocol=args.subprotocol,
        insecure=args.insecure,
        server_timezone=getattr(args, "server_timezone", None),
    )


def resolve_backend(
    command: str, args: argparse.Namespace, env: Mapping[str, str], err: TextIO, endpoint: str | None = None
) -> ResolvedBackend:
    """The profile and secret the backend options name; `UsageError` with the reason otherwise. Warnings (an
    insecure keyring) are printed on `err` as `inspector <command>: warning: ...`."""
    from inspector.services.profiles import ProfileError, backend_from_options

    try:
        resolved = backend_from_options(backend_options(args, endpoint), env)
    except ProfileError as exc:
        raise UsageError(str(exc)) from exc
    for warning in resolved.warnings:
        print(f"inspector {command}: {warning}", file=err)
    return resolved
