"""Export and import: JSONL round trips exactly, HAR opens in HTTP tools, secrets stay out, bad input is refused
line by line and leaves nothing behind; the command line's exit codes. Real capture files throughout."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from inspector.core.events import EventRecord, InvocationRecord
from inspector.core.redaction import redact_url
from inspector.store.capture_file import CaptureFile, CaptureWriter
from inspector.store.exchange import ExchangeError, export_har, export_jsonl, import_jsonl
from tests.helpers.captures import (
    ADMIN_SECRET,
    SESSION_USER,
    USER_ID,
    WEBHOOK_SECRET,
    build_sample,
    event_dict,
    exported_rows,
    invocation_dict,
    ok_response,
    table_rows,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sample(tmp_path: Path) -> CaptureFile:
    capture = build_sample(tmp_path / "sample.inspector")
    yield capture  # type: ignore[misc]
    capture.close()


def jsonl(capture: CaptureFile, redact: bool = False) -> str:
    out = io.StringIO()
    export_jsonl(capture, out, redact)
    return out.getvalue()


def har(capture: CaptureFile, redact: bool = False) -> dict[str, Any]:
    out = io.StringIO()
    export_har(capture, out, redact)
    return json.loads(out.getvalue())


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".") or p.name.endswith(".tmp"))


# --- JSONL ---------------------------------------------------------------------------------------------------------


def test_jsonl_lines_carry_a_kind_and_json_columns_as_json(sample: CaptureFile) -> None:
    text = jsonl(sample)
    lines = text.splitlines()  # str.splitlines also splits on U+2028: the export escapes it, so lines stay whole
    records = [json.loads(line) for line in lines]
    assert len(lines) == len(text.split("\n")) - 1
    header, end = records[0], records[-1]
    assert header["kind"] == "capture" and header["format"] == "inspector-capture-jsonl" and header["version"] == 1
    assert header["info"]["endpoint"] == "http://localhost:8080/v1/graphql" and header["info"]["schema_version"] == 1
    kinds = [r["kind"] for r in records[1:-1]]
    assert kinds == sorted(
        kinds,
        key=[
            "trigger_snapshot",
            "event",
            "event_state",
            "invocation",
            "operation",
            "message",
            "log",
            "mark",
            "note",
        ].index,
    )  # table by table
    assert end == {
        "kind": "end",
        "records": len(kinds),
        "counts": {
            "trigger_snapshot": 2,
            "event": 3,
            "event_state": 6,
            "invocation": 5,
            "operation": 1,
            "message": 2,
            "log": 2,
            "mark": 2,
            "note": 1,
        },
    }
    event = next(r for r in records if r["kind"] == "event")
    assert isinstance(event["payload"], dict) and event["payload"]["data"]["new"]["note"] == "café ☕ line\u2028sep"
    assert event["seq"] == 1 and event["attempts"] == 2 and event["last_http_status"] == 200
    invocation = next(r for r in records if r["kind"] == "invocation")
    assert invocation["request"]["payload"]["event"] == event["payload"]
    assert invocation["response"] == {"type": "client_error", "data": {"message": "kitchen closed"}, "version": "2"}
    operation = next(r for r in records if r["kind"] == "operation")
    assert operation["operation_kind"] == "stream" and operation["cursor"] == {"created": "t1"}
    assert next(r for r in records if r["kind"] == "mark")["mark_kind"] == "event"
    assert next(r for r in records if r["kind"] == "message")["raw"].startswith('{"id": "1"')  # frame text as is
    assert not any("_text" in r for r in records)


def test_export_import_export_is_identical(sample: CaptureFile, tmp_path: Path) -> None:
    first = jsonl(sample)
    count = import_jsonl(io.StringIO(first), tmp_path / "copy.inspector")
    assert count == len(first.splitlines()) - 2
    copy = CaptureFile.open(tmp_path / "copy.inspector")
    assert jsonl(copy) == first
    # Same rows, same values, same seq (the writer already kept the webhook headers' secrets out of the capture).
    assert ADMIN_SECRET not in json.dumps(table_rows(sample))
    assert json.dumps(table_rows(copy), ensure_ascii=False) == exported_rows(sample)
    assert copy.info() == sample.info()
    # Search indexes are rebuilt.
    hits = copy.conn.execute("SELECT rowid FROM events_fts WHERE events_fts MATCH 'pizza'").fetchall()
    assert len(hits) == 2
    assert copy.conn.execute("SELECT count(*) FROM invocations_fts WHERE invocations_fts MATCH 'kitchen'").fetchone()[0]
    # The imported capture keeps working as a capture: a writer continues the attempt numbering.
    writer = CaptureWriter(copy)
    event = event_dict("6f1c2d3e-0001-4000-8000-000000000001")
    assert writer.observe_event(EventRecord.from_hasura({**event, "tries": 2, "delivered": True})) == "same"
    writer.observe_invocation(
        InvocationRecord.from_hasura(invocation_dict("inv-0099", event, 200, ok_response(), "2024-03-01T12:05:00"))
    )
    writer.flush()
    assert copy.invocations_of(event["id"])[-1]["attempt"] == 3
    copy.close()
    assert leftovers(tmp_path) == []


def test_stored_text_that_is_not_canonical_json_survives_the_round_trip(sample: CaptureFile, tmp_path: Path) -> None:
    with sample.conn:
        sample.conn.execute("UPDATE operations SET variables = '{ \"since\" : 1 }', cursor = 'null'")
        sample.conn.execute("UPDATE messages SET data = 'not json {' WHERE seq = 1")
    text = jsonl(sample)
    operation = next(json.loads(line) for line in text.splitlines() if '"kind":"operation"' in line)
    assert operation["variables"] == {"since": 1} and operation["cursor"] is None
    assert operation["_text"] == {"variables": '{ "since" : 1 }', "cursor": "null"}
    import_jsonl(text.splitlines(keepends=True), tmp_path / "copy.inspector")
    copy = CaptureFile.open(tmp_path / "copy.inspector")
    assert json.dumps(table_rows(copy), ensure_ascii=False) == exported_rows(sample)
    assert copy.rows("SELECT cursor FROM operations") == [{"cursor": "null"}]
    assert copy.rows("SELECT data FROM messages WHERE seq = 1") == [{"data": "not json {"}]
    copy.close()


def test_capture_info_is_restored_whatever_its_keys(tmp_path: Path) -> None:
    info = {"schema_version": 1, "self": "odd key", "endpoint": "http://h/v1/graphql", "triggers_followed": ["a"]}
    header = json.dumps({"kind": "capture", "format": "inspector-capture-jsonl", "version": 1, "info": info})
    assert import_jsonl([header], tmp_path / "c.inspector") == 0
    restored = CaptureFile.open(tmp_path / "c.inspector").info()
    assert {k: restored[k] for k in info} == info


def test_import_accepts_crlf_blank_lines_a_bom_and_no_end_line(sample: CaptureFile, tmp_path: Path) -> None:
    lines = jsonl(sample).splitlines()[:-1]  # without the end line (a hand-filtered file)
    text = "\ufeff" + "\r\n".join(lines[:3]) + "\r\n\r\n" + "\n".join(lines[3:]) + "\n\n"
    path = tmp_path / "in.jsonl"
    path.write_text(text, encoding="utf-8", newline="")
    result = run_cli("import", str(path), "--out", str(tmp_path / "copy.inspector"))
    assert result.returncode == 0, result.stderr
    copy = CaptureFile.open(tmp_path / "copy.inspector")
    assert json.dumps(table_rows(copy), ensure_ascii=False) == exported_rows(sample)
    copy.close()


BAD_LINES = [
    (1, "", "the file is empty"),
    (1, '{"kind":"event","id":"x"}', "expected the capture header"),
    (1, '{"kind":"capture","format":"inspector-capture-jsonl","version":7,"info":{}}', "format version 7"),
    (1, "[1, 2]", "expected a JSON object"),
    (2, '{"kind":"event","id":"e1","payload":{"op":"INSERT"', "not valid JSON"),
    (2, '{"id":"e1"}', 'no "kind" string'),
    (2, '{"kind":"evnt","id":"e1"}', "unknown kind 'evnt'"),
    (2, '{"kind":"event","id":"e1","colour":"red"}', "unknown field 'colour' for kind 'event'"),
    (2, '{"kind":"event","trigger_name":"t"}', "event needs a non-null 'id'"),
    (2, '{"kind":"event","id":"e1","tries":"3"}', "event.tries must be an integer or null"),
    (2, '{"kind":"event","id":"e1","created_ts":NaN}', "not valid JSON"),
    (2, '{"kind":"invocation","id":"i1","attempts":1}', "unknown field 'attempts'"),
    (2, '{"kind":"event","id":"e1","_text":{"tries":"3"}}', "_text must map JSON columns"),
    (2, '{"kind":"capture","format":"inspector-capture-jsonl","version":1}', "a second capture header"),
]


@pytest.mark.parametrize(("line", "text", "reason"), BAD_LINES, ids=[b[2] for b in BAD_LINES])
def test_a_malformed_line_is_reported_with_its_number_and_nothing_is_written(
    tmp_path: Path, line: int, text: str, reason: str
) -> None:
    header = '{"kind":"capture","format":"inspector-capture-jsonl","version":1,"info":{}}'
    lines = [text] if line == 1 else [header, text]
    out = tmp_path / "out.inspector"
    with pytest.raises(ExchangeError, match=rf"^line {line}: .*{_escape(reason)}") as caught:
        import_jsonl(lines, out)
    assert caught.value.line == line
    assert not out.exists() and leftovers(tmp_path) == []


def _escape(text: str) -> str:
    import re

    return re.escape(text)


def test_a_conflict_or_a_cut_short_file_is_refused_late_and_an_existing_file_survives(
    sample: CaptureFile, tmp_path: Path
) -> None:
    lines = jsonl(sample).splitlines()
    out = tmp_path / "existing.inspector"
    out.write_bytes(b"precious")
    duplicate = [*lines[:-1], lines[5], lines[-1]]  # an event line again, just before the end line
    with pytest.raises(ExchangeError, match=rf"^line {len(lines)}: event conflicts with an earlier line \(same seq\)"):
        import_jsonl(duplicate, out, overwrite=True)
    dropped = [*lines[:4], *lines[5:]]  # one line lost, the end line still says how many there were
    with pytest.raises(
        ExchangeError,
        match=rf"^line {len(lines) - 1}: the end line counts 3 event records but the "
        "file holds 2",
    ):
        import_jsonl(dropped, out, overwrite=True)
    after_end = [*lines, lines[5]]
    with pytest.raises(ExchangeError, match=rf"^line {len(lines) + 1}: a 'event' line after the end line"):
        import_jsonl(after_end, out, overwrite=True)
    assert out.read_bytes() == b"precious" and leftovers(tmp_path) == []
    with pytest.raises(FileExistsError):
        import_jsonl(lines, out)
    assert import_jsonl(lines, out, overwrite=True) == len(lines) - 2
    assert CaptureFile.open(out).count("events") == 3


# --- redaction -----------------------------------------------------------------------------------------------------


def test_the_admin_secret_never_leaves_even_without_redact(sample: CaptureFile) -> None:
    raw = sample.conn.execute("SELECT request FROM invocations WHERE id = 'inv-0001'").fetchone()[0]
    # Hasura logs configured header values; the writer replaced the credential ones before they reached the file
    assert ADMIN_SECRET not in raw and WEBHOOK_SECRET not in raw and "<redacted>" in raw
    with sample.conn:  # a capture written by something else may still hold one: exports drop it all the same
        sample.conn.execute(
            "UPDATE invocations SET request = replace(request, ?, ?)",
            (
                '"name":"x-hasura-admin-secret","value":"<redacted>"',
                f'"name":"x-hasura-admin-secret","value":"{ADMIN_SECRET}"',
            ),
        )
    assert ADMIN_SECRET in sample.conn.execute("SELECT request FROM invocations WHERE id = 'inv-0001'").fetchone()[0]
    for text in (jsonl(sample), json.dumps(har(sample))):
        assert ADMIN_SECRET not in text
    plain = jsonl(sample)
    assert SESSION_USER in plain  # without --redact the rest is exported as captured


def test_redact_hides_secret_headers_and_session_variables_but_keeps_the_role(sample: CaptureFile) -> None:
    text = jsonl(sample, redact=True)
    assert WEBHOOK_SECRET not in text and ADMIN_SECRET not in text and "sid=abc123" not in text
    records = [json.loads(line) for line in text.splitlines()]
    event = next(r for r in records if r["kind"] == "event")
    assert SESSION_USER not in text
    assert event["payload"]["session_variables"] == {"x-hasura-role": "user", "x-hasura-user-id": "<redacted>"}
    assert event["payload"]["data"]["new"]["user_id"] == USER_ID  # row data is not a secret by this rule
    invocation = next(r for r in records if r["kind"] == "invocation" and r["id"] == "inv-0002")
    headers = {h["name"]: h.get("value", h.get("value_from_env")) for h in invocation["request"]["headers"]}
    assert headers == {
        "Content-Type": "application/json",
        "User-Agent": "hasura-graphql-engine/v2.48.0",
        "X-Webhook-Secret": "<redacted>",
        "x-hasura-admin-secret": "<redacted>",
        "X-Env-Token": "HANDLER_TOKEN",
        "X-Tenant": "<redacted>",  # not on the allow-list: redacted when captured
    }
    assert invocation["request"]["payload"]["event"]["session_variables"]["x-hasura-user-id"] == "<redacted>"
    assert invocation["response"]["data"]["headers"] == [
        {"name": "Content-Type", "value": "application/json"},
        {"name": "Set-Cookie", "value": "<redacted>"},
    ]
    entries = har(sample, redact=True)["log"]["entries"]
    assert SESSION_USER not in json.dumps(entries) and WEBHOOK_SECRET not in json.dumps(entries)
    assert '"x-hasura-role":"user"' in entries[0]["request"]["postData"]["text"]
    # A redacted export still imports.
    assert import_jsonl(text.splitlines(), Path(sample.path).with_name("redacted.inspector")) == len(records) - 2


def test_redact_url() -> None:
    assert (
        redact_url("https://bot:pa55@hooks.example.com/h?token=abc&x=1")
        == "https://hooks.example.com/h?token=redacted&x=redacted"
    )
    assert redact_url("http://localhost:8081/validate-order") == "http://localhost:8081/validate-order"


# --- HAR -----------------------------------------------------------------------------------------------------------


def check_har(document: dict[str, Any]) -> None:
    """The HAR 1.2 required fields and their types (http://www.softwareishard.com/blog/har-12-spec/)."""
    log = document["log"]
    assert log["version"] == "1.2"
    assert isinstance(log["creator"]["name"], str) and isinstance(log["creator"]["version"], str)
    assert isinstance(log["entries"], list)
    for entry in log["entries"]:
        assert isinstance(entry["startedDateTime"], str) and entry["startedDateTime"].endswith("Z")
        assert isinstance(entry["time"], int | float) and entry["time"] >= 0
        request, response, timings = entry["request"], entry["response"], entry["timings"]
        assert isinstance(request["method"], str) and isinstance(request["url"], str)
        assert isinstance(request["httpVersion"], str)
        for key in ("cookies", "headers", "queryString"):
            assert isinstance(request[key], list)
        for header in request["headers"] + response["headers"]:
            assert isinstance(header["name"], str) and isinstance(header["value"], str)
        assert isinstance(request["headersSize"], int) and isinstance(request["bodySize"], int)
        if "postData" in request:
            assert isinstance(request["postData"]["mimeType"], str) and isinstance(request["postData"]["text"], str)
        assert isinstance(response["status"], int) and isinstance(response["statusText"], str)
        assert isinstance(response["httpVersion"], str)
        assert isinstance(response["cookies"], list) and isinstance(response["headers"], list)
        content = response["content"]
        assert isinstance(content["size"], int) and isinstance(content["mimeType"], str)
        assert isinstance(response["redirectURL"], str)
        assert isinstance(response["headersSize"], int) and isinstance(response["bodySize"], int)
        assert isinstance(entry["cache"], dict)
        for key in ("send", "wait", "receive"):
            assert isinstance(timings[key], int | float) and timings[key] >= 0
        assert entry["time"] == sum(v for v in timings.values() if v != -1)


def test_har_has_one_valid_entry_per_invocation(sample: CaptureFile) -> None:
    document = har(sample)
    check_har(document)
    entries = {e["_inspector"]["invocation_id"]: e for e in document["log"]["entries"]}
    assert list(entries) == ["inv-0001", "inv-0002", "inv-0003", "inv-0004", "inv-0005"]

    failed, ok = entries["inv-0001"], entries["inv-0002"]
    assert failed["request"]["method"] == "POST" and failed["request"]["url"] == "http://localhost:8081/validate-order"
    body = json.loads(failed["request"]["postData"]["text"])
    assert body["id"] == "6f1c2d3e-0001-4000-8000-000000000001" and body["trigger"] == {"name": "validate-order"}
    assert failed["request"]["postData"]["mimeType"] == "application/json"
    assert {
        "name": "X-Env-Token",
        "value": "",
        "comment": "value from environment variable HANDLER_TOKEN (not recorded)",
    } in failed["request"]["headers"]
    assert (failed["response"]["status"], failed["response"]["statusText"]) == (500, "Internal Server Error")
    assert failed["response"]["content"] == {"size": 14, "mimeType": "text/plain", "text": "kitchen closed"}
    assert failed["startedDateTime"] == "2024-03-01T12:00:01.000Z"
    assert failed["time"] == 0 and failed["_durationUnknown"] is True

    assert ok["response"]["status"] == 200 and ok["response"]["httpVersion"] == "HTTP/1.1"
    assert ok["response"]["content"]["text"] == '{"ok":true}'
    assert ok["response"]["content"]["mimeType"] == "application/json"
    assert ok["time"] == 42.5 and ok["timings"]["wait"] == 42.5 and "_durationUnknown" not in ok

    network = entries["inv-0003"]  # no HTTP answer, and a trigger whose webhook comes from the environment
    assert network["request"]["url"] == "urn:hasura-trigger:restaurant-approval"
    assert network["response"]["status"] == 0 and "connection refused" in network["response"]["_error"]
    legacy = entries["inv-0004"]
    assert legacy["response"]["status"] == 0 and legacy["_inspector"]["stored_status"] == 1000
    binary = entries["inv-0005"]["response"]["content"]
    assert binary["encoding"] == "base64" and binary["mimeType"] == "image/png" and binary["size"] == 16


def test_har_of_an_empty_capture(tmp_path: Path) -> None:
    capture = CaptureFile.create(tmp_path / "empty.inspector")
    document = har(capture)
    check_har(document)
    assert document["log"]["entries"] == []
    assert (
        jsonl(capture).splitlines()[-1] == '{"kind":"end","records":0,"counts":{"trigger_snapshot":0,"event":0,'
        '"event_state":0,"invocation":0,"operation":0,"message":0,"log":0,"mark":0,"note":0}}'
    )
    capture.close()


# --- big captures --------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_exporting_a_large_capture_keeps_memory_flat(tmp_path: Path) -> None:
    capture = CaptureFile.create(tmp_path / "big.inspector")
    writer = CaptureWriter(capture, batch_size=5000)
    filler = "x" * 400
    for i in range(20_000):
        event = event_dict(f"ev-{i:06d}", new={"order_id": f"o{i}", "filler": filler})
        writer.observe_event(EventRecord.from_hasura(event), now=float(i))
    writer.flush()

    class Counting(io.TextIOBase):
        size = 0
        lines = 0

        def write(self, text: str) -> int:
            self.size += len(text)
            self.lines += text.count("\n")
            return len(text)

    sink = Counting()
    tracemalloc.start()
    try:
        assert export_jsonl(capture, sink) == 40_000  # events and their first states
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sink.size > 15_000_000 and sink.lines == 40_002
    assert peak < 8_000_000, f"peak {peak} bytes while writing {sink.size}"  # pages of 1000 rows, not the file
    capture.close()


# --- the command line ----------------------------------------------------------------------------------------------


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        input=stdin,
        encoding="utf-8",
    )


