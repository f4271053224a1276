"""Calibration: thresholds against numpy on real scans, the normalised score, JSON checks, leave-one-out."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial import cKDTree

from casl_core.errors import CalibrationError, ConfigError
from casl_core.fields import CASL_SCORE, CURVATURE_SCORE, DEVIATION_SCORE, normalised_field
from casl_core.io import read_scan, write_scan
from casl_core.scan import Scan
from casl_core.scorers.base import ReferenceScorer, ScanScores
from casl_core.scorers.calibration import (
    DEFAULT_OBJECT_MARGIN,
    augmented_copy,
    calibrate,
    learn_calibration,
)
from casl_core.scorers.calibration_io import read_calibration, to_json, write_calibration
from casl_core.scorers.curvature import CurvatureBaseline
from casl_core.scorers.pooling import object_score

REAL = ("common-3d-test-models/beetle.obj", "pymeshlab-samples/bone.ply", "pymeshlab-samples/cow.obj")


@pytest.fixture(scope="module")
def real_scans(scans_dir) -> list[Scan]:
    return [read_scan(scans_dir / rel) for rel in REAL]


@pytest.fixture(scope="module")
def real_calibration(real_scans):
    return calibrate(CurvatureBaseline(device="cpu"), real_scans, copies=1, seed=3)


def test_calibrate_matches_numpy_quantiles_on_real_curvature_scores(real_scans, real_calibration):
    scorer = CurvatureBaseline(device="cpu")
    rng = np.random.default_rng([3, 4242])  # calibrate's augmentation stream, replayed
    points, objects = [], []
    for scan in real_scans:
        for variant in (scan, augmented_copy(scan, rng)):
            scores = scorer.score(variant).point_scores.astype(np.float64)
            points.append(scores)
            objects.append(object_score(scores))
    pooled = np.concatenate(points)
    cal = real_calibration
    assert cal.scorer == "curvature" and cal.score_field == CURVATURE_SCORE
    assert cal.normal_scans == 3 and cal.augmented_scans == 3 and cal.normal_points == pooled.size
    assert cal.false_alarm_rate == 1e-2
    assert cal.point_threshold == pytest.approx(np.quantile(pooled, 1 - 1e-2), rel=1e-6)
    assert cal.ood_threshold == pytest.approx(np.quantile(pooled, 0.99), rel=1e-6)
    expected_obj = max(objects) + DEFAULT_OBJECT_MARGIN * (max(objects) - np.median(objects))
    assert cal.object_threshold == pytest.approx(expected_obj, rel=1e-6)
    assert cal.normal_share_above == pytest.approx(np.mean(pooled >= cal.point_threshold))
    assert 0.009 <= cal.normal_share_above <= 0.011  # about the chosen rate
    for rate in (0.05, 0.1):
        other = learn_calibration("curvature", CURVATURE_SCORE, points, objects, normal_scans=3, false_alarm_rate=rate)
        assert other.point_threshold == pytest.approx(np.quantile(pooled, 1 - rate), rel=1e-9)
        assert other.point_threshold < cal.point_threshold and other.ood_threshold == cal.ood_threshold


def test_augmented_copy_is_a_new_layout_in_a_new_pose(real_scans):
    scan = real_scans[0].with_fields(curvature_s16=np.zeros(len(real_scans[0]), np.float32))
    copy = augmented_copy(scan, np.random.default_rng(0))
    assert len(copy) == int(0.9 * len(scan)) and copy.fields == {} and copy.labels is None
    nearest, _ = cKDTree(scan.points).query(copy.points)
    lo, hi = scan.bounds()
    assert np.median(nearest) > 1e-4 * np.linalg.norm(hi - lo)  # moved: not the same coordinates
    assert np.max(nearest) < 0.05 * np.linalg.norm(hi - lo)  # but the same part


def test_normalised_score_is_half_at_the_threshold_and_monotone(real_scans, real_calibration):
    cal = real_calibration
    assert cal.normalise(np.array([cal.point_threshold]))[0] == 0.5
    assert cal.normalise(np.array([cal.norm_low]))[0] == 0.0
    assert cal.normalise(np.array([cal.norm_high]))[0] == 1.0
    grid = np.linspace(cal.norm_low - 1, cal.norm_high + 1, 10_001)
    out = cal.normalise(grid)
    assert out.min() == 0.0 and out.max() == 1.0 and np.all(np.diff(out) >= 0)
    inside = (grid > cal.norm_low) & (grid < cal.norm_high)
    assert np.all(np.diff(cal.normalise(grid[inside]).astype(np.float64)) > 0)
    scored = CurvatureBaseline(device="cpu").score(real_scans[1]).scan
    applied = cal.apply(scored)
    raw, norm = scored.fields[CURVATURE_SCORE], applied.fields[normalised_field(CURVATURE_SCORE)]
    assert CURVATURE_SCORE in applied.fields  # the raw field is kept
    assert np.array_equal(norm >= 0.5, raw >= cal.point_threshold)
    with pytest.raises(CalibrationError, match="no 'casl_score' field"):
        replace(cal, scorer="casl", score_field=CASL_SCORE).apply(scored)


def test_json_round_trip(tmp_path, real_calibration):
    path = tmp_path / "cal.json"
    write_calibration(path, real_calibration)
    assert read_calibration(path) == real_calibration
    assert json.loads(path.read_text())["format"] == "casl-calibration"


def _bad_docs(good: dict) -> list[tuple[str, object]]:
    def edit(**changes):
        return {**good, **changes}

    without = {k: v for k, v in good.items() if k != "point_threshold"}
    return [
        ("not a CASL calibration", [good]),
        ("not a CASL calibration", edit(format="casl-checkpoint")),
        ("version 2 is not supported", edit(version=2)),
        ("version True is not supported", edit(version=True)),
        ("lacks point_threshold", without),
        ("unknown keys colour", edit(colour="red")),
        ("'point_threshold' must be a finite number", edit(point_threshold="0.2")),
        ("'point_threshold' must be a finite number", edit(point_threshold=float("nan"))),
        ("'object_threshold' must be a finite number", edit(object_threshold=float("inf"))),
        ("'normal_scans' must be a whole number", edit(normal_scans=-1)),
        ("'normal_points' must be a whole number", edit(normal_points=2.5)),
        ("'normal_points' must be a whole number", edit(normal_points=True)),
        ("'scorer' must be text", edit(scorer=3)),
        ("'leave_one_out' must be true or false", edit(leave_one_out=1)),
        ("'notes' must be a list", edit(notes="hi")),
        ("false_alarm_rate 0.0 is not in", edit(false_alarm_rate=0.0)),
        ("false_alarm_rate 1.5 is not in", edit(false_alarm_rate=1.5)),
        ("norm_low < point_threshold < norm_high", edit(norm_low=good["point_threshold"])),
        ("below the largest normal object score", edit(object_threshold=good["object_max"] - 1)),
        ("object_margin -1.0 is negative", edit(object_margin=-1.0)),
        ("no normal scan or point", edit(normal_scans=0)),
        ("not the score field of scorer 'casl'", edit(scorer="casl")),
        ("not the score field of scorer 'curvature'", edit(score_field="deviation")),
    ]


def test_every_malformed_calibration_is_refused_naming_the_file(tmp_path, real_calibration):
    good = to_json(real_calibration)
    for i, (message, doc) in enumerate(_bad_docs(good)):
        path = tmp_path / f"bad{i}.json"
        path.write_text(json.dumps(doc))  # Python writes NaN/Infinity literals, as a careless writer would
        with pytest.raises(CalibrationError) as err:
            read_calibration(path)
        assert str(path) in str(err.value) and message in str(err.value), (message, str(err.value))
    for name, data in (("empty.json", b""), ("cut.json", json.dumps(good).encode()[:50]), ("bin.json", b"\xff\xfe")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(CalibrationError, match=str(tmp_path / name)):
            read_calibration(tmp_path / name)
    with pytest.raises(CalibrationError, match="calibration file not found"):
        read_calibration(tmp_path / "missing.json")


def test_bad_inputs_to_learning_are_refused():
    with pytest.raises(ConfigError, match="false-alarm rate"):
        learn_calibration("curvature", CURVATURE_SCORE, [np.ones(5)], [1.0], normal_scans=1, false_alarm_rate=0)
    with pytest.raises(ConfigError, match="NaN"):
        learn_calibration("curvature", CURVATURE_SCORE, [np.array([1.0, np.nan])], [1.0], normal_scans=1)
    with pytest.raises(ConfigError, match="do not fit together"):
        learn_calibration("curvature", CURVATURE_SCORE, [np.ones(5)], [1.0, 2.0], normal_scans=1)
    with pytest.raises(ConfigError, match="at least one normal scan"):
        calibrate(CurvatureBaseline(device="cpu"), [])
    constant = learn_calibration("curvature", CURVATURE_SCORE, [np.zeros(50)], [0.0], normal_scans=1)
    assert constant.normalise(np.array([0.0]))[0] == 0.5 and constant.norm_low < 0.0 < constant.norm_high


class NearestReference:
    """A fake reference scorer: each point's distance to the nearest reference point."""

    name = "deviation"
    score_field = DEVIATION_SCORE

    def __init__(self, references: list[Path]) -> None:
        self.references = list(references)
        self.left_out: list[str] = []
        self._trees = [cKDTree(read_scan(p).points) for p in self.references]

    def without_reference(self, source: str) -> NearestReference:
        kept = [p for p in self.references if p.resolve() != Path(source).resolve()]
        if not kept:
            raise ConfigError("no reference would remain")
        self.left_out.append(source)
        other = NearestReference.__new__(NearestReference)
        other.references, other.left_out = kept, self.left_out
        other._trees = [t for p, t in zip(self.references, self._trees) if p in kept]
        return other

    def score(self, scan, *, progress=None, cancel=None) -> ScanScores:
        dist = np.min([t.query(scan.points)[0] for t in self._trees], axis=0).astype(np.float32)
        return ScanScores(scan.with_fields(deviation_score=dist), dist, object_score(dist))

    def for_category(self, category):
        return self


