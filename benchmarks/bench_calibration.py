"""Calibration rules measured on held-out normal scans and synthetic defects (curvature scorer).

Per procedural part kind: ``--train`` normal parts (seeds 0..) calibrate the curvature
baseline (with augmented copies); held-out parts (other seeds; with ``--same-parts``, new
scans of the calibration parts) give resampled good scans and scans with one synthetic
defect of every kind. For each false-alarm rate and object margin it prints the share of
good scans that FAIL, of defective scans that PASS, of defective scans whose top region
overlaps the defect, and the largest share of points above the point threshold on any
in-distribution scan; for the out-of-distribution rule it also scores the other part kinds
against each kind's calibration (share above its ``ood_threshold``). Figures: ``benchmarks/README.md``.

    PYTHONPATH=$PWD python benchmarks/bench_calibration.py --points 6000 --train 5 --held-out 3 [--same-parts]
"""

from __future__ import annotations

import argparse

import numpy as np

from casl_core.fields import CURVATURE_SCORE
from casl_core.inspection.verdict import VerdictStatus, region_hits, scan_verdict
from casl_core.scorers.calibration import augmented_copy, learn_calibration
from casl_core.scorers.curvature import CurvatureBaseline
from casl_core.synth.defects import DefectKind, synthesize_defect
from casl_core.synth.parts import PART_KINDS, make_part
from casl_core.synth.testset import jittered_copy


def _score(scorer, scan):
    r = scorer.score(scan)
    return r.scan, r.point_scores, r.object_score


def _calibration(cal_scores, normal_scans: int, rate: float, margin: float | None = None):
    """The curvature calibration learnt from ``(point scores, object score)`` pairs."""
    extra = {} if margin is None else {"object_margin": margin}
    points, objects = [p for p, _ in cal_scores], [o for _, o in cal_scores]
    return learn_calibration(
        "curvature", CURVATURE_SCORE, points, objects, normal_scans=normal_scans, false_alarm_rate=rate, **extra
    )


def main() -> None:  # noqa: C901 - one measurement script
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=8000)
    ap.add_argument("--train", type=int, default=6)
    ap.add_argument("--held-out", type=int, default=3)
    ap.add_argument("--copies", type=int, default=2)
    ap.add_argument(
        "--same-parts",
        action="store_true",
        help="test on new scans of the calibration parts (one object per category, as Real3D-AD)",
    )
    ap.add_argument("--rates", type=float, nargs="+", default=[1e-2, 3e-3, 1e-3, 1e-4])
    ap.add_argument("--margins", type=float, nargs="+", default=[0.0, 0.25, 0.5, 1.0])
    args = ap.parse_args()
    scorer = CurvatureBaseline(device="cpu")
    rng = np.random.default_rng(0)
    per_kind = {}
    for kind in PART_KINDS:
        normal = [make_part(kind, seed=s, n_points=args.points) for s in range(args.train)]
        cal_scores = []
        for scan in normal:
            for variant in [scan] + [augmented_copy(scan, rng) for _ in range(args.copies)]:
                cal_scores.append(_score(scorer, variant)[1:])
        tests = []
        first = 0 if args.same_parts else args.train
        for s in range(first, first + args.held_out):
            part = make_part(kind, seed=s, n_points=args.points)
            tests.append((_score(scorer, jittered_copy(part, rng)), None))
            tests.append((_score(scorer, augmented_copy(part, rng)), None))
            for defect in DefectKind:
                bad = synthesize_defect(jittered_copy(part, rng), defect, rng)
                tests.append((_score(scorer, bad), bad.labels))
        per_kind[kind] = (cal_scores, tests)
        print(f"{kind}: scored {len(cal_scores)} calibration and {len(tests)} test scans", flush=True)
    for rate in args.rates:
        for margin in args.margins:
            good_fail = good_n = bad_pass = bad_n = hits = ood = 0
            max_share = 0.0
            for cal_scores, tests in per_kind.values():
                cal = _calibration(cal_scores, args.train, rate, margin)
                for (scan, _pts, obj), labels in tests:
                    v = scan_verdict(scan, {"curvature": cal}, object_scores={"curvature": obj})
                    max_share = max(max_share, v.share_above)
                    ood += v.status is VerdictStatus.OUT_OF_DISTRIBUTION
                    if labels is None:
                        good_n += 1
                        good_fail += v.status is VerdictStatus.FAIL
                    else:
                        bad_n += 1
                        bad_pass += v.status is VerdictStatus.PASS
                        hits += region_hits(v, labels)
            print(
                f"rate {rate:g} margin {margin:g}: good FAIL {good_fail}/{good_n}, defective PASS "
                f"{bad_pass}/{bad_n}, top region on defect {hits}/{bad_n}, OOD {ood}, "
                f"max share above {max_share:.3f}",
                flush=True,
            )
    for rate in (1e-2,):
        for kind, (cal_scores, _) in per_kind.items():
            cal = _calibration(cal_scores, args.train, rate)
            shares = []
            for other, (_, tests) in per_kind.items():
                if other != kind:
                    scan = tests[0][0][0]
                    shares.append(f"{other} {float(np.mean(scan.fields[CURVATURE_SCORE] >= cal.point_threshold)):.3f}")
            print(f"calibrated on {kind}: share outside the normal range on other kinds: {', '.join(shares)}")


if __name__ == "__main__":
    main()
