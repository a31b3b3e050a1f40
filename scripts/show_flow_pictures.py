"""Open the flows panel on a hand-built order flow and capture report, for looking at the pictures (and taking
screenshots under Xvfb).

    python scripts/show_flow_pictures.py                     # the panel, on the sequence diagram
    python scripts/show_flow_pictures.py --tab map           # open on a tab: sequence, map, timeline, anomalies
    python scripts/show_flow_pictures.py --cycle 2           # switch tab every 2 seconds
    python scripts/show_flow_pictures.py --steps 1000        # a long flow (the same order, repeated)
    python scripts/show_flow_pictures.py --export DIR        # write every picture as PNG and SVG into DIR, then quit
    python scripts/show_flow_pictures.py --select [N]        # select step N's arrow (default: the retried delivery)
    python scripts/show_flow_pictures.py --tab timeline --crosshair   # the crosshair on the worst bucket

The flow is one order of the food-ordering example: the client inserts it; validate-order's first delivery hits a cold
handler and gets a 500, the retry succeeds; the handler's write raises process-payment, whose handler's write raises
restaurant-approval (delivered twice: a duplicate), whose write raises agent-assignment, out of order with another
update of the same row; each write updates the order_status subscription. Clicked events and filters show in the
status bar.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtGui import QColor, QPalette  # noqa: E402
from PySide6.QtWidgets import QApplication, QMainWindow  # noqa: E402

import inspector.qt  # noqa: E402, F401  (applies the PySide work-arounds)
from inspector.core.flows import Anomaly, Flow, FlowStep, ServiceEdge, TriggerStats  # noqa: E402
from inspector.qt.pictures.flows_dock import TAB_NAMES, FlowsPanel  # noqa: E402

START = 1_764_139_501.165
ORDER = "631f646f-4206-46f8-8fd0-79794c9bf0f8"
TRIGGERS = ("validate-order", "process-payment", "restaurant-approval", "agent-assignment")
LANES = (
    "client",
    "table:orders",
    *(lane for name in TRIGGERS for lane in (f"trigger:{name}", f"handler:{name}")),
    "subscription:order_status",
)


def _event_id(n: int) -> str:
    return f"e86a4ae0-d9b1-48ad-a51c-{n:012x}"


def order_flow(repeat: int = 1) -> Flow:
    """One order's flow (19 steps); `repeat` > 1 chains copies one after another for a long flow."""
    steps: list[FlowStep] = []
    anomalies: list[Anomaly] = []
    for r in range(repeat):
        t = START + r * 14.0
        ids = [_event_id(r * 10 + i) for i in range(4)]

        def add(dt: float, kind: str, source: str, target: str, label: str, t: float = t, **extra: object) -> None:
            steps.append(FlowStep(kind, t + dt, source, target, label, **extra))  # type: ignore[arg-type]

        add(0.000, "write", "client", "table:orders", "insert_orders_one (order_valid = false)")
        add(0.004, "event", "table:orders", "trigger:validate-order", "INSERT → event", event_id=ids[0])
        add(
            0.052,
            "invocation",
            "trigger:validate-order",
            "handler:validate-order",
            "POST /validate-order → 500",
            event_id=ids[0],
            invocation_id=f"inv-{r}-1",
            http_status=500,
            duration_ms=2312.0,
            marks=("cold-start",),
        )
        add(
            10.371,
            "invocation",
            "trigger:validate-order",
            "handler:validate-order",
            "POST /validate-order → 200",
            event_id=ids[0],
            invocation_id=f"inv-{r}-2",
            http_status=200,
            duration_ms=84.0,
            marks=("retry",),
        )
        add(10.452, "write", "handler:validate-order", "table:orders", "UPDATE orders SET order_valid = true")
        add(10.460, "message", "table:orders", "subscription:order_status", "order_status: order_valid = true")
        add(10.463, "event", "table:orders", "trigger:process-payment", "UPDATE → event", event_id=ids[1])
        add(
            10.511,
            "invocation",
            "trigger:process-payment",
            "handler:process-payment",
            "POST /process-payment → 200",
            event_id=ids[1],
            invocation_id=f"inv-{r}-3",
            http_status=200,
            duration_ms=141.0,
        )
        add(10.655, "write", "handler:process-payment", "table:orders", "UPDATE orders SET payment_valid = true")
        add(10.661, "message", "table:orders", "subscription:order_status", "order_status: payment_valid = true")
        add(10.664, "event", "table:orders", "trigger:restaurant-approval", "UPDATE → event", event_id=ids[2])
        add(
            10.712,
            "invocation",
            "trigger:restaurant-approval",
            "handler:restaurant-approval",
            "POST /restaurant-approval → 200",
            event_id=ids[2],
            invocation_id=f"inv-{r}-4",
            http_status=200,
            duration_ms=203.0,
        )
        add(
            10.931,
            "invocation",
            "trigger:restaurant-approval",
            "handler:restaurant-approval",
            "POST /restaurant-approval → 200",
            event_id=ids[2],
            invocation_id=f"inv-{r}-5",
            http_status=200,
            duration_ms=188.0,
            marks=("duplicate",),
        )
        add(10.921, "write", "handler:restaurant-approval", "table:orders", "UPDATE orders SET approved = true")
        add(10.928, "message", "table:orders", "subscription:order_status", "order_status: approved = true")
        add(
            10.930,
            "event",
            "table:orders",
            "trigger:agent-assignment",
            "UPDATE → event (old.approved = false, last new = true)",
            event_id=ids[3],
            marks=("out-of-order",),
        )
        add(
            10.979,
            "invocation",
            "trigger:agent-assignment",
            "handler:agent-assignment",
            "POST /agent-assignment → 200",
            event_id=ids[3],
            invocation_id=f"inv-{r}-6",
            http_status=200,
            duration_ms=322.0,
        )
        add(11.305, "write", "handler:agent-assignment", "table:orders", "UPDATE orders SET driver_assigned = true")
        add(11.311, "message", "table:orders", "subscription:order_status", "order_status: driver_assigned = true")
        anomalies += [
            Anomaly(
                "cold-start",
                "info",
                "validate-order took 2.31 s after 9 min idle (warm median 88 ms)",
                ids[0],
                "validate-order",
                ORDER,
                t + 0.052,
            ),
            Anomaly("retry", "warning", "2 attempts: 500 then 200 after 10.3 s", ids[0], "validate-order", ORDER, t),
            Anomaly(
                "duplicate",
                "warning",
                "delivered twice (200 at +10.712 s and +10.931 s)",
                ids[2],
                "restaurant-approval",
                ORDER,
                t + 10.931,
            ),
            Anomaly(
                "out-of-order",
                "error",
                "UPDATE's old.approved = false but the row's last new had approved = true",
                ids[3],
                "agent-assignment",
                ORDER,
                t + 10.930,
            ),
        ]
    return Flow(
        key=ORDER, key_name="order_id", steps=tuple(steps), lanes=LANES, trace_ids=(), anomalies=tuple(anomalies)
    )


