"""`casl pretrain`, `casl finetune` and `casl infer` run as a user would, on tiny demo parts."""

from __future__ import annotations

import builtins
import csv
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from casl_core.io import read_scan, write_scan
from casl_core.synth.parts import make_part
from casl_core.synth.testset import make_test_set

CASL = [sys.executable, "-m", "casl_core.cli"]


def casl(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="2")
    return subprocess.run([*CASL, *args], capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def train_dir(tmp_path_factory):
    train = tmp_path_factory.mktemp("nuts") / "train"
    train.mkdir()
    for seed in range(3):
        write_scan(make_part("hex_nut", seed=seed, n_points=700), train / f"nut_{seed}.ply")
    return train


class _Payload:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (builtins.open, (self.marker, "w"))


@pytest.mark.slow
def test_pretrain_finetune_resume_and_infer_end_to_end(train_dir, tmp_path):
    pre = tmp_path / "pre.safetensors"
    proc = casl(
        "pretrain", "--data", str(train_dir), "--out", str(pre), "--epochs", "1", "--device", "cpu", "--batch-size", "3"
    )
    assert proc.returncode == 0, proc.stderr
    assert pre.is_file() and (tmp_path / "pre.json").is_file()

    model = tmp_path / "model.safetensors"
    common = ["--train", str(train_dir), "--out", str(model), "--init", str(pre), "--device", "cpu"]
    proc = casl("finetune", *common, "--epochs", "1")
    assert proc.returncode == 0, proc.stderr
    assert "epoch 1/1" in proc.stderr
    doc = json.loads((tmp_path / "model.json").read_text())
    assert doc["kind"] == "finetune" and doc["command"][:2] == ["casl", "finetune"] and doc["epoch"] == 1

    proc = casl("finetune", *common, "--epochs", "2", "--resume")
    assert proc.returncode == 0, proc.stderr
    assert "epoch 2/2" in proc.stderr and "epoch 1/2" not in proc.stderr
    assert (tmp_path / "model.resume.safetensors").is_file()

    out = tmp_path / "scores"
    files = [str(train_dir / "nut_0.ply"), str(train_dir / "nut_2.ply")]
    proc = casl("infer", "--checkpoint", str(model), *files, "--out-dir", str(out), "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(open(out / "object_scores.csv")))
    assert [r["file"] for r in rows] == files
    for name, row in zip(("nut_0", "nut_2"), rows):
        scores = np.load(out / f"{name}_casl_score.npy")
        scanned = read_scan(out / f"{name}.ply")
        assert scores.shape == (700,) and scores.dtype == np.float32
        np.testing.assert_allclose(scanned.fields["casl_score"], scores, rtol=1e-6)
        assert float(row["object_score"]) == pytest.approx(float(np.sort(scores)[-7:].mean()), rel=1e-5)

    root = tmp_path / "real3d"
    make_test_set([read_scan(train_dir / "nut_1.ply")], root, layout="real3d", category="nut", per_kind=1, seed=2)
    results = tmp_path / "RESULTS.json"
    proc = casl(
        "eval",
        "--root",
        str(root),
        "--method",
        "casl",
        "--checkpoint",
        str(model),
        "--out",
        str(results),
        "--device",
        "cpu",
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(results.read_text())
    assert doc["method"] == "casl" and doc["categories"]["nut"]["point_auroc"] is not None


def test_a_pickle_checkpoint_is_refused_on_one_line_and_never_run(train_dir, tmp_path):
    marker = tmp_path / "marker"
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(_Payload(str(marker)), protocol=4))
    proc = casl(
        "infer",
        "--checkpoint",
        str(evil),
        str(train_dir / "nut_0.ply"),
        "--out-dir",
        str(tmp_path / "o"),
        "--device",
        "cpu",
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("casl: error: ") and "pickle" in lines[0]
    assert str(evil) in lines[0] and not marker.exists()


def test_bad_options_fail_with_one_line(train_dir, tmp_path):
    proc = casl("finetune", "--train", str(train_dir), "--out", str(tmp_path / "m"), "--device", "cuda:7")
    assert proc.returncode == 1 and "cuda:7" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    proc = casl("finetune", "--train", str(tmp_path / "missing"), "--out", str(tmp_path / "m"), "--device", "cpu")
    assert proc.returncode == 1 and "missing" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    proc = casl("finetune", "--train", str(train_dir), "--out", str(tmp_path / "m"), "--device", "cpu", "--resume")
    assert proc.returncode == 1 and "no resumable state" in proc.stderr


@pytest.mark.slow
def test_finetune_with_missing_patches_records_the_fraction(train_dir, tmp_path):
    model = tmp_path / "mixed.safetensors"
    common = ["--train", str(train_dir), "--out", str(model), "--device", "cpu", "--epochs", "2"]
    proc = casl("finetune", *common, "--missing-fraction", "0.5")
    assert proc.returncode == 0, proc.stderr
    assert "epoch 2/2" in proc.stderr
    doc = json.loads((tmp_path / "mixed.json").read_text())
    assert doc["training"]["missing_fraction"] == 0.5 and "--missing-fraction" in doc["command"]
    proc = casl("finetune", *common, "--missing-fraction", "1.5")
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1
    assert "missing-patch fraction" in proc.stderr and "1.5" in proc.stderr
