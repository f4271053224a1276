"""Helpers shared by the scan readers and writers: raw bytes, names, colours, atomic writes."""

from __future__ import annotations

import os
import re
from collections.abc import Callable

import numpy as np

from casl_core.atomic import atomic_open
from casl_core.errors import ScanFormatError

_BAD_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.\-]")


def read_bytes(path: str) -> bytes:
    """Return the whole content of ``path``.

    Raises
    ------
    ScanFormatError
        If the path is missing, is a directory, cannot be read or is empty.
    """
    if not os.path.exists(path):
        raise ScanFormatError(path, "no such file")
    if os.path.isdir(path):
        raise ScanFormatError(path, "is a directory, not a scan file")
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise ScanFormatError(path, f"cannot be read ({exc.strerror or exc})") from None
    if not data:
        raise ScanFormatError(path, "the file is empty")
    return data


def field_name(raw: str, taken: set[str]) -> str:
    """Turn a property or column name into a usable, unique :class:`Scan` field name.

    A ``scalar_`` prefix (CloudCompare's convention) is stripped; characters a PLY/PCD
    property name cannot hold become ``_``; a name starting with a digit gets ``f_``.
    """
    name = raw[len("scalar_") :] if raw.startswith("scalar_") and len(raw) > len("scalar_") else raw
    name = _BAD_NAME_CHARS.sub("_", name) or "field"
    if not (name[0].isalpha() or name[0] == "_"):
        name = "f_" + name
    unique, i = name, 1
    while unique in taken:
        unique = f"{name}_{i}"
        i += 1
    taken.add(unique)
    return unique


def native(values: np.ndarray) -> np.ndarray:
    """A contiguous copy of ``values`` in the machine's byte order."""
    arr = np.asarray(values)
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return np.ascontiguousarray(arr)


def to_colors(channels: list[np.ndarray]) -> np.ndarray:
    """Stack three colour channels into ``(N, 3)`` uint8.

    Integer channels are kept when they fit in 0..255 (wider ones are scaled by their
    type's range); float channels in 0..1 are scaled by 255, others are clipped.
    """
    rgb = np.stack([np.asarray(c) for c in channels], axis=1)
    if rgb.dtype == np.uint8:
        return rgb
    if np.issubdtype(rgb.dtype, np.integer):
        if rgb.size and (rgb.min() < 0 or rgb.max() > 255):
            top = float(np.iinfo(rgb.dtype).max)
            return np.clip(rgb.astype(np.float64) * (255.0 / top), 0, 255).round().astype(np.uint8)
        return rgb.astype(np.uint8)
    rgbf = np.nan_to_num(rgb.astype(np.float64), nan=0.0, posinf=255.0, neginf=0.0)
    if rgbf.size and rgbf.max() <= 1.0:
        rgbf = rgbf * 255.0
    return np.clip(rgbf, 0, 255).round().astype(np.uint8)


def as_labels(values: np.ndarray) -> np.ndarray | None:
    """``values`` as uint8 labels when they are all whole numbers in 0..255, else ``None``."""
    arr = np.asarray(values)
    if arr.size == 0:
        return arr.astype(np.uint8)
    if np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool:
        ok = arr.min() >= 0 and arr.max() <= 255
    else:
        with np.errstate(invalid="ignore"):
            ok = bool(np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)) and arr.min() >= 0 and arr.max() <= 255)
    return arr.astype(np.uint8) if ok else None


def file_coordinates(scan) -> tuple[np.ndarray, bool]:
    """The coordinates to write: float32 as stored, or float64 with the metadata offset added.

    Returns ``(points, double)``; ``double`` is True when an offset had to be added back, so
    writers store the true coordinates in double precision.
    """
    offset = np.asarray(scan.metadata.offset, dtype=np.float64)
    if np.any(offset != 0):
        return scan.points.astype(np.float64) + offset, True
    return scan.points, False


def atomic_write(path: str, write: Callable[[object], None]) -> None:
    """Write a file through :func:`casl_core.atomic.atomic_open` (temporary file, then rename).

    ``write`` receives the open binary file object. A failed write leaves ``path`` as it was.

    Raises
    ------
    ScanFormatError
        If the folder does not exist or the file cannot be written.
    """
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ScanFormatError(path, f"cannot write: folder {folder} does not exist")
    if os.path.isdir(path):
        raise ScanFormatError(path, "cannot write: it is a directory")
    try:
        with atomic_open(path) as fh:
            write(fh)
    except OSError as exc:
        raise ScanFormatError(path, f"cannot write ({exc.strerror or exc})") from None


def header_lines(data: bytes, path: str, end: Callable[[str], bool], limit: int = 1 << 16) -> tuple[list[str], int]:
    """Split the text header at the start of ``data``.

    Reads lines until ``end(line)`` is true for a stripped line and returns them with the
    byte offset just after that line.

    Raises
    ------
    ScanFormatError
        If no end line appears in the first ``limit`` bytes or the header is not text.
    """
    lines: list[str] = []
    pos = 0
    while pos < min(len(data), limit):
        nl = data.find(b"\n", pos)
        if nl < 0:
            break
        raw = data[pos:nl]
        pos = nl + 1
        try:
            line = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            raise ScanFormatError(path, f"header line {len(lines) + 1} is not ASCII text") from None
        lines.append(line)
        if end(line):
            return lines, pos
    raise ScanFormatError(path, "the header never ends (truncated file or not this format)")
