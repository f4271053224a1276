"""Points to voxels and back: batching several scans into one sparse tensor."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from casl_core.errors import ConfigError
from casl_core.nn.kmap import check_coordinates, pack_keys, unpack_keys
from casl_core.nn.sparse import CoordinateManager, SparseTensor


def _check_points(points_list: Sequence[Tensor], features_list: Sequence[Tensor] | None) -> None:
    if len(points_list) == 0:
        raise ConfigError("voxelize needs at least one scan")
    if features_list is not None and len(features_list) != len(points_list):
        raise ConfigError(f"{len(points_list)} point sets but {len(features_list)} feature sets")
    for i, points in enumerate(points_list):
        if points.ndim != 2 or points.shape[1] != 3 or points.shape[0] == 0:
            raise ConfigError(f"scan {i}: points must have shape (N, 3) with N > 0, got {tuple(points.shape)}")
        if not bool(torch.isfinite(points).all()):
            raise ConfigError(f"scan {i}: points contain NaN or infinite coordinates")
        if features_list is not None:
            feats = features_list[i]
            if feats.ndim != 2 or feats.shape[0] != points.shape[0]:
                raise ConfigError(
                    f"scan {i}: features must have shape ({points.shape[0]}, C), got {tuple(feats.shape)}"
                )
            if feats.shape[1] != features_list[0].shape[1]:
                raise ConfigError(
                    f"scan {i}: {feats.shape[1]} feature channels, scan 0 has {features_list[0].shape[1]}"
                )


def voxelize(
    points_list: Sequence[Tensor], voxel_size: float, features_list: Sequence[Tensor] | None = None
) -> tuple[SparseTensor, Tensor]:
    """Voxelise a batch of scans into one sparse tensor at stride 1.

    Voxel ``floor(p / voxel_size)`` of scan ``b`` becomes the site ``[b, x, y, z]``; sites are
    sorted by ``(b, x, y, z)``. Each voxel's features are the mean of its points' features.

    Parameters
    ----------
    points_list:
        One ``(N_b, 3)`` float tensor per scan.
    voxel_size:
        Voxel edge length, in the points' units.
    features_list:
        One ``(N_b, C)`` float tensor per scan; when None, every voxel gets the feature 1.

    Returns
    -------
    tuple[SparseTensor, Tensor]
        The voxels, and the ``(sum N_b,)`` int64 row of each input point's voxel, scans
        concatenated in order (see :func:`devoxelize`).

    Raises
    ------
    ConfigError
        On an empty batch, bad shapes, non-finite points, a non-positive voxel size, or points
        so far from the origin that voxel coordinates overflow.
    """
    if not voxel_size > 0:
        raise ConfigError(f"voxel size must be positive, got {voxel_size}")
    _check_points(points_list, features_list)
    device = points_list[0].device
    rows = []
    for b, points in enumerate(points_list):
        cells = torch.floor(points.to(torch.float64) / voxel_size).to(torch.int64)
        rows.append(
            torch.cat([torch.full((cells.shape[0], 1), b, dtype=torch.int64, device=device), cells.to(device)], 1)
        )
    point_coords = torch.cat(rows)
    check_coordinates(point_coords)
    keys, inverse = torch.unique(pack_keys(point_coords), sorted=True, return_inverse=True)
    coordinates = unpack_keys(keys)
    if features_list is None:
        features = torch.ones((keys.shape[0], 1), dtype=points_list[0].dtype, device=device)
    else:
        point_feats = torch.cat([f.to(device) for f in features_list])
        counts = torch.bincount(inverse, minlength=keys.shape[0]).to(point_feats.dtype)
        sums = point_feats.new_zeros((keys.shape[0], point_feats.shape[1])).index_add_(0, inverse, point_feats)
        features = sums / counts[:, None]
    return SparseTensor(features, 1, CoordinateManager(coordinates, 1)), inverse


def devoxelize(features: Tensor, inverse_index: Tensor) -> Tensor:
    """Give every input point its voxel's feature row.

    Parameters
    ----------
    features:
        ``(M, C)`` voxel features at stride 1, in the voxel order :func:`voxelize` returned.
    inverse_index:
        The point-to-voxel rows returned by :func:`voxelize`.

    Returns
    -------
    Tensor
        ``(P, C)`` per-point features, in input point order.

    Raises
    ------
    ConfigError
        When an index points past the voxel rows.
    """
    if inverse_index.numel() and int(inverse_index.max()) >= features.shape[0]:
        raise ConfigError(
            f"inverse index reaches row {int(inverse_index.max())} but there are only {features.shape[0]} voxels"
        )
    return features.index_select(0, inverse_index)
