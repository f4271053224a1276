"""Scans a person labelled point by point, as extra fine-tuning samples.

An annotated scan (:func:`casl_core.annotations.scan_point_labels`) says, per point, 1
(defect), 0 (normal) or -1 (not annotated). Fine-tuning can take such scans next to its
Norm-AS pseudo-anomalies: the scan is normalised like every training scan, its curvature
computed, and its labelled points enter the cross-entropy with their own class while the
points nobody labelled stay in the network's input but out of the loss (target
:data:`IGNORE_TARGET`, PyTorch's default ``ignore_index``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Union

import numpy as np

from casl_core.errors import DatasetError
from casl_core.scan import Scan

#: Target of points outside the loss (``torch.nn.functional.cross_entropy``'s default ``ignore_index``).
IGNORE_TARGET = -100

#: A labelled sample: a scan (or its file) and its per-point labels (1 defect, 0 normal, -1 none).
LabelledInput = tuple[Union[Scan, str, "os.PathLike[str]"], np.ndarray]


@dataclass(frozen=True)
class LabelledCloud:
    """Normalised points with curvature and per-point labels (a validation or labelled training sample)."""

    points: np.ndarray
    curvature: np.ndarray
    labels: np.ndarray


def _as_scan(item: Scan | str | os.PathLike[str]) -> Scan:
    if isinstance(item, Scan):
        return item
    from casl_core.io import read_scan

    return read_scan(item)


def check_labels(scan: Scan, labels: np.ndarray) -> np.ndarray:
    """The labels as int64 with unlabelled points set to :data:`IGNORE_TARGET`.

    Raises
    ------
    DatasetError
        If the labels do not match the scan's points, hold values other than -1, 0 and 1,
        or label no point at all.
    """
    where = scan.metadata.source or scan.name
    values = np.asarray(labels)
    if values.shape != (len(scan),):
        raise DatasetError(f"{where}: labels of shape {values.shape} do not match the scan's {len(scan)} points")
    if not np.isin(values, (-1, 0, 1)).all():
        raise DatasetError(f"{where}: labels must be 1 (defect), 0 (normal) or -1 (unlabelled)")
    if not (values >= 0).any():
        raise DatasetError(f"{where}: no point is labelled")
    return np.where(values < 0, IGNORE_TARGET, values).astype(np.int64)


def labelled_digest(points: np.ndarray, targets: np.ndarray) -> str:
    """SHA-256 of a sample's points and targets (enters the run's data fingerprint)."""
    sha = hashlib.sha256()
    sha.update(np.ascontiguousarray(points, dtype=np.float32).tobytes())
    sha.update(np.ascontiguousarray(targets, dtype=np.int64).tobytes())
    return sha.hexdigest()


def subsample(targets: np.ndarray, max_points: int | None, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of at most ``max_points`` points, labelled points first, the rest at random."""
    n = len(targets)
    if max_points is None or n <= max_points:
        return np.arange(n)
    labelled = np.flatnonzero(targets != IGNORE_TARGET)
    if len(labelled) >= max_points:
        return np.sort(rng.choice(labelled, max_points, replace=False))
    others = np.flatnonzero(targets == IGNORE_TARGET)
    return np.sort(np.concatenate([labelled, rng.choice(others, max_points - len(labelled), replace=False)]))


def labelled_clouds(
    extra: Sequence[LabelledInput], max_points: int | None, device: str = "cpu", seed: int = 0
) -> tuple[list, list[str]]:
    """Prepare labelled scans for fine-tuning.

    Parameters
    ----------
    extra:
        ``(scan or path, labels)`` pairs.
    max_points:
        Scans with more points are subsampled (seeded) to this many, labelled points kept first.
    device:
        Where curvature is computed.
    seed:
        Seeds the subsampling.

    Returns
    -------
    (clouds, digests)
        One :class:`LabelledCloud` per sample (targets with
        :data:`IGNORE_TARGET` for unlabelled points) and the digest of each.

    Raises
    ------
    DatasetError
        On labels that do not fit their scan (see :func:`check_labels`) or a scan under 64 points.
    ScanFormatError
        If a scan file cannot be read.
    """
    from casl_core.nn.preprocess import normalize_points
    from casl_core.train.data import curvature_and_normals

    clouds, digests = [], []
    for i, (item, labels) in enumerate(extra):
        scan = _as_scan(item)
        targets = check_labels(scan, labels)
        if len(scan) < 64:
            raise DatasetError(f"{scan.metadata.source or scan.name}: {len(scan)} points; a training scan needs 64")
        index = subsample(targets, max_points, np.random.default_rng([seed, 31, i]))
        points, _ = normalize_points(scan.points_f64()[index])
        curvature, _ = curvature_and_normals(points, device)
        clouds.append(LabelledCloud(points, curvature, targets[index]))
        digests.append(labelled_digest(points, targets[index]))
    return clouds, digests
