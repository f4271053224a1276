"""Turn a triangle mesh into a scan: its vertices, or points sampled uniformly on its surface."""

from __future__ import annotations

import numpy as np

from casl_core.errors import ConfigError, ScanFormatError
from casl_core.io.budget import check_declared
from casl_core.scan import Scan, finite_scan


def mesh_scan(
    path: str,
    fmt: str,
    vertices: np.ndarray,
    faces: np.ndarray | None,
    *,
    normals: np.ndarray | None = None,
    colors: np.ndarray | None = None,
    surface_samples: int | None = None,
    seed: int = 0,
    extra: dict[str, str] | None = None,
) -> Scan:
    """The scan of a mesh: the vertices (faces kept in metadata) or ``surface_samples`` points.

    Raises
    ------
    ConfigError
        If ``surface_samples`` is not a positive integer.
    ScanFormatError
        If sampling is asked for a mesh with no triangle of non-zero area.
    """
    if surface_samples is None:
        return finite_scan(vertices, source=path, format=fmt, normals=normals, colors=colors, faces=faces, extra=extra)
    check_samples(surface_samples)
    if faces is None or len(faces) == 0:
        raise ScanFormatError(path, "cannot sample the surface (--sample): the file has no faces")
    check_declared(path, int(surface_samples) * BYTES_PER_SAMPLE, f"{int(surface_samples):,} surface samples")
    points, face_normals, picked, bary = sample_surface(
        path, np.asarray(vertices, np.float64), faces, int(surface_samples), seed
    )
    sampled_colors = None
    if colors is not None:
        corner = colors[faces[picked]].astype(np.float64)
        sampled_colors = np.clip(np.einsum("nk,nkc->nc", bary, corner).round(), 0, 255).astype(np.uint8)
    info = dict(extra or {})
    info["mesh_vertices"] = str(len(vertices))
    info["mesh_faces"] = str(len(faces))
    return finite_scan(
        points, source=path, format=f"{fmt}+sampled", normals=face_normals, colors=sampled_colors, extra=info
    )


#: Bytes the sampling holds per sample at its peak (points, barycentric weights, normals, indices).
BYTES_PER_SAMPLE = 160


def check_samples(surface_samples: object) -> None:
    """Refuse a sample count that is not a positive integer.

    Raises
    ------
    ConfigError
        Naming the option (``--sample``) and the value.
    """
    if isinstance(surface_samples, bool) or not isinstance(surface_samples, (int, np.integer)) or surface_samples < 1:
        raise ConfigError(f"--sample (surface_samples) must be a positive integer, got {surface_samples!r}")


def sample_surface(path: str, vertices: np.ndarray, faces: np.ndarray, n: int, seed: int):
    """Sample ``n`` points uniformly by area on the triangles.

    Returns
    -------
    tuple
        ``(points (n, 3) float64, normals (n, 3) float32, face index (n,), barycentric (n, 3))``.

    Raises
    ------
    ScanFormatError
        If no triangle has a finite, non-zero area.
    """
    tri = vertices[faces]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area = 0.5 * np.linalg.norm(cross, axis=1)
    area[~np.isfinite(area)] = 0.0
    total = area.sum()
    if not total > 0:
        raise ScanFormatError(path, "cannot sample the surface: every triangle has zero area")
    rng = np.random.default_rng(seed)
    picked = np.searchsorted(np.cumsum(area), rng.random(n) * total, side="right")
    picked = np.minimum(picked, len(area) - 1)
    r1 = np.sqrt(rng.random(n))
    r2 = rng.random(n)
    bary = np.stack([1 - r1, r1 * (1 - r2), r1 * r2], axis=1)
    points = np.einsum("nk,nkc->nc", bary, tri[picked])
    unit = cross[picked] / (2 * area[picked])[:, None]
    return points, unit.astype(np.float32), picked, bary
