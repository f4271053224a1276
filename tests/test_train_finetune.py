"""Fine-tuning and pretraining on tiny demo parts: progress, cancel, resume, checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from casl_core.errors import Cancelled, CheckpointError, ConfigError
from casl_core.io import write_scan
from casl_core.nn.checkpoint import load_checkpoint
from casl_core.pseudo.missing_patch import missing_patch
from casl_core.pseudo.norm_as import norm_as
from casl_core.scorers.casl import load_model
from casl_core.synth.parts import make_part
from casl_core.train import TrainProgress
from casl_core.train.data import ScanCache, curvature_matrix, find_scan_files
from casl_core.train.distributed import DistContext, step_share
from casl_core.train.finetune import (
    FinetuneOptions,
    FinetuneTask,
    finetune,
    make_validation,
    pseudo_anomaly,
    split_holdout,
)
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
    result = finetune(
        [parts],
        out,
        options=FinetuneOptions(epochs=2, **TINY),
        device="cpu",
        use_bundled=False,
        progress=reports.append,
    )
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
        finetune(
            [parts],
            out,
            options=options,
            device="cpu",
            use_bundled=False,
            progress=seen.append,
            cancel=lambda: any(r.phase == "epoch" for r in seen),
        )
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
        finetune(
            [parts],
            out,
            options=FinetuneOptions(epochs=1, **TINY),
            device="cpu",
            use_bundled=False,
            cancel=lambda: True,
        )
    seen: list[TrainProgress] = []
    with pytest.raises(Cancelled, match="nothing was saved"):
        finetune(
            [parts],
            out,
            options=FinetuneOptions(epochs=1, **dict(TINY, val_fraction=0.0)),
            device="cpu",
            use_bundled=False,
            progress=seen.append,
            cancel=lambda: any(r.phase == "train" for r in seen),
        )
    assert [r.step for r in seen if r.phase == "train"] == [1]
    assert not out.exists()


def test_without_init_or_bundled_weights_it_warns_and_trains_from_scratch(parts, tmp_path, monkeypatch):
    import casl_core.train.start as start

    monkeypatch.setattr(start, "bundled_weights", lambda: None)
    reports: list[TrainProgress] = []
    result = finetune(
        [parts],
        tmp_path / "e.safetensors",
        options=FinetuneOptions(epochs=1, **TINY),
        device="cpu",
        progress=reports.append,
    )
    notes = [r.message for r in reports if r.phase == "note"]
    assert any("default_small.safetensors is absent" in n for n in notes)
    assert result.notes and "scratch" in result.notes[0]


def test_pretrain_then_finetune_from_it(parts, tmp_path):
    pre = tmp_path / "pre.safetensors"
    result = pretrain(
        [parts / "train"], pre, options=PretrainOptions(epochs=2, batch_size=3, max_points=None), device="cpu"
    )
    info = load_checkpoint(pre).info
    assert info.kind == "pretrain" and info.config_name == "small" and info.epoch == 2
    assert result.history[1].loss < result.history[0].loss * 1.5
    with pytest.raises(CheckpointError, match="fine-tune"):
        load_model(pre, "cpu")
    out = tmp_path / "ft.safetensors"
    with pytest.raises(ConfigError, match="base"):
        finetune([parts], out, init=pre, options=FinetuneOptions(epochs=1, **dict(TINY, config="base")), device="cpu")
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
    from casl_core.io import read_scan
    from casl_core.synth.testset import make_test_set

    scan = read_scan(scans_dir / "common-3d-test-models" / "fandisk.obj")
    for category in ("a", "b"):
        make_test_set([scan], tmp_path, layout="real3d", category=category, per_kind=1, seed=3)
    files = find_scan_files([tmp_path])
    assert files and all(f.parent.name == "train" for f in files)
    assert {f.parent.parent.name for f in files} == {"a", "b"}
    assert any((tmp_path / "a" / "test").iterdir())


@pytest.fixture(scope="module")
def prepared(parts):
    cache = ScanCache(device="cpu", max_points=None)
    return [cache.prepare(f) for f in find_scan_files([parts])]


def _expected_batch(task: FinetuneTask, epoch: int, step: int, make) -> tuple[np.ndarray, np.ndarray]:
    """Points and labels of a step rebuilt from the step's generator with ``make(scan, rng)``."""
    chosen, rng = step_share(len(task.train), task.ctx, task.options.seed, epoch, step, task.options.batch_size)
    samples = [make(task.train[i], rng) for i in chosen]
    return np.concatenate([s.points for s in samples]), np.concatenate([s.labels for s in samples])


