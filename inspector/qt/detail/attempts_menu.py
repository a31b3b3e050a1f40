"""The attempts table's context menu in the detail pane's Invocations tab: Copy as cURL (any attempt) and Compare with
the original response (a replay).

Owns those two actions: the cURL text comes from `core.curl.curl_command` with the trigger's webhook read from the
capture's trigger snapshot (`CaptureReader.trigger_settings`), the comparison is `qt/detail/response_diff`'s dialog.
`DetailPane` installs it on its `InvocationsView` and hands it the reader of the event shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMenu

from inspector.core.curl import CurlCommand, curl_command
from inspector.qt.detail.response_diff import ResponseDiffDialog
from inspector.store.reader import CaptureReader, StoreError

if TYPE_CHECKING:
    from inspector.qt.detail.detail_pane import InvocationsView


class AttemptActions:
    """Copy as cURL and Compare responses for the rows of one `InvocationsView`."""

    def __init__(self, view: InvocationsView) -> None:
        self.view = view
        self.reader: CaptureReader | None = None
        """The capture of the event shown (set by `DetailPane.show_event`): where the trigger's webhook is read."""
        self.dialog: ResponseDiffDialog | None = None
        """The last comparison opened (tests look at it)."""
        table = view.table
        table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        table.customContextMenuRequested.connect(self._on_table_context_menu_requested)
        table.setToolTip("Right-click an attempt: Copy as cURL; on a replay, compare its response with the original")

    def menu(self, row: int) -> QMenu:
        """The context menu of attempt `row` (a row of the view's table)."""
        menu = QMenu(self.view.table)
        menu.addAction("Copy as cURL", lambda: self.copy_as_curl(row))
        if self.is_replay(row):
            compare = menu.addAction("Compare with original response…", lambda: self.compare(row))
            compare.setEnabled(self.view.deliveries > 0)
        return menu

    def is_replay(self, row: int) -> bool:
        return row >= self.view.deliveries and row < len(self.view.invocations)

    def curl(self, row: int) -> CurlCommand:
        """Attempt `row`'s request as a curl command, sent to its trigger's webhook as the capture recorded it."""
        invocation: dict[str, Any] = self.view.invocations[row]
        trigger = invocation.get("trigger_name")
        webhook = webhook_env = None
        settings = None
        if self.reader is not None and isinstance(trigger, str):
            try:
                settings = self.reader.trigger_settings(trigger)
            except StoreError:
                settings = None
        if settings is not None:
            webhook = settings.config.get("webhook") if isinstance(settings.config.get("webhook"), str) else None
            env = settings.config.get("webhook_from_env")
            webhook_env = env if isinstance(env, str) else None
        what = (
            f"replay {row - self.view.deliveries + 1}"
            if self.is_replay(row)
            else (f"attempt {invocation.get('attempt') or row + 1}")
        )
        comment = [f"{what} of event {invocation.get('event_id')} (trigger {trigger}), as Hasura logged the request"]
        if webhook and "=redacted" in webhook:
            comment.append("The webhook's query values were redacted in the capture: put the real ones back.")
        return curl_command(invocation.get("request"), webhook, webhook_from_env=webhook_env, comment=comment)

    def copy_as_curl(self, row: int) -> str:
        """Put attempt `row`'s curl command on the clipboard; returns it."""
        text = self.curl(row).text
        QGuiApplication.clipboard().setText(text)
        return text

    def compare(self, row: int) -> ResponseDiffDialog:
        """Open the comparison of replay `row`'s response with the event's deliveries' (the latest first)."""
        deliveries = self.view.invocations[: self.view.deliveries]
        self.dialog = ResponseDiffDialog(self.view.invocations[row], deliveries, self.view.window())
        self.dialog.show()
        return self.dialog

    def _on_table_context_menu_requested(self, position: QPoint) -> None:
        index = self.view.table.indexAt(position)
        if not index.isValid():
            return
        self.menu(index.row()).exec(self.view.table.viewport().mapToGlobal(position))
