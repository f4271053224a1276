"""Missing-patch pseudo-anomalies on a real scan (the Stanford bunny), checked against the recipe."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from casl_core.errors import ConfigError
from casl_core.geometry import compute_curvature
from casl_core.io import read_scan
from casl_core.nn.config import CaslConfig
from casl_core.nn.preprocess import normalize_points
from casl_core.pseudo.missing_patch import RIM_WIDTH, missing_patch
from casl_core.pseudo.norm_as import (
    CANDIDATE_PATCHES,
    N_PATCHES,
    norm_as,
    random_rotation,
    split_patches,
)


@pytest.fixture(scope="module")
def bunny(scans_dir):
    scan = read_scan(scans_dir / "common-3d-test-models" / "stanford-bunny.obj")
    points = scan.points[::7].astype(np.float64)  # about 5k points
    normals = compute_curvature(points).normals.astype(np.float64)
    return points, normals


def _brute_force_rim(kept: np.ndarray, removed: np.ndarray, width: float) -> np.ndarray:
    diff = kept.astype(np.float64)[:, None, :] - removed.astype(np.float64)[None, :, :]
    nearest = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff)).min(axis=1)
    return (nearest <= width).astype(np.uint8)


@pytest.mark.shared_scans
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_one_candidate_patch_is_removed_from_the_rotated_normalised_cloud(bunny, seed):
    points, normals = bunny
    s = missing_patch(points, normals, np.random.default_rng(seed))
    n = len(points)
    assert 0 <= s.patch < CANDIDATE_PATCHES
    sizes = np.bincount(s.patch_ids, minlength=N_PATCHES)
    assert len(sizes) == N_PATCHES and sizes.sum() == n
    np.testing.assert_array_equal(s.kept, np.flatnonzero(s.patch_ids != s.patch))
    assert len(s.kept) == n - sizes[s.patch] and s.points.shape == (len(s.kept), 3)
    assert s.points.dtype == np.float32 and s.normals.dtype == np.float32 and s.labels.dtype == np.uint8
    # The rotation is z, then y, then x by the generator's first three uniforms.
    angles = np.random.default_rng(seed).uniform(0.0, 2.0 * np.pi, size=3)
    np.testing.assert_allclose(s.rotation, Rotation.from_euler("zyx", angles).as_matrix(), atol=1e-12)
    base, _ = normalize_points(points @ s.rotation.T)
    np.testing.assert_allclose(s.points, base[s.kept], atol=1e-6)
    np.testing.assert_allclose(s.normals, normals[s.kept] @ s.rotation.T, atol=1e-6)
    # Norm-AS on the same generator state makes the same rotation, patches and choice, and its
    # points off the displaced patch are exactly the kept points.
    ref = norm_as(points, normals, np.random.default_rng(seed))
    assert ref.patch == s.patch
    np.testing.assert_array_equal(ref.patch_ids, s.patch_ids)
    np.testing.assert_array_equal(ref.seeds, s.seeds)
    np.testing.assert_array_equal(ref.points[s.kept], s.points)


@pytest.mark.shared_scans
@pytest.mark.parametrize("seed", [0, 5, 9])
def test_labels_are_the_kept_points_within_the_rim_width_of_the_removed_patch(bunny, seed):
    points, normals = bunny
    s = missing_patch(points, normals, np.random.default_rng(seed))
    base, _ = normalize_points(points @ s.rotation.T)
    removed = base[s.patch_ids == s.patch]
    np.testing.assert_array_equal(s.labels, _brute_force_rim(s.points, removed, RIM_WIDTH))
    labelled = s.points[s.labels == 1].astype(np.float64)
    assert 0 < len(labelled) < len(s.points) // 4
    centre = removed.mean(axis=0)
    reach = np.linalg.norm(removed - centre, axis=1).max() + RIM_WIDTH
    assert np.linalg.norm(labelled - centre, axis=1).max() <= reach + 1e-6
    wider = missing_patch(points, normals, np.random.default_rng(seed), rim_width=2 * RIM_WIDTH)
    np.testing.assert_array_equal(wider.points, s.points)
    assert np.all(wider.labels >= s.labels) and wider.labels.sum() > s.labels.sum()
    np.testing.assert_array_equal(wider.labels, _brute_force_rim(s.points, removed, 2 * RIM_WIDTH))


def test_the_rim_width_is_one_casl_voxel():
    assert RIM_WIDTH == CaslConfig().voxel_size


@pytest.mark.shared_scans
def test_the_generator_is_consumed_rotation_then_patch_seeds_then_patch(bunny):
    points, normals = bunny
    used = np.random.default_rng(21)
    missing_patch(points, normals, used)
    replay = np.random.default_rng(21)
    rotation = random_rotation(replay)
    base, _ = normalize_points((points @ rotation.T).astype(np.float32))
    split_patches(np.asarray(base, dtype=np.float64), replay)
    replay.integers(CANDIDATE_PATCHES)
    assert used.bit_generator.state == replay.bit_generator.state


@pytest.mark.shared_scans
def test_same_seed_same_sample_and_other_seeds_differ(bunny):
    points, normals = bunny
    a = missing_patch(points, normals, np.random.default_rng(7))
    b = missing_patch(points, normals, np.random.default_rng(7))
    np.testing.assert_array_equal(a.points, b.points)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.kept, b.kept)
    assert a.patch == b.patch
    c = missing_patch(points, normals, np.random.default_rng(8))
    assert not np.array_equal(a.kept, c.kept) or not np.array_equal(a.points, c.points)


@pytest.mark.shared_scans
def test_patch_choices_span_the_candidates(bunny):
    points, normals = bunny
    small, small_normals = points[::10], normals[::10]
    picks = {missing_patch(small, small_normals, np.random.default_rng(s)).patch for s in range(40)}
    assert max(picks) < CANDIDATE_PATCHES and len(picks) > 10


@pytest.mark.parametrize(
    ("points", "normals", "rim_width", "problem"),
    [
        (np.zeros((100, 2)), np.zeros((100, 2)), RIM_WIDTH, r"\(100, 2\)"),
        (np.ones((100, 3)), np.ones((99, 3)), RIM_WIDTH, r"\(99, 3\)"),
        (np.random.default_rng(0).normal(size=(63, 3)), np.ones((63, 3)), RIM_WIDTH, "at least 64 points"),
        (np.full((100, 3), np.nan), np.ones((100, 3)), RIM_WIDTH, "finite"),
        (np.random.default_rng(0).normal(size=(100, 3)), np.full((100, 3), np.inf), RIM_WIDTH, "finite"),
        (np.random.default_rng(0).normal(size=(100, 3)), np.ones((100, 3)), 0.0, "rim width"),
        (np.random.default_rng(0).normal(size=(100, 3)), np.ones((100, 3)), -0.1, "rim width"),
        (np.random.default_rng(0).normal(size=(100, 3)), np.ones((100, 3)), float("nan"), "rim width"),
    ],
)
def test_bad_inputs_are_refused_naming_the_problem(points, normals, rim_width, problem):
    with pytest.raises(ConfigError, match=problem):
        missing_patch(points, normals, np.random.default_rng(0), rim_width=rim_width)
