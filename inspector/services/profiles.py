"""Where connection profiles and their secrets live, and the Hasura CLI conventions for finding a backend.

Owns `profiles.json` in the user's config directory (`ProfileStore`), secrets in the OS keyring (`SecretStore`,
with `NoKeyringError` saying what to do where no keyring exists), the order a secret is looked for at connection
time (`resolve_secret`), reading a backend from a Hasura CLI project's `config.yaml` or from
`HASURA_GRAPHQL_ENDPOINT` / `HASURA_GRAPHQL_ADMIN_SECRET`, and turning the command line's backend options
(`BackendOptions`: `--endpoint`, `--profile`, `--project`, `--admin-secret-env`, `--header`, `--subprotocol`,
`--insecure`) into one profile and its secret (`backend_from_options`). Used by the CLI and the window; the shape of
a profile and its URLs are `inspector.core.connection_profile`'s.

Keyrings that keep secrets in a plain file (`keyrings.alt`'s `PlaintextKeyring`: base64 in a file anyone who can read
the user's files can decode) are insecure: they are used (refusing would leave such a machine no place for a secret
but the environment), and `SecretStore.insecure_reason` with `insecure_keyring_warning` give the one line the CLI
prints on stderr whenever a secret is read from one (`backend_from_options`' warnings) and the window shows in its
status bar.

Secrets never reach a file written here: a profile has no secret field, and the secret goes to the keyring only.
GUI-free: no Qt.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keyring
import keyring.backends.chainer
import keyring.backends.fail
import keyring.backends.null
import platformdirs
import yaml
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

from inspector.core.connection_profile import ConnectionProfile, Subprotocol, parse_header
from inspector.core.redaction import ACCESS_KEY_HEADER, ADMIN_SECRET_HEADER, ADMIN_SECRET_HEADERS

KEYRING_SERVICE = "inspector"
"""The keyring service name; the username is the profile name."""

PROFILES_FILE = "profiles.json"
STORE_FORMAT = 1

ENV_ENDPOINT = "HASURA_GRAPHQL_ENDPOINT"
ENV_ADMIN_SECRET = "HASURA_GRAPHQL_ADMIN_SECRET"
ENV_ACCESS_KEY = "HASURA_GRAPHQL_ACCESS_KEY"
"""Hasura v1.0's name for the admin secret; the Hasura CLI still reads it when no admin secret is set."""
ENV_INSECURE_SKIP_TLS_VERIFY = "HASURA_GRAPHQL_INSECURE_SKIP_TLS_VERIFY"

HASURA_CLI_DEFAULT_ENDPOINT = "http://localhost:8080"
"""The Hasura CLI's endpoint when neither config.yaml nor the environment names one."""

NO_KEYRING_ADVICE = "put the secret in an environment variable and name it with --admin-secret-env VAR"


class ProfileError(Exception):
    """A profile file, Hasura project or secret source that cannot be used; the message says why and what to do."""


class NoKeyringError(ProfileError):
    """No usable OS keyring: no backend, a disabled one, or one that fails."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"no OS keyring is available here ({reason}); {NO_KEYRING_ADVICE}")
        self.reason = reason


_Profiles = list[ConnectionProfile]
"""(`ProfileStore.list` shadows the builtin inside the class body.)"""


class ProfileStore:
    """Profiles as JSON in `<user config dir>/inspector/profiles.json` (or `directory`, for tests).

    Every call reads the file afresh, and `save`/`delete` replace it atomically, so two Inspector processes see each
    other's changes. Deleting a profile does not delete its keyring secret: call `SecretStore.delete` too.
    """

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else Path(platformdirs.user_config_dir("inspector"))
        self.path = self.directory / PROFILES_FILE

    def list(self) -> _Profiles:
        """All profiles, in the order they were first saved."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ProfileError(f"cannot read {self.path}: {exc}") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProfileError(f"{self.path} is not valid JSON ({exc}); fix or remove it") from exc
        if not isinstance(data, dict) or not isinstance(data.get("profiles"), list):
            raise ProfileError(f'{self.path} is not a profiles file (expected {{"profiles": [...]}})')
        version = data.get("version", STORE_FORMAT)
        if not isinstance(version, int) or version > STORE_FORMAT:
            raise ProfileError(f"{self.path} has format {version!r}, newer than this Inspector understands; upgrade")
        profiles: _Profiles = []
        for i, item in enumerate(data["profiles"]):
            try:
                profiles.append(ConnectionProfile.from_json(item))
            except ValueError as exc:
                raise ProfileError(f"{self.path}: profile #{i + 1} is invalid: {exc}") from exc
        return profiles

    def get(self, name: str) -> ConnectionProfile | None:
        return next((p for p in self.list() if p.name == name), None)

    def save(self, profile: ConnectionProfile) -> None:
        """Add `profile`, or replace the one with its name in place."""
        profiles = self.list()
        for i, existing in enumerate(profiles):
            if existing.name == profile.name:
                profiles[i] = profile
                break
        else:
            profiles.append(profile)
        self._write(profiles)

    def delete(self, name: str) -> bool:
        """Remove the profile called `name`; False if there was none."""
        profiles = self.list()
        kept = [p for p in profiles if p.name != name]
        if len(kept) == len(profiles):
            return False
        self._write(kept)
        return True

    def _write(self, profiles: _Profiles) -> None:
        data = {"version": STORE_FORMAT, "profiles": [p.to_json() for p in profiles]}
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            # mkstemp creates the file readable by its owner only (0600): profiles are nobody else's business.
            fd, tmp = tempfile.mkstemp(prefix=".profiles-", suffix=".tmp", dir=self.directory)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(text)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise ProfileError(f"cannot write {self.path}: {exc}") from exc


