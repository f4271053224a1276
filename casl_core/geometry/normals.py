"""Normals and surface variation of exact k-nearest-neighbour neighbourhoods at chosen points.

The same covariance and eigen-solver as the curvature pass (:mod:`casl_core.geometry.moments`),
for code that needs normals of a few points or of a whole cloud at one neighbourhood size
without the multi-scale machinery (defect synthesis, normals refreshed after an edit).
"""

from __future__ import annotations

import numpy as np

from casl_core.errors import ConfigError
from casl_core.geometry.moments import point_covariances, surface_variation
from casl_core.geometry.neighbors import KnnIndex, chunk_rows


def local_normals(
    points: np.ndarray, rows: np.ndarray | None = None, k: int = 16, index: KnnIndex | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Unit normals (sign arbitrary) and surface variation of the ``k`` nearest points around some points.

    Parameters
    ----------
    points:
        ``(N, 3)`` coordinates.
    rows:
        Indices of the points to compute at; ``None`` for all of them.
    k:
        Neighbours per point, the point itself included (fewer when the cloud is smaller).
    index:
        A :class:`~casl_core.geometry.neighbors.KnnIndex` over ``points`` to reuse, if there is one.

    Returns
    -------
    (normals, variation)
        ``(R, 3)`` float64 unit vectors (the eigenvector of the smallest eigenvalue) and
        ``(R,)`` float64 surface variation ``l0 / (l0 + l1 + l2)`` in [0, 1/3].

    Raises
    ------
    ConfigError
        If the cloud is empty or ``k`` is below 1.
    """
    pts = np.asarray(points, dtype=np.float64)
    if len(pts) == 0 or k < 1:
        raise ConfigError(f"normals need points and k >= 1, got {len(pts)} points and k = {k}")
    rows = np.arange(len(pts)) if rows is None else np.asarray(rows, dtype=np.int64)
    index = index if index is not None else KnnIndex(pts)
    k = min(k, len(pts))
    columns = np.ascontiguousarray(pts.T)
    normals = np.empty((len(rows), 3))
    variation = np.empty(len(rows))
    for part in chunk_rows(len(rows), k):
        centres = pts[rows[part]]
        _, idx = index.query(centres, k)
        sv = surface_variation(point_covariances(columns, centres, idx, (k,))[0])
        normals[part] = sv.normals
        variation[part] = sv.curvature
    return normals, variation


def orient_away_from_centroid(normals: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Flip, in place, the normals that point towards the cloud's centroid; returns ``normals``."""
    towards = np.einsum("ni,ni->n", normals, points - points.mean(axis=0)) < 0
    normals[towards] *= -1
    return normals


def estimate_normals(points: np.ndarray, k: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Unit normals of every point by local PCA, oriented away from the centroid, and its surface variation.

    Parameters
    ----------
    points:
        ``(N, 3)`` coordinates.
    k:
        Neighbours per point (itself included).

    Returns
    -------
    (normals, variation)
        ``(N, 3)`` float64 unit vectors and ``(N,)`` values in [0, 1/3].

    Raises
    ------
    ConfigError
        If the cloud is empty or ``k`` is below 1.
    """
    pts = np.asarray(points, dtype=np.float64)
    normals, variation = local_normals(pts, None, k)
    return orient_away_from_centroid(normals, pts), variation
