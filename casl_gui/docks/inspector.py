"""The inspector dock: everything known about the picked point."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QDockWidget, QFormLayout, QLabel, QVBoxLayout, QWidget

from casl_core.scan import Scan
from casl_gui.colouring import CASL_SCORE, curvature_fields, curvature_order
from casl_gui.docks.scale_plot import ScalePlot
from casl_gui.state import AppState

_NONE = "–"


class InspectorDock(QDockWidget):
    """Index, coordinates, curvature at every scale (plotted), CASL score and label of the pick."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__("Inspector", parent)
        self.setObjectName("InspectorDock")
        self._state = state
        body = QWidget(self)
        form = QFormLayout()
        self.index_label = QLabel(_NONE)
        self.xyz_label = QLabel(_NONE)
        self.score_label = QLabel(_NONE)
        self.truth_label = QLabel(_NONE)
        self.curvature_label = QLabel(_NONE)
        self.curvature_label.setWordWrap(True)
        self.xyz_label.setWordWrap(True)
        self.setMinimumWidth(260)
        form.addRow("Point", self.index_label)
        form.addRow("x, y, z", self.xyz_label)
        form.addRow("CASL score", self.score_label)
        form.addRow("Ground truth", self.truth_label)
        self.plot = ScalePlot(body)
        layout = QVBoxLayout(body)
        layout.addLayout(form)
        layout.addWidget(QLabel("Curvature across scales"))
        layout.addWidget(self.plot)
        layout.addWidget(self.curvature_label)
        layout.addStretch(1)
        self.setWidget(body)
        state.pick_changed.connect(self.refresh)
        state.style_changed.connect(self.refresh)
        # a scan gains fields later (curvature, the CASL score): show them for the pick too
        state.scan_updated.connect(self._scan_updated)
        self.refresh()

    def _scan_updated(self, _key: int) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Show the state's current pick."""
        scan = self._state.active_scan()
        index = self._state.picked_index
        if scan is None or index is None:
            for label in (self.index_label, self.xyz_label, self.score_label, self.truth_label, self.curvature_label):
                label.setText(_NONE)
            self.plot.set_data([], [], [], 0.1)
            return
        self.index_label.setText(f"{index:,} of {len(scan):,}")
        x, y, z = scan.points[index].astype(np.float64) + np.asarray(scan.metadata.offset)
        self.xyz_label.setText(f"{x:.6g}, {y:.6g}, {z:.6g}")
        score = scan.fields.get(CASL_SCORE)
        self.score_label.setText(_NONE if score is None else f"{float(score[index]):.4g}")
        if scan.labels is None:
            self.truth_label.setText("no labels")
        else:
            self.truth_label.setText("anomalous" if scan.labels[index] else "normal")
        self._show_curvature(scan, index)

    def _show_curvature(self, scan: Scan, index: int) -> None:
        names = curvature_fields(scan)
        if not names:
            self.curvature_label.setText("no curvature")
            self.plot.set_data([], [], [], 0.1)
            return
        values = [float(scan.fields[n][index]) for n in names]
        labels = [str(curvature_order(n)) for n in names]
        scales = [self._state.scale(n) for n in names]
        self.plot.set_data(labels, values, [s.threshold for s in scales], max(s.clim[1] for s in scales))
        self.curvature_label.setText("  ".join(f"{lab}: {v:.4f}" for lab, v in zip(labels, values)))
