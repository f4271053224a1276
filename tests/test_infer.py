"""Inference: every input point scored in input order, chunking exact, the Scorer interface."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from casl_core.errors import CheckpointError, ConfigError
from casl_core.fields import CASL_SCORE as SCORE_FIELD
from casl_core.infer import infer_files
from casl_core.io import read_scan
from casl_core.nn.casl_net import CaslBatch
from casl_core.nn.checkpoint import CheckpointInfo, save_checkpoint
from casl_core.nn.config import config_by_name
from casl_core.nn.preprocess import normalize_points
from casl_core.scan import Scan
from casl_core.scorers.casl import CaslScorer, infer_scan, load_model, point_scores
from casl_core.scorers.pooling import object_score


def _checkpoint(path, kind="finetune", seed=0):
    from casl_core.nn.casl_net import CaslNet

    torch.manual_seed(seed)
    net = CaslNet(config_by_name("small"))
    # Non-trivial batch-norm statistics, as a trained model has.
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    info = CheckpointInfo(kind=kind, config_name="small", config=net.config.to_dict())
    save_checkpoint(path, net.state_dict(), info)
    return path


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return _checkpoint(tmp_path_factory.mktemp("ckpt") / "model.safetensors")


@pytest.fixture(scope="module")
def fandisk(scans_dir):
    return read_scan(scans_dir / "common-3d-test-models" / "fandisk.obj")


@pytest.mark.shared_scans
def test_every_point_is_scored_in_input_order(model_path, fandisk):
    from casl_core.geometry import add_curvature

    model = load_model(model_path, "cpu")
    fandisk = add_curvature(fandisk)  # fixed curvature, so only the network sees the new order
    result = infer_scan(model, fandisk)
    assert result.point_scores.shape == (len(fandisk),) and result.point_scores.dtype == np.float32
    assert np.isfinite(result.point_scores).all()
    np.testing.assert_array_equal(result.scan.fields[SCORE_FIELD], result.point_scores)
    np.testing.assert_array_equal(result.scan.points, fandisk.points)
    # Shuffle the point order: each point keeps its own score.
    perm = np.random.default_rng(0).permutation(len(fandisk))
    shuffled = infer_scan(model, fandisk.subset(perm))
    np.testing.assert_allclose(shuffled.point_scores, result.point_scores[perm], rtol=1e-4, atol=1e-4)
    assert result.object_score == pytest.approx(object_score(result.point_scores))


@pytest.mark.shared_scans
def test_scores_equal_the_networks_own_logit_difference(model_path, fandisk):
    model = load_model(model_path, "cpu")
    normalized, _ = normalize_points(fandisk.points)
    curvature = np.random.default_rng(1).uniform(0, 0.3, size=(len(fandisk), 3)).astype(np.float32)
    with torch.no_grad():
        logits = model.net(CaslBatch.from_scans([normalized], [curvature])).logits
    reference = (torch.log_softmax(logits, 1)[:, 1] - torch.log_softmax(logits, 1)[:, 0]).numpy()
    scores = point_scores(model, normalized, curvature)
    np.testing.assert_allclose(scores, reference, rtol=1e-5, atol=1e-5)


@pytest.mark.shared_scans
@pytest.mark.parametrize("chunk", [1, 997, 4096])
def test_chunked_scoring_equals_unchunked(model_path, fandisk, chunk):
    model = load_model(model_path, "cpu")
    normalized, _ = normalize_points(fandisk.points)
    curvature = np.random.default_rng(2).uniform(0, 0.3, size=(len(fandisk), 3)).astype(np.float32)
    whole = point_scores(model, normalized, curvature, chunk_points=len(fandisk))
    if chunk == 1:  # one point at a time is slow: check a slice of the scan
        normalized, curvature = normalized[:300], curvature[:300]
        whole = point_scores(model, normalized, curvature, chunk_points=300)
    chunked = point_scores(model, normalized, curvature, chunk_points=chunk)
    # Equal up to float rounding (a matrix product of one row may round differently in BLAS).
    np.testing.assert_allclose(chunked, whole, rtol=1e-5, atol=1e-6)


@pytest.mark.shared_scans
def test_curvature_fields_already_on_the_scan_are_used(model_path, fandisk):
    from casl_core.geometry import add_curvature

    model = load_model(model_path, "cpu")
    with_fields = add_curvature(fandisk)
    a = infer_scan(model, with_fields).point_scores
    b = infer_scan(model, fandisk).point_scores
    np.testing.assert_allclose(a, b, atol=1e-3)


@pytest.mark.shared_scans
def test_scorer_interface_and_per_category_folder(model_path, fandisk, tmp_path):
    scorer = CaslScorer(model_path, "cpu")
    assert scorer.name == "casl"
    result = scorer.score(fandisk)
    assert result.object_score == pytest.approx(object_score(result.point_scores))
    _checkpoint(tmp_path / "bagel.safetensors")
    folder = CaslScorer(tmp_path, "cpu")
    assert folder.for_category("bagel").score(fandisk).point_scores.shape == (len(fandisk),)
    with pytest.raises(CheckpointError, match="rope"):
        folder.for_category("rope")


def test_pretraining_checkpoint_is_refused_for_scoring(tmp_path):
    path = _checkpoint(tmp_path / "pre.safetensors", kind="pretrain")
    with pytest.raises(CheckpointError, match="fine-tune"):
        load_model(path, "cpu")


def test_infer_files_writes_ply_field_and_npy(model_path, scans_dir, tmp_path):
    files = [scans_dir / "common-3d-test-models" / "fandisk.obj", scans_dir / "pymeshlab-samples" / "chameleon.pts"]
    records = infer_files(model_path, files, tmp_path / "out", device="cpu")
    assert [r.points for r in records] == [6475, 4594]
    for r in records:
        scores = np.load(r.scores_out)
        assert scores.dtype == np.float32 and scores.shape == (r.points,)
        back = read_scan(r.scan_out)
        np.testing.assert_allclose(back.fields[SCORE_FIELD], scores, rtol=1e-6)
        assert r.object_score == pytest.approx(object_score(scores), rel=1e-6)


def test_sharded_inference_splits_the_files(model_path, scans_dir, tmp_path):
    files = [scans_dir / "common-3d-test-models" / "fandisk.obj", scans_dir / "pymeshlab-samples" / "chameleon.pts"]
    r0 = infer_files(model_path, files, tmp_path, device="cpu", rank=0, world_size=2)
    r1 = infer_files(model_path, files, tmp_path, device="cpu", rank=1, world_size=2)
    assert [r.points for r in r0] == [6475] and [r.points for r in r1] == [4594]


def test_colliding_output_names_are_refused(model_path, tmp_path):
    a, b = tmp_path / "a" / "part.ply", tmp_path / "b" / "part.ply"
    with pytest.raises(ConfigError, match="part"):
        infer_files(model_path, [a, b], tmp_path / "out", device="cpu")


def test_empty_scan_is_refused(model_path):
    model = load_model(model_path, "cpu")
    with pytest.raises(ConfigError):
        infer_scan(model, Scan(points=np.zeros((0, 3), np.float32)))


@pytest.mark.shared_scans
def test_eval_with_the_casl_scorer_scores_every_test_point(model_path, fandisk, tmp_path):
    from casl_core.cli import build_parser, eval_scorer
    from casl_core.datasets import open_dataset
    from casl_core.evaluate import evaluate
    from casl_core.synth.testset import make_test_set

    def eval_args(*extra: str):
        return build_parser().parse_args(["eval", "--root", "r", "--out", "o", "--method", "casl", *extra])

    with pytest.raises(ConfigError, match="--checkpoint"):
        eval_scorer(eval_args("--device", "cpu"))
    scorer = eval_scorer(eval_args("--checkpoint", str(model_path), "--device", "cpu"))
    root = tmp_path / "real3d"
    make_test_set(
        [fandisk.subset(np.arange(0, len(fandisk), 2))], root, layout="real3d", category="fandisk", per_kind=1, seed=5
    )
    results = evaluate(root, scorer)
    cat = results.categories["fandisk"]
    n_points = sum(len(s.load()) for s in open_dataset(root).category("fandisk").test)
    assert results.method == "casl" and cat.n_points == n_points
    assert cat.point_auroc is not None and 0.0 <= cat.point_auroc <= 1.0
