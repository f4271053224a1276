"""The regions and annotations dock: regions above the threshold, the selection, annotations.

The dock only shows the inspection state and says what the person asked for through its
signals; the window does the work (flying the camera, selecting, saving).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from casl_core.annotations import Label
from casl_gui.inspection import InspectionState
from casl_gui.state import AppState
from casl_gui.table_rows import ANNOTATION_COLUMNS, REGION_COLUMNS, annotation_rows, region_rows

__all__ = ["ANNOTATION_COLUMNS", "REGION_COLUMNS", "RegionsDock"]
_ID_ROLE = Qt.ItemDataRole.UserRole + 1


def _item(value, *, number: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem()
    if number:
        item.setData(Qt.ItemDataRole.DisplayRole, value)
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    else:
        item.setText(str(value))
    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
    return item


def _table(columns: tuple[str, ...]) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    table.setAlternatingRowColors(True)
    return table


class RegionsDock(QDockWidget):
    """Two tabs: the regions of the scan on show, and its annotations with the selection tools.

    Signals
    -------
    region_activated(int):
        The person clicked the region in this row (0 = largest).
    sphere_requested(float):
        Select the points within this radius of the picked point.
    mark_requested(str, str):
        Annotate the selection with a label value (``defect``/``normal``) and a note.
    clear_requested():
        Clear the selection.
    delete_requested(int):
        Delete the annotation with this id.
    export_requested():
        Export the annotations to CSV.
    """

    region_activated = Signal(int)
    sphere_requested = Signal(float)
    mark_requested = Signal(str, str)
    clear_requested = Signal()
    delete_requested = Signal(int)
    export_requested = Signal()

    def __init__(
        self, state: AppState, inspection: InspectionState, rectangle_action: QAction, parent: QWidget | None = None
    ) -> None:
        super().__init__("Regions and annotations", parent)
        self.setObjectName("RegionsDock")
        self._state = state
        self._inspection = inspection
        self.tabs = QTabWidget(self)
        self.region_table = _table(REGION_COLUMNS)
        self.region_table.cellClicked.connect(lambda row, _col: self.region_activated.emit(row))
        self.source_label = QLabel("", self)
        self.source_label.setWordWrap(True)
        region_tab = QWidget()
        region_layout = QVBoxLayout(region_tab)
        region_layout.setContentsMargins(0, 0, 0, 0)
        region_layout.addWidget(self.source_label)
        region_layout.addWidget(self.region_table, 1)
        self.tabs.addTab(region_tab, "Regions")
        self.tabs.addTab(self._annotation_tab(rectangle_action), "Annotations")
        self.setWidget(self.tabs)
        for signal in (state.active_changed, state.scans_changed):
            signal.connect(self.refresh)
        state.pick_changed.connect(self._enable)
        inspection.regions_changed.connect(self._show_regions)
        inspection.record_changed.connect(self._show_regions)
        state.field_changed.connect(self._show_regions)
        inspection.selection_changed.connect(self._show_selection)
        inspection.annotations_changed.connect(lambda _key: self._show_annotations())
        self.refresh()

    def _annotation_tab(self, rectangle_action: QAction) -> QWidget:
        tab = QWidget()
        self.rectangle_button = QToolButton(tab)
        self.rectangle_button.setDefaultAction(rectangle_action)
        self.sphere_button = QPushButton("Sphere around pick", tab)
        self.radius_spin = QDoubleSpinBox(tab)
        self.radius_spin.setRange(1e-6, 1e9)
        self.radius_spin.setDecimals(4)
        self.radius_spin.setPrefix("r = ")
        self.selection_label = QLabel("Nothing selected", tab)
        self.note_edit = QLineEdit(tab)
        self.note_edit.setPlaceholderText("Note (optional)")
        self.defect_button = QPushButton("Mark defect", tab)
        self.normal_button = QPushButton("Mark normal (false positive)", tab)
        self.clear_button = QPushButton("Clear", tab)
        self.annotation_table = _table(ANNOTATION_COLUMNS)
        self.delete_button = QPushButton("Delete", tab)
        self.export_button = QPushButton("Export CSV…", tab)
        self.sidecar_label = QLabel("", tab)
        self.sidecar_label.setWordWrap(True)
        tools = QHBoxLayout()
        for w in (self.rectangle_button, self.sphere_button, self.radius_spin):
            tools.addWidget(w)
        marks = QHBoxLayout()
        for w in (self.defect_button, self.normal_button, self.clear_button):
            marks.addWidget(w)
        rows = QHBoxLayout()
        rows.addWidget(self.delete_button)
        rows.addStretch(1)
        rows.addWidget(self.export_button)
        layout = QVBoxLayout(tab)
        layout.addLayout(tools)
        layout.addWidget(self.selection_label)
        layout.addWidget(self.note_edit)
        layout.addLayout(marks)
        layout.addWidget(self.annotation_table, 1)
        layout.addLayout(rows)
        layout.addWidget(self.sidecar_label)
        self.sphere_button.clicked.connect(lambda: self.sphere_requested.emit(self.radius_spin.value()))
        self.defect_button.clicked.connect(lambda: self._mark(Label.DEFECT))
        self.normal_button.clicked.connect(lambda: self._mark(Label.NORMAL))
        self.clear_button.clicked.connect(self.clear_requested.emit)
        self.delete_button.clicked.connect(self._delete)
        self.export_button.clicked.connect(self.export_requested.emit)
        self.annotation_table.itemSelectionChanged.connect(self._enable)
        return tab

    def _mark(self, label: Label) -> None:
        self.mark_requested.emit(label.value, self.note_edit.text().strip())
        self.note_edit.clear()

    def _delete(self) -> None:
        row = self.annotation_table.currentRow()
        if row >= 0:
            self.delete_requested.emit(int(self.annotation_table.item(row, 0).data(_ID_ROLE)))

    def refresh(self) -> None:
        """Show everything about the scan on show."""
        scan = self._state.active_scan()
        if scan is not None and len(scan) > 1:
            lo, hi = scan.points.min(axis=0), scan.points.max(axis=0)
            self.radius_spin.setValue(float(np.linalg.norm(hi - lo)) * 0.03)
        self._show_regions()
        self._show_selection()
        self._show_annotations()

    def _show_regions(self) -> None:
        table = self.region_table
        key = self._state.active_key
        regions = self._inspection.listed_regions(key, self._state.field)
        record = self._inspection.record(key)
        if record is not None and record.calibrated:
            self.source_label.setText(f"Regions of the scorer of record: {record.scorer}, highest peak first")
        elif key is not None:
            self.source_label.setText("Not calibrated: regions of the field on show above its threshold")
        else:
            self.source_label.setText("")
        scan = self._state.active_scan()
        rows = region_rows(regions, (0.0, 0.0, 0.0) if scan is None else scan.metadata.offset)
        table.setRowCount(len(rows))
        for row, texts in enumerate(rows):
            for col, text in enumerate(texts):
                table.setItem(row, col, _item(int(text), number=True) if col < 2 else _item(text))

    def _show_selection(self) -> None:
        sel = self._inspection.selection
        if sel is None:
            self.selection_label.setText("Nothing selected: drag a rectangle (R) or take a sphere around the pick")
        else:
            self.selection_label.setText(f"{len(sel.indices):,} points selected ({sel.kind})")
        self._enable()

    def _show_annotations(self) -> None:
        table = self.annotation_table
        notes = self._inspection.annotations(self._state.active_key)
        rows = annotation_rows(notes)
        table.setRowCount(len(rows))
        for row, texts in enumerate(rows):
            cells = [_item(int(t), number=True) if col in (0, 2) else _item(t) for col, t in enumerate(texts)]
            cells[0].setData(_ID_ROLE, int(texts[0]))
            for col, cell in enumerate(cells):
                table.setItem(row, col, cell)
        self._enable()

    def set_sidecar_text(self, text: str) -> None:
        """Say where the annotations are saved (or why they are not)."""
        self.sidecar_label.setText(text)

    def _enable(self) -> None:
        has_sel = self._inspection.selection is not None
        for w in (self.defect_button, self.normal_button, self.clear_button):
            w.setEnabled(has_sel)
        self.sphere_button.setEnabled(self._state.picked_index is not None)
        self.delete_button.setEnabled(self.annotation_table.currentRow() >= 0)
        notes = self._inspection.annotations(self._state.active_key)
        self.export_button.setEnabled(notes is not None and bool(notes.annotations))

    def region_rows(self) -> list[list[str]]:
        """The texts of the region table, row by row."""
        t = self.region_table
        return [[t.item(r, c).text() for c in range(t.columnCount())] for r in range(t.rowCount())]

    def annotation_rows(self) -> list[list[str]]:
        """The texts of the annotation table, row by row."""
        t = self.annotation_table
        return [[t.item(r, c).text() for c in range(t.columnCount())] for r in range(t.rowCount())]
