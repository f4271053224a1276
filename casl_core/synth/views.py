"""What a scanner of another session sees of a normal part: partial views, poses, densities, variation.

Real test scans differ from the training scans of their category in ways that are not
defects: a scanner sees one side of the part, the part lies in any orientation, the point
density is another, and no two parts of a production run are exactly alike. The
functions here turn a normal scan (or a mesh-sampled cloud) into such a scan. Every
random choice comes from the ``rng`` argument: the same generator state gives the same
result. Each returns a new :class:`~casl_core.scan.Scan`; point subsets keep
``metadata.source_index`` so labels and scores still map back to the input.

- :func:`visible_side`: the points visible from one viewing direction (hidden-point
  removal by spherical flipping and a convex hull, or normals facing the viewer).
- :func:`random_pose` / :func:`apply_transform`: a rigid motion, any orientation.
- :func:`resample`: another point density (a random subset).
- :func:`production_variation`: anisotropic scale in a random frame and a smooth bend.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.spatial import ConvexHull
from scipy.spatial.transform import Rotation

from casl_core.errors import ConfigError
from casl_core.scan import Scan

#: Largest relative scale change per axis of :func:`production_variation` (1.5 %).
DEFAULT_SCALE_RANGE = 0.015
#: Peak displacement of the bend, as a fraction of the bounding-box diagonal (a sixth of
#: the synthetic defects' default depth of 0.03).
DEFAULT_BEND = 0.005
#: Hidden-point removal radius exponent (Katz et al.): larger keeps more grazing points.
DEFAULT_HPR_EXPONENT = 2.5


class Posed(NamedTuple):
    """A scan moved by a rigid transform: ``scan.points = R @ p + t`` with ``transform = [[R, t], [0, 1]]``."""

    scan: Scan
    transform: np.ndarray


def random_direction(rng: np.random.Generator) -> np.ndarray:
    """A unit vector uniform on the sphere."""
    v = rng.normal(size=3)
    return v / np.linalg.norm(v)


def _diagonal(pts: np.ndarray) -> float:
    return float(np.linalg.norm(pts.max(axis=0) - pts.min(axis=0)))


def _check_size(scan: Scan, least: int, what: str) -> None:
    if len(scan) < least:
        raise ConfigError(f"{scan.name}: {what} needs at least {least} points, the scan has {len(scan)}")


def visible_side(
    scan: Scan,
    direction: np.ndarray,
    *,
    method: str = "hpr",
    exponent: float = DEFAULT_HPR_EXPONENT,
    distance: float = 3.0,
) -> Scan:
    """The points a scanner looking along ``-direction`` sees (a one-sided partial view).

    Parameters
    ----------
    scan:
        A complete normal scan.
    direction:
        From the part towards the scanner; need not be unit length.
    method:
        ``"hpr"``: hidden-point removal (spherical flipping about the viewpoint, then the
        points on the convex hull of the flipped cloud and the viewpoint); works without
        normals and keeps only the first surface along each ray. ``"normals"``: the points
        whose normal faces the viewpoint (needs normals; self-occluded faces stay).
    exponent:
        Hidden-point removal radius ``R = max|p - C| * 10**exponent``.
    distance:
        Viewpoint distance from the centroid, in bounding-box diagonals.

    Returns
    -------
    Scan
        The visible subset, in input order.

    Raises
    ------
    ConfigError
        For an unknown method, a zero direction, a scan too small, ``"normals"`` on a
        scan without normals, or a view that sees almost nothing.
    """
    _check_size(scan, 10, "a partial view")
    d = np.asarray(direction, dtype=np.float64)
    if d.shape != (3,) or not np.linalg.norm(d) > 0:
        raise ConfigError(f"viewing direction must be a non-zero 3-vector, got {direction!r}")
    d = d / np.linalg.norm(d)
    pts = scan.points.astype(np.float64)
    viewpoint = pts.mean(axis=0) + distance * _diagonal(pts) * d
    if method == "hpr":
        keep = hidden_point_removal(pts, viewpoint, exponent)
    elif method == "normals":
        if scan.normals is None:
            raise ConfigError(f"{scan.name}: a view by normals needs a scan with normals")
        keep = np.einsum("ij,ij->i", scan.normals.astype(np.float64), viewpoint - pts) > 0
    else:
        raise ConfigError(f"unknown view method {method!r}; choose 'hpr' or 'normals'")
    if keep.sum() < 10:
        raise ConfigError(f"{scan.name}: the view along {d.round(3).tolist()} sees {int(keep.sum())} points")
    return scan.subset(keep)


def hidden_point_removal(pts: np.ndarray, viewpoint: np.ndarray, exponent: float) -> np.ndarray:
    """Visibility mask by spherical flipping (Katz, Tal and Basri 2007)."""
    rel = pts - viewpoint
    norm = np.linalg.norm(rel, axis=1, keepdims=True)
    norm = np.maximum(norm, 1e-12)
    radius = float(norm.max()) * 10.0**exponent
    flipped = rel + 2.0 * (radius - norm) * rel / norm
    hull = ConvexHull(np.vstack([flipped, np.zeros((1, 3))]))
    keep = np.zeros(len(pts), dtype=bool)
    vertices = hull.vertices[hull.vertices < len(pts)]
    keep[vertices] = True
    return keep


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A rotation matrix uniform over SO(3)."""
    return Rotation.random(random_state=rng).as_matrix()


