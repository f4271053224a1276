"""Kernel maps: key packing, neighbour search against brute force, caching on the manager."""

from __future__ import annotations

import itertools

import pytest
import torch

from casl_core.errors import ConfigError
from casl_core.nn.conv import SparseConv3d, SparseConvTranspose3d
from casl_core.nn.kmap import (
    MAX_ABS_COORDINATE,
    MAX_GRID_CELLS,
    pack_keys,
    submanifold_map,
    submanifold_occupancy,
    unpack_keys,
)
from casl_core.nn.sparse import CoordinateManager, SparseTensor


def random_coords(seed: int, n: int = 300, extent: int = 6) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    rows = torch.cat(
        [torch.randint(0, 2, (n, 1), generator=gen), torch.randint(-extent, extent, (n, 3), generator=gen)], 1
    )
    return torch.unique(rows, dim=0)[torch.randperm(torch.unique(rows, dim=0).shape[0], generator=gen)]


def test_keys_round_trip_and_sort_like_lexicographic_rows():
    coords = torch.tensor([[0, -5, 3, 7], [1, -131000, 131000, 0], [0, -5, 3, -7], [3, 0, 0, 0], [0, 4, -1, 2]])
    keys = pack_keys(coords)
    assert torch.equal(unpack_keys(keys), coords)
    by_key = coords[torch.argsort(keys)].tolist()
    assert by_key == sorted(coords.tolist())


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("lookup", ["grid", "search"])
def test_submanifold_map_matches_brute_force_neighbour_search(lookup, stride):
    coords = random_coords(seed=1)
    coords[:, 1:] *= stride
    keys, order = torch.sort(pack_keys(coords))
    kmap = submanifold_map(
        keys, order, 3, stride=stride, dilation=2, max_grid_cells=MAX_GRID_CELLS if lookup == "grid" else 0
    )
    rows = {tuple(r): i for i, r in enumerate(coords.tolist())}
    offsets = list(itertools.product((-2 * stride, 0, 2 * stride), repeat=3))
    expected = set()
    for i, (b, x, y, z) in enumerate(coords.tolist()):
        for k, (dx, dy, dz) in enumerate(offsets):
            j = rows.get((b, x + dx, y + dy, z + dz))
            if j is not None:
                expected.add((j, i, k))
    starts = torch.cumsum(torch.tensor((0,) + kmap.offset_counts), 0)
    found = set()
    for k in range(27):
        lo, hi = int(starts[k]), int(starts[k + 1])
        found.update(zip(kmap.in_indices[lo:hi].tolist(), kmap.out_indices[lo:hi].tolist(), [k] * (hi - lo)))
    assert found == expected
    table_pairs = {
        (int(kmap.neighbor_table[o, k]), o, k)
        for o in range(kmap.num_out)
        for k in range(27)
        if int(kmap.neighbor_table[o, k]) != kmap.num_in
    }
    assert table_pairs == expected


@pytest.mark.parametrize("kernel_size,stride,dilation", [(3, 1, 1), (5, 1, 1), (3, 2, 2)])
@pytest.mark.parametrize("lookup", ["grid", "search"])
def test_occupancy_without_a_map_equals_the_maps_occupancy_and_brute_force(lookup, kernel_size, stride, dilation):
    coords = random_coords(seed=11)
    coords[:, 1:] *= stride
    keys, order = torch.sort(pack_keys(coords))
    cells = MAX_GRID_CELLS if lookup == "grid" else 0
    occupancy = submanifold_occupancy(keys, order, kernel_size, torch.float64, stride, dilation, cells)
    kmap = submanifold_map(keys, order, kernel_size, stride, dilation, cells)
    assert occupancy.dtype == torch.float64 and occupancy.shape == (kernel_size**3, coords.shape[0])
    assert torch.equal(occupancy, kmap.occupancy(torch.float64))
    sites = {tuple(r) for r in coords.tolist()}
    half = kernel_size // 2
    steps = [(i - half) * stride * dilation for i in range(kernel_size)]
    expected = torch.tensor(
        [
            [float((b, x + dx, y + dy, z + dz) in sites) for (b, x, y, z) in coords.tolist()]
            for dx, dy, dz in itertools.product(steps, repeat=3)
        ],
        dtype=torch.float64,
    )
    assert torch.equal(occupancy, expected)


