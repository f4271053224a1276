"""Connected regions of points scored above a threshold, and a pass/fail verdict per scan.

A region is a connected component of the radius graph on the points whose score is at or
above the threshold (``score >= threshold``, the convention of :mod:`casl_core.metrics`):
two such points are linked when they lie within the link radius of each other. The link
radius is a multiple of the scan's point spacing (the median distance from a point to its
nearest neighbour), so it follows the sampling density rather than the object's size.
Regions smaller than a minimum number of points are dropped as speckle.

A scan fails inspection when it has a region of at least ``fail_points`` points.

The graph is built with a k-d tree: each point asks for its nearest neighbours within the
radius (at most :data:`NEIGHBOURS_QUERIED`, in chunks, so memory stays bounded on millions
of points); the rare points that still have more neighbours inside the radius get them all
with a ball query, so the components are those of the exact radius graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from casl_core.errors import ConfigError

#: Link radius over point spacing by default: wide enough to bridge the gaps of random
#: sampling (measured on the demo defects: at 2.5 one dent splits into a dozen pieces),
#: narrow enough that two defects several points apart stay separate.
DEFAULT_LINK_FACTOR = 4.0
#: Points whose nearest-neighbour distance estimates the spacing.
SPACING_SAMPLE = 4096
#: Neighbours asked for per point before falling back to a ball query.
NEIGHBOURS_QUERIED = 16
_CHUNK = 65536


@dataclass(frozen=True)
class Region:
    """One connected region above the threshold.

    Attributes
    ----------
    indices:
        Sorted int64 indices of its points in the scan.
    max_score, mean_score:
        Largest and mean score of its points.
    centroid:
        Mean position of its points in scan coordinates (without ``metadata.offset``).
    peak_index:
        The point with the largest score.
    centre_index:
        The point nearest the centroid (a point on the surface to look at).
    """

    indices: np.ndarray
    max_score: float
    mean_score: float
    centroid: tuple[float, float, float]
    peak_index: int
    centre_index: int

    @property
    def size(self) -> int:
        """Number of points."""
        return int(len(self.indices))


@dataclass(frozen=True)
class RegionResult:
    """The regions of one scan at one threshold.

    Attributes
    ----------
    threshold:
        Points scoring at or above it were grouped.
    link_radius:
        Points closer than this were linked.
    min_points:
        Regions smaller than this were dropped.
    above:
        Number of points at or above the threshold (in kept regions or not).
    regions:
        Kept regions, largest first (ties: higher peak score first).
    """

    threshold: float
    link_radius: float
    min_points: int
    above: int
    regions: tuple[Region, ...]

    def largest(self) -> int:
        """Size of the largest region, 0 when there is none."""
        return self.regions[0].size if self.regions else 0


@dataclass(frozen=True)
class Verdict:
    """Pass or fail of one scan.

    Attributes
    ----------
    passed:
        False when a region of at least ``fail_points`` points exists.
    fail_points:
        The region size that fails a scan.
    largest_region:
        Size of the largest region found.
    failing_regions:
        Number of regions of at least ``fail_points`` points.
    """

    passed: bool
    fail_points: int
    largest_region: int
    failing_regions: int

    @property
    def text(self) -> str:
        """``"PASS"`` or ``"FAIL"``."""
        return "PASS" if self.passed else "FAIL"


def _check_points(points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ConfigError(f"points must have shape (N, 3), got {pts.shape}")
    return pts


def point_spacing(
    points: np.ndarray, *, sample: int = SPACING_SAMPLE, seed: int = 0, tree: cKDTree | None = None
) -> float:
    """Median distance from a point to its nearest other point (over a random sample).

    Parameters
    ----------
    points:
        ``(N, 3)`` coordinates, N >= 2.
    sample:
        How many points to measure (all when N is smaller).
    seed:
        Seed of the sample.
    tree:
        A k-d tree already built on ``points``, to save building one.

    Raises
    ------
    ConfigError
        If there are fewer than two points or all sampled points coincide with others.
    """
    pts = _check_points(points)
    if len(pts) < 2:
        raise ConfigError(f"point spacing needs at least two points, got {len(pts)}")
    tree = tree if tree is not None else cKDTree(pts)
    rows = np.random.default_rng(seed).choice(len(pts), min(sample, len(pts)), replace=False)
    dist, _ = tree.query(pts[rows], k=2)
    positive = dist[:, 1][dist[:, 1] > 0]
    if len(positive) == 0:
        raise ConfigError(f"cannot measure point spacing: the {len(pts)} points coincide")
    return float(np.median(positive))


def link_radius(points: np.ndarray, factor: float = DEFAULT_LINK_FACTOR) -> float:
    """The default link radius: ``factor`` times :func:`point_spacing`.

    Raises
    ------
    ConfigError
        If ``factor`` is not positive, or as :func:`point_spacing`.
    """
    if not factor > 0:
        raise ConfigError(f"link factor must be positive, got {factor}")
    return factor * point_spacing(points)


def _radius_edges(pts: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Both ends of every pair of points closer than ``radius`` (each pair at least once)."""
    tree = cKDTree(pts)
    k = min(NEIGHBOURS_QUERIED, len(pts))
    heads, tails = [], []
    for start in range(0, len(pts), _CHUNK):
        rows = np.arange(start, min(start + _CHUNK, len(pts)))
        dist, idx = tree.query(pts[rows], k=k, distance_upper_bound=radius)
        # scipy drops the neighbour axis when k == 1 (a single point above the threshold)
        dist, idx = dist.reshape(len(rows), k), idx.reshape(len(rows), k)
        linked = np.isfinite(dist)
        linked[:, 0] = False  # the point itself
        heads.append(np.repeat(rows, linked.sum(axis=1)).astype(np.int64))
        tails.append(idx[linked].astype(np.int64))
        full = rows[linked[:, -1]] if k == NEIGHBOURS_QUERIED else rows[:0]
        for row, found in zip(full, tree.query_ball_point(pts[full], radius)):
            heads.append(np.full(len(found), row, dtype=np.int64))
            tails.append(np.asarray(found, dtype=np.int64))
    return np.concatenate(heads), np.concatenate(tails)


