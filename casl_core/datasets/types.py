"""The types every data-set layout returns: :class:`Dataset`, :class:`Category`, :class:`TestSample`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from casl_core.errors import DatasetError
from casl_core.scan import Scan


@dataclass(frozen=True)
class LayoutReaders:
    """How the samples of one layout are read: their points and labels, and (image layouts) their mask."""

    load: Callable[[TestSample], Scan]
    mask: Callable[[TestSample], np.ndarray] | None = None


#: Layout name -> its readers; each layout module registers itself when it is imported
#: (``casl_core.datasets`` imports them all), so this module depends on none of them.
_READERS: dict[str, LayoutReaders] = {}


def register_layout(
    layout: str, load: Callable[[TestSample], Scan], mask: Callable[[TestSample], np.ndarray] | None = None
) -> None:
    """Declare how the test samples of ``layout`` are loaded (and masked, for image layouts)."""
    _READERS[layout] = LayoutReaders(load, mask)


def _readers(layout: str) -> LayoutReaders:
    readers = _READERS.get(layout)
    if readers is None:
        known = ", ".join(sorted(_READERS))
        raise DatasetError(f"unknown data-set layout {layout!r}; known: {known}")
    return readers


@dataclass(frozen=True)
class TestSample:
    """One test scan of a category and where its ground truth is.

    Attributes
    ----------
    path:
        The test scan file (PCD, MVTec xyz TIFF, or any format ``read_scan`` reads).
    name:
        The file stem.
    defect:
        Defect type, ``"good"`` for a normal sample.
    is_anomalous:
        Object-level ground truth.
    layout:
        The layout the sample was listed by (decides how :meth:`load` reads it).
    gt_path:
        Per-point ground truth: the gt/GT text file (Real3D-AD, Anomaly-ShapeNet), the
        PNG mask (MVTec 3D-AD) or a labels sidecar (plain folder); ``None`` when absent.
    """

    __test__ = False  # not a pytest test class despite the name

    path: Path
    name: str
    defect: str
    is_anomalous: bool
    layout: str = "folder"
    gt_path: Path | None = None

    def load(self) -> Scan:
        """The points the protocol scores, with ``labels`` set (uint8) where known.

        Real3D-AD and Anomaly-ShapeNet anomalous samples: points and labels from the gt
        file; normal samples: the scan, all labels 0. MVTec 3D-AD: the valid pixels of the
        xyz TIFF (``metadata.pixel_index`` kept), labels from the mask at those pixels.
        Plain folder: the scan, labels from the file, a sidecar or the sub-folder.

        Raises
        ------
        DatasetError
            If the ground truth is missing or does not match the scan.
        ScanFormatError
            If a file cannot be read.
        """
        return _readers(self.layout).load(self)

    def mask(self) -> np.ndarray:
        """The full ``(H, W)`` uint8 ground-truth mask (MVTec 3D-AD only), 1 on the defect.

        Raises
        ------
        DatasetError
            For a layout without image masks, or an unreadable mask.
        """
        mask = _readers(self.layout).mask
        if mask is None:
            raise DatasetError(f"{self.path}: only MVTec 3D-AD samples have image masks (layout {self.layout})")
        return mask(self)


@dataclass(frozen=True)
class Category:
    """The normal training scans and the test samples of one category."""

    name: str
    train: list[Path]
    test: list[TestSample]
    validation: list[Path] = field(default_factory=list)

    @property
    def n_anomalous(self) -> int:
        """Number of anomalous test samples."""
        return sum(s.is_anomalous for s in self.test)


@dataclass(frozen=True)
class Dataset:
    """A data-set root read in one layout.

    Attributes
    ----------
    layout:
        ``"real3d"``, ``"anomaly-shapenet"``, ``"mvtec3d"`` or ``"folder"``.
    root:
        The folder the categories live in (for nested Anomaly-ShapeNet, the inner
        ``dataset/pcd`` folder).
    categories:
        Category names, sorted.
    """

    layout: str
    root: Path
    categories: list[str]
    _build: Callable[[Path, str], Category] = field(repr=False, compare=False)

    def category(self, name: str) -> Category:
        """List one category's training and test files.

        Raises
        ------
        DatasetError
            If the category is unknown or its files do not match the layout.
        """
        if name not in self.categories:
            raise DatasetError(f"{self.root}: no category {name!r} (have {', '.join(self.categories)})")
        return self._build(self.root, name)
