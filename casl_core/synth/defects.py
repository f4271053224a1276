"""Synthetic surface defects on real normal scans, with per-point ground truth.

:func:`synthesize_defect` turns a normal scan into an anomalous test sample: it picks a
spot, changes the geometry there and labels exactly the points it changed (for a hole,
the points left on its rim). Lengths are fractions of the scan's bounding-box diagonal:
``size`` is the defect's diameter, ``depth`` its largest displacement. The labelled set
is one connected patch (linked at a few point spacings) holding 0.5-5 % of the points
where the scan allows it.

Kinds: ``bulge`` and ``concavity`` (a smooth cap pushed out or in along the normals),
``crack`` (a narrow deep groove along a random tangent direction), ``scratch`` (a long,
thin, shallow groove), ``hole`` (a disc of points removed, its rim labelled) and
``broken_edge`` (a chip: near a point of high surface variation, the points above a
cutting plane are flattened onto it).

:func:`make_test_set` writes a whole data set from normal scans in the Real3D-AD or
plain-folder layout (see :mod:`casl_core.datasets`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from casl_core.errors import ConfigError
from casl_core.geometry.neighbors import KnnIndex
from casl_core.geometry.normals import estimate_normals, local_normals
from casl_core.scan import Scan
from casl_core.synth.kinds import DefectKind

DEFAULT_SIZE = 0.12
DEFAULT_DEPTH = 0.03
MIN_FRACTION = 0.005
MAX_FRACTION = 0.05


class _Local(NamedTuple):
    """What every defect needs to know about the scan."""

    pts: np.ndarray  # (N, 3) float64
    normals: np.ndarray  # (N, 3) unit, oriented outwards
    variation: np.ndarray  # (N,) surface variation l0 / (l0 + l1 + l2)
    tree: cKDTree
    diag: float
    spacing: float  # median distance to the 4th nearest neighbour
    allowed: np.ndarray | None = None  # (N,) bool: where a defect may be centred; None: anywhere


def _local(scan: Scan) -> _Local:
    pts = scan.points.astype(np.float64)
    if len(pts) < 50:
        raise ConfigError(f"{scan.name}: {len(pts)} points are too few to place a defect on")
    est_normals, variation = estimate_normals(pts)
    if scan.normals is not None:
        given = scan.normals.astype(np.float64)
        length = np.linalg.norm(given, axis=1, keepdims=True)
        usable = length[:, 0] > 1e-6
        est_normals[usable] = given[usable] / length[usable]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    diag = float(np.linalg.norm(hi - lo))
    if diag <= 0:
        raise ConfigError(f"{scan.name}: all points coincide")
    tree = cKDTree(pts)
    probe = pts[:: max(1, len(pts) // 2000)]
    d, _ = tree.query(probe, min(5, len(pts)))
    spacing = float(np.median(d[:, -1])) or diag * 1e-3
    return _Local(pts, est_normals, variation, tree, diag, spacing)


def _component_of(loc: _Local, candidates: np.ndarray, seed: int) -> np.ndarray:
    """The candidates (index array) linked to ``seed`` at two point spacings."""
    if len(candidates) == 0:
        return candidates
    sub = loc.pts[candidates]
    pairs = cKDTree(sub).query_pairs(2.0 * loc.spacing, output_type="ndarray")
    n = len(candidates)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    where = np.flatnonzero(candidates == seed)
    start = int(where[0]) if len(where) else int(np.argmin(np.linalg.norm(sub - loc.pts[seed], axis=1)))
    return candidates[comp == comp[start]]


def _patch(loc: _Local, centre: int, radius: float, same_side: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Connected points around ``centre`` sized to 0.5-5 % of the scan: (indices, distances)."""
    n = len(loc.pts)
    cand = np.asarray(loc.tree.query_ball_point(loc.pts[centre], 2.0 * radius), dtype=np.int64)
    if same_side:
        cand = cand[loc.normals[cand] @ loc.normals[centre] > 0.2]
    comp = _component_of(loc, cand, centre)
    dist = np.linalg.norm(loc.pts[comp] - loc.pts[centre], axis=1)
    order = np.argsort(dist, kind="stable")
    wanted = int(np.sum(dist <= radius))
    wanted = int(np.clip(wanted, max(8, MIN_FRACTION * n), MAX_FRACTION * n))
    keep = order[: min(wanted, len(order))]
    idx = _component_of(loc, comp[keep], centre)
    return idx, np.linalg.norm(loc.pts[idx] - loc.pts[centre], axis=1)


def _pick_centre(loc: _Local, rng: np.random.Generator, edge: bool) -> int:
    if loc.allowed is not None:
        pool = np.flatnonzero(loc.allowed)
        if edge:
            variation = loc.variation[pool]
            pool = pool[variation >= np.quantile(variation, 0.98)]
        return int(rng.choice(pool))
    if edge:
        top = np.flatnonzero(loc.variation >= np.quantile(loc.variation, 0.98))
        return int(rng.choice(top))
    return int(rng.integers(len(loc.pts)))


