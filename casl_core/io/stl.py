"""Read STL meshes (ascii and binary); shared corners are merged into one vertex."""

from __future__ import annotations

import re

import numpy as np

from casl_core.errors import ScanFormatError
from casl_core.io.mesh_sampling import mesh_scan
from casl_core.scan import Scan

_VERTEX = re.compile(rb"vertex\s+(\S+)\s+(\S+)\s+(\S+)")
_BINARY = np.dtype([("normal", "<f4", (3,)), ("corners", "<f4", (3, 3)), ("attribute", "<u2")])


def is_binary_stl(data: bytes) -> bool:
    """True when ``data`` has the exact size a binary STL with its triangle count must have."""
    if len(data) < 84:
        return False
    n = int(np.frombuffer(data, "<u4", 1, 80)[0])
    return len(data) == 84 + 50 * n


def read_stl(path: str, data: bytes, surface_samples: int | None = None, seed: int = 0) -> Scan:
    """Read an ascii or binary STL file as a mesh with deduplicated vertices.

    Raises
    ------
    ScanFormatError
        If the file is truncated, its triangle count disagrees with its size, or an
        ascii facet does not have three numeric vertices.
    """
    if is_binary_stl(data):
        corners = _binary_corners(data)
        fmt = "stl"
    elif data.lstrip()[:5].lower() == b"solid":
        corners = _ascii_corners(path, data)
        fmt = "stl-ascii"
    elif len(data) >= 84:
        n = int(np.frombuffer(data, "<u4", 1, 80)[0])
        raise ScanFormatError(
            path, f"binary STL announces {n} triangles ({84 + 50 * n} bytes) but the file has {len(data)} bytes"
        )
    else:
        raise ScanFormatError(path, "too short for a binary STL and does not start with 'solid'")
    if len(corners) == 0:
        raise ScanFormatError(path, "the STL file holds no triangle")
    vertices, faces = _merge_corners(corners.reshape(-1, 3))
    return mesh_scan(path, fmt, vertices, faces, surface_samples=surface_samples, seed=seed)


def _binary_corners(data: bytes) -> np.ndarray:
    n = int(np.frombuffer(data, "<u4", 1, 80)[0])
    return np.frombuffer(data, _BINARY, n, 84)["corners"].astype(np.float32)


def _ascii_corners(path: str, data: bytes) -> np.ndarray:
    found = _VERTEX.findall(data)
    facets = len(re.findall(rb"\bfacet\b", data))
    if len(found) != 3 * facets:
        raise ScanFormatError(path, f"ascii STL has {facets} facets but {len(found)} vertices (3 per facet expected)")
    try:
        values = np.array([[float(a), float(b), float(c)] for a, b, c in found], dtype=np.float32)
    except ValueError:
        raise ScanFormatError(path, "an ascii STL vertex has a value that is not a number") from None
    return values.reshape(-1, 3, 3)


def _merge_corners(corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique vertices in order of first use, and the triangles as indices into them."""
    flat = np.ascontiguousarray(corners, dtype=np.float32)
    keys = flat.view(np.dtype((np.void, 12))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    vertices = flat[first[order]]
    faces = rank[inverse.ravel()].reshape(-1, 3).astype(np.int64)
    return vertices, faces
