"""The threshold dock: histogram of the score on show, threshold, region sizes and the verdict."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QDockWidget,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from casl_core.errors import ConfigError
from casl_gui.colouring import field_text, field_values, is_scalar
from casl_gui.docks.histogram import HistogramPlot, histogram_of
from casl_gui.inspection import InspectionState
from casl_gui.state import AppState
from casl_gui.verdict_controller import verdict_colour

#: How long the threshold waits after the last drag before the points are recoloured.
DEBOUNCE_MS = 100
PASS_STYLE = "font-weight: bold; font-size: 15px; color: #1f9d55;"
FAIL_STYLE = "font-weight: bold; font-size: 15px; color: #e3342f;"
VERDICT_STYLE = "font-weight: bold; font-size: 13px;"


def verdict_text(verdict) -> str:
    """One line saying pass or fail and why."""
    if verdict is None:
        return "–"
    if verdict.passed:
        largest = f"largest region {verdict.largest_region} points" if verdict.largest_region else "no region"
        return f"PASS ({largest} < {verdict.fail_points})"
    many = "region" if verdict.failing_regions == 1 else "regions"
    return f"FAIL ({verdict.failing_regions} {many} ≥ {verdict.fail_points} points)"


class ThresholdDock(QDockWidget):
    """Shows where the threshold cuts the score distribution and lets a person move it."""

    def __init__(self, state: AppState, inspection: InspectionState, parent: QWidget | None = None) -> None:
        super().__init__("Threshold", parent)
        self.setObjectName("ThresholdDock")
        self._state = state
        self._inspection = inspection
        self._hist_for: tuple[int, int] | None = None
        body = QWidget(self)
        self.field_label = QLabel("–", body)
        self.plot = HistogramPlot(body)
        self.threshold_spin = QDoubleSpinBox(body)
        self.threshold_spin.setRange(-1e12, 1e12)
        self.threshold_spin.setDecimals(5)
        self.threshold_spin.setKeyboardTracking(False)
        self.grey_box = QCheckBox("Grey out points below the threshold", body)
        self.min_spin = QSpinBox(body)
        self.fail_spin = QSpinBox(body)
        for spin in (self.min_spin, self.fail_spin):
            spin.setRange(1, 10_000_000)
            spin.setKeyboardTracking(False)
        self.above_label = QLabel("–", body)
        self.verdict_label = QLabel("–", body)
        self.verdict_label.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Threshold", self.threshold_spin)
        form.addRow("", self.grey_box)
        sizes = QHBoxLayout()
        sizes.addWidget(QLabel("list ≥"))
        sizes.addWidget(self.min_spin, 1)
        sizes.addWidget(QLabel("fail ≥"))
        sizes.addWidget(self.fail_spin, 1)
        form.addRow("Regions", sizes)
        form.addRow("Above", self.above_label)
        form.addRow("Verdict", self.verdict_label)
        self.min_spin.setToolTip("Regions with fewer points are not listed")
        self.fail_spin.setToolTip("A region with at least this many points fails the scan")
        layout = QVBoxLayout(body)
        layout.setSpacing(4)
        layout.addWidget(self.field_label)
        layout.addWidget(self.plot)
        layout.addLayout(form)
        layout.addStretch(1)
        self.setWidget(body)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self._apply_drag)
        self._connect()
        self.refresh()

    def _connect(self) -> None:
        s, ins = self._state, self._inspection
        self.plot.threshold_dragged.connect(self._dragged)
        self.threshold_spin.valueChanged.connect(self._typed)
        self.grey_box.toggled.connect(s.set_grey_below)
        self.min_spin.valueChanged.connect(ins.set_min_points)
        self.fail_spin.valueChanged.connect(ins.set_fail_points)
        for signal in (s.active_changed, s.field_changed, s.style_changed, s.scan_updated):
            signal.connect(self.refresh)
        ins.regions_changed.connect(self._show_regions)
        ins.record_changed.connect(self._show_record)
        ins.settings_changed.connect(self.refresh)

    def _dragged(self, value: float) -> None:
        self.threshold_spin.blockSignals(True)
        self.threshold_spin.setValue(value)
        self.threshold_spin.blockSignals(False)
        self._timer.start()

    def _apply_drag(self) -> None:
        self._set_threshold(self.plot.threshold)

    def _typed(self, value: float) -> None:
        self._timer.stop()
        self._set_threshold(value)

    def _set_threshold(self, value: float) -> None:
        try:
            self._state.set_threshold(value)
        except ConfigError:
            self.refresh()

    def pending(self) -> bool:
        """Whether a dragged threshold waits to be applied."""
        return self._timer.isActive()

    def refresh(self) -> None:
        """Show the state's field, threshold and region settings without feeding changes back."""
        s = self._state
        scan = s.active_scan()
        widgets = (self.threshold_spin, self.grey_box, self.min_spin, self.fail_spin)
        for w in widgets:
            w.blockSignals(True)
        self.grey_box.setChecked(s.grey_below)
        self.min_spin.setValue(self._inspection.min_points)
        self.fail_spin.setValue(self._inspection.fail_points)
        scalar = scan is not None and is_scalar(s.field)
        self.threshold_spin.setEnabled(scalar)
        self.grey_box.setEnabled(scalar)
        if scalar:
            scale = s.scale(s.field)
            values = field_values(scan, s.field)
            key = (id(values), s.active_key or 0)
            if key != self._hist_for or not self.plot.has_data():
                self._hist_for = key
                self._hist = histogram_of(values, scale.threshold)
            self.field_label.setText(f"{field_text(s.field)} of {s.entry(s.active_key).name}")
            self.threshold_spin.setSingleStep(10 ** round(math.log10(scale.half_width / 20)))
            if not self._timer.isActive():
                self.threshold_spin.setValue(scale.threshold)
                self.plot.set_data(self._hist, scale.threshold, scale.clim, s.cmap, s.grey_below)
        else:
            self._hist_for = None
            self.field_label.setText("Colour by a score or curvature to set a threshold")
            self.plot.set_data(None, 0.0, (0.0, 1.0), s.cmap, False)
        for w in widgets:
            w.blockSignals(False)
        self._show_regions()

    def _show_regions(self) -> None:
        key = self._state.active_key
        found = self._inspection.regions(key)
        self._show_record()
        if found is None or found.field != self._state.field:
            self.above_label.setText("–")
            return
        result = found.result
        n = len(self._state.active_scan())
        self.above_label.setText(
            f"{result.above:,} points ({100.0 * result.above / max(n, 1):.2f} %), {len(result.regions)} regions"
        )

    def _show_record(self) -> None:
        """The scorer of record's verdict on the scan on show, whatever field is coloured."""
        verdict = self._inspection.record(self._state.active_key)
        self.verdict_label.setText("–" if verdict is None else verdict.text)
        colour = verdict_colour(verdict)
        self.verdict_label.setStyleSheet("" if colour is None else f"{VERDICT_STYLE} color: {colour};")

    def histogram_counts(self) -> np.ndarray | None:
        """The counts on show (for checks), None when no histogram is shown."""
        return None if not self.plot.has_data() else self._hist.counts.copy()
