"""Profile storage, keyring secrets (a real file keyring, and keyring's no-backend case), Hasura CLI config.yaml and
environment conventions, and the order a secret is looked for."""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import keyring.backends.chainer
import keyring.backends.fail
import keyring.backends.null
import platformdirs
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import KeyringLocked
from keyrings.alt.file import PlaintextKeyring

from inspector.core.connection_profile import ConnectionProfile
from inspector.services.profiles import (
    KEYRING_SERVICE,
    BackendOptions,
    NoKeyringError,
    ProfileError,
    ProfileStore,
    SecretStore,
    backend_from_options,
    profile_from_environment,
    profile_from_hasura_project,
    resolve_secret,
)

SECRET = "s3cr3t-admin-value-42"


@pytest.fixture
def file_keyring(tmp_path: Path) -> Iterator[PlaintextKeyring]:
    """keyrings.alt's plaintext file keyring in tmp_path, installed as keyring's backend for the test."""
    previous = keyring.get_keyring()
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "keyring" / "keyring_pass.cfg")
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def no_keyring() -> Iterator[KeyringBackend]:
    """keyring's own "no recommended backend" keyring, as on a headless Linux box without Secret Service."""
    previous = keyring.get_keyring()
    backend = keyring.backends.fail.Keyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def local(name: str = "local", **fields: Any) -> ConnectionProfile:
    return ConnectionProfile.from_endpoint(name, "http://localhost:8080", **fields)


# ProfileStore


def test_store_round_trip(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path / "config")
    assert store.list() == [] and store.get("local") is None
    a = local(headers=[("x-hasura-role", "user")], has_secret=True)
    b = ConnectionProfile.from_endpoint(
        "cloud", "wss://app.example.com/v1/graphql", subprotocol="graphql-ws", secret_env="CLOUD_SECRET"
    )
    store.save(a)
    store.save(b)
    assert store.list() == [a, b]
    assert ProfileStore(tmp_path / "config").get("cloud") == b  # read back by a fresh store, from the file

    a2 = local(verify_tls=False)
    store.save(a2)
    assert store.list() == [a2, b]  # replaced in place

    assert store.delete("local") is True
    assert store.delete("local") is False
    assert store.list() == [b]
    data = json.loads((tmp_path / "config" / "profiles.json").read_text())
    assert data["version"] == 1 and [p["name"] for p in data["profiles"]] == ["cloud"]


