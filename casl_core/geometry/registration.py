"""Align a scan to a reference from any initial pose: multi-start global search, then GICP.

Real test scans come in arbitrary poses and are one-sided views of a complete reference.
The alignment here needs no initial pose:

1. **Scale check.** A scan much larger or smaller than the reference (other units: mm
   against m) is refused before any search (:class:`AlignmentError`).
2. **Global search.** Both clouds are reduced to coarse voxel grids. Start rotations are
   the 24 that map the scan's principal axes onto the reference's (axis permutations and
   sign flips) plus a fixed set of uniformly spread ones. Each is tried with the scan's
   centroid on the reference's and shifted a tenth of the reference's size either way
   along each of its axes (the centroid of a one-sided view is not the whole part's).
   Every start gets a short GICP on a very coarse grid; the best distinct ones are
   refined on a finer coarse grid, with a wide correspondence cut-off, and scored by the
   truncated mean distance of the scan's coarse points to the reference (a one-sided
   score: a partial view is not penalised for the reference surface it does not see).
3. **Fine alignment.** The best starts are refined by GICP on finer grids with a tight
   cut-off (robust to partial overlap and to defects); the best by truncated residual
   wins.
4. **Check.** The RMS point-to-plane distance of the scan points within the cut-off of
   the reference (the RMSE) and their share (the overlap) are measured at full
   resolution; an alignment whose overlap is too small is refused.

A :class:`PreparedCloud` holds everything of a cloud that does not depend on the other
one (grids, covariances, k-d trees), so a reference is prepared once and aligned to many
scans, and a scan once for many references.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from casl_core.errors import CaslError

#: Grid of the global search's first, short pass over every start, in reference diagonals.
SCREEN_VOXEL = 1.0 / 12.0
#: Starts of the first pass kept for the coarse grid.
SCREEN_KEEP = 12
#: Shift of the scan's centroid from the reference's in the shifted starts, in reference diagonals.
START_SHIFT = 0.1
#: Coarse grid of the global search, in reference bounding-box diagonals.
COARSE_VOXEL = 1.0 / 30.0
#: Uniformly spread extra starts of the global search (besides the 24 axis-aligned ones).
EXTRA_STARTS = 24
#: Starts carried from the global search into fine alignment.
FINE_CANDIDATES = 3
#: Smallest share of scan points within the cut-off of the reference for an alignment to count.
MIN_OVERLAP = 0.5
#: Largest ratio of sizes (either way) between scan and reference before they are called another scale.
MAX_SCALE_RATIO = 1.6
#: The cut-off distance of the final check, in point spacings (the larger of scan's and reference's).
CUTOFF_SPACINGS = 4.0
#: Largest RMSE of an accepted alignment, in point spacings (the larger of scan's and reference's).
MAX_RMSE_SPACINGS = 2.0


class AlignmentError(CaslError):
    """A scan cannot be aligned to a reference (another scale, too little overlap)."""


def default_threads() -> int:
    """Threads small_gicp uses by default: one.

    small_gicp's OpenMP threads wait for each other at every step of GICP; on a machine
    whose cores are shared with other work, two threads measured ten times slower than
    one on a 12k-point view. Ask for more (``threads=``) on a machine of your own.
    """
    return 1


@dataclass(frozen=True)
class Alignment:
    """The rigid transform that puts a scan onto a reference, and how well it fits.

    Attributes
    ----------
    transform:
        ``(4, 4)`` float64: ``reference_point = R @ scan_point + t``.
    rmse:
        RMS point-to-plane distance of the scan points within ``cutoff`` of the reference.
    overlap:
        Share of the scan's points within ``cutoff`` of the reference.
    cutoff:
        The distance that separates overlapping points from the rest.
    spacing:
        The scan's point spacing (median nearest-neighbour distance).
    reference:
        Name of the reference aligned to.
    residual:
        The truncated mean distance the candidates were ranked by (lower is better).
    """

    transform: np.ndarray
    rmse: float
    overlap: float
    cutoff: float
    spacing: float
    reference: str
    residual: float

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Points of the scan moved into the reference's frame."""
        return np.asarray(points, dtype=np.float64) @ self.transform[:3, :3].T + self.transform[:3, 3]