def test_cli_export_import_round_trip_and_har(sample: CaptureFile, tmp_path: Path) -> None:
    expected = jsonl(sample)
    path = str(sample.path)
    result = run_cli("export", path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected and result.stderr == ""

    out = tmp_path / "sample.jsonl"
    result = run_cli("export", path, "--format", "jsonl", "--out", str(out))
    assert result.returncode == 0 and "inspector export: 24 records ->" in result.stderr
    assert out.read_text(encoding="utf-8") == expected

    copy = tmp_path / "copy.inspector"
    result = run_cli("import", str(out), "--out", str(copy))
    assert result.returncode == 0 and "24 records" in result.stderr
    assert run_cli("export", str(copy)).stdout == expected
    result = run_cli("import", "-", "--out", str(tmp_path / "from-stdin.inspector"), stdin=expected)
    assert result.returncode == 0, result.stderr

    result = run_cli("export", path, "--out", str(tmp_path / "sample.har"))  # format from the extension
    assert result.returncode == 0 and "5 entries" in result.stderr
    check_har(json.loads((tmp_path / "sample.har").read_text(encoding="utf-8")))
    redacted = run_cli("export", path, "--format", "har", "--redact")
    assert redacted.returncode == 0 and WEBHOOK_SECRET not in redacted.stdout and SESSION_USER not in redacted.stdout
    check_har(json.loads(redacted.stdout))


def test_cli_usage_errors_exit_2_with_one_line_and_no_traceback(sample: CaptureFile, tmp_path: Path) -> None:
    text_file = tmp_path / "notes.txt"
    text_file.write_text("hello\n")
    damaged = tmp_path / "damaged.inspector"
    damaged.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 20)
    bad_jsonl = tmp_path / "bad.jsonl"
    bad_jsonl.write_text('{"kind":"capture","format":"inspector-capture-jsonl","version":1,"info":{}}\n{"kind":\n')
    not_utf8 = tmp_path / "latin1.jsonl"
    not_utf8.write_bytes(
        b'{"kind":"capture","format":"inspector-capture-jsonl","version":1,"info":{}}\n'
        b'{"kind":"log","message":"caf\xe9"}\n'
    )
    existing = tmp_path / "existing.inspector"
    existing.write_bytes(b"keep me")
    cases = [
        (("export", str(tmp_path / "missing.inspector")), "no such file"),
        (("export", str(text_file)), "not a capture file (not an SQLite database)"),
        (("export", str(damaged)), "is not a capture file or is damaged"),
        (("export", str(sample.path), "--out", str(sample.path)), "is the capture itself"),
        (("export", str(sample.path), "--out", str(tmp_path / "no-dir" / "x.jsonl")), "no directory"),
        (("import", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "x.inspector")), "no such file"),
        (("import", str(bad_jsonl), "--out", str(tmp_path / "x.inspector")), "bad.jsonl: line 2: not valid JSON"),
        (
            ("import", str(sample.path), "--out", str(tmp_path / "x.inspector")),
            "sample.inspector: line 1: this is a capture file (SQLite)",
        ),
        (("import", str(not_utf8), "--out", str(tmp_path / "x.inspector")), "line 2: not UTF-8 text (byte 29)"),
        (("import", str(bad_jsonl), "--out", str(existing)), "exists; choose another file or add --force"),
        (("export", str(sample.path), "--format", "xml"), "invalid choice"),
        (("import", str(bad_jsonl)), "the following arguments are required: --out"),
    ]
    for args, message in cases:
        result = run_cli(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr and result.stdout == ""
        if "usage:" not in result.stderr:  # argparse's own errors come with the usage line
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "x.inspector").exists()
    assert existing.read_bytes() == b"keep me"
    assert leftovers(tmp_path) == []


