"""From per-point anomaly scores to one score per object.

The object score is the mean of the top-k point scores, with k a fixed fraction of the
scan's points (1 % by default, at least one point). A mean over the top 1 % is robust to a
single noisy point and still reacts to a defect that covers about 1 % of the surface,
which is the typical size of the defects in Real3D-AD and Anomaly-ShapeNet.
"""

from __future__ import annotations

import math

import numpy as np

from casl_core.errors import ConfigError

#: Default fraction of points whose scores are averaged into the object score.
DEFAULT_TOP_FRACTION = 0.01


def top_k_count(n_points: int, top_fraction: float = DEFAULT_TOP_FRACTION) -> int:
    """Number of points averaged for a scan of ``n_points``: ``ceil(top_fraction * n)``, at least 1.

    Raises
    ------
    ConfigError
        If ``top_fraction`` is not in (0, 1] or the scan is empty.
    """
    if not 0.0 < top_fraction <= 1.0:
        raise ConfigError(f"top fraction must be in (0, 1], got {top_fraction}")
    if n_points <= 0:
        raise ConfigError("cannot pool the scores of an empty scan")
    return max(1, math.ceil(top_fraction * n_points))


def object_score(point_scores: np.ndarray, top_fraction: float = DEFAULT_TOP_FRACTION) -> float:
    """Mean of the highest ``top_k_count(len(point_scores), top_fraction)`` point scores.

    Raises
    ------
    ConfigError
        If the scores are empty, not one-dimensional or not finite.
    """
    scores = np.asarray(point_scores, dtype=np.float64)
    if scores.ndim != 1:
        raise ConfigError(f"point scores must be one-dimensional, got shape {scores.shape}")
    k = top_k_count(len(scores), top_fraction)
    if not np.isfinite(scores).all():
        raise ConfigError("point scores contain NaN or infinite values")
    top = np.partition(scores, len(scores) - k)[len(scores) - k :]
    return float(top.mean())