def test_store_default_directory_is_the_user_config_dir() -> None:
    assert ProfileStore().path == Path(platformdirs.user_config_dir("inspector")) / "profiles.json"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_store_file_is_private(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    store.save(local())
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["profiles.json"]  # no temporary file left behind


def test_saved_profile_file_never_contains_the_secret(tmp_path: Path, file_keyring: PlaintextKeyring) -> None:
    store, secrets = ProfileStore(tmp_path / "config"), SecretStore()
    secrets.set("cloud", f"Bearer {SECRET}")
    profile = ConnectionProfile.from_endpoint(
        "cloud",
        "https://user:pw-in-url@app.example.com/v1/graphql?token=tok-in-url",
        headers=[("x-hasura-role", "user")],
        secret_header="Authorization",
        has_secret=True,
    )
    store.save(profile)
    text = store.path.read_text()
    assert SECRET not in text and "pw-in-url" not in text and "tok-in-url" not in text
    assert secrets.get("cloud") == f"Bearer {SECRET}"  # it is in the keyring instead
    reread = PlaintextKeyring()  # persisted in the keyring's own file, not ours
    reread.file_path = file_keyring.file_path
    assert reread.get_password(KEYRING_SERVICE, "cloud") == f"Bearer {SECRET}"


def test_store_reports_a_corrupt_file(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    store.path.write_text("{not json")
    with pytest.raises(ProfileError, match=r"profiles\.json is not valid JSON"):
        store.list()
    store.path.write_text('{"version": 1, "profiles": [{"name": "x", "endpoint": "ftp://h"}]}')
    with pytest.raises(ProfileError, match="profile #1 is invalid: unsupported endpoint scheme"):
        store.list()
    store.path.write_text(
        '{"version": 1, "profiles": [{"name": "x", "endpoint": "http://h",'
        ' "headers": [{"name": "x-hasura-admin-secret", "value": "v"}]}]}'
    )
    with pytest.raises(ProfileError, match="credential"):
        store.get("x")
    store.path.write_text("[]")
    with pytest.raises(ProfileError, match="not a profiles file"):
        store.list()
    store.path.write_text('{"version": 7, "profiles": []}')
    with pytest.raises(ProfileError, match="newer"):
        store.list()


# SecretStore


def test_secret_store_with_a_real_file_keyring(file_keyring: PlaintextKeyring) -> None:
    secrets = SecretStore()
    assert secrets.available()
    assert secrets.backend() is file_keyring
    assert secrets.get("local") is None
    secrets.set("local", SECRET)
    secrets.set("cloud", "other")
    assert secrets.get("local") == SECRET and secrets.get("cloud") == "other"
    # Stored under service "inspector", username = profile name, where other tools (and the user) can find it.
    assert file_keyring.get_password(KEYRING_SERVICE, "local") == SECRET
    assert keyring.get_password("inspector", "cloud") == "other"
    secrets.delete("local")
    assert secrets.get("local") is None and secrets.get("cloud") == "other"
    secrets.delete("local")  # deleting what is not there is fine
    with pytest.raises(ValueError, match="empty"):
        secrets.set("local", "")


def test_secret_store_explicit_backend(tmp_path: Path) -> None:
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "kr.cfg")
    secrets = SecretStore(backend=backend)
    secrets.set("p", SECRET)
    assert backend.get_password(KEYRING_SERVICE, "p") == SECRET


@pytest.mark.usefixtures("no_keyring")
def test_no_keyring_backend_gives_a_clear_error() -> None:
    secrets = SecretStore()
    assert not secrets.available()
    for call in (lambda: secrets.set("p", SECRET), lambda: secrets.get("p"), lambda: secrets.delete("p")):
        with pytest.raises(NoKeyringError) as info:
            call()
        message = str(info.value)
        assert message.startswith("no OS keyring is available here")
        assert "environment variable" in message and "--admin-secret-env VAR" in message
        assert SECRET not in message


class _EmptyChainer(keyring.backends.chainer.ChainerBackend):
    """A chainer that found nothing to chain (what keyring builds when no backend is viable)."""

    backends: list[KeyringBackend] = []  # noqa: RUF012


class _LockedKeyring(KeyringBackend):
    """A backend whose keyring is locked: every operation fails, as Secret Service does when the user cancels."""

    priority = 1  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("Failed to unlock the collection!")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringLocked("Failed to unlock the collection!")

    def delete_password(self, service: str, username: str) -> None:
        raise KeyringLocked("Failed to unlock the collection!")


@pytest.mark.parametrize(
    ("backend", "reason"),
    [
        (keyring.backends.null.Keyring(), "disabled"),
        (_EmptyChainer(), "no backend to chain"),
        (_LockedKeyring(), "unlock"),
    ],
)
def test_unusable_keyrings_give_the_clear_error(backend: KeyringBackend, reason: str) -> None:
    secrets = SecretStore(backend=backend)
    with pytest.raises(NoKeyringError, match=reason) as info:
        secrets.set("p", SECRET)
    assert "--admin-secret-env" in str(info.value)
    with pytest.raises(NoKeyringError, match=reason):
        secrets.get("p")


# resolve_secret


def test_resolve_secret_order(file_keyring: PlaintextKeyring) -> None:
    secrets = SecretStore()
    secrets.set("local", "from-keyring")
    prompted: list[bool] = []

    def prompt() -> str:
        prompted.append(True)
        return "from-prompt"

    profile = local(has_secret=True, secret_env="MY_SECRET")
    env = {"MY_SECRET": "from-env", "HASURA_GRAPHQL_ADMIN_SECRET": "from-hasura-env"}
    assert resolve_secret(profile, secrets, env, prompt) == "from-keyring"
    secrets.delete("local")
    assert resolve_secret(profile, secrets, env, prompt) == "from-env"
    assert resolve_secret(profile, secrets, {**env, "MY_SECRET": ""}, prompt) == "from-hasura-env"
    assert not prompted
    assert resolve_secret(profile, secrets, {}, prompt) == "from-prompt"
    assert prompted == [True]
    assert resolve_secret(profile, secrets, {}) is None
    assert resolve_secret(profile, secrets, {}, lambda: "") is None


def test_resolve_secret_skips_the_keyring_unless_the_profile_has_one(file_keyring: PlaintextKeyring) -> None:
    secrets = SecretStore()
    secrets.set("local", "from-keyring")
    assert resolve_secret(local(), secrets, {"HASURA_GRAPHQL_ADMIN_SECRET": "env"}) == "env"
    assert resolve_secret(local(has_secret=True), None, {"HASURA_GRAPHQL_ADMIN_SECRET": "env"}) == "env"


def test_resolve_secret_does_not_put_the_admin_secret_in_a_bearer_header() -> None:
    env = {"HASURA_GRAPHQL_ADMIN_SECRET": "admin", "TOKEN": "Bearer t"}
    assert resolve_secret(local(secret_header="Authorization"), None, env) is None
    assert resolve_secret(local(secret_header="Authorization", secret_env="TOKEN"), None, env) == "Bearer t"
    assert resolve_secret(local(secret_header="x-hasura-access-key"), None, env) == "admin"


@pytest.mark.usefixtures("no_keyring")
def test_resolve_secret_without_a_keyring_falls_back_then_explains() -> None:
    profile = local(has_secret=True, secret_env="MY_SECRET")
    assert resolve_secret(profile, SecretStore(), {"MY_SECRET": "from-env"}) == "from-env"
    assert resolve_secret(profile, SecretStore(), {}, lambda: "typed") == "typed"
    with pytest.raises(NoKeyringError, match="--admin-secret-env"):
        resolve_secret(profile, SecretStore(), {})


# Hasura CLI project (config.yaml) and environment


def write_project(root: Path, config: str, dotenv: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.yaml").write_text(config)
    if dotenv is not None:
        (root / ".env").write_text(dotenv)
    return root


def test_hasura_project_config(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "food-app",
        "version: 3\nendpoint: https://food.example.com\nadmin_secret: from-config\n"
        "metadata_directory: metadata\nactions:\n  kind: synchronous\n",
    )
    for given in (project, project / "config.yaml", str(project)):
        profile, secret = profile_from_hasura_project(given, env={})
        assert secret == "from-config"
        assert profile.name == "food-app"
        assert profile.graphql_http_url == "https://food.example.com/v1/graphql"
        assert profile.metadata_url == "https://food.example.com/v1/metadata"
        assert profile.verify_tls and not profile.has_secret and profile.secret_header == "x-hasura-admin-secret"
        assert "from-config" not in json.dumps(profile.to_json())


def test_hasura_project_env_overrides_dotenv_overrides_config(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "p",
        "endpoint: http://config-host:8080\nadmin_secret: from-config\n",
        '# local overrides\nexport HASURA_GRAPHQL_ENDPOINT="http://dotenv-host:8080"\n'
        "HASURA_GRAPHQL_ADMIN_SECRET=from-dotenv # comment\n",
    )
    profile, secret = profile_from_hasura_project(project, env={})
    assert (profile.graphql_http_url, secret) == ("http://dotenv-host:8080/v1/graphql", "from-dotenv")
    env = {"HASURA_GRAPHQL_ENDPOINT": "https://env-host", "HASURA_GRAPHQL_ADMIN_SECRET": "from-env"}
    profile, secret = profile_from_hasura_project(project, env=env)
    assert (profile.graphql_http_url, secret) == ("https://env-host/v1/graphql", "from-env")
    profile, secret = profile_from_hasura_project(project, env={"HASURA_GRAPHQL_ADMIN_SECRET": ""}, envfile=None)
    assert (profile.graphql_http_url, secret) == ("http://config-host:8080/v1/graphql", "from-config")


def test_hasura_project_reads_os_environ_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = write_project(tmp_path / "p", "endpoint: http://config-host:8080\n")
    monkeypatch.setenv("HASURA_GRAPHQL_ADMIN_SECRET", "from-os-env")
    monkeypatch.delenv("HASURA_GRAPHQL_ENDPOINT", raising=False)
    assert profile_from_hasura_project(project)[1] == "from-os-env"


def test_hasura_project_legacy_and_optional_keys(tmp_path: Path) -> None:
    legacy = write_project(tmp_path / "legacy", "endpoint: http://h:8080\naccess_key: old-key\n")
    assert profile_from_hasura_project(legacy, env={})[1] == "old-key"
    assert profile_from_hasura_project(legacy, env={"HASURA_GRAPHQL_ACCESS_KEY": "env-key"})[1] == "env-key"

    many = write_project(tmp_path / "many", "endpoint: http://h:8080\nadmin_secrets: [first, second]\n")
    assert profile_from_hasura_project(many, env={})[1] == "first"

    bare = write_project(tmp_path / "bare", "version: 3\n")
    profile, secret = profile_from_hasura_project(bare, env={}, name="mine")
    assert (profile.name, profile.endpoint, secret) == ("mine", "http://localhost:8080/v1/graphql", None)

    prefixed = write_project(
        tmp_path / "prefixed",
        "endpoint: https://example.com/hasura/\ninsecure_skip_tls_verify: true\nadmin_secret: 12345\n",
    )
    profile, secret = profile_from_hasura_project(prefixed, env={})
    assert profile.graphql_ws_url == "wss://example.com/hasura/v1/graphql"
    assert profile.metadata_url == "https://example.com/hasura/v1/metadata"
    assert profile.verify_tls is False and secret == "12345"

    custom = write_project(tmp_path / "custom", "endpoint: http://h\napi_paths:\n  graphql: v1alpha1/graphql\n")
    assert profile_from_hasura_project(custom, env={})[0].graphql_http_url == "http://h/v1alpha1/graphql"

    yml = tmp_path / "yml"
    yml.mkdir()
    (yml / "config.yml").write_text("endpoint: http://yml-host\n")
    assert profile_from_hasura_project(yml, env={})[0].graphql_http_url == "http://yml-host/v1/graphql"


def test_hasura_project_errors(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="does not exist"):
        profile_from_hasura_project(tmp_path / "nowhere", env={})
    with pytest.raises(ProfileError, match=r"has no config\.yaml"):
        profile_from_hasura_project(tmp_path, env={})
    bad = write_project(tmp_path / "bad", f"endpoint: http://h\nadmin_secret: {SECRET}\n  : [unclosed\n")
    with pytest.raises(ProfileError, match=r"config\.yaml is not valid YAML at line \d+") as info:
        profile_from_hasura_project(bad, env={})
    assert SECRET not in str(info.value) and info.value.__cause__ is None
    write_project(tmp_path / "list", "- endpoint\n")
    with pytest.raises(ProfileError, match="must be a YAML mapping"):
        profile_from_hasura_project(tmp_path / "list", env={})
    write_project(tmp_path / "ftp", "endpoint: ftp://h\n")
    with pytest.raises(ProfileError, match="unsupported endpoint scheme"):
        profile_from_hasura_project(tmp_path / "ftp", env={})
    write_project(tmp_path / "tls", "endpoint: http://h\ninsecure_skip_tls_verify: maybe\n")
    with pytest.raises(ProfileError, match="true or false"):
        profile_from_hasura_project(tmp_path / "tls", env={})


def test_profile_from_environment() -> None:
    assert profile_from_environment({}) is None
    assert profile_from_environment({"HASURA_GRAPHQL_ADMIN_SECRET": "s"}) is None
    found = profile_from_environment({"HASURA_GRAPHQL_ENDPOINT": "http://127.0.0.1:8080"})
    assert found is not None
    profile, secret = found
    assert secret is None and profile.graphql_ws_url == "ws://127.0.0.1:8080/v1/graphql" and profile.is_loopback
    found = profile_from_environment(
        {
            "HASURA_GRAPHQL_ENDPOINT": "https://app.example.com/v1/graphql",
            "HASURA_GRAPHQL_ADMIN_SECRET": SECRET,
            "HASURA_GRAPHQL_INSECURE_SKIP_TLS_VERIFY": "true",
        }
    )
    assert found is not None
    profile, secret = found
    assert secret == SECRET and profile.metadata_url == "https://app.example.com/v1/metadata"
    assert profile.verify_tls is False and SECRET not in json.dumps(profile.to_json())
    found = profile_from_environment({"HASURA_GRAPHQL_ENDPOINT": "http://h", "HASURA_GRAPHQL_ACCESS_KEY": "old"})
    assert found is not None and found[1] == "old"
    with pytest.raises(ProfileError, match="HASURA_GRAPHQL_ENDPOINT"):
        profile_from_environment({"HASURA_GRAPHQL_ENDPOINT": "ftp://h"})


# --- the command line's backend options ------------------------------------------------------------------------------


def test_backend_options_send_headers_as_given_beside_the_admin_secret() -> None:
    """Issue 12.3: `--header 'Authorization: Bearer X'` with `--admin-secret-env` sent the admin secret as
    `Authorization` and dropped both the token and `x-hasura-admin-secret`."""
    resolved = backend_from_options(
        BackendOptions(
            endpoint="http://127.0.0.1:8080",
            admin_secret_env="MY_SECRET",
            headers=("Authorization: Bearer X", "x-csrf-token: v"),
        ),
        {"MY_SECRET": "adm1n"},
    )
    assert resolved.profile.request_headers(resolved.secret) == {
        "Authorization": "Bearer X",
        "x-csrf-token": "v",
        "x-hasura-admin-secret": "adm1n",
    }


def test_backend_options_errors_name_the_option() -> None:
    with pytest.raises(ProfileError, match="--endpoint URL"):
        backend_from_options(BackendOptions(), {})
    with pytest.raises(ProfileError, match="--admin-secret-env NOPE"):
        backend_from_options(BackendOptions(endpoint="http://h", admin_secret_env="NOPE"), {})
    with pytest.raises(ProfileError, match="give it once"):
        backend_from_options(
            BackendOptions(endpoint="http://h", admin_secret_env="S", headers=("x-hasura-admin-secret: a",)), {"S": "b"}
        )
    with pytest.raises(ProfileError, match="one of them"):
        backend_from_options(BackendOptions(profile="p", project="d"), {})
    with pytest.raises(ProfileError, match="no saved profile"):
        backend_from_options(BackendOptions(profile="missing"), {}, profiles=ProfileStore(Path("/nonexistent")))


def test_backend_options_profile_secret_from_the_keyring_with_a_warning_for_a_plain_file(
    tmp_path: Path, file_keyring: PlaintextKeyring
) -> None:
    store = ProfileStore(tmp_path)
    store.save(local("saved", has_secret=True))
    SecretStore().set("saved", "from-keyring")
    resolved = backend_from_options(
        BackendOptions(profile="saved", endpoint="http://127.0.0.1:9999", headers=("x-hasura-role: user",)),
        {"HASURA_GRAPHQL_ADMIN_SECRET": "from-env"},
        profiles=store,
    )
    assert resolved.secret == "from-keyring"
    assert resolved.profile.graphql_http_url == "http://127.0.0.1:9999/v1/graphql"
    assert resolved.profile.request_headers(resolved.secret)["x-hasura-role"] == "user"
    assert len(resolved.warnings) == 1 and "plain file" in resolved.warnings[0]
    # --admin-secret-env wins over the keyring for one run
    resolved = backend_from_options(
        BackendOptions(profile="saved", admin_secret_env="MINE"), {"MINE": "mine"}, profiles=store
    )
    assert resolved.secret == "mine" and not resolved.warnings


def test_backend_options_project(tmp_path: Path) -> None:
    project = write_project(tmp_path, "endpoint: http://project-host:8080\nadmin_secret: from-config\n")
    resolved = backend_from_options(BackendOptions(project=str(project)), {})
    assert resolved.secret == "from-config"
    assert resolved.profile.graphql_http_url == "http://project-host:8080/v1/graphql"
