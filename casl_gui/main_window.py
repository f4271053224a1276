"""The main window: docks, 3D view, menus, redrawing, reports, screenshots and settings."""

from __future__ import annotations

import os
import re

import numpy as np
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox, QWidget

from casl_core.errors import CaslError, ConfigError
from casl_core.inspection.verdict import VerdictStatus
from casl_core.scan import Scan
from casl_gui.annotation_store import AnnotationStore
from casl_gui.batch_controller import BatchController
from casl_gui.casl_controller import CaslController
from casl_gui.demo_controller import DemoController
from casl_gui.dialogs.errors import ErrorSink, dialog_sink
from casl_gui.docks.colouring import ColouringDock
from casl_gui.docks.inspector import InspectorDock
from casl_gui.docks.reference import ReferenceDock
from casl_gui.docks.regions import RegionsDock
from casl_gui.docks.scan_list import ScanListDock
from casl_gui.docks.threshold import ThresholdDock
from casl_gui.inspect_controller import InspectController
from casl_gui.inspection import InspectionState
from casl_gui.job_registry import JobRegistry
from casl_gui.menus import build_menus
from casl_gui.reference_controller import ReferenceController
from casl_gui.region_finder import RegionFinder
from casl_gui.scan_opener import ScanOpener, recent_files
from casl_gui.state import AppState
from casl_gui.status_bar import StatusBar
from casl_gui.verdict_controller import VerdictController
from casl_gui.viewport import Viewport
from casl_gui.workers import JobRunner

__all__ = ["MainWindow", "default_report_path", "recent_files"]


def default_report_path(state: AppState) -> str:
    """``<scan name>-report.pdf`` for the scan on show, in its file's folder when it has one.

    The name is the one the scan list shows, made safe for a file name.
    """
    key = state.active_key
    if key is None:
        return "report.pdf"
    entry = state.entry(key)
    safe = re.sub(r"[^\w.-]+", "-", entry.name).strip("-.") or "scan"
    source = entry.scan.metadata.source
    folder = os.path.dirname(os.path.abspath(source)) if source else ""
    name = f"{safe}-report.pdf"
    return os.path.join(folder, name) if folder and os.path.isdir(folder) else name


