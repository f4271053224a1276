"""Two CPU processes under torchrun (gloo) fine-tune together and agree on the weights."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from casl_core.demo import make_part
from casl_core.io import write_scan
from casl_core.nn.casl_net import CaslNet
from casl_core.nn.config import CaslConfig
from casl_core.train.checkpoint import load_checkpoint
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


@pytest.mark.slow
def test_torchrun_two_cpu_processes_finetune_one_epoch(tmp_path):
    train = tmp_path / "train"
    train.mkdir()
    for seed in range(5):
        write_scan(make_part("l_bracket", seed=seed, n_points=600), train / f"b{seed}.ply")
    out = tmp_path / "ddp.safetensors"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    proc = subprocess.run([*TORCHRUN, *CASL_MODULE, "finetune", "--train", str(train), "--out", str(out),
                           "--epochs", "1", "--batch-size", "1", "--device", "cpu", "--max-points", "0"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    digests = dict(re.findall(r"rank (\d)/2: parameters sha256 ([0-9a-f]{64})", proc.stdout))
    assert set(digests) == {"0", "1"}, proc.stdout
    assert digests["0"] == digests["1"]
    ckpt = load_checkpoint(out)
    assert ckpt.info.training["world_size"] == 2 and ckpt.info.epoch == 1
    net = CaslNet(CaslConfig.from_dict(ckpt.info.config))
    net.load_state_dict(ckpt.state_dict)
    assert parameters_digest(net) == digests["0"]
    assert proc.stderr.count("epoch 1/1") == 1  # only rank 0 prints
