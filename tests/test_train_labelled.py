"""Annotated scans as extra fine-tuning samples: label checks, the loss they enter, the run's record."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from casl_core.errors import DatasetError
from casl_core.io import write_scan
from casl_core.nn.checkpoint import load_checkpoint
from casl_core.synth.defects import DefectKind, synthesize_defect
from casl_core.synth.parts import make_part
from casl_core.train.data import data_fingerprint, file_digest
from casl_core.train.distributed import init_distributed
from casl_core.train.finetune import FinetuneOptions, FinetuneTask, finetune
from casl_core.train.labelled import IGNORE_TARGET, check_labels, labelled_clouds, labelled_digest, subsample

TINY = dict(batch_size=1, max_points=None, val_samples=1, config="small")


@pytest.fixture(scope="module")
def defective():
    """A hex nut with a synthetic bulge: real per-point labels, half of the normals marked, the rest unlabelled."""
    scan = synthesize_defect(make_part("hex_nut", seed=9, n_points=900), DefectKind.BULGE, np.random.default_rng(3))
    labels = np.full(len(scan), -1, dtype=np.int8)
    labels[scan.labels == 1] = 1
    normal = np.flatnonzero(scan.labels == 0)
    labels[normal[::2]] = 0
    return scan, labels


def test_labels_that_do_not_fit_are_refused_naming_the_scan(defective, tmp_path):
    scan, labels = defective
    path = tmp_path / "nut.ply"
    write_scan(scan, path)
    with pytest.raises(DatasetError, match="nut.ply.*do not match"):
        labelled_clouds([(path, labels[:-1])], None)
    with pytest.raises(DatasetError, match="no point is labelled"):
        check_labels(scan, np.full(len(scan), -1))
    with pytest.raises(DatasetError, match="1 \\(defect\\), 0 \\(normal\\) or -1"):
        check_labels(scan, np.full(len(scan), 2))


def test_subsampling_keeps_every_labelled_point(defective):
    _, labels = defective
    targets = np.where(labels < 0, IGNORE_TARGET, labels)
    kept = subsample(targets, 600, np.random.default_rng(0))
    assert len(kept) == 600 and np.all(np.diff(kept) > 0)
    assert set(np.flatnonzero(targets != IGNORE_TARGET)) <= set(kept.tolist())


def test_a_labelled_sample_enters_the_loss_only_through_its_labelled_points(defective):
    from casl_core.nn.casl_net import CaslNet
    from casl_core.nn.config import config_by_name

    scan, labels = defective
    clouds, _ = labelled_clouds([(scan, labels)], None)
    options = FinetuneOptions(epochs=1, **TINY)
    ctx = init_distributed("cpu")
    torch.manual_seed(0)
    net = CaslNet(config_by_name("small"))
    task = FinetuneTask([], [], options, ctx, net.config.voxel_size, clouds)
    assert task.steps(0) == 1
    batch = task.batch(0, 0)
    np.testing.assert_array_equal(batch.target.numpy(), np.where(labels < 0, IGNORE_TARGET, labels))
    with torch.no_grad():
        output = net(batch.inputs)
        loss, _ = task.loss(output, batch)
    logits = output.logits.double().numpy()
    keep = labels >= 0
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    y = labels[keep].astype(int)
    weight = np.where(y == 1, options.anomaly_weight, 1.0)
    expected = -(weight * log_p[keep][np.arange(keep.sum()), y]).sum() / weight.sum()
    assert float(loss) == pytest.approx(expected, rel=1e-4)


def test_finetuning_with_labelled_scans_trains_on_them_and_records_them(defective, tmp_path):
    scan, labels = defective
    train = tmp_path / "train"
    train.mkdir()
    for seed in range(2):
        write_scan(make_part("hex_nut", seed=seed, n_points=700), train / f"nut_{seed}.ply")
    seen = []
    out = tmp_path / "m.safetensors"
    finetune(
        [train],
        out,
        options=FinetuneOptions(epochs=1, val_fraction=0.0, **TINY),
        device="cpu",
        use_bundled=False,
        progress=seen.append,
        extra_labelled=[(scan, labels)],
    )
    steps = [r.steps for r in seen if r.phase == "train"]
    assert steps and steps[-1] == 3, "two normal scans and one labelled scan: three steps of one scan"
    info = load_checkpoint(out).info
    assert info.training["labelled_samples"] == 1
    clouds, digests = labelled_clouds([(scan, labels)], None)
    assert digests == [labelled_digest(clouds[0].points, clouds[0].labels)]
    files = sorted(train.iterdir())
    assert info.data_fingerprint == data_fingerprint([file_digest(f) for f in files] + digests)
    assert info.data_fingerprint != data_fingerprint([file_digest(f) for f in files])
