"""The attempts table's context menu (issue 14, missing): Copy as cURL of any attempt, and a replay's response
compared with the original delivery's (`qt/detail/attempts_menu`, `qt/detail/response_diff`). Sync pytest-qt tests on
a capture written by `CaptureWriter` (`tests.helpers.captures.build_sample`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from inspector.core.curl import REDACTION_NOTE
from inspector.core.events import InvocationRecord
from inspector.core.hasura import webhook_response
from inspector.qt.detail.detail_pane import DetailPane
from inspector.qt.detail.response_diff import response_diff
from inspector.store.capture_file import CaptureFile, CaptureWriter
from tests.helpers.captures import WEBHOOK_SECRET, build_sample, event_dict, invocation_dict

E1 = "6f1c2d3e-0001-4000-8000-000000000001"


@pytest.fixture
def capture(tmp_path: Path) -> Iterator[CaptureFile]:
    """The sample capture (E1: HTTP 500, then 200 `{"ok":true}`), with a replay of E1 answered 409 with another
    body."""
    capture = build_sample(tmp_path / "attempts.inspector")
    writer = CaptureWriter(capture)
    answer = webhook_response('{"ok":false,"reason":"duplicate order"}', [("Content-Type", "application/json")], 409)
    e1 = event_dict(E1)
    writer.observe_invocation(
        InvocationRecord.from_hasura(invocation_dict("replay-1", e1, 409, answer, "2024-03-01T12:05:00.000000")),
        source="replay",
    )
    writer.flush()
    yield capture
    capture.close()


@pytest.fixture
def pane(qtbot: QtBot, capture: CaptureFile) -> DetailPane:
    pane = DetailPane()
    pane.resize(1000, 700)
    qtbot.addWidget(pane)
    pane.show_event(capture.reader(), E1)
    return pane


def _menu_texts(pane: DetailPane, row: int) -> list[str]:
    return [a.text() for a in pane.attempt_actions.menu(row).actions()]


def test_copy_as_curl_puts_the_attempts_request_on_the_clipboard(qtbot: QtBot, pane: DetailPane) -> None:
    assert pane.invocations.deliveries == 2 and len(pane.invocations.invocations) == 3
    assert _menu_texts(pane, 0) == ["Copy as cURL"]  # a delivery: nothing to compare
    text = pane.attempt_actions.copy_as_curl(0)
    qtbot.waitUntil(lambda: QGuiApplication.clipboard().text() == text, timeout=2000)
    assert text.startswith(REDACTION_NOTE)  # says the capture's header values are redacted
    assert "curl -X POST http://localhost:8081/validate-order \\\n" in text  # the trigger snapshot's webhook
    assert '"X-Webhook-Secret: ${X_WEBHOOK_SECRET}"' in text and WEBHOOK_SECRET not in text
    assert f'"id":"{E1}"' in text and "attempt 1 of event" in text


def test_a_replay_is_compared_with_the_latest_delivery(qtbot: QtBot, pane: DetailPane) -> None:
    assert _menu_texts(pane, 2) == ["Copy as cURL", "Compare with original response…"]
    dialog = pane.attempt_actions.compare(2)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(dialog.isVisible, timeout=2000)
    assert dialog.original.currentText() == "attempt 2: HTTP 200"
    assert dialog.summary.text().startswith("HTTP 200 → 409")
    text = dialog.text.toPlainText()
    assert "-HTTP 200" in text and "+HTTP 409" in text
    assert '-  "ok": true' in text and '+  "reason": "duplicate order"' in text
    dialog.original.setCurrentIndex(0)  # the first attempt: HTTP 500, kitchen closed
    qtbot.waitUntil(lambda: dialog.summary.text().startswith("HTTP 500 → 409"), timeout=2000)
    dialog.headers.setChecked(True)
    assert "+content-type: application/json" in dialog.text.toPlainText()


def test_the_same_answer_gives_no_diff(pane: DetailPane) -> None:
    delivery = pane.invocations.invocations[1]
    assert response_diff(delivery, {**delivery, "id": "replay-2"}) == []
