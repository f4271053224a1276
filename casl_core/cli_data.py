"""The data verbs of ``casl``: ``parts`` (the procedural part family) and ``synth`` (defect test sets).

Both make data anyone can regenerate from a seed: the bundled model is pretrained on
``casl parts`` output, and the benchmarks build their test sets with ``casl synth``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from casl_core.errors import ConfigError


def add_data_verbs(verbs: argparse._SubParsersAction) -> None:
    """Add ``parts`` and ``synth`` to ``casl``'s sub-parsers."""
    from casl_core.synth.kinds import PART_KINDS, DefectKind

    p = verbs.add_parser(
        "parts",
        help="write scans of the procedural industrial part family",
        description="Write normal scan-like point clouds of procedural parts (hex nuts, flanges, "
        "stepped shafts, L-brackets; dimensions vary with the seed like parts of one family), "
        "as binary PLY with normals: <out>/<kind>/<kind>_<seed>.ply.",
    )
    p.add_argument("--out", required=True, help="folder to write into (created if missing)")
    p.add_argument(
        "--kinds",
        default=",".join(PART_KINDS),
        help=f"comma-separated part kinds (default: all of {', '.join(PART_KINDS)})",
    )
    p.add_argument("--count", type=int, default=8, help="scans per kind (default: 8)")
    p.add_argument("--points", type=int, default=15000, help="points per scan (default: 15000)")
    p.add_argument("--seed", type=int, default=0, help="first seed; scan i of a kind uses seed + i (default: 0)")
    p.set_defaults(func=cmd_parts)

    kinds = [k.value for k in DefectKind]
    p = verbs.add_parser(
        "synth",
        help="turn normal scans into a test set with synthesised defects",
        description="Write a data set whose test split holds resampled copies of the given normal "
        "scans, some with a synthesised defect (bulge, concavity, crack, hole, broken edge, "
        "scratch) and per-point ground truth, in the Real3D-AD layout or a plain folder layout.",
    )
    p.add_argument("scans", nargs="+", help="normal scan files of one part category")
    p.add_argument("--out", required=True, help="data-set root to write")
    p.add_argument("--category", default="part", help="category name (default: part)")
    p.add_argument("--layout", default="real3d", choices=["real3d", "folder"], help="layout (default: real3d)")
    p.add_argument("--per-kind", type=int, default=2, help="defective test scans per defect kind (default: 2)")
    p.add_argument("--good", type=int, help="normal test scans (default: as many as the defective ones)")
    p.add_argument(
        "--kinds", default=",".join(kinds), help=f"comma-separated defect kinds (default: all of {', '.join(kinds)})"
    )
    p.add_argument("--sample", type=int, metavar="N", help="for meshes: use N area-weighted surface samples")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.set_defaults(func=cmd_synth)


def _split(value: str, allowed: tuple[str, ...] | list[str], what: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if bad or not items:
        raise ConfigError(f"unknown {what} {', '.join(bad) or repr(value)}; choose from {', '.join(allowed)}")
    return items


def cmd_parts(args: argparse.Namespace) -> int:
    """``casl parts``: write procedural parts, one folder per kind; returns the exit status."""
    from casl_core.io import write_scan
    from casl_core.synth.parts import PART_KINDS, make_part

    if args.count < 1 or args.points < 100:
        raise ConfigError(f"--count must be >= 1 and --points >= 100, got {args.count} and {args.points}")
    out = Path(args.out)
    written = 0
    for kind in _split(args.kinds, PART_KINDS, "part kind"):
        folder = out / kind
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(args.count):
            seed = args.seed + i
            write_scan(make_part(kind, seed=seed, n_points=args.points), folder / f"{kind}_{seed}.ply")
            written += 1
    print(f"{out}: {written} scans of {args.points:,} points")
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    """``casl synth``: write a labelled test set of synthetic defects; returns the exit status."""
    from casl_core.io import read_scan
    from casl_core.io.guard import check_outside
    from casl_core.synth.kinds import DefectKind
    from casl_core.synth.testset import make_test_set

    kinds = _split(args.kinds, [k.value for k in DefectKind], "defect kind")
    check_outside(args.out, args.scans, "--out")
    scans = [read_scan(path, surface_samples=args.sample, seed=args.seed + i) for i, path in enumerate(args.scans)]
    root = make_test_set(
        scans,
        args.out,
        layout=args.layout,
        category=args.category,
        per_kind=args.per_kind,
        n_good=args.good,
        kinds=kinds,
        seed=args.seed,
    )
    print(f"{root}: {args.layout} test set, category {args.category}, {len(kinds) * args.per_kind} defective scans")
    return 0
