"""PCD files checked against PCL, the format's reference implementation.

PCL's ``pcl_convert_pcd_ascii_binary`` (Debian package ``pcl-tools``) reads a PCD file (ours,
or a shared one, most of them ``binary_compressed``) and writes it again as plain binary PCD;
numpy decodes that fixed-width table with the field layout from its header. Nothing of
casl_core's reader takes part in the reference.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from casl_core.io import read_scan, write_scan
from casl_core.scan import finite_scan

SCANS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scans"
PCL_CONVERT = shutil.which("pcl_convert_pcd_ascii_binary")
pytestmark = pytest.mark.skipif(
    PCL_CONVERT is None, reason="PCL's tools are not installed (make test installs the Debian package pcl-tools)"
)


def pcl_table(path: Path, work: Path) -> np.ndarray:
    """The points of ``path`` as PCL reads them: a numpy record array, one field per PCD field."""
    out = work / f"{path.stem}.pcl.pcd"
    proc = subprocess.run([PCL_CONVERT, str(path), str(out), "1"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and out.is_file(), proc.stdout + proc.stderr
    raw = out.read_bytes()
    header: dict[str, list[str]] = {}
    pos = 0
    while True:
        end = raw.index(b"\n", pos)
        words = raw[pos:end].decode("ascii").split()
        pos = end + 1
        if words and not words[0].startswith("#"):
            header[words[0]] = words[1:]
            if words[0] == "DATA":
                break
    assert header["DATA"] == ["binary"]
    layout = []
    for i, (name, size, kind, count) in enumerate(
        zip(header["FIELDS"], header["SIZE"], header["TYPE"], header["COUNT"])
    ):
        code = {"F": "f", "U": "u", "I": "i"}[kind] + size
        layout.append((name if name != "_" else f"_pad{i}", "<" + code, (int(count),) if int(count) > 1 else ()))
    return np.frombuffer(raw, dtype=np.dtype(layout), count=int(header["POINTS"][0]), offset=pos)


def _xyz(table: np.ndarray) -> np.ndarray:
    return np.stack([table["x"], table["y"], table["z"]], axis=1)


def _rgb(table: np.ndarray) -> np.ndarray | None:
    for name in ("rgb", "rgba"):
        if name in table.dtype.names:
            packed = np.ascontiguousarray(table[name]).view(np.uint32)
            return np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], axis=1).astype(np.uint8)
    return None


@pytest.mark.shared_scans
@pytest.mark.parametrize("path", sorted(SCANS.rglob("*.pcd"))[::3], ids=lambda p: p.name)
def test_shared_pcd_points_and_colours_match_pcl(path, tmp_path):
    scan = read_scan(path)
    table = pcl_table(path, tmp_path)
    xyz = _xyz(table)
    finite = np.isfinite(xyz).all(axis=1)
    assert scan.metadata.dropped_nonfinite == int((~finite).sum())
    np.testing.assert_array_equal(scan.points_f64().astype(np.float32), xyz[finite].astype(np.float32))
    rgb = _rgb(table)
    if rgb is not None:
        np.testing.assert_array_equal(scan.colors, rgb[finite])


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "ascii"])
def test_pcl_reads_our_pcd_with_every_field(tmp_path, binary):
    rng = np.random.default_rng(3)
    n = 300
    normals = rng.normal(size=(n, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    scan = finite_scan(
        rng.normal(size=(n, 3)).astype(np.float32),
        source="",
        format="mem",
        normals=normals.astype(np.float32),
        colors=rng.integers(0, 256, size=(n, 3)).astype(np.uint8),
        labels=(rng.random(n) < 0.1).astype(np.uint8),
        fields={"curvature_k16": rng.random(n).astype(np.float32)},
    )
    path = tmp_path / "ours.pcd"
    write_scan(scan, path, binary=binary)
    table = pcl_table(path, tmp_path)
    assert len(table) == n
    np.testing.assert_array_equal(_xyz(table), scan.points)
    normals_back = np.stack([table["normal_x"], table["normal_y"], table["normal_z"]], axis=1)
    np.testing.assert_array_equal(normals_back, scan.normals)
    np.testing.assert_array_equal(_rgb(table), scan.colors)
    np.testing.assert_array_equal(table["label"], scan.labels)
    np.testing.assert_array_equal(table["curvature_k16"], scan.fields["curvature_k16"])
