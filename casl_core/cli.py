"""The ``casl`` command: every verb is a thin wrapper around one core function.

Errors a user can cause (a bad file, a bad option) print one line, ``casl: error: ...``,
and exit with status 1; usage errors exit with status 2 (argparse); Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from casl_core import __version__
from casl_core.cli_calibrate import add_calibrate_verb
from casl_core.cli_data import add_data_verbs
from casl_core.cli_fuse import add_fuse_verb
from casl_core.cli_inspect import add_inspect_verbs
from casl_core.cli_model import add_eval_model_options, add_model_verbs
from casl_core.cli_progress import ProgressBar
from casl_core.errors import CaslError
from casl_core.methods import SCORERS, ScorerOptions, make_scorer
from casl_core.scorers.base import Scorer

EPILOG = "Run 'casl VERB --help' for the options of one verb."


def _add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device",
        default="auto",
        help="where to compute: 'auto' (a CUDA GPU when there is one, else the CPU), 'cpu', "
        "'cuda' or 'cuda:N' (default: auto)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``casl`` with one sub-parser per verb."""
    parser = argparse.ArgumentParser(
        prog="casl",
        description="CASL Inspector: find defects in 3D scans with multi-scale curvature and CASL.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"casl {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    parser.add_argument(
        "--max-memory",
        type=float,
        metavar="GB",
        help="memory budget for what an input file may ask to allocate (counts, shapes, decompressed "
        "sizes are checked against it before reading); default: $CASL_MAX_MEMORY_GB, else half the "
        "machine's memory, at most 16",
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    p = verbs.add_parser(
        "info",
        help="describe a scan file",
        description="Print a scan's format, point count, "
        "per-point fields, bounds and the points dropped for non-finite coordinates.",
    )
    p.add_argument("file", help="scan file (PLY, PCD, XYZ/TXT/CSV/ASC/PTS, NPY/NPZ, OBJ/STL/OFF, MVTec TIFF)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument(
        "--sample",
        type=int,
        metavar="N",
        help="for meshes: describe N area-weighted surface samples instead of the vertices",
    )
    p.set_defaults(func=cmd_info)

    p = verbs.add_parser(
        "curvature",
        help="compute multi-scale curvature and write it",
        description="Compute the surface variation l0/(l0+l1+l2) of every point's neighbourhood "
        "at several scales and write the scan with fields curvature_<scale> (PLY properties "
        "scalar_curvature_<scale>), curvature_flags and normals. Default: the multi-scale mode "
        "with neighbourhoods of about 16, 64 and 256 points (fields curvature_s16/s64/s256); "
        "with --k, exact k-nearest-neighbour neighbourhoods (fields curvature_k<K>).",
    )
    p.add_argument("input", help="scan file to read")
    p.add_argument(
        "-o", "--output", required=True, help="file to write; the format follows the suffix (.ply, .pcd, .csv)"
    )
    p.add_argument(
        "--k",
        type=int,
        nargs="+",
        metavar="K",
        help="exact k-NN mode with these neighbourhood sizes (each counts the point itself), e.g. --k 16 32 64",
    )
    p.add_argument("--sample", type=int, metavar="N", help="for meshes: use N area-weighted surface samples")
    p.add_argument("--ascii", action="store_true", help="write ASCII PLY/PCD instead of binary")
    _add_device(p)
    p.set_defaults(func=cmd_curvature)

    p = verbs.add_parser(
        "eval",
        help="evaluate a method on a data set with the published protocol",
        description="Score every test sample of a data set (Real3D-AD, Anomaly-ShapeNet, "
        "MVTec 3D-AD or a plain train/ + test/ folder) and print object and point AUROC per "
        "category and their unweighted mean, beside the verdicts at calibrated thresholds: how "
        "many good test scans FAIL, how many defective ones PASS, and the share of defective "
        "scans whose top region overlaps the defect. RESULTS.json also holds AUPR, point F1-max and, "
        "for MVTec, AUPRO at FPR 0.3.",
    )
    p.add_argument("--root", required=True, help="data-set root folder")
    p.add_argument(
        "--layout",
        default="auto",
        choices=["auto", "real3d", "anomaly-shapenet", "mvtec3d", "folder"],
        help="folder layout (default: detected from the root)",
    )
    p.add_argument("--categories", help="comma-separated subset of categories (default: all)")
    methods = list(SCORERS)
    p.add_argument(
        "--method",
        default=methods[0],
        choices=methods,
        help="scoring method: "
        + "; ".join(f"{e.name}: {e.description}" for e in SCORERS.values())
        + f" (default: {methods[0]})",
    )
    p.add_argument(
        "--fusion",
        default="mean",
        help="curvature baseline: how scales are combined: mean, max, finest, coarsest (default: mean)",
    )
    p.add_argument("--k", type=int, nargs="+", metavar="K", help="curvature with exact k-NN at these sizes")
    p.add_argument(
        "--reference",
        nargs="+",
        metavar="REF",
        help="with --method deviation: reference scans or CAD meshes for every category "
        "(default: each category's train scans)",
    )
    add_eval_model_options(p)
    p.add_argument(
        "--calibration",
        metavar="CAL.json",
        help="verdicts at this calibration's thresholds (casl calibrate); default: a CASL checkpoint's "
        "own, else one learnt on each category's train split",
    )
    p.add_argument("--out", required=True, help="RESULTS.json to write")
    p.add_argument(
        "--scores-dir",
        help="also write <category>/<test file stem>.npy point scores and <category>/object_scores.csv here",
    )
    _add_device(p)
    p.set_defaults(func=cmd_eval)

    p = verbs.add_parser(
        "demo",
        help="write the built-in demo part with a known defect and score it",
        description="Make the built-in demo scan (a flange with one synthesised defect), "
        "run the curvature baseline on it, write the scored scan and print what was found.",
    )
    p.add_argument(
        "--out-dir", default="casl-demo", help="folder for demo.ply and demo_scored.ply (default: ./casl-demo)"
    )
    p.add_argument("--seed", type=int, default=0, help="which demo part and defect (default: 0)")
    p.add_argument(
        "--inspect",
        action="store_true",
        help="also compare with the part's CAD model, calibrate on good flanges and report the scorer of record",
    )
    _add_device(p)
    p.set_defaults(func=cmd_demo)

    add_model_verbs(verbs)
    add_data_verbs(verbs)
    add_calibrate_verb(verbs)
    add_fuse_verb(verbs)
    add_inspect_verbs(verbs)
    return parser


def _read(path: str, sample: int | None = None):
    from casl_core.io import read_scan

    return read_scan(path, surface_samples=sample)


def scan_info(scan) -> dict:
    """The facts ``casl info`` prints, as a JSON-ready dict."""
    lo, hi = scan.bounds()
    md = scan.metadata
    return {
        "file": md.source,
        "format": md.format,
        "points": len(scan),
        "points_in_file": md.points_in_file,
        "dropped_nonfinite": md.dropped_nonfinite,
        "fields": sorted(scan.fields),
        "normals": scan.normals is not None,
        "colors": scan.colors is not None,
        "labels": scan.labels is not None,
        "anomalous_points": None if scan.labels is None else int(np.count_nonzero(scan.labels)),
        "faces": None if md.faces is None else int(len(md.faces)),
        "organized": None if md.image_shape is None else list(md.image_shape),
        "bounds": {"min": [float(v) for v in lo], "max": [float(v) for v in hi]},
        "offset": list(md.offset),
    }


def cmd_info(args: argparse.Namespace) -> int:
    """``casl info``: print a scan's format, size, fields and bounds; returns the exit status."""
    info = scan_info(_read(args.file, args.sample))
    if args.json:
        print(json.dumps(info))
        return 0
    print(f"file:      {info['file']}")
    print(f"format:    {info['format']}")
    print(
        f"points:    {info['points']:,}"
        + (
            f" ({info['dropped_nonfinite']:,} non-finite dropped of {info['points_in_file']:,})"
            if info["dropped_nonfinite"]
            else ""
        )
    )
    extras = [n for n in ("normals", "colors", "labels") if info[n]]
    print(f"has:       {', '.join(extras) if extras else 'coordinates only'}")
    print(f"fields:    {', '.join(info['fields']) if info['fields'] else '-'}")
    if info["faces"] is not None:
        print(f"faces:     {info['faces']:,}")
    if info["organized"] is not None:
        print(f"organized: {info['organized'][0]} x {info['organized'][1]}")
    lo, hi = info["bounds"]["min"], info["bounds"]["max"]
    print("bounds:    " + "  ".join(f"{a}: {low:.6g} .. {high:.6g}" for a, low, high in zip("xyz", lo, hi)))
    if info["labels"]:
        print(f"anomalous: {info['anomalous_points']:,} labelled points")
    return 0


def cmd_curvature(args: argparse.Namespace) -> int:
    """``casl curvature``: write the scan with its multi-scale curvature fields; returns the exit status."""
    from casl_core.fields import curvature_fields
    from casl_core.geometry import add_curvature
    from casl_core.io import write_scan
    from casl_core.io.guard import check_not_an_input

    check_not_an_input(args.output, [args.input], "-o/--output")
    scan = _read(args.input, args.sample)
    bar = ProgressBar(not args.quiet and sys.stderr.isatty())
    try:
        scan = add_curvature(scan, ks=args.k, device=args.device, progress=bar)
    finally:
        bar.close()
    write_scan(scan, args.output, binary=not args.ascii)
    names = curvature_fields(scan.fields)
    print(f"{args.output}: {len(scan):,} points with {', '.join(names)}")
    return 0


def eval_scorer(args: argparse.Namespace) -> Scorer:
    """The scorer ``casl eval`` runs: ``--method`` looked up in the scorer registry, built from the options.

    Raises
    ------
    ConfigError
        For an option the method needs that is missing (``--checkpoint`` for ``casl``).
    """
    options = ScorerOptions(
        checkpoint=args.checkpoint,
        device=args.device,
        fusion=args.fusion,
        ks=args.k,
        references=tuple(args.reference or ()),
        tta=args.tta,
    )
    return make_scorer(args.method, options)


def cmd_eval(args: argparse.Namespace) -> int:
    """``casl eval``: score a data set with one method and write its results; returns the exit status."""
    from casl_core.evaluate import evaluate

    scorer = eval_scorer(args)
    if args.scores_dir:
        from casl_core.io.guard import check_outside

        check_outside(args.scores_dir, [args.root], "--scores-dir")
    from casl_core.cli_model import _calibration_arg

    cats = [c.strip() for c in args.categories.split(",") if c.strip()] if args.categories else None
    calibration = _calibration_arg(args)
    bar = ProgressBar(not args.quiet and sys.stderr.isatty())
    try:
        results = evaluate(
            args.root,
            scorer,
            layout=args.layout,
            categories=cats,
            scores_dir=args.scores_dir,
            calibration=calibration,
            progress=bar,
        )
    finally:
        bar.close()
    results.write_json(args.out)
    print(f"method: {results.method}   layout: {results.layout}   root: {results.root}")
    print(results.table())
    print(f"results written to {args.out}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """``casl demo``: run the built-in demo and print its summary; returns the exit status."""
    from casl_core.demo import run_demo

    summary = run_demo(Path(args.out_dir), seed=args.seed, device=args.device, inspect=args.inspect)
    print(summary.text())
    return 0


_CONTROL = {c: f"\\x{c:02x}" for c in [*range(32), 127] if c != 9} | {10: "\\n", 13: "\\r"}


def one_line(text: object) -> str:
    """``text`` on one line: newlines and other control characters (in file names too) escaped."""
    return str(text).translate(_CONTROL)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"casl: warning: {one_line(message)}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``casl`` console script; returns the exit status."""
    import warnings

    parser = build_parser()
    args = parser.parse_args(argv)
    warnings.showwarning = _show_warning
    if args.max_memory is not None:
        from casl_core.io.budget import ENV_VAR

        if not 0 < args.max_memory < 1e9:
            parser.error(f"--max-memory must be a positive number of GB, got {args.max_memory}")
        os.environ[ENV_VAR] = repr(args.max_memory)
    try:
        return int(args.func(args))
    except CaslError as exc:
        print(f"casl: error: {one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("casl: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        # e.g. an output folder that does not exist or is not writable
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"casl: error: {one_line(where)}{one_line(exc.strerror or exc)}", file=sys.stderr)
        return 1
    except MemoryError:
        print(
            "casl: error: out of memory (the input asks for more than this machine has; "
            "see --max-memory / CASL_MAX_MEMORY_GB)",
            file=sys.stderr,
        )
        return 1
    except RecursionError:
        print("casl: error: an input is nested too deep to read", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
