"""Fine-tuning one category's model on its normal scans with pseudo-anomalies.

Every step, each scan of the batch becomes a fresh pseudo-anomalous sample, its curvature is
computed again on the sample's points, and the model's per-point logits are trained with
cross-entropy against the sample's labels. Two kinds of sample exist:

- Norm-AS (:mod:`casl_core.pseudo.norm_as`: rotation, normalisation, one of 64 patches
  pushed along its normal, the patch labelled), the paper's recipe;
- missing patch (:mod:`casl_core.pseudo.missing_patch`: the same rotation, normalisation
  and patch choice, the patch removed and the rim left around it labelled).

``FinetuneOptions.missing_fraction`` is the probability of a missing patch. At 0 (the
default) every sample is Norm-AS and nothing is drawn to pick the kind; above 0, one
``rng.uniform()`` drawn before each sample picks its kind.

``FinetuneOptions.point_dropout`` (default 0) first drops a random share of the training
scan's points (up to that value, drawn per sample), so that the model does not learn the
exact point layout of its few training scans; validation samples keep every point. With
both at 0 (the defaults) the generators are consumed exactly as Norm-AS alone consumes
them, the paper's recipe.

Checkpoint selection uses held-out pseudo-anomalies only: ``val_fraction`` of the normal
scans (at least one when there are two or more) are kept out of training, and a fixed,
seeded set of ``val_samples`` pseudo-anomalies (the same mixture of kinds) is made from each; after every epoch
the point AUROC of ``log p(anomalous) - log p(normal)`` on that set decides whether the epoch's weights
become the output checkpoint. With a single scan, validation samples come from that scan
with their own seeds (noted as a warning). When no validation sample labels any point (missing
patches only, on scans sparser than the rim width) there is no metric, every epoch is saved,
and a warning says so.

At the end, the saved checkpoint is calibrated on the held-out scans and augmented copies of
the normal scans (:mod:`casl_core.train.calibrate_model`); its thresholds are stored in the
checkpoint's description and reported as a ``"calibrate"`` progress.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional

from casl_core.errors import CheckpointError
from casl_core.nn.checkpoint import CheckpointInfo, read_safetensors_doc, refuse_pickle
from casl_core.progress import CancelFn
from casl_core.pseudo.missing_patch import RIM_WIDTH, MissingPatchSample, missing_patch
from casl_core.pseudo.norm_as import NORMAL_MODE, NormAsSample, norm_as
from casl_core.train.data import PreparedScan, ScanCache, curvature_matrix, data_fingerprint, find_scan_files
from casl_core.train.distributed import DistContext, init_distributed, step_share, steps_per_epoch
from casl_core.train.labelled import LabelledCloud, LabelledInput, labelled_clouds
from casl_core.train.loop import (
    LoopOptions,
    Run,
    StepBatch,
    TrainProgress,
    TrainProgressFn,
    TrainResult,
    run_training,
)
from casl_core.train.options import FinetuneOptions
from casl_core.train.resume import resume_path
from casl_core.train.start import build_model, curvature_device, note, prepare_scans


def split_holdout(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of training and held-out scans: ``round(n * fraction)`` held out, at least one when ``n >= 2``."""
    if n < 2 or fraction == 0:
        return np.arange(n), np.arange(0)
    n_val = min(n - 1, max(1, round(n * fraction)))
    order = np.random.default_rng([seed, 7]).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def draw_sample(
    points: np.ndarray, normals: np.ndarray, rng: np.random.Generator, missing_fraction: float = 0.0
) -> NormAsSample | MissingPatchSample:
    """One pseudo-anomalous sample: a missing patch with probability ``missing_fraction``, else Norm-AS.

    With ``missing_fraction == 0`` nothing but Norm-AS's own draws is taken from ``rng``;
    otherwise one ``rng.uniform()`` comes first and a value below ``missing_fraction``
    picks the missing patch.
    """
    if missing_fraction > 0 and rng.uniform() < missing_fraction:
        return missing_patch(points, normals, rng)
    return norm_as(points, normals, rng)


