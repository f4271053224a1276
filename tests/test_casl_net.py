"""The CASL network on real scans: shapes, point order, masking, gradients, size, overfitting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree
from torch.nn import functional

from casl_core.errors import ConfigError
from casl_core.nn.casl_net import CaslBatch, CaslNet
from casl_core.nn.config import CaslConfig, config_by_name
from casl_core.nn.preprocess import normalize_points

MODELS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scans" / "common-3d-test-models"


def load_scan(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Normalised vertices of a shared OBJ model and their surface variation at k = 8, 16, 32."""
    with open(MODELS / name) as handle:
        points = np.array([line.split()[1:4] for line in handle if line.startswith("v ")], dtype=np.float64)
    normalized, _ = normalize_points(points)
    _, idx = cKDTree(normalized).query(normalized, k=32)
    curv = []
    for k in (8, 16, 32):
        nbrs = normalized[idx[:, :k]].astype(np.float64)
        centred = nbrs - nbrs.mean(axis=1, keepdims=True)
        eig = np.linalg.eigvalsh(np.einsum("nki,nkj->nij", centred, centred))
        curv.append(eig[:, 0] / eig.sum(axis=1))
    return normalized, np.stack(curv, 1).astype(np.float32)


@pytest.fixture(scope="module")
def beetle() -> tuple[np.ndarray, np.ndarray]:
    return load_scan("beetle.obj")


@pytest.fixture(scope="module")
def fandisk() -> tuple[np.ndarray, np.ndarray]:
    return load_scan("fandisk.obj")


def test_normalize_points_follows_the_base_code_steps():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(500, 3)) * [3.0, 1.0, 0.5] + [100.0, -20.0, 7.0]
    normalized, transform = normalize_points(points)
    lower, upper = points.min(0), points.max(0)
    step1 = points - [(lower[0] + upper[0]) / 2, (lower[1] + upper[1]) / 2, lower[2]]
    step2 = step1 - step1.mean(0)
    expected = step2 / np.linalg.norm(step2, axis=1).max()
    np.testing.assert_allclose(normalized, expected, rtol=1e-6, atol=1e-6)
    assert normalized.dtype == np.float32
    np.testing.assert_allclose(transform.invert(normalized), points, rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(transform.apply(points), normalized)
    with pytest.raises(ConfigError, match=r"shape \(N, 3\)"):
        normalize_points(np.zeros((4, 2)))


@pytest.mark.shared_scans
def test_outputs_follow_input_point_order_across_a_batch(beetle, fandisk):
    torch.manual_seed(0)
    net = CaslNet(config_by_name("small")).eval()
    batch = CaslBatch.from_scans([beetle[0], fandisk[0]], [beetle[1], fandisk[1]])
    with torch.no_grad():
        out = net(batch)
    total = len(beetle[0]) + len(fandisk[0])
    assert out.xyz.shape == (total, 3) and out.logits.shape == (total, 2)
    assert [len(part) for part in batch.split(out.logits)] == [len(beetle[0]), len(fandisk[0])]

    perm = np.random.default_rng(1).permutation(len(fandisk[0]))
    shuffled = CaslBatch.from_scans([beetle[0], fandisk[0][perm]], [beetle[1], fandisk[1][perm]])
    with torch.no_grad():
        out2 = net(shuffled)
    n = len(beetle[0])
    torch.testing.assert_close(out2.logits[:n], out.logits[:n], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out2.logits[n:], out.logits[n:][perm], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out2.xyz[n:], out.xyz[n:][perm], rtol=1e-4, atol=1e-5)


@pytest.mark.shared_scans
def test_masked_coordinate_encoder_sees_only_occupancy(fandisk):
    torch.manual_seed(0)
    net = CaslNet(config_by_name("small")).eval()
    points, curv = fandisk
    voxel = 0.03
    cell = np.floor(points / voxel)
    moved = ((cell + np.random.default_rng(2).uniform(0.05, 0.95, points.shape)) * voxel).astype(np.float32)
    assert np.array_equal(np.floor(moved / voxel), cell)
    first = CaslBatch.from_scans([points], [curv], voxel)
    second = CaslBatch.from_scans([moved], [np.random.default_rng(3).random(curv.shape, np.float32)], voxel)
    with torch.no_grad():
        a, b = net.encode_coordinates(first), net.encode_coordinates(second)
        assert torch.equal(a.features, b.features)
        # The curvature path does see the change, and other occupancy changes the encoding.
        assert not torch.equal(net.encode_curvature(first)[0].features, net.encode_curvature(second)[0].features)
        half = points[:, 0] < np.median(points[:, 0])
        fewer = net.encode_coordinates(CaslBatch.from_scans([points[half]], [curv[half]], voxel))
        assert fewer.num_sites < a.num_sites


@pytest.mark.shared_scans
def test_gradients_reach_every_parameter(beetle):
    torch.manual_seed(0)
    net = CaslNet(config_by_name("small")).train()
    batch = CaslBatch.from_scans([beetle[0]], [beetle[1]])
    out = net(batch)
    labels = torch.from_numpy((beetle[0][:, 0] > 0).astype(np.int64))
    loss = (out.xyz - batch.points).abs().mean() + functional.cross_entropy(out.logits, labels)
    loss.backward()
    missing = [name for name, p in net.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    assert missing == []


def test_base_config_has_the_size_of_minkunet34c():
    count = CaslNet(config_by_name("base")).parameter_count()
    assert abs(count - 38e6) <= 0.15 * 38e6, count


@pytest.mark.shared_scans
def test_small_net_overfits_one_scan(beetle):
    torch.manual_seed(0)
    points, curv = beetle
    net = CaslNet(config_by_name("small")).train()
    batch = CaslBatch.from_scans([points], [curv])
    labels = torch.from_numpy((np.linalg.norm(points - points[0], axis=1) < 0.4).astype(np.int64))
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(50):
        optimizer.zero_grad()
        out = net(batch)
        loss = functional.cross_entropy(out.logits, labels) + (out.xyz - batch.points).abs().mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 5, losses[::10]


@pytest.mark.shared_scans
def test_bad_batches_and_configs_are_refused(beetle):
    points, curv = beetle
    with pytest.raises(ConfigError, match="2 point arrays but 1 curvature"):
        CaslBatch.from_scans([points, points], [curv])
    with pytest.raises(ConfigError, match=r"scan 0: features must have shape"):
        CaslBatch.from_scans([points], [curv[:10]])
    with pytest.raises(ConfigError, match="expects 3 curvature channels"):
        CaslNet(config_by_name("small"))(CaslBatch.from_scans([points], [curv[:, :2]]))
    with pytest.raises(ConfigError, match="unknown CASL config 'huge'"):
        config_by_name("huge")
    with pytest.raises(ConfigError, match="4 entries"):
        CaslConfig(encoder_channels=(1, 2))
    small = config_by_name("small")
    assert CaslConfig.from_dict(small.to_dict()) == small
    with pytest.raises(ConfigError, match="unknown CASL config keys"):
        CaslConfig.from_dict({**small.to_dict(), "colour": 1})