def keyring_unusable_reason(backend: KeyringBackend) -> str | None:
    """Why `backend` cannot keep a secret (None if it can): keyring's fail or null backend, or an empty chainer."""
    if isinstance(backend, keyring.backends.fail.Keyring):
        return "keyring found no backend: no Secret Service, KWallet, macOS Keychain or Windows Credential Locker"
    if isinstance(backend, keyring.backends.null.Keyring):
        return "the keyring is disabled (null backend)"
    if isinstance(backend, keyring.backends.chainer.ChainerBackend) and not getattr(backend, "backends", None):
        return "keyring found no backend to chain"
    return None


def _backend_name(backend: object) -> str:
    return f"{type(backend).__module__}.{type(backend).__name__}"


def keyring_insecure_reason(backend: KeyringBackend) -> str | None:
    """Why `backend` keeps secrets where other programs of this user can read them (None if it does not): a
    `keyrings.alt` plain-text file (the secret base64-encoded, not encrypted). A chainer counts as its first (highest
    priority) backend, which is where `set_password` writes."""
    if isinstance(backend, keyring.backends.chainer.ChainerBackend):
        backends = list(getattr(backend, "backends", None) or [])
        return keyring_insecure_reason(backends[0]) if backends else None
    name = _backend_name(backend)
    if name.startswith("keyrings.alt.") and "plaintext" in type(backend).__name__.lower():
        path = getattr(backend, "file_path", None)
        where = f" ({path})" if isinstance(path, str) else ""
        return f"the keyring {name} keeps secrets base64-encoded in a plain file{where}, not encrypted"
    return None


def insecure_keyring_warning(reason: str) -> str:
    """The one-line warning shown when a secret was read from an insecure keyring."""
    return f"warning: {reason}; anyone who can read your files can read the secret. {NO_KEYRING_ADVICE} instead"


class SecretStore:
    """Profile secrets in the OS keyring: service `inspector`, username = the profile name.

    Uses `backend` if given, else whatever `keyring.get_keyring()` returns at each call (so `keyring.set_keyring`
    and the `PYTHON_KEYRING_BACKEND` variable apply). Every method raises `NoKeyringError` where no usable keyring
    exists or the keyring fails; its message tells the user to use an environment variable instead.
    """

    def __init__(self, service: str = KEYRING_SERVICE, backend: KeyringBackend | None = None) -> None:
        self.service = service
        self._fixed = backend

    def backend(self) -> KeyringBackend:
        """The keyring in use; NoKeyringError if it cannot keep secrets."""
        try:
            backend = self._fixed if self._fixed is not None else keyring.get_keyring()
        except Exception as exc:  # keyring's backend discovery can fail in many ways (D-Bus, config)
            raise NoKeyringError(f"keyring could not start: {type(exc).__name__}: {exc}") from exc
        reason = keyring_unusable_reason(backend)
        if reason is not None:
            raise NoKeyringError(reason)
        return backend

    def available(self) -> bool:
        """Whether a usable keyring backend exists (a locked or broken one may still fail on use)."""
        try:
            self.backend()
        except NoKeyringError:
            return False
        return True

    def insecure_reason(self) -> str | None:
        """Why the keyring in use is insecure (a plain file), or None; None too where there is no usable keyring."""
        try:
            return keyring_insecure_reason(self.backend())
        except NoKeyringError:
            return None

    def set(self, profile_name: str, secret: str) -> None:
        """Store the secret. An insecure keyring (`insecure_reason`) is used all the same: callers warn (the window
        in its status bar, the CLI on stderr), since refusing would leave no place for a secret at all there."""
        if not secret:
            raise ValueError("the secret is empty")
        backend = self.backend()
        try:
            backend.set_password(self.service, profile_name, secret)
        except Exception as exc:  # backends raise their own errors (KeyringLocked, D-Bus, OSError...)
            raise NoKeyringError(f"the keyring {_backend_name(backend)} could not store it: {exc}") from exc

    def get(self, profile_name: str) -> str | None:
        backend = self.backend()
        try:
            return backend.get_password(self.service, profile_name)
        except Exception as exc:
            raise NoKeyringError(f"the keyring {_backend_name(backend)} could not be read: {exc}") from exc

    def delete(self, profile_name: str) -> None:
        """Forget the profile's secret; nothing happens if there is none."""
        backend = self.backend()
        try:
            backend.delete_password(self.service, profile_name)
        except PasswordDeleteError:
            pass  # there was no secret under this name
        except Exception as exc:
            raise NoKeyringError(f"the keyring {_backend_name(backend)} could not delete it: {exc}") from exc