def radius_components(points: np.ndarray, radius: float) -> np.ndarray:
    """Component label of each point in the graph linking points closer than ``radius``.

    Labels are ``0 .. C-1``; points with no neighbour form their own component.

    Raises
    ------
    ConfigError
        If ``points`` is not ``(N, 3)`` or ``radius`` is not a positive finite number.
    """
    pts = _check_points(points).astype(np.float64)
    if not (np.isfinite(radius) and radius > 0):
        raise ConfigError(f"link radius must be a positive finite number, got {radius}")
    n = len(pts)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    heads, tails = _radius_edges(pts, radius)
    graph = coo_matrix((np.ones(len(heads), dtype=np.int8), (heads, tails)), shape=(n, n)).tocsr()
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)


def _region(points: np.ndarray, scores: np.ndarray, members: np.ndarray) -> Region:
    pts = points[members].astype(np.float64)
    s = scores[members]
    centroid = pts.mean(axis=0)
    nearest = members[int(np.argmin(((pts - centroid) ** 2).sum(axis=1)))]
    return Region(
        indices=members,
        max_score=float(s.max()),
        mean_score=float(s.mean()),
        centroid=(float(centroid[0]), float(centroid[1]), float(centroid[2])),
        peak_index=int(members[int(np.argmax(s))]),
        centre_index=int(nearest),
    )


def find_regions(
    points: np.ndarray, scores: np.ndarray, threshold: float, *, min_points: int = 1, radius: float | None = None
) -> RegionResult:
    """The connected regions of the points scoring at or above ``threshold``.

    Parameters
    ----------
    points:
        ``(N, 3)`` coordinates.
    scores:
        ``(N,)`` scores; NaN never counts as above.
    threshold:
        Finite threshold.
    min_points:
        Regions with fewer points are dropped (>= 1).
    radius:
        Link radius; :func:`link_radius` of ``points`` when None.

    Raises
    ------
    ConfigError
        On mismatched shapes, a non-finite threshold, ``min_points < 1`` or a bad radius.
    """
    pts = _check_points(points)
    s = np.asarray(scores)
    if s.shape != (len(pts),):
        raise ConfigError(f"scores must have shape ({len(pts)},), got {s.shape}")
    if not np.isfinite(threshold):
        raise ConfigError(f"threshold must be finite, got {threshold}")
    if min_points < 1:
        raise ConfigError(f"minimum region size must be at least 1 point, got {min_points}")
    above = np.flatnonzero(s >= threshold)
    if radius is None:
        radius = link_radius(pts) if len(above) > 1 else 1.0
    labels = radius_components(pts[above], radius)
    order = np.argsort(labels, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(labels[order]) != 0]) if len(order) else np.zeros(0, int)
    groups = np.split(above[order], starts[1:]) if len(order) else []
    regions = [_region(pts, s, g) for g in groups if len(g) >= min_points]
    regions.sort(key=lambda r: (-r.size, -r.max_score, r.peak_index))
    return RegionResult(float(threshold), float(radius), int(min_points), int(len(above)), tuple(regions))


def verdict(result: RegionResult, fail_points: int) -> Verdict:
    """Pass/fail of a scan: it fails when a region of at least ``fail_points`` points exists.

    Raises
    ------
    ConfigError
        If ``fail_points < 1``.
    """
    if fail_points < 1:
        raise ConfigError(f"the failing region size must be at least 1 point, got {fail_points}")
    failing = sum(1 for r in result.regions if r.size >= fail_points)
    return Verdict(
        passed=failing == 0, fail_points=int(fail_points), largest_region=result.largest(), failing_regions=failing
    )
