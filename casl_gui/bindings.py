"""A check of the Qt bindings the GUI runs on."""

from __future__ import annotations

import sys

from PySide6.QtGui import QStandardItemModel

#: What ``casl-gui`` prints when the check fails.
MISCOUNT_WARNING = (
    "casl-gui: this PySide6 ({version}) takes a reference away from None on every call of a "
    "method that returns nothing (PySide6 6.12.0 does so on Python 3.11); the window will "
    "crash after a while. Install another build: pip install 'PySide6-Essentials<6.12'"
)


def void_calls_lose_references(calls: int = 200) -> bool:
    """Whether calling a Qt method that returns nothing lowers the reference count of None.

    A binding with that bug makes the count fall by one per call until the interpreter
    aborts ("deallocating None") or frees memory it still uses. From Python 3.12 on None's
    count never changes, so there the answer is always False (and the bug harmless).
    """
    model = QStandardItemModel()
    before = sys.getrefcount(None)
    for _ in range(calls):
        model.clear()
    return sys.getrefcount(None) < before - calls // 2
