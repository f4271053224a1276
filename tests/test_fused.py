"""The fused scorer: normalisation against normal data, the per-point rule, its JSON, leave-one-out."""

from __future__ import annotations

import json

import numpy as np
import pytest

from casl_core.errors import ConfigError
from casl_core.fields import CURVATURE_SCORE, FUSED_SCORE
from casl_core.scan import Scan, ScanMetadata
from casl_core.scorers.base import ScanScores
from casl_core.scorers.curvature import CurvatureBaseline
from casl_core.scorers.fused import TAIL_QUANTILE, FusedScorer, FusionParams, ScoreNormaliser, fit_fusion
from casl_core.scorers.pooling import object_score
from casl_core.synth.parts import make_part


def test_normaliser_quantiles_match_numpy_for_equal_scans():
    rng = np.random.default_rng(0)
    scans = [rng.gamma(2.0, size=5000) for _ in range(3)]
    norm = ScoreNormaliser.fit("x", scans)
    values = np.concatenate(scans)
    assert norm.median == pytest.approx(np.quantile(values, 0.5, method="inverted_cdf"))
    assert norm.tail == pytest.approx(np.quantile(values, TAIL_QUANTILE, method="inverted_cdf"))
    mapped = norm.apply(np.array([norm.median, norm.tail]))
    np.testing.assert_allclose(mapped, [0.0, 1.0], atol=1e-6)


def test_each_normal_scan_weighs_the_same_whatever_its_size():
    small = np.full(100, 10.0)
    big = np.linspace(0.0, 1.0, 100_000)
    norm = ScoreNormaliser.fit("x", [small, big])
    # unweighted, the big scan's values would hold the median near 0.5; weighted, half the mass sits at 10
    assert norm.median > 0.99


def test_a_flat_normal_scorer_still_gets_a_unit():
    scores = [np.r_[np.zeros(995), np.linspace(0.1, 0.5, 5)]]
    norm = ScoreNormaliser.fit("deviation", scores)
    assert norm.tail > norm.median == 0.0


def test_constant_scores_are_refused():
    with pytest.raises(ConfigError, match="no spread"):
        ScoreNormaliser.fit("x", [np.ones(100)])


def test_max_rule_is_the_per_point_maximum_of_normalised_scores():
    a = ScoreNormaliser("a", 0.0, 2.0)
    b = ScoreNormaliser("b", 1.0, 1.5)
    params = FusionParams((a, b), "max")
    sa, sb = np.array([0.0, 4.0, 1.0]), np.array([1.0, 1.0, 2.5])
    np.testing.assert_allclose(params.fuse([sa, sb]), np.maximum(sa / 2.0, (sb - 1.0) / 0.5))
    mean = FusionParams((a, b), "mean").fuse([sa, sb])
    np.testing.assert_allclose(mean, (sa / 2.0 + (sb - 1.0) / 0.5) / 2)


def test_json_round_trip_and_malformed_documents(tmp_path):
    params = FusionParams((ScoreNormaliser("curvature", 0.01, 0.05), ScoreNormaliser("casl", -3.0, 1.0)), "max")
    doc = json.loads(json.dumps(params.to_json()))
    assert FusionParams.from_json(doc, "m.json") == params
    for bad in (
        {},
        {"normalisers": [{"scorer": "a", "median": "x", "tail": 1}]},
        {"normalisers": [{"scorer": "a", "median": 1, "tail": 0}]},
        {"normalisers": [{"scorer": "a", "median": True, "tail": 2}]},
        {"normalisers": []},
        {"normalisers": [{"median": 0, "tail": 1}]},
        {"normalisers": [{"scorer": "a", "median": 0, "tail": 1}], "rule": "vote"},
    ):
        with pytest.raises(ConfigError, match="m.json: bad fusion parameters"):
            FusionParams.from_json(bad, "m.json")


class _Shifted:
    """A second scorer on another scale: the curvature score times 1000 plus 7."""

    name = "shifted"
    score_field = "shifted_score"

    def __init__(self, left_out: str = ""):
        self.left_out = left_out
        self.calls: list[tuple[str, str]] = []

    def score(self, scan, *, progress=None, cancel=None):
        self.calls.append((scan.metadata.source, self.left_out))
        s = scan.fields[CURVATURE_SCORE] * 1000.0 + 7.0
        return ScanScores(scan, s.astype(np.float32), object_score(s))

    def for_category(self, category):
        return self

    def without_reference(self, source):
        twin = _Shifted(left_out=source)
        twin.calls = self.calls
        return twin


def _parts(n: int) -> list[Scan]:
    from dataclasses import replace

    scans = []
    for seed in range(n):
        part = make_part("hex_nut", seed=seed, n_points=3000)
        scans.append(replace(part, metadata=ScanMetadata(source=f"/data/nut_{seed}.ply", format="ply")))
    return scans


def test_fit_and_score_on_real_parts_put_both_scorers_on_one_scale():
    curvature, shifted = CurvatureBaseline(), _Shifted()
    params = fit_fusion([curvature, shifted], _parts(3))
    assert params.scorers == ("curvature", "shifted")
    c, s = params.normalisers
    # an affine change of a scorer's scale leaves its normalised scores unchanged
    assert s.median == pytest.approx(c.median * 1000 + 7, rel=1e-5)
    assert s.tail == pytest.approx(c.tail * 1000 + 7, rel=1e-5)
    test = make_part("hex_nut", seed=9, n_points=3000)
    result = FusedScorer([curvature, shifted], params).score(test)
    assert FUSED_SCORE in result.scan.fields and CURVATURE_SCORE in result.scan.fields
    expected = c.apply(result.scan.fields[CURVATURE_SCORE])
    np.testing.assert_allclose(result.point_scores, expected, rtol=1e-4, atol=1e-4)
    assert result.object_score == pytest.approx(object_score(result.point_scores))


def test_fit_leaves_each_scan_out_of_the_references_it_is_scored_against():
    shifted = _Shifted()
    scans = _parts(2)
    fit_fusion([CurvatureBaseline(), shifted], scans)
    assert shifted.calls == [(s.metadata.source, s.metadata.source) for s in scans]


def test_components_must_match_the_parameters():
    params = FusionParams((ScoreNormaliser("casl", 0.0, 1.0),))
    with pytest.raises(ConfigError, match="do not match"):
        FusedScorer([CurvatureBaseline()], params)
