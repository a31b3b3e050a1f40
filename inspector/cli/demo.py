"""`inspector demo`: the window capturing a sandbox started in this process, with live traffic and a few faults."""

from __future__ import annotations

import argparse

from inspector.cli.options import non_negative
from inspector.cli.window import run_window

NAME = "demo"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser(
        NAME,
        help="open the window capturing a local sandbox with live traffic and a few faults",
        description="Start the sandbox in this process (temporary data, an order a second, some handler failures, "
        "latency, cold starts and duplicate deliveries) and the window connected to it, capturing live.",
    )
    demo.add_argument("--orders-per-second", type=non_negative, default=1.0, metavar="R")
    demo.add_argument("--seed", type=int, default=None, metavar="N", help="make traffic and faults reproducible")
    demo.add_argument(
        "--relay", action="store_true", help="deliver through an `inspector relay`, with the Breakpoints panel"
    )
    demo.add_argument("--quit-after", type=non_negative, default=None, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    from inspector.qt.window.app import DemoSettings

    demo = DemoSettings(orders_per_second=args.orders_per_second, seed=args.seed, relay=args.relay)
    return run_window(None, demo=demo, quit_after=args.quit_after)
