"""Kernel maps of sparse convolutions: which input site feeds which output site, per offset.

Coordinates are rows ``[b, x, y, z]`` of integers in units of the finest voxel. Each row is
packed into one int64 key (:func:`pack_keys`): 9 bits of batch index, then 18 bits per axis
holding ``coordinate + 2**17``. The keys of a coordinate set are sorted once; for every kernel
offset the key of the wanted neighbour is ``key + delta(offset)`` (no carry thanks to the
coordinate range check), and ``torch.searchsorted`` finds it in the sorted keys: a hit when
the key found equals the key wanted. When the sites' bounding box is small (always for
normalised scans), a dense index volume over the box answers the same queries with one
gather each, which is several times faster; both paths are tested against brute force.

A :class:`KernelMap` stores the pairs as one offset-major table ``(K, num_out)``: the input
row feeding each output through each offset, or ``num_in`` where there is none. The forms the
convolutions read are derived from it on first use and kept with the map:

- pair lists grouped by offset (``in_indices``, ``out_indices``, ``offset_counts``,
  ``offset_pairs``), for gather-GEMM-scatter;
- the site-major neighbour table ``(num_out, K)`` (missing entries point at row ``num_in``,
  a zero row appended to the features), for one batched matrix product;
- the occupancy ``(num_out, K)``, for a convolution of the same vector at every site.

A map only pays for the forms its layers use: the coordinate encoder's 5^3 stem reads only
the occupancy, so its 125-offset pair lists are never built.

Offsets are enumerated x-major (``itertools.product(range(k), repeat=3)``), the order of a
dense ``conv3d`` weight's last three axes flattened.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import Tensor

from casl_core.errors import ConfigError

AXIS_BITS = 18
BATCH_BITS = 9
AXIS_OFFSET = 1 << (AXIS_BITS - 1)
AXIS_MASK = (1 << AXIS_BITS) - 1
MAX_BATCH = 1 << BATCH_BITS
# Coordinates stay this far from the packed range's edges, so that a neighbour key built by
# adding a delta never carries into the next axis.
NEIGHBOUR_MARGIN = 1 << 12
MAX_ABS_COORDINATE = AXIS_OFFSET - NEIGHBOUR_MARGIN
# Largest dense neighbour-index volume (int64 cells) built instead of a binary search: 64 MB.
MAX_GRID_CELLS = 1 << 23


def check_coordinates(coordinates: Tensor) -> None:
    """Check that ``[b, x, y, z]`` rows can be packed into keys.

    Raises
    ------
    ConfigError
        When the array is not ``(M, 4)`` integers, a batch index is outside ``[0, 512)`` or a
        spatial coordinate's magnitude reaches :data:`MAX_ABS_COORDINATE`.
    """
    if coordinates.ndim != 2 or coordinates.shape[1] != 4:
        raise ConfigError(f"sparse coordinates must have shape (M, 4), got {tuple(coordinates.shape)}")
    if coordinates.dtype.is_floating_point or coordinates.dtype == torch.bool:
        raise ConfigError(f"sparse coordinates must be integers, got {coordinates.dtype}")
    if coordinates.shape[0] == 0:
        return
    batch = coordinates[:, 0]
    if int(batch.min()) < 0 or int(batch.max()) >= MAX_BATCH:
        raise ConfigError(f"batch indices must lie in [0, {MAX_BATCH}), got [{int(batch.min())}, {int(batch.max())}]")
    largest = int(coordinates[:, 1:].abs().max())
    if largest >= MAX_ABS_COORDINATE:
        raise ConfigError(
            f"voxel coordinate {largest} is out of range (|c| < {MAX_ABS_COORDINATE}); "
            "use a larger voxel size or normalise the points"
        )


def pack_keys(coordinates: Tensor) -> Tensor:
    """Pack ``(M, 4)`` integer rows ``[b, x, y, z]`` into ``(M,)`` int64 keys (order: b, x, y, z)."""
    c = coordinates.to(torch.int64)
    key = c[:, 0]
    for axis in (1, 2, 3):
        key = (key << AXIS_BITS) | (c[:, axis] + AXIS_OFFSET)
    return key


def unpack_keys(keys: Tensor) -> Tensor:
    """Inverse of :func:`pack_keys`: ``(M,)`` int64 keys to ``(M, 4)`` int64 rows."""
    out = torch.empty((keys.shape[0], 4), dtype=torch.int64, device=keys.device)
    rest = keys
    for axis in (3, 2, 1):
        out[:, axis] = (rest & AXIS_MASK) - AXIS_OFFSET
        rest = rest >> AXIS_BITS
    out[:, 0] = rest
    return out


def offset_delta(dx: int, dy: int, dz: int) -> int:
    """The key difference between a site and its neighbour at ``(dx, dy, dz)``."""
    return (dx << (2 * AXIS_BITS)) + (dy << AXIS_BITS) + dz


def kernel_offsets(kernel_size: int, step: int) -> list[tuple[int, int, int]]:
    """Offsets of a centred odd cube kernel, x-major, scaled by ``step`` (stride times dilation)."""
    half = (kernel_size - 1) // 2
    return [
        ((i - half) * step, (j - half) * step, (k - half) * step)
        for i in range(kernel_size)
        for j in range(kernel_size)
        for k in range(kernel_size)
    ]


class KernelMap:
    """The input/output pairs of one sparse convolution.

    Parameters
    ----------
    by_offset:
        ``(K, num_out)`` int64: the input row feeding each output through each offset, or
        ``num_in`` when there is none.
    num_in, num_out:
        Numbers of input and output sites.
    identity_offset:
        The offset whose pairs are exactly ``(i, i)`` for every site (the centre tap of a
        submanifold map), or None.

    Attributes
    ----------
    in_indices, out_indices:
        ``(P,)`` int64 rows of the input and output features, grouped by kernel offset and
        ascending in the output row within an offset.
    offset_counts:
        Number of pairs of each of the ``K`` offsets, in offset order (sums to ``P``).
    neighbor_table:
        ``(num_out, K)`` int64, the transpose of ``by_offset``.
    """

    def __init__(self, by_offset: Tensor, num_in: int, num_out: int, identity_offset: int | None = None) -> None:
        if by_offset.dim() != 2 or by_offset.shape[1] != num_out:
            raise ConfigError(f"a kernel map table must be (K, {num_out}), got {tuple(by_offset.shape)}")
        self.by_offset = by_offset
        self.num_in = num_in
        self.num_out = num_out
        self.identity_offset = identity_offset

    @property
    def kernel_volume(self) -> int:
        """Number of kernel offsets ``K``."""
        return int(self.by_offset.shape[0])

    @property
    def device(self) -> torch.device:
        """Where the map's tensors live."""
        return self.by_offset.device

    @functools.cached_property
    def _pairs(self) -> tuple[Tensor, Tensor, tuple[int, ...]]:
        # One flat nonzero over the offset-major table and one index_select: about half the
        # time of a two-dimensional nonzero followed by advanced indexing.
        present = self.by_offset != self.num_in
        flat = present.reshape(-1).nonzero().reshape(-1)
        in_index = self.by_offset.reshape(-1).index_select(0, flat)
        out_index = flat - torch.div(flat, max(self.num_out, 1), rounding_mode="floor") * self.num_out
        return in_index, out_index, tuple(int(c) for c in present.sum(1).tolist())

    @property
    def in_indices(self) -> Tensor:
        """``(P,)`` input rows of the pairs, grouped by offset."""
        return self._pairs[0]

    @property
    def out_indices(self) -> Tensor:
        """``(P,)`` output rows of the pairs, grouped by offset."""
        return self._pairs[1]

    @property
    def offset_counts(self) -> tuple[int, ...]:
        """Number of pairs of each offset."""
        return self._pairs[2]

    @property
    def num_pairs(self) -> int:
        """Number of (input, output) pairs ``P``."""
        return int(self.in_indices.shape[0])

    @functools.cached_property
    def neighbor_table(self) -> Tensor:
        """``(num_out, K)`` input row of each output through each offset (``num_in``: none)."""
        return self.by_offset.t().contiguous()

    def occupancy(self, dtype: torch.dtype) -> Tensor:
        """``(K, num_out)`` 1 where the output has a neighbour through the offset, else 0."""
        return (self.by_offset != self.num_in).to(dtype)

    @functools.cached_property
    def offset_pairs(self) -> tuple[tuple[int, Tensor, Tensor, int], ...]:
        """``(offset, in rows, out rows, count)`` of every offset with pairs, the identity left out.

        Computed once per map (many layers share a map) and kept with it.
        """
        counts = list(self.offset_counts)
        split_in, split_out = torch.split(self.in_indices, counts), torch.split(self.out_indices, counts)
        return tuple(
            (k, i, o, n)
            for k, (i, o, n) in enumerate(zip(split_in, split_out, counts))
            if n > 0 and k != self.identity_offset
        )

    @functools.cached_property
    def largest_offset(self) -> int:
        """Pairs of the offset with the most, the identity left out (0 when none)."""
        return max((n for *_, n in self.offset_pairs), default=0)


