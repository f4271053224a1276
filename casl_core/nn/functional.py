"""Sparse convolution arithmetic with hand-written backward passes.

Weights are ``(K, C_in, C_out)``, offsets x-major. Two ways compute a submanifold or strided
convolution (same result):

- ``"gather_scatter"``: for each offset, gather the matched input rows, multiply by that
  offset's weight, ``index_add_`` into the output (work proportional to the pairs);
- ``"table"``: gather a ``(M_out, K * C_in)`` block through the neighbour table (missing
  neighbours read an appended zero row) and do one matrix product.

Backward passes are hand-written:

- submanifold and strided convolutions with the per-offset loop gather the output gradient
  once per offset and use it twice: for the weight gradient ``features[i]^T @ g[o]`` and
  for the input gradient ``g[o] @ weight[k]^T`` added into the input rows;
- with the table, a submanifold map is symmetric (the pair of offset ``k`` is the reversed
  pair of offset ``K-1-k``), so the input gradient is the same convolution of the output
  gradient with the flipped, transposed weights;
- a ``f^3`` stride-``f`` convolution and its transpose are adjoint: each one's input gradient
  is the other one's forward pass.

Per-offset work goes through scratch buffers reused across offsets, and a convolution of
the same vector at every site (the coordinate encoder's stem) is one small product with
the neighbour occupancy (:func:`uniform_submanifold_conv`).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor

from casl_core.errors import ConfigError
from casl_core.nn.kmap import DownsampleMap, KernelMap

ConvMethod = Literal["auto", "gather_scatter", "table"]
# The neighbour-table product pays for every (site, offset) slot, filled or not (about twice
# the work on a scanned surface); the per-offset loop pays a fixed cost per offset, which
# more threads make relatively larger (each small product is split across them). Measured
# on the bunny's 19.8k voxels (benchmarks/README.md, "Sparse U-Net"), a `small` training
# step on one CPU thread is fastest with the loop everywhere (193 ms; table below 1e6
# work: 210 ms, below 1e7: 233 ms), on two threads with the table below about 3e6 work
# (130 ms; loop everywhere 134 ms, below 1e7: 147 ms). So on the CPU the table is used
# while sites * C_in * C_out stays below TABLE_WORK_PER_EXTRA_THREAD for each thread past
# the first. On CUDA, where each of the loop's small products is a kernel launch, the table
# is used below TABLE_MAX_WORK_CUDA (not measured on a GPU yet).
TABLE_WORK_PER_EXTRA_THREAD = 3_000_000
TABLE_MAX_WORK_CUDA = 10_000_000


def table_max_work(device: torch.device) -> int:
    """Largest ``sites * C_in * C_out`` for which ``"auto"`` picks the table on ``device``."""
    if device.type == "cuda":
        return TABLE_MAX_WORK_CUDA
    return TABLE_WORK_PER_EXTRA_THREAD * max(0, torch.get_num_threads() - 1)


def resolve_method(method: ConvMethod, kmap: KernelMap, c_in: int, c_out: int) -> Literal["gather_scatter", "table"]:
    """The concrete method for ``kmap`` with these widths (``"auto"`` decides by the work size).

    Raises
    ------
    ConfigError
        On an unknown method name.
    """
    if method == "auto":
        limit = table_max_work(kmap.device)
        return "table" if kmap.num_out * c_in * c_out <= limit else "gather_scatter"
    if method in ("gather_scatter", "table"):
        return method
    raise ConfigError(f"unknown sparse convolution method {method!r}")


def _table_block(features: Tensor, kmap: KernelMap) -> Tensor:
    padded = torch.cat([features, features.new_zeros((1, features.shape[1]))])
    block = padded.index_select(0, kmap.neighbor_table.reshape(-1))
    return block.reshape(kmap.num_out, kmap.kernel_volume * features.shape[1])


def _scratch(like: Tensor, kmap: KernelMap, *widths: int) -> list[Tensor]:
    """One work buffer per width, long enough for the largest offset's pairs.

    The per-offset gathers and products write into these (``out=``) instead of a fresh
    tensor per offset: on the CPU every fresh multi-megabyte tensor is new memory the
    kernel has to map and zero, which cost about 5 % of a ``base`` forward pass.
    """
    return [like.new_empty((kmap.largest_offset, w)) for w in widths]


def _accumulate(out: Tensor, source: Tensor, weight: Tensor, kmap: KernelMap, backwards: bool = False) -> Tensor:
    """Add ``source[a] @ weight[k]`` into ``out[b]`` over every offset's pairs; returns ``out``.

    ``(a, b)`` are the offset's (input, output) rows, or (output, input) when ``backwards``
    (a transposed convolution runs a strided map from its coarse side).
    """
    gathered, product = _scratch(source, kmap, source.shape[1], weight.shape[2])
    weights = weight.unbind(0)
    for k, in_idx, out_idx, n in kmap.offset_pairs:
        src, dst = (out_idx, in_idx) if backwards else (in_idx, out_idx)
        g, p = gathered[:n], product[:n]
        torch.index_select(source, 0, src, out=g)
        torch.mm(g, weights[k], out=p)
        out.index_add_(0, dst, p)
    return out


def conv_forward(features: Tensor, weight: Tensor, kmap: KernelMap, method: str) -> Tensor:
    """``out[o] = sum over pairs (i, o, k) of features[i] @ weight[k]``, no autograd."""
    if method == "table":
        return _table_block(features, kmap) @ weight.reshape(-1, weight.shape[2])
    if kmap.identity_offset is not None:
        out = features @ weight[kmap.identity_offset]
    else:
        out = features.new_zeros((kmap.num_out, weight.shape[2]))
    return _accumulate(out, features, weight, kmap)


def conv_weight_grad(features: Tensor, grad_out: Tensor, kmap: KernelMap, method: str) -> Tensor:
    """Gradient of :func:`conv_forward` with respect to its ``(K, C_in, C_out)`` weight."""
    if method == "table":
        c_in, c_out = features.shape[1], grad_out.shape[1]
        return (_table_block(features, kmap).t() @ grad_out).reshape(kmap.kernel_volume, c_in, c_out)
    weight_grad = _loop_backward(features, grad_out, kmap, None, True)[1]
    assert weight_grad is not None  # asked for with need_weight=True
    return weight_grad


def uniform_submanifold_conv(vector: Tensor, weight: Tensor, occupancy: Tensor) -> Tensor:
    """Submanifold convolution of features that are one ``(C_in,)`` vector at every site.

    ``out[o] = sum over the offsets k present at o of vector @ weight[k]``, which is the
    ``(M, K)`` occupancy of the kernel (the transpose of ``occupancy``, ``(K, M)``, see
    :meth:`casl_core.nn.sparse.CoordinateManager.submanifold_occupancy`) times the
    ``(K, C_out)`` products of the vector with each offset's weight: no gather and no
    scatter, and plain autograd gives the gradients of ``vector`` and ``weight``. The
    coordinate encoder's stem sees exactly such features (one learned token per occupied
    voxel), so its 5^3 convolution costs one small matrix product instead of 124
    gather-multiply-scatter steps.

    Raises
    ------
    ConfigError
        When the vector, weight and occupancy do not fit together.
    """
    if (
        vector.dim() != 1
        or weight.dim() != 3
        or occupancy.dim() != 2
        or weight.shape[0] != occupancy.shape[0]
        or weight.shape[1] != vector.shape[0]
    ):
        raise ConfigError(
            f"a {tuple(vector.shape)} vector and a {tuple(weight.shape)} weight do not fit "
            f"an occupancy of {occupancy.shape[0]} offsets"
        )
    per_offset = torch.einsum("c,kcd->kd", vector, weight)
    return occupancy.to(per_offset.dtype).t() @ per_offset


#: Below this share of filled (coarse site, offset) slots the transposed convolution
#: multiplies offset by offset instead of computing every offset for every coarse site.
UPSAMPLE_DENSE_FILL = 0.6


def upsample_forward(features: Tensor, weight: Tensor, dmap: DownsampleMap) -> Tensor:
    """Transposed ``f^3`` stride-``f`` convolution: each fine site takes its parent times its offset's weight.

    On a scanned surface a coarse cell holds 3 to 4 of its 8 possible children, so the
    products are taken per offset over the children that exist (gather the parents,
    multiply, place the rows) rather than for all 8 offsets of every coarse site and then
    selected, which would do about twice the work; when most slots are filled the single
    product wins.
    """
    volume, c_in, c_out = weight.shape
    kmap = dmap.kernel_map
    if kmap.num_in >= UPSAMPLE_DENSE_FILL * volume * max(kmap.num_out, 1):
        every = features @ weight.permute(1, 0, 2).reshape(c_in, volume * c_out)
        return every.reshape(-1, c_out).index_select(0, dmap.parent * volume + dmap.parent_offset)
    # each fine site is written once, by its own offset
    return _accumulate(features.new_zeros((kmap.num_in, c_out)), features, weight, kmap, backwards=True)


def conv_backward(
    features: Tensor,
    weight: Tensor,
    grad_out: Tensor,
    kmap: KernelMap,
    method: str,
    need_input: bool,
    need_weight: bool,
) -> tuple[Tensor | None, Tensor | None]:
    """Input and weight gradients of :func:`conv_forward`, each only when asked.

    With the per-offset loop both come from one gather of the output gradient per offset:
    ``grad_w[k] = features[i]^T @ g[o]`` and ``grad_in[i] += g[o] @ weight[k]^T`` over the
    offset's pairs ``(i, o)``. The table method runs the two separately.
    """
    if method == "table":
        grad_in = conv_forward(grad_out, weight.flip(0).transpose(1, 2), kmap, method) if need_input else None
        grad_w = conv_weight_grad(features, grad_out, kmap, method) if need_weight else None
        return grad_in, grad_w
    return _loop_backward(features, grad_out, kmap, weight if need_input else None, need_weight)


def _loop_backward(
    features: Tensor, grad_out: Tensor, kmap: KernelMap, weight: Tensor | None, need_weight: bool
) -> tuple[Tensor | None, Tensor | None]:
    """The per-offset backward: the input gradient when ``weight`` is given, the weight gradient if asked."""
    c_in, c_out = features.shape[1], grad_out.shape[1]
    grad_in = grad_w = None
    if weight is not None:
        if kmap.identity_offset is not None:
            grad_in = grad_out @ weight[kmap.identity_offset].t()
        else:
            grad_in = grad_out.new_zeros((kmap.num_in, c_in))
    if need_weight:
        # every offset with pairs (and the identity) is written in full below; only the rest is zeroed
        grad_w = features.new_empty((kmap.kernel_volume, c_in, c_out))
        for k, count in enumerate(kmap.offset_counts):
            if count == 0 and k != kmap.identity_offset:
                grad_w[k].zero_()
        if kmap.identity_offset is not None:
            torch.mm(features.t(), grad_out, out=grad_w[kmap.identity_offset])
    # The input rows gathered for the weight gradient are consumed before the input-gradient
    # product is taken, so that product reuses their buffer: one buffer less in the cache.
    gathered, gathered_grad = _scratch(features, kmap, c_in, c_out)
    grad_weights = grad_w.unbind(0) if grad_w is not None else ()
    transposed = weight.transpose(1, 2).unbind(0) if weight is not None else ()
    for k, in_idx, out_idx, n in kmap.offset_pairs:
        g, x = gathered_grad[:n], gathered[:n]
        torch.index_select(grad_out, 0, out_idx, out=g)
        if grad_w is not None:
            torch.index_select(features, 0, in_idx, out=x)
            torch.mm(x.t(), g, out=grad_weights[k])
        if grad_in is not None:
            torch.mm(g, transposed[k], out=x)
            grad_in.index_add_(0, in_idx, x)
    return grad_in, grad_w


class _SubmanifoldConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, features: Tensor, weight: Tensor, kmap: KernelMap, method: str) -> Tensor:
        ctx.save_for_backward(features, weight)
        ctx.kmap, ctx.method = kmap, method
        return conv_forward(features, weight, kmap, method)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, Tensor | None, None, None]:
        features, weight = ctx.saved_tensors
        grad_in, grad_w = conv_backward(
            features,
            weight,
            grad_out.contiguous(),
            ctx.kmap,
            ctx.method,
            ctx.needs_input_grad[0],
            ctx.needs_input_grad[1],
        )
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
        raise ConfigError(
            f"features of shape {tuple(features.shape)} do not fit a map with "
            f"{kmap.num_in} inputs and a weight with {weight.shape[1]} input channels"
        )


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
        raise ConfigError(
            f"features {tuple(features.shape)} and weight {tuple(weight.shape)} do not fit "
            f"a map with {kmap.num_out} coarse sites and {kmap.kernel_volume} offsets"
        )
    chosen = resolve_method(method, kmap, weight.shape[1], weight.shape[2])
    return _UpsampleConv.apply(features, weight, dmap, chosen)
