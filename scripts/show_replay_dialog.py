"""Open the editor ("Edit and replay…") on a sample event, for looking at it (and taking screenshots under Xvfb).

    python scripts/show_replay_dialog.py            # edit the address, replay to a local handler: both answers shown
    python scripts/show_replay_dialog.py --broken   # a JSON error as typed: the status line and the underline
    python scripts/show_replay_dialog.py --remote   # a target on another machine: the consent question

The sample capture is show_detail_pane.py's; its restaurant-approval trigger's webhook points at a small handler this
script serves on 127.0.0.1 (it answers with what it received, as JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

import qasync
from aiohttp import web
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

sys.path.insert(0, str(Path(__file__).resolve().parent))
from show_detail_pane import build_sample

from inspector.qt.bridge import TaskRunner
from inspector.qt.dialogs.replay_dialog import ReplayDialog
from inspector.store.capture_file import CaptureWriter

EVENT_ID = "6f1c2d3e-0002-4000-8000-00000000a001"


async def handler(request: web.Request) -> web.Response:
    body = await request.json()
    row = body["event"]["data"]["new"]
    return web.json_response(
        {"order_id": row["order_id"], "approved": True, "address_seen": row.get("address"), "note": "replayed"}
    )


async def main(args: argparse.Namespace) -> None:
    app = web.Application()
    app.router.add_post("/restaurant-approval", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    path = Path(tempfile.mkdtemp()) / "replay-sample.inspector"
    capture = build_sample(path)
    writer = CaptureWriter(capture)
    writer.snapshot_triggers(
        [
            (
                "default",
                {"schema": "public", "name": "orders"},
                {
                    "name": "restaurant-approval",
                    "definition": {"enable_manual": False, "update": {"columns": ["approved"]}},
                    "retry_conf": {"num_retries": 3, "interval_sec": 10, "timeout_sec": 60},
                    "webhook": f"http://127.0.0.1:{port}/restaurant-approval",
                    "headers": [{"name": "X-Webhook-Secret", "value": "<redacted>"}],
                },
            )
        ]
    )
    writer.flush()
    capture.close()

    tasks = TaskRunner()
    dialog = ReplayDialog(path, EVENT_ID, tasks)
    dialog.show()
    payload = json.loads(dialog.editor.toPlainText())
    payload["data"]["new"]["address"] = "221B Baker Street, London"
    dialog.editor.setPlainText(json.dumps(payload, indent=2, ensure_ascii=False))
    dialog.headers.setPlainText("X-Webhook-Secret: s3cr3t\nX-Replay-Note: from the editor")
    if args.broken:
        text = dialog.editor.toPlainText().replace('"approved": true,', '"approved": true', 1)
        dialog.editor.setPlainText(text)
        dialog.go_to_error()
    elif args.remote:
        dialog.target.setText("https://handlers.example.com/restaurant-approval")
        QTimer.singleShot(500, dialog.send)
    else:
        QTimer.singleShot(300, dialog.send)
    done = asyncio.Event()
    dialog.finished.connect(lambda _r: done.set())
    QApplication.instance().aboutToQuit.connect(done.set)  # type: ignore[union-attr]
    await done.wait()
    await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--broken", action="store_true", help="show a JSON error")
    parser.add_argument("--remote", action="store_true", help="target another machine: the consent question")
    qt_app = QApplication.instance() or QApplication(sys.argv)
    qasync.run(main(parser.parse_args()))