def test_reference_scorers_are_calibrated_leave_one_out(tmp_path, scans_dir):
    from casl_core.synth.parts import make_part

    files = []
    for seed in range(3):
        files.append(tmp_path / f"nut{seed}.ply")
        write_scan(make_part("hex_nut", seed=0, n_points=3000, noise=0.001 * (seed + 1)), files[-1])
    scorer = NearestReference(files)
    assert isinstance(scorer, ReferenceScorer)
    cal = calibrate(scorer, files, copies=0)
    assert sorted(Path(s).name for s in scorer.left_out) == [f.name for f in files]
    assert cal.leave_one_out and cal.scorer == "deviation"
    # each scan scored against the others only: no zero distances to itself
    expected = []
    for f in files:
        own = read_scan(f)
        others = [cKDTree(read_scan(g).points) for g in files if g != f]
        expected.append(np.min([t.query(own.points)[0] for t in others], axis=0))
    assert cal.point_threshold == pytest.approx(np.quantile(np.concatenate(expected), 1 - 1e-2), rel=1e-5)

    class WithoutHook:
        """The same scores, but no way to leave a reference out."""

        name = "deviation"

        def score(self, scan, *, progress=None, cancel=None):
            return scorer.score(scan)

    naive = calibrate(WithoutHook(), files, copies=0)
    assert not naive.leave_one_out and naive.point_threshold < cal.point_threshold / 2
