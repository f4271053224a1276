"""The scan list dock: the open scans with their verdicts; selecting one shows it."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QDockWidget, QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

from casl_gui.inspection import InspectionState
from casl_gui.state import AppState
from casl_gui.verdict_controller import short_text, verdict_colour

_KEY_ROLE = Qt.ItemDataRole.UserRole + 1


class ScanListDock(QDockWidget):
    """Lists open scans by name and point count, with each one's pass/fail verdict.

    The selected row is the active scan. The verdict is the scorer of record's, whatever
    field is on show: PASS, FAIL, out of distribution, or not calibrated (``–`` until the
    scan has a score).
    """

    def __init__(self, state: AppState, inspection: InspectionState, parent: QWidget | None = None) -> None:
        super().__init__("Scans", parent)
        self.setObjectName("ScanListDock")
        self._state = state
        self._inspection = inspection
        self.list = QTreeWidget(self)
        self.list.setColumnCount(2)
        self.list.setHeaderLabels(["Scan", "Verdict"])
        self.list.setRootIsDecorated(False)
        self.list.setAlternatingRowColors(True)
        self.list.header().setStretchLastSection(False)
        self.list.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.list.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.setWidget(self.list)
        self.list.currentItemChanged.connect(self._selected)
        state.scans_changed.connect(self.refresh)
        state.active_changed.connect(self.refresh)
        state.scan_updated.connect(lambda _key: self.refresh())
        inspection.record_changed.connect(self._show_verdicts)
        self.refresh()

    def _selected(self, item: QTreeWidgetItem | None, _previous) -> None:
        if item is not None:
            self._state.set_active(item.data(0, _KEY_ROLE))

    def select_row(self, row: int) -> None:
        """Make the scan in ``row`` the active one, as a click would."""
        self.list.setCurrentItem(self.list.topLevelItem(row))

    def names(self) -> list[str]:
        """The scan texts the list shows, top to bottom."""
        return [self.list.topLevelItem(i).text(0) for i in range(self.list.topLevelItemCount())]

    def verdicts(self) -> list[str]:
        """The verdict texts, top to bottom."""
        return [self.list.topLevelItem(i).text(1) for i in range(self.list.topLevelItemCount())]

    def refresh(self) -> None:
        """Show the state's scans and select the active one."""
        self.list.blockSignals(True)
        self.list.clear()
        for entry in self._state.scans:
            item = QTreeWidgetItem([entry.title, "–"])
            item.setData(0, _KEY_ROLE, entry.key)
            item.setToolTip(0, entry.scan.metadata.source or "made in memory")
            self.list.addTopLevelItem(item)
            if entry.key == self._state.active_key:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        self._show_verdicts()

    def _show_verdicts(self) -> None:
        for i in range(self.list.topLevelItemCount()):
            item = self.list.topLevelItem(i)
            verdict = self._inspection.record(item.data(0, _KEY_ROLE))
            item.setText(1, short_text(verdict))
            item.setForeground(1, QBrush(QColor(verdict_colour(verdict) or "#808080")))
            item.setToolTip(1, "" if verdict is None else verdict.text)
