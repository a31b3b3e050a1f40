"""The display filter's error type and the small helpers its messages share.

Owns `FilterError` (a message for the user and the character span to underline), raised by the lexer, the parser and
the semantic check; the filter bar, the colouring dialog, the CLI's `--filter` and the SQL compiler's callers catch it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class FilterError(ValueError):
    """A filter that cannot be used: `message` for the user, `start`/`end` the character span to underline (end
    exclusive; an empty span at the end of the text means "something is missing here")."""

    def __init__(self, message: str, start: int, end: int) -> None:
        super().__init__(message)
        self.message = message
        self.start = start
        self.end = max(start, end)

    def __repr__(self) -> str:
        return f"FilterError({self.message!r}, {self.start}, {self.end})"


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """` — did you mean 'x'?` for the closest candidate, or nothing."""
    close = difflib.get_close_matches(word.lower(), list(candidates), n=1, cutoff=0.6)
    return f" — did you mean '{close[0]}'?" if close else ""


def show(text: str) -> str:
    """A token as quoted in a message (shortened)."""
    return text if len(text) <= 40 else text[:37] + "..."
