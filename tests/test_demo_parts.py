"""Procedural demo parts: closed meshes with outward normals, area-uniform sampling,
seeded variation, and the built-in demo scan with a labelled defect."""

from __future__ import annotations

import numpy as np
import pytest

from casl_core.demo import demo_scan
from casl_core.errors import ConfigError
from casl_core.synth.parts import PART_KINDS, circle, make_part, part_mesh


def _areas(tri: np.ndarray) -> np.ndarray:
    return 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)


@pytest.mark.parametrize("kind", PART_KINDS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mesh_is_closed_with_outward_normals(kind: str, seed: int) -> None:
    mesh = part_mesh(kind, seed)
    area = _areas(mesh.triangles)
    np.testing.assert_allclose(np.linalg.norm(mesh.normals, axis=1), 1.0, atol=1e-9)
    # a closed surface: the area-weighted normals sum to zero ...
    assert np.abs((area[:, None] * mesh.normals).sum(axis=0)).max() < 1e-6 * area.sum()
    # ... and the divergence-theorem volume is positive (normals point out)
    centres = mesh.triangles.mean(axis=1)
    volume = np.sum(area * np.einsum("ij,ij->i", centres, mesh.normals)) / 3
    lo, hi = centres.min(axis=0), centres.max(axis=0)
    assert 0.05 * np.prod(hi - lo) < volume < np.prod(hi - lo)


def test_hex_nut_volume_and_area_uniform_sampling() -> None:
    scan = make_part("hex_nut", seed=3, n_points=30000, noise=0.0)
    pts, nrm = scan.points.astype(np.float64), scan.normals.astype(np.float64)
    radial = np.linalg.norm(pts[:, :2], axis=1)
    height = np.ptp(pts[:, 2])
    side_wall = np.abs(nrm[:, 2]) < 1e-6
    bore = side_wall & (np.einsum("ij,ij->i", nrm[:, :2], pts[:, :2]) < 0)
    outer = side_wall & ~bore
    top = nrm[:, 2] > 0.999
    bore_r = radial[bore].max()  # vertices of the 96-gon lie on the circle
    flats = 2 * radial[outer].min()  # the apothem, reached near the middle of each flat
    hex_area = np.sqrt(3) / 2 * flats**2
    bore_area = 0.5 * 96 * bore_r**2 * np.sin(2 * np.pi / 96)
    expected = {
        "top": hex_area - bore_area,
        "outer": 6 * flats / np.sqrt(3) * height,
        "bore": 96 * 2 * bore_r * np.sin(np.pi / 96) * height,
    }
    total = 2 * expected["top"] + expected["outer"] + expected["bore"]
    mesh = part_mesh("hex_nut", 3)
    assert _areas(mesh.triangles).sum() == pytest.approx(total, rel=2e-3)
    n = len(pts)
    for name, mask in (("top", top), ("outer", outer), ("bore", bore)):
        p = expected[name] / total
        assert abs(mask.sum() / n - p) < 5 * np.sqrt(p * (1 - p) / n), name
    # outer walls face away from the axis, the bore towards it
    assert np.mean(np.einsum("ij,ij->i", nrm[outer, :2], pts[outer, :2]) > 0) == 1.0


@pytest.mark.parametrize("kind", PART_KINDS)
def test_make_part_counts_normals_noise_and_seed(kind: str) -> None:
    a = make_part(kind, seed=4)
    b = make_part(kind, seed=4)
    c = make_part(kind, seed=5)
    assert len(a) == 20000 and a.points.dtype == np.float32
    np.testing.assert_array_equal(a.points, b.points)
    assert not np.array_equal(np.ptp(a.points, axis=0), np.ptp(c.points, axis=0))
    np.testing.assert_allclose(np.linalg.norm(a.normals, axis=1), 1.0, atol=1e-5)
    clean = make_part(kind, seed=4, noise=0.0)
    spread = np.linalg.norm(a.points - clean.points, axis=1)
    diag = np.linalg.norm(np.ptp(clean.points, axis=0))
    assert 0.0005 * diag < np.median(spread) < 0.003 * diag
    assert make_part(kind, seed=4, n_points=15000).points.shape == (15000, 3)


def test_outer_walls_face_away_from_the_axis_of_round_parts() -> None:
    for kind in ("flange", "stepped_shaft"):
        scan = make_part(kind, seed=1, noise=0.0)
        pts, nrm = scan.points.astype(np.float64), scan.normals.astype(np.float64)
        radial = np.linalg.norm(pts[:, :2], axis=1)
        outermost = (radial > 0.97 * radial.max()) & (np.abs(nrm[:, 2]) < 0.5)
        assert outermost.sum() > 200
        dots = np.einsum("ij,ij->i", nrm[outermost, :2], pts[outermost, :2])
        assert np.mean(dots > 0) > 0.95


def test_family_sizes_vary_within_a_sensible_range() -> None:
    sizes = np.array([np.ptp(make_part("flange", seed=s, n_points=500).points, axis=0).max() for s in range(6)])
    assert sizes.max() / sizes.min() > 1.1 and 40 < sizes.min() and sizes.max() < 150


def test_demo_scan_has_one_labelled_defect() -> None:
    scan = demo_scan(0)
    assert 15000 <= len(scan) <= 30000 and scan.labels is not None
    frac = scan.labels.mean()
    assert 0.004 <= frac <= 0.05
    assert scan.metadata.extra["part"] == "flange" and scan.metadata.extra["defect"]
    np.testing.assert_array_equal(demo_scan(0).points, scan.points)


def test_unknown_kind_and_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="gear"):
        make_part("gear")
    with pytest.raises(ConfigError, match="n_points"):
        make_part("hex_nut", n_points=5)
    assert circle(1.0, 8).shape == (8, 2)
