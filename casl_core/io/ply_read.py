"""Read PLY files: ascii, binary little and big endian, any elements, faces and triangle strips."""

from __future__ import annotations

import struct
import warnings
from typing import NamedTuple

import numpy as np

from casl_core.errors import ScanFormatError
from casl_core.io._common import header_lines
from casl_core.io._roles import assign_roles, build_scan
from casl_core.io.faces import check_faces, fan_triangulate, strips_to_triangles
from casl_core.scan import Scan

PLY_TYPES = {
    "char": "i1",
    "int8": "i1",
    "uchar": "u1",
    "uint8": "u1",
    "short": "i2",
    "int16": "i2",
    "ushort": "u2",
    "uint16": "u2",
    "int": "i4",
    "int32": "i4",
    "uint": "u4",
    "uint32": "u4",
    "float": "f4",
    "float32": "f4",
    "double": "f8",
    "float64": "f8",
}
_FORMATS = {"ascii": "", "binary_little_endian": "<", "binary_big_endian": ">"}
_FACE_LISTS = ("vertex_indices", "vertex_index")


class PlyProperty(NamedTuple):
    """One property: its name, value type and, for a list, the type of its count."""

    name: str
    dtype: str
    count_dtype: str | None = None


class PlyElement(NamedTuple):
    """One element of the header: name, number of items and properties."""

    name: str
    count: int  # type: ignore[assignment]  # the PLY header's word; shadows tuple.count, which nothing calls
    properties: list[PlyProperty]


class PlyHeader(NamedTuple):
    """The parsed header: byte order (``""`` for ascii), elements, comments, data offset."""

    endian: str
    elements: list[PlyElement]
    comments: list[str]
    data_start: int


class ElementData(NamedTuple):
    """Values of one element: scalar properties, and list properties as (counts, flat values)."""

    scalars: dict[str, np.ndarray]
    lists: dict[str, tuple[np.ndarray, np.ndarray]]


def parse_header(data: bytes, path: str) -> PlyHeader:
    """Parse a PLY header.

    Raises
    ------
    ScanFormatError
        If the file does not start with ``ply`` or a header line is malformed.
    """
    if not data.startswith(b"ply"):
        raise ScanFormatError(path, "does not start with 'ply'; not a PLY file")
    lines, start = header_lines(data, path, lambda line: line == "end_header")
    endian = None
    elements: list[PlyElement] = []
    comments: list[str] = []
    for number, line in enumerate(lines[1:-1], start=2):
        words = line.split()
        if not words or words[0] in ("obj_info",):
            continue
        if words[0] == "comment":
            comments.append(line[len("comment") :].strip())
        elif words[0] == "format" and len(words) >= 2 and words[1] in _FORMATS:
            endian = _FORMATS[words[1]]
        elif words[0] == "element" and len(words) == 3 and words[2].isdigit():
            elements.append(PlyElement(words[1], int(words[2]), []))
        elif words[0] == "property" and elements:
            elements[-1].properties.append(_parse_property(words, path, number))
        else:
            raise ScanFormatError(path, f"PLY header line {number} is not understood: {line[:60]!r}")
    if endian is None:
        raise ScanFormatError(path, "PLY header has no valid 'format' line")
    return PlyHeader(endian, elements, comments, start)


def _parse_property(words: list[str], path: str, number: int) -> PlyProperty:
    if len(words) == 3 and words[1] in PLY_TYPES:
        return PlyProperty(words[2], PLY_TYPES[words[1]])
    if len(words) == 5 and words[1] == "list" and words[2] in PLY_TYPES and words[3] in PLY_TYPES:
        if PLY_TYPES[words[2]][0] == "f":
            raise ScanFormatError(path, f"PLY header line {number}: a list count cannot be a float")
        return PlyProperty(words[4], PLY_TYPES[words[3]], PLY_TYPES[words[2]])
    raise ScanFormatError(path, f"PLY header line {number} has a malformed property: {' '.join(words)[:60]!r}")


def read_ply(path: str, data: bytes) -> Scan:
    """Read a PLY file's vertices (every property kept) and its faces or strips.

    Raises
    ------
    ScanFormatError
        If the header is malformed, there is no vertex element with x, y, z, the data is
        shorter than the header says, or a face refers to a missing vertex.
    """
    header = parse_header(data, path)
    names = [e.name for e in header.elements]
    if "vertex" not in names:
        raise ScanFormatError(path, "PLY file has no 'vertex' element")
    if header.endian:
        values = _read_binary(path, data, header)
    else:
        values = _read_ascii(path, data, header)
    vertex = values["vertex"]
    n = header.elements[names.index("vertex")].count
    cols = assign_roles(path, vertex.scalars)
    faces = _faces(path, values, n)
    extra = {"comments": "\n".join(header.comments)} if header.comments else {}
    fmt = "ply" if header.endian else "ply-ascii"
    return build_scan(path, fmt, cols, faces=faces, extra=extra)


