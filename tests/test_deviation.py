"""Reference deviation: distances, alignment from any pose, defect signs, holes, bad references."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.spatial import cKDTree

from casl_core.fields import DEVIATION, DEVIATION_ABS, DEVIATION_SCORE
from casl_core.geometry import registration as reg
from casl_core.geometry.surface import (
    closest_on_triangles,
    mesh_index,
    orient_normals,
    pca_normals,
    signed_mesh_distance,
    signed_plane_distance,
    triangle_mesh,
)
from casl_core.io import read_scan
from casl_core.scan import Scan
from casl_core.scorers.deviation import DeviationScorer, deviation
from casl_core.scorers.reference import reference_from_scan
from casl_core.synth.defects import synthesize_defect
from casl_core.synth.views import random_direction, random_pose, resample, visible_side


@pytest.fixture(scope="module")
def fandisk_mesh(scans_dir) -> Scan:
    return read_scan(scans_dir / "common-3d-test-models" / "fandisk.obj")


@pytest.fixture(scope="module")
def bunny_path(scans_dir):
    return scans_dir / "common-3d-test-models" / "stanford-bunny.obj"


@pytest.fixture(scope="module")
def bunny_ref(bunny_path):
    return reference_from_scan(read_scan(bunny_path, surface_samples=20000, seed=0), "bunny")


def test_signed_plane_distance_matches_brute_force():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(400, 3))
    normals = rng.normal(size=(400, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    pts = rng.normal(size=(50, 3))
    signed, nearest = signed_plane_distance(pts, ref, normals, k=3)
    d = np.linalg.norm(pts[:, None] - ref[None], axis=2)
    order = np.argsort(d, axis=1)[:, :3]
    expected = np.einsum("nkj,nkj->nk", pts[:, None] - ref[order], normals[order]).mean(axis=1)
    np.testing.assert_allclose(signed, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(nearest, d.min(axis=1))


def test_mesh_distance_is_exact_point_to_triangle(fandisk_mesh):
    mesh = triangle_mesh(fandisk_mesh.points_f64(), fandisk_mesh.metadata.faces)
    lo, hi = fandisk_mesh.bounds()
    pts = np.random.default_rng(1).uniform(lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo), size=(150, 3))
    got = signed_mesh_distance(pts, mesh_index(mesh))
    brute = np.array(
        [
            np.linalg.norm(
                p - closest_on_triangles(np.repeat(p[None], len(mesh.triangles), 0), mesh.triangles), axis=1
            ).min()
            for p in pts
        ]
    )
    np.testing.assert_allclose(np.abs(got), brute, rtol=1e-9, atol=1e-12)
    # points pushed outward along a face normal are outside, inward inside
    centres = mesh.triangles[::97].mean(axis=1)
    step = 0.01 * np.linalg.norm(hi - lo)
    assert np.all(signed_mesh_distance(centres + step * mesh.normals[::97], mesh_index(mesh)) > 0)
    assert np.all(signed_mesh_distance(centres - 0.3 * step * mesh.normals[::97], mesh_index(mesh)) < 0)


def test_closest_point_on_triangle_beats_dense_samples():
    rng = np.random.default_rng(2)
    tri = rng.normal(size=(40, 3, 3))
    q = rng.normal(size=(40, 3)) * 2
    c = closest_on_triangles(q, tri)
    u = rng.random((40, 20000, 2))
    flip = u.sum(-1) > 1
    u[flip] = 1 - u[flip]
    samples = (
        tri[:, None, 0]
        + u[..., :1] * (tri[:, None, 1] - tri[:, None, 0])
        + u[..., 1:] * (tri[:, None, 2] - tri[:, None, 0])
    )
    sampled = np.linalg.norm(samples - q[:, None], axis=2).min(axis=1)
    exact = np.linalg.norm(q - c, axis=1)
    assert np.all(exact <= sampled + 1e-12)
    assert np.all(sampled - exact < 0.02 * (1 + exact))


def test_oriented_normals_point_out_of_a_real_mesh(bunny_path):
    scan = read_scan(bunny_path, surface_samples=8000, seed=4)
    pts = scan.points_f64()
    oriented = orient_normals(pts, pca_normals(pts))
    agree = np.einsum("ij,ij->i", oriented, scan.normals)
    assert np.mean(agree > 0) > 0.97


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_alignment_recovers_a_random_pose_of_a_partial_view(bunny_path, bunny_ref, seed):
    rng = np.random.default_rng([seed, 7])
    source = read_scan(bunny_path, surface_samples=30000, seed=10 + seed)
    view = resample(visible_side(source, random_direction(rng)), 0.6, rng)
    posed = random_pose(view, rng)
    scan = reg.prepare_cloud(posed.scan.points, "view")
    found = reg.align(scan, bunny_ref.cloud)
    truth = np.linalg.inv(posed.transform)
    moved = found.apply(posed.scan.points)
    expected = posed.scan.points_f64() @ truth[:3, :3].T + truth[:3, 3]
    assert np.sqrt(np.mean(np.sum((moved - expected) ** 2, axis=1))) < 0.5 * scan.spacing
    assert found.rmse < 2 * scan.spacing and found.overlap > 0.95


def _dent_and_bulge_scan(bunny_path, kind: str, seed: int) -> Scan:
    base = read_scan(bunny_path, surface_samples=20000, seed=20 + seed)
    return synthesize_defect(base, kind, np.random.default_rng(seed))


@pytest.mark.parametrize(("kind", "sign"), [("bulge", 1.0), ("concavity", -1.0)])
def test_bulge_deviates_outward_and_dent_inward(bunny_path, bunny_ref, kind, sign):
    sample = _dent_and_bulge_scan(bunny_path, kind, 3)
    posed = random_pose(sample, np.random.default_rng(5)).scan
    scored = DeviationScorer(references=[bunny_ref]).score(posed)
    dev = scored.scan.fields[DEVIATION]
    on = sample.labels == 1
    assert sign * np.median(dev[on]) > 5 * np.median(np.abs(dev[~on]))
    np.testing.assert_allclose(scored.scan.fields[DEVIATION_ABS], np.abs(dev))
    assert scored.point_scores is scored.scan.fields[DEVIATION_SCORE] or np.array_equal(
        scored.point_scores, scored.scan.fields[DEVIATION_SCORE]
    )


def test_a_hole_rim_scores_above_the_rest(bunny_path, bunny_ref):
    base = read_scan(bunny_path, surface_samples=20000, seed=31)
    sample = synthesize_defect(base, "hole", np.random.default_rng(11))
    result = deviation(random_pose(sample, np.random.default_rng(6)).scan, [bunny_ref])
    rim = sample.labels == 1
    assert result.missing[rim].mean() > 0
    assert np.median(result.score[rim]) > np.quantile(result.score[~rim], 0.99)
    # on a good partial view the unseen side and the silhouette are not holes
    view = visible_side(base, random_direction(np.random.default_rng(3)))
    good = deviation(view, [bunny_ref])
    assert np.quantile(good.missing, 0.99) < 0.25 * np.median(result.missing[rim])


def test_reference_in_other_units_is_refused(bunny_path, bunny_ref):
    scan = read_scan(bunny_path, surface_samples=5000, seed=40)
    in_mm = replace(scan, points=scan.points * 1000.0)
    with pytest.raises(reg.AlignmentError, match=r"another scale \(another unit"):
        DeviationScorer(references=[bunny_ref]).score(in_mm)


def test_unalignable_reference_is_refused(bunny_path, fandisk_mesh):
    bunny = read_scan(bunny_path, surface_samples=5000, seed=41)
    fandisk = read_scan(fandisk_mesh.metadata.source, surface_samples=20000, seed=0)
    # the fandisk scaled to the bunny's size: same scale, another shape
    lo, hi = bunny.bounds()
    flo, fhi = fandisk.bounds()
    sized = replace(
        fandisk, points=(fandisk.points_f64() - flo) * (np.linalg.norm(hi - lo) / np.linalg.norm(fhi - flo))
    )
    ref = reference_from_scan(sized, "fandisk-sized")
    with pytest.raises(reg.AlignmentError, match="cannot be aligned"):
        DeviationScorer(references=[ref]).score(bunny)


def test_best_of_several_references_is_the_right_shape(bunny_path, bunny_ref, fandisk_mesh):
    fandisk = read_scan(fandisk_mesh.metadata.source, surface_samples=20000, seed=0)
    lo, hi = bunny_ref.cloud.points.min(0), bunny_ref.cloud.points.max(0)
    flo, fhi = fandisk.bounds()
    sized = replace(
        fandisk, points=(fandisk.points_f64() - flo) * (np.linalg.norm(hi - lo) / np.linalg.norm(fhi - flo))
    )
    scan = read_scan(bunny_path, surface_samples=8000, seed=42)
    scorer = DeviationScorer(references=[reference_from_scan(sized, "fandisk-sized"), bunny_ref])
    scorer.score(scan)
    assert scorer.last is not None and scorer.last.alignment.reference == "bunny"
    tree = cKDTree(bunny_ref.cloud.points)
    assert np.median(tree.query(scorer.last.alignment.apply(scan.points))[0]) < 2 * bunny_ref.cloud.spacing


def test_cli_writes_the_deviation_fields_reference_and_transform(tmp_path, bunny_path):
    import json
    import subprocess
    import sys

    from tests.conftest import REPO

    ref = read_scan(bunny_path, surface_samples=20000, seed=0)
    from casl_core.io import write_scan

    write_scan(ref, tmp_path / "ref.ply")
    sample = synthesize_defect(read_scan(bunny_path, surface_samples=8000, seed=50), "bulge", np.random.default_rng(1))
    posed = random_pose(sample, np.random.default_rng(2))
    write_scan(replace(posed.scan, labels=None), tmp_path / "scan.ply")
    out = tmp_path / "out.ply"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "casl_core.cli",
            "deviation",
            str(tmp_path / "scan.ply"),
            "--reference",
            str(tmp_path / "ref.ply"),
            "-o",
            str(out),
            "--json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["reference"] == str(tmp_path / "ref.ply")
    transform = np.array(info["transform"])
    truth = np.linalg.inv(posed.transform)
    assert np.abs(transform[:3, :3] - truth[:3, :3]).max() < 1e-2
    written = read_scan(out)
    for name in (DEVIATION, DEVIATION_ABS, DEVIATION_SCORE):
        assert name in written.fields
    assert np.median(written.fields[DEVIATION][sample.labels == 1]) > 0
    comments = written.metadata.extra["comments"]
    assert f"deviation reference: {tmp_path / 'ref.ply'}" in comments
    row0 = [line for line in comments.splitlines() if line.startswith("deviation transform row 0:")][0]
    np.testing.assert_allclose([float(v) for v in row0.split(":")[1].split()], transform[0], rtol=1e-12)
    # a reference in millimetres is refused with one line and no file
    write_scan(replace(ref, points=ref.points * 1000), tmp_path / "ref_mm.ply")
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "casl_core.cli",
            "deviation",
            str(tmp_path / "scan.ply"),
            "--reference",
            str(tmp_path / "ref_mm.ply"),
            "-o",
            str(tmp_path / "bad.ply"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert bad.returncode == 1 and "another scale" in bad.stderr and not (tmp_path / "bad.ply").exists()
