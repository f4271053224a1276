"""Read OFF meshes (OFF, COFF, NOFF, CNOFF): vertices, optional normals and colours, faces."""

from __future__ import annotations

import numpy as np

from casl_core.errors import ScanFormatError
from casl_core.io._common import to_colors
from casl_core.io.faces import check_faces, fan_triangulate
from casl_core.io.mesh_sampling import mesh_scan
from casl_core.scan import Scan


def is_off(data: bytes) -> bool:
    """True when the first word of ``data`` is an OFF keyword."""
    words = data[:64].split(None, 1)
    return bool(words) and words[0].upper() in (b"OFF", b"COFF", b"NOFF", b"CNOFF", b"NCOFF")


def _content_lines(data: bytes) -> list[tuple[int, list[bytes]]]:
    """(line number, words) of every line with content, comments removed."""
    out = []
    for number, line in enumerate(data.splitlines(), start=1):
        words = line.split(b"#", 1)[0].split()
        if words:
            out.append((number, words))
    return out


def read_off(path: str, data: bytes, surface_samples: int | None = None, seed: int = 0) -> Scan:
    """Read an ascii OFF mesh.

    Raises
    ------
    ScanFormatError
        If the keyword or counts are missing, the file is binary OFF, it is shorter than
        its counts say, a line is malformed, or a face refers to a missing vertex.
    """
    lines = _content_lines(data)
    if not lines or not is_off(data):
        raise ScanFormatError(path, "does not start with OFF; not an OFF mesh")
    keyword = lines[0][1][0].upper()
    rest = lines[0][1][1:]
    if rest and rest[0].upper() == b"BINARY":
        raise ScanFormatError(path, "binary OFF is not supported")
    body = lines[1:]
    if not rest:
        if not body:
            raise ScanFormatError(path, "OFF file has no vertex/face counts")
        rest = body[0][1]
        body = body[1:]
    try:
        nv, nf = int(rest[0]), int(rest[1])
    except (ValueError, IndexError):
        raise ScanFormatError(path, "OFF counts line must start with two integers") from None
    if nv < 1 or nf < 0 or len(body) < nv + nf:
        raise ScanFormatError(
            path,
            f"truncated: OFF header announces {nv} vertices and {nf} faces, the file has {len(body)} lines after it",
        )
    table = _vertex_table(path, body[:nv])
    has_normals = b"N" in keyword
    normals = table[:, 3:6].astype(np.float32) if has_normals and table.shape[1] >= 6 else None
    c0 = 6 if has_normals else 3
    colors = None
    if b"C" in keyword and table.shape[1] >= c0 + 3:
        colors = to_colors([table[:, c0], table[:, c0 + 1], table[:, c0 + 2]])
    faces = _faces(path, body[nv : nv + nf], nv) if nf else None
    return mesh_scan(
        path, "off", table[:, :3], faces, normals=normals, colors=colors, surface_samples=surface_samples, seed=seed
    )


def _vertex_table(path: str, rows: list[tuple[int, list[bytes]]]) -> np.ndarray:
    width = len(rows[0][1])
    for number, words in rows:
        if len(words) != width or width < 3:
            raise ScanFormatError(path, f"line {number}: vertex has {len(words)} values, expected {max(width, 3)}")
    try:
        return np.array([w for _, words in rows for w in words], dtype=np.float64).reshape(len(rows), width)
    except ValueError:
        raise ScanFormatError(path, "a vertex value is not a number") from None


def _faces(path: str, rows: list[tuple[int, list[bytes]]], nv: int) -> np.ndarray:
    counts, flat = [], []
    for number, words in rows:
        try:
            n = int(words[0])
            idx = [int(w) for w in words[1 : 1 + n]]
        except ValueError:
            raise ScanFormatError(path, f"line {number}: a face index is not an integer") from None
        if n < 0 or len(idx) != n:
            raise ScanFormatError(path, f"line {number}: face announces {n} vertices but lists {len(idx)}")
        counts.append(n)
        flat.extend(idx)
    return check_faces(path, fan_triangulate(np.asarray(counts), np.asarray(flat, dtype=np.int64)), nv)