def apply_transform(scan: Scan, transform: np.ndarray) -> Scan:
    """The scan moved by a 4x4 rigid transform (points and normals; other arrays kept).

    Raises
    ------
    ConfigError
        If ``transform`` is not a 4x4 rigid motion.
    """
    t = np.asarray(transform, dtype=np.float64)
    if t.shape != (4, 4) or not np.allclose(t[:3, :3] @ t[:3, :3].T, np.eye(3), atol=1e-6):
        raise ConfigError("transform must be a 4x4 matrix with a rotation in its upper-left 3x3 block")
    pts = scan.points_f64() @ t[:3, :3].T + t[:3, 3]
    normals = None if scan.normals is None else scan.normals.astype(np.float64) @ t[:3, :3].T
    return _rebuilt(scan, pts, normals)


def _rebuilt(scan: Scan, pts: np.ndarray, normals: np.ndarray | None) -> Scan:
    from dataclasses import replace

    return replace(
        scan,
        points=pts.astype(np.float32),
        normals=None if normals is None else normals.astype(np.float32),
        metadata=replace(scan.metadata, offset=(0.0, 0.0, 0.0), faces=scan.metadata.faces),
    )


def random_pose(scan: Scan, rng: np.random.Generator, *, shift: float = 1.0) -> Posed:
    """The scan in a random orientation (uniform over rotations) and position.

    Parameters
    ----------
    shift:
        Standard deviation of the translation, in bounding-box diagonals.

    Returns
    -------
    Posed
        The moved scan and the 4x4 transform applied to the input's points.
    """
    _check_size(scan, 1, "a pose")
    pts = scan.points_f64()
    transform = np.eye(4)
    transform[:3, :3] = random_rotation(rng)
    centre = pts.mean(axis=0)
    # rotate about the centroid, then move it by a random offset
    transform[:3, 3] = centre - transform[:3, :3] @ centre + rng.normal(scale=shift * _diagonal(pts), size=3)
    return Posed(apply_transform(scan, transform), transform)


def resample(scan: Scan, fraction: float, rng: np.random.Generator) -> Scan:
    """A random subset holding ``fraction`` of the points: the part at a lower point density.

    Raises
    ------
    ConfigError
        If ``fraction`` is not in (0, 1] or leaves fewer than 10 points.
    """
    if not 0.0 < fraction <= 1.0:
        raise ConfigError(f"resample fraction must be in (0, 1], got {fraction}")
    n = int(round(fraction * len(scan)))
    if n < 10:
        raise ConfigError(f"{scan.name}: resampling {len(scan)} points by {fraction} leaves {n}")
    return scan.subset(np.sort(rng.choice(len(scan), size=n, replace=False)))


def production_variation(
    scan: Scan,
    rng: np.random.Generator,
    *,
    scale_range: float = DEFAULT_SCALE_RANGE,
    bend: float = DEFAULT_BEND,
) -> Scan:
    """The same part as made by another run: anisotropic scale and a smooth bend.

    The scale multiplies each axis of a random orthonormal frame by ``1 + u``, ``u``
    uniform in ``[-scale_range, scale_range]``, about the centroid. The bend moves each
    point along a random unit vector ``b`` by ``bend * diag * (s**2 - 1/3)``, with ``s``
    its coordinate in [-1, 1] along a random axis ``a`` orthogonal to ``b`` (a parabola:
    zero mean, no sharp feature). Normals follow the map's inverse transpose Jacobian.

    Parameters
    ----------
    scale_range:
        Largest relative scale change per axis (0 for none).
    bend:
        Peak bend amplitude as a fraction of the bounding-box diagonal (0 for none).

    Raises
    ------
    ConfigError
        If a parameter is negative or the scale range reaches 0.5.
    """
    if not 0.0 <= scale_range < 0.5 or not bend >= 0.0:
        raise ConfigError(f"need 0 <= scale_range < 0.5 and bend >= 0, got {scale_range}, {bend}")
    _check_size(scan, 2, "production variation")
    pts = scan.points_f64()
    centre = pts.mean(axis=0)
    frame = random_rotation(rng)
    factors = 1.0 + rng.uniform(-scale_range, scale_range, size=3)
    scale = frame @ np.diag(factors) @ frame.T
    moved = (pts - centre) @ scale.T
    b = random_direction(rng)
    a = np.cross(b, random_direction(rng))
    a /= np.linalg.norm(a)
    coord = moved @ a
    half = max(float(np.abs(coord).max()), 1e-12)
    s = coord / half
    amplitude = bend * _diagonal(pts)
    moved = moved + amplitude * (s**2 - 1.0 / 3.0)[:, None] * b
    normals = None
    if scan.normals is not None:
        # J = (I + c b a^T) S with c = 2 A s / half and a . b = 0, so J^-T n = (I - c a b^T) S^-1 n
        n = scan.normals.astype(np.float64) @ np.linalg.inv(scale)
        c = amplitude * 2.0 * s / half
        n = n - c[:, None] * (n @ b)[:, None] * a
        normals = n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    return _rebuilt(scan, moved + centre, normals)
