"""Sparse 3D convolution layers: submanifold, strided and transposed.

Weights have shape ``(K, C_in, C_out)`` with the ``K = k^3`` offsets x-major, so a dense
``conv3d`` weight ``(C_out, C_in, k, k, k)`` is :func:`dense_weight` of ours. The arithmetic
lives in :mod:`casl_core.nn.functional`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from casl_core.errors import ConfigError
from casl_core.nn.functional import (
    ConvMethod,
    downsample_conv,
    submanifold_conv,
    uniform_submanifold_conv,
    upsample_conv,
)
from casl_core.nn.sparse import SparseTensor


def dense_weight(weight: Tensor, kernel_size: int) -> Tensor:
    """Our ``(K, C_in, C_out)`` weight as a dense ``conv3d`` weight ``(C_out, C_in, k, k, k)``."""
    k = kernel_size
    return weight.permute(2, 1, 0).reshape(weight.shape[2], weight.shape[1], k, k, k)


def _init_weight(weight: Tensor) -> None:
    fan_in = weight.shape[0] * weight.shape[1]
    nn.init.normal_(weight, std=math.sqrt(2.0 / fan_in))


class SparseConv3d(nn.Module):
    """Sparse 3D convolution.

    With ``stride == 1`` it is a submanifold convolution (odd kernel, output sites = input
    sites); with ``stride > 1`` the kernel must equal the stride and the output sites are the
    occupied ``stride``-cells, ``floor(c / (s * stride)) * (s * stride)``.

    Parameters
    ----------
    in_channels, out_channels:
        Feature widths.
    kernel_size:
        Kernel edge length.
    stride:
        1, or the downsampling factor (equal to ``kernel_size``).
    dilation:
        Spacing of the kernel taps (submanifold only).
    bias:
        Add a learned bias.
    method:
        How to compute (see :func:`casl_core.nn.functional.resolve_method`).

    Raises
    ------
    ConfigError
        On an unsupported combination of kernel size, stride and dilation.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        bias: bool = False,
        method: ConvMethod = "auto",
    ) -> None:
        super().__init__()
        if stride == 1 and kernel_size % 2 == 0:
            raise ConfigError(f"a submanifold convolution needs an odd kernel size, got {kernel_size}")
        if stride > 1 and (kernel_size != stride or dilation != 1):
            raise ConfigError(
                f"a strided convolution needs kernel_size == stride and dilation 1, "
                f"got kernel {kernel_size}, stride {stride}, dilation {dilation}"
            )
        if stride < 1 or dilation < 1:
            raise ConfigError(f"stride and dilation must be >= 1, got {stride} and {dilation}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.dilation, self.method = kernel_size, stride, dilation, method
        self.weight = nn.Parameter(torch.empty(kernel_size**3, in_channels, out_channels))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        _init_weight(self.weight)

    def forward(self, x: SparseTensor) -> SparseTensor:
        """Convolve ``x``; the result has stride ``x.stride * self.stride``."""
        _check_channels(x, self.in_channels)
        if self.stride == 1:
            kmap = x.manager.submanifold_map(x.stride, self.kernel_size, self.dilation)
            out = submanifold_conv(x.features, self.weight, kmap, self.method)
        else:
            dmap = x.manager.downsample_map(x.stride, self.stride)
            out = downsample_conv(x.features, self.weight, dmap, self.method)
        if self.bias is not None:
            out = out + self.bias
        return SparseTensor(out, x.stride * self.stride, x.manager)

    def forward_uniform(self, x: SparseTensor, vector: Tensor) -> SparseTensor:
        """Convolve the sites of ``x`` as if every one carried ``vector`` (``x``'s features unused).

        Same result as ``self(x.replace_features(vector.expand(x.num_sites, -1)))``, computed
        as :func:`~casl_core.nn.functional.uniform_submanifold_conv` (submanifold only).

        Raises
        ------
        ConfigError
            For a strided layer or a vector of the wrong width.
        """
        if self.stride != 1:
            raise ConfigError("forward_uniform is for submanifold convolutions (stride 1)")
        occupancy = x.manager.submanifold_occupancy(x.stride, self.kernel_size, self.dilation, self.weight.dtype)
        out = uniform_submanifold_conv(vector.reshape(-1), self.weight, occupancy)
        if self.bias is not None:
            out = out + self.bias
        return SparseTensor(out, x.stride, x.manager)

    def extra_repr(self) -> str:
        """The layer's shape and options, shown in ``repr(model)``."""
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, dilation={self.dilation}"
        )


class SparseConvTranspose3d(nn.Module):
    """Transposed sparse convolution with ``kernel_size == stride``: back to the finer sites.

    The output sites are the coordinates the tensor had before it was downsampled by
    ``stride`` (remembered by its coordinate manager); each fine site receives its coarse
    parent's features times the weight of its offset within the parent cell. Matches
    ``torch.nn.functional.conv_transpose3d`` with kernel and stride ``stride`` restricted to
    the fine sites.

    Raises
    ------
    ConfigError
        When ``kernel_size != stride`` or ``stride < 2``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 2,
        stride: int = 2,
        bias: bool = False,
        method: ConvMethod = "auto",
    ) -> None:
        super().__init__()
        if kernel_size != stride or stride < 2:
            raise ConfigError(
                f"a transposed convolution needs kernel_size == stride >= 2, got kernel {kernel_size}, stride {stride}"
            )
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = self.stride = stride
        self.method = method
        self.weight = nn.Parameter(torch.empty(stride**3, in_channels, out_channels))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        _init_weight(self.weight)

    def forward(self, x: SparseTensor) -> SparseTensor:
        """Upsample ``x`` to stride ``x.stride // self.stride``.

        Raises
        ------
        ConfigError
            When the finer coordinates are unknown to ``x``'s coordinate manager.
        """
        _check_channels(x, self.in_channels)
        dmap = x.manager.upsample_map(x.stride, self.stride)
        out = upsample_conv(x.features, self.weight, dmap, self.method)
        if self.bias is not None:
            out = out + self.bias
        return SparseTensor(out, x.stride // self.stride, x.manager)

    def extra_repr(self) -> str:
        """The layer's shape and options, shown in ``repr(model)``."""
        return f"{self.in_channels}, {self.out_channels}, kernel_size={self.stride}, stride={self.stride}"


def _check_channels(x: SparseTensor, expected: int) -> None:
    if x.num_channels != expected:
        raise ConfigError(f"layer expects {expected} input channels, got features of shape {tuple(x.features.shape)}")
