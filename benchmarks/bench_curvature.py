"""Speed and memory of ``casl curvature`` against CloudCompare, and of the exact mode against
scipy + pgeof and Open3D.

Run: ``.venv/bin/python benchmarks/bench_curvature.py [--points 1000000] [--repeats 5]
[--exact-repeats 3] [--skip-exact]``

1. A scan of ``--points`` points is sampled (area-weighted, seed 0) on ``nefertiti.obj``
   from the shared scans and written as binary PLY (x y z only).
2. The radii whose mean neighbour counts (the point included) are 16, 64 and 256 are
   found by bisection with a cKDTree on 4,000 sampled points.
3. Whole processes, alternating: ``casl curvature IN -o OUT`` (default multi-scale mode)
   and ``CloudCompare -SILENT ... -CURV NORMAL_CHANGE r`` at the three radii (auto-save
   off, one save at the end, so both read once and write once). Wall time, CPU time and
   peak RSS come from ``/usr/bin/time``. Both outputs are checked to hold three finite
   curvature fields, and their rank correlation is printed.
4. Exact k-NN mode (k = 16, 32, 64) in process: ``compute_curvature(ks=...)`` against
   ``cKDTree.query(k=64, workers=-1)`` + ``pgeof.compute_features_multiscale`` (whose own
   "curvature" is defined on square roots of the eigenvalues, so ``l0 / sum`` is rebuilt
   from its linearity and scattering) and against
   Open3D's ``PointCloud.estimate_covariances(KDTreeSearchParamKNN(k))`` + ``numpy.linalg.eigvalsh``
   for each k; alternating, medians, and the largest difference to our values.
5. ``--agreement``: the default mode against exact k-NN at 64 and 256 on the vertices of
   four shared meshes (Spearman, median relative difference, mean neighbourhood size):
   the table in ``docs/curvature.md``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree
from scipy.stats import spearmanr

from casl_core.geometry import compute_curvature
from casl_core.io import read_scan, write_scan
from casl_core.scan import Scan

MESH = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scans" / "common-3d-test-models" / "nefertiti.obj"
)
SCALES = (16, 64, 256)
EXACT_KS = (16, 32, 64)


def radius_for_count(tree: cKDTree, sample: np.ndarray, target: float) -> float:
    """Radius whose mean neighbour count (point included) over ``sample`` is ``target``."""
    dist, _ = tree.query(sample, k=int(target), workers=-1)
    lo, hi = float(np.median(dist[:, -1])) / 4, float(dist[:, -1].max()) * 4
    for _ in range(40):
        mid = (lo * hi) ** 0.5
        mean = float(np.mean(tree.query_ball_point(sample, mid, return_length=True, workers=-1)))
        lo, hi = (mid, hi) if mean < target else (lo, mid)
    return (lo * hi) ** 0.5


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Run ``cmd`` under /usr/bin/time; return (wall s, user+sys s, peak RSS MiB)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        full = ["/usr/bin/time", "-o", report.name, "-f", "%e %U %S %M", *cmd]
        done = subprocess.run(full, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(
                f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
            )
        wall, user, sys_, rss = report.read().split()[-4:]
    return float(wall), float(user) + float(sys_), float(rss) / 1024


def ply_vertex_table(path: Path) -> dict[str, np.ndarray]:
    """The float32 vertex properties of a binary little-endian PLY (CloudCompare's output)."""
    data = path.read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode("ascii").splitlines()
    names, count = [], 0
    for line in header:
        words = line.split()
        if words[:2] == ["element", "vertex"]:
            count = int(words[2])
        elif words[:2] == ["property", "float"]:
            names.append(words[2])
        elif words and words[0] == "property":
            raise SystemExit(f"{path}: unexpected property {line!r}")
    table = np.frombuffer(data, dtype=np.dtype([(n, "<f4") for n in names]), count=count, offset=end)
    return {n: np.asarray(table[n]) for n in names}


def casl_command() -> str:
    found = Path(sys.executable).with_name("casl")
    return str(found) if found.exists() else (shutil.which("casl") or "casl")


def bench_process(points: np.ndarray, repeats: int, folder: Path) -> None:
    src = folder / "scan.ply"
    write_scan(Scan(points=points), src)
    tree = cKDTree(points)
    sample = points[np.random.default_rng(1).choice(len(points), min(4000, len(points)), replace=False)]
    radii = [radius_for_count(tree, sample, s) for s in SCALES]
    print("radii for mean counts 16/64/256: " + ", ".join(f"{r:.4f}" for r in radii))
    ours_out, cc_out = folder / "ours.ply", folder / "cc.ply"
    ours_cmd = [casl_command(), "curvature", str(src), "-o", str(ours_out)]
    cc_cmd = [
        "CloudCompare",
        "-SILENT",
        "-NO_TIMESTAMP",
        "-C_EXPORT_FMT",
        "PLY",
        "-PLY_EXPORT_FMT",
        "BINARY_LE",
        "-AUTO_SAVE",
        "OFF",
        "-O",
        str(src),
    ]
    for r in radii:
        cc_cmd += ["-CURV", "NORMAL_CHANGE", f"{r:.6f}"]
    cc_cmd += ["-SAVE_CLOUDS", "FILE", str(cc_out)]
    cc_env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    ours, theirs = [], []
    for i in range(repeats):
        ours.append(timed(ours_cmd))
        theirs.append(timed(cc_cmd, cc_env))
        print(f"  run {i + 1}: casl {ours[-1][0]:.2f} s, CloudCompare {theirs[-1][0]:.2f} s")
    ours_scan = read_scan(ours_out)
    mine = [ours_scan.fields[f"curvature_s{s}"] for s in SCALES]
    cc = [v for k, v in ply_vertex_table(cc_out).items() if k.startswith("scalar_Normal_change_rate")]
    if len(cc) != 3 or not all(np.isfinite(m).all() for m in mine):
        raise SystemExit(
            f"outputs incomplete: CloudCompare fields {len(cc)}, ours finite {[np.isfinite(m).all() for m in mine]}"
        )
    for s, a, b in zip(SCALES, mine, cc):
        ok = np.isfinite(b)
        print(
            f"  s{s}: Spearman(ours, CloudCompare r) = {spearmanr(a[ok], b[ok])[0]:.3f}, "
            f"median ours {np.median(a):.4f}, CloudCompare {np.median(b[ok]):.4f}, CC NaN {int((~ok).sum())}"
        )
    wall_o, wall_c = statistics.median(o[0] for o in ours), statistics.median(t[0] for t in theirs)
    ratio = statistics.median(o[0] / t[0] for o, t in zip(ours, theirs))
    print(
        f"casl curvature: median {wall_o:.2f} s wall, {statistics.median(o[1] for o in ours):.2f} s CPU, "
        f"peak RSS {max(o[2] for o in ours):.0f} MiB"
    )
    print(
        f"CloudCompare:   median {wall_c:.2f} s wall, {statistics.median(t[1] for t in theirs):.2f} s CPU, "
        f"peak RSS {max(t[2] for t in theirs):.0f} MiB"
    )
    print(f"ratio casl / CloudCompare (median of per-pair ratios): {ratio:.2f}")


def pgeof_curvature(points: np.ndarray) -> list[np.ndarray]:
    import pgeof

    xyz = np.ascontiguousarray(points, dtype=np.float32)
    _, nn = cKDTree(xyz).query(xyz, k=max(EXACT_KS), workers=-1)
    nn_ptr = np.arange(0, nn.size + 1, nn.shape[1], dtype=np.uint32)
    feats = pgeof.compute_features_multiscale(xyz, nn.astype(np.uint32).ravel(), nn_ptr, list(EXACT_KS))
    # feats is (N, scales, 11). pgeof's own "curvature" (last) is sqrt(l0) / sum(sqrt(l)), on
    # standard deviations; rebuild l0 / sum(l) from linearity (s2 - s1) / s2 and scattering s0 / s2.
    out = []
    for i in range(len(EXACT_KS)):
        mid, small = 1.0 - feats[:, i, 0].astype(np.float64), feats[:, i, 2].astype(np.float64)
        out.append(small**2 / (1.0 + mid**2 + small**2))
    return out


def open3d_curvature(points: np.ndarray) -> list[np.ndarray]:
    import open3d as o3d

    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points.astype(np.float64)))
    out = []
    for k in EXACT_KS:
        cloud.estimate_covariances(o3d.geometry.KDTreeSearchParamKNN(k))
        ev = np.linalg.eigvalsh(np.asarray(cloud.covariances))
        out.append(ev[:, 0] / ev.sum(axis=1))
    return out