def point_spacing(points: np.ndarray, sample: int = 4000, seed: int = 0) -> float:
    """Median distance from a point to its nearest neighbour (on up to ``sample`` points)."""
    pts = np.asarray(points, dtype=np.float64)
    probe = pts if len(pts) <= sample else pts[np.random.default_rng(seed).choice(len(pts), sample, replace=False)]
    d, _ = cKDTree(pts).query(probe, 2)
    return float(np.median(d[:, 1]))


@dataclass
class PreparedCloud:
    """A cloud made ready for alignment, with its voxel grids cached by size.

    Create with :func:`prepare_cloud`. ``points`` are float64 in the cloud's own frame;
    grids are built around ``centre`` (subtracted) so coordinates stay small.
    """

    name: str
    points: np.ndarray
    centre: np.ndarray
    diag: float
    spacing: float
    axes: np.ndarray
    extents: np.ndarray
    threads: int
    normals: np.ndarray | None = None
    _grids: dict[float, tuple[object, object, np.ndarray]] = field(default_factory=dict, repr=False)
    _tree: cKDTree | None = field(default=None, repr=False)

    def grid(self, voxel: float) -> tuple[object, object, np.ndarray]:
        """``(small_gicp.PointCloud, small_gicp.KdTree, points)`` on a voxel grid, centred, with covariances."""
        key = float(voxel)
        if key not in self._grids:
            import small_gicp

            # single-threaded voxel grid: the multi-threaded one is not deterministic
            cloud = small_gicp.voxelgrid_sampling(self.points - self.centre, key, num_threads=1)
            tree = small_gicp.KdTree(cloud, num_threads=self.threads)
            small_gicp.estimate_covariances(cloud, tree, num_neighbors=10, num_threads=self.threads)
            self._grids[key] = (cloud, tree, np.asarray(cloud.points())[:, :3].copy())
        return self._grids[key]

    @property
    def tree(self) -> cKDTree:
        """k-d tree of the full-resolution points."""
        if self._tree is None:
            self._tree = cKDTree(self.points)
        return self._tree


