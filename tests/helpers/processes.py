"""Inspector's commands as separate processes, as a user runs them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def sandbox_process(*args: str, env: dict[str, str] | None = None) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start `python -m inspector sandbox --port 0 ...`; yield it and its base URL; always stop it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "inspector", "sandbox", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        assert proc.stdout is not None
        banner = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            banner.append(line)
            if line.strip().startswith("Faults"):
                break
        text = "".join(banner)
        match = re.search(r"GraphQL\s+(http://[\d.]+:\d+)/v1/graphql", text)
        assert match, f"no URL in the banner:\n{text}"
        yield proc, match.group(1)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
