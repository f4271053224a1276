"""Self-supervised pretraining: reconstruct every point's coordinates from occupancy and curvature.

Inputs per scan: the normalised points after a random rotation about z, y and x
(normalised again after rotating), voxelised at the config's voxel size, with the scan's
multi-scale curvature (computed once per file and cached: surface variation does not change
under rotation, translation or scaling). The coordinate encoder sees only which voxels are
occupied (a shared learned token), the curvature prompts carry the shape. Loss per point:
L1 (sum of absolute coordinate errors) + L2 (squared Euclidean error), averaged over the
points of the batch, as the paper does instead of a Chamfer distance. There is no validation
metric, so the checkpoint of the last epoch is kept.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from casl_core.nn.checkpoint import CheckpointInfo
from casl_core.progress import CancelFn
from casl_core.pseudo.norm_as import random_rotation
from casl_core.train.data import PreparedScan, ScanCache, data_fingerprint, find_scan_files
from casl_core.train.distributed import DistContext, init_distributed, step_share, steps_per_epoch
from casl_core.train.loop import LoopOptions, Run, StepBatch, TrainProgressFn, TrainResult, run_training
from casl_core.train.options import PretrainOptions
from casl_core.train.start import build_model, curvature_device, prepare_scans


#: Default pretraining epochs.
def reconstruction_loss(predicted: Tensor, target: Tensor) -> tuple[Tensor, dict[str, float]]:
    """Mean over points of ``sum |d|`` (L1) plus mean of ``sum d^2`` (L2), ``d = predicted - target``."""
    diff = predicted - target
    l1 = diff.abs().sum(dim=1).mean()
    l2 = diff.square().sum(dim=1).mean()
    return l1 + l2, {"l1": float(l1.detach()), "l2": float(l2.detach())}


def rotated_input(scan: PreparedScan, rng: np.random.Generator) -> np.ndarray:
    """The scan's points rotated at random about z, y, x and normalised again (float32)."""
    from casl_core.nn.preprocess import normalize_points

    rotated = scan.points.astype(np.float64) @ random_rotation(rng).T
    return normalize_points(rotated)[0]


class PretrainTask:
    """Rotated scans and the reconstruction loss for :func:`~casl_core.train.loop.run_training`."""

    def __init__(self, scans: list[PreparedScan], options: PretrainOptions, ctx: DistContext, voxel_size: float):
        self.scans, self.options, self.ctx, self.voxel_size = scans, options, ctx, voxel_size

    def steps(self, epoch: int) -> int:
        """Number of optimiser steps in ``epoch`` for this rank."""
        return steps_per_epoch(len(self.scans), self.ctx, self.options.seed, epoch, self.options.batch_size)

    def batch(self, epoch: int, step: int) -> StepBatch:
        """The randomly rotated scans of ``step`` in ``epoch``; the target is their own points."""
        from casl_core.nn.casl_net import CaslBatch

        chosen, rng = step_share(len(self.scans), self.ctx, self.options.seed, epoch, step, self.options.batch_size)
        points = [rotated_input(self.scans[i], rng) for i in chosen]
        batch = CaslBatch.from_scans(
            points, [self.scans[i].curvature for i in chosen], voxel_size=self.voxel_size, device=self.ctx.device
        )
        return StepBatch(batch, batch.points, batch.num_points)

    def loss(self, output, batch: StepBatch) -> tuple[Tensor, dict[str, float]]:
        """The reconstruction loss of ``output`` against the batch's points, and its parts."""
        return reconstruction_loss(output.xyz, batch.target)

    def validate(self, model: torch.nn.Module) -> float | None:
        """Pre-training has no validation metric: always ``None``."""
        return None


def pretrain(
    data: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    options: PretrainOptions = PretrainOptions(),
    device: str = "auto",
    resume: bool = False,
    command: Sequence[str] | None = None,
    progress: TrainProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> TrainResult:
    """Pretrain a CASL model on the normal scans under ``data`` and write it to ``out``.

    Parameters mirror :func:`casl_core.train.finetune.finetune` (no ``init``: pretraining starts
    from scratch with ``options.config``).

    Raises
    ------
    DatasetError, ScanFormatError, CheckpointError, ConfigError
        On unusable data, resume state or options.
    Cancelled
        When ``cancel`` asked to stop.
    """
    options.check()
    ctx = init_distributed(device)
    notes: list[str] = []
    files = find_scan_files(data)
    cache = ScanCache(device=curvature_device(ctx), max_points=options.max_points)
    prepared = prepare_scans(files, cache, options.epochs, progress, cancel)
    model, config_name, _ = build_model(options.config, None, ctx, notes, progress, options.epochs, False, options.seed)
    model.class_head.requires_grad_(False)
    fingerprint = data_fingerprint([p.digest for p in prepared])
    info = CheckpointInfo(
        kind="pretrain",
        config_name=config_name,
        config=model.config.to_dict(),
        command=list(command) if command is not None else ["casl_core.train.pretrain"],
        data_fingerprint=fingerprint,
        data_files=len(prepared),
        training=dict(asdict(options), world_size=ctx.world_size),
    )
    run = Run(
        model=model,
        info=info,
        out=Path(out),
        ctx=ctx,
        options=LoopOptions(options.epochs, options.lr, options.weight_decay, options.seed),
        facts={"kind": "pretrain", "data_fingerprint": fingerprint, "config": model.config.to_dict()},
        notes=notes,
    )
    task = PretrainTask(prepared, options, ctx, model.config.voxel_size)
    return run_training(task, run, resume=resume, progress=progress, cancel=cancel)
