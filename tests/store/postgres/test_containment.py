"""Equality on payload paths compiled to jsonb containment (`e.doc @> '{...}'`) on PostgreSQL, against a real server:
the GIN `jsonb_path_ops` index answers it, and it selects exactly what the capture file (SQLite) and the in-memory
evaluation select, on payloads made to tell the forms apart (numbers and strings that look alike, arrays, nesting,
3 and 3.0); what containment cannot say the same way keeps the typed form."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from inspector.core.events import EventRecord
from inspector.core.filter import check, evaluate
from inspector.store.capture_file import CaptureFile, CaptureWriter
from inspector.store.filter_sql import POSTGRES, PostgresDialect, compile_filter, to_psycopg
from tests.helpers.captures import event_dict
from tests.helpers.postgres import PostgresServer, capture_in_postgres, select_ids

NOW = 1709294400.0

PAYLOADS: dict[str, dict[str, Any]] = {
    "int": {"x": 3, "s": "a", "nested": {"k": 1}},
    "float": {"x": 3.0, "s": "b"},
    "text": {"x": "3", "s": "3"},
    "array": {"x": [3], "s": ["a"], "nested": [{"k": 1}]},
    "object": {"x": {"3": 3}, "s": {"a": "a"}},
    "bool": {"x": True, "s": None},
    "other": {"x": 4, "s": "é", "nested": {"k": 2, "j": 1}},
    "missing": {"y": 3},
}

FILTERS = [
    "data.new.x == 3",
    "data.new.x == 3.0",
    'data.new.x == "3"',
    "data.new.x == 1",
    'data.new.s == "a"',
    'data.new.s == "é"',
    "data.new.nested.k == 1",
    "not data.new.x == 3",
    "data.new.x != 3",
    'data.new.x in {3 "3"}',
    "data.new.x in {4 9 2..3}",
    'data.new.s in {"a" "b"}',
    'not data.new.s in {"a" "b"}',
    "data.new.nested[0].k == 1",
    'session.x-hasura-role == "user"',
    "data.new.x == 3 or data.new.s == 3",
]


@pytest.fixture(scope="module")
def stores(postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    path = tmp_path_factory.mktemp("containment") / "payloads.inspector"
    capture = CaptureFile.create(path)
    writer = CaptureWriter(capture)
    for n, (event_id, new) in enumerate(PAYLOADS.items()):
        writer.observe_event(EventRecord.from_hasura(event_dict(event_id, new=new)), now=NOW + n)
    writer.flush()
    capture.close()
    return path, capture_in_postgres(postgres_server, path, name="containment")


def sqlite_ids(path: Path, text: str) -> set[str]:
    capture = CaptureFile.open(path)
    try:
        compiled = compile_filter(text, now=NOW)
        return {
            r[0] for r in capture.conn.execute(f"SELECT e.id FROM events e WHERE {compiled.where}", compiled.params)
        }
    finally:
        capture.close()


def memory_ids(text: str) -> set[str]:
    checked = check(text, now=NOW)
    return {
        event_id
        for event_id, new in PAYLOADS.items()
        if evaluate(checked, {"id": event_id, "payload": json.dumps(event_dict(event_id, new=new)["payload"])})
    }


@pytest.mark.parametrize("text", FILTERS)
def test_containment_selects_what_the_file_and_memory_select(stores: tuple[Path, Any], text: str) -> None:
    path, postgres = stores
    expected = sqlite_ids(path, text)
    assert select_ids(postgres, text, NOW) == expected
    assert memory_ids(text) == expected


def test_equality_compiles_to_containment_and_the_rest_keeps_the_typed_form() -> None:
    assert compile_filter("data.new.id == 3", dialect=POSTGRES).where == "(e.doc @> ?::jsonb)"
    assert compile_filter("data.new.id == 3", dialect=POSTGRES).params == ['{"data":{"new":{"id":3}}}']
    both = compile_filter('data.new.id in {3 "3"}', dialect=POSTGRES)
    assert both.where == "((e.doc @> ?::jsonb) OR (e.doc @> ?::jsonb))"
    assert both.params == ['{"data":{"new":{"id":3}}}', '{"data":{"new":{"id":"3"}}}']
    for typed in (
        "data.new.items[0] == 3",  # an array index: SQLite's path reaches only arrays there
        'data.new.id == "a\\u0000b"',  # jsonb refuses U+0000
        "data.new.id in {" + " ".join(str(n) for n in range(17)) + "}",  # past one OR chain: a CASE, no index
        "data.new.id > 3",
    ):
        assert "@>" not in compile_filter(typed, dialect=POSTGRES).where, typed
    assert "@>" not in compile_filter("data.new.id == 3", dialect=PostgresDialect(containment=False)).where


def test_the_gin_index_answers_an_equality_on_a_payload_path(stores: tuple[Path, Any]) -> None:
    _, postgres = stores
    compiled = compile_filter("data.new.x == 3", dialect=POSTGRES)
    conn = postgres.conn
    with conn.transaction():
        # A handful of rows: the planner would rather scan them (or another index); what matters is that it can.
        conn.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                "EXPLAIN SELECT e.seq FROM events e WHERE " + to_psycopg(compiled.where), compiled.params
            )
        )
    assert "events_doc" in plan, plan
