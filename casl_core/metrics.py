"""Evaluation metrics for anomaly detection: AUROC, AUPR, F1-max, AUPRO.

Every metric works on float64 copies of the inputs, is vectorised, and treats tied
scores exactly: points sharing a score are counted together at one threshold, as
scikit-learn does. A sample (point, object or pixel) is predicted anomalous when its
score is ``>=`` the threshold.

Definitions
-----------
AUROC
    Area under the ROC curve, computed as the Mann-Whitney statistic with mid-ranks
    for ties (identical to the trapezoidal area under scikit-learn's ROC curve).
AUPR
    Average precision, ``sum_k (R_k - R_{k-1}) P_k`` over the distinct thresholds in
    decreasing order (the definition of ``sklearn.metrics.average_precision_score``).
F1-max
    The largest F1 over the distinct thresholds of the precision-recall curve.
AUPRO
    The MVTec AD / MVTec 3D-AD per-region overlap: ground-truth regions are the
    8-connected components of each mask (``scipy.ndimage.label`` with a 3x3 block of
    ones, as the MVTec evaluation code does); the PRO at a threshold is the mean over
    all regions of all images of the fraction of the region's pixels at or above it;
    the FPR is over the normal pixels of all images together. The PRO curve,
    anchored at (0, 0) and (1, 1), is integrated with the trapezoidal rule up to
    ``fpr_limit`` (linear interpolation at the limit) and divided by ``fpr_limit``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy import ndimage
from scipy.stats import rankdata

from casl_core.errors import ConfigError

#: 8-connectivity, the structuring element of the MVTec evaluation code.
_REGION_STRUCTURE = np.ones((3, 3), dtype=int)


class F1Max(NamedTuple):
    """The best F1 over all thresholds and where it is reached.

    Attributes
    ----------
    f1, precision, recall:
        Values at the best threshold.
    threshold:
        The score at or above which a sample is called anomalous (the highest such
        threshold when several reach the same F1).
    """

    f1: float
    threshold: float
    precision: float
    recall: float


class PRCurve(NamedTuple):
    """Precision and recall at each distinct score, thresholds in decreasing order."""

    precision: np.ndarray
    recall: np.ndarray
    thresholds: np.ndarray


def _check_binary(labels: np.ndarray | Sequence, scores: np.ndarray | Sequence) -> tuple[np.ndarray, np.ndarray]:
    """Validate and return ``(labels as bool, scores as float64)``, both 1-D."""
    y = np.asarray(labels).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ConfigError(f"labels and scores differ in length: {y.size} labels, {s.size} scores")
    if y.size == 0:
        raise ConfigError("no labels and scores to evaluate")
    if np.isnan(s).any():
        raise ConfigError(f"{int(np.isnan(s).sum())} of {s.size} scores are NaN")
    if y.dtype != bool:
        if not np.isin(y, (0, 1)).all():
            bad = np.unique(y[~np.isin(y, (0, 1))])[:5]
            raise ConfigError(f"labels must be 0 or 1, found {bad.tolist()}")
        y = y.astype(bool)
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        kind = "anomalous" if n_pos else "normal"
        raise ConfigError(f"all {y.size} labels are {kind}: the metric needs both classes")
    return y, s


def auroc(labels: np.ndarray | Sequence, scores: np.ndarray | Sequence) -> float:
    """Area under the ROC curve.

    Parameters
    ----------
    labels:
        ``(N,)`` 0/1 or bool ground truth (1 = anomalous).
    scores:
        ``(N,)`` anomaly scores, higher = more anomalous.

    Returns
    -------
    float
        AUROC in [0, 1]; ties count one half.

    Raises
    ------
    ConfigError
        If the lengths differ, a score is NaN, a label is not 0/1, or one class is missing.
    """
    y, s = _check_binary(labels, scores)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    ranks = rankdata(s, method="average")
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (float(n_pos) * float(n_neg)))


def _counts_at_thresholds(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True and false positives at each distinct score (thresholds decreasing)."""
    order = np.argsort(-s, kind="stable")
    s_sorted = s[order]
    y_sorted = y[order]
    last_of_run = np.r_[np.flatnonzero(np.diff(s_sorted)), y.size - 1]
    tps = np.cumsum(y_sorted, dtype=np.float64)[last_of_run]
    fps = (last_of_run + 1).astype(np.float64) - tps
    return tps, fps, s_sorted[last_of_run]