def test_cli_export_with_a_display_filter(sample: CaptureFile, tmp_path: Path) -> None:
    import subprocess
    import sys

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "inspector", "export", str(sample.path), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )

    everything = [json.loads(line) for line in run().stdout.splitlines()]
    some = [json.loads(line) for line in run("--filter", 'trigger == "validate-order"').stdout.splitlines()]
    all_events = [r for r in everything if r["kind"] == "event"]
    chosen = [r for r in some if r["kind"] == "event"]
    assert 0 < len(chosen) < len(all_events)
    assert {r["trigger_name"] for r in chosen} == {"validate-order"}
    chosen_ids = {r["id"] for r in chosen}
    assert {r["event_id"] for r in some if r["kind"] == "invocation"} <= chosen_ids
    bad = run("--filter", "trigger ==")
    assert bad.returncode == 2 and "--filter" in bad.stderr and "^" in bad.stderr and "Traceback" not in bad.stderr


# --- the allow-list: trigger header values and URL credentials stay out of captures and exports ----------------------

KEYS = {"x-functions-key": "fk-7f3a", "X-Hub-Signature": "sha1=9b2c", "x-api_key": "ak-51d0"}
"""Webhook header names a deny-list of credential-looking words let through (issue 12.4)."""


def test_trigger_header_values_whatever_their_name_stay_out_of_the_capture_and_plain_exports(tmp_path: Path) -> None:
    capture = CaptureFile.create(tmp_path / "keys.inspector")
    writer = CaptureWriter(capture)
    event = event_dict("ev-k")
    writer.observe_event(EventRecord.from_hasura(event))
    response = {
        "type": "webhook_response",
        "data": {"body": "ok", "headers": [{"name": "Set-Cookie", "value": "sid=s3ss10n"}], "status": 200},
        "version": "2",
    }
    record = invocation_dict("inv-k", event, 200, response, "2024-03-01T12:00:01.000000")
    record["request"]["headers"] = [{"name": n, "value": v} for n, v in KEYS.items()] + [
        {"name": "Content-Type", "value": "application/json"},
        {"name": "traceparent", "value": "00-ab-cd-01"},
    ]
    writer.observe_invocation(InvocationRecord.from_hasura(record))
    writer.flush()
    stored = json.dumps(capture.rows("SELECT request, response FROM invocations"))
    for secret in [*KEYS.values(), "sid=s3ss10n"]:
        assert secret not in stored
        assert secret not in jsonl(capture)
        assert secret not in json.dumps(har(capture))
    assert "application/json" in stored and "00-ab-cd-01" in stored  # the allow-list stays readable
    capture.close()


