"""Inspection benchmark: every defect kind, three variants of how test scans are taken.

Builds (from ``--seed``, into ``--out``, default ``benchmarks/out/inspection``) one
Real3D-AD-layout data set per variant, five categories each from real shapes (shared
meshes ``bunny`` and ``fandisk``, procedural ``flange``, ``l_bracket``, ``hex_nut``), 4
training scans per category, and test scans carrying each of the six defect kinds
(``--per-kind`` each) plus ``--n-good`` good scans:

``base``
    test scans are other surface samples of the part, resampled (90 %) with scanner
    noise, in a slightly changed pose (a few degrees, a few per cent of the size).
``partial``
    test scans are one-sided views (hidden-point removal from a random direction) at 60 %
    of the training density, in any orientation, as Real3D-AD's are.
``variation``
    as ``partial``, and every part, training scans included, differs slightly from the
    next (anisotropic scale within 1.5 %, a smooth bend of 0.5 % of the size).

Then for each ``--methods`` entry it runs ``casl eval --root VARIANT --method M`` (extra
options after ``--``, e.g. ``-- --checkpoint model.safetensors``) and prints per defect
kind, as the mean over categories: object AUROC (that kind's scans against the good
ones), point AUROC and point AUPR (over that kind's and the good scans' points), and the
share of that kind's scans whose top region is the defect (the largest connected region
of points above the scan's 99th score percentile holds a defect point).

    .venv/bin/python benchmarks/bench_inspection.py --methods curvature,deviation [--variants base,partial]

``casl`` and ``fused`` need a model per category: unless ``-- --checkpoint DIR`` is given,
each category is fine-tuned once (``casl finetune`` at its defaults) on its training scans,
into ``<out>/models/``.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from meshes import MESHES, SCANS  # noqa: E402

from casl_core import metrics  # noqa: E402
from casl_core.datasets.pointgt import read_gt  # noqa: E402
from casl_core.datasets.write import write_real3d_sample, write_train_scan  # noqa: E402
from casl_core.inspection.regions import find_regions  # noqa: E402
from casl_core.io import read_scan  # noqa: E402
from casl_core.scan import Scan, ScanMetadata  # noqa: E402
from casl_core.synth.defects import DefectKind, synthesize_defect  # noqa: E402
from casl_core.synth.parts import part_mesh, sample_mesh  # noqa: E402
from casl_core.synth.testset import jittered_copy  # noqa: E402
from casl_core.synth.views import (  # noqa: E402
    apply_transform,
    production_variation,
    random_direction,
    random_pose,
    resample,
    visible_side,
)

CATEGORIES = ("bunny", "fandisk", "flange", "l_bracket", "hex_nut")
VARIANTS = ("base", "partial", "variation")
KINDS = tuple(k.value for k in DefectKind)


def surface_sample(category: str, n: int, seed: int) -> Scan:
    """An independent surface sample of the category's one part (same shape, other points)."""
    if category in MESHES:
        return read_scan(SCANS / MESHES[category], surface_samples=n, seed=seed)
    rng = np.random.default_rng([seed, 5])
    pts, normals = sample_mesh(part_mesh(category, 0), n, rng)
    diag = float(np.linalg.norm(pts.max(axis=0) - pts.min(axis=0)))
    pts = pts + rng.normal(scale=0.001 * diag, size=pts.shape)
    return Scan(points=pts, normals=normals, metadata=ScanMetadata(format="procedural"))


def small_pose(scan: Scan, rng: np.random.Generator) -> Scan:
    """A pose change of a few degrees and a few per cent of the size."""
    angle = np.deg2rad(rng.uniform(2.0, 6.0))
    axis = random_direction(rng)
    from scipy.spatial.transform import Rotation

    t = np.eye(4)
    t[:3, :3] = Rotation.from_rotvec(angle * axis).as_matrix()
    lo, hi = scan.bounds()
    centre = 0.5 * (lo + hi)
    t[:3, 3] = centre - t[:3, :3] @ centre + rng.normal(scale=0.02 * np.linalg.norm(hi - lo), size=3)
    return apply_transform(scan, t)


