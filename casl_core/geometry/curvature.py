"""Multi-scale surface variation (curvature) and normals of a point cloud.

For a neighbourhood with covariance eigenvalues ``l0 <= l1 <= l2`` the surface variation
is ``l0 / (l0 + l1 + l2)``, in [0, 1/3]: 0 on a plane, 1/3 for an isotropic blob. The
covariance is taken about the neighbourhood's own mean and divided by its point count.

Two modes, computed in one pass over chunks of points (memory stays bounded):

* exact (``ks=[16, 32, 64]``): the ``k`` nearest points, counting the point itself,
  fields ``curvature_k<k>``. One k-d tree query at ``max(ks)``; every smaller ``k`` comes
  from running sums along the nearest-first neighbour axis.
* multi-scale (default, ``ks=None``): fields ``curvature_s16``, ``curvature_s64`` and
  ``curvature_s256``. ``s16`` is the exact 16-nearest-point neighbourhood; for ``s64`` and
  ``s256`` the 24 voxel cells with centroids nearest to the point, on grids calibrated so
  that occupied cells hold about 4 and 16 points, are taken nearest first until they hold
  64 (256) points, the last one fractionally. Cell moments (count, sum, second moments) add
  up exactly, so the covariance of that union is exact; only which points are in the
  neighbourhood differs from exact k-NN (see ``docs/curvature.md`` for the measured gap).

Degenerate clouds stay near-linear in time: coincident points are searched once (see
:mod:`casl_core.geometry.degenerate`), and a cloud that is identical, collinear, coplanar or
a handful of points as a whole gets a :class:`~casl_core.geometry.degenerate.DegenerateCloudWarning`.

Normals are the eigenvectors of ``l0`` at the finest scale, oriented away from the
cloud's centroid (where a normal is nearly perpendicular to that direction, towards the
side of the cloud's own smallest principal axis). Eigenvalues and eigenvectors are closed
form in float64 (:mod:`casl_core.geometry.eigen3`). On CUDA the moments, eigenvalues and
normals run in torch on the GPU; the k-d tree searches stay on the CPU.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from casl_core.columns import column_mean
from casl_core.errors import CaslError, ConfigError
from casl_core.fields import CURVATURE_FLAGS, curvature_field
from casl_core.geometry.curvature_passes import (
    Backend,
    Outputs,
    Tally,
    chunk_cells,
    chunk_points,
    collect,
    resolve_backend,
    store_per_cell,
    submit_per_cell,
)
from casl_core.geometry.degenerate import DUPLICATE_BIT, collapse_duplicates, warn_if_degenerate
from casl_core.geometry.neighbors import KnnIndex, chunk_rows, spatial_order
from casl_core.geometry.pyramid import CELLS_QUERIED, PER_CELL_SCALE, PyramidLevel, build_level, first_guesses
from casl_core.progress import CancelFn, ProgressFn, check_cancel, report
from casl_core.scan import Scan

#: Neighbourhood sizes of the default multi-scale mode, fine to coarse.
DEFAULT_SCALES: tuple[int, ...] = (16, 64, 256)

#: Field names of the default multi-scale mode, fine to coarse.
DEFAULT_FIELDS: tuple[str, ...] = tuple(curvature_field(s) for s in DEFAULT_SCALES)

#: Name of the per-point uint8 field holding the degenerate-neighbourhood bits.
FLAGS_FIELD = CURVATURE_FLAGS

#: Largest number of scales (one flag bit each, bits 0..6; bit 7 is :data:`DUPLICATE_BIT`).
MAX_SCALES = 7


@dataclass(frozen=True)
class CurvatureResult:
    """Curvature fields, degenerate flags and normals of one cloud.

    Attributes
    ----------
    fields:
        float32 ``(N,)`` arrays keyed ``curvature_k<k>`` (exact mode) or
        ``curvature_s<scale>`` (multi-scale mode), fine to coarse.
    degenerate:
        uint8 ``(N,)``; bit ``i`` is set when the neighbourhood of field ``i`` was degenerate:
        rank < 2 (all points at one place, duplicates only, or on a line) or fewer points
        available than asked (the whole cloud was used). Bit 7
        (:data:`~casl_core.geometry.degenerate.DUPLICATE_BIT`, value 128) is set on points
        that share their exact position with another point: duplicates are collapsed before
        the neighbour search (each position searched once, counted with its copies, so the
        values are those of the full cloud) and the values given back to every copy.
    normals:
        float32 ``(N, 3)`` unit normals from the finest scale, oriented away from the centroid.
    mean_neighbors:
        Mean neighbourhood size actually used, per field.
    """

    fields: dict[str, np.ndarray]
    degenerate: np.ndarray
    normals: np.ndarray
    mean_neighbors: dict[str, float]


def _validate_points(points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise CaslError(f"points must have shape (N, 3), got {pts.shape}")
    if len(pts) == 0:
        raise CaslError("cannot compute curvature of an empty cloud (0 points)")
    if not np.issubdtype(pts.dtype, np.number):
        raise CaslError(f"points must be numbers, got dtype {pts.dtype}")
    pts = pts.astype(np.float64)
    bad = ~np.isfinite(pts).all(axis=1)
    if bad.any():
        raise CaslError(
            f"{int(bad.sum())} of {len(pts)} points have non-finite coordinates (first at row {int(np.argmax(bad))})"
        )
    return pts


def _validate_ks(ks: Sequence[int] | None) -> tuple[int, ...] | None:
    if ks is None:
        return None
    try:
        values = sorted({int(k) for k in ks})
        whole = all(float(k) == int(k) for k in ks)
    except (TypeError, ValueError):
        whole = False
    if not whole:
        raise ConfigError(f"ks must be a sequence of whole numbers, got {ks!r}")
    if not values:
        raise ConfigError("ks is empty: give at least one neighbourhood size, e.g. 16 32 64")
    if values[0] < 3:
        raise ConfigError(f"every k must be at least 3 (the point and two neighbours), got {values[0]}")
    if len(values) > MAX_SCALES:
        raise ConfigError(f"at most {MAX_SCALES} neighbourhood sizes, got {len(values)}")
    return tuple(values)


def compute_curvature(
    points: np.ndarray,
    *,
    ks: Sequence[int] | None = None,
    device: str = "cpu",
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> CurvatureResult:
    """Surface variation at several neighbourhood sizes, and normals, of every point.

    Parameters
    ----------
    points:
        ``(N, 3)`` coordinates, any float dtype; large offsets are fine (moments are
        taken in float64 relative to each query point).
    ks:
        ``None`` for the default multi-scale mode (fields ``curvature_s16``, ``_s64``,
        ``_s256``), or neighbourhood sizes for exact k-NN (fields ``curvature_k<k>``);
        ``k`` counts the point itself and must be at least 3.
    device:
        ``"cpu"`` (NumPy), ``"cuda"``, ``"cuda:N"``, ``"auto"`` (CUDA when available) or
        ``"torch-cpu"`` (the torch path on CPU tensors, for checking it without a GPU).
    progress:
        Called with :class:`~casl_core.progress.Progress` reports (stage ``"curvature"``).
    cancel:
        Polled between chunks; when it returns True the work stops.

    Returns
    -------
    CurvatureResult

    Raises
    ------
    CaslError
        Empty cloud, wrong shape or non-finite coordinates.
    ConfigError
        A ``k`` below 3, too many ``ks``, or an unknown or unavailable device.
    Cancelled
        When ``cancel`` asked to stop.
    """
    pts = _validate_points(points)
    ks = _validate_ks(ks)
    backend = resolve_backend(device)
    report(progress, "neighbours", 0, len(pts), "building the k-d tree")
    check_cancel(cancel)
    # Work in a spatially coherent order: neighbour queries and gathers then hit the cache.
    order = spatial_order(pts)
    rel = pts[order]
    del pts
    rel -= column_mean(rel)
    collapsed = collapse_duplicates(rel)
    if collapsed is None:
        index = KnnIndex(rel)
        warn_if_degenerate(rel, len(rel), 0)
    else:
        # the k-d tree holds each position once, with its number of copies (no quadratic ties)
        index = KnnIndex(collapsed.points, weights=np.bincount(collapsed.inverse))
        warn_if_degenerate(collapsed.points, len(rel), int(collapsed.shared.sum()))
    if ks is None:
        names = list(DEFAULT_FIELDS)
        result = _run(rel, order, index, (DEFAULT_SCALES[0],), DEFAULT_SCALES[1:], names, backend, progress, cancel)
    else:
        names = [curvature_field(k, exact=True) for k in ks]
        result = _run(rel, order, index, ks, (), names, backend, progress, cancel)
    if collapsed is not None:
        result.degenerate[order[collapsed.shared]] |= np.uint8(1 << DUPLICATE_BIT)
    return result


def _run(
    rel: np.ndarray,
    order: np.ndarray,
    index: KnnIndex,
    point_ks: tuple[int, ...],
    cell_scales: tuple[int, ...],
    names: list[str],
    backend: Backend,
    progress: ProgressFn | None,
    cancel: CancelFn | None,
) -> CurvatureResult:
    """The point scales, then the voxel-pyramid scales, in chunks on a thread pool.

    Everything heavy is a pool job or a multi-threaded query, so both cores stay busy: the
    coarser grids are built on the workers while the calling thread builds the finest one
    and the point pass runs; then the per-point cell scales and the per-cell ones
    (``PER_CELL_SCALE``) are computed in chunks. ``rel`` is the centred cloud in spatial
    order; row ``i`` of it is input point ``order[i]``.
    """
    n = len(rel)
    out = Outputs(
        fields={name: np.empty(n, dtype=np.float32) for name in names},
        flags=np.zeros(n, dtype=np.uint8),
        normals=np.empty((n, 3), dtype=np.float32),
        sizes=np.zeros(len(names), dtype=np.float64),
    )
    dev_points = backend.put(np.ascontiguousarray(index.points.T))
    workers = 1 if backend.torch_device is not None else max(1, min(8, len(os.sched_getaffinity(0))))
    chunks = list(chunk_rows(n, max(max(point_ks), CELLS_QUERIED)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        coarse: list[Future] = []
        guesses: list[float] = []
        if cell_scales:
            report(progress, "curvature", 0, n, "building the voxel pyramid")
            guesses = first_guesses(rel, index, cell_scales)
            # queued first, so a worker starts on them at once
            coarse = [pool.submit(build_level, rel, s, g) for s, g in zip(cell_scales[1:], guesses[1:])]
        point_jobs = [
            (rows, pool.submit(chunk_points, rel[rows], dev_points, index, point_ks, backend)) for rows in chunks
        ]
        cell_jobs: list[tuple[slice, Future]] = []
        cell_value_jobs: list[tuple[int, PyramidLevel, list[tuple[slice, Future]]]] = []
        levels: list[PyramidLevel] = []
        if cell_scales:
            try:
                # the finest grid on this thread, while the workers run the point pass
                levels = [build_level(rel, cell_scales[0], guesses[0], workers=-1)]
                levels += [job.result() for job in coarse]
            except BaseException:
                for _, job in point_jobs:
                    job.cancel()
                raise
            dev_cells = [backend.put(lv.cells.raw()) for lv in levels]
            per_point = [(lv, cells) for lv, cells in zip(levels, dev_cells) if lv.scale < PER_CELL_SCALE]
            if per_point:
                cell_jobs = [
                    (rows, pool.submit(chunk_cells, rel[rows], rows, levels[0], per_point, backend)) for rows in chunks
                ]
            for offset, (lv, cells) in enumerate(zip(levels, dev_cells)):
                if lv.scale >= PER_CELL_SCALE:
                    bit = len(point_ks) + offset
                    cell_value_jobs.append((bit, lv, submit_per_cell(pool, lv, cells, levels[0], backend)))
        tally = Tally(
            progress, cancel, n, len(chunks) * (1 + bool(cell_jobs)) + sum(len(jobs) for _, _, jobs in cell_value_jobs)
        )
        collect(out, point_jobs, 0, backend, tally)
        if cell_jobs:
            collect(out, cell_jobs, len(point_ks), backend, tally)
        for bit, level, jobs in cell_value_jobs:
            store_per_cell(out, bit, level, levels[0], jobs, tally)
    _orient_normals(out.normals, rel)
    for name in names:
        out.fields[name][order] = out.fields[name].copy()
    out.flags[order] = out.flags.copy()
    out.normals[order] = out.normals.copy()
    mean_sizes = {name: float(s / n) for name, s in zip(names, out.sizes)}
    return CurvatureResult(fields=out.fields, degenerate=out.flags, normals=out.normals, mean_neighbors=mean_sizes)


#: A cloud whose own surface variation is below this is treated as one sheet (a single
#: view, a terrain): its normals all face the same side of the sheet.
SHEET_VARIATION = 0.05


def _orient_normals(normals: np.ndarray, rel: np.ndarray) -> None:
    """Flip normals in place: away from the centroid, or to one side of a sheet-like cloud.

    ``rel`` is centred on the cloud's centroid. The cloud's smallest principal axis,
    signed so its largest component is positive (``+z`` for a terrain), settles sheets
    and the points where a normal is nearly perpendicular to the centroid direction.
    """
    cov = np.cov(rel.T, bias=True) if len(rel) > 1 else np.zeros((3, 3))
    evals, evecs = np.linalg.eigh(cov)
    axis = evecs[:, 0]
    axis = axis * (1.0 if axis[np.argmax(np.abs(axis))] >= 0 else -1.0)
    total = float(evals.sum())
    sheet = total <= 0 or evals[0] / total < SHEET_VARIATION
    side = normals.astype(np.float64) @ axis
    if sheet:
        away = side
    else:
        away = np.einsum("ij,ij->i", normals.astype(np.float64), rel)
        radius = np.linalg.norm(rel, axis=1)
        tied = np.abs(away) <= 1e-3 * radius
        away = np.where(tied, side, away)
    normals[away < 0] *= -1.0


def add_curvature(
    scan: Scan,
    *,
    ks: Sequence[int] | None = None,
    device: str = "cpu",
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> Scan:
    """Return ``scan`` with curvature fields, a ``curvature_flags`` field and normals.

    The curvature fields and flags are those of :func:`compute_curvature` (same keyword
    arguments); existing fields of the same names are replaced. Normals already in the
    scan (read from its file) are kept; otherwise the computed ones are added.

    Raises
    ------
    CaslError, ConfigError, Cancelled
        As :func:`compute_curvature`, with the scan's file named in the message.
    """
    try:
        result = compute_curvature(scan.points, ks=ks, device=device, progress=progress, cancel=cancel)
    except ConfigError:
        raise
    except CaslError as exc:
        if not scan.metadata.source or type(exc) is not CaslError:
            raise
        raise CaslError(f"{scan.metadata.source}: {exc}") from None
    fields = dict(scan.fields)
    fields.update(result.fields)
    fields[FLAGS_FIELD] = result.degenerate
    normals = scan.normals if scan.normals is not None else result.normals
    return replace(scan, fields=fields, normals=normals)
