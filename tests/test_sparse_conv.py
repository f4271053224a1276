"""Sparse convolutions against dense torch convolutions on small random grids (float64)."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional

from casl_core.errors import ConfigError
from casl_core.nn.conv import SparseConv3d, SparseConvTranspose3d, dense_weight
from casl_core.nn.functional import submanifold_conv
from casl_core.nn.sparse import SparseTensor

METHODS = ["gather_scatter", "table"]


def random_sites(seed: int, extent: int = 7, fill: tuple[float, float] = (0.35, 0.15)) -> torch.Tensor:
    """Two scans of different occupancy in [-extent, extent)^3, odd and negative coordinates included."""
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for b, density in enumerate(fill):
        axis = torch.arange(-extent, extent)
        grid = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
        keep = torch.rand(grid.shape[0], generator=gen) < density
        rows.append(torch.cat([torch.full((int(keep.sum()), 1), b), grid[keep]], 1))
    return torch.cat(rows).to(torch.int32)


def to_dense(coords: torch.Tensor, feats: torch.Tensor, stride: int, origin: int, size: int) -> torch.Tensor:
    """Dense (B, C, size, size, size) grid with voxel edge ``stride`` starting at ``origin``."""
    coords = coords.to(torch.int64)
    batch = int(coords[:, 0].max()) + 1
    grid = feats.new_zeros((batch, feats.shape[1], size, size, size))
    idx = (coords[:, 1:] - origin) // stride
    grid[coords[:, 0], :, idx[:, 0], idx[:, 1], idx[:, 2]] = feats
    return grid


def at_sites(grid: torch.Tensor, coords: torch.Tensor, stride: int, origin: int) -> torch.Tensor:
    coords = coords.to(torch.int64)
    idx = (coords[:, 1:] - origin) // stride
    return grid[coords[:, 0], :, idx[:, 0], idx[:, 1], idx[:, 2]]


def compare_with_dense(sparse_fn, dense_fn, x: SparseTensor, layer: torch.nn.Module, out_coords_fn):
    """Run both paths on the same leaf features and weights; compare outputs and gradients."""
    feats = x.features.detach().clone().requires_grad_(True)
    out = sparse_fn(x.replace_features(feats))
    target = torch.randn_like(out.features)
    (out.features * target).sum().backward()
    sparse_grads = (feats.grad.clone(), layer.weight.grad.clone())
    layer.weight.grad = None

    feats_dense = x.features.detach().clone().requires_grad_(True)
    dense_out, out_coords = dense_fn(feats_dense), out_coords_fn(out)
    dense_at = dense_out(out_coords)
    torch.testing.assert_close(out.features, dense_at, rtol=1e-10, atol=1e-10)
    (dense_at * target).sum().backward()
    torch.testing.assert_close(sparse_grads[0], feats_dense.grad, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(sparse_grads[1], layer.weight.grad, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kernel_size", [3, 5])
def test_uniform_vector_conv_matches_dense_conv3d_of_the_broadcast_vector(kernel_size):
    """The stem's shortcut (one vector at every site) against dense conv3d, values and gradients."""
    torch.manual_seed(40 + kernel_size)
    coords = random_sites(seed=30 + kernel_size)
    x = SparseTensor.from_coordinates(coords, torch.zeros(coords.shape[0], 3, dtype=torch.float64))
    layer = SparseConv3d(3, 4, kernel_size).double()
    vector = torch.randn(3, dtype=torch.float64, requires_grad=True)
    out = layer.forward_uniform(x, vector)
    target = torch.randn_like(out.features)
    (out.features * target).sum().backward()
    grads = (vector.grad.clone(), layer.weight.grad.clone())
    layer.weight.grad = None

    dense_vector = vector.detach().clone().requires_grad_(True)
    grid = to_dense(coords, dense_vector.expand(coords.shape[0], -1), 1, -7, 14)
    dense = functional.conv3d(grid, dense_weight(layer.weight, kernel_size), padding=kernel_size // 2)
    dense_at = at_sites(dense, coords, 1, -7)
    torch.testing.assert_close(out.features, dense_at, rtol=1e-10, atol=1e-10)
    (dense_at * target).sum().backward()
    torch.testing.assert_close(grads[0], dense_vector.grad, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(grads[1], layer.weight.grad, rtol=1e-10, atol=1e-10)
    with pytest.raises(ConfigError):
        layer.forward_uniform(x, torch.zeros(5, dtype=torch.float64))
    with pytest.raises(ConfigError):
        SparseConv3d(3, 4, 2, stride=2).double().forward_uniform(x, vector)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("kernel_size,dilation", [(3, 1), (5, 1), (3, 2)])
def test_submanifold_conv_matches_dense_conv3d_forward_and_backward(kernel_size, dilation, method):
    torch.manual_seed(kernel_size * 10 + dilation)
    coords = random_sites(seed=kernel_size + dilation)
    x = SparseTensor.from_coordinates(coords, torch.randn(coords.shape[0], 3, dtype=torch.float64))
    layer = SparseConv3d(3, 4, kernel_size, dilation=dilation, method=method).double()
    origin, size = -7, 14

    def dense_fn(feats):
        grid = to_dense(coords, feats, 1, origin, size)
        pad = dilation * (kernel_size - 1) // 2
        out = functional.conv3d(grid, dense_weight(layer.weight, kernel_size), padding=pad, dilation=dilation)
        return lambda c: at_sites(out, c, 1, origin)

    compare_with_dense(layer, dense_fn, x, layer, lambda out: out.coordinates)


@pytest.mark.parametrize("method", METHODS)
def test_strided_conv_matches_dense_stride2_conv_and_keeps_occupied_cells(method):
    torch.manual_seed(1)
    coords = random_sites(seed=3)
    x = SparseTensor.from_coordinates(coords, torch.randn(coords.shape[0], 2, dtype=torch.float64))
    layer = SparseConv3d(2, 5, kernel_size=2, stride=2, method=method).double()
    origin, size = -8, 16  # origin a multiple of 2 so dense cells line up with ours

    def dense_fn(feats):
        out = functional.conv3d(to_dense(coords, feats, 1, origin, size), dense_weight(layer.weight, 2), stride=2)
        return lambda c: at_sites(out, c, 2, origin)

    compare_with_dense(layer, dense_fn, x, layer, lambda out: out.coordinates)
    out = layer(x)
    assert out.stride == 2
    occupancy = to_dense(coords, torch.ones(coords.shape[0], 1, dtype=torch.float64), 1, origin, size)
    cells = functional.max_pool3d(occupancy, 2)[:, 0].nonzero()
    expected = torch.cat([cells[:, :1], cells[:, 1:] * 2 + origin], 1)
    assert sorted(map(tuple, expected.tolist())) == sorted(map(tuple, out.coordinates.tolist()))
    assert bool((out.coordinates[:, 1:] % 2 == 0).all())


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("fill", [(0.35, 0.15), (0.95, 0.9)])  # per-offset and all-offsets products
def test_transposed_conv_matches_dense_conv_transpose3d_on_the_fine_sites(method, fill):
    torch.manual_seed(2)
    coords = random_sites(seed=4, fill=fill)
    fine = SparseTensor.from_coordinates(coords, torch.zeros(coords.shape[0], 1, dtype=torch.float64))
    coarse_coords = fine.manager.downsample_map(1, 2).coarse_coordinates
    coarse = SparseTensor(torch.randn(coarse_coords.shape[0], 3, dtype=torch.float64), 2, fine.manager)
    layer = SparseConvTranspose3d(3, 4, method=method).double()
    origin, size = -8, 8

    def dense_fn(feats):
        grid = to_dense(coarse_coords, feats, 2, origin, size)
        weight = layer.weight.permute(1, 2, 0).reshape(3, 4, 2, 2, 2)
        out = functional.conv_transpose3d(grid, weight, stride=2)
        return lambda c: at_sites(out, c, 1, origin)

    compare_with_dense(layer, dense_fn, coarse, layer, lambda out: out.coordinates)
    out = layer(coarse)
    assert out.stride == 1 and out.coordinates is fine.coordinates


@pytest.mark.parametrize("method", METHODS)
def test_submanifold_conv_at_stride_two_matches_dense_conv_on_the_coarse_grid(method):
    torch.manual_seed(5)
    coords = random_sites(seed=6, fill=(0.5, 0.3))
    fine = SparseTensor.from_coordinates(coords, torch.zeros(coords.shape[0], 1, dtype=torch.float64))
    coarse_coords = fine.manager.downsample_map(1, 2).coarse_coordinates
    x = SparseTensor(torch.randn(coarse_coords.shape[0], 3, dtype=torch.float64), 2, fine.manager)
    layer = SparseConv3d(3, 2, 3, method=method).double()
    origin, size = -8, 8

    def dense_fn(feats):
        out = functional.conv3d(
            to_dense(coarse_coords, feats, 2, origin, size), dense_weight(layer.weight, 3), padding=1
        )
        return lambda c: at_sites(out, c, 2, origin)

    compare_with_dense(layer, dense_fn, x, layer, lambda out: out.coordinates)


@pytest.mark.parametrize("method", METHODS)
def test_strided_and_transposed_convs_from_stride_two_match_dense_on_the_coarse_grid(method):
    torch.manual_seed(14)
    coords = random_sites(seed=15, fill=(0.5, 0.3))
    fine = SparseTensor.from_coordinates(coords, torch.zeros(coords.shape[0], 1, dtype=torch.float64))
    mid_coords = fine.manager.downsample_map(1, 2).coarse_coordinates
    x = SparseTensor(torch.randn(mid_coords.shape[0], 3, dtype=torch.float64), 2, fine.manager)
    down = SparseConv3d(3, 2, 2, stride=2, method=method).double()
    origin, size = -8, 8

    def dense_down(feats):
        out = functional.conv3d(to_dense(mid_coords, feats, 2, origin, size), dense_weight(down.weight, 2), stride=2)
        return lambda c: at_sites(out, c, 4, origin)

    compare_with_dense(down, dense_down, x, down, lambda out: out.coordinates)
    coarse_coords = fine.manager.coordinates(4)
    y = SparseTensor(torch.randn(coarse_coords.shape[0], 3, dtype=torch.float64), 4, fine.manager)
    up = SparseConvTranspose3d(3, 2, method=method).double()

    def dense_up(feats):
        weight = up.weight.permute(1, 2, 0).reshape(3, 2, 2, 2, 2)
        out = functional.conv_transpose3d(to_dense(coarse_coords, feats, 4, origin, size // 2), weight, stride=2)
        return lambda c: at_sites(out, c, 2, origin)

    compare_with_dense(up, dense_up, y, up, lambda out: out.coordinates)


def test_unsorted_input_coordinates_give_the_same_rows_as_sorted_ones():
    torch.manual_seed(7)
    coords = random_sites(seed=8)
    feats = torch.randn(coords.shape[0], 3, dtype=torch.float64)
    perm = torch.randperm(coords.shape[0])
    layer = SparseConv3d(3, 3, 3).double()
    sorted_out = layer(SparseTensor.from_coordinates(coords, feats)).features
    shuffled_out = layer(SparseTensor.from_coordinates(coords[perm], feats[perm])).features
    torch.testing.assert_close(shuffled_out, sorted_out[perm])


def test_both_methods_agree_on_every_map():
    torch.manual_seed(9)
    coords = random_sites(seed=10)
    x = SparseTensor.from_coordinates(coords, torch.randn(coords.shape[0], 4, dtype=torch.float64))
    weight = torch.randn(27, 4, 6, dtype=torch.float64)
    kmap = x.manager.submanifold_map(1, 3)
    torch.testing.assert_close(
        submanifold_conv(x.features, weight, kmap, "table"),
        submanifold_conv(x.features, weight, kmap, "gather_scatter"),
    )


def test_unsupported_convolution_shapes_are_refused():
    with pytest.raises(ConfigError, match="odd kernel"):
        SparseConv3d(1, 1, kernel_size=2)
    with pytest.raises(ConfigError, match="kernel_size == stride"):
        SparseConv3d(1, 1, kernel_size=3, stride=2)
    with pytest.raises(ConfigError, match="kernel_size == stride"):
        SparseConvTranspose3d(1, 1, kernel_size=3, stride=2)
    coords = random_sites(seed=11)
    x = SparseTensor.from_coordinates(coords, torch.zeros(coords.shape[0], 2))
    with pytest.raises(ConfigError, match="expects 3 input channels"):
        SparseConv3d(3, 1)(x)
    with pytest.raises(ConfigError, match="finer coordinates are unknown"):
        SparseConvTranspose3d(2, 1)(x)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_convolutions_match_cpu():
    torch.manual_seed(12)
    coords = random_sites(seed=13)
    feats = torch.randn(coords.shape[0], 3)
    layers = [SparseConv3d(3, 4, 3), SparseConv3d(4, 4, 2, stride=2), SparseConvTranspose3d(4, 2)]

    def run(device):
        x = SparseTensor.from_coordinates(coords.to(device), feats.to(device))
        for layer in layers:
            x = layer.to(device)(x)
        return x.features.cpu()

    torch.testing.assert_close(run("cuda"), run("cpu"), rtol=1e-4, atol=1e-4)
