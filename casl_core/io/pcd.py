"""Read and write PCD files (Point Cloud Library): ascii, binary and binary_compressed."""

from __future__ import annotations

import struct
import warnings
from typing import NamedTuple

import numpy as np

from casl_core.errors import ScanFormatError
from casl_core.io._common import header_lines
from casl_core.io._roles import assign_roles, build_scan
from casl_core.io.budget import check_declared
from casl_core.io.lzf import lzf_decompress
from casl_core.scan import Scan

_KEYS = ("VERSION", "FIELDS", "SIZE", "TYPE", "COUNT", "WIDTH", "HEIGHT", "VIEWPOINT", "POINTS", "DATA")
#: LZF never expands data more than this; a larger announced size is a corrupt header.
_LZF_MAX_RATIO = 140


class PcdField(NamedTuple):
    """One PCD field: name, numpy scalar type and number of values per point."""

    name: str
    dtype: str
    count: int  # type: ignore[assignment]  # the PCD header's word; shadows tuple.count, which nothing calls


class PcdHeader(NamedTuple):
    """The parsed PCD header."""

    fields: list[PcdField]
    width: int
    height: int
    points: int
    viewpoint: str
    data: str
    data_start: int


def _parse_header(data: bytes, path: str) -> PcdHeader:
    lines, start = header_lines(data, path, lambda line: line.upper().startswith("DATA"))
    entries: dict[str, list[str]] = {}
    for line in lines:
        if not line or line.startswith("#"):
            continue
        key, *values = line.split()
        if key.upper() not in _KEYS:
            raise ScanFormatError(path, f"PCD header has an unknown entry {key[:30]!r}")
        entries[key.upper()] = values
    for key in ("FIELDS", "SIZE", "TYPE", "WIDTH", "DATA"):
        if key not in entries:
            raise ScanFormatError(path, f"PCD header has no {key} line")
    fields = _fields(path, entries)
    width, height = _int(path, entries, "WIDTH", None), _int(path, entries, "HEIGHT", 1)
    points = _int(path, entries, "POINTS", width * height)
    if points != width * height:
        raise ScanFormatError(path, f"PCD header says POINTS {points} but WIDTH x HEIGHT = {width * height}")
    kind = " ".join(entries["DATA"]).lower()
    if kind not in ("ascii", "binary", "binary_compressed"):
        raise ScanFormatError(path, f"PCD DATA type {kind[:30]!r} is not ascii, binary or binary_compressed")
    return PcdHeader(fields, width, height, points, " ".join(entries.get("VIEWPOINT", [])), kind, start)


def _int(path: str, entries: dict[str, list[str]], key: str, default: int | None) -> int:
    if key not in entries:
        if default is None:
            raise ScanFormatError(path, f"PCD header has no {key} line")
        return default
    values = entries[key]
    if len(values) != 1 or not values[0].isdigit():
        raise ScanFormatError(path, f"PCD {key} must be one non-negative integer, got {' '.join(values)[:30]!r}")
    return int(values[0])


def _fields(path: str, entries: dict[str, list[str]]) -> list[PcdField]:
    names, sizes, types = entries["FIELDS"], entries["SIZE"], entries["TYPE"]
    counts = entries.get("COUNT", ["1"] * len(names))
    if not (len(names) == len(sizes) == len(types) == len(counts)) or not names:
        raise ScanFormatError(path, "PCD FIELDS, SIZE, TYPE and COUNT do not have the same number of entries")
    fields = []
    for name, size, kind, count in zip(names, sizes, types, counts):
        code = {"F": "f", "U": "u", "I": "i"}.get(kind.upper())
        if code is None or size not in ("1", "2", "4", "8") or (code == "f" and size not in ("4", "8")):
            raise ScanFormatError(path, f"PCD field {name!r} has an unsupported type {kind}{size}")
        if not count.isdigit() or int(count) < 1:
            raise ScanFormatError(path, f"PCD field {name!r} has an invalid COUNT {count!r}")
        fields.append(PcdField(name, f"<{code}{size}", int(count)))
    return fields


def _record_dtype(fields: list[PcdField]) -> np.dtype:
    return np.dtype([(f"f{i}", f.dtype, (f.count,)) for i, f in enumerate(fields)])