def test_the_stem_reads_an_occupancy_and_builds_no_kernel_map():
    coords = random_coords(seed=12)
    x = SparseTensor.from_coordinates(coords, torch.zeros(coords.shape[0], 3))
    stem = SparseConv3d(3, 4, 5)
    out = stem.forward_uniform(x, torch.randn(3))
    assert out.features.shape == (coords.shape[0], 4) and x.manager.cached_maps == 0
    kmap = x.manager.submanifold_map(1, 5)
    assert torch.equal(x.manager.submanifold_occupancy(1, 5), kmap.occupancy(torch.float32))


def test_kernel_maps_are_cached_and_shared_by_encoder_and_decoder_layers():
    coords = random_coords(seed=2)
    x = SparseTensor.from_coordinates(coords, torch.randn(coords.shape[0], 2))
    manager = x.manager
    first = manager.submanifold_map(1, 3)
    assert manager.submanifold_map(1, 3) is first
    assert manager.submanifold_map(1, 3, dilation=2) is not first
    assert manager.submanifold_map(1, 5) is not first
    built = manager.cached_maps
    y = SparseConv3d(2, 2, 3)(SparseConv3d(2, 2, 3)(x))
    assert manager.cached_maps == built
    down = SparseConv3d(2, 4, 2, stride=2)(y)
    dmap = manager.downsample_map(1, 2)
    assert manager.cached_maps == built + 1
    up = SparseConvTranspose3d(4, 2)(down)
    assert manager.upsample_map(2, 2) is dmap and manager.cached_maps == built + 1
    assert up.coordinates is x.coordinates and up.stride == 1


def test_strided_map_puts_every_fine_site_in_its_floor_cell():
    coords = random_coords(seed=3)
    manager = CoordinateManager(coords)
    dmap = manager.downsample_map(1, 2)
    coarse = dmap.coarse_coordinates[dmap.parent]
    expected = coords.clone()
    expected[:, 1:] = torch.div(coords[:, 1:], 2, rounding_mode="floor") * 2
    assert torch.equal(coarse, expected)
    within = coords[:, 1:] - coarse[:, 1:]
    assert torch.equal(dmap.parent_offset, within[:, 0] * 4 + within[:, 1] * 2 + within[:, 2])
    assert torch.equal(manager.coordinates(2), dmap.coarse_coordinates)


def test_bad_coordinates_are_refused_with_a_clear_error():
    with pytest.raises(ConfigError, match=r"shape \(M, 4\)"):
        CoordinateManager(torch.zeros(3, 3, dtype=torch.int64))
    with pytest.raises(ConfigError, match="integers"):
        CoordinateManager(torch.zeros(3, 4))
    with pytest.raises(ConfigError, match="more than once"):
        CoordinateManager(torch.tensor([[0, 1, 2, 3], [0, 1, 2, 3]]))
    with pytest.raises(ConfigError, match="out of range"):
        CoordinateManager(torch.tensor([[0, MAX_ABS_COORDINATE, 0, 0]]))
    with pytest.raises(ConfigError, match="batch indices"):
        CoordinateManager(torch.tensor([[-1, 0, 0, 0]]))
    with pytest.raises(ConfigError, match="multiples of the tensor stride 2"):
        CoordinateManager(torch.tensor([[0, 1, 0, 0]]), stride=2)
    with pytest.raises(ConfigError, match="no coordinates at tensor stride 4"):
        CoordinateManager(torch.tensor([[0, 1, 0, 0]])).coordinates(4)
