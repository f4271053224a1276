"""The main window: docks, 3D view, menus, opening scans in the background, settings."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMenu, QWidget

from casl_core.errors import ConfigError
from casl_core.scan import Scan
from casl_gui import jobs
from casl_gui.colouring import colour_spec
from casl_gui.dialogs.errors import ErrorSink, dialog_sink
from casl_gui.docks.colouring import ColouringDock
from casl_gui.docks.inspector import InspectorDock
from casl_gui.docks.scan_list import ScanListDock
from casl_gui.state import AppState
from casl_gui.status_bar import StatusBar
from casl_gui.viewport import Viewport
from casl_gui.workers import JobRunner

_RECENT_KEY = "recent/files"
_MAX_RECENT = 10


def recent_files(settings: QSettings) -> list[str]:
    """The recently opened scan paths stored in ``settings``, newest first."""
    value = settings.value(_RECENT_KEY, [])
    if isinstance(value, str):
        value = [value] if value else []
    return [str(v) for v in (value or [])]


class MainWindow(QMainWindow):
    """The CASL Inspector window.

    Parameters
    ----------
    settings:
        Where geometry, dock layout and recent files are kept.
    error_sink:
        Receives ``(title, message)`` of user-facing errors; a message box by default.
    """

    def __init__(self, settings: QSettings, error_sink: ErrorSink | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("CASL Inspector")
        self.setAcceptDrops(True)
        self._settings = settings
        self._errors = error_sink or dialog_sink(self)
        self._closed = False
        self.state = AppState(self)
        self.runner = JobRunner(self)
        self.viewport = Viewport(self)
        self.setCentralWidget(self.viewport)
        self.scan_dock = ScanListDock(self.state, self)
        self.colouring_dock = ColouringDock(self.state, self)
        self.inspector_dock = InspectorDock(self.state, self)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.scan_dock)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.colouring_dock)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.inspector_dock)
        self.status = StatusBar(self)
        self.setStatusBar(self.status)
        self._build_menus()
        self._connect()
        self.resize(1400, 900)
        self._restore_layout()

    # -- wiring ------------------------------------------------------------------------

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._action(file_menu, "&Open…", self.choose_files, QKeySequence.StandardKey.Open)
        self._action(file_menu, "Open &folder…", self.choose_folder, "Ctrl+Shift+O")
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self._action(file_menu, "&Close scan", self.close_active_scan, QKeySequence.StandardKey.Close)
        file_menu.addSeparator()
        self._action(file_menu, "Save &screenshot…", self.choose_screenshot, "Ctrl+Shift+S")
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        view_menu = self.menuBar().addMenu("&View")
        self.compare_action = self._action(view_menu, "&Compare side by side", None, "Ctrl+K")
        self.compare_action.setCheckable(True)
        self.compare_action.toggled.connect(self.state.set_compare)
        self._action(view_menu, "&Fly to the picked point", self.fly_to_pick, "F")
        view_menu.addSeparator()
        for dock in (self.scan_dock, self.colouring_dock, self.inspector_dock):
            view_menu.addAction(dock.toggleViewAction())
        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "Open &demo", self.open_demo)

    def _action(self, menu: QMenu, text: str, slot, shortcut=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if slot is not None:
            action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        return action

    def _connect(self) -> None:
        s = self.state
        for signal in (s.active_changed, s.field_changed, s.style_changed):
            signal.connect(self.redraw)
        s.compare_changed.connect(self._compare_changed)
        s.pick_changed.connect(self._pick_changed)
        s.active_changed.connect(self._show_point_count)
        self.viewport.point_picked.connect(s.set_pick)
        self.runner.started.connect(self.status.job_started)
        self.runner.progress.connect(self.status.job_progress)
        self.runner.idle.connect(self.status.job_idle)
        self.status.cancel_button.clicked.connect(self._cancel_jobs)

    def _pick_changed(self) -> None:
        if not self._closed:
            self.viewport.mark_pick(self.state.picked_index)

    def _cancel_jobs(self) -> None:
        self.runner.cancel_all()
        self.status.cancel_button.setEnabled(False)

    def _show_point_count(self) -> None:
        scan = self.state.active_scan()
        self.status.show_points(None if scan is None else len(scan))

    def _compare_changed(self, on: bool) -> None:
        self.compare_action.blockSignals(True)
        self.compare_action.setChecked(on)
        self.compare_action.blockSignals(False)
        self.viewport.set_compare(on)
        self.redraw()

    def fly_to_pick(self) -> None:
        """Turn the camera to face the picked point, if any."""
        if self.state.picked_index is not None and not self._closed:
            self.viewport.fly_to(self.state.picked_index)

    def redraw(self) -> None:
        """Draw the active scan with the state's colouring."""
        s = self.state
        scan = s.active_scan()
        if self._closed:
            return
        if scan is None or s.field is None:
            self.viewport.show_scan(None, [], s.point_size)
            return
        keys = [s.field, s.second_field] if s.compare else [s.field]
        suffixes = [" (left)", " (right)"] if s.compare and keys[0] == keys[1] else ["", ""]
        specs = [colour_spec(scan, k, s.scale(k), s.cmap, title_suffix=sfx) for k, sfx in zip(keys, suffixes)]
        self.viewport.show_scan(scan, specs, s.point_size, s.picked_index)

    # -- opening -----------------------------------------------------------------------

    def open_paths(self, paths: list[str | os.PathLike[str]]) -> None:
        """Open scan files, and the scan files directly inside folders, in the background."""
        for path in paths:
            p = Path(path)
            if p.is_dir():
                found = jobs.scans_in_folder(p)
                if not found:
                    self.report_error("Nothing to open", f"{p}: no scan file in this folder")
                for f in found:
                    self._open_file(f)
            else:
                self._open_file(p)

    def _open_file(self, path: Path) -> None:
        self.runner.submit(f"Opening {path.name}", partial(jobs.open_scan, path),
                           partial(self._loaded, str(path)), partial(self._failed, str(path)))

    def open_demo(self) -> None:
        """Open the procedural demo part in the background."""
        self.runner.submit("Making the demo part", jobs.open_demo,
                           self._demo_loaded, partial(self._failed, "demo"))

    def _demo_loaded(self, scan: Scan) -> None:
        if not self._closed:
            self.state.add_scan(scan, name="demo flange")

    def open_scan(self, scan: Scan, name: str | None = None) -> int:
        """Show a scan that is already in memory; returns its key in the state."""
        return self.state.add_scan(scan, name)

    def _loaded(self, path: str, scan: Scan) -> None:
        if self._closed:
            return
        self.state.add_scan(scan)
        self._remember(path)

    def _failed(self, path: str, message: str) -> None:
        name = "the demo" if path == "demo" else os.path.basename(path)
        self.report_error(f"Cannot open {name}", message)

    def report_error(self, title: str, message: str) -> None:
        """Tell the person about an error (a dialog, or stderr in scripted runs)."""
        if not self._closed:
            self._errors(title, message)

    def close_active_scan(self) -> None:
        """Close the scan on show."""
        if self.state.active_key is not None:
            self.state.remove_scan(self.state.active_key)

    # -- recent files and dialogs ------------------------------------------------------

    def _remember(self, path: str) -> None:
        full = os.path.abspath(path)
        files = [full] + [f for f in recent_files(self._settings) if f != full]
        self._settings.setValue(_RECENT_KEY, files[:_MAX_RECENT])

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in recent_files(self._settings):
            action = self.recent_menu.addAction(path)
            action.triggered.connect(partial(self.open_paths, [path]))
        if self.recent_menu.isEmpty():
            self.recent_menu.addAction("(none)").setEnabled(False)

    def choose_files(self) -> None:
        """Ask for scan files and open them."""
        patterns = " ".join(f"*{s}" for s in jobs.scan_suffixes())
        paths, _ = QFileDialog.getOpenFileNames(self, "Open scans", "", f"Scans ({patterns});;All files (*)")
        self.open_paths(paths)

    def choose_folder(self) -> None:
        """Ask for a folder and open the scans in it."""
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of scans")
        if folder:
            self.open_paths([folder])

    def choose_screenshot(self) -> None:
        """Ask where to save a screenshot of the window."""
        path, _ = QFileDialog.getSaveFileName(self, "Save screenshot", "casl.png", "PNG image (*.png)")
        if path:
            self.save_screenshot(path)

    # -- screenshots -------------------------------------------------------------------

    def save_screenshot(self, path: str | os.PathLike[str], target: str = "window") -> None:
        """Save the whole window (``"window"``) or the 3D view (``"viewport"``) as a PNG.

        Raises
        ------
        ConfigError
            If ``target`` is unknown or the image cannot be written.
        """
        if target == "viewport":
            from PIL import Image

            image = Image.fromarray(np.ascontiguousarray(self.viewport.screenshot()))
            try:
                image.save(os.fspath(path))
            except OSError as exc:
                raise ConfigError(f"{path}: cannot write the screenshot: {exc}") from None
            return
        if target != "window":
            raise ConfigError(f"screenshot target must be 'window' or 'viewport', got {target!r}")
        self.viewport.screenshot()
        if not self.grab().save(os.fspath(path)):
            raise ConfigError(f"{path}: cannot write the screenshot")

    # -- drag and drop, layout, teardown ---------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt naming
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt naming
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    def _restore_layout(self) -> None:
        geometry = self._settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        layout = self._settings.value("window/state")
        if layout is not None:
            self.restoreState(layout)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt naming
        self._settings.setValue("window/geometry", self.saveGeometry())
        self._settings.setValue("window/state", self.saveState())
        self._settings.sync()
        self._closed = True
        self.runner.shutdown()
        self.viewport.shutdown()
        super().closeEvent(event)

