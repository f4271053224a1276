"""Work on folders of scans: the batch inspection dialog and calibration on good scans.

Both dialogs are made once per window, on first use. The batch table's verdicts come
from the scorer of record with the session's calibrations (see
:mod:`casl_gui.verdict_controller`), re-bound whenever a calibration, the CASL model or the
reference changes; calibrating (or loading a calibration file) feeds those calibrations.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog, QWidget

from casl_core.errors import CaslError
from casl_core.fields import score_field
from casl_gui.casl_controller import CaslController
from casl_gui.dialogs.batch import BatchDialog
from casl_gui.dialogs.calibrate import CalibrateDialog
from casl_gui.inspection import InspectionState
from casl_gui.reference_controller import ReferenceController
from casl_gui.scan_opener import ScanOpener
from casl_gui.state import AppState
from casl_gui.verdict_controller import VerdictController, inspect_file_of_record
from casl_gui.workers import JobRunner


class BatchController(QObject):
    """The window's batch and calibrate dialogs, and the calibrations they share.

    Parameters
    ----------
    window:
        The parent of the dialogs and of the file choosers.
    state, inspection:
        The window's state (the batch threshold and region sizes come from there).
    runner:
        Where the dialogs run their jobs (the window's registry sees them).
    casl, reference, verdicts:
        The scorers that can be calibrated, and where calibrations go.
    opener:
        Opens a batch row's scan, scored by the scorer the batch ran with.
    report_error:
        Shows ``(title, message)`` to the person.
    """

    def __init__(
        self,
        window: QWidget,
        state: AppState,
        inspection: InspectionState,
        runner: JobRunner,
        casl: CaslController,
        reference: ReferenceController,
        verdicts: VerdictController,
        opener: ScanOpener,
        report_error: Callable[[str, str], None],
    ) -> None:
        super().__init__(window)
        self._window = window
        self._state = state
        self._inspection = inspection
        self._runner = runner
        self._casl = casl
        self._reference = reference
        self._verdicts = verdicts
        self._opener = opener
        self._report_error = report_error
        self.batch_dialog: BatchDialog | None = None
        self.calibrate_dialog: CalibrateDialog | None = None

    # -- batch -------------------------------------------------------------------------

    def settings(self):
        """``(scorer, threshold, min_points, fail_points)`` a batch runs with."""
        scorer = self._casl.scorer
        threshold = self._state.scale(score_field(scorer.name)).threshold
        return scorer, threshold, self._inspection.min_points, self._inspection.fail_points

    def show_batch(self) -> BatchDialog:
        """Show the batch inspection dialog (one per window)."""
        if self.batch_dialog is None:
            self.batch_dialog = BatchDialog(self._runner, self.settings, self._window)
            self.batch_dialog.open_requested.connect(self._open_row)
            for signal in (self._verdicts.calibrations_changed, self._casl.model_changed, self._reference.scorer_ready):
                signal.connect(self._batch_of_record)
            self._batch_of_record()
        self.batch_dialog.show()
        self.batch_dialog.raise_()
        return self.batch_dialog

    def export_batch_csv(self) -> None:
        """File > Export batch table: save the batch table as CSV (the batch dialog opens)."""
        self.show_batch().choose_csv()

    def _open_row(self, path: str) -> None:
        dialog = self.batch_dialog
        scorer = None if dialog is None else dialog.run_scorer
        if scorer is None:
            self._opener.open_paths([path])
        else:
            self._opener.open_scored(path, scorer)

    def _batch_of_record(self, *_args) -> None:
        """Let the batch table's verdicts come from the scorer of record with today's calibrations."""
        if self.batch_dialog is None:
            return
        calibrations = self._verdicts.calibrations
        scorers = [scorer for _text, scorer in self.calibration_scorers() if scorer.name in calibrations]
        self.batch_dialog.inspect = partial(inspect_file_of_record, scorers, calibrations)

    # -- calibration -------------------------------------------------------------------

    def calibration_scorers(self) -> list:
        """``(text, scorer)`` of every scorer that can be calibrated now, best first."""
        from casl_core.scorers.curvature import CurvatureBaseline

        out = [("Curvature baseline", CurvatureBaseline())]
        if self._casl.has_model:
            out.insert(0, (f"CASL model {self._casl.fingerprint.short}", self._casl.scorer))
        if self._reference.scorer is not None:
            out.insert(0, ("Deviation from the reference", self._reference.scorer))
        return out

    def show_calibrate(self) -> CalibrateDialog:
        """Show the calibrate dialog (one per window)."""
        if self.calibrate_dialog is None:
            self.calibrate_dialog = CalibrateDialog(self._runner, self.calibration_scorers, self._window)
            self.calibrate_dialog.calibrated.connect(self._verdicts.set_calibration)
        self.calibrate_dialog.show()
        self.calibrate_dialog.raise_()
        return self.calibrate_dialog

    def choose_calibration(self) -> None:
        """Ask for a calibration JSON file and apply it."""
        path, _ = QFileDialog.getOpenFileName(self._window, "Calibration", "", "Calibration (*.json)")
        if path:
            self.load_calibration(path)

    def load_calibration(self, path: str | os.PathLike[str]) -> bool:
        """Apply a calibration file (errors go to a dialog); True when applied."""
        from casl_core.scorers.calibration_io import read_calibration

        try:
            self._verdicts.set_calibration(read_calibration(path))
        except CaslError as exc:
            self._report_error("Cannot load the calibration", str(exc))
            return False
        return True

    def close(self) -> None:
        """Close the batch dialog (its jobs are cancelled by the window's runner)."""
        if self.batch_dialog is not None:
            self.batch_dialog.close()
