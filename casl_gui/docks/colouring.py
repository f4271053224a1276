"""The colouring dock: which field colours each view, its threshold-anchored range, map, point size."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QWidget,
)

from casl_core.errors import ConfigError
from casl_gui.colouring import COLOUR_MAPS, FieldScale, field_choices, is_scalar
from casl_gui.state import AppState

_KEY_ROLE = Qt.ItemDataRole.UserRole + 1


def _spin(minimum: float, maximum: float, decimals: int) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(minimum, maximum)
    box.setDecimals(decimals)
    box.setKeyboardTracking(False)
    return box


class FieldCombo(QComboBox):
    """A combo box of field choices; those the scan lacks are greyed out with a tooltip."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._model = QStandardItemModel(self)
        self.setModel(self._model)

    def set_choices(self, choices, current: str | None) -> None:
        """Fill the list; select ``current`` without emitting a change."""
        self.blockSignals(True)
        self._model.clear()
        for choice in choices:
            item = QStandardItem(choice.text)
            item.setData(choice.key, _KEY_ROLE)
            item.setEnabled(choice.enabled)
            if choice.reason:
                item.setToolTip(choice.reason)
            self._model.appendRow(item)
        keys = [c.key for c in choices]
        self.setCurrentIndex(keys.index(current) if current in keys else -1)
        self.blockSignals(False)

    def key_at(self, row: int) -> str | None:
        """The choice key of a row."""
        item = self._model.item(row)
        return None if item is None else item.data(_KEY_ROLE)

    def item_for(self, key: str) -> QStandardItem | None:
        """The list item of a choice key (to read its enabled state and tooltip)."""
        for row in range(self._model.rowCount()):
            if self.key_at(row) == key:
                return self._model.item(row)
        return None


class ColouringDock(QDockWidget):
    """Edits the state's colouring: field per view, compare mode, scale, colour map, point size."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__("Colouring", parent)
        self.setObjectName("ColouringDock")
        self._state = state
        body = QWidget(self)
        form = QFormLayout(body)
        self.field_combo = FieldCombo(body)
        self.compare_box = QCheckBox("Compare side by side", body)
        self.second_combo = FieldCombo(body)
        self.cmap_combo = QComboBox(body)
        self.cmap_combo.addItems(list(COLOUR_MAPS))
        self.threshold_spin = _spin(-1e9, 1e9, 4)
        self.half_width_spin = _spin(1e-6, 1e9, 4)
        self.range_label = QLabel("–", body)
        self.range_label.setWordWrap(True)
        self.point_size_spin = _spin(0.5, 30.0, 1)
        self.point_size_spin.setSingleStep(0.5)
        form.addRow("Colour by", self.field_combo)
        form.addRow("", self.compare_box)
        form.addRow("Right view", self.second_combo)
        form.addRow("Colour map", self.cmap_combo)
        form.addRow("Threshold", self.threshold_spin)
        form.addRow("± range", self.half_width_spin)
        form.addRow("Range", self.range_label)
        self.range_label.setToolTip("The colour bar spans threshold ± range, the same for every open scan")
        form.addRow("Point size", self.point_size_spin)
        self._form = form
        self.setWidget(body)
        self._connect()
        self.refresh()

    def _connect(self) -> None:
        s = self._state
        self.field_combo.currentIndexChanged.connect(lambda row: self._pick_field(self.field_combo, row, s.set_field))
        self.second_combo.currentIndexChanged.connect(
            lambda row: self._pick_field(self.second_combo, row, s.set_second_field)
        )
        self.compare_box.toggled.connect(s.set_compare)
        self.cmap_combo.currentTextChanged.connect(s.set_cmap)
        self.threshold_spin.valueChanged.connect(self._scale_edited)
        self.half_width_spin.valueChanged.connect(self._scale_edited)
        self.point_size_spin.valueChanged.connect(s.set_point_size)
        for signal in (s.active_changed, s.field_changed, s.style_changed, s.compare_changed, s.scans_changed):
            signal.connect(self.refresh)

    def _pick_field(self, combo: FieldCombo, row: int, setter) -> None:
        key = combo.key_at(row)
        if key is None:
            return
        try:
            setter(key)
        except ConfigError:
            self.refresh()

    def _scale_edited(self) -> None:
        key = self._state.field
        if not is_scalar(key):
            return
        try:
            scale = FieldScale(self.threshold_spin.value(), self.half_width_spin.value())
        except ConfigError:
            self.refresh()
            return
        self._state.set_scale(key, scale)

    def refresh(self) -> None:
        """Show the state's colouring without feeding changes back."""
        s = self._state
        scan = s.active_scan()
        choices = field_choices(scan)
        self.field_combo.set_choices(choices, s.field)
        self.second_combo.set_choices(choices, s.second_field)
        widgets = (self.compare_box, self.cmap_combo, self.threshold_spin, self.half_width_spin, self.point_size_spin)
        for w in widgets:
            w.blockSignals(True)
        self.compare_box.setChecked(s.compare)
        self._form.setRowVisible(self.second_combo, s.compare)
        self.cmap_combo.setCurrentText(s.cmap)
        self.point_size_spin.setValue(s.point_size)
        scalar = scan is not None and is_scalar(s.field)
        for w in (self.threshold_spin, self.half_width_spin, self.cmap_combo):
            w.setEnabled(scalar)
        if scalar:
            scale = s.scale(s.field)
            step = 10 ** round(math.log10(scale.half_width / 10))
            self.threshold_spin.setSingleStep(step)
            self.half_width_spin.setSingleStep(step)
            self.threshold_spin.setValue(scale.threshold)
            self.half_width_spin.setValue(scale.half_width)
            lo, hi = scale.clim
            self.range_label.setText(f"{lo:.4g} to {hi:.4g} (all scans)")
        else:
            self.range_label.setText("–")
        for w in widgets:
            w.blockSignals(False)
