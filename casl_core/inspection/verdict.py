"""One scorer of record and its verdict on a scan.

Whatever field is on screen, a scan's verdict comes from one scorer: the first of
:data:`SCORER_ORDER` (fused, CASL, deviation, curvature) whose score field the scan has
*and* for which a :class:`~casl_core.scorers.calibration.Calibration` is known. Each of
those scorers is named by :func:`casl_core.fields.score_field`, so a scorer added later
needs no change here.

Status, in this order:

``NOT_CALIBRATED``
    no scored field has a calibration: never PASS or FAIL on an uncalibrated score.
``OUT_OF_DISTRIBUTION``
    more than :data:`DEFAULT_OOD_SHARE` of the scan's points are at or above the upper end
    of the normal range (the calibration's ``ood_threshold``, the 99 % quantile of normal
    point scores, so 1 % of a normal scan's points). A defect covers a few percent of a part;
    a scan with most of its surface outside the normal range is another part, not a defect
    (the demo flange model: rocker arm 93 %, bunny 74 %; measured in ``benchmarks/README.md``).
``FAIL``
    the object score is above the object threshold.
``PASS``
    otherwise.

The regions (:func:`casl_core.inspection.regions.find_regions` at the point threshold, at
least :data:`DEFAULT_MIN_REGION_POINTS` points) are listed by peak score, top region first.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from casl_core.errors import ConfigError
from casl_core.fields import SCORE_FIELDS, score_field
from casl_core.inspection.regions import Region, find_regions
from casl_core.scan import Scan
from casl_core.scorers.calibration import Calibration
from casl_core.scorers.pooling import object_score as pooled_object_score

#: Scorers in order of preference for the verdict.
SCORER_ORDER = ("fused", "casl", "deviation", "curvature")
#: Share of points outside the normal range (at or above ``ood_threshold``) beyond which a scan is out of distribution.
DEFAULT_OOD_SHARE = 0.30
#: Smallest region listed (isolated false alarms are not regions).
DEFAULT_MIN_REGION_POINTS = 3


class VerdictStatus(enum.StrEnum):
    """What the scorer of record says about a scan."""

    PASS = "PASS"
    FAIL = "FAIL"
    NOT_CALIBRATED = "NOT_CALIBRATED"
    OUT_OF_DISTRIBUTION = "OUT_OF_DISTRIBUTION"


@dataclass(frozen=True)
class ScanVerdict:
    """The verdict of the scorer of record on one scan.

    Attributes
    ----------
    status:
        :class:`VerdictStatus`.
    scorer:
        The scorer of record (for ``NOT_CALIBRATED``: the best scored but uncalibrated one,
        or ``None`` when the scan has no score at all).
    false_alarm_rate:
        Its calibration's point false-alarm rate (``None`` when not calibrated).
    object_score, object_threshold:
        The scan's object score and the calibrated threshold (``None`` when not calibrated).
    point_threshold:
        The calibrated point threshold (``None`` when not calibrated).
    share_above:
        Share of the scan's points at or above the point threshold.
    share_out_of_range:
        Share of its points at or above the calibration's ``ood_threshold`` (the rule of
        ``OUT_OF_DISTRIBUTION``).
    points:
        Points in the scan.
    regions:
        Regions above the point threshold, highest peak first.
    """

    status: VerdictStatus
    scorer: str | None
    false_alarm_rate: float | None = None
    object_score: float | None = None
    object_threshold: float | None = None
    point_threshold: float | None = None
    share_above: float = 0.0
    share_out_of_range: float = 0.0
    points: int = 0
    regions: tuple[Region, ...] = ()

    @property
    def calibrated(self) -> bool:
        """Whether the verdict came from a calibrated scorer."""
        return self.status is not VerdictStatus.NOT_CALIBRATED

    @property
    def top_region(self) -> Region | None:
        """The first listed region, if any."""
        return self.regions[0] if self.regions else None

    @property
    def text(self) -> str:
        """A short line for people, e.g. ``FAIL (casl, 0.1 % false alarms): 2 regions, top 412 points``."""
        if self.status is VerdictStatus.NOT_CALIBRATED:
            return "not calibrated" + (f" ({self.scorer})" if self.scorer else "")
        rate = f"{100 * (self.false_alarm_rate or 0):.2g} % false alarms"
        head = f"({self.scorer}, {rate})"
        if self.status is VerdictStatus.OUT_OF_DISTRIBUTION:
            return (
                f"OUT OF DISTRIBUTION {head}: {100 * self.share_out_of_range:.0f} % of points outside the normal range"
            )
        if self.status is VerdictStatus.PASS:
            return f"PASS {head}"
        n = len(self.regions)
        tail = f"{n} region{'s' if n != 1 else ''}" + (f", top {self.regions[0].size} points" if n else "")
        return f"FAIL {head}: {tail}"


def scorer_of_record(available: Mapping[str, np.ndarray], calibrations: Mapping[str, Calibration]) -> str | None:
    """The first scorer of :data:`SCORER_ORDER` with a score in ``available`` (by score field)
    and a calibration in ``calibrations`` (by scorer name), else ``None``.
    """
    for name in SCORER_ORDER:
        if name in SCORE_FIELDS and score_field(name) in available and name in calibrations:
            return name
    return None


def _best_scored(available: Mapping[str, np.ndarray]) -> str | None:
    for name in SCORER_ORDER:
        if name in SCORE_FIELDS and score_field(name) in available:
            return name
    return None


def scan_verdict(
    scan: Scan,
    calibrations: Mapping[str, Calibration],
    *,
    object_scores: Mapping[str, float] | None = None,
    ood_share: float = DEFAULT_OOD_SHARE,
    min_region_points: int = DEFAULT_MIN_REGION_POINTS,
) -> ScanVerdict:
    """The verdict of the scorer of record on a scored scan.

    Parameters
    ----------
    scan:
        A scan with one or more raw score fields (``casl_score``, ``curvature_score`` ...).
    calibrations:
        Calibrations by scorer name (missing or ``None``: not calibrated).
    object_scores:
        Object scores by scorer name, as the scorers pooled them; when absent the mean of
        the top 1 % point scores (:func:`casl_core.scorers.pooling.object_score`).
    ood_share:
        Share of points outside the normal range beyond which the scan is out of distribution.
    min_region_points:
        Smallest region listed.

    Raises
    ------
    ConfigError
        On ``ood_share`` outside (0, 1], or a calibration filed under another scorer's name.
    """
    if not 0.0 < ood_share <= 1.0:
        raise ConfigError(f"out-of-distribution share must be in (0, 1], got {ood_share}")
    known = {k: v for k, v in calibrations.items() if v is not None}
    for key, given_cal in known.items():
        if given_cal.scorer != key:
            raise ConfigError(f"a calibration of scorer {given_cal.scorer!r} was given for scorer {key!r}")
    name = scorer_of_record(scan.fields, known)
    if name is None:
        return ScanVerdict(VerdictStatus.NOT_CALIBRATED, _best_scored(scan.fields), points=len(scan))
    cal = known[name]
    scores = np.asarray(scan.fields[cal.score_field], dtype=np.float64)
    given = (object_scores or {}).get(name)
    obj = float(given) if given is not None else pooled_object_score(np.nan_to_num(scores, nan=-np.inf))
    above = scores >= cal.point_threshold
    share = float(above.mean()) if len(scores) else 0.0
    outside = float(np.mean(scores >= cal.ood_threshold)) if len(scores) else 0.0
    if outside > ood_share:
        status = VerdictStatus.OUT_OF_DISTRIBUTION
    elif obj > cal.object_threshold:
        status = VerdictStatus.FAIL
    else:
        status = VerdictStatus.PASS
    regions: tuple[Region, ...] = ()
    if status is not VerdictStatus.OUT_OF_DISTRIBUTION and above.any():
        regions = _regions(scan, scores, cal.point_threshold, min_region_points)
        if not regions and status is VerdictStatus.FAIL:
            regions = _regions(scan, scores, cal.point_threshold, 1)
    return ScanVerdict(
        status=status,
        scorer=name,
        false_alarm_rate=cal.false_alarm_rate,
        object_score=obj,
        object_threshold=cal.object_threshold,
        point_threshold=cal.point_threshold,
        share_above=share,
        share_out_of_range=outside,
        points=len(scan),
        regions=regions,
    )


def _regions(scan: Scan, scores: np.ndarray, threshold: float, min_points: int) -> tuple[Region, ...]:
    found = find_regions(scan.points, scores, threshold, min_points=min_points).regions
    return tuple(sorted(found, key=lambda r: (-r.max_score, -r.size, r.peak_index)))


def region_hits(verdict: ScanVerdict, labels: np.ndarray) -> bool:
    """Whether the verdict's top region holds at least one point labelled anomalous."""
    top = verdict.top_region
    return top is not None and bool(np.asarray(labels)[top.indices].any())
