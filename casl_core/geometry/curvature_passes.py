"""The chunked passes of the curvature computation and where their math runs.

:func:`casl_core.geometry.curvature.compute_curvature` queues these on a thread pool: the
exact k-NN point pass (:func:`chunk_points`), the per-point voxel-pyramid pass
(:func:`chunk_cells`) and the per-cell pass of the coarse scales (:func:`submit_per_cell`,
:func:`store_per_cell`); :class:`Outputs` collects their chunks in spatial order.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from casl_core.geometry.moments import (
    SurfaceVariation,
    cell_covariances,
    point_covariances,
    surface_variation,
    weighted_point_covariances,
)
from casl_core.geometry.neighbors import KnnIndex, chunk_rows
from casl_core.geometry.pyramid import CELLS_QUERIED, PyramidLevel
from casl_core.progress import CancelFn, ProgressFn, check_cancel, report


@dataclass(frozen=True)
class Backend:
    """Where the moment math runs: NumPy (``torch_device`` None) or torch on a device."""

    torch_device: Any = None

    def put(self, a: np.ndarray):
        """``a`` where the math runs (the array itself, or a torch tensor on the device)."""
        if self.torch_device is None:
            return a
        import torch

        return torch.from_numpy(np.ascontiguousarray(a)).to(self.torch_device)

    def get(self, a) -> np.ndarray:
        """``a`` back as a NumPy array."""
        return a if self.torch_device is None or isinstance(a, np.ndarray) else a.cpu().numpy()


def resolve_backend(device: str) -> Backend:
    """Map ``cpu``/``auto``/``cuda``/``cuda:N``/``torch-cpu`` to a backend, or raise ConfigError."""
    text = device.strip().lower() if isinstance(device, str) else None
    if text == "cpu" or (text == "auto" and _surely_no_cuda()):
        return Backend()
    if text == "torch-cpu":
        import torch

        return Backend(torch.device("cpu"))
    from casl_core.device import resolve_device

    dev = resolve_device(device)
    return Backend() if dev.type == "cpu" else Backend(dev)


def _surely_no_cuda() -> bool:
    """True on Linux when no NVIDIA device node exists (saves importing torch for "auto")."""
    return sys.platform.startswith("linux") and not any(Path("/dev").glob("nvidia[0-9]*"))


@dataclass
class Outputs:
    """Result arrays being filled chunk by chunk (spatial order)."""

    fields: dict[str, np.ndarray]
    flags: np.ndarray
    normals: np.ndarray
    sizes: np.ndarray


@dataclass
class Tally:
    """Chunks done out of all passes, reported in points so the bar ends at the cloud's size."""

    progress: ProgressFn | None
    cancel: CancelFn | None
    points: int
    total: int
    done: int = 0

    def step(self) -> None:
        """Count one finished chunk and report progress."""
        self.done += 1
        report(
            self.progress,
            "curvature",
            self.points if self.done == self.total else self.done * self.points // self.total,
            self.points,
        )


def collect(out: Outputs, jobs: list[tuple[slice, Future]], first_bit: int, backend: Backend, tally: Tally) -> None:
    """Store finished chunks in order; on cancel, drop the queued ones and raise."""
    names = list(out.fields)
    for rows, result in finished(jobs, tally.cancel):
        for offset, (sv, size, short) in enumerate(result):
            bit = first_bit + offset
            out.fields[names[bit]][rows] = backend.get(sv.curvature)
            out.flags[rows] |= (backend.get(sv.rank_deficient) | short).astype(np.uint8) << np.uint8(bit)
            out.sizes[bit] += size
            if sv.normals is not None:
                out.normals[rows] = backend.get(sv.normals)
        tally.step()


def finished(jobs: list[tuple[slice, Future]], cancel: CancelFn | None) -> Iterator[tuple[slice, Any]]:
    """Each job's rows and result, in order; on cancel or any error the queued jobs are dropped."""
    try:
        for rows, job in jobs:
            check_cancel(cancel)
            yield rows, job.result()
    except BaseException:
        for _, job in jobs:
            job.cancel()
        raise


def chunk_points(
    queries: np.ndarray, dev_points: Any, index: KnnIndex, point_ks: tuple[int, ...], backend: Backend
) -> list[tuple[SurfaceVariation, float, np.ndarray | bool]]:
    """Surface variation of one chunk at the exact k-NN scales, with summed sizes and shortfalls."""
    if index.weights is not None:
        return chunk_points_weighted(queries, dev_points, index, point_ks, backend)
    n = len(index)
    k_used = [min(k, n) for k in point_ks]
    _, idx = index.query(queries, max(k_used))
    covs = point_covariances(dev_points, backend.put(queries), backend.put(idx), k_used)
    return [
        (surface_variation(cov, normals=i == 0), float(min(k, n) * len(queries)), k > n)
        for i, (cov, k) in enumerate(zip(covs, point_ks))
    ]