def bench_exact(points: np.ndarray, repeats: int) -> None:
    runs = {
        "ours": lambda: list(compute_curvature(points, ks=EXACT_KS).fields.values()),
        "scipy+pgeof": lambda: pgeof_curvature(points),
        "open3d": lambda: open3d_curvature(points),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    values = {}
    for _ in range(repeats):
        for name, fn in runs.items():
            start = time.perf_counter()
            values[name] = fn()
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["ours"])
    print(f"exact k-NN mode, k = {EXACT_KS}, {len(points):,} points, in process, medians of {repeats}:")
    for name in runs:
        med = statistics.median(times[name])
        diff = max(float(np.nanmax(np.abs(a - b))) for a, b in zip(values[name], values["ours"]))
        print(f"  {name:<12} {med:7.2f} s   ours/this {base / med:5.2f}   max |this - ours| {diff:.2e}")


AGREEMENT_MESHES = ("stanford-bunny.obj", "nefertiti.obj", "fandisk.obj", "rocker-arm.obj")


def agreement() -> None:
    """Default multi-scale mode against exact k-NN at the same sizes, per shared mesh."""
    print(f"{'scan':<20} {'points':>7} {'scale':>5} {'Spearman':>8} {'median |s-k|/k':>14} {'mean size':>9}")
    for name in AGREEMENT_MESHES:
        points = read_scan(MESH.parent / name).points
        default = compute_curvature(points)
        exact = compute_curvature(points, ks=[64, 256])
        for s in (64, 256):
            a, b = default.fields[f"curvature_s{s}"], exact.fields[f"curvature_k{s}"]
            rho = spearmanr(a, b)[0]
            rel = float(np.median(np.abs(a - b) / np.maximum(b, 1e-9)))
            size = default.mean_neighbors[f"curvature_s{s}"]
            print(f"{name:<20} {len(points):>7} {s:>5} {rho:>8.3f} {rel:>14.2f} {size:>9.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--exact-repeats", type=int, default=3)
    parser.add_argument("--skip-exact", action="store_true")
    parser.add_argument(
        "--agreement", action="store_true", help="only compare the default mode with exact k-NN on four shared meshes"
    )
    args = parser.parse_args()
    if args.agreement:
        agreement()
        return
    points = read_scan(MESH, surface_samples=args.points, seed=0).points
    print(f"scan: {len(points):,} points sampled on {MESH.name}; {os.cpu_count()} CPU cores")
    with tempfile.TemporaryDirectory() as folder:
        bench_process(points, args.repeats, Path(folder))
    if not args.skip_exact:
        bench_exact(points, args.exact_repeats)


if __name__ == "__main__":
    main()