def test_scan(variant: str, category: str, n: int, seed: int, kind: str | None) -> Scan:
    """One test scan of a variant, with a defect of ``kind`` (``None``: good), labelled."""
    rng = np.random.default_rng([seed, 11])
    if variant == "base":
        scan = jittered_copy(surface_sample(category, n, 1000 + seed), rng)
    else:
        scan = surface_sample(category, int(n / 0.6 * 2.2), 1000 + seed)
        if variant == "variation":
            scan = production_variation(scan, rng)
        scan = resample(visible_side(scan, random_direction(rng)), 0.6 / 1.1, rng)
    if kind is None:
        scan = Scan(points=scan.points, normals=scan.normals, labels=np.zeros(len(scan), np.uint8))
    else:
        scan = synthesize_defect(scan, kind, rng)
    return small_pose(scan, rng) if variant == "base" else random_pose(scan, rng).scan


def build(root: Path, variant: str, args: argparse.Namespace) -> None:
    """Write one variant's data set (skipped when its marker file exists)."""
    marker = root / "BUILT.json"
    if marker.exists() and json.loads(marker.read_text()) == vars_key(args):
        return
    for c_index, category in enumerate(CATEGORIES):
        for i in range(4):
            scan = jittered_copy(surface_sample(category, args.points, i), np.random.default_rng([args.seed, 77, i]))
            if variant == "variation":
                scan = production_variation(scan, np.random.default_rng([args.seed, 78, i]))
            write_train_scan(root, "real3d", category, i, scan)
        plan = [None] * args.n_good + [k for k in KINDS for _ in range(args.per_kind)]
        for number, kind in enumerate(plan):
            seed = args.seed * 100000 + c_index * 1000 + number
            sample = test_scan(variant, category, args.points, seed, kind)
            write_real3d_sample(root, category, number, kind or "good", sample)
    marker.write_text(json.dumps(vars_key(args)))


def vars_key(args: argparse.Namespace) -> dict:
    return {"seed": args.seed, "points": args.points, "per_kind": args.per_kind, "n_good": args.n_good}


#: Methods that need a fine-tuned CASL model per category.
MODEL_METHODS = ("casl", "fused")


