"""Synthetic defects on real scans: geometry changes exactly where labelled, connected,
visible, reproducible; a written test set reads back through open_dataset."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from fixtures_layouts import MODELS
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from casl_core.datasets import open_dataset
from casl_core.errors import ConfigError
from casl_core.geometry.normals import estimate_normals
from casl_core.io import read_scan
from casl_core.scan import Scan
from casl_core.synth.defects import DefectKind, synthesize_defect
from casl_core.synth.testset import make_test_set

pytestmark = pytest.mark.shared_scans

SHAPES = ("fandisk", "bunny", "rocker-arm")


@functools.lru_cache(maxsize=8)
def _scan(shape: str, n: int = 6000) -> Scan:
    return read_scan(MODELS[shape], surface_samples=n, seed=5)


def _link_radius(points: np.ndarray) -> float:
    d, _ = cKDTree(points).query(points[::7], 5)
    return 2.0 * float(np.median(d[:, -1]))


def _n_components(points: np.ndarray, radius: float) -> int:
    pairs = cKDTree(points).query_pairs(radius, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(points),) * 2)
    return connected_components(graph, directed=False)[0]


def _origin(before: Scan, after: Scan) -> np.ndarray:
    idx = after.metadata.source_index
    return np.arange(len(after)) if idx is None else idx


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", list(DefectKind))
def test_defect_changes_geometry_only_where_labelled_and_is_connected(shape: str, kind: DefectKind) -> None:
    scan = _scan(shape)
    out = synthesize_defect(scan, kind, np.random.default_rng(11))
    diag = float(np.linalg.norm(np.ptp(scan.points, axis=0)))
    src = _origin(scan, out)
    labelled = out.labels == 1
    move = np.linalg.norm(out.points - scan.points[src], axis=1)
    assert out.labels.dtype == np.uint8 and out.metadata.extra["defect"] == kind.value
    assert np.all(move[~labelled] == 0)
    fraction = labelled.sum() / len(scan)
    assert 0.004 <= fraction <= 0.05, fraction
    assert _n_components(scan.points[src][labelled], _link_radius(scan.points)) == 1
    if kind is DefectKind.HOLE:
        removed = np.setdiff1d(np.arange(len(scan)), src)
        assert len(removed) > 0.002 * len(scan)
        gap, _ = cKDTree(scan.points[removed]).query(scan.points[src][labelled])
        assert gap.max() < 0.1 * diag  # the rim borders the hole
    else:
        assert np.all(move[labelled] > 0)
        assert move.max() >= 0.01 * diag  # visible


def test_bulge_goes_out_and_concavity_goes_in() -> None:
    scan = _scan("bunny")
    normals, _ = estimate_normals(scan.points)
    for kind, sign in ((DefectKind.BULGE, 1), (DefectKind.CONCAVITY, -1)):
        out = synthesize_defect(scan, kind, np.random.default_rng(4))
        lab = out.labels == 1
        along = np.einsum("ij,ij->i", out.points[lab] - scan.points[lab], normals[lab])
        assert np.all(sign * along > 0)


def test_crack_and_scratch_are_long_and_thin_and_broken_edge_is_a_flat_cut_at_a_sharp_spot() -> None:
    scan = _scan("fandisk")
    for kind in (DefectKind.CRACK, DefectKind.SCRATCH):
        out = synthesize_defect(scan, kind, np.random.default_rng(2))
        pts = scan.points[out.labels == 1].astype(np.float64)
        w = np.linalg.eigvalsh(np.cov(pts.T))
        assert w[2] > 4 * w[1], (kind, w)
    _, variation = estimate_normals(scan.points)
    out = synthesize_defect(scan, DefectKind.BROKEN_EDGE, np.random.default_rng(2))
    lab = out.labels == 1
    assert variation[lab].mean() > 3 * np.median(variation)
    cut = out.points[lab].astype(np.float64)
    w = np.linalg.eigvalsh(np.cov(cut.T))
    assert w[0] < 1e-6 * w[2]  # the chipped points lie on one plane


def test_same_seed_same_defect_other_seed_other_defect() -> None:
    scan = _scan("rocker-arm")
    for kind in DefectKind:
        a = synthesize_defect(scan, kind, np.random.default_rng(9))
        b = synthesize_defect(scan, kind, np.random.default_rng(9))
        c = synthesize_defect(scan, kind, np.random.default_rng(10))
        np.testing.assert_array_equal(a.points, b.points)
        np.testing.assert_array_equal(a.labels, b.labels)
        assert len(a) != len(c) or not np.array_equal(a.labels, c.labels)


def test_given_normals_are_kept_unit_and_refreshed_near_the_defect() -> None:
    base = _scan("bunny", 4000)
    normals, _ = estimate_normals(base.points)
    scan = Scan(points=base.points, normals=normals)
    out = synthesize_defect(scan, DefectKind.BULGE, np.random.default_rng(0))
    assert out.normals is not None
    np.testing.assert_allclose(np.linalg.norm(out.normals, axis=1), 1.0, atol=1e-5)
    far = cKDTree(out.points[out.labels == 1]).query(out.points)[0] > 0.2 * np.ptp(out.points, axis=0).max()
    np.testing.assert_array_equal(out.normals[far], scan.normals[far])


def test_bad_arguments() -> None:
    scan = _scan("fandisk", 2000)
    with pytest.raises(ConfigError, match="unknown defect kind"):
        synthesize_defect(scan, "smudge", np.random.default_rng(0))
    with pytest.raises(ConfigError, match="size"):
        synthesize_defect(scan, DefectKind.BULGE, np.random.default_rng(0), size=0.0)
    with pytest.raises(ConfigError, match="too few"):
        synthesize_defect(Scan(points=scan.points[:10]), DefectKind.BULGE, np.random.default_rng(0))


@pytest.mark.parametrize("layout", ["real3d", "folder"])
def test_written_test_set_reads_back_through_open_dataset(tmp_path, layout: str) -> None:
    normals = [_scan("fandisk", 2500), _scan("bunny", 2500)]
    kinds = (DefectKind.BULGE, DefectKind.HOLE, DefectKind.SCRATCH)
    root = make_test_set(
        normals, tmp_path / layout, layout=layout, category="parts", per_kind=2, n_good=3, kinds=kinds, seed=1
    )
    dataset = open_dataset(root)
    assert dataset.layout == layout
    cat = dataset.category("parts" if layout == "real3d" else root.name)
    assert len(cat.train) == 2
    defects = sorted(s.defect for s in cat.test)
    assert defects == sorted(["good"] * 3 + [k.value for k in kinds for _ in range(2)])
    for sample in cat.test:
        scan = sample.load()
        assert bool(scan.labels.any()) == sample.is_anomalous
        assert 0.004 <= scan.labels.mean() <= 0.05 or not sample.is_anomalous
    again = make_test_set(
        normals, tmp_path / "again", layout=layout, category="parts", per_kind=2, n_good=3, kinds=kinds, seed=1
    )
    first = sorted(p.relative_to(root) for p in root.rglob("*.pcd"))
    assert first == sorted(p.relative_to(again) for p in again.rglob("*.pcd"))
    assert all((root / p).read_bytes() == (again / p).read_bytes() for p in first)