@pytest.mark.parametrize("fraction", [0.0, 1.0])
def test_training_batches_are_norm_as_at_fraction_0_and_missing_patches_at_1(prepared, fraction):
    options = FinetuneOptions(epochs=1, missing_fraction=fraction, point_dropout=0.0, **TINY)
    task = FinetuneTask(prepared, [], options, DistContext(), voxel_size=0.03)
    if fraction == 0.0:

        def make(scan, rng):  # Norm-AS straight from the step's generator, nothing drawn before it
            return norm_as(scan.points, scan.normals, rng)
    else:

        def make(scan, rng):  # one uniform picks the kind, then the missing patch
            assert rng.uniform() < 1.0
            return missing_patch(scan.points, scan.normals, rng)

    for epoch, step in [(0, 0), (1, 0)]:
        batch = task.batch(epoch, step)
        points, labels = _expected_batch(task, epoch, step, make)
        np.testing.assert_array_equal(batch.inputs.points.numpy(), points)
        np.testing.assert_array_equal(batch.target.numpy(), labels)
        total = sum(len(task.train[i].points) for i in step_share(len(task.train), task.ctx, 0, epoch, step, 2)[0])
        assert (batch.target.numel() == total) == (fraction == 0.0)


def test_a_mixed_fraction_draws_one_uniform_per_sample_to_pick_the_kind(prepared):
    scan = prepared[0]
    kinds = []
    for seed in range(30):
        cloud = pseudo_anomaly(scan, np.random.default_rng(seed), "cpu", 0.5, point_dropout=0.0)
        replay = np.random.default_rng(seed)
        if replay.uniform() < 0.5:
            ref = missing_patch(scan.points, scan.normals, replay)
        else:
            ref = norm_as(scan.points, scan.normals, replay)
        kinds.append(len(ref.points) < len(scan.points))
        np.testing.assert_array_equal(cloud.points, ref.points)
        np.testing.assert_array_equal(cloud.labels, ref.labels)
        np.testing.assert_allclose(cloud.curvature, curvature_matrix(ref.points, "cpu"), atol=1e-6)
    assert 0 < sum(kinds) < len(kinds)


