"""Reading speed of casl_core.io.read_scan against Open3D on a 1M-point scan with normals.

Run: ``.venv/bin/python benchmarks/bench_io.py [--points 1000000] [--repeats 5]``

The scan is sampled on the Stanford bunny from the shared scans, written with our own
writers as binary PLY, binary PCD and XYZ text (x y z nx ny nz), then each file is read
by both readers in alternating runs; the medians and their ratio ours/open3d are printed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from casl_core.io import read_scan, write_scan

MESH = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "data"
    / "scans"
    / "common-3d-test-models"
    / "stanford-bunny.obj"
)


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import open3d as o3d

    scan = read_scan(MESH, surface_samples=args.points, seed=0)
    print(f"scan: {len(scan):,} points with normals, sampled on {MESH.name}")
    with tempfile.TemporaryDirectory() as folder:
        files = {
            "binary PLY": (Path(folder) / "scan.ply", "ply", True, None),
            "binary PCD": (Path(folder) / "scan.pcd", "pcd", True, None),
            "XYZ text": (Path(folder) / "scan.xyz", "xyz", False, "xyzn"),
        }
        print(f"{'format':<12} {'MB':>7} {'ours s':>8} {'open3d s':>9} {'ours/open3d':>12}")
        for label, (path, fmt, binary, o3d_format) in files.items():
            write_scan(scan, path, format=fmt, binary=binary)
            ours, theirs = [], []
            check = read_scan(path)
            cloud = o3d.io.read_point_cloud(str(path), format=o3d_format or "auto")
            if len(check) != len(cloud.points) or not cloud.has_normals():
                raise SystemExit(f"{label}: open3d read {len(cloud.points)} points, ours {len(check)}")
            np.testing.assert_allclose(np.asarray(cloud.points), check.points, atol=1e-6)
            for _ in range(args.repeats):
                ours.append(_time(lambda path=path: read_scan(path)))
                theirs.append(
                    _time(lambda path=path, fmt=o3d_format: o3d.io.read_point_cloud(str(path), format=fmt or "auto"))
                )
            a, b = statistics.median(ours), statistics.median(theirs)
            size = path.stat().st_size / 1e6
            print(f"{label:<12} {size:7.1f} {a:8.3f} {b:9.3f} {a / b:12.2f}")


if __name__ == "__main__":
    main()