@dataclass
class SampleReport:
    """A capture report of the shape `FlowsPanel.show_report` reads (as `inspector.services.analysis` produces)."""

    edges: list[ServiceEdge]
    triggers: list[TriggerStats]
    anomalies: list[Anomaly]
    trigger_tables: dict[str, str] = field(default_factory=dict)
    started: float = START - 600

    def timeline(self, bucket_seconds: float) -> list[tuple[float, int, int, float | None, float | None]]:
        rng = random.Random(int(bucket_seconds * 10))
        rows = []
        buckets = int(900 / bucket_seconds)
        for i in range(buckets):
            t = self.started + i * bucket_seconds
            minute = (t - self.started) / 60
            rate = 4 + 2.5 * math.sin(minute / 2) + (6 if 9 < minute < 10.5 else 0)
            events = max(0, int(rng.gauss(rate * bucket_seconds, math.sqrt(rate * bucket_seconds))))
            failures = sum(1 for _ in range(events) if rng.random() < (0.25 if 9 < minute < 10.5 else 0.02))
            p50 = 90 + 30 * rng.random() + (400 if 9 < minute < 10.5 else 0) if events else None
            p95 = p50 * (2.5 + rng.random()) if p50 is not None else None
            rows.append((t, events, failures, p50, p95))
        return rows


