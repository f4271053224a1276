"""Inspection state: regions above the threshold, verdicts, the selection and annotations.

A plain Python object of data and events (:class:`~casl_gui.events.Event`, no Qt), next
to :class:`~casl_gui.state.AppState`; the controllers (:mod:`casl_gui.region_finder`,
:mod:`casl_gui.annotation_store`) fill it, the docks and the viewport show it. Nothing here
computes, reads files or draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from casl_core.annotations import AnnotationSet
from casl_core.errors import ConfigError
from casl_core.inspection.regions import Region, RegionResult, Verdict, verdict
from casl_core.inspection.verdict import ScanVerdict
from casl_gui.events import Event

#: Default smallest region listed (smaller groups of points are speckle).
DEFAULT_MIN_POINTS = 10
#: Default region size that fails a scan.
DEFAULT_FAIL_POINTS = 50


@dataclass(frozen=True)
class ScanRegions:
    """Regions of one open scan for one field and threshold.

    Attributes
    ----------
    field:
        The score field grouped.
    result:
        The regions found.
    """

    field: str
    result: RegionResult


@dataclass(frozen=True)
class Selection:
    """Points chosen in the view, to inspect or annotate.

    Attributes
    ----------
    indices:
        Sorted int64 indices into the active scan.
    kind:
        How they were chosen: ``rectangle``, ``sphere`` or ``region``.
    """

    indices: np.ndarray
    kind: str


class InspectionState:
    """Per-scan regions and annotations, the region settings and the current selection.

    Each event is a :class:`~casl_gui.events.Event`, connected like a Qt signal and emitted on
    the main thread only (emitting from another thread raises RuntimeError).

    Events
    ------
    settings_changed():
        The smallest listed region or the failing region size changed.
    regions_changed():
        Regions (and so verdicts) of some scan changed.
    selection_changed():
        The selection changed (it may be None).
    annotations_changed(int):
        The annotations of the scan with this key changed.
    record_changed():
        The verdicts of the scorer of record changed (:meth:`record`).
    """

    def __init__(self) -> None:
        self.settings_changed = Event("settings_changed", thread_bound=True)
        self.regions_changed = Event("regions_changed", thread_bound=True)
        self.selection_changed = Event("selection_changed", thread_bound=True)
        self.annotations_changed = Event("annotations_changed", thread_bound=True)
        self.record_changed = Event("record_changed", thread_bound=True)
        self._min_points = DEFAULT_MIN_POINTS
        self._fail_points = DEFAULT_FAIL_POINTS
        self._regions: dict[int, ScanRegions] = {}
        self._selection: Selection | None = None
        self._annotations: dict[int, AnnotationSet] = {}
        self._record: dict[int, ScanVerdict] = {}

    # -- settings ----------------------------------------------------------------------

    @property
    def min_points(self) -> int:
        """Regions smaller than this are not listed."""
        return self._min_points

    @property
    def fail_points(self) -> int:
        """A region at least this large fails the scan."""
        return self._fail_points

    def set_min_points(self, value: int) -> None:
        """Change the smallest listed region (>= 1)."""
        if value < 1:
            raise ConfigError(f"the smallest region must have at least 1 point, got {value}")
        if value != self._min_points:
            self._min_points = int(value)
            self.settings_changed.emit()

    def set_fail_points(self, value: int) -> None:
        """Change the region size that fails a scan (>= 1)."""
        if value < 1:
            raise ConfigError(f"the failing region size must be at least 1 point, got {value}")
        if value != self._fail_points:
            self._fail_points = int(value)
            self.settings_changed.emit()
            self.regions_changed.emit()

    # -- regions -----------------------------------------------------------------------

    def regions(self, key: int | None) -> ScanRegions | None:
        """The regions of a scan, None while not computed (or no scalar field is shown)."""
        return None if key is None else self._regions.get(key)

    def set_regions(self, found: dict[int, ScanRegions | None]) -> None:
        """Store new regions per scan key (None forgets a scan's regions)."""
        for key, value in found.items():
            if value is None:
                self._regions.pop(key, None)
            else:
                self._regions[key] = value
        self.regions_changed.emit()

    def verdict(self, key: int | None) -> Verdict | None:
        """Pass/fail of a scan with the current failing size, None when its regions are unknown."""
        found = self.regions(key)
        return None if found is None else verdict(found.result, self._fail_points)

    def record(self, key: int | None) -> ScanVerdict | None:
        """The verdict of the scorer of record on a scan (calibrated or "not calibrated"),
        None while unknown or when the scan has no score yet.
        """
        return None if key is None else self._record.get(key)

    def set_record(self, verdicts: dict[int, ScanVerdict | None]) -> None:
        """Store the scorer of record's verdicts per scan key (None forgets one)."""
        for key, value in verdicts.items():
            if value is None:
                self._record.pop(key, None)
            else:
                self._record[key] = value
        self.record_changed.emit()

    def listed_regions(self, key: int | None, field: str | None) -> tuple[Region, ...]:
        """The regions the window lists for a scan: the scorer of record's when it is calibrated
        (highest peak first), else those of ``field`` (the field on show) above its threshold.
        """
        record = self.record(key)
        if record is not None and record.calibrated:
            return record.regions
        found = self.regions(key)
        return () if found is None or found.field != field else tuple(found.result.regions)

    def forget(self, key: int) -> None:
        """Drop everything kept about a closed scan."""
        self._regions.pop(key, None)
        self._record.pop(key, None)
        self._annotations.pop(key, None)
        self.regions_changed.emit()

    # -- selection ---------------------------------------------------------------------

    @property
    def selection(self) -> Selection | None:
        """The current selection, or None."""
        return self._selection

    def set_selection(self, indices: np.ndarray | None, kind: str = "rectangle") -> None:
        """Select points of the active scan (None or an empty array clears the selection)."""
        if indices is None or len(indices) == 0:
            new = None
        else:
            new = Selection(np.unique(np.asarray(indices, dtype=np.int64)), kind)
        if new is None and self._selection is None:
            return
        self._selection = new
        self.selection_changed.emit()

    # -- annotations -------------------------------------------------------------------

    def annotations(self, key: int | None) -> AnnotationSet | None:
        """The annotations of a scan, None when it has none loaded."""
        return None if key is None else self._annotations.get(key)

    def set_annotations(self, key: int, annotations: AnnotationSet) -> None:
        """Replace the annotations of a scan."""
        self._annotations[key] = annotations
        self.annotations_changed.emit(key)
