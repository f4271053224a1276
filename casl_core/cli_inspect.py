"""The ``casl deviation`` verb: compare a scan with known-good references.

``casl deviation SCAN --reference REF... -o OUT.ply [--json]`` aligns the scan to each
reference (good scans or CAD meshes), keeps the best, and writes the scan with
``scalar_deviation`` (signed), ``scalar_deviation_abs`` and ``scalar_deviation_score``; the
chosen reference, the 4x4 transform (scan to reference, row by row), the RMSE and the
overlap go into the PLY comments and into the ``--json`` output.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import numpy as np

from casl_core.fields import DEVIATION, DEVIATION_ABS, DEVIATION_SCORE


def add_inspect_verbs(verbs: argparse._SubParsersAction) -> None:
    """Register the ``deviation`` verb on the ``casl`` sub-parsers."""
    p = verbs.add_parser(
        "deviation",
        help="signed deviation of a scan from known-good references",
        description="Align a scan (any pose, partial views too) to each reference, keep the best by "
        "residual, and write the scan with scalar_deviation (signed distance to the reference surface, "
        "positive outside), scalar_deviation_abs and scalar_deviation_score (missing material scored on "
        "its rim). A reference of another scale, or one the scan cannot be aligned to, is refused.",
    )
    p.add_argument("scan", help="scan file to compare")
    p.add_argument(
        "--reference",
        "-r",
        nargs="+",
        required=True,
        metavar="REF",
        help="good scans or meshes (OBJ/STL/OFF/PLY with faces: exact point-to-triangle distances)",
    )
    p.add_argument("-o", "--output", required=True, help="file to write (.ply keeps the comments)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--threads", type=int, help="alignment threads (default: the CPUs available, at most 8)")
    p.add_argument("--ascii", action="store_true", help="write ASCII PLY/PCD instead of binary")
    p.set_defaults(func=cmd_deviation)


def deviation_comments(alignment) -> list[str]:
    """PLY comment lines describing an alignment."""
    rows = [
        "deviation transform row {}: {}".format(i, " ".join(f"{v:.17g}" for v in row))
        for i, row in enumerate(alignment.transform)
    ]
    return [
        f"deviation reference: {alignment.reference}",
        *rows,
        f"deviation rmse: {alignment.rmse:.9g}",
        f"deviation overlap: {alignment.overlap:.6f}",
    ]


def cmd_deviation(args: argparse.Namespace) -> int:
    """Run ``casl deviation``: score the scan against its best reference, write it and report."""
    from casl_core.io import read_scan, write_scan
    from casl_core.scorers.deviation import DeviationScorer

    scan = read_scan(args.scan)
    scorer = DeviationScorer(references=list(args.reference), threads=args.threads)
    scored = scorer.score(scan)
    result = scorer.last
    assert result is not None
    alignment = result.alignment
    extra = dict(scored.scan.metadata.extra)
    extra["comments"] = "\n".join(deviation_comments(alignment))
    out = replace(scored.scan, metadata=replace(scored.scan.metadata, extra=extra))
    write_scan(out, args.output, binary=not args.ascii)
    summary = {
        "scan": args.scan,
        "output": args.output,
        "reference": alignment.reference,
        "transform": alignment.transform.tolist(),
        "rmse": alignment.rmse,
        "overlap": alignment.overlap,
        "spacing": alignment.spacing,
        "object_score": scored.object_score,
        "fields": [DEVIATION, DEVIATION_ABS, DEVIATION_SCORE],
        "deviation_min": float(np.min(result.signed)),
        "deviation_max": float(np.max(result.signed)),
    }
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"{args.output}: {len(scan):,} points with {DEVIATION}, {DEVIATION_ABS}, {DEVIATION_SCORE}")
    print(f"reference: {alignment.reference}")
    print(
        f"alignment: RMSE {alignment.rmse:.4g} (point spacing {alignment.spacing:.4g}), overlap {alignment.overlap:.1%}"
    )
    print(
        f"deviation: {summary['deviation_min']:.4g} .. {summary['deviation_max']:.4g}, "
        f"object score {scored.object_score:.4g}"
    )
    return 0
