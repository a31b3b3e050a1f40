"""Starting a relay from the window: the "Relay > Start relay…" dialog (where to listen, the routes, optionally a
capture to record deliveries in) and the in-process start that docks the Breakpoints panel.

Owns `RelayStartDialog` (the form and its checks: `TRIGGER=URL` lines, `HOST:PORT`, routes on this machine unless
"allow remote handlers" is ticked, as `inspector relay --allow-remote`), `RelaySettings` (what it gives) and
`start_relay` (a `Relay` with `Breakpoints` on the window's asyncio loop, its panel docked through
`MainWindow.add_breakpoints_panel`, stopped and its recording closed when the window closes). Used by
`MainWindow.start_relay`; `inspector demo --relay` starts its relay in `qt/window/app.py` instead (its routes are the
sandbox's handlers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from inspector.services.relay import Breakpoints, Relay, RelayConfig, RouteRefused, check_routes

if TYPE_CHECKING:
    from inspector.store.capture_file import CaptureFile
    from inspector.store.relay_records import RelayRecorder


@dataclass(frozen=True)
class RelaySettings:
    """Where a relay started from the window listens, where each trigger's deliveries go, and where they are
    recorded (None: not recorded)."""

    routes: dict[str, str]
    host: str = "127.0.0.1"
    port: int = 0
    record_to: Path | None = None
    allow_remote: bool = False
    retry: dict[str, Any] = field(default_factory=dict)


class SettingsError(ValueError):
    """A form that cannot start a relay, with the reason."""


def parse_routes(text: str) -> dict[str, str]:
    """`TRIGGER=URL` lines (blank lines and `#` comments skipped)."""
    routes: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        trigger, sep, url = line.partition("=")
        if not sep or not trigger.strip() or not url.strip():
            raise SettingsError(f"{line!r}: write TRIGGER=URL")
        routes[trigger.strip()] = url.strip()
    if not routes:
        raise SettingsError("give at least one route, TRIGGER=URL")
    return routes


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise SettingsError(f"listen on {text!r}: write HOST:PORT, e.g. 127.0.0.1:8090")
    return host.strip("[]") or "127.0.0.1", int(port)


class RelayStartDialog(QDialog):
    """The form behind "Relay > Start relay…"."""

    def __init__(self, parent: QWidget | None = None, routes: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Start relay")
        self.listen = QLineEdit("127.0.0.1:8090")
        self.routes = QPlainTextEdit(routes)
        self.routes.setPlaceholderText("validate-order=http://127.0.0.1:8081/validate-order\n...")
        self.record_to = QLineEdit()
        self.record_to.setPlaceholderText("a new capture file (optional)")
        self.allow_remote = QCheckBox("Allow handlers on other machines")
        self.error = QLabel()
        self.error.setStyleSheet("color: #b00020")
        self.error.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Listen on", self.listen)
        form.addRow("Routes", self.routes)
        form.addRow("Record into", self.record_to)
        form.addRow("", self.allow_remote)
        hint = QLabel(
            "Point each event trigger's webhook at http://HOST:PORT/&lt;trigger&gt; (or run "
            "<code>inspector relay --rewire</code>); the relay forwards each delivery to its route and the "
            "Breakpoints panel holds the deliveries its filters match."
        )
        hint.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(hint)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.settings: RelaySettings | None = None

    def read(self) -> RelaySettings:
        """The form as settings; `SettingsError` with the reason when it cannot start a relay."""
        host, port = parse_listen(self.listen.text())
        routes = parse_routes(self.routes.toPlainText())
        try:
            check_routes(routes, self.allow_remote.isChecked())
        except RouteRefused as exc:
            raise SettingsError(str(exc)) from exc
        path = self.record_to.text().strip()
        record_to = Path(path).expanduser() if path else None
        if record_to is not None and record_to.exists():
            raise SettingsError(f"{record_to} exists: name a new capture file")
        return RelaySettings(routes, host, port, record_to, self.allow_remote.isChecked())

    def accept(self) -> None:
        try:
            self.settings = self.read()
        except SettingsError as exc:
            self.error.setText(str(exc))
            return
        super().accept()


@dataclass
class RunningRelay:
    """A relay the window started, with its recording (if any)."""

    relay: Relay
    capture: CaptureFile | None = None
    recorder: RelayRecorder | None = None

    async def stop(self) -> None:
        await self.relay.stop()
        if self.recorder is not None:
            self.recorder.close()
        if self.capture is not None:
            self.capture.close()


async def start_relay(window: Any, settings: RelaySettings) -> RunningRelay:
    """Start a relay in this process (the window's asyncio loop) and dock its Breakpoints panel in `window` (a
    `MainWindow`); it stops, and its recording is closed, when the window closes."""
    import asyncio

    from inspector.store.capture_file import CaptureFile
    from inspector.store.relay_records import RelayRecorder

    capture = CaptureFile.create(settings.record_to) if settings.record_to is not None else None
    recorder = RelayRecorder(capture) if capture is not None else None
    relay = Relay(
        RelayConfig(settings.routes, settings.host, settings.port, settings.allow_remote, settings.retry),
        breakpoints=Breakpoints(),
        recorder=recorder,
    )
    running = RunningRelay(relay, capture, recorder)
    try:
        await relay.start()
    except BaseException:
        await running.stop()
        raise
    assert relay.breakpoints is not None
    window.add_breakpoints_panel(relay.breakpoints, relay.rules)
    tasks: set[asyncio.Task[None]] = set()

    def closed() -> None:
        task = asyncio.ensure_future(running.stop())
        tasks.add(task)  # kept until done (the loop holds only weak references)
        task.add_done_callback(tasks.discard)

    window.windowClosed.connect(closed)
    return running
