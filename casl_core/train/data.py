"""Training data: scan files found in folders, prepared once per run, and model inputs.

A training file is read, optionally subsampled to ``max_points`` (fixed seed per file, so
every epoch and every rank sees the same points), normalised into the unit sphere
(:func:`casl_core.nn.preprocess.normalize_points`) and given its multi-scale curvature
(default mode: ``curvature_s16/s64/s256``, three channels, computed on the normalised points)
and normals (the file's own when it has them, else the curvature's). A :class:`ScanCache`
keeps prepared scans in memory for the run, keyed by the SHA-256 of the file's bytes, so a
file listed twice or read again in a later epoch is prepared once.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from casl_core.errors import CaslError, ConfigError, DatasetError
from casl_core.progress import CancelFn, check_cancel

# Default cap on the points of one training scan (see :class:`ScanCache`), re-exported here.
from casl_core.train.options import DEFAULT_MAX_POINTS


@dataclass(frozen=True)
class PreparedScan:
    """A training scan ready for sampling.

    Attributes
    ----------
    path:
        The file it came from.
    digest:
        SHA-256 of the file's bytes.
    points:
        ``(N, 3)`` float32 normalised coordinates.
    curvature:
        ``(N, C)`` float32 multi-scale curvature, fine to coarse.
    normals:
        ``(N, 3)`` float32 unit normals.
    """

    path: Path
    digest: str
    points: np.ndarray
    curvature: np.ndarray
    normals: np.ndarray


def file_digest(path: Path) -> str:
    """SHA-256 hex digest of a file's bytes."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def data_fingerprint(digests: Sequence[str]) -> str:
    """SHA-256 over the sorted file digests: the same files give the same fingerprint anywhere."""
    return hashlib.sha256("\n".join(sorted(digests)).encode()).hexdigest()


def find_scan_files(folders: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Every readable scan file under ``folders`` (recursively), sorted, without duplicates.

    A folder holding no scan file directly but a ``train`` sub-folder (a data-set category)
    is read from ``train/``; a data-set root (Real3D-AD, Anomaly-ShapeNet, MVTec 3D-AD,
    detected by :func:`casl_core.datasets.open_dataset`) gives the normal training files of
    all its categories, never its test or ground-truth files.

    Raises
    ------
    DatasetError
        If a folder does not exist or no scan file is found.
    """
    from casl_core.io import READ_SUFFIXES

    if not folders:
        raise DatasetError("no training folder given")
    suffixes = {s.lower() for s in READ_SUFFIXES}
    found: list[Path] = []
    for folder in folders:
        root = Path(folder)
        if not root.is_dir():
            raise DatasetError(f"{root}: training folder not found")
        direct = [p for p in root.iterdir() if p.is_file() and p.suffix.lower() in suffixes]
        if not direct and (root / "train").is_dir():
            root = root / "train"
        elif not direct:
            from_dataset = _dataset_train_files(root)
            if from_dataset is not None:
                found.extend(from_dataset)
                continue
        found.extend(
            p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith(".")
        )
    files = sorted(set(p.resolve() for p in found))
    if not files:
        raise DatasetError(f"no scan file ({', '.join(sorted(suffixes))}) under {', '.join(map(str, folders))}")
    return files


def _dataset_train_files(root: Path) -> list[Path] | None:
    """The training files of every category when ``root`` is a known data-set layout, else None."""
    from casl_core.datasets import open_dataset

    try:
        dataset = open_dataset(root)
        return [p for name in dataset.categories for p in dataset.category(name).train]
    except DatasetError:
        return None


def curvature_matrix(points: np.ndarray, device: str = "cpu", cancel: CancelFn | None = None) -> np.ndarray:
    """``(N, 3)`` float32 default multi-scale curvature of normalised points, fine to coarse."""
    return curvature_and_normals(points, device, cancel)[0]


def curvature_and_normals(
    points: np.ndarray, device: str = "cpu", cancel: CancelFn | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Default multi-scale curvature ``(N, 3)`` and normals ``(N, 3)``, both float32."""
    from casl_core.geometry import compute_curvature

    result = compute_curvature(points, device=device, cancel=cancel)
    curvature = np.stack([result.fields[name] for name in result.fields], axis=1).astype(np.float32)
    return curvature, result.normals.astype(np.float32)


@dataclass
class ScanCache:
    """Prepared training scans of one run, keyed by file content.

    Attributes
    ----------
    device:
        Where curvature is computed.
    max_points:
        Scans with more points are randomly subsampled to this many (``None``: keep all).
    """

    device: str = "cpu"
    max_points: int | None = DEFAULT_MAX_POINTS
    _items: dict[str, PreparedScan] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self._items)

    def prepare(self, path: Path, cancel: CancelFn | None = None) -> PreparedScan:
        """Read, subsample, normalise and add curvature to ``path`` (once per content).

        Raises
        ------
        ScanFormatError
            If the file cannot be read.
        DatasetError
            If the scan is too small to train on.
        """
        digest = file_digest(path)
        cached = self._items.get(digest)
        if cached is not None:
            return cached
        check_cancel(cancel)
        prepared = self._build(path, digest, cancel)
        self._items[digest] = prepared
        return prepared

    def _build(self, path: Path, digest: str, cancel: CancelFn | None) -> PreparedScan:
        from casl_core.io import read_scan
        from casl_core.nn.preprocess import normalize_points

        scan = read_scan(path)
        if len(scan) < 64:
            raise DatasetError(f"{path}: {len(scan)} points; a training scan needs at least 64")
        index = np.arange(len(scan))
        if self.max_points is not None and len(scan) > self.max_points:
            rng = np.random.default_rng(int(digest[:15], 16))
            index = np.sort(rng.choice(len(scan), self.max_points, replace=False))
        points, _ = normalize_points(scan.points_f64()[index])
        try:
            curvature, normals = curvature_and_normals(points, self.device, cancel)
        except ConfigError:
            raise
        except CaslError as exc:
            raise DatasetError(f"{path}: {exc}") from None
        if scan.normals is not None:
            own = scan.normals[index]
            length = np.linalg.norm(own, axis=1)
            usable = length > 1e-6
            normals[usable] = own[usable] / length[usable, None]
        return PreparedScan(path=path, digest=digest, points=points, curvature=curvature, normals=normals)
