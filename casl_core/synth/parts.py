"""Procedural industrial parts sampled like scans: the built-in demo, no file needed.

Each part is a closed triangle mesh built in numpy from extrusions of polygon rings
(caps triangulated by a Delaunay triangulation of the rings and an inner grid, kept
where the triangle centre lies in the region) and surfaces of revolution. The surface
is sampled uniformly by area; each point carries the true normal of its face, pointing
out of the solid; Gaussian noise then mimics a scanner. A seed varies the dimensions
within a family, like parts of one category from different batches or sizes.

Kinds (:data:`PART_KINDS`): ``hex_nut`` (hexagonal prism with a bore), ``flange``
(disc with a hub, a bore and a ring of bolt holes; a long hub makes it a flanged
bushing), ``stepped_shaft`` (coaxial cylinders with chamfered ends) and ``l_bracket``
(an extruded L profile with an inner fillet). Lengths are in millimetres.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from scipy.spatial import Delaunay, cKDTree

from casl_core.errors import ConfigError
from casl_core.scan import Scan, ScanMetadata
from casl_core.synth.kinds import PART_KINDS

DEFAULT_NOISE = 0.001


class Mesh(NamedTuple):
    """Triangles ``(F, 3, 3)`` (corner coordinates) and their unit outward normals ``(F, 3)``."""

    triangles: np.ndarray
    normals: np.ndarray


def _merge(*meshes: Mesh) -> Mesh:
    return Mesh(np.concatenate([m.triangles for m in meshes]), np.concatenate([m.normals for m in meshes]))


def _oriented(tris: np.ndarray, outward: np.ndarray) -> Mesh:
    """Face normals from the corners, flipped to agree with an approximate outward direction."""
    n = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])
    length = np.linalg.norm(n, axis=1, keepdims=True)
    good = length[:, 0] > 1e-12
    n = n[good] / length[good]
    flip = np.einsum("ij,ij->i", n, outward[good]) < 0
    n[flip] *= -1
    return Mesh(tris[good], n)


def circle(radius: float, n: int = 96, centre: tuple[float, float] = (0.0, 0.0), phase: float = 0.0) -> np.ndarray:
    """A counter-clockwise polygon of ``n`` vertices on a circle."""
    a = phase + np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    return np.stack([centre[0] + radius * np.cos(a), centre[1] + radius * np.sin(a)], axis=1)


def _signed_area(ring: np.ndarray) -> float:
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def _ccw(ring: np.ndarray, ccw: bool = True) -> np.ndarray:
    return ring if (_signed_area(ring) > 0) == ccw else ring[::-1]


def _densify(ring: np.ndarray, step: float) -> np.ndarray:
    """Insert vertices so no edge is longer than ``step``."""
    out = []
    for a, b in zip(ring, np.roll(ring, -1, axis=0)):
        k = max(1, int(np.ceil(np.linalg.norm(b - a) / step)))
        out.append(a + (b - a) * (np.arange(k)[:, None] / k))
    return np.concatenate(out)


def _inside(points: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """Even-odd ray casting: which 2-D points lie inside the polygon."""
    x, y = points[:, 0:1], points[:, 1:2]
    x0, y0 = ring[:, 0], ring[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    crosses = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    return np.sum(crosses & (x < x_at), axis=1) % 2 == 1


def cap(outer: np.ndarray, holes: list[np.ndarray], z: float, up: bool, step: float) -> Mesh:
    """A flat face at height ``z``: the region inside ``outer`` and outside every hole."""
    rings = [_densify(outer, step)] + [_densify(h, step) for h in holes]
    lo, hi = outer.min(axis=0), outer.max(axis=0)
    gx, gy = np.meshgrid(np.arange(lo[0] + step / 2, hi[0], step), np.arange(lo[1] + step / 2, hi[1], step))
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)

    def in_region(p: np.ndarray) -> np.ndarray:
        ok = _inside(p, outer)
        for h in holes:
            ok &= ~_inside(p, h)
        return ok

    boundary = np.concatenate(rings)
    clear = cKDTree(boundary).query(grid)[0] > 0.5 * step
    verts = np.concatenate([boundary, grid[in_region(grid) & clear]])
    tri = Delaunay(verts).simplices
    keep = in_region(verts[tri].mean(axis=1))
    flat = verts[tri[keep]]
    tris = np.concatenate([flat, np.full(flat.shape[:2] + (1,), z)], axis=2)
    direction = np.tile([0.0, 0.0, 1.0 if up else -1.0], (len(tris), 1))
    return _oriented(tris, direction)


def wall(ring: np.ndarray, z0: float, z1: float, hole: bool) -> Mesh:
    """The vertical side of an extruded ring; normals away from the solid (into a hole)."""
    ring = _ccw(ring, ccw=not hole)
    a, b = ring, np.roll(ring, -1, axis=0)

    def lo(p: np.ndarray) -> np.ndarray:
        return np.concatenate([p, np.full((len(p), 1), z0)], axis=1)

    def hi(p: np.ndarray) -> np.ndarray:
        return np.concatenate([p, np.full((len(p), 1), z1)], axis=1)

    t1 = np.stack([lo(a), lo(b), hi(b)], axis=1)
    t2 = np.stack([lo(a), hi(b), hi(a)], axis=1)
    edge = b - a
    out2d = np.stack([edge[:, 1], -edge[:, 0]], axis=1)
    out = np.concatenate([out2d, np.zeros((len(a), 1))], axis=1)
    return _oriented(np.concatenate([t1, t2]), np.concatenate([out, out]))


def revolve(profile: np.ndarray, n: int = 96) -> Mesh:
    """Revolve a closed counter-clockwise ``(r, z)`` polygon about the z axis."""
    profile = _ccw(profile)
    a = np.linspace(0.0, 2 * np.pi, n + 1)
    c0, s0, c1, s1 = np.cos(a[:-1]), np.sin(a[:-1]), np.cos(a[1:]), np.sin(a[1:])
    p, q = profile, np.roll(profile, -1, axis=0)
    seg = q - p
    n2d = np.stack([seg[:, 1], -seg[:, 0]], axis=1)

    def at(rz: np.ndarray, c: np.ndarray, s: np.ndarray) -> np.ndarray:
        return np.stack(
            [rz[:, None, 0] * c[None], rz[:, None, 0] * s[None], np.broadcast_to(rz[:, None, 1], (len(rz), n))], axis=-1
        )

    p0, p1, q0, q1 = at(p, c0, s0), at(p, c1, s1), at(q, c0, s0), at(q, c1, s1)
    cm, sm = np.cos(0.5 * (a[:-1] + a[1:])), np.sin(0.5 * (a[:-1] + a[1:]))
    out = np.stack(
        [n2d[:, None, 0] * cm[None], n2d[:, None, 0] * sm[None], np.broadcast_to(n2d[:, None, 1], (len(p), n))], axis=-1
    )
    t1 = np.stack([p0, p1, q1], axis=2).reshape(-1, 3, 3)
    t2 = np.stack([p0, q1, q0], axis=2).reshape(-1, 3, 3)
    outward = out.reshape(-1, 3)
    return _oriented(np.concatenate([t1, t2]), np.concatenate([outward, outward]))


def prism(outer: np.ndarray, holes: list[np.ndarray], z0: float, z1: float, step: float) -> Mesh:
    """A closed extrusion of a region with holes between ``z0`` and ``z1``."""
    parts = [cap(outer, holes, z0, False, step), cap(outer, holes, z1, True, step), wall(outer, z0, z1, False)]
    parts += [wall(h, z0, z1, True) for h in holes]
    return _merge(*parts)


def hex_nut_mesh(rng: np.random.Generator) -> Mesh:
    """A hex nut: across-flats 10-24 mm, height 0.8 of the nominal size, bore ~0.55 of it."""
    flats = rng.uniform(10.0, 24.0)
    height = flats * rng.uniform(0.7, 0.9)
    bore = 0.5 * flats * rng.uniform(0.52, 0.6)
    hexagon = circle(flats / np.sqrt(3.0), 6, phase=np.pi / 6)
    return prism(_densify(hexagon, flats / 24), [circle(bore, 96)], 0.0, height, flats / 40)


def flange_mesh(rng: np.random.Generator) -> Mesh:
    """A flange or flanged bushing: disc with bolt holes, a hub and a through bore."""
    outer_r = rng.uniform(30.0, 60.0)
    disc = outer_r * rng.uniform(0.15, 0.25)
    hub_r = outer_r * rng.uniform(0.4, 0.55)
    hub_h = outer_r * rng.uniform(0.2, 1.0)
    bore_r = hub_r * rng.uniform(0.45, 0.7)
    n_bolts = int(rng.choice([4, 6, 8]))
    pitch = 0.5 * (hub_r + outer_r)
    bolt_r = min(0.35 * (outer_r - hub_r), pitch * np.sin(np.pi / n_bolts) * 0.6)
    phase = rng.uniform(0, 2 * np.pi / n_bolts)
    bolts = [
        circle(
            bolt_r,
            40,
            (pitch * np.cos(phase + 2 * np.pi * k / n_bolts), pitch * np.sin(phase + 2 * np.pi * k / n_bolts)),
        )
        for k in range(n_bolts)
    ]
    step = outer_r / 40
    rim, hub, bore = circle(outer_r, 160), circle(hub_r, 120), circle(bore_r, 96)
    return _merge(
        cap(rim, [bore, *bolts], 0.0, False, step),
        cap(rim, [hub, *bolts], disc, True, step),
        wall(rim, 0.0, disc, False),
        *[wall(b, 0.0, disc, True) for b in bolts],
        wall(hub, disc, disc + hub_h, False),
        cap(hub, [bore], disc + hub_h, True, step),
        wall(bore, 0.0, disc + hub_h, True),
    )


def stepped_shaft_mesh(rng: np.random.Generator) -> Mesh:
    """A stepped shaft: 2-4 coaxial sections with 45 degree chamfers at both ends."""
    n_steps = int(rng.integers(2, 5))
    radii = np.sort(rng.uniform(6.0, 20.0, n_steps))[::-1]
    radii = np.roll(radii, int(rng.integers(0, n_steps)))
    lengths = rng.uniform(15.0, 50.0, n_steps)
    chamfer = 0.15 * radii.min()
    profile = [(0.0, 0.0), (radii[0] - chamfer, 0.0), (radii[0], chamfer)]
    z = 0.0
    for k in range(n_steps):
        z += lengths[k]
        if k + 1 < n_steps:
            profile += [(radii[k], z), (radii[k + 1], z)]
    profile += [(radii[-1], z - chamfer), (radii[-1] - chamfer, z), (0.0, z)]
    return revolve(_dedupe(np.asarray(profile)), 128)


def _dedupe(ring: np.ndarray) -> np.ndarray:
    keep = np.linalg.norm(ring - np.roll(ring, -1, axis=0), axis=1) > 1e-9
    return ring[keep]


def l_bracket_mesh(rng: np.random.Generator) -> Mesh:
    """An L bracket: an L profile (legs 30-80 mm, 3-8 mm thick, inner fillet) extruded 20-60 mm."""
    a, b = rng.uniform(30.0, 80.0, 2)
    t = rng.uniform(3.0, 8.0)
    width = rng.uniform(20.0, 60.0)
    fillet = t * rng.uniform(0.5, 1.5)
    angles = np.linspace(np.pi, 1.5 * np.pi, 12)
    arc = np.stack([t + fillet + fillet * np.cos(angles), t + fillet + fillet * np.sin(angles)], axis=1)
    profile = np.concatenate([[[0.0, 0.0], [a, 0.0], [a, t]], arc[::-1], [[t, b], [0.0, b]]])
    profile = _dedupe(_ccw(profile))
    body = prism(profile, [], 0.0, width, min(a, b) / 40)
    tris = body.triangles[..., [0, 2, 1]]
    return Mesh(tris, body.normals[:, [0, 2, 1]])


_BUILDERS: dict[str, Callable[[np.random.Generator], Mesh]] = {
    "hex_nut": hex_nut_mesh,
    "flange": flange_mesh,
    "stepped_shaft": stepped_shaft_mesh,
    "l_bracket": l_bracket_mesh,
}


def part_mesh(kind: str, seed: int = 0) -> Mesh:
    """The closed triangle mesh of a part of the given kind and seed.

    Raises
    ------
    ConfigError
        If the kind is unknown.
    """
    if kind not in PART_KINDS:
        raise ConfigError(f"unknown part kind {kind!r}; choose from {', '.join(PART_KINDS)}")
    return _BUILDERS[kind](np.random.default_rng([seed, PART_KINDS.index(kind)]))


def sample_mesh(mesh: Mesh, n_points: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n_points`` points uniform by area over the mesh, with their face normals."""
    tri = mesh.triangles
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    face = rng.choice(len(tri), size=n_points, p=area / area.sum())
    u, v = rng.random(n_points), rng.random(n_points)
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    t = tri[face]
    pts = t[:, 0] + u[:, None] * (t[:, 1] - t[:, 0]) + v[:, None] * (t[:, 2] - t[:, 0])
    return pts, mesh.normals[face]


