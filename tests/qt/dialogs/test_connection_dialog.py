"""The connection profile dialog's Test connection and subscriptions (issue 14, missing). Sync pytest-qt tests: the
check runs on a qasync loop driven by `qtbot.waitUntil` (the `loop` fixture; never qtbot in an async test)."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import pytest
from keyrings.alt.file import PlaintextKeyring
from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot

from inspector.core.connection_profile import ConnectionProfile
from inspector.qt.dialogs.connection_dialog import (
    ConnectionDialog,
    saved_subscriptions,
    split_subscriptions,
    subscriptions_key,
)
from inspector.services.profiles import ProfileStore, SecretStore
from tests.helpers.window import SECRET

LIVE = "subscription live { orders { order_id status } }"
STREAM = (
    'subscription feed { orders_stream(batch_size: 10, cursor: {initial_value: {created: "2024-01-01"}}) { order_id } }'
)


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


def _dialog(
    qtbot: QtBot, tmp_path: Path, settings: QSettings, profile: ConnectionProfile | None = None
) -> ConnectionDialog:
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "keyring.cfg")  # type: ignore[misc]
    dialog = ConnectionDialog(
        ProfileStore(tmp_path / "profiles"), SecretStore(backend=backend), profile, settings=settings
    )
    qtbot.addWidget(dialog)
    return dialog


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_test_connection_shows_the_one_line_error(
    qtbot: QtBot, tmp_path: Path, settings: QSettings, loop: asyncio.AbstractEventLoop
) -> None:
    dialog = _dialog(qtbot, tmp_path, settings)
    dialog.endpoint.setText(f"http://127.0.0.1:{_free_port()}/v1/graphql")
    dialog.test_button.click()
    assert not dialog.test_button.isEnabled() and dialog.test_result.text().startswith("Testing")
    qtbot.waitUntil(lambda: dialog.check is not None, timeout=15000)
    assert dialog.check is not None and not dialog.check.ok
    assert "connection refused" in dialog.test_result.text() and "\n" not in dialog.test_result.text()
    assert dialog.test_button.isEnabled() and dialog.result() == 0  # nothing saved, the dialog still open
    dialog.endpoint.setText("ftp://nowhere")
    dialog.test_button.click()
    assert dialog.check is not None and not dialog.check.ok and dialog.test_result.text()


def test_test_connection_shows_the_server_version(
    qtbot: QtBot, tmp_path: Path, settings: QSettings, loop: asyncio.AbstractEventLoop, sandbox_url: str
) -> None:
    dialog = _dialog(qtbot, tmp_path, settings)
    dialog.endpoint.setText(sandbox_url)
    dialog.secret_edit.setText("wrong-secret")
    dialog.test_button.click()
    qtbot.waitUntil(lambda: dialog.check is not None and dialog.test_button.isEnabled(), timeout=15000)
    assert dialog.check is not None and not dialog.check.ok and "admin secret" in dialog.check.message
    dialog.check = None
    dialog.secret_edit.setText(SECRET)
    dialog.test_button.click()
    qtbot.waitUntil(lambda: dialog.check is not None, timeout=15000)
    assert dialog.check is not None and dialog.check.ok, dialog.check
    assert dialog.test_result.text().startswith("Connected: Hasura v") and "event trigger" in dialog.test_result.text()
    assert SECRET not in dialog.test_result.text()


def test_subscriptions_are_kept_for_the_profile(qtbot: QtBot, tmp_path: Path, settings: QSettings) -> None:
    assert split_subscriptions(f"{LIVE}\n\n{STREAM}") == [LIVE, STREAM]
    dialog = _dialog(qtbot, tmp_path, settings)
    dialog.name.setText("shop")
    dialog.endpoint.setText("http://localhost:8080")
    dialog.subscription_edit.setPlainText("query q { orders { order_id } }")
    dialog._on_save()
    assert "a query is not a subscription" in dialog.error.text() and dialog.accepted_profile is None
    dialog.subscription_edit.setPlainText(f"{LIVE}\n{STREAM}")
    dialog._on_save()
    assert dialog.accepted_profile is not None and [s.query for s in dialog.subscriptions] == [LIVE, STREAM]
    assert json.loads(str(settings.value(subscriptions_key("shop")))) == [LIVE, STREAM]
    assert [s.query for s in saved_subscriptions(settings, "shop")] == [LIVE, STREAM]
    assert saved_subscriptions(settings, "other") == ()
    again = _dialog(qtbot, tmp_path, settings, dialog.accepted_profile)
    assert split_subscriptions(again.subscription_edit.toPlainText()) == [LIVE, STREAM]
