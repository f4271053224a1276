"""The scan list dock: the open scans; selecting one shows it."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QListWidget, QListWidgetItem, QWidget

from casl_gui.state import AppState

_KEY_ROLE = Qt.ItemDataRole.UserRole + 1


class ScanListDock(QDockWidget):
    """Lists open scans by name and point count; the selection is the active scan."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__("Scans", parent)
        self.setObjectName("ScanListDock")
        self._state = state
        self.list = QListWidget(self)
        self.list.setAlternatingRowColors(True)
        self.setWidget(self.list)
        self.list.currentItemChanged.connect(self._selected)
        state.scans_changed.connect(self.refresh)
        state.active_changed.connect(self.refresh)
        self.refresh()

    def _selected(self, item: QListWidgetItem | None, _previous) -> None:
        if item is not None:
            self._state.set_active(item.data(_KEY_ROLE))

    def names(self) -> list[str]:
        """The texts the list shows, top to bottom."""
        return [self.list.item(i).text() for i in range(self.list.count())]

    def refresh(self) -> None:
        """Show the state's scans and select the active one."""
        self.list.blockSignals(True)
        self.list.clear()
        for entry in self._state.scans:
            item = QListWidgetItem(entry.title)
            item.setData(_KEY_ROLE, entry.key)
            item.setToolTip(entry.scan.metadata.source or "made in memory")
            self.list.addItem(item)
            if entry.key == self._state.active_key:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
