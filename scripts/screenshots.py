"""Write screenshots of the main views of `inspector demo` (for the README and for reviewing the UI).

Runs the demo (sandbox + live capture) for a while, then selects an interesting event and saves PNGs of the window:
the live list with the detail pane, an event's invocations, a filter applied, and the subscriptions console. Works
offscreen (`QT_QPA_PLATFORM=offscreen`, via QWidget.grab) or on a real or virtual X display:

    python scripts/screenshots.py --out docs/screenshots
    ../shared/tools/screenshot.sh /tmp/shot 20 python scripts/screenshots.py --out /tmp/shots
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication

from inspector.qt.roles import EVENT_ID_ROLE
from inspector.qt.window.app import DemoSettings, start_demo
from inspector.qt.window.main_window import MainWindow


async def shoot(out: Path, warmup: float) -> None:
    settings = QSettings(str(out / "screenshots-settings.ini"), QSettings.Format.IniFormat)
    settings.clear()
    window = MainWindow(settings=settings)
    window.resize(1440, 900)
    window.show()
    sandbox = await start_demo(window, DemoSettings(orders_per_second=2.0, seed=4))
    try:
        await asyncio.sleep(warmup)
        window.banner.hide()
        # 1. the live list with a retried event selected and its payload
        window.apply_filter("")
        await asyncio.sleep(0.5)
        model = window.model
        assert model is not None
        row = next((r for r in range(model.rowCount()) if (model.row_dict(r) or {}).get("attempts", 0) > 1), 0)
        window.table.selectRow(row)
        await asyncio.sleep(0.5)
        window.grab().save(str(out / "window.png"))
        # 2. its invocations
        tabs = window.detail.tabs
        for i in range(tabs.count()):
            if tabs.tabText(i).startswith("Invocations"):
                tabs.setCurrentIndex(i)
        await asyncio.sleep(0.3)
        window.grab().save(str(out / "invocations.png"))
        # 3. a filter
        window.apply_filter('status == "failed" || attempts > 1')
        await asyncio.sleep(0.8)
        if model.rowCount():
            window.table.selectRow(0)
            event_id = model.index(0, 0).data(EVENT_ID_ROLE)
            window.select_event(str(event_id))
        await asyncio.sleep(0.3)
        window.grab().save(str(out / "filter.png"))
        # 4. the subscriptions console on the live query
        window.apply_filter("")
        window.console_dock.raise_()
        window.console.select_operation(1)
        await asyncio.sleep(0.6)
        window.console.messages.selectRow(max(0, window.console.messages.rowCount() - 1))
        window.console.message_tabs.setCurrentIndex(1)
        await asyncio.sleep(0.3)
        window.grab().save(str(out / "subscriptions.png"))
        # 5. the flows dock: the selected event's sequence diagram, then the service map
        window.flows_dock.show()
        window.flows_dock.raise_()
        window.resizeDocks([window.flows_dock], [430], Qt.Orientation.Vertical)
        window.table.selectRow(row)
        window.refresh_analysis()
        for _ in range(100):
            await asyncio.sleep(0.1)
            if not window.tasks.running("analysis"):
                break
        window.flows.show_tab("sequence")
        await asyncio.sleep(0.5)
        window.grab().save(str(out / "flow.png"))
        window.flows.show_tab("map")
        await asyncio.sleep(0.5)
        window.grab().save(str(out / "service-map.png"))
        # 6. the timeline, read out at its busiest bucket
        window.flows.show_tab("timeline")
        await asyncio.sleep(0.5)
        timeline = window.flows.timeline
        rates = timeline.data.events_per_s
        if rates:
            busiest = max(range(len(rates)), key=rates.__getitem__)
            timeline.show_crosshair_at(timeline.data.starts[busiest] + timeline.bucket_seconds / 2)
        await asyncio.sleep(0.3)
        window.grab().save(str(out / "timeline.png"))
    finally:
        if window.session is not None:
            window.session.stop()
        await window.tasks.cancel_all()
        await sandbox.stop()
        window.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--warmup", type=float, default=12.0, help="seconds of demo traffic before the shots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    import qasync

    qasync.run(shoot(args.out, args.warmup))
    del app
    for name in ("window", "invocations", "filter", "subscriptions", "flow", "service-map", "timeline"):
        print(args.out / f"{name}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
