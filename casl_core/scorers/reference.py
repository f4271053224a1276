"""Known-good references for the deviation scorer: good scans or CAD meshes, prepared once.

A reference is read once and everything a comparison needs is kept with it: the points
(a mesh is sampled on its surface), oriented normals, k-d trees and the voxel grids of the
alignment (:class:`casl_core.geometry.registration.PreparedCloud`), and for a mesh its
triangles indexed for exact point-to-triangle distances. Test scans then reuse them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from casl_core.errors import ConfigError
from casl_core.geometry.registration import PreparedCloud, prepare_cloud
from casl_core.geometry.surface import MeshIndex, mesh_index, orient_normals, pca_normals, triangle_mesh
from casl_core.scan import Scan

#: Surface samples a mesh reference is aligned with.
MESH_SAMPLES = 100000


@dataclass(frozen=True)
class Reference:
    """A prepared reference.

    Attributes
    ----------
    name:
        What reports call it (the file path, or a name given).
    cloud:
        The points with oriented normals, ready for alignment.
    mesh:
        The triangles for exact distances when the reference is a mesh, else ``None``.
    """

    name: str
    cloud: PreparedCloud
    mesh: MeshIndex | None = None


def reference_from_scan(scan: Scan, name: str | None = None, *, threads: int | None = None) -> Reference:
    """Prepare a reference from a scan in memory; a scan with faces is used as a mesh.

    Scans without faces get PCA normals oriented consistently (outward at the point
    farthest from the centroid); normals the scan carries are used when present.

    Raises
    ------
    ConfigError
        If the scan has fewer than 20 points.
    """
    label = name or scan.metadata.source or scan.name
    if len(scan) < 20:
        raise ConfigError(f"reference {label}: {len(scan)} points are too few")
    faces = scan.metadata.faces
    if faces is not None and len(faces):
        mesh = triangle_mesh(scan.points_f64(), faces)
        pts, normals = _sample_triangles(mesh.triangles, mesh.normals, MESH_SAMPLES)
        cloud = prepare_cloud(pts, label, normals=normals, threads=threads)
        return Reference(label, cloud, mesh_index(mesh))
    pts = scan.points_f64()
    if scan.normals is not None and np.all(np.isfinite(scan.normals)):
        normals = scan.normals.astype(np.float64)
        normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    else:
        normals = orient_normals(pts, pca_normals(pts, threads=threads or 1))
    return Reference(label, prepare_cloud(pts, label, normals=normals, threads=threads))


def load_reference(path: str | os.PathLike[str], *, threads: int | None = None) -> Reference:
    """Read and prepare a reference file: a mesh (OBJ/STL/OFF/PLY with faces) or a scan.

    Raises
    ------
    ScanFormatError
        If the file cannot be read.
    ConfigError
        If it holds too few points.
    """
    from casl_core.io import read_scan

    return reference_from_scan(read_scan(Path(path)), str(path), threads=threads)


def _sample_triangles(tris: np.ndarray, normals: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points uniform by area (fixed seed) with their faces' normals."""
    rng = np.random.default_rng(0)
    area = 0.5 * np.linalg.norm(np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0]), axis=1)
    face = rng.choice(len(tris), size=n, p=area / area.sum())
    u, v = rng.random(n), rng.random(n)
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    t = tris[face]
    pts = t[:, 0] + u[:, None] * (t[:, 1] - t[:, 0]) + v[:, None] * (t[:, 2] - t[:, 0])
    return pts, normals[face]
