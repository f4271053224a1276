"""Polygon lists and triangle strips to triangles, with index checks."""

from __future__ import annotations

import numpy as np

from casl_core.errors import ScanFormatError


def fan_triangulate(counts: np.ndarray, flat: np.ndarray) -> np.ndarray:
    """Triangles ``(T, 3)`` int64 of polygons given by vertex counts and concatenated indices.

    A polygon ``v0 v1 ... vk`` becomes ``(v0, v1, v2), (v0, v2, v3), ...``; polygons with
    fewer than three vertices give no triangle.
    """
    counts = np.asarray(counts, dtype=np.int64)
    flat = np.asarray(flat, dtype=np.int64)
    if counts.size and np.all(counts == 3):
        return flat.reshape(-1, 3)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]) if counts.size else counts
    per = np.maximum(counts - 2, 0)
    total = int(per.sum())
    if total == 0:
        return np.zeros((0, 3), dtype=np.int64)
    poly = np.repeat(np.arange(len(counts)), per)
    first = np.concatenate([[0], np.cumsum(per)[:-1]])
    k = np.arange(total) - first[poly] + 1
    base = starts[poly]
    return np.stack([flat[base], flat[base + k], flat[base + k + 1]], axis=1)


def strips_to_triangles(strip: np.ndarray) -> np.ndarray:
    """Triangles ``(T, 3)`` int64 of triangle strips separated by ``-1``.

    Every other triangle of a strip is flipped to keep one winding; triangles with a
    repeated vertex (used to join strips) are dropped.
    """
    s = np.asarray(strip, dtype=np.int64)
    if len(s) < 3:
        return np.zeros((0, 3), dtype=np.int64)
    a, b, c = s[:-2], s[1:-1], s[2:]
    valid = (a >= 0) & (b >= 0) & (c >= 0) & (a != b) & (b != c) & (a != c)
    pos = np.arange(len(s))
    restart = np.where(s < 0, pos + 1, 0)
    start = np.maximum.accumulate(restart)[:-2]
    odd = ((pos[:-2] - start) % 2).astype(bool)
    tri = np.stack([a, b, c], axis=1)
    tri[odd] = tri[odd][:, [1, 0, 2]]
    return tri[valid]


def check_faces(path: str, faces: np.ndarray, n_vertices: int) -> np.ndarray:
    """Return ``faces`` as int64 after checking every index names an existing vertex.

    Raises
    ------
    ScanFormatError
        If an index is negative or not below ``n_vertices``.
    """
    faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    if faces.size and (faces.min() < 0 or faces.max() >= n_vertices):
        bad = faces[(faces < 0) | (faces >= n_vertices)][0]
        raise ScanFormatError(path, f"a face refers to vertex {bad}, but there are only {n_vertices} vertices")
    return faces
