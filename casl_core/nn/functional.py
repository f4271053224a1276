"""Sparse convolution arithmetic with hand-written backward passes.

Weights are ``(K, C_in, C_out)``, offsets x-major. Two ways compute a submanifold or strided
convolution (same result):

- ``"gather_scatter"``: for each offset, gather the matched input rows, multiply by that
  offset's weight, ``index_add_`` into the output (work proportional to the pairs);
- ``"table"``: gather a ``(M_out, K * C_in)`` block through the neighbour table (missing
  neighbours read an appended zero row) and do one matrix product.

The backward passes avoid scatters where the maps allow it:

- a submanifold map is symmetric (the pair of offset ``k`` is the reversed pair of offset
  ``K-1-k``), so the input gradient is the same convolution of the output gradient with the
  flipped, transposed weights;
- a ``f^3`` stride-``f`` convolution and its transpose are adjoint: each one's input gradient
  is the other one's forward pass.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor

from casl_core.errors import ConfigError
from casl_core.nn.kmap import DownsampleMap, KernelMap

ConvMethod = Literal["auto", "gather_scatter", "table"]
# The neighbour-table product pays for every (site, offset) slot, filled or not (about twice
# the work on a scanned surface); the per-offset loop pays a fixed cost per offset. Measured
# on two CPU cores (benchmarks/README.md, "Sparse U-Net"), the table wins while
# sites * C_in * C_out stays below about 1e7, the loop above.
TABLE_MAX_WORK = 10_000_000


def resolve_method(method: ConvMethod, kmap: KernelMap, c_in: int,
                   c_out: int) -> Literal["gather_scatter", "table"]:
    """The concrete method for ``kmap`` with these widths (``"auto"`` decides by the work size).

    Raises
    ------
    ConfigError
        On an unknown method name.
    """
    if method == "auto":
        return "table" if kmap.num_out * c_in * c_out <= TABLE_MAX_WORK else "gather_scatter"
    if method in ("gather_scatter", "table"):
        return method
    raise ConfigError(f"unknown sparse convolution method {method!r}")


def _table_block(features: Tensor, kmap: KernelMap) -> Tensor:
    padded = torch.cat([features, features.new_zeros((1, features.shape[1]))])
    block = padded.index_select(0, kmap.neighbor_table.reshape(-1))
    return block.reshape(kmap.num_out, kmap.kernel_volume * features.shape[1])


def _pairs(kmap: KernelMap) -> list[tuple[int, Tensor, Tensor]]:
    """Non-empty pair lists per offset, the identity offset left out (handled without indices)."""
    counts = list(kmap.offset_counts)
    return [(k, i, o) for k, (i, o) in enumerate(zip(torch.split(kmap.in_indices, counts),
                                                     torch.split(kmap.out_indices, counts)))
            if i.numel() > 0 and k != kmap.identity_offset]


def conv_forward(features: Tensor, weight: Tensor, kmap: KernelMap, method: str) -> Tensor:
    """``out[o] = sum over pairs (i, o, k) of features[i] @ weight[k]``, no autograd."""
    if method == "table":
        return _table_block(features, kmap) @ weight.reshape(-1, weight.shape[2])
    if kmap.identity_offset is not None:
        out = features @ weight[kmap.identity_offset]
    else:
        out = features.new_zeros((kmap.num_out, weight.shape[2]))
    for k, in_idx, out_idx in _pairs(kmap):
        out.index_add_(0, out_idx, features.index_select(0, in_idx) @ weight[k])
    return out


def conv_weight_grad(features: Tensor, grad_out: Tensor, kmap: KernelMap, method: str) -> Tensor:
    """Gradient of :func:`conv_forward` with respect to its ``(K, C_in, C_out)`` weight."""
    c_in, c_out = features.shape[1], grad_out.shape[1]
    if method == "table":
        return (_table_block(features, kmap).t() @ grad_out).reshape(kmap.kernel_volume, c_in, c_out)
    grad = features.new_zeros((kmap.kernel_volume, c_in, c_out))
    if kmap.identity_offset is not None:
        grad[kmap.identity_offset] = features.t() @ grad_out
    for k, in_idx, out_idx in _pairs(kmap):
        grad[k] = features.index_select(0, in_idx).t() @ grad_out.index_select(0, out_idx)
    return grad


def upsample_forward(features: Tensor, weight: Tensor, dmap: DownsampleMap) -> Tensor:
    """Transposed ``f^3`` stride-``f`` convolution: each fine site takes its parent times its offset's weight."""
    volume, c_in, c_out = weight.shape
    every = features @ weight.permute(1, 0, 2).reshape(c_in, volume * c_out)
    return every.reshape(-1, c_out).index_select(0, dmap.parent * volume + dmap.parent_offset)


