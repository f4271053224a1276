"""Real3D-AD and Anomaly-ShapeNet: PCD scans with per-point ground truth in text files.

Real3D-AD::

    <cat>/train/<i>_prototype.pcd          (older releases: *template*.pcd)
    <cat>/test/<i>_good.pcd | <i>_<defect>.pcd
    <cat>/gt/<i>_<defect>.txt              "x y z label" per line

Anomaly-ShapeNet (also found nested under ``dataset/pcd/``)::

    <cat>/train/<cat>_template<i>.pcd
    <cat>/test/<cat>_positive<i>.pcd | <cat>_<defect><i>.pcd
    <cat>/GT/<cat>_<defect><i>.txt         "x,y,z,label" per line

For an anomalous test sample the points and labels are the gt file's (they are what the
published protocol scores); a normal sample is its PCD with every label 0.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path

import numpy as np

from casl_core.datasets.types import Category, TestSample, register_layout
from casl_core.errors import DatasetError
from casl_core.scan import Scan

REAL3D = "real3d"
SHAPENET = "anomaly-shapenet"
_GT_DIR = {REAL3D: "gt", SHAPENET: "GT"}
_NESTED = (Path("dataset") / "pcd", Path("pcd"))


def _children(folder: Path) -> set[str]:
    try:
        return set(os.listdir(folder))
    except OSError:
        return set()


def _pcds(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.pcd") if p.is_file())


def _is_category(folder: Path, layout: str) -> bool:
    names = _children(folder)
    if not {"train", "test"} <= names:
        return False
    if _GT_DIR[layout] in names:
        return True
    other = _GT_DIR[SHAPENET if layout == REAL3D else REAL3D]
    if other in names:
        return False
    tests = [p.stem for p in _pcds(folder / "test")]
    if layout == REAL3D:
        return any(re.match(r"^\d+_", s) for s in tests)
    return any(s.startswith(folder.name + "_") for s in tests)


def categories(root: Path, layout: str) -> list[str]:
    """Sub-folders of ``root`` that look like categories of ``layout``."""
    return sorted(p.name for p in root.iterdir() if p.is_dir() and _is_category(p, layout))


def find_root(root: Path, layout: str) -> Path | None:
    """The folder holding the categories (``root`` or a nested ``dataset/pcd``), else None."""
    candidates = [root]
    if layout == SHAPENET:
        candidates += [root / n for n in _NESTED]
        candidates += [d / n for d in sorted(root.iterdir()) if d.is_dir() for n in _NESTED]
    for c in candidates:
        if c.is_dir() and categories(c, layout):
            return c
    return None


def _train(folder: Path, layout: str) -> list[Path]:
    train = _pcds(folder / "train")
    if layout == SHAPENET:
        templates = [p for p in train if "template" in p.stem]
        train = templates or train
    if not train:
        raise DatasetError(f"{folder / 'train'}: no training scan (*.pcd)")
    return train


def _defect_of(stem: str, category: str, layout: str) -> str:
    if layout == REAL3D:
        m = re.match(r"^\d+_(.+)$", stem)
        return m.group(1) if m else stem
    rest = stem[len(category) + 1 :] if stem.startswith(category + "_") else stem
    return re.sub(r"\d+$", "", rest) or rest


def build_category(root: Path, name: str, layout: str) -> Category:
    """List a category; every anomalous test sample must have its gt file.

    Raises
    ------
    DatasetError
        If there is no training scan, no test scan, or a gt file is missing.
    """
    folder = root / name
    train = _train(folder, layout)
    gt_dir = folder / _GT_DIR[layout]
    samples = []
    for path in _pcds(folder / "test"):
        if "template" in path.stem or "prototype" in path.stem:
            continue
        defect = _defect_of(path.stem, name, layout)
        normal = "good" in defect or defect == "positive"
        gt = gt_dir / f"{path.stem}.txt"
        if not normal and not gt.is_file():
            raise DatasetError(f"{gt}: ground-truth file missing for anomalous test sample {path}")
        samples.append(
            TestSample(
                path=path,
                name=path.stem,
                defect="good" if normal else defect,
                is_anomalous=not normal,
                layout=layout,
                gt_path=gt if gt.is_file() else None,
            )
        )
    if not samples:
        raise DatasetError(f"{folder / 'test'}: no test scan (*.pcd)")
    return Category(name=name, train=train, test=samples)


def read_gt(path: Path) -> Scan:
    """Read a gt text file (``x y z label`` or ``x,y,z,label``) as a labelled scan.

    Raises
    ------
    DatasetError
        If the file has no usable 0/1 label column.
    """
    from casl_core.io import read_scan

    scan = read_scan(path, columns=("x", "y", "z", "label"))
    if scan.labels is None:
        raise DatasetError(f"{path}: the fourth column is not a 0/1 label")
    if scan.labels.max(initial=0) > 1:
        raise DatasetError(f"{path}: labels must be 0 or 1, found {int(scan.labels.max())}")
    return scan


def load_sample(sample: TestSample) -> Scan:
    """Load a Real3D-AD / Anomaly-ShapeNet test sample (see the module docstring)."""
    from casl_core.io import read_scan

    if sample.is_anomalous:
        if sample.gt_path is None:
            raise DatasetError(f"{sample.path}: anomalous sample without a ground-truth file")
        return read_gt(sample.gt_path)
    scan = read_scan(sample.path)
    return replace(scan, labels=np.zeros(len(scan), dtype=np.uint8))


register_layout(REAL3D, load_sample)
register_layout(SHAPENET, load_sample)