@dataclass(frozen=True)
class DownsampleMap:
    """Pairs of a stride-``f`` convolution with a ``f^3`` kernel from stride ``s`` to ``s*f``.

    Every fine site falls in exactly one coarse cell, at one kernel offset, so the map is
    also a parent table used by the transposed convolution.

    Attributes
    ----------
    kernel_map:
        Pairs with the fine sites as input and the coarse sites as output.
    coarse_coordinates:
        ``(M_coarse, 4)`` int64 coordinates, multiples of ``s*f``, sorted by key.
    parent:
        ``(M_fine,)`` row of each fine site's coarse cell.
    parent_offset:
        ``(M_fine,)`` kernel offset (x-major in ``[0, f^3)``) of each fine site in its cell.
    """

    kernel_map: KernelMap
    coarse_coordinates: Tensor
    parent: Tensor
    parent_offset: Tensor


def _search_table(sorted_keys: Tensor, kernel_size: int, step: int) -> Tensor:
    """``(K, M)`` neighbour table (key positions, ``M`` for none) by binary search of neighbour keys."""
    num = int(sorted_keys.shape[0])
    deltas = torch.tensor(
        [offset_delta(*o) for o in kernel_offsets(kernel_size, step)], dtype=torch.int64, device=sorted_keys.device
    )
    queries = deltas[:, None] + sorted_keys[None, :]
    position = torch.searchsorted(sorted_keys, queries.reshape(-1)).reshape(queries.shape)
    position = position.clamp_(max=max(num - 1, 0))
    hit = sorted_keys.index_select(0, position.reshape(-1)).reshape(position.shape) == queries
    return torch.where(hit, position, torch.full_like(position, num))


