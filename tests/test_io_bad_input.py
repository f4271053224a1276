"""Bad scan files give a one-line ScanFormatError naming the file and the problem."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from casl_core.errors import ScanFormatError
from casl_core.io import read_scan

SCANS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scans"
IGEA = SCANS / "common-3d-test-models" / "igea.ply"
BONE = SCANS / "pymeshlab-samples" / "bone.ply"
MILK = SCANS / "pcl" / "tutorials" / "correspondence_grouping" / "milk.pcd"
TEMPLATE = SCANS / "pcl" / "tutorials" / "template_alignment" / "object_template_0.pcd"
COW = SCANS / "pymeshlab-samples" / "cow.obj"
CHAMELEON = SCANS / "pymeshlab-samples" / "chameleon.pts"


def _fails(path: Path, pattern: str) -> ScanFormatError:
    with pytest.raises(ScanFormatError) as info:
        read_scan(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert re.search(pattern, message), message
    return info.value


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_missing_file_directory_and_empty_file(tmp_path):
    _fails(tmp_path / "nothing.ply", "no such file")
    (tmp_path / "folder.ply").mkdir()
    _fails(tmp_path / "folder.ply", "is a directory")
    _fails(_write(tmp_path, "empty.pcd", b""), "empty")


@pytest.mark.shared_scans
@pytest.mark.parametrize("source", [IGEA, BONE, MILK, CHAMELEON], ids=lambda p: p.name)
def test_truncated_binary_files(tmp_path, source):
    data = source.read_bytes()
    path = _write(tmp_path, "cut" + source.suffix, data[: len(data) // 2])
    _fails(path, "truncated")


@pytest.mark.shared_scans
def test_ply_header_count_larger_than_the_data(tmp_path):
    data = BONE.read_bytes().replace(b"element vertex 1872", b"element vertex 1999")
    _fails(_write(tmp_path, "more.ply", data), "truncated|refers to vertex")


@pytest.mark.shared_scans
def test_ply_header_count_smaller_than_the_data(tmp_path):
    data = IGEA.read_bytes().replace(b"element vertex 134345", b"element vertex 134000")
    _fails(_write(tmp_path, "less.ply", data), "truncated|refers to vertex")


def test_ascii_ply_with_fewer_lines_than_announced(tmp_path):
    text = (
        b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\nend_header\n"
    )
    _fails(_write(tmp_path, "short.ply", text + b"1 2 3\n4 5 6\n"), "promises 3 'vertex' items")
    _fails(_write(tmp_path, "ragged.ply", text + b"1 2 3\n4 5\n7 8 9\n"), "line 2")


def test_ply_without_end_header_or_with_bad_property(tmp_path):
    _fails(_write(tmp_path, "noend.ply", b"ply\nformat ascii 1.0\nelement vertex 1\n"), "header never ends")
    bad = b"ply\nformat ascii 1.0\nelement vertex 1\nproperty quaternion x\nend_header\n1\n"
    _fails(_write(tmp_path, "badprop.ply", bad), "header line 4")


@pytest.mark.shared_scans
def test_pcd_points_disagreeing_with_width_and_height(tmp_path):
    data = TEMPLATE.read_bytes().replace(b"POINTS 1397", b"POINTS 1398")
    _fails(_write(tmp_path, "count.pcd", data), "POINTS 1398 but WIDTH x HEIGHT = 1397")


@pytest.mark.shared_scans
def test_ascii_pcd_with_missing_rows(tmp_path):
    data = TEMPLATE.read_bytes().replace(b"WIDTH 1397", b"WIDTH 1500").replace(b"POINTS 1397", b"POINTS 1500")
    _fails(_write(tmp_path, "rows.pcd", data), "promises 1500 points")


def _compressed_block(data: bytes) -> int:
    return data.index(b"DATA binary_compressed\n") + len(b"DATA binary_compressed\n")


@pytest.mark.shared_scans
def test_corrupt_lzf_stream_in_compressed_pcd(tmp_path):
    data = bytearray(MILK.read_bytes())
    start = _compressed_block(bytes(data)) + 8
    bad = data.copy()
    bad[start] = 0xFF  # a back-reference before any output exists
    _fails(_write(tmp_path, "backref.pcd", bytes(bad)), "corrupt compressed PCD data")
    bad = data.copy()
    bad[start] = 0x00  # a shorter literal run shifts every later token
    _fails(_write(tmp_path, "shift.pcd", bytes(bad)), "corrupt compressed PCD data")


@pytest.mark.shared_scans
def test_compressed_pcd_with_wrong_sizes(tmp_path):
    data = bytearray(MILK.read_bytes())
    at = _compressed_block(bytes(data))
    bad = data.copy()
    bad[at + 4 : at + 8] = np.uint32(12_575 * 16 + 4).tobytes()
    _fails(_write(tmp_path, "unpacked.pcd", bytes(bad)), "header/point-count mismatch")
    bad = data.copy()
    bad[at : at + 4] = np.uint32(10**9).tobytes()
    _fails(_write(tmp_path, "packed.pcd", bytes(bad)), "truncated")


def test_random_bytes_under_each_suffix(tmp_path):
    junk = np.random.default_rng(7).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    for suffix in (".ply", ".pcd", ".xyz", ".csv", ".pts", ".npy", ".npz", ".obj", ".stl", ".off", ".tiff"):
        with pytest.raises(ScanFormatError, match=re.escape(str(tmp_path / f"junk{suffix}"))):
            read_scan(_write(tmp_path, f"junk{suffix}", junk))


def test_unknown_format(tmp_path):
    _fails(_write(tmp_path, "scan.las", b"LASF" + bytes(300)), "unknown format")


def test_all_nan_cloud(tmp_path):
    text = b"x y z\nnan nan nan\nnan 1 2\ninf 0 0\n"
    _fails(_write(tmp_path, "nan.xyz", text), "all 3 points have non-finite coordinates")


def test_non_finite_points_are_dropped_and_counted(tmp_path):
    text = b"x y z\n1 2 3\nnan 1 2\n4 5 6\n1 -inf 0\n"
    scan = read_scan(_write(tmp_path, "some_nan.xyz", text))
    assert len(scan) == 2 and scan.metadata.dropped_nonfinite == 2
    np.testing.assert_array_equal(scan.metadata.source_index, [0, 2])


def test_ragged_csv_names_the_line(tmp_path):
    text = b"x,y,z,label\n1,2,3,0\n4,5,6,1\n7,8,9\n10,11,12,0\n"
    _fails(_write(tmp_path, "ragged.csv", text), r"line 4 has 3 values, expected 4")
    _fails(_write(tmp_path, "word.csv", b"x,y,z\n1,2,3\n4,five,6\n"), r"line 3: 'five' is not a number")


def test_text_with_fewer_than_three_columns(tmp_path):
    _fails(_write(tmp_path, "two.txt", b"1 2\n3 4\n"), "at least x, y, z")


@pytest.mark.shared_scans
def test_malformed_obj(tmp_path):
    data = COW.read_bytes()
    _fails(_write(tmp_path, "index.obj", data + b"f 1 2 9999\n"), "refers to vertex 9998")
    _fails(_write(tmp_path, "word.obj", data.replace(b"v 0.004478", b"v zero", 1)), r"line \d+: a vertex value")
    _fails(_write(tmp_path, "zero.obj", data + b"f 0 1 2\n"), "index 0")
    _fails(_write(tmp_path, "none.obj", b"# nothing\nf 1 2 3\n"), "no vertex")


def test_malformed_stl(tmp_path):
    tri = np.zeros(3, [("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")])
    tri["v"] = np.arange(27).reshape(3, 3, 3)
    good = b"\0" * 80 + np.uint32(3).tobytes() + tri.tobytes()
    _fails(_write(tmp_path, "cut.stl", good[:-20]), "announces 3 triangles")
    ascii_stl = b"solid s\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nendloop\nendfacet\nendsolid\n"
    _fails(_write(tmp_path, "short.stl", ascii_stl), "1 facets but 2 vertices")


def test_malformed_off(tmp_path):
    _fails(_write(tmp_path, "few.off", b"OFF\n4 1 0\n0 0 0\n1 0 0\n"), "truncated")
    _fails(_write(tmp_path, "face.off", b"OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n"), "refers to vertex 7")


def test_wrong_numpy_shape(tmp_path):
    np.save(tmp_path / "flat.npy", np.zeros(10))
    _fails(tmp_path / "flat.npy", r"shape \(N, 3\)")
    np.savez(tmp_path / "nokey.npz", stuff=np.zeros((3, 3)))
    _fails(tmp_path / "nokey.npz", "no 'points' or 'xyz'")
