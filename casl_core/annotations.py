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
:func:`point_labels` turns a set into per-point training labels.

:func:`load_annotations` checks a sidecar against this schema before using any of it:
``version``, ``id``, ``points_in_file`` and point indices are JSON integers (not ``true``,
``1.7`` or ``1e400``), indices lie within ``points_in_file`` (at most
:data:`MAX_POINTS_IN_FILE`), and deep nesting is refused. A sidecar that cannot be loaded
is never overwritten: :func:`backup_sidecar` moves it aside, unchanged, first.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from casl_core.atomic import atomic_write_bytes
from casl_core.errors import ConfigError, ScanFormatError
from casl_core.scan import Scan

FORMAT_NAME = "casl-annotations"
SCHEMA_VERSION = 1
SIDECAR_SUFFIX = ".casl-annotations.json"
SELECTION_KINDS = ("rectangle", "sphere", "region", "points")
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
            label=_label(label),
            points=self._rows(points),
            note=str(note),
            created=created or utc_now(),
            selection=_selection(selection),
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


def _label(value: Label | str) -> Label:
    try:
        return Label(value)
    except ValueError:
        raise ConfigError(f"annotation label must be 'defect' or 'normal', got {value!r}") from None


def _selection(value: str) -> str:
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


def to_json(annotations: AnnotationSet) -> str:
    """The sidecar text of a set."""
    doc = {
        "format": FORMAT_NAME,
        "version": SCHEMA_VERSION,
        "scan": {"file": annotations.scan_file, "points_in_file": annotations.points_in_file},
        "annotations": [
            {
                "id": a.id,
                "label": a.label.value,
                "note": a.note,
                "created": a.created,
                "selection": a.selection,
                "points": [int(i) for i in a.points],
            }
            for a in annotations.annotations
        ],
    }
    return json.dumps(doc, indent=1) + "\n"


def save_annotations(path: str | os.PathLike[str], annotations: AnnotationSet) -> None:
    """Write a sidecar atomically.

    Raises
    ------
    ScanFormatError
        If the file cannot be written.
    """
    try:
        atomic_write_bytes(path, to_json(annotations).encode("utf-8"))
    except OSError as exc:
        raise ScanFormatError(path, f"cannot write the annotations: {exc.strerror or exc}") from None


#: Largest ``points_in_file`` a sidecar may declare (a scan of a billion points is far
#: beyond what the tool handles; a bigger number is a corrupt or hostile file).
MAX_POINTS_IN_FILE = 1_000_000_000
#: Largest sidecar read, in bytes.
MAX_SIDECAR_BYTES = 1 << 30
#: Largest annotation id (fits int64).
_MAX_ID = 2**62


def load_annotations(path: str | os.PathLike[str]) -> AnnotationSet:
    """Read a sidecar and check it against the schema (see the module docstring).

    Raises
    ------
    ScanFormatError
        If the file is missing, too big, not JSON, nested too deep, of a newer version, or
        breaks the schema (wrong types, an index outside ``points_in_file``, ...).
    """
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_SIDECAR_BYTES + 1)
    except OSError as exc:
        raise ScanFormatError(path, f"cannot read the annotations: {exc.strerror or exc}") from None
    if len(raw) > MAX_SIDECAR_BYTES:
        raise ScanFormatError(path, f"not an annotation file (larger than {MAX_SIDECAR_BYTES >> 20} MiB)")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        detail = str(exc).splitlines()[0][:120]
        raise ScanFormatError(path, f"not an annotation file (invalid JSON: {detail})") from None
    except RecursionError:
        raise ScanFormatError(path, "not an annotation file (JSON nested too deep)") from None
    try:
        return _from_doc(doc)
    except (ConfigError, ValueError) as exc:
        raise ScanFormatError(path, f"bad annotation file: {str(exc).splitlines()[0][:200]}") from None


def _whole(value: object) -> bool:
    """True for a JSON integer (``true``/``false`` and ``1.0`` are not)."""
    return type(value) is int


def _member(doc: dict, key: str, kind: type, where: str) -> Any:
    if key not in doc:
        raise ValueError(f"{where}missing key {key!r}")
    value = doc[key]
    if kind is int:
        ok = _whole(value)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise ValueError(f"{where}{key!r} must be {_KIND_WORDS[kind]}, got {_shown(value)}")
    return value


_KIND_WORDS = {int: "an integer", str: "a string", dict: "an object", list: "a list"}