class _SubmanifoldConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, features: Tensor, weight: Tensor, kmap: KernelMap, method: str) -> Tensor:
        ctx.save_for_backward(features, weight)
        ctx.kmap, ctx.method = kmap, method
        return conv_forward(features, weight, kmap, method)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, Tensor | None, None, None]:
        features, weight = ctx.saved_tensors
        grad_out = grad_out.contiguous()
        grad_in = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_in = conv_forward(grad_out, weight.flip(0).transpose(1, 2), ctx.kmap, ctx.method)
        if ctx.needs_input_grad[1]:
            grad_w = conv_weight_grad(features, grad_out, ctx.kmap, ctx.method)
        return grad_in, grad_w, None, None


class _DownsampleConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, features: Tensor, weight: Tensor, dmap: DownsampleMap, method: str) -> Tensor:
        ctx.save_for_backward(features, weight)
        ctx.dmap, ctx.method = dmap, method
        return conv_forward(features, weight, dmap.kernel_map, method)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, Tensor | None, None, None]:
        features, weight = ctx.saved_tensors
        grad_out = grad_out.contiguous()
        grad_in = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_in = upsample_forward(grad_out, weight.transpose(1, 2), ctx.dmap)
        if ctx.needs_input_grad[1]:
            grad_w = conv_weight_grad(features, grad_out, ctx.dmap.kernel_map, ctx.method)
        return grad_in, grad_w, None, None


class _UpsampleConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, features: Tensor, weight: Tensor, dmap: DownsampleMap, method: str) -> Tensor:
        ctx.save_for_backward(features, weight)
        ctx.dmap, ctx.method = dmap, method
        return upsample_forward(features, weight, dmap)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, Tensor | None, None, None]:
        features, weight = ctx.saved_tensors
        grad_out = grad_out.contiguous()
        grad_in = grad_w = None
        kmap = ctx.dmap.kernel_map
        if ctx.needs_input_grad[0]:
            grad_in = conv_forward(grad_out, weight.transpose(1, 2), kmap, ctx.method)
        if ctx.needs_input_grad[1]:
            # The fine-to-coarse pairs with roles swapped: d out[f] / d W[k] = x[parent]^T g[f].
            grad_w = conv_weight_grad(grad_out, features, kmap, ctx.method).transpose(1, 2)
        return grad_in, grad_w, None, None


def _check_weight(weight: Tensor, kmap: KernelMap, features: Tensor) -> None:
    if weight.shape[0] != kmap.kernel_volume:
        raise ConfigError(f"weight has {weight.shape[0]} offsets, kernel map has {kmap.kernel_volume}")
    if features.shape != (kmap.num_in, weight.shape[1]):
        raise ConfigError(f"features of shape {tuple(features.shape)} do not fit a map with "
                          f"{kmap.num_in} inputs and a weight with {weight.shape[1]} input channels")


def submanifold_conv(features: Tensor, weight: Tensor, kmap: KernelMap, method: ConvMethod = "auto") -> Tensor:
    """Submanifold convolution through a symmetric kernel map (differentiable once).

    Raises
    ------
    ConfigError
        When the weight or features do not fit the map, or the method is unknown.
    """
    _check_weight(weight, kmap, features)
    chosen = resolve_method(method, kmap, weight.shape[1], weight.shape[2])
    return _SubmanifoldConv.apply(features, weight, kmap, chosen)


def downsample_conv(features: Tensor, weight: Tensor, dmap: DownsampleMap, method: ConvMethod = "auto") -> Tensor:
    """``f^3`` stride-``f`` convolution from the fine to the coarse sites (differentiable once).

    Raises
    ------
    ConfigError
        When the weight or features do not fit the map, or the method is unknown.
    """
    _check_weight(weight, dmap.kernel_map, features)
    chosen = resolve_method(method, dmap.kernel_map, weight.shape[1], weight.shape[2])
    return _DownsampleConv.apply(features, weight, dmap, chosen)


def upsample_conv(features: Tensor, weight: Tensor, dmap: DownsampleMap, method: ConvMethod = "auto") -> Tensor:
    """Transposed ``f^3`` stride-``f`` convolution from the coarse back to the fine sites.

    Raises
    ------
    ConfigError
        When the weight or features do not fit the map, or the method is unknown.
    """
    kmap = dmap.kernel_map
    if weight.shape[0] != kmap.kernel_volume or features.shape != (kmap.num_out, weight.shape[1]):
        raise ConfigError(f"features {tuple(features.shape)} and weight {tuple(weight.shape)} do not fit "
                          f"a map with {kmap.num_out} coarse sites and {kmap.kernel_volume} offsets")
    chosen = resolve_method(method, kmap, weight.shape[1], weight.shape[2])
    return _UpsampleConv.apply(features, weight, dmap, chosen)