def _admin_secret_header(profile: ConnectionProfile) -> bool:
    return profile.secret_header.lower() in (ADMIN_SECRET_HEADER, ACCESS_KEY_HEADER)


def resolve_secret(
    profile: ConnectionProfile,
    secret_store: SecretStore | None,
    env: Mapping[str, str],
    prompt: Callable[[], str | None] | None = None,
) -> str | None:
    """The secret to connect with, looked for in order: the keyring (if `profile.has_secret`), the environment
    variable `profile.secret_env`, `HASURA_GRAPHQL_ADMIN_SECRET` (only when the secret goes in the admin-secret
    header, not for a bearer token), then `prompt()` (the CLI passes getpass on a TTY). Empty values count as unset.

    None when no source has one (an open Hasura needs none). If the profile's keyring secret could not be read
    because there is no usable keyring, and nothing else gave a secret, the `NoKeyringError` is raised so the user
    learns why and what to do.
    """
    keyring_error: NoKeyringError | None = None
    if profile.has_secret and secret_store is not None:
        try:
            secret = secret_store.get(profile.name)
        except NoKeyringError as exc:
            keyring_error = exc
        else:
            if secret:
                return secret
    if profile.secret_env and env.get(profile.secret_env):
        return env[profile.secret_env]
    if _admin_secret_header(profile) and env.get(ENV_ADMIN_SECRET):
        return env[ENV_ADMIN_SECRET]
    if prompt is not None:
        secret = prompt()
        if secret:
            return secret
    if keyring_error is not None:
        raise keyring_error
    return None


def _graphql_endpoint(base: str, graphql_path: str | None = None) -> str:
    """The Hasura CLI's `endpoint` is the server's base URL; a profile's endpoint names the GraphQL URL."""
    base = base.strip().rstrip("/")
    if base.endswith(("/v1/graphql", "/v1alpha1/graphql", "/v1beta1/relay")):
        return base
    return f"{base}/{(graphql_path or 'v1/graphql').strip('/')}"


def _parse_bool(value: object, what: str) -> bool:
    """A boolean as the Hasura CLI (Go's strconv.ParseBool) reads it."""
    if isinstance(value, bool):
        return value
    text = str(value).strip()
    if text in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False", ""):
        return False
    raise ProfileError(f"{what} must be true or false, not {text!r}")


def profile_from_environment(
    env: Mapping[str, str], name: str = "environment"
) -> tuple[ConnectionProfile, str | None] | None:
    """The backend named by `HASURA_GRAPHQL_ENDPOINT` (the Hasura CLI's variable: the server's base URL) and its
    secret from `HASURA_GRAPHQL_ADMIN_SECRET` (or the legacy `HASURA_GRAPHQL_ACCESS_KEY`); None if no endpoint is
    set. `HASURA_GRAPHQL_INSECURE_SKIP_TLS_VERIFY=true` turns TLS verification off, as in the CLI."""
    endpoint = env.get(ENV_ENDPOINT, "").strip()
    if not endpoint:
        return None
    verify = not _parse_bool(env.get(ENV_INSECURE_SKIP_TLS_VERIFY, ""), ENV_INSECURE_SKIP_TLS_VERIFY)
    try:
        profile = ConnectionProfile.from_endpoint(name, _graphql_endpoint(endpoint), verify_tls=verify)
    except ValueError as exc:
        raise ProfileError(f"{ENV_ENDPOINT}: {exc}") from exc
    return profile, env.get(ENV_ADMIN_SECRET) or env.get(ENV_ACCESS_KEY) or None


