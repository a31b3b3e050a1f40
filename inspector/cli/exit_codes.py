"""The exit codes of every `inspector` command, defined once (README's command table lists them per command)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What an `inspector` command's exit status means. Not every command uses every code."""

    OK = 0
    """Done (`replay`: every replay and check passed; `self-test`: passed)."""
    FAILED = 1
    """The work failed: an output could not be written, a replay or check failed, the self-test failed, the window
    could not start."""
    USAGE = 2
    """The command line cannot work: an unknown command or option, a bad value, a missing, damaged or foreign
    capture, malformed input. Nothing was done (argparse uses 2 for its own errors too)."""
    CONNECTION = 3
    """The backend (or, for `replay`, every target) could not be reached, or refused the credentials."""
