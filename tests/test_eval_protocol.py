"""`casl eval` end to end on a Real3D-AD-layout set built from real scans, checked with scikit-learn."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from casl_core.datasets import open_dataset
from casl_core.io import read_scan
from casl_core.synth.testset import make_test_set

pytestmark = pytest.mark.shared_scans


@pytest.fixture(scope="module")
def real3d_root(tmp_path_factory, scans_dir):
    root = tmp_path_factory.mktemp("real3d")
    for category, rel in (("rocker", "rocker-arm.obj"), ("fandisk", "fandisk.obj")):
        scan = read_scan(scans_dir / "common-3d-test-models" / rel)
        make_test_set([scan], root, layout="real3d", category=category, per_kind=1, seed=7)
    return root


def test_eval_writes_results_and_scores_that_sklearn_agrees_with(real3d_root, tmp_path):
    out = tmp_path / "RESULTS.json"
    scores_dir = tmp_path / "scores"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "casl_core.cli",
            "eval",
            "--root",
            str(real3d_root),
            "--method",
            "curvature",
            "--out",
            str(out),
            "--scores-dir",
            str(scores_dir),
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads(out.read_text())
    assert set(results) >= {"categories", "mean"}
    dataset = open_dataset(real3d_root)
    assert set(results["categories"]) == set(dataset.categories)
    for cat in dataset.categories:
        got = results["categories"][cat]
        samples = dataset.category(cat).test
        with open(scores_dir / cat / "object_scores.csv") as fh:
            rows = {r["file"]: float(r["object_score"]) for r in csv.DictReader(fh)}
        assert set(rows) == {s.name for s in samples}
        obj_labels = [int(s.is_anomalous) for s in samples]
        obj_scores = [rows[s.name] for s in samples]
        assert got["object_auroc"] == pytest.approx(roc_auc_score(obj_labels, obj_scores), abs=1e-12)
        pt_scores, pt_labels = [], []
        for s in samples:
            scores = np.load(scores_dir / cat / f"{s.name}.npy", allow_pickle=False)
            scan = s.load()
            assert scores.dtype == np.float32 and scores.shape == (len(scan),)
            pt_scores.append(scores)
            pt_labels.append(scan.labels)
        ps, pl = np.concatenate(pt_scores), np.concatenate(pt_labels)
        assert got["point_auroc"] == pytest.approx(roc_auc_score(pl, ps), abs=1e-9)
        assert got["point_aupr"] == pytest.approx(average_precision_score(pl, ps), abs=1e-9)
    means = [results["categories"][c]["point_auroc"] for c in dataset.categories]
    assert results["mean"]["point_auroc"] == pytest.approx(np.mean(means))
    assert "mean" in proc.stdout and "point AUROC" in proc.stdout


def test_eval_unknown_category_is_a_clear_error(real3d_root, tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "casl_core.cli",
            "eval",
            "--root",
            str(real3d_root),
            "--categories",
            "nosuch",
            "--out",
            str(tmp_path / "r.json"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1 and "nosuch" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "r.json").exists()
