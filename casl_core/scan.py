"""The :class:`Scan`: one point cloud with its per-point data and where it came from.

Per-point arrays (points, normals, colours, labels, every named field) always have the
same length and stay in the order the points had in the file, less any points dropped
for non-finite coordinates (then ``metadata.source_index`` maps each kept point back to
its row in the file), so a score can always be written back beside its point.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace

import numpy as np

from casl_core.columns import column_max, column_min
from casl_core.errors import CaslError

#: Field names must be usable as PLY/PCD property names once prefixed with ``scalar_``.
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


@dataclass(frozen=True)
class ScanMetadata:
    """Where a scan came from and what reading it did.

    Attributes
    ----------
    source:
        Path of the file read, or ``""`` for a scan made in memory.
    format:
        Short name of the file format (``"ply"``, ``"pcd"``, ``"xyz"``, ...).
    points_in_file:
        Number of points (vertices, rows, valid pixels) the file holds.
    dropped_nonfinite:
        Points dropped because a coordinate was NaN or infinite.
    source_index:
        For each kept point, its row in the file; ``None`` when no point was dropped
        (row ``i`` of the scan is then row ``i`` of the file).
    pixel_index:
        For organized scans (MVTec xyz TIFF, organized PCD): the flat pixel index
        ``row * width + col`` of each kept point, else ``None``.
    image_shape:
        ``(height, width)`` of an organized scan, else ``None``.
    offset:
        A float64 shift subtracted from the coordinates before they were stored as
        float32 (large geo-referenced coordinates); writers add it back.
    faces:
        Triangle vertex indices ``(F, 3)`` int64 when the file had a mesh, else ``None``.
    extra:
        Free-form facts a reader wants to keep (header comments, viewpoint, ...).
    """

    source: str = ""
    format: str = ""
    points_in_file: int = 0
    dropped_nonfinite: int = 0
    source_index: np.ndarray | None = None
    pixel_index: np.ndarray | None = None
    image_shape: tuple[int, int] | None = None
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    faces: np.ndarray | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class Scan:
    """A point cloud with optional normals, colours, labels and named per-point fields.

    Attributes
    ----------
    points:
        ``(N, 3)`` float32 coordinates (plus ``metadata.offset``).
    normals:
        ``(N, 3)`` float32 or ``None``.
    colors:
        ``(N, 3)`` uint8 RGB or ``None``.
    labels:
        ``(N,)`` uint8 ground truth (0 normal, 1 anomalous) or ``None``.
    fields:
        Named ``(N,)`` per-point arrays, e.g. ``curvature_k16`` or ``intensity``.
    metadata:
        :class:`ScanMetadata`.

    Raises
    ------
    CaslError
        If an array has the wrong shape or a field name is unusable.
    """

    points: np.ndarray
    normals: np.ndarray | None = None
    colors: np.ndarray | None = None
    labels: np.ndarray | None = None
    fields: dict[str, np.ndarray] = field(default_factory=dict)
    metadata: ScanMetadata = field(default_factory=ScanMetadata)

    def __post_init__(self) -> None:
        pts = np.ascontiguousarray(self.points, dtype=np.float32)
        if pts.ndim != 2 or pts.shape[1] != 3:
            raise CaslError(f"{self._where()}points must have shape (N, 3), got {pts.shape}")
        self.points = pts
        n = len(pts)
        if self.normals is not None:
            self.normals = self._check("normals", self.normals, (n, 3), np.float32)
        if self.colors is not None:
            self.colors = self._check("colors", self.colors, (n, 3), np.uint8)
        if self.labels is not None:
            self.labels = self._check("labels", self.labels, (n,), np.uint8)
        checked = {}
        for name, values in self.fields.items():
            if not _FIELD_NAME.match(name):
                raise CaslError(f"{self._where()}unusable field name {name!r}")
            checked[name] = self._check(f"field {name!r}", values, (n,), None)
        self.fields = checked

    def _where(self) -> str:
        return f"{self.metadata.source}: " if self.metadata.source else ""

    def _check(self, what: str, values: np.ndarray, shape: tuple[int, ...], dtype) -> np.ndarray:
        arr = np.asarray(values)
        if dtype is not None:
            arr = arr.astype(dtype, copy=False)
        if arr.shape != shape:
            raise CaslError(f"{self._where()}{what} must have shape {shape}, got {arr.shape}")
        return np.ascontiguousarray(arr)

    def __len__(self) -> int:
        return len(self.points)

    @property
    def name(self) -> str:
        """The file name without folder and suffix, or ``"scan"`` for an in-memory scan."""
        if not self.metadata.source:
            return "scan"
        return os.path.splitext(os.path.basename(self.metadata.source))[0]

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(min_xyz, max_xyz)`` as float64 in file coordinates (offset added)."""
        if len(self.points) == 0:
            raise CaslError(f"{self._where()}an empty scan has no bounds")
        off = np.asarray(self.metadata.offset, dtype=np.float64)
        return column_min(self.points).astype(np.float64) + off, column_max(self.points).astype(np.float64) + off

    def points_f64(self) -> np.ndarray:
        """Coordinates as float64 with the metadata offset added back."""
        return self.points.astype(np.float64) + np.asarray(self.metadata.offset, dtype=np.float64)

    def with_fields(self, **new_fields: np.ndarray) -> Scan:
        """Return a copy sharing arrays with this scan, with fields added or replaced."""
        merged = dict(self.fields)
        merged.update(new_fields)
        return replace(self, fields=merged)

    def subset(self, index: np.ndarray) -> Scan:
        """Return the points selected by a boolean mask or an index array, all arrays aligned.

        ``metadata.source_index`` and ``metadata.pixel_index`` follow the selection, so
        the result still maps back to the file.
        """
        index = np.asarray(index)
        if index.dtype == bool:
            if index.shape != (len(self),):
                raise CaslError(f"{self._where()}mask must have shape ({len(self)},), got {index.shape}")
            index = np.flatnonzero(index)
        md = self.metadata
        source_index = md.source_index[index] if md.source_index is not None else index.astype(np.int64)
        pixel_index = md.pixel_index[index] if md.pixel_index is not None else None
        return Scan(
            points=self.points[index],
            normals=None if self.normals is None else self.normals[index],
            colors=None if self.colors is None else self.colors[index],
            labels=None if self.labels is None else self.labels[index],
            fields={k: v[index] for k, v in self.fields.items()},
            metadata=replace(md, source_index=source_index, pixel_index=pixel_index, faces=None),
        )


