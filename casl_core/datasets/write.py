"""Write test sets in the Real3D-AD and plain-folder layouts (used by ``make_test_set``).

PCD files are ASCII PCD v0.7 with fields ``x y z`` (plus ``label`` in the plain-folder
layout), the form the published Real3D-AD files have; gt files are ``x y z label`` lines.
Coordinates are written with 9 significant digits, enough to give back the same float32.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from casl_core.errors import ConfigError
from casl_core.scan import Scan

_PCD_HEADER = (
    "# .PCD v0.7 - Point Cloud Data file format\n"
    "VERSION 0.7\n"
    "FIELDS {fields}\n"
    "SIZE {sizes}\n"
    "TYPE {types}\n"
    "COUNT {counts}\n"
    "WIDTH {n}\n"
    "HEIGHT 1\n"
    "VIEWPOINT 0 0 0 1 0 0 0\n"
    "POINTS {n}\n"
    "DATA ascii\n"
)


def _rows(points: np.ndarray, labels: np.ndarray | None, sep: str) -> str:
    xyz = np.asarray(points, dtype=np.float64)
    cols = [np.char.mod("%.9g", xyz[:, i]) for i in range(3)]
    if labels is not None:
        cols.append(np.asarray(labels).astype(np.int64).astype(str))
    lines = cols[0]
    for c in cols[1:]:
        lines = np.char.add(np.char.add(lines, sep), c)
    return "\n".join(lines.tolist()) + "\n"


def write_pcd_ascii(path: Path, points: np.ndarray, labels: np.ndarray | None = None) -> None:
    """Write an ASCII PCD with ``x y z`` (and ``label`` when labels are given)."""
    n = len(points)
    fields = ["x", "y", "z"] + (["label"] if labels is not None else [])
    header = _PCD_HEADER.format(
        fields=" ".join(fields),
        sizes=" ".join("4" for _ in fields),
        types=" ".join("F" if f != "label" else "U" for f in fields),
        counts=" ".join("1" for _ in fields),
        n=n,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + (_rows(points, labels, " ") if n else ""))


def write_gt_txt(path: Path, points: np.ndarray, labels: np.ndarray, sep: str = " ") -> None:
    """Write ``x y z label`` lines (``sep`` between columns)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_rows(points, labels, sep))


def _labels_of(sample: Scan) -> np.ndarray:
    if sample.labels is None:
        raise ConfigError(f"{sample.name}: a test sample needs labels")
    return sample.labels


def write_train_scan(root: Path, layout: str, category: str, number: int, scan: Scan) -> Path:
    """Write a normal training scan: ``<cat>/train/<i>_prototype.pcd`` or ``train/<cat>_<i>.pcd``."""
    if layout == "real3d":
        path = root / category / "train" / f"{number}_prototype.pcd"
    else:
        path = root / "train" / f"{category}_{number}.pcd"
    write_pcd_ascii(path, scan.points_f64())
    return path


def write_real3d_sample(root: Path, category: str, number: int, defect: str, sample: Scan) -> Path:
    """Write ``<cat>/test/<i>_<defect>.pcd`` and, when anomalous, ``<cat>/gt/<i>_<defect>.txt``."""
    stem = f"{number}_{defect}"
    path = root / category / "test" / f"{stem}.pcd"
    pts = sample.points_f64()
    write_pcd_ascii(path, pts)
    if defect != "good":
        write_gt_txt(root / category / "gt" / f"{stem}.txt", pts, _labels_of(sample))
    return path


def write_folder_sample(root: Path, number: int, defect: str, sample: Scan) -> Path:
    """Write ``test/<defect>/<i>_<defect>.pcd`` with a ``label`` field."""
    path = root / "test" / defect / f"{number}_{defect}.pcd"
    write_pcd_ascii(path, sample.points_f64(), _labels_of(sample))
    return path
