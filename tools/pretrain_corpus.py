"""Write a varied corpus of normal scans for pretraining CASL, and print the `casl pretrain` command.

The bundled `small` model was pretrained on 8 procedural parts (README, "The CASL model").
This script makes a larger and more varied corpus that anyone can regenerate from the shared
meshes and the procedural part families, with fixed seeds:

- every mesh of the shared scans listed in :data:`MESHES` (area-weighted surface samples),
  and every procedural part family (``casl_core.synth.parts.PART_KINDS``, ``--part-seeds``
  members each, every member with its own dimensions);
- each at several point densities (``--densities``, default 5,000, 15,000 and 40,000 points);
- each whole, and as ``--views`` one-sided partial views from seeded random directions
  (hidden-point removal: what a scanner on that side sees, without needing normals).

Every file is a binary PLY with normals where the source has them, named
``<source>_<density>_<view>.ply`` under ``OUT/<source>/``. The script writes nothing else, and
ends by printing the pretraining command and an estimate of its cost:

    .venv/bin/python tools/pretrain_corpus.py --out corpus
    casl pretrain --data corpus --out pretrained_small.safetensors --config small --epochs 40 --seed 0

Pretraining cost grows with the number of files: each epoch runs one step per ``batch_size``
(2) files. Time one epoch first (``casl pretrain ... --epochs 1``) and multiply.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from casl_core.io import read_scan, write_scan  # noqa: E402
from casl_core.scan import Scan  # noqa: E402
from casl_core.synth.parts import PART_KINDS, make_part  # noqa: E402

#: Shared meshes used (paths under the shared scans folder); every mesh there that is a part
#: or an object, not a terrain or a range map.
MESHES = (
    "common-3d-test-models/beetle.obj",
    "common-3d-test-models/fandisk.obj",
    "common-3d-test-models/igea.ply",
    "common-3d-test-models/nefertiti.obj",
    "common-3d-test-models/rocker-arm.obj",
    "common-3d-test-models/stanford-bunny.obj",
    "pymeshlab-samples/airplane.obj",
    "pymeshlab-samples/bone.ply",
    "pymeshlab-samples/cow.obj",
)
DEFAULT_SCANS = REPO.parent / "shared" / "data" / "scans"


def visible_from(points: np.ndarray, direction: np.ndarray, exponent: float = 2.5) -> np.ndarray:
    """Indices of the points visible from far along ``direction`` (hidden-point removal).

    The points are seen from ``centre + 3 * radius * direction``; each is mirrored through a
    sphere around that viewpoint (spherical flip, radius ``10 ** exponent`` times the farthest
    point's distance), and the points on the convex hull of the mirrored cloud and the
    viewpoint are the visible ones.
    """
    from scipy.spatial import ConvexHull

    pts = np.asarray(points, dtype=np.float64)
    centre = pts.mean(axis=0)
    radius = float(np.linalg.norm(pts - centre, axis=1).max())
    eye = centre + 3.0 * radius * direction / np.linalg.norm(direction)
    rel = pts - eye
    dist = np.maximum(np.linalg.norm(rel, axis=1, keepdims=True), 1e-12)
    big = dist.max() * 10.0**exponent
    flipped = rel + 2.0 * (big - dist) * rel / dist
    hull = ConvexHull(np.vstack([flipped, np.zeros((1, 3))]))
    return np.sort(hull.vertices[hull.vertices < len(pts)])


def source_scan(name: str, points: int, seed: int, scans: Path) -> Scan:
    """``points`` surface samples of a shared mesh (``name`` a path) or a procedural part (``kind:seed``)."""
    if ":" in name:
        kind, member = name.split(":")
        return make_part(kind, seed=int(member), n_points=points)
    return read_scan(scans / name, surface_samples=points, seed=seed)


def sources(part_seeds: int) -> list[str]:
    """Every source of the corpus: the shared meshes, then ``part_seeds`` members of each part family."""
    return list(MESHES) + [f"{kind}:{s}" for kind in PART_KINDS for s in range(part_seeds)]


def write_corpus(out: Path, scans: Path, densities: list[int], views: int, part_seeds: int, seed: int) -> int:
    """Write the corpus under ``out``; returns the number of files written."""
    written = 0
    for index, name in enumerate(sources(part_seeds)):
        label = name.replace(":", "_") if ":" in name else Path(name).stem
        folder = out / label
        folder.mkdir(parents=True, exist_ok=True)
        for density in densities:
            scan = source_scan(name, density, seed + density, scans)
            write_scan(scan, folder / f"{label}_{density}_full.ply")
            rng = np.random.default_rng([seed, index, density])
            for v in range(views):
                keep = visible_from(scan.points, rng.standard_normal(3))
                write_scan(scan.subset(keep), folder / f"{label}_{density}_view{v}.ply")
            written += 1 + views
        print(f"{label}: {len(densities) * (1 + views)} files", flush=True)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder to write the corpus into")
    parser.add_argument("--scans", default=str(DEFAULT_SCANS), help="the shared scans folder")
    parser.add_argument("--densities", default="5000,15000,40000", help="points per scan, comma-separated")
    parser.add_argument("--views", type=int, default=2, help="one-sided partial views per scan (default: 2)")
    parser.add_argument("--part-seeds", type=int, default=4, help="members of each part family (default: 4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=40, help="epochs for the printed command (default: 40)")
    args = parser.parse_args()
    densities = [int(d) for d in args.densities.split(",") if d.strip()]
    files = write_corpus(Path(args.out), Path(args.scans), densities, args.views, args.part_seeds, args.seed)
    print(f"\n{files} files in {args.out}; pretrain with:")
    print(
        f"casl pretrain --data {args.out} --out pretrained_small.safetensors --config small "
        f"--epochs {args.epochs} --seed 0 --device cpu"
    )
    print(f"({files // 2 + files % 2} steps per epoch at batch 2; time one epoch with --epochs 1 and multiply)")


if __name__ == "__main__":
    main()
