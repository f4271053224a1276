"""The scorer of record and its verdict: PASS, FAIL, NOT_CALIBRATED, OUT_OF_DISTRIBUTION."""

from __future__ import annotations

import numpy as np
import pytest

from casl_core.errors import ConfigError
from casl_core.fields import CASL_SCORE, CURVATURE_SCORE, DEVIATION_SCORE, FUSED_SCORE
from casl_core.inspection.regions import find_regions
from casl_core.inspection.verdict import (
    DEFAULT_OOD_SHARE,
    VerdictStatus,
    region_hits,
    scan_verdict,
    scorer_of_record,
)
from casl_core.scan import Scan
from casl_core.scorers.calibration import learn_calibration
from casl_core.scorers.pooling import object_score
from casl_core.synth.parts import make_part

N = 4000


@pytest.fixture(scope="module")
def part() -> Scan:
    return make_part("flange", seed=1, n_points=N)


def _normal_scores(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 1.0, N).astype(np.float32)


def _calibration(scorer: str, field: str, rate: float = 1e-2):
    scores = [_normal_scores(s) for s in range(6)]
    objects = [object_score(s) for s in scores]
    return learn_calibration(scorer, field, scores, objects, normal_scans=6, false_alarm_rate=rate)


def _blob(part: Scan, centre_index: int, k: int) -> np.ndarray:
    d = np.linalg.norm(part.points - part.points[centre_index], axis=1)
    return np.argsort(d)[:k]


def test_pass_on_a_normal_scan(part):
    cal = _calibration("casl", CASL_SCORE)
    scan = part.with_fields(**{CASL_SCORE: _normal_scores(99)})
    v = scan_verdict(scan, {"casl": cal})
    assert v.status is VerdictStatus.PASS and v.scorer == "casl" and v.false_alarm_rate == 1e-2
    assert v.object_score == pytest.approx(object_score(scan.fields[CASL_SCORE]))
    assert v.object_score <= v.object_threshold
    assert v.share_above == pytest.approx(np.mean(scan.fields[CASL_SCORE] >= cal.point_threshold))
    assert v.text == "PASS (casl, 1 % false alarms)"


def test_fail_lists_regions_by_peak_score_top_first(part):
    cal = _calibration("casl", CASL_SCORE)
    scores = _normal_scores(7)
    big, small = _blob(part, 0, 120), _blob(part, N // 2, 20)
    scores[big] = 6.0
    scores[small] = 9.0  # smaller but stronger: listed first
    labels = np.zeros(N, np.uint8)
    labels[small] = 1
    v = scan_verdict(part.with_fields(**{CASL_SCORE: scores}), {"casl": cal})
    assert v.status is VerdictStatus.FAIL and v.object_score > v.object_threshold
    assert [r.max_score for r in v.regions] == sorted((r.max_score for r in v.regions), reverse=True)
    assert set(v.regions[0].indices) >= set(small) and region_hits(v, labels)
    ref = find_regions(part.points, scores, cal.point_threshold, min_points=3)
    assert sorted(r.size for r in v.regions) == sorted(r.size for r in ref.regions)
    assert v.text.startswith(f"FAIL (casl, 1 % false alarms): {len(v.regions)} regions, top {v.regions[0].size} points")


def test_out_of_distribution_when_most_points_are_above(part):
    cal = _calibration("casl", CASL_SCORE)
    scores = _normal_scores(3)
    far = np.random.default_rng(0).random(N) < 0.66  # the flange model on the rocker arm: 66 %
    scores[far] = 5.0
    v = scan_verdict(part.with_fields(**{CASL_SCORE: scores}), {"casl": cal})
    assert v.status is VerdictStatus.OUT_OF_DISTRIBUTION and v.share_above == pytest.approx(far.mean(), abs=0.01)
    assert v.share_out_of_range == pytest.approx(far.mean(), abs=0.01)
    assert v.text.startswith("OUT OF DISTRIBUTION (casl") and f"{100 * far.mean():.0f} % of points outside" in v.text
    # the rule looks at the normal range, not at a strict point threshold: a rate of 1e-4 does not hide it
    strict = _calibration("casl", CASL_SCORE, rate=1e-4)
    scores = _normal_scores(3)
    scores[far] = (strict.ood_threshold + strict.point_threshold) / 2
    v = scan_verdict(part.with_fields(**{CASL_SCORE: scores}), {"casl": strict})
    assert v.share_above < 0.01 and v.status is VerdictStatus.OUT_OF_DISTRIBUTION
    # just under the share: a defect, not another part
    scores = _normal_scores(3)
    scores[_blob(part, 5, int(DEFAULT_OOD_SHARE * N) - 50)] = 5.0
    assert scan_verdict(part.with_fields(**{CASL_SCORE: scores}), {"casl": cal}).status is VerdictStatus.FAIL
    with pytest.raises(ConfigError, match="out-of-distribution share"):
        scan_verdict(part.with_fields(**{CASL_SCORE: scores}), {"casl": cal}, ood_share=0)


def test_not_calibrated_is_never_pass_or_fail(part):
    scores = _normal_scores(1)
    scores[_blob(part, 0, 200)] = 50.0
    scan = part.with_fields(**{CASL_SCORE: scores, CURVATURE_SCORE: scores})
    for calibrations in ({}, {"casl": None}, {"deviation": _calibration("deviation", DEVIATION_SCORE)}):
        v = scan_verdict(scan, calibrations)
        assert v.status is VerdictStatus.NOT_CALIBRATED and not v.calibrated
        assert v.scorer == "casl" and v.object_threshold is None and v.regions == ()
        assert v.text == "not calibrated (casl)"
    bare = scan_verdict(part, {"casl": _calibration("casl", CASL_SCORE)})
    assert bare.status is VerdictStatus.NOT_CALIBRATED and bare.scorer is None and bare.text == "not calibrated"


def test_scorer_of_record_follows_the_order_whatever_is_on_screen(part):
    fields = {CURVATURE_SCORE: 1, CASL_SCORE: 1, DEVIATION_SCORE: 1, FUSED_SCORE: 1}
    cals = {
        name: _calibration(name, field)
        for name, field in (("curvature", CURVATURE_SCORE), ("casl", CASL_SCORE), ("deviation", DEVIATION_SCORE))
    }
    assert scorer_of_record(fields, cals) == "casl"  # fused scored but not calibrated
    assert scorer_of_record(fields, {**cals, "fused": _calibration("fused", FUSED_SCORE)}) == "fused"
    assert scorer_of_record({CURVATURE_SCORE: 1, DEVIATION_SCORE: 1}, cals) == "deviation"
    assert scorer_of_record({CURVATURE_SCORE: 1, CASL_SCORE: 1}, {"curvature": cals["curvature"]}) == "curvature"
    # the verdict uses the scorer of record's field, not the other one
    bad = _normal_scores(2)
    bad[_blob(part, 0, 200)] = 50.0
    scan = part.with_fields(**{CURVATURE_SCORE: bad, CASL_SCORE: _normal_scores(4)})
    assert scan_verdict(scan, cals).status is VerdictStatus.PASS
    assert scan_verdict(scan, {"curvature": cals["curvature"]}).status is VerdictStatus.FAIL
    with pytest.raises(ConfigError, match="given for scorer 'casl'"):
        scan_verdict(scan, {"casl": cals["curvature"]})
