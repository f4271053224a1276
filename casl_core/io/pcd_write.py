"""Write PCD 0.7 files (binary or ascii) that PCL and Open3D read."""

from __future__ import annotations

import numpy as np

from casl_core.io._common import file_coordinates
from casl_core.io.ply_write import _format_rows
from casl_core.scan import Scan


def _pcd_columns(scan: Scan) -> list[tuple[str, str, np.ndarray]]:
    """``(field name, numpy type, values)`` for every PCD field, in file order."""
    pts, double = file_coordinates(scan)
    code = "<f8" if double else "<f4"
    cols = [(axis, code, pts[:, i]) for i, axis in enumerate("xyz")]
    if scan.normals is not None:
        cols += [(f"normal_{a}", "<f4", scan.normals[:, i]) for i, a in enumerate("xyz")]
    if scan.colors is not None:
        c = scan.colors.astype(np.uint32)
        cols.append(("rgb", "<u4", (c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2]))
    if scan.labels is not None:
        cols.append(("label", "<u1", scan.labels))
    for name, values in scan.fields.items():
        cols.append((name, "<f4", np.asarray(values, dtype=np.float32)))
    return cols


def pcd_bytes(scan: Scan, binary: bool = True) -> list[bytes]:
    """The chunks of a PCD file holding ``scan``."""
    cols = _pcd_columns(scan)
    n = len(scan)
    header = [
        "# .PCD v0.7 - Point Cloud Data file format",
        "VERSION 0.7",
        "FIELDS " + " ".join(name for name, _, _ in cols),
        "SIZE " + " ".join(str(np.dtype(code).itemsize) for _, code, _ in cols),
        "TYPE " + " ".join({"f": "F", "u": "U", "i": "I"}[np.dtype(code).kind] for _, code, _ in cols),
        "COUNT " + " ".join("1" for _ in cols),
        f"WIDTH {n}",
        "HEIGHT 1",
        "VIEWPOINT 0 0 0 1 0 0 0",
        f"POINTS {n}",
        f"DATA {'binary' if binary else 'ascii'}",
    ]
    chunks = [("\n".join(header) + "\n").encode("ascii")]
    if binary:
        table = np.empty(n, dtype=[(name, code) for name, code, _ in cols])
        for name, _, values in cols:
            table[name] = values
        chunks.append(table.tobytes())
    else:
        fmts = [("%.17g" if code == "<f8" else "%.9g") if code[1] == "f" else "%d" for _, code, _ in cols]
        table = np.empty((n, len(cols)), dtype=np.float64)
        for i, (_, _, values) in enumerate(cols):
            table[:, i] = values
        chunks.append(_format_rows(table, " ".join(fmts)))
    return chunks
