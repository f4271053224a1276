"""The CASL scorer: a fine-tuned checkpoint run on a scan, one score per input point, in input order.

Point score: ``log p(anomalous) - log p(normal)`` (the difference of the two logits).
Object score: the mean of the top 1 % point scores (:mod:`casl_core.scorers.pooling`).

Large scans: the scan is normalised into the unit sphere and voxelised at 0.03, so the number
of voxels is bounded by the object's surface (tens of thousands for a part, never more than
the ~155 k cells of the unit ball) whatever the number of points. The sparse U-Net therefore
runs once on all voxels; only the per-point part (each point's voxel features next to its
own curvature, then the classification head) scales with the points, and it runs in chunks
of ``chunk_points`` points. The result is identical to scoring all points at once (the head
is per point and in eval mode), and memory stays bounded for scans of millions of points.

Test-time augmentation (``tta``, 4 poses by default): the normalised scan is also scored in
``tta - 1`` other poses, each a seeded random rotation and a shift of less than one voxel
(:func:`tta_poses`), and each point's score is the mean over the poses. The voxel grid then
cuts the surface differently each time, which averages out the grid's part in a point's
score. Curvature does not change under a rotation or a shift, so it is computed once; the
network runs ``tta`` times. The mean is taken over the sorted scores of each point, so it does
not depend on the order of the poses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from casl_core.errors import CalibrationError, CheckpointError, ConfigError
from casl_core.fields import CASL_SCORE
from casl_core.geometry import DEFAULT_FIELDS
from casl_core.nn.checkpoint import CheckpointInfo, load_checkpoint
from casl_core.progress import CancelFn, ProgressFn, check_cancel, report
from casl_core.scan import Scan
from casl_core.scorers.base import ScanScores
from casl_core.scorers.calibration import Calibration
from casl_core.scorers.defaults import DEFAULT_TTA
from casl_core.scorers.pooling import DEFAULT_TOP_FRACTION, object_score

if TYPE_CHECKING:
    from casl_core.nn.casl_net import CaslNet

#: Points whose head outputs are computed at once.
DEFAULT_CHUNK_POINTS = 262_144
#: Seed of the test-time poses (fixed, so a scan's scores are reproducible).
TTA_SEED = 20_240_601
_CURVATURE_FIELDS = DEFAULT_FIELDS


@dataclass(frozen=True)
class CaslModel:
    """A checkpoint loaded for inference.

    Attributes
    ----------
    net:
        The :class:`~casl_core.nn.casl_net.CaslNet` in eval mode on ``device``.
    info:
        The checkpoint's description.
    path:
        Its safetensors file.
    device:
        Where it runs.
    calibration:
        The thresholds stored with the checkpoint at the end of fine-tuning, or ``None``
        (a checkpoint without them is "not calibrated").
    """

    net: CaslNet
    info: CheckpointInfo
    path: Path
    device: torch.device
    calibration: Calibration | None = None


def load_model(checkpoint: str | os.PathLike[str], device: str = "auto", *, allow_pretrain: bool = False) -> CaslModel:
    """Load a checkpoint for scoring.

    Raises
    ------
    CheckpointError
        If the checkpoint is unreadable, unsafe, does not fit the model, or is a
        pretraining checkpoint (its anomaly head is untrained) and ``allow_pretrain`` is False.
    ConfigError
        On a bad device.
    """
    from casl_core.device import resolve_device
    from casl_core.nn.casl_net import CaslNet
    from casl_core.nn.config import CaslConfig

    target = resolve_device(device)
    ckpt = load_checkpoint(checkpoint)
    if ckpt.info.kind != "finetune" and not allow_pretrain:
        raise CheckpointError(
            f"{ckpt.path}: a {ckpt.info.kind!r} checkpoint has no trained anomaly head; "
            f"fine-tune it first (casl finetune --init {ckpt.path} ...)"
        )
    try:
        net = CaslNet(CaslConfig.from_dict(ckpt.info.config))
        net.load_state_dict(ckpt.state_dict)
    except (RuntimeError, ConfigError) as exc:
        raise CheckpointError(f"{ckpt.path}: weights do not fit the CASL model: {str(exc).splitlines()[0]}") from None
    calibration = checkpoint_calibration(ckpt.info, ckpt.path)
    return CaslModel(net=net.to(target).eval(), info=ckpt.info, path=ckpt.path, device=target, calibration=calibration)


def checkpoint_calibration(info: CheckpointInfo, path: Path) -> Calibration | None:
    """The CASL calibration stored in a checkpoint's description, or ``None`` when it has none.

    Raises
    ------
    CalibrationError
        Naming the checkpoint, when the stored calibration is malformed or not a CASL one.
    """
    if info.calibration is None:
        return None
    from casl_core.scorers.calibration_io import from_json

    cal = from_json(info.calibration, f"{path}: calibration")
    if cal.scorer != "casl":
        raise CalibrationError(f"{path}: the stored calibration is for scorer {cal.scorer!r}, not casl")
    return cal


def scan_curvature(
    scan: Scan,
    normalized: np.ndarray,
    device: torch.device,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> np.ndarray:
    """The scan's ``(N, 3)`` default multi-scale curvature: its own fields when present, else computed.

    Surface variation does not change under translation and scaling, so fields computed on
    the file's coordinates serve for the normalised points.
    """
    if all(name in scan.fields for name in _CURVATURE_FIELDS):
        return np.stack([scan.fields[n] for n in _CURVATURE_FIELDS], axis=1).astype(np.float32)
    from casl_core.geometry import compute_curvature

    result = compute_curvature(
        normalized, device=str(device) if device.type == "cuda" else "cpu", progress=progress, cancel=cancel
    )
    return np.stack([result.fields[n] for n in result.fields], axis=1).astype(np.float32)


@torch.inference_mode()
def point_scores(
    model: CaslModel,
    points: np.ndarray,
    curvature: np.ndarray,
    *,
    chunk_points: int = DEFAULT_CHUNK_POINTS,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> np.ndarray:
    """Float32 ``(N,)`` scores of normalised ``points`` with their ``(N, C)`` curvature.

    Raises
    ------
    ConfigError
        On mismatched shapes or a chunk size below 1.
    Cancelled
        When ``cancel`` asks to stop between chunks.
    """
    from casl_core.nn.casl_net import CaslBatch
    from casl_core.nn.voxelize import devoxelize

    if chunk_points < 1:
        raise ConfigError(f"chunk size must be >= 1 point, got {chunk_points}")
    net = model.net
    batch = CaslBatch.from_scans([points], [curvature], voxel_size=net.config.voxel_size, device=model.device)
    report(progress, "casl", 0, batch.num_points, f"network on {batch.voxels.num_sites:,} voxels")
    decoded = net.decoder(net.encode_coordinates(batch), net.encode_curvature(batch)).features
    out = np.empty(batch.num_points, dtype=np.float32)
    for start in range(0, batch.num_points, chunk_points):
        check_cancel(cancel)
        part = slice(start, min(start + chunk_points, batch.num_points))
        feats = torch.cat([devoxelize(decoded, batch.inverse_index[part]), batch.curvature[part].to(decoded.dtype)], 1)
        logits = net.class_head(feats)
        out[part] = (logits[:, 1] - logits[:, 0]).float().cpu().numpy()
        report(progress, "casl", part.stop, batch.num_points)
    return out


@dataclass(frozen=True)
class Pose:
    """One test-time pose of a normalised scan: ``points @ rotation.T + shift``."""

    rotation: np.ndarray
    shift: np.ndarray


def tta_poses(n: int, voxel_size: float, seed: int = TTA_SEED) -> list[Pose]:
    """The ``n`` poses of test-time augmentation: the identity, then ``n - 1`` seeded random ones.

    Pose ``k >= 1`` is a rotation drawn uniformly over all rotations and a shift uniform in
    ``[0, voxel_size)`` per axis, from a generator seeded by ``(seed, k)``, so the first ``m``
    poses of ``tta_poses(n)`` are those of ``tta_poses(m)``.

    Raises
    ------
    ConfigError
        If ``n < 1``.
    """
    from scipy.spatial.transform import Rotation

    if n < 1:
        raise ConfigError(f"test-time augmentation needs at least 1 pose, got {n}")
    poses = [Pose(np.eye(3), np.zeros(3))]
    for k in range(1, n):
        rng = np.random.default_rng([seed, k])
        rotation = Rotation.random(random_state=rng).as_matrix()
        poses.append(Pose(rotation, rng.uniform(0.0, voxel_size, size=3)))
    return poses


def tta_point_scores(
    model: CaslModel,
    points: np.ndarray,
    curvature: np.ndarray,
    poses: list[Pose],
    *,
    chunk_points: int = DEFAULT_CHUNK_POINTS,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> np.ndarray:
    """Float32 ``(N,)`` mean of the point scores over ``poses`` (each point's scores sorted, then summed).

    With one identity pose this is :func:`point_scores` exactly.

    Raises
    ------
    ConfigError
        On no pose, mismatched shapes or a bad chunk size.
    Cancelled
        When ``cancel`` asks to stop.
    """
    if not poses:
        raise ConfigError("test-time augmentation needs at least 1 pose, got 0")
    runs = []
    for pose in poses:
        check_cancel(cancel)
        moved = (np.asarray(points, dtype=np.float64) @ pose.rotation.T + pose.shift).astype(np.float32)
        runs.append(point_scores(model, moved, curvature, chunk_points=chunk_points, progress=progress, cancel=cancel))
    if len(runs) == 1:
        return runs[0]
    stacked = np.sort(np.stack(runs).astype(np.float64), axis=0)
    return (stacked.sum(axis=0) / len(runs)).astype(np.float32)


def infer_scan(
    model: CaslModel,
    scan: Scan,
    *,
    top_fraction: float = DEFAULT_TOP_FRACTION,
    chunk_points: int = DEFAULT_CHUNK_POINTS,
    tta: int = DEFAULT_TTA,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> ScanScores:
    """Score every point of ``scan`` with ``model``; the returned scan has a ``casl_score`` field.

    ``tta`` poses are scored and averaged (:func:`tta_poses`; 1 scores the scan as it is).

    Raises
    ------
    ConfigError
        On a scan too small to score, a bad chunk size or ``tta < 1``.
    Cancelled
        When ``cancel`` asks to stop.
    """
    from casl_core.nn.preprocess import normalize_points

    if len(scan) == 0:
        raise ConfigError(f"{scan.metadata.source or scan.name}: cannot score an empty scan")
    poses = tta_poses(tta, model.net.config.voxel_size)
    normalized, _ = normalize_points(scan.points_f64())
    curvature = scan_curvature(scan, normalized, model.device, progress, cancel)
    scores = tta_point_scores(
        model, normalized, curvature, poses, chunk_points=chunk_points, progress=progress, cancel=cancel
    )
    return ScanScores(
        scan=scan.with_fields(**{CASL_SCORE: scores}),
        point_scores=scores,
        object_score=object_score(scores, top_fraction),
    )


def category_checkpoint(folder: Path, category: str) -> Path:
    """The checkpoint of one category in a folder of them: ``<folder>/<category>.safetensors``.

    Raises
    ------
    CheckpointError
        If the folder holds no checkpoint for ``category``.
    """
    path = folder / f"{category}.safetensors"
    if not path.is_file():
        raise CheckpointError(f"{path}: no fine-tuned checkpoint for category {category!r}")
    return path


class CaslScorer:
    """The CASL model as a :class:`~casl_core.scorers.base.Scorer` (``casl eval --method casl``).

    Parameters
    ----------
    checkpoint:
        A fine-tuned checkpoint, or a folder of them named ``<category>.safetensors`` (one
        model per category; pick one with :meth:`for_category`).
    device:
        ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
    top_fraction:
        Fraction of points pooled into the object score.
    chunk_points:
        Points per chunk of the per-point head.
    tta:
        Poses scored and averaged per scan (test-time augmentation, :func:`tta_poses`; default
        :data:`DEFAULT_TTA`); 1 scores the scan as it is and costs one network pass, ``tta``
        costs ``tta`` passes (curvature is computed once).

    Raises
    ------
    CheckpointError
        If the checkpoint (or the folder) cannot be used.
    """

    name = "casl"
    score_field = CASL_SCORE

    def __init__(
        self,
        checkpoint: str | os.PathLike[str],
        device: str = "auto",
        *,
        top_fraction: float = DEFAULT_TOP_FRACTION,
        chunk_points: int = DEFAULT_CHUNK_POINTS,
        tta: int = DEFAULT_TTA,
    ) -> None:
        if tta < 1:
            raise ConfigError(f"test-time augmentation needs at least 1 pose, got {tta}")
        self.checkpoint = Path(checkpoint)
        self.device = device
        self.top_fraction = top_fraction
        self.chunk_points = chunk_points
        self.tta = tta
        self._model = None if self.checkpoint.is_dir() else load_model(self.checkpoint, device)

    @property
    def calibration(self) -> Calibration | None:
        """The loaded checkpoint's calibration (``None`` when it has none, or for a folder of checkpoints)."""
        return None if self._model is None else self._model.calibration

    def for_category(self, category: str) -> CaslScorer:
        """The scorer of one category: itself for a single checkpoint, ``<folder>/<category>.safetensors`` else.

        Raises
        ------
        CheckpointError
            If the folder holds no checkpoint for ``category``.
        """
        if not self.checkpoint.is_dir():
            return self
        return CaslScorer(
            category_checkpoint(self.checkpoint, category),
            self.device,
            top_fraction=self.top_fraction,
            chunk_points=self.chunk_points,
            tta=self.tta,
        )

    def score(self, scan: Scan, *, progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> ScanScores:
        """Score every point of ``scan`` (see :func:`infer_scan`)."""
        if self._model is None:
            raise CheckpointError(
                f"{self.checkpoint}: a folder of per-category checkpoints; choose one with for_category()"
            )
        return infer_scan(
            self._model,
            scan,
            top_fraction=self.top_fraction,
            chunk_points=self.chunk_points,
            tta=self.tta,
            progress=progress,
            cancel=cancel,
        )
