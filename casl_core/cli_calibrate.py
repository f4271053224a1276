"""``casl calibrate``: learn a scorer's thresholds from a folder of good scans.

``casl calibrate --method M --normal DIR [--checkpoint CKPT] [--reference REF ...]
[--false-alarm-rate R] --out CAL.json`` scores every normal scan (and augmented copies of
each, :mod:`casl_core.scorers.calibration`) and writes the calibration JSON that
``casl eval --calibration`` and ``casl infer --calibration`` read. :func:`make_scorer` builds
the scorer of a method from command-line arguments, for this verb and ``eval``.

With ``--method deviation`` the normal scans that are also references are scored
leave-one-out (:meth:`casl_core.scorers.deviation.DeviationScorer.without_reference`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from casl_core.errors import ConfigError
from casl_core.scorers.base import Scorer

#: Methods ``casl calibrate`` knows.
METHODS = ("curvature", "casl", "deviation")


def add_false_alarm_rate(p: argparse.ArgumentParser) -> None:
    """Add ``--false-alarm-rate`` (the calibration's point false-alarm rate) to a verb."""
    from casl_core.scorers.calibration import DEFAULT_FALSE_ALARM_RATE

    p.add_argument(
        "--false-alarm-rate",
        type=float,
        default=DEFAULT_FALSE_ALARM_RATE,
        metavar="R",
        help=f"share of normal points allowed above the point threshold (default: {DEFAULT_FALSE_ALARM_RATE:g})",
    )


def add_calibrate_verb(verbs: argparse._SubParsersAction) -> None:
    """Add the ``calibrate`` verb to ``casl``'s sub-parsers."""
    from casl_core.scorers.calibration import DEFAULT_COPIES, DEFAULT_OBJECT_MARGIN

    p = verbs.add_parser(
        "calibrate",
        help="learn a scorer's thresholds from good scans",
        description="Score a folder of good (normal) scans and augmented copies of each, and write "
        "the scorer's calibration: the point threshold at the chosen false-alarm rate, the object "
        "threshold (largest normal object score plus a margin), and the parameters of the "
        "normalised score (0.5 at the threshold). casl eval and casl infer give verdicts with it.",
    )
    p.add_argument("--method", required=True, choices=METHODS, help="the scorer to calibrate")
    p.add_argument(
        "--normal",
        required=True,
        nargs="+",
        metavar="DIR",
        help="folders of good scans (searched recursively; a category folder is read from its train/)",
    )
    p.add_argument("--checkpoint", help="with --method casl: the fine-tuned checkpoint")
    p.add_argument(
        "--reference", nargs="+", metavar="REF", help="with --method deviation: reference scans or CAD meshes"
    )
    add_false_alarm_rate(p)
    p.add_argument(
        "--object-margin",
        type=float,
        default=DEFAULT_OBJECT_MARGIN,
        help="object threshold = max + margin * (max - median) of the normal object scores "
        f"(default: {DEFAULT_OBJECT_MARGIN:g})",
    )
    p.add_argument(
        "--copies",
        type=int,
        default=DEFAULT_COPIES,
        help=f"augmented copies scored per normal scan (default: {DEFAULT_COPIES})",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the augmented copies (default: 0)")
    p.add_argument(
        "--store",
        action="store_true",
        help="with --method casl: also store the calibration in the checkpoint's description, as "
        "fine-tuning does (the scans it held out are scored, of the others only augmented copies)",
    )
    p.add_argument("--out", required=True, metavar="CAL.json", help="calibration file to write")
    p.add_argument("--device", default="auto", help="'auto', 'cpu', 'cuda' or 'cuda:N' (default: auto)")
    p.set_defaults(func=cmd_calibrate)


def make_scorer(
    method: str,
    *,
    checkpoint: str | None = None,
    references: list[str] | None = None,
    device: str = "auto",
    fusion: str = "mean",
    ks: list[int] | None = None,
) -> Scorer:
    """The :class:`~casl_core.scorers.base.Scorer` of a method, from the method registry.

    Raises
    ------
    ConfigError
        On an unknown method, a missing ``--checkpoint``, a deviation scorer without
        ``--reference``, or a reference file that does not exist.
    """
    from casl_core.methods import ScorerOptions
    from casl_core.methods import make_scorer as make

    if method == "deviation" and not references:
        raise ConfigError("--method deviation needs --reference REF ... (reference scans or CAD meshes)")
    options = ScorerOptions(
        checkpoint=checkpoint,
        device=device,
        fusion=fusion,
        ks=None if ks is None else tuple(ks),
        references=tuple(references or ()),
    )
    return make(method, options)


def cmd_calibrate(args: argparse.Namespace) -> int:
    """``casl calibrate``."""
    from casl_core.cli_progress import ProgressBar
    from casl_core.scorers.calibration import calibrate
    from casl_core.scorers.calibration_io import write_calibration
    from casl_core.train.data import find_scan_files

    out = Path(args.out)
    if not out.parent.is_dir():
        raise ConfigError(f"{out}: the output folder {out.parent} does not exist")
    files = find_scan_files(args.normal)
    scorer = make_scorer(args.method, checkpoint=args.checkpoint, references=args.reference, device=args.device)
    normal, extra = files, list[Path]()
    if args.store:
        if args.method != "casl":
            raise ConfigError("--store needs --method casl (the calibration goes into the CASL checkpoint)")
        from casl_core.train.calibrate_model import split_by_holdout

        normal, extra = split_by_holdout(args.checkpoint, files)
        if not normal:
            raise ConfigError(f"{args.checkpoint}: none of the scans it held out is under {', '.join(args.normal)}")
    bar = ProgressBar(not args.quiet and sys.stderr.isatty())
    try:
        cal = calibrate(
            scorer,
            normal,
            extra_copies_of=extra,
            false_alarm_rate=args.false_alarm_rate,
            object_margin=args.object_margin,
            copies=args.copies,
            seed=args.seed,
            progress=bar,
        )
    finally:
        bar.close()
    write_calibration(out, cal)
    if args.store:
        from casl_core.train.calibrate_model import store_calibration

        store_calibration(args.checkpoint, cal)
        print(f"calibration stored in {args.checkpoint}")
    print(cal.summary())
    print(f"calibration written to {out}")
    return 0
