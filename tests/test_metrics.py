"""Metrics cross-checked against scikit-learn and a slow threshold-loop AUPRO."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

from casl_core.errors import ConfigError
from casl_core.metrics import (
    aupr,
    aupro,
    auroc,
    f1_max,
    pro_curve,
    score_map,
)


def _random_case(rng: np.random.Generator, n: int, tie_levels: int | None) -> tuple[np.ndarray, np.ndarray]:
    labels = (rng.random(n) < rng.uniform(0.05, 0.6)).astype(np.uint8)
    labels[0], labels[1] = 0, 1
    signal = labels * rng.uniform(0.0, 2.0)
    scores = signal + rng.normal(size=n)
    if tie_levels is not None:
        scores = np.round(scores * tie_levels) / tie_levels
    return labels, scores


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("ties", [None, 3, 20])
def test_auroc_aupr_match_sklearn_with_and_without_ties(seed: int, ties: int | None) -> None:
    rng = np.random.default_rng(seed)
    labels, scores = _random_case(rng, int(rng.integers(10, 3000)), ties)
    assert auroc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert aupr(labels, scores) == pytest.approx(average_precision_score(labels, scores), abs=1e-12)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("ties", [None, 4])
def test_f1_max_matches_best_point_of_sklearn_pr_curve(seed: int, ties: int | None) -> None:
    rng = np.random.default_rng(100 + seed)
    labels, scores = _random_case(rng, int(rng.integers(10, 2000)), ties)
    p, r, t = precision_recall_curve(labels, scores)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
    best = f1_max(labels, scores)
    assert best.f1 == pytest.approx(f1.max(), abs=1e-12)
    predicted = scores >= best.threshold
    tp = np.sum(predicted & (labels == 1))
    assert best.precision == pytest.approx(tp / predicted.sum(), abs=1e-12)
    assert best.recall == pytest.approx(tp / labels.sum(), abs=1e-12)
    assert best.threshold in set(t.tolist())


def test_metrics_on_real_curvature_of_a_cad_part_against_sklearn(scans_dir) -> None:
    """Real-ish data: a shared CAD scan, a ball of vertices labelled, scores = closeness to a
    shifted centre rounded to create many ties."""
    path = scans_dir / "common-3d-test-models" / "fandisk.obj"
    rows = [line.split()[1:4] for line in path.read_text().splitlines() if line.startswith("v ")]
    pts = np.asarray(rows, dtype=np.float64)
    d = np.linalg.norm(pts - pts[100], axis=1)
    labels = (d < np.quantile(d, 0.05)).astype(int)
    scores = -np.round(np.linalg.norm(pts - pts[100] - 0.3, axis=1), 1)
    assert 0 < labels.sum() < len(labels) and len(np.unique(scores)) < len(scores) / 10
    assert auroc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert aupr(labels, scores) == pytest.approx(average_precision_score(labels, scores), abs=1e-12)


def test_hand_computable_values() -> None:
    # 4 samples: positive scores {0.8, 0.4}, negative {0.6, 0.1}: 3 of 4 pairs ordered.
    labels, scores = [1, 0, 1, 0], [0.8, 0.6, 0.4, 0.1]
    assert auroc(labels, scores) == 0.75
    # thresholds 0.8 (P=1, R=.5), 0.6 (P=.5), 0.4 (P=2/3, R=1): AP = .5*1 + .5*2/3
    assert aupr(labels, scores) == pytest.approx(0.5 + 1 / 3)
    best = f1_max(labels, scores)
    assert best.f1 == pytest.approx(0.8) and best.threshold == 0.4
    # a full tie is chance level
    assert auroc([0, 1, 0, 1], [2, 2, 2, 2]) == 0.5
    assert auroc([0, 1], [0.0, 1.0]) == 1.0 and auroc([1, 0], [0.0, 1.0]) == 0.0


@pytest.mark.parametrize(
    ("labels", "scores", "match"),
    [
        ([0, 1, 1], [0.1, 0.2], "length"),
        ([1, 1, 1], [0.1, 0.2, 0.3], "both classes"),
        ([0, 0], [0.1, 0.2], "both classes"),
        ([0, 1], [0.1, np.nan], "NaN"),
        ([0, 2], [0.1, 0.2], "0 or 1"),
        ([], [], "no labels"),
    ],
)
def test_bad_inputs_raise_config_error(labels, scores, match: str) -> None:
    for fn in (auroc, aupr, f1_max):
        with pytest.raises(ConfigError, match=match):
            fn(labels, scores)


def _reference_aupro(masks: list[np.ndarray], maps: list[np.ndarray], limit: float) -> float:
    """Threshold loop over every distinct score, then exact piecewise-linear area."""
    structure = np.ones((3, 3), dtype=int)
    regions = []
    normal_scores = []
    for m, a in zip(masks, maps):
        lab, n = ndimage.label(m, structure=structure)
        for k in range(1, n + 1):
            regions.append(a[lab == k])
        normal_scores.append(a[lab == 0])
    normal = np.concatenate(normal_scores)
    points = [(0.0, 0.0)]
    for t in np.unique(np.concatenate([a.ravel() for a in maps]))[::-1]:
        fpr = np.mean(normal >= t)
        pro = np.mean([np.mean(r >= t) for r in regions])
        points.append((fpr, pro))
    points.append((1.0, 1.0))
    area = 0.0
    for (x0, y0), (x1, y1) in zip(points[:-1], points[1:]):
        if x0 >= limit:
            break
        if x1 <= limit:
            area += (x1 - x0) * (y0 + y1) / 2
        else:
            y_lim = y0 + (y1 - y0) * (limit - x0) / (x1 - x0)
            area += (limit - x0) * (y0 + y_lim) / 2
    return area / limit


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("limit", [0.3, 0.05, 1.0])
def test_aupro_matches_threshold_loop_reference(seed: int, limit: float) -> None:
    rng = np.random.default_rng(seed)
    masks, maps = [], []
    for _ in range(int(rng.integers(1, 4))):
        h, w = rng.integers(6, 20, size=2)
        m = rng.random((h, w)) < 0.04
        if rng.random() < 0.5:
            m = ndimage.binary_dilation(m)
        a = m * rng.uniform(0, 1.5) + rng.normal(size=(h, w))
        if seed % 2:
            a = np.round(a * 2) / 2
        masks.append(m)
        maps.append(a)
    if not any(m.any() for m in masks):
        masks[0][0, 0] = True
    assert aupro(masks, maps, limit) == pytest.approx(_reference_aupro(masks, maps, limit), abs=1e-12)


def test_aupro_uses_eight_connectivity_and_hand_values() -> None:
    mask = np.zeros((4, 4), bool)
    mask[0, 0] = True
    mask[1, 1] = mask[1, 2] = True  # touches (0, 0) only diagonally
    assert aupro([mask], [mask * 1.0]) == pytest.approx(1.0)
    only_corner = np.zeros((4, 4))
    only_corner[0, 0] = 2.0
    fpr, pro = pro_curve([mask], [only_corner])
    # 8-connected: one region of 3 pixels, 1 found -> 1/3 (4-connected would give 1/2)
    assert fpr[1] == 0.0 and pro[1] == pytest.approx(1 / 3)
    # region-averaged, not pixel-averaged: a big missed region and a small found one
    big = np.zeros((10, 10), bool)
    big[:5, :5] = True
    big[9, 9] = True
    found_small = np.zeros((10, 10))
    found_small[9, 9] = 1.0
    fpr3, pro3 = pro_curve([big], [found_small])
    assert pro3[1] == pytest.approx(0.5) and fpr3[1] == 0.0
    # AUPRO there: PRO 1/2 from FPR 0 until every pixel is above threshold (FPR 1)
    assert aupro([big], [found_small], 0.3) == pytest.approx(0.5 + 0.5 * 0.15)


def test_aupro_errors() -> None:
    with pytest.raises(ConfigError, match="no anomalous region"):
        aupro([np.zeros((3, 3))], [np.zeros((3, 3))])
    with pytest.raises(ConfigError, match="shape"):
        aupro([np.zeros((3, 3))], [np.zeros((3, 4))])
    with pytest.raises(ConfigError, match="masks"):
        aupro([np.zeros((3, 3))], [])
    with pytest.raises(ConfigError, match="fpr_limit"):
        aupro([np.ones((3, 3))], [np.zeros((3, 3))], fpr_limit=0)


def test_score_map_scatters_points_to_pixels() -> None:
    img = score_map(np.array([0, 5]), np.array([3.0, 7.0]), (2, 3))
    assert img.tolist() == [[3.0, 3.0, 3.0], [3.0, 3.0, 7.0]]
    with pytest.raises(ConfigError, match="outside"):
        score_map(np.array([6]), np.array([1.0]), (2, 3))
