"""Fine-tuning and pretraining on tiny demo parts: progress, cancel, resume, checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from casl_core.demo import make_part
from casl_core.errors import Cancelled, CheckpointError, ConfigError
from casl_core.infer import load_model
from casl_core.io import write_scan
from casl_core.train import TrainProgress
from casl_core.train.checkpoint import load_checkpoint
from casl_core.train.data import ScanCache, find_scan_files
from casl_core.train.finetune import FinetuneOptions, finetune, split_holdout
from casl_core.train.loop import parameters_digest
from casl_core.train.pretrain import PretrainOptions, pretrain, reconstruction_loss

TINY = dict(batch_size=2, max_points=None, val_samples=1, config="small")


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    root = tmp_path_factory.mktemp("parts")
    train = root / "train"
    train.mkdir()
    for seed in range(3):
        write_scan(make_part("hex_nut", seed=seed, n_points=700), train / f"nut_{seed}.ply")
    return root


def _digest_of(path) -> str:
    from casl_core.nn.casl_net import CaslNet
    from casl_core.nn.config import CaslConfig

    ckpt = load_checkpoint(path)
    net = CaslNet(CaslConfig.from_dict(ckpt.info.config))
    net.load_state_dict(ckpt.state_dict)
    return parameters_digest(net)


def test_finetune_reports_typed_progress_and_writes_a_selected_checkpoint(parts, tmp_path):
    reports: list[TrainProgress] = []
    out = tmp_path / "m.safetensors"
    result = finetune([parts], out, options=FinetuneOptions(epochs=2, **TINY), device="cpu", use_bundled=False,
                      progress=reports.append)
    phases = [r.phase for r in reports]
    assert phases.count("prepare") == 3 and phases.count("epoch") == 2
    train = [r for r in reports if r.phase == "train"]
    assert all(isinstance(r.loss, float) and np.isfinite(r.loss) and "ce" in r.losses for r in train)
    assert all(r.throughput > 0 and r.eta_s is not None for r in train)
    assert train[-1].eta_s == 0 and train[-1].step == train[-1].steps
    epochs = [r for r in reports if r.phase == "epoch"]
    metrics = [r.losses["val_point_auroc"] for r in epochs]
    assert all(0.0 <= m <= 1.0 for m in metrics)
    ckpt = load_checkpoint(out)
    assert ckpt.info.kind == "finetune" and ckpt.info.metrics["val_point_auroc"] == pytest.approx(max(metrics))
    assert ckpt.info.epoch == (2 if metrics[1] >= metrics[0] else 1)
    assert ckpt.info.training["normal_mode"] == "signed" and len(ckpt.info.training["held_out"]) == 1
    assert ckpt.info.data_files == 3 and len(ckpt.info.data_fingerprint) == 64
    assert result.best_metric == pytest.approx(max(metrics))
    load_model(out, "cpu")


def test_cancel_then_resume_matches_an_uninterrupted_run(parts, tmp_path):
    options = FinetuneOptions(epochs=2, **TINY)
    straight = finetune([parts], tmp_path / "a.safetensors", options=options, device="cpu", use_bundled=False)

    seen: list[TrainProgress] = []
    out = tmp_path / "b.safetensors"
    with pytest.raises(Cancelled, match="epoch 1"):
        finetune([parts], out, options=options, device="cpu", use_bundled=False, progress=seen.append,
                 cancel=lambda: any(r.phase == "epoch" for r in seen))
    assert load_checkpoint(out).info.epoch == 1
    resumed = finetune([parts], out, options=options, device="cpu", use_bundled=False, resume=True)
    assert [r.epoch for r in resumed.history] == [1, 2]
    assert resumed.epochs_done == 2
    assert resumed.weights_digest == straight.weights_digest


def test_resume_refuses_a_state_from_other_data(parts, tmp_path):
    options = FinetuneOptions(epochs=1, **TINY)
    out = tmp_path / "c.safetensors"
    finetune([parts], out, options=options, device="cpu", use_bundled=False)
    other = tmp_path / "other"
    other.mkdir()
    for seed in range(2):
        write_scan(make_part("flange", seed=seed, n_points=700), other / f"f{seed}.ply")
    with pytest.raises(CheckpointError, match="different data fingerprint"):
        finetune([other], out, options=options, device="cpu", use_bundled=False, resume=True)


def test_cancel_before_the_first_epoch_saves_nothing(parts, tmp_path):
    out = tmp_path / "d.safetensors"
    with pytest.raises(Cancelled):
        finetune([parts], out, options=FinetuneOptions(epochs=1, **TINY), device="cpu", use_bundled=False,
                 cancel=lambda: True)
    seen: list[TrainProgress] = []
    with pytest.raises(Cancelled, match="nothing was saved"):
        finetune([parts], out, options=FinetuneOptions(epochs=1, **dict(TINY, val_fraction=0.0)), device="cpu",
                 use_bundled=False, progress=seen.append, cancel=lambda: any(r.phase == "train" for r in seen))
    assert [r.step for r in seen if r.phase == "train"] == [1]
    assert not out.exists()


def test_without_init_or_bundled_weights_it_warns_and_trains_from_scratch(parts, tmp_path, monkeypatch):
    import casl_core.train.start as start

    monkeypatch.setattr(start, "bundled_weights", lambda: None)
    reports: list[TrainProgress] = []
    result = finetune([parts], tmp_path / "e.safetensors", options=FinetuneOptions(epochs=1, **TINY), device="cpu",
                      progress=reports.append)
    notes = [r.message for r in reports if r.phase == "note"]
    assert any("default_small.safetensors is absent" in n for n in notes)
    assert result.notes and "scratch" in result.notes[0]


def test_pretrain_then_finetune_from_it(parts, tmp_path):
    pre = tmp_path / "pre.safetensors"
    result = pretrain([parts / "train"], pre, options=PretrainOptions(epochs=2, batch_size=3, max_points=None),
                      device="cpu")
    info = load_checkpoint(pre).info
    assert info.kind == "pretrain" and info.config_name == "small" and info.epoch == 2
    assert result.history[1].loss < result.history[0].loss * 1.5
    with pytest.raises(CheckpointError, match="fine-tune"):
        load_model(pre, "cpu")
    out = tmp_path / "ft.safetensors"
    with pytest.raises(ConfigError, match="base"):
        finetune([parts], out, init=pre, options=FinetuneOptions(epochs=1, **dict(TINY, config="base")),
                 device="cpu")
    finetune([parts], out, init=pre, options=FinetuneOptions(epochs=1, **dict(TINY, config=None)), device="cpu")
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["training"]["init"].endswith("pre.safetensors")
    pre_ckpt = load_checkpoint(pre).state_dict
    ft_ckpt = load_checkpoint(out).state_dict
    assert torch.equal(pre_ckpt["xyz_head.3.weight"], ft_ckpt["xyz_head.3.weight"])  # frozen while fine-tuning


def test_reconstruction_loss_is_l1_plus_squared_l2_per_point():
    gen = torch.Generator().manual_seed(0)
    pred, target = torch.randn(50, 3, generator=gen), torch.randn(50, 3, generator=gen)
    loss, parts = reconstruction_loss(pred, target)
    l1 = torch.nn.functional.l1_loss(pred, target, reduction="mean") * 3
    l2 = torch.nn.functional.mse_loss(pred, target, reduction="mean") * 3
    assert float(loss) == pytest.approx(float(l1 + l2), rel=1e-6)
    assert parts["l1"] == pytest.approx(float(l1), rel=1e-6)


def test_holdout_split_is_seeded_and_disjoint():
    train, val = split_holdout(10, 0.2, seed=3)
    assert len(val) == 2 and not set(train) & set(val) and len(train) + len(val) == 10
    np.testing.assert_array_equal(split_holdout(10, 0.2, seed=3)[1], val)
    assert len(split_holdout(1, 0.2, 0)[1]) == 0


def test_scan_cache_prepares_each_content_once(parts, tmp_path):
    files = find_scan_files([parts])
    assert [f.name for f in files] == ["nut_0.ply", "nut_1.ply", "nut_2.ply"]
    copy = tmp_path / "copy.ply"
    copy.write_bytes(files[0].read_bytes())
    cache = ScanCache(device="cpu", max_points=500)
    a = cache.prepare(files[0])
    b = cache.prepare(copy)
    assert a is b and len(cache) == 1
    assert a.points.shape == (500, 3) and a.curvature.shape == (500, 3)
    assert np.linalg.norm(a.points, axis=1).max() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(np.linalg.norm(a.normals, axis=1), 1.0, atol=1e-5)


def test_a_dataset_root_contributes_only_its_training_files(scans_dir, tmp_path):
    from casl_core.anomaly.synth import make_test_set
    from casl_core.io import read_scan

    scan = read_scan(scans_dir / "common-3d-test-models" / "fandisk.obj")
    for category in ("a", "b"):
        make_test_set([scan], tmp_path, layout="real3d", category=category, per_kind=1, seed=3)
    files = find_scan_files([tmp_path])
    assert files and all(f.parent.name == "train" for f in files)
    assert {f.parent.parent.name for f in files} == {"a", "b"}
    assert any((tmp_path / "a" / "test").iterdir())
