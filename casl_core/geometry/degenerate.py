"""Degenerate clouds made cheap: duplicate points collapsed before the neighbour search.

A k-d tree cannot split a set of identical points, so a cloud where many points share one
position makes every neighbour query scan all of them (quadratic time). The curvature is
computed on the distinct positions instead and given back to every copy; the copies get
:data:`DUPLICATE_BIT` in ``curvature_flags``. A cloud whose distinct positions are all
identical, on one line or on one plane, or are only a handful, gets a
:class:`DegenerateCloudWarning` saying what its curvature means.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

#: Bit of ``curvature_flags`` set on points that share their exact position with another
#: point of the cloud (their values are those of the shared position). Scale bits are 0..6.
DUPLICATE_BIT = 7

#: Fewer distinct positions than this make a "handful" (the finest scale cannot be filled).
FEW_POINTS = 16

_K1, _K2, _K3 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F), np.uint64(0x165667B19E3779F9)


class DegenerateCloudWarning(UserWarning):
    """The cloud is degenerate as a whole (identical, collinear, coplanar or tiny)."""


@dataclass(frozen=True)
class Collapsed:
    """The distinct positions of a cloud and how to expand values on them back to every point.

    Attributes
    ----------
    points:
        ``(M, 3)`` float64 distinct positions, in order of first appearance.
    inverse:
        ``(N,)`` int64: point ``i`` is at ``points[inverse[i]]``.
    shared:
        ``(N,)`` bool: the point's position occurs more than once.
    """

    points: np.ndarray
    inverse: np.ndarray
    shared: np.ndarray


def collapse_duplicates(points: np.ndarray) -> Collapsed | None:
    """The cloud's distinct positions, or ``None`` when no two points coincide (the usual case).

    A 64-bit hash of each position, sorted, finds candidates in O(N log N) on integers; only
    when two hashes agree are positions compared exactly. ``-0.0`` equals ``0.0``.
    """
    pts = np.ascontiguousarray(points, dtype=np.float64) + 0.0
    bits = pts.view(np.uint64)
    h = bits[:, 0] * _K1 ^ bits[:, 1] * _K2 ^ bits[:, 2] * _K3
    h.sort()
    if not np.any(h[1:] == h[:-1]):
        return None
    rows = pts.view(np.dtype((np.void, 24))).ravel()
    _, first, inverse, counts = np.unique(rows, return_index=True, return_inverse=True, return_counts=True)
    if len(first) == len(pts):
        return None
    # number the distinct positions in order of first appearance (deterministic, input-ordered)
    ids = inverse.ravel()
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return Collapsed(points=pts[np.sort(first)], inverse=rank[ids], shared=(counts > 1)[ids])


def describe_shape(points: np.ndarray, n_total: int) -> str | None:
    """Words for a cloud degenerate as a whole, or ``None``.

    ``points`` are the distinct positions; ``n_total`` counts every point.
    """
    m = len(points)
    if n_total == 1:
        return "the cloud has a single point: curvature is 0 and the normal is arbitrary"
    if m == 1:
        return f"all {n_total:,} points are at one position: curvature is 0 and normals are arbitrary"
    centred = points - points.mean(axis=0)
    scale = float(np.abs(centred).max()) or 1.0
    evals = np.linalg.eigvalsh((centred / scale).T @ (centred / scale) / m)
    top = float(evals[2])
    if evals[1] <= 1e-12 * top:
        return f"all {m:,} distinct points lie on one line: curvature is 0 and normals are arbitrary"
    if evals[0] <= 1e-12 * top:
        return f"all {m:,} distinct points lie on one plane: curvature is 0 everywhere"
    if m < FEW_POINTS:
        return f"only {m} distinct points: every neighbourhood is the whole cloud"
    return None


def warn_if_degenerate(points: np.ndarray, n_total: int, duplicates: int) -> None:
    """Issue a :class:`DegenerateCloudWarning` for a degenerate cloud or many duplicates."""
    words = describe_shape(points, n_total)
    if words is None and duplicates * 4 > n_total:
        words = f"{duplicates:,} of {n_total:,} points share their position with another (flag bit {DUPLICATE_BIT})"
    if words is not None:
        warnings.warn(words, DegenerateCloudWarning, stacklevel=3)
