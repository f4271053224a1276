"""Sparse voxel tensors and the coordinate manager their kernel maps are cached on.

A :class:`SparseTensor` is a set of active voxels (integer rows ``[b, x, y, z]`` in units of
the finest voxel, all multiples of the tensor stride) with one feature row each. Every tensor
derived from the same input (by convolutions, downsampling, upsampling) carries the same
:class:`CoordinateManager`, which remembers the coordinates at each stride and caches kernel
maps, so the decoder reuses the encoder's maps and a transposed convolution finds the finer
coordinates it must return to.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from casl_core.errors import ConfigError
from casl_core.nn.kmap import (
    DownsampleMap,
    KernelMap,
    check_coordinates,
    downsample_map,
    pack_keys,
    submanifold_map,
    submanifold_occupancy,
)


@dataclass(frozen=True)
class _CoordinateSet:
    coordinates: Tensor
    sorted_keys: Tensor
    order: Tensor | None


@dataclass(frozen=True)
class _SubmanifoldKey:
    stride: int
    kernel_size: int
    dilation: int


@dataclass(frozen=True)
class _DownsampleKey:
    stride: int
    factor: int


class CoordinateManager:
    """Coordinates at each tensor stride of one batch, and the kernel maps between them.

    Parameters
    ----------
    coordinates:
        ``(M, 4)`` integer rows ``[b, x, y, z]``, distinct, multiples of ``stride``.
    stride:
        Tensor stride of these coordinates (1 for voxelised points).

    Raises
    ------
    ConfigError
        When the coordinates have the wrong shape or type, are out of range, repeat a site
        or are not multiples of the stride.
    """

    def __init__(self, coordinates: Tensor, stride: int = 1) -> None:
        check_coordinates(coordinates)
        if stride < 1:
            raise ConfigError(f"tensor stride must be >= 1, got {stride}")
        coordinates = coordinates.to(torch.int64)
        if stride > 1 and bool((coordinates[:, 1:] % stride != 0).any()):
            raise ConfigError(f"coordinates are not all multiples of the tensor stride {stride}")
        self._sets: dict[int, _CoordinateSet] = {}
        self._submanifold: dict[_SubmanifoldKey, KernelMap] = {}
        self._downsample: dict[_DownsampleKey, DownsampleMap] = {}
        self._occupancy: dict[tuple[_SubmanifoldKey, torch.dtype], Tensor] = {}
        self._add(stride, coordinates, check_unique=True)
        self.base_stride = stride

    def _add(self, stride: int, coordinates: Tensor, check_unique: bool) -> None:
        keys = pack_keys(coordinates)
        if keys.shape[0] > 1 and bool((keys[1:] >= keys[:-1]).all()):
            sorted_keys, order = keys, None
        else:
            sorted_keys, order = torch.sort(keys)
        if check_unique and sorted_keys.shape[0] > 1 and bool((sorted_keys[1:] == sorted_keys[:-1]).any()):
            raise ConfigError("sparse coordinates contain the same voxel more than once")
        self._sets[stride] = _CoordinateSet(coordinates, sorted_keys, order)

    @property
    def strides(self) -> tuple[int, ...]:
        """Tensor strides whose coordinates are known, ascending."""
        return tuple(sorted(self._sets))

    def coordinates(self, stride: int) -> Tensor:
        """The ``(M, 4)`` int64 coordinates at ``stride``.

        Raises
        ------
        ConfigError
            When no tensor of this batch has been at that stride.
        """
        if stride not in self._sets:
            raise ConfigError(f"no coordinates at tensor stride {stride}; known strides: {self.strides}")
        return self._sets[stride].coordinates

    def submanifold_map(self, stride: int, kernel_size: int, dilation: int = 1) -> KernelMap:
        """The (cached) kernel map of a submanifold convolution at ``stride``."""
        key = _SubmanifoldKey(stride, kernel_size, dilation)
        if key not in self._submanifold:
            self.coordinates(stride)
            found = self._sets[stride]
            self._submanifold[key] = submanifold_map(found.sorted_keys, found.order, kernel_size, stride, dilation)
        return self._submanifold[key]

    def submanifold_occupancy(
        self, stride: int, kernel_size: int, dilation: int = 1, dtype: torch.dtype = torch.float32
    ) -> Tensor:
        """The (cached) ``(K, M)`` 0/1 occupancy of a submanifold kernel at ``stride``, as ``dtype``.

        Read from the kernel map when that is cached already, else built on its own (cheaper,
        see :func:`casl_core.nn.kmap.submanifold_occupancy`).
        """
        key = _SubmanifoldKey(stride, kernel_size, dilation)
        if key in self._submanifold:
            return self._submanifold[key].occupancy(dtype)
        if (key, dtype) not in self._occupancy:
            self.coordinates(stride)
            found = self._sets[stride]
            self._occupancy[key, dtype] = submanifold_occupancy(
                found.sorted_keys, found.order, kernel_size, dtype, stride, dilation
            )
        return self._occupancy[key, dtype]

    def downsample_map(self, stride: int, factor: int = 2) -> DownsampleMap:
        """The (cached) map from ``stride`` to ``stride * factor``; registers the coarse coordinates."""
        key = _DownsampleKey(stride, factor)
        if key not in self._downsample:
            found = downsample_map(self.coordinates(stride), stride, factor)
            self._downsample[key] = found
            coarse = stride * factor
            if coarse not in self._sets:
                self._add(coarse, found.coarse_coordinates, check_unique=False)
        return self._downsample[key]

    def upsample_map(self, stride: int, factor: int = 2) -> DownsampleMap:
        """The map from ``stride // factor`` up to ``stride``, to be used in reverse.

        Raises
        ------
        ConfigError
            When the finer coordinates are unknown (the tensor was never downsampled here).
        """
        if stride % factor != 0 or stride // factor not in self._sets:
            raise ConfigError(
                f"cannot upsample from tensor stride {stride} by {factor}: the finer "
                f"coordinates are unknown (known strides: {self.strides})"
            )
        return self.downsample_map(stride // factor, factor)

    @property
    def cached_maps(self) -> int:
        """Number of kernel maps built so far."""
        return len(self._submanifold) + len(self._downsample)


@dataclass(frozen=True, eq=False)
class SparseTensor:
    """Active voxels with one feature row each.

    Attributes
    ----------
    features:
        ``(M, C)`` float features, row ``i`` belonging to ``coordinates[i]``.
    stride:
        Tensor stride: coordinates are multiples of it, in units of the finest voxel.
    manager:
        The shared :class:`CoordinateManager` of this batch.
    """

    features: Tensor
    stride: int
    manager: CoordinateManager

    @staticmethod
    def from_coordinates(coordinates: Tensor, features: Tensor, stride: int = 1) -> SparseTensor:
        """A tensor with a fresh coordinate manager.

        Parameters
        ----------
        coordinates:
            ``(M, 4)`` int32 or int64 rows ``[b, x, y, z]``, distinct, multiples of ``stride``.
        features:
            ``(M, C)`` float features.
        stride:
            Tensor stride of the coordinates.

        Raises
        ------
        ConfigError
            On bad coordinates (see :class:`CoordinateManager`) or a feature count that does not
            match the number of coordinates.
        """
        if features.ndim != 2 or features.shape[0] != coordinates.shape[0]:
            raise ConfigError(
                f"features must have shape (M, C) with M = {coordinates.shape[0]} "
                f"coordinates, got {tuple(features.shape)}"
            )
        return SparseTensor(features, stride, CoordinateManager(coordinates.to(features.device), stride))

    @property
    def coordinates(self) -> Tensor:
        """``(M, 4)`` int64 coordinates of the rows."""
        return self.manager.coordinates(self.stride)

    @property
    def num_sites(self) -> int:
        """Number of active voxels ``M``."""
        return int(self.features.shape[0])

    @property
    def num_channels(self) -> int:
        """Number of feature channels ``C``."""
        return int(self.features.shape[1])

    def replace_features(self, features: Tensor) -> SparseTensor:
        """The same sites with other features.

        Raises
        ------
        ConfigError
            When the number of rows differs.
        """
        if features.ndim != 2 or features.shape[0] != self.num_sites:
            raise ConfigError(
                f"replacement features must have shape ({self.num_sites}, C), got {tuple(features.shape)}"
            )
        return SparseTensor(features, self.stride, self.manager)