def _read_dotenv(path: Path) -> dict[str, str]:
    """`KEY=value` lines of a `.env` file as the Hasura CLI reads one (`export`, quotes and `#` comments allowed)."""
    out: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return out
    except OSError as exc:
        raise ProfileError(f"cannot read {path}: {exc}") from exc
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key = key.removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value[: value.index(" #")].rstrip()
        out[key] = value
    return out


def _find_config(path: Path) -> Path:
    if path.is_dir():
        for candidate in ("config.yaml", "config.yml"):
            if (path / candidate).is_file():
                return path / candidate
        raise ProfileError(f"{path} has no config.yaml: is it a Hasura project (made by `hasura init`)?")
    if not path.exists():
        raise ProfileError(f"{path} does not exist: give a Hasura project directory or its config.yaml")
    return path


def profile_from_hasura_project(
    path: str | Path,
    env: Mapping[str, str] | None = None,
    *,
    name: str | None = None,
    envfile: str | None = ".env",
) -> tuple[ConnectionProfile, str | None]:
    """A profile and its secret (or None) from a Hasura CLI project: `path` is the project directory or its
    `config.yaml`. Honours the CLI's precedence: environment (`env`, default `os.environ`) over the project's
    `envfile` (`.env` beside config.yaml, if present) over config.yaml over the default `http://localhost:8080`.

    config.yaml keys read: `endpoint` (the server's base URL, possibly with a path prefix), `admin_secret` (or
    `admin_secrets`, first one; legacy `access_key`), `insecure_skip_tls_verify`, `api_paths.graphql`. The profile is
    named after the project directory unless `name` is given. The returned secret is for the caller to put in the
    keyring; it is not in the profile.
    """
    config_path = _find_config(Path(path).expanduser())
    project = config_path.resolve().parent
    try:
        text = config_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(f"cannot read {config_path}: {exc}") from exc
    try:
        config: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        # `from None`: YAML's own message quotes the offending lines, which may hold the admin secret.
        raise ProfileError(f"{config_path} is not valid YAML{at}: {problem}") from None
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ProfileError(f"{config_path} must be a YAML mapping (endpoint: ..., admin_secret: ...)")

    merged: dict[str, str] = _read_dotenv(project / envfile) if envfile else {}
    merged.update({k: v for k, v in (os.environ if env is None else env).items() if v})

    def setting(env_name: str, key: str) -> Any:
        if merged.get(env_name):
            return merged[env_name]
        return config.get(key)

    endpoint = setting(ENV_ENDPOINT, "endpoint") or HASURA_CLI_DEFAULT_ENDPOINT
    if not isinstance(endpoint, str):
        raise ProfileError(f"{config_path}: endpoint must be a URL string, not {type(endpoint).__name__}")
    api_paths = config.get("api_paths")
    graphql_path = api_paths.get("graphql") if isinstance(api_paths, dict) else None

    secret: Any = setting(ENV_ADMIN_SECRET, "admin_secret")
    if not secret and isinstance(config.get("admin_secrets"), list) and config["admin_secrets"]:
        secret = config["admin_secrets"][0]
    if not secret:
        secret = setting(ENV_ACCESS_KEY, "access_key")
    if isinstance(secret, dict | list):
        raise ProfileError(f"{config_path}: admin_secret must be a string")

    insecure = setting(ENV_INSECURE_SKIP_TLS_VERIFY, "insecure_skip_tls_verify")
    verify = not _parse_bool(insecure if insecure is not None else False, f"{config_path}: insecure_skip_tls_verify")
    try:
        profile = ConnectionProfile.from_endpoint(
            name or project.name or "hasura",
            _graphql_endpoint(endpoint, graphql_path if isinstance(graphql_path, str) else None),
            verify_tls=verify,
        )
    except ValueError as exc:
        raise ProfileError(f"{config_path}: {exc}") from exc
    return profile, str(secret) if secret else None


@dataclass(frozen=True)
class BackendOptions:
    """A backend as the command line names it: the shared option group of `inspector.cli.backend_options`."""

    endpoint: str | None = None
    """`--endpoint URL` (for `replay`, `--via-backend URL` too): overrides the profile's or project's endpoint."""
    profile: str | None = None
    """`--profile NAME`: a saved profile; its secret comes from the keyring (`resolve_secret`)."""
    project: str | None = None
    """`--project DIR`: a Hasura CLI project (config.yaml, .env and the environment, as the Hasura CLI reads them)."""
    admin_secret_env: str | None = None
    """`--admin-secret-env VAR`: the admin secret is this environment variable's value (it must be set)."""
    headers: tuple[str, ...] = ()
    """`--header 'Name: value'` (repeatable): sent exactly as given, beside the admin secret."""
    subprotocol: Subprotocol | None = None
    """`--subprotocol`; None keeps the profile's (or `auto`)."""
    insecure: bool = False
    """`--insecure`: do not verify TLS certificates."""
    server_timezone: str | None = None
    """`--server-timezone ZONE`: the database's time zone; None keeps the profile's (else it is asked through
    `run_sql`, else UTC)."""