def _faces(path: str, values: dict[str, ElementData], n: int) -> np.ndarray | None:
    parts = []
    if "face" in values:
        lists = values["face"].lists
        name = next((k for k in _FACE_LISTS if k in lists), None)
        if name is not None:
            parts.append(fan_triangulate(*lists[name]))
    if "tristrips" in values:
        lists = values["tristrips"].lists
        name = next((k for k in _FACE_LISTS if k in lists), None)
        if name is not None:
            parts.append(strips_to_triangles(lists[name][1]))
    if not parts:
        return None
    return check_faces(path, np.concatenate(parts), n)


def _read_binary(path: str, data: bytes, header: PlyHeader) -> dict[str, ElementData]:
    pos = header.data_start
    out: dict[str, ElementData] = {}
    for element in header.elements:
        if any(p.count_dtype for p in element.properties):
            values, pos = _binary_list_element(path, data, pos, element, header.endian)
        else:
            values, pos = _binary_scalar_element(path, data, pos, element, header.endian)
        out.setdefault(element.name, values)
    return out


def _binary_scalar_element(path: str, data: bytes, pos: int, element: PlyElement, endian: str):
    dtype = _struct_dtype(path, element, endian)
    end = pos + element.count * dtype.itemsize
    if end > len(data):
        raise _truncated(path, element, (len(data) - pos) // max(dtype.itemsize, 1))
    arr = np.frombuffer(data, dtype=dtype, count=element.count, offset=pos)
    return ElementData({p.name: arr[p.name] for p in element.properties}, {}), end


def _struct_dtype(path: str, element: PlyElement, endian: str, list_len: int = 0) -> np.dtype:
    names = [p.name for p in element.properties]
    if len(set(names)) != len(names):
        raise ScanFormatError(path, f"PLY element '{element.name}' repeats a property name")
    parts: list[tuple[str, str] | tuple[str, str, tuple[int]]] = []
    for p in element.properties:
        if p.count_dtype:
            parts.append((f"__count_{p.name}", endian + p.count_dtype))
            parts.append((p.name, endian + p.dtype, (list_len,)))
        else:
            parts.append((p.name, endian + p.dtype))
    return np.dtype(parts)


def _truncated(path: str, element: PlyElement, got: int) -> ScanFormatError:
    return ScanFormatError(
        path, f"truncated: the header promises {element.count} '{element.name}' items, the data holds {max(got, 0)}"
    )


def _binary_list_element(path: str, data: bytes, pos: int, element: PlyElement, endian: str):
    lists = [p for p in element.properties if p.count_dtype]
    if len(lists) == 1 and element.count > 0:
        fast = _fixed_length_lists(path, data, pos, element, endian, lists[0])
        if fast is not None:
            return fast
    return _list_element_loop(path, data, pos, element, endian)


def _fixed_length_lists(path: str, data: bytes, pos: int, element: PlyElement, endian: str, lst: PlyProperty):
    """Read an element whose one list has the same length in every item with one dtype."""
    count_dtype = lst.count_dtype or ""  # the caller passes a list property, which has a count type
    head = _struct_dtype(
        path, PlyElement(element.name, 1, element.properties[: element.properties.index(lst) + 1]), endian, 0
    )
    count_at = pos + head.itemsize - np.dtype(count_dtype).itemsize
    if count_at + np.dtype(count_dtype).itemsize > len(data):
        raise _truncated(path, element, 0)
    first = int(np.frombuffer(data, endian + count_dtype, 1, count_at)[0])
    if first < 0:
        return None
    dtype = _struct_dtype(path, element, endian, first)
    end = pos + element.count * dtype.itemsize
    if end > len(data):
        return None
    arr = np.frombuffer(data, dtype=dtype, count=element.count, offset=pos)
    if not np.all(arr[f"__count_{lst.name}"] == first):
        return None
    scalars = {p.name: arr[p.name] for p in element.properties if not p.count_dtype}
    counts = np.full(element.count, first, dtype=np.int64)
    flat = arr[lst.name].reshape(-1)
    return ElementData(scalars, {lst.name: (counts, flat)}), end


def _list_element_loop(path: str, data: bytes, pos: int, element: PlyElement, endian: str):
    scalars: dict[str, list] = {p.name: [] for p in element.properties if not p.count_dtype}
    counts: dict[str, list] = {p.name: [] for p in element.properties if p.count_dtype}
    flats: dict[str, list] = {p.name: [] for p in element.properties if p.count_dtype}
    codes = {p.name: (_code(p.dtype), _code(p.count_dtype) if p.count_dtype else "") for p in element.properties}
    sizes = {p.name: np.dtype(p.dtype).itemsize for p in element.properties}
    item = 0
    try:
        for item in range(element.count):
            for p in element.properties:
                code, count_code = codes[p.name]
                if not p.count_dtype:
                    scalars[p.name].append(struct.unpack_from(endian + code, data, pos)[0])
                    pos += sizes[p.name]
                    continue
                (n,) = struct.unpack_from(endian + count_code, data, pos)
                pos += struct.calcsize(count_code)
                if n < 0 or pos + n * sizes[p.name] > len(data):
                    raise _truncated(path, element, item)
                counts[p.name].append(n)
                flats[p.name].append(np.frombuffer(data, endian + p.dtype, n, pos))
                pos += n * sizes[p.name]
    except struct.error:
        raise _truncated(path, element, item) from None
    out_lists = {
        k: (np.asarray(counts[k], dtype=np.int64), np.concatenate(flats[k]) if flats[k] else np.zeros(0, np.int64))
        for k in counts
    }
    props = {p.name: p.dtype for p in element.properties}
    out_scalars = {k: np.asarray(v, dtype=props[k]) for k, v in scalars.items()}
    return ElementData(out_scalars, out_lists), pos


def _code(dtype: str) -> str:
    return {"i1": "b", "u1": "B", "i2": "h", "u2": "H", "i4": "i", "u4": "I", "f4": "f", "f8": "d"}[dtype]


def _read_ascii(path: str, data: bytes, header: PlyHeader) -> dict[str, ElementData]:
    lines = [line for line in data[header.data_start :].splitlines() if line.strip()]
    at = 0
    out: dict[str, ElementData] = {}
    for element in header.elements:
        rows = lines[at : at + element.count]
        if len(rows) < element.count:
            raise _truncated(path, element, len(rows))
        first_line = at + 1
        at += element.count
        if any(p.count_dtype for p in element.properties):
            values = _ascii_list_rows(path, rows, element, first_line)
        else:
            values = _ascii_scalar_rows(path, rows, element, first_line)
        out.setdefault(element.name, values)
    return out


def _ascii_scalar_rows(path: str, rows: list[bytes], element: PlyElement, first_line: int) -> ElementData:
    k = len(element.properties)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flat = np.fromstring(b" ".join(rows), dtype=np.float64, sep=" ") if rows else np.zeros(0)
    if flat.size != k * len(rows):
        bad = next((i for i, r in enumerate(rows) if len(r.split()) != k), None)
        where = f"data line {first_line + bad}" if bad is not None else f"element '{element.name}'"
        raise ScanFormatError(path, f"PLY {where}: expected {k} numbers per '{element.name}' line")
    table = flat.reshape(len(rows), k)
    return ElementData({p.name: _cast(table[:, i], p.dtype) for i, p in enumerate(element.properties)}, {})


def _cast(values: np.ndarray, dtype: str) -> np.ndarray:
    if dtype[0] == "f":
        return values.astype(dtype)
    info = np.iinfo(dtype)
    return np.clip(np.nan_to_num(values), info.min, info.max).astype(dtype)


def _list_values(values: list, element: PlyElement, name: str) -> np.ndarray:
    """A list property's values: float64 for a float list (texture coordinates), else int64."""
    dtype = next(p.dtype for p in element.properties if p.name == name)
    return np.asarray(values, dtype=np.float64 if dtype[0] == "f" else np.int64)


def _ascii_list_rows(path: str, rows: list[bytes], element: PlyElement, first_line: int) -> ElementData:
    scalars: dict[str, list] = {p.name: [] for p in element.properties if not p.count_dtype}
    counts: dict[str, list] = {p.name: [] for p in element.properties if p.count_dtype}
    flats: dict[str, list] = {p.name: [] for p in element.properties if p.count_dtype}
    for i, row in enumerate(rows):
        words = row.split()
        at = 0
        try:
            for p in element.properties:
                if not p.count_dtype:
                    scalars[p.name].append(float(words[at]))
                    at += 1
                    continue
                n = int(words[at])
                if n < 0 or at + 1 + n > len(words):
                    raise ValueError
                counts[p.name].append(n)
                parse = float if p.dtype[0] == "f" else int
                flats[p.name].extend(parse(w) for w in words[at + 1 : at + 1 + n])
                at += 1 + n
        except (ValueError, IndexError):
            raise ScanFormatError(path, f"PLY data line {first_line + i} of '{element.name}' is malformed") from None
    return ElementData(
        {
            k: _cast(np.asarray(v, dtype=np.float64), next(p.dtype for p in element.properties if p.name == k))
            for k, v in scalars.items()
        },
        {k: (np.asarray(counts[k], dtype=np.int64), _list_values(flats[k], element, k)) for k in counts},
    )
