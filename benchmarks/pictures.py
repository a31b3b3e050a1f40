"""Drawing the flow pictures: the service map of a capture with 30 event triggers, and the sequence diagram of a
1,000-step flow, each laid out and painted into an image, against a goal of 200 ms.

Run `python benchmarks/pictures.py` (5 repetitions, a few seconds) or `--quick` (one repetition); `--json FILE`
writes the figures. Offscreen (QT_QPA_PLATFORM=offscreen), so Qt really lays out and paints, into an image.

What is measured, each time on a fresh view of 1,400 x 800 pixels (a dock's size on a large screen):
1. service map: `ServiceMapView.show_map` (the pure `layout_service_map`, text measured with the view's fonts, and the
   scene's items) for 30 triggers on 6 tables delivering to 24 handlers (some serve several triggers), then the whole
   map rendered into an image at 1x. Goal: < 200 ms.
2. sequence diagram, first screen: `SequenceDiagramView.show_flow` of a 1,000-step flow (53 orders of the example
   app chained: 11 lanes, writes, events, invocations with retries, failures, duplicates, subscription updates), then
   what the user sees rendered into an image (the first 800 pixels of the view, headers included). Goal: < 200 ms.
3. sequence diagram, scrolled: the same, scrolled to the middle (pinned headers drawn over the rows). Goal: < 200 ms.
Also printed, without a goal: the pure layouts alone, and the whole 1,000-step diagram rendered at 1x (what export does
before scaling), to tell layout, scene building and painting apart.

The goal ratio is median / goal: below 1.0 meets the goal.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QRectF  # noqa: E402
from PySide6.QtGui import QImage, QPainter  # noqa: E402
from PySide6.QtWidgets import QApplication, QGraphicsView  # noqa: E402

import inspector.qt  # noqa: E402, F401  (applies the PySide work-arounds)
from inspector.core.flows import Flow, FlowStep, ServiceEdge, TriggerStats  # noqa: E402
from inspector.qt.pictures.sequence_diagram import SequenceDiagramView, layout_sequence  # noqa: E402
from inspector.qt.pictures.service_map import ServiceMapView, layout_service_map  # noqa: E402

GOAL_MS = 200.0
VIEW_SIZE = (1400, 800)
T0 = 1_764_139_501.0
TRIGGERS = ("validate-order", "process-payment", "restaurant-approval", "agent-assignment")


def big_flow(steps: int = 1000) -> Flow:
    """Orders of the example app chained into one flow of `steps` steps."""
    lanes = (
        "client",
        "table:orders",
        *(f"{k}:{t}" for t in TRIGGERS for k in ("trigger", "handler")),
        "subscription:s",
    )
    out: list[FlowStep] = []
    order = 0
    while len(out) < steps:
        t = T0 + order * 12.0
        out.append(FlowStep("write", t, "client", "table:orders", "insert_orders_one (order_valid = false)"))
        for i, name in enumerate(TRIGGERS):
            event = f"e-{order}-{i}"
            t += 0.05
            out.append(FlowStep("event", t, "table:orders", f"trigger:{name}", "UPDATE → event", event_id=event))
            failed = (order + i) % 5 == 0
            out.append(
                FlowStep(
                    "invocation",
                    t + 0.05,
                    f"trigger:{name}",
                    f"handler:{name}",
                    f"POST /{name} → {500 if failed else 200}",
                    event_id=event,
                    http_status=500 if failed else 200,
                    duration_ms=120.0 + i * 40,
                    marks=("cold-start",) if order % 17 == 0 and i == 0 else (),
                )
            )
            if failed:
                out.append(
                    FlowStep(
                        "invocation",
                        t + 10,
                        f"trigger:{name}",
                        f"handler:{name}",
                        f"POST /{name} → 200",
                        event_id=event,
                        http_status=200,
                        duration_ms=90.0,
                        marks=("retry",),
                    )
                )
            out.append(FlowStep("write", t + 0.2, f"handler:{name}", "table:orders", f"UPDATE orders ({name})"))
            out.append(FlowStep("message", t + 0.21, "table:orders", "subscription:s", "order_status update"))
        order += 1
    return Flow("o-1", "order_id", tuple(out[:steps]), lanes)


def big_map(triggers: int = 30) -> tuple[list[ServiceEdge], list[TriggerStats], dict[str, str]]:
    """30 triggers on 6 tables; every fifth handler serves two triggers."""
    edges, stats, tables = [], [], {}
    for i in range(triggers):
        name = f"trigger-{i:02d}-{TRIGGERS[i % 4]}"
        handler = f"https://handlers.example.com/h{i - i % 5 if i % 5 == 1 else i}"
        invocations = 100 + 37 * i
        failures = (i * 7) % 23 if i % 3 else 0
        edges.append(ServiceEdge(name, handler, invocations - 5, invocations, failures, 80.0 + i, 400.0 + 20 * i))
        stats.append(
            TriggerStats(name, invocations - 5, invocations - 8, 1, 2, invocations, 5, 70.0, 350.0, 80.0, 400.0)
        )
        tables[name] = f"table_{i % 6}"
    return edges, stats, tables


def render_view(view: QGraphicsView) -> QImage:
    """What the view shows, painted into an image (background, items, pinned headers)."""
    size = view.viewport().size()
    image = QImage(size, QImage.Format.Format_ARGB32_Premultiplied)
    painter = QPainter(image)
    view.render(painter, QRectF(0, 0, size.width(), size.height()), view.viewport().rect())
    painter.end()
    return image


def render_scene(view: QGraphicsView) -> QImage:
    scene = view.scene()
    rect = scene.sceneRect()
    image = QImage(int(rect.width()), int(rect.height()), QImage.Format.Format_ARGB32_Premultiplied)
    painter = QPainter(image)
    painter.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
    scene.render(painter, QRectF(image.rect()), rect)
    painter.end()
    return image


def timed(repeats: int, run: Callable[[Any], object], setup: Callable[[], Any] = lambda: None) -> list[float]:
    """Milliseconds of `run(setup())`, `repeats` times; the setup is not timed."""
    times = []
    for _ in range(repeats):
        argument = setup()
        start = time.perf_counter()
        run(argument)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one repetition")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    app = QApplication.instance() or QApplication(sys.argv[:1])
    flow = big_flow(1000)
    edges, stats, tables = big_map(30)

    def new_view(kind: type[QGraphicsView]) -> QGraphicsView:
        view = kind()
        view.resize(*VIEW_SIZE)
        view.show()
        app.processEvents()
        return view

    def service_map(view: ServiceMapView) -> None:
        view.show_map(edges, stats, tables=tables)
        render_scene(view)

    def sequence_first(view: SequenceDiagramView) -> None:
        view.show_flow(flow)
        render_view(view)

    def sequence_middle(view: SequenceDiagramView) -> None:
        view.show_flow(flow)
        view.verticalScrollBar().setValue(view.verticalScrollBar().maximum() // 2)
        render_view(view)

    def sequence_whole(view: SequenceDiagramView) -> None:
        view.show_flow(flow)
        render_scene(view)

    timed(1, sequence_first, lambda: new_view(SequenceDiagramView))  # warm-up: fonts, glyph caches, imports
    figures: dict[str, tuple[list[float], float | None]] = {
        "service map, 30 triggers: layout + paint": (
            timed(repeats, service_map, lambda: new_view(ServiceMapView)),
            GOAL_MS,
        ),
        "sequence 1,000 steps: layout + first screen": (
            timed(repeats, sequence_first, lambda: new_view(SequenceDiagramView)),
            GOAL_MS,
        ),
        "sequence 1,000 steps: layout + middle screen": (
            timed(repeats, sequence_middle, lambda: new_view(SequenceDiagramView)),
            GOAL_MS,
        ),
        "  service map layout alone (pure)": (
            timed(repeats, lambda _: layout_service_map(edges, stats, tables=tables)),
            None,
        ),
        "  sequence layout alone (pure, 1,000 steps)": (timed(repeats, lambda _: layout_sequence(flow, 1400)), None),
        "  sequence, whole diagram painted at 1x": (
            timed(repeats, sequence_whole, lambda: new_view(SequenceDiagramView)),
            None,
        ),
    }
    width = max(len(label) for label in figures)
    print(f"Flow pictures ({repeats} repetition{'s' if repeats != 1 else ''}, view {VIEW_SIZE[0]}x{VIEW_SIZE[1]}, ms)")
    print(f"{'figure':<{width}} {'median':>8} {'min':>8} {'max':>8} {'goal':>7} {'ratio':>6}")
    summary: dict[str, dict[str, float | None]] = {}
    failed = False
    for label, (times, goal) in figures.items():
        median = statistics.median(times)
        ratio = median / goal if goal else None
        failed |= ratio is not None and ratio >= 1.0
        goal_text = f"{goal:>7.0f}" if goal else f"{'—':>7}"
        ratio_text = f"{ratio:>6.2f}" if ratio is not None else f"{'':>6}"
        print(f"{label:<{width}} {median:>8.1f} {min(times):>8.1f} {max(times):>8.1f} {goal_text} {ratio_text}")
        summary[label.strip()] = {"median_ms": median, "min_ms": min(times), "max_ms": max(times), "goal_ms": goal}
    print("ratio = median / goal; below 1.00 meets the goal")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
