"""Batch inspection: score every scan of a folder in the background into a sortable table."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from casl_gui import jobs
from casl_gui.workers import Job, JobRunner

COLUMNS = ("File", "Points", "Object score", "Largest region", "Verdict")
_PATH_ROLE = Qt.ItemDataRole.UserRole + 1


def _cell(value, path: str) -> QTableWidgetItem:
    item = QTableWidgetItem()
    item.setData(Qt.ItemDataRole.DisplayRole, value)
    item.setData(_PATH_ROLE, path)
    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
    if not isinstance(value, str):
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


class BatchDialog(QDialog):
    """Runs a scorer over the scans of a folder, one background job per file.

    Parameters
    ----------
    runner:
        Where the jobs run (the window's runner, so the status bar shows them too).
    settings:
        Called at start for ``(scorer, threshold, min_points, fail_points)``.

    Signals
    -------
    open_requested(str):
        The person double-clicked the row of this file.
    """

    open_requested = Signal(str)

    def __init__(self, runner: JobRunner, settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Batch inspection")
        self.setObjectName("BatchDialog")
        self.resize(760, 480)
        self._runner = runner
        self._settings = settings
        #: The call inspecting one file, ``(path, scorer, threshold, min_points, fail_points,
        #: progress, cancel) -> BatchRow`` (the window gives the scorer of record's).
        self.inspect = jobs.inspect_file
        self._jobs: list[Job] = []
        self._total = 0
        self.folder_edit = QLineEdit(self)
        self.folder_edit.setPlaceholderText("Folder of scans")
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self._browse)
        self.scorer_label = QLabel("", self)
        self.run_button = QPushButton("Run", self)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar(self)
        self.progress.setFormat("%v of %m files")
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.cellDoubleClicked.connect(self._double_clicked)
        self.errors_label = QLabel("", self)
        self.errors_label.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(self.folder_edit, 1)
        top.addWidget(browse)
        top.addWidget(self.run_button)
        top.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.scorer_label)
        layout.addWidget(self.progress)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.errors_label)
        self.run_button.clicked.connect(lambda: self.run_folder(self.folder_edit.text()))
        self.cancel_button.clicked.connect(self.cancel)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of scans to inspect")
        if folder:
            self.folder_edit.setText(folder)

    def run_folder(self, folder: str | os.PathLike[str]) -> None:
        """Inspect every scan file directly inside ``folder``."""
        root = Path(folder)
        if not root.is_dir():
            self.errors_label.setText(f"{root}: not a folder")
            return
        files = jobs.scans_in_folder(root)
        if not files:
            self.errors_label.setText(f"{root}: no scan file in this folder")
            return
        scorer, threshold, min_points, fail_points = self._settings()
        self.scorer_label.setText(
            f"Scorer: {scorer.name}; threshold {threshold:.4g}; regions of "
            f"{min_points}+ points listed, {fail_points}+ fail"
        )
        self.table.setSortingEnabled(False)
        self.table.setRowCount(0)
        self.table.setSortingEnabled(True)
        self.errors_label.setText("")
        self._total = len(files)
        self.progress.setRange(0, len(files))
        self.progress.setValue(0)
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        for path in files:
            fn = partial(self.inspect, path, scorer, threshold, min_points, fail_points)
            done: list[Job] = []
            job = self._runner.submit(
                f"Inspecting {path.name}", fn, self._add_row, partial(self._failed, path), partial(self._job_done, done)
            )
            done.append(job)
            self._jobs.append(job)

    def _add_row(self, row: jobs.BatchRow) -> None:
        sorting = self.table.isSortingEnabled()
        self.table.setSortingEnabled(False)
        n = self.table.rowCount()
        self.table.insertRow(n)
        values = (os.path.basename(row.path), row.points, round(row.object_score, 6), row.largest_region, row.verdict)
        for col, value in enumerate(values):
            self.table.setItem(n, col, _cell(value, row.path))
        self.table.setSortingEnabled(sorting)

    def _failed(self, path: Path, message: str) -> None:
        self.errors_label.setText((self.errors_label.text() + "\n" + message).strip())

    def _job_done(self, done: list[Job]) -> None:
        for job in done:
            if job in self._jobs:
                self._jobs.remove(job)
        self.progress.setValue(self._total - len(self._jobs))
        if not self._jobs:
            self.run_button.setEnabled(True)
            self.cancel_button.setEnabled(False)

    def running(self) -> bool:
        """Whether files are still being inspected."""
        return bool(self._jobs)

    def cancel(self) -> None:
        """Stop the files not inspected yet (the one in progress stops at its next check)."""
        for job in self._jobs:
            job.cancel()

    def rows(self) -> list[list[str]]:
        """The table's texts, in the order shown."""
        t = self.table
        return [[t.item(r, c).text() for c in range(t.columnCount())] for r in range(t.rowCount())]

    def _double_clicked(self, row: int, _col: int) -> None:
        self.open_requested.emit(self.table.item(row, 0).data(_PATH_ROLE))

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        self.cancel()
        super().closeEvent(event)