def sample_report(flow: Flow) -> SampleReport:
    edges = [
        ServiceEdge("validate-order", "/validate-order", 1210, 1297, 94, 96.0, 1830.0),
        ServiceEdge("process-payment", "/process-payment", 1188, 1193, 5, 152.0, 610.0),
        ServiceEdge("restaurant-approval", "/restaurant-approval", 1180, 1212, 0, 214.0, 702.0),
        ServiceEdge("agent-assignment", "/agent-assignment", 1175, 1176, 1, 331.0, 1210.0),
        ServiceEdge("order-ready-notify", "notifications.example.com", 1102, 1102, 0, 48.0, 130.0),
        ServiceEdge("welcome-email", "notifications.example.com", 87, 93, 6, 75.0, 900.0),
    ]
    raw = [
        TriggerStats("validate-order", 1210, 1195, 3, 12, 1297, 87, 88.0, 2200.0, 96.0, 1830.0, {"retry": 87}),
        TriggerStats("process-payment", 1188, 1183, 0, 5, 1193, 5, 140.0, 590.0, 152.0, 610.0, {}),
        TriggerStats("restaurant-approval", 1180, 1180, 0, 0, 1212, 0, 205.0, 690.0, 214.0, 702.0, {"duplicate": 32}),
        TriggerStats("agent-assignment", 1175, 1174, 0, 1, 1176, 1, 320.0, 1190.0, 331.0, 1210.0, {"out-of-order": 3}),
        TriggerStats("order-ready-notify", 1102, 1102, 0, 0, 1102, 0, 45.0, 120.0, 48.0, 130.0, {}),
        TriggerStats("welcome-email", 87, 81, 0, 6, 93, 6, 70.0, 880.0, 75.0, 900.0, {"cold-start": 2}),
        TriggerStats("loyalty-points", 14, 0, 0, 14, 0, 0, None, None, None, None, {"pending-too-long": 14}),
    ]
    tables = {name: "orders" for name in (*TRIGGERS, "order-ready-notify")}
    tables |= {"welcome-email": "users", "loyalty-points": "users"}
    handlers = {edge.trigger: edge.handler for edge in edges} | {"loyalty-points": "https://loyalty.example.com/points"}
    stats = [replace(stat, table=tables[stat.trigger], handler=handlers[stat.trigger]) for stat in raw]
    extra = (
        [
            Anomaly(
                "dead-letter",
                "error",
                "validate-order gave up after 4 attempts (last: 500 kitchen closed)",
                _event_id(900 + i),
                "validate-order",
                f"9c1e{i:04d}-0000-4000-8000-000000000000",
                START - 300 + i * 17,
            )
            for i in range(3)
        ]
        + [
            Anomaly(
                "pending-too-long",
                "warning",
                "loyalty-points not delivered after 60 s (no handler answering?)",
                _event_id(950 + i),
                "loyalty-points",
                f"user-{i:03d}",
                START - 200 + i * 9,
            )
            for i in range(5)
        ]
        + [
            Anomaly(
                "contract",
                "warning",
                'restaurant-approval answered 200 with {"error": "menu item unavailable"}',
                _event_id(980),
                "restaurant-approval",
                "5b2d7c10-98aa-4d8e-a1c3-1f2e3d4c5b6a",
                START - 120,
            )
        ]
    )
    return SampleReport(edges, stats, [*flow.anomalies, *extra])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tab", choices=TAB_NAMES, default="sequence")
    parser.add_argument("--cycle", type=float, default=0.0, help="switch tab every N seconds")
    parser.add_argument("--steps", type=int, default=0, help="a flow of about this many steps")
    parser.add_argument("--export", type=Path, help="write each picture as PNG and SVG into this folder, then quit")
    parser.add_argument(
        "--select", type=int, nargs="?", const=3, help="select the arrow of step N (default: the retried delivery)"
    )
    parser.add_argument("--dark", action="store_true", help="a dark palette (Fusion style)")
    parser.add_argument("--crosshair", action="store_true", help="put the timeline's crosshair on the worst bucket")
    args = parser.parse_args(argv)

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    if args.dark:
        app.setStyle("Fusion")
        palette = QPalette()
        for role, colour in (
            (QPalette.ColorRole.Window, "#2B2B2B"),
            (QPalette.ColorRole.WindowText, "#E6E6E6"),
            (QPalette.ColorRole.Base, "#1E1E1E"),
            (QPalette.ColorRole.AlternateBase, "#262626"),
            (QPalette.ColorRole.Text, "#E6E6E6"),
            (QPalette.ColorRole.Button, "#333333"),
            (QPalette.ColorRole.ButtonText, "#E6E6E6"),
            (QPalette.ColorRole.Highlight, "#3D7BD9"),
            (QPalette.ColorRole.HighlightedText, "#FFFFFF"),
        ):
            palette.setColor(role, QColor(colour))
        app.setPalette(palette)
    flow = order_flow(max(1, math.ceil(args.steps / 19)) if args.steps else 1)
    window = QMainWindow()
    window.setWindowTitle("Inspector — flow pictures")
    panel = FlowsPanel(window)
    window.setCentralWidget(panel)
    window.resize(1440, 860)
    panel.show_report(sample_report(flow))
    panel.show_flow(flow)
    panel.eventSelected.connect(lambda event_id: window.statusBar().showMessage(f"eventSelected: {event_id}"))
    panel.filterRequested.connect(lambda text: window.statusBar().showMessage(f"filterRequested: {text}"))
    panel.show_tab(args.tab)
    window.show()
    if args.select is not None:
        QTimer.singleShot(300, lambda: panel.sequence.select_step(args.select))
    if args.crosshair:

        def crosshair() -> None:
            data = panel.timeline.data
            worst = max(range(len(data.failures_per_s)), key=data.failures_per_s.__getitem__)
            panel.timeline.show_crosshair_at(float(data.starts[worst]))

        QTimer.singleShot(300, crosshair)
    if args.export:
        args.export.mkdir(parents=True, exist_ok=True)

        def export_all() -> None:
            for name in TAB_NAMES:
                panel.show_tab(name)
                app.processEvents()
                for suffix in ("png", "svg"):
                    print(panel.export_current(args.export / f"{name}.{suffix}"))
            app.quit()

        QTimer.singleShot(300, export_all)
    elif args.cycle:
        timer = QTimer(window)
        timer.timeout.connect(lambda: panel.tabs.setCurrentIndex((panel.tabs.currentIndex() + 1) % len(TAB_NAMES)))
        timer.start(int(args.cycle * 1000))
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
