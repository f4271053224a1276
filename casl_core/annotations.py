"""A person's annotations of a scan: selections marked defect or normal, kept in a JSON sidecar.

The sidecar sits next to the scan, named ``<scan file name>.casl-annotations.json``
(``part.ply`` -> ``part.ply.casl-annotations.json``) and is written atomically. Point
indices are rows of the scan *file* (``metadata.source_index`` maps the scan's points to
them when points were dropped on reading), so the sidecar stays valid whatever reader or
filter produced the points on show.

Schema (version 1)::

    {"format": "casl-annotations", "version": 1,
     "scan": {"file": "part.ply", "points_in_file": 25000},
     "annotations": [{"id": 1, "label": "defect", "note": "dent near the rim",
                      "created": "2026-01-31T09:15:02Z", "selection": "rectangle",
                      "points": [10, 11, 12]}]}

``label`` is ``"defect"`` or ``"normal"`` (a false positive of the scorer); ``selection``
says how the points were chosen (``rectangle``, ``sphere``, ``region``, ``points``).
:func:`point_labels` turns a set into per-point training labels. Reading, writing, backing
up and exporting sidecars is :mod:`casl_core.annotation_sidecar`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import numpy as np

from casl_core.errors import ConfigError
from casl_core.scan import Scan

FORMAT_NAME = "casl-annotations"
SCHEMA_VERSION = 1
SIDECAR_SUFFIX = ".casl-annotations.json"
SELECTION_KINDS = ("rectangle", "sphere", "region", "points")
#: Largest ``points_in_file`` a sidecar may declare (a scan of a billion points is far
#: beyond what the tool handles; a bigger number is a corrupt or hostile file).
MAX_POINTS_IN_FILE = 1_000_000_000
#: Value of :func:`point_labels` for points no annotation covers.
UNLABELLED = -1


class Label(StrEnum):
    """What a person says a selection is."""

    DEFECT = "defect"
    NORMAL = "normal"

    @property
    def text(self) -> str:
        """Human wording."""
        return "defect" if self is Label.DEFECT else "normal (false positive)"


@dataclass(frozen=True)
class Annotation:
    """One marked selection.

    Attributes
    ----------
    id:
        Unique within its set, never reused.
    label:
        :class:`Label`.
    points:
        Sorted unique int64 row indices in the scan file.
    note:
        Free text.
    created:
        UTC time in ISO 8601 (``2026-01-31T09:15:02Z``).
    selection:
        How the points were chosen, one of :data:`SELECTION_KINDS`.
    """

    id: int
    label: Label
    points: np.ndarray
    note: str
    created: str
    selection: str

    @property
    def size(self) -> int:
        """Number of points."""
        return int(len(self.points))


@dataclass(frozen=True)
class AnnotationSet:
    """The annotations of one scan file.

    Attributes
    ----------
    scan_file:
        The scan's file name (no folder), to recognise a sidecar copied elsewhere.
    points_in_file:
        Number of points in the scan file; every index is below it.
    annotations:
        In creation order.
    """

    scan_file: str
    points_in_file: int
    annotations: tuple[Annotation, ...] = ()

    def next_id(self) -> int:
        """The id the next annotation gets."""
        return max((a.id for a in self.annotations), default=0) + 1

    def add(
        self,
        label: Label | str,
        points: np.ndarray,
        note: str = "",
        selection: str = "points",
        created: str | None = None,
    ) -> AnnotationSet:
        """A copy with one more annotation of file rows ``points``.

        Raises
        ------
        ConfigError
            On an unknown label or selection kind, no point, or an index outside the file.
        """
        ann = Annotation(
            id=self.next_id(),
            label=parse_label(label),
            points=self._rows(points),
            note=str(note),
            created=created or utc_now(),
            selection=parse_selection(selection),
        )
        return replace(self, annotations=self.annotations + (ann,))

    def remove(self, annotation_id: int) -> AnnotationSet:
        """A copy without the annotation ``annotation_id``.

        Raises
        ------
        ConfigError
            If there is no such annotation.
        """
        kept = tuple(a for a in self.annotations if a.id != annotation_id)
        if len(kept) == len(self.annotations):
            raise ConfigError(f"{self.scan_file}: no annotation has id {annotation_id}")
        return replace(self, annotations=kept)

    def _rows(self, points: np.ndarray | list[int]) -> np.ndarray:
        try:
            rows = np.unique(np.asarray(points, dtype=np.int64).ravel())
        except (OverflowError, TypeError, ValueError):
            raise ConfigError(f"{self.scan_file}: point indices must be integers within the file") from None
        if len(rows) == 0:
            raise ConfigError(f"{self.scan_file}: an annotation needs at least one point")
        if rows[0] < 0 or rows[-1] >= self.points_in_file:
            raise ConfigError(
                f"{self.scan_file}: point index {rows[0] if rows[0] < 0 else rows[-1]} is outside "
                f"the file's {self.points_in_file} points"
            )
        return rows


def utc_now() -> str:
    """The current UTC time as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_label(value: Label | str) -> Label:
    """``value`` as a :class:`Label`; ConfigError unless it is ``defect`` or ``normal``."""
    try:
        return Label(value)
    except ValueError:
        raise ConfigError(f"annotation label must be 'defect' or 'normal', got {value!r}") from None


