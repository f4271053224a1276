"""Voxelisation of real scans, the point-to-voxel round trip, and feature-wise sparse layers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from casl_core.errors import ConfigError
from casl_core.nn.ops import SparseBatchNorm, cat_features
from casl_core.nn.sparse import SparseTensor
from casl_core.nn.voxelize import devoxelize, voxelize

MODELS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scans" / "common-3d-test-models"


def obj_vertices(name: str) -> torch.Tensor:
    with open(MODELS / name) as handle:
        rows = [line.split()[1:4] for line in handle if line.startswith("v ")]
    return torch.tensor(np.array(rows, dtype=np.float64))


@pytest.mark.shared_scans
def test_voxelize_two_real_scans_averages_features_like_numpy_grouping():
    beetle, fandisk = obj_vertices("beetle.obj"), obj_vertices("fandisk.obj")
    feats = [torch.randn(n, 2, dtype=torch.float64) for n in (beetle.shape[0], fandisk.shape[0])]
    voxel = 0.05
    x, inverse = voxelize([beetle, fandisk], voxel, feats)

    for b, (points, f) in enumerate(zip([beetle, fandisk], feats)):
        cells = np.floor(points.numpy() / voxel).astype(np.int64)
        unique, inv = np.unique(cells, axis=0, return_inverse=True)
        inv = inv.reshape(-1)
        means = np.zeros((len(unique), 2))
        np.add.at(means, inv, f.numpy())
        means /= np.bincount(inv)[:, None]
        mine = x.coordinates[:, 0] == b
        assert torch.equal(x.coordinates[mine, 1:], torch.from_numpy(unique))  # lexicographic order
        np.testing.assert_allclose(x.features[mine].numpy(), means, rtol=1e-12, atol=1e-12)
    assert inverse.shape == (beetle.shape[0] + fandisk.shape[0],)


@pytest.mark.shared_scans
def test_devoxelize_gives_every_point_its_own_voxel_back():
    bunny = obj_vertices("beetle.obj")
    x, inverse = voxelize([bunny, bunny * 0.5], 0.03)
    back = devoxelize(x.coordinates.to(torch.float64), inverse)
    n = bunny.shape[0]
    assert torch.equal(back[:n, 0], torch.zeros(n, dtype=torch.float64))
    assert torch.equal(back[n:, 0], torch.ones(n, dtype=torch.float64))
    expected = torch.floor(torch.cat([bunny, bunny * 0.5]) / 0.03)
    assert torch.equal(back[:, 1:], expected)
    assert torch.equal(x.features, torch.ones(x.num_sites, 1, dtype=bunny.dtype))


def test_voxelize_refuses_bad_input_with_the_scan_named():
    good = torch.zeros(4, 3)
    with pytest.raises(ConfigError, match="positive"):
        voxelize([good], 0.0)
    with pytest.raises(ConfigError, match=r"scan 1: points must have shape \(N, 3\)"):
        voxelize([good, torch.zeros(4, 2)], 0.1)
    with pytest.raises(ConfigError, match="scan 0: points contain NaN"):
        voxelize([torch.tensor([[0.0, float("nan"), 0.0]])], 0.1)
    with pytest.raises(ConfigError, match=r"scan 0: features must have shape \(4, C\)"):
        voxelize([good], 0.1, [torch.zeros(3, 1)])
    with pytest.raises(ConfigError, match="out of range"):
        voxelize([torch.tensor([[1e9, 0.0, 0.0]])], 0.1)
    x, inverse = voxelize([good], 0.1)
    with pytest.raises(ConfigError, match="only 1 voxels"):
        devoxelize(x.features, inverse + 1)


def test_sparse_batch_norm_uses_statistics_of_the_active_sites_only():
    coords = torch.tensor([[0, 0, 0, 0], [0, 5, 0, 0], [1, 2, 2, 2], [1, -3, 1, 0]])
    feats = torch.tensor([[1.0, 2.0], [3.0, -2.0], [5.0, 0.0], [7.0, 4.0]])
    out = SparseBatchNorm(2, eps=1e-12)(SparseTensor.from_coordinates(coords, feats))
    mean, var = feats.mean(0), feats.var(0, unbiased=False)
    torch.testing.assert_close(out.features, (feats - mean) / var.sqrt())


def test_cat_features_requires_the_same_sites():
    coords = torch.tensor([[0, 0, 0, 0], [0, 1, 0, 0]])
    a = SparseTensor.from_coordinates(coords, torch.ones(2, 1))
    joined = cat_features(a, a.replace_features(torch.zeros(2, 3)))
    assert joined.features.shape == (2, 4) and joined.manager is a.manager
    other = SparseTensor.from_coordinates(coords, torch.ones(2, 1))
    with pytest.raises(ConfigError, match="different sites"):
        cat_features(a, other)
