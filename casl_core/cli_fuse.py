"""The ``casl fuse`` verb: fit the fused inspector of a fine-tuned checkpoint and store it there.

After ``casl fuse --checkpoint M --normal DIR``, ``casl eval --method fused --checkpoint M``
and ``casl infer --method fused --checkpoint M`` use CASL, reference deviation and curvature
fused on one scale, with thresholds learnt from the normal scans (:mod:`casl_core.inspector`).
"""

from __future__ import annotations

import argparse
import sys

from casl_core.cli_calibrate import add_false_alarm_rate
from casl_core.errors import ConfigError


def add_fuse_verb(verbs: argparse._SubParsersAction) -> None:
    """Add the ``fuse`` verb to ``casl``'s sub-parsers."""
    p = verbs.add_parser(
        "fuse",
        help="fit and store the fused inspector (CASL + reference deviation + curvature) of a checkpoint",
        description="Score the category's normal scans with the curvature baseline, the checkpoint's CASL "
        "model and the reference deviation scorer (the normal scans are the references, each left out "
        "while it is scored), learn how to put the three on one scale (median and 99 %% quantile of their "
        "normal point scores), take the per-point maximum, calibrate it (thresholds at the false-alarm "
        "rate) and store all of it in the checkpoint's description, with the references by path and "
        "SHA-256. The weights are not changed.",
    )
    p.add_argument("--checkpoint", required=True, help="a fine-tuned CASL checkpoint (model.safetensors)")
    p.add_argument(
        "--normal",
        required=True,
        nargs="+",
        metavar="DIR",
        help="folders of the category's normal scans (the fine-tune training folder; searched recursively)",
    )
    p.add_argument(
        "--reference",
        nargs="+",
        metavar="REF",
        help="reference scans or CAD meshes for the deviation scorer (default: the normal scans)",
    )
    add_false_alarm_rate(p)
    p.add_argument(
        "--device",
        default="auto",
        help="where CASL runs: 'auto', 'cpu', 'cuda' or 'cuda:N' (default: auto)",
    )
    p.set_defaults(func=cmd_fuse)


def cmd_fuse(args: argparse.Namespace) -> int:
    """``casl fuse``: fit the inspector, store it in the checkpoint, print what it learnt."""
    from casl_core.cli_progress import ProgressBar
    from casl_core.inspector import fit_inspector
    from casl_core.train.data import find_scan_files

    files = find_scan_files(args.normal)
    if len(files) < 2:
        raise ConfigError(f"casl fuse needs at least two normal scans (one is left out in turn), found {len(files)}")
    bar = ProgressBar(not args.quiet and sys.stderr.isatty())
    try:
        spec = fit_inspector(
            args.checkpoint,
            files,
            references=args.reference,
            false_alarm_rate=args.false_alarm_rate,
            device=args.device,
            progress=bar,
        )
    finally:
        bar.close()
    for n in spec.fusion.normalisers:
        print(f"{n.scorer}: normal median {n.median:.6g}, 99 % quantile {n.tail:.6g}")
    print(spec.calibration.summary())
    print(f"{args.checkpoint}: fused inspector stored ({len(spec.references)} references)")
    return 0
