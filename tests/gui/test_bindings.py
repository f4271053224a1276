"""The Qt bindings the GUI runs on keep Python's reference counts straight."""

from __future__ import annotations

import sys

import pytest
from PySide6.QtGui import QStandardItem, QStandardItemModel

from casl_gui.bindings import void_calls_lose_references

pytestmark = [pytest.mark.gui, pytest.mark.timeout(60)]


def test_methods_that_return_nothing_leave_the_reference_count_of_none_alone(qapp):
    """PySide6 6.12.0 on Python 3.11 returns None from such methods without taking a reference.

    The count of None then falls by one per call until the interpreter aborts ("deallocating
    None") or memory it still uses is freed: the GUI crashed that way in the colour list's
    refresh (``QStandardItemModel.clear``) and while deleting widgets. From Python 3.12 on
    None's count never changes, so there the bug is harmless and the test passes anyway.
    """
    model = QStandardItemModel()
    before = sys.getrefcount(None)
    for i in range(2000):
        model.appendRow(QStandardItem(f"row {i}"))
        model.clear()
    assert sys.getrefcount(None) - before > -100, (
        f"None lost {before - sys.getrefcount(None)} references over 4000 calls: this PySide6 "
        "build miscounts references and will crash the GUI"
    )
    assert not void_calls_lose_references()
