"""Driving the window in tests: connecting it to a backend, a small capture to open."""

from __future__ import annotations

from pathlib import Path

from inspector.core.connection_profile import ConnectionProfile
from inspector.core.events import EventRecord
from inspector.qt.window.main_window import MainWindow
from inspector.store.capture_file import CaptureFile, CaptureWriter
from tests.helpers.captures import event_dict

SECRET = "window-test-secret"


def connect(window: MainWindow, url: str, secret: str | None = SECRET) -> None:
    window.connect_profile(ConnectionProfile.from_endpoint("test", url), secret)


def small_capture(path: Path, count: int = 6) -> list[str]:
    capture = CaptureFile.create(path)
    writer = CaptureWriter(capture)
    ids = []
    for i in range(count):
        event = event_dict(f"6f1c2d3e-00{i:02d}-4000-8000-000000000000")
        event["trigger_name"] = "validate-order" if i % 2 == 0 else "agent-assignment"
        writer.observe_event(EventRecord.from_hasura(event))
        ids.append(event["id"])
    writer.flush()
    capture.close()
    return ids
