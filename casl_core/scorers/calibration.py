"""Thresholds learnt from normal scans only: a scorer's calibration.

A :class:`Calibration` says, for one scorer and its score field, where "anomalous" starts:

point threshold
    the ``1 - false_alarm_rate`` quantile (numpy's default, linear) of the point scores of
    the normal scans and their augmented copies pooled, so that about ``false_alarm_rate``
    of normal points score at or above it. Default rate :data:`DEFAULT_FALSE_ALARM_RATE`.
object threshold
    ``max + margin * (max - median)`` of the normal scans' object scores (originals and
    copies); a scan whose object score is above it fails. Default margin
    :data:`DEFAULT_OBJECT_MARGIN`.
out-of-distribution threshold
    the ``1 - OOD_REFERENCE_RATE`` (99 %) quantile of the same normal point scores: the upper
    end of the normal range, used by the out-of-distribution rule of
    :mod:`casl_core.inspection.verdict` whatever the chosen false-alarm rate.
normalised score
    anomalib's display convention: the raw score mapped linearly to [0, 1] with the point
    threshold at exactly 0.5, ``norm_low`` (the lowest normal score) at 0 and ``norm_high``
    (as far above the threshold as ``norm_low`` is below it) at 1, clipped. It is written
    as the field :func:`casl_core.fields.normalised_field` of the raw field, which is kept.

Normal data counts "augmented copies" too (:func:`augmented_copy`: a resampled, noisy
copy in a slightly different pose), so the thresholds are not learnt on the exact point
layouts the scorer may have been trained or referenced on. A scorer with references
(:class:`~casl_core.scorers.base.ReferenceScorer`) scores each normal scan without that
scan among its references (leave-one-out).

Calibrations are stored as JSON (:func:`casl_core.scorers.calibration_io.write_calibration` and ``read_calibration``) or
inside a CASL checkpoint's description (key ``calibration``); both are checked on reading.
The JSON I/O lives in :mod:`casl_core.scorers.calibration_io`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from casl_core import __version__
from casl_core.errors import CalibrationError, ConfigError
from casl_core.fields import normalised_field
from casl_core.progress import CancelFn, ProgressFn, check_cancel, report
from casl_core.scan import Scan
from casl_core.scorers.base import Scorer

#: Version of the calibration document; bumped when its meaning changes.
CALIBRATION_VERSION = 1
#: Share of normal points allowed at or above the point threshold by default (measured in
#: ``benchmarks/README.md``, "Calibration": more defects localised than at 1e-3).
DEFAULT_FALSE_ALARM_RATE = 1e-2
#: The normal range's upper end used by the out-of-distribution rule: the ``1 - OOD_REFERENCE_RATE``
#: quantile of normal point scores, whatever false-alarm rate the point threshold was chosen at.
OOD_REFERENCE_RATE = 1e-2
#: Margin of the object threshold above the largest normal object score, in units of
#: ``max - median`` of the normal object scores.
DEFAULT_OBJECT_MARGIN = 0.25
#: Augmented copies scored per normal scan.
DEFAULT_COPIES = 2
#: Largest rotation of an augmented copy, in degrees.
DEFAULT_MAX_ANGLE = 5.0


@dataclass(frozen=True)
class Calibration:
    """The thresholds of one scorer, learnt from normal data.

    Attributes
    ----------
    scorer:
        The scorer's name (``"curvature"``, ``"casl"``, ``"deviation"``, ``"fused"``).
    score_field:
        The raw per-point field it writes (:func:`casl_core.fields.score_field`).
    false_alarm_rate:
        The share of normal points chosen to lie at or above ``point_threshold``, in (0, 1).
    point_threshold:
        Points scoring at or above it are anomalous.
    object_threshold:
        Scans whose object score is above it fail.
    ood_threshold:
        Upper end of the normal range: the ``1 - OOD_REFERENCE_RATE`` quantile of the normal
        point scores; a scan with most points above it is out of distribution.
    norm_low, norm_high:
        Raw scores mapped to 0 and 1 by :meth:`normalise` (``norm_low < point_threshold < norm_high``).
    object_margin:
        The margin used for ``object_threshold`` (see the module docstring).
    normal_scans:
        Normal scans it was learnt from (originals).
    augmented_scans:
        Augmented copies scored besides them.
    normal_points:
        Point scores pooled for the point threshold.
    normal_share_above:
        Share of those points at or above ``point_threshold`` (close to ``false_alarm_rate``).
    object_max, object_median:
        Largest and median normal object score.
    leave_one_out:
        Whether the normal scans were scored without themselves as references.
    data_fingerprint:
        SHA-256 over the sorted SHA-256 digests of the normal scans' float32 coordinates.
    casl_version:
        Version of casl that learnt it.
    version:
        :data:`CALIBRATION_VERSION`.
    """

    scorer: str
    score_field: str
    false_alarm_rate: float
    point_threshold: float
    object_threshold: float
    ood_threshold: float
    norm_low: float
    norm_high: float
    object_margin: float
    normal_scans: int
    augmented_scans: int
    normal_points: int
    normal_share_above: float
    object_max: float
    object_median: float
    leave_one_out: bool = False
    data_fingerprint: str = ""
    casl_version: str = __version__
    version: int = CALIBRATION_VERSION
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def normalised_field(self) -> str:
        """The field the normalised scores are written to (``<score_field>_norm``)."""
        return normalised_field(self.score_field)

    def normalise(self, raw: np.ndarray) -> np.ndarray:
        """Float32 scores in [0, 1], 0.5 at ``point_threshold``, non-decreasing in ``raw`` (NaN stays NaN)."""
        x = np.asarray(raw, dtype=np.float64)
        t, lo, hi = self.point_threshold, self.norm_low, self.norm_high
        below = 0.5 * (x - lo) / (t - lo)
        above = 0.5 + 0.5 * (x - t) / (hi - t)
        out = np.where(x < t, below, above)
        return np.clip(out, 0.0, 1.0).astype(np.float32)

    def apply(self, scan: Scan) -> Scan:
        """``scan`` with the normalised twin of its raw score field added.

        Raises
        ------
        CalibrationError
            If the scan lacks the raw field.
        """
        if self.score_field not in scan.fields:
            raise CalibrationError(
                f"{scan.metadata.source or scan.name}: no {self.score_field!r} field to normalise; score it first"
            )
        return scan.with_fields(**{self.normalised_field: self.normalise(scan.fields[self.score_field])})

    def summary(self) -> str:
        """One line for people: scorer, rate, thresholds and how much data they came from."""
        return (
            f"{self.scorer}: point threshold {self.point_threshold:.6g} at {self.false_alarm_rate:g} false alarms "
            f"({self.normal_share_above:.2%} of {self.normal_points:,} normal points above), object threshold "
            f"{self.object_threshold:.6g} (normal max {self.object_max:.6g}), from {self.normal_scans} scans "
            f"+ {self.augmented_scans} augmented copies{' (leave-one-out)' if self.leave_one_out else ''}"
        )


def point_threshold(scores: np.ndarray, false_alarm_rate: float) -> float:
    """The ``1 - false_alarm_rate`` quantile of normal point scores (numpy's linear quantile).

    Raises
    ------
    ConfigError
        If the rate is not in (0, 1), or the scores are empty or not finite.
    """
    _check_rate(false_alarm_rate)
    s = np.asarray(scores, dtype=np.float64).ravel()
    if s.size == 0 or not np.isfinite(s).all():
        raise ConfigError("calibration needs finite normal point scores; got none or NaN/inf")
    return float(np.quantile(s, 1.0 - false_alarm_rate))


def object_threshold(object_scores: Sequence[float] | np.ndarray, margin: float = DEFAULT_OBJECT_MARGIN) -> float:
    """``max + margin * (max - median)`` of normal object scores (see the module docstring).

    Raises
    ------
    ConfigError
        If the margin is negative, or the scores are empty or not finite.
    """
    if not margin >= 0:
        raise ConfigError(f"object threshold margin must be >= 0, got {margin}")
    s = np.asarray(object_scores, dtype=np.float64)
    if s.size == 0 or not np.isfinite(s).all():
        raise ConfigError("calibration needs finite normal object scores; got none or NaN/inf")
    top = float(s.max())
    return top + margin * (top - float(np.median(s)))


def _check_rate(rate: float) -> None:
    if not (isinstance(rate, (int, float)) and 0.0 < rate < 1.0):
        raise ConfigError(f"false-alarm rate must be in (0, 1), got {rate}")


def learn_calibration(
    scorer: str,
    score_field: str,
    point_scores: Sequence[np.ndarray],
    object_scores: Sequence[float],
    *,
    normal_scans: int,
    false_alarm_rate: float = DEFAULT_FALSE_ALARM_RATE,
    object_margin: float = DEFAULT_OBJECT_MARGIN,
    leave_one_out: bool = False,
    data_fingerprint: str = "",
    notes: Sequence[str] = (),
) -> Calibration:
    """A :class:`Calibration` from the scores of normal scans (originals and augmented copies).

    Parameters
    ----------
    scorer, score_field:
        Name of the scorer and its raw field.
    point_scores:
        Per-point scores of every normal scan and copy, pooled for the point threshold.
    object_scores:
        Their object scores.
    normal_scans:
        How many of them are originals (the rest are augmented copies).

    Raises
    ------
    ConfigError
        On an empty or non-finite input, a bad rate or margin, or mismatched counts.
    """
    if len(point_scores) != len(object_scores) or not 1 <= normal_scans <= len(object_scores):
        raise ConfigError(
            f"calibration: {len(point_scores)} point score arrays, {len(object_scores)} object scores "
            f"and {normal_scans} original scans do not fit together"
        )
    pooled = np.concatenate([np.asarray(p, dtype=np.float64).ravel() for p in point_scores])
    thr = point_threshold(pooled, false_alarm_rate)
    low = float(pooled.min())
    span = max(thr - low, 1e-9 * max(1.0, abs(thr)))
    objects = np.asarray(object_scores, dtype=np.float64)
    return Calibration(
        scorer=scorer,
        score_field=score_field,
        false_alarm_rate=float(false_alarm_rate),
        point_threshold=thr,
        object_threshold=object_threshold(objects, object_margin),
        ood_threshold=float(np.quantile(pooled, 1.0 - OOD_REFERENCE_RATE)),
        norm_low=thr - span,
        norm_high=thr + span,
        object_margin=float(object_margin),
        normal_scans=int(normal_scans),
        augmented_scans=int(len(object_scores) - normal_scans),
        normal_points=int(pooled.size),
        normal_share_above=float(np.mean(pooled >= thr)),
        object_max=float(objects.max()),
        object_median=float(np.median(objects)),
        leave_one_out=bool(leave_one_out),
        data_fingerprint=data_fingerprint,
        notes=tuple(notes),
    )


def augmented_copy(
    scan: Scan, rng: np.random.Generator, *, max_angle: float = DEFAULT_MAX_ANGLE, keep: float = 0.9
) -> Scan:
    """Another plausible scan of the same part: resampled, noisy, slightly rotated and shifted.

    The copy keeps ``keep`` of the points (:func:`casl_core.synth.testset.jittered_copy`, with
    its noise), is rotated by up to ``max_angle`` degrees about its centroid and shifted by up
    to 1 % of its diagonal. Computed fields, labels and normals are dropped (they would be stale).
    """
    from scipy.spatial.transform import Rotation

    from casl_core.synth.testset import jittered_copy

    copy = jittered_copy(replace(scan, fields={}, normals=None, labels=None), rng, keep=keep)
    lo, hi = copy.bounds()
    diagonal = float(np.linalg.norm(hi - lo))
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis) or 1.0
    angle = np.deg2rad(rng.uniform(-max_angle, max_angle))
    rotation = Rotation.from_rotvec(axis * angle).as_matrix()
    centre = copy.points.astype(np.float64).mean(axis=0)
    shift = rng.uniform(-0.01, 0.01, size=3) * diagonal
    moved = (copy.points.astype(np.float64) - centre) @ rotation.T + centre + shift
    return replace(copy, points=moved.astype(np.float32))


def scan_digest(scan: Scan) -> str:
    """SHA-256 of a scan's float32 coordinates (the same points give the same digest)."""
    return hashlib.sha256(np.ascontiguousarray(scan.points, dtype=np.float32).tobytes()).hexdigest()


def _load(item: Scan | str | os.PathLike[str]) -> Scan:
    if isinstance(item, Scan):
        return item
    from casl_core.io import read_scan

    return read_scan(Path(item))


def calibrate(
    scorer: Scorer,
    normal: Sequence[Scan | str | os.PathLike[str]],
    *,
    false_alarm_rate: float = DEFAULT_FALSE_ALARM_RATE,
    object_margin: float = DEFAULT_OBJECT_MARGIN,
    copies: int = DEFAULT_COPIES,
    extra_copies_of: Sequence[Scan | str | os.PathLike[str]] = (),
    seed: int = 0,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> Calibration:
    """Learn ``scorer``'s calibration from normal scans (see the module docstring).

    Parameters
    ----------
    scorer:
        Any :class:`~casl_core.scorers.base.Scorer`; one with ``without_reference``
        (:class:`~casl_core.scorers.base.ReferenceScorer`) scores each scan leave-one-out.
    normal:
        The normal scans (or their files); each is scored with ``copies`` augmented copies.
    extra_copies_of:
        Further normal scans of which only ``copies`` augmented copies are scored (CASL's
        training scans: the model has seen them, but not these copies).
    seed:
        Seed of the augmentation.

    Raises
    ------
    ConfigError
        With no normal scan, ``copies < 0``, or as :func:`learn_calibration`.
    ScanFormatError
        When a file cannot be read.
    Cancelled
        When ``cancel`` asks to stop.
    """
    from casl_core.fields import score_field

    if not normal:
        raise ConfigError("calibration needs at least one normal scan")
    if copies < 0:
        raise ConfigError(f"augmented copies per scan must be >= 0, got {copies}")
    rng = np.random.default_rng([seed, 4242])
    jobs = [(item, True) for item in normal] + [(item, False) for item in extra_copies_of]
    points, objects, digests = [], [], []
    leave_out = getattr(scorer, "without_reference", None)
    loo = callable(leave_out)
    for done, (item, original) in enumerate(jobs):
        check_cancel(cancel)
        scan = _load(item)
        report(progress, "calibrate", done, len(jobs), scan.name)
        own = leave_out(scan.metadata.source) if leave_out is not None and scan.metadata.source else scorer
        variants = ([scan] if original else []) + [augmented_copy(scan, rng) for _ in range(copies)]
        for variant in variants:
            check_cancel(cancel)
            result = own.score(variant, cancel=cancel)
            points.append(np.asarray(result.point_scores))
            objects.append(float(result.object_score))
        if original:
            digests.append(scan_digest(scan))
    report(progress, "calibrate", len(jobs), len(jobs))
    if not points:
        raise ConfigError("calibration: nothing was scored (no normal scan and no copy)")
    return learn_calibration(
        scorer.name,
        score_field(scorer.name),
        points,
        objects,
        normal_scans=len(digests),
        false_alarm_rate=false_alarm_rate,
        object_margin=object_margin,
        leave_one_out=loo,
        data_fingerprint=_fingerprint(digests),
    )


def _fingerprint(digests: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sorted(digests)).encode()).hexdigest()
