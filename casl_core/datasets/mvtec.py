"""MVTec 3D-AD: organized xyz TIFF scans with PNG ground-truth masks.

Layout::

    <cat>/{train,validation,test}/<defect>/xyz/NNN.tiff
    <cat>/{train,validation,test}/<defect>/rgb/NNN.png
    <cat>/test/<defect>/gt/NNN.png            0 normal, nonzero anomalous

``good`` is the normal defect type. A test scan's points are the valid pixels of its
xyz image (all-zero pixels hold no point and are dropped; ``metadata.pixel_index``
keeps each point's flat pixel index); their labels are the mask at those pixels, and
:meth:`TestSample.mask` gives the whole mask for AUPRO.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from casl_core.datasets.types import Category, TestSample, register_layout
from casl_core.errors import DatasetError
from casl_core.scan import Scan

LAYOUT = "mvtec3d"


def _tiffs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.tif*") if p.is_file())


def _is_category(folder: Path) -> bool:
    test = folder / "test"
    return test.is_dir() and any((d / "xyz").is_dir() for d in test.iterdir() if d.is_dir())


def categories(root: Path) -> list[str]:
    """Sub-folders of ``root`` holding ``test/<defect>/xyz``."""
    return sorted(p.name for p in root.iterdir() if p.is_dir() and _is_category(p))


def find_root(root: Path) -> Path | None:
    """``root`` when it holds MVTec 3D-AD categories, else None."""
    return root if categories(root) else None


def _split(folder: Path, split: str) -> list[Path]:
    base = folder / split
    if not base.is_dir():
        return []
    return [p for d in sorted(base.iterdir()) if d.is_dir() for p in _tiffs(d / "xyz")]


def build_category(root: Path, name: str) -> Category:
    """List a category; anomalous test samples must have their gt PNG.

    Raises
    ------
    DatasetError
        If there is no training scan or a mask is missing.
    """
    folder = root / name
    train = _split(folder, "train")
    if not train:
        raise DatasetError(f"{folder / 'train'}: no training scan (train/good/xyz/*.tiff)")
    samples = []
    for defect_dir in sorted(d for d in (folder / "test").iterdir() if d.is_dir()):
        defect = defect_dir.name
        for path in _tiffs(defect_dir / "xyz"):
            gt = defect_dir / "gt" / f"{path.stem}.png"
            if defect != "good" and not gt.is_file():
                raise DatasetError(f"{gt}: ground-truth mask missing for anomalous test sample {path}")
            samples.append(
                TestSample(
                    path=path,
                    name=path.stem,
                    defect=defect,
                    is_anomalous=defect != "good",
                    layout=LAYOUT,
                    gt_path=gt if gt.is_file() else None,
                )
            )
    return Category(name=name, train=train, test=samples, validation=_split(folder, "validation"))


def read_mask(path: Path) -> np.ndarray:
    """A gt PNG as an ``(H, W)`` uint8 array, 1 where any channel is nonzero.

    Raises
    ------
    DatasetError
        If Pillow cannot read it.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            arr = np.asarray(img)
    except (OSError, UnidentifiedImageError) as exc:
        raise DatasetError(f"{path}: cannot read the mask: {exc}") from None
    if arr.ndim == 3:
        arr = np.asarray(arr.any(axis=2))
    if arr.ndim != 2:
        raise DatasetError(f"{path}: a mask must be a 2-D image, got shape {arr.shape}")
    return (arr != 0).astype(np.uint8)


def _read_xyz(path: Path) -> Scan:
    from casl_core.io import read_scan

    scan = read_scan(path)
    if scan.metadata.pixel_index is None or scan.metadata.image_shape is None:
        raise DatasetError(f"{path}: not an organized xyz image (no pixel index)")
    valid = np.any(scan.points != 0, axis=1)
    return scan if valid.all() else scan.subset(valid)


def full_mask(sample: TestSample) -> np.ndarray:
    """The sample's ``(H, W)`` uint8 mask: its gt PNG, or all zeros for a normal sample without one."""
    return sample_mask(sample) if sample.gt_path is None else read_mask(sample.gt_path)


def sample_mask(sample: TestSample) -> np.ndarray:
    """An all-zero mask of the sample's image size (normal samples without a gt PNG)."""
    from casl_core.io import read_scan

    shape = read_scan(sample.path).metadata.image_shape
    if shape is None:
        raise DatasetError(f"{sample.path}: not an organized xyz image")
    return np.zeros(shape, dtype=np.uint8)


def load_sample(sample: TestSample) -> Scan:
    """The valid points of the xyz TIFF with labels from the mask at their pixels.

    Raises
    ------
    DatasetError
        If the mask's size differs from the xyz image's.
    """
    scan = _read_xyz(sample.path)
    if sample.gt_path is None:
        return replace(scan, labels=np.zeros(len(scan), dtype=np.uint8))
    mask = read_mask(sample.gt_path)
    shape = scan.metadata.image_shape
    if shape is None:
        raise DatasetError(f"{sample.path}: not an organized xyz image")
    if mask.shape != tuple(shape):
        raise DatasetError(
            f"{sample.gt_path}: mask is {mask.shape[1]}x{mask.shape[0]} but {sample.path} is {shape[1]}x{shape[0]}"
        )
    return replace(scan, labels=mask.ravel()[scan.metadata.pixel_index])


register_layout(LAYOUT, load_sample, full_mask)
