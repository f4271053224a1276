"""CASL calibration at the end of fine-tuning, verdicts in `casl infer`, and `casl calibrate` then `casl eval`."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from casl_core.errors import CalibrationError
from casl_core.fields import CASL_SCORE, normalised_field
from casl_core.io import read_scan, write_scan
from casl_core.nn.checkpoint import checkpoint_paths, load_checkpoint, read_checkpoint_info, save_checkpoint
from casl_core.scorers.calibration import augmented_copy
from casl_core.scorers.calibration_io import read_calibration

CASL = [sys.executable, "-m", "casl_core.cli"]


def casl(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([*CASL, *args], capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def normal_parts(tmp_path_factory) -> Path:
    from casl_core.synth.parts import make_part

    folder = tmp_path_factory.mktemp("normal_parts")
    for seed in range(3):
        write_scan(make_part("hex_nut", seed=seed, n_points=2000), folder / f"nut_{seed}.ply")
    return folder


@pytest.fixture(scope="module")
def tiny_checkpoint(normal_parts, tmp_path_factory) -> Path:
    """A 1-epoch fine-tune on three nuts (seconds on a CPU), calibrated at its end."""
    from casl_core.train.finetune import FinetuneOptions, finetune

    out = tmp_path_factory.mktemp("tiny_model") / "tiny.safetensors"
    options = FinetuneOptions(epochs=1, batch_size=1, max_points=None, val_samples=1, config="small")
    return finetune([normal_parts], out, options=options, device="cpu", use_bundled=False).checkpoint


def test_finetune_stores_its_calibration_in_the_checkpoint(tiny_checkpoint, normal_parts):
    from casl_core.scorers.casl import infer_scan, load_model
    from casl_core.scorers.pooling import object_score

    info = read_checkpoint_info(tiny_checkpoint)
    assert info.calibration is not None
    sidecar = json.loads(checkpoint_paths(tiny_checkpoint).sidecar.read_text())
    assert sidecar["calibration"] == info.calibration
    model = load_model(tiny_checkpoint, "cpu")
    cal = model.calibration
    held = info.training["held_out"]
    assert cal.scorer == "casl" and cal.score_field == CASL_SCORE and len(held) == 1
    assert cal.normal_scans == 1 and cal.augmented_scans == 2 * 3  # copies of the held-out and the 2 trained
    # replay: the held-out scan and copies of every scan, scored by the saved model, against numpy
    files = sorted(normal_parts.glob("*.ply"))
    order = [f for f in files if f.name in held] + [f for f in files if f.name not in held]
    rng = np.random.default_rng([0, 4242])
    points, objects = [], []
    for i, f in enumerate(order):
        scan = read_scan(f)
        variants = ([scan] if i == 0 else []) + [augmented_copy(scan, rng) for _ in range(2)]
        for v in variants:
            s = infer_scan(model, v).point_scores.astype(np.float64)
            points.append(s)
            objects.append(object_score(s))
    pooled = np.concatenate(points)
    assert cal.point_threshold == pytest.approx(np.quantile(pooled, 1 - cal.false_alarm_rate), rel=1e-4, abs=1e-5)
    assert cal.object_max == pytest.approx(max(objects), rel=1e-4, abs=1e-5)


def test_old_checkpoints_load_as_not_calibrated_and_bad_ones_are_refused(tiny_checkpoint, tmp_path, normal_parts):
    from casl_core.infer import infer_files
    from casl_core.scorers.casl import CaslScorer, load_model

    ckpt = load_checkpoint(tiny_checkpoint)
    old = tmp_path / "old.safetensors"
    save_checkpoint(old, ckpt.state_dict, replace(ckpt.info, calibration=None))
    assert load_model(old, "cpu").calibration is None and CaslScorer(old, "cpu").calibration is None
    records = infer_files(old, [normal_parts / "nut_0.ply"], tmp_path / "out", device="cpu")
    assert records[0].verdict == "NOT_CALIBRATED" and records[0].verdict_text == "not calibrated (casl)"
    broken = dict(ckpt.info.calibration, point_threshold="high")
    bad = tmp_path / "bad.safetensors"
    save_checkpoint(bad, ckpt.state_dict, replace(ckpt.info, calibration=broken))
    with pytest.raises(CalibrationError, match=f"{bad}: calibration: calibration 'point_threshold'"):
        load_model(bad, "cpu")


def test_infer_prints_and_writes_each_verdict(tiny_checkpoint, normal_parts, tmp_path):
    from casl_core.inspection.verdict import scan_verdict

    files = [str(normal_parts / "nut_1.ply"), str(normal_parts / "nut_2.ply")]
    out = tmp_path / "inf"
    proc = casl("infer", *files, "--checkpoint", str(tiny_checkpoint), "--out-dir", str(out), "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    cal = read_checkpoint_info(tiny_checkpoint).calibration
    with open(out / "object_scores.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2
    from casl_core.scorers.calibration_io import from_json

    calibration = from_json(cal, "ckpt")
    for row in rows:
        scan = read_scan(row["scan"])
        assert normalised_field(CASL_SCORE) in scan.fields
        expected = scan_verdict(scan, {"casl": calibration}, object_scores={"casl": float(row["object_score"])})
        assert row["verdict"] == expected.status.value and row["verdict_text"] == expected.text
        assert float(row["object_threshold"]) == pytest.approx(calibration.object_threshold)
        assert expected.text in proc.stdout


@pytest.fixture(scope="module")
def synthetic_set(tmp_path_factory) -> Path:
    from casl_core.synth.parts import make_part
    from casl_core.synth.testset import make_test_set

    normal = [make_part("flange", seed=0, n_points=5000, noise=n) for n in (0.001, 0.0012, 0.0008)]
    return make_test_set(normal, tmp_path_factory.mktemp("set") / "ds", layout="folder", per_kind=1, n_good=6, seed=1)


def test_calibrate_then_eval_prints_the_verdict_counts(synthetic_set, tmp_path):
    cal_path, results, scores = tmp_path / "cal.json", tmp_path / "RESULTS.json", tmp_path / "scores"
    proc = casl("calibrate", "--method", "curvature", "--normal", str(synthetic_set / "train"), "--out", str(cal_path))
    assert proc.returncode == 0, proc.stderr
    assert "curvature: point threshold" in proc.stdout and cal_path.is_file()
    cal = read_calibration(cal_path)
    assert cal.normal_scans == 3 and cal.augmented_scans == 6
    proc = casl(
        "eval", "--root", str(synthetic_set), "--calibration", str(cal_path), "--out", str(results),
        "--scores-dir", str(scores), "--device", "cpu",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "good FAIL" in proc.stdout and "defective PASS" in proc.stdout and "top region on defect" in proc.stdout
    doc = json.loads(results.read_text())
    cat = next(iter(doc["categories"].values()))
    with open(next(scores.glob("*/object_scores.csv")), newline="") as fh:
        rows = list(csv.DictReader(fh))
    good = [r for r in rows if "good" in r["file"]]
    bad = [r for r in rows if "good" not in r["file"]]
    assert len(good) == 6 and len(bad) == 6
    # the counts follow from the object scores and the calibrated object threshold
    good_fail = sum(float(r["object_score"]) > cal.object_threshold for r in good)
    bad_pass = sum(float(r["object_score"]) <= cal.object_threshold for r in bad)
    assert cat["n_good_fail"] == good_fail and cat["n_defective_pass"] == bad_pass
    assert cat["verdict_scorer"] == "curvature" and cat["calibrated_on"] == "given"
    assert f"{good_fail}/6" in proc.stdout and f"{bad_pass}/6" in proc.stdout
    assert doc["verdicts"]["n_good_fail"] == good_fail and doc["verdicts"]["n_defective"] == 6
    assert [r["verdict"] for r in rows].count("FAIL") == good_fail + 6 - bad_pass
    # without a calibration, eval learns one on the train split: the same file, the same verdicts
    proc = casl("eval", "--root", str(synthetic_set), "--out", str(tmp_path / "R2.json"), "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    again = next(iter(json.loads((tmp_path / "R2.json").read_text())["categories"].values()))
    assert again["calibrated_on"] == "train split" and again["n_good_fail"] == good_fail


def test_calibrate_errors_are_one_line(tmp_path, synthetic_set, tiny_checkpoint):
    normal = str(synthetic_set / "train")
    proc = casl("calibrate", "--method", "casl", "--normal", normal, "--out", str(tmp_path / "c.json"))
    assert proc.returncode == 1 and "--method casl needs --checkpoint" in proc.stderr
    proc = casl("calibrate", "--method", "curvature", "--normal", normal, "--out", str(tmp_path / "no" / "c.json"))
    assert proc.returncode == 1 and "does not exist" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    if importlib.util.find_spec("casl_core.scorers.deviation") is None:
        proc = casl("calibrate", "--method", "deviation", "--normal", normal, "--out", str(tmp_path / "d.json"))
        assert proc.returncode == 1 and "deviation scorer is not available" in proc.stderr
    cal = tmp_path / "casl.json"
    proc = casl(
        "calibrate", "--method", "casl", "--checkpoint", str(tiny_checkpoint), "--normal", normal,
        "--out", str(cal), "--copies", "0", "--device", "cpu",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    proc = casl("eval", "--root", str(synthetic_set), "--calibration", str(cal), "--out", str(tmp_path / "R.json"))
    assert proc.returncode == 1 and "for scorer 'casl', not 'curvature'" in proc.stderr
    (tmp_path / "junk.json").write_text("{")
    proc = casl("eval", "--root", str(synthetic_set), "--calibration", str(tmp_path / "junk.json"), "--out", "R.json")
    assert proc.returncode == 1 and f"{tmp_path / 'junk.json'}: not a JSON calibration" in proc.stderr


def test_calibrate_store_writes_the_calibration_into_a_checkpoint_as_finetuning_does(
    tiny_checkpoint, normal_parts, tmp_path
):
    import shutil

    ckpt = tmp_path / "copy.safetensors"
    shutil.copy(tiny_checkpoint, ckpt)
    shutil.copy(checkpoint_paths(tiny_checkpoint).sidecar, checkpoint_paths(ckpt).sidecar)
    before = load_checkpoint(ckpt)
    cal_path = tmp_path / "c.json"
    proc = casl(
        "calibrate", "--method", "casl", "--checkpoint", str(ckpt), "--normal", str(normal_parts),
        "--false-alarm-rate", "0.01", "--store", "--out", str(cal_path), "--device", "cpu",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    after = load_checkpoint(ckpt)
    stored = after.info.calibration
    assert stored == json.loads(cal_path.read_text()) and stored["false_alarm_rate"] == 0.01
    assert stored["normal_scans"] == 1 and stored["augmented_scans"] == 6  # its held-out scan, copies of all three
    assert all(np.array_equal(before.state_dict[k], after.state_dict[k]) for k in before.state_dict)
    proc = casl("calibrate", "--method", "curvature", "--normal", str(normal_parts), "--store", "--out", str(cal_path))
    assert proc.returncode == 1 and "--store needs --method casl" in proc.stderr
