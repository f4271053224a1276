"""Keeps the regions above the threshold up to date for every open scan, off the main thread.

Whenever a field, its threshold, an open scan or the region settings change, the regions
of every open scan are found again, each by the scan's own field, in a background job;
a newer request cancels an older one, and results of an outdated request are dropped.
"""

from __future__ import annotations

from functools import partial

from PySide6.QtCore import QObject, QTimer

from casl_core.inspection.regions import RegionResult
from casl_gui import jobs
from casl_gui.colouring import HEIGHT, field_values, is_scalar
from casl_gui.inspection import InspectionState, ScanRegions
from casl_gui.state import AppState
from casl_gui.workers import JobRunner, LatestJob


class RegionFinder(QObject):
    """Runs :func:`casl_gui.jobs.find_scan_regions` when anything it depends on changes."""

    def __init__(
        self, state: AppState, inspection: InspectionState, runner: JobRunner, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._state = state
        self._inspection = inspection
        self._runner = runner
        self._request: tuple | None = None
        self._job = LatestJob(runner)
        self._radii: dict[tuple[int, int], float] = {}
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._start)
        for signal in (
            state.field_changed,
            state.style_changed,
            state.active_changed,
            state.scans_changed,
            state.scan_updated,
            inspection.settings_changed,
        ):
            signal.connect(self._timer.start)

    def _tasks(self) -> tuple[list[jobs.RegionTask], dict[int, str]]:
        """The region tasks of every open scan by its own field (see ``AppState.field_of``), and those fields."""
        s = self._state
        tasks, fields = [], {}
        for entry in s.scans:
            key = s.field_of(entry.key)
            if key is None or not is_scalar(key) or key == HEIGHT:
                continue  # height is not a score: no regions
            values = field_values(entry.scan, key)
            if values is None:
                continue
            radius = self._radii.get((entry.key, id(entry.scan.points)))
            tasks.append(jobs.RegionTask(entry.key, entry.scan.points, values, s.scale(key).threshold, radius))
            fields[entry.key] = key
        return tasks, fields

    def _start(self) -> None:
        tasks, field = self._tasks()
        request = (
            tuple((t.key, field[t.key], id(t.scores), t.threshold) for t in tasks),
            self._inspection.min_points,
        )
        if request == self._request:
            return
        self._request = request
        stale = {e.key: None for e in self._state.scans if e.key not in {t.key for t in tasks}}
        if stale:
            self._inspection.set_regions(stale)
        if not tasks:
            self._job.drop()
            return
        ids = {t.key: id(t.points) for t in tasks}
        fn = partial(jobs.find_scan_regions, tasks, self._inspection.min_points)
        self._job.replace("Finding regions", fn, partial(self._found, request, field, ids))

    def _found(
        self, request: tuple, field: dict[int, str], ids: dict[int, int], results: dict[int, RegionResult]
    ) -> None:
        for key, result in results.items():
            self._radii[(key, ids[key])] = result.link_radius
        if request != self._request:
            return
        open_keys = {e.key for e in self._state.scans}
        self._inspection.set_regions({k: ScanRegions(field[k], r) for k, r in results.items() if k in open_keys})

    def busy(self) -> bool:
        """Whether regions are being found or about to be."""
        return self._timer.isActive() or self._job.busy()
