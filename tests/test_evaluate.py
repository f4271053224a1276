"""Per-category metric assembly of the evaluation protocol, against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from casl_core.evaluate import EvalResults, category_result


def test_category_result_matches_sklearn_and_mean_is_unweighted():
    rng = np.random.default_rng(3)
    obj_y = np.array([0, 0, 1, 1, 1])
    obj_s = rng.normal(size=5) + obj_y
    pl = [rng.integers(0, 2, 50).astype(np.uint8) for _ in range(5)]
    ps = [rng.normal(size=50) + y for y in pl]
    res = category_result("part", obj_y, obj_s, pl, ps)
    assert res.object_auroc == pytest.approx(roc_auc_score(obj_y, obj_s), abs=1e-12)
    assert res.object_aupr == pytest.approx(average_precision_score(obj_y, obj_s), abs=1e-12)
    cat_l, cat_s = np.concatenate(pl), np.concatenate(ps)
    assert res.point_auroc == pytest.approx(roc_auc_score(cat_l, cat_s), abs=1e-12)
    assert res.aupro is None and res.n_anomalous == 3 and res.n_points == 250
    only_good = category_result("good-only", [0, 0], [0.1, 0.2], [np.zeros(4, np.uint8)], [np.zeros(4)])
    assert only_good.object_auroc is None and only_good.point_auroc is None
    results = EvalResults(method="m", layout="folder", root="/r", categories={"part": res, "good-only": only_good})
    mean = results.mean()
    assert mean["object_auroc"] == pytest.approx(res.object_auroc)
    doc = results.to_json()
    assert doc["categories"]["good-only"]["object_auroc"] is None
    assert "mean" in results.table()


def test_aupro_is_computed_for_organized_maps():
    mask = np.zeros((8, 8), bool)
    mask[2:4, 2:5] = True
    amap = np.where(mask, 1.0, 0.0) + 0.01 * np.arange(64).reshape(8, 8)
    res = category_result("m", [0, 1], [0.0, 1.0], [mask.ravel().astype(np.uint8)], [amap.ravel()], [mask], [amap])
    assert res.aupro == pytest.approx(1.0)
