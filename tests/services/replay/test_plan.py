"""Replay plans, judging and reports, without sockets: targets, orderings, the host check, ignore paths, verdicts,
JUnit and HTML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from inspector.core.hasura import USER_AGENT, HeaderConf, RetryConf
from inspector.services.replay.plan import (
    IGNORED,
    Answer,
    CheckResult,
    Ordering,
    OrderingOutcome,
    PlanEvent,
    PlanItem,
    PlanOptions,
    RemoteTargetRefused,
    ReplayReport,
    Target,
    TriggerInfo,
    Verdict,
    arrange,
    bind_variables,
    build_plan,
    json_diff,
    json_equal,
    judge_duplicates,
    judge_orderings,
    judge_recorded,
    judge_status,
    parse_ignore_path,
    parse_order,
    parse_target_spec,
    resolve_headers,
    strip_ignored,
    user_agent_for,
)
from inspector.services.replay.report import html_report, junit_xml


def event(n: int, trigger: str = "validate-order", variant_of: str | None = None, **row: Any) -> PlanEvent:
    return PlanEvent(
        id=f"e{n}",
        trigger_name=trigger,
        schema_name="public",
        table_name="orders",
        payload={"op": "INSERT", "data": {"old": None, "new": {"order_id": f"o{n}", **row}}},
        created_at=f"2024-03-01T12:00:{n:02d}",
        created_ts=1_700_000_000.0 + n,
        seq=100 - n,  # captured in the reverse of creation order
        variant_of=variant_of,
    )


TRIGGERS = {
    "validate-order": TriggerInfo(
        "validate-order", webhook="http://localhost:8081/validate-order", retry_conf=RetryConf(3, 2, 60)
    ),
    "process-payment": TriggerInfo(
        "process-payment", webhook="{{HANDLERS}}/process-payment", enable_manual=True, retry_conf=RetryConf(1, 1, 5)
    ),
    "from-env": TriggerInfo("from-env", webhook_from_env="FROM_ENV_URL"),
}


# --- ignore paths and comparison -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("$.created_at", ("created_at",), True),
        ("$.created_at", ("row", "created_at"), False),
        ("created_at", ("row", "created_at"), True),
        ("created_at", ("created_at",), True),
        ("*.id", ("rows", 0, "id"), True),
        ("*.id", ("row", "id"), True),
        ("*.id", ("id",), False),
        ("$..id", ("a", "b", "id"), True),
        ("$.**.id", ("id",), True),
        ("$.items[*].id", ("items", 3, "id"), True),
        ("$.items[*].id", ("items", "x", "id"), False),
        ("$.rows[0]", ("rows", 0), True),
        ("$.rows[0]", ("rows", 1), False),
        ("*_at", ("event", "updated_at"), True),
        ("$['odd key']", ("odd key",), True),
        ('$["a.b"].c', ("a.b", "c"), True),
        ("$.payment_id", ("payment_id",), True),
        ("$.payment_id", ("payment_ids",), False),
    ],
)
def test_ignore_paths_match(pattern: str, path: tuple[str | int, ...], matches: bool) -> None:
    assert parse_ignore_path(pattern).matches(path) is matches


@pytest.mark.parametrize("bad", ["", "$", "$..", "$.a[", "$.a[x]", "$.a..", "$..*", "**"])
def test_bad_ignore_paths_say_why(bad: str) -> None:
    with pytest.raises(ValueError, match="ignore path"):
        parse_ignore_path(bad)


def test_strip_ignored_drops_keys_and_masks_items() -> None:
    value = {"id": 1, "created_at": "x", "rows": [{"id": 5, "v": 1}, 7], "nested": {"created_at": "y", "k": 2}}
    paths = [parse_ignore_path(p) for p in ("$.created_at", "*.id", "$.rows[1]")]
    assert strip_ignored(value, paths) == {
        "id": 1,
        "rows": [{"v": 1}, IGNORED],
        "nested": {"created_at": "y", "k": 2},
    }
    assert strip_ignored(value, []) is value


def test_json_equal_is_typed_and_diff_names_paths() -> None:
    assert json_equal({"a": 1, "b": [1.0]}, {"b": [1], "a": 1})
    assert not json_equal(True, 1) and not json_equal(0, False) and not json_equal("1", 1)
    assert not json_equal([1, 2], [2, 1])
    diff = json_diff({"a": 1, "b": {"c": [1, 2]}, "gone": 0}, {"a": 2, "b": {"c": [1]}, "new": True})
    assert diff == ["$.a: 1 → 2", "$.b.c: 2 items → 1 item", "$.gone: 0 → (absent)", "$.new: (absent) → true"]
    many = json_diff({str(n): n for n in range(20)}, {str(n): -n for n in range(20)}, limit=3)
    assert len(many) == 4 and many[-1] == "… and 16 more differences"
    assert json_diff({"a b": 1}, {"a b": 2}) == ['$["a b"]: 1 → 2']


# --- orderings -----------------------------------------------------------------------------------------------------


def test_orderings() -> None:
    events = [event(n) for n in range(6)]
    assert [e.id for e in arrange(events, Ordering("captured"))] == ["e5", "e4", "e3", "e2", "e1", "e0"]
    assert [e.id for e in arrange(events, Ordering("created"))] == ["e0", "e1", "e2", "e3", "e4", "e5"]
    assert [e.id for e in arrange(events, Ordering("reverse"))] == ["e5", "e4", "e3", "e2", "e1", "e0"]
    one = [e.id for e in arrange(events, Ordering("shuffle", 1))]
    assert one == [e.id for e in arrange(list(reversed(events)), Ordering("shuffle", 1))]  # input order is irrelevant
    assert sorted(one) == sorted(e.id for e in events)
    assert len({tuple(e.id for e in arrange(events, Ordering("shuffle", s))) for s in range(10)}) > 5


def test_parse_order() -> None:
    assert parse_order("created") == (Ordering("created"),)
    assert parse_order("Shuffle:3") == (Ordering("shuffle", 3),)
    assert parse_order("shuffle:1, 2,-3") == (Ordering("shuffle", 1), Ordering("shuffle", 2), Ordering("shuffle", -3))
    assert [o.label for o in parse_order("shuffle:1,2")] == ["shuffle:1", "shuffle:2"]
    for bad in ("random", "shuffle:", "shuffle:a", "shuffle:1,1"):
        with pytest.raises(ValueError, match="order"):
            parse_order(bad)


# --- targets and the plan ------------------------------------------------------------------------------------------


ENV = {"HANDLERS": "http://127.0.0.1:9000", "FROM_ENV_URL": "http://[::1]:7000/hook"}


def test_targets_in_order_of_precedence() -> None:
    events = [
        event(1),
        event(2, "process-payment"),
        event(3, "from-env"),
        event(4, "process-payment", variant_of="e2"),
    ]
    plan = build_plan(events, TRIGGERS, PlanOptions(), ENV)
    assert not plan.errors
    urls = {i.event.id: (i.target.kind, i.target.url) for i in plan.items}
    assert urls == {
        "e1": ("webhook", "http://localhost:8081/validate-order"),
        "e2": ("webhook", "http://127.0.0.1:9000/process-payment"),
        "e3": ("webhook", "http://[::1]:7000/hook"),
        "e4": ("webhook", "http://127.0.0.1:9000/process-payment"),
    }
    backend = "http://127.0.0.1:8080/v1/metadata"
    plan = build_plan(
        events, TRIGGERS, PlanOptions(via_backend=backend, targets={"from-env": "http://127.0.0.2/{trigger}"}), ENV
    )
    targets = {i.event.id: i.target for i in plan.items}
    assert targets["e1"] == Target("backend", backend, "pg_redeliver_event")
    assert targets["e4"] == Target("backend", backend, "pg_invoke_event_trigger")
    assert targets["e3"] == Target("override", "http://127.0.0.2/from-env")
    plan = build_plan(events, TRIGGERS, PlanOptions(targets={"*": "http://localhost:3000/{trigger}"}), {})
    assert {i.target.url for i in plan.items} == {
        f"http://localhost:3000/{t}" for t in ("validate-order", "process-payment", "from-env")
    }
    assert not plan.errors  # the override makes the unset environment irrelevant


def test_plan_errors_say_what_to_do() -> None:
    events = [event(1, "process-payment"), event(2, "from-env"), event(3, "unknown"), event(4, variant_of="e1")]
    plan = build_plan(events, TRIGGERS, PlanOptions(targets={"validat-order": "http://localhost/x"}), {})
    text = "\n".join(plan.errors)
    assert "--target validat-order: the capture has no trigger of that name (did you mean validate-order?)" in text
    assert "needs the environment variable HANDLERS" in text
    assert "environment variable FROM_ENV_URL, which is not set" in text
    assert "trigger unknown: not in the capture's trigger snapshot" in text
    assert all("give --target" in e for e in plan.errors[1:])
    plan = build_plan(
        [event(4, variant_of="e1")], TRIGGERS, PlanOptions(via_backend="http://localhost:8080/v1/metadata"), {}
    )
    assert any("enable_manual" in e for e in plan.errors)
    bad = PlanOptions(
        duplicate=0,
        concurrency=0,
        rate=0,
        orderings=parse_order("shuffle:1,2"),
        state_query="mutation { x }",
        reset_query="query { x }",
        ignore=("$",),
        graphql_url="http://localhost:8080/v1/graphql",
    )
    errors = "\n".join(build_plan([event(1)], TRIGGERS, bad, {}).errors)
    for expected in ("--duplicate", "--concurrency", "--rate", "must be a query", "must be a mutation", "names no key"):
        assert expected in errors
    errors = "\n".join(build_plan([event(1)], TRIGGERS, PlanOptions(orderings=parse_order("shuffle:1,2")), {}).errors)
    assert "needs --state-query" in errors


def test_remote_hosts_need_consent() -> None:
    events = [event(1), event(2, "process-payment"), event(3, "from-env")]
    options = PlanOptions(
        targets={"process-payment": "https://hooks.example.com/p", "from-env": "http://127.0.0.1.nip.io/x"},
        state_query="query ($order_id: String!) { orders { order_id } }",
        graphql_url="http://10.0.0.7:8080/v1/graphql",
    )
    plan = build_plan(events, TRIGGERS, options, ENV)
    assert plan.hosts == ["10.0.0.7", "127.0.0.1.nip.io", "hooks.example.com", "localhost"]
    assert plan.remote_hosts == ["10.0.0.7", "127.0.0.1.nip.io", "hooks.example.com"]
    with pytest.raises(RemoteTargetRefused) as refused:
        plan.check_consent(allow_remote=False)
    assert "10.0.0.7, 127.0.0.1.nip.io, hooks.example.com" in str(refused.value)
    plan.check_consent(allow_remote=True)
    assert any("hooks.example.com (REMOTE)" in line for line in plan.describe())
    local = build_plan(
        events,
        TRIGGERS,
        PlanOptions(targets={"*": "http://127.0.0.3:1/x"}, via_backend="http://[::1]:8080/v1/metadata"),
        {},
    )
    assert local.remote_hosts == [] and local.hosts == ["127.0.0.3"]
    local.check_consent(allow_remote=False)


def test_counts_are_written_singular_or_plural() -> None:
    plan = build_plan([event(1)], TRIGGERS, PlanOptions(), ENV)
    text = "\n".join(plan.describe())
    assert "Replay plan: 1 event, each delivered once, in 1 ordering (captured): 1 attempt" in text
    assert "validate-order      1 event → " in text
    assert "(s)" not in text
    assert json_diff([1, 2], [1]) == ["$: 2 items → 1 item"]
    assert json_diff({"a": 1, "b": 2}, {"a": 2, "b": 3}, limit=1)[-1] == "… and 1 more difference"


def test_plan_counts_and_description() -> None:
    options = PlanOptions(
        duplicate=3,
        duplicate_mode="concurrent",
        orderings=parse_order("shuffle:1,2"),
        concurrency=4,
        rate=50,
        expect="recorded",
        ignore=("$.payment_id",),
        state_query="query ($order_id: String!, $missing: Int) { orders { order_id } }",
        graphql_url="http://localhost:8080/v1/graphql",
    )
    plan = build_plan([event(1), event(2)], TRIGGERS, options, ENV)
    assert not plan.errors and plan.attempts == 2 * 3 * 2
    assert plan.state_variables == ("order_id", "missing")
    text = "\n".join(plan.describe())
    assert "2 events, each delivered 3 times concurrent, in 2 orderings (shuffle:1, shuffle:2): 12 attempts" in text
    assert "validate-order      2 events → http://localhost:8081/validate-order (captured webhook)" in text
    assert "Concurrency 4, at most 50 attempts/s" in text and "ignoring $.payment_id" in text
    assert "variable missing matches no column" in text and "no --reset mutation" in text
    assert [[i.event.id for i in items] for _, items in plan.runs()] == [
        [e.id for e in arrange([event(1), event(2)], o)] for o in options.orderings
    ]
    assert bind_variables(plan.state_variables, event(1).row) == {"order_id": "o1"}


def test_parse_target_spec() -> None:
    assert parse_target_spec("validate-order=http://localhost:3000/a=b") == (
        "validate-order",
        "http://localhost:3000/a=b",
    )
    assert parse_target_spec(" * = http://localhost/{trigger}") == ("*", "http://localhost/{trigger}")
    for bad in ("http://localhost", "=http://x", "a=ftp://x", "a=localhost:3000", "a=http://"):
        with pytest.raises(ValueError, match="--target"):
            parse_target_spec(bad)


def test_headers_as_hasura_sends_them() -> None:
    info = TriggerInfo(
        "t",
        headers=(
            HeaderConf("X-Literal", value="<redacted>"),
            HeaderConf("X-Env", value_from_env="TOKEN"),
            HeaderConf("X-Env-Missing", value_from_env="NOPE"),
            HeaderConf("X-Plain", value="from-an-uncensored-capture"),
            HeaderConf("content-type", value="text/plain"),
        ),
    )
    send, logged, missing = resolve_headers(
        info, {"x-literal": "supplied"}, {"TOKEN": "t0k"}, "hasura-graphql-engine/v2.1.0"
    )
    assert send == {
        "X-Literal": "supplied",
        "X-Env": "t0k",
        "X-Plain": "from-an-uncensored-capture",
        "Content-Type": "application/json",
        "User-Agent": "hasura-graphql-engine/v2.1.0",
    }
    assert missing == ["X-Env-Missing (value_from_env NOPE is not set)"]
    assert logged[:2] == [
        {"name": "Content-Type", "value": "application/json"},
        {"name": "User-Agent", "value": "hasura-graphql-engine/v2.1.0"},
    ]
    assert {"name": "X-Literal", "value": "<redacted>"} in logged and {
        "name": "X-Env",
        "value_from_env": "TOKEN",
    } in logged
    assert "supplied" not in str(logged) and "t0k" not in str(logged)
    assert resolve_headers(None, {}, {})[0] == {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    assert user_agent_for("v2.40.1") == "hasura-graphql-engine/v2.40.1" == user_agent_for("2.40.1")
    assert user_agent_for(None) == user_agent_for("dev-build") == USER_AGENT


def test_trigger_info_from_a_snapshot() -> None:
    info = TriggerInfo.from_snapshot(
        "default",
        "public",
        "orders",
        {
            "name": "t",
            "definition": {"enable_manual": True, "insert": {"columns": "*"}},
            "retry_conf": {"num_retries": 4, "interval_sec": 3, "timeout_sec": 9},
            "webhook": "http://localhost/x",
            "headers": [{"name": "X-A", "value": "<redacted>"}, {"name": "X-B", "value_from_env": "B"}, "junk"],
        },
    )
    assert info.enable_manual and info.retry_conf == RetryConf(4, 3, 9) and info.table_name == "orders"
    assert info.headers == (HeaderConf("X-A", "<redacted>"), HeaderConf("X-B", None, "B"))
    broken = TriggerInfo.from_snapshot(None, None, None, {"name": "u", "retry_conf": "nonsense"})
    assert broken.retry_conf == RetryConf() and broken.source == "default" and broken.webhook is None


# --- judging -------------------------------------------------------------------------------------------------------


OK = Answer(200, {"order_id": "o1", "payment_id": 7, "at": "t1"})


def test_judge_status() -> None:
    assert judge_status([OK, OK]).outcome == "passed"
    verdict = judge_status([OK, Answer(None, None, "cannot connect to 127.0.0.1:1: Connection refused")])
    assert verdict.outcome == "failed"
    assert (
        verdict.message
        == "delivery 2 of 2: no answer (cannot connect to 127.0.0.1:1: Connection refused), expected a 2xx answer"
    )
    assert judge_status([Answer(500, {"error": "boom"})]).message == 'HTTP 500 {"error": "boom"}, expected a 2xx answer'
    assert judge_status([]).outcome == "skipped"


def test_judge_recorded() -> None:
    ignore = [parse_ignore_path("$.payment_id"), parse_ignore_path("at")]
    assert judge_recorded(Answer(200, {"order_id": "o1", "payment_id": 8, "at": "t2"}), OK, ignore).outcome == "passed"
    verdict = judge_recorded(Answer(200, {"order_id": "o2", "payment_id": 8}), OK, ignore)
    assert (
        verdict.outcome == "failed"
        and verdict.message == 'body differs from the recorded one at $.order_id: "o1" → "o2"'
    )
    verdict = judge_recorded(Answer(500, "boom"), OK, ignore)
    assert verdict.outcome == "failed" and verdict.message.startswith('answered HTTP 500 "boom" where HTTP 200')
    assert judge_recorded(OK, None, ignore).outcome == "skipped"
    assert judge_recorded(Answer(200, "plain text"), Answer(200, "plain text"), []).outcome == "passed"


def test_judge_duplicates() -> None:
    ignore = [parse_ignore_path("at")]
    same = [OK, Answer(200, {**OK.body, "at": "t9"}), OK]
    assert judge_duplicates(same, ignore).outcome == "passed"
    assert judge_duplicates(same, ignore, {"n": 1}, {"n": 1}, with_state=True).message.endswith("is the same")
    verdict = judge_duplicates(same, ignore, {"payments": [1]}, {"payments": [1, 1, 1]}, with_state=True)
    assert verdict.outcome == "failed" and "state after 3 deliveries differs" in verdict.message
    verdict = judge_duplicates([OK, Answer(200, {**OK.body, "payment_id": 8})], ignore)
    assert verdict.message == "not idempotent: delivery 2's answer differs from delivery 1's at $.payment_id: 7 → 8"
    verdict = judge_duplicates([OK, Answer(409, "duplicate")], ignore)
    assert "delivery 2 answered HTTP 409" in verdict.message
    assert judge_duplicates([OK], ignore).outcome == "skipped"


def test_judge_orderings_names_the_handlers_whose_answers_moved() -> None:
    a, b = event(1), event(2, "process-payment")
    items = [PlanItem(a, None, Target("override", "http://localhost/a")), PlanItem(b, None, Target("override", "x"))]
    one = OrderingOutcome(Ordering("shuffle", 1), {"approved": True}, {"e1": OK, "e2": OK})
    two = OrderingOutcome(
        Ordering("shuffle", 2), {"approved": False}, {"e1": OK, "e2": Answer(200, {"approved": False})}
    )
    verdict, suspects = judge_orderings([one, two], items, [])
    assert verdict.outcome == "failed" and suspects == [items[1]]
    assert verdict.message == (
        "order-sensitive: shuffle:2 ended in another state than shuffle:1: $.approved: true → false; answers changed "
        "with the order at process-payment"
    )
    verdict, suspects = judge_orderings(
        [one, OrderingOutcome(Ordering("shuffle", 3), {"approved": True}, one.answers)], items, []
    )
    assert verdict.outcome == "passed" and not suspects
    assert judge_orderings([one], items, [])[0].outcome == "skipped"


# --- reports -------------------------------------------------------------------------------------------------------


def sample_report() -> ReplayReport:
    item = PlanItem(event(1), None, Target("webhook", "http://localhost:8081/validate-order"))
    report = ReplayReport(capture="run.inspector", started_at=1_700_000_000.0, ended_at=1_700_000_002.5)
    report.attempts_planned = report.attempts_made = 3
    report.plan = ["Replay plan: <1 event>"]
    report.checks = [
        CheckResult.of("status", Verdict("passed", "HTTP 200"), item, duration_ms=12.0),
        CheckResult.of(
            "duplicate",
            Verdict("failed", "not idempotent: <b>bad</b> \x00\x1b", ("state: $.payments: 1 → 2",)),
            item,
            "shuffle:1",
            30.0,
        ),
        CheckResult.of("recorded", Verdict("skipped", "nothing recorded"), item),
        CheckResult("order", "failed", "order-sensitive", trigger="validate-order", target="x"),
    ]
    return report


def test_junit_report_is_valid_and_names_handler_and_event() -> None:
    report = sample_report()
    text = junit_xml(report)
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == "testsuites" and root.get("tests") == "4" and root.get("failures") == "2"
    assert root.get("skipped") == "1" and root.get("time") == "2.500"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"validate-order", "flow"}
    cases = suites["validate-order"].findall("testcase")
    assert [c.get("name") for c in cases] == ["status e1", "duplicate e1 [shuffle:1]", "recorded e1"]
    assert cases[0].find("failure") is None and cases[0].get("time") == "0.012"
    failure = cases[1].find("failure")
    assert failure is not None and failure.get("type") == "duplicate"
    message = failure.get("message", "")
    assert "validate-order" in message and "event e1" in message and "http://localhost:8081/validate-order" in message
    assert "\x00" not in text and "state: $.payments: 1 → 2" in (failure.text or "")
    assert cases[2].find("skipped") is not None
    report.error = "cannot reach http://localhost:8080/v1/metadata"
    root = ET.fromstring(junit_xml(report).encode("utf-8"))
    assert root.find(".//error[@type='run']") is not None


def test_html_report_is_self_contained_and_escaped() -> None:
    text = html_report(sample_report())
    assert text.startswith("<!DOCTYPE html>") and "<script" not in text and "http" not in text.split("<body>")[0]
    assert "&lt;b&gt;bad&lt;/b&gt;" in text and "<b>bad</b>" not in text
    assert "Replay plan: &lt;1 event&gt;" in text and "2 failed" in text


def test_report_summary_and_outcome() -> None:
    report = sample_report()
    assert not report.passed and report.counts() == {"passed": 1, "failed": 2, "skipped": 1, "error": 0}
    assert report.summary().startswith("finished: 3 of 3 attempts in 2.5 s; checks: 1 passed, 2 failed")
    assert (
        report.failures[0]
        .line()
        .startswith(
            "FAILED duplicate: validate-order → http://localhost:8081/validate-order (captured webhook), event e1 "
            "[shuffle:1]: not idempotent"
        )
    )
    report.checks = report.checks[:1]
    assert report.passed
    report.unreachable = 3
    assert report.all_unreachable
    assert report.to_json()["counts"]["passed"] == 1
