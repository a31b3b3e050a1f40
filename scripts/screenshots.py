"""Write screenshots of every view of `inspector demo` at 1366x768 and 1920x1080 (for the README and for reviewing).

Runs the demo (sandbox + live capture) for a while, then, for each screen size, fits the window to that screen and
saves PNGs: the window as it opens (`window-<size>.png`; `window.png` is the 1366x768 one, the README's picture), an
event's invocations, a filter applied, the subscriptions view, the flows view's sequence diagram, service map,
waterfall, timeline and anomalies, and the windows of their own: Statistics > Per-trigger figures and Latency
histograms, Help > Display filter reference, Edit > Retry all failed's plan, a trigger's settings, the response diff
and the connection profile dialog after Test connection. Works offscreen (`QT_QPA_PLATFORM=offscreen`, via
QWidget.grab) or on a real or virtual X display:

    python scripts/screenshots.py --out docs/screenshots
    ../shared/tools/screenshot.sh /tmp/shot 20 python scripts/screenshots.py --out /tmp/shots
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
from pathlib import Path

from PySide6.QtCore import QRect, QSettings
from PySide6.QtWidgets import QApplication, QWidget

from inspector.qt.detail.detail_pane import INVOCATIONS_TAB
from inspector.qt.detail.response_diff import ResponseDiffDialog
from inspector.qt.dialogs.connection_dialog import ConnectionDialog
from inspector.qt.roles import EVENT_ID_ROLE
from inspector.qt.window.app import DemoSettings, start_demo
from inspector.qt.window.main_window import EVENTS_VIEW, FLOWS_VIEW, SUBSCRIPTIONS_VIEW, MainWindow

SIZES = ((1366, 768), (1920, 1080))
VIEWS = (
    "window",
    "invocations",
    "filter",
    "subscriptions",
    "flow",
    "waterfall",
    "service-map",
    "timeline",
    "anomalies",
    "statistics",
    "latency-histogram",
    "filter-reference",
    "retry-failed",
    "trigger-settings",
    "response-diff",
    "connection-dialog",
)


async def settle(seconds: float = 0.4) -> None:
    await asyncio.sleep(seconds)


async def shoot_size(
    window: MainWindow, out: Path, width: int, height: int, first: bool, secret: str | None = None
) -> list[Path]:
    size = f"{width}x{height}"
    written: list[Path] = []

    def save(name: str, widget: QWidget | None = None) -> None:
        path = out / f"{name}-{size}.png"
        (widget or window).grab().save(str(path))
        written.append(path)

    window.fit_to_screen(QRect(0, 0, width, height + 40))  # +40: offscreen there is no title bar to leave room for
    window.show_view(EVENTS_VIEW)
    await settle(0.8)
    if first:
        window.banner.show()
    save("window")  # as it opens: the demo's banner, the first-run tour, the list following
    window.banner.hide()
    window.tour.dismiss()
    model = window.model
    assert model is not None
    window.apply_filter("")
    await settle()
    row = next((r for r in range(model.rowCount()) if (model.row_dict(r) or {}).get("attempts", 0) > 1), 0)
    window.table.selectRow(row)
    await settle()
    window.detail.tabs.setCurrentIndex(INVOCATIONS_TAB)
    window.detail.invocations.select_attempt(0)
    await settle()
    save("invocations")
    window.apply_filter('status == "failed" || attempts > 1')
    await settle(0.8)
    if model.rowCount():
        window.select_event(str(model.index(0, 0).data(EVENT_ID_ROLE)))
    await settle()
    save("filter")
    window.apply_filter("")
    window.show_view(SUBSCRIPTIONS_VIEW)
    window.console.select_operation(1)
    await settle(0.6)
    window.console.messages.selectRow(max(0, window.console.messages.rowCount() - 1))
    window.console.message_tabs.setCurrentIndex(1)
    await settle()
    save("subscriptions")
    window.show_view(EVENTS_VIEW)
    window.table.selectRow(row)
    await settle()
    window.show_view(FLOWS_VIEW)
    window.refresh_analysis()
    for _ in range(100):
        await asyncio.sleep(0.1)
        if not window.tasks.running("analysis"):
            break
    for name, tab in (
        ("flow", "sequence"),
        ("waterfall", "waterfall"),
        ("service-map", "map"),
        ("timeline", "timeline"),
        ("anomalies", "anomalies"),
    ):
        window.flows.show_tab(tab)
        await settle(0.5)
        if tab == "map":
            window.flows.zoom("fit")
        if tab == "timeline":
            timeline = window.flows.timeline
            rates = timeline.data.events_per_s
            if rates:
                busiest = max(range(len(rates)), key=rates.__getitem__)
                timeline.show_crosshair_at(timeline.data.starts[busiest] + timeline.bucket_seconds / 2)
            await settle(0.3)
        save(name)
    # The windows of their own, sized for this screen.
    figures = window.statistics_menu.show_figures()
    histograms = window.statistics_menu.show_histograms()
    for _ in range(100):
        await asyncio.sleep(0.1)
        if not window.tasks.running("statistics-figures") and not window.tasks.running("statistics-histograms"):
            break
    if figures is not None:
        figures.resize(min(width - 40, 1400), 340)
        await settle()
        save("statistics", figures)
        figures.close()
    if histograms is not None:
        histograms.trigger.setCurrentText("validate-order")
        histograms.resize(min(width - 40, 900), 480)
        await settle()
        save("latency-histogram", histograms)
        histograms.close()
    reference = window.show_filter_reference()
    reference.resize(720, min(height - 40, 760))
    await settle()
    save("filter-reference", reference)
    reference.close()
    retry = window.retry_all_failed()
    if retry is not None:
        await settle()
        save("retry-failed", retry)
        retry.close()
    settings_dialog = window.sources.show_trigger_settings("validate-order")
    if settings_dialog is not None:
        await settle()
        save("trigger-settings", settings_dialog)
        settings_dialog.close()
    # The demo makes no replays: the diff dialog is shown on an event's first (failed) attempt against its last.
    window.show_view(EVENTS_VIEW)
    window.table.selectRow(row)
    await settle()
    attempts = window.detail.invocations.invocations
    if len(attempts) > 1:
        diff = ResponseDiffDialog(attempts[0], attempts[1:], window)
        diff.show()
        await settle()
        save("response-diff", diff)
        diff.close()
    if window.session is not None:
        dialog = ConnectionDialog(
            window.profiles,
            window.secrets,
            window.session.profile,
            window,
            settings=window.settings,
            tasks=window.tasks,
        )
        dialog.secret_edit.setText(secret or "")
        dialog.subscription_edit.setPlainText("subscription live { orders(limit: 5) { order_id placed } }")
        dialog.show()
        dialog.test_connection()
        for _ in range(50):
            await asyncio.sleep(0.1)
            if dialog.check is not None:
                break
        await settle()
        save("connection-dialog", dialog)
        dialog.reject()
    return written


async def shoot(out: Path, warmup: float) -> list[Path]:
    settings = QSettings(str(out / "screenshots-settings.ini"), QSettings.Format.IniFormat)
    settings.clear()
    window = MainWindow(settings=settings, capture_directory=out)
    window.fit_to_screen(QRect(0, 0, *SIZES[0]))
    window.show()
    sandbox = await start_demo(window, DemoSettings(orders_per_second=2.0, seed=4))
    written: list[Path] = []
    try:
        await asyncio.sleep(warmup)
        for i, (width, height) in enumerate(SIZES):
            written += await shoot_size(window, out, width, height, first=i == 0, secret=sandbox.admin_secret)
        shutil.copyfile(out / f"window-{SIZES[0][0]}x{SIZES[0][1]}.png", out / "window.png")
        written.append(out / "window.png")
    finally:
        if window.session is not None:
            window.session.stop()
        await window.tasks.cancel_all()
        await sandbox.stop()
        window.quitting = True
        window.close()
        window.close_files()
    return written


def clean_up(out: Path) -> None:
    """The demo's capture and the settings the shots used are not screenshots."""
    for capture in out.glob("demo-*.inspector*"):
        capture.unlink()
    (out / "screenshots-settings.ini").unlink(missing_ok=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--warmup", type=float, default=12.0, help="seconds of demo traffic before the shots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    import qasync

    written = qasync.run(shoot(args.out, args.warmup))
    clean_up(args.out)
    del app
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
