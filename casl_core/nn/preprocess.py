"""Normalisation of a scan's points before voxelisation (the base code's preprocessing)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from casl_core.columns import column_max, column_mean, column_min
from casl_core.errors import ConfigError


@dataclass(frozen=True)
class PointTransform:
    """``normalized = (points - shift) / scale`` and back.

    Attributes
    ----------
    shift:
        ``(3,)`` float64 translation subtracted first.
    scale:
        Positive divisor applied after the shift.
    """

    shift: np.ndarray
    scale: float

    def apply(self, points: ArrayLike) -> np.ndarray:
        """Normalise ``(N, 3)`` points with this transform (float32)."""
        return ((np.asarray(points, dtype=np.float64) - self.shift) / self.scale).astype(np.float32)

    def invert(self, normalized: ArrayLike) -> np.ndarray:
        """Map normalised ``(N, 3)`` points back to the scan's units (float64)."""
        return np.asarray(normalized, dtype=np.float64) * self.scale + self.shift


def normalize_points(points: ArrayLike) -> tuple[np.ndarray, PointTransform]:
    """Centre and scale a scan into the unit sphere, as the CASL base code does.

    Steps: centre x and y on the bounding-box middle and z on the bounding-box minimum; then
    subtract the centroid of the result and divide by the largest distance to the origin.
    (The second centring makes the net shift the plain centroid; the first step is kept so the
    arithmetic follows the reference order.) Computed in float64.

    Parameters
    ----------
    points:
        ``(N, 3)`` finite coordinates, N >= 1.

    Returns
    -------
    tuple[np.ndarray, PointTransform]
        The ``(N, 3)`` float32 normalised points and the transform that produced them.

    Raises
    ------
    ConfigError
        On a wrong shape, an empty or non-finite array.
    """
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3 or p.shape[0] == 0:
        raise ConfigError(f"points must have shape (N, 3) with N > 0, got {p.shape}")
    if not np.isfinite(p).all():
        raise ConfigError("points contain NaN or infinite coordinates")
    lower, upper = column_min(p), column_max(p)
    box_centre = np.array([(lower[0] + upper[0]) / 2, (lower[1] + upper[1]) / 2, lower[2]])
    centred = p - box_centre
    centroid = column_mean(centred)
    centred = centred - centroid
    radius = float(np.sqrt((centred**2).sum(axis=1)).max())
    scale = radius if radius > 0 else 1.0
    transform = PointTransform(shift=box_centre + centroid, scale=scale)
    return (centred / scale).astype(np.float32), transform