def category_models(root: Path, variant: str, out: Path) -> Path:
    """A folder of ``<category>.safetensors``, each fine-tuned (``casl finetune``, default
    settings, seed 0) on that category's training scans of ``root`` unless already there.
    ``base`` and ``partial`` share their training scans, so they share the models.
    """
    models = out / "models" / ("variation" if variant == "variation" else "base")
    models.mkdir(parents=True, exist_ok=True)
    for category in CATEGORIES:
        target = models / f"{category}.safetensors"
        if target.exists():
            continue
        cmd = [sys.executable, "-m", "casl_core.cli", "--quiet", "finetune", "--train", str(root / category / "train")]
        cmd += ["--out", str(target), "--seed", "0"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
        print(f"fine-tuned {variant}/{category} in {time.perf_counter() - t0:.0f} s", flush=True)
    return models


def run_eval(root: Path, method: str, extra: list[str], out: Path) -> float:
    """``casl eval`` on a variant; returns its wall time."""
    cmd = [sys.executable, "-m", "casl_core.cli", "--quiet", "eval", "--root", str(root), "--method", method]
    cmd += ["--out", str(out / "results.json"), "--scores-dir", str(out / "scores"), *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    return time.perf_counter() - t0


def per_kind(root: Path, scores_dir: Path) -> dict[str, dict[str, float]]:
    """Per defect kind, the mean over categories of the four figures (see the module docstring)."""
    table: dict[str, dict[str, list[float]]] = {k: {"obj": [], "pt": [], "aupr": [], "top": []} for k in KINDS}
    for category in CATEGORIES:
        with open(scores_dir / category / "object_scores.csv") as fh:
            objects = {row["file"]: float(row["object_score"]) for row in csv.DictReader(fh)}
        goods = [name for name in objects if name.endswith("_good")]
        good_pts = [np.load(scores_dir / category / f"{g}.npy") for g in goods]
        for kind in KINDS:
            names = [n for n in objects if n.endswith(f"_{kind}")]
            if not names:
                continue
            labels = [read_gt(root / category / "gt" / f"{n}.txt") for n in names]
            scores = [np.load(scores_dir / category / f"{n}.npy") for n in names]
            obj_l = [1] * len(names) + [0] * len(goods)
            obj_s = [objects[n] for n in names] + [objects[g] for g in goods]
            table[kind]["obj"].append(metrics.auroc(np.array(obj_l), np.array(obj_s)))
            pl = np.concatenate([s.labels for s in labels] + [np.zeros(len(g), np.uint8) for g in good_pts])
            ps = np.concatenate(scores + good_pts)
            table[kind]["pt"].append(metrics.auroc(pl, ps))
            table[kind]["aupr"].append(metrics.aupr(pl, ps))
            for scan, s in zip(labels, scores):
                found = find_regions(scan.points, s, float(np.quantile(s, 0.99)), min_points=3)
                top = found.regions[0].indices if found.regions else np.zeros(0, np.int64)
                table[kind]["top"].append(float(scan.labels[top].any()))
    return {k: {m: float(np.mean(v)) if v else float("nan") for m, v in row.items()} for k, row in table.items()}


def print_table(variant: str, method: str, rows: dict[str, dict[str, float]], seconds: float) -> None:
    print(f"\n{variant} / {method}  ({seconds:.0f} s)")
    print("| defect kind | object AUROC | point AUROC | point AUPR | top region is the defect |")
    print("|---|---|---|---|---|")
    for kind, r in rows.items():
        print(f"| {kind} | {r['obj']:.3f} | {r['pt']:.3f} | {r['aupr']:.3f} | {r['top']:.0%} |")
    mean = {m: np.mean([r[m] for r in rows.values()]) for m in ("obj", "pt", "aupr", "top")}
    print(f"| mean | {mean['obj']:.3f} | {mean['pt']:.3f} | {mean['aupr']:.3f} | {mean['top']:.0%} |")
    sys.stdout.flush()


def print_verdicts(results: Path) -> None:
    """The calibrated verdicts ``casl eval`` gave (scorer of record, calibrated on the train split)."""
    with open(results) as fh:
        v = json.load(fh).get("verdicts")
    if not v:
        return
    good, bad = max(1, v["n_good"]), max(1, v["n_defective"])
    print(
        f"verdicts: good scans FAIL {v['n_good_fail']}/{v['n_good']} ({v['n_good_fail'] / good:.0%}), "
        f"defective scans FAIL {v['n_defective'] - v['n_defective_pass']}/{v['n_defective']} "
        f"({1 - v['n_defective_pass'] / bad:.0%}), out of distribution {v['n_out_of_distribution']}, "
        f"top region on the defect {v['top_region_on_defect']:.0%}"
    )


def main() -> None:
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="curvature,deviation")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "inspection")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--points", type=int, default=8000, help="points of a training scan (default 8000)")
    parser.add_argument("--per-kind", type=int, default=1, help="test scans per defect kind and category")
    parser.add_argument("--n-good", type=int, default=3, help="good test scans per category")
    args = parser.parse_args(argv)
    for variant in args.variants.split(","):
        root = args.out / variant
        build(root, variant, args)
        for method in args.methods.split(","):
            out = args.out / "runs" / variant / method
            options = list(extra)
            if method in MODEL_METHODS and "--checkpoint" not in options:
                options += ["--checkpoint", str(category_models(root, variant, args.out))]
            seconds = run_eval(root, method, options, out)
            print_table(variant, method, per_kind(root, out / "scores"), seconds)
            print_verdicts(out / "results.json")


if __name__ == "__main__":
    main()
