"""A fused inspector fitted into a CASL checkpoint: stored, reloaded, and refused when its references change."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from casl_core.errors import CheckpointError
from casl_core.fields import CASL_SCORE, CURVATURE_SCORE, FUSED_SCORE
from casl_core.inspector import InspectorSpec, fit_inspector, inspector_spec, load_inspector
from casl_core.io import read_scan, write_scan
from casl_core.nn.checkpoint import checkpoint_paths, read_checkpoint_info
from casl_core.synth.parts import make_part


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """Three normal hex nuts, a 1-epoch CASL model on them, and an inspector fitted without references."""
    from casl_core.train.finetune import FinetuneOptions, finetune

    root = tmp_path_factory.mktemp("inspector")
    normal = root / "normal"
    normal.mkdir()
    for seed in range(3):
        write_scan(make_part("hex_nut", seed=seed, n_points=2000), normal / f"nut_{seed}.ply")
    options = FinetuneOptions(epochs=1, batch_size=1, max_points=None, val_samples=1, config="small")
    ckpt = finetune([normal], root / "m.safetensors", options=options, device="cpu", use_bundled=False).checkpoint
    files = sorted(normal.glob("*.ply"))
    plain = root / "plain.safetensors"
    src, dst = checkpoint_paths(ckpt), checkpoint_paths(plain)
    shutil.copyfile(src.weights, dst.weights)
    shutil.copyfile(src.sidecar, dst.sidecar)
    spec = fit_inspector(ckpt, files, references=[], device="cpu")
    return ckpt, files, spec, plain


def test_the_inspector_is_stored_in_both_files_of_the_checkpoint(fitted):
    ckpt, _files, spec, _plain = fitted
    assert inspector_spec(ckpt) == spec
    sidecar = json.loads(checkpoint_paths(ckpt).sidecar.read_text())
    assert InspectorSpec.from_json(sidecar["inspector"], "x") == spec
    assert spec.fusion.scorers == ("curvature", "casl")
    assert spec.calibration.scorer == "fused" and spec.calibration.leave_one_out
    # the model's own calibration from fine-tuning is kept beside it
    assert read_checkpoint_info(ckpt).calibration is not None


def test_the_reloaded_inspector_scores_like_its_parts(fitted):
    ckpt, _files, spec, _plain = fitted
    fused, cal = load_inspector(ckpt, device="cpu")
    assert cal == spec.calibration
    scan = make_part("hex_nut", seed=7, n_points=2000)
    result = fused.score(scan)
    fields = result.scan.fields
    assert {CURVATURE_SCORE, CASL_SCORE, FUSED_SCORE} <= set(fields)
    c, k = spec.fusion.normalisers
    expected = np.maximum(c.apply(fields[CURVATURE_SCORE]), k.apply(fields[CASL_SCORE]))
    np.testing.assert_allclose(result.point_scores, expected, rtol=1e-5, atol=1e-5)


def test_a_changed_or_missing_reference_is_refused(fitted, tmp_path):
    from dataclasses import replace

    from casl_core.inspector import ReferenceFile, file_sha256

    ckpt, files, spec, _plain = fitted
    ref = tmp_path / "ref.ply"
    write_scan(read_scan(files[0]), ref)
    good = ReferenceFile(str(ref), file_sha256(ref))
    assert good.check("m") == ref
    ref.write_bytes(ref.read_bytes() + b"\n")
    with pytest.raises(CheckpointError, match="changed since"):
        good.check("m")
    ref.unlink()
    with pytest.raises(CheckpointError, match="missing"):
        good.check("m")
    assert replace(spec, references=(good,)).to_json()["references"][0]["path"] == str(ref)


def test_a_checkpoint_without_inspector_says_how_to_fit_one(fitted):
    plain = fitted[3]
    assert inspector_spec(plain) is None
    with pytest.raises(CheckpointError, match="casl fuse --checkpoint"):
        load_inspector(plain, device="cpu")


def test_the_command_line_fits_stores_and_uses_a_fused_inspector(fitted, tmp_path):
    """casl fuse with the normal scans as references, then casl infer and casl eval --method fused."""
    from casl_core.cli import main
    from casl_core.fields import DEVIATION_SCORE
    from casl_core.synth.testset import make_test_set

    _ckpt, files, _spec, plain = fitted
    model = tmp_path / "m.safetensors"
    src, dst = checkpoint_paths(plain), checkpoint_paths(model)
    shutil.copyfile(src.weights, dst.weights)
    shutil.copyfile(src.sidecar, dst.sidecar)
    assert (
        main(["--quiet", "fuse", "--checkpoint", str(model), "--normal", str(files[0].parent), "--device", "cpu"]) == 0
    )
    spec = inspector_spec(model)
    assert spec is not None and spec.fusion.scorers == ("curvature", "casl", "deviation")
    assert [r.path for r in spec.references] == [str(f.resolve()) for f in files]
    # leave-one-out: a normal scan is never its own reference, so its deviation is not zero everywhere
    deviation = spec.fusion.normalisers[2]
    assert deviation.tail > deviation.median >= 0.0

    test = tmp_path / "test.ply"
    write_scan(make_part("hex_nut", seed=11, n_points=2000), test)
    out = tmp_path / "out"
    assert (
        main(
            [
                "--quiet",
                "infer",
                str(test),
                "--checkpoint",
                str(model),
                "--method",
                "fused",
                "--out-dir",
                str(out),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    scored = read_scan(out / "test.ply")
    assert {FUSED_SCORE, DEVIATION_SCORE, CASL_SCORE, "fused_score_norm"} <= set(scored.fields)
    assert (out / f"test_{FUSED_SCORE}.npy").is_file()
    summary = (out / "object_scores.csv").read_text()
    assert "fused" in summary

    root = make_test_set(
        [read_scan(f) for f in files], tmp_path / "set", category="nut", per_kind=1, n_good=2, kinds=["bulge", "hole"]
    )
    results = tmp_path / "r.json"
    assert (
        main(
            [
                "--quiet",
                "eval",
                "--root",
                str(root),
                "--method",
                "fused",
                "--checkpoint",
                str(model),
                "--out",
                str(results),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    doc = json.loads(results.read_text())
    cat = doc["categories"]["nut"]
    assert doc["method"] == "fused" and cat["verdict_scorer"] == "fused"
    assert cat["n_good_fail"] is not None and cat["object_auroc"] is not None
