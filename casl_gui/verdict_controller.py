"""The scorer of record in the window: calibrations known to the session and each scan's verdict.

Whatever field is on screen, every open scan's verdict, its listed regions and the batch
table come from one scorer: the best calibrated one the scan was scored by (fused, CASL,
deviation, then curvature; :mod:`casl_core.inspection.verdict`). A scan whose scores have
no calibration reads "not calibrated", never PASS or FAIL; a scan most of whose points lie
above the threshold reads "out of distribution".

Calibrations come from a loaded CASL checkpoint, from Tools > Calibrate on a folder of good
scans, from a calibration file, or from the demo. Verdicts are computed off the main thread
whenever a scan gains a field or a calibration changes; a newer request drops an older one.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

from PySide6.QtCore import QObject, QTimer, Signal

from casl_core.inspection.verdict import ScanVerdict, VerdictStatus, scan_verdict
from casl_core.progress import CancelFn, ProgressFn, check_cancel, report
from casl_core.scan import Scan
from casl_core.scorers.calibration import Calibration
from casl_gui.inspection import InspectionState
from casl_gui.state import AppState
from casl_gui.workers import JobRunner, LatestJob

#: Colours of the verdict statuses (PASS green, FAIL red, out of distribution amber, not calibrated grey).
STATUS_COLOURS: dict[VerdictStatus, str] = {
    VerdictStatus.PASS: "#1f9d55",
    VerdictStatus.FAIL: "#e3342f",
    VerdictStatus.OUT_OF_DISTRIBUTION: "#d97706",
    VerdictStatus.NOT_CALIBRATED: "#808080",
}
_SHORT = {
    VerdictStatus.PASS: "PASS",
    VerdictStatus.FAIL: "FAIL",
    VerdictStatus.OUT_OF_DISTRIBUTION: "out of distribution",
    VerdictStatus.NOT_CALIBRATED: "not calibrated",
}


def short_text(verdict: ScanVerdict | None) -> str:
    """One or two words for lists: PASS, FAIL, out of distribution, not calibrated (``–`` when unknown)."""
    return "–" if verdict is None else _SHORT[verdict.status]


def verdict_colour(verdict: ScanVerdict | None) -> str | None:
    """The colour a verdict is written in, None when unknown."""
    return None if verdict is None else STATUS_COLOURS[verdict.status]


def verdicts_of(
    scans: list[tuple[int, Scan]], calibrations: Mapping[str, Calibration], progress: ProgressFn, cancel: CancelFn
) -> dict[int, ScanVerdict | None]:
    """The scorer of record's verdict on each scan, by key; None for a scan with no score field yet."""
    out: dict[int, ScanVerdict | None] = {}
    for done, (key, scan) in enumerate(scans):
        check_cancel(cancel)
        report(progress, "verdict", done, len(scans))
        verdict = scan_verdict(scan, calibrations)
        out[key] = None if verdict.scorer is None else verdict
    return out


def inspect_file_of_record(
    scorers: list,
    calibrations: Mapping[str, Calibration],
    path,
    scorer,
    _threshold: float,
    _min_points: int,
    _fail_points: int,
    progress: ProgressFn,
    cancel: CancelFn,
):
    """A batch row whose verdict comes from the scorer of record (the batch dialog's inspect call).

    The file is read and scored by the window's ``scorer`` and by every scorer in ``scorers``
    (those with a calibration); the verdict, the largest listed region and the object score
    are the scorer of record's (the window scorer's object score when nothing is calibrated).
    The threshold and region sizes of the field on show do not decide anything here.

    Raises
    ------
    ScanFormatError
        If the file cannot be read.
    Cancelled
        If ``cancel`` asks to stop.
    """
    import os

    from casl_gui import jobs

    scan = jobs.read_only(path, progress, cancel)
    first = scorer.score(scan, progress=progress, cancel=cancel)
    scored = first.scan
    for other in scorers:
        if other is not scorer:
            check_cancel(cancel)
            scored = other.score(scored, progress=progress, cancel=cancel).scan
    verdict = scan_verdict(scored, calibrations)
    largest = max((r.size for r in verdict.regions), default=0)
    obj = verdict.object_score if verdict.object_score is not None else float(first.object_score)
    return jobs.BatchRow(os.fspath(path), len(scan), float(obj), largest, short_text(verdict))


class VerdictController(QObject):
    """Holds the session's calibrations (by scorer name) and keeps every open scan's verdict current.

    Signals
    -------
    calibrations_changed():
        A calibration was added, replaced or removed.
    """

    calibrations_changed = Signal()

    def __init__(
        self, state: AppState, inspection: InspectionState, runner: JobRunner, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._state = state
        self._inspection = inspection
        self._runner = runner
        self._calibrations: dict[str, Calibration] = {}
        self._request = 0
        self._job = LatestJob(runner)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._start)
        state.scans_changed.connect(self._timer.start)
        state.scan_updated.connect(self._timer.start)
        self.calibrations_changed.connect(self._timer.start)

    @property
    def calibrations(self) -> dict[str, Calibration]:
        """The calibrations in use, by scorer name (a copy)."""
        return dict(self._calibrations)

    def calibration(self, scorer: str) -> Calibration | None:
        """The calibration of one scorer, if known."""
        return self._calibrations.get(scorer)

    def set_calibration(self, calibration: Calibration) -> None:
        """Use ``calibration`` for its scorer (replacing an earlier one); verdicts follow."""
        self._calibrations[calibration.scorer] = calibration
        self.calibrations_changed.emit()

    def remove_calibration(self, scorer: str) -> None:
        """Forget the calibration of a scorer (its scans read "not calibrated" again)."""
        if self._calibrations.pop(scorer, None) is not None:
            self.calibrations_changed.emit()

    def _start(self) -> None:
        self._request += 1
        request = self._request
        scans = [(e.key, e.scan) for e in self._state.scans]
        if not scans:
            self._job.drop()
            return
        fn = partial(verdicts_of, scans, dict(self._calibrations))
        self._job.replace("Verdicts", fn, partial(self._found, request))

    def _found(self, request: int, verdicts: dict[int, ScanVerdict | None]) -> None:
        if request != self._request:
            return
        open_now = {e.key for e in self._state.scans}
        self._inspection.set_record({k: v for k, v in verdicts.items() if k in open_now})

    def busy(self) -> bool:
        """Whether verdicts are being computed or about to be."""
        return self._timer.isActive() or self._job.busy()
