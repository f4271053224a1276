"""Which curvature fusion makes the best training-free baseline?

Builds a Real3D-AD-layout test set from real shared scans (one category per scan; test
scans are resampled copies, some with a synthesised bulge, dent, crack, hole, broken edge
or scratch), computes multi-scale curvature once per test scan, and reports object and
point AUROC of each fusion (and of exact k-NN curvature at k = 16) per category and as the
unweighted mean.

    .venv/bin/python benchmarks/bench_baseline.py [--per-kind 2] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from meshes import MESHES, SCANS  # noqa: E402 - after the repository is put on sys.path

from casl_core import metrics  # noqa: E402 - after the repository is put on sys.path
from casl_core.datasets import open_dataset  # noqa: E402 - after the repository is put on sys.path
from casl_core.geometry import add_curvature  # noqa: E402 - after the repository is put on sys.path
from casl_core.io import read_scan  # noqa: E402 - after the repository is put on sys.path
from casl_core.scorers.curvature import FUSIONS, fuse_curvature  # noqa: E402 - after the repository is put on sys.path
from casl_core.scorers.pooling import object_score  # noqa: E402 - after the repository is put on sys.path
from casl_core.synth.testset import make_test_set  # noqa: E402 - after the repository is put on sys.path

CATEGORIES = MESHES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-kind", type=int, default=2, help="defective test scans per defect kind")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    methods = [*FUSIONS, "exact_k16"]
    per_method: dict[str, dict[str, tuple[float, float]]] = {m: {} for m in methods}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for cat, rel in CATEGORIES.items():
            make_test_set(
                [read_scan(SCANS / rel)], tmp, layout="real3d", category=cat, per_kind=args.per_kind, seed=args.seed
            )
        dataset = open_dataset(tmp)
        for cat in dataset.categories:
            scored = {m: ([], [], [], []) for m in methods}
            for sample in dataset.category(cat).test:
                scan = sample.load()
                multi = add_curvature(scan)
                exact = add_curvature(scan, ks=[16])
                for m in methods:
                    s = exact.fields["curvature_k16"] if m == "exact_k16" else fuse_curvature(multi, m)
                    obj_l, obj_s, pt_l, pt_s = scored[m]
                    obj_l.append(int(sample.is_anomalous))
                    obj_s.append(object_score(s))
                    pt_l.append(scan.labels)
                    pt_s.append(s)
            for m, (obj_l, obj_s, pt_l, pt_s) in scored.items():
                per_method[m][cat] = (
                    metrics.auroc(obj_l, obj_s),
                    metrics.auroc(np.concatenate(pt_l), np.concatenate(pt_s)),
                )
    cats = list(per_method[methods[0]])
    print(
        f"test set: {len(cats)} categories from real scans, {args.per_kind} defective scans per kind, "
        f"seed {args.seed}; {time.perf_counter() - t0:.0f} s"
    )
    print(f"{'method':<12}" + "".join(f"{c:>22}" for c in cats) + f"{'mean':>16}")
    print(f"{'':<12}" + "".join(f"{'obj / point':>22}" for _ in cats) + f"{'obj / point':>16}")
    for m in methods:
        vals = [per_method[m][c] for c in cats]
        row = "".join(f"{o:>14.3f} / {p:.3f}" for o, p in vals)
        mo, mp = np.mean([v[0] for v in vals]), np.mean([v[1] for v in vals])
        print(f"{m:<12}{row}{mo:>8.3f} / {mp:.3f}")


if __name__ == "__main__":
    main()
