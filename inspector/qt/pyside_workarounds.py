"""Work-arounds for defects of the PySide6 wheels Inspector runs on, applied once when `inspector.qt` is imported.

PySide6 6.12's wheels (`cp310-abi3`) return `None` from every void method (`QLabel.setText`, `addTopLevelItem`,
`setExpanded`, ...) without adding the reference the caller then drops. Python 3.12+ does not count references to
`None` (it is immortal), so there nothing happens; on 3.11 each call takes one reference away, and after a few
thousand calls the interpreter aborts with "Fatal Python error: none_dealloc: deallocating None". Measured on
PySide6 6.12.0 with CPython 3.11.7: -1 per void call.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject

NONE_RESERVE = 1 << 40
"""References added to `None` when the defect is present: more void calls than a process can make."""


def none_leaks_per_call() -> float:
    """How many references to `None` a PySide void call takes away (0 when PySide is correct)."""
    probe = QObject()
    calls = 16
    before = sys.getrefcount(None)
    for _ in range(calls):
        probe.setObjectName("probe")
    return (before - sys.getrefcount(None)) / calls


def protect_none() -> bool:
    """Give `None` a reserve of references when PySide's void calls take them away (CPython before 3.12 only, where
    `None` is not immortal); returns whether the reserve was added."""
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    if none_leaks_per_call() <= 0:
        return False
    # CPython 3.11 keeps the reference count as the object's first field (Py_ssize_t ob_refcnt).
    ctypes.c_ssize_t.from_address(id(None)).value += NONE_RESERVE
    return True