def finite_scan(
    points: np.ndarray,
    *,
    source: str,
    format: str,
    normals: np.ndarray | None = None,
    colors: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    fields: dict[str, np.ndarray] | None = None,
    pixel_index: np.ndarray | None = None,
    image_shape: tuple[int, int] | None = None,
    faces: np.ndarray | None = None,
    extra: dict[str, str] | None = None,
) -> Scan:
    """Build a :class:`Scan` from freshly read arrays, the way every reader must.

    Drops points with a non-finite coordinate (counted in ``dropped_nonfinite``, with
    ``source_index`` kept), shifts very large coordinates by a float64 offset before
    storing them as float32, and refuses a cloud left with no point. A coordinate that
    float32 cannot hold even after the offset (``|x - offset| > 3.4e38``, e.g. doubles near
    1e300 far from the others) would be stored as inf: it counts as non-finite too.

    Raises
    ------
    ScanFormatError
        If no finite point is left.
    """
    from casl_core.errors import ScanFormatError

    pts = np.asarray(points)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ScanFormatError(source, f"coordinates must have shape (N, 3), got {pts.shape}")
    n_file = len(pts)
    if n_file == 0:
        raise ScanFormatError(source, "the file holds no point")
    finite = np.isfinite(pts).all(axis=1)
    if not finite.any():
        raise ScanFormatError(source, f"all {n_file} points have non-finite coordinates")
    offset = _offset_for(pts[finite] if not finite.all() else pts)
    if pts.dtype.itemsize > 4:
        # a coordinate float32 cannot hold even after the offset would be stored as inf:
        # such points count as non-finite (dropped and counted), like NaN and inf
        with np.errstate(invalid="ignore", over="ignore"):
            finite &= (np.abs(pts - np.asarray(offset)) <= _FLOAT32_MAX).all(axis=1)
    n_bad = int(n_file - finite.sum())
    if n_bad == n_file:
        raise ScanFormatError(
            source, f"all {n_file} points have non-finite coordinates or coordinates beyond float32 range"
        )
    keep = None if n_bad == 0 else np.flatnonzero(finite)

    def take(a):
        if a is None or keep is None:
            return a
        return np.asarray(a)[keep]

    pts = take(pts)
    if any(offset):
        pts = pts.astype(np.float64) - np.asarray(offset)
    if faces is not None and keep is not None:
        faces = None  # indices no longer match the kept points
    md = ScanMetadata(
        source=source,
        format=format,
        points_in_file=n_file,
        dropped_nonfinite=n_bad,
        source_index=keep,
        pixel_index=take(pixel_index),
        image_shape=image_shape,
        offset=offset,
        faces=faces,
        extra=dict(extra or {}),
    )
    try:
        return Scan(
            points=pts,
            normals=take(normals),
            colors=take(colors),
            labels=take(labels),
            fields={k: take(v) for k, v in (fields or {}).items()},
            metadata=md,
        )
    except CaslError as exc:
        raise ScanFormatError(source, str(exc)) from None


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _offset_for(points: np.ndarray) -> tuple[float, float, float]:
    """A round shift that brings far-from-origin coordinates near zero, else zeros.

    float32 keeps about 7 significant digits: coordinates of 1e5 and more (geo-referenced
    scans) would lose millimetres, so they are stored relative to a shift rounded to 1000.
    """
    lo = column_min(points).astype(np.float64)
    hi = column_max(points).astype(np.float64)
    centre = lo / 2 + hi / 2  # no overflow near the float64 limit
    if np.any(hi / 2 - lo / 2 > 1e37):
        # a span float32 cannot hold: centre on the bulk (median), outliers beyond it are dropped
        centre = np.median(np.asarray(points, dtype=np.float64), axis=0)
    if np.max(np.abs(centre)) < 1e5:
        return (0.0, 0.0, 0.0)
    shift = np.round(centre / 1000.0) * 1000.0
    return (float(shift[0]), float(shift[1]), float(shift[2]))
