"""Closing the window frees it: no top-level widget left, the render window finalised."""

from __future__ import annotations

import gc
import weakref

import pytest
from gui_helpers import EXPOSE_TIMEOUT_MS, wait_loaded
from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QApplication

pytestmark = [pytest.mark.gui, pytest.mark.shared_scans, pytest.mark.timeout(120)]


def test_closing_the_window_leaves_no_widget_and_finalises_vtk(qtbot, settings, dialogs, scans_dir):
    from casl_gui.main_window import MainWindow

    before = set(QApplication.topLevelWidgets())
    win = MainWindow(settings)
    win.show()
    qtbot.waitExposed(win, timeout=EXPOSE_TIMEOUT_MS)
    win.open_paths([scans_dir / "common-3d-test-models" / "fandisk.obj"])
    wait_loaded(qtbot, win, 1)
    win.state.set_compare(True)
    win.state.set_pick(0)
    viewport = win.viewport
    ref = weakref.ref(win)
    win.close()
    assert viewport.is_shut_down
    win.deleteLater()
    del win, viewport
    for _ in range(3):
        QApplication.processEvents()
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
        gc.collect()
    alive = ref() is not None
    assert not alive, "the main window outlived its closing"
    left = [w for w in QApplication.topLevelWidgets() if w not in before]
    assert left == [], f"widgets left behind: {left}"
