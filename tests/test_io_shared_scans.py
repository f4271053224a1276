"""Every shared real scan reads with the point count an independent reader finds."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from casl_core.io import read_scan

SCANS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scans"
MODELS = SCANS / "common-3d-test-models"
PYMESHLAB = SCANS / "pymeshlab-samples"
TERRAIN = SCANS / "pcl" / "terrain"

pytestmark = pytest.mark.shared_scans

README_COUNTS = {
    MODELS / "stanford-bunny.obj": 35_947,
    MODELS / "igea.ply": 134_345,
    MODELS / "nefertiti.obj": 49_971,
    MODELS / "rocker-arm.obj": 10_044,
    MODELS / "fandisk.obj": 6_475,
    MODELS / "beetle.obj": 1_148,
    PYMESHLAB / "bunny.obj": 28_088,
    PYMESHLAB / "airplane.obj": 7_017,
    PYMESHLAB / "chameleon.pts": 4_594,
    PYMESHLAB / "rangemaps" / "face000.ply": 85_849,
}


@pytest.mark.parametrize("path", list(README_COUNTS), ids=lambda p: p.name)
def test_shared_scan_has_the_readme_point_count(path):
    scan = read_scan(path)
    assert len(scan) == README_COUNTS[path]
    assert scan.metadata.points_in_file == README_COUNTS[path]
    assert scan.metadata.dropped_nonfinite == 0
    assert np.isfinite(scan.points).all()


def test_igea_faces_come_from_its_tristrips():
    scan = read_scan(MODELS / "igea.ply")
    faces = scan.metadata.faces
    assert faces is not None and faces.dtype == np.int64 and faces.shape[1] == 3
    assert faces.min() >= 0 and faces.max() < len(scan)
    assert np.all((faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2]))
    # A closed scan mesh of V vertices has about 2V triangles (Euler), and almost every
    # vertex belongs to one.
    assert 1.9 * len(scan) < len(faces) < 2.1 * len(scan)
    assert len(np.unique(faces)) > 0.99 * len(scan)


def test_face000_skips_the_camera_element_and_keeps_every_vertex_property():
    scan = read_scan(PYMESHLAB / "rangemaps" / "face000.ply")
    assert set(scan.fields) == {"flags", "quality"}
    header = (PYMESHLAB / "rangemaps" / "face000.ply").read_bytes()[:3000]
    assert b"element camera 1" in header
    # The camera element precedes the vertices: a reader that did not skip it would
    # start mid-record and produce nonsense coordinates of absurd magnitude.
    assert np.abs(scan.points).max() < 1e4
    assert scan.metadata.faces is not None and scan.metadata.faces.max() < len(scan)


def test_chameleon_expe_point_set_has_normals_colours_and_radius():
    scan = read_scan(PYMESHLAB / "chameleon.pts")
    assert scan.metadata.format == "expe-pts"
    assert np.allclose(np.linalg.norm(scan.normals, axis=1), 1.0, atol=1e-3)
    assert scan.colors is not None and len(np.unique(scan.colors, axis=0)) > 10
    assert (scan.fields["radius"] > 0).all()


def _obj_v_lines(path: Path) -> int:
    return len(re.findall(rb"(?m)^v[ \t]", path.read_bytes()))


@pytest.mark.parametrize("name", ["cow.obj", "bunny10k_textured.obj", "airplane.obj", "bunny.obj"])
def test_obj_vertices_match_the_v_lines_and_pyvista(name):
    pv = pytest.importorskip("pyvista")
    path = PYMESHLAB / name
    scan = read_scan(path)
    assert len(scan) == _obj_v_lines(path)
    mesh = pv.read(path)
    theirs = np.unique(np.asarray(mesh.points, dtype=np.float32), axis=0)
    ours = np.unique(scan.points, axis=0)
    # VTK splits vertices that carry several texture coordinates, so compare the sets of
    # positions; every position it finds must be one of ours, exactly.
    assert len(theirs) <= len(ours)
    assert len(np.unique(np.concatenate([ours, theirs]), axis=0)) == len(ours)
    assert scan.metadata.faces is not None and len(scan.metadata.faces) == mesh.n_cells


@pytest.mark.parametrize("path", [MODELS / "igea.ply", PYMESHLAB / "bone.ply"], ids=lambda p: p.name)
def test_binary_ply_coordinates_match_pyvista(path):
    pv = pytest.importorskip("pyvista")
    scan = read_scan(path)
    mesh = pv.read(path)
    assert mesh.n_points == len(scan)
    np.testing.assert_array_equal(np.asarray(mesh.points, dtype=np.float32), scan.points)


def test_bone_ply_faces_and_colours_match_pyvista():
    pv = pytest.importorskip("pyvista")
    path = PYMESHLAB / "bone.ply"
    scan = read_scan(path)
    mesh = pv.read(path)
    np.testing.assert_array_equal(mesh.regular_faces, scan.metadata.faces)
    rgba = np.asarray(mesh.point_data["RGBA"])
    np.testing.assert_array_equal(rgba[:, :3], scan.colors)
    np.testing.assert_array_equal(rgba[:, 3], scan.fields["alpha"])


def _header_points(path: Path) -> int:
    head = path.read_bytes()[:2000]
    return int(re.search(rb"(?m)^POINTS (\d+)", head).group(1))


@pytest.mark.parametrize("path", sorted(SCANS.rglob("*.pcd")), ids=lambda p: p.name)
def test_every_pcd_reads_with_its_header_point_count(path):
    scan = read_scan(path)
    assert len(scan) + scan.metadata.dropped_nonfinite == _header_points(path)
    assert scan.metadata.extra.get("viewpoint") == "0 0 0 1 0 0 0"


def test_milk_pcd_unpacks_rgba_colours():
    scan = read_scan(SCANS / "pcl" / "tutorials" / "correspondence_grouping" / "milk.pcd")
    assert scan.colors is not None and scan.colors.shape == (12_575, 3)
    assert 0.0 < np.abs(scan.points).max() < 5.0  # a Kinect view, metres


def test_template_ascii_pcd_ignores_the_padding_field():
    scan = read_scan(SCANS / "pcl" / "tutorials" / "template_alignment" / "object_template_0.pcd")
    assert scan.fields == {}
    np.testing.assert_allclose(scan.points[0], [-0.15265, 0.0388, 0.691], rtol=1e-6)


@pytest.mark.parametrize("site", sorted({p.name.split("-")[0] for p in TERRAIN.glob("samp*-utm.pcd")}))
def test_terrain_ground_points_are_exact_points_of_the_full_site(site):
    full = read_scan(TERRAIN / f"{site}-utm.pcd")
    ground = read_scan(TERRAIN / f"{site}-utm-ground.pcd")
    assert any(full.metadata.offset), "UTM coordinates must be stored with an offset"
    a = full.points_f64().astype(np.float32)
    b = ground.points_f64().astype(np.float32)
    keys_a = np.ascontiguousarray(a).view(np.dtype((np.void, 12))).ravel()
    keys_b = np.ascontiguousarray(b).view(np.dtype((np.void, 12))).ravel()
    assert np.isin(keys_b, keys_a).all()
    assert len(ground) < len(full)