def make_part(kind: str, *, seed: int = 0, n_points: int = 20000, noise: float = DEFAULT_NOISE) -> Scan:
    """A scan-like point cloud of a procedural part.

    Parameters
    ----------
    kind:
        One of :data:`PART_KINDS`.
    seed:
        Varies the dimensions within the family and the sampling.
    n_points:
        Points to sample (at least 100).
    noise:
        Standard deviation of the Gaussian scanner noise, as a fraction of the part's
        bounding-box diagonal (0 for none).

    Returns
    -------
    Scan
        float32 points in millimetres with unit outward normals; ``metadata.format`` is
        ``"procedural"`` and ``metadata.extra`` holds the kind and seed.

    Raises
    ------
    ConfigError
        For an unknown kind, too few points or negative noise.
    """
    if n_points < 100:
        raise ConfigError(f"n_points must be at least 100, got {n_points}")
    if not noise >= 0:
        raise ConfigError(f"noise must be >= 0, got {noise}")
    mesh = part_mesh(kind, seed)
    rng = np.random.default_rng([seed, PART_KINDS.index(kind), n_points])
    pts, normals = sample_mesh(mesh, n_points, rng)
    diag = float(np.linalg.norm(pts.max(axis=0) - pts.min(axis=0)))
    pts = pts + rng.normal(scale=noise * diag, size=pts.shape)
    md = ScanMetadata(format="procedural", points_in_file=n_points, extra={"part": kind, "seed": str(seed)})
    return Scan(points=pts, normals=normals, metadata=md)
