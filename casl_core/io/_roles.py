"""Give named per-point columns their role: coordinates, normals, colours, labels or fields."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from casl_core.errors import ScanFormatError
from casl_core.io._common import as_labels, field_name, native, to_colors
from casl_core.scan import Scan, finite_scan

_POINT = (("x",), ("y",), ("z",))
_NORMAL = (("nx", "normal_x"), ("ny", "normal_y"), ("nz", "normal_z"))
_COLOR = (("red", "r", "diffuse_red"), ("green", "g", "diffuse_green"), ("blue", "b", "diffuse_blue"))
_LABEL = ("label", "scalar_label", "labels")


class Columns(NamedTuple):
    """Per-point arrays sorted by role, ready for :func:`casl_core.scan.finite_scan`."""

    points: np.ndarray
    normals: np.ndarray | None
    colors: np.ndarray | None
    labels: np.ndarray | None
    fields: dict[str, np.ndarray]


def _find(names: dict[str, str], group: tuple[tuple[str, ...], ...]) -> list[str] | None:
    """The original names matching each axis of ``group`` (case-insensitive), or None."""
    found = []
    for options in group:
        hit = next((names[o] for o in options if o in names), None)
        if hit is None:
            return None
        found.append(hit)
    return found


def assign_roles(path: str, columns: dict[str, np.ndarray]) -> Columns:
    """Sort named columns (in file order) into points, normals, colours, labels and fields.

    Raises
    ------
    ScanFormatError
        If there is no x, y and z column.
    """
    lower: dict[str, str] = {}
    for name in columns:
        lower.setdefault(name.lower(), name)
    xyz = _find(lower, _POINT)
    if xyz is None:
        raise ScanFormatError(path, f"no x, y, z coordinates among the columns {list(columns)}")
    used = set(xyz)
    points = np.stack([native(columns[n]) for n in xyz], axis=1)
    normals = colors = labels = None
    nrm = _find(lower, _NORMAL)
    if nrm is not None:
        normals = np.stack([native(columns[n]).astype(np.float32) for n in nrm], axis=1)
        used.update(nrm)
    rgb = _find(lower, _COLOR)
    if rgb is not None:
        colors = to_colors([native(columns[n]) for n in rgb])
        used.update(rgb)
    label_name = next((lower[n] for n in _LABEL if n in lower), None)
    if label_name is not None:
        labels = as_labels(columns[label_name])
        if labels is not None:
            used.add(label_name)
    taken: set[str] = set()
    fields = {}
    for name, values in columns.items():
        if name not in used:
            fields[field_name(name, taken)] = native(values)
    return Columns(points, normals, colors, labels, fields)


def build_scan(path: str, fmt: str, cols: Columns, **metadata) -> Scan:
    """Build the :class:`Scan` of sorted columns through :func:`finite_scan`."""
    points = cols.points
    if not np.issubdtype(points.dtype, np.floating):
        points = points.astype(np.float64)
    return finite_scan(
        points,
        source=path,
        format=fmt,
        normals=cols.normals,
        colors=cols.colors,
        labels=cols.labels,
        fields=cols.fields,
        **metadata,
    )