def chunk_points_weighted(
    queries: np.ndarray, dev_points: Any, index: KnnIndex, point_ks: tuple[int, ...], backend: Backend
) -> list[tuple[SurfaceVariation, float, np.ndarray | bool]]:
    """:func:`chunk_points` on an index of distinct positions with multiplicities.

    ``k`` distinct neighbours hold at least ``k`` points, so one query at ``min(max(ks), M)``
    serves every scale; each position counts with the copies still needed to reach ``k``.
    """
    if index.weights is None:
        raise ValueError("the index has no multiplicities")  # unreachable: callers pass a collapsed index
    _, idx = index.query(queries, min(max(point_ks), len(index)))
    copies = index.weights[idx]
    before = np.cumsum(copies, axis=1) - copies
    out: list[tuple[SurfaceVariation, float, np.ndarray | bool]] = []
    for i, k in enumerate(point_ks):
        take = np.clip(k - before, 0, copies).astype(np.float64)
        cov, _ = weighted_point_covariances(dev_points, backend.put(queries), backend.put(idx), backend.put(take))
        out.append((surface_variation(cov, normals=i == 0), float(take.sum()), k > index.total))
    return out


def submit_per_cell(
    pool: ThreadPoolExecutor, level: PyramidLevel, cells: Any, anchor: PyramidLevel, backend: Backend
) -> list[tuple[slice, Future]]:
    """Queue the surface variation of ``level``'s neighbourhood around each cell of ``anchor``.

    ``anchor`` is the finest grid of the pyramid (about 4 points a cell); the points of
    one of its cells share the value computed at the cell's centroid. The centroid's
    cells are ranked among the candidates of the ``level`` cell holding one of the
    anchor cell's points.
    """
    member = np.empty(len(anchor.cells), dtype=np.int64)
    member[anchor.cells.point_cell] = np.arange(len(anchor.cells.point_cell))
    near = level.cells.point_cell[member]
    centroids = anchor.cells.centroids
    return [
        (rows, pool.submit(chunk_per_cell, centroids[rows], near[rows], level, cells, backend))
        for rows in chunk_rows(len(centroids), CELLS_QUERIED)
    ]


def chunk_per_cell(
    centres: np.ndarray, near: np.ndarray, level: PyramidLevel, cells: Any, backend: Backend
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(curvature, rank_deficient, points used)`` of ``level``'s neighbourhood of each centre."""
    cidx = level.nearest_cells(centres, near)
    cov, total = cell_covariances(cells, backend.put(cidx), float(level.scale))
    sv = surface_variation(cov, normals=False)
    return backend.get(sv.curvature), backend.get(sv.rank_deficient), backend.get(total)


def store_per_cell(
    out: Outputs, bit: int, level: PyramidLevel, anchor: PyramidLevel, jobs: list[tuple[slice, Future]], tally: Tally
) -> None:
    """Gather ``level``'s per-cell chunks and give every point the value of its ``anchor`` cell."""
    m = len(anchor.cells)
    curvature = np.empty(m, dtype=np.float64)
    deficient = np.empty(m, dtype=bool)
    used = np.empty(m, dtype=np.float64)
    for rows, (values, flags, sizes) in finished(jobs, tally.cancel):
        curvature[rows], deficient[rows], used[rows] = values, flags, sizes
        tally.step()
    own = anchor.cells.point_cell
    n = len(own)
    short = used[own] < 0.5 * level.scale if n >= level.scale else True
    out.fields[list(out.fields)[bit]][:] = curvature[own]
    out.flags |= (deficient[own] | short).astype(np.uint8) << np.uint8(bit)
    out.sizes[bit] += float(used[own].sum())


def chunk_cells(
    queries: np.ndarray,
    rows: slice,
    anchor: PyramidLevel,
    levels: list[tuple[PyramidLevel, Any]],
    backend: Backend,
) -> list[tuple[SurfaceVariation, float, np.ndarray | bool]]:
    """Surface variation of one chunk at each per-point voxel-pyramid scale.

    ``anchor`` is the finest grid; the query points are its points ``rows``.
    """
    n = len(anchor.cells.point_cell)
    out = []
    for level, cells in levels:
        cidx = level.nearest_cells(queries, level.cells.point_cell[rows])
        cov, total = cell_covariances(cells, backend.put(cidx), float(level.scale))
        total = backend.get(total)
        short = total < 0.5 * level.scale if n >= level.scale else True
        out.append((surface_variation(cov, normals=False), float(total.sum()), short))
    return out
