"""One-click Replay of the selected events and Retry all failed, as Hookdeck's bulk retry: first the plan (how many
events, which triggers, where each goes, which hosts), then Run with progress and Cancel, then what came back.

Owns the dialog and one run; the work is `inspector.services.replay`'s: `loader.load_plan` builds the plan from the
capture's trigger snapshot (each trigger's own webhook, as Hasura would deliver it), `runner.ReplayRunner` sends and
records each attempt (source replay, never counted as Hasura's attempts) and enforces the replay guard: a host that
is not this machine needs the consent box ticked. Opened by `qt/window/main_window.py` (Edit ▸ Replay selected,
Edit ▸ Retry all failed).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from inspector.core.wording import counted
from inspector.qt.bridge import TaskRunner
from inspector.services.replay.loader import Selection, load_plan
from inspector.services.replay.plan import PlanOptions, ReplayPlan, remote_hosts_text
from inspector.services.replay.runner import ReplayProgress, ReplayRunner
from inspector.store.capture_file import CaptureFile

FAILED_FILTER = 'status == "failed"'
"""Retry all failed: the events Hasura gave up on (retries exhausted)."""


class BulkReplayDialog(QDialog):
    """The plan for `selection`, then one run of it. `replayed` when the run ended (the events replayed)."""

    replayed = Signal()

    def __init__(
        self,
        path: Path,
        selection: Selection,
        title: str,
        tasks: TaskRunner,
        parent: QWidget | None = None,
        targets: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.tasks = tasks
        self._task_name = f"bulk-replay-{id(self)}"
        self.capture = CaptureFile.open(path)
        self.runner: ReplayRunner | None = None
        self.report: Any = None
        self._closing = False
        self.plan: ReplayPlan = load_plan(self.capture, PlanOptions(targets=dict(targets or {})), selection)
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)
        self.plan_view = QPlainTextEdit(self)
        self.plan_view.setReadOnly(True)
        self.plan_view.setPlainText("\n".join(self.plan.describe() + [f"Error: {e}" for e in self.plan.errors]))
        self.consent = QCheckBox(self)
        remote = self.plan.remote_hosts
        self.consent.setText(f"Send to {remote_hosts_text(remote)}, which is not this machine" if remote else "")
        self.consent.setVisible(bool(remote))
        self.consent.toggled.connect(self._update_buttons)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, max(1, self.plan.attempts))
        self.progress.setValue(0)
        self.progress.hide()
        self.outcome = QLabel(self)
        self.outcome.setWordWrap(True)
        self.buttons = QDialogButtonBox(self)
        self.run_button = QPushButton("Run", self)
        self.run_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel run", self)
        self.cancel_button.setEnabled(False)
        self.close_button = QPushButton("Close", self)
        self.buttons.addButton(self.run_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.addButton(self.close_button, QDialogButtonBox.ButtonRole.RejectRole)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.plan_view, 1)
        layout.addWidget(self.consent)
        layout.addWidget(self.progress)
        layout.addWidget(self.outcome)
        layout.addWidget(self.buttons)
        events = len(self.plan.items)
        triggers = len({item.event.trigger_name for item in self.plan.items})
        self.summary.setText(
            f"<b>{counted(events, 'event', grouped=True)}</b> of {counted(triggers, 'trigger')} will be delivered "
            f"again, {counted(self.plan.attempts, 'attempt', grouped=True)}, each to its trigger's webhook from the "
            "capture's trigger snapshot. "
            "Each attempt is recorded in the capture as a replay, beside what Hasura did."
            if events
            else "No events to replay."
        )
        tasks.taskFailed.connect(self._on_tasks_task_failed)
        self.resize(720, 420)
        self._update_buttons()

    def _update_buttons(self) -> None:
        running = self.tasks.running(self._task_name)
        ready = bool(self.plan.items) and not self.plan.errors and self.report is None
        if self.plan.remote_hosts and not self.consent.isChecked():
            ready = False
        self.run_button.setEnabled(ready and not running)
        self.cancel_button.setEnabled(running)

    def run(self) -> None:
        if not self.run_button.isEnabled():
            return
        self.runner = ReplayRunner(
            self.capture, self.plan, allow_remote=self.consent.isChecked(), on_progress=self._on_runner_progress
        )
        self.progress.show()
        self.outcome.setText("Running…")
        self.tasks.start(self._task_name, self._run(self.runner), on_result=self._on_run_done)
        self._update_buttons()

    async def _run(self, runner: ReplayRunner) -> Any:
        try:
            return await runner.run()
        finally:
            if self._closing:  # closed while running: the runner has written what it had; now the file can close
                self.capture.close()

    def cancel(self) -> None:
        """Start no new attempt; those in flight finish (or are cancelled after a grace period)."""
        if self.runner is not None:
            self.runner.cancel()

    def _on_runner_progress(self, progress: ReplayProgress) -> None:
        self.progress.setValue(progress.done)
        self.outcome.setText(
            f"{progress.state}: {progress.done:,}/{progress.planned:,} attempts, "
            f"{progress.answered_2xx:,} answered 2xx, {progress.answered_other:,} another status, "
            f"{progress.no_answer:,} no answer"
        )

    def _on_run_done(self, report: Any) -> None:
        self.report = report
        if self._closing:
            return
        self.progress.setValue(report.attempts_made)
        state = "cancelled" if report.state == "cancelled" else "done"
        problems = f"; {report.unreachable:,} could not connect" if report.unreachable else ""
        error = f"; stopped: {report.error}" if report.error else ""
        self.outcome.setText(
            f"Replay {state}: {report.attempts_made:,} of {report.attempts_planned:,} attempts made{problems}{error}. "
            "Each is recorded in the capture as a replay attempt of its event."
        )
        self._update_buttons()
        self.replayed.emit()

    def _on_tasks_task_failed(self, name: str, message: str) -> None:
        if name == self._task_name:
            self.outcome.setText(f"Replay not run: {message}")
            self._update_buttons()

    def done(self, result: int) -> None:
        """Closing while a run goes on cancels it; the capture closes once the run has written what it had."""
        if not self._closing:
            self._closing = True
            if self.tasks.running(self._task_name):
                self.tasks.cancel(self._task_name)
            else:
                self.capture.close()
        super().done(result)
