"""Connected regions above a threshold and the pass/fail verdict, against brute-force references."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse.csgraph import connected_components
from scipy.spatial.distance import cdist, pdist, squareform

from casl_core.demo import demo_scan
from casl_core.errors import ConfigError
from casl_core.inspection.regions import (
    NEIGHBOURS_QUERIED,
    find_regions,
    link_radius,
    point_spacing,
    radius_components,
    verdict,
)
from casl_core.io import read_scan


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Two labelings describe the same grouping (labels may be numbered differently)."""
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def _brute_components(points: np.ndarray, radius: float) -> np.ndarray:
    adjacency = squareform(pdist(points)) < radius
    return connected_components(adjacency, directed=False)[1]


def test_components_match_the_dense_radius_graph_on_real_points(scans_dir):
    scan = read_scan(scans_dir / "common-3d-test-models" / "beetle.obj")
    radius = 2.0 * point_spacing(scan.points)
    ours = radius_components(scan.points, radius)
    ref = _brute_components(scan.points.astype(np.float64), radius)
    assert len(set(ref.tolist())) > 1, "the test needs a radius that splits the cloud"
    assert _same_partition(ours, ref)


def test_points_with_more_neighbours_than_queried_still_link_everything_in_reach():
    rng = np.random.default_rng(0)
    clump_a = rng.normal(0.0, 1e-3, (3 * NEIGHBOURS_QUERIED, 3))
    clump_b = clump_a + np.array([0.009, 0.0, 0.0])  # only the outermost pairs reach across
    points = np.vstack([clump_a, clump_b, [[5.0, 5.0, 5.0]]])
    ref = _brute_components(points, 0.006)
    ours = radius_components(points, 0.006)
    assert _same_partition(ours, ref)


def test_point_spacing_is_the_median_nearest_neighbour_distance(scans_dir):
    scan = read_scan(scans_dir / "common-3d-test-models" / "fandisk.obj")
    d = cdist(scan.points[:3000], scan.points)
    d[d == 0] = np.inf
    expected = np.median(d.min(axis=1))
    # a sample of 3000 of 6475 points: the medians agree to a few percent
    assert point_spacing(scan.points) == pytest.approx(expected, rel=0.05)


def test_regions_of_the_demo_defect_labels_form_one_region_and_fail_the_scan():
    scan = demo_scan(seed=1)
    scores = scan.labels.astype(np.float32)
    result = find_regions(scan.points, scores, 0.5, min_points=3)
    defect = np.flatnonzero(scan.labels == 1)
    assert result.above == len(defect)
    assert len(result.regions) == 1
    region = result.regions[0]
    np.testing.assert_array_equal(region.indices, defect)
    assert region.max_score == region.mean_score == 1.0
    np.testing.assert_allclose(region.centroid, scan.points[defect].astype(np.float64).mean(axis=0), rtol=1e-6)
    assert region.centre_index in set(defect.tolist())
    assert not verdict(result, len(defect)).passed
    ok = verdict(result, len(defect) + 1)
    assert ok.passed and ok.text == "PASS" and ok.largest_region == len(defect)


def test_region_statistics_match_numpy_on_real_curvature(scans_dir):
    from casl_core.geometry import add_curvature

    scan = add_curvature(read_scan(scans_dir / "common-3d-test-models" / "fandisk.obj"))
    scores = scan.fields["curvature_s16"]
    threshold = float(np.quantile(scores, 0.9))
    radius = link_radius(scan.points)
    result = find_regions(scan.points, scores, threshold, min_points=5, radius=radius)
    above = np.flatnonzero(scores >= threshold)
    ref = _brute_components(scan.points[above].astype(np.float64), radius)
    sizes = np.bincount(ref)
    kept = [above[ref == c] for c in np.flatnonzero(sizes >= 5)]
    assert sorted(r.size for r in result.regions) == sorted(len(k) for k in kept)
    assert [r.size for r in result.regions] == sorted((r.size for r in result.regions), reverse=True)
    by_first = {int(k[0]): k for k in kept}
    for region in result.regions:
        members = by_first[int(region.indices[0])]
        np.testing.assert_array_equal(region.indices, members)
        assert region.max_score == pytest.approx(float(scores[members].max()))
        assert region.mean_score == pytest.approx(float(scores[members].astype(np.float64).mean()), rel=1e-6)
        assert scores[region.peak_index] == scores[members].max()


def test_small_regions_are_dropped_and_nan_scores_never_count():
    grid = np.stack(np.meshgrid(np.arange(20.0), np.arange(20.0), indexing="ij"), -1).reshape(-1, 2)
    points = np.c_[grid, np.zeros(len(grid))]
    scores = np.zeros(len(points))
    big = (grid[:, 0] < 4) & (grid[:, 1] < 4)  # 16 points
    small = (grid[:, 0] >= 15) & (grid[:, 1] >= 18)  # 10 points
    scores[big | small] = 1.0
    scores[0] = np.nan
    result = find_regions(points, scores, 0.5, min_points=12, radius=1.5)
    assert result.above == 25
    assert [r.size for r in result.regions] == [15]
    assert verdict(result, 10).failing_regions == 1


def test_bad_inputs_are_refused_with_the_shape_or_value():
    with pytest.raises(ConfigError, match=r"\(5,\)"):
        find_regions(np.zeros((5, 3)), np.zeros(4), 0.0)
    with pytest.raises(ConfigError, match="finite"):
        find_regions(np.zeros((5, 3)), np.zeros(5), float("nan"))
    with pytest.raises(ConfigError, match="at least 1"):
        verdict(find_regions(np.eye(3), np.zeros(3), 1.0, radius=1.0), 0)
    with pytest.raises(ConfigError, match="radius"):
        radius_components(np.eye(3), 0.0)


def test_a_single_point_above_the_threshold_is_one_region(scans_dir):
    from casl_core.io import read_scan

    points = read_scan(scans_dir / "common-3d-test-models/beetle.obj").points
    scores = np.zeros(len(points))
    scores[123] = 1.0
    result = find_regions(points, scores, 0.5, min_points=1)
    assert len(result.regions) == 1 and result.regions[0].size == 1