def _shown(value: object) -> str:
    text = repr(value) if isinstance(value, (bool, int, float, str)) or value is None else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _from_doc(doc: object) -> AnnotationSet:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise ValueError(f"'format' must be {FORMAT_NAME!r}")
    version = _member(doc, "version", int, "")
    if not 1 <= version <= SCHEMA_VERSION:
        raise ValueError(f"version {version!r} is not supported (this program reads up to {SCHEMA_VERSION})")
    scan = _member(doc, "scan", dict, "")
    total = _member(scan, "points_in_file", int, "scan: ")
    if not 1 <= total <= MAX_POINTS_IN_FILE:
        raise ValueError(f"points_in_file must be in 1..{MAX_POINTS_IN_FILE:,}, got {_shown(total)}")
    result = AnnotationSet(scan_file=_member(scan, "file", str, "scan: "), points_in_file=total)
    anns = [_annotation(item, n, total) for n, item in enumerate(_member(doc, "annotations", list, ""))]
    ids = [a.id for a in anns]
    if len(set(ids)) != len(ids):
        raise ValueError("annotation ids repeat")
    return replace(result, annotations=tuple(anns))


def _annotation(item: object, n: int, total: int) -> Annotation:
    """One annotation of a sidecar, every member's type and range checked."""
    where = f"annotation {n + 1}: "
    if not isinstance(item, dict):
        raise ValueError(f"{where}must be an object, got {_shown(item)}")
    ident = _member(item, "id", int, where)
    if not 1 <= ident <= _MAX_ID:
        raise ValueError(f"{where}id must be in 1..{_MAX_ID}, got {_shown(ident)}")
    points = _member(item, "points", list, where)
    if not points:
        raise ValueError(f"{where}'points' is empty")
    for i in points:
        if not _whole(i):
            raise ValueError(f"{where}'points' must hold integers, got {_shown(i)}")
        if not 0 <= i < total:
            raise ValueError(f"{where}point index {_shown(i)} is outside the file's {total} points")
    note = item.get("note", "")
    selection = item.get("selection", "points")
    if not isinstance(note, str) or not isinstance(selection, str):
        raise ValueError(f"{where}'note' and 'selection' must be strings")
    return Annotation(
        id=ident,
        label=_label(_member(item, "label", str, where)),
        points=np.unique(np.asarray(points, dtype=np.int64)),
        note=note,
        created=_member(item, "created", str, where),
        selection=_selection(selection),
    )


def backup_sidecar(path: str | os.PathLike[str], now: datetime | None = None) -> Path:
    """Move a sidecar aside, unchanged, to ``<path>.bak-YYYYMMDDTHHMMSS`` in the same folder.

    Used before a sidecar that could not be loaded would be replaced: the person's file is
    kept byte for byte. An existing backup of that name is never replaced (``-1``, ``-2``
    ... are appended).

    Returns
    -------
    Path
        Where the file now is.

    Raises
    ------
    ScanFormatError
        If it cannot be moved (the caller must then not write ``path``).
    """
    src = Path(path)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S")
    for n in range(1000):
        dest = src.with_name(f"{src.name}.bak-{stamp}" + (f"-{n}" if n else ""))
        try:
            os.link(src, dest)  # fails if dest exists: no backup is ever replaced
        except FileExistsError:
            continue
        except OSError:
            if dest.exists():
                continue
            try:
                os.rename(src, dest)
            except OSError as exc:
                raise ScanFormatError(src, f"cannot move the file aside: {exc.strerror or exc}") from None
            return dest
        try:
            os.unlink(src)
        except OSError as exc:
            raise ScanFormatError(src, f"cannot move the file aside: {exc.strerror or exc}") from None
        return dest
    raise ScanFormatError(src, "cannot move the file aside: too many backups of the same second")


def export_csv(path: str | os.PathLike[str], annotations: AnnotationSet, scan: Scan | None = None) -> None:
    """Write one CSV row per annotated point (atomically).

    Columns: ``annotation, label, selection, created, note, point`` (file row) and, when
    ``scan`` is given, ``x, y, z`` of the point (points the scan dropped get empty cells).

    Raises
    ------
    ScanFormatError
        If the file cannot be written.
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    header = ["annotation", "label", "selection", "created", "note", "point"]
    writer.writerow(header + (["x", "y", "z"] if scan is not None else []))
    xyz = None if scan is None else _xyz_by_row(scan, annotations.points_in_file)
    for ann in annotations.annotations:
        for row in ann.points:
            cells = [ann.id, ann.label.value, ann.selection, ann.created, ann.note, int(row)]
            if xyz is not None:
                p = xyz[row]
                cells += ["", "", ""] if np.isnan(p[0]) else [f"{v:.9g}" for v in p]
            writer.writerow(cells)
    try:
        atomic_write_bytes(path, buf.getvalue().encode("utf-8"))
    except OSError as exc:
        raise ScanFormatError(path, f"cannot write the CSV: {exc.strerror or exc}") from None


def _xyz_by_row(scan: Scan, rows: int) -> np.ndarray:
    xyz = np.full((max(rows, len(scan)), 3), np.nan)
    src = scan.metadata.source_index
    target = np.arange(len(scan)) if src is None else np.asarray(src, dtype=np.int64)
    xyz[target] = scan.points_f64()
    return xyz