def pr_curve(labels: np.ndarray | Sequence, scores: np.ndarray | Sequence) -> PRCurve:
    """Precision and recall at every distinct score, highest threshold first.

    Raises
    ------
    ConfigError
        As :func:`auroc`.
    """
    y, s = _check_binary(labels, scores)
    tps, fps, thresholds = _counts_at_thresholds(y, s)
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return PRCurve(precision, recall, thresholds)


def aupr(labels: np.ndarray | Sequence, scores: np.ndarray | Sequence) -> float:
    """Average precision, as ``sklearn.metrics.average_precision_score``.

    Raises
    ------
    ConfigError
        As :func:`auroc`.
    """
    curve = pr_curve(labels, scores)
    gains = np.diff(curve.recall, prepend=0.0)
    return float(np.sum(gains * curve.precision))


def f1_max(labels: np.ndarray | Sequence, scores: np.ndarray | Sequence) -> F1Max:
    """The best F1 score over all thresholds.

    Returns
    -------
    F1Max
        ``(f1, threshold, precision, recall)``; predict anomalous when ``score >= threshold``.

    Raises
    ------
    ConfigError
        As :func:`auroc`.
    """
    curve = pr_curve(labels, scores)
    p, r = curve.precision, curve.recall
    denom = p + r
    f1 = np.divide(2.0 * p * r, denom, out=np.zeros_like(p), where=denom > 0)
    best = int(np.argmax(f1))
    return F1Max(float(f1[best]), float(curve.thresholds[best]), float(p[best]), float(r[best]))


def _check_maps(gt_masks: Sequence[np.ndarray], score_maps: Sequence[np.ndarray]) -> None:
    if len(gt_masks) != len(score_maps):
        raise ConfigError(f"{len(gt_masks)} ground-truth masks but {len(score_maps)} score maps")
    if len(gt_masks) == 0:
        raise ConfigError("no masks to evaluate")
    for i, (m, a) in enumerate(zip(gt_masks, score_maps)):
        m, a = np.asarray(m), np.asarray(a)
        if m.ndim != 2 or m.shape != a.shape:
            raise ConfigError(f"image {i}: mask shape {m.shape} and score-map shape {a.shape} must be equal and 2-D")
        if np.isnan(a).any():
            raise ConfigError(f"image {i}: {int(np.isnan(a).sum())} scores are NaN")