def pseudo_anomaly(
    scan: PreparedScan,
    rng: np.random.Generator,
    device: str,
    missing_fraction: float = 0.0,
    point_dropout: float = 0.0,
    *,
    scale_jitter: float = 0.0,
    density_gradient: float = 0.0,
) -> LabelledCloud:
    """One pseudo-anomalous sample of ``scan`` (see :func:`draw_sample`) with curvature recomputed on its points.

    Before the sample's own draws, each variation that is on draws from ``rng`` in this order:
    ``point_dropout > 0`` drops a share drawn uniformly from ``[0, point_dropout)`` of the
    points (one uniform per point, then the share); ``density_gradient > 0`` thins the part
    along a random direction (:func:`casl_core.train.augment.density_gradient`);
    ``scale_jitter > 0`` stretches it and scales the normalised sample
    (:func:`casl_core.train.augment.stretch`).
    """
    from casl_core.train import augment

    points, normals = scan.points, scan.normals
    if point_dropout > 0:
        draws = rng.random(len(points))
        share = rng.uniform(0.0, point_dropout)
        points, normals = points[draws >= share], normals[draws >= share]
    if density_gradient > 0:
        keep = augment.density_gradient(points, density_gradient, rng)
        points, normals = points[keep], normals[keep]
    isotropic = 1.0
    if scale_jitter > 0:
        points, normals, isotropic = augment.stretch(points, normals, scale_jitter, rng)
    sample = draw_sample(points, normals, rng, missing_fraction)
    sample_points = sample.points if isotropic == 1.0 else (sample.points * np.float32(isotropic))
    return LabelledCloud(sample_points, curvature_matrix(sample_points, device), sample.labels)


def anomaly_scores(logits: Tensor) -> Tensor:
    """Per-point ``log p(anomalous) - log p(normal)`` from ``(P, 2)`` logits (= logit difference)."""
    return logits[:, 1] - logits[:, 0]


class FinetuneTask:
    """Pseudo-anomaly batches and cross-entropy for :func:`~casl_core.train.loop.run_training`."""

    def __init__(
        self,
        train: list[PreparedScan],
        validation: list[LabelledCloud],
        options: FinetuneOptions,
        ctx: DistContext,
        voxel_size: float,
        labelled: Sequence[LabelledCloud] = (),
    ) -> None:
        self.train, self.validation, self.options, self.ctx = train, validation, options, ctx
        self.labelled = list(labelled)
        self.voxel_size = voxel_size
        self.curv_device = curvature_device(ctx)

    def steps(self, epoch: int) -> int:
        """Number of optimiser steps in ``epoch`` for this rank."""
        return steps_per_epoch(
            len(self.train) + len(self.labelled), self.ctx, self.options.seed, epoch, self.options.batch_size
        )

    def batch(self, epoch: int, step: int) -> StepBatch:
        """The clouds of ``step`` in ``epoch``: pseudo-anomalies of normal scans, then labelled clouds."""
        from casl_core.nn.casl_net import CaslBatch

        chosen, rng = step_share(
            len(self.train) + len(self.labelled), self.ctx, self.options.seed, epoch, step, self.options.batch_size
        )
        n = len(self.train)
        opts = self.options
        clouds = [
            pseudo_anomaly(
                self.train[i],
                rng,
                self.curv_device,
                opts.missing_fraction,
                opts.point_dropout,
                scale_jitter=opts.scale_jitter,
                density_gradient=opts.density_gradient,
            )
            if i < n
            else self.labelled[i - n]
            for i in chosen
        ]
        batch = CaslBatch.from_scans(
            [c.points for c in clouds],
            [c.curvature for c in clouds],
            voxel_size=self.voxel_size,
            device=self.ctx.device,
        )
        target = torch.from_numpy(np.concatenate([c.labels for c in clouds]).astype(np.int64)).to(self.ctx.device)
        return StepBatch(batch, target, int(target.numel()))

    def loss(self, output, batch: StepBatch) -> tuple[Tensor, dict[str, float]]:
        """Class-weighted cross-entropy of the per-point logits against the batch's labels."""
        weight = torch.tensor([1.0, self.options.anomaly_weight], device=output.logits.device)
        loss = functional.cross_entropy(output.logits, batch.target, weight=weight)
        return loss, {"ce": float(loss.detach())}

    @torch.no_grad()
    def validate(self, model: nn.Module) -> float | None:
        """Point AUROC on the held-out pseudo-anomalies; ``None`` when none labels a point."""
        from casl_core.metrics import auroc
        from casl_core.nn.casl_net import CaslBatch

        if not self.validation:
            return None
        model.eval()
        scores, labels = [], []
        for cloud in self.validation:
            batch = CaslBatch.from_scans(
                [cloud.points], [cloud.curvature], voxel_size=self.voxel_size, device=self.ctx.device
            )
            scores.append(anomaly_scores(model(batch).logits).float().cpu().numpy())
            labels.append(cloud.labels)
        model.train()
        return float(auroc(np.concatenate(labels), np.concatenate(scores)))


