"""Voxel grids that keep the moments of the points they hold.

Each occupied cell stores its point count, its centroid and the scatter matrix of its
points about that centroid (six entries, ordered as in :mod:`casl_core.geometry.eigen3`).
That is everything needed to get the exact covariance of any union of cells about any
centre (parallel-axis rule), which is how the coarse curvature scales are computed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from casl_core.columns import column_max, column_min
from casl_core.errors import ConfigError
from casl_core.geometry.eigen3 import SYM6_PAIRS


@dataclass(frozen=True)
class VoxelMoments:
    """Per-cell moments of a point cloud on a cubic grid.

    Attributes
    ----------
    size:
        Cell edge length, in the units of the points.
    counts:
        ``(M,)`` float64 number of points in each occupied cell.
    centroids:
        ``(M, 3)`` float64 mean of each cell's points.
    scatter:
        ``(M, 6)`` float64 sum of ``(x - centroid)(x - centroid)^T`` over each cell's points.
    point_cell:
        ``(N,)`` int64 cell of each input point.
    """

    size: float
    counts: np.ndarray
    centroids: np.ndarray
    scatter: np.ndarray
    point_cell: np.ndarray

    def __len__(self) -> int:
        return len(self.counts)

    def raw(self) -> np.ndarray:
        """``(10, M)`` raw moments about the origin: count, sums of ``x`` (3), of ``x x^T`` (6).

        Sums of these rows over any set of cells give that set's moments; keep the
        coordinates centred so that the covariance ``sum xx^T / n - mean mean^T`` loses
        little to cancellation.
        """
        c = self.centroids
        outer = np.stack([c[:, i] * c[:, j] for i, j in SYM6_PAIRS], axis=1)
        second = self.scatter + self.counts[:, None] * outer
        return np.ascontiguousarray(np.concatenate([self.counts[:, None], self.counts[:, None] * c, second], axis=1).T)


def cell_index(points: np.ndarray, size: float, bounds: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Index of the occupied cell of each point, numbered ``0..M-1`` in key order.

    Parameters
    ----------
    points:
        ``(N, 3)`` float coordinates.
    size:
        Cell edge length (> 0).
    bounds:
        ``(column_min(points), column_max(points))`` when the caller already has them.

    Returns
    -------
    numpy.ndarray
        ``(N,)`` int64 cell numbers.

    Raises
    ------
    ConfigError
        If ``size`` is not a positive finite number.
    """
    if not (np.isfinite(size) and size > 0):
        raise ConfigError(f"voxel size must be a positive number, got {size}")
    lo, hi = (column_min(points), column_max(points)) if bounds is None else bounds
    ijk = np.floor((points - lo) / size).astype(np.int64)
    # rounding is monotone, so the largest cell index is the one of the upper bound
    dims = np.floor((hi - lo) / size).astype(np.int64) + 1
    if float(dims[0]) * float(dims[1]) * float(dims[2]) < 2.0**62:
        keys = (ijk[:, 0] * dims[1] + ijk[:, 1]) * dims[2] + ijk[:, 2]
        return np.unique(keys, return_inverse=True)[1].reshape(-1)
    return np.unique(ijk, axis=0, return_inverse=True)[1].reshape(-1)


def voxel_moments(points: np.ndarray, size: float, cells: np.ndarray | None = None) -> VoxelMoments:
    """Count, centroid and centred scatter of the points in each cell of edge ``size``.

    Parameters
    ----------
    points:
        ``(N, 3)`` float64 coordinates (best near the origin).
    size:
        Cell edge length.
    cells:
        ``cell_index(points, size)`` when the caller already has it.

    Returns
    -------
    VoxelMoments
    """
    inv = cell_index(points, size) if cells is None else cells
    m = int(inv.max()) + 1
    # Number the cells in the order their first points come: for points in a spatially
    # coherent order (as the curvature pass keeps them) nearby cells get nearby numbers,
    # which makes later searches and gathers over the cells cache friendly.
    first = np.empty(m, dtype=np.int64)
    first[inv[::-1]] = np.arange(len(inv) - 1, -1, -1)
    rank = np.empty(m, dtype=np.int64)
    rank[np.argsort(first)] = np.arange(m)
    inv = rank[inv]
    counts = np.bincount(inv, minlength=m).astype(np.float64)
    centroids = np.stack([np.bincount(inv, points[:, c], m) for c in range(3)], axis=1) / counts[:, None]
    rel = points - centroids[inv]
    scatter = np.stack([np.bincount(inv, rel[:, i] * rel[:, j], m) for i, j in SYM6_PAIRS], axis=1)
    return VoxelMoments(size=float(size), counts=counts, centroids=centroids, scatter=scatter, point_cell=inv)


def calibrated_cells(
    points: np.ndarray,
    occupancy: float,
    first_guess: float,
    *,
    steps: int = 3,
    bounds: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[float, np.ndarray]:
    """A cell edge whose occupied cells hold about ``occupancy`` points on average, and the
    :func:`cell_index` of the points at that size.

    The mean occupancy grows like ``size ** alpha`` (``alpha`` is 2 on a surface, 3 in a
    volume); the search starts at ``first_guess`` and takes up to ``steps`` secant steps on
    ``log(size)``, stopping once within 8 %.

    ``bounds`` are ``(column_min(points), column_max(points))`` when the caller has them.

    Raises
    ------
    ConfigError
        If ``occupancy`` or ``first_guess`` is not positive.
    """
    if occupancy <= 0 or not (np.isfinite(first_guess) and first_guess > 0) or steps < 1:
        raise ConfigError(f"cell calibration needs positive values, got {occupancy=} {first_guess=} {steps=}")
    n = len(points)
    if bounds is None:
        bounds = (column_min(points), column_max(points))
    size, alpha = float(first_guess), 2.0
    best: tuple[float, float, np.ndarray] = (np.inf, size, np.empty(0, dtype=np.int64))
    prev: tuple[float, float] | None = None
    for _ in range(steps):
        cells = cell_index(points, size, bounds)
        occ = n / (int(cells.max()) + 1)
        err = abs(np.log(occ / occupancy))
        if err < best[0]:
            best = (err, size, cells)
        if err < np.log(1.08):
            break
        if prev is not None and prev[0] != size and prev[1] != occ:
            alpha = float(np.clip(np.log(occ / prev[1]) / np.log(size / prev[0]), 1.0, 3.0))
        prev = (size, occ)
        size *= (occupancy / occ) ** (1.0 / alpha)
    return best[1], best[2]
