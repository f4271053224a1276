"""Norm-AS pseudo-anomalies on a real scanned part (fandisk), checked against the recipe."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from casl_core.errors import ConfigError
from casl_core.geometry import compute_curvature
from casl_core.io import read_scan
from casl_core.nn.preprocess import normalize_points
from casl_core.pseudo.norm_as import (
    CANDIDATE_PATCHES,
    DEPTH_RANGE,
    N_PATCHES,
    norm_as,
    random_rotation,
    split_patches,
)


@pytest.fixture(scope="module")
def part(scans_dir):
    scan = read_scan(scans_dir / "common-3d-test-models" / "fandisk.obj")
    normals = compute_curvature(scan.points).normals
    return scan.points.astype(np.float64), normals.astype(np.float64)


@pytest.mark.shared_scans
def test_64_patches_cover_every_point_once_with_near_equal_sizes(part):
    points, _ = part
    patch_ids, seeds = split_patches(points, np.random.default_rng(3))
    n = len(points)
    assert patch_ids.min() == 0 and patch_ids.max() == N_PATCHES - 1
    sizes = np.bincount(patch_ids, minlength=N_PATCHES)
    expected = np.array([len(a) for a in np.array_split(np.arange(n), N_PATCHES)])
    np.testing.assert_array_equal(sizes, expected)
    assert sizes.sum() == n
    np.testing.assert_array_equal(patch_ids[seeds], np.arange(N_PATCHES))


@pytest.mark.shared_scans
def test_each_patch_is_the_nearest_unassigned_points_of_its_seed(part):
    points, _ = part
    patch_ids, seeds = split_patches(points, np.random.default_rng(11))
    for i in range(N_PATCHES - 1):
        seed = points[seeds[i]]
        inside = np.linalg.norm(points[patch_ids == i] - seed, axis=1)
        later = np.linalg.norm(points[patch_ids > i] - seed, axis=1)
        assert inside.max() <= later.min() + 1e-12


def test_rotation_is_about_z_then_y_then_x():
    angles = np.random.default_rng(42).uniform(0.0, 2.0 * np.pi, size=3)
    expected = Rotation.from_euler("zyx", angles).as_matrix()  # extrinsic: z first, then y, then x
    np.testing.assert_allclose(random_rotation(np.random.default_rng(42)), expected, atol=1e-12)


@pytest.mark.shared_scans
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_displacement_is_r_times_depth_times_sign_along_the_normal(part, seed):
    points, normals = part
    s = norm_as(points, normals, np.random.default_rng(seed))
    assert 0 <= s.patch < CANDIDATE_PATCHES
    assert DEPTH_RANGE[0] <= s.depth <= DEPTH_RANGE[1]
    assert s.sign in (-1, 1)
    members = np.flatnonzero(s.patch_ids == s.patch)
    np.testing.assert_array_equal(np.flatnonzero(s.labels), members)
    # Undo the displacement: the rest is the rotated, normalised input cloud.
    base, _ = normalize_points(points @ s.rotation.T)
    np.testing.assert_allclose(s.points - s.displacement, base, atol=1e-5)
    off = np.setdiff1d(np.arange(len(points)), members)
    assert np.all(s.displacement[off] == 0)
    # Recompute r from the patch geometry, independently of the implementation.
    p = base[members].astype(np.float64)
    d = np.linalg.norm(p - p.mean(axis=0), axis=1)
    r = 1.0 - (d - d.min()) / (d.max() - d.min())
    np.testing.assert_allclose(np.linalg.norm(s.displacement[members], axis=1), r * s.depth, atol=1e-6)
    # Along the (rotated) surface normal, all to one side of the surface.
    n_rot = normals[members] @ s.rotation.T
    n_rot /= np.linalg.norm(n_rot, axis=1, keepdims=True)
    along = np.einsum("ij,ij->i", s.displacement[members], n_rot)
    np.testing.assert_allclose(np.abs(along), r * s.depth, atol=1e-5)
    ref = n_rot[np.argmin(d)]
    side = np.sign(np.einsum("ij,j->i", s.displacement[members], ref))
    moved = r > 1e-6
    assert np.all(side[moved] == side[moved][0])


@pytest.mark.shared_scans
def test_same_seed_same_sample_and_other_seeds_differ(part):
    points, normals = part
    a = norm_as(points, normals, np.random.default_rng(7))
    b = norm_as(points, normals, np.random.default_rng(7))
    np.testing.assert_array_equal(a.points, b.points)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert (a.patch, a.depth, a.sign) == (b.patch, b.depth, b.sign)
    c = norm_as(points, normals, np.random.default_rng(8))
    assert not np.array_equal(a.points, c.points)


@pytest.mark.shared_scans
def test_choices_span_their_ranges_over_many_samples(part):
    points, normals = part
    small = points[::20]
    picks = [norm_as(small, normals[::20], np.random.default_rng(s)) for s in range(60)]
    assert {p.sign for p in picks} == {-1, 1}
    assert max(p.patch for p in picks) < CANDIDATE_PATCHES
    assert len({p.patch for p in picks}) > 10
    depths = np.array([p.depth for p in picks])
    assert depths.min() >= DEPTH_RANGE[0] and depths.max() <= DEPTH_RANGE[1]
    assert depths.max() - depths.min() > 0.03


def test_a_cloud_smaller_than_the_patch_count_is_refused():
    pts = np.random.default_rng(0).normal(size=(40, 3))
    with pytest.raises(ConfigError, match="64"):
        norm_as(pts, pts, np.random.default_rng(0))
