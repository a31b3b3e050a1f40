"""A real, throwaway PostgreSQL server for the tests of the PostgreSQL capture store (no mocks of the database).

Owns finding the server binaries (Debian's `postgresql` package puts them in /usr/lib/postgresql/<version>/bin; any
`initdb` on PATH also works), `initdb` into a temporary directory, `pg_ctl start` on a free TCP port of 127.0.0.1 and
a Unix socket in that directory, and stopping it at the end of the session. `initdb` refuses to run as root, so as
root the server runs as the `postgres` user (`runuser -u postgres --`) in a directory chowned to it.

Authentication: `trust` for every role except `inspector_pw`, whose password is `PASSWORD` (scram-sha-256 over TCP),
so the tests can check a wrong password's message. Each test gets its own database (`postgres_db`).

Used by `tests/store/postgres/conftest.py`, `tests/store/conftest.py` and `tests/core/filter/conftest.py`, which
import the fixtures below. Tests are skipped, with the reason, only when the server binaries are absent.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PASSWORD = "s3cret-for-tests"
"""The password of the role `inspector_pw` (the only role that must give one)."""

MISSING = (
    "PostgreSQL server binaries not found (initdb, pg_ctl): install Debian's `postgresql` package "
    "(apt-get install -y postgresql) to run the PostgreSQL store tests"
)


def find_bin_dir() -> Path | None:
    """The directory holding `initdb` and `pg_ctl`: on PATH, else the newest /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name or 0)
    )
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    """A running server: connect as `superuser` (trust) over TCP at `host:port`."""

    bin_dir: Path
    data_dir: Path
    host: str
    port: int
    superuser: str
    run_as: list[str]

    def url(self, database: str = "postgres", user: str | None = None, **query: str) -> str:
        q = "&".join(f"{k}={v}" for k, v in query.items())
        return f"postgresql://{user or self.superuser}@{self.host}:{self.port}/{database}" + (f"?{q}" if q else "")

    def conninfo(self, database: str = "postgres") -> str:
        return f"host={self.host} port={self.port} user={self.superuser} dbname={database}"

    def stop(self) -> None:
        subprocess.run(
            [*self.run_as, str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )


def start_server(root: Path) -> PostgresServer:
    """initdb into `root`/data and start the server; raises with the server's log when it does not come up."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise FileNotFoundError(MISSING)
    run_as: list[str] = []
    superuser = pwd.getpwuid(os.getuid()).pw_name
    if os.geteuid() == 0:
        run_as = ["runuser", "-u", "postgres", "--"]
        superuser = "postgres"
        entry = pwd.getpwnam("postgres")
        os.chown(root, entry.pw_uid, entry.pw_gid)
    data = root / "data"
    subprocess.run(
        [
            *run_as,
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            superuser,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    hba = data / "pg_hba.conf"
    hba.write_text(
        "local all all trust\nhost all inspector_pw 127.0.0.1/32 scram-sha-256\nhost all all 127.0.0.1/32 trust\n"
    )
    port = _free_port()
    options = (
        f"-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={root} -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
    )
    result = subprocess.run(
        [
            *run_as,
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(root / "server.log"),
            "-o",
            options,
            "-w",
            "start",
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        log = (root / "server.log").read_text(errors="replace") if (root / "server.log").exists() else ""
        raise RuntimeError(f"pg_ctl start failed: {result.stderr}\n{log}")
    server = PostgresServer(bin_dir, data, "127.0.0.1", port, superuser, run_as)
    import psycopg

    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE inspector_pw LOGIN PASSWORD '{PASSWORD}'")
    return server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One server for the whole test session (skipped only when the binaries are absent)."""
    if find_bin_dir() is None:
        pytest.skip(MISSING)
    pytest.importorskip("psycopg", reason="psycopg 3 is needed: pip install 'inspector-3factor[postgres]'")
    root = Path(tempfile.mkdtemp(prefix="inspector-pg-"))
    server = start_server(root)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


_numbers = itertools.count(1)


@pytest.fixture
def postgres_db(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database for one test; its URL (without `?capture=`). Dropped afterwards."""
    import psycopg

    name = f"t{os.getpid()}_{next(_numbers)}_{int(time.time() * 1000) % 100000}"
    with psycopg.connect(postgres_server.conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        conn.execute(f'GRANT ALL ON DATABASE "{name}" TO inspector_pw')
    try:
        yield postgres_server.url(name)
    finally:
        with contextlib.suppress(Exception), psycopg.connect(postgres_server.conninfo(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def capture_in_postgres(server: PostgresServer, path: Path, name: str = "filters") -> Any:
    """The capture file at `path` pushed into a new database of `server`: its `PostgresCapture` (for running the same
    tests against both stores). The database lives as long as the server."""
    import psycopg

    from inspector.store.postgres.connection import StoreUrl
    from inspector.store.postgres.store import PostgresStore, push_file

    database = f"{name}_{os.getpid()}_{next(_numbers)}"
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    url = StoreUrl.parse(server.url(database, capture=name))
    push_file(path, url)
    return PostgresStore.open(url).capture(name)


def select_ids(capture: Any, text: Any, now: float) -> set[str]:
    """The ids of the events of a `PostgresCapture` that a display filter selects, run on the server."""
    return {event_id for _, event_id in capture.select(text, now=now, limit=10**9)}