def test_the_validation_set_follows_the_mixture_deterministically(prepared):
    options = FinetuneOptions(val_samples=4, missing_fraction=0.5)
    first = make_validation(prepared[:2], options, "cpu")
    again = make_validation(prepared[:2], options, "cpu")
    assert len(first) == 8
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a.points, b.points)
        np.testing.assert_array_equal(a.labels, b.labels)
    sizes = [len(prepared[k // 4].points) - len(c.points) for k, c in enumerate(first)]
    assert any(s > 0 for s in sizes) and any(s == 0 for s in sizes)
    plain = make_validation(prepared[:1], FinetuneOptions(val_samples=2), "cpu")
    for j, cloud in enumerate(plain):
        ref = norm_as(prepared[0].points, prepared[0].normals, np.random.default_rng([0, 1_000_003, 0, j]))
        np.testing.assert_array_equal(cloud.points, ref.points)


@pytest.mark.parametrize("fraction", [-0.1, 1.5, float("nan")])
def test_an_out_of_range_missing_fraction_is_refused(parts, tmp_path, fraction):
    with pytest.raises(ConfigError, match="missing-patch fraction"):
        FinetuneOptions(missing_fraction=fraction).check()
    with pytest.raises(ConfigError, match="missing-patch fraction"):
        finetune(
            [parts],
            tmp_path / "m.safetensors",
            options=FinetuneOptions(missing_fraction=fraction),
            device="cpu",
            use_bundled=False,
        )


def test_the_missing_fraction_is_recorded_and_resume_keeps_it(parts, prepared, tmp_path):
    out = tmp_path / "mix.safetensors"
    options = FinetuneOptions(epochs=1, missing_fraction=0.5, **TINY)
    result = finetune([parts], out, options=options, device="cpu", use_bundled=False)
    doc = json.loads(out.with_suffix(".json").read_text())
    assert doc["training"]["missing_fraction"] == 0.5
    # The 700-point parts are sparser than the rim width: a validation set of rimless missing
    # patches has no metric, which the run notes instead of failing.
    held_out = [p for p in prepared if p.path.name in doc["training"]["held_out"]]
    unlabelled = not any(c.labels.any() for c in make_validation(held_out, options, "cpu"))
    assert any("no validation pseudo-anomaly labels any point" in n for n in result.notes) == unlabelled
    assert (result.best_metric is None) == unlabelled
    with pytest.raises(CheckpointError, match="missing-patch fraction of 0.5"):
        finetune([parts], out, options=FinetuneOptions(epochs=2, **TINY), device="cpu", use_bundled=False, resume=True)


def test_a_resume_state_saved_before_the_option_counts_as_norm_as_only(tmp_path):
    from casl_core.train.finetune import check_resume_options
    from casl_core.train.resume import ResumeState, save_resume_state

    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.AdamW(model.parameters())
    out = tmp_path / "old.safetensors"
    save_resume_state(
        out,
        ResumeState(
            model.state_dict(),
            optimizer.state_dict(),
            1,
            0.5,
            torch.get_rng_state(),
            {"kind": "finetune", "history": []},
        ),
    )
    check_resume_options(out, FinetuneOptions())
    with pytest.raises(CheckpointError, match="fraction of 0.0, not 0.25"):
        check_resume_options(out, FinetuneOptions(missing_fraction=0.25))
    with pytest.raises(CheckpointError, match="point dropout of 0.0, not 0.3"):
        check_resume_options(out, FinetuneOptions(point_dropout=0.3))
    check_resume_options(tmp_path / "none.safetensors", FinetuneOptions(missing_fraction=0.25))


def test_point_dropout_keeps_a_random_subset_then_makes_the_sample_from_it(prepared):
    scan = prepared[0]
    n = len(scan.points)
    kept_shares = []
    for seed in range(12):
        cloud = pseudo_anomaly(scan, np.random.default_rng(seed), "cpu", point_dropout=0.4)
        replay = np.random.default_rng(seed)
        keep = replay.random(n) >= replay.uniform(0.0, 0.4)
        ref = norm_as(scan.points[keep], scan.normals[keep], replay)
        np.testing.assert_array_equal(cloud.points, ref.points)
        np.testing.assert_array_equal(cloud.labels, ref.labels)
        assert cloud.curvature.shape == (len(ref.points), 3)
        kept_shares.append(len(cloud.points) / n)
    assert min(kept_shares) > 0.5 and max(kept_shares) <= 1.0
    assert max(kept_shares) - min(kept_shares) > 0.1  # the share itself is drawn per sample
    plain = pseudo_anomaly(scan, np.random.default_rng(3), "cpu", point_dropout=0.0)
    np.testing.assert_array_equal(plain.points, norm_as(scan.points, scan.normals, np.random.default_rng(3)).points)


def test_training_batches_drop_points_but_validation_samples_keep_them(prepared):
    options = FinetuneOptions(epochs=1, point_dropout=0.5, **TINY)
    task = FinetuneTask(prepared, [], options, DistContext(), voxel_size=0.03)
    batch = task.batch(0, 0)
    chosen, _ = step_share(len(task.train), task.ctx, 0, 0, 0, 2)
    assert batch.target.numel() < sum(len(task.train[i].points) for i in chosen)
    for a, b in zip(
        make_validation(prepared[:2], options, "cpu"),
        make_validation(prepared[:2], FinetuneOptions(val_samples=1, point_dropout=0.0), "cpu"),
    ):
        np.testing.assert_array_equal(a.points, b.points)


@pytest.mark.parametrize("dropout", [-0.1, 1.0, float("nan")])
def test_an_out_of_range_point_dropout_is_refused(dropout):
    with pytest.raises(ConfigError, match="point dropout"):
        FinetuneOptions(point_dropout=dropout).check()


def test_the_point_dropout_is_recorded_and_resume_keeps_it(parts, tmp_path):
    out = tmp_path / "drop.safetensors"
    finetune(
        [parts], out, options=FinetuneOptions(epochs=1, point_dropout=0.25, **TINY), device="cpu", use_bundled=False
    )
    assert json.loads(out.with_suffix(".json").read_text())["training"]["point_dropout"] == 0.25
    with pytest.raises(CheckpointError, match="point dropout of 0.25, not 0.0"):
        finetune(
            [parts],
            out,
            options=FinetuneOptions(epochs=2, point_dropout=0.0, **TINY),
            device="cpu",
            use_bundled=False,
            resume=True,
        )
