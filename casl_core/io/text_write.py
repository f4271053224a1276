"""Write plain-text point tables: CSV with a header row, XYZ/TXT with a ``//`` header line."""

from __future__ import annotations

import numpy as np

from casl_core.io._common import file_coordinates
from casl_core.io.ply_write import _format_rows
from casl_core.scan import Scan


def text_bytes(scan: Scan, delimiter: str, header_prefix: str) -> list[bytes]:
    """The chunks of a text table of ``scan``: one header line, then one row per point.

    Columns: ``x y z``, then ``nx ny nz``, ``red green blue``, ``label`` and every field
    by name, when present. Coordinates carry the metadata offset (true coordinates).
    """
    names, formats, columns = ["x", "y", "z"], [], []
    pts, shifted = file_coordinates(scan)
    formats += ["%.17g" if shifted else "%.9g"] * 3
    columns.append(pts)
    if scan.normals is not None:
        names += ["nx", "ny", "nz"]
        formats += ["%.9g"] * 3
        columns.append(scan.normals)
    if scan.colors is not None:
        names += ["red", "green", "blue"]
        formats += ["%d"] * 3
        columns.append(scan.colors)
    if scan.labels is not None:
        names.append("label")
        formats.append("%d")
        columns.append(scan.labels[:, None])
    for name, values in scan.fields.items():
        names.append(name)
        formats.append("%.9g")
        columns.append(np.asarray(values, dtype=np.float32)[:, None])
    table = np.hstack([np.asarray(c, dtype=np.float64) for c in columns])
    header = (header_prefix + delimiter.join(names) + "\n").encode("ascii")
    return [header, _format_rows(table, delimiter.join(formats))]
