"""Two CPU processes under torchrun (gloo) fine-tune together and agree on the weights."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from casl_core.io import write_scan
from casl_core.nn.casl_net import CaslNet
from casl_core.nn.checkpoint import load_checkpoint
from casl_core.nn.config import CaslConfig
from casl_core.synth.parts import make_part
from casl_core.train.distributed import DistContext, shard_indices
from casl_core.train.loop import parameters_digest

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
CASL_MODULE = ["-m", "casl_core.cli"]


def test_shards_cover_every_scan_with_equal_counts_per_rank():
    for n in (1, 4, 5, 7):
        shards = [shard_indices(n, DistContext(rank=r, world_size=3), seed=1, epoch=2) for r in range(3)]
        assert len({len(s) for s in shards}) == 1
        assert set().union(*map(set, shards)) == set(range(n))
        assert len(shards[0]) == -(-n // 3)
    ctx = DistContext(rank=0, world_size=2)
    assert len({tuple(shard_indices(6, ctx, seed=1, epoch=e)) for e in range(5)}) > 1  # reshuffled per epoch


def _scans(folder, kind: str, count: int, suffix: str):
    folder.mkdir()
    for seed in range(count):
        write_scan(make_part(kind, seed=seed, n_points=600), folder / f"{kind}{seed}{suffix}")
    return folder


def _train_two_ranks(verb: str, data_flag: str, data, out):
    """Run ``casl VERB`` for one epoch under torchrun with 2 gloo processes; check both ranks agree."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    proc = subprocess.run(
        [
            *TORCHRUN,
            *CASL_MODULE,
            verb,
            data_flag,
            str(data),
            "--out",
            str(out),
            "--epochs",
            "1",
            "--batch-size",
            "1",
            "--device",
            "cpu",
            "--max-points",
            "0",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    digests = dict(re.findall(r"rank (\d)/2: parameters sha256 ([0-9a-f]{64})", proc.stdout))
    assert set(digests) == {"0", "1"}, proc.stdout
    assert digests["0"] == digests["1"]
    ckpt = load_checkpoint(out)  # written once, by rank 0, with the weights both ranks hold
    assert ckpt.info.kind == verb and ckpt.info.training["world_size"] == 2 and ckpt.info.epoch == 1
    net = CaslNet(CaslConfig.from_dict(ckpt.info.config))
    net.load_state_dict(ckpt.state_dict)
    assert parameters_digest(net) == digests["0"]
    assert proc.stderr.count("epoch 1/1") == 1  # only rank 0 prints


@pytest.mark.slow
def test_torchrun_two_cpu_processes_finetune_one_epoch(tmp_path):
    _train_two_ranks(
        "finetune", "--train", _scans(tmp_path / "train", "l_bracket", 5, ".ply"), tmp_path / "ddp.safetensors"
    )


@pytest.mark.slow
def test_torchrun_two_cpu_processes_pretrain_one_epoch(tmp_path):
    _train_two_ranks(
        "pretrain", "--data", _scans(tmp_path / "normal", "flange", 4, ".pcd"), tmp_path / "pre.safetensors"
    )


@pytest.mark.slow
def test_torchrun_two_cpu_processes_share_the_files_of_casl_infer(tmp_path):
    import csv

    import numpy as np

    from casl_core.bundled import DEMO_MODEL, bundled_file
    from casl_core.infer import infer_files

    scans = tmp_path / "scans"
    scans.mkdir()
    files = []
    for seed in range(5):
        files.append(scans / f"part{seed}.ply")
        write_scan(make_part("flange", seed=seed, n_points=800 + 100 * seed), files[-1])
    out = tmp_path / "out"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    model = bundled_file(DEMO_MODEL)
    assert model is not None, "the bundled demo model is not installed"
    proc = subprocess.run(
        [
            *TORCHRUN,
            *CASL_MODULE,
            "infer",
            "--checkpoint",
            str(model),
            *map(str, files),
            "--out-dir",
            str(out),
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(out / "object_scores.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["file"] for r in rows] == [str(f) for f in files]  # every file once, in the order given
    assert proc.stdout.count("object score") == len(files)  # one summary, from rank 0
    alone = infer_files(model, files, tmp_path / "alone", device="cpu")
    for row, ref in zip(rows, alone):
        assert int(row["points"]) == ref.points
        assert float(row["object_score"]) == pytest.approx(ref.object_score, rel=1e-5, abs=1e-6)
        np.testing.assert_allclose(np.load(row["scores"]), np.load(ref.scores_out), rtol=1e-5, atol=1e-5)
