"""Work-arounds for defects of the PySide6 wheels Inspector runs on, applied once when `inspector.qt` is imported.

PySide6 6.12's wheels (`cp310-abi3`) return `None` from every void method (`QLabel.setText`, `addTopLevelItem`,
`setExpanded`, ...) without adding the reference the caller then drops. Python 3.12+ does not count references to
`None` (it is immortal), so there nothing happens; on 3.11 each call takes one reference away, and after a few
thousand calls the interpreter aborts with "Fatal Python error: none_dealloc: deallocating None". Measured on
PySide6 6.12.0 with CPython 3.11.7: -1 per void call.

The same wheels return `True` from a signal's `emit()` (Qt's own signals too, e.g. a model's `dataChanged`) without
the reference, so on 3.11 each emit from Python takes one reference from `True` ("Fatal Python error: bool_dealloc"
after a few thousand: a window following a live capture emits that many within minutes). Measured: -1 per emit;
other calls returning a bool (`signalsBlocked`, `isWidgetType`, `blockSignals`) are correct.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

NONE_RESERVE = 1 << 40
"""References added to `None` (or `True`) when the defect is present: more calls than a process can make."""


class _Probe(QObject):
    fired = Signal()


def none_leaks_per_call() -> float:
    """How many references to `None` a PySide void call takes away (0 when PySide is correct)."""
    probe = QObject()
    calls = 16
    before = sys.getrefcount(None)
    for _ in range(calls):
        probe.setObjectName("probe")
    return (before - sys.getrefcount(None)) / calls


def true_leaks_per_emit() -> float:
    """How many references to `True` a signal's `emit()` from Python takes away (0 when PySide is correct)."""
    probe = _Probe()
    calls = 16
    before = sys.getrefcount(True)
    for _ in range(calls):
        probe.fired.emit()
    return (before - sys.getrefcount(True)) / calls


def protect_true() -> bool:
    """Give `True` a reserve of references when PySide's `emit()` takes them away (CPython before 3.12 only);
    returns whether the reserve was added."""
    return _add_reserve(True, true_leaks_per_emit)


def protect_none() -> bool:
    """Give `None` a reserve of references when PySide's void calls take them away (CPython before 3.12 only, where
    `None` is not immortal); returns whether the reserve was added."""
    return _add_reserve(None, none_leaks_per_call)


def _add_reserve(value: object, leaks: Callable[[], float]) -> bool:
    """Add `NONE_RESERVE` references to `value` when `leaks()` says PySide takes them away."""
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    if leaks() <= 0:
        return False
    # CPython 3.11 keeps the reference count as the object's first field (Py_ssize_t ob_refcnt).
    ctypes.c_ssize_t.from_address(id(value)).value += NONE_RESERVE
    return True
