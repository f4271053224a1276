"""Multi-scale surface variation and normals: exact k-NN against numpy eigen-solvers on real
scans, the multi-scale mode against exact k-NN, analytic shapes, degenerate clouds, inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.neighbors import NearestNeighbors

from casl_core.errors import Cancelled, CaslError, ConfigError
from casl_core.geometry import DEFAULT_SCALES, add_curvature, compute_curvature
from casl_core.io import read_scan
from casl_core.scan import Scan

SCANS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scans" / "common-3d-test-models"


@pytest.fixture(scope="module")
def bunny() -> np.ndarray:
    return read_scan(SCANS / "stanford-bunny.obj").points.astype(np.float64)


@pytest.fixture(scope="module")
def nefertiti() -> np.ndarray:
    return read_scan(SCANS / "nefertiti.obj").points.astype(np.float64)


def _reference_curvature(points: np.ndarray, k: int, rows: np.ndarray):
    """Neighbourhoods from scikit-learn, covariance with np.cov, eigen from numpy.linalg."""
    nn = NearestNeighbors(n_neighbors=k + 1).fit(points)
    dist, idx = nn.kneighbors(points[rows])
    unique = dist[:, k - 1] < dist[:, k]  # the k-th neighbour is not tied with the next one
    covs = np.stack([np.cov(points[i[:k]].T, bias=True) for i in idx])
    vals, vecs = np.linalg.eigh(covs)
    return vals[:, 0] / vals.sum(axis=1), vecs[:, :, 0], vals, unique


@pytest.mark.shared_scans
@pytest.mark.parametrize("k", [16, 32, 64])
def test_exact_mode_matches_numpy_eigen_solver_on_a_real_scan(bunny, k):
    result = compute_curvature(bunny, ks=[16, 32, 64])
    rows = np.random.default_rng(k).choice(len(bunny), 2000, replace=False)
    want, _, _, unique = _reference_curvature(bunny, k, rows)
    got = result.fields[f"curvature_k{k}"][rows]
    assert unique.mean() > 0.95
    assert np.abs(got - want)[unique].max() < 1e-4
    assert result.fields[f"curvature_k{k}"].dtype == np.float32
    assert result.mean_neighbors[f"curvature_k{k}"] == k


@pytest.mark.shared_scans
def test_exact_fields_are_ordered_fine_to_coarse_whatever_the_order_given(bunny):
    result = compute_curvature(bunny[:3000], ks=[64, 16, 32, 16])
    assert list(result.fields) == ["curvature_k16", "curvature_k32", "curvature_k64"]


@pytest.mark.shared_scans
def test_normals_are_the_smallest_eigenvectors_of_the_finest_scale(bunny):
    result = compute_curvature(bunny, ks=[16, 64])
    rows = np.random.default_rng(7).choice(len(bunny), 2000, replace=False)
    _, vecs, vals, unique = _reference_curvature(bunny, 16, rows)
    separated = unique & ((vals[:, 1] - vals[:, 0]) > 1e-3 * vals[:, 2])
    dots = np.abs(np.einsum("ij,ij->i", result.normals[rows].astype(np.float64), vecs))
    assert separated.mean() > 0.9
    assert dots[separated].min() > 1 - 1e-4
    assert np.allclose(np.linalg.norm(result.normals, axis=1), 1.0, atol=1e-6)


def _fibonacci_sphere(n: int, radius: float) -> np.ndarray:
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    phi = np.pi * (1 + 5**0.5) * i
    r = np.sqrt(1 - z * z)
    return radius * np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def _cap_variation(k: int, n: int) -> float:
    """Surface variation of a uniform spherical cap holding a fraction k/n of the sphere."""
    c = 1 - 2 * k / n  # cos of the cap's angular radius
    normal = (1 - c) ** 2 / 12  # variance of z, uniform on [c, 1]
    tangent = (1 - (1 + c + c * c) / 3) / 2  # E[x^2] = E[y^2]
    return normal / (normal + 2 * tangent)


@pytest.mark.shared_scans
def test_sphere_curvature_grows_with_scale_as_the_analytic_cap(bunny):
    n = 20000
    points = _fibonacci_sphere(n, radius=3.0) + np.array([10.0, -4.0, 2.0])
    exact = compute_curvature(points, ks=[16, 64, 256])
    default = compute_curvature(points)
    for k in (16, 64, 256):
        want = _cap_variation(k, n)
        assert np.median(exact.fields[f"curvature_k{k}"]) == pytest.approx(want, rel=0.05)
        # cell unions have a fuzzier rim than a k-NN disc: measured 1.30-1.38x on spheres
        ratio = np.median(default.fields[f"curvature_s{k}"]) / want
        assert (0.95 < ratio < 1.05) if k == 16 else (1.15 < ratio < 1.5)
    medians = [np.median(v) for v in default.fields.values()]
    assert medians[0] < medians[1] < medians[2]
    outward = np.einsum("ij,ij->i", default.normals, points - points.mean(axis=0))
    assert np.all(outward > 0)


def test_plane_gives_zero_and_normals_on_one_side():
    rng = np.random.default_rng(0)
    uv = rng.uniform(-5, 5, size=(20000, 2))
    u, v = np.array([1.0, 2.0, 0.5]), np.array([-2.0, 1.0, 0.0])
    u, v = u / np.linalg.norm(u), v - (v @ u / (u @ u)) * u
    v /= np.linalg.norm(v)
    points = uv[:, :1] * u + uv[:, 1:] * v + np.array([100.0, 50.0, -20.0])
    for result in (compute_curvature(points), compute_curvature(points, ks=[16, 64])):
        for values in result.fields.values():
            assert values.max() < 1e-9
        normal = np.cross(u, v)
        dots = result.normals.astype(np.float64) @ normal
        assert np.all(np.abs(dots) > 1 - 1e-5)
        assert np.all(np.sign(dots) == np.sign(dots[0]))
        assert not result.degenerate.any()


@pytest.mark.shared_scans
def test_default_mode_is_close_to_exact_knn_on_real_scans(bunny, nefertiti):
    for points in (bunny, nefertiti):
        default = compute_curvature(points)
        exact = compute_curvature(points, ks=list(DEFAULT_SCALES))
        assert list(default.fields) == ["curvature_s16", "curvature_s64", "curvature_s256"]
        for s in DEFAULT_SCALES:
            a, b = default.fields[f"curvature_s{s}"], exact.fields[f"curvature_k{s}"]
            assert default.mean_neighbors[f"curvature_s{s}"] == pytest.approx(s, rel=0.05)
            if s == 16:
                np.testing.assert_allclose(a, b, atol=1e-6)
                continue
            # measured: Spearman 0.97-0.98, median relative difference 0.14-0.19
            assert spearmanr(a, b)[0] > 0.95
            assert np.median(np.abs(a - b) / np.maximum(b, 1e-9)) < 0.25
        assert (default.degenerate != 0).mean() < 0.02


def test_all_duplicates_give_zero_and_set_every_flag():
    points = np.tile([[1.5, -2.0, 3.0]], (300, 1))
    for result in (compute_curvature(points), compute_curvature(points, ks=[8, 16])):
        for values in result.fields.values():
            assert np.all(values == 0)
        n_scales = len(result.fields)
        assert np.all(result.degenerate & 0x7F == (1 << n_scales) - 1)
        assert np.all(result.degenerate & 0x80)  # every point is a duplicate (DUPLICATE_BIT)
        assert np.all(np.isfinite(result.normals))
        assert np.allclose(np.linalg.norm(result.normals, axis=1), 1.0)


@pytest.mark.shared_scans
def test_duplicated_scan_at_2k_equals_the_scan_at_k(bunny):
    part = bunny[:5000]
    once = compute_curvature(part, ks=[16])
    twice = compute_curvature(np.concatenate([part, part]), ks=[32])
    d, _ = NearestNeighbors(n_neighbors=17).fit(part).kneighbors(part)
    unique = d[:, 15] < d[:, 16]
    a, b = once.fields["curvature_k16"], twice.fields["curvature_k32"]
    np.testing.assert_allclose(b[:5000][unique], a[unique], atol=1e-6)
    np.testing.assert_allclose(b[5000:], b[:5000], atol=1e-6)


def test_fewer_points_than_k_use_the_whole_cloud_and_flag_it():
    points = np.random.default_rng(3).normal(size=(10, 3))
    result = compute_curvature(points, ks=[4, 16])
    vals = np.linalg.eigvalsh(np.cov(points.T, bias=True))
    np.testing.assert_allclose(result.fields["curvature_k16"], vals[0] / vals.sum(), atol=1e-6)
    assert np.all(result.degenerate & 2)
    assert not np.any(result.degenerate & 1)
    assert result.mean_neighbors["curvature_k16"] == 10
    small = compute_curvature(points)
    assert np.all(small.degenerate == 0b111)
    assert all(np.isfinite(v).all() for v in small.fields.values())


def test_collinear_points_give_zero_and_a_flag():
    t = np.linspace(0, 10, 500)[:, None]
    points = np.array([3.0, 1.0, -2.0]) + t * np.array([1.0, 2.0, 2.0]) / 3
    result = compute_curvature(points, ks=[16])
    assert np.all(result.fields["curvature_k16"] < 1e-9)
    assert np.all(result.degenerate == 1)
    line = np.array([1.0, 2.0, 2.0]) / 3
    assert np.abs(result.normals @ line).max() < 1e-6


@pytest.mark.shared_scans
def test_large_offsets_give_the_same_curvature(bunny):
    part = bunny[:8000]
    offset = np.array([3.2e5, -7.1e5, 1.0e6])
    for ks in (None, [16, 64]):
        a = compute_curvature(part, ks=ks)
        b = compute_curvature(part + offset, ks=ks)
        for name in a.fields:
            close = np.isclose(a.fields[name], b.fields[name], atol=1e-6)
            assert close.mean() > 0.999
        assert np.mean(np.abs(np.einsum("ij,ij->i", a.normals, b.normals)) > 1 - 1e-4) > 0.999


@pytest.mark.shared_scans
def test_torch_path_on_cpu_tensors_gives_the_numpy_numbers(bunny):
    part = bunny[::3]
    for ks in (None, [16, 32]):
        a = compute_curvature(part, ks=ks)
        b = compute_curvature(part, ks=ks, device="torch-cpu")
        for name in a.fields:
            np.testing.assert_allclose(b.fields[name], a.fields[name], atol=1e-5)
        np.testing.assert_array_equal(b.degenerate, a.degenerate)
        np.testing.assert_allclose(b.normals, a.normals, atol=1e-5)
        assert b.mean_neighbors == pytest.approx(a.mean_neighbors)


@pytest.mark.shared_scans
def test_cuda_gives_the_cpu_numbers(bunny):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    a = compute_curvature(bunny)
    b = compute_curvature(bunny, device="cuda")
    for name in a.fields:
        np.testing.assert_allclose(b.fields[name], a.fields[name], atol=1e-5)


@pytest.mark.shared_scans
def test_cancel_stops_the_work_and_progress_reaches_the_end(bunny):
    with pytest.raises(Cancelled):
        compute_curvature(bunny, cancel=lambda: True)
    calls = []

    def cancel_later() -> bool:
        calls.append(1)
        return len(calls) > 3

    many = np.concatenate([bunny + i for i in range(4)])
    with pytest.raises(Cancelled):
        compute_curvature(many, ks=[64], cancel=cancel_later)
    reports = []
    compute_curvature(bunny, progress=reports.append)
    final = [r for r in reports if r.stage == "curvature"]
    assert final and final[-1].done == final[-1].total == len(bunny)


@pytest.mark.parametrize(
    ("points", "kwargs", "error", "words"),
    [
        (np.zeros((0, 3)), {}, CaslError, "empty"),
        (np.array([[0.0, 0.0, np.nan], [1.0, 0.0, 0.0]]), {}, CaslError, "non-finite"),
        (np.zeros((5, 2)), {}, CaslError, "(N, 3)"),
        (np.random.default_rng(0).normal(size=(50, 3)), {"ks": [2, 16]}, ConfigError, "at least 3"),
        (np.random.default_rng(0).normal(size=(50, 3)), {"ks": []}, ConfigError, "empty"),
        (np.random.default_rng(0).normal(size=(50, 3)), {"ks": [16.5]}, ConfigError, "whole numbers"),
        (np.random.default_rng(0).normal(size=(50, 3)), {"device": "tpu"}, ConfigError, "tpu"),
    ],
)
def test_bad_inputs_raise_named_errors(points, kwargs, error, words):
    with pytest.raises(error, match=None) as info:
        compute_curvature(points, **kwargs)
    assert words in str(info.value)


@pytest.mark.shared_scans
def test_add_curvature_adds_fields_flags_and_normals():
    scan = read_scan(SCANS / "fandisk.obj")
    assert scan.normals is None
    out = add_curvature(scan)
    assert {"curvature_s16", "curvature_s64", "curvature_s256", "curvature_flags"} <= set(out.fields)
    assert out.fields["curvature_flags"].dtype == np.uint8
    assert out.normals is not None and out.normals.shape == (len(scan), 3)
    given = np.tile(np.array([[0.0, 0.0, 1.0]], dtype=np.float32), (len(scan), 1))
    kept = add_curvature(Scan(points=scan.points, normals=given), ks=[16])
    np.testing.assert_array_equal(kept.normals, given)
    assert "curvature_k16" in kept.fields


@pytest.mark.shared_scans
def test_results_do_not_depend_on_how_many_cores_run_the_passes(bunny, monkeypatch):
    """The pool jobs (grids, point pass, cell passes) give the same numbers on one core as on all."""
    import casl_core.geometry.curvature as curvature_module

    on_all = compute_curvature(bunny)
    monkeypatch.setattr(curvature_module.os, "sched_getaffinity", lambda pid: {0})
    on_one = compute_curvature(bunny)
    for name in on_all.fields:
        np.testing.assert_array_equal(on_one.fields[name], on_all.fields[name])
    np.testing.assert_array_equal(on_one.degenerate, on_all.degenerate)
    np.testing.assert_array_equal(on_one.normals, on_all.normals)


@pytest.mark.shared_scans
def test_nearest_cells_are_the_nearest_candidates_by_exact_distance(bunny):
    """The int32-key ranking picks the same cells as sorting float64 distances (ties aside)."""
    from casl_core.geometry.neighbors import KnnIndex, spatial_order
    from casl_core.geometry.pyramid import CELLS_QUERIED, build_pyramid

    rel = bunny[spatial_order(bunny)]
    rel = rel - rel.mean(axis=0)
    level = build_pyramid(rel, KnnIndex(rel), (64,))[0]
    rows = slice(0, 3000)
    own = level.cells.point_cell[rows]
    picked = level.nearest_cells(rel[rows], own)
    cand = level.candidates[own]
    d2 = ((level.cells.centroids[cand] - rel[rows][:, None, :]) ** 2).sum(axis=2)
    order = np.argsort(d2, axis=1, kind="stable")
    expected = np.take_along_axis(cand, order[:, :CELLS_QUERIED], axis=1)
    kth = np.take_along_axis(d2, order[:, CELLS_QUERIED - 1 : CELLS_QUERIED + 1], axis=1)
    clear = kth[:, 1] - kth[:, 0] > 1e-5 * kth[:, 1]  # the 24th and 25th are not near-tied
    assert clear.mean() > 0.95
    np.testing.assert_array_equal(np.sort(picked[clear], axis=1), np.sort(expected[clear], axis=1))
    # nearest first: the exact distances of the picked cells never drop by more than float32 rounding
    centroids = level.cells.centroids
    picked_d2 = ((centroids[picked] - rel[rows][:, None, :]) ** 2).sum(axis=2)
    assert np.all(np.diff(picked_d2, axis=1) >= -1e-5 * picked_d2[:, 1:])
