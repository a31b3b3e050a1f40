"""Trigger settings: one event trigger's configuration as Hasura Console's Modify tab shows it (webhook, operations,
retry configuration, timeout, headers with secret values hidden, request transform), read from the capture's trigger
snapshot (`CaptureReader.trigger_settings`), not from the server: what the capture ran against.

Owns laying that out (`settings_rows`, pure, and `TriggerSettingsDialog`). Opened from the sources tree's context menu
(Trigger settings…). Header values in a capture are already redacted (`core.redaction.redact_trigger_config`): a
literal value is shown as hidden, a `value_from_env` by its variable's name, which is no secret.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from inspector.core.hasura import RetryConf
from inspector.store.reader import TriggerSettings

HIDDEN = "•••••• (secret: not kept in the capture)"
"""How a literal header value shows: the capture holds it redacted, and the dialog would hide it anyway."""


def _operations(definition: Any) -> str:
    if not isinstance(definition, dict):
        return "—"
    parts = []
    for op in ("insert", "update", "delete"):
        spec = definition.get(op)
        if isinstance(spec, dict):
            columns = spec.get("columns", "*")
            shown = "all columns" if columns == "*" else ", ".join(str(c) for c in columns or [])
            parts.append(f"{op.upper()}" + (f" ({shown})" if op == "update" else ""))
    if definition.get("enable_manual"):
        parts.append("MANUAL (Console / invoke_event_trigger)")
    return ", ".join(parts) or "none"


def _retry(config: dict[str, Any]) -> RetryConf:
    raw = config.get("retry_conf")
    if not isinstance(raw, dict):
        return RetryConf()
    defaults = RetryConf()
    try:
        return RetryConf(
            int(raw.get("num_retries", defaults.num_retries)),
            int(raw.get("interval_sec", defaults.interval_sec)),
            int(raw.get("timeout_sec", defaults.timeout_sec)),
        )
    except (TypeError, ValueError):
        return defaults


def settings_rows(settings: TriggerSettings) -> list[tuple[str, str]]:
    """(label, value) rows of the form, in Hasura Console's order: table, webhook, operations, retries, timeout."""
    config = settings.config
    if isinstance(config.get("webhook_from_env"), str):
        webhook = f"from the environment variable {config['webhook_from_env']}"
    elif isinstance(config.get("webhook"), str):
        webhook = str(config["webhook"])
    else:
        webhook = "— (not in the snapshot)"
    retry = _retry(config)
    table = ".".join(p for p in (settings.table_schema, settings.table_name) if p) or "—"
    rows = [
        ("Table", f"{table} (source {settings.source or 'default'})"),
        ("Webhook", webhook),
        ("Operations", _operations(config.get("definition"))),
        ("Retries", f"{retry.num_retries} (up to {retry.num_retries + 1} attempts)"),
        ("Retry interval", f"{retry.interval_sec} s"),
        ("Timeout", f"{retry.timeout_sec} s"),
        ("Request transform", "yes (see Raw)" if config.get("request_transform") else "none"),
    ]
    if settings.captured_at:
        rows.append(("Recorded", datetime.fromtimestamp(settings.captured_at).strftime("%Y-%m-%d %H:%M:%S")))
    if settings.removed_at:
        rows.append(
            ("Removed", datetime.fromtimestamp(settings.removed_at).strftime("%Y-%m-%d %H:%M:%S") + " (deleted)")
        )
    return rows


def header_rows(settings: TriggerSettings) -> list[tuple[str, str]]:
    """(name, value shown) of the trigger's configured headers: literal values hidden, `value_from_env` named."""
    out = []
    headers = settings.config.get("headers")
    for header in headers if isinstance(headers, list) else []:
        if not isinstance(header, dict) or not isinstance(header.get("name"), str):
            continue
        if isinstance(header.get("value_from_env"), str):
            out.append((header["name"], f"from env {header['value_from_env']}"))
        else:
            out.append((header["name"], HIDDEN))
    return out


class TriggerSettingsDialog(QDialog):
    """One trigger's settings: a form, its headers and the raw snapshot."""

    def __init__(self, settings: TriggerSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Trigger settings: {settings.name}")
        self.settings = settings
        title = QLabel(f"<b>{settings.name}</b>: as the capture's trigger snapshot recorded it", self)
        form_page = QWidget(self)
        form = QFormLayout(form_page)
        self.values: dict[str, QLabel] = {}
        for label, value in settings_rows(settings):
            shown = QLabel(value, form_page)
            shown.setWordWrap(True)
            shown.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow(label, shown)
            self.values[label] = shown
        headers = header_rows(settings)
        self.headers = QTableWidget(len(headers), 2, form_page)
        self.headers.setHorizontalHeaderLabels(["Header", "Value"])
        self.headers.verticalHeader().hide()
        self.headers.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.headers.horizontalHeader().setStretchLastSection(True)
        self.headers.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for row, (name, value) in enumerate(headers):
            self.headers.setItem(row, 0, QTableWidgetItem(name))
            self.headers.setItem(row, 1, QTableWidgetItem(value))
        form.addRow("Headers", self.headers if headers else QLabel("none", form_page))
        if not headers:
            self.headers.hide()
        self.raw = QPlainTextEdit(self)
        self.raw.setReadOnly(True)
        self.raw.setPlainText(json.dumps(settings.config, indent=2, sort_keys=True, ensure_ascii=False))
        self.tabs = QTabWidget(self)
        self.tabs.addTab(form_page, "Settings")
        self.tabs.addTab(self.raw, "Raw")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(buttons)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(640, 460)
