"""Counted nouns in the words a person reads: "1 event", "2 events", never "event(s)".

Pure text. Used wherever a count meets a noun in a user-facing string: the replay plan and report
(`services/replay/plan.py`, `services/replay/runner.py`), the bulk replay dialog, the window's titles, the sandbox's
log.
"""

from __future__ import annotations

__all__ = ["counted", "noun"]


def noun(count: int, singular: str, plural: str | None = None) -> str:
    """`singular` for a count of one, else `plural` (default: `singular` + "s"): `noun(2, "difference")`."""
    return singular if count == 1 else (plural if plural is not None else f"{singular}s")


def counted(count: int, singular: str, plural: str | None = None, *, grouped: bool = False) -> str:
    """The count and its noun: `counted(1, "event")` is "1 event", `counted(1200, "event", grouped=True)` is
    "1,200 events"."""
    number = f"{count:,}" if grouped else str(count)
    return f"{number} {noun(count, singular, plural)}"