def _tangent_frame(normal: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random unit tangent ``t`` and ``b = n x t``."""
    helper = rng.normal(size=3)
    t = helper - (helper @ normal) * normal
    t /= np.linalg.norm(t)
    return t, np.cross(normal, t)


def _cap(
    loc: _Local, rng: np.random.Generator, size: float, depth: float, sign: float
) -> tuple[np.ndarray, np.ndarray]:
    centre = _pick_centre(loc, rng, edge=False)
    idx, dist = _patch(loc, centre, 0.5 * size * loc.diag)
    t = dist / max(float(dist.max()), 1e-12)
    height = sign * depth * loc.diag * (1.0 - 0.95 * t**2)
    return idx, height[:, None] * loc.normals[idx]


def _groove(
    loc: _Local, rng: np.random.Generator, length: float, half_width: float, depth: float
) -> tuple[np.ndarray, np.ndarray]:
    """A straight groove along a random tangent, pushed in along the normals.

    The groove is widened (and lengthened) until it holds at least 0.5 % of the points.
    """
    centre = _pick_centre(loc, rng, edge=False)
    n_c = loc.normals[centre]
    t, b = _tangent_frame(n_c, rng)
    half_width = max(half_width, 1.0 * loc.spacing)
    for _ in range(6):
        idx, u, v = _band(loc, centre, t, b, length, half_width)
        if len(idx) >= MIN_FRACTION * len(loc.pts):
            break
        half_width *= 1.4
        length *= 1.15
    limit = int(MAX_FRACTION * len(loc.pts))
    if len(idx) > limit:
        keep = np.argsort(np.abs(u), kind="stable")[:limit]
        idx, u, v = idx[keep], u[keep], v[keep]
    across = 1.0 - 0.9 * (v / half_width) ** 2
    along = 1.0 - 0.9 * (2.0 * u / length) ** 8
    height = -depth * loc.diag * np.clip(across, 0.1, 1.0) * np.clip(along, 0.1, 1.0)
    return idx, height[:, None] * loc.normals[idx]


def _band(loc: _Local, centre: int, t: np.ndarray, b: np.ndarray, length: float, half_width: float):
    """Connected points within ``length / 2`` along ``t`` and ``half_width`` along ``b``: (idx, u, v)."""
    n_c = loc.normals[centre]
    cand = np.asarray(loc.tree.query_ball_point(loc.pts[centre], 0.5 * length + half_width), dtype=np.int64)
    rel = loc.pts[cand] - loc.pts[centre]
    u, v, h = rel @ t, rel @ b, rel @ n_c
    inside = (np.abs(u) <= 0.5 * length) & (np.abs(v) <= half_width) & (np.abs(h) <= 0.25 * length)
    inside &= loc.normals[cand] @ n_c > 0.2
    idx = _component_of(loc, cand[inside], centre)
    rel = loc.pts[idx] - loc.pts[centre]
    return idx, rel @ t, rel @ b


def _broken_edge(loc: _Local, rng: np.random.Generator, size: float, depth: float) -> tuple[np.ndarray, np.ndarray]:
    """Flatten the points above a cutting plane near a sharp point onto the plane."""
    centre = _pick_centre(loc, rng, edge=True)
    idx, _ = _patch(loc, centre, 0.5 * size * loc.diag, same_side=False)
    bisector = loc.normals[idx].mean(axis=0)
    norm = np.linalg.norm(bisector)
    m = bisector / norm if norm > 0.1 else loc.normals[centre]
    h = (loc.pts[idx] - loc.pts[centre]) @ m
    level = max(float(h.max()) - depth * loc.diag, float(np.quantile(h, 0.3)))
    cut = h > level
    if cut.sum() < 8:
        cut = h >= np.sort(h)[-min(8, len(h))]  # a one-sided view can leave a patch of a few points
    idx, h = idx[cut], h[cut]
    idx = _component_of(loc, idx, int(idx[np.argmax(h)]))
    h = (loc.pts[idx] - loc.pts[centre]) @ m
    return idx, -(h - level)[:, None] * m[None, :]


def _refreshed_normals(scan: Scan, new_pts: np.ndarray, changed: np.ndarray) -> np.ndarray | None:
    """The scan's normals with those near the changed points re-estimated on the new shape."""
    if scan.normals is None:
        return None
    normals = scan.normals.astype(np.float64).copy()
    index = KnnIndex(np.asarray(new_pts, dtype=np.float64))
    near = np.unique(index.query(new_pts[changed], 8)[1])
    fresh, _ = local_normals(new_pts, near, 16, index)
    flip = np.einsum("ni,ni->n", fresh, normals[near]) < 0
    fresh[flip] *= -1
    normals[near] = fresh
    return normals


def _with_defect(scan: Scan, points: np.ndarray, labels: np.ndarray, kind: DefectKind, changed: np.ndarray) -> Scan:
    extra = dict(scan.metadata.extra)
    extra["defect"] = kind.value
    return Scan(
        points=points.astype(np.float32),
        normals=_refreshed_normals(scan, points, changed),
        colors=scan.colors,
        labels=labels,
        fields=dict(scan.fields),
        metadata=replace(scan.metadata, extra=extra, faces=None),
    )


def _hole(scan: Scan, loc: _Local, rng: np.random.Generator, size: float, attempts: int = 8) -> Scan:
    """Remove a disc of points; label the ring of points left around it.

    Spots where the ring would fall apart (a hole across a thin rib) are retried.
    """
    for _ in range(attempts):
        centre = _pick_centre(loc, rng, edge=False)
        idx, dist = _patch(loc, centre, 0.5 * size * loc.diag)
        inner = 0.6 * float(dist.max())
        removed, rim = idx[dist < inner], idx[dist >= inner]
        linked = _component_of(loc, rim, int(rim[0])) if len(rim) else rim
        if len(linked) == len(rim):
            break
    if len(linked) < len(rim):
        rim = max((_component_of(loc, rim, int(i)) for i in rim[:: max(1, len(rim) // 8)]), key=len)
    labels = np.zeros(len(loc.pts), dtype=np.uint8)
    labels[rim] = 1
    keep = np.ones(len(loc.pts), dtype=bool)
    keep[removed] = False
    extra = dict(scan.metadata.extra)
    extra["defect"] = DefectKind.HOLE.value
    tagged = Scan(
        points=scan.points,
        normals=scan.normals,
        colors=scan.colors,
        labels=labels,
        fields=dict(scan.fields),
        metadata=replace(scan.metadata, extra=extra, faces=None),
    )
    return tagged.subset(keep)


def synthesize_defect(
    scan: Scan,
    kind: DefectKind | str,
    rng: np.random.Generator,
    *,
    size: float = DEFAULT_SIZE,
    depth: float = DEFAULT_DEPTH,
    centre_in: np.ndarray | None = None,
) -> Scan:
    """Return a copy of a normal scan with one synthetic defect and per-point labels.

    Parameters
    ----------
    scan:
        A normal scan (its labels, if any, are replaced).
    kind:
        A :class:`DefectKind` or its value.
    rng:
        Source of every random choice (same generator state, same result).
    size:
        Defect diameter as a fraction of the bounding-box diagonal (grooves are longer).
    depth:
        Largest displacement as a fraction of the diagonal (cracks 1.5x, scratches 0.4x).
    centre_in:
        Optional ``(N,)`` boolean mask of the points the defect may be centred on (the
        side of a part a camera sees, say); ``None`` for anywhere.

    Returns
    -------
    Scan
        Same points order (a hole removes points; ``metadata.source_index`` maps the rest
        back), labels uint8 with 1 on the defect, ``metadata.extra["defect"]`` the kind.
        Normals are re-estimated near the defect when the scan had normals.

    Raises
    ------
    ConfigError
        If the kind is unknown, size/depth are out of range, the scan is too small, or
        ``centre_in`` is not a non-empty mask of the scan's points.
    """
    try:
        kind = DefectKind(kind)
    except ValueError:
        raise ConfigError(f"unknown defect kind {kind!r}; choose from {[k.value for k in DefectKind]}") from None
    if not 0.0 < size <= 0.5 or not 0.0 < depth <= 0.5:
        raise ConfigError(f"size and depth must be in (0, 0.5], got size={size}, depth={depth}")
    loc = _local(scan)
    if centre_in is not None:
        allowed = np.asarray(centre_in, dtype=bool)
        if allowed.shape != (len(scan),) or not allowed.any():
            raise ConfigError(f"{scan.name}: centre_in must mark some of the scan's {len(scan)} points")
        loc = loc._replace(allowed=allowed)
    if kind is DefectKind.HOLE:
        return _hole(scan, loc, rng, size)
    if kind is DefectKind.BULGE:
        idx, disp = _cap(loc, rng, size, depth, +1.0)
    elif kind is DefectKind.CONCAVITY:
        idx, disp = _cap(loc, rng, size, depth, -1.0)
    elif kind is DefectKind.CRACK:
        length = 1.5 * size
        idx, disp = _groove(loc, rng, length * loc.diag, 0.06 * length * loc.diag, 1.5 * depth)
    elif kind is DefectKind.SCRATCH:
        length = 2.5 * size
        idx, disp = _groove(loc, rng, length * loc.diag, 0.025 * length * loc.diag, 0.4 * depth)
    else:
        idx, disp = _broken_edge(loc, rng, size, depth)
    points = loc.pts.copy()
    points[idx] += disp
    labels = np.zeros(len(points), dtype=np.uint8)
    labels[idx] = 1
    return _with_defect(scan, points, labels, kind, idx)
