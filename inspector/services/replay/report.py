"""A replay report as JUnit XML (for CI systems) and as one self-contained HTML page (for people).

Owns the rendering only; the report model is `inspector.services.replay.plan.ReplayReport`. JUnit: a `<testsuites>`
root with one `<testsuite>` per handler (the event trigger's name; `flow` for order-tolerance checks) and one
`<testcase>` per event and check, `classname="replay.<trigger>"`, `name="<check> <event id> [<ordering>]"`; a
failed check has a `<failure message=... type=<check>>` whose message names the handler, its target and the event,
a check that could not run an `<error>`, one with nothing to compare a `<skipped>`. The shape is the one Jenkins,
GitLab, GitHub Actions reporters and pytest's `--junitxml` share. Text is stripped of characters XML 1.0 cannot carry.

Pure: strings in, strings out. Used by `inspector replay --report` and, later, the window's replay view.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from inspector.services.replay.plan import CheckResult, ReplayReport

_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _clean(text: str) -> str:
    return _XML_BAD.sub("\ufffd", text)


def _iso(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def _suite_name(check: CheckResult) -> str:
    return check.trigger if check.check != "order" and check.trigger else "flow"


def junit_xml(report: ReplayReport, name: str = "inspector replay") -> str:
    """The report as JUnit XML text (UTF-8, with an XML declaration)."""
    counts = report.counts()
    root = ET.Element(
        "testsuites",
        {
            "name": _clean(name),
            "tests": str(len(report.checks)),
            "failures": str(counts["failed"]),
            "errors": str(counts["error"] + (1 if report.error else 0)),
            "skipped": str(counts["skipped"]),
            "time": f"{report.duration:.3f}",
        },
    )
    suites: dict[str, list[CheckResult]] = {}
    for check in report.checks:
        suites.setdefault(_suite_name(check), []).append(check)
    if report.error and not suites:
        suites["replay"] = []
    for suite_name, checks in suites.items():
        suite_counts = {k: sum(1 for c in checks if c.outcome == k) for k in ("failed", "error", "skipped")}
        suite = ET.SubElement(
            root,
            "testsuite",
            {
                "name": _clean(suite_name),
                "tests": str(len(checks)),
                "failures": str(suite_counts["failed"]),
                "errors": str(suite_counts["error"]),
                "skipped": str(suite_counts["skipped"]),
                "time": f"{sum((c.duration_ms or 0.0) for c in checks) / 1000:.3f}",
                "timestamp": _iso(report.started_at),
            },
        )
        properties = ET.SubElement(suite, "properties")
        ET.SubElement(properties, "property", {"name": "capture", "value": _clean(report.capture)})
        ET.SubElement(properties, "property", {"name": "run_state", "value": report.state})
        for check in checks:
            case = ET.SubElement(
                suite,
                "testcase",
                {
                    "classname": _clean(f"replay.{suite_name}"),
                    "name": _clean(check.name),
                    "time": f"{(check.duration_ms or 0.0) / 1000:.3f}",
                },
            )
            if check.outcome == "passed":
                continue
            tag = {"failed": "failure", "error": "error", "skipped": "skipped"}[check.outcome]
            element = ET.SubElement(case, tag, {"message": _clean(check.line()), "type": check.check})
            body = "\n".join((check.line(), *check.details))
            if tag != "skipped":
                element.text = _clean(body)
        if report.error and suite_name == next(iter(suites)):
            case = ET.SubElement(suite, "testcase", {"classname": "replay.run", "name": "run", "time": "0.000"})
            ET.SubElement(case, "error", {"message": _clean(report.error), "type": "run"}).text = _clean(report.error)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 1.5em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #ddd; vertical-align: top; }
td.o { font-weight: bold; white-space: nowrap; }
tr.passed td.o { color: #1a7f37; } tr.failed td.o, tr.error td.o { color: #cf222e; } tr.skipped td.o { color: #777; }
code, pre { font: 12px/1.4 ui-monospace, monospace; } pre { margin: 4px 0; white-space: pre-wrap; }
.summary span { margin-right: 1.5em; } .bad { color: #cf222e; } .plan { background: #f6f8fa; padding: 8px; }
"""


def html_report(report: ReplayReport, title: str = "Inspector replay") -> str:
    """The report as one HTML page with its style inline (no scripts, nothing fetched)."""
    e = html.escape
    counts = report.counts()
    rows = []
    for check in sorted(report.checks, key=lambda c: (c.outcome == "passed", c.outcome == "skipped")):
        details = ""
        if check.details:
            details = f"<details><summary>details</summary><pre>{e(chr(10).join(check.details))}</pre></details>"
        rows.append(
            f'<tr class="{e(check.outcome)}"><td class="o">{e(check.outcome)}</td><td>{e(check.check)}</td>'
            f"<td>{e(check.trigger or '')}<br><code>{e(check.target or '')}</code></td>"
            f"<td><code>{e(check.event_id or 'flow')}</code>{f'<br>{e(check.ordering)}' if check.ordering else ''}"
            f"</td><td>{e(check.message)}{details}</td></tr>"
        )
    failed_class = ' class="bad"' if counts["failed"] else ""
    error = f'<p class="bad">Stopped: {e(report.error)}</p>' if report.error else ""
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title><style>{_STYLE}</style></head>'
        f"<body><h1>{e(title)}: {e(report.capture)}</h1>"
        f'<p class="summary"><span>{e(report.state)}</span><span>{report.attempts_made} of '
        f"{report.attempts_planned} attempts</span><span>{report.duration:.1f} s</span>"
        f"<span>{counts['passed']} passed</span><span{failed_class}>"
        f"{counts['failed']} failed</span><span>{counts['error']} errors</span>"
        f"<span>{counts['skipped']} skipped</span></p>{error}"
        f'<h2>Plan</h2><pre class="plan">{e(chr(10).join(report.plan))}</pre>'
        "<h2>Checks</h2><table><thead><tr><th>outcome</th><th>check</th><th>handler</th><th>event</th>"
        f"<th>result</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f"<p><small>Started {e(_iso(report.started_at))} UTC, run {e(report.run_id)}.</small></p>"
        "</body></html>\n"
    )
