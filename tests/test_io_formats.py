"""Each format's features: byte orders, elements, fields, delimiters, meshes, organized clouds."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from casl_core.errors import ConfigError, ScanFormatError
from casl_core.io import read_scan, write_scan

SCANS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scans"
IGEA = SCANS / "common-3d-test-models" / "igea.ply"
COW = SCANS / "pymeshlab-samples" / "cow.obj"


# ---------------------------------------------------------------- PLY


@pytest.mark.shared_scans
def test_big_endian_ply_reads_like_the_little_endian_original(tmp_path):
    data = IGEA.read_bytes()
    head, body = data.split(b"end_header\n", 1)
    n = 134_345
    verts = np.frombuffer(body, "<f4", n * 3).astype(">f4")
    rest = body[n * 12 :]
    (strip_len,) = np.frombuffer(rest, "<i4", 1)
    strip = np.frombuffer(rest, "<i4", strip_len + 1)[1:].astype(">i4")
    big = head.replace(b"binary_little_endian", b"binary_big_endian") + b"end_header\n"
    big += verts.tobytes() + np.array([strip_len], ">i4").tobytes() + strip.tobytes()
    (tmp_path / "igea_be.ply").write_bytes(big)
    a, b = read_scan(IGEA), read_scan(tmp_path / "igea_be.ply")
    np.testing.assert_array_equal(a.points, b.points)
    np.testing.assert_array_equal(a.metadata.faces, b.metadata.faces)


def test_triangle_strips_restart_at_minus_one_and_alternate_winding(tmp_path):
    text = (
        "ply\nformat ascii 1.0\nelement vertex 7\nproperty float x\nproperty float y\nproperty float z\n"
        "element tristrips 1\nproperty list int int vertex_indices\nend_header\n"
        + "".join(f"{i} {i % 2} 0\n" for i in range(7))
        + "8 0 1 2 3 -1 4 5 6\n"
    )
    (tmp_path / "strip.ply").write_text(text)
    faces = read_scan(tmp_path / "strip.ply").metadata.faces
    np.testing.assert_array_equal(faces, [[0, 1, 2], [2, 1, 3], [4, 5, 6]])


def test_binary_ply_with_mixed_polygons_and_a_leading_element(tmp_path):
    header = (
        b"ply\nformat binary_little_endian 1.0\nelement camera 1\nproperty float focal\n"
        b"property list uchar float k\nelement vertex 5\nproperty double x\nproperty double y\n"
        b"property double z\nproperty uchar r\nproperty uchar g\nproperty uchar b\nproperty float scalar_label\n"
        b"property short scalar_temperature\nelement face 2\nproperty uchar flags\n"
        b"property list uchar int vertex_index\nend_header\n"
    )
    camera = np.float32(2.5).tobytes() + bytes([3]) + np.array([1, 2, 3], "<f4").tobytes()
    vdt = np.dtype(
        [("x", "<f8"), ("y", "<f8"), ("z", "<f8"), ("r", "u1"), ("g", "u1"), ("b", "u1"), ("l", "<f4"), ("t", "<i2")]
    )
    v = np.zeros(5, vdt)
    v["x"], v["y"] = np.arange(5), np.arange(5) ** 2
    v["r"], v["l"], v["t"] = 10, [0, 1, 0, 1, 1], [-5, 0, 5, 10, 300]
    faces = (
        bytes([7, 3]) + np.array([0, 1, 2], "<i4").tobytes() + bytes([7, 4]) + np.array([1, 2, 3, 4], "<i4").tobytes()
    )
    (tmp_path / "mixed.ply").write_bytes(header + camera + v.tobytes() + faces)
    scan = read_scan(tmp_path / "mixed.ply")
    np.testing.assert_array_equal(scan.points[:, 1], [0, 1, 4, 9, 16])
    np.testing.assert_array_equal(scan.colors[:, 0], 10)
    np.testing.assert_array_equal(scan.labels, [0, 1, 0, 1, 1])
    np.testing.assert_array_equal(scan.fields["temperature"], [-5, 0, 5, 10, 300])
    np.testing.assert_array_equal(scan.metadata.faces, [[0, 1, 2], [1, 2, 3], [1, 3, 4]])


def test_ascii_ply_with_quads_and_comments(tmp_path):
    text = (
        "ply\nformat ascii 1.0\ncomment made by hand\nelement vertex 4\nproperty float x\nproperty float y\n"
        "property float z\nproperty float nx\nproperty float ny\nproperty float nz\nelement face 1\n"
        "property list uchar int vertex_indices\nend_header\n"
        "0 0 0 0 0 1\n1 0 0 0 0 1\n1 1 0 0 0 1\n0 1 0 0 0 1\n4 0 1 2 3\n"
    )
    (tmp_path / "quad.ply").write_text(text)
    scan = read_scan(tmp_path / "quad.ply")
    np.testing.assert_array_equal(scan.normals[:, 2], 1)
    np.testing.assert_array_equal(scan.metadata.faces, [[0, 1, 2], [0, 2, 3]])
    assert scan.metadata.extra["comments"] == "made by hand"


# ---------------------------------------------------------------- PCD


def _pcd_header(fields, size, typ, count, width, height, data, viewpoint=True, version="0.7"):
    lines = [
        f"VERSION {version}",
        f"FIELDS {fields}",
        f"SIZE {size}",
        f"TYPE {typ}",
        f"COUNT {count}",
        f"WIDTH {width}",
        f"HEIGHT {height}",
    ]
    if viewpoint:
        lines.append("VIEWPOINT 1 2 3 1 0 0 0")
    lines += [f"POINTS {width * height}", f"DATA {data}"]
    return ("\n".join(lines) + "\n").encode()


def test_organized_binary_pcd_keeps_pixels_and_drops_nan_points(tmp_path):
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(2 * 3, 3)).astype("<f4")
    pts[[1, 4]] = np.nan
    rgb = np.array([0x00FF8000] * 6, "<u4").view("<f4")
    table = np.empty(6, [("xyz", "<f4", 3), ("rgb", "<f4"), ("hist", "<f4", 2), ("_", "u1", 3)])
    table["xyz"], table["rgb"], table["hist"] = pts, rgb, rng.random((6, 2))
    data = _pcd_header("x y z rgb hist _", "4 4 4 4 4 1", "F F F F F U", "1 1 1 1 2 3", 3, 2, "binary")
    (tmp_path / "org.pcd").write_bytes(data + table.tobytes())
    scan = read_scan(tmp_path / "org.pcd")
    assert scan.metadata.image_shape == (2, 3)
    np.testing.assert_array_equal(scan.metadata.pixel_index, [0, 2, 3, 5])
    assert scan.metadata.dropped_nonfinite == 2
    np.testing.assert_array_equal(scan.colors, [[255, 128, 0]] * 4)
    np.testing.assert_array_equal(scan.fields["hist_1"], table["hist"][[0, 2, 3, 5], 1])
    assert set(scan.fields) == {"hist_0", "hist_1"}
    assert scan.metadata.extra["viewpoint"] == "1 2 3 1 0 0 0"


def test_ascii_pcd_version_06_without_viewpoint_with_normals_and_label(tmp_path):
    head = _pcd_header(
        "x y z normal_x normal_y normal_z label",
        "4 4 4 4 4 4 4",
        "F F F F F F U",
        "1 1 1 1 1 1 1",
        2,
        1,
        "ascii",
        viewpoint=False,
        version=".6",
    )
    (tmp_path / "v06.pcd").write_bytes(head + b"1 2 3 0 0 1 0\n4 5 6 1 0 0 1\n")
    scan = read_scan(tmp_path / "v06.pcd")
    np.testing.assert_array_equal(scan.points, [[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(scan.normals, [[0, 0, 1], [1, 0, 0]])
    np.testing.assert_array_equal(scan.labels, [0, 1])
    assert "viewpoint" not in scan.metadata.extra


# ---------------------------------------------------------------- text tables


@pytest.mark.parametrize("sep", [",", ";", "\t", " ", "  "])
def test_text_delimiters_and_header_names(tmp_path, sep):
    rows = [["x", "y", "z", "Intensity", "label"], ["1.5", "2", "3", "0.25", "1"], ["4", "5", "6e1", "7", "0"]]
    (tmp_path / "t.txt").write_text("\n".join(sep.join(r) for r in rows) + "\n")
    scan = read_scan(tmp_path / "t.txt")
    np.testing.assert_array_equal(scan.points, [[1.5, 2, 3], [4, 5, 60]])
    np.testing.assert_array_equal(scan.fields["Intensity"], [0.25, 7])
    np.testing.assert_array_equal(scan.labels, [1, 0])


def test_cloudcompare_comment_header_and_comment_lines(tmp_path):
    (tmp_path / "cc.asc").write_text("//X,Y,Z,R,G,B,Scalar field\n# a note\n1,2,3,255,0,10,0.5\n\n4,5,6,0,0,0,1.5\n")
    scan = read_scan(tmp_path / "cc.asc")
    np.testing.assert_array_equal(scan.colors, [[255, 0, 10], [0, 0, 0]])
    np.testing.assert_array_equal(scan.fields["Scalar_field"], [0.5, 1.5])


def test_positional_columns_detect_colours_normals_and_fields(tmp_path):
    rng = np.random.default_rng(1)
    xyz = rng.normal(size=(20, 3))
    n = rng.normal(size=(20, 3))
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    rgb = rng.integers(0, 256, (20, 3))
    np.savetxt(tmp_path / "rgb.xyz", np.hstack([xyz, rgb]), fmt="%.8g")
    np.savetxt(tmp_path / "nrm.xyz", np.hstack([xyz, n]), fmt="%.8g")
    np.savetxt(tmp_path / "four.xyz", np.hstack([xyz, rgb[:, :1] * 0.5]), fmt="%.8g")
    np.testing.assert_array_equal(read_scan(tmp_path / "rgb.xyz").colors, rgb)
    np.testing.assert_allclose(read_scan(tmp_path / "nrm.xyz").normals, n, atol=1e-6)
    four = read_scan(tmp_path / "four.xyz")
    assert four.colors is None and four.normals is None
    np.testing.assert_array_equal(four.fields["field_3"], rgb[:, 0] * 0.5)


def test_columns_argument_names_the_roles(tmp_path):
    (tmp_path / "gt.txt").write_text("0.1 0.2 0.3 1 9\n0.4 0.5 0.6 0 9\n")
    scan = read_scan(tmp_path / "gt.txt", columns=["x", "y", "z", "label", "_"])
    np.testing.assert_array_equal(scan.labels, [1, 0])
    assert scan.fields == {}


def test_leica_pts_count_line_and_intensity_rgb(tmp_path):
    (tmp_path / "scan.pts").write_text("2\n1 2 3 -500 10 20 30\n4 5 6 12 40 50 60\n")
    scan = read_scan(tmp_path / "scan.pts")
    np.testing.assert_array_equal(scan.colors, [[10, 20, 30], [40, 50, 60]])
    np.testing.assert_array_equal(scan.fields["intensity"], [-500, 12])


# ---------------------------------------------------------------- numpy


def test_npy_and_npz_arrays(tmp_path):
    rng = np.random.default_rng(2)
    pts = rng.normal(size=(30, 3)).astype(np.float32)
    np.save(tmp_path / "a.npy", np.hstack([pts, np.arange(30)[:, None]]))
    scan = read_scan(tmp_path / "a.npy")
    np.testing.assert_array_equal(scan.points, pts)
    np.testing.assert_array_equal(scan.fields["field_3"], np.arange(30))
    np.savez(tmp_path / "b.npz", xyz=pts, labels=np.arange(30) % 2, score=np.ones(30), other=np.ones((2, 2)))
    scan = read_scan(tmp_path / "b.npz")
    np.testing.assert_array_equal(scan.labels, np.arange(30) % 2)
    assert set(scan.fields) == {"score"}


def test_pickled_numpy_arrays_are_refused(tmp_path):
    obj = np.empty(3, dtype=object)
    obj[:] = [1, "a", None]
    np.save(tmp_path / "p.npy", obj, allow_pickle=True)
    np.savez(tmp_path / "p.npz", points=np.zeros((3, 3)), extra=obj)
    for name in ("p.npy", "p.npz"):
        with pytest.raises(ScanFormatError, match="pickled"):
            read_scan(tmp_path / name)


# ---------------------------------------------------------------- meshes


def test_obj_quads_negative_indices_colours_and_normals(tmp_path):
    text = (
        "# quad\nv 0 0 0 1 0 0\nv 1 0 0 0 1 0\nv 1 1 0 0 0 1\nv 0 1 0 1 1 1\n"
        "vn 0 0 1\nvn 0 0 1\nvn 0 0 1\nvn 0 0 1\nf -4//-4 -3//-3 -2//-2 -1//-1\nf 1/1 3/3 4/4\n"
    )
    (tmp_path / "q.obj").write_text(text)
    scan = read_scan(tmp_path / "q.obj")
    np.testing.assert_array_equal(scan.metadata.faces, [[0, 1, 2], [0, 2, 3], [0, 2, 3]])
    np.testing.assert_array_equal(scan.colors, [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]])
    np.testing.assert_array_equal(scan.normals[:, 2], 1)


def _cow_stl_bytes(cow) -> bytes:
    tri = cow.points[cow.metadata.faces]
    table = np.zeros(len(tri), [("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")])
    table["v"] = tri
    return b"\0" * 80 + np.uint32(len(tri)).tobytes() + table.tobytes()


@pytest.mark.shared_scans
def test_binary_and_ascii_stl_merge_shared_corners(tmp_path):
    cow = read_scan(COW)
    (tmp_path / "cow.stl").write_bytes(_cow_stl_bytes(cow))
    tri = cow.points[cow.metadata.faces]
    facets = "".join(
        "facet normal 0 0 0\nouter loop\n"
        + "".join(f"vertex {v[0]:.9g} {v[1]:.9g} {v[2]:.9g}\n" for v in t)
        + "endloop\nendfacet\n"
        for t in tri
    )
    (tmp_path / "cow_ascii.stl").write_text("solid cow\n" + facets + "endsolid cow\n")
    # STL has no shared vertices: corners at the same position become one vertex.
    used = len(np.unique(cow.points[np.unique(cow.metadata.faces)], axis=0))
    for name in ("cow.stl", "cow_ascii.stl"):
        scan = read_scan(tmp_path / name)
        assert len(scan) == used
        np.testing.assert_array_equal(scan.points[scan.metadata.faces], tri)


def test_off_and_coff_meshes(tmp_path):
    (tmp_path / "a.off").write_text("OFF\n# square\n4 2 0\n0 0 0\n1 0 0\n1 1 0\n0 1 0\n3 0 1 2\n3 0 2 3\n")
    (tmp_path / "b.off").write_text(
        "COFF 4 1 0\n0 0 0 255 0 0 255\n1 0 0 0 255 0 255\n1 1 0 0 0 255 255\n0 1 0 9 9 9 255\n4 0 1 2 3\n"
    )
    a, b = read_scan(tmp_path / "a.off"), read_scan(tmp_path / "b.off")
    np.testing.assert_array_equal(a.metadata.faces, [[0, 1, 2], [0, 2, 3]])
    np.testing.assert_array_equal(b.metadata.faces, [[0, 1, 2], [0, 2, 3]])
    np.testing.assert_array_equal(b.colors[3], [9, 9, 9])


def test_surface_sampling_is_area_weighted_seeded_and_on_the_surface(tmp_path):
    # Two triangles in z=0 and x=0 planes with areas 1/2 and 3/2.
    (tmp_path / "two.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 3\nv 0 1 3\nf 1 2 3\nf 1 3 5 4\n")
    scan = read_scan(tmp_path / "two.obj", surface_samples=20_000, seed=5)
    assert scan.metadata.format == "obj+sampled" and len(scan) == 20_000 and scan.metadata.faces is None
    on_floor = np.isclose(scan.points[:, 2], 0)
    assert np.all(on_floor | np.isclose(scan.points[:, 0], 0))
    assert abs(on_floor.mean() - 0.5 / 3.5) < 0.01
    assert np.all((scan.points[on_floor, 0] + scan.points[on_floor, 1]) <= 1 + 1e-6)
    np.testing.assert_allclose(np.abs(scan.normals[on_floor]), [[0, 0, 1]] * on_floor.sum(), atol=1e-6)
    again = read_scan(tmp_path / "two.obj", surface_samples=20_000, seed=5)
    np.testing.assert_array_equal(scan.points, again.points)
    with pytest.raises(ConfigError):
        read_scan(tmp_path / "two.obj", surface_samples=0)


@pytest.mark.shared_scans
def test_sampled_points_of_a_real_mesh_lie_on_its_triangles():
    cow = read_scan(COW)
    scan = read_scan(COW, surface_samples=2000, seed=1)
    lo, hi = cow.bounds()
    assert np.all(scan.points >= lo - 1e-6) and np.all(scan.points <= hi + 1e-6)
    assert np.allclose(np.linalg.norm(scan.normals, axis=1), 1, atol=1e-5)


# ---------------------------------------------------------------- MVTec TIFF and dispatch


def test_mvtec_xyz_tiff_keeps_pixel_indices(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    image = np.zeros((4, 5, 3), np.float32)
    image[1, 2] = [0.1, 0.2, 0.3]
    image[3, 4] = [1, 1, 1]
    image[0, 0] = [np.nan, 0, 0]
    tifffile.imwrite(tmp_path / "000.tiff", image)
    scan = read_scan(tmp_path / "000.tiff")
    assert scan.metadata.image_shape == (4, 5)
    np.testing.assert_array_equal(scan.metadata.pixel_index, [7, 19])
    assert scan.metadata.dropped_nonfinite == 1
    np.testing.assert_array_equal(scan.points, image.reshape(-1, 3)[[7, 19]])


@pytest.mark.shared_scans
def test_unknown_suffix_is_read_by_its_magic_bytes(tmp_path):
    scan = read_scan(COW)
    write_scan(scan, tmp_path / "cow.pcd")
    (tmp_path / "cow.pcd").rename(tmp_path / "cow.bin")
    (tmp_path / "igea.data").write_bytes(IGEA.read_bytes())
    np.testing.assert_array_equal(read_scan(tmp_path / "cow.bin").points, scan.points)
    assert len(read_scan(tmp_path / "igea.data")) == 134_345


@pytest.mark.shared_scans
def test_a_ply_suffix_requires_ply_magic(tmp_path):
    (tmp_path / "fake.ply").write_bytes(re.sub(rb"^ply", b"PLY", IGEA.read_bytes()[:5000]))
    with pytest.raises(ScanFormatError, match=r"fake\.ply: does not start with 'ply'"):
        read_scan(tmp_path / "fake.ply")
