"""The annotation sidecar file: written atomically, read only after a check against its schema.

The schema is :mod:`casl_core.annotations`'s. :func:`load_annotations` checks a sidecar
before using any of it: ``version``, ``id``, ``points_in_file`` and point indices are JSON
integers (not ``true``, ``1.7`` or ``1e400``), indices lie within ``points_in_file`` (at
most :data:`MAX_POINTS_IN_FILE`), and deep nesting is refused. A sidecar that cannot be
loaded is never overwritten: :func:`backup_sidecar` moves it aside, unchanged, first.
:func:`export_csv` writes a set as one row per annotated point.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from casl_core.annotations import (
    FORMAT_NAME,
    MAX_POINTS_IN_FILE,
    SCHEMA_VERSION,
    Annotation,
    AnnotationSet,
    parse_label,
    parse_selection,
)
from casl_core.atomic import atomic_write_bytes
from casl_core.errors import ConfigError, ScanFormatError
from casl_core.scan import Scan


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
        label=parse_label(_member(item, "label", str, where)),
        points=np.unique(np.asarray(points, dtype=np.int64)),
        note=note,
        created=_member(item, "created", str, where),
        selection=parse_selection(selection),
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
