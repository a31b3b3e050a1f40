"""The window on a capture in a PostgreSQL store (issue 17), against a real server: opened on the URL it shows the
events there, then the new events and status changes another process writes, live."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from inspector.qt.window.main_window import MainWindow
from inspector.qt.window.store_capture import followed_capture
from tests.helpers.postgres import postgres_db, postgres_server

__all__ = ["postgres_db", "postgres_server"]  # the real server's fixtures, used below

ROOT = Path(__file__).resolve().parents[3]

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from inspector.core.events import EventRecord
    from inspector.store.capture_file import CaptureWriter
    from inspector.store.postgres.connection import StoreUrl
    from inspector.store.postgres.store import create_mirrored
    from tests.helpers.captures import event_dict

    url, go = sys.argv[1], Path(sys.argv[2])
    capture = create_mirrored(StoreUrl.parse(url), interval=0.1)
    writer = CaptureWriter(capture)
    for n in range(5):
        writer.observe_event(EventRecord.from_hasura(event_dict(f"first-{n}", new={"n": n})), now=1709294400.0 + n)
    writer.flush()
    while capture.mirror.last["events"] < 5:
        time.sleep(0.05)
    print("written", flush=True)
    while not go.exists():
        time.sleep(0.05)
    for n in range(3):
        writer.observe_event(EventRecord.from_hasura(event_dict(f"later-{n}", new={"n": n})), now=1709294500.0 + n)
    done = event_dict("first-0", new={"n": 0})
    done.update(delivered=True, tries=1)
    writer.observe_event(EventRecord.from_hasura(done), now=1709294510.0)
    writer.flush()
    deadline = time.monotonic() + 60
    while not Path(str(go) + ".stop").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    capture.close()
    """
)


def test_the_window_on_a_store_url_follows_another_process_writing(
    window: MainWindow, qtbot: Any, postgres_db: str, tmp_path: Path
) -> None:
    url = f"{postgres_db}?capture=shared"
    go = tmp_path / "go"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, url, str(go)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "written"
        assert window.open_capture(url)
        followed = followed_capture(window)
        assert followed is not None and "shared" in window.windowTitle()
        assert window.file_label.text().strip() == url
        model = window.model
        assert model is not None

        status = model.columns.index("status")

        def shown() -> dict[str | None, str]:
            """event id → the Status column as the list shows it."""
            return {
                model.event_id_at(row): str(model.data(model.index(row, status))) for row in range(model.rowCount())
            }

        qtbot.waitUntil(lambda: model.rowCount() == 5, timeout=10000)
        assert set(shown()) == {f"first-{n}" for n in range(5)}
        go.touch()  # the other process writes more: three new events and a status change
        qtbot.waitUntil(lambda: model.rowCount() == 8 and shown().get("first-0") == "delivered", timeout=15000)
        assert set(shown()) == {f"first-{n}" for n in range(5)} | {f"later-{n}" for n in range(3)}
        assert followed.error is None
        window.close_files()
        assert followed_capture(window) is None and not followed.path.exists()
    finally:
        (tmp_path / "go.stop").touch()
        writer.wait(30)


def test_a_store_url_that_cannot_be_read_is_one_line_and_keeps_the_window(window: MainWindow, postgres_db: str) -> None:
    assert not window.open_capture(f"{postgres_db}?capture=nothing")
    assert "holds no Inspector store" in window.banner.label.text() and window.banner.level == "error"
    assert window.model is None and followed_capture(window) is None


def test_the_window_reads_the_list_and_detail_from_the_server_and_copies_the_rest_behind(
    window: MainWindow, qtbot: Any, postgres_db: str, tmp_path: Path
) -> None:
    from inspector.store.postgres.connection import StoreUrl
    from inspector.store.postgres.event_index import PostgresEventIndex
    from inspector.store.postgres.reader import PostgresCaptureReader
    from inspector.store.postgres.store import push_file
    from tests.helpers.captures import build_sample

    build_sample(tmp_path / "sample.inspector").close()
    url = f"{postgres_db}?capture=direct"
    push_file(tmp_path / "sample.inspector", StoreUrl.parse(url))
    assert window.open_capture(url)
    model, followed = window.model, followed_capture(window)
    assert model is not None and followed is not None
    assert isinstance(model._index, PostgresEventIndex) and isinstance(window.reader, PostgresCaptureReader)
    assert model.rowCount() == 3  # the first screenful before the copy is needed
    window.table.selectRow(0)
    qtbot.waitUntil(lambda: window._selected_event == model.event_id_at(0), timeout=5000)
    qtbot.waitUntil(followed.follower.ready.is_set, timeout=10000)  # the copy, made behind, for flows and replay
    assert window.reader.connection.execute("SELECT count(*) FROM events").fetchone()[0] == 3
    event_id, marked = model.event_id_at(0), model.toggle_mark(0)  # the window's own mark: into its copy
    assert marked is not None
    qtbot.waitUntil(lambda: (event_id in window.reader.marked_event_ids()) == marked, timeout=5000)  # type: ignore[union-attr]
    window.close_files()
    assert not followed.path.exists()


def test_a_store_the_window_cannot_read_directly_is_read_through_its_copy(
    window: MainWindow, postgres_db: str, tmp_path: Path, monkeypatch: Any
) -> None:
    import inspector.qt.window.store_capture as store_capture
    from inspector.store.event_index import EventIndex
    from inspector.store.postgres.connection import StoreUrl
    from inspector.store.postgres.store import push_file
    from tests.helpers.captures import build_sample

    build_sample(tmp_path / "sample.inspector").close()
    url = f"{postgres_db}?capture=copied"
    push_file(tmp_path / "sample.inspector", StoreUrl.parse(url))
    monkeypatch.setattr(store_capture, "direct_reads", lambda followed: None)  # e.g. a role that may not read marks
    assert window.open_capture(url)
    assert window.model is not None and type(window.model._index) is EventIndex and window.model.rowCount() == 3
    window.close_files()