def make_validation(scans: list[PreparedScan], options: FinetuneOptions, device: str) -> list[LabelledCloud]:
    """The fixed, seeded validation set: ``val_samples`` pseudo-anomalies per held-out scan.

    Sample ``j`` of scan ``i`` uses a generator seeded by ``(seed, 1_000_003, i, j)`` and the
    training mixture of kinds (``options.missing_fraction``).
    """
    out = []
    for i, scan in enumerate(scans):
        for j in range(options.val_samples):
            rng = np.random.default_rng([options.seed, 1_000_003, i, j])
            out.append(pseudo_anomaly(scan, rng, device, options.missing_fraction))
    return out


#: Options that change how samples are made or checked, recorded in the resume state and
#: checked on ``--resume``: option name -> (words for an error, command-line flag, the value a
#: state saved before the option existed stands for).
SAMPLE_OPTIONS = {
    "missing_fraction": ("a missing-patch fraction", "--missing-fraction", 0.0),
    "point_dropout": ("a point dropout", "--point-dropout", 0.0),
    "scale_jitter": ("a scale jitter", "--scale-jitter", 0.0),
    "density_gradient": ("a density gradient", "--density-gradient", 0.0),
    "val_fraction": ("a validation fraction", "--val-fraction", 0.2),
}


def check_resume_options(out: str | os.PathLike[str], options: FinetuneOptions) -> None:
    """Refuse to continue a saved run that made its samples, or chose its validation scans, otherwise.

    States saved before an option existed count as that option's old behaviour (the third
    entry of :data:`SAMPLE_OPTIONS`): no missing patches, no dropout, no scale jitter, no
    density gradient, a validation fraction of 0.2. A missing state is left for the training
    loop to report.

    Raises
    ------
    CheckpointError
        If the state beside ``out`` records a different value of one of :data:`SAMPLE_OPTIONS`.
    """
    path = resume_path(out)
    if not path.is_file():
        return
    refuse_pickle(path)
    doc = read_safetensors_doc(path)
    run = doc.get("run") if isinstance(doc, dict) else None
    run = run if isinstance(run, dict) else {}
    for key, (words, flag, old) in SAMPLE_OPTIONS.items():
        saved, wanted = run.get(key, old), getattr(options, key)
        if saved != wanted:
            raise CheckpointError(
                f"{path}: the saved run used {words} of {saved}, not {wanted}; start again "
                f"without --resume or give {flag} {saved}"
            )


