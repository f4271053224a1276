"""Read point arrays saved by numpy (``.npy``, ``.npz``), never unpickling."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from casl_core.errors import ScanFormatError
from casl_core.io._common import as_labels, field_name, to_colors
from casl_core.io._roles import assign_roles, build_scan
from casl_core.io.budget import check_declared
from casl_core.scan import Scan

_SKIP = ("", "_", "skip")


def _declared(path: str, handle, what: str) -> tuple[int, int]:
    """``(array bytes, header bytes)`` an ``.npy`` stream declares, read from its header only."""
    from numpy.lib import format as npformat

    try:
        version = npformat.read_magic(handle)
        if version == (1, 0):
            shape, _, dtype = npformat.read_array_header_1_0(handle)
        else:
            shape, _, dtype = npformat.read_array_header_2_0(handle)
    except Exception as exc:  # numpy raises ValueError and others on a bad header
        raise ScanFormatError(path, f"{what}: not a readable numpy header ({_one_line(exc)})") from None
    count = 1
    for side in shape:
        count *= int(side)
    return count * dtype.itemsize, handle.tell()


def _check_sizes(path: str, data: bytes) -> None:
    """Hold every array's declared size against the bytes present and the memory budget."""
    import zipfile

    if data.startswith(b"\x93NUMPY"):
        need, head = _declared(path, io.BytesIO(data), "the array")
        check_declared(path, need, "the array")
        if need > len(data) - head:
            raise ScanFormatError(path, f"truncated: the header declares {need:,} bytes of data, the file holds less")
        return
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                what = f"array {info.filename!r}"
                check_declared(path, info.file_size, what, stored=info.compress_size)
                if info.filename.endswith(".npy"):
                    with archive.open(info) as member:
                        need, head = _declared(path, member, what)
                    check_declared(path, need, what, stored=info.compress_size)
                    if need > info.file_size - head:
                        raise ScanFormatError(path, f"{what}: declares {need:,} bytes, the archive holds less")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise ScanFormatError(path, f"not a readable numpy file ({_one_line(exc)})") from None


def _load(path: str, data: bytes):
    _check_sizes(path, data)
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise ScanFormatError(path, "holds pickled Python objects, which are never loaded") from None
        raise ScanFormatError(path, f"not a readable numpy file ({_one_line(exc)})") from None
    except Exception as exc:  # numpy and zipfile raise many types on a corrupt file
        raise ScanFormatError(path, f"not a readable numpy file ({_one_line(exc)})") from None


def _one_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__


def _numeric(path: str, arr: np.ndarray, what: str) -> np.ndarray:
    if arr.dtype.kind not in "biuf":
        raise ScanFormatError(path, f"{what} has dtype {arr.dtype}, a numeric array is needed")
    return arr


def read_npy(path: str, data: bytes, columns: Sequence[str] | None = None) -> Scan:
    """Read an ``(N, 3)`` or ``(N, K >= 3)`` array: x y z then fields ``field_3``... or ``columns``.

    Raises
    ------
    ScanFormatError
        If the array is pickled, not numeric, or not 2-D with at least three columns.
    """
    arr = _load(path, data)
    if not isinstance(arr, np.ndarray):
        raise ScanFormatError(path, "is an .npz archive, not a single .npy array")
    arr = _numeric(path, arr, "the array")
    if arr.ndim != 2 or arr.shape[1] < 3:
        raise ScanFormatError(path, f"array must have shape (N, 3) or (N, K>=3), got {arr.shape}")
    names = list(columns) if columns is not None else ["x", "y", "z"] + [f"field_{i}" for i in range(3, arr.shape[1])]
    if len(names) != arr.shape[1]:
        raise ScanFormatError(path, f"columns= names {len(names)} columns but the array has {arr.shape[1]}")
    named = {n: arr[:, i] for i, n in enumerate(names) if n not in _SKIP}
    return build_scan(path, "npy", assign_roles(path, named))


def read_npz(path: str, data: bytes) -> Scan:
    """Read an archive with ``points`` (or ``xyz``) and optional per-point arrays.

    ``normals`` ``(N, 3)``, ``colors`` ``(N, 3)``, ``labels`` ``(N,)``; every other ``(N,)``
    array becomes a field; arrays of other shapes are ignored.

    Raises
    ------
    ScanFormatError
        If there is no ``points``/``xyz`` array, an array is pickled, or shapes disagree.
    """
    archive = _load(path, data)
    if isinstance(archive, np.ndarray):
        raise ScanFormatError(path, "is a single .npy array, not an .npz archive")
    with archive:
        key = next((k for k in ("points", "xyz") if k in archive.files), None)
        if key is None:
            raise ScanFormatError(path, f"has no 'points' or 'xyz' array (it has {archive.files[:10]})")
        arrays = {k: _load_member(path, archive, k) for k in archive.files}
    pts = arrays.pop(key)
    if pts.ndim != 2 or pts.shape[1] < 3:
        raise ScanFormatError(path, f"'{key}' must have shape (N, 3), got {pts.shape}")
    cols = assign_roles(path, {"x": pts[:, 0], "y": pts[:, 1], "z": pts[:, 2]})
    n = len(pts)
    normals = arrays.pop("normals", None)
    colors = arrays.pop("colors", None)
    labels = arrays.pop("labels", None)
    taken: set[str] = set()
    fields = {field_name(k, taken): v for k, v in arrays.items() if v.shape == (n,)}
    label_values = as_labels(labels) if labels is not None and labels.shape == (n,) else None
    if labels is not None and label_values is None:
        raise ScanFormatError(path, "'labels' must be (N,) whole numbers in 0..255")
    cols = cols._replace(
        normals=None if normals is None else normals.astype(np.float32),
        colors=None
        if colors is None
        else to_colors([colors[:, i] for i in range(3)])
        if colors.ndim == 2 and colors.shape[1] >= 3
        else colors,
        labels=label_values,
        fields=fields,
    )
    return build_scan(path, "npz", cols)


def _load_member(path: str, archive, key: str) -> np.ndarray:
    try:
        arr = archive[key]
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise ScanFormatError(path, f"array '{key}' holds pickled Python objects, which are never loaded") from None
        raise ScanFormatError(path, f"array '{key}' cannot be read ({_one_line(exc)})") from None
    except Exception as exc:  # zipfile and zlib raise many types on a corrupt archive
        raise ScanFormatError(path, f"array '{key}' cannot be read ({_one_line(exc)})") from None
    return _numeric(path, arr, f"array '{key}'")
