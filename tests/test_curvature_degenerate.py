"""Degenerate clouds: duplicates searched once (same values as the full cloud), flagged, and fast."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from casl_core.geometry import compute_curvature
from casl_core.geometry.degenerate import DUPLICATE_BIT, DegenerateCloudWarning, collapse_duplicates


def _reference(points: np.ndarray, k: int) -> np.ndarray:
    """Surface variation of the k nearest points (duplicates included) by scikit-learn and numpy."""
    _, idx = NearestNeighbors(n_neighbors=k).fit(points).kneighbors(points)
    nb = points[idx] - points[idx].mean(axis=1, keepdims=True)
    cov = np.einsum("nki,nkj->nij", nb, nb) / k
    ev = np.linalg.eigvalsh(cov)
    return ev[:, 0] / np.maximum(ev.sum(axis=1), 1e-300)


def test_duplicates_give_the_values_of_the_full_cloud_and_are_flagged():
    rng = np.random.default_rng(7)
    base = rng.normal(size=(1500, 3)) * [1.0, 1.0, 0.2]
    copies = base[rng.integers(0, 1500, 700)]
    triple = np.repeat(base[:5], 3, axis=0)
    points = np.concatenate([base, copies, triple])
    rng.shuffle(points)
    result = compute_curvature(points, ks=[8, 16, 32])
    for k in (8, 16, 32):
        np.testing.assert_allclose(result.fields[f"curvature_k{k}"], _reference(points, k), atol=1e-6)
    _, inverse, counts = np.unique(points, axis=0, return_inverse=True, return_counts=True)
    shared = counts[inverse.ravel()] > 1
    assert np.array_equal((result.degenerate >> DUPLICATE_BIT) & 1 == 1, shared)
    assert shared.sum() > 700
    # the default multi-scale mode flags them too and stays finite
    default = compute_curvature(points)
    assert np.array_equal(default.degenerate & (1 << DUPLICATE_BIT) > 0, shared)
    assert all(np.isfinite(v).all() for v in default.fields.values())


def test_collapse_finds_exact_duplicates_only():
    pts = np.array([[0.0, 1.0, 2.0], [-0.0, 1.0, 2.0], [0.0, 1.0, 2.0000000000000004], [5, 5, 5], [5, 5, 5]])
    got = collapse_duplicates(pts)
    assert got is not None
    assert got.points.tolist() == [[0.0, 1.0, 2.0], [0.0, 1.0, 2.0000000000000004], [5, 5, 5]]
    assert got.inverse.tolist() == [0, 0, 1, 2, 2]
    assert got.shared.tolist() == [True, True, False, True, True]
    assert collapse_duplicates(np.random.default_rng(0).random((1000, 3))) is None


@pytest.mark.parametrize(
    ("points", "words"),
    [
        (np.ones((5000, 3)), "are at one position"),
        (np.c_[np.linspace(0, 1, 3000), np.linspace(0, 2, 3000), np.zeros(3000)], "on one line"),
        (np.c_[np.random.default_rng(1).random((3000, 2)), np.full(3000, 4.0)], "on one plane"),
        (np.random.default_rng(2).random((6, 3)), "only 6 distinct points"),
        (np.ones((1, 3)), "a single point"),
    ],
    ids=["identical", "collinear", "coplanar", "handful", "single"],
)
def test_a_degenerate_cloud_warns_and_gives_finite_values(points, words):
    with pytest.warns(DegenerateCloudWarning, match=words):
        result = compute_curvature(points)
    assert all(np.isfinite(v).all() for v in result.fields.values())
    assert np.isfinite(result.normals).all()
    if "line" in words or "position" in words or "plane" in words:
        assert all(np.abs(v).max() < 1e-9 for v in result.fields.values())


def test_a_normal_cloud_gives_no_warning():
    pts = np.random.default_rng(3).normal(size=(3000, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateCloudWarning)
        compute_curvature(pts, ks=[16])


def test_identical_and_half_identical_clouds_take_about_the_time_of_random_ones():
    n = 100_000
    rng = np.random.default_rng(4)
    clouds = {
        "random": rng.random((n, 3)),
        "identical": np.full((n, 3), 2.5),
        "half": np.concatenate([rng.random((n // 2, 3)), np.full((n // 2, 3), 0.5)]),
    }
    times = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateCloudWarning)
        for name, pts in clouds.items():
            start = time.perf_counter()
            compute_curvature(pts)
            times[name] = time.perf_counter() - start
    # before collapsing duplicates, 200k identical points took 58-125 s against 2 s for random ones
    assert times["identical"] < 2 * times["random"] + 1.0, times
    assert times["half"] < 2 * times["random"] + 1.0, times