def finetune(
    train: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    init: str | os.PathLike[str] | None = None,
    options: FinetuneOptions = FinetuneOptions(),
    device: str = "auto",
    resume: bool = False,
    use_bundled: bool = True,
    command: Sequence[str] | None = None,
    progress: TrainProgressFn | None = None,
    cancel: CancelFn | None = None,
    extra_labelled: Sequence[LabelledInput] = (),
) -> TrainResult:
    """Fine-tune CASL on the normal scans under ``train`` and write the best checkpoint to ``out``.

    Parameters
    ----------
    train:
        Folders of one category's normal scans (any readable format; a category folder with
        a ``train/`` sub-folder is read from there).
    out:
        Output checkpoint (see :mod:`casl_core.nn.checkpoint`); the resumable state goes
        beside it (``<stem>.resume.safetensors``).
    init:
        Pretrained checkpoint to start from. Without it the bundled
        ``casl_assets/default_small.safetensors`` is used when present (and
        ``use_bundled``), else the model starts from scratch with a warning.
    options:
        :class:`FinetuneOptions`.
    device:
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N``; under torchrun each rank takes its GPU.
    resume:
        Continue from the resumable state beside ``out``.
    command:
        The command line recorded in the checkpoint.
    progress, cancel:
        :class:`~casl_core.train.loop.TrainProgress` callback and cancel callable.
    extra_labelled:
        ``(scan or path, labels)`` pairs of scans labelled point by point (1 defect, 0
        normal, -1 not labelled; see :mod:`casl_core.train.labelled`), trained on next to
        the pseudo-anomalies, one sample each per epoch.

    Raises
    ------
    DatasetError, ScanFormatError
        When the folders hold no usable scan, or labels do not fit their scan.
    CheckpointError, ConfigError
        On a bad init checkpoint, resume state or option.
    Cancelled
        When ``cancel`` asked to stop (the last finished epoch's files are kept).
    """
    options.check()
    if resume:
        check_resume_options(out, options)
    ctx = init_distributed(device)
    notes: list[str] = []
    files = find_scan_files(train)
    cache = ScanCache(device=curvature_device(ctx), max_points=options.max_points)
    prepared = prepare_scans(files, cache, options.epochs, progress, cancel)
    train_idx, val_idx = split_holdout(len(prepared), options.val_fraction, options.seed)
    if len(val_idx) == 0:
        reason = "no scan held out (validation fraction 0)" if options.val_fraction == 0 else "a single scan"
        note(
            f"{reason}: validation pseudo-anomalies come from the training scans themselves",
            notes,
            progress,
            options.epochs,
        )
        val_idx = train_idx
    model, config_name, init_from = build_model(
        options.config, init, ctx, notes, progress, options.epochs, use_bundled, options.seed
    )
    model.xyz_head.requires_grad_(False)
    validation = make_validation([prepared[i] for i in val_idx], options, cache.device) if ctx.is_main else []
    if validation and not any(cloud.labels.any() for cloud in validation):
        note(
            f"no validation pseudo-anomaly labels any point (missing patches of scans sparser than the "
            f"{RIM_WIDTH} rim width): without a validation metric every epoch is saved",
            notes,
            progress,
            options.epochs,
        )
        validation = []
    labelled, labelled_digests = labelled_clouds(extra_labelled, options.max_points, cache.device, options.seed)
    task = FinetuneTask([prepared[i] for i in train_idx], validation, options, ctx, model.config.voxel_size, labelled)
    fingerprint = data_fingerprint([p.digest for p in prepared] + labelled_digests)
    training = dict(
        asdict(options),
        init=init_from,
        normal_mode=NORMAL_MODE,
        world_size=ctx.world_size,
        held_out=[prepared[i].path.name for i in val_idx] if len(val_idx) else [],
        labelled_samples=len(labelled),
    )
    info = CheckpointInfo(
        kind="finetune",
        config_name=config_name,
        config=model.config.to_dict(),
        command=list(command) if command is not None else ["casl_core.train.finetune"],
        data_fingerprint=fingerprint,
        data_files=len(prepared),
        training=training,
    )
    run = Run(
        model=model,
        info=info,
        out=Path(out),
        ctx=ctx,
        options=LoopOptions(options.epochs, options.lr, options.weight_decay, options.seed),
        facts={
            "kind": "finetune",
            "data_fingerprint": fingerprint,
            "config": model.config.to_dict(),
            **{key: getattr(options, key) for key in SAMPLE_OPTIONS},
        },
        notes=notes,
    )
    result = run_training(task, run, resume=resume, progress=progress, cancel=cancel)
    if ctx.is_main:
        from casl_core.train.calibrate_model import calibrate_checkpoint

        held = [prepared[i].path for i in val_idx if i not in set(train_idx)]
        cal = calibrate_checkpoint(
            result.checkpoint,
            held,
            [prepared[i].path for i in train_idx],
            device=str(ctx.device),
            seed=options.seed,
            cancel=cancel,
        )
        if progress is not None:
            progress(
                TrainProgress(
                    options.epochs, options.epochs, 0, 0, float("nan"), phase="calibrate", message=cal.summary()
                )
            )
    return result
