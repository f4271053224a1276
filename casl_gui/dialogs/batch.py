"""Batch inspection: score every scan of a folder in the background into a sortable table."""

from __future__ import annotations

import csv
import io
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

from casl_core.atomic import atomic_write_bytes
from casl_core.errors import ConfigError
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
        The person double-clicked the row of this file (open it scored by :attr:`run_scorer`).
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
        #: The scorer of the last run (its rows open scored by it), None before any run.
        self.run_scorer = None
        self.folder_edit = QLineEdit(self)
        self.folder_edit.setPlaceholderText("Folder of scans")
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self._browse)
        self.scorer_label = QLabel("", self)
        self.run_button = QPushButton("Run", self)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setEnabled(False)
        self.export_button = QPushButton("Export CSV…", self)
        self.export_button.setToolTip("Save the table as it is shown (sorted) to a CSV file")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self.choose_csv)
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
        top.addWidget(self.export_button)
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
        text = os.fspath(folder)
        shown = " ".join(text.split()) or "(empty)"
        shown = shown if len(shown) <= 120 else shown[:119] + "…"
        root = Path(text.strip())
        try:
            files = jobs.scans_in_folder(root) if text.strip() and root.is_dir() else None
        except OSError as exc:
            self.errors_label.setText(f"{shown}: cannot read this folder: {exc.strerror or exc}")
            return
        if files is None:
            self.errors_label.setText(f"{shown}: not a folder")
            return
        if not files:
            self.errors_label.setText(f"{shown}: no scan file in this folder")
            return
        scorer, threshold, min_points, fail_points = self._settings()
        self.run_scorer = scorer
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
        self.export_button.setEnabled(True)

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

    def csv_text(self) -> str:
        """The table as CSV: its header and rows in the order shown, then each file's full path."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([*COLUMNS, "Path"])
        t = self.table
        for r, texts in enumerate(self.rows()):
            writer.writerow([*texts, t.item(r, 0).data(_PATH_ROLE)])
        return out.getvalue()

    def export_csv(self, path: str | os.PathLike[str]) -> None:
        """Write the table to ``path`` as CSV (atomically).

        Raises
        ------
        ConfigError
            If the table is empty or the file cannot be written.
        """
        if self.table.rowCount() == 0:
            raise ConfigError("the batch table is empty: run a batch first")
        try:
            atomic_write_bytes(path, self.csv_text().encode("utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: cannot write the CSV: {exc}") from None

    def choose_csv(self) -> None:
        """Ask where to save the table as CSV and write it (errors are shown under the table)."""
        if self.table.rowCount() == 0:
            self.errors_label.setText("The table is empty: run a batch first")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export the batch table", "batch.csv", "CSV (*.csv)")
        if path:
            try:
                self.export_csv(path)
            except ConfigError as exc:
                self.errors_label.setText(str(exc))

    def _double_clicked(self, row: int, _col: int) -> None:
        self.open_requested.emit(self.table.item(row, 0).data(_PATH_ROLE))

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        """Qt: the window is closing."""
        self.cancel()
        super().closeEvent(event)