def pro_curve(gt_masks: Sequence[np.ndarray], score_maps: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The per-region-overlap curve: ``(fpr, pro)`` at each distinct score, from (0, 0) to (1, 1).

    See the module docstring for the definition. Masks are nonzero on anomalous pixels.

    Raises
    ------
    ConfigError
        If counts or shapes differ, a score is NaN, or there is no anomalous region
        or no normal pixel.
    """
    _check_maps(gt_masks, score_maps)
    fp_weight, pro_weight, scores = [], [], []
    n_regions = 0
    for mask, amap in zip(gt_masks, score_maps):
        regions, n = ndimage.label(np.asarray(mask) != 0, structure=_REGION_STRUCTURE)
        region_sizes = np.bincount(regions.ravel(), minlength=n + 1).astype(np.float64)
        per_pixel = np.zeros(n + 1)
        per_pixel[1:] = 1.0 / region_sizes[1:]
        flat = regions.ravel()
        pro_weight.append(per_pixel[flat])
        fp_weight.append((flat == 0).astype(np.float64))
        scores.append(np.asarray(amap, dtype=np.float64).ravel())
        n_regions += n
    fp_w = np.concatenate(fp_weight)
    n_ok = fp_w.sum()
    if n_regions == 0:
        raise ConfigError("no anomalous region in any mask: AUPRO needs at least one")
    if n_ok == 0:
        raise ConfigError("no normal pixel in any mask: AUPRO needs some")
    s = np.concatenate(scores)
    order = np.argsort(-s, kind="stable")
    s_sorted = s[order]
    last_of_run = np.r_[np.flatnonzero(np.diff(s_sorted)), s.size - 1]
    fpr = np.cumsum(fp_w[order])[last_of_run] / n_ok
    pro = np.cumsum(np.concatenate(pro_weight)[order])[last_of_run] / n_regions
    fpr = np.clip(fpr, 0.0, 1.0)
    pro = np.clip(pro, 0.0, 1.0)
    return np.r_[0.0, fpr, 1.0], np.r_[0.0, pro, 1.0]


def _area_up_to(x: np.ndarray, y: np.ndarray, x_max: float) -> float:
    """Trapezoidal area under ``y(x)`` (x non-decreasing) from ``x[0]`` to ``x_max``."""
    inside = x <= x_max
    area = float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(x) * inside[1:]))
    last = int(np.flatnonzero(inside)[-1])
    if last + 1 < x.size and x[last] < x_max:
        x0, x1, y0, y1 = x[last], x[last + 1], y[last], y[last + 1]
        y_at = y0 + (y1 - y0) * (x_max - x0) / (x1 - x0)
        area += 0.5 * (y0 + y_at) * (x_max - x0)
    return area


def aupro(gt_masks: Sequence[np.ndarray], score_maps: Sequence[np.ndarray], fpr_limit: float = 0.3) -> float:
    """Normalised area under the PRO curve up to ``fpr_limit`` (MVTec AUPRO).

    Parameters
    ----------
    gt_masks:
        One ``(H, W)`` mask per image, nonzero on anomalous pixels.
    score_maps:
        One ``(H, W)`` anomaly map per image, same shapes.
    fpr_limit:
        Integration limit in (0, 1]; 0.3 is the published protocol.

    Returns
    -------
    float
        In [0, 1].

    Raises
    ------
    ConfigError
        As :func:`pro_curve`, or a limit outside (0, 1].
    """
    if not 0.0 < fpr_limit <= 1.0:
        raise ConfigError(f"fpr_limit must be in (0, 1], got {fpr_limit}")
    fpr, pro = pro_curve(gt_masks, score_maps)
    return _area_up_to(fpr, pro, fpr_limit) / fpr_limit


def score_map(
    pixel_index: np.ndarray, scores: np.ndarray, shape: tuple[int, int], fill: float | None = None
) -> np.ndarray:
    """Scatter per-point scores of an organized scan back into an ``(H, W)`` image.

    Parameters
    ----------
    pixel_index:
        Flat pixel index ``row * W + col`` of each point (``ScanMetadata.pixel_index``).
    scores:
        One score per point.
    shape:
        ``(H, W)``.
    fill:
        Score of pixels without a point; default the lowest point score.

    Raises
    ------
    ConfigError
        If lengths differ or an index falls outside the image.
    """
    idx = np.asarray(pixel_index, dtype=np.int64).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if idx.shape != s.shape:
        raise ConfigError(f"{idx.size} pixel indices but {s.size} scores")
    h, w = shape
    if idx.size and (idx.min() < 0 or idx.max() >= h * w):
        raise ConfigError(f"pixel index outside a {h}x{w} image")
    if fill is None:
        fill = float(s.min()) if s.size else 0.0
    out = np.full(h * w, fill, dtype=np.float64)
    out[idx] = s
    return out.reshape(h, w)
