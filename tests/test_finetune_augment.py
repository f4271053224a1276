"""Fine-tuning's scale jitter, density gradient and validation from the training scans."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from casl_core.errors import CheckpointError, ConfigError
from casl_core.io import write_scan
from casl_core.metrics import auroc
from casl_core.nn.casl_net import CaslBatch
from casl_core.pseudo.norm_as import norm_as
from casl_core.scorers.casl import load_model
from casl_core.synth.parts import make_part
from casl_core.train import TrainProgress
from casl_core.train.augment import ANISOTROPIC_SHARE, density_gradient, stretch
from casl_core.train.data import ScanCache, find_scan_files
from casl_core.train.distributed import DistContext
from casl_core.train.finetune import (
    FinetuneOptions,
    FinetuneTask,
    anomaly_scores,
    check_resume_options,
    finetune,
    make_validation,
    pseudo_anomaly,
)

TINY = dict(batch_size=2, max_points=None, val_samples=1, config="small")


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    root = tmp_path_factory.mktemp("parts")
    (root / "train").mkdir()
    for seed in range(3):
        write_scan(make_part("hex_nut", seed=seed, n_points=700), root / "train" / f"nut_{seed}.ply")
    return root


@pytest.fixture(scope="module")
def prepared(parts):
    cache = ScanCache(device="cpu", max_points=None)
    return [cache.prepare(f) for f in find_scan_files([parts])]


def test_scale_jitter_stretches_the_part_then_scales_the_normalised_sample(prepared):
    scan = prepared[0]
    factors = []
    for seed in range(10):
        cloud = pseudo_anomaly(scan, np.random.default_rng(seed), "cpu", scale_jitter=0.1)
        replay = np.random.default_rng(seed)
        axes = np.random.default_rng(seed).uniform(1 - ANISOTROPIC_SHARE * 0.1, 1 + ANISOTROPIC_SHARE * 0.1, size=3)
        stretched, normals, iso = stretch(scan.points, scan.normals, 0.1, replay)
        np.testing.assert_allclose(stretched, scan.points * axes, rtol=1e-6, atol=1e-7)
        ref = norm_as(stretched, normals, replay)
        np.testing.assert_array_equal(cloud.points, ref.points * np.float32(iso))
        np.testing.assert_array_equal(cloud.labels, ref.labels)
        factors.append(np.linalg.norm(cloud.points, axis=1).max() / np.linalg.norm(ref.points, axis=1).max())
    assert min(factors) >= 0.9 - 1e-6 and max(factors) <= 1.1 + 1e-6 and max(factors) - min(factors) > 0.02
    again = pseudo_anomaly(scan, np.random.default_rng(4), "cpu", scale_jitter=0.1)
    np.testing.assert_array_equal(
        again.points, pseudo_anomaly(scan, np.random.default_rng(4), "cpu", scale_jitter=0.1).points
    )


def test_stretch_keeps_normals_perpendicular_to_the_stretched_surface():
    rng = np.random.default_rng(0)
    # A tilted plane: its normal after a stretch must stay perpendicular to the stretched plane's vectors.
    u, v = np.array([1.0, 0.5, 0.2]), np.array([-0.3, 1.0, 0.7])
    normal = np.cross(u, v) / np.linalg.norm(np.cross(u, v))
    pts = rng.uniform(-1, 1, (200, 1)) * u + rng.uniform(-1, 1, (200, 1)) * v
    out, nrm, iso = stretch(pts, np.tile(normal, (200, 1)), 0.4, rng)
    spread = out - out.mean(axis=0)
    assert np.abs(spread @ nrm[0]).max() < 1e-5 and np.linalg.norm(nrm, axis=1) == pytest.approx(np.ones(200))
    assert 0.6 <= iso <= 1.4


def test_density_gradient_thins_one_side_and_is_seeded(prepared):
    scan = prepared[0]
    keep = density_gradient(scan.points, 0.8, np.random.default_rng(5))
    replay = np.random.default_rng(5)
    direction = replay.standard_normal(3)
    direction /= np.linalg.norm(direction)
    height = scan.points.astype(np.float64) @ direction
    replay.random(len(scan.points))  # the per-point draws
    low, high = height < np.quantile(height, 0.2), height > np.quantile(height, 0.8)
    assert keep[low].mean() > 0.85 and keep[high].mean() < 0.5  # near side kept, far side thinned
    np.testing.assert_array_equal(keep, density_gradient(scan.points, 0.8, np.random.default_rng(5)))
    cloud = pseudo_anomaly(scan, np.random.default_rng(5), "cpu", density_gradient=0.8)
    ref = norm_as(scan.points[keep], scan.normals[keep], replay)
    np.testing.assert_array_equal(cloud.points, ref.points)
    np.testing.assert_array_equal(cloud.labels, ref.labels)


def test_training_batches_are_augmented_but_validation_samples_are_not(prepared):
    options = FinetuneOptions(epochs=1, scale_jitter=0.2, density_gradient=0.6, **TINY)
    plain = FinetuneTask(prepared, [], FinetuneOptions(epochs=1, **TINY), DistContext(), voxel_size=0.03)
    task = FinetuneTask(prepared, [], options, DistContext(), voxel_size=0.03)
    assert task.batch(0, 0).target.numel() < plain.batch(0, 0).target.numel()
    for a, b in zip(
        make_validation(prepared, options, "cpu"), make_validation(prepared, FinetuneOptions(val_samples=1), "cpu")
    ):
        np.testing.assert_array_equal(a.points, b.points)


@pytest.mark.parametrize(("key", "value"), [("scale_jitter", -0.1), ("scale_jitter", 0.5), ("density_gradient", 1.0)])
def test_out_of_range_augmentations_are_refused(key, value):
    with pytest.raises(ConfigError, match=key.replace("_", " ")):
        FinetuneOptions(**{key: value}).check()


def test_validation_fraction_0_trains_on_every_scan_and_selects_on_their_pseudo_anomalies(parts, prepared, tmp_path):
    out = tmp_path / "all.safetensors"
    options = FinetuneOptions(epochs=2, val_fraction=0.0, **TINY)
    reports: list[TrainProgress] = []
    result = finetune([parts], out, options=options, device="cpu", use_bundled=False, progress=reports.append)
    assert {r.steps for r in reports if r.phase == "train"} == {2}  # 3 scans, 2 per step (2 scans: 1 step)
    doc = json.loads(out.with_suffix(".json").read_text())
    assert sorted(doc["training"]["held_out"]) == sorted(p.path.name for p in prepared)
    # The saved model's point AUROC on the fixed, seeded pseudo-anomalies of all three training
    # scans is the metric it was selected on.
    model = load_model(out, "cpu")
    scores, labels = [], []
    with torch.no_grad():
        for cloud in make_validation(prepared, options, "cpu"):
            batch = CaslBatch.from_scans([cloud.points], [cloud.curvature], voxel_size=0.03)
            scores.append(anomaly_scores(model.net(batch).logits).numpy())
            labels.append(cloud.labels)
    assert result.best_metric == pytest.approx(auroc(np.concatenate(labels), np.concatenate(scores)), abs=1e-6)
    assert json.loads(out.with_suffix(".json").read_text())["metrics"]["val_point_auroc"] == pytest.approx(
        result.best_metric
    )
    again = finetune([parts], tmp_path / "again.safetensors", options=options, device="cpu", use_bundled=False)
    assert again.weights_digest == result.weights_digest  # deterministic under the seed
    with pytest.raises(CheckpointError, match="validation fraction of 0.0, not 0.2"):
        finetune([parts], out, options=FinetuneOptions(epochs=3, **TINY), device="cpu", use_bundled=False, resume=True)


def test_resume_refuses_a_changed_augmentation(parts, tmp_path):
    out = tmp_path / "aug.safetensors"
    options = FinetuneOptions(epochs=1, scale_jitter=0.1, density_gradient=0.3, **TINY)
    finetune([parts], out, options=options, device="cpu", use_bundled=False)
    training = json.loads(out.with_suffix(".json").read_text())["training"]
    assert training["scale_jitter"] == 0.1 and training["density_gradient"] == 0.3
    check_resume_options(out, options)
    base = dict(epochs=2, scale_jitter=0.1, density_gradient=0.3, **TINY)
    with pytest.raises(CheckpointError, match="scale jitter of 0.1, not 0.0"):
        check_resume_options(out, FinetuneOptions(**dict(base, scale_jitter=0.0)))
    with pytest.raises(CheckpointError, match="density gradient of 0.3, not 0.5"):
        check_resume_options(out, FinetuneOptions(**dict(base, density_gradient=0.5)))
    resumed = finetune([parts], out, options=FinetuneOptions(**base), device="cpu", use_bundled=False, resume=True)
    assert resumed.epochs_done == 2
