"""Registration from any pose: small_gicp (multi-start + GICP) against open3d (FPFH + RANSAC + ICP).

For each category (shared meshes and procedural part families) the reference is a
complete surface sample; each test scan is a one-sided view (hidden-point removal from a
random direction) of an independent sample, resampled to 60 % of its points and put in
a uniformly random pose. Both methods align it to the reference; the alignment RMSE is
the RMS exact distance of all aligned scan points to the true mesh surface (so a
symmetric part aligned onto an equivalent pose counts as aligned), compared with the
scan's point spacing. Times are per scan, preparation of the scan included (the
reference is prepared once).

    .venv/bin/python benchmarks/bench_registration.py [--scans 8] [--methods small_gicp,open3d]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from meshes import MESHES, SCANS  # noqa: E402

from casl_core.errors import CaslError  # noqa: E402
from casl_core.geometry import registration as reg  # noqa: E402
from casl_core.geometry.surface import TriangleMesh, mesh_index, signed_mesh_distance, triangle_mesh  # noqa: E402
from casl_core.io import read_scan  # noqa: E402
from casl_core.synth.parts import PART_KINDS, make_part, part_mesh  # noqa: E402
from casl_core.synth.views import random_direction, random_pose, resample, visible_side  # noqa: E402

CATEGORIES = ("bunny", "fandisk", "rocker_arm", *PART_KINDS)


def category_data(name: str, points: int):
    """(reference scan, test source scan, exact mesh) of a category."""
    if name in PART_KINDS:
        mesh = part_mesh(name, 0)
        return (
            make_part(name, seed=0, n_points=points),
            make_part(name, seed=0, n_points=int(1.5 * points)),
            TriangleMesh(mesh.triangles, mesh.normals),
        )
    path = SCANS / MESHES[name]
    verts = read_scan(path)
    return (
        read_scan(path, surface_samples=points, seed=0),
        read_scan(path, surface_samples=int(1.5 * points), seed=1),
        triangle_mesh(verts.points, verts.metadata.faces),
    )


def align_small_gicp(ref_prepared, posed_points):
    scan = reg.prepare_cloud(posed_points, "scan")
    return reg.align(scan, ref_prepared).transform


def open3d_aligner(ref_points: np.ndarray, diag: float):
    """An aligner by open3d: FPFH features, RANSAC on feature matches, point-to-plane ICP."""
    import open3d as o3d

    o3d.utility.set_verbosity_level(o3d.utility.VerbosityLevel.Error)
    pipe = o3d.pipelines.registration
    voxel = diag / 40.0

    def prep(pts: np.ndarray):
        cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
        down = cloud.voxel_down_sample(voxel)
        for c in (cloud, down):
            c.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=2.5 * voxel, max_nn=30))
        feat = pipe.compute_fpfh_feature(down, o3d.geometry.KDTreeSearchParamHybrid(radius=5 * voxel, max_nn=100))
        return cloud, down, feat

    ref_full, ref_down, ref_feat = prep(ref_points)

    def run(posed: np.ndarray) -> np.ndarray:
        full, down, feat = prep(posed)
        coarse = pipe.registration_ransac_based_on_feature_matching(
            down,
            ref_down,
            feat,
            ref_feat,
            True,
            1.5 * voxel,
            pipe.TransformationEstimationPointToPoint(False),
            3,
            [pipe.CorrespondenceCheckerBasedOnEdgeLength(0.9), pipe.CorrespondenceCheckerBasedOnDistance(1.5 * voxel)],
            pipe.RANSACConvergenceCriteria(100000, 0.999),
        )
        fine = pipe.registration_icp(
            full, ref_full, voxel, coarse.transformation, pipe.TransformationEstimationPointToPlane()
        )
        fine = pipe.registration_icp(
            full, ref_full, 0.25 * voxel, fine.transformation, pipe.TransformationEstimationPointToPlane()
        )
        return np.asarray(fine.transformation)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scans", type=int, default=8, help="test scans per category (default 8)")
    parser.add_argument("--points", type=int, default=20000, help="points of the reference sample")
    parser.add_argument("--methods", default="small_gicp,open3d")
    parser.add_argument("--categories", default=",".join(CATEGORIES))
    args = parser.parse_args()
    methods = args.methods.split(",")
    totals = {m: [0.0, 0.0, 0.0] for m in methods}
    print("category        method      aligned  median RMSE/spacing  s/scan")
    for name in args.categories.split(","):
        ref_scan, source, mesh = category_data(name, args.points)
        index = mesh_index(mesh)
        prepared = reg.prepare_cloud(ref_scan.points, name, normals=ref_scan.normals)
        aligners = {
            "small_gicp": lambda p, prepared=prepared: align_small_gicp(prepared, p),
            "open3d": open3d_aligner(ref_scan.points_f64(), prepared.diag) if "open3d" in methods else None,
        }
        for method in methods:
            ratios, seconds = [], 0.0
            for s in range(args.scans):
                rng = np.random.default_rng([s, 99])
                view = resample(visible_side(source, random_direction(rng)), 0.6, rng)
                posed = random_pose(view, rng).scan.points_f64()
                spacing = reg.point_spacing(posed)
                t0 = time.perf_counter()
                try:
                    t = aligners[method](posed)
                except CaslError:
                    t = np.eye(4)
                seconds += time.perf_counter() - t0
                moved = posed @ t[:3, :3].T + t[:3, 3]
                rmse = float(np.sqrt(np.mean(signed_mesh_distance(moved, index) ** 2)))
                ratios.append(rmse / spacing)
            ok = int(np.sum(np.asarray(ratios) <= 2.0))
            totals[method][0] += ok
            totals[method][1] += args.scans
            totals[method][2] += seconds
            print(
                f"{name:15s} {method:11s} {ok:3d}/{args.scans:<3d} "
                f"{np.median(ratios):12.3f} {seconds / args.scans:14.2f}"
            )
            sys.stdout.flush()
    for m, (ok, n, sec) in totals.items():
        print(f"all             {m:11s} {int(ok):3d}/{int(n):<3d} ({100 * ok / n:.0f} %)  {sec / n:.2f} s/scan")


if __name__ == "__main__":
    main()
