"""Scanner views of normal parts: partial views, poses, densities and production variation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from casl_core.errors import ConfigError
from casl_core.io import read_scan
from casl_core.scan import Scan
from casl_core.synth.defects import estimate_normals
from casl_core.synth.views import (
    apply_transform,
    production_variation,
    random_direction,
    random_pose,
    resample,
    visible_side,
)


@pytest.fixture(scope="module")
def bunny(scans_dir) -> Scan:
    return read_scan(scans_dir / "common-3d-test-models" / "stanford-bunny.obj", surface_samples=6000, seed=3)


def _sphere(n: int = 4000, seed: int = 0) -> Scan:
    v = np.random.default_rng(seed).normal(size=(n, 3))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return Scan(points=v, normals=v)


def test_hidden_point_removal_keeps_the_near_hemisphere_of_a_sphere():
    sphere = _sphere()
    d = np.array([0.3, -0.5, 0.8])
    view = visible_side(sphere, d)
    facing = view.points @ (d / np.linalg.norm(d))
    # the viewpoint is 3 diagonals away: the visible cap ends a little before the equator
    assert facing.min() > 0.0
    all_facing = sphere.points @ (d / np.linalg.norm(d))
    assert np.mean(all_facing[all_facing > 0.3] > 0) == 1.0
    kept_high = np.isin(np.flatnonzero(all_facing > 0.3), view.metadata.source_index)
    assert kept_high.mean() > 0.95


def test_view_of_a_real_scan_faces_the_viewer_and_is_partial(bunny):
    rng = np.random.default_rng(5)
    d = random_direction(rng)
    view = visible_side(bunny, d)
    assert 0.15 * len(bunny) < len(view) < 0.75 * len(bunny)
    # the mesh's face normals of the kept points face the scanner
    assert np.mean(view.normals @ d > 0) > 0.9
    by_normals = visible_side(bunny, d, method="normals")
    assert np.mean(by_normals.normals @ d > 0) > 0.95
    assert np.mean(np.isin(view.metadata.source_index, by_normals.metadata.source_index)) > 0.9


def test_views_are_deterministic(bunny):
    a = visible_side(production_variation(bunny, np.random.default_rng(1)), random_direction(np.random.default_rng(2)))
    b = visible_side(production_variation(bunny, np.random.default_rng(1)), random_direction(np.random.default_rng(2)))
    np.testing.assert_array_equal(a.points, b.points)
    np.testing.assert_array_equal(a.metadata.source_index, b.metadata.source_index)


def test_random_pose_is_rigid_and_reported(bunny):
    posed = random_pose(bunny, np.random.default_rng(7))
    t = posed.transform
    assert np.isclose(np.linalg.det(t[:3, :3]), 1.0)
    expected = bunny.points_f64() @ t[:3, :3].T + t[:3, 3]
    np.testing.assert_allclose(posed.scan.points, expected, atol=1e-4 * np.abs(expected).max())
    np.testing.assert_allclose(posed.scan.normals, bunny.normals @ t[:3, :3].T.astype(np.float32), atol=1e-5)
    i, j = np.arange(0, 6000, 7), np.arange(3, 6003, 7) % 6000
    before = np.linalg.norm(bunny.points[i] - bunny.points[j], axis=1)
    after = np.linalg.norm(posed.scan.points[i] - posed.scan.points[j], axis=1)
    np.testing.assert_allclose(after, before, rtol=1e-4, atol=1e-6)
    with pytest.raises(ConfigError, match="4x4"):
        apply_transform(bunny, np.diag([2.0, 1.0, 1.0, 1.0]))


def test_resample_lowers_the_density_by_the_fraction(bunny):
    sub = resample(bunny, 0.4, np.random.default_rng(0))
    assert len(sub) == 2400
    np.testing.assert_array_equal(sub.points, bunny.points[sub.metadata.source_index])
    with pytest.raises(ConfigError):
        resample(bunny, 1.5, np.random.default_rng(0))


def test_production_variation_is_small_smooth_and_keeps_normals_true():
    sphere = _sphere(8000, seed=4)
    varied = production_variation(sphere, np.random.default_rng(9), scale_range=0.015, bend=0.005)
    moved = np.linalg.norm(varied.points - sphere.points, axis=1)
    diag = 2.0 * np.sqrt(3.0) * 0.999
    # scale 1.5 % of a radius of 1 and a bend of 0.5 % of the diagonal at most
    assert moved.max() < 0.015 + 0.005 * 2 * diag * 2 / 3 + 1e-3
    assert moved.max() > 1e-3
    # the displacement field is smooth: neighbours move alike
    _, nb = cKDTree(sphere.points).query(sphere.points, 2)
    step = np.linalg.norm((varied.points - sphere.points)[nb[:, 0]] - (varied.points - sphere.points)[nb[:, 1]], axis=1)
    gap = np.linalg.norm(sphere.points[nb[:, 0]] - sphere.points[nb[:, 1]], axis=1)
    assert np.max(step / np.maximum(gap, 1e-9)) < 0.1
    # the carried normals are the deformed surface's normals (against local PCA)
    pca, _ = estimate_normals(varied.points.astype(np.float64), k=24)
    agree = np.abs(np.einsum("ij,ij->i", pca, varied.normals))
    assert np.median(agree) > 0.999
    plain = production_variation(sphere, np.random.default_rng(9), scale_range=0.0, bend=0.0)
    np.testing.assert_allclose(plain.points, sphere.points, atol=1e-6)
