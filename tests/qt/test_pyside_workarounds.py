"""PySide6's void calls and signal emits must not be able to take `None` or `True` down (see
inspector.qt.pyside_workarounds). Run in a subprocess: when the defect wins, the interpreter aborts."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CODE = textwrap.dedent(
    """
    import os
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    import inspector.qt
    from PySide6.QtWidgets import QApplication, QLabel
    app = QApplication([])
    label = QLabel()
    for _ in range(200_000):  # many more void calls than `None` has references in a fresh process
        label.setText("x")
    print("survived")
    """
)


def test_many_void_calls_do_not_deallocate_none() -> None:
    result = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "survived" in result.stdout, result.stderr[-2000:]


EMITS = textwrap.dedent(
    """
    import os
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    import inspector.qt
    from PySide6.QtCore import QStringListModel
    model = QStringListModel(["a", "b"])
    first, last = model.index(0), model.index(1)
    for _ in range(200_000):  # many more emits than `True` has references in a fresh process
        model.dataChanged.emit(first, last)
    print("survived")
    """
)


def test_many_signal_emits_do_not_deallocate_true() -> None:
    result = subprocess.run([sys.executable, "-c", EMITS], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "survived" in result.stdout, result.stderr[-2000:]
