"""Recognise a data-set root's layout and open it."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path

from casl_core.datasets import folder, mvtec, pointgt
from casl_core.datasets.types import Category, Dataset
from casl_core.errors import DatasetError

LAYOUTS = ("real3d", "anomaly-shapenet", "mvtec3d", "folder")


def _finder(layout: str) -> Callable[[Path], Path | None]:
    if layout in (pointgt.REAL3D, pointgt.SHAPENET):
        return partial(pointgt.find_root, layout=layout)
    return mvtec.find_root if layout == mvtec.LAYOUT else folder.find_root


def _categories(layout: str, root: Path) -> list[str]:
    if layout in (pointgt.REAL3D, pointgt.SHAPENET):
        return pointgt.categories(root, layout)
    return mvtec.categories(root) if layout == mvtec.LAYOUT else folder.categories(root)


def _builder(layout: str) -> Callable[[Path, str], Category]:
    if layout in (pointgt.REAL3D, pointgt.SHAPENET):
        return partial(pointgt.build_category, layout=layout)
    return mvtec.build_category if layout == mvtec.LAYOUT else folder.build_category


def _check_root(root: str | os.PathLike[str]) -> Path:
    path = Path(root)
    if not path.is_dir():
        raise DatasetError(f"{path}: not a folder")
    return path


def detect_layout(root: str | os.PathLike[str]) -> str:
    """Name the layout of a data-set root.

    Checked in order: MVTec 3D-AD (``<cat>/test/<defect>/xyz``), Anomaly-ShapeNet
    (``<cat>/GT`` or ``<cat>_...`` test names, also under ``dataset/pcd``), Real3D-AD
    (``<cat>/gt`` or ``<i>_...`` test names), plain folder (``train/`` and ``test/``).

    Returns
    -------
    str
        One of ``"real3d"``, ``"anomaly-shapenet"``, ``"mvtec3d"``, ``"folder"``.

    Raises
    ------
    DatasetError
        If the root is not a folder or matches no layout.
    """
    path = _check_root(root)
    for layout in ("mvtec3d", "anomaly-shapenet", "real3d", "folder"):
        if _finder(layout)(path) is not None:
            return layout
    raise DatasetError(
        f"{path}: not a known data-set layout (Real3D-AD <cat>/train,test,gt; Anomaly-ShapeNet <cat>/train,test,GT; "
        "MVTec 3D-AD <cat>/test/<defect>/xyz; or a folder with train/ and test/)"
    )


def open_dataset(root: str | os.PathLike[str], layout: str = "auto") -> Dataset:
    """Open a data-set root in the given or detected layout.

    Parameters
    ----------
    root:
        The data-set folder.
    layout:
        ``"auto"`` or one of :data:`LAYOUTS`.

    Raises
    ------
    DatasetError
        If the root does not match the layout or the layout is unknown.
    """
    path = _check_root(root)
    if layout == "auto":
        layout = detect_layout(path)
    if layout not in LAYOUTS:
        raise DatasetError(f"unknown data-set layout {layout!r}; known: auto, {', '.join(LAYOUTS)}")
    inner = _finder(layout)(path)
    if inner is None:
        raise DatasetError(f"{path}: does not match the {layout} layout")
    return Dataset(layout=layout, root=inner, categories=_categories(layout, inner), _build=_builder(layout))
