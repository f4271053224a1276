"""Does a fine-tuned CASL model beat the curvature baseline on real scans with defects?

For each category (one real shared mesh), "scans" are area-weighted surface samples of
``--points`` points with different seeds. Held-out scans use seeds from 1000 on and go to
the defect synthesiser (``make_test_set``, the code behind ``casl synth``), which writes a
Real3D-AD-layout test set: copies of the held-out scans as a second scan of the part
(a random 90 % of the points, Gaussian noise of 5e-4 of the bounding-box diagonal),
``--per-kind`` of each of the six defect kinds and as many good ones. Training scans use
seeds ``0 .. n_train - 1`` and, so that training and test scans come from the same
"scanner", get the same resampling and noise (``--clean-train``: plain surface samples);
they are written as xyz PCD files like Real3D-AD's training prototypes. No test scan is
made from a training scan.

Then it runs the real commands, exactly as a user would:

    casl finetune --train TRAIN --out MODEL --config small --seed 0
    casl eval --root TEST --method casl --checkpoint MODEL --out casl.json
    casl eval --root TEST --method curvature --out curvature.json

and prints object / point AUROC and AUPR of both, the differences, and the fine-tune wall
time against the 10-minute target, then per defect kind the object AUROC (its scans against
the good ones), the point AUROC and the point AUPR (inside its scans). Every seed is fixed.

Options after ``--`` go to ``casl finetune`` unchanged (e.g. ``-- --val-fraction 0`` or
``-- --scale-jitter 0.1 --epochs 50``). ``--tta N`` also scores the test set with
``casl eval --tta N`` (test-time augmentation) with the same model, and reports both.

    .venv/bin/python benchmarks/bench_casl_vs_curvature.py [--categories rocker_arm] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402 - after the repository is put on sys.path
from meshes import MESHES, SCANS  # noqa: E402 - after the repository is put on sys.path

from casl_core.datasets.pointgt import read_gt  # noqa: E402 - after the repository is put on sys.path
from casl_core.datasets.write import write_train_scan  # noqa: E402 - after the repository is put on sys.path
from casl_core.io import read_scan  # noqa: E402 - after the repository is put on sys.path
from casl_core.metrics import aupr, auroc  # noqa: E402 - after the repository is put on sys.path
from casl_core.synth.parts import PART_KINDS, make_part  # noqa: E402 - after the repository is put on sys.path
from casl_core.synth.testset import jittered_copy, make_test_set  # noqa: E402 - after the repository is put on sys.path

CATEGORIES = {name: MESHES[name] for name in ("rocker_arm", "fandisk", "bunny")}
TARGET_SECONDS = 600.0
TARGET_MARGIN = 0.15
HELD_OUT_SEED = 1000


@dataclass(frozen=True)
class Metrics:
    """Mean metrics of one ``casl eval`` run."""

    object_auroc: float
    point_auroc: float
    object_aupr: float
    point_aupr: float


@dataclass(frozen=True)
class CategoryRun:
    """Everything measured for one category."""

    category: str
    finetune_s: float
    casl: Metrics
    curvature: Metrics
    init: str
    kinds: dict[str, dict[str, tuple[float, float, float]]]
    eval_s: dict[str, float]
    extra: dict[str, Metrics]


def casl(*args: str, log: Path | None = None) -> float:
    """Run ``python -m casl_core.cli ARGS``; returns the wall time; raises on failure."""
    cmd = [sys.executable, "-m", "casl_core.cli", "--quiet", *args]
    print("$ casl " + " ".join(args), flush=True)
    t0 = time.perf_counter()
    with open(log or os.devnull, "w") as sink:
        proc = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        sink.write(proc.stdout)
    wall = time.perf_counter() - t0
    tail = "\n".join(proc.stdout.strip().splitlines()[-3:])
    print(f"  ({wall:.1f} s) {tail}", flush=True)
    if proc.returncode != 0:
        raise SystemExit(f"casl {' '.join(args)} failed with status {proc.returncode}:\n{proc.stdout}")
    return wall


def sample_scan(category: str, points: int, seed: int):
    """One scan of a category: a surface sample of its shared mesh, or a procedural part."""
    if category in PART_KINDS:
        return make_part(category, seed=seed, n_points=points)
    return read_scan(SCANS / CATEGORIES[category], surface_samples=points, seed=seed)


def build_data(work: Path, category: str, args: argparse.Namespace) -> tuple[Path, Path]:
    """Write the training scans and the synthesised test set; returns (train folder, test root)."""
    train_root = work / "train"
    for s in range(args.n_train):
        scan = sample_scan(category, args.points, s)
        if not args.clean_train:
            # the synthesiser's own "second scan of the part", so train and test share the noise
            scan = jittered_copy(scan, np.random.default_rng([args.seed, 77, s]))
        write_train_scan(train_root, "real3d", category, s, scan)
    held_out = [sample_scan(category, args.points, HELD_OUT_SEED + i) for i in range(args.n_held_out)]
    test_root = make_test_set(
        held_out, work / "test", layout="real3d", category=category, per_kind=args.per_kind, seed=args.seed
    )
    return train_root / category, test_root


def read_metrics(path: Path) -> Metrics:
    mean = json.loads(path.read_text())["mean"]
    return Metrics(mean["object_auroc"], mean["point_auroc"], mean["object_aupr"], mean["point_aupr"])


def run_category(work: Path, category: str, args: argparse.Namespace) -> CategoryRun:
    train, test = build_data(work, category, args)
    model = work / "model.safetensors"
    ft = ["finetune", "--train", str(train), "--out", str(model), "--config", "small", "--seed", str(args.seed)]
    if args.init:
        ft += ["--init", args.init]
    ft += args.finetune_args
    wall = casl(*ft, log=work / "finetune.log")
    common = ["--root", str(test), "--device", "cpu"]
    methods = {"casl": ["--checkpoint", str(model)], "curvature": []}
    if args.tta > 1:
        methods[f"casl_tta{args.tta}"] = ["--checkpoint", str(model), "--tta", str(args.tta)]
    eval_s = {}
    for name, extra in methods.items():
        method = "curvature" if name == "curvature" else "casl"
        out = ["--out", str(work / f"{name}.json"), "--scores-dir", str(work / f"scores_{name}")]
        eval_s[name] = casl("eval", *common, "--method", method, *extra, *out)
    init = json.loads(model.with_suffix(".json").read_text())["training"].get("init")
    kinds = {name: per_kind(test / category, work / f"scores_{name}" / category) for name in methods}
    runs = {name: read_metrics(work / f"{name}.json") for name in methods}
    return CategoryRun(
        category, wall, runs.pop("casl"), runs.pop("curvature"), init or "none (from scratch)", kinds, eval_s, runs
    )


def per_kind(test: Path, scores: Path) -> dict[str, tuple[float, float, float]]:
    """Per defect kind: object AUROC of its scans against the good ones, point AUROC and AUPR inside them."""
    objects: dict[str, float] = {}
    for line in (scores / "object_scores.csv").read_text().splitlines()[1:]:
        name, value = line.rsplit(",", 1)
        objects[Path(name).stem] = float(value)
    good = [v for stem, v in objects.items() if stem.endswith("_good")]
    out = {}
    for kind in sorted({stem.split("_", 1)[1] for stem in objects} - {"good"}):
        stems = [stem for stem in objects if stem.split("_", 1)[1] == kind]
        obj = auroc(np.r_[np.zeros(len(good)), np.ones(len(stems))], np.r_[good, [objects[t] for t in stems]])
        labels = np.concatenate([read_gt(test / "gt" / f"{t}.txt").labels for t in stems])
        points = np.concatenate([np.load(scores / f"{t}.npy") for t in stems])
        out[kind] = (float(obj), float(auroc(labels, points)), float(aupr(labels, points)))
    return out


def report(runs: list[CategoryRun], args: argparse.Namespace) -> None:
    print(
        f"\n{args.n_train} training scans x {args.points:,} points per category; test: {args.n_held_out} "
        f"held-out scans, {args.per_kind} per defect kind x 6 kinds + as many good; seed {args.seed}; training "
        f"scans {'clean' if args.clean_train else 'resampled and noisy like the test scans'}"
    )
    print(
        f"{'category':<12}{'method':<12}{'obj AUROC':>10}{'pt AUROC':>10}{'obj AUPR':>10}{'pt AUPR':>10}"
        f"{'finetune s':>12}"
    )
    for r in runs:
        for name, m in (("casl", r.casl), ("curvature", r.curvature)):
            wall = f"{r.finetune_s:>12.1f}" if name == "casl" else ""
            print(
                f"{r.category:<12}{name:<12}{m.object_auroc:>10.3f}{m.point_auroc:>10.3f}{m.object_aupr:>10.3f}"
                f"{m.point_aupr:>10.3f}{wall}"
            )
        d_obj = r.casl.object_auroc - r.curvature.object_auroc
        d_pt = r.casl.point_auroc - r.curvature.point_auroc
        met = d_obj >= TARGET_MARGIN and d_pt >= TARGET_MARGIN and r.finetune_s <= TARGET_SECONDS
        print(
            f"{r.category:<12}{'difference':<12}{d_obj:>+10.3f}{d_pt:>+10.3f}"
            f"{r.casl.object_aupr - r.curvature.object_aupr:>+10.3f}"
            f"{r.casl.point_aupr - r.curvature.point_aupr:>+10.3f}"
            f"{r.finetune_s / TARGET_SECONDS:>11.2f}x"
        )
        print(
            f"{'':<12}target (+{TARGET_MARGIN} in both AUROCs, fine-tune <= {TARGET_SECONDS:.0f} s): "
            f"{'met' if met else 'NOT met'}; init: {r.init}"
        )
        for name, m in r.extra.items():
            print(
                f"{r.category:<12}{name:<12}{m.object_auroc:>10.3f}{m.point_auroc:>10.3f}{m.object_aupr:>10.3f}"
                f"{m.point_aupr:>10.3f}"
            )
        print(f"{'':<12}eval wall: " + ", ".join(f"{k} {v:.1f} s" for k, v in r.eval_s.items()))
        names = [n for n in r.kinds if n != "curvature"] + ["curvature"]
        print(f"{'':<12}per defect kind, object AUROC / point AUROC / point AUPR:")
        print("| kind | " + " | ".join(names) + " |")
        print("|---|" + "---|" * len(names))
        for kind in r.kinds["casl"]:
            cells = [" / ".join(f"{v:.2f}" for v in r.kinds[n][kind]) for n in names]
            print(f"| {kind} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--categories",
        default="rocker_arm",
        help=f"comma-separated, from {', '.join(CATEGORIES)} (shared meshes) or "
        f"{', '.join(PART_KINDS)} (procedural parts, for choosing settings away from the meshes)",
    )
    parser.add_argument("--n-train", type=int, default=8, help="training scans per category (default: 8)")
    parser.add_argument("--n-held-out", type=int, default=4, help="held-out scans the test set is made from")
    parser.add_argument("--per-kind", type=int, default=4, help="defective test scans per defect kind (default: 4)")
    parser.add_argument("--points", type=int, default=15_000, help="points per scan (default: 15000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--clean-train", action="store_true", help="training scans without the test scans' resampling and noise"
    )
    parser.add_argument(
        "--init",
        help="pretrained checkpoint (default: what `casl finetune` picks: the bundled "
        "casl_assets/default_small.safetensors when installed, else from scratch)",
    )
    parser.add_argument(
        "--tta", type=int, default=1, help="also score with `casl eval --tta N` (test-time augmentation; default 1: no)"
    )
    parser.add_argument("--work", help="keep the data, models and logs in this folder (default: a temporary one)")
    parser.add_argument(
        "finetune_args",
        nargs="*",
        help="extra `casl finetune` options after `--` (exploration only; the target is measured with the defaults)",
    )
    args = parser.parse_args()
    cats = [c.strip() for c in args.categories.split(",") if c.strip()]
    unknown = [c for c in cats if c not in CATEGORIES and c not in PART_KINDS]
    if unknown:
        raise SystemExit(f"unknown categories {unknown}; choose from {list(CATEGORIES) + list(PART_KINDS)}")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(args.work) if args.work else Path(tmp)
        for cat in cats:
            work = base / cat
            work.mkdir(parents=True, exist_ok=True)
            runs.append(run_category(work, cat, args))
    report(runs, args)


if __name__ == "__main__":
    main()
