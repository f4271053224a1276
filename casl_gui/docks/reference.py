"""The reference dock: which reference, how the scan on show fits it, tolerance and colour range."""

from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QCheckBox, QDockWidget, QDoubleSpinBox, QFormLayout, QLabel, QWidget

from casl_core.errors import ConfigError
from casl_core.fields import DEVIATION
from casl_gui.reference_controller import DeviationStyle, ReferenceController
from casl_gui.state import AppState


def _spin() -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(1e-9, 1e9)
    box.setDecimals(4)
    box.setKeyboardTracking(False)
    return box


class ReferenceDock(QDockWidget):
    """Shows the reference and the fit of the scan on show; edits the deviation's tolerance band."""

    def __init__(
        self, state: AppState, reference: ReferenceController, show_action: QAction, parent: QWidget | None = None
    ) -> None:
        super().__init__("Reference", parent)
        self.setObjectName("ReferenceDock")
        self._state = state
        self._reference = reference
        body = QWidget(self)
        self.reference_label = QLabel("None: Model > Set reference…", body)
        self.reference_label.setWordWrap(True)
        self.fit_label = QLabel("–", body)
        self.tolerance_spin = _spin()
        self.tolerance_spin.setPrefix("± ")
        self.tolerance_spin.setToolTip("Deviations within plus or minus this are drawn grey")
        self.range_spin = _spin()
        self.range_spin.setPrefix("± ")
        self.range_spin.setToolTip("The colour bar spans plus or minus this deviation")
        self.show_box = QCheckBox("Show the reference", body)
        self._show_action = show_action
        form = QFormLayout(body)
        form.addRow("Reference", self.reference_label)
        form.addRow("Alignment", self.fit_label)
        form.addRow("Tolerance", self.tolerance_spin)
        form.addRow("Colour range", self.range_spin)
        form.addRow("", self.show_box)
        self.setWidget(body)
        self.tolerance_spin.valueChanged.connect(self._edited)
        self.range_spin.valueChanged.connect(self._edited)
        self.show_box.toggled.connect(show_action.setChecked)
        show_action.toggled.connect(reference.set_show_reference)
        reference.changed.connect(self.refresh)
        state.active_changed.connect(self.refresh)
        state.style_changed.connect(self.refresh)
        self.refresh()

    def _edited(self) -> None:
        try:
            style = DeviationStyle(self.tolerance_spin.value(), self.range_spin.value())
        except ConfigError:
            self.refresh()
            return
        self._reference.set_style(style)

    def refresh(self) -> None:
        """Show the controller's reference, fit and style without feeding changes back."""
        ref = self._reference
        widgets = (self.tolerance_spin, self.range_spin, self.show_box, self._show_action)
        for w in widgets:
            w.blockSignals(True)
        self.reference_label.setText(ref.name or "None: Model > Set reference…")
        fit = ref.fit(self._state.active_key)
        self.fit_label.setText("–" if fit is None else f"RMSE {fit.rmse:.4g} to {fit.reference}")
        style = ref.style
        for w in (self.tolerance_spin, self.range_spin):
            w.setEnabled(style is not None)
        if style is not None:
            self.tolerance_spin.setValue(style.tolerance)
            self.range_spin.setValue(self._state.scale(DEVIATION).half_width)
        self.show_box.setChecked(ref.show_reference)
        self._show_action.setChecked(ref.show_reference)
        for w in widgets:
            w.blockSignals(False)