def read_pcd(path: str, data: bytes) -> Scan:
    """Read a PCD file (versions 0.6 and 0.7, any fields, organized or not).

    Raises
    ------
    ScanFormatError
        If the header is malformed or inconsistent, the data is truncated, or the
        compressed data is corrupt.
    """
    header = _parse_header(data, path)
    reader = {"ascii": _ascii_columns, "binary": _binary_columns, "binary_compressed": _compressed_columns}
    raw = reader[header.data](path, data, header)
    columns = _named_columns(raw, header.fields)
    colors = _packed_colors(raw, header.fields)
    cols = assign_roles(path, columns)
    if colors is not None and cols.colors is None:
        cols = cols._replace(colors=colors)
    organized = header.height > 1
    extra = {"viewpoint": header.viewpoint} if header.viewpoint else {}
    return build_scan(
        path,
        "pcd",
        cols,
        pixel_index=np.arange(header.points, dtype=np.int64) if organized else None,
        image_shape=(header.height, header.width) if organized else None,
        extra=extra,
    )


def _ascii_columns(path: str, data: bytes, header: PcdHeader) -> list[np.ndarray]:
    per_point = sum(f.count for f in header.fields)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flat = np.fromstring(data[header.data_start :], dtype=np.float64, sep=" ")
    expected = per_point * header.points
    if flat.size < expected:
        rows = flat.size // per_point
        raise ScanFormatError(
            path,
            f"truncated or malformed: the header promises {header.points} points, the data holds {rows} readable ones",
        )
    table = flat[:expected].reshape(header.points, per_point)
    out, at = [], 0
    for f in header.fields:
        values = table[:, at : at + f.count]
        at += f.count
        if f.name.lower() in ("rgb", "rgba") and f.dtype[1:] == "f4":
            values = values.astype(np.float32)
        elif f.dtype[1] != "f":
            values = np.nan_to_num(values).astype(np.int64).astype(f.dtype)
        out.append(values)
    return out


def _binary_columns(path: str, data: bytes, header: PcdHeader) -> list[np.ndarray]:
    dtype = _record_dtype(header.fields)
    size = dtype.itemsize * header.points
    available = len(data) - header.data_start
    if size > available:
        raise ScanFormatError(
            path,
            f"truncated: the header promises {header.points} points, "
            f"the data holds {available // max(dtype.itemsize, 1)}",
        )
    table = np.frombuffer(data, dtype=dtype, count=header.points, offset=header.data_start)
    return [table[f"f{i}"] for i in range(len(header.fields))]


def _compressed_columns(path: str, data: bytes, header: PcdHeader) -> list[np.ndarray]:
    start = header.data_start
    if len(data) < start + 8:
        raise ScanFormatError(path, "truncated: the compressed data has no size prefix")
    packed, unpacked = struct.unpack_from("<II", data, start)
    point_size = _record_dtype(header.fields).itemsize
    expected = point_size * header.points
    if unpacked != expected:
        raise ScanFormatError(
            path,
            f"header/point-count mismatch: {header.points} points of {point_size} bytes "
            f"need {expected} bytes, the compressed block announces {unpacked}",
        )
    if start + 8 + packed > len(data):
        raise ScanFormatError(
            path, f"truncated: the compressed block needs {packed} bytes, the file holds {len(data) - start - 8}"
        )
    check_declared(path, expected, f"the compressed data ({header.points:,} points)")
    if expected > _LZF_MAX_RATIO * max(packed, 1) + 64:
        raise ScanFormatError(path, f"corrupt compressed PCD data: {packed} bytes cannot expand to {expected}")
    raw = lzf_decompress(data[start + 8 : start + 8 + packed], expected, path)
    out, at = [], 0
    for f in header.fields:
        dtype = np.dtype(f.dtype)
        n_bytes = header.points * dtype.itemsize * f.count
        out.append(np.frombuffer(raw, dtype=dtype, count=header.points * f.count, offset=at).reshape(-1, f.count))
        at += n_bytes
    return out


def _named_columns(raw: list[np.ndarray], fields: list[PcdField]) -> dict[str, np.ndarray]:
    columns = {}
    for f, values in zip(fields, raw):
        if f.name == "_" or f.name.lower() in ("rgb", "rgba"):
            continue
        if f.count == 1:
            columns[f.name] = values[:, 0]
        else:
            for k in range(f.count):
                columns[f"{f.name}_{k}"] = values[:, k]
    return columns


def _packed_colors(raw: list[np.ndarray], fields: list[PcdField]) -> np.ndarray | None:
    for f, values in zip(fields, raw):
        if f.name.lower() in ("rgb", "rgba") and np.dtype(f.dtype).itemsize == 4:
            bits = (
                np.ascontiguousarray(values[:, 0]).view(np.uint32)
                if values.dtype.kind == "f"
                else values[:, 0].astype(np.uint32)
            )
            rgb = np.stack([(bits >> 16) & 255, (bits >> 8) & 255, bits & 255], axis=1)
            return rgb.astype(np.uint8)
    return None
