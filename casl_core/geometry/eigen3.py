"""Closed-form eigen-decomposition of many symmetric 3x3 matrices at once.

Matrices are passed as their six distinct entries in the last axis, ordered
``(a00, a11, a22, a01, a02, a12)`` (see :data:`SYM6_PAIRS`). The same functions accept
NumPy arrays or PyTorch tensors (on any device): they use only arithmetic and
element-wise functions that both libraries name alike, so the CPU and the CUDA paths run
literally the same math. Work in float64: the smallest eigenvalue of a flat neighbourhood
comes from a difference of much larger numbers.

Eigenvalues use the trigonometric method (Smith, 1961): with ``q = trace / 3`` and
``B = (A - q I) / p``, the eigenvalues are ``q + 2 p cos(acos(det(B) / 2) / 3 + 2 pi j / 3)``.
The eigenvector of the smallest eigenvalue is the longest cross product of two rows of
``A - l0 I``; when that matrix has rank one or zero (two or three equal eigenvalues) any
vector of the null space is returned.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: Index pairs ``(i, j)`` of the six stored entries of a symmetric 3x3 matrix.
SYM6_PAIRS: tuple[tuple[int, int], ...] = ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))

Array = Any  # a numpy.ndarray or a torch.Tensor


def _xp(a: Array):
    """The array library of ``a``: ``numpy`` or ``torch`` (imported only when used)."""
    if isinstance(a, np.ndarray):
        return np
    import torch

    return torch


def sym6_to_matrix(a: np.ndarray) -> np.ndarray:
    """Expand ``(..., 6)`` stored entries into full ``(..., 3, 3)`` NumPy matrices."""
    a = np.asarray(a)
    out = np.empty(a.shape[:-1] + (3, 3), dtype=a.dtype)
    for c, (i, j) in enumerate(SYM6_PAIRS):
        out[..., i, j] = a[..., c]
        out[..., j, i] = a[..., c]
    return out


def eigvalsh3(a: Array) -> tuple[Array, Array, Array]:
    """Eigenvalues ``(l0, l1, l2)``, ascending, of symmetric 3x3 matrices.

    Parameters
    ----------
    a:
        ``(..., 6)`` stored entries (NumPy array or torch tensor, float64 advised).

    Returns
    -------
    tuple
        Three arrays of shape ``a.shape[:-1]`` with ``l0 <= l1 <= l2``.
    """
    xp = _xp(a)
    a00, a11, a22, a01, a02, a12 = (a[..., c] for c in range(6))
    q = (a00 + a11 + a22) / 3.0
    off = a01 * a01 + a02 * a02 + a12 * a12
    d0, d1, d2 = a00 - q, a11 - q, a22 - q
    p2 = (d0 * d0 + d1 * d1 + d2 * d2 + 2.0 * off) / 6.0
    p = xp.sqrt(xp.clip(p2, 0.0, None))
    flat = p <= 0.0
    inv_p = 1.0 / xp.where(flat, 1.0, p)
    b00, b11, b22 = d0 * inv_p, d1 * inv_p, d2 * inv_p
    b01, b02, b12 = a01 * inv_p, a02 * inv_p, a12 * inv_p
    det = b00 * (b11 * b22 - b12 * b12) - b01 * (b01 * b22 - b12 * b02) + b02 * (b01 * b12 - b11 * b02)
    phi = xp.arccos(xp.clip(det / 2.0, -1.0, 1.0)) / 3.0
    l2 = q + 2.0 * p * xp.cos(phi)
    l0 = q + 2.0 * p * xp.cos(phi + 2.0 * math.pi / 3.0)
    l1 = 3.0 * q - l0 - l2
    l0 = xp.where(flat, q, l0)
    l1 = xp.where(flat, q, l1)
    l2 = xp.where(flat, q, l2)
    return l0, l1, l2


def _cross(u: tuple[Array, Array, Array], v: tuple[Array, Array, Array]) -> tuple[Array, Array, Array]:
    return (u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0])


def _dot(u: tuple[Array, ...], v: tuple[Array, ...]) -> Array:
    return u[0] * v[0] + u[1] * v[1] + u[2] * v[2]


def _pick(cond: Array, u: tuple[Array, ...], v: tuple[Array, ...], xp) -> tuple[Array, ...]:
    return tuple(xp.where(cond, ui, vi) for ui, vi in zip(u, v))


def smallest_eigenvector3(a: Array, l0: Array) -> Array:
    """Unit eigenvector of the smallest eigenvalue of symmetric 3x3 matrices.

    Parameters
    ----------
    a:
        ``(..., 6)`` stored entries.
    l0:
        The smallest eigenvalue of each matrix (from :func:`eigvalsh3`).

    Returns
    -------
    Array
        ``(..., 3)`` unit vectors (sign arbitrary). A matrix whose smallest eigenvalue is
        repeated gets some unit vector of that eigenspace; the zero matrix gets ``(0, 0, 1)``.
    """
    xp = _xp(a)
    a00, a11, a22, a01, a02, a12 = (a[..., c] for c in range(6))
    r0 = (a00 - l0, a01, a02)
    r1 = (a01, a11 - l0, a12)
    r2 = (a02, a12, a22 - l0)
    best = _cross(r0, r1)
    best_n = _dot(best, best)
    for cand in (_cross(r0, r2), _cross(r1, r2)):
        cand_n = _dot(cand, cand)
        better = cand_n > best_n
        best = _pick(better, cand, best, xp)
        best_n = xp.where(better, cand_n, best_n)
    rows_n = [_dot(r, r) for r in (r0, r1, r2)]
    scale = rows_n[0] + rows_n[1] + rows_n[2]
    rank_two = best_n > 1e-24 * scale * scale
    # Rank one or zero: any vector orthogonal to the largest row spans the null space.
    row = _pick(rows_n[1] > rows_n[0], r1, r0, xp)
    row_n = xp.where(rows_n[1] > rows_n[0], rows_n[1], rows_n[0])
    row = _pick(rows_n[2] > row_n, r2, row, xp)
    axis_x = xp.abs(row[0]) <= xp.abs(row[1])
    zero, one = row[0] * 0.0, row[0] * 0.0 + 1.0
    helper = _pick(axis_x, (one, zero, zero), (zero, one, zero), xp)
    ortho = _cross(row, helper)
    ortho_n = _dot(ortho, ortho)
    has_row = ortho_n > 0.0
    fallback = _pick(has_row, ortho, (zero, zero, one), xp)
    vec = _pick(rank_two, best, fallback, xp)
    norm = xp.sqrt(_dot(vec, vec))
    norm = xp.where(norm > 0.0, norm, 1.0)
    return xp.stack([vec[0] / norm, vec[1] / norm, vec[2] / norm], -1)
