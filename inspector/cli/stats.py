"""`inspector stats`: the command-line front of `inspector.services.analysis`.

Owns the command's flags, opening the capture, the `--filter` and `--threshold` options, the human table and the
`--json` document, and `--mark` (writing the flags into the capture). Exit codes (`ExitCode`): OK done, FAILED the
flags could not be written, USAGE a bad filter or threshold, a missing, damaged or foreign capture.

The JSON document (`--json`), for scripts:

    {"file", "filter", "events", "started", "ended", "last_activity" (ISO 8601 UTC or null),
     "triggers": [TriggerStats as fields: trigger, events, delivered, failed, pending, invocations, retries,
                  first_attempt_p50_ms, first_attempt_p95_ms, delivered_p50_ms, delivered_p95_ms, anomalies,
                  retry_causes, outcomes ({ok, handler_error, timeout, connection_failure}: attempts of each),
                  table, handler],
     "edges": [ServiceEdge as fields: trigger, handler, events, invocations, failures, p50_ms, p95_ms],
     "anomalies": {kind: {"count", "severity", "examples": [up to 5 event ids], "first": message or null}},
     "thresholds": {...}, "marked": events whose flags changed (with --mark, else null)}
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from inspector.cli.common import DAMAGE, add_filter_timeout, damaged, filter_runs_in_time, open_capture
from inspector.cli.exit_codes import ExitCode
from inspector.core.events import OUTCOME_LABELS, OUTCOMES
from inspector.core.filter import FilterError
from inspector.services.analysis import AnalysisReport, Thresholds, analyse, kinds, mark_flags, severity
from inspector.store.filter_sql import compile_filter

NAME = "stats"
EXAMPLES = 5


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    stats = commands.add_parser(
        NAME,
        help="per-trigger delivery figures and anomalies (duplicates, out-of-order, retries, dead letters...)",
        description="Analyse a capture file: per-trigger counts, delivery latency percentiles (created to first "
        "attempt, created to success), retries and their causes, and each anomaly kind (duplicate, out-of-order, "
        "retry, dead-letter, pending-too-long, cold-start, contract) with its count and up to 5 example event ids. "
        "--mark writes what was found into the capture (events.flags). Exit codes: 0 done, 1 the flags could not "
        "be written, 2 usage error (a bad filter, a missing or damaged capture).",
    )
    stats.add_argument("file", metavar="FILE", help="the capture file to analyse (or a postgresql://...?capture= URL)")
    stats.add_argument(
        "--filter",
        metavar="EXPR",
        help="only events matching this display filter (the window's language), e.g. 'trigger == \"validate-order\"'",
    )
    add_filter_timeout(stats)
    stats.add_argument("--json", action="store_true", help="print a JSON document instead of tables")
    stats.add_argument(
        "--mark",
        action="store_true",
        help="write what was found into the capture's events.flags (the window's \"Out of order\" colour uses it)",
    )
    stats.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="change a threshold (repeatable): "
        + ", ".join(f.name for f in dataclasses.fields(Thresholds) if f.name != "max_anomalies_per_kind"),
    )


def _thresholds(pairs: list[str]) -> Thresholds:
    known = {f.name: f for f in dataclasses.fields(Thresholds)}
    changes: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in known:
            raise ValueError(f"--threshold {pair!r}: expected NAME=VALUE with NAME one of {', '.join(known)}")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"--threshold {pair!r}: {value!r} is not a number") from None
        if number < 0:
            raise ValueError(f"--threshold {pair!r}: must not be negative")
        changes[name] = int(number) if known[name].type in (int, "int") else number
    return dataclasses.replace(Thresholds(), **changes)


def run(args: argparse.Namespace, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    from inspector.store.open import is_store_url

    if is_store_url(str(args.file)):  # a capture in a PostgreSQL store: analysed on a copy pulled now
        if args.mark:
            print("inspector stats: --mark writes into a capture file; pull the capture first", file=err)
            return ExitCode.USAGE
        from inspector.cli.captures import on_pulled_copy

        return on_pulled_copy(NAME, args, lambda copied: run(copied, stdout, stderr), err)
    try:
        thresholds = _thresholds(list(args.threshold or []))
    except ValueError as exc:
        print(f"inspector stats: {exc}", file=err)
        return ExitCode.USAGE
    where, params = "1", ()
    if args.filter:
        try:
            compiled = compile_filter(args.filter)
        except FilterError as exc:
            end = max(exc.end, exc.start + 1)
            print(
                f"inspector stats: --filter: {exc.message} (characters {exc.start + 1}-{end} of {args.filter!r})",
                file=err,
            )
            return ExitCode.USAGE
        where, params = compiled.where, tuple(compiled.params)
    path = Path(args.file)
    capture = open_capture("stats", path, err)
    if capture is None:
        return ExitCode.USAGE
    try:
        if args.filter and not filter_runs_in_time(NAME, capture, args.filter, where, params, args.filter_timeout, err):
            return ExitCode.USAGE
        try:
            report = analyse(capture, where, params, thresholds)
            text = None if args.json else table(report, str(path), args.filter)
        except DAMAGE as exc:
            if damaged(NAME, capture, exc, err):
                return ExitCode.USAGE
            raise
        marked: int | None = None
        if args.mark:
            try:
                marked = mark_flags(capture, report)
            except sqlite3.Error as exc:
                print(f"inspector stats: cannot write the flags into {path}: {exc}", file=err)
                return ExitCode.FAILED
            print(f"inspector stats: flags changed on {marked:,} events of {path}", file=err)
        if args.json:
            json.dump(document(report, str(path), args.filter, marked), out, indent=2, ensure_ascii=False)
            out.write("\n")
        else:
            out.write(text or "")
        out.flush()
    finally:
        capture.close()
    return ExitCode.OK


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def document(report: AnalysisReport, file: str, filter_text: str | None, marked: int | None) -> dict[str, Any]:
    """The `--json` document."""
    firsts: dict[str, str] = {}
    for anomaly in report.anomalies:
        firsts.setdefault(anomaly.kind, anomaly.message)
    return {
        "file": file,
        "filter": filter_text,
        "events": report.events,
        "started": _iso(report.started),
        "ended": _iso(report.ended),
        "last_activity": _iso(report.last_activity),
        "triggers": [dataclasses.asdict(t) for t in report.triggers],
        "edges": [dataclasses.asdict(e) for e in report.edges],
        "anomalies": {
            kind: {
                "count": report.counts.get(kind, 0),
                "severity": severity(kind),
                "examples": report.examples(kind, EXAMPLES),
                "first": firsts.get(kind),
            }
            for kind in kinds()
        },
        "thresholds": dataclasses.asdict(report.thresholds),
        "marked": marked,
    }


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 10:
        return f"{value:.1f} ms"
    if value < 10_000:
        return f"{value:,.0f} ms"
    return f"{value / 1000:,.1f} s"


def _render(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
        for row in rows
    ]


def table(report: AnalysisReport, file: str, filter_text: str | None) -> str:
    """The human-readable report: per-trigger figures, retry causes, anomalies with examples."""
    lines: list[str] = []
    span = ""
    if report.started is not None and report.ended is not None:
        span = f", created {_iso(report.started)} to {_iso(report.ended)}"
    where = f" matching {filter_text!r}" if filter_text else ""
    lines.append(f"{file}: {report.events:,} events{where} on {len(report.triggers)} triggers{span}")
    lines.append("")
    if report.triggers:
        rows = [
            [
                "trigger",
                "events",
                "delivered",
                "failed",
                "pending",
                "attempts",
                "retries",
                "1st attempt p50",
                "p95",
                "delivered p50",
                "p95",
            ]
        ]
        for t in report.triggers:
            rows.append(
                [
                    t.trigger,
                    f"{t.events:,}",
                    f"{t.delivered:,}",
                    f"{t.failed:,}",
                    f"{t.pending:,}",
                    f"{t.invocations:,}",
                    f"{t.retries:,}",
                    _ms(t.first_attempt_p50_ms),
                    _ms(t.first_attempt_p95_ms),
                    _ms(t.delivered_p50_ms),
                    _ms(t.delivered_p95_ms),
                ]
            )
        lines.extend(_render(rows, set(range(1, 11))))
        lines.append("")
        # Timeouts, connection failures and handler errors call for different fixes: each gets its own column.
        rows = [["attempts by outcome", *(OUTCOME_LABELS[o] for o in OUTCOMES)]]
        rows.extend([t.trigger, *(f"{t.outcomes.get(o, 0):,}" for o in OUTCOMES)] for t in report.triggers)
        lines.extend(_render(rows, set(range(1, len(OUTCOMES) + 1))))
        causes = [t for t in report.triggers if t.retry_causes]
        if causes:
            lines.append("")
            lines.append("failed attempts by cause:")
            for t in causes:
                shown = ", ".join(f"{cause} x{n:,}" for cause, n in list(t.retry_causes.items())[:6])
                more = f", {len(t.retry_causes) - 6} more" if len(t.retry_causes) > 6 else ""
                lines.append(f"  {t.trigger}: {shown}{more}")
        lines.append("")
    rows = [["anomaly", "severity", "events", "examples"]]
    for kind in kinds():
        count = report.counts.get(kind, 0)
        rows.append([kind, severity(kind), f"{count:,}", " ".join(report.examples(kind, EXAMPLES))])
    lines.extend(_render(rows, {2}))
    firsts: dict[str, str] = {}
    for anomaly in report.anomalies:
        firsts.setdefault(anomaly.kind, f"{anomaly.event_id}: {anomaly.message}")
    if firsts:
        lines.append("")
        lines.append("first of each:")
        lines.extend(f"  {kind}: {firsts[kind]}" for kind in kinds() if kind in firsts)
    return "\n".join(lines) + "\n"
