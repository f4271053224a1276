"""Write PLY files that CloudCompare, MeshLab and VTK open (fields as ``scalar_<name>``)."""

from __future__ import annotations

import numpy as np

from casl_core.io._common import file_coordinates
from casl_core.scan import Scan

_TYPE_NAMES = {"f4": "float", "f8": "double", "u1": "uchar", "i4": "int"}


def _vertex_columns(scan: Scan) -> list[tuple[str, str, np.ndarray]]:
    """``(property name, PLY dtype code, values)`` for every vertex property, in file order."""
    pts, double = file_coordinates(scan)
    code = "f8" if double else "f4"
    cols = [(axis, code, pts[:, i]) for i, axis in enumerate("xyz")]
    if scan.normals is not None:
        cols += [(name, "f4", scan.normals[:, i]) for i, name in enumerate(("nx", "ny", "nz"))]
    if scan.colors is not None:
        cols += [(name, "u1", scan.colors[:, i]) for i, name in enumerate(("red", "green", "blue"))]
    if scan.labels is not None:
        cols.append(("scalar_label", "u1", scan.labels))
    for name, values in scan.fields.items():
        cols.append((f"scalar_{name}", "f4", np.asarray(values, dtype=np.float32)))
    return cols


def ply_bytes(scan: Scan, binary: bool = True) -> list[bytes]:
    """The chunks of a PLY file holding ``scan`` (vertices and, when present, faces)."""
    cols = _vertex_columns(scan)
    faces = scan.metadata.faces
    lines = ["ply", f"format {'binary_little_endian' if binary else 'ascii'} 1.0", "comment written by casl_core"]
    if any(scan.metadata.offset):
        lines.append("comment coordinates in double precision (offset {} {} {})".format(*scan.metadata.offset))
    lines += [f"comment {c}" for c in _kept_comments(scan)]
    lines.append(f"element vertex {len(scan)}")
    lines += [f"property {_TYPE_NAMES[code]} {name}" for name, code, _ in cols]
    if faces is not None and len(faces):
        lines += [f"element face {len(faces)}", "property list uchar int vertex_indices"]
    lines.append("end_header")
    chunks = [("\n".join(lines) + "\n").encode("ascii")]
    if binary:
        table = np.empty(len(scan), dtype=[(name, "<" + code) for name, code, _ in cols])
        for name, _, values in cols:
            table[name] = values
        chunks.append(table.tobytes())
        if faces is not None and len(faces):
            face_table = np.empty(len(faces), dtype=[("n", "u1"), ("v", "<i4", (3,))])
            face_table["n"] = 3
            face_table["v"] = faces
            chunks.append(face_table.tobytes())
    else:
        chunks.append(_ascii_rows(cols))
        if faces is not None and len(faces):
            chunks.append(_format_rows(np.hstack([np.full((len(faces), 1), 3), faces]), "%d"))
    return chunks


def _ascii_rows(cols: list[tuple[str, str, np.ndarray]]) -> bytes:
    fmts = []
    for _, code, _ in cols:
        fmts.append("%d" if code == "u1" else ("%.17g" if code == "f8" else "%.9g"))
    table = np.empty((len(cols[0][2]), len(cols)), dtype=np.float64)
    for i, (_, _, values) in enumerate(cols):
        table[:, i] = values
    return _format_rows(table, " ".join(fmts))


def _format_rows(table: np.ndarray, fmt: str) -> bytes:
    """Rows of ``table`` formatted with ``fmt`` (one printf format for the whole row)."""
    if table.ndim == 2 and fmt.count("%") == 1:
        fmt = " ".join([fmt] * table.shape[1])
    row = fmt + "\n"
    return ("".join(row % tuple(r) for r in table.tolist())).encode("ascii")


def _kept_comments(scan: Scan) -> list[str]:
    """The scan's comments (``metadata.extra["comments"]``, one per line) the writer does not write itself."""
    own = ("written by casl_core", "coordinates in double precision")
    lines = scan.metadata.extra.get("comments", "").splitlines()
    kept = [line.encode("ascii", "replace").decode("ascii").strip() for line in lines]
    return [line for line in kept if line and not line.startswith(own)]