def _grid_lookup(
    sorted_keys: Tensor, kernel_size: int, stride: int, dilation: int, max_cells: int
) -> tuple[int, Tensor, Tensor] | None:
    """A dense volume over the sites' bounding box: its size, each site's cell, the offsets' steps.

    None when the box (padded by the kernel's reach) has more than ``max_cells`` cells.
    """
    coords = unpack_keys(sorted_keys)
    cells = torch.div(coords[:, 1:], stride, rounding_mode="floor")
    reach = (kernel_size // 2) * dilation
    lower = cells.min(0).values - reach
    dims = [int(d) for d in (cells.max(0).values + reach - lower + 1).tolist()]
    batches = int(coords[:, 0].max()) + 1
    size = batches * dims[0] * dims[1] * dims[2]
    if size > max_cells:
        return None
    local = cells - lower
    linear = ((coords[:, 0] * dims[0] + local[:, 0]) * dims[1] + local[:, 1]) * dims[2] + local[:, 2]
    deltas = torch.tensor(
        [(dx * dims[1] + dy) * dims[2] + dz for dx, dy, dz in kernel_offsets(kernel_size, dilation)],
        dtype=torch.int64,
        device=coords.device,
    )
    return size, linear, deltas


def _read_volume(volume: Tensor, linear: Tensor, deltas: Tensor) -> Tensor:
    """``(K, M)`` values of ``volume`` at every site's cell plus every offset's step."""
    # index_select on the flat index: a third faster than advanced indexing with a 2-D index
    flat = (deltas[:, None] + linear[None, :]).reshape(-1)
    return volume.index_select(0, flat).reshape(deltas.shape[0], linear.shape[0])


def _grid_table(sorted_keys: Tensor, kernel_size: int, stride: int, dilation: int, max_cells: int) -> Tensor | None:
    """The same ``(K, M)`` table through a dense index volume over the bounding box, or None if too big."""
    found = _grid_lookup(sorted_keys, kernel_size, stride, dilation, max_cells)
    if found is None:
        return None
    size, linear, deltas = found
    num = int(sorted_keys.shape[0])
    volume = torch.full((size,), num, dtype=torch.int64, device=sorted_keys.device)
    volume[linear] = torch.arange(num, device=sorted_keys.device)
    return _read_volume(volume, linear, deltas)


def submanifold_occupancy(
    sorted_keys: Tensor,
    order: Tensor | None,
    kernel_size: int,
    dtype: torch.dtype,
    stride: int = 1,
    dilation: int = 1,
    max_grid_cells: int = MAX_GRID_CELLS,
) -> Tensor:
    """``(K, M)`` occupancy of a submanifold kernel: 1 where a site has a neighbour through an offset.

    The same as ``submanifold_map(...).occupancy(dtype)`` (parameters as there) without the
    map: where the dense volume fits, it is read as 0/1 values of ``dtype`` directly, which
    costs about a third of building the neighbour table and comparing it. A convolution of
    the same vector at every site (:func:`casl_core.nn.functional.uniform_submanifold_conv`)
    needs nothing else.
    """
    num = int(sorted_keys.shape[0])
    found = _grid_lookup(sorted_keys, kernel_size, stride, dilation, max_grid_cells) if num else None
    if found is None:
        return submanifold_map(sorted_keys, order, kernel_size, stride, dilation, max_grid_cells).occupancy(dtype)
    size, linear, deltas = found
    volume = torch.zeros((size,), dtype=dtype, device=sorted_keys.device)
    volume[linear] = 1
    occupancy = _read_volume(volume, linear, deltas)
    if order is None:
        return occupancy
    by_row = torch.empty_like(occupancy)
    by_row[:, order] = occupancy
    return by_row


def submanifold_map(
    sorted_keys: Tensor,
    order: Tensor | None,
    kernel_size: int,
    stride: int = 1,
    dilation: int = 1,
    max_grid_cells: int = MAX_GRID_CELLS,
) -> KernelMap:
    """Kernel map of a submanifold convolution (output sites = input sites).

    Neighbours are looked up in a dense index volume over the sites' bounding box when that
    box (in units of the stride, padded by the kernel reach) has at most ``max_grid_cells``
    cells, else by ``searchsorted`` on the keys; both give the same map.

    Parameters
    ----------
    sorted_keys:
        ``(M,)`` ascending keys of the sites (see :func:`pack_keys`), coordinates multiples
        of ``stride``.
    order:
        Row of each sorted key, or None when the rows are already in key order.
    kernel_size:
        Odd kernel edge length.
    stride, dilation:
        Tensor stride of the sites and spacing of the taps in strides.
    max_grid_cells:
        Largest dense index volume to allocate (0: always search).

    Raises
    ------
    ConfigError
        When the kernel size is even or the kernel reaches past the coordinate margin.
    """
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ConfigError(f"a submanifold convolution needs an odd kernel size, got {kernel_size}")
    reach = (kernel_size // 2) * stride * dilation
    if reach >= NEIGHBOUR_MARGIN:
        raise ConfigError(f"kernel reach {reach} exceeds the coordinate margin {NEIGHBOUR_MARGIN}")
    num = int(sorted_keys.shape[0])
    if num == 0:
        table = torch.zeros((kernel_size**3, 0), dtype=torch.int64, device=sorted_keys.device)
    else:
        grid_table = _grid_table(sorted_keys, kernel_size, stride, dilation, max_grid_cells)
        if grid_table is None:
            table = _search_table(sorted_keys, kernel_size, stride * dilation)
        else:
            table = grid_table
    if order is not None and num > 0:
        # Columns of the table are in key order and entries are key positions: map both to rows.
        padded = torch.cat([order, order.new_tensor([num])])
        table_rows = torch.empty_like(table)
        table_rows[:, order] = padded.index_select(0, table.reshape(-1)).reshape(table.shape)
        table = table_rows
    return KernelMap(table, num, num, identity_offset=kernel_size**3 // 2)


def downsample_map(coordinates: Tensor, stride: int, factor: int) -> DownsampleMap:
    """Kernel map of a ``factor^3`` convolution with stride ``factor`` from tensor stride ``stride``.

    Output sites are the distinct ``floor(c / (stride*factor)) * (stride*factor)`` cells
    (floor division, so negative coordinates fall in the cell below), sorted by key.

    Raises
    ------
    ConfigError
        When ``factor < 2``.
    """
    if factor < 2:
        raise ConfigError(f"a strided convolution needs a stride of at least 2, got {factor}")
    coarse_stride = stride * factor
    fine = coordinates.to(torch.int64)
    cell = fine.clone()
    cell[:, 1:] = torch.div(fine[:, 1:], coarse_stride, rounding_mode="floor") * coarse_stride
    coarse_keys, parent = torch.unique(pack_keys(cell), sorted=True, return_inverse=True)
    within = torch.div(fine[:, 1:] - cell[:, 1:], stride, rounding_mode="floor")
    parent_offset = (within[:, 0] * factor + within[:, 1]) * factor + within[:, 2]
    num_fine, num_coarse = int(fine.shape[0]), int(coarse_keys.shape[0])
    volume = factor**3
    table = torch.full((volume, num_coarse), num_fine, dtype=torch.int64, device=fine.device)
    table[parent_offset, parent] = torch.arange(num_fine, device=fine.device)
    kmap = KernelMap(table, num_fine, num_coarse)
    return DownsampleMap(kmap, unpack_keys(coarse_keys), parent, parent_offset)