def parse_selection(value: str) -> str:
    """``value`` when it is one of :data:`SELECTION_KINDS`; ConfigError else."""
    if value not in SELECTION_KINDS:
        raise ConfigError(f"selection kind must be one of {', '.join(SELECTION_KINDS)}, got {value!r}")
    return value


def sidecar_path(scan_path: str | os.PathLike[str]) -> Path:
    """Where the annotations of ``scan_path`` are kept."""
    p = Path(scan_path)
    return p.with_name(p.name + SIDECAR_SUFFIX)


def empty_for(scan: Scan) -> AnnotationSet:
    """An empty set for a scan (its file name and point count in the file)."""
    name = os.path.basename(scan.metadata.source) if scan.metadata.source else scan.name
    return AnnotationSet(scan_file=name, points_in_file=points_in_file(scan))


def points_in_file(scan: Scan) -> int:
    """Rows of the scan's file: ``metadata.points_in_file``, or the scan's length when unknown."""
    return int(scan.metadata.points_in_file or len(scan))


def file_rows(scan: Scan, indices: np.ndarray) -> np.ndarray:
    """File rows of the scan's points ``indices`` (through ``metadata.source_index``).

    Raises
    ------
    ConfigError
        If an index is outside the scan.
    """
    idx = np.asarray(indices, dtype=np.int64).ravel()
    if len(idx) and (idx.min() < 0 or idx.max() >= len(scan)):
        raise ConfigError(f"{scan.name}: point index outside the scan's {len(scan)} points")
    src = scan.metadata.source_index
    return idx if src is None else np.asarray(src, dtype=np.int64)[idx]


def scan_indices(scan: Scan, rows: np.ndarray) -> np.ndarray:
    """The scan's points at file rows ``rows`` (rows the scan dropped are left out), sorted."""
    r = np.asarray(rows, dtype=np.int64).ravel()
    src = scan.metadata.source_index
    if src is None:
        return np.unique(r[(r >= 0) & (r < len(scan))])
    src = np.asarray(src, dtype=np.int64)
    order = np.argsort(src, kind="stable")
    pos = np.searchsorted(src[order], r)
    pos = np.clip(pos, 0, len(src) - 1)
    hit = src[order][pos] == r
    return np.unique(order[pos[hit]])


def point_labels(annotations: AnnotationSet, n_points: int | None = None) -> np.ndarray:
    """Per-point labels in file order: 1 defect, 0 normal, :data:`UNLABELLED` (-1) elsewhere.

    Annotations apply in creation order, so where two overlap the later one wins (the
    person's latest decision). ``n_points`` defaults to ``points_in_file``.

    Raises
    ------
    ConfigError
        If ``n_points`` is smaller than the file's point count.
    """
    n = annotations.points_in_file if n_points is None else int(n_points)
    if n > MAX_POINTS_IN_FILE:
        raise ConfigError(f"{annotations.scan_file}: {n:,} labels is more than the {MAX_POINTS_IN_FILE:,} allowed")
    if n < annotations.points_in_file:
        raise ConfigError(
            f"{annotations.scan_file}: {n} labels cannot hold the file's {annotations.points_in_file} points"
        )
    labels = np.full(n, UNLABELLED, dtype=np.int8)
    for ann in annotations.annotations:
        labels[ann.points] = 1 if ann.label is Label.DEFECT else 0
    return labels


def scan_point_labels(annotations: AnnotationSet, scan: Scan) -> np.ndarray:
    """:func:`point_labels` in the scan's own point order (for fine-tuning on this scan).

    Raises
    ------
    ConfigError
        If the set was made for a file with another number of points.
    """
    if annotations.points_in_file != points_in_file(scan):
        raise ConfigError(
            f"{annotations.scan_file}: annotations are for {annotations.points_in_file} points, "
            f"the scan's file has {points_in_file(scan)}"
        )
    labels = point_labels(annotations)
    src = scan.metadata.source_index
    return labels[: len(scan)] if src is None else labels[np.asarray(src, dtype=np.int64)]
