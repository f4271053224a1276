"""Test-time augmentation of the CASL scorer: poses, averaging, the CLI option."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from casl_core.errors import ConfigError
from casl_core.geometry import add_curvature
from casl_core.io import read_scan
from casl_core.nn.checkpoint import CheckpointInfo, save_checkpoint
from casl_core.nn.preprocess import normalize_points
from casl_core.scorers.casl import (
    CaslScorer,
    infer_scan,
    load_model,
    point_scores,
    scan_curvature,
    tta_point_scores,
    tta_poses,
)
from casl_core.scorers.defaults import DEFAULT_TTA
from casl_core.scorers.pooling import object_score


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from casl_core.nn.casl_net import CaslNet
    from casl_core.nn.config import config_by_name

    torch.manual_seed(0)
    net = CaslNet(config_by_name("small"))
    for module in net.modules():  # batch-norm statistics of a trained model, not the identity
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    path = tmp_path_factory.mktemp("tta") / "model.safetensors"
    save_checkpoint(
        path, net.state_dict(), CheckpointInfo(kind="finetune", config_name="small", config=net.config.to_dict())
    )
    return load_model(path, "cpu")


@pytest.fixture(scope="module")
def fandisk(scans_dir):
    return add_curvature(read_scan(scans_dir / "common-3d-test-models" / "fandisk.obj"))


def test_poses_are_seeded_rotations_and_sub_voxel_shifts():
    poses = tta_poses(5, 0.03)
    assert np.array_equal(poses[0].rotation, np.eye(3)) and np.array_equal(poses[0].shift, np.zeros(3))
    for pose in poses[1:]:
        np.testing.assert_allclose(pose.rotation @ pose.rotation.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(pose.rotation) == pytest.approx(1.0)
        assert ((pose.shift >= 0) & (pose.shift < 0.03)).all()
    again = tta_poses(3, 0.03)  # a prefix of the longer list, the same every call
    for a, b in zip(again, poses):
        np.testing.assert_array_equal(a.rotation, b.rotation)
        np.testing.assert_array_equal(a.shift, b.shift)
    assert not np.allclose(poses[1].rotation, poses[2].rotation)
    with pytest.raises(ConfigError, match="at least 1 pose"):
        tta_poses(0, 0.03)


def test_one_pose_is_plain_scoring_exactly(model, fandisk):
    normalized, _ = normalize_points(fandisk.points_f64())
    plain = point_scores(model, normalized, scan_curvature(fandisk, normalized, model.device))
    once = infer_scan(model, fandisk, tta=1)
    np.testing.assert_array_equal(once.point_scores, plain)
    assert once.object_score == object_score(plain)
    assert CaslScorer(model.path, "cpu", tta=1).score(fandisk).object_score == once.object_score


def test_the_default_is_four_poses(model, fandisk):
    assert DEFAULT_TTA == 4 and CaslScorer(model.path, "cpu").tta == 4
    np.testing.assert_array_equal(
        infer_scan(model, fandisk).point_scores, infer_scan(model, fandisk, tta=4).point_scores
    )


def test_the_mean_over_poses_is_each_poses_scores_averaged_in_any_order(model, fandisk):
    normalized, _ = normalize_points(fandisk.points_f64())
    curvature = scan_curvature(fandisk, normalized, model.device)
    poses = tta_poses(4, model.net.config.voxel_size)
    each = [point_scores(model, (normalized @ p.rotation.T + p.shift).astype(np.float32), curvature) for p in poses]
    mean = tta_point_scores(model, normalized, curvature, poses)
    np.testing.assert_allclose(mean, np.mean(np.stack(each).astype(np.float64), axis=0), rtol=1e-6, atol=1e-6)
    for order in ([3, 2, 1, 0], [2, 0, 3, 1]):
        np.testing.assert_array_equal(tta_point_scores(model, normalized, curvature, [poses[i] for i in order]), mean)
    # The poses see the voxel grid differently: the scores are not all the same.
    assert np.abs(each[1] - each[0]).max() > 1e-3
    result = infer_scan(model, fandisk, tta=4)
    np.testing.assert_array_equal(result.point_scores, mean)
    assert result.object_score == pytest.approx(object_score(mean))


def test_eval_and_infer_take_the_option(model, fandisk, tmp_path):
    from casl_core.cli import build_parser, eval_scorer

    scorer = eval_scorer(
        build_parser().parse_args(
            [
                "eval",
                "--root",
                "r",
                "--out",
                "o",
                "--method",
                "casl",
                "--checkpoint",
                str(model.path),
                "--device",
                "cpu",
                "--tta",
                "3",
            ]
        )
    )
    assert scorer.tta == 3
    np.testing.assert_array_equal(scorer.score(fandisk).point_scores, infer_scan(model, fandisk, tta=3).point_scores)
    args = build_parser().parse_args(
        ["infer", "x.ply", "--checkpoint", "m.safetensors", "--out-dir", "o", "--tta", "2"]
    )
    assert args.tta == 2
    with pytest.raises(ConfigError, match="at least 1 pose"):
        CaslScorer(model.path, "cpu", tta=0)
