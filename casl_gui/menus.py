"""The main window's menus and tool bar."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QToolBar


class WindowActions(NamedTuple):
    """The actions other parts of the window enable, check or trigger.

    Attributes
    ----------
    compare:
        View > Compare side by side (checkable).
    load:
        Model > Load CASL checkpoint….
    score:
        Model > Score open scans with CASL (enabled once a CASL model is loaded).
    finetune:
        Tools > Fine-tune CASL….
    recent_menu:
        File > Open recent (filled when it is about to show).
    reset:
        View > Reset view (Home, Ctrl+0).
    """

    compare: QAction
    load: QAction
    score: QAction
    finetune: QAction
    recent_menu: QMenu
    reset: QAction


def add_action(
    window: QMainWindow, menu: QMenu, text: str, slot: Callable[[], object] | None, shortcut=None
) -> QAction:
    """Add an action calling ``slot()`` to ``menu`` (and return it)."""
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    if slot is not None:
        action.triggered.connect(lambda _checked=False: slot())
    menu.addAction(action)
    return action


def build_menus(w) -> WindowActions:
    """Build the menus and tool bar of :class:`~casl_gui.main_window.MainWindow` ``w``."""
    bar = w.menuBar()
    file_menu = bar.addMenu("&File")
    add_action(w, file_menu, "&Open…", w.opener.choose_files, QKeySequence.StandardKey.Open)
    add_action(w, file_menu, "Open &folder…", w.opener.choose_folder, "Ctrl+Shift+O")
    recent = file_menu.addMenu("Open &recent")
    recent.aboutToShow.connect(lambda: w.opener.fill_recent(recent))
    add_action(w, file_menu, "&Close scan", w.close_active_scan, QKeySequence.StandardKey.Close)
    file_menu.addSeparator()
    add_action(w, file_menu, "Save &screenshot…", w.choose_screenshot, "Ctrl+Shift+S")
    add_action(w, file_menu, "Export &report…", w.choose_report, "Ctrl+P")
    add_action(w, file_menu, "Export &batch table as CSV…", w.batch.export_batch_csv)
    file_menu.addSeparator()
    add_action(w, file_menu, "&Quit", w.close, QKeySequence.StandardKey.Quit)
    view_menu = bar.addMenu("&View")
    compare = add_action(w, view_menu, "&Compare side by side", None, "Ctrl+K")
    compare.setCheckable(True)
    compare.toggled.connect(w.state.set_compare)
    fly = add_action(w, view_menu, "&Fly to the picked point", w.fly_to_pick, "F")
    # "R" is rectangle selection, so reset takes Home (as in most 3D viewers) and Ctrl+0
    reset = add_action(w, view_menu, "&Reset view", w.reset_view)
    reset.setShortcuts([QKeySequence(Qt.Key.Key_Home), QKeySequence("Ctrl+0")])
    reset.setToolTip("Frame the whole part again (Home or Ctrl+0)")
    view_menu.addAction(w.show_reference_action)
    view_menu.addSeparator()
    docks = (w.scan_dock, w.colouring_dock, w.threshold_dock, w.inspector_dock, w.regions_dock, w.reference_dock)
    for dock in docks:
        view_menu.addAction(dock.toggleViewAction())
    model_menu = bar.addMenu("&Model")
    load = add_action(w, model_menu, "&Load CASL checkpoint…", w.casl.choose_checkpoint, "Ctrl+L")
    score = add_action(w, model_menu, "&Score open scans with CASL", w.casl.score_open_scans, "Ctrl+Shift+C")
    score.setEnabled(False)
    model_menu.addSeparator()
    add_action(w, model_menu, "Set &reference…", w.reference.choose_file, "Ctrl+Shift+R")
    add_action(w, model_menu, "Set reference from a f&older of good scans…", w.reference.choose_folder)
    model_menu.addSeparator()
    calibrate = add_action(w, model_menu, "&Calibrate on a folder of good scans…", w.batch.show_calibrate)
    add_action(w, model_menu, "Load c&alibration…", w.batch.choose_calibration)
    model_menu.addSeparator()
    finetune = add_action(w, model_menu, "&Fine-tune CASL…", w.casl.show_finetune)
    tools = bar.addMenu("&Tools")
    tools.addAction(w.rectangle_action)
    tools.addSeparator()
    add_action(w, tools, "&Batch inspection…", w.batch.show_batch, "Ctrl+B")
    tools.addAction(finetune)
    tools.addAction(calibrate)
    toolbar = QToolBar("Tools", w)
    toolbar.setObjectName("ToolsToolBar")
    toolbar.addAction(w.rectangle_action)
    toolbar.addAction(fly)
    toolbar.addAction(reset)
    w.addToolBar(toolbar)
    help_menu = bar.addMenu("&Help")
    add_action(w, help_menu, "Open &demo", w.open_demo)
    add_action(w, help_menu, "&Inspect the demo against its CAD model", w.inspect_demo)
    add_action(w, help_menu, "Demo &CASL model…", w.casl.make_demo_model)
    return WindowActions(compare, load, score, finetune, recent, reset)
