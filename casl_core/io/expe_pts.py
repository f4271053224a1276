"""Read Expe binary point sets (``.pts`` files starting with ``[Expe/PointSet/Binary``)."""

from __future__ import annotations

import numpy as np

from casl_core.errors import ScanFormatError
from casl_core.io._common import header_lines
from casl_core.scan import Scan, finite_scan

MAGIC = b"[Expe/PointSet/Binary"


def read_expe_pts(path: str, data: bytes) -> Scan:
    """Read an Expe binary point set: a text header up to a ``data`` line, then records.

    Known properties: ``position`` (float32 xyz), ``normal`` (float32 xyz), ``color``
    (uint8 rgba, alpha kept as a field), ``radius`` (float32, kept as a field); any other
    property of 4 bytes becomes a float32 field, others are skipped by their size.

    Raises
    ------
    ScanFormatError
        If the header has no ``nofpoints``/``position`` or the data is shorter than it says.
    """
    if not data.startswith(MAGIC):
        raise ScanFormatError(path, "does not start with [Expe/PointSet/Binary; not an Expe point set")
    lines, start = header_lines(data, path, lambda line: line == "data")
    props: list[tuple[str, int]] = []
    count = None
    for number, line in enumerate(lines[1:-1], start=2):
        words = line.split()
        if len(words) == 3 and words[0] == "property" and words[2].isdigit():
            props.append((words[1], int(words[2])))
        elif len(words) == 2 and words[0] == "nofpoints" and words[1].isdigit():
            count = int(words[1])
        elif words:
            raise ScanFormatError(path, f"Expe header line {number} is not understood: {line[:60]!r}")
    if count is None or "position" not in dict(props):
        raise ScanFormatError(path, "Expe header lacks 'nofpoints' or a 'position' property")
    dtype = np.dtype([(name, _type_of(name, size)) for name, size in props])
    if start + count * dtype.itemsize > len(data):
        raise ScanFormatError(
            path,
            f"truncated: the header promises {count} points, "
            f"the data holds {(len(data) - start) // max(dtype.itemsize, 1)}",
        )
    table = np.frombuffer(data, dtype, count, start)
    return _scan(path, table, props)


def _type_of(name: str, size: int):
    known = {
        ("position", 12): ("<f4", (3,)),
        ("normal", 12): ("<f4", (3,)),
        ("color", 4): ("u1", (4,)),
        ("color", 3): ("u1", (3,)),
    }
    if (name, size) in known:
        return known[(name, size)]
    if size == 4:
        return "<f4"
    return ("V", size) if size else ("u1", (0,))


def _scan(path: str, table: np.ndarray, props: list[tuple[str, int]]) -> Scan:
    names = dict(props)
    normals = table["normal"] if names.get("normal") == 12 else None
    colors = table["color"][:, :3] if names.get("color") in (3, 4) else None
    fields = {}
    if names.get("color") == 4:
        fields["alpha"] = np.ascontiguousarray(table["color"][:, 3])
    for name, size in props:
        if name not in ("position", "normal", "color") and size == 4:
            fields[name] = np.ascontiguousarray(table[name])
    return finite_scan(
        np.ascontiguousarray(table["position"]),
        source=path,
        format="expe-pts",
        normals=normals,
        colors=colors,
        fields=fields,
    )
