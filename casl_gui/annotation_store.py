"""Loads, edits and autosaves the annotations of open scans (JSON sidecars next to the scans)."""

from __future__ import annotations

import os

from PySide6.QtCore import QObject

from casl_core.annotation_sidecar import backup_sidecar, export_csv, load_annotations, save_annotations
from casl_core.annotations import AnnotationSet, Label, empty_for, file_rows, points_in_file, sidecar_path
from casl_core.errors import CaslError, ConfigError
from casl_gui.dialogs.errors import ErrorSink
from casl_gui.inspection import InspectionState
from casl_gui.state import AppState


class AnnotationStore(QObject):
    """Keeps each open scan's :class:`AnnotationSet` in the inspection state and on disk.

    A scan read from a file gets its sidecar loaded when it opens (an empty set when there
    is none); every change is saved at once, atomically. Scans made in memory (the demo)
    keep their annotations in memory only.

    Parameters
    ----------
    state, inspection:
        The window's state objects.
    errors:
        Where failures to read or write a sidecar are reported.
    """

    def __init__(
        self, state: AppState, inspection: InspectionState, errors: ErrorSink, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._state = state
        self._inspection = inspection
        self._errors = errors
        self._known: set[int] = set()
        #: scans whose unreadable sidecar could not be moved aside: never written over
        self._read_only: set[int] = set()
        state.scans_changed.connect(self._scans_changed)

    def _scans_changed(self) -> None:
        keys = {e.key for e in self._state.scans}
        for key in self._known - keys:
            self._inspection.forget(key)
            self._read_only.discard(key)
        for entry in self._state.scans:
            if entry.key not in self._known:
                self._inspection.set_annotations(entry.key, self._load(entry.key, entry.scan))
        self._known = keys

    def _load(self, key: int, scan) -> AnnotationSet:
        source = scan.metadata.source
        if not source or not os.path.exists(sidecar_path(source)):
            return empty_for(scan)
        path = sidecar_path(source)
        try:
            loaded = load_annotations(path)
        except CaslError as exc:
            return self._set_aside(key, scan, "Cannot read the annotations", str(exc))
        except Exception as exc:  # noqa: BLE001 - a loader fault must not lose the file either
            return self._set_aside(key, scan, "Cannot read the annotations", f"{path}: {type(exc).__name__}: {exc}")
        if loaded.points_in_file != points_in_file(scan):
            problem = (
                f"{path}: made for {loaded.points_in_file} points, the scan's file has "
                f"{points_in_file(scan)}; they are not loaded"
            )
            return self._set_aside(key, scan, "Annotations do not fit the scan", problem)
        return loaded

    def _set_aside(self, key: int, scan, title: str, problem: str) -> AnnotationSet:
        """Move an unusable sidecar to a dated backup (never overwrite it) and say where."""
        path = sidecar_path(scan.metadata.source)
        try:
            kept = backup_sidecar(path)
        except CaslError as exc:
            self._read_only.add(key)
            self._errors(title, f"{problem}. {exc}; new annotations of this scan will not be saved")
            return empty_for(scan)
        self._errors(title, f"{problem}. The file is kept unchanged as {kept}; new annotations go to {path}")
        return empty_for(scan)

    def sidecar(self, key: int | None) -> str | None:
        """Where the annotations of a scan are saved, None for a scan without a file."""
        if key is None:
            return None
        source = self._state.entry(key).scan.metadata.source
        return os.fspath(sidecar_path(source)) if source else None

    def annotate(self, label: Label | str, note: str = "") -> None:
        """Annotate the current selection of the scan on show, and save.

        Raises
        ------
        ConfigError
            If nothing is selected or no scan is open.
        """
        key = self._state.active_key
        sel = self._inspection.selection
        if key is None or sel is None:
            raise ConfigError("select points first (drag a rectangle, or a sphere around the pick)")
        scan = self._state.entry(key).scan
        notes = self._inspection.annotations(key) or empty_for(scan)
        self._store(key, notes.add(label, file_rows(scan, sel.indices), note, sel.kind))

    def delete(self, annotation_id: int) -> None:
        """Delete an annotation of the scan on show, and save."""
        key = self._state.active_key
        notes = self._inspection.annotations(key)
        if key is None or notes is None:
            raise ConfigError("no scan is open")
        self._store(key, notes.remove(annotation_id))

    def _store(self, key: int, notes: AnnotationSet) -> None:
        self._inspection.set_annotations(key, notes)
        path = self.sidecar(key)
        if path is None or key in self._read_only:
            return
        try:
            save_annotations(path, notes)
        except CaslError as exc:
            self._errors("Cannot save the annotations", str(exc))

    def export(self, path: str | os.PathLike[str]) -> None:
        """Export the annotations of the scan on show to CSV (one row per point).

        Raises
        ------
        CaslError
            If there is nothing to export or the file cannot be written.
        """
        key = self._state.active_key
        notes = self._inspection.annotations(key)
        if key is None or notes is None or not notes.annotations:
            raise ConfigError("the scan on show has no annotations to export")
        export_csv(path, notes, self._state.entry(key).scan)
