"""The voxel pyramid behind the coarse scales of the default multi-scale curvature.

A scale of ``s`` points is served by a grid whose occupied cells hold about
``s / CELLS_PER_NEIGHBOURHOOD`` points each: a point's neighbourhood at that scale is the
union of the ``CELLS_PER_NEIGHBOURHOOD`` cells whose centroids are nearest to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from casl_core.columns import column_max, column_min
from casl_core.geometry.neighbors import KnnIndex
from casl_core.geometry.voxel import VoxelMoments, calibrated_cells, voxel_moments

#: Mean number of cells that make up one neighbourhood: a scale of ``s`` points uses
#: cells holding about ``s / CELLS_PER_NEIGHBOURHOOD`` points.
CELLS_PER_NEIGHBOURHOOD = 16

#: Nearest cells used per point; cells are taken nearest first until they hold the
#: scale's number of points, so some slack above ``CELLS_PER_NEIGHBOURHOOD`` is needed.
CELLS_QUERIED = 24

#: Candidate cells kept per cell: the nearest cells to the cell's own centroid. A point's
#: ``CELLS_QUERIED`` nearest cells are picked among its cell's candidates (one k-d tree
#: query per cell instead of per point; a point lies within half a cell of its centroid,
#: so the slack of 8 cells covers the shift).
CELL_CANDIDATES = 32

#: Scales at least this large are evaluated once per cell of the finest grid (about 4
#: points), not once per point: the points of such a cell share the neighbourhood around its
#: centroid. At 256 points the neighbourhood is about 8 of those cells across, so the shift
#: changes little, and it saves a nearest-cell ranking per point.
PER_CELL_SCALE = 256

#: Points sampled to estimate the point spacing that seeds the cell-size search.
_SPACING_SAMPLE = 4096


@dataclass(frozen=True)
class PyramidLevel:
    """One grid of the pyramid: its cell moments and each cell's nearest cells.

    ``candidates[c]`` lists the ``CELL_CANDIDATES`` cells nearest to cell ``c``'s
    centroid (itself first); :meth:`nearest_cells` ranks them for each query point.
    """

    scale: int
    cells: VoxelMoments
    candidates: np.ndarray
    _columns: tuple[np.ndarray, np.ndarray, np.ndarray] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        cols = tuple(np.ascontiguousarray(self.cells.centroids[:, i], dtype=np.float32) for i in range(3))
        object.__setattr__(self, "_columns", cols)

    def nearest_cells(self, queries: np.ndarray, near: np.ndarray) -> np.ndarray:
        """The ``CELLS_QUERIED`` cells nearest to each query point, nearest first.

        ``near[i]`` is a cell of this level that query ``i`` lies in or next to (its own
        cell); the query's cells are picked among that cell's candidates. Distances are
        ranked in float32 (coordinates are centred, so ranking loses nothing that
        matters), one coordinate at a time: gathering three separate columns is several
        times faster than gathering ``(Q, K, 3)`` rows. The ranking sorts int32 keys that
        hold a squared distance's bits with its low bits replaced by the candidate's
        column (non-negative floats order like their bit patterns), about three times
        faster than ``argsort``; distances closer than 2**-18 relative tie, and ties go
        to the candidate listed first.
        """
        cand = self.candidates[near]
        q = queries.astype(np.float32)
        d2 = np.square(self.centroid_columns[0][cand] - q[:, 0:1])
        d2 += np.square(self.centroid_columns[1][cand] - q[:, 1:2])
        d2 += np.square(self.centroid_columns[2][cand] - q[:, 2:3])
        width = cand.shape[1]
        low = np.int32((1 << max(1, (width - 1).bit_length())) - 1)
        keys = d2.view(np.int32)
        keys &= ~low
        keys |= np.arange(width, dtype=np.int32)
        keys.sort(axis=1)
        keep = min(CELLS_QUERIED, width)
        return np.take_along_axis(cand, keys[:, :keep] & low, axis=1)

    @property
    def centroid_columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The cell centroids as three contiguous float32 columns."""
        return self._columns


def point_spacing(points: np.ndarray, index: KnnIndex) -> float:
    """Median distance from a point to its ``CELLS_PER_NEIGHBOURHOOD``-th neighbour (sampled)."""
    rng = np.random.default_rng(0)
    n = len(points)
    sample = points if n <= _SPACING_SAMPLE else points[rng.choice(n, _SPACING_SAMPLE, replace=False)]
    dist, _ = index.query(sample, CELLS_PER_NEIGHBOURHOOD, workers=-1)
    return float(np.median(dist[:, -1]))


def first_guesses(points: np.ndarray, index: KnnIndex, scales: tuple[int, ...]) -> list[float]:
    """A starting cell edge per scale, from the point spacing, for :func:`build_level`.

    On a surface a cell of edge ``a`` holds about ``a**2 / area_per_point`` points, and a
    scale of ``s`` points wants ``s / CELLS_PER_NEIGHBOURHOOD`` per cell.
    """
    k = min(CELLS_PER_NEIGHBOURHOOD, len(points))
    spacing = point_spacing(points, index)
    extent = float(np.max(column_max(points) - column_min(points)))
    if spacing <= 0.0:
        # Mostly duplicates: fall back on the extent shared evenly between the points.
        spacing = extent * np.sqrt(k / len(points)) if extent > 0 else 1.0
    area_per_point = np.pi * spacing**2 / k
    return [float(np.sqrt(s / CELLS_PER_NEIGHBOURHOOD * area_per_point)) for s in scales]


def build_level(points: np.ndarray, scale: int, guess: float, *, workers: int = 1) -> PyramidLevel:
    """The grid of one scale: cell edge calibrated from ``guess``, moments, candidates.

    ``workers`` is passed to the k-d tree query of the candidates (``-1``: all cores).
    Levels are independent of each other, so they can be built on separate threads.
    """
    bounds = (column_min(points), column_max(points))
    if float(np.max(bounds[1] - bounds[0])) > 0:
        size, index = calibrated_cells(points, scale / CELLS_PER_NEIGHBOURHOOD, guess, bounds=bounds)
        cells = voxel_moments(points, size, index)
    else:
        cells = voxel_moments(points, 1.0)
    _, candidates = KnnIndex(cells.centroids).query(cells.centroids, CELL_CANDIDATES, workers=workers)
    return PyramidLevel(scale, cells, candidates)


def build_pyramid(points: np.ndarray, index: KnnIndex, scales: tuple[int, ...]) -> list[PyramidLevel]:
    """Grids for each coarse scale, cell sizes calibrated on the cloud itself.

    Parameters
    ----------
    points:
        ``(N, 3)`` float64 coordinates, centred near the origin.
    index:
        The k-d tree over ``points`` (used to estimate the point spacing).
    scales:
        Target neighbourhood sizes, each a multiple of ``CELLS_PER_NEIGHBOURHOOD``.

    Returns
    -------
    list of PyramidLevel
        One level per scale, finest first.
    """
    guesses = first_guesses(points, index, scales)
    return [build_level(points, s, g, workers=-1) for s, g in zip(scales, guesses)]
