"""Read Wavefront OBJ meshes: vertices (with optional colours), normals, polygon faces."""

from __future__ import annotations

import io
import re

import numpy as np

from casl_core.errors import ScanFormatError
from casl_core.io._common import to_colors
from casl_core.io.faces import check_faces, fan_triangulate
from casl_core.io.mesh_sampling import mesh_scan
from casl_core.scan import Scan

_SLASH_PARTS = re.compile(rb"/\S*")
_CONTINUATION = re.compile(rb"\\\r?\n")
_INT64 = 2**63


def _tagged(lines: list[bytes], tag: bytes) -> tuple[np.ndarray, list[bytes]]:
    """Line numbers (0-based) and bodies of the lines starting with ``tag`` and a blank."""
    idx, bodies = [], []
    n = len(tag)
    for i, line in enumerate(lines):
        if line.startswith(tag) and line[n : n + 1] in (b" ", b"\t"):
            idx.append(i)
            bodies.append(line[n:])
    return np.asarray(idx, dtype=np.int64), bodies


def _table(path: str, bodies: list[bytes], numbers: np.ndarray, what: str) -> np.ndarray:
    """Parse same-length rows of numbers; name the first bad line on failure."""
    try:
        return np.loadtxt(io.BytesIO(b"\n".join(bodies)), dtype=np.float64, ndmin=2, comments="#", encoding="latin-1")
    except ValueError:
        width = len(bodies[0].split(b"#")[0].split())
        for body, number in zip(bodies, numbers):
            words = body.split(b"#")[0].split()
            try:
                [float(w) for w in words]
            except ValueError:
                raise ScanFormatError(path, f"line {number + 1}: a {what} value is not a number") from None
            if len(words) != width:
                raise ScanFormatError(
                    path, f"line {number + 1}: {what} has {len(words)} values, expected {width}"
                ) from None
        raise ScanFormatError(path, f"the {what} lines could not be parsed") from None


def read_obj(path: str, data: bytes, surface_samples: int | None = None, seed: int = 0) -> Scan:
    """Read an OBJ mesh (``v``, ``vn``, ``f`` lines; everything else ignored).

    ``v x y z r g b`` colours are kept; ``vn`` normals are kept only when there is one
    per vertex; a backslash ending a line continues it on the next line; faces (``a``,
    ``a/b``, ``a//c``, ``a/b/c``, negative indices) are fan-triangulated.

    Raises
    ------
    ScanFormatError
        If there is no vertex, a vertex or face line is malformed, or a face refers to a
        missing vertex.
    """
    if b"\\\n" in data or b"\\\r\n" in data:
        data = _CONTINUATION.sub(b" ", data)  # a backslash at the end of a line joins the next one
    lines = data.splitlines()
    v_idx, v_bodies = _tagged(lines, b"v")
    if not v_bodies:
        raise ScanFormatError(path, "no vertex ('v' line) found; not an OBJ mesh")
    table = _table(path, v_bodies, v_idx, "vertex")
    if table.shape[1] < 3:
        raise ScanFormatError(path, f"line {v_idx[0] + 1}: a vertex needs 3 coordinates")
    colors = to_colors([table[:, 3], table[:, 4], table[:, 5]]) if table.shape[1] in (6, 7) else None
    normals = None
    n_idx, n_bodies = _tagged(lines, b"vn")
    if len(n_bodies) == len(v_bodies):
        nrm = _table(path, n_bodies, n_idx, "normal")
        if nrm.shape[1] == 3:
            normals = nrm.astype(np.float32)
    faces = _faces(path, lines, v_idx)
    extra = {"vertex_normals_ignored": str(len(n_bodies))} if n_bodies and normals is None else {}
    return mesh_scan(
        path,
        "obj",
        table[:, :3],
        faces,
        normals=normals,
        colors=colors,
        surface_samples=surface_samples,
        seed=seed,
        extra=extra,
    )


def _faces(path: str, lines: list[bytes], v_idx: np.ndarray) -> np.ndarray | None:
    f_idx, f_bodies = _tagged(lines, b"f")
    if not f_bodies:
        return None
    rows = [_SLASH_PARTS.sub(b"", body.split(b"#")[0]).split() for body in f_bodies]
    counts = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    try:
        flat = np.array([int(w) for r in rows for w in r], dtype=np.int64)
    except (ValueError, OverflowError):
        bad = next((i for i, r in enumerate(rows) if not all(_is_int(w) for w in r)), 0)
        raise ScanFormatError(path, f"line {f_idx[bad] + 1}: a face index is not an integer in range") from None
    before = np.repeat(np.searchsorted(v_idx, f_idx), counts)
    if np.any(flat == 0):
        line = f_idx[np.repeat(np.arange(len(rows)), counts)[np.argmax(flat == 0)]]
        raise ScanFormatError(path, f"line {line + 1}: face index 0 (OBJ indices start at 1)")
    resolved = np.where(flat > 0, flat - 1, before + flat)
    return check_faces(path, fan_triangulate(counts, resolved), len(v_idx))


def _is_int(word: bytes) -> bool:
    try:
        return -_INT64 <= int(word) < _INT64
    except ValueError:
        return False
