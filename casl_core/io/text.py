"""Read and write plain-text point tables (XYZ, TXT, CSV, ASC, PTS)."""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from casl_core.errors import ScanFormatError
from casl_core.io._roles import assign_roles, build_scan
from casl_core.scan import Scan

_COMMENTS = ("#", "//")
_SNIFF_BYTES = 1 << 16
_SKIP = ("", "_", "skip")
_SLASH_COMMENT = re.compile(rb"(?m)^[ \t]*//[^\r\n]*")


class TableLayout(NamedTuple):
    """What the top of a text table says about the rest of it."""

    skip_lines: int
    delimiter: str | None
    n_columns: int
    names: list[str] | None
    count: int | None  # type: ignore[assignment]  # the header's point count; shadows tuple.count, which nothing calls


def _lines(data: bytes) -> list[str]:
    r"""Lines split the way ``np.loadtxt`` splits them (``\\n``, ``\\r\\n`` or ``\\r``)."""
    return data.decode("latin-1").replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _split(line: str, delimiter: str | None) -> list[str]:
    return [w.strip().strip("\"'") for w in line.split(delimiter)] if delimiter else line.split()


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def _delimiter(line: str) -> str | None:
    for candidate in (";", ","):
        if candidate in line:
            return candidate
    return None


def _layout(path: str, data: bytes) -> TableLayout:
    """Find the header lines, delimiter, column count and column names."""
    lines = _lines(data[:_SNIFF_BYTES])
    if len(data) > _SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]
    candidates: list[list[str]] = []
    count = None
    for i, raw in enumerate(lines):
        line = raw.strip()
        if not line:
            continue
        is_comment = line.startswith(_COMMENTS)
        body = line.lstrip("#/").strip() if is_comment else line
        delimiter = _delimiter(body)
        words = _split(body, delimiter)
        numeric = bool(words) and all(_is_number(w) for w in words)
        if numeric and not is_comment:
            if len(words) == 1 and count is None and words[0].isdigit():
                count = int(words[0])
                continue
            return TableLayout(i, delimiter, len(words), _header_names(candidates, len(words)), count)
        if words and not numeric:
            candidates.append(words)
    raise ScanFormatError(path, "no numeric data rows found (not a text point table)")


def _header_names(candidates: list[list[str]], width: int) -> list[str] | None:
    """The last header line with one name per column that names x, y and z."""
    for words in reversed(candidates):
        if len(words) == width and {"x", "y", "z"} <= {w.lower() for w in words}:
            return words
    return None


def read_text(path: str, data: bytes, fmt: str, columns: Sequence[str] | None = None) -> Scan:
    """Read a text table of points, one per line.

    Parameters
    ----------
    columns:
        Names of the columns (``x``, ``y``, ``z``, ``nx``..., ``red``/``r``..., ``label``,
        any other name a field, ``"_"`` to ignore a column); overrides a header line.

    Raises
    ------
    ScanFormatError
        If there is no numeric row, rows have different lengths (the line is named), a
        value is not a number, or the columns give no x, y, z.
    """
    layout = _layout(path, data)
    table = _parse(path, data, layout)
    if layout.count is not None and layout.count != len(table):
        raise ScanFormatError(path, f"the first line announces {layout.count} points but {len(table)} rows follow")
    if layout.n_columns < 3:
        raise ScanFormatError(path, f"rows have {layout.n_columns} values; at least x, y, z are needed")
    names = _names(path, layout, columns, table)
    named = {name: table[:, i] for i, name in enumerate(names) if name not in _SKIP}
    cols = assign_roles(path, named)
    return build_scan(path, fmt, cols)


def _parse(path: str, data: bytes, layout: TableLayout) -> np.ndarray:
    # np.loadtxt parses in C with one single-character comment marker (or none); with
    # several markers it preprocesses every line in Python, several times slower. So
    # whole-line ``//`` comments are blanked first and only ``#`` is left to loadtxt.
    if data.find(b"//", _offset_of_line(data, layout.skip_lines)) >= 0:
        data = _SLASH_COMMENT.sub(b"", data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            table = np.loadtxt(
                io.BytesIO(data),
                dtype=np.float64,
                delimiter=layout.delimiter,
                comments="#" if b"#" in data else None,
                skiprows=layout.skip_lines,
                ndmin=2,
                encoding="latin-1",
            )
    except ValueError:
        raise _bad_row(path, data, layout) from None
    if table.shape[1] != layout.n_columns or len(table) == 0:
        raise _bad_row(path, data, layout)
    return table


def _offset_of_line(data: bytes, line: int) -> int:
    r"""Byte offset where line ``line`` (0-based, ``\\n`` endings) starts; 0 when unsure."""
    pos = 0
    for _ in range(line):
        pos = data.find(b"\n", pos) + 1
        if pos == 0:
            return 0
    return pos


def _bad_row(path: str, data: bytes, layout: TableLayout) -> ScanFormatError:
    """The error naming the first row that is ragged or holds a non-number."""
    lines = _lines(data)
    for number in range(layout.skip_lines + 1, len(lines) + 1):
        line = lines[number - 1].strip()
        if not line or line.startswith(_COMMENTS):
            continue
        words = _split(line, layout.delimiter)
        if len(words) != layout.n_columns:
            return ScanFormatError(path, f"line {number} has {len(words)} values, expected {layout.n_columns}")
        bad = next((w for w in words if not _is_number(w)), None)
        if bad is not None:
            return ScanFormatError(path, f"line {number}: {bad[:30]!r} is not a number")
    return ScanFormatError(path, "the table could not be parsed as numbers")


def _names(path: str, layout: TableLayout, columns: Sequence[str] | None, table: np.ndarray) -> list[str]:
    k = layout.n_columns
    if columns is not None:
        names = [str(c) for c in columns]
        if len(names) != k:
            raise ScanFormatError(path, f"columns= names {len(names)} columns but the file has {k}")
        return names
    if layout.names is not None:
        return layout.names
    return _positional_names(table)


def _positional_names(table: np.ndarray) -> list[str]:
    """Column names for a table without a header, guessed from the values.

    Six columns: x y z and then colours (integers in 0..255) or normals (unit vectors);
    seven: x y z intensity r g b (Leica PTS); nine: x y z and two such blocks. Otherwise
    (or when a block is neither) the extra columns are fields ``field_3``, ``field_4``...
    """
    k = table.shape[1]
    names = ["x", "y", "z"] + [f"field_{i}" for i in range(3, k)]
    blocks = {6: [3], 7: [4], 9: [3, 6]}.get(k, [])
    roles = {"rgb": ["red", "green", "blue"], "normal": ["nx", "ny", "nz"]}
    for start in blocks:
        role = _block_role(table[:, start : start + 3])
        if role is not None and not set(roles[role]) & set(names):
            names[start : start + 3] = roles[role]
    if k == 7 and names[4] == "red":
        names[3] = "intensity"
    return names


def _block_role(block: np.ndarray) -> str | None:
    """``"normal"`` for unit vectors, ``"rgb"`` for whole numbers in 0..255, else None."""
    finite = block[np.isfinite(block).all(axis=1)]
    if len(finite) == 0:
        return None
    if np.allclose(np.linalg.norm(finite, axis=1), 1.0, atol=1e-2):
        return "normal"
    if np.all(finite == np.round(finite)) and finite.min() >= 0 and finite.max() <= 255:
        return "rgb"
    return None
