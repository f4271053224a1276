"""Round trips through CloudCompare (Debian package `cloudcompare`, installed by `make test`).

Our PLY with `scalar_<name>` properties is opened by CloudCompare, which must see each field
as a scalar field and write it back; files CloudCompare writes (ASCII PLY, ASC with a header)
must read back with the same points, normals, labels and fields. (CloudCompare 2.11's
command line has no PCD writer.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import replace

import numpy as np
import pytest

from casl_core.geometry import add_curvature
from casl_core.io import read_scan, write_scan

CLOUDCOMPARE = shutil.which("CloudCompare")
pytestmark = [
    pytest.mark.shared_scans,
    pytest.mark.skipif(
        CLOUDCOMPARE is None, reason="CloudCompare is not installed (make test installs the Debian package)"
    ),
]


def cloudcompare(*args: str, cwd) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(
        [CLOUDCOMPARE, "-SILENT", "-NO_TIMESTAMP", "-AUTO_SAVE", "OFF", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def scored(scans_dir):
    scan = add_curvature(read_scan(scans_dir / "common-3d-test-models/fandisk.obj"), ks=[16])
    labels = (scan.fields["curvature_k16"] > 0.05).astype(np.uint8)
    # a point cloud, not a mesh: CloudCompare saves clouds and meshes with different commands
    return replace(scan, labels=labels, metadata=replace(scan.metadata, faces=None))


@pytest.mark.parametrize(
    "fmt, extra, name",
    [
        ("PLY", ["-PLY_EXPORT_FMT", "ASCII"], "cc.ply"),
        ("PLY", ["-PLY_EXPORT_FMT", "BINARY_LE"], "cc_bin.ply"),
        ("ASC", ["-ADD_HEADER"], "cc.asc"),
    ],
)
def test_cloudcompare_keeps_our_scalar_fields(scored, tmp_path, fmt, extra, name):
    write_scan(scored, tmp_path / "ours.ply")
    cloudcompare("-C_EXPORT_FMT", fmt, *extra, "-O", "ours.ply", "-SAVE_CLOUDS", "FILE", name, cwd=tmp_path)
    if fmt == "PLY":
        header = (tmp_path / name).read_bytes().split(b"end_header")[0].decode()
        assert "CloudCompare" in header and "property float scalar_curvature_k16" in header
    back = read_scan(tmp_path / name)
    assert len(back) == len(scored)
    np.testing.assert_allclose(back.points, scored.points, atol=1e-5)
    # CloudCompare stores normals compressed (quantised directions), about 1e-3 off
    np.testing.assert_allclose(back.normals, scored.normals, atol=5e-3)
    np.testing.assert_array_equal(back.labels, scored.labels)
    np.testing.assert_allclose(back.fields["curvature_k16"], scored.fields["curvature_k16"], atol=1e-6)