def test_webhook_url_credentials_leave_no_trace_in_a_redacted_export(tmp_path: Path) -> None:
    url = "https://bot:pa55w0rd@hooks.example.com/api/h?code=azf-c0de&sig=s1gn"
    capture = CaptureFile.create(tmp_path / "url.inspector")
    writer = CaptureWriter(capture)
    writer.snapshot_triggers([("default", {"schema": "public", "name": "orders"}, {"name": "t", "webhook": url})])
    event = event_dict("ev-u")
    writer.observe_event(EventRecord.from_hasura(event))
    exception = json.dumps(
        {
            "type": "http_exception",
            "message": f"Cannot connect to host hooks.example.com: {url}",
            "request": {"url": url, "method": "POST"},
            "status": None,
        }
    )
    response = {"type": "client_error", "data": {"message": exception}, "version": "2"}
    writer.observe_invocation(
        InvocationRecord.from_hasura(invocation_dict("inv-u", event, None, response, "2024-03-01T12:00:01.000000"))
    )
    writer.log("error", "follower", f"cannot reach {url}")
    writer.flush()
    stored = json.dumps(
        capture.rows("SELECT response FROM invocations") + capture.rows("SELECT config FROM trigger_snapshots")
    )
    for secret in ("pa55w0rd", "azf-c0de", "s1gn"):
        assert secret not in stored
        assert secret not in jsonl(capture, redact=True)
        assert secret not in json.dumps(har(capture, redact=True))
    assert "hooks.example.com/api/h?code=redacted" in jsonl(capture, redact=True)
    capture.close()
