"""The calibrate dialog: learn a scorer's thresholds from a folder of good scans, in the background.

The person names a folder of normal scans, the scorer (the curvature baseline, the loaded
CASL model, or the deviation from the reference) and the false-alarm rate; the dialog runs
:func:`casl_core.scorers.calibration.calibrate` on the window's job runner and hands the
result to whoever listens to :attr:`CalibrateDialog.calibrated` (the window applies it).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from casl_core.errors import ConfigError
from casl_core.progress import CancelFn, ProgressFn
from casl_core.scorers.base import Scorer
from casl_core.scorers.calibration import DEFAULT_FALSE_ALARM_RATE, Calibration, calibrate
from casl_gui import jobs
from casl_gui.workers import Job, JobRunner

#: ``() -> [(text, scorer), ...]``: the scorers a person may calibrate now.
ScorerChoices = Callable[[], list[tuple[str, Scorer]]]


def calibrate_folder(
    scorer: Scorer, folder: str | os.PathLike[str], false_alarm_rate: float, progress: ProgressFn, cancel: CancelFn
) -> Calibration:
    """Calibrate ``scorer`` on the scan files directly inside ``folder``.

    Raises
    ------
    ConfigError
        If the folder does not exist or holds no scan file, or as :func:`calibrate`.
    """
    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(f"{root}: not a folder")
    files = jobs.scans_in_folder(root)
    if not files:
        raise ConfigError(f"{root}: no scan file in this folder")
    return calibrate(scorer, files, false_alarm_rate=false_alarm_rate, progress=progress, cancel=cancel)


class CalibrateDialog(QDialog):
    """Folder of good scans, scorer and false-alarm rate; Calibrate runs it in the background.

    Signals
    -------
    calibrated(object):
        A :class:`~casl_core.scorers.calibration.Calibration` was learnt.
    """

    calibrated = Signal(object)

    def __init__(self, runner: JobRunner, choices: ScorerChoices, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Calibrate on a folder of good scans")
        self._runner = runner
        self._choices = choices
        self._job: Job | None = None
        self.folder_edit = QLineEdit(self)
        self.folder_edit.setPlaceholderText("Folder of scans of good parts")
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self._browse)
        self.scorer_combo = QComboBox(self)
        self.rate_spin = QDoubleSpinBox(self)
        self.rate_spin.setRange(0.001, 10.0)
        self.rate_spin.setDecimals(3)
        self.rate_spin.setSuffix(" %")
        self.rate_spin.setValue(100.0 * DEFAULT_FALSE_ALARM_RATE)
        self.rate_spin.setToolTip("Share of the good scans' points allowed above the point threshold")
        self.status_label = QLabel("", self)
        self.status_label.setWordWrap(True)
        self.buttons = QDialogButtonBox(self)
        self.start_button = self.buttons.addButton("Calibrate", QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.start_button.clicked.connect(self.start)
        self.buttons.rejected.connect(self.hide)
        row = QHBoxLayout()
        row.addWidget(self.folder_edit, 1)
        row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Good scans", row)
        form.addRow("Scorer", self.scorer_combo)
        form.addRow("False alarms", self.rate_spin)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status_label)
        layout.addWidget(self.buttons)
        self.resize(560, 200)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt naming
        """List the scorers available now whenever the dialog appears."""
        self.refresh_scorers()
        super().showEvent(event)

    def refresh_scorers(self) -> None:
        """List the scorers available now (the loaded model and reference come and go)."""
        current = self.scorer_combo.currentText()
        self.scorer_combo.clear()
        self._scorers = self._choices()
        for text, _scorer in self._scorers:
            self.scorer_combo.addItem(text)
        row = self.scorer_combo.findText(current)
        if row >= 0:
            self.scorer_combo.setCurrentIndex(row)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of good scans", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)

    def running(self) -> bool:
        """Whether a calibration runs."""
        return self._job is not None

    def start(self) -> None:
        """Calibrate the chosen scorer on the folder in the background."""
        folder = self.folder_edit.text().strip()
        row = self.scorer_combo.currentIndex()
        if not folder or not os.path.isdir(folder):
            self.status_label.setText(f"Choose a folder of good scans{'' if not folder else f' ({folder} is none)'}.")
            return
        if not 0 <= row < len(self._scorers) or self.running():
            return
        text, scorer = self._scorers[row]
        rate = self.rate_spin.value() / 100.0
        self.status_label.setText(f"Calibrating {text} on {folder}…")
        self.start_button.setEnabled(False)
        self._job = self._runner.submit(
            f"Calibrating {text}",
            partial(calibrate_folder, scorer, folder, rate),
            self._done,
            self._failed,
            self._finished,
        )

    def _done(self, calibration: Calibration) -> None:
        self.status_label.setText(f"Applied. {calibration.summary()}")
        self.calibrated.emit(calibration)

    def _failed(self, message: str) -> None:
        self.status_label.setText(f"Calibration failed: {message}")

    def _finished(self) -> None:
        self._job = None
        self.start_button.setEnabled(True)