class MainWindow(QMainWindow):
    """The CASL Inspector window.

    Parameters
    ----------
    settings:
        Where geometry, dock layout and recent files are kept.
    error_sink:
        Receives ``(title, message)`` of user-facing errors; a message box by default.
    """

    def __init__(self, settings: QSettings, error_sink: ErrorSink | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("CASL Inspector")
        self.setAcceptDrops(True)
        self._settings = settings
        self._errors = error_sink or dialog_sink(self)
        self._closed = False
        #: Ask before closing while jobs run (scripted runs turn this off: nobody to answer).
        self.ask_before_closing = True
        self.state = AppState()
        self.inspection = InspectionState()
        #: Every background job of the window, whichever runner started it.
        self.jobs = JobRegistry()
        self.runner = JobRunner(self, registry=self.jobs)
        self.viewport = Viewport(self)
        self.setCentralWidget(self.viewport)
        self.rectangle_action = QAction("&Rectangle select", self)
        self.rectangle_action.setCheckable(True)
        self.rectangle_action.setShortcut(QKeySequence("R"))
        self.rectangle_action.setToolTip("Drag a rectangle to select the visible points under it (R)")
        self.rectangle_action.toggled.connect(self.viewport.set_rectangle_mode)
        self._build_docks()
        self.status = StatusBar(self)
        self.status.follow(self.jobs)
        self.setStatusBar(self.status)
        self.opener = ScanOpener(self, self.state, self.runner, settings, lambda: not self._closed)
        self.region_finder = RegionFinder(self.state, self.inspection, self.runner, self)
        self.annotations = AnnotationStore(self.state, self.inspection, self.report_error, self)
        self.inspect = InspectController(
            self, self.state, self.inspection, self.viewport, self.regions_dock, self.annotations
        )
        self.casl = CaslController(self, self.state, self.inspection, self.runner, self.status, self.jobs)
        self.verdicts = VerdictController(self.state, self.inspection, self.runner, self)
        self._build_reference()
        self.opener.demo_opened = self.casl.score_demo_with_bundled_model
        self.batch = BatchController(
            self,
            self.state,
            self.inspection,
            self.runner,
            self.casl,
            self.reference,
            self.verdicts,
            self.opener,
            self.report_error,
        )
        self.window_actions = build_menus(self)
        self.compare_action = self.window_actions.compare
        self.recent_menu = self.window_actions.recent_menu
        self._connect()
        self.resize(1400, 900)
        self._restore_layout()

    def _build_docks(self) -> None:
        self.scan_dock = ScanListDock(self.state, self.inspection, self)
        self.colouring_dock = ColouringDock(self.state, self)
        self.threshold_dock = ThresholdDock(self.state, self.inspection, self)
        self.inspector_dock = InspectorDock(self.state, self)
        self.regions_dock = RegionsDock(self.state, self.inspection, self.rectangle_action, self)
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        for dock, area in (
            (self.scan_dock, left),
            (self.colouring_dock, left),
            (self.threshold_dock, left),
            (self.inspector_dock, right),
            (self.regions_dock, right),
        ):
            self.addDockWidget(area, dock)

    def _build_reference(self) -> None:
        self.reference = ReferenceController(self, self.state, self.runner, lambda: not self._closed)
        self.show_reference_action = QAction("Show the &reference", self)
        self.show_reference_action.setCheckable(True)
        self.show_reference_action.setChecked(True)
        self.reference_dock = ReferenceDock(self.state, self.reference, self.show_reference_action, self)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.reference_dock)
        self.tabifyDockWidget(self.inspector_dock, self.reference_dock)
        self.inspector_dock.raise_()
        self.reference.scorer_ready.connect(lambda _scorer: self.reference_dock.raise_())
        self.status.addPermanentWidget(self.reference.rmse_label)
        self.reference.changed.connect(self.redraw)
        # a new reference: an earlier deviation calibration no longer holds
        self.reference.scorer_ready.connect(lambda _scorer: self.verdicts.remove_calibration("deviation"))
        self.demo = DemoController(self.reference, self.verdicts, self.runner, self.report_error, self)

    def inspect_demo(self) -> None:
        """Inspect the demo flange against its CAD model (reference, calibration on good flanges)."""
        if not any(e.name == "demo flange" for e in self.state.scans):
            self.open_demo()
        self.demo.inspect(seed=0)

    # -- wiring ------------------------------------------------------------------------

    def _connect(self) -> None:
        s = self.state
        for signal in (s.active_changed, s.field_changed, s.style_changed):
            signal.connect(self.redraw)
        s.compare_changed.connect(self._compare_changed)
        s.pick_changed.connect(self._pick_changed)
        s.active_changed.connect(self._show_point_count)
        s.scan_updated.connect(self._scan_updated)
        self.inspection.record_changed.connect(self._show_verdict)
        self.casl.model_changed.connect(self._model_calibration)
        s.active_changed.connect(self._show_verdict)
        self.viewport.point_picked.connect(s.set_pick)
        for signal in (self.casl.model_changed, s.scans_changed):
            signal.connect(self._update_actions)

    def _update_actions(self) -> None:
        self.window_actions.score.setEnabled(self.casl.has_model and bool(self.state.scans))

    def _pick_changed(self) -> None:
        if not self._closed:
            self.viewport.mark_pick(self.state.picked_index)

    def _show_point_count(self) -> None:
        scan = self.state.active_scan()
        self.status.show_points(None if scan is None else len(scan))

    def _scan_updated(self, key: int) -> None:
        if key == self.state.active_key:
            self.redraw()

    def _show_verdict(self) -> None:
        verdict = self.inspection.record(self.state.active_key)
        if verdict is None:
            self.status.show_verdict("", None)
        else:
            passed = {VerdictStatus.PASS: True, VerdictStatus.FAIL: False}.get(verdict.status)
            self.status.show_verdict(verdict.text, passed)

    def _model_calibration(self) -> None:
        """A checkpoint was loaded: its stored calibration (if any) becomes CASL's."""
        calibration = getattr(self.casl.scorer, "calibration", None)
        if calibration is None:
            self.verdicts.remove_calibration("casl")
        else:
            self.verdicts.set_calibration(calibration)

    def _compare_changed(self, on: bool) -> None:
        self.compare_action.blockSignals(True)
        self.compare_action.setChecked(on)
        self.compare_action.blockSignals(False)
        self.viewport.set_compare(on)
        self.redraw()

    def reset_view(self) -> None:
        """View > Reset view: frame the whole part again, seen from the default direction."""
        if not self._closed:
            self.viewport.reset_view()

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
            self.reference.rmse_label.setText("")
            return
        keys = [s.field, s.second_field] if s.compare else [s.field]
        suffixes = [" (left)", " (right)"] if s.compare and keys[0] == keys[1] else ["", ""]
        specs = [self.reference.style_spec(s.colour_spec(scan, k, sfx)) for k, sfx in zip(keys, suffixes)]
        shown = self.viewport.shown_scan()
        self.viewport.show_scan(scan, specs, s.point_size, s.picked_index)
        self.viewport.set_overlay(self.reference.overlay())
        self.reference.rmse_label.setText(self.reference.rmse_text())
        if shown is not scan:
            self.inspect.draw_marks()

    # -- opening (see casl_gui.scan_opener) --------------------------------------------

    def open_paths(self, paths: list[str | os.PathLike[str]]) -> None:
        """Open scan files, and the scan files directly inside folders, in the background."""
        self.opener.open_paths(paths)

    def open_demo(self) -> None:
        """Open the procedural demo part in the background."""
        self.opener.open_demo()

    def open_scan(self, scan: Scan, name: str | None = None) -> int:
        """Show a scan that is already in memory; returns its key in the state."""
        return self.state.add_scan(scan, name)

    def report_error(self, title: str, message: str) -> None:
        """Tell the person about an error (a dialog, or stderr in scripted runs)."""
        if not self._closed:
            self._errors(title, message)

    def close_active_scan(self) -> None:
        """Close the scan on show."""
        if self.state.active_key is not None:
            self.state.remove_scan(self.state.active_key)

    # -- scorer, batch and report -----------------------------------------------------

    @property
    def scorer(self):
        """The scorer of batches and reports: the curvature baseline, or the loaded CASL model."""
        return self.casl.scorer

    def load_checkpoint(self, path: str | os.PathLike[str]) -> bool:
        """Use a fine-tuned CASL checkpoint as the scorer (errors go to a dialog); True when loaded."""
        return self.casl.load_checkpoint(path)

    def choose_report(self) -> None:
        """Ask where to save a report (HTML or PDF) and write it."""
        default = default_report_path(self.state)
        path, _ = QFileDialog.getSaveFileName(self, "Export report", default, "PDF (*.pdf);;HTML (*.html)")
        if path:
            try:
                self.save_report(path)
            except CaslError as exc:
                self.report_error("Cannot write the report", str(exc))

    def save_report(self, path: str | os.PathLike[str]) -> None:
        """Write a report of the scan on show to ``path`` (``.html`` or ``.pdf``).

        Raises
        ------
        ConfigError
            If no scan is open, the suffix is unknown or the file cannot be written.
        """
        from casl_gui.report import write_report
        from casl_gui.report_capture import capture_report

        write_report(path, capture_report(self))

    # -- screenshots -------------------------------------------------------------------

    def choose_screenshot(self) -> None:
        """Ask where to save a screenshot of the window."""
        path, _ = QFileDialog.getSaveFileName(self, "Save screenshot", "casl.png", "PNG image (*.png)")
        if path:
            self.save_screenshot(path)

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
        """Qt: something is dragged over the window; accept files."""
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt naming
        """Qt: something was dropped on the window."""
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

    def running_jobs(self) -> list[str]:
        """Titles of the background jobs still queued or running (work and training, from any runner)."""
        return self.jobs.titles()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt naming
        """Qt: the window is closing."""
        jobs = self.running_jobs()
        if jobs and self.ask_before_closing and not self._closed:
            listed = "\n".join(f"- {title}" for title in jobs[:8])
            answer = QMessageBox.question(
                self,
                "Jobs are running",
                f"These jobs are still running:\n{listed}\n\nCancel them and close CASL Inspector? "
                "A fine-tuning run keeps its last finished epoch and can be resumed.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer in (QMessageBox.StandardButton.No, QMessageBox.StandardButton.Cancel):
                event.ignore()
                return
        self._settings.setValue("window/geometry", self.saveGeometry())
        self._settings.setValue("window/state", self.saveState())
        self._settings.sync()
        self._closed = True
        self.batch.close()
        self.casl.shutdown()
        self.runner.shutdown()
        self.viewport.shutdown()
        super().closeEvent(event)
