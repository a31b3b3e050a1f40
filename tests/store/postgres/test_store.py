"""The PostgreSQL capture store against a real server: push and pull are lossless (the JSONL export of both sides is
identical), captures are listed and dropped, the schema is versioned, and every failure is one clear line."""

from __future__ import annotations

import io
from pathlib import Path

import psycopg
import pytest

from inspector.store.capture_file import CaptureFile
from inspector.store.exchange import export_jsonl
from inspector.store.open import is_store_url, local_capture
from inspector.store.postgres.connection import StoreError, StoreUrl
from inspector.store.postgres.schema import SCHEMA_VERSION
from inspector.store.postgres.store import PostgresStore, pull_to_file, push_file
from tests.helpers.captures import build_sample, table_rows
from tests.helpers.postgres import PASSWORD, PostgresServer


def jsonl(path: Path) -> str:
    capture = CaptureFile.open(path)
    try:
        out = io.StringIO()
        export_jsonl(capture, out)
        return out.getvalue()
    finally:
        capture.close()


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    build_sample(tmp_path / "sample.inspector").close()
    return tmp_path / "sample.inspector"


def test_push_then_pull_is_lossless(sample: Path, postgres_db: str, tmp_path: Path) -> None:
    url = StoreUrl.parse(postgres_db + "?capture=nightly")
    push_file(sample, url)
    pull_to_file(url, tmp_path / "pulled.inspector")
    assert jsonl(tmp_path / "pulled.inspector") == jsonl(sample)
    original, pulled = CaptureFile.open(sample), CaptureFile.open(tmp_path / "pulled.inspector")
    try:
        assert table_rows(pulled) == table_rows(original)
        assert pulled.info() == original.info()
    finally:
        original.close()
        pulled.close()
    with PostgresStore.open(url) as store:  # the store's own rows are the file's, column for column
        capture = store.capture("nightly")
        original = CaptureFile.open(sample)
        try:
            for table in ("events", "invocations", "event_states", "session_log", "notes"):
                assert list(capture.iter_table(table)) == list(original.iter_table(table)), table
        finally:
            original.close()


def test_local_capture_reads_a_store_url_like_a_file(sample: Path, postgres_db: str) -> None:
    url = postgres_db + "?capture=desk"
    push_file(sample, StoreUrl.parse(url))
    assert is_store_url(url) and not is_store_url(str(sample))
    with local_capture(url) as path:
        assert jsonl(path) == jsonl(sample)
    assert not path.exists()


def test_many_captures_side_by_side_listed_and_dropped(sample: Path, postgres_db: str) -> None:
    for name in ("a", "b"):
        push_file(sample, StoreUrl.parse(f"{postgres_db}?capture={name}"))
    with PostgresStore.open(postgres_db) as store:
        listed = {c.name: c for c in store.captures()}
        assert set(listed) == {"a", "b"}
        assert listed["a"].events == 3 and listed["a"].invocations == 5 and listed["a"].messages == 2
        assert listed["a"].backend == "postgresql" and listed["a"].recorded_by == "postgres"
        assert listed["a"].started == 1709294400.5
        assert store.drop_older_than(3600) == []
        assert store.drop("a") and store.names() == ["b"]
        assert store.drop_older_than(-1) == ["b"]


def test_a_capture_name_that_exists_is_refused(sample: Path, postgres_db: str) -> None:
    url = StoreUrl.parse(f"{postgres_db}?capture=same")
    push_file(sample, url)
    with pytest.raises(StoreError, match="a capture named 'same' exists"):
        push_file(sample, url)
    push_file(sample, url, overwrite=True)


def test_a_missing_capture_names_those_there_are(sample: Path, postgres_db: str, tmp_path: Path) -> None:
    push_file(sample, StoreUrl.parse(f"{postgres_db}?capture=there"))
    with pytest.raises(StoreError, match=r"no capture named 'gone' .*\(captures: there\)"):
        pull_to_file(StoreUrl.parse(f"{postgres_db}?capture=gone"), tmp_path / "x.inspector")


def test_a_database_without_the_schema_is_named_as_such(postgres_db: str) -> None:
    with pytest.raises(StoreError, match="holds no Inspector store \\(no schema version\\)"):
        PostgresStore.open(postgres_db)


def test_a_newer_schema_is_refused_by_readers_and_writers(postgres_db: str) -> None:
    PostgresStore.open(postgres_db, write=True).close()
    with psycopg.connect(postgres_db, autocommit=True) as c:
        c.execute("UPDATE inspector_schema SET version = %s", (SCHEMA_VERSION + 1,))
    for write in (False, True):
        with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}, written by a newer Inspector"):
            PostgresStore.open(postgres_db, write=write)


def test_a_missing_database_is_one_line(postgres_server: PostgresServer) -> None:
    with pytest.raises(StoreError, match=r"^no database 'nowhere' at .*: create it first"):
        PostgresStore.open(postgres_server.url("nowhere"))


def test_passwords_come_from_the_environment_never_the_url(
    postgres_server: PostgresServer, postgres_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = postgres_db.rsplit("/", 1)[1]
    url = postgres_server.url(database, user="inspector_pw")
    with pytest.raises(StoreError, match="holds a password") as refused:
        StoreUrl.parse(url.replace("inspector_pw@", f"inspector_pw:{PASSWORD}@"))
    assert PASSWORD not in str(refused.value)
    monkeypatch.setenv("PGPASSWORD", "wrong")
    with pytest.raises(StoreError, match=r"^wrong password for inspector_pw at ") as wrong:
        PostgresStore.open(url, write=True)
    assert "wrong" not in str(wrong.value).replace("wrong password", "")
    monkeypatch.delenv("PGPASSWORD")
    monkeypatch.setenv("PGPASSFILE", "/nonexistent")
    with pytest.raises(StoreError, match="asks for a password: set PGPASSWORD"):
        PostgresStore.open(url)
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    with psycopg.connect(postgres_db, autocommit=True) as c:
        c.execute("GRANT ALL ON SCHEMA public TO inspector_pw")
    PostgresStore.open(url, write=True).close()


def test_sslmode_is_libpqs(postgres_server: PostgresServer) -> None:
    assert StoreUrl.parse(postgres_server.url("x", sslmode="require")).connect_kwargs()["sslmode"] == "require"
    with pytest.raises(StoreError, match="sslmode 'on' is not one of libpq's"):
        StoreUrl.parse(postgres_server.url("x", sslmode="on"))
    with pytest.raises(StoreError, match=r"^TLS to .* failed"):
        PostgresStore.open(postgres_server.url("postgres", sslmode="require"))
