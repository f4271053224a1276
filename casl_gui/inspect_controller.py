"""Wires the inspection tools together: regions, selections, annotations and their marks in the view."""

from __future__ import annotations

import os
from typing import Protocol

import numpy as np
from PySide6.QtCore import QObject, SignalInstance
from PySide6.QtWidgets import QFileDialog, QWidget

from casl_core.annotations import Label, scan_indices
from casl_core.errors import CaslError
from casl_gui.annotation_store import AnnotationStore
from casl_gui.inspection import InspectionState
from casl_gui.picking import select_sphere
from casl_gui.state import AppState
from casl_gui.viewport import Marks, Viewport

#: Colours of the marks drawn over the cloud.
SELECTION_COLOUR = "#ff2bd6"
DEFECT_COLOUR = "#ff3b30"
NORMAL_COLOUR = "#30d158"


class RegionRequests(Protocol):
    """What the controller needs of the widget people ask through (the regions dock).

    Each signal is a request: go to the region in a row, select a sphere of a radius around
    the pick, mark the selection (label value, note), clear it, delete an annotation by id,
    export the annotations. ``set_sidecar_text`` says where annotations are saved.
    """

    region_activated: SignalInstance
    sphere_requested: SignalInstance
    mark_requested: SignalInstance
    clear_requested: SignalInstance
    delete_requested: SignalInstance
    export_requested: SignalInstance

    def set_sidecar_text(self, text: str) -> None:
        """Show where the annotations are saved, or why they are not."""


class InspectController(QObject):
    """Turns the regions dock's requests and the view's rectangles into state changes, and
    keeps the selection and annotation marks drawn over the cloud.

    Parameters
    ----------
    window:
        Parent for file dialogs; its ``report_error(title, message)`` shows errors.
    dock:
        Where the person asks for regions, selections and annotations (the regions dock, or
        anything with its signals).
    """

    def __init__(
        self,
        window: QWidget,
        state: AppState,
        inspection: InspectionState,
        viewport: Viewport,
        dock: RegionRequests,
        store: AnnotationStore,
    ) -> None:
        super().__init__(window)
        self._window = window
        self._state = state
        self._inspection = inspection
        self._viewport = viewport
        self._dock = dock
        self._store = store
        dock.region_activated.connect(self.go_to_region)
        dock.sphere_requested.connect(self.select_sphere)
        dock.mark_requested.connect(self.mark)
        dock.clear_requested.connect(lambda: inspection.set_selection(None))
        dock.delete_requested.connect(self.delete)
        dock.export_requested.connect(self.choose_export)
        viewport.rectangle_selected.connect(lambda idx: inspection.set_selection(idx, "rectangle"))
        state.active_changed.connect(self._active_changed)
        inspection.selection_changed.connect(self.draw_marks)
        inspection.annotations_changed.connect(lambda _key: self.draw_marks())

    def _active_changed(self) -> None:
        self._inspection.set_selection(None)
        self._dock.set_sidecar_text(self._sidecar_text())

    def _sidecar_text(self) -> str:
        key = self._state.active_key
        if key is None:
            return ""
        path = self._store.sidecar(key)
        return f"Saved to {path}" if path else "This scan has no file: annotations are kept until it is closed"

    def draw_marks(self) -> None:
        """Draw the selection and the annotated points over the cloud."""
        if self._viewport.is_shut_down or self._state.active_scan() is None:
            return
        self._viewport.set_marks(self.marks())

    def marks(self) -> list[Marks]:
        """What to mark: defect and normal annotations of the scan on show, then the selection."""
        scan = self._state.active_scan()
        notes = self._inspection.annotations(self._state.active_key)
        by_label = {Label.DEFECT: [], Label.NORMAL: []}
        for ann in () if notes is None else notes.annotations:
            by_label[ann.label].append(scan_indices(scan, ann.points))
        out = [
            Marks(name, np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64), colour)
            for name, parts, colour in (
                ("defect", by_label[Label.DEFECT], DEFECT_COLOUR),
                ("normal", by_label[Label.NORMAL], NORMAL_COLOUR),
            )
        ]
        sel = self._inspection.selection
        out.append(Marks("selection", np.zeros(0, np.int64) if sel is None else sel.indices, SELECTION_COLOUR))
        return out

    def go_to_region(self, row: int) -> None:
        """Fly to a listed region, pick its centre point and select its points."""
        regions = self._inspection.listed_regions(self._state.active_key, self._state.field)
        if not 0 <= row < len(regions):
            return
        region = regions[row]
        self._state.set_pick(region.centre_index)
        # centred on the region, as close as keeps the whole part (and so where the region is) in view
        self._viewport.fly_to_region(region.centre_index)
        self._inspection.set_selection(region.indices, "region")

    def select_sphere(self, radius: float) -> None:
        """Select the points within ``radius`` of the picked point."""
        scan, pick = self._state.active_scan(), self._state.picked_index
        if scan is None or pick is None:
            self._window.report_error("Nothing picked", "click a point first: the sphere is centred on it")
            return
        self._inspection.set_selection(select_sphere(scan.points, scan.points[pick], radius), "sphere")

    def mark(self, label: str, note: str) -> None:
        """Annotate the selection and clear it."""
        try:
            self._store.annotate(label, note)
        except CaslError as exc:
            self._window.report_error("Cannot annotate", str(exc))
            return
        self._inspection.set_selection(None)
        self._dock.set_sidecar_text(self._sidecar_text())

    def delete(self, annotation_id: int) -> None:
        """Delete an annotation."""
        try:
            self._store.delete(annotation_id)
        except CaslError as exc:
            self._window.report_error("Cannot delete the annotation", str(exc))

    def choose_export(self) -> None:
        """Ask where to export the annotations as CSV, and export."""
        scan = self._state.active_scan()
        default = f"{scan.name}-annotations.csv" if scan is not None else "annotations.csv"
        path, _ = QFileDialog.getSaveFileName(self._window, "Export annotations", default, "CSV (*.csv)")
        if path:
            self.export(path)

    def export(self, path: str | os.PathLike[str]) -> None:
        """Export the annotations of the scan on show to ``path`` (errors go to a dialog)."""
        try:
            self._store.export(path)
        except CaslError as exc:
            self._window.report_error("Cannot export the annotations", str(exc))
