"""Neighbourhood covariances and surface variation, for NumPy arrays or torch tensors.

Every function here works unchanged on NumPy arrays (CPU) and on torch tensors (any
device): gathering is plain indexing, sums are ``.sum`` / ``.cumsum`` and the eigen
problem is :mod:`casl_core.geometry.eigen3`. All moments are taken relative to the query
point in float64, so clouds far from the origin lose no precision.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from casl_core.geometry.eigen3 import SYM6_PAIRS, Array, _xp, eigvalsh3, smallest_eigenvector3

#: A neighbourhood whose middle eigenvalue is at most this fraction of the largest is
#: treated as rank < 2 (points on a line or all at one place): no surface to measure.
RANK_TOLERANCE = 1e-8


class SurfaceVariation(NamedTuple):
    """Per-neighbourhood results of one scale (arrays of the input's library)."""

    curvature: Array  #: ``(C,)`` float64 ``l0 / (l0 + l1 + l2)`` in [0, 1/3]
    rank_deficient: Array  #: ``(C,)`` bool, True when the neighbourhood spans no plane
    normals: Array | None  #: ``(C, 3)`` float64 unit eigenvector of ``l0`` (sign arbitrary), if asked


def gather(values: Array, idx: Array) -> Array:
    """``values[idx]`` for a 1-D array (``np.take`` on NumPy, faster than fancy indexing)."""
    if isinstance(values, np.ndarray):
        return np.take(values, idx)
    return values[idx]


def _dot(a: Array, b: Array, xp) -> Array:
    """Row-wise dot products of two ``(C, K)`` arrays."""
    return xp.einsum("ck,ck->c", a, b)


def _covariance(sums: list[Array], count: Array, xp) -> Array:
    """``(C, 6)`` covariance from the sums of ``x`` (3) and of ``x x^T`` (6) over ``count`` points."""
    mean = [s / count for s in sums[:3]]
    return xp.stack([sums[3 + c] / count - mean[i] * mean[j] for c, (i, j) in enumerate(SYM6_PAIRS)], 1)


def point_covariances(columns: Array, centres: Array, idx: Array, ks: Sequence[int]) -> list[Array]:
    """Covariances of the first ``k`` neighbours of each centre, for several ``k`` at once.

    One gather at ``max(ks)``; running sums over consecutive blocks of the (nearest-first)
    neighbour axis give every ``k``.

    Parameters
    ----------
    columns:
        ``(3, M)`` float64 coordinates (x, y and z rows) indexed by ``idx``.
    centres:
        ``(C, 3)`` float64 query points (moments are taken relative to them).
    idx:
        ``(C, K)`` int64 neighbour indices, nearest first, ``K >= max(ks)``.
    ks:
        Increasing neighbourhood sizes, each ``<= K``.

    Returns
    -------
    list
        One ``(C, 6)`` covariance (about the neighbourhood mean, divided by ``k``) per ``k``.
    """
    xp = _xp(columns)
    xyz = [gather(columns[c], idx) - centres[:, c, None] for c in range(3)]
    out: list[Array] = []
    sums: list[Array] = []
    start = 0
    for k in ks:
        block = [a[:, start:k] for a in xyz]
        part = [b.sum(1) for b in block] + [_dot(block[i], block[j], xp) for i, j in SYM6_PAIRS]
        sums = part if not sums else [s + p for s, p in zip(sums, part)]
        out.append(_covariance(sums, float(k), xp))
        start = k
    return out


def weighted_point_covariances(columns: Array, centres: Array, idx: Array, take: Array) -> tuple[Array, Array]:
    """Covariances of weighted neighbourhoods: neighbour ``j`` of centre ``c`` counts ``take[c, j]`` times.

    With distinct positions standing for several coincident points, taking each position's
    copies nearest first until ``k`` (``take = clip(k - copies before, 0, copies)``) gives the
    same covariance as the ``k`` nearest points of the full cloud.

    Returns
    -------
    tuple
        ``(C, 6)`` covariances about the weighted mean and the ``(C,)`` weight totals.
    """
    xp = _xp(columns)
    xyz = [gather(columns[c], idx) - centres[:, c, None] for c in range(3)]
    count = take.sum(1)
    weighted = [take * a for a in xyz]
    sums = [w.sum(1) for w in weighted] + [_dot(weighted[i], xyz[j], xp) for i, j in SYM6_PAIRS]
    return _covariance(sums, count, xp), count


def cell_covariances(raw: Array, idx: Array, target: float) -> tuple[Array, Array]:
    """Covariance of the nearest cells around each centre, filled up to ``target`` points.

    Cells are taken nearest first (``idx`` is sorted by centroid distance) until they hold
    ``target`` points; the cell that crosses the target counts with the fraction of its
    points needed (its centroid kept, its count and scatter scaled), so every
    neighbourhood holds ``target`` points, like a k-nearest-neighbour one, unless the
    listed cells hold fewer. The covariance of a set of cells does not depend on where
    it is seen from, so the query points themselves are not needed.

    Parameters
    ----------
    raw:
        ``(10, M)`` float64 raw moments of the cells about the cloud's centroid
        (:meth:`~casl_core.geometry.voxel.VoxelMoments.raw`): count, sums of ``x``,
        sums of ``x x^T``.
    idx:
        ``(C, K)`` int64 cell indices, nearest first.
    target:
        Points wanted per neighbourhood.

    Returns
    -------
    tuple
        ``(covariance (C, 6), number of points used (C,))``.
    """
    xp = _xp(raw)
    n = gather(raw[0], idx)
    before = n.cumsum(1) - n
    weight = xp.clip((target - before) / n, 0.0, 1.0)
    total = _dot(weight, n, xp)
    sums = [_dot(weight, gather(raw[r], idx), xp) for r in range(1, 10)]
    return _covariance(sums, total, xp), total


def surface_variation(cov: Array, normals: bool = True) -> SurfaceVariation:
    """Surface variation, rank test and normal of each covariance ``(C, 6)``.

    The curvature is ``l0 / (l0 + l1 + l2)`` with ``l0 <= l1 <= l2`` the eigenvalues
    (``l0`` clipped at 0 against round-off); it is 0 when all eigenvalues are 0.
    Normals are computed only when ``normals`` is True.
    """
    xp = _xp(cov)
    l0, l1, l2 = eigvalsh3(cov)
    l0 = xp.clip(l0, 0.0, None)
    total = l0 + xp.clip(l1, 0.0, None) + xp.clip(l2, 0.0, None)
    curv = xp.where(total > 0.0, l0 / xp.where(total > 0.0, total, 1.0), 0.0)
    curv = xp.clip(curv, 0.0, 1.0 / 3.0)
    rank_deficient = l1 <= RANK_TOLERANCE * l2
    return SurfaceVariation(curv, rank_deficient, smallest_eigenvector3(cov, l0) if normals else None)
