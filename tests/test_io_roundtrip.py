"""Scans written by casl_core read back equal, and other programs read them too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from casl_core.errors import ScanFormatError
from casl_core.io import WRITE_SUFFIXES, read_scan, write_scan
from casl_core.scan import Scan, finite_scan

SCANS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scans"


def _rich_scan(n: int = 500, seed: int = 3) -> Scan:
    rng = np.random.default_rng(seed)
    normals = rng.normal(size=(n, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    return finite_scan(
        rng.normal(size=(n, 3)).astype(np.float32),
        source="",
        format="mem",
        normals=normals.astype(np.float32),
        colors=rng.integers(0, 256, size=(n, 3)).astype(np.uint8),
        labels=(rng.random(n) < 0.1).astype(np.uint8),
        fields={"curvature_k16": rng.random(n).astype(np.float32), "intensity": rng.normal(size=n).astype(np.float32)},
    )


def _assert_same(a: Scan, b: Scan) -> None:
    np.testing.assert_array_equal(a.points_f64(), b.points_f64())
    np.testing.assert_array_equal(a.normals, b.normals)
    np.testing.assert_array_equal(a.colors, b.colors)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert set(a.fields) == set(b.fields)
    for name in a.fields:
        # Text tables read fields as float64; the decimal written holds the float32 exactly.
        np.testing.assert_array_equal(a.fields[name], b.fields[name].astype(a.fields[name].dtype))


@pytest.mark.parametrize("suffix", WRITE_SUFFIXES)
@pytest.mark.parametrize("binary", [True, False])
def test_written_scan_reads_back_equal(tmp_path, suffix, binary):
    scan = _rich_scan()
    path = tmp_path / f"scan{suffix}"
    write_scan(scan, path, binary=binary)
    _assert_same(scan, read_scan(path))


def test_large_coordinates_round_trip_through_the_offset(tmp_path):
    pts = np.array([[500_123.25, 5_400_321.5, 101.75], [500_124.5, 5_400_322.25, 99.5]], dtype=np.float64)
    scan = finite_scan(pts, source="", format="mem")
    assert any(scan.metadata.offset)
    for suffix in (".ply", ".pcd", ".csv"):
        path = tmp_path / f"geo{suffix}"
        write_scan(scan, path)
        back = read_scan(path)
        np.testing.assert_array_equal(back.points_f64(), pts)
    assert b"property double x" in (tmp_path / "geo.ply").read_bytes()[:400]


@pytest.mark.shared_scans
def test_mesh_faces_survive_a_ply_round_trip(tmp_path):
    bone = read_scan(SCANS / "pymeshlab-samples" / "bone.ply")
    path = tmp_path / "bone_copy.ply"
    write_scan(bone, path)
    back = read_scan(path)
    np.testing.assert_array_equal(back.metadata.faces, bone.metadata.faces)
    _assert_same(bone, back)


@pytest.mark.shared_scans
def test_pyvista_reads_our_binary_and_ascii_ply(tmp_path):
    pv = pytest.importorskip("pyvista")
    igea = read_scan(SCANS / "common-3d-test-models" / "igea.ply")
    scan = igea.with_fields(height=igea.points[:, 2].copy())
    for binary in (True, False):
        path = tmp_path / f"igea_{binary}.ply"
        write_scan(scan, path, binary=binary)
        mesh = pv.read(path)
        np.testing.assert_array_equal(np.asarray(mesh.points, dtype=np.float32), scan.points)
        np.testing.assert_array_equal(mesh.regular_faces, scan.metadata.faces)


def test_vtk_reads_our_ply_points_normals_and_colours(tmp_path):
    # PCD files are checked against PCL in test_io_pcl.py
    pv = pytest.importorskip("pyvista")
    scan = _rich_scan(200)
    for binary in (True, False):
        path = tmp_path / f"scan_{binary}.ply"
        write_scan(scan, path, binary=binary)
        cloud = pv.read(path)  # VTK's vtkPLYReader
        np.testing.assert_array_equal(np.asarray(cloud.points, dtype=np.float32), scan.points)
        np.testing.assert_array_equal(np.asarray(cloud.point_data["Normals"]), scan.normals)
        np.testing.assert_array_equal(np.asarray(cloud.point_data["RGB"]), scan.colors)


def test_ply_fields_use_cloudcompare_scalar_names(tmp_path):
    path = tmp_path / "named.ply"
    write_scan(_rich_scan(10), path, binary=False)
    header = path.read_bytes().split(b"end_header")[0].decode()
    assert "property float scalar_curvature_k16" in header
    assert "property uchar scalar_label" in header
    assert "property uchar red" in header


def test_write_is_atomic_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "scan.ply"
    path.write_bytes(b"old content")
    write_scan(_rich_scan(10), path)
    assert read_scan(path).points.shape == (10, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["scan.ply"]


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "scan.ply"
    path.write_bytes(b"old content")
    clash = _rich_scan(10).with_fields(label=np.zeros(10, np.float32))
    with pytest.raises(ScanFormatError, match="scan.ply"):
        write_scan(clash, path)
    assert path.read_bytes() == b"old content"
    assert [p.name for p in tmp_path.iterdir()] == ["scan.ply"]


def test_unknown_write_format_is_refused(tmp_path):
    with pytest.raises(ScanFormatError, match="cannot write format 'las'"):
        write_scan(_rich_scan(5), tmp_path / "scan.las")
    with pytest.raises(ScanFormatError, match="does not exist"):
        write_scan(_rich_scan(5), tmp_path / "missing_dir" / "scan.ply")
