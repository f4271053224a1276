"""A plain folder of scans: ``train/`` (normal) and ``test/`` (optionally labelled).

Layout::

    <root>/train/<any scan file>
    <root>/test/<scan>                    labels inside the file or in a sidecar
    <root>/test/good/<scan>               normal
    <root>/test/<defect>/<scan>           anomalous, defect type = folder name

Per-point labels come from a ``label``/``labels`` field of the scan file, else from a
sidecar ``<stem>.labels.npy`` or ``<stem>.labels.txt`` beside it; a sample in ``good/``
without either is all 0. A scan directly in ``test/`` is anomalous when any point label
is 1; with no labels at all its defect is ``"unlabelled"`` and it counts as normal, so an
evaluation should leave such samples out. The data set has one category named after
the root folder.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from casl_core.datasets.types import Category, TestSample, register_layout
from casl_core.errors import DatasetError
from casl_core.scan import Scan

LAYOUT = "folder"
UNLABELLED = "unlabelled"
SCAN_SUFFIXES = frozenset(
    {".ply", ".pcd", ".xyz", ".txt", ".csv", ".asc", ".pts", ".npy", ".npz", ".obj", ".stl", ".off", ".tif", ".tiff"}
)


def _is_scan(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in SCAN_SUFFIXES and ".labels." not in path.name


def _scans(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if _is_scan(p)) if folder.is_dir() else []


def find_root(root: Path) -> Path | None:
    """``root`` when it has ``train/`` and ``test/`` folders, else None."""
    return root if (root / "train").is_dir() and (root / "test").is_dir() else None


def categories(root: Path) -> list[str]:
    """The single category, named after the root folder."""
    return [root.resolve().name]


def sidecar(path: Path) -> Path | None:
    """The labels sidecar of a scan file, if there is one."""
    for suffix in (".labels.npy", ".labels.txt"):
        candidate = path.with_name(path.stem + suffix)
        if candidate.is_file():
            return candidate
    return None


def _read_sidecar(path: Path, n_points: int | None) -> np.ndarray:
    try:
        values = np.load(path, allow_pickle=False) if path.suffix == ".npy" else np.loadtxt(path, ndmin=1)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot read labels: {exc}") from None
    values = np.asarray(values).ravel()
    if not np.isin(values, (0, 1)).all():
        raise DatasetError(f"{path}: labels must be 0 or 1")
    if n_points is not None and len(values) != n_points:
        raise DatasetError(f"{path}: {len(values)} labels but the scan has {n_points} points")
    return values.astype(np.uint8)


def _flat_sample(path: Path) -> TestSample:
    side = sidecar(path)
    labels: np.ndarray | None
    if side is not None:
        labels = _read_sidecar(side, None)
    else:
        from casl_core.io import read_scan

        labels = read_scan(path).labels
    if labels is None:
        return TestSample(path, path.stem, UNLABELLED, False, LAYOUT, None)
    anomalous = bool(labels.any())
    return TestSample(path, path.stem, "defect" if anomalous else "good", anomalous, LAYOUT, side)


def build_category(root: Path, name: str) -> Category:
    """List the train and test scans.

    Raises
    ------
    DatasetError
        If ``train/`` holds no scan.
    """
    train = _scans(root / "train")
    if not train:
        raise DatasetError(f"{root / 'train'}: no training scan")
    test_dir = root / "test"
    samples = [_flat_sample(p) for p in _scans(test_dir)]
    for sub in sorted(d for d in test_dir.iterdir() if d.is_dir()):
        for path in _scans(sub):
            samples.append(TestSample(path, path.stem, sub.name, sub.name != "good", LAYOUT, sidecar(path)))
    return Category(name=name, train=train, test=samples)


def load_sample(sample: TestSample) -> Scan:
    """Read a test scan with its labels (file, sidecar, or all 0 for a normal sample).

    Labels stay ``None`` for an anomalous or unlabelled sample with no per-point labels.

    Raises
    ------
    DatasetError
        If a sidecar's length differs from the scan's or labels are not 0/1.
    """
    from casl_core.io import read_scan

    scan = read_scan(sample.path)
    if scan.labels is not None:
        if scan.labels.max(initial=0) > 1:
            raise DatasetError(f"{sample.path}: labels must be 0 or 1, found {int(scan.labels.max())}")
        return scan
    side = sample.gt_path or sidecar(sample.path)
    if side is not None:
        n_file = scan.metadata.points_in_file
        labels = _read_sidecar(side, n_file)
        if scan.metadata.source_index is not None:
            labels = labels[scan.metadata.source_index]
        return replace(scan, labels=labels)
    if not sample.is_anomalous and sample.defect != UNLABELLED:
        return replace(scan, labels=np.zeros(len(scan), dtype=np.uint8))
    return scan


register_layout(LAYOUT, load_sample)