def prepare_cloud(
    points: np.ndarray, name: str, *, normals: np.ndarray | None = None, threads: int | None = None
) -> PreparedCloud:
    """Prepare a cloud for :func:`align` (principal axes, size, spacing; grids come lazily).

    Raises
    ------
    AlignmentError
        If the cloud has fewer than 10 points or no extent.
    """
    pts = np.ascontiguousarray(points, dtype=np.float64)
    if len(pts) < 10:
        raise AlignmentError(f"{name}: {len(pts)} points are too few to align")
    centre = pts.mean(axis=0)
    rel = pts - centre
    _, _, vt = np.linalg.svd(rel[:: max(1, len(rel) // 50000)], full_matrices=False)
    axes = vt.T
    proj = rel @ axes
    extents = proj.max(axis=0) - proj.min(axis=0)
    diag = float(np.linalg.norm(pts.max(axis=0) - pts.min(axis=0)))
    if not diag > 0:
        raise AlignmentError(f"{name}: all points coincide")
    return PreparedCloud(
        name=name,
        points=pts,
        centre=centre,
        diag=diag,
        spacing=point_spacing(pts),
        axes=axes,
        extents=extents,
        threads=threads or default_threads(),
        normals=None if normals is None else np.asarray(normals, dtype=np.float64),
    )


def check_scale(scan: PreparedCloud, ref: PreparedCloud) -> None:
    """Refuse a reference of another scale than the scan (another unit, another part).

    A partial view spans at most about the reference's size and at least a fraction of
    it; the largest principal extents are compared.

    Raises
    ------
    AlignmentError
        Naming both sizes and their ratio.
    """
    ratio = float(scan.extents[0] / ref.extents[0])
    if ratio > MAX_SCALE_RATIO or ratio < 1.0 / (2.5 * MAX_SCALE_RATIO):
        hint = " (another unit? mm against m is 1000)" if ratio > 50 or ratio < 1 / 50 else ""
        raise AlignmentError(
            f"reference {ref.name}: it spans {ref.extents[0]:.6g} and the scan {scan.name} spans "
            f"{scan.extents[0]:.6g} (ratio {ratio:.3g}): another scale{hint}; no deviation computed"
        )


_CUBE = np.array([r for r in Rotation.create_group("O").as_matrix()])


def _starts(scan: PreparedCloud, ref: PreparedCloud) -> list[np.ndarray]:
    """Rotations (scan centred frame -> reference centred frame) to start from."""
    axis_maps = [ref.axes @ g @ scan.axes.T for g in _CUBE]
    spread = Rotation.random(EXTRA_STARTS, random_state=np.random.default_rng(12345)).as_matrix()
    return axis_maps + list(spread)


def _gicp(ref_grid, scan_grid, init: np.ndarray, max_corr: float, threads: int, iterations: int):
    import small_gicp

    result = small_gicp.align(
        ref_grid[0],
        scan_grid[0],
        ref_grid[1],
        init_T_target_source=init,
        registration_type="GICP",
        max_correspondence_distance=max_corr,
        num_threads=threads,
        max_iterations=iterations,
    )
    return np.asarray(result.T_target_source)


def _truncated(ref_grid, scan_grid, transform: np.ndarray, cutoff: float, threads: int) -> float:
    """Mean of ``min(d, cutoff)`` over the scan grid's points moved by ``transform``."""
    moved = scan_grid[2] @ transform[:3, :3].T + transform[:3, 3]
    _, sq = ref_grid[1].batch_nearest_neighbor_search(moved, num_threads=threads)
    return float(np.minimum(np.sqrt(np.asarray(sq)), cutoff).mean())


@dataclass(frozen=True)
class Candidate:
    """A coarse alignment (centred frames) and its truncated residual."""

    transform: np.ndarray
    residual: float


def _distinct(found: list[Candidate], gap: float, keep: int) -> list[Candidate]:
    """Up to ``keep`` of ``found`` (best first), each at least ``gap`` (see :func:`_pose_gap`) from those before."""
    distinct: list[Candidate] = []
    for c in sorted(found, key=lambda c: c.residual):
        if all(_pose_gap(c.transform, d.transform) > gap for d in distinct):
            distinct.append(c)
            if len(distinct) == keep:
                break
    return distinct


def global_candidates(scan: PreparedCloud, ref: PreparedCloud, keep: int = FINE_CANDIDATES) -> list[Candidate]:
    """The best ``keep`` coarse alignments of the multi-start search, best first (centred frames)."""
    # coarse grids hold a few hundred to a few thousand points: one thread, no synchronisation cost
    screen = SCREEN_VOXEL * ref.diag
    ref_screen, scan_screen = ref.grid(screen), scan.grid(screen)
    shifts = [np.zeros(3)] + [sign * START_SHIFT * ref.diag * ref.axes[:, i] for i in range(3) for sign in (1, -1)]
    screened = []
    for rot in _starts(scan, ref):
        for shift in shifts:
            init = np.eye(4)
            init[:3, :3], init[:3, 3] = rot, shift
            t = _gicp(ref_screen, scan_screen, init, 0.25 * ref.diag, 1, 15)
            screened.append(Candidate(t, _truncated(ref_screen, scan_screen, t, 2.0 * screen, 1)))
    voxel = COARSE_VOXEL * ref.diag
    ref_grid, scan_grid = ref.grid(voxel), scan.grid(voxel)
    found = []
    for start in _distinct(screened, 0.05 * ref.diag, SCREEN_KEEP):
        t = _gicp(ref_grid, scan_grid, start.transform, 0.25 * ref.diag, 1, 30)
        t = _gicp(ref_grid, scan_grid, t, 3.0 * voxel, 1, 30)
        found.append(Candidate(t, _truncated(ref_grid, scan_grid, t, 2.0 * voxel, 1)))
    return _distinct(found, 0.1 * ref.diag, keep)


def _pose_gap(a: np.ndarray, b: np.ndarray) -> float:
    """How far apart two poses put points around the origin (rotation and translation together)."""
    return float(np.linalg.norm(a[:3, 3] - b[:3, 3]) + np.linalg.norm(a[:3, :3] - b[:3, :3]))


def _fine_voxel(scan: PreparedCloud, ref: PreparedCloud) -> float:
    """Grid size of the finest alignment step: a little above the point spacing, at least 1/250 of the size."""
    return max(1.5 * max(scan.spacing, ref.spacing), ref.diag / 250.0)


#: The fine alignment's steps: (grid, correspondence cut-off), in cells of the finest grid.
FINE_STEPS = ((4.0, 12.0), (1.0, 4.0))


def refine(scan: PreparedCloud, ref: PreparedCloud, start: np.ndarray, step: int) -> Candidate:
    """One step of fine GICP (:data:`FINE_STEPS`) from an alignment (centred frames).

    The residual is truncated at two cells of the step's grid: at the first step (a grid four
    times the finest) that is enough to tell a right start from a wrong one.
    """
    fine = _fine_voxel(scan, ref)
    cells, corr = FINE_STEPS[step]
    voxel = cells * fine
    ref_grid, scan_grid = ref.grid(voxel), scan.grid(voxel)
    t = _gicp(ref_grid, scan_grid, start, corr * fine, scan.threads, 40)
    return Candidate(t, _truncated(ref_grid, scan_grid, t, 2.0 * voxel, scan.threads))


def to_world(t_centred: np.ndarray, scan: PreparedCloud, ref: PreparedCloud) -> np.ndarray:
    """A transform between centred frames as one between the clouds' own frames."""
    out = t_centred.copy()
    out[:3, 3] = t_centred[:3, 3] + ref.centre - t_centred[:3, :3] @ scan.centre
    return out


def measure(
    scan: PreparedCloud, ref: PreparedCloud, transform: np.ndarray, sample: int = 50000
) -> tuple[float, float, float]:
    """``(rmse, overlap, cutoff)`` of an alignment at full resolution (see :class:`Alignment`)."""
    pts = scan.points
    if len(pts) > sample:
        pts = pts[np.random.default_rng(0).choice(len(pts), sample, replace=False)]
    moved = pts @ transform[:3, :3].T + transform[:3, 3]
    cutoff = CUTOFF_SPACINGS * max(scan.spacing, ref.spacing)
    dist, idx = ref.tree.query(moved, workers=-1)
    inside = dist <= cutoff
    if ref.normals is not None:
        err = np.einsum("ij,ij->i", moved - ref.points[idx], ref.normals[idx])
    else:
        err = dist
    rmse = float(np.sqrt(np.mean(err[inside] ** 2))) if inside.any() else float("inf")
    return rmse, float(inside.mean()), cutoff


def align(scan: PreparedCloud, ref: PreparedCloud, candidates: list[Candidate] | None = None) -> Alignment:
    """Align ``scan`` to ``ref`` from any pose (see the module docstring).

    Parameters
    ----------
    candidates:
        Coarse alignments from :func:`global_candidates` when already computed (a
        pre-screen over several references); searched here otherwise.

    Raises
    ------
    AlignmentError
        If the scales differ or the best alignment overlaps too little.
    """
    check_scale(scan, ref)
    if candidates is None:
        candidates = global_candidates(scan, ref)
    # every candidate gets the first fine step, only the best the last (a wrong start would
    # spend most of the time there, converging slowly at full density)
    coarse = min((refine(scan, ref, c.transform, 0) for c in candidates), key=lambda c: c.residual)
    best = refine(scan, ref, coarse.transform, 1)
    transform = to_world(best.transform, scan, ref)
    rmse, overlap, cutoff = measure(scan, ref, transform)
    if overlap < MIN_OVERLAP:
        raise AlignmentError(
            f"reference {ref.name}: the scan {scan.name} cannot be aligned to it: only {overlap:.0%} of its "
            f"points come within {cutoff:.4g} of the reference after alignment (needs {MIN_OVERLAP:.0%}); "
            "no deviation computed"
        )
    limit = MAX_RMSE_SPACINGS * max(scan.spacing, ref.spacing)
    if rmse > limit:
        raise AlignmentError(
            f"reference {ref.name}: the scan {scan.name} cannot be aligned to it: the residual after alignment "
            f"is {rmse:.4g}, above {limit:.4g} ({MAX_RMSE_SPACINGS:g} point spacings); no deviation computed"
        )
    return Alignment(transform, rmse, overlap, cutoff, scan.spacing, ref.name, best.residual)