@dataclass(frozen=True)
class ResolvedBackend:
    """The profile to connect with, its secret (or None) and warnings to show the user (one line each)."""

    profile: ConnectionProfile
    secret: str | None
    warnings: tuple[str, ...] = ()


def backend_from_options(
    options: BackendOptions,
    env: Mapping[str, str],
    *,
    profiles: ProfileStore | None = None,
    secrets: SecretStore | None = None,
    name: str = "command line",
) -> ResolvedBackend:
    """The profile and secret the backend options ask for; `ProfileError` (the message names the option to change)
    for options that cannot work.

    The base is `--profile` (a saved profile) or `--project` (a Hasura project), not both; `--endpoint`, else the
    base's endpoint, else `HASURA_GRAPHQL_ENDPOINT`. `--header` values are the profile's `extra_headers`: sent as
    given, whatever their name, after the saved profile's headers. The secret: with `--admin-secret-env VAR` that
    variable (the saved profile's keyring entry is not consulted); else the project's admin secret; else
    `resolve_secret` (the saved profile's keyring entry, its environment variable, `HASURA_GRAPHQL_ADMIN_SECRET`). A
    `--header` naming the secret header (`x-hasura-admin-secret`) is sent instead of any other secret, so it cannot
    be combined with `--admin-secret-env`.
    """
    if options.profile and options.project:
        raise ProfileError("--profile and --project both name a backend; give one of them")
    base: ConnectionProfile | None = None
    project_secret: str | None = None
    if options.profile:
        base = (profiles or ProfileStore()).get(options.profile)
        if base is None:
            raise ProfileError(f"--profile {options.profile}: no saved profile of that name")
    elif options.project:
        try:
            base, project_secret = profile_from_hasura_project(Path(options.project), env)
        except (OSError, ValueError) as exc:
            raise ProfileError(f"--project {options.project}: {exc}") from exc
    endpoint = options.endpoint or (base.endpoint if base is not None else None) or env.get(ENV_ENDPOINT)
    if not endpoint:
        raise ProfileError(
            "give --endpoint URL, --profile NAME or --project DIR (or set the HASURA_GRAPHQL_ENDPOINT variable)"
        )
    try:
        extra = tuple(parse_header(h) for h in options.headers)
    except ValueError as exc:
        raise ProfileError(f"--header: {exc}") from exc
    secret_header = base.secret_header if base is not None else ADMIN_SECRET_HEADER
    secret_by_header = any(n.lower() in ADMIN_SECRET_HEADERS or n.lower() == secret_header.lower() for n, _ in extra)
    if options.admin_secret_env:
        if secret_by_header:
            raise ProfileError("--admin-secret-env and a --header carrying the admin secret both give it; give it once")
        if options.admin_secret_env not in env:
            raise ProfileError(f"--admin-secret-env {options.admin_secret_env}: that environment variable is not set")
    try:
        profile = ConnectionProfile.from_endpoint(
            base.name if base is not None else name,
            endpoint,
            headers=base.headers if base is not None else (),
            extra_headers=extra,
            secret_env=options.admin_secret_env or (base.secret_env if base is not None else None),
            secret_header=secret_header,
            subprotocol=options.subprotocol or (base.subprotocol if base is not None else "auto"),
            verify_tls=(base.verify_tls if base is not None else True) and not options.insecure,
            has_secret=base.has_secret if base is not None and not options.admin_secret_env else False,
            server_timezone=options.server_timezone or (base.server_timezone if base is not None else None),
        )
    except ValueError as exc:
        raise ProfileError(f"--endpoint: {exc}") from exc
    warnings: list[str] = []
    if options.admin_secret_env:
        secret: str | None = env[options.admin_secret_env]
    elif project_secret:
        secret = project_secret
    else:
        store = (secrets or SecretStore()) if profile.has_secret else None
        secret = resolve_secret(profile, store, env)
        if store is not None and secret is not None:
            insecure = store.insecure_reason()
            if insecure is not None:
                warnings.append(insecure_keyring_warning(insecure))
    return ResolvedBackend(profile, secret, tuple(warnings))
